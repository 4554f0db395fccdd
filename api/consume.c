/* consume.c: reading a partition: GET /topics/{t}/partitions/{p} (by offset, earliest,
 * latest or timestamp, with limit, max_bytes, value_format and the wait_ms long poll)
 * and GET /topics/{t}/partitions/{p}/offsets.
 *
 * A record as JSON: {"offset":41,"timestamp":1764000000000,"key":"user-42",
 * "value":{"action":"login"},"headers":{"source":"web"}}. A value whose bytes are valid
 * JSON is embedded as it is (checked, never re-serialised), except the literal null,
 * which would read as a null value (a tombstone); that and other bytes come as
 * "value_base64"; keys as "key" when UTF-8, else "key_base64".
 *
 * A long poll whose topic is deleted while it waits is woken by the delete
 * (topic_mark_deleted()) and answers 404 topic_not_found at once. */
#include "api/internal.h"

#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/json_check.h"
#include "common/xalloc.h"

#define FETCH_DEFAULT_LIMIT 100
#define FETCH_MAX_LIMIT 10000
#define FETCH_DEFAULT_MAX_BYTES (1 << 20)
#define FETCH_MAX_MAX_BYTES (64 << 20)

struct fetch {
    struct topic *topic;
    struct partition *p;
    int32_t partition;
    int64_t offset;
    int64_t limit;
    int64_t max_bytes;
    int64_t wait_ms;
    bool base64;
};

static void add_base64(struct buf *b, const uint8_t *data, size_t len)
{
    size_t n = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);

    buf_grow(b, n + 2);
    buf_addch(b, '"');
    sodium_bin2base64(b->data + b->len, n, data, len, sodium_base64_VARIANT_ORIGINAL);
    b->len += n - 1;
    buf_addch(b, '"');
}

/* "name":"text" when the bytes are UTF-8, else "name_base64":"...". */
static void add_bytes_field(struct buf *b, const char *name, const uint8_t *data,
                            int32_t len, bool force_base64)
{
    if (len < 0) {
        buf_printf(b, "\"%s\":null", name);
    } else if (!force_base64 && utf8_check((const char *)data, (size_t)len)) {
        buf_printf(b, "\"%s\":", name);
        json_add_string(b, (const char *)data, (size_t)len);
    } else {
        buf_printf(b, "\"%s_base64\":", name);
        add_base64(b, data, (size_t)len);
    }
}

static bool header_is_text(const struct record_header *h)
{
    return utf8_check((const char *)h->key, (size_t)h->key_len) &&
           (h->value_len < 0 || utf8_check((const char *)h->value, (size_t)h->value_len));
}

/* ,"headers":{...} with the UTF-8 headers (always there), or, with 'binary', the
 * others as ,"headers_base64":{...} (only when there are some). */
static void add_headers(struct buf *b, const struct record *r, bool binary)
{
    const uint8_t *cur = r->raw_headers, *end = r->raw_headers + r->raw_headers_len;
    struct record_header h;
    bool first = true;

    while (record_header_next(&cur, end, &h) == 1) {
        if (header_is_text(&h) == binary)
            continue;
        buf_addstr(b, first ? (binary ? ",\"headers_base64\":{" : ",\"headers\":{") : ",");
        first = false;
        if (binary)
            add_base64(b, h.key, (size_t)h.key_len);
        else
            json_add_string(b, (const char *)h.key, (size_t)h.key_len);
        buf_addch(b, ':');
        if (h.value_len < 0)
            buf_addstr(b, "null");
        else if (binary)
            add_base64(b, h.value, (size_t)h.value_len);
        else
            json_add_string(b, (const char *)h.value, (size_t)h.value_len);
    }
    if (!first)
        buf_addch(b, '}');
    else if (!binary)
        buf_addstr(b, ",\"headers\":{}");
}

static bool is_json_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* True if data[0..len) is the JSON literal null, with or without JSON whitespace
 * around it. */
static bool is_json_null(const uint8_t *data, size_t len)
{
    while (len && is_json_space(data[len - 1]))
        len--;
    while (len && is_json_space(data[0])) {
        data++;
        len--;
    }
    return len == 4 && !memcmp(data, "null", 4);
}

void api_record_json(struct buf *b, const struct record *r, int32_t partition,
                     bool value_base64)
{
    buf_addch(b, '{');
    if (partition >= 0)
        buf_printf(b, "\"partition\":%" PRId32 ",", partition);
    buf_printf(b, "\"offset\":%" PRId64 ",\"timestamp\":%" PRId64 ",", r->offset,
               r->timestamp);
    add_bytes_field(b, "key", r->key, r->key_len, false);
    buf_addch(b, ',');
    if (r->value_len < 0) {
        buf_addstr(b, "\"value\":null");
    } else if (!value_base64 && !is_json_null(r->value, (size_t)r->value_len) &&
               json_check((const char *)r->value, (size_t)r->value_len)) {
        buf_addstr(b, "\"value\":");
        buf_add(b, r->value, (size_t)r->value_len);
    } else {
        buf_addstr(b, "\"value_base64\":");
        add_base64(b, r->value, (size_t)r->value_len);
    }
    add_headers(b, r, false);
    add_headers(b, r, true);
    buf_addch(b, '}');
}

/* Parses an integer query parameter within [lo, hi], or answers 400. */
static bool query_int(struct api_ctx *ctx, const char *name, int64_t lo, int64_t hi,
                      int64_t *out)
{
    const char *v = api_query(ctx, name);

    if (!v)
        return true;
    if (api_parse_i64(v, out) || *out < lo || *out > hi) {
        reply_problem(ctx->resp, 400, "invalid_parameter", NULL,
                      "'%s' must be an integer from %" PRId64 " to %" PRId64, name, lo, hi);
        return false;
    }
    return true;
}

bool api_partition_param(struct api_ctx *ctx, struct topic **t, int32_t *id,
                         struct partition **p)
{
    int64_t n;

    *t = api_topic_param(ctx);
    if (!*t)
        return false;
    if (api_parse_i64(ctx->params[1], &n) || n < 0) {
        reply_problem(ctx->resp, 400, "invalid_partition", NULL,
                      "the partition must be a non-negative integer");
        return false;
    }
    if (n >= topic_partition_count(*t)) {
        reply_problem(ctx->resp, 404, "partition_not_found", NULL,
                      "topic '%s' has %" PRId32 " partitions", (*t)->name,
                      topic_partition_count(*t));
        return false;
    }
    *id = (int32_t)n;
    *p = topic_partition(*t, *id);
    return true;
}

void api_reply_out_of_range(struct api_response *resp, struct partition *p, int32_t id,
                            int64_t offset)
{
    char extra[96], which[48] = "";
    int64_t earliest = partition_log_start(p), latest = partition_high_watermark(p);

    snprintf(extra, sizeof(extra), ",\"earliest\":%" PRId64 ",\"latest\":%" PRId64,
             earliest, latest);
    if (id >= 0)
        snprintf(which, sizeof(which), "partition %" PRId32 ": ", id);
    reply_problem(resp, 416, "offset_out_of_range", extra,
                  "%soffset %" PRId64 " is outside [%" PRId64 ", %" PRId64 "]", which, offset,
                  earliest, latest);
}

bool api_start_offset(struct api_ctx *ctx, struct partition *p, bool default_latest,
                      int64_t *out)
{
    const char *offset = api_query(ctx, "offset"), *ts = api_query(ctx, "timestamp");

    if (offset && ts) {
        reply_problem(ctx->resp, 400, "invalid_parameter", NULL,
                      "give 'offset' or 'timestamp', not both");
        return false;
    }
    if (ts) {
        int64_t t;
        int r;
        if (api_parse_i64(ts, &t) || t < 0) {
            reply_problem(ctx->resp, 400, "invalid_parameter", NULL,
                          "'timestamp' must be milliseconds since the epoch (>= 0)");
            return false;
        }
        r = partition_offset_for_time(p, t, out);
        if (r) {
            reply_errno(ctx->resp, r, "looking up the timestamp");
            return false;
        }
        return true;
    }
    if (!offset)
        offset = default_latest ? "latest" : "earliest";
    if (!strcmp(offset, "earliest")) {
        *out = partition_log_start(p);
    } else if (!strcmp(offset, "latest")) {
        *out = partition_high_watermark(p);
    } else if (api_parse_i64(offset, out) || *out < 0) {
        reply_problem(ctx->resp, 400, "invalid_parameter", NULL,
                      "'offset' must be a non-negative integer, 'earliest' or 'latest'");
        return false;
    }
    if (*out < partition_log_start(p) || *out > partition_high_watermark(p)) {
        api_reply_out_of_range(ctx->resp, p, -1, *out);
        return false;
    }
    return true;
}

static bool parse_fetch(struct api_ctx *ctx, struct fetch *f)
{
    const char *format = api_query(ctx, "value_format");

    f->limit = FETCH_DEFAULT_LIMIT;
    f->max_bytes = FETCH_DEFAULT_MAX_BYTES;
    f->wait_ms = 0;
    if (!query_int(ctx, "limit", 1, FETCH_MAX_LIMIT, &f->limit) ||
        !query_int(ctx, "max_bytes", 1, FETCH_MAX_MAX_BYTES, &f->max_bytes) ||
        !query_int(ctx, "wait_ms", 0, ctx->api->config.max_wait_ms, &f->wait_ms))
        return false;
    if (format && strcmp(format, "base64") && strcmp(format, "auto")) {
        reply_problem(ctx->resp, 400, "invalid_parameter", NULL,
                      "'value_format' must be 'auto' or 'base64'");
        return false;
    }
    f->base64 = format && !strcmp(format, "base64");
    return api_start_offset(ctx, f->p, false, &f->offset);
}

/* Reads and answers. Returns false (answered with an error) on a storage error. */
static void answer_fetch(struct api_response *resp, struct fetch *f)
{
    struct buf data = BUF_INIT, b = BUF_INIT;
    int64_t next = f->offset, hw = partition_high_watermark(f->p), count = 0;
    int r = partition_read(f->p, f->offset, (size_t)f->max_bytes, &data);
    struct record_walk w;
    struct record rec;

    if (r < 0 && r != -ERANGE) {
        buf_release(&data);
        reply_errno(resp, r, "reading the partition");
        return;
    }
    if (r == 0 && f->offset < hw)
        next = hw; /* compaction left nothing below the high watermark */
    buf_addstr(&b, "{\"topic\":");
    json_add_cstr(&b, f->topic->name);
    buf_printf(&b, ",\"partition\":%" PRId32 ",\"records\":[", f->partition);
    record_walk_init(&w, data.data, r > 0 ? data.len : 0, f->offset);
    while (count < f->limit && record_walk_next(&w, &rec)) {
        if (count++)
            buf_addch(&b, ',');
        api_record_json(&b, &rec, -1, f->base64);
        next = rec.offset + 1;
    }
    buf_printf(&b, "],\"next_offset\":%" PRId64 ",\"high_watermark\":%" PRId64 "}", next, hw);
    buf_release(&data);
    reply_json(resp, 200, &b);
}

/* ---- the long poll ---- */

struct poll_call {
    struct api_call call;
    struct fetch f;
    struct partition_waiter waiter;
    struct timer deadline;
};

static void poll_data(struct partition_waiter *w)
{
    call_wake(&((struct poll_call *)((char *)w - offsetof(struct poll_call, waiter)))->call);
}

static void poll_deadline(struct timer *t)
{
    call_wake(&((struct poll_call *)((char *)t - offsetof(struct poll_call, deadline)))->call);
}

static enum api_status poll_continue(struct api_call *c, struct api_response *resp)
{
    struct fetch *f = &((struct poll_call *)c)->f;

    if (!api_call_token_valid(c, resp)) /* revoked (which woke it) or expired meanwhile */
        return API_DONE;
    if (topic_is_deleted(f->topic)) /* the delete woke the poll */
        reply_problem(resp, 404, "topic_not_found", NULL, "topic '%s' does not exist",
                      f->topic->name);
    else
        answer_fetch(resp, f);
    return API_DONE;
}

static void poll_release(struct api_call *c)
{
    struct poll_call *pc = (struct poll_call *)c;

    partition_unwatch(pc->f.p, &pc->waiter);
    timer_cancel(c->api->timers, &pc->deadline);
    topic_put(pc->f.topic);
    free(pc);
}

static enum api_status wait_for_data(struct api_ctx *ctx, struct fetch *f)
{
    struct poll_call *pc = xcalloc(1, sizeof(*pc));

    call_init(&pc->call, ctx, poll_continue, poll_release);
    pc->call.wake_on_shutdown = true;
    pc->f = *f; /* takes the topic reference */
    pc->waiter.offset = f->offset;
    pc->waiter.fire = poll_data;
    pc->deadline.fire = poll_deadline;
    pc->deadline.due_ms = timer_now_ms() + f->wait_ms;
    *ctx->call = &pc->call;
    if (partition_watch(f->p, &pc->waiter))
        call_wake(&pc->call); /* data came in between: suspend and resume at once */
    else
        timer_arm(ctx->api->timers, &pc->deadline);
    return call_suspend(&pc->call);
}

enum api_status api_fetch_records(struct api_ctx *ctx)
{
    struct fetch f = {0};

    if (!api_partition_param(ctx, &f.topic, &f.partition, &f.p) || !parse_fetch(ctx, &f))
        goto out;
    if (f.wait_ms > 0 && f.offset == partition_high_watermark(f.p))
        return wait_for_data(ctx, &f);
    answer_fetch(ctx->resp, &f);
out:
    topic_put(f.topic);
    return API_DONE;
}

enum api_status api_get_offsets(struct api_ctx *ctx)
{
    struct fetch f = {0};
    struct buf b = BUF_INIT;

    if (api_partition_param(ctx, &f.topic, &f.partition, &f.p)) {
        buf_printf(&b, "{\"earliest\":%" PRId64 ",\"latest\":%" PRId64 "}",
                   partition_log_start(f.p), partition_high_watermark(f.p));
        reply_json(ctx->resp, 200, &b);
    }
    topic_put(f.topic);
    return API_DONE;
}
