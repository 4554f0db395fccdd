/* produce.c: POST /topics/{t}/messages, and the produce path it shares with
 * webhook.c (produce_run(), see produce.h).
 *
 * A JSON envelope {"records":[{key|key_base64, value|value_base64, headers, partition,
 * timestamp}, ...]} (or any other content type: the body is one record, verbatim).
 * Everything is validated before anything is written (all or nothing); records then
 * become one or more batches per partition, each one write. With flush.policy=always
 * the connection is suspended until the sync thread has made every batch durable,
 * then answered {"offsets":[{"partition":0,"offset":41},...]} in request order. */
#include "api/produce.h"

#include "api/internal.h"

#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "api/envelope.h"
#include "api/murmur2.h"
#include "common/xalloc.h"

struct prec {
    struct record rec;
    int32_t partition;
    bool unpinned;    /* neither key nor partition: placed by the sticky choice */
    size_t batch;    /* index of its batch in the request */
    int32_t in_batch; /* its offset delta in that batch */
};

/* One partition's share of the request. */
struct pshare {
    int32_t partition;
    struct partition *p;
    size_t first_batch, nbatches;
    int64_t base, last;
    struct partition_waiter waiter;
    struct produce_call *owner;
};

struct produce_call {
    struct api_call call;
    struct topic *topic;
    struct pshare *shares;
    size_t nshares;
    struct buf answer; /* the 200 body, ready before the wait */
    char *idem_key;    /* "<topic>\n<topic id>\n<Idempotency-Key>", or NULL */
    uint8_t idem_hash[32];
    struct partition_waiter idem_waiter; /* the key's record becoming durable */
    bool idem_written;
};

struct produce {
    struct api_ctx *ctx;
    const struct produce_opts *opts;
    char *idem_key; /* scoped key, NULL without Idempotency-Key */
    uint8_t idem_hash[32];
    struct topic *topic;
    int32_t npartitions;
    int64_t limit; /* the largest batch: min(max.message.bytes, segment.bytes) */
    char topic_id[TOPIC_ID_LEN + 1]; /* for Idempotency-Key scoping */
    bool flush_always;
    struct envelope env; /* what the records point into, for a JSON envelope */
    struct record_header *raw_headers; /* a raw record's, from opts->headers */
    struct prec *recs;
    size_t nrecs;
};

/* The JSON envelope (api/envelope.c), placed: a pinned partition is checked, a key
 * picks murmur2's, keyless records share one partition per request (sticky). */
static bool parse_envelope(struct produce *pr)
{
    struct api_ctx *ctx = pr->ctx;
    struct envelope_error err;
    int64_t now = clock_wall_ms();
    int32_t sticky;
    static const char *const raw_only[] = {"key", "partition"};

    /* Silently ignoring them would put records where the writer did not mean. */
    for (size_t i = 0; i < sizeof(raw_only) / sizeof(raw_only[0]); i++)
        if (api_query(ctx, raw_only[i])) {
            reply_problem(ctx->resp, 400, "invalid_parameter", NULL,
                          "'%s' is for a raw body (one record); in the JSON envelope give "
                          "each record its own \"%s\" (or add ?raw=1)",
                          raw_only[i], raw_only[i]);
            return false;
        }

    if (!envelope_parse(ctx->req->body, ctx->req->body_len, ctx->api->config.max_records,
                        &pr->env, &err)) {
        char extra[48] = "";

        if (err.limit)
            snprintf(extra, sizeof(extra), ",\"limit\":%zu", err.limit);
        reply_problem(ctx->resp, err.status, err.code, extra, "%s", err.detail);
        return false;
    }
    pr->nrecs = pr->env.count;
    pr->recs = xcalloc(pr->nrecs, sizeof(*pr->recs));
    sticky = (int32_t)(atomic_fetch_add(&ctx->api->sticky, 1) % (uint32_t)pr->npartitions);
    for (size_t i = 0; i < pr->nrecs; i++) {
        const struct envelope_record *e = &pr->env.records[i];
        struct prec *r = &pr->recs[i];

        r->rec = (struct record){
            .timestamp = e->timestamp >= 0 ? e->timestamp : now,
            .key = e->key,
            .key_len = e->key_len,
            .value = e->value,
            .value_len = e->value_len,
            .headers = e->headers,
            .header_count = e->header_count,
        };
        if (e->partition >= pr->npartitions) {
            reply_problem(ctx->resp, 404, "partition_not_found", NULL,
                          "records[%zu].partition: topic '%s' has %" PRId32 " partitions", i,
                          pr->topic->name, pr->npartitions);
            return false;
        }
        if (e->partition >= 0) {
            r->partition = (int32_t)e->partition;
        } else if (e->key_len >= 0) {
            r->partition = murmur2_partition(e->key, (size_t)e->key_len, pr->npartitions);
        } else {
            r->partition = sticky;
            r->unpinned = true;
        }
    }
    return true;
}

/* The request headers named in opts->headers, as the record's headers. */
static void raw_headers(struct produce *pr, struct record *rec)
{
    const char *const *names = pr->opts->headers;
    size_t n = 0;

    while (names && names[n])
        n++;
    pr->raw_headers = xcalloc(n ? n : 1, sizeof(*pr->raw_headers));
    for (size_t i = 0; i < n; i++) {
        const char *v = api_header(pr->ctx, names[i]);

        if (v)
            pr->raw_headers[rec->header_count++] = (struct record_header){
                (const uint8_t *)names[i], (int32_t)strlen(names[i]), (const uint8_t *)v,
                (int32_t)strlen(v)};
    }
    rec->headers = rec->header_count ? pr->raw_headers : NULL;
}

/* The body as one record: its bytes verbatim, the headers opts->headers names (such as
 * its Content-Type) kept as record headers. */
static bool parse_raw(struct produce *pr)
{
    struct api_ctx *ctx = pr->ctx;
    const char *key = api_query(ctx, "key"), *part = api_query(ctx, "partition");
    struct prec *r;
    int64_t n;

    pr->recs = xcalloc(1, sizeof(*pr->recs));
    pr->nrecs = 1;
    r = &pr->recs[0];
    r->rec.timestamp = clock_wall_ms();
    r->rec.value = (const uint8_t *)ctx->req->body;
    r->rec.value_len = (int32_t)ctx->req->body_len;
    r->rec.key_len = -1;
    if (key) {
        r->rec.key = (const uint8_t *)key;
        r->rec.key_len = (int32_t)strlen(key);
    }
    raw_headers(pr, &r->rec);
    if (part) {
        if (api_parse_i64(part, &n) || n < 0) {
            reply_problem(ctx->resp, 400, "invalid_parameter", NULL,
                          "'partition' must be a non-negative integer");
            return false;
        }
        if (n >= pr->npartitions) {
            reply_problem(ctx->resp, 404, "partition_not_found", NULL,
                          "topic '%s' has %" PRId32 " partitions", pr->topic->name,
                          pr->npartitions);
            return false;
        }
        r->partition = (int32_t)n;
    } else if (key) {
        r->partition = murmur2_partition(key, strlen(key), pr->npartitions);
    } else {
        r->partition =
            (int32_t)(atomic_fetch_add(&ctx->api->sticky, 1) % (uint32_t)pr->npartitions);
        r->unpinned = true;
    }
    return true;
}

static bool starts_with_brace(const struct api_request *req)
{
    for (size_t i = 0; i < req->body_len; i++)
        if (req->body[i] != ' ' && req->body[i] != '\t' && req->body[i] != '\r' &&
            req->body[i] != '\n')
            return req->body[i] == '{';
    return false;
}

/* The JSON envelope for application/json (and for no content type, or curl -d's
 * default application/x-www-form-urlencoded when the body is a JSON object: a
 * convenience for curl); the body as one raw record for anything else or ?raw=1. */
static bool wants_raw(struct api_ctx *ctx)
{
    const char *raw = api_query(ctx, "raw");

    if (raw && strcmp(raw, "0") && strcmp(raw, "false"))
        return true;
    switch (api_media_type(ctx)) {
    case MEDIA_NONE:
    case MEDIA_JSON:
        return false;
    case MEDIA_FORM:
        return !starts_with_brace(ctx->req);
    case MEDIA_OTHER:
        break;
    }
    return true;
}

/* ---- batching and writing ---- */

struct batches {
    uint8_t **data;
    size_t *len;
    size_t n;
};

/* Cuts each partition's records into batches under the limit, encoded; records keep
 * their batch index and delta. Answers 413 for a record too big alone. */
static bool encode_batches(struct produce *pr, struct pshare *shares, size_t nshares,
                           struct batches *out)
{
    struct record *tmp = xcalloc(pr->nrecs, sizeof(*tmp));
    size_t *idx = xcalloc(pr->nrecs, sizeof(*idx));
    bool ok = true;

    for (size_t s = 0; s < nshares && ok; s++) {
        size_t n = 0, start = 0;

        for (size_t i = 0; i < pr->nrecs; i++)
            if (pr->recs[i].partition == shares[s].partition)
                idx[n++] = i;
        shares[s].first_batch = out->n;
        while (start < n && ok) {
            int64_t base_ts = pr->recs[idx[start]].rec.timestamp;
            int64_t size = RECORD_BATCH_OVERHEAD;
            size_t count = 0;

            /* grow the batch one record at a time while it stays under the limit */
            while (start + count < n) {
                const struct record *r = &pr->recs[idx[start + count]].rec;
                size_t more = record_size_in_batch(r, (int32_t)count, base_ts);

                if (more == 0 || size + (int64_t)more > pr->limit)
                    break;
                size += (int64_t)more;
                tmp[count++] = *r;
            }
            if (count == 0) {
                char extra[32];

                snprintf(extra, sizeof(extra), ",\"limit\":%" PRId64, pr->limit);
                char what[32] = "the body";

                if (!pr->opts->raw)
                    snprintf(what, sizeof(what), "records[%zu]", idx[start]);
                reply_problem(pr->ctx->resp, 413, "record_too_large", extra,
                              "%s is larger than the topic allows in one batch "
                              "(%" PRId64 " bytes: max.message.bytes or segment.bytes)",
                              what, pr->limit);
                ok = false;
                break;
            }
            struct buf b = BUF_INIT;
            record_batch_encode(&b, tmp, count);
            out->data = xrealloc(out->data, (out->n + 1) * sizeof(*out->data));
            out->len = xrealloc(out->len, (out->n + 1) * sizeof(*out->len));
            for (size_t k = 0; k < count; k++) {
                pr->recs[idx[start + k]].batch = out->n;
                pr->recs[idx[start + k]].in_batch = (int32_t)k;
            }
            out->data[out->n] = (uint8_t *)buf_detach(&b, &out->len[out->n]);
            out->n++;
            start += count;
        }
        shares[s].nbatches = out->n - shares[s].first_batch;
    }
    free(tmp);
    free(idx);
    return ok;
}

static void batches_release(struct batches *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->data[i]);
    free(b->data);
    free(b->len);
}

/* The partitions touched, in order of first appearance. */
static struct pshare *shares_of(struct produce *pr, size_t *n)
{
    struct pshare *s = xcalloc(pr->nrecs, sizeof(*s));

    *n = 0;
    for (size_t i = 0; i < pr->nrecs; i++) {
        size_t k;
        for (k = 0; k < *n && s[k].partition != pr->recs[i].partition; k++)
            ;
        if (k == *n) {
            s[k].partition = pr->recs[i].partition;
            s[k].p = topic_partition(pr->topic, s[k].partition);
            (*n)++;
        }
    }
    return s;
}

/* The If-Match precondition: "<offset>" (quotes optional). */
static bool parse_if_match(struct produce *pr, size_t nshares, int64_t *expect)
{
    struct api_ctx *ctx = pr->ctx;
    const char *h = pr->opts->if_match ? api_header(ctx, "If-Match") : NULL;
    char text[32];
    size_t len;

    *expect = -1;
    if (!h)
        return true;
    len = strlen(h);
    if (len >= 2 && h[0] == '"' && h[len - 1] == '"') {
        h++;
        len -= 2;
    }
    if (len == 0 || len >= sizeof(text)) {
        reply_problem(ctx->resp, 400, "invalid_if_match", NULL,
                      "If-Match must be the expected next offset, e.g. \"42\"");
        return false;
    }
    memcpy(text, h, len);
    text[len] = '\0';
    if (api_parse_i64(text, expect) || *expect < 0) {
        reply_problem(ctx->resp, 400, "invalid_if_match", NULL,
                      "If-Match must be the expected next offset, e.g. \"42\"");
        return false;
    }
    if (nshares != 1) {
        reply_problem(ctx->resp, 400, "if_match_needs_one_partition", NULL,
                      "If-Match needs every record to go to one partition");
        return false;
    }
    /* A keyless record could land on any partition: the precondition would be about
     * a partition the writer did not choose. */
    for (size_t i = 0; i < pr->nrecs && pr->npartitions > 1; i++)
        if (pr->recs[i].unpinned) {
            reply_problem(ctx->resp, 400, "if_match_needs_one_partition", NULL,
                          "If-Match needs records with a key or a partition: records[%zu] "
                          "has neither, and the topic has %" PRId32 " partitions",
                          i, pr->npartitions);
            return false;
        }
    return true;
}

/* The idempotency key (opts->idem_header): reserves it (go on), or answers a replay
 * or a conflict (stop: returns false). */
static bool idempotency_begin(struct produce *pr)
{
    struct api_ctx *ctx = pr->ctx;
    const char *name = pr->opts->idem_header;
    const char *key = name ? api_header(ctx, name) : NULL;
    const char *ct = api_header(ctx, "Content-Type");
    crypto_generichash_state st;
    struct buf scoped = BUF_INIT, b = BUF_INIT;
    size_t len;
    char *answer = NULL;

    if (!key)
        return true;
    len = strlen(key);
    for (size_t i = 0; i < len; i++)
        if (key[i] < 0x20 || key[i] > 0x7e)
            len = 0;
    if (len == 0 || len > IDEM_KEY_MAX) {
        reply_problem(ctx->resp, 400, "invalid_idempotency_key", NULL,
                      "%s must be 1-%d printable ASCII characters", name, IDEM_KEY_MAX);
        return false;
    }
    /* "The same request": same target, content type and body. */
    crypto_generichash_init(&st, NULL, 0, 32);
    crypto_generichash_update(&st, (const unsigned char *)ctx->req->target,
                              strlen(ctx->req->target) + 1);
    crypto_generichash_update(&st, (const unsigned char *)(ct ? ct : ""),
                              strlen(ct ? ct : "") + 1);
    crypto_generichash_update(&st, (const unsigned char *)ctx->req->body,
                              ctx->req->body_len);
    crypto_generichash_final(&st, pr->idem_hash, 32);
    /* Scoped to this topic's incarnation: a topic deleted and made again under the
     * same name has another id, and none of the old one's keys. */
    buf_printf(&scoped, "%s\n%s\n%s", pr->topic->name, pr->topic_id, key);
    switch (idem_begin(ctx->api->idem, scoped.data, pr->idem_hash, &answer)) {
    case IDEM_NEW:
        pr->idem_key = buf_detach(&scoped, NULL);
        return true;
    case IDEM_REPLAY:
        buf_addstr(&b, answer);
        reply_json(ctx->resp, 200, &b);
        api_response_header(ctx->resp, "Idempotent-Replayed", "true");
        free(answer);
        break;
    case IDEM_CONFLICT:
        reply_problem(ctx->resp, 409, "idempotency_key_reused", NULL,
                      "%s '%s' was used within 24 h for another request", name, key);
        break;
    case IDEM_IN_PROGRESS:
        api_response_header(ctx->resp, "Retry-After", "1");
        reply_problem(ctx->resp, 409, "idempotency_key_in_progress", NULL,
                      "a request with %s '%s' is still being written", name, key);
        break;
    }
    buf_release(&scoped);
    return false;
}

/* ---- the durable wait ---- */

static void share_durable(struct partition_waiter *w)
{
    struct pshare *s = (struct pshare *)((char *)w - offsetof(struct pshare, waiter));

    call_done_one(&s->owner->call);
}

static void idem_durable(struct partition_waiter *w)
{
    call_wake(&((struct produce_call *)((char *)w - offsetof(struct produce_call,
                                                             idem_waiter)))->call);
}

static enum api_status produce_continue(struct api_call *c, struct api_response *resp)
{
    struct produce_call *pc = (struct produce_call *)c;
    struct idem_table *idem = c->api->idem;
    int r;

    for (size_t i = 0; i < pc->nshares; i++) {
        struct partition *p = pc->shares[i].p;
        if (partition_high_watermark(p) <= pc->shares[i].last && partition_error(p)) {
            reply_problem(resp, 503, "read_only", NULL,
                          "partition %" PRId32 " failed to sync to disk: the records are not "
                          "acknowledged; the partition is read-only",
                          pc->shares[i].partition);
            if (pc->idem_key)
                idem_abort(idem, pc->idem_key);
            return API_DONE;
        }
    }
    if (pc->idem_key && !pc->idem_written) {
        /* The records are durable: now the key's record, and wait for it too. */
        pc->idem_written = true;
        pc->idem_waiter.fire = idem_durable;
        call_rearm(c);
        r = idem_finish(idem, pc->idem_key, pc->idem_hash, pc->answer.data,
                        &pc->idem_waiter);
        if (r == 1)
            return call_suspend(c);
        if (r < 0) {
            reply_errno(resp, r, "recording the Idempotency-Key");
            return API_DONE;
        }
    }
    if (pc->idem_key && partition_error(idem_partition(idem))) {
        reply_errno(resp, -EIO, "recording the Idempotency-Key");
        return API_DONE;
    }
    reply_json(resp, 200, &pc->answer);
    return API_DONE;
}

static void produce_release(struct api_call *c)
{
    struct produce_call *pc = (struct produce_call *)c;

    for (size_t i = 0; i < pc->nshares; i++)
        partition_unwatch(pc->shares[i].p, &pc->shares[i].waiter);
    if (pc->idem_key)
        partition_unwatch(idem_partition(c->api->idem), &pc->idem_waiter);
    free(pc->idem_key);
    topic_put(pc->topic);
    free(pc->shares);
    buf_release(&pc->answer);
    free(pc);
}

/* The answer: each record's offset is its batch's base plus its delta; a share's
 * batches were written back to back from the share's base. */
static void answer_json(struct produce *pr, const struct pshare *shares, size_t nshares,
                        const struct batches *bs, struct buf *b)
{
    int64_t *batch_base = xcalloc(bs->n ? bs->n : 1, sizeof(*batch_base));

    for (size_t i = 0; i < nshares; i++) {
        int64_t off = shares[i].base;
        for (size_t k = shares[i].first_batch; k < shares[i].first_batch + shares[i].nbatches;
             k++) {
            batch_base[k] = off;
            off += (int32_t)load_be32(bs->data[k] + 57); /* recordsCount */
        }
    }
    buf_addstr(b, "{\"offsets\":[");
    for (size_t i = 0; i < pr->nrecs; i++) {
        const struct prec *r = &pr->recs[i];
        buf_printf(b, "%s{\"partition\":%" PRId32 ",\"offset\":%" PRId64 "}", i ? "," : "",
                   r->partition, batch_base[r->batch] + r->in_batch);
    }
    buf_addstr(b, "]}");
    free(batch_base);
}

/* Writes every share; on success waits (suspends) for durability where needed. */
static enum api_status write_and_wait(struct produce *pr, struct pshare *shares,
                                      size_t nshares, struct batches *bs, int64_t expect)
{
    struct api_ctx *ctx = pr->ctx;
    struct produce_call *pc;
    int waits = 0;

    for (size_t i = 0; i < nshares; i++) {
        struct pshare *s = &shares[i];
        int r = partition_append_batches(s->p, bs->data + s->first_batch,
                                         bs->len + s->first_batch, s->nbatches, expect,
                                         &s->base, &s->last);
        if (r == -ESTALE) {
            char extra[64];
            snprintf(extra, sizeof(extra), ",\"next_offset\":%" PRId64, s->base);
            api_response_header(ctx->resp, "ETag", "\"%" PRId64 "\"", s->base);
            reply_problem(ctx->resp, 412, "offset_mismatch", extra,
                          "partition %" PRId32 " is at offset %" PRId64 ", not %" PRId64,
                          s->partition, s->base, expect);
            free(shares);
            return API_DONE;
        }
        if (r) {
            reply_errno(ctx->resp, r, "writing the records");
            free(shares);
            return API_DONE;
        }
    }
    pc = xcalloc(1, sizeof(*pc));
    call_init(&pc->call, ctx, produce_continue, produce_release);
    pc->idem_key = pr->idem_key; /* taken */
    pr->idem_key = NULL;
    memcpy(pc->idem_hash, pr->idem_hash, sizeof(pc->idem_hash));
    topic_get(pr->topic);
    pc->topic = pr->topic;
    pc->shares = shares;
    pc->nshares = nshares;
    answer_json(pr, shares, nshares, bs, &pc->answer);
    for (size_t i = 0; i < nshares; i++) {
        shares[i].owner = pc;
        shares[i].waiter.offset = shares[i].last + 1;
        shares[i].waiter.fire = share_durable;
    }
    if (pr->flush_always) {
        atomic_store(&pc->call.pending, (int)nshares + 1); /* +1: held while listing */
        for (size_t i = 0; i < nshares; i++) {
            if (partition_watch_durable(shares[i].p, &shares[i].waiter))
                atomic_fetch_sub(&pc->call.pending, 1);
            else
                waits++;
        }
        call_done_one(&pc->call); /* drop the hold: may wake now if all were durable */
    }
    if (!waits) {
        enum api_status st = produce_continue(&pc->call, ctx->resp);
        if (st == API_DONE) {
            produce_release(&pc->call);
            return st;
        }
        *ctx->call = &pc->call; /* waiting for the Idempotency-Key's record */
        return st;
    }
    *ctx->call = &pc->call;
    return call_suspend(&pc->call);
}

enum api_status produce_run(struct api_ctx *ctx, struct topic *t,
                            const struct produce_opts *o)
{
    struct produce pr = {.ctx = ctx, .opts = o, .topic = t};
    struct batches bs = {0};
    struct pshare *shares = NULL;
    struct topic_meta m;
    size_t nshares = 0;
    int64_t expect;
    enum api_status st = API_DONE;

    topic_meta_copy(t, &m);
    pr.npartitions = topic_partition_count(t);
    pr.limit = m.config.max_message_bytes < m.config.segment_bytes
                   ? m.config.max_message_bytes
                   : m.config.segment_bytes;
    pr.flush_always = m.config.flush_policy == FLUSH_ALWAYS;
    memcpy(pr.topic_id, m.id, sizeof(pr.topic_id));
    if (!(o->raw ? parse_raw(&pr) : parse_envelope(&pr)))
        goto out;
    shares = shares_of(&pr, &nshares);
    if (!parse_if_match(&pr, nshares, &expect) ||
        !encode_batches(&pr, shares, nshares, &bs) || !idempotency_begin(&pr)) {
        free(shares);
        goto out;
    }
    st = write_and_wait(&pr, shares, nshares, &bs, expect); /* takes 'shares' */
    if (pr.idem_key) /* not taken: the write failed, the key is free again */
        idem_abort(ctx->api->idem, pr.idem_key);
out:
    free(pr.idem_key);
    batches_release(&bs);
    envelope_release(&pr.env);
    free(pr.raw_headers);
    free(pr.recs);
    return st;
}

enum api_status api_produce_records(struct api_ctx *ctx)
{
    static const char *const kept[] = {"content-type", NULL};
    const struct produce_opts o = {
        .raw = wants_raw(ctx),
        .headers = kept,
        .idem_header = "Idempotency-Key",
        .if_match = true,
    };
    struct topic *t = api_topic_param(ctx);
    enum api_status st = API_DONE;

    if (!t)
        return API_DONE;
    if (topic_name_is_internal(t->name))
        reply_problem(ctx->resp, 403, "internal_topic", NULL,
                      "internal topics cannot be produced to");
    else
        st = produce_run(ctx, t, &o);
    topic_put(t);
    return st;
}
