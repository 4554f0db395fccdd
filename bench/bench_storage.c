/* bench_storage.c: the log engine's speed, against this disk's own in one run.
 *
 *   1. raw write(): sequential writes of the same bytes in the same chunk sizes;
 *   2. append throughput, 100 B and 1 KiB records, batches of 1, 100 and 1000
 *      (flush.policy=interval: the page cache, like the raw baseline), with the ratio
 *      to raw write bandwidth: the engine appending an encoded batch (what a broker
 *      does with a producer's batch), and encoding plus appending;
 *   3. durable appends per second (flush.policy=always, one 100 B record each) with 1,
 *      8 and 64 concurrent appenders: group commit shares fdatasyncs between them;
 *   4. read throughput from the page cache, decoding every record;
 *   5. peak memory (max RSS).
 *
 * Usage: bench-storage [DIR]   (default build/bench-data, removed afterwards) */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/xalloc.h"
#include "storage/io.h"
#include "storage/partition.h"
#include "storage/record.h"

#define TARGET_BYTES (64u << 20) /* payload written per append configuration */
#define DURABLE_SECONDS 2.0

static char root[512];

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fresh_dir(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/%s", root, name);
    io_remove_tree(out);
    if (io_mkdir_synced(out)) {
        fprintf(stderr, "bench: cannot create %s\n", out);
        exit(1);
    }
}

/* Records of 'value_len' bytes, 'n' of them, in one batch's worth of structs. */
static struct record *make_records(size_t n, size_t value_len, uint8_t **values)
{
    struct record *recs = xcalloc(n, sizeof(*recs));

    *values = xmalloc(n * value_len);
    for (size_t i = 0; i < n * value_len; i++)
        (*values)[i] = (uint8_t)('a' + i % 26);
    for (size_t i = 0; i < n; i++) {
        recs[i].timestamp = 1764000000000 + (int64_t)i;
        recs[i].key_len = -1;
        recs[i].value = *values + i * value_len;
        recs[i].value_len = (int32_t)value_len;
    }
    return recs;
}

/* Raw sequential write() of 'total' bytes in 'chunk'-byte writes; MB/s. */
static double raw_write_mbps(size_t chunk, size_t total)
{
    char dir[600], path[700];
    uint8_t *data = xmalloc(chunk);
    double t0, t;
    int fd;

    memset(data, 'x', chunk);
    fresh_dir(dir, sizeof(dir), "raw");
    snprintf(path, sizeof(path), "%s/raw.bin", dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        perror("bench: raw open");
        exit(1);
    }
    t0 = now_s();
    for (size_t done = 0; done < total; done += chunk) {
        if (write(fd, data, chunk) != (ssize_t)chunk) {
            perror("bench: raw write");
            exit(1);
        }
    }
    t = now_s() - t0;
    close(fd);
    free(data);
    io_remove_tree(dir);
    return (double)total / t / 1e6;
}

static struct partition *open_partition(const char *name, bool always)
{
    struct partition_config c = {
        .segment_bytes = 1u << 30,
        .segment_ms = INT64_MAX / 2,
        .flush_always = always,
        .flush_ms = 1000,
    };
    char dir[600];
    struct partition *p;

    fresh_dir(dir, sizeof(dir), name);
    if (partition_open(&p, dir, 0, &c)) {
        fprintf(stderr, "bench: cannot open partition in %s\n", dir);
        exit(1);
    }
    return p;
}

/* Appends 'batches' copies of one encoded batch ('encode': encoding each anew first);
 * returns MB/s of log written. */
static double append_mbps(struct record *recs, size_t per_batch, size_t batches, bool encode)
{
    struct partition *p = open_partition("append", false);
    struct buf b = BUF_INIT;
    int64_t base, last;
    double t0, t;

    record_batch_encode(&b, recs, per_batch);
    t0 = now_s();
    for (size_t i = 0; i < batches; i++) {
        if (encode) {
            buf_reset(&b);
            record_batch_encode(&b, recs, per_batch);
        }
        if (partition_append(p, (uint8_t *)b.data, b.len, &base, &last)) {
            fprintf(stderr, "bench: append failed\n");
            exit(1);
        }
    }
    t = now_s() - t0;
    partition_close(p);
    t0 = (double)(batches * b.len);
    buf_release(&b);
    return t0 / t / 1e6;
}

static double max2(double a, double b)
{
    return a > b ? a : b;
}

/* The best of three alternating rounds of raw write(), append of an encoded batch (the
 * engine alone, as a broker appends what a producer encoded) and encode + append. */
static void bench_append(size_t value_len, size_t per_batch)
{
    uint8_t *values;
    struct record *recs = make_records(per_batch, value_len, &values);
    size_t batches = TARGET_BYTES / (value_len * per_batch), batch_bytes;
    double raw = 0, engine = 0, full = 0;

    if (batches > 200000)
        batches = 200000; /* single-record batches: enough for a stable figure */
    batch_bytes = record_batch_size(recs, per_batch);
    for (int round = 0; round < 3; round++) {
        raw = max2(raw, raw_write_mbps(batch_bytes, batches * batch_bytes));
        engine = max2(engine, append_mbps(recs, per_batch, batches, false));
        full = max2(full, append_mbps(recs, per_batch, batches, true));
    }
    printf("append %5zu B x %4zu/batch  raw write %7.0f MB/s  append %7.0f MB/s (%.2f)  "
           "encode+append %7.0f MB/s (%.2f) %9.0f rec/s\n",
           value_len, per_batch, raw, engine, engine / raw, full, full / raw,
           full * 1e6 / (double)batch_bytes * (double)per_batch);
    free(recs);
    free(values);
}

struct durable_arg {
    struct partition *p;
    double until;
    long appends;
};

static void *durable_loop(void *arg)
{
    struct durable_arg *a = arg;
    uint8_t *values;
    struct record *rec = make_records(1, 100, &values);
    int64_t base;

    while (now_s() < a->until) {
        if (partition_append_records(a->p, rec, 1, &base)) {
            fprintf(stderr, "bench: durable append failed\n");
            exit(1);
        }
        a->appends++;
    }
    free(rec);
    free(values);
    return NULL;
}

static double bench_durable(int writers, double single)
{
    struct partition *p = open_partition("durable", true);
    pthread_t *t = xcalloc((size_t)writers, sizeof(*t));
    struct durable_arg *a = xcalloc((size_t)writers, sizeof(*a));
    double until = now_s() + DURABLE_SECONDS, rate;
    long total = 0;

    for (int i = 0; i < writers; i++) {
        a[i] = (struct durable_arg){.p = p, .until = until};
        pthread_create(&t[i], NULL, durable_loop, &a[i]);
    }
    for (int i = 0; i < writers; i++) {
        pthread_join(t[i], NULL);
        total += a[i].appends;
    }
    rate = (double)total / DURABLE_SECONDS;
    printf("durable %3d appender%s  %9.0f appends/s (each fsynced)", writers,
           writers == 1 ? " " : "s", rate);
    if (single > 0)
        printf("  x%.1f vs 1 appender", rate / single);
    printf("\n");
    partition_close(p);
    free(t);
    free(a);
    return rate;
}

static void bench_read(void)
{
    uint8_t *values;
    struct record *recs = make_records(100, 1024, &values);
    struct partition *p = open_partition("read", false);
    struct buf b = BUF_INIT;
    int64_t base, next = 0, hw, count = 0;
    size_t bytes = 0;
    double t0, t;

    for (int i = 0; i < 1000; i++) /* 100k records, ~100 MB */
        partition_append_records(p, recs, 100, &base);
    hw = partition_high_watermark(p);
    t0 = now_s();
    while (next < hw) {
        size_t at = 0;

        buf_reset(&b);
        if (partition_read(p, next, 1 << 20, &b) <= 0) {
            fprintf(stderr, "bench: read failed\n");
            exit(1);
        }
        bytes += b.len;
        while (at < b.len) {
            struct record_batch_header h;
            struct record_iter it;
            struct record r;

            if (record_batch_check((uint8_t *)b.data + at, b.len - at, &h)) {
                fprintf(stderr, "bench: bad batch\n");
                exit(1);
            }
            record_iter_init(&it, (uint8_t *)b.data + at, &h);
            while (record_iter_next(&it, &r) == 1)
                if (r.offset >= next)
                    count++;
            at += record_batch_total(&h);
        }
        next = count; /* offsets start at 0: the next is the count so far */
    }
    t = now_s() - t0;
    printf("read    1024 B records, page cache  %11.0f rec/s  %8.1f MB/s "
           "(CRC-checked and decoded)\n",
           (double)count / t, (double)bytes / t / 1e6);
    partition_close(p);
    buf_release(&b);
    free(recs);
    free(values);
}

int main(int argc, char **argv)
{
    double single;
    const size_t batches[] = {1, 100, 1000};
    struct rusage ru;

    snprintf(root, sizeof(root), "%s", argc > 1 ? argv[1] : "build/bench-data");
    io_remove_tree(root);
    if (io_mkdir_synced(root)) {
        fprintf(stderr, "bench: cannot create %s\n", root);
        return 1;
    }
    printf("rill storage benchmark (data in %s)\n", root);
    printf("(MB/s of log; in brackets the ratio to raw write() of the same bytes in the "
           "same chunks; best of 3 rounds)\n");
    for (size_t i = 0; i < 3; i++)
        bench_append(100, batches[i]);
    for (size_t i = 0; i < 3; i++)
        bench_append(1024, batches[i]);
    single = bench_durable(1, 0);
    bench_durable(8, single);
    bench_durable(64, single);
    bench_read();
    getrusage(RUSAGE_SELF, &ru);
    printf("memory  max RSS %.1f MB\n", (double)ru.ru_maxrss / 1024.0);
    io_remove_tree(root);
    return 0;
}
