/* logtest.c: helpers for tests of the log engine. */
#include "tests/support/logtest.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

int logtest_append_kvs(struct partition *p, const struct logtest_kv *kv, size_t n,
                       int64_t *base)
{
    struct record *recs = xcalloc(n, sizeof(*recs));
    int64_t first;
    int ret;

    for (size_t i = 0; i < n; i++) {
        recs[i].timestamp = kv[i].timestamp;
        recs[i].key = (const uint8_t *)kv[i].key;
        recs[i].key_len = kv[i].key ? (int32_t)strlen(kv[i].key) : -1;
        recs[i].value = (const uint8_t *)kv[i].value;
        recs[i].value_len = kv[i].value ? (int32_t)strlen(kv[i].value) : -1;
    }
    ret = partition_append_records(p, recs, n, &first);
    if (!ret && base)
        *base = first;
    free(recs);
    return ret;
}

static char *copy_field(const uint8_t *data, int32_t len)
{
    return len < 0 ? NULL : xstrndup((const char *)data, (size_t)len);
}

static int snap_one(void *arg, const struct record *r)
{
    struct logtest_snap *s = arg;
    struct logtest_rec *e;

    if (s->n && r->offset <= s->recs[s->n - 1].offset)
        return -EPROTO;
    s->recs = xrealloc(s->recs, (s->n + 1) * sizeof(*s->recs));
    e = &s->recs[s->n++];
    e->offset = r->offset;
    e->timestamp = r->timestamp;
    e->key = copy_field(r->key, r->key_len);
    e->value = copy_field(r->value, r->value_len);
    return 0;
}

int logtest_snapshot(struct partition *p, struct logtest_snap *out)
{
    out->recs = NULL;
    out->n = 0;
    return partition_for_each(p, partition_log_start(p), snap_one, out);
}

void logtest_snapshot_release(struct logtest_snap *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->recs[i].key);
        free(s->recs[i].value);
    }
    free(s->recs);
    s->recs = NULL;
    s->n = 0;
}

static bool same_text(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

bool logtest_rec_equal(const struct logtest_rec *a, const struct logtest_rec *b)
{
    return a->offset == b->offset && a->timestamp == b->timestamp &&
           same_text(a->key, b->key) && same_text(a->value, b->value);
}

int logtest_copy_dir(const char *from, const char *to)
{
    DIR *d = opendir(from);
    struct dirent *e;
    int ret = 0;

    if (!d)
        return -errno;
    while (!ret && (e = readdir(d))) {
        char src[1024], dst[1024];
        struct stat st;
        uint8_t *data;
        size_t len;

        snprintf(src, sizeof(src), "%s/%s", from, e->d_name);
        snprintf(dst, sizeof(dst), "%s/%s", to, e->d_name);
        if (stat(src, &st) || !S_ISREG(st.st_mode))
            continue;
        ret = logtest_file_bytes(src, &data, &len);
        if (!ret) {
            ret = logtest_write_file(dst, data, len);
            free(data);
        }
    }
    closedir(d);
    return ret;
}
