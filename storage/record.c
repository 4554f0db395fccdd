/* record.c: Kafka RecordBatch v2 framing: encode, check, iterate (layout in record.h).
 *
 * One record with key "k", value "v", no headers and the batch's base timestamp is
 * nine bytes, every varint zig-zag encoded:
 *
 *   10        length 8 (bytes after this varint)
 *   00        attributes
 *   00        timestampDelta 0
 *   00        offsetDelta 0
 *   02 6b     keyLength 1, "k"
 *   02 76     valueLength 1, "v"
 *   00        headerCount 0
 *
 * and its batch is 61 + 9 = 70 bytes with batchLength 58 and recordsCount 1.
 *
 * Encoding sizes the whole batch first (record_batch_size()), grows the buffer once
 * and writes every byte in a single pass; the CRC is then computed over [21, end).
 *
 * Decoding trusts nothing. A varint may not run past its record, nor be longer than 5
 * (int32) or 10 (int64) bytes, nor carry bits beyond its width, nor be padded (a last
 * byte of 0x00 after 0x80s): only the shortest form, which every Kafka client writes,
 * is read, so a flipped high bit cannot merge two fields into one that still parses.
 * Lengths must be -1 (null; not for header keys) or fit in what is left of the record;
 * a record's 'length' must cover its fields exactly, the records must fill the batch
 * exactly, and there must be recordsCount >= 1 of them with offsetDelta 0, 1, 2, ...
 * Record attributes are ignored, as Kafka does. Invariant: a batch that passed
 * record_batch_check() can be walked by record_iter_next() and record_header_next()
 * without any error.
 */
#include "storage/record.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "storage/crc32c.h"

/* Offsets of the fixed header fields. */
#define OFF_BASE_OFFSET 0
#define OFF_BATCH_LENGTH 8
#define OFF_LEADER_EPOCH 12
#define OFF_MAGIC 16
#define OFF_CRC 17
#define OFF_ATTRIBUTES 21
#define OFF_LAST_OFFSET_DELTA 23
#define OFF_BASE_TIMESTAMP 27
#define OFF_MAX_TIMESTAMP 35
#define OFF_PRODUCER_ID 43
#define OFF_PRODUCER_EPOCH 51
#define OFF_BASE_SEQUENCE 53
#define OFF_RECORDS_COUNT 57

/* Smallest legal batchLength: the header after the batchLength field, no records. */
#define MIN_BATCH_LENGTH (RECORD_BATCH_OVERHEAD - RECORD_BATCH_LOG_OVERHEAD)
/* Smallest record: length, attributes, timestampDelta, offsetDelta, keyLength,
 * valueLength and headerCount, one byte each. */
#define MIN_RECORD_BYTES 7

/* Attribute bits we cannot read: compression (0-2), transactional (4), control (5).
 * Bit 3 (LogAppendTime) and bit 6 (delete horizon) change nothing for us. */
#define ATTR_UNSUPPORTED 0x0037

/* ---- varints ---- */

static inline uint32_t zigzag32(int32_t v)
{
    uint32_t u = (uint32_t)v << 1;

    return v < 0 ? ~u : u;
}

static inline uint64_t zigzag64(int64_t v)
{
    uint64_t u = (uint64_t)v << 1;

    return v < 0 ? ~u : u;
}

static inline int32_t unzigzag32(uint32_t u)
{
    return (u & 1) ? -(int32_t)(u >> 1) - 1 : (int32_t)(u >> 1);
}

static inline int64_t unzigzag64(uint64_t u)
{
    return (u & 1) ? -(int64_t)(u >> 1) - 1 : (int64_t)(u >> 1);
}

static inline size_t uvarint_size(uint64_t u)
{
    return ((size_t)(64 - __builtin_clzll(u | 1)) + 6) / 7;
}

static inline size_t varint_size32(int32_t v)
{
    return uvarint_size(zigzag32(v));
}

static inline size_t varint_size64(int64_t v)
{
    return uvarint_size(zigzag64(v));
}

static inline size_t uvarint_put(uint8_t *p, uint64_t u)
{
    size_t n = 0;

    while (u >= 0x80) {
        p[n++] = (uint8_t)(u | 0x80);
        u >>= 7;
    }
    p[n++] = (uint8_t)u;
    return n;
}

size_t varint_put32(uint8_t *p, int32_t v)
{
    return uvarint_put(p, zigzag32(v));
}

size_t varint_put64(uint8_t *p, int64_t v)
{
    return uvarint_put(p, zigzag64(v));
}

/* Reads a varint of at most 'max' bytes in its shortest form; the last byte may only
 * hold the 'top' low bits. Returns the bytes read, or 0. */
static inline size_t uvarint_get(const uint8_t *p, const uint8_t *end, size_t max,
                                 unsigned top, uint64_t *out)
{
    size_t avail = p < end ? (size_t)(end - p) : 0;
    uint64_t u = 0;
    size_t i;

    if (avail && p[0] < 0x80) {
        *out = p[0];
        return 1;
    }
    for (i = 0; i < max && i < avail; i++) {
        if (i == max - 1 && p[i] >> top)
            return 0; /* overlong, or bits beyond the width */
        u |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            if (!p[i])
                return 0; /* padded: a last byte of zero adds nothing */
            *out = u;
            return i + 1;
        }
    }
    return 0;
}

size_t varint_get32(const uint8_t *p, const uint8_t *end, int32_t *v)
{
    uint64_t u;
    size_t n = uvarint_get(p, end, 5, 32 - 28, &u);

    if (n)
        *v = unzigzag32((uint32_t)u);
    return n;
}

size_t varint_get64(const uint8_t *p, const uint8_t *end, int64_t *v)
{
    uint64_t u;
    size_t n = uvarint_get(p, end, 10, 64 - 63, &u);

    if (n)
        *v = unzigzag64(u);
    return n;
}

/* ---- encoding ---- */

/* Bytes of a nullable field: its length varint and its content. */
static inline size_t field_size(int32_t len)
{
    return varint_size32(len) + (len > 0 ? (size_t)len : 0);
}

static inline uint8_t *put_field(uint8_t *p, const uint8_t *data, int32_t len)
{
    p += varint_put32(p, len);
    if (len > 0) {
        memcpy(p, data, (size_t)len);
        p += len;
    }
    return p;
}

/* Wrapping arithmetic: a delta between any two int64 timestamps round-trips. */
static inline int64_t wrap_sub64(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a - (uint64_t)b);
}

static inline int64_t wrap_add64(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a + (uint64_t)b);
}

/* Sets *size to the bytes of record 'i' after its length varint. Returns 0, -EINVAL for
 * a negative length other than -1 for null, or -EMSGSIZE for a record too big for a
 * batch. */
static int record_body_size(const struct record *r, int32_t i, int64_t base_ts,
                            size_t *size)
{
    size_t n;
    uint32_t k;

    if (r->key_len < -1 || r->value_len < -1)
        return -EINVAL;
    if (r->header_count > INT32_MAX)
        return -EMSGSIZE;
    n = 1 + varint_size64(wrap_sub64(r->timestamp, base_ts)) + varint_size32(i) +
        field_size(r->key_len) + field_size(r->value_len) +
        varint_size32((int32_t)r->header_count);
    for (k = 0; k < r->header_count; k++) {
        const struct record_header *h = &r->headers[k];

        if (h->key_len < 0 || h->value_len < -1)
            return -EINVAL;
        /* Checked as we go: 2^31 headers of 2^31 bytes would overflow even a size_t. */
        if (n > RECORD_BATCH_MAX_BYTES)
            return -EMSGSIZE;
        n += field_size(h->key_len) + field_size(h->value_len);
    }
    if (n > RECORD_BATCH_MAX_BYTES)
        return -EMSGSIZE;
    *size = n;
    return 0;
}

/* Sets *size to the bytes of the whole batch. Returns 0, -EINVAL or -EMSGSIZE. */
static int batch_size(const struct record *recs, size_t n, size_t *size)
{
    size_t total = RECORD_BATCH_OVERHEAD, body, i;
    int ret;

    if (!n)
        return -EINVAL;
    /* A record takes at least 7 bytes, so the size limit stops the loop long before
     * 'i' could overflow the int32 offsetDelta. */
    for (i = 0; i < n; i++) {
        ret = record_body_size(&recs[i], (int32_t)i, recs[0].timestamp, &body);
        if (ret)
            return ret;
        total += varint_size32((int32_t)body) + body;
        if (total > RECORD_BATCH_MAX_BYTES)
            return -EMSGSIZE;
    }
    *size = total;
    return 0;
}

size_t record_size_in_batch(const struct record *r, int32_t offset_delta,
                            int64_t base_timestamp)
{
    size_t body;

    if (record_body_size(r, offset_delta, base_timestamp, &body))
        return 0;
    return varint_size32((int32_t)body) + body;
}

size_t record_batch_size(const struct record *recs, size_t n)
{
    size_t size;

    return batch_size(recs, n, &size) ? 0 : size;
}

static uint8_t *put_record(uint8_t *p, const struct record *r, int32_t i, int64_t base_ts)
{
    size_t body = 0;
    uint32_t k;

    record_body_size(r, i, base_ts, &body); /* succeeded in batch_size() */
    p += varint_put32(p, (int32_t)body);
    *p++ = 0; /* attributes */
    p += varint_put64(p, wrap_sub64(r->timestamp, base_ts));
    p += varint_put32(p, i);
    p = put_field(p, r->key, r->key_len);
    p = put_field(p, r->value, r->value_len);
    p += varint_put32(p, (int32_t)r->header_count);
    for (k = 0; k < r->header_count; k++) {
        p = put_field(p, r->headers[k].key, r->headers[k].key_len);
        p = put_field(p, r->headers[k].value, r->headers[k].value_len);
    }
    return p;
}

int record_batch_encode(struct buf *out, const struct record *recs, size_t n)
{
    int64_t base_ts, max_ts;
    uint8_t *batch, *p;
    size_t total, i;
    int ret;

    ret = batch_size(recs, n, &total);
    if (ret)
        return ret;
    buf_grow(out, total);
    batch = (uint8_t *)out->data + out->len;

    base_ts = max_ts = recs[0].timestamp;
    p = batch + RECORD_BATCH_OVERHEAD;
    for (i = 0; i < n; i++) {
        if (recs[i].timestamp > max_ts)
            max_ts = recs[i].timestamp;
        p = put_record(p, &recs[i], (int32_t)i, base_ts);
    }

    store_be64(batch + OFF_BASE_OFFSET, 0);
    store_be32(batch + OFF_BATCH_LENGTH, (uint32_t)(total - RECORD_BATCH_LOG_OVERHEAD));
    store_be32(batch + OFF_LEADER_EPOCH, 0);
    batch[OFF_MAGIC] = RECORD_BATCH_MAGIC;
    store_be16(batch + OFF_ATTRIBUTES, 0);
    store_be32(batch + OFF_LAST_OFFSET_DELTA, (uint32_t)(n - 1));
    store_be64(batch + OFF_BASE_TIMESTAMP, (uint64_t)base_ts);
    store_be64(batch + OFF_MAX_TIMESTAMP, (uint64_t)max_ts);
    store_be64(batch + OFF_PRODUCER_ID, UINT64_MAX);    /* -1 */
    store_be16(batch + OFF_PRODUCER_EPOCH, UINT16_MAX); /* -1 */
    store_be32(batch + OFF_BASE_SEQUENCE, UINT32_MAX);  /* -1 */
    store_be32(batch + OFF_RECORDS_COUNT, (uint32_t)n);
    store_be32(batch + OFF_CRC, crc32c(batch + OFF_ATTRIBUTES, total - OFF_ATTRIBUTES));

    out->len += total;
    out->data[out->len] = '\0';
    return 0;
}

void record_batch_set_base_offset(uint8_t *batch, int64_t base_offset)
{
    store_be64(batch + OFF_BASE_OFFSET, (uint64_t)base_offset);
}

/* ---- decoding ---- */

int record_batch_peek(const uint8_t *p, size_t avail, size_t limit,
                      struct record_batch_header *h)
{
    size_t total;

    if (avail < RECORD_BATCH_OVERHEAD)
        return -EAGAIN;
    h->base_offset = (int64_t)load_be64(p + OFF_BASE_OFFSET);
    h->batch_length = (int32_t)load_be32(p + OFF_BATCH_LENGTH);
    h->leader_epoch = (int32_t)load_be32(p + OFF_LEADER_EPOCH);
    h->magic = (int8_t)p[OFF_MAGIC];
    h->crc = load_be32(p + OFF_CRC);
    h->attributes = (int16_t)load_be16(p + OFF_ATTRIBUTES);
    h->last_offset_delta = (int32_t)load_be32(p + OFF_LAST_OFFSET_DELTA);
    h->base_timestamp = (int64_t)load_be64(p + OFF_BASE_TIMESTAMP);
    h->max_timestamp = (int64_t)load_be64(p + OFF_MAX_TIMESTAMP);
    h->producer_id = (int64_t)load_be64(p + OFF_PRODUCER_ID);
    h->producer_epoch = (int16_t)load_be16(p + OFF_PRODUCER_EPOCH);
    h->base_sequence = (int32_t)load_be32(p + OFF_BASE_SEQUENCE);
    h->record_count = (int32_t)load_be32(p + OFF_RECORDS_COUNT);

    if (h->batch_length < MIN_BATCH_LENGTH || h->magic != RECORD_BATCH_MAGIC)
        return -EBADMSG;
    total = record_batch_total(h);
    if (total > limit)
        return -EBADMSG;
    if (total > avail)
        return -EAGAIN;
    return 0;
}

/* Reads a nullable length and skips its content, which must fit before 'end'. */
static inline int get_field(const uint8_t **pp, const uint8_t *end, bool nullable,
                            const uint8_t **data, int32_t *len)
{
    const uint8_t *p = *pp;
    size_t n = varint_get32(p, end, len);

    if (!n)
        return -EBADMSG;
    p += n;
    if (*len < 0) {
        if (*len != -1 || !nullable)
            return -EBADMSG;
        *data = NULL;
    } else {
        if ((size_t)*len > (size_t)(end - p))
            return -EBADMSG;
        *data = p;
        p += *len;
    }
    *pp = p;
    return 0;
}

int record_header_next(const uint8_t **cursor, const uint8_t *end,
                       struct record_header *h)
{
    const uint8_t *p = *cursor;

    if (p >= end)
        return 0;
    if (get_field(&p, end, false, &h->key, &h->key_len) ||
        get_field(&p, end, true, &h->value, &h->value_len))
        return -EBADMSG;
    *cursor = p;
    return 1;
}

/* Decodes the record at *pp (which must end by 'end'), every header included, and
 * moves *pp past it. The offset and timestamp are left as deltas. */
static int record_decode(const uint8_t **pp, const uint8_t *end, struct record *r,
                         int32_t *offset_delta)
{
    const uint8_t *p = *pp, *rend;
    struct record_header h;
    int32_t len, count, i;
    size_t n;

    n = varint_get32(p, end, &len);
    if (!n || len < 0 || (size_t)len > (size_t)(end - p) - n)
        return -EBADMSG;
    p += n;
    rend = p + len;
    if (p == rend)
        return -EBADMSG;
    p++; /* attributes: unused in v2, ignored as Kafka does */
    if (!(n = varint_get64(p, rend, &r->timestamp)))
        return -EBADMSG;
    p += n;
    if (!(n = varint_get32(p, rend, offset_delta)))
        return -EBADMSG;
    p += n;
    if (get_field(&p, rend, true, &r->key, &r->key_len) ||
        get_field(&p, rend, true, &r->value, &r->value_len))
        return -EBADMSG;
    if (!(n = varint_get32(p, rend, &count)) || count < 0)
        return -EBADMSG;
    p += n;
    r->headers = NULL;
    r->header_count = (uint32_t)count;
    r->raw_headers = p;
    r->raw_headers_len = (size_t)(rend - p);
    for (i = 0; i < count; i++)
        if (record_header_next(&p, rend, &h) != 1)
            return -EBADMSG;
    if (p != rend)
        return -EBADMSG;
    *pp = rend;
    return 0;
}

int record_batch_check(const uint8_t *p, size_t avail, struct record_batch_header *h)
{
    const uint8_t *pos, *end;
    struct record r;
    int32_t i, delta;
    size_t total;
    int ret;

    ret = record_batch_peek(p, avail, RECORD_BATCH_MAX_BYTES, h);
    if (ret)
        return ret;
    total = record_batch_total(h);
    if (crc32c(p + OFF_ATTRIBUTES, total - OFF_ATTRIBUTES) != h->crc)
        return -EBADMSG;
    if (h->attributes & ATTR_UNSUPPORTED)
        return -EBADMSG;
    /* An empty batch would own no offsets; we never write one and take none. */
    if (h->record_count < 1 ||
        (size_t)h->record_count > (total - RECORD_BATCH_OVERHEAD) / MIN_RECORD_BYTES ||
        h->last_offset_delta != h->record_count - 1)
        return -EBADMSG;

    pos = p + RECORD_BATCH_OVERHEAD;
    end = p + total;
    for (i = 0; i < h->record_count; i++) {
        if (record_decode(&pos, end, &r, &delta) || delta != i)
            return -EBADMSG;
    }
    return pos == end ? 0 : -EBADMSG;
}

void record_iter_init(struct record_iter *it, const uint8_t *batch,
                      const struct record_batch_header *h)
{
    it->pos = batch + RECORD_BATCH_OVERHEAD;
    it->end = batch + record_batch_total(h);
    it->base_offset = h->base_offset;
    it->base_timestamp = h->base_timestamp;
    it->remaining = h->record_count;
}

int record_iter_next(struct record_iter *it, struct record *r)
{
    int32_t delta;

    if (it->remaining <= 0)
        return 0;
    if (record_decode(&it->pos, it->end, r, &delta)) {
        it->remaining = 0;
        return -EBADMSG;
    }
    it->remaining--;
    /* baseOffset is outside the CRC: wrap rather than overflow on a corrupt one. */
    r->offset = wrap_add64(it->base_offset, delta);
    r->timestamp = wrap_add64(it->base_timestamp, r->timestamp);
    return 1;
}

void record_walk_init(struct record_walk *w, const void *data, size_t len, int64_t from)
{
    w->data = data;
    w->len = len;
    w->at = 0;
    w->from = from;
    w->it.remaining = 0;
}

bool record_walk_next(struct record_walk *w, struct record *r)
{
    for (;;) {
        struct record_batch_header h;

        while (record_iter_next(&w->it, r) == 1)
            if (r->offset >= w->from)
                return true;
        if (w->at >= w->len || record_batch_check(w->data + w->at, w->len - w->at, &h))
            return false;
        record_iter_init(&w->it, w->data + w->at, &h);
        w->at += record_batch_total(&h);
    }
}
