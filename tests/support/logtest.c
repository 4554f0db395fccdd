/* logtest.c: helpers for tests of the log engine. */
#include "tests/support/logtest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/xalloc.h"
#include "storage/io.h"
#include "storage/record.h"

struct partition_config logtest_config(uint64_t segment_bytes, bool flush_always)
{
    struct partition_config c = {
        .segment_bytes = segment_bytes,
        .segment_ms = INT64_MAX / 2,
        .flush_always = flush_always,
        .flush_ms = 1000,
        .retention_ms = -1,
        .retention_bytes = -1,
    };
    return c;
}

void logtest_value(char *out, size_t size, int64_t first, size_t i, size_t value_len)
{
    int n = snprintf(out, size, "v%lld-%zu", (long long)first, i);

    for (size_t k = (size_t)n; k < value_len && k + 1 < size; k++)
        out[k] = 'x';
    out[value_len < size ? value_len : size - 1] = '\0';
    if ((size_t)n > value_len && value_len < size)
        out[value_len] = '\0';
}

int logtest_append(struct partition *p, int64_t first, size_t n, size_t value_len,
                   int64_t ts0)
{
    struct record *recs = xcalloc(n, sizeof(*recs));
    char **vals = xcalloc(n, sizeof(*vals));
    int64_t base;
    int ret;

    for (size_t i = 0; i < n; i++) {
        vals[i] = xmalloc(value_len + 32);
        logtest_value(vals[i], value_len + 32, first, i, value_len);
        recs[i].timestamp = ts0 + 10 * (int64_t)i;
        recs[i].key = (const uint8_t *)"k";
        recs[i].key_len = 1;
        recs[i].value = (const uint8_t *)vals[i];
        recs[i].value_len = (int32_t)strlen(vals[i]);
    }
    ret = partition_append_records(p, recs, n, &base);
    if (!ret && base != first)
        ret = -EPROTO;
    for (size_t i = 0; i < n; i++)
        free(vals[i]);
    free(vals);
    free(recs);
    return ret;
}

int logtest_read(struct partition *p, int64_t offset, char *value, size_t size,
                 int64_t *ts)
{
    struct buf b = BUF_INIT;
    size_t at = 0;
    int ret = partition_read(p, offset, 1, &b);

    if (ret <= 0) {
        buf_release(&b);
        return ret ? ret : -ENOENT;
    }
    ret = -ENOENT;
    while (at < b.len) {
        struct record_batch_header h;
        struct record_iter it;
        struct record r;

        if (record_batch_check((uint8_t *)b.data + at, b.len - at, &h)) {
            ret = -EBADMSG;
            break;
        }
        record_iter_init(&it, (uint8_t *)b.data + at, &h);
        while (record_iter_next(&it, &r) == 1) {
            if (r.offset != offset)
                continue;
            size_t n = r.value_len < 0 ? 0 : (size_t)r.value_len;
            if (n >= size)
                n = size - 1;
            memcpy(value, r.value, n);
            value[n] = '\0';
            if (ts)
                *ts = r.timestamp;
            ret = 0;
        }
        at += record_batch_total(&h);
    }
    buf_release(&b);
    return ret;
}

struct read_all {
    void (*fn)(void *arg, int64_t offset, const uint8_t *value, int32_t len);
    void *arg;
    int64_t next, count;
};

static int read_one(void *arg, const struct record *r)
{
    struct read_all *ra = arg;

    if (r->offset != ra->next)
        return -EPROTO; /* a gap */
    if (ra->fn)
        ra->fn(ra->arg, r->offset, r->value, r->value_len);
    ra->next++;
    ra->count++;
    return 0;
}

int64_t logtest_read_all(struct partition *p, int64_t from,
                         void (*fn)(void *arg, int64_t offset, const uint8_t *value,
                                    int32_t len),
                         void *arg)
{
    struct read_all ra = {fn, arg, from, 0};
    int ret = partition_for_each(p, from, read_one, &ra);

    return ret ? ret : ra.count;
}

int logtest_file_bytes(const char *path, uint8_t **data, size_t *len)
{
    return io_read_file(path, (size_t)1 << 30, (char **)data, len);
}

int logtest_write_file(const char *path, const void *data, size_t len)
{
    return io_write_file_synced(path, data, len, 0644);
}
