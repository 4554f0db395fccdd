/* stream.c: server-sent events. GET /topics/{t}/partitions/{p}/stream tails one
 * partition, GET /topics/{t}/stream every partition of a topic (and those added later).
 *
 * A stream is a call (call.h) whose answer never ends: the handler answers 200 with
 * resp->stream set, and the server then calls api_stream_read() whenever the
 * connection can take more bytes. The reader sends what is pending; with nothing
 * pending it reads the next records (stream_hub.h: from the partition's shared hub when
 * at the head, from the log when behind); with nothing new it lists a waiter on every
 * partition and a heartbeat timer, suspends the connection and returns 0. An append,
 * the timer, a new partition, the topic's delete or the server's stop wakes it; MHD
 * then calls the reader again. No thread spins and nothing is buffered per client
 * beyond one read of the log.
 *
 * Where a stream starts: Last-Event-ID (or ?last_event_id=, which the header beats: a
 * browser reconnects with the header and the first URL), else ?offset= / ?timestamp=,
 * else latest. An id older than the log start gets an `event: gap` first. */
#include "api/internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/sse.h"
#include "api/stream_hub.h"
#include "common/log.h"
#include "common/xalloc.h"

/* What one fill of a stream reads at most before sending it. */
#define STREAM_FILL_BYTES (64 * 1024)
/* ?commit=auto commits at most this often (and when the stream ends). */
#define STREAM_COMMIT_MS 1000
/* A drained stream buffer bigger than this is freed, not kept. */
#define STREAM_KEEP_BYTES (16 * 1024)
/* How long a browser waits before reconnecting (the retry: field). */
#define STREAM_RETRY_MS 2000

struct stream;

struct stream_part {
    struct stream *s;
    struct partition *p;
    int32_t id;
    struct hub_cursor cur;
    int64_t delivered;  /* next offset once what is handed to the server is sent */
    int64_t committed;  /* what the group has for it from this stream (-1: nothing) */
    struct stream_hub *hub;
    struct partition_waiter waiter;
};

struct stream {
    struct api_call call;
    struct topic *topic;
    bool whole_topic;         /* a topic stream: ids are vectors, follows new partitions */
    struct stream_part *parts;
    int32_t nparts;
    int32_t rr;               /* the partition the next fill starts with */
    struct buf out;           /* events not yet handed to the server */
    size_t out_at;
    int64_t last_send_ms;     /* CLOCK_MONOTONIC */
    struct timer heartbeat;   /* stays armed across wakes; fires at most once per
                                 heartbeat interval, then the reader re-arms it */
    atomic_bool heartbeat_armed;
    bool watching;            /* waiters listed on the partitions */
    bool ending;              /* send what is pending, then end */
    char *group;              /* ?group=: a consumer group's stream */
    bool auto_commit;         /* ?commit=auto: commit delivered positions */
    int64_t last_commit_ms;   /* CLOCK_MONOTONIC */
};

static struct stream_part *part_of_waiter(struct partition_waiter *w)
{
    return (struct stream_part *)(void *)((char *)w - offsetof(struct stream_part, waiter));
}

static void on_data(struct partition_waiter *w)
{
    call_wake(&part_of_waiter(w)->s->call);
}

static void on_heartbeat(struct timer *t)
{
    struct stream *s = (struct stream *)(void *)((char *)t - offsetof(struct stream, heartbeat));

    atomic_store(&s->heartbeat_armed, false);
    call_wake(&s->call);
}

/* id lines: a partition stream's is the next offset, as the hub formats it; a topic
 * stream's the vector of every partition's next offset */
static void add_vector_id(void *arg, struct buf *out, int64_t next)
{
    struct stream_part *sp = arg;
    struct stream *s = sp->s;

    buf_addstr(out, "id: ");
    for (int32_t i = 0; i < s->nparts; i++) {
        if (i)
            buf_addch(out, ',');
        sse_add_i64(out, i);
        buf_addch(out, ':');
        sse_add_i64(out, i == sp->id ? next : s->parts[i].cur.next);
    }
    buf_addch(out, '\n');
}

static hub_add_id id_writer(const struct stream *s)
{
    return s->whole_topic ? add_vector_id : NULL;
}

static void add_gap(struct stream *s, struct stream_part *sp, int64_t to)
{
    char data[128];
    int n = snprintf(data, sizeof(data), "{\"partition\":%" PRId32 ",\"from\":%" PRId64
                     ",\"to\":%" PRId64 "}", sp->id, sp->cur.next, to);

    sp->cur.next = to;
    if (s->whole_topic) {
        add_vector_id(sp, &s->out, to);
    } else {
        buf_addstr(&s->out, "id: ");
        sse_add_i64(&s->out, to);
        buf_addch(&s->out, '\n');
    }
    buf_addstr(&s->out, "event: gap\n");
    sse_add_data(&s->out, data, (size_t)n);
    buf_addch(&s->out, '\n');
}

/* Sets up s->parts[i] for partition 'id' of the topic, starting at 'next'. */
static void add_part(struct stream *s, int32_t i, int32_t id, int64_t next)
{
    struct stream_part *sp = &s->parts[i];

    memset(sp, 0, sizeof(*sp));
    sp->s = s;
    sp->id = id;
    sp->p = topic_partition(s->topic, id);
    sp->cur.next = sp->delivered = next;
    sp->committed = -1;
    sp->hub = hub_get(&s->call.api->hubs, sp->p, id);
    sp->waiter.fire = on_data;
}

/* A topic stream takes up partitions added since it began, from their start. */
static void follow_new_partitions(struct stream *s)
{
    int32_t n = topic_partition_count(s->topic);

    if (!s->whole_topic || n <= s->nparts)
        return;
    s->parts = xrealloc(s->parts, (size_t)n * sizeof(*s->parts));
    for (int32_t i = s->nparts; i < n; i++)
        add_part(s, i, i, 0);
    for (int32_t i = 0; i < n; i++) /* the array moved */
        s->parts[i].s = s;
    s->nparts = n;
}

/* Reads what one partition has for the stream into s->out. */
static void fill_part(struct stream *s, struct stream_part *sp)
{
    int r;

    if (sp->cur.live && sp->cur.next >= partition_high_watermark(sp->p))
        return;
    r = hub_copy(sp->hub, &sp->cur, &s->out, STREAM_FILL_BYTES, id_writer(s), sp);
    if (r == HUB_BEHIND) { /* not caught up yet: from the log itself */
        int64_t start = partition_log_start(sp->p);

        if (sp->cur.next < start)
            add_gap(s, sp, start);
        r = stream_format_read(sp->p, sp->id, &sp->cur.next, STREAM_FILL_BYTES, &s->out,
                               id_writer(s), sp);
        /* a count of records; -ERANGE: retention moved the start since (a gap, next
         * time) */
        if (r >= 0 || r == -ERANGE)
            return;
    } else if (r == HUB_CUT) {
        log_info("%s: stream on '%s' partition %" PRId32 " fell more than %zu bytes "
                 "behind; ending it (the client resumes with Last-Event-ID)",
                 s->call.req->client, s->topic->name, sp->id, sp->hub->window);
        s->ending = true;
        return;
    }
    if (r < 0) {
        log_warn("stream on '%s' partition %" PRId32 ": %s; ending it", s->topic->name,
                 sp->id, strerror(-r));
        s->ending = true;
    }
}

/* Reads the next events of every partition, round robin, into s->out. */
static void fill(struct stream *s)
{
    follow_new_partitions(s);
    for (int32_t i = 0; i < s->nparts && s->out.len < STREAM_FILL_BYTES && !s->ending; i++)
        fill_part(s, &s->parts[(s->rr + i) % s->nparts]);
    if (s->nparts)
        s->rr = (s->rr + 1) % s->nparts;
}

static bool commit_pending(const struct stream *s)
{
    for (int32_t i = 0; s->auto_commit && i < s->nparts; i++)
        if (s->parts[i].delivered != s->parts[i].committed)
            return true;
    return false;
}

/* ?commit=auto: commits the delivered positions that moved, at most once per
 * STREAM_COMMIT_MS unless 'now' (the stream ends). The commit is not waited for: the
 * offsets topic syncs it with its next flush (at-most-once delivery, as Kafka's
 * auto-commit). A group that members have joined since is theirs: the stream ends. */
static void auto_commit(struct stream *s, bool now)
{
    struct api *a = s->call.api;
    struct group_offset *offs;
    size_t n = 0;
    int64_t t = timer_now_ms();

    if (!commit_pending(s) || (!now && t - s->last_commit_ms < STREAM_COMMIT_MS))
        return;
    if (group_members_count(a->members, s->group, t)) {
        log_info("stream of group '%s': the group has members now; ending it", s->group);
        s->ending = true;
        return;
    }
    offs = xcalloc((size_t)s->nparts, sizeof(*offs));
    for (int32_t i = 0; i < s->nparts; i++) {
        struct stream_part *sp = &s->parts[i];

        if (sp->delivered == sp->committed)
            continue;
        offs[n++] = (struct group_offset){.topic = s->topic->name, .partition = sp->id,
                                          .offset = sp->delivered};
        sp->committed = sp->delivered;
    }
    if (group_offsets_commit(a->groups, s->group, offs, n, NULL) < 0)
        log_warn("stream of group '%s': cannot commit its offsets", s->group);
    free(offs);
    s->last_commit_ms = t;
}

static void stop_waiting(struct stream *s)
{
    if (!s->watching)
        return;
    for (int32_t i = 0; i < s->nparts; i++)
        partition_unwatch(s->parts[i].p, &s->parts[i].waiter);
    s->watching = false;
}

/* Lists a waiter on every partition and makes sure the heartbeat timer runs. Returns
 * false if a partition has data already. */
static bool start_waiting(struct stream *s)
{
    s->watching = true;
    for (int32_t i = 0; i < s->nparts; i++) {
        s->parts[i].waiter.offset = s->parts[i].cur.next;
        if (partition_watch(s->parts[i].p, &s->parts[i].waiter)) {
            stop_waiting(s);
            return false;
        }
    }
    if (!atomic_load(&s->heartbeat_armed) || commit_pending(s)) {
        int64_t due = s->last_send_ms + (int64_t)s->call.api->config.heartbeat_ms;

        if (commit_pending(s) && s->last_commit_ms + STREAM_COMMIT_MS < due)
            due = s->last_commit_ms + STREAM_COMMIT_MS; /* wake to commit */
        atomic_store(&s->heartbeat_armed, true); /* before: it may fire at once */
        s->heartbeat.fire = on_heartbeat;
        s->heartbeat.due_ms = due;
        timer_arm(s->call.api->timers, &s->heartbeat);
    }
    return true;
}

ssize_t api_stream_read(struct api *a, struct api_call *c, char *dst, size_t max)
{
    struct stream *s = (struct stream *)c;

    stop_waiting(s);
    call_rearm(c);
    for (;;) {
        if (s->out_at < s->out.len) {
            size_t n = s->out.len - s->out_at;

            if (n > max)
                n = max;
            memcpy(dst, s->out.data + s->out_at, n);
            s->out_at += n;
            if (s->out_at == s->out.len) { /* an idle stream keeps no big buffer */
                if (s->out.cap > STREAM_KEEP_BYTES)
                    buf_release(&s->out);
                else
                    buf_reset(&s->out);
                s->out_at = 0;
                for (int32_t i = 0; i < s->nparts; i++)
                    s->parts[i].delivered = s->parts[i].cur.next;
            }
            s->last_send_ms = timer_now_ms();
            return (ssize_t)n;
        }
        if (s->group)
            auto_commit(s, false);
        if (s->ending || api_is_shutting_down(a) || topic_is_deleted(s->topic) ||
            !api_call_token_valid(c, NULL))
            return -1; /* a revoked token's streams are woken to end here */
        fill(s);
        if (s->out.len || s->ending)
            continue;
        if (timer_now_ms() - s->last_send_ms >= (int64_t)a->config.heartbeat_ms) {
            buf_addstr(&s->out, ": heartbeat\n\n");
            continue;
        }
        if (!start_waiting(s))
            continue;
        call_suspend(c);
        return 0;
    }
}

static void stream_release(struct api_call *c)
{
    struct stream *s = (struct stream *)c;

    stop_waiting(s);
    timer_cancel(c->api->timers, &s->heartbeat);
    if (s->group && !topic_is_deleted(s->topic))
        auto_commit(s, true);
    free(s->group);
    for (int32_t i = 0; i < s->nparts; i++)
        hub_put(&c->api->hubs, s->parts[i].hub, &s->parts[i].cur);
    free(s->parts);
    buf_release(&s->out);
    topic_put(s->topic);
    free(s);
}

static enum api_status stream_continue(struct api_call *c, struct api_response *resp)
{
    (void)c;
    (void)resp;
    return API_DONE; /* never called: a stream is read, not continued */
}

/* The resume position: Last-Event-ID, else ?last_event_id=, else NULL; an empty one
 * is none (a browser that has seen no event yet). */
static const char *resume_id(struct api_ctx *ctx)
{
    const char *h = api_header(ctx, "Last-Event-ID"), *q = api_query(ctx, "last_event_id");

    if (h && *h)
        return h;
    return q && *q ? q : NULL;
}

static struct stream *stream_new(struct api_ctx *ctx, struct topic *t, bool whole_topic)
{
    struct stream *s = xcalloc(1, sizeof(*s));

    call_init(&s->call, ctx, stream_continue, stream_release);
    atomic_init(&s->heartbeat_armed, false);
    s->call.wake_on_shutdown = true;
    s->call.follows = t;
    s->topic = t;
    s->whole_topic = whole_topic;
    buf_init(&s->out);
    return s;
}

/* Answers 200 with the stream, its first bytes (retry:) pending. */
static enum api_status start_stream(struct api_ctx *ctx, struct stream *s)
{
    buf_printf(&s->out, "retry: %d\n\n", STREAM_RETRY_MS);
    s->last_send_ms = timer_now_ms();
    ctx->resp->status = 200;
    ctx->resp->content_type = "text/event-stream";
    ctx->resp->stream = true;
    api_response_header(ctx->resp, "Cache-Control", "no-cache");
    api_response_header(ctx->resp, "X-Accel-Buffering", "no");
    *ctx->call = &s->call;
    return API_DONE;
}

/* ?group= and ?commit= (auto or none). A group whose members read it is theirs: 409.
 * Answers 400/403/409 and returns false on failure. */
static bool parse_group(struct api_ctx *ctx, const char **group, bool *auto_commit)
{
    const char *commit = api_query(ctx, "commit");

    *group = api_query(ctx, "group");
    *auto_commit = commit && !strcmp(commit, "auto");
    if (commit && strcmp(commit, "auto") && strcmp(commit, "none")) {
        reply_problem(ctx->resp, 400, "invalid_parameter", NULL,
                      "'commit' must be 'auto' or 'none'");
        return false;
    }
    if (commit && !*group) {
        reply_problem(ctx->resp, 400, "invalid_parameter", NULL,
                      "'commit' needs 'group' (whose offsets to commit)");
        return false;
    }
    if (*group && (!api_group_name_ok(ctx, *group) || !api_require_group(ctx, *group)))
        return false;
    if (*group && group_members_count(ctx->api->members, *group, timer_now_ms())) {
        reply_problem(ctx->resp, 409, "member_required", NULL,
                      "the group has members, which read its partitions: join it instead");
        return false;
    }
    return true;
}

/* A group's stream that does not resume starts where the group has committed (clamped
 * to the high watermark); elsewhere where ?offset= / ?timestamp= say. */
static void start_at_commits(struct stream *s)
{
    struct group_offset *o;
    size_t n;

    if (group_offsets_get(s->call.api->groups, s->group, &o, &n))
        return;
    for (int32_t i = 0; i < s->nparts; i++) {
        struct stream_part *sp = &s->parts[i];

        for (size_t k = 0; k < n; k++) {
            if (o[k].partition != sp->id || strcmp(o[k].topic, s->topic->name))
                continue;
            sp->cur.next = sp->delivered = sp->committed = o[k].offset;
            if (sp->cur.next > partition_high_watermark(sp->p))
                sp->cur.next = sp->delivered = partition_high_watermark(sp->p);
        }
    }
    group_offsets_free(o, n);
}

/* Applies ?group= / ?commit= to a new stream. */
static void set_group(struct stream *s, const char *group, bool auto_commit, bool resumed)
{
    if (!group)
        return;
    s->group = xstrdup(group);
    s->auto_commit = auto_commit;
    s->last_commit_ms = timer_now_ms();
    if (!resumed)
        start_at_commits(s);
}

static void reply_bad_id(struct api_ctx *ctx, const char *why)
{
    reply_problem(ctx->resp, 400, "invalid_parameter", NULL,
                  "Last-Event-ID / 'last_event_id' %s", why);
}

enum api_status api_stream_partition(struct api_ctx *ctx)
{
    struct topic *t = NULL;
    struct partition *p;
    const char *id = resume_id(ctx), *group;
    int32_t pid;
    int64_t next;
    struct stream *s;
    bool auto_commit;

    if (!api_partition_param(ctx, &t, &pid, &p) || !parse_group(ctx, &group, &auto_commit))
        goto fail;
    if (id) {
        if (sse_parse_offset_id(id, &next)) {
            reply_bad_id(ctx, "must be the id of an event of this stream (an offset)");
            goto fail;
        }
        if (next > partition_high_watermark(p)) {
            api_reply_out_of_range(ctx->resp, p, -1, next);
            goto fail;
        }
    } else if (!api_start_offset(ctx, p, true, &next)) {
        goto fail;
    }
    s = stream_new(ctx, t, false);
    s->parts = xcalloc(1, sizeof(*s->parts));
    s->nparts = 1;
    add_part(s, 0, pid, next);
    set_group(s, group, auto_commit, id != NULL);
    return start_stream(ctx, s);
fail:
    topic_put(t);
    return API_DONE;
}

/* Where each partition of a topic stream starts, from ?offset= (earliest or latest
 * only: a number means one partition) or ?timestamp=. */
static bool topic_start(struct api_ctx *ctx, struct topic *t, int64_t *next, int32_t n)
{
    const char *offset = api_query(ctx, "offset");

    if (offset && strcmp(offset, "earliest") && strcmp(offset, "latest")) {
        reply_problem(ctx->resp, 400, "invalid_parameter", NULL,
                      "'offset' of a topic stream is 'earliest' or 'latest' (a number "
                      "is a position in one partition: stream that partition, or "
                      "resume with Last-Event-ID)");
        return false;
    }
    for (int32_t i = 0; i < n; i++)
        if (!api_start_offset(ctx, topic_partition(t, i), true, &next[i]))
            return false;
    return true;
}

enum api_status api_stream_topic(struct api_ctx *ctx)
{
    struct topic *t = api_topic_param(ctx);
    const char *id = resume_id(ctx), *group;
    struct stream *s;
    int64_t *next;
    int32_t n;
    bool auto_commit;

    if (!t)
        return API_DONE;
    if (!parse_group(ctx, &group, &auto_commit)) {
        topic_put(t);
        return API_DONE;
    }
    n = topic_partition_count(t);
    next = xcalloc((size_t)n, sizeof(*next));
    if (id) {
        int r;

        for (int32_t i = 0; i < n; i++) /* a partition the id does not name is newer */
            next[i] = partition_log_start(topic_partition(t, i));
        r = sse_parse_vector_id(id, next, n);
        if (r == -ERANGE) {
            reply_bad_id(ctx, "names a partition this topic does not have");
            goto fail;
        }
        if (r) {
            reply_bad_id(ctx, "must be the id of an event of this stream "
                              "(partition:offset pairs, e.g. 0:17,1:4)");
            goto fail;
        }
        for (int32_t i = 0; i < n; i++) {
            struct partition *p = topic_partition(t, i);

            if (next[i] > partition_high_watermark(p)) {
                api_reply_out_of_range(ctx->resp, p, i, next[i]);
                goto fail;
            }
        }
    } else if (!topic_start(ctx, t, next, n)) {
        goto fail;
    }
    s = stream_new(ctx, t, true);
    s->parts = xcalloc((size_t)n, sizeof(*s->parts));
    for (int32_t i = 0; i < n; i++)
        add_part(s, i, i, next[i]);
    s->nparts = n;
    set_group(s, group, auto_commit, id != NULL);
    free(next);
    return start_stream(ctx, s);
fail:
    free(next);
    topic_put(t);
    return API_DONE;
}
