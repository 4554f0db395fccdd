/* logtest.h: helpers for tests of the log engine: records with recognisable contents,
 * and reading one record back by offset. */
#ifndef TESTS_SUPPORT_LOGTEST_H
#define TESTS_SUPPORT_LOGTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/partition.h"

/* A config with big segments, flush.policy=always. */
struct partition_config logtest_config(uint64_t segment_bytes, bool flush_always);

/* Appends one batch of 'n' records whose values are "v<first>-<i>" padded with 'x' to
 * 'value_len' bytes (first = the offset the batch is expected to get), timestamps
 * ts0 + 10 * i. Returns what partition_append_records() returns. */
int logtest_append(struct partition *p, int64_t first, size_t n, size_t value_len,
                   int64_t ts0);

/* The value logtest_append() gives offset 'offset' when it was batch-first 'first'. */
void logtest_value(char *out, size_t size, int64_t first, size_t i, size_t value_len);

/* Reads the record at 'offset' into value/ts (value NUL-terminated, truncated to size).
 * Returns 0, or the partition's error, or -ENOENT if the read did not contain it. */
int logtest_read(struct partition *p, int64_t offset, char *value, size_t size,
                 int64_t *ts);

/* Reads every record from 'from' to the high watermark, checking offsets are dense,
 * calling 'fn' on each. Returns the number read or -errno. */
int64_t logtest_read_all(struct partition *p, int64_t from,
                         void (*fn)(void *arg, int64_t offset, const uint8_t *value,
                                    int32_t len),
                         void *arg);

/* Whole-file helpers. */
int logtest_file_bytes(const char *path, uint8_t **data, size_t *len);
int logtest_write_file(const char *path, const void *data, size_t len);

/* ---- keyed records (compaction) ---- */

struct logtest_kv {
    const char *key;   /* NULL: a null key */
    const char *value; /* NULL: a null value (a tombstone) */
    int64_t timestamp;
};

/* Appends kv[0..n) as one batch with partition_append_records() (so flushed under
 * flush.policy=always); sets *base (if not NULL) to its first offset. */
int logtest_append_kvs(struct partition *p, const struct logtest_kv *kv, size_t n,
                       int64_t *base);

/* One record read back: text copies (NULL for null). */
struct logtest_rec {
    int64_t offset, timestamp;
    char *key, *value;
};

struct logtest_snap {
    struct logtest_rec *recs;
    size_t n;
};

/* Reads every record from the log start to the high watermark into 'out' (checking
 * offsets only increase). Returns 0 or -errno. */
int logtest_snapshot(struct partition *p, struct logtest_snap *out);
void logtest_snapshot_release(struct logtest_snap *s);
bool logtest_rec_equal(const struct logtest_rec *a, const struct logtest_rec *b);

/* Copies every regular file of directory 'from' into the existing directory 'to'. */
int logtest_copy_dir(const char *from, const char *to);

#endif
