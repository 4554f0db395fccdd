/* members.c: consumer group membership over HTTP (storage/group_members.h), with no
 * state tied to a connection:
 *
 *   POST   /groups/{g}/members                 join: {"topics":["orders"],
 *          "session_timeout_ms":30000,"auto_offset_reset":"latest"}
 *          -> 201 {"member_id","generation","assignments":[{"topic","partition"}]}
 *   POST   /groups/{g}/members/{id}/heartbeat  -> 200, the same shape, current
 *   DELETE /groups/{g}/members/{id}            leave -> 204
 *   GET    /groups/{g}/members/{id}/records    ?limit=&max_bytes=&wait_ms=
 *          -> 200 {"member_id","generation","records":[...],"offsets":[...]}
 *
 * A member that is not in the group (never was, left, expired, or the server restarted)
 * is 409 unknown_member: it joins again. Records are read from the member's partitions
 * at the group's committed offsets (where none: auto_offset_reset, latest by default as
 * in Kafka); "offsets" says, per partition read, the offset to commit once the records
 * are processed. With wait_ms, a read with nothing to return waits for an append to any
 * of the member's partitions (a long poll). */
#include "api/internal.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/xalloc.h"

#define SESSION_DEFAULT_MS 30000
#define SESSION_MIN_MS 100
#define SESSION_MAX_MS 1800000 /* Kafka's group.max.session.timeout.ms */
#define READ_DEFAULT_LIMIT 100
#define READ_MAX_LIMIT 10000
#define READ_DEFAULT_BYTES (1 << 20)
#define READ_MAX_BYTES (64 << 20)

static void view_json(struct buf *b, const struct member_view *v)
{
    buf_addstr(b, "{\"member_id\":");
    json_add_cstr(b, v->member_id);
    buf_printf(b, ",\"generation\":%" PRId64 ",\"assignments\":[", v->generation);
    for (size_t i = 0; i < v->nassigned; i++) {
        buf_addstr(b, i ? ",{\"topic\":" : "{\"topic\":");
        json_add_cstr(b, v->assigned[i].topic);
        buf_printf(b, ",\"partition\":%" PRId32 "}", v->assigned[i].partition);
    }
    buf_addstr(b, "]}");
}

static void reply_view(struct api_response *resp, int status, struct member_view *v)
{
    struct buf b = BUF_INIT;

    view_json(&b, v);
    member_view_release(v);
    reply_json(resp, status, &b);
}

void api_reply_unknown_member(struct api_response *resp)
{
    reply_problem(resp, 409, "unknown_member", NULL,
                  "this member is not in the group (it left, its session expired, or the "
                  "server restarted): join again");
}

/* Reads the join body; answers 400/403/404 on failure. topics[] borrow from 'root'. */
static bool parse_join(struct api_ctx *ctx, json_t *root, const char **topics, size_t *n,
                       int64_t *timeout, bool *earliest)
{
    json_t *list = json_object_get(root, "topics"), *v;
    json_t *st = json_object_get(root, "session_timeout_ms");
    json_t *reset = json_object_get(root, "auto_offset_reset");
    size_t i;

    if (!api_known_fields(ctx, root, "topics, session_timeout_ms, auto_offset_reset", NULL))
        return false;
    if (!json_is_array(list) || !json_array_size(list) ||
        json_array_size(list) > MEMBER_MAX_TOPICS) {
        reply_problem(ctx->resp, 400, "invalid_topics", NULL,
                      "'topics' must be an array of 1 to %d topic names", MEMBER_MAX_TOPICS);
        return false;
    }
    json_array_foreach(list, i, v)
    {
        struct topic *t;

        if (!json_is_string(v)) {
            reply_problem(ctx->resp, 400, "invalid_topics", NULL,
                          "topics[%zu] must be a string", i);
            return false;
        }
        if (strlen(json_string_value(v)) == json_string_length(v) &&
            !api_require(ctx, AUTH_CONSUME, json_string_value(v)))
            return false;
        if (strlen(json_string_value(v)) != json_string_length(v) ||
            store_get_topic(ctx->api->store, json_string_value(v), &t)) {
            reply_problem(ctx->resp, 404, "topic_not_found", NULL,
                          "topics[%zu]: topic '%s' does not exist", i, json_string_value(v));
            return false;
        }
        topic_put(t);
        topics[i] = json_string_value(v);
    }
    *n = json_array_size(list);
    *timeout = SESSION_DEFAULT_MS;
    if (st && (!json_is_integer(st) || json_integer_value(st) < SESSION_MIN_MS ||
               json_integer_value(st) > SESSION_MAX_MS)) {
        reply_problem(ctx->resp, 400, "invalid_session_timeout", NULL,
                      "'session_timeout_ms' must be an integer from %d to %d",
                      SESSION_MIN_MS, SESSION_MAX_MS);
        return false;
    }
    if (st)
        *timeout = json_integer_value(st);
    *earliest = false;
    if (reset && (!json_is_string(reset) || (strcmp(json_string_value(reset), "latest") &&
                                            strcmp(json_string_value(reset), "earliest")))) {
        reply_problem(ctx->resp, 400, "invalid_auto_offset_reset", NULL,
                      "'auto_offset_reset' must be 'latest' or 'earliest'");
        return false;
    }
    if (reset)
        *earliest = !strcmp(json_string_value(reset), "earliest");
    return true;
}

/* Location: /groups/{group}/members/{id}, the group percent-encoded as a path segment
 * (RFC 3986: all but unreserved characters). */
static void add_location(struct api_response *resp, const char *group, const char *id)
{
    struct buf b = BUF_INIT;

    for (const unsigned char *c = (const unsigned char *)group; *c; c++) {
        if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
            *c == '-' || *c == '.' || *c == '_' || *c == '~')
            buf_addch(&b, (char)*c);
        else
            buf_printf(&b, "%%%02X", *c);
    }
    api_response_header(resp, "Location", "/groups/%s/members/%s", b.data, id);
    buf_release(&b);
}

enum api_status api_join_group(struct api_ctx *ctx)
{
    const char *group, *topics[MEMBER_MAX_TOPICS];
    struct member_view v;
    int64_t timeout;
    bool earliest;
    json_t *root;
    size_t n;

    if (!api_group_param(ctx, &group) || !(root = api_parse_body_object(ctx)))
        return API_DONE;
    if (parse_join(ctx, root, topics, &n, &timeout, &earliest)) {
        group_members_join(ctx->api->members, group, topics, n, timeout, earliest,
                           clock_mono_ms(), &v);
        add_location(ctx->resp, group, v.member_id);
        reply_view(ctx->resp, 201, &v);
    }
    json_decref(root);
    return API_DONE;
}

enum api_status api_heartbeat_member(struct api_ctx *ctx)
{
    const char *group;
    struct member_view v;

    if (!api_group_param(ctx, &group))
        return API_DONE;
    if (group_members_heartbeat(ctx->api->members, group, ctx->params[1], clock_mono_ms(),
                                &v))
        api_reply_unknown_member(ctx->resp);
    else
        reply_view(ctx->resp, 200, &v);
    return API_DONE;
}

enum api_status api_leave_group(struct api_ctx *ctx)
{
    const char *group;

    if (!api_group_param(ctx, &group))
        return API_DONE;
    if (group_members_leave(ctx->api->members, group, ctx->params[1], clock_mono_ms()))
        reply_problem(ctx->resp, 404, "member_not_found", NULL,
                      "this member is not in the group");
    else
        ctx->resp->status = 204;
    return API_DONE;
}

/* ---- reading a member's partitions ---- */

struct member_read;

/* A wait on one assigned partition. */
struct read_waiter {
    struct partition_waiter w;
    struct member_read *mr;
    struct topic *topic; /* held while waiting */
    struct partition *p;
};

struct member_read {
    struct api_call call;
    char *group;
    char *member;
    int64_t limit, max_bytes;
    struct read_waiter *waits; /* one per assigned partition, while waiting */
    size_t nwait;
    struct timer deadline;
};

/* The committed offset of (topic, part) in o[0..n), or -1. */
static int64_t committed_offset(const struct group_offset *o, size_t n, const char *topic,
                                int32_t part)
{
    for (size_t i = 0; i < n; i++)
        if (o[i].partition == part && !strcmp(o[i].topic, topic))
            return o[i].offset;
    return -1;
}

/* Appends {"topic":..., <record fields with partition>} */
static void add_record(struct buf *b, const char *topic, const struct record *r, int32_t part)
{
    struct buf one = BUF_INIT;

    api_record_json(&one, r, part, false);
    buf_addstr(b, "{\"topic\":");
    json_add_cstr(b, topic);
    buf_addch(b, ',');
    buf_add(b, one.data + 1, one.len - 1);
    buf_release(&one);
}

/* Reads one assigned partition from 'pos' into 'b' (records) and 'offs' (the offset to
 * commit). Returns 0 or -errno. */
static int read_one(const struct assignment *as, struct partition *p, int64_t pos,
                    int64_t *count, int64_t limit, int64_t *bytes, int64_t max_bytes,
                    struct buf *b, struct buf *offs)
{
    struct buf data = BUF_INIT;
    int64_t next = pos;
    int r = partition_read(p, pos, (size_t)(max_bytes - *bytes), &data);
    struct record_walk w;
    struct record rec;

    if (r < 0 && r != -ERANGE) {
        buf_release(&data);
        return r;
    }
    if (r == 0 && pos < partition_high_watermark(p))
        next = partition_high_watermark(p); /* compaction left nothing below it */
    record_walk_init(&w, data.data, r > 0 ? data.len : 0, pos);
    while (*count < limit && record_walk_next(&w, &rec)) {
        if ((*count)++)
            buf_addch(b, ',');
        add_record(b, as->topic, &rec, as->partition);
        next = rec.offset + 1;
    }
    *bytes += (int64_t)data.len;
    buf_release(&data);
    buf_addstr(offs, offs->len ? ",{\"topic\":" : "{\"topic\":");
    json_add_cstr(offs, as->topic);
    buf_printf(offs, ",\"partition\":%" PRId32 ",\"offset\":%" PRId64 "}", as->partition,
               next);
    return 0;
}

/* Reads the member's partitions at the group's committed offsets into 'b' (records and
 * the offsets to commit), starting with a different partition each time so that a busy
 * one does not starve the others. A partition without a committed offset starts at
 * auto_offset_reset, and that position is committed for the group at once (as a Kafka
 * consumer keeps its reset position), so what is appended after this read is not
 * skipped by the next. Returns the number of records, or -errno. */
static int64_t read_assigned(struct api *a, const char *group, const struct member_view *v,
                             int64_t limit, int64_t max_bytes, struct buf *b)
{
    struct group_offset *o = NULL, *reset = xcalloc(v->nassigned + 1, sizeof(*reset));
    struct buf offs = BUF_INIT;
    size_t n = 0, nreset = 0, first = v->nassigned
                                          ? atomic_fetch_add(&a->sticky, 1) % v->nassigned
                                          : 0;
    int64_t count = 0, bytes = 0;
    struct topic *t = NULL;
    int err = 0;

    if (group_offsets_get(a->groups, group, &o, &n))
        n = 0;
    buf_printf(b, "{\"member_id\":\"%s\",\"generation\":%" PRId64 ",\"records\":[",
               v->member_id, v->generation);
    for (size_t k = 0; k < v->nassigned && count < limit && bytes < max_bytes && !err; k++) {
        const struct assignment *as = &v->assigned[(first + k) % v->nassigned];
        struct partition *p;
        int64_t pos;

        topic_put(t);
        t = NULL;
        if (store_get_topic(a->store, as->topic, &t) ||
            !(p = topic_partition(t, as->partition)))
            continue; /* deleted since: the next heartbeat shows the new arrangement */
        pos = committed_offset(o, n, as->topic, as->partition);
        if (pos < 0) {
            pos = v->earliest ? partition_log_start(p) : partition_high_watermark(p);
            reset[nreset++] = (struct group_offset){.topic = as->topic,
                                                    .partition = as->partition,
                                                    .offset = pos};
        }
        if (pos < partition_log_start(p)) /* retention passed it */
            pos = partition_log_start(p);
        if (pos > partition_high_watermark(p))
            pos = partition_high_watermark(p);
        err = read_one(as, p, pos, &count, limit, &bytes, max_bytes, b, &offs);
    }
    topic_put(t);
    if (nreset) /* not waited for: the read answers either way */
        group_offsets_commit(a->groups, group, reset, nreset, NULL);
    free(reset);
    group_offsets_free(o, n);
    buf_printf(b, "],\"offsets\":[%s]}", offs.data);
    buf_release(&offs);
    return err ? err : count;
}

static void read_woken(struct partition_waiter *w)
{
    call_wake(&((struct read_waiter *)(void *)w)->mr->call);
}

static void stop_waiting(struct member_read *mr)
{
    for (size_t i = 0; i < mr->nwait; i++)
        partition_unwatch(mr->waits[i].p, &mr->waits[i].w);
    timer_cancel(mr->call.api->timers, &mr->deadline);
}

static void member_read_release(struct api_call *c)
{
    struct member_read *mr = (struct member_read *)c;

    stop_waiting(mr);
    for (size_t i = 0; i < mr->nwait; i++)
        topic_put(mr->waits[i].topic);
    free(mr->waits);
    free(mr->group);
    free(mr->member);
    free(mr);
}

/* Answers the read now; or, when it finds nothing and may wait, lists waiters and
 * returns false. */
static bool answer_read(struct member_read *mr, struct api_response *resp, bool may_wait)
{
    struct api *a = mr->call.api;
    struct member_view v;
    struct buf b = BUF_INIT;
    int64_t count;

    if (group_members_view(a->members, mr->group, mr->member, clock_mono_ms(), &v)) {
        api_reply_unknown_member(resp);
        return true;
    }
    count = read_assigned(a, mr->group, &v, mr->limit, mr->max_bytes, &b);
    if (count < 0) {
        member_view_release(&v);
        buf_release(&b);
        reply_errno(resp, (int)count, "reading the member's partitions");
        return true;
    }
    if (count > 0 || !may_wait || !v.nassigned || api_is_shutting_down(a)) {
        member_view_release(&v);
        reply_json(resp, 200, &b);
        return true;
    }
    buf_release(&b);
    /* wait for an append to any assigned partition (nothing is readable in any) */
    mr->waits = xcalloc(v.nassigned, sizeof(*mr->waits));
    for (size_t i = 0; i < v.nassigned; i++) {
        struct read_waiter *rw = &mr->waits[mr->nwait];

        if (store_get_topic(a->store, v.assigned[i].topic, &rw->topic))
            continue;
        rw->p = topic_partition(rw->topic, v.assigned[i].partition);
        if (!rw->p) {
            topic_put(rw->topic);
            continue;
        }
        rw->mr = mr;
        rw->w.offset = partition_high_watermark(rw->p);
        rw->w.fire = read_woken;
        mr->nwait++;
        if (partition_watch(rw->p, &rw->w))
            call_wake(&mr->call); /* data came in between */
    }
    member_view_release(&v);
    return false;
}

static void read_deadline(struct timer *t)
{
    call_wake(&((struct member_read *)(void *)((char *)t -
                                               offsetof(struct member_read, deadline)))->call);
}

static enum api_status member_read_continue(struct api_call *c, struct api_response *resp)
{
    struct member_read *mr = (struct member_read *)c;

    stop_waiting(mr);
    if (api_call_token_valid(c, resp)) /* revoked (which woke it) or expired meanwhile */
        answer_read(mr, resp, false);
    return API_DONE;
}

static bool query_range(struct api_ctx *ctx, const char *name, int64_t lo, int64_t hi,
                        int64_t *out)
{
    const char *v = api_query(ctx, name);

    if (v && (api_parse_i64(v, out) || *out < lo || *out > hi)) {
        reply_problem(ctx->resp, 400, "invalid_parameter", NULL,
                      "'%s' must be an integer from %" PRId64 " to %" PRId64, name, lo, hi);
        return false;
    }
    return true;
}

enum api_status api_read_member_records(struct api_ctx *ctx)
{
    struct member_read *mr;
    const char *group;
    int64_t wait_ms = 0;

    if (!api_group_param(ctx, &group))
        return API_DONE;
    mr = xcalloc(1, sizeof(*mr));
    call_init(&mr->call, ctx, member_read_continue, member_read_release);
    mr->call.wake_on_shutdown = true;
    mr->group = xstrdup(group);
    mr->member = xstrdup(ctx->params[1]);
    mr->limit = READ_DEFAULT_LIMIT;
    mr->max_bytes = READ_DEFAULT_BYTES;
    if (!query_range(ctx, "limit", 1, READ_MAX_LIMIT, &mr->limit) ||
        !query_range(ctx, "max_bytes", 1, READ_MAX_BYTES, &mr->max_bytes) ||
        !query_range(ctx, "wait_ms", 0, ctx->api->config.max_wait_ms, &wait_ms) ||
        answer_read(mr, ctx->resp, wait_ms > 0)) {
        member_read_release(&mr->call);
        return API_DONE;
    }
    mr->deadline.fire = read_deadline;
    mr->deadline.due_ms = timer_now_ms() + wait_ms;
    timer_arm(ctx->api->timers, &mr->deadline);
    *ctx->call = &mr->call;
    return call_suspend(&mr->call);
}
