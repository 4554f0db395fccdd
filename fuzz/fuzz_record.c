/* fuzz_record.c: libFuzzer target for storage/record.c.
 *
 * Each input is used three ways:
 *   1. as a batch: record_batch_peek() and record_batch_check() must not misbehave, and
 *      a batch that passes must walk cleanly and survive a re-encode unchanged;
 *   2. as a batch with batchLength, magic and CRC repaired, so that mutations reach the
 *      record decoder instead of dying at the CRC;
 *   3. as a recipe for records (timestamps, keys, values, headers cut from the input)
 *      that must encode, check and decode back to exactly themselves.
 * Any disagreement calls abort(). Seeds are in fuzz/corpus/fuzz_record/.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/xalloc.h"
#include "storage/crc32c.h"
#include "storage/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond)                                                                \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);     \
            abort();                                                                     \
        }                                                                                \
    } while (0)

#define MAX_RECIPE_RECORDS 8
#define MAX_RECIPE_HEADERS 4

static bool same_field(const uint8_t *a, int32_t alen, const uint8_t *b, int32_t blen)
{
    if (alen != blen)
        return false;
    if (alen < 0)
        return a == NULL && b == NULL;
    return a && b && (alen == 0 || memcmp(a, b, (size_t)alen) == 0);
}

/* The decoded contents of a checked batch, headers gathered into arrays so the records
 * can be fed back to record_batch_encode(). */
struct decoded {
    struct record *recs;
    struct record_header *hdrs;
    size_t n;
};

static void decoded_free(struct decoded *d)
{
    free(d->recs);
    free(d->hdrs);
}

/* Walks a batch that passed record_batch_check(); any error here is a bug. */
static void walk(const uint8_t *batch, const struct record_batch_header *h,
                 struct decoded *d)
{
    const uint8_t *end = batch + record_batch_total(h), *cur, *hend;
    struct record_header scratch;
    struct record_iter it;
    struct record r;
    size_t nh = 0;
    int ret;

    FUZZ_ASSERT(h->record_count >= 1);
    d->n = 0;
    d->recs = xcalloc((size_t)h->record_count, sizeof(*d->recs));
    /* A header takes at least two bytes, which bounds how many there can be. */
    d->hdrs = xcalloc(record_batch_total(h) / 2, sizeof(*d->hdrs));
    record_iter_init(&it, batch, h);
    while ((ret = record_iter_next(&it, &r)) == 1) {
        FUZZ_ASSERT(d->n < (size_t)h->record_count);
        FUZZ_ASSERT(r.offset == (int64_t)((uint64_t)h->base_offset + d->n));
        FUZZ_ASSERT(r.key_len < 0 || (r.key >= batch && r.key + r.key_len <= end));
        FUZZ_ASSERT(r.value_len < 0 ||
                    (r.value >= batch && r.value + r.value_len <= end));
        FUZZ_ASSERT(r.raw_headers >= batch && r.raw_headers + r.raw_headers_len <= end);
        FUZZ_ASSERT(nh + r.header_count <= record_batch_total(h) / 2);
        cur = r.raw_headers;
        hend = r.raw_headers + r.raw_headers_len;
        for (uint32_t k = 0; k < r.header_count; k++)
            FUZZ_ASSERT(record_header_next(&cur, hend, &d->hdrs[nh + k]) == 1);
        FUZZ_ASSERT(record_header_next(&cur, hend, &scratch) == 0);
        FUZZ_ASSERT(cur == hend);
        r.headers = d->hdrs + nh;
        r.raw_headers = NULL;
        r.raw_headers_len = 0;
        d->recs[d->n++] = r;
        nh += r.header_count;
    }
    FUZZ_ASSERT(ret == 0);
    FUZZ_ASSERT(d->n == (size_t)h->record_count);
}

/* Encodes a decoded batch again and checks that the new one reads the same. */
static void reencode(const struct decoded *d, const struct record_batch_header *orig)
{
    struct record_batch_header h;
    struct decoded again;
    struct buf b = BUF_INIT;
    size_t size = record_batch_size(d->recs, d->n);

    FUZZ_ASSERT(size > 0);
    FUZZ_ASSERT(record_batch_encode(&b, d->recs, d->n) == 0);
    FUZZ_ASSERT(b.len == size);
    FUZZ_ASSERT(record_batch_check((const uint8_t *)b.data, b.len, &h) == 0);
    FUZZ_ASSERT(h.record_count == orig->record_count);
    /* Only shortest-form varints are read, so with the same base timestamp the
     * re-encoded batch is exactly as long as the original. */
    if (d->recs[0].timestamp == orig->base_timestamp)
        FUZZ_ASSERT(record_batch_total(&h) == record_batch_total(orig));
    walk((const uint8_t *)b.data, &h, &again);
    for (size_t i = 0; i < d->n; i++) {
        const struct record *x = &d->recs[i], *y = &again.recs[i];

        FUZZ_ASSERT(y->offset == (int64_t)i);
        FUZZ_ASSERT(x->timestamp == y->timestamp);
        FUZZ_ASSERT(same_field(x->key, x->key_len, y->key, y->key_len));
        FUZZ_ASSERT(same_field(x->value, x->value_len, y->value, y->value_len));
        FUZZ_ASSERT(x->header_count == y->header_count);
        for (uint32_t k = 0; k < x->header_count; k++) {
            const struct record_header *p = &x->headers[k], *q = &y->headers[k];

            FUZZ_ASSERT(same_field(p->key, p->key_len, q->key, q->key_len));
            FUZZ_ASSERT(same_field(p->value, p->value_len, q->value, q->value_len));
        }
    }
    decoded_free(&again);
    buf_release(&b);
}

static void try_batch(const uint8_t *data, size_t size)
{
    struct record_batch_header h, h2;
    struct decoded d;
    int ret, peek;

    peek = record_batch_peek(data, size, RECORD_BATCH_MAX_BYTES, &h);
    FUZZ_ASSERT(peek == 0 || peek == -EAGAIN || peek == -EBADMSG);
    if (peek == 0) {
        FUZZ_ASSERT(record_batch_total(&h) <= size);
        FUZZ_ASSERT(record_batch_peek(data, size, record_batch_total(&h), &h2) == 0);
        FUZZ_ASSERT(record_batch_peek(data, size, record_batch_total(&h) - 1, &h2) ==
                    -EBADMSG);
    }
    ret = record_batch_check(data, size, &h);
    FUZZ_ASSERT(ret == 0 || ret == -EAGAIN || ret == -EBADMSG);
    if (peek)
        FUZZ_ASSERT(ret == peek);
    if (ret)
        return;
    FUZZ_ASSERT(crc32c(data + 21, record_batch_total(&h) - 21) == h.crc);
    walk(data, &h, &d);
    reencode(&d, &h);
    decoded_free(&d);
}

/* The input as a batch whose framing and CRC are right, whatever its records hold. */
static void try_repaired(const uint8_t *data, size_t size)
{
    uint8_t *p;

    if (size < RECORD_BATCH_OVERHEAD || size - 12 > INT32_MAX)
        return;
    p = xmalloc(size);
    memcpy(p, data, size);
    store_be32(p + 8, (uint32_t)(size - 12));
    p[16] = RECORD_BATCH_MAGIC;
    store_be32(p + 17, crc32c(p + 21, size - 21));
    try_batch(p, size);
    free(p);
}

/* Reads the recipe: a cursor over the input that yields zeros once it runs out. */
struct recipe {
    const uint8_t *p;
    size_t left;
};

static uint8_t take8(struct recipe *r)
{
    if (!r->left)
        return 0;
    r->left--;
    return *r->p++;
}

static int64_t take_timestamp(struct recipe *r)
{
    uint64_t v = 0;
    unsigned n = take8(r) % 9;

    for (unsigned i = 0; i < n; i++)
        v = v << 8 | take8(r);
    return (take8(r) & 1) ? -(int64_t)(v >> 1) : (int64_t)(v >> 1);
}

/* A field cut from the input: null, or up to 'max' bytes of it. */
static void take_field(struct recipe *r, bool nullable, unsigned max,
                       const uint8_t **data, int32_t *len)
{
    uint8_t sel = take8(r);
    size_t n;

    if (nullable && sel % 5 == 0) {
        *data = NULL;
        *len = -1;
        return;
    }
    n = (size_t)(sel * 131u + take8(r)) % (max + 1);
    if (n > r->left)
        n = r->left;
    *data = r->p;
    *len = (int32_t)n;
    r->p += n;
    r->left -= n;
}

static void try_recipe(const uint8_t *data, size_t size)
{
    struct record recs[MAX_RECIPE_RECORDS];
    struct record_header hdrs[MAX_RECIPE_RECORDS][MAX_RECIPE_HEADERS];
    struct recipe rc = {data, size};
    struct record_batch_header h;
    struct decoded d;
    struct buf b = BUF_INIT;
    size_t n = 1 + take8(&rc) % MAX_RECIPE_RECORDS, i;
    int64_t max_ts;

    for (i = 0; i < n; i++) {
        struct record *r = &recs[i];

        r->offset = 0;
        r->timestamp = take_timestamp(&rc);
        take_field(&rc, true, 64, &r->key, &r->key_len);
        take_field(&rc, true, 4096, &r->value, &r->value_len);
        r->header_count = take8(&rc) % (MAX_RECIPE_HEADERS + 1);
        r->headers = hdrs[i];
        for (uint32_t k = 0; k < r->header_count; k++) {
            take_field(&rc, false, 16, &hdrs[i][k].key, &hdrs[i][k].key_len);
            take_field(&rc, true, 64, &hdrs[i][k].value, &hdrs[i][k].value_len);
        }
        r->raw_headers = NULL;
        r->raw_headers_len = 0;
    }

    FUZZ_ASSERT(record_batch_encode(&b, recs, n) == 0);
    FUZZ_ASSERT(b.len == record_batch_size(recs, n));
    FUZZ_ASSERT(record_batch_check((const uint8_t *)b.data, b.len, &h) == 0);
    FUZZ_ASSERT(h.record_count == (int32_t)n && h.base_timestamp == recs[0].timestamp);
    max_ts = recs[0].timestamp;
    for (i = 1; i < n; i++)
        if (recs[i].timestamp > max_ts)
            max_ts = recs[i].timestamp;
    FUZZ_ASSERT(h.max_timestamp == max_ts);
    walk((const uint8_t *)b.data, &h, &d);
    for (i = 0; i < n; i++) {
        const struct record *x = &recs[i], *y = &d.recs[i];

        FUZZ_ASSERT(y->timestamp == x->timestamp);
        FUZZ_ASSERT(same_field(x->key, x->key_len, y->key, y->key_len));
        FUZZ_ASSERT(same_field(x->value, x->value_len, y->value, y->value_len));
        FUZZ_ASSERT(y->header_count == x->header_count);
        for (uint32_t k = 0; k < x->header_count; k++) {
            const struct record_header *p = &x->headers[k], *q = &y->headers[k];

            FUZZ_ASSERT(same_field(p->key, p->key_len, q->key, q->key_len));
            FUZZ_ASSERT(same_field(p->value, p->value_len, q->value, q->value_len));
        }
    }
    /* Every cut of the encoded batch is a torn tail. */
    for (i = 0; i < b.len; i += 1 + b.len / 16)
        FUZZ_ASSERT(record_batch_check((const uint8_t *)b.data, i, &h) == -EAGAIN);
    decoded_free(&d);
    buf_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    try_batch(data, size);
    try_repaired(data, size);
    try_recipe(data, size);
    return 0;
}
