/* tests/storage/test_record.c: tests for storage/record.c */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/xalloc.h"
#include "storage/crc32c.h"
#include "storage/record.h"

TestSuite(record, .timeout = 60);

/* ---- helpers ---- */

/* splitmix64: deterministic test data. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint32_t rng_below(uint64_t *s, uint32_t n)
{
    return (uint32_t)(rng_next(s) % n);
}

/* An exact-size heap copy, so ASan sees any read past the end. */
static uint8_t *dup_exact(const void *p, size_t n)
{
    uint8_t *d = xmalloc(n);

    if (n)
        memcpy(d, p, n);
    return d;
}

/* Recomputes the CRC at 17..20 after a deliberate change. */
static void fix_crc(uint8_t *batch, size_t size)
{
    store_be32(batch + 17, crc32c_extend_sw(0, batch + 21, size - 21));
}

/* Wraps raw record bytes in a batch header claiming 'count' records, CRC included. */
static uint8_t *wrap_records(const uint8_t *recs, size_t len, int32_t count, size_t *size)
{
    uint8_t *b = xcalloc(1, RECORD_BATCH_OVERHEAD + len);

    store_be32(b + 8, (uint32_t)(RECORD_BATCH_OVERHEAD - 12 + len));
    b[16] = 2;
    store_be32(b + 23, (uint32_t)(count - 1));
    store_be64(b + 43, UINT64_MAX);
    store_be16(b + 51, UINT16_MAX);
    store_be32(b + 53, UINT32_MAX);
    store_be32(b + 57, (uint32_t)count);
    if (len)
        memcpy(b + RECORD_BATCH_OVERHEAD, recs, len);
    *size = RECORD_BATCH_OVERHEAD + len;
    fix_crc(b, *size);
    return b;
}

static int check_wrapped(const uint8_t *recs, size_t len, int32_t count)
{
    struct record_batch_header h;
    size_t size;
    uint8_t *b = wrap_records(recs, len, count, &size);
    int ret = record_batch_check(b, size, &h);

    free(b);
    return ret;
}

static void assert_field(const uint8_t *got, int32_t got_len, const uint8_t *want,
                         int32_t want_len, const char *what, size_t i)
{
    cr_assert(eq(i32, got_len, want_len), "%s length of record %zu", what, i);
    if (want_len < 0) {
        cr_assert(eq(ptr, (void *)got, NULL), "null %s of record %zu", what, i);
        return;
    }
    cr_assert(ne(ptr, (void *)got, NULL), "%s of record %zu", what, i);
    cr_assert(eq(int, memcmp(got, want, (size_t)want_len), 0), "%s of record %zu", what,
              i);
}

/* Checks an encoded batch field by field against the records it was built from. */
static void verify_batch(const uint8_t *data, size_t size, const struct record *recs,
                         size_t n, int64_t base_offset)
{
    uint8_t *batch = dup_exact(data, size);
    struct record_batch_header h;
    struct record_header hd;
    struct record_iter it;
    struct record r;
    int64_t max_ts = recs[0].timestamp;
    const uint8_t *cur;

    for (size_t i = 1; i < n; i++)
        if (recs[i].timestamp > max_ts)
            max_ts = recs[i].timestamp;

    cr_assert(eq(int, record_batch_check(batch, size, &h), 0));
    cr_assert(eq(i64, h.base_offset, base_offset));
    cr_assert(eq(sz, record_batch_total(&h), size));
    cr_assert(eq(i32, h.batch_length, (int32_t)(size - 12)));
    cr_assert(eq(i32, h.leader_epoch, 0));
    cr_assert(eq(i8, h.magic, 2));
    cr_assert(eq(u32, h.crc, crc32c_extend_sw(0, batch + 21, size - 21)));
    cr_assert(eq(i16, h.attributes, 0));
    cr_assert(eq(i32, h.last_offset_delta, (int32_t)n - 1));
    cr_assert(eq(i64, h.base_timestamp, recs[0].timestamp));
    cr_assert(eq(i64, h.max_timestamp, max_ts));
    cr_assert(eq(i64, h.producer_id, -1));
    cr_assert(eq(i16, h.producer_epoch, -1));
    cr_assert(eq(i32, h.base_sequence, -1));
    cr_assert(eq(i32, h.record_count, (int32_t)n));

    record_iter_init(&it, batch, &h);
    for (size_t i = 0; i < n; i++) {
        const struct record *w = &recs[i];

        cr_assert(eq(int, record_iter_next(&it, &r), 1), "record %zu", i);
        cr_assert(eq(i64, r.offset, base_offset + (int64_t)i));
        cr_assert(eq(i64, r.timestamp, w->timestamp), "timestamp of record %zu", i);
        assert_field(r.key, r.key_len, w->key, w->key_len, "key", i);
        assert_field(r.value, r.value_len, w->value, w->value_len, "value", i);
        cr_assert(eq(u32, r.header_count, w->header_count), "record %zu", i);
        cr_assert(r.raw_headers >= batch &&
                  r.raw_headers + r.raw_headers_len <= batch + size);
        cur = r.raw_headers;
        for (uint32_t k = 0; k < w->header_count; k++) {
            cr_assert(eq(int,
                         record_header_next(&cur, r.raw_headers + r.raw_headers_len, &hd),
                         1));
            assert_field(hd.key, hd.key_len, w->headers[k].key, w->headers[k].key_len,
                         "header key", i);
            assert_field(hd.value, hd.value_len, w->headers[k].value,
                         w->headers[k].value_len, "header value", i);
        }
        cr_assert(
            eq(int, record_header_next(&cur, r.raw_headers + r.raw_headers_len, &hd), 0));
    }
    cr_assert(eq(int, record_iter_next(&it, &r), 0));
    cr_assert(eq(int, record_iter_next(&it, &r), 0));
    free(batch);
}

/* Encodes recs[0..n) into a fresh buffer and verifies it. */
static void round_trip(const struct record *recs, size_t n)
{
    struct buf b = BUF_INIT;
    size_t size = record_batch_size(recs, n);

    cr_assert(ge(sz, size, (0) + 1));
    cr_assert(eq(int, record_batch_encode(&b, recs, n), 0));
    cr_assert(eq(sz, b.len, size), "record_batch_size() must be exact");
    verify_batch((const uint8_t *)b.data, b.len, recs, n, 0);
    buf_release(&b);
}

/* Random records; every byte they point to lives in 'pool'. */
struct sample {
    struct record *recs;
    struct record_header *hdrs;
    uint8_t *pool;
    size_t n;
};

/* A random length: null, empty, short or up to 'max' bytes. */
static int32_t random_len(uint64_t *seed, bool nullable, int32_t max)
{
    switch (rng_below(seed, 6)) {
    case 0:
        return nullable ? -1 : 0;
    case 1:
        return 0;
    case 2:
    case 3:
        return (int32_t)rng_below(seed, 16);
    default:
        return (int32_t)rng_below(seed, (uint32_t)max + 1);
    }
}

static const uint8_t *random_bytes(uint64_t *seed, uint8_t *pool, size_t *used,
                                   int32_t len)
{
    uint8_t *p = pool + *used;

    if (len < 0)
        return NULL;
    for (int32_t i = 0; i < len; i++)
        p[i] = (uint8_t)rng_next(seed);
    *used += (size_t)len;
    return p;
}

#define SAMPLE_MAX_RECS 40
#define SAMPLE_MAX_HDRS 6
#define SAMPLE_MAX_LEN 300

static void sample_make(struct sample *s, uint64_t *seed)
{
    size_t used = 0, nh = 0;
    int64_t base = (int64_t)rng_next(seed) >> 20;

    s->n = 1 + rng_below(seed, SAMPLE_MAX_RECS);
    s->recs = xcalloc(s->n, sizeof(*s->recs));
    s->hdrs = xcalloc(s->n * SAMPLE_MAX_HDRS, sizeof(*s->hdrs));
    s->pool = xmalloc(s->n * (2 + 2 * SAMPLE_MAX_HDRS) * SAMPLE_MAX_LEN + 1);
    for (size_t i = 0; i < s->n; i++) {
        struct record *r = &s->recs[i];

        /* Deltas of both signs, small and large. */
        r->timestamp = base + (int64_t)rng_below(seed, 2000000) - 1000000;
        if (rng_below(seed, 8) == 0)
            r->timestamp = base - (int64_t)(rng_next(seed) >> 30);
        r->key_len = random_len(seed, true, SAMPLE_MAX_LEN);
        r->key = random_bytes(seed, s->pool, &used, r->key_len);
        r->value_len = random_len(seed, true, SAMPLE_MAX_LEN);
        r->value = random_bytes(seed, s->pool, &used, r->value_len);
        r->header_count = rng_below(seed, SAMPLE_MAX_HDRS + 1);
        r->headers = &s->hdrs[nh];
        for (uint32_t k = 0; k < r->header_count; k++, nh++) {
            struct record_header *h = &s->hdrs[nh];

            h->key_len = random_len(seed, false, SAMPLE_MAX_LEN);
            h->key = random_bytes(seed, s->pool, &used, h->key_len);
            h->value_len = random_len(seed, true, SAMPLE_MAX_LEN);
            h->value = random_bytes(seed, s->pool, &used, h->value_len);
        }
    }
}

static void sample_free(struct sample *s)
{
    free(s->recs);
    free(s->hdrs);
    free(s->pool);
}

#define S(str) (const uint8_t *)(str), (int32_t)(sizeof(str) - 1)

/* A fixed batch with a bit of everything: null, empty and long fields, headers with
 * null and empty parts, negative and multi-byte timestamp deltas, a two-byte record
 * length. */
static uint8_t long_value[200];
static const struct record_header fixed_hdrs0[] = {
    {S("h1"), S("x")},
    {S("trace-id"), NULL, -1},
};
static const struct record_header fixed_hdrs2[] = {{S(""), S("")}};
static const struct record_header fixed_hdrs3[] = {{S("z"), S("last")}};
static const struct record fixed_recs[] = {
    {.timestamp = 1000,
     .key = S("key-0"),
     .value = S("value zero"),
     .headers = fixed_hdrs0,
     .header_count = 2},
    {.timestamp = 900, .key = NULL, .key_len = -1, .value = S("")},
    {.timestamp = 5000,
     .key = S(""),
     .value = NULL,
     .value_len = -1,
     .headers = fixed_hdrs2,
     .header_count = 1},
    {.timestamp = 1000 + (1 << 20),
     .key = S("k3"),
     .value = long_value,
     .value_len = sizeof(long_value),
     .headers = fixed_hdrs3,
     .header_count = 1},
};
#define FIXED_N (sizeof(fixed_recs) / sizeof(fixed_recs[0]))

static void fixed_batch(struct buf *b)
{
    for (size_t i = 0; i < sizeof(long_value); i++)
        long_value[i] = (uint8_t)(i * 7 + 1);
    cr_assert(eq(int, record_batch_encode(b, fixed_recs, FIXED_N), 0));
}

/* ---- encoding and round trips ---- */

/* The batch for one record {key "k", value "v", no headers, timestamp 1000}, written out
 * by hand from the layout in record.h:
 *
 *   0  00 00 00 00 00 00 00 00   baseOffset 0
 *   8  00 00 00 3a               batchLength 58 = 70 - 12
 *  12  00 00 00 00               partitionLeaderEpoch 0
 *  16  02                        magic 2
 *  17  71 6a 61 89               CRC-32C of bytes 21..69 (computed bit by bit, offline)
 *  21  00 00                     attributes 0
 *  23  00 00 00 00               lastOffsetDelta 0
 *  27  00 00 00 00 00 00 03 e8   baseTimestamp 1000
 *  35  00 00 00 00 00 00 03 e8   maxTimestamp 1000
 *  43  ff ff ff ff ff ff ff ff   producerId -1
 *  51  ff ff                     producerEpoch -1
 *  53  ff ff ff ff               baseSequence -1
 *  57  00 00 00 01               recordsCount 1
 *  61  10                        length 8 (zig-zag 16)
 *  62  00                        attributes
 *  63  00                        timestampDelta 0
 *  64  00                        offsetDelta 0
 *  65  02 6b                     keyLength 1, "k"
 *  67  02 76                     valueLength 1, "v"
 *  69  00                        headerCount 0
 */
static const uint8_t known_batch[70] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,       /* baseOffset */
    0x00, 0x00, 0x00, 0x3a,                               /* batchLength */
    0x00, 0x00, 0x00, 0x00,                               /* partitionLeaderEpoch */
    0x02,                                                 /* magic */
    0x71, 0x6a, 0x61, 0x89,                               /* crc */
    0x00, 0x00,                                           /* attributes */
    0x00, 0x00, 0x00, 0x00,                               /* lastOffsetDelta */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xe8,       /* baseTimestamp */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xe8,       /* maxTimestamp */
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,       /* producerId */
    0xff, 0xff,                                           /* producerEpoch */
    0xff, 0xff, 0xff, 0xff,                               /* baseSequence */
    0x00, 0x00, 0x00, 0x01,                               /* recordsCount */
    0x10, 0x00, 0x00, 0x00, 0x02, 'k',  0x02, 'v',  0x00, /* the record */
};

Test(record, encodes_one_record_byte_for_byte)
{
    struct record r = {.timestamp = 1000, .key = S("k"), .value = S("v")};
    struct buf b = BUF_INIT;

    /* The CRC written above must be what the independent software CRC gives. */
    cr_assert(eq(u32, load_be32(known_batch + 17),
                 crc32c_extend_sw(0, known_batch + 21, sizeof(known_batch) - 21)));
    cr_assert(eq(sz, record_batch_size(&r, 1), sizeof(known_batch)));
    cr_assert(eq(int, record_batch_encode(&b, &r, 1), 0));
    cr_assert(eq(sz, b.len, sizeof(known_batch)));
    for (size_t i = 0; i < sizeof(known_batch); i++)
        cr_assert(eq(u8, (uint8_t)b.data[i], known_batch[i]), "byte %zu", i);
    verify_batch(known_batch, sizeof(known_batch), &r, 1, 0);
    buf_release(&b);
}

Test(record, encode_appends_after_existing_bytes)
{
    struct record r = {.timestamp = 1000, .key = S("k"), .value = S("v")};
    struct buf b = BUF_INIT;

    buf_addstr(&b, "prefix");
    cr_assert(eq(int, record_batch_encode(&b, &r, 1), 0));
    cr_assert(eq(int, record_batch_encode(&b, &r, 1), 0));
    cr_assert(eq(sz, b.len, 6 + 2 * sizeof(known_batch)));
    cr_assert(eq(int, memcmp(b.data, "prefix", 6), 0));
    cr_assert(eq(int, memcmp(b.data + 6, known_batch, sizeof(known_batch)), 0));
    cr_assert(eq(int, memcmp(b.data + 6 + 70, known_batch, sizeof(known_batch)), 0));
    cr_assert(eq(chr, b.data[b.len], '\0'), "buf keeps its NUL");
    buf_release(&b);
}

Test(record, round_trips_random_batches)
{
    uint64_t seed = 1;

    for (int iter = 0; iter < 300; iter++) {
        struct sample s;

        sample_make(&s, &seed);
        round_trip(s.recs, s.n);
        sample_free(&s);
    }
}

Test(record, round_trips_the_fixed_batch)
{
    struct buf b = BUF_INIT;

    fixed_batch(&b);
    verify_batch((const uint8_t *)b.data, b.len, fixed_recs, FIXED_N, 0);
    buf_release(&b);
}

Test(record, keeps_null_and_empty_apart)
{
    static const struct record_header hdrs[] = {
        {S("null"), NULL, -1},
        {S("empty"), S("")},
        {S(""), NULL, -1},
    };
    struct record recs[] = {
        {.timestamp = 1, .key = NULL, .key_len = -1, .value = NULL, .value_len = -1},
        {.timestamp = 2, .key = S(""), .value = S("")},
        {.timestamp = 3,
         .key = NULL,
         .key_len = -1,
         .value = S(""),
         .headers = hdrs,
         .header_count = 3},
        {.timestamp = 4, .key = S(""), .value = NULL, .value_len = -1},
    };

    round_trip(recs, 4);
}

Test(record, round_trips_a_large_value)
{
    size_t len = 100 * 1024 + 3;
    uint8_t *v = xmalloc(len), *k = xmalloc(70000);
    uint64_t seed = 2;
    struct record recs[3] = {
        {.timestamp = 10, .key = S("small"), .value = v, .value_len = (int32_t)len},
        {.timestamp = 11, .key = k, .key_len = 70000, .value = v, .value_len = 1},
        {.timestamp = 12, .key = k, .key_len = 3, .value = v, .value_len = (int32_t)len},
    };

    for (size_t i = 0; i < len; i++)
        v[i] = (uint8_t)rng_next(&seed);
    for (size_t i = 0; i < 70000; i++)
        k[i] = (uint8_t)rng_next(&seed);
    round_trip(recs, 3);
    free(v);
    free(k);
}

Test(record, round_trips_many_headers)
{
    uint32_t n = 1000;
    struct record_header *h = xcalloc(n, sizeof(*h));
    uint8_t *pool = xmalloc(n * 8);
    struct record recs[2] = {
        {.timestamp = 5, .key = S("k"), .value = S("v"), .headers = h, .header_count = n},
        {.timestamp = 6,
         .key = S("k2"),
         .value = S("v2"),
         .headers = h,
         .header_count = 1},
    };

    for (uint32_t i = 0; i < n; i++) {
        memcpy(pool + i * 8, &i, sizeof(i));
        memcpy(pool + i * 8 + 4, &i, sizeof(i));
        h[i].key = pool + i * 8;
        h[i].key_len = 4;
        h[i].value = i % 3 == 0 ? NULL : pool + i * 8 + 4;
        h[i].value_len = i % 3 == 0 ? -1 : (int32_t)(i % 5);
    }
    round_trip(recs, 2);
    free(h);
    free(pool);
}

Test(record, round_trips_extreme_timestamps)
{
    struct record recs[] = {
        {.timestamp = 0, .value = S("a")},
        {.timestamp = INT64_MAX, .value = S("b")},
        {.timestamp = INT64_MIN, .value = S("c")},
        {.timestamp = -1, .value = S("d")},
        {.timestamp = 1, .value = S("e")},
        {.timestamp = -1000000, .value = S("f")},
    };

    for (size_t i = 0; i < 6; i++)
        recs[i].key_len = -1;
    round_trip(recs, 6);
    /* A base far from the others: every delta wraps. */
    recs[0].timestamp = INT64_MIN;
    round_trip(recs, 6);
    recs[0].timestamp = INT64_MAX;
    round_trip(recs, 6);
}

Test(record, round_trips_a_thousand_records)
{
    static struct record recs[1000];
    static uint8_t payload[100];

    memset(payload, 'x', sizeof(payload));
    for (int i = 0; i < 1000; i++) {
        recs[i].timestamp = 1700000000000 + i;
        recs[i].key_len = -1;
        recs[i].value = payload;
        recs[i].value_len = (int32_t)sizeof(payload);
    }
    round_trip(recs, 1000);
}

Test(record, set_base_offset_stamps_offsets_and_keeps_the_crc)
{
    struct buf b = BUF_INIT;
    struct buf orig = BUF_INIT;

    fixed_batch(&b);
    buf_add(&orig, b.data, b.len);
    record_batch_set_base_offset((uint8_t *)b.data, (int64_t)1 << 40);
    cr_assert(eq(u64, load_be64((const uint8_t *)b.data), (uint64_t)1 << 40));
    cr_assert(eq(int, memcmp(b.data + 8, orig.data + 8, b.len - 8), 0));
    verify_batch((const uint8_t *)b.data, b.len, fixed_recs, FIXED_N, (int64_t)1 << 40);
    buf_release(&b);
    buf_release(&orig);
}

Test(record, encode_rejects_bad_arguments_and_appends_nothing)
{
    static const struct record_header null_key[] = {{NULL, -1, S("v")}};
    static const struct record_header bad_value[] = {{S("k"), NULL, -2}};
    struct record good = {.timestamp = 1, .key = S("k"), .value = S("v")};
    struct record bad[4];
    struct buf b = BUF_INIT;

    for (int i = 0; i < 4; i++)
        bad[i] = good;
    bad[0].key_len = -2;
    bad[1].value_len = INT32_MIN;
    bad[2].headers = null_key;
    bad[2].header_count = 1;
    bad[3].headers = bad_value;
    bad[3].header_count = 1;

    buf_addstr(&b, "x");
    cr_assert(eq(int, record_batch_encode(&b, &good, 0), -EINVAL));
    cr_assert(eq(sz, record_batch_size(&good, 0), 0));
    for (int i = 0; i < 4; i++) {
        struct record pair[2] = {good, bad[i]};

        cr_assert(eq(int, record_batch_encode(&b, &bad[i], 1), -EINVAL), "case %d", i);
        cr_assert(eq(int, record_batch_encode(&b, pair, 2), -EINVAL), "case %d", i);
        cr_assert(eq(sz, record_batch_size(pair, 2), 0), "case %d", i);
    }
    cr_assert(eq(sz, b.len, 1));
    buf_release(&b);
}

Test(record, encode_rejects_batches_over_the_size_limit)
{
    /* Sizing fails before any byte is read, so the lengths need not be backed. */
    static const uint8_t one[1] = {0};
    struct record big = {
        .timestamp = 1, .key_len = -1, .value = one, .value_len = INT32_MAX - 20};
    struct record halves[2] = {
        {.timestamp = 1, .key_len = -1, .value = one, .value_len = INT32_MAX / 2},
        {.timestamp = 2, .key_len = -1, .value = one, .value_len = INT32_MAX / 2},
    };
    struct record_header hh[2] = {{one, INT32_MAX, NULL, -1}, {one, INT32_MAX, NULL, -1}};
    struct record many = {
        .timestamp = 1, .key_len = -1, .value_len = -1, .headers = hh, .header_count = 2};
    struct buf b = BUF_INIT;

    cr_assert(eq(int, record_batch_encode(&b, &big, 1), -EMSGSIZE));
    cr_assert(eq(sz, record_batch_size(&big, 1), 0));
    cr_assert(eq(int, record_batch_encode(&b, halves, 2), -EMSGSIZE));
    cr_assert(eq(sz, record_batch_size(halves, 2), 0));
    cr_assert(eq(int, record_batch_encode(&b, &many, 1), -EMSGSIZE));
    cr_assert(eq(sz, b.len, 0));
    /* Just under the limit, sizing still works. */
    halves[1].value_len = 1;
    cr_assert(ge(sz, record_batch_size(halves, 2), ((size_t)INT32_MAX / 2) + 1));
}

/* ---- varints ---- */

Test(record, varint32_round_trips_at_the_edges)
{
    static const struct {
        int32_t v;
        size_t len;
        uint8_t first, last;
    } cases[] = {
        {0, 1, 0x00, 0x00},         {-1, 1, 0x01, 0x01},        {1, 1, 0x02, 0x02},
        {63, 1, 0x7e, 0x7e},        {-64, 1, 0x7f, 0x7f},       {64, 2, 0x80, 0x01},
        {-65, 2, 0x81, 0x01},       {8191, 2, 0xfe, 0x7f},      {8192, 3, 0x80, 0x01},
        {INT32_MAX, 5, 0xfe, 0x0f}, {INT32_MIN, 5, 0xff, 0x0f},
    };
    uint8_t p[16];
    int32_t got;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = varint_put32(p, cases[i].v);

        cr_assert(eq(sz, n, cases[i].len), "value %d", cases[i].v);
        cr_assert(eq(u8, p[0], cases[i].first), "value %d", cases[i].v);
        cr_assert(eq(u8, p[n - 1], cases[i].last), "value %d", cases[i].v);
        cr_assert(eq(sz, varint_get32(p, p + n, &got), n));
        cr_assert(eq(i32, got, cases[i].v));
        /* Every proper prefix is truncated. */
        for (size_t cut = 0; cut < n; cut++)
            cr_assert(eq(sz, varint_get32(p, p + cut, &got), 0), "value %d", cases[i].v);
    }
}

Test(record, varint64_round_trips_at_the_edges)
{
    static const struct {
        int64_t v;
        size_t len;
    } cases[] = {
        {0, 1},
        {-1, 1},
        {1, 1},
        {63, 1},
        {64, 2},
        {-64, 1},
        {-65, 2},
        {INT32_MAX, 5},
        {INT32_MIN, 5},
        {INT64_MAX, 10},
        {INT64_MIN, 10},
        {(int64_t)1 << 55, 9},
        {INT64_MIN + 1, 10},
    };
    uint8_t p[16];
    int64_t got;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = varint_put64(p, cases[i].v);

        cr_assert(eq(sz, n, cases[i].len), "case %zu", i);
        cr_assert(eq(sz, varint_get64(p, p + n, &got), n));
        cr_assert(eq(i64, got, cases[i].v), "case %zu", i);
        for (size_t cut = 0; cut < n; cut++)
            cr_assert(eq(sz, varint_get64(p, p + cut, &got), 0));
    }
    varint_put64(p, INT64_MAX);
    cr_assert(eq(u8, p[9], 0x01));
}

Test(record, varints_round_trip_random_values)
{
    uint64_t seed = 77;
    uint8_t p[16];

    for (int i = 0; i < 100000; i++) {
        int64_t v64 = (int64_t)rng_next(&seed) >> rng_below(&seed, 64), g64;
        int32_t v32 = (int32_t)v64, g32;
        size_t n = varint_put64(p, v64);

        cr_assert(eq(sz, varint_get64(p, p + n, &g64), n));
        cr_assert(eq(i64, g64, v64));
        n = varint_put32(p, v32);
        cr_assert(eq(sz, varint_get32(p, p + n, &g32), n));
        cr_assert(eq(i32, g32, v32));
    }
}

Test(record, overlong_varints_are_rejected)
{
    static const uint8_t six[] = {0x81, 0x80, 0x80, 0x80, 0x80, 0x01};
    static const uint8_t eleven[] = {0x81, 0x80, 0x80, 0x80, 0x80, 0x80,
                                     0x80, 0x80, 0x80, 0x80, 0x01};
    static const uint8_t wide32[] = {0xff, 0xff, 0xff, 0xff, 0x1f}; /* a 33rd bit */
    static const uint8_t wide64[] = {0xff, 0xff, 0xff, 0xff, 0xff,
                                     0xff, 0xff, 0xff, 0xff, 0x03}; /* a 65th bit */
    int32_t v32 = 12345;
    int64_t v64 = 12345;

    cr_assert(eq(sz, varint_get32(six, six + sizeof(six), &v32), 0));
    cr_assert(eq(sz, varint_get32(wide32, wide32 + sizeof(wide32), &v32), 0));
    cr_assert(eq(sz, varint_get64(eleven, eleven + sizeof(eleven), &v64), 0));
    cr_assert(eq(sz, varint_get64(wide64, wide64 + sizeof(wide64), &v64), 0));
    cr_assert(eq(i32, v32, 12345), "rejected decodes leave the value alone");
    cr_assert(eq(i64, v64, 12345));
    cr_assert(eq(sz, varint_get32(six, six, &v32), 0), "empty input");
    /* Five and ten bytes are fine when the value needs them. */
    cr_assert(eq(sz, varint_get32(six + 1, six + sizeof(six), &v32), 5));
    cr_assert(eq(i32, v32, 1 << 27));
    cr_assert(eq(sz, varint_get64(eleven + 1, eleven + sizeof(eleven), &v64), 10));
    cr_assert(eq(i64, v64, (int64_t)1 << 62));
}

Test(record, padded_varints_are_rejected)
{
    /* Zero, one and -1 with trailing 0x80 padding: Kafka's reader takes them, but no
     * writer produces them, and refusing them keeps a flipped high bit detectable. */
    static const uint8_t pads[][10] = {
        {0x80, 0x00},
        {0x82, 0x00},
        {0x81, 0x80, 0x00},
        {0x80, 0x80, 0x80, 0x80, 0x00},
    };
    static const size_t lens[] = {2, 2, 3, 5};
    int32_t v32;
    int64_t v64;

    for (size_t i = 0; i < 4; i++) {
        cr_assert(eq(sz, varint_get32(pads[i], pads[i] + lens[i], &v32), 0), "case %zu",
                  i);
        cr_assert(eq(sz, varint_get64(pads[i], pads[i] + lens[i], &v64), 0), "case %zu",
                  i);
    }
}

/* ---- the header ---- */

Test(record, peek_wants_the_whole_header)
{
    struct record_batch_header h;

    for (size_t n = 0; n < RECORD_BATCH_OVERHEAD; n++) {
        uint8_t *p = dup_exact(known_batch, n);

        cr_assert(eq(int, record_batch_peek(p, n, RECORD_BATCH_MAX_BYTES, &h), -EAGAIN));
        free(p);
    }
    cr_assert(
        eq(int, record_batch_peek(known_batch, 61, RECORD_BATCH_MAX_BYTES, &h), -EAGAIN),
        "the records are still missing");
    cr_assert(eq(int, record_batch_peek(known_batch, 70, RECORD_BATCH_MAX_BYTES, &h), 0));
    cr_assert(eq(i32, h.batch_length, 58));
    cr_assert(eq(i32, h.record_count, 1));
    cr_assert(eq(u32, h.crc, 0x716a6189));
}

Test(record, peek_rejects_impossible_lengths_and_magic)
{
    static const int32_t bad_lengths[] = {48, 0, -1, INT32_MIN};
    struct record_batch_header h;
    uint8_t b[70];

    for (size_t i = 0; i < sizeof(bad_lengths) / sizeof(bad_lengths[0]); i++) {
        memcpy(b, known_batch, 70);
        store_be32(b + 8, (uint32_t)bad_lengths[i]);
        cr_assert(
            eq(int, record_batch_peek(b, 70, RECORD_BATCH_MAX_BYTES, &h), -EBADMSG));
        cr_assert(eq(int, record_batch_check(b, 70, &h), -EBADMSG));
    }
    for (int magic = 0; magic < 256; magic++) {
        if (magic == 2)
            continue;
        memcpy(b, known_batch, 70);
        b[16] = (uint8_t)magic;
        cr_assert(
            eq(int, record_batch_peek(b, 70, RECORD_BATCH_MAX_BYTES, &h), -EBADMSG));
    }
    /* The smallest batchLength is accepted by peek (check then wants a record). */
    memcpy(b, known_batch, 70);
    store_be32(b + 8, 49);
    cr_assert(eq(int, record_batch_peek(b, 61, RECORD_BATCH_MAX_BYTES, &h), 0));
    cr_assert(eq(int, record_batch_check(b, 61, &h), -EBADMSG));
    /* A huge length is a torn tail, unless it is beyond the limit. */
    store_be32(b + 8, INT32_MAX - 12);
    cr_assert(eq(int, record_batch_peek(b, 70, RECORD_BATCH_MAX_BYTES, &h), -EAGAIN));
    cr_assert(eq(int, record_batch_peek(b, 70, 1 << 20, &h), -EBADMSG));
    store_be32(b + 8, INT32_MAX - 11); /* 12 + batchLength > RECORD_BATCH_MAX_BYTES */
    cr_assert(eq(int, record_batch_peek(b, 70, RECORD_BATCH_MAX_BYTES, &h), -EBADMSG));
}

Test(record, peek_honours_the_limit)
{
    struct record_batch_header h;

    cr_assert(eq(int, record_batch_peek(known_batch, 70, 70, &h), 0));
    cr_assert(eq(int, record_batch_peek(known_batch, 70, 69, &h), -EBADMSG));
    cr_assert(eq(int, record_batch_peek(known_batch, 65, 69, &h), -EBADMSG));
    cr_assert(eq(int, record_batch_peek(known_batch, 65, 70, &h), -EAGAIN));
}

Test(record, check_rejects_unsupported_attributes)
{
    struct record_batch_header h;
    uint8_t b[70];

    for (int bit = 0; bit < 16; bit++) {
        bool bad = bit <= 2 || bit == 4 || bit == 5; /* compression, txn, control */

        memcpy(b, known_batch, 70);
        store_be16(b + 21, (uint16_t)(1u << bit));
        fix_crc(b, 70);
        cr_assert(eq(int, record_batch_check(b, 70, &h), bad ? -EBADMSG : 0), "bit %d",
                  bit);
    }
    /* gzip, snappy, lz4, zstd */
    for (int codec = 1; codec <= 4; codec++) {
        memcpy(b, known_batch, 70);
        store_be16(b + 21, (uint16_t)codec);
        fix_crc(b, 70);
        cr_assert(eq(int, record_batch_check(b, 70, &h), -EBADMSG));
    }
}

Test(record, check_rejects_a_wrong_count_or_last_offset_delta)
{
    static const int32_t counts[] = {0, 1, 2, 3, 5, 6, -1, INT32_MAX, INT32_MIN, 1000};
    struct record_batch_header h;
    struct buf b = BUF_INIT;
    uint8_t *p;

    fixed_batch(&b);
    p = (uint8_t *)b.data;
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        /* Consistent count and lastOffsetDelta, but not the records' count. */
        store_be32(p + 57, (uint32_t)counts[i]);
        store_be32(p + 23, (uint32_t)counts[i] - 1u);
        fix_crc(p, b.len);
        cr_assert(eq(int, record_batch_check(p, b.len, &h), -EBADMSG), "count %d",
                  counts[i]);
        /* The right count with a wrong lastOffsetDelta. */
        store_be32(p + 57, FIXED_N);
        store_be32(p + 23, (uint32_t)counts[i]);
        fix_crc(p, b.len);
        cr_assert(
            eq(int, record_batch_check(p, b.len, &h), counts[i] == 3 ? 0 : -EBADMSG),
            "lastOffsetDelta %d", counts[i]);
    }
    buf_release(&b);
}

Test(record, check_does_not_read_header_fields_outside_the_crc)
{
    struct record_batch_header h;
    struct record_iter it;
    struct record r;
    uint8_t b[70];

    memcpy(b, known_batch, 70);
    store_be64(b, (uint64_t)INT64_MAX);
    store_be32(b + 12, 77);
    cr_assert(eq(int, record_batch_check(b, 70, &h), 0));
    cr_assert(eq(i32, h.leader_epoch, 77));
    record_iter_init(&it, b, &h);
    cr_assert(eq(int, record_iter_next(&it, &r), 1));
    cr_assert(eq(i64, r.offset, INT64_MAX));
}

/* ---- hand-built records ---- */

Test(record, check_accepts_the_smallest_record)
{
    /* length 6, attributes, tsDelta 0, offsetDelta 0, null key, null value, 0 headers */
    static const uint8_t rec[] = {0x0c, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00};
    struct record_batch_header h;
    struct record_iter it;
    struct record r;
    size_t size;
    uint8_t *b = wrap_records(rec, sizeof(rec), 1, &size);

    cr_assert(eq(int, record_batch_check(b, size, &h), 0));
    record_iter_init(&it, b, &h);
    cr_assert(eq(int, record_iter_next(&it, &r), 1));
    cr_assert(eq(i32, r.key_len, -1));
    cr_assert(eq(ptr, (void *)r.key, NULL));
    cr_assert(eq(i32, r.value_len, -1));
    cr_assert(eq(ptr, (void *)r.value, NULL));
    cr_assert(eq(u32, r.header_count, 0));
    cr_assert(eq(sz, r.raw_headers_len, 0));
    cr_assert(eq(int, record_iter_next(&it, &r), 0));
    free(b);
}

Test(record, check_accepts_any_record_attributes)
{
    uint8_t rec[] = {0x0c, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00};

    for (int a = 0; a < 256; a++) {
        rec[1] = (uint8_t)a;
        cr_assert(eq(int, check_wrapped(rec, sizeof(rec), 1), 0), "attributes %d", a);
    }
}

Test(record, check_rejects_malformed_records)
{
    static const struct {
        const char *what;
        uint8_t bytes[24];
        size_t len;
        int32_t count;
    } cases[] = {
        {"negative record length", {0x01, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00}, 7, 1},
        {"length one short", {0x0a, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00}, 7, 1},
        {"length one long", {0x0e, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00, 0x00}, 8, 1},
        {"length past the batch", {0x0e, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00}, 7, 1},
        {"key length -2", {0x0c, 0x00, 0x00, 0x00, 0x03, 0x01, 0x00}, 7, 1},
        {"value length -2", {0x0c, 0x00, 0x00, 0x00, 0x01, 0x03, 0x00}, 7, 1},
        {"key past the record", {0x0c, 0x00, 0x00, 0x00, 0x02, 0x01, 0x00}, 7, 1},
        {"negative header count", {0x0c, 0x00, 0x00, 0x00, 0x01, 0x01, 0x01}, 7, 1},
        {"header count past the record",
         {0x0c, 0x00, 0x00, 0x00, 0x01, 0x01, 0x02},
         7,
         1},
        {"null header key", {0x10, 0x00, 0x00, 0x00, 0x01, 0x01, 0x02, 0x01, 0x01}, 9, 1},
        {"header value -2", {0x10, 0x00, 0x00, 0x00, 0x01, 0x01, 0x02, 0x00, 0x03}, 9, 1},
        {"header value past the record",
         {0x10, 0x00, 0x00, 0x00, 0x01, 0x01, 0x02, 0x00, 0x02},
         9,
         1},
        {"one header declared, two present",
         {0x14, 0x00, 0x00, 0x00, 0x01, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01},
         11,
         1},
        {"first offsetDelta 1", {0x0c, 0x00, 0x00, 0x02, 0x01, 0x01, 0x00}, 7, 1},
        {"second offsetDelta 0",
         {0x0c, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x01, 0x01,
          0x00},
         14,
         2},
        {"trailing byte after the records",
         {0x0c, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00, 0x00},
         8,
         1},
        {"record cut inside a varint", {0x0c, 0x00, 0x00, 0x00, 0x01, 0x01, 0x80}, 7, 1},
        {"length varint runs off the batch", {0x80}, 1, 1},
        {"overlong timestampDelta",
         {0x20, 0x00, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00,
          0x00, 0x01, 0x01, 0x00},
         17,
         1},
        {"overlong key length",
         {0x16, 0x00, 0x00, 0x00, 0x81, 0x80, 0x80, 0x80, 0x80, 0x00, 0x01, 0x00},
         12,
         1},
        {"key length beyond 32 bits",
         {0x14, 0x00, 0x00, 0x00, 0x81, 0x80, 0x80, 0x80, 0x10, 0x01, 0x00},
         11,
         1},
        {"no records at all", {0}, 0, 1},
        {"an empty batch (count 0, lastOffsetDelta -1)", {0}, 0, 0},
        {"empty record (length 0)", {0x00}, 1, 1},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        cr_assert(eq(int, check_wrapped(cases[i].bytes, cases[i].len, cases[i].count),
                     -EBADMSG),
                  "%s", cases[i].what);
}

Test(record, check_rejects_padded_varints_in_records)
{
    /* timestampDelta 0 in two bytes; then key length -1 in five. */
    static const uint8_t ts[] = {0x0e, 0x00, 0x80, 0x00, 0x00, 0x01, 0x01, 0x00};
    static const uint8_t key[] = {0x14, 0x00, 0x00, 0x00, 0x81, 0x80,
                                  0x80, 0x80, 0x00, 0x01, 0x00};

    cr_assert(eq(int, check_wrapped(ts, sizeof(ts), 1), -EBADMSG));
    cr_assert(eq(int, check_wrapped(key, sizeof(key), 1), -EBADMSG));
}

Test(record, header_next_walks_and_rejects)
{
    /* "a" = "b", "c" = null, "" = "" */
    static const uint8_t good[] = {0x02, 'a', 0x02, 'b', 0x02, 'c', 0x01, 0x00, 0x00};
    static const uint8_t null_key[] = {0x01, 0x00};
    static const uint8_t cut_key[] = {0x04, 'a'};
    static const uint8_t no_value[] = {0x02, 'a'};
    struct record_header h;
    const uint8_t *cur = good;

    cr_assert(eq(int, record_header_next(&cur, good + sizeof(good), &h), 1));
    cr_assert(eq(i32, h.key_len, 1));
    cr_assert(eq(u8, h.key[0], 'a'));
    cr_assert(eq(i32, h.value_len, 1));
    cr_assert(eq(u8, h.value[0], 'b'));
    cr_assert(eq(int, record_header_next(&cur, good + sizeof(good), &h), 1));
    cr_assert(eq(i32, h.value_len, -1));
    cr_assert(eq(ptr, (void *)h.value, NULL));
    cr_assert(eq(int, record_header_next(&cur, good + sizeof(good), &h), 1));
    cr_assert(eq(i32, h.key_len, 0));
    cr_assert(eq(i32, h.value_len, 0));
    cr_assert(eq(int, record_header_next(&cur, good + sizeof(good), &h), 0));
    cr_assert(eq(ptr, (void *)cur, (void *)(good + sizeof(good))));

    cur = null_key;
    cr_assert(eq(int, record_header_next(&cur, null_key + 2, &h), -EBADMSG));
    cur = cut_key;
    cr_assert(eq(int, record_header_next(&cur, cut_key + 2, &h), -EBADMSG));
    cur = no_value;
    cr_assert(eq(int, record_header_next(&cur, no_value + 2, &h), -EBADMSG));
}

Test(record, iter_reports_malformed_records_of_unchecked_batches)
{
    static const uint8_t recs[] = {0x0c, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00,
                                   0x0c, 0x00, 0x00, 0x02, 0x05, 0x01, 0x00};
    struct record_batch_header h;
    struct record_iter it;
    struct record r;
    size_t size;
    uint8_t *b = wrap_records(recs, sizeof(recs), 2, &size);

    cr_assert(eq(int, record_batch_check(b, size, &h), -EBADMSG));
    cr_assert(eq(int, record_batch_peek(b, size, RECORD_BATCH_MAX_BYTES, &h), 0));
    record_iter_init(&it, b, &h);
    cr_assert(eq(int, record_iter_next(&it, &r), 1));
    cr_assert(eq(int, record_iter_next(&it, &r), -EBADMSG));
    cr_assert(eq(int, record_iter_next(&it, &r), 0), "the walk stops after an error");
    free(b);
}

/* ---- truncation and corruption ---- */

Test(record, every_truncation_is_a_torn_tail)
{
    struct record_batch_header h;
    struct buf b = BUF_INIT;

    fixed_batch(&b);
    for (size_t cut = 0; cut < b.len; cut++) {
        uint8_t *p = dup_exact(b.data, cut);

        cr_assert(eq(int, record_batch_check(p, cut, &h), -EAGAIN), "cut at %zu", cut);
        cr_assert(
            eq(int, record_batch_peek(p, cut, RECORD_BATCH_MAX_BYTES, &h), -EAGAIN));
        free(p);
    }
    buf_release(&b);
}

Test(record, every_truncation_with_a_matching_length_and_crc_is_corrupt)
{
    struct record_batch_header h;
    struct buf b = BUF_INIT;

    fixed_batch(&b);
    for (size_t cut = RECORD_BATCH_OVERHEAD; cut < b.len; cut++) {
        uint8_t *p = dup_exact(b.data, cut);

        store_be32(p + 8, (uint32_t)(cut - 12));
        fix_crc(p, cut);
        cr_assert(eq(int, record_batch_check(p, cut, &h), -EBADMSG), "cut at %zu", cut);
        free(p);
    }
    buf_release(&b);
}

Test(record, every_single_byte_corruption_is_detected)
{
    static const uint8_t flips[] = {0x01, 0x02, 0x10, 0x80, 0xff};
    struct record_batch_header h;
    struct record_iter it;
    struct record r;
    struct buf b = BUF_INIT;
    int ret, n;

    fixed_batch(&b);
    for (size_t pos = 0; pos < b.len; pos++) {
        bool outside_crc = pos < 8 || (pos >= 12 && pos < 16);

        for (size_t f = 0; f < sizeof(flips); f++) {
            uint8_t *p = dup_exact(b.data, b.len);

            p[pos] ^= flips[f];
            ret = record_batch_check(p, b.len, &h);
            if (outside_crc) {
                /* baseOffset and leaderEpoch: not covered, but must be walkable. */
                cr_assert(eq(int, ret, 0), "byte %zu ^ %#x", pos, flips[f]);
                record_iter_init(&it, p, &h);
                for (n = 0; record_iter_next(&it, &r) == 1; n++)
                    ;
                cr_assert(eq(int, n, (int)FIXED_N));
            } else {
                cr_assert(ne(int, ret, 0), "byte %zu ^ %#x", pos, flips[f]);
                cr_assert(ret == -EBADMSG || ret == -EAGAIN);
            }
            free(p);
        }
    }
    buf_release(&b);
}

/* What a byte of the records area is, found by walking the records with the varint
 * helpers alone. BYTE_NULLABLE is the one-byte length of a nullable field holding -1
 * (0x01) or 0 (0x00): flipping its low bit turns null into empty or back, which leaves
 * a perfectly valid batch, so that one flip must pass and every other must fail. */
enum byte_kind { BYTE_UNSET, BYTE_STRUCT, BYTE_NULLABLE, BYTE_ATTR, BYTE_TS, BYTE_DATA };
#define BYTE_KINDS 6

static size_t mark_varint(const uint8_t *p, const uint8_t *end, size_t pos,
                          enum byte_kind *kinds, enum byte_kind kind, int64_t *v)
{
    int32_t v32;
    size_t n = kind == BYTE_TS ? varint_get64(p + pos, end, v)
                               : varint_get32(p + pos, end, &v32);

    cr_assert(ge(sz, n, (0) + 1), "walk failed at %zu", pos);
    if (kind != BYTE_TS)
        *v = v32;
    for (size_t i = 0; i < n; i++)
        kinds[pos + i] = kind;
    return pos + n;
}

static size_t mark_field(const uint8_t *p, const uint8_t *end, size_t pos,
                         enum byte_kind *kinds, bool nullable)
{
    size_t start = pos;
    int64_t len;

    pos = mark_varint(p, end, pos, kinds, BYTE_STRUCT, &len);
    if (nullable && (len == -1 || len == 0))
        kinds[start] = BYTE_NULLABLE;
    for (int64_t i = 0; i < len; i++)
        kinds[pos++] = BYTE_DATA;
    return pos;
}

static void classify(const uint8_t *p, size_t size, size_t count, enum byte_kind *kinds)
{
    const uint8_t *end = p + size;
    size_t pos = RECORD_BATCH_OVERHEAD;
    int64_t v, headers;

    for (size_t i = 0; i < count; i++) {
        pos = mark_varint(p, end, pos, kinds, BYTE_STRUCT, &v); /* length */
        kinds[pos++] = BYTE_ATTR;
        pos = mark_varint(p, end, pos, kinds, BYTE_TS, &v);
        pos = mark_varint(p, end, pos, kinds, BYTE_STRUCT, &v); /* offsetDelta */
        pos = mark_field(p, end, pos, kinds, true);             /* key */
        pos = mark_field(p, end, pos, kinds, true);             /* value */
        pos = mark_varint(p, end, pos, kinds, BYTE_STRUCT, &headers);
        for (int64_t k = 0; k < headers; k++) {
            pos = mark_field(p, end, pos, kinds, false);
            pos = mark_field(p, end, pos, kinds, true);
        }
    }
    cr_assert(eq(sz, pos, size), "the walk covers the batch");
}

/* Walks a checked batch; returns how many keys and values (record or header) are null. */
static int count_nulls(const uint8_t *p, const struct record_batch_header *h)
{
    struct record_header hd;
    struct record_iter it;
    struct record r;
    const uint8_t *cur;
    int n = 0, recs = 0;

    record_iter_init(&it, p, h);
    while (record_iter_next(&it, &r) == 1) {
        recs++;
        n += (r.key_len == -1) + (r.value_len == -1);
        cur = r.raw_headers;
        for (uint32_t k = 0; k < r.header_count; k++) {
            cr_assert(eq(int,
                         record_header_next(&cur, r.raw_headers + r.raw_headers_len, &hd),
                         1));
            n += hd.value_len == -1;
        }
    }
    cr_assert(eq(int, recs, h->record_count));
    return n;
}

/* A second, deliberately plain reading of the records area: whether the batch at 'p'
 * (header already sound) is well formed. The decoder must agree with it exactly. */
static bool ref_field(const uint8_t **q, const uint8_t *end, bool nullable)
{
    int32_t len;
    size_t n = varint_get32(*q, end, &len);

    if (!n || len < -1 || (len == -1 && !nullable))
        return false;
    *q += n;
    if (len > 0) {
        if ((size_t)len > (size_t)(end - *q))
            return false;
        *q += len;
    }
    return true;
}

static bool ref_valid(const uint8_t *p, size_t size)
{
    const uint8_t *end = p + size, *q = p + RECORD_BATCH_OVERHEAD, *rend;
    int32_t count = (int32_t)load_be32(p + 57), len, od, hc;
    int64_t ts;
    size_t n;

    if (count < 1 || (int32_t)load_be32(p + 23) != count - 1)
        return false;
    for (int32_t i = 0; i < count; i++) {
        n = varint_get32(q, end, &len);
        if (!n || len < 1 || (size_t)len > (size_t)(end - q) - n)
            return false;
        q += n;
        rend = q + len;
        q++; /* attributes */
        if (!(n = varint_get64(q, rend, &ts)))
            return false;
        q += n;
        if (!(n = varint_get32(q, rend, &od)) || od != i)
            return false;
        q += n;
        if (!ref_field(&q, rend, true) || !ref_field(&q, rend, true))
            return false;
        if (!(n = varint_get32(q, rend, &hc)) || hc < 0)
            return false;
        q += n;
        for (int32_t k = 0; k < hc; k++)
            if (!ref_field(&q, rend, false) || !ref_field(&q, rend, true))
                return false;
        if (q != rend)
            return false;
    }
    return q == end;
}

Test(record, corrupt_records_under_a_valid_crc_are_rejected)
{
    static const uint8_t flips[] = {0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff};
    struct record_batch_header h;
    struct buf b = BUF_INIT;
    enum byte_kind *kinds;
    size_t counts[BYTE_KINDS] = {0}, struct_flips = 0, struct_passed = 0;
    int ret, nulls;

    fixed_batch(&b);
    cr_assert(eq(int, record_batch_check((const uint8_t *)b.data, b.len, &h), 0));
    cr_assert(ref_valid((const uint8_t *)b.data, b.len));
    nulls = count_nulls((const uint8_t *)b.data, &h);
    kinds = xcalloc(b.len, sizeof(*kinds));
    classify((const uint8_t *)b.data, b.len, FIXED_N, kinds);
    for (size_t pos = RECORD_BATCH_OVERHEAD; pos < b.len; pos++) {
        cr_assert(ne(int, kinds[pos], BYTE_UNSET), "byte %zu", pos);
        counts[kinds[pos]]++;
        for (size_t f = 0; f < sizeof(flips); f++) {
            uint8_t *p = dup_exact(b.data, b.len);
            bool toggle = kinds[pos] == BYTE_NULLABLE && flips[f] == 0x01;

            p[pos] ^= flips[f];
            fix_crc(p, b.len);
            ret = record_batch_check(p, b.len, &h);
            /* Whatever the byte, the decoder agrees with the plain reading. */
            cr_assert(eq(int, ret, ref_valid(p, b.len) ? 0 : -EBADMSG), "byte %zu ^ %#x",
                      pos, flips[f]);
            switch (kinds[pos]) {
            case BYTE_NULLABLE:
                if (toggle) { /* null <-> empty: valid, one null more or less */
                    cr_assert(eq(int, ret, 0), "byte %zu ^ %#x", pos, flips[f]);
                    cr_assert(eq(int, abs(count_nulls(p, &h) - nulls), 1));
                    break;
                }
                /* fall through */
            case BYTE_STRUCT:
                /* A length, offsetDelta or count. Rarely the bytes happen to read as
                 * a different well-formed batch (the plain reading above agrees); the
                 * bulk must fail. */
                struct_flips++;
                struct_passed += ret == 0;
                cr_assert(ret == 0 || ret == -EBADMSG);
                break;
            case BYTE_ATTR: /* ignored, as Kafka does */
            case BYTE_DATA: /* just different content */
                cr_assert(eq(int, ret, 0), "byte %zu ^ %#x", pos, flips[f]);
                cr_assert(eq(int, count_nulls(p, &h), nulls));
                break;
            default: /* timestampDelta: any value is valid, a broken varint is not */
                if (ret == 0)
                    cr_assert(eq(int, count_nulls(p, &h), nulls));
                break;
            }
            free(p);
        }
    }
    cr_log_info("%zu of %zu structural flips still read as a valid batch", struct_passed,
                struct_flips);
    cr_assert(le(sz, struct_passed * 50, struct_flips), "at most 2%% may pass");
    /* The walk really did find every kind of byte. */
    for (int k = BYTE_STRUCT; k < BYTE_KINDS; k++)
        cr_assert(ge(sz, counts[k], (0) + 1), "kind %d", k);
    free(kinds);
    buf_release(&b);
}

Test(record, random_garbage_never_passes)
{
    uint64_t seed = 99;
    struct record_batch_header h;

    for (int i = 0; i < 20000; i++) {
        size_t n = rng_below(&seed, 300);
        uint8_t *p = xmalloc(n ? n : 1);

        for (size_t k = 0; k < n; k++)
            p[k] = (uint8_t)rng_next(&seed);
        if (n >= 17 && (i & 1)) { /* give it a plausible header */
            store_be32(p + 8, (uint32_t)(n - 12));
            p[16] = 2;
            if (n >= 61)
                fix_crc(p, n);
        }
        cr_assert(ne(int, record_batch_check(p, n, &h), 0));
        free(p);
    }
}

/* record_size_in_batch() adds up to record_batch_size(), one record at a time. */
Test(record, sizes_in_batch_add_up_to_the_batch_size)
{
    struct record recs[50];
    uint8_t val[300];

    memset(val, 'v', sizeof(val));
    for (int i = 0; i < 50; i++) {
        size_t total = RECORD_BATCH_OVERHEAD;

        recs[i] = (struct record){.timestamp = 1000 + (i % 7) * 100000 - i,
                                  .key_len = i % 3 ? i : -1,
                                  .key = val,
                                  .value = val,
                                  .value_len = i * 6};
        for (int k = 0; k <= i; k++)
            total += record_size_in_batch(&recs[k], k, recs[0].timestamp);
        cr_assert(eq(sz, total, record_batch_size(recs, (size_t)i + 1)), "%d records", i + 1);
    }
    recs[0].value_len = -2;
    cr_assert(eq(sz, record_size_in_batch(&recs[0], 0, 0), 0), "bad length: 0");
}

/* Appends a batch of 'n' one-byte records based at 'base' to 'log'. */
static void add_batch(struct buf *log, int64_t base, size_t n)
{
    struct record recs[8];
    struct buf b = BUF_INIT;
    uint8_t v[8];

    for (size_t i = 0; i < n; i++) {
        v[i] = (uint8_t)(base + (int64_t)i);
        recs[i] = (struct record){.timestamp = 1, .key_len = -1, .value = &v[i], .value_len = 1};
    }
    cr_assert(eq(int, record_batch_encode(&b, recs, n), 0));
    record_batch_set_base_offset((uint8_t *)b.data, base);
    buf_add(log, b.data, b.len);
    buf_release(&b);
}

/* The offsets a walk from 'from' yields, as "11 12 13". */
static void walk_offsets(const struct buf *log, size_t len, int64_t from, char *out, size_t size)
{
    struct record_walk w;
    struct record r;
    size_t o = 0;

    out[0] = '\0';
    record_walk_init(&w, log->data, len, from);
    while (record_walk_next(&w, &r) && o < size)
        o += (size_t)snprintf(out + o, size - o, "%s%lld", o ? " " : "", (long long)r.offset);
}

Test(record, a_walk_yields_the_records_of_consecutive_batches_from_an_offset)
{
    struct buf log = BUF_INIT;
    char got[128];
    size_t whole;

    add_batch(&log, 10, 3);
    add_batch(&log, 13, 2);
    whole = log.len;
    walk_offsets(&log, whole, 0, got, sizeof(got));
    cr_assert(eq(str, got, "10 11 12 13 14"));
    walk_offsets(&log, whole, 11, got, sizeof(got));
    cr_assert(eq(str, got, "11 12 13 14"));
    walk_offsets(&log, whole, 13, got, sizeof(got));
    cr_assert(eq(str, got, "13 14"));
    walk_offsets(&log, whole, 15, got, sizeof(got));
    cr_assert(eq(str, got, ""));
    walk_offsets(&log, 0, 0, got, sizeof(got));
    cr_assert(eq(str, got, ""));
    /* bytes that are not a batch end the walk (a read never returns them) */
    buf_add(&log, "garbage, not a batch at all", 27);
    walk_offsets(&log, log.len, 12, got, sizeof(got));
    cr_assert(eq(str, got, "12 13 14"));
    walk_offsets(&log, whole - 1, 0, got, sizeof(got)); /* the second batch cut short */
    cr_assert(eq(str, got, "10 11 12"));
    buf_release(&log);
}
