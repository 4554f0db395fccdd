/* tests/storage/test_concurrency.c: several threads appending and reading one
 * partition at once: offsets stay dense, every record reads back intact, readers
 * never see past the high watermark. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/partition.h"
#include "storage/record.h"
#include "tests/support/logtest.h"
#include "tests/support/tmpdir.h"

#define WRITERS 4
#define READERS 2
#define BATCHES 300

static char dir[256];
static struct partition *part;
static _Atomic bool writers_done;

static void setup(void)
{
    cr_assert(eq(int, tmpdir_make(dir, sizeof(dir)), 0));
}

static void teardown(void)
{
    partition_close(part);
    part = NULL;
    tmpdir_remove(dir);
}

TestSuite(concurrency, .init = setup, .fini = teardown, .timeout = 120);

struct writer {
    int id;
    int failures;
};

/* Each record's value is "w<writer>-<seq>", seq counting up per writer. */
static void *write_loop(void *arg)
{
    struct writer *w = arg;
    int seq = 0;

    for (int b = 0; b < BATCHES; b++) {
        size_t n = 1 + (size_t)(b % 3);
        struct record recs[3];
        char vals[3][32];
        int64_t base;

        memset(recs, 0, sizeof(recs));
        for (size_t i = 0; i < n; i++) {
            snprintf(vals[i], sizeof(vals[i]), "w%d-%d", w->id, seq++);
            recs[i].key_len = -1;
            recs[i].value = (const uint8_t *)vals[i];
            recs[i].value_len = (int32_t)strlen(vals[i]);
            recs[i].timestamp = b;
        }
        if (partition_append_records(part, recs, n, &base))
            w->failures++;
    }
    return NULL;
}

struct reader {
    int64_t reads;
    int errors;
};

static void *read_loop(void *arg)
{
    struct reader *r = arg;

    while (!atomic_load(&writers_done)) {
        int64_t hw = partition_high_watermark(part);
        int64_t n = logtest_read_all(part, 0, NULL, NULL);
        if (n < hw)
            r->errors++; /* a gap, a bad batch, or fewer records than published */
        r->reads++;
    }
    return NULL;
}

struct tally {
    int next_seq[WRITERS];
    int bad;
    int64_t count;
};

static void check_record(void *arg, int64_t offset, const uint8_t *value, int32_t len)
{
    struct tally *t = arg;
    char v[32];
    int w, seq;

    (void)offset;
    snprintf(v, sizeof(v), "%.*s", (int)len, (const char *)value);
    if (sscanf(v, "w%d-%d", &w, &seq) != 2 || w < 0 || w >= WRITERS ||
        seq != t->next_seq[w])
        t->bad++;
    else
        t->next_seq[w]++;
    t->count++;
}

static void run(bool always, uint64_t segment_bytes)
{
    struct partition_config c = logtest_config(segment_bytes, always);
    pthread_t wt[WRITERS], rt[READERS];
    struct writer ws[WRITERS];
    struct reader rs[READERS];
    struct tally t;
    int64_t per_writer = 0;

    for (int b = 0; b < BATCHES; b++)
        per_writer += 1 + b % 3;
    cr_assert(eq(int, partition_open(&part, dir, 0, &c), 0));
    atomic_store(&writers_done, false);
    for (int i = 0; i < READERS; i++) {
        memset(&rs[i], 0, sizeof(rs[i]));
        pthread_create(&rt[i], NULL, read_loop, &rs[i]);
    }
    for (int i = 0; i < WRITERS; i++) {
        ws[i] = (struct writer){.id = i};
        pthread_create(&wt[i], NULL, write_loop, &ws[i]);
    }
    for (int i = 0; i < WRITERS; i++) {
        pthread_join(wt[i], NULL);
        cr_assert(eq(int, ws[i].failures, 0));
    }
    atomic_store(&writers_done, true);
    for (int i = 0; i < READERS; i++) {
        pthread_join(rt[i], NULL);
        cr_assert(eq(int, rs[i].errors, 0), "a reader saw a gap or a bad batch");
        cr_assert(ge(i64, rs[i].reads, (0) + 1));
    }
    if (!always)
        cr_assert(eq(int, partition_flush(part, INT64_MAX), 0));
    cr_assert(eq(i64, partition_high_watermark(part), per_writer * WRITERS));
    memset(&t, 0, sizeof(t));
    cr_assert(eq(i64, logtest_read_all(part, 0, check_record, &t), per_writer * WRITERS));
    cr_assert(eq(int, t.bad, 0), "every record intact, in each writer's order");
    for (int i = 0; i < WRITERS; i++)
        cr_assert(eq(int, t.next_seq[i], (int)per_writer));
}

Test(concurrency, durable_appenders_and_readers)
{
    run(true, 1 << 30);
}

Test(concurrency, interval_appenders_and_readers_across_rolls)
{
    run(false, 8192);
}

Test(concurrency, durable_appenders_and_readers_across_rolls)
{
    run(true, 8192);
}
