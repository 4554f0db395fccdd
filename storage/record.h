/* record.h: Kafka's RecordBatch v2, byte for byte (DefaultRecordBatch.java).
 *
 * A batch, big-endian, 61 bytes of header then the records:
 *
 *   off size field
 *     0  8   baseOffset           stamped at append (outside the CRC)
 *     8  4   batchLength          bytes after this field: batch size = 12 + batchLength
 *    12  4   partitionLeaderEpoch we write 0
 *    16  1   magic                = 2
 *    17  4   crc                  CRC-32C of bytes [21, end)
 *    21  2   attributes           we write 0: no compression, CreateTime, no txn
 *    23  4   lastOffsetDelta      = recordCount - 1 (offsets are dense)
 *    27  8   baseTimestamp        timestamp of the first record
 *    35  8   maxTimestamp         largest record timestamp
 *    43  8   producerId           -1
 *    51  2   producerEpoch        -1
 *    53  4   baseSequence         -1
 *    57  4   recordsCount
 *    61      records
 *
 * A record (varints are zig-zag, as protobuf's sint32/sint64):
 *   length varint | attributes int8 | timestampDelta varlong | offsetDelta varint |
 *   keyLength varint (-1 null) | key | valueLength varint (-1 null) | value |
 *   headerCount varint | headers: (keyLength varint, key, valueLength varint, value)*
 *
 * Decoding trusts nothing: every length is checked against the bytes that hold it.
 */
#ifndef STORAGE_RECORD_H
#define STORAGE_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define RECORD_BATCH_OVERHEAD 61     /* header bytes before the first record */
#define RECORD_BATCH_LOG_OVERHEAD 12 /* baseOffset + batchLength */
#define RECORD_BATCH_MAGIC 2
#define RECORD_BATCH_MAX_BYTES ((size_t)INT32_MAX) /* batchLength is an int32 */

struct record_header {
    const uint8_t *key;   /* header name; not NUL-terminated */
    int32_t key_len;      /* >= 0 (Kafka allows no null header key) */
    const uint8_t *value; /* NULL when value_len == -1 */
    int32_t value_len;    /* -1 = null value */
};

/* One record to encode, or one decoded from a batch (then all pointers are into it). */
struct record {
    int64_t offset;       /* decoded: baseOffset + offsetDelta; ignored by encode */
    int64_t timestamp;    /* milliseconds since the epoch */
    const uint8_t *key;   /* NULL when key_len == -1 */
    int32_t key_len;      /* -1 = null key */
    const uint8_t *value; /* NULL when value_len == -1 */
    int32_t value_len;    /* -1 = null value (a tombstone) */
    /* encode: an array of header_count headers. decode: the raw header bytes, walked
     * with record_header_next(); 'headers' is then unused. */
    const struct record_header *headers;
    uint32_t header_count;
    const uint8_t *raw_headers; /* decode only */
    size_t raw_headers_len;     /* decode only */
};

struct record_batch_header {
    int64_t base_offset;
    int32_t batch_length;
    int32_t leader_epoch;
    int8_t magic;
    uint32_t crc;
    int16_t attributes;
    int32_t last_offset_delta;
    int64_t base_timestamp;
    int64_t max_timestamp;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
    int32_t record_count;
};

/* The exact size record_batch_encode() would produce for recs[0..n), or 0 if it would
 * not fit in an int32 batchLength. */
size_t record_batch_size(const struct record *recs, size_t n);

/* The bytes record 'r' takes in a batch (its length varint included) at offset delta
 * 'offset_delta' in a batch whose first record has timestamp 'base_timestamp', or 0 if
 * it cannot be encoded. A batch's size is RECORD_BATCH_OVERHEAD plus its records'
 * sizes: this lets a caller grow a batch one record at a time. */
size_t record_size_in_batch(const struct record *r, int32_t offset_delta,
                            int64_t base_timestamp);

/* Appends to 'out' one batch holding recs[0..n) (n >= 1) with baseOffset 0 (stamp it
 * with record_batch_set_base_offset()). Timestamps are taken as given. Returns 0, or
 * -EMSGSIZE (nothing appended) if the batch would exceed RECORD_BATCH_MAX_BYTES, or
 * -EINVAL if n == 0 or a length is negative other than -1 for null. */
int record_batch_encode(struct buf *out, const struct record *recs, size_t n);

/* Writes baseOffset into an encoded batch. The CRC does not cover it. */
void record_batch_set_base_offset(uint8_t *batch, int64_t base_offset);

/* Reads the fixed header of a batch at 'p' with 'avail' readable bytes, checking the
 * length bounds (batchLength >= 49, 12 + batchLength <= limit) and magic, not the CRC.
 * Returns 0; -EAGAIN if 'avail' < 61 or the batch runs past 'avail' (a torn tail, or
 * the caller must read more); -EBADMSG if the header is impossible. 'limit' bounds the
 * batch size independently of 'avail' (pass RECORD_BATCH_MAX_BYTES for no bound). */
int record_batch_peek(const uint8_t *p, size_t avail, size_t limit,
                      struct record_batch_header *h);

/* record_batch_peek() and then the CRC, attributes (no compression, no control batch),
 * record count and lastOffsetDelta, and that every record decodes and exactly fills the
 * batch. Returns 0, -EAGAIN (truncated), or -EBADMSG (corrupt). */
int record_batch_check(const uint8_t *p, size_t avail, struct record_batch_header *h);

/* Total bytes of a batch given its header. */
static inline size_t record_batch_total(const struct record_batch_header *h)
{
    return RECORD_BATCH_LOG_OVERHEAD + (size_t)h->batch_length;
}

/* Walks the records of a batch that passed record_batch_check(). */
struct record_iter {
    const uint8_t *pos, *end;
    int64_t base_offset;
    int64_t base_timestamp;
    int32_t remaining;
};

void record_iter_init(struct record_iter *it, const uint8_t *batch,
                      const struct record_batch_header *h);
/* Fills *r with the next record (pointers into the batch). Returns 1, 0 at the end,
 * or -EBADMSG if the bytes are malformed (possible only if the batch was not checked). */
int record_iter_next(struct record_iter *it, struct record *r);

/* Walks the records of consecutive checked batches (what partition_read() returns),
 * skipping those below offset 'from' (a read starts at the batch that holds it). */
struct record_walk {
    const uint8_t *data;
    size_t len, at;
    int64_t from;
    struct record_iter it;
};

void record_walk_init(struct record_walk *w, const void *data, size_t len, int64_t from);
/* Fills *r with the next record at or after 'from'. Returns true, or false at the end
 * (or at bytes that are not a valid batch, which a read never returns). */
bool record_walk_next(struct record_walk *w, struct record *r);

/* Walks a decoded record's headers: *cursor starts at r->raw_headers, 'end' is
 * r->raw_headers + r->raw_headers_len. Returns 1 with *h filled, 0 at the end,
 * -EBADMSG if malformed. */
int record_header_next(const uint8_t **cursor, const uint8_t *end, struct record_header *h);

/* Zig-zag varints, exported for tests. Encode returns bytes written (<= 5 / 10). Decode
 * returns bytes consumed, or 0 if the input is truncated or overlong. */
size_t varint_put32(uint8_t *p, int32_t v);
size_t varint_put64(uint8_t *p, int64_t v);
size_t varint_get32(const uint8_t *p, const uint8_t *end, int32_t *v);
size_t varint_get64(const uint8_t *p, const uint8_t *end, int64_t *v);

#endif
