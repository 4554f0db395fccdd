/* tests/storage/test_faults.c: the log engine under injected disk faults (through
 * storage/io.c's table): failed fdatasync, a full disk, short writes, power loss (also
 * after rolls that nothing synced yet), and which thread syncs. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>

#include "storage/partition.h"
#include "storage/store.h"
#include "tests/support/faultio.h"
#include "tests/support/logtest.h"
#include "tests/support/tmpdir.h"

static char dir[256];
static struct partition *part;

static void setup(void)
{
    cr_assert(eq(int, tmpdir_make(dir, sizeof(dir)), 0));
}

static void teardown(void)
{
    faultio_uninstall();
    partition_close(part);
    part = NULL;
    tmpdir_remove(dir);
}

TestSuite(faults, .init = setup, .fini = teardown, .timeout = 60);

static void open_part(bool always)
{
    struct partition_config c = logtest_config(1 << 30, always);

    cr_assert(eq(int, partition_open(&part, dir, 0, &c), 0));
}

static void open_seg(uint64_t segment_bytes, bool always)
{
    struct partition_config c = logtest_config(segment_bytes, always);

    cr_assert(eq(int, partition_open(&part, dir, 0, &c), 0));
}

static size_t segment_count(void)
{
    struct segment_list *l = partition_segments(part);
    size_t n = l->n;

    segment_list_put(l);
    return n;
}

/* The .log files in the partition directory. */
static size_t log_files(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t n = 0;

    cr_assert(not(eq(ptr, d, NULL)));
    while ((e = readdir(d)))
        if (strlen(e->d_name) == 24 && !strcmp(e->d_name + 20, ".log"))
            n++;
    closedir(d);
    return n;
}

/* The offset in 'recovery-point', or -1 without the file. */
static int64_t recovery_point_file(void)
{
    char p[512];
    long long v = -1;
    FILE *f;

    snprintf(p, sizeof(p), "%s/recovery-point", dir);
    f = fopen(p, "r");
    if (!f)
        return -1;
    cr_assert(eq(int, fscanf(f, "rill-recovery-point 1\n%lld", &v), 1));
    fclose(f);
    return v;
}

/* Writes one batch like logtest_append(p, first, 3, 50, 0) but only writes it, as a
 * produce does under flush.policy=always: the store's sync thread flushes. */
static int append_unsynced(struct partition *p, int64_t first, int64_t *last)
{
    struct record recs[3];
    char vals[3][64];
    struct buf b = BUF_INIT;
    int64_t base;
    int ret;

    memset(recs, 0, sizeof(recs));
    for (int i = 0; i < 3; i++) {
        logtest_value(vals[i], sizeof(vals[i]), first, (size_t)i, 50);
        recs[i].key = (const uint8_t *)"k";
        recs[i].key_len = 1;
        recs[i].value = (const uint8_t *)vals[i];
        recs[i].value_len = (int32_t)strlen(vals[i]);
        recs[i].timestamp = 10 * i;
    }
    ret = record_batch_encode(&b, recs, 3);
    if (!ret)
        ret = partition_append(p, (uint8_t *)b.data, b.len, &base, last);
    if (!ret && base != first)
        ret = -EPROTO;
    buf_release(&b);
    return ret;
}

static off_t log_size(void)
{
    char p[512];
    struct stat st;

    snprintf(p, sizeof(p), "%s/00000000000000000000.log", dir);
    cr_assert(eq(int, stat(p, &st), 0));
    return st.st_size;
}

static void check_values(int64_t end)
{
    char got[256], want[256];

    for (int64_t off = 0; off < end; off++) {
        int64_t first = off - off % 3;
        cr_assert(eq(int, logtest_read(part, off, got, sizeof(got), NULL), 0));
        logtest_value(want, sizeof(want), first, (size_t)(off - first), 50);
        cr_assert(eq(str, got, want), "offset %lld", (long long)off);
    }
}

Test(faults, eio_on_fdatasync_acknowledges_nothing_and_turns_read_only)
{
    struct faultio_plan plan = {.fail_fdatasync_at = 1, .enospc_after = -1};

    open_part(true);
    faultio_install(&plan);
    cr_assert(eq(int, logtest_append(part, 0, 3, 50, 0), -EIO));
    cr_assert(eq(i64, partition_high_watermark(part), 0), "not durable: not visible");
    cr_assert(eq(int, partition_error(part), -EIO));
    cr_assert(eq(int, logtest_append(part, 3, 3, 50, 0), -EROFS));
    cr_assert(eq(int, faultio_fdatasync_calls(), 1), "fsync is never retried");
    cr_assert(eq(int, partition_flush(part, 3), -EIO));
    cr_assert(eq(int, faultio_fdatasync_calls(), 1));
}

/* A roll syncs nothing; the flush after it syncs the old segment, and when that fails
 * the partition turns read-only and the sync is never tried again. */
Test(faults, eio_on_the_flush_after_a_roll_turns_read_only)
{
    struct faultio_plan plan = {.enospc_after = -1, .fail_fdatasync_at = 1};
    int64_t off;

    faultio_install(&plan);
    open_seg(2048, false);
    for (off = 0; off < 60; off += 3)
        cr_assert(eq(int, logtest_append(part, off, 3, 50, 0), 0));
    cr_assert(ge(sz, segment_count(), (2) + 1));
    cr_assert(eq(int, faultio_fdatasync_calls(), 0), "rolls sync nothing");
    cr_assert(eq(int, partition_flush(part, off), -EIO));
    cr_assert(eq(int, partition_error(part), -EIO));
    cr_assert(eq(int, logtest_append(part, off, 3, 50, 0), -EROFS));
    cr_assert(eq(int, partition_flush(part, off), -EIO));
    cr_assert(eq(int, faultio_fdatasync_calls(), 1), "fsync is never retried");
    check_values(off); /* interval: visible at write, and still served */
}

Test(faults, enospc_mid_write_cuts_back_and_later_appends_are_contiguous)
{
    struct faultio_plan plan = {.enospc_after = -1};
    off_t before;

    open_part(true);
    cr_assert(eq(int, logtest_append(part, 0, 3, 50, 0), 0));
    before = log_size();
    plan.enospc_after = 100; /* half a batch fits, then the disk is full */
    faultio_install(&plan);
    cr_assert(eq(int, logtest_append(part, 3, 3, 50, 0), -ENOSPC));
    cr_assert(eq(i64, log_size(), before), "the partial batch is cut away");
    cr_assert(eq(i64, partition_high_watermark(part), 3));
    cr_assert(eq(int, partition_error(part), 0), "a full disk is not a broken one");
    faultio_uninstall();
    cr_assert(eq(int, logtest_append(part, 3, 3, 50, 0), 0), "same offset: no gap");
    cr_assert(eq(int, logtest_append(part, 6, 3, 50, 0), 0));
    check_values(9);
    partition_close(part);
    part = NULL;
    open_part(true);
    check_values(9);
}

Test(faults, enospc_with_a_failing_cut_back_turns_read_only)
{
    struct faultio_plan plan = {.enospc_after = 10, .fail_ftruncate = EIO};

    open_part(true);
    faultio_install(&plan);
    cr_assert(eq(int, logtest_append(part, 0, 3, 50, 0), -ENOSPC));
    cr_assert(eq(int, partition_error(part), -EIO));
    faultio_uninstall();
    cr_assert(eq(int, logtest_append(part, 0, 3, 50, 0), -EROFS));
}

Test(faults, short_writes_are_continued)
{
    struct faultio_plan plan = {.enospc_after = -1, .short_writes = true};

    open_part(true);
    faultio_install(&plan);
    for (int64_t off = 0; off < 30; off += 3)
        cr_assert(eq(int, logtest_append(part, off, 3, 50, 0), 0));
    check_values(30);
}

/* Power loss after acknowledged and unacknowledged appends: every acknowledged record
 * survives, the log ends on a batch boundary, and appends go on from there. */
Test(faults, power_loss_keeps_every_acknowledged_record)
{
    for (unsigned seed = 1; seed <= 40; seed++) {
        struct faultio_plan plan = {.enospc_after = -1};
        int64_t acked = 0, written;

        faultio_install(&plan);
        open_part(true);
        for (int i = 0; i < 10; i++, acked += 3)
            cr_assert(eq(int, logtest_append(part, acked, 3, 50, 0), 0));
        /* Written, never synced, never acknowledged. */
        written = acked;
        for (int i = 0; i < 5; i++) {
            struct partition_config c = logtest_config(1 << 30, false);
            partition_set_config(part, &c); /* interval: no sync on append */
            cr_assert(eq(int, logtest_append(part, written, 3, 50, 0), 0));
            written += 3;
        }
        faultio_crash(seed % 2 == 0, seed);
        partition_abandon(part);
        part = NULL;
        faultio_uninstall();

        open_part(true);
        int64_t hw = partition_high_watermark(part);
        cr_assert(ge(i64, hw, acked), "seed %u: lost acknowledged data", seed);
        cr_assert(le(i64, hw, written));
        cr_assert(eq(i64, hw % 3, 0), "ends on a batch boundary");
        check_values(hw);
        cr_assert(eq(int, logtest_append(part, hw, 3, 50, 0), 0));
        check_values(hw + 3);
        partition_close(part);
        part = NULL;
        tmpdir_remove(dir);
        cr_assert(eq(int, tmpdir_make(dir, sizeof(dir)), 0));
    }
}

/* Group commit: one fdatasync covers every append written before it. */
Test(faults, one_sync_covers_every_append_before_it)
{
    struct faultio_plan plan = {.enospc_after = -1};
    int64_t base, last;

    open_part(true);
    faultio_install(&plan);
    for (int i = 0; i < 10; i++) {
        struct record r = {.key_len = -1, .value_len = 1, .value = (const uint8_t *)"x"};
        struct buf b = BUF_INIT;
        cr_assert(eq(int, record_batch_encode(&b, &r, 1), 0));
        cr_assert(eq(int, partition_append(part, (uint8_t *)b.data, b.len, &base, &last), 0));
        buf_release(&b);
    }
    cr_assert(eq(i64, partition_high_watermark(part), 0), "nothing durable yet");
    cr_assert(eq(int, partition_flush(part, last + 1), 0));
    cr_assert(eq(int, faultio_fdatasync_calls(), 1));
    cr_assert(eq(i64, partition_high_watermark(part), 10));
    cr_assert(eq(int, partition_flush(part, last + 1), 0));
    cr_assert(eq(int, faultio_fdatasync_calls(), 1), "already durable: no sync");
}

struct appender {
    int failures;
};

static void *append_flush_loop(void *arg)
{
    struct appender *a = arg;

    for (int i = 0; i < 20; i++) {
        struct record r = {.key_len = -1, .value_len = 1, .value = (const uint8_t *)"y"};
        int64_t base;
        if (partition_append_records(part, &r, 1, &base))
            a->failures++;
    }
    return NULL;
}

/* Durable appenders that arrive while a sync runs wait and share the next one. */
Test(faults, concurrent_durable_appenders_share_syncs)
{
    struct faultio_plan plan = {.enospc_after = -1, .slow_fdatasync_ms = 20};
    pthread_t t[8];
    struct appender a[8];

    open_part(true);
    faultio_install(&plan);
    for (int i = 0; i < 8; i++) {
        a[i] = (struct appender){0};
        pthread_create(&t[i], NULL, append_flush_loop, &a[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        cr_assert(eq(int, a[i].failures, 0));
    }
    cr_assert(eq(i64, partition_high_watermark(part), 160));
    cr_assert(lt(int, faultio_fdatasync_calls(), 80), "160 durable appends, %d syncs",
              faultio_fdatasync_calls());
}

static _Atomic int failed_fired;

static void note_fire(struct partition_waiter *w)
{
    (void)w;
    atomic_fetch_add(&failed_fired, 1);
}

Test(faults, a_failed_sync_fires_durable_waiters_with_the_error)
{
    struct faultio_plan plan = {.enospc_after = -1, .fail_fdatasync_at = 1};
    struct record r = {.key_len = -1, .value = (const uint8_t *)"v", .value_len = 1};
    struct partition_waiter w = {.fire = note_fire};
    struct buf b = BUF_INIT;
    int64_t base, last;

    open_part(true);
    faultio_install(&plan);
    cr_assert(eq(int, record_batch_encode(&b, &r, 1), 0));
    cr_assert(eq(int, partition_append(part, (uint8_t *)b.data, b.len, &base, &last), 0));
    w.offset = last + 1;
    partition_watch_durable(part, &w); /* no sync thread here: flushes on the spot */
    cr_assert(eq(int, atomic_load(&failed_fired), 1));
    cr_assert(eq(int, partition_error(part), -EIO));
    cr_assert(eq(i64, partition_high_watermark(part), 0));
    buf_release(&b);
}

struct flush_job {
    int64_t upto;
    int ret;
    int syncs; /* fdatasync and fsync calls on the flushing thread */
};

static void *flush_main(void *arg)
{
    struct flush_job *j = arg;

    j->ret = partition_flush(part, j->upto);
    j->syncs = faultio_thread_sync_calls();
    return NULL;
}

/* The produce path under flush.policy=always: appends that roll only write (no
 * fdatasync, no directory fsync); the flush, on another thread, syncs the rolled
 * segments and the new names, then publishes. */
Test(faults, a_roll_syncs_nothing_on_the_appending_thread)
{
    struct faultio_plan plan = {.enospc_after = -1};
    struct flush_job job = {0};
    struct segment_list *l;
    pthread_t t;
    int64_t off, last;
    char p[512];

    faultio_install(&plan);
    open_seg(2048, true);
    for (off = 0; off < 60; off += 3)
        cr_assert(eq(int, append_unsynced(part, off, &last), 0));
    cr_assert(eq(int, faultio_thread_sync_calls(), 0), "the appending thread synced");
    cr_assert(eq(int, faultio_fdatasync_calls() + faultio_fsync_calls(), 0));
    cr_assert(eq(i64, partition_high_watermark(part), 0), "nothing durable yet");
    l = partition_segments(part);
    cr_assert(ge(sz, l->n, (2) + 1), "the test needs rolls");
    for (size_t i = 0; i < l->n; i++) {
        snprintf(p, sizeof(p), "%s.log", l->segs[i]->path);
        cr_assert(eq(i64, faultio_synced_size(p), 0), "segment %zu synced early", i);
    }
    cr_assert(eq(i64, recovery_point_file(), -1));

    job.upto = last + 1;
    pthread_create(&t, NULL, flush_main, &job);
    pthread_join(t, NULL);
    cr_assert(eq(int, job.ret, 0));
    cr_assert(ge(int, job.syncs, (int)l->n + 1), "every segment and the directory");
    cr_assert(eq(int, faultio_thread_sync_calls(), 0));
    for (size_t i = 0; i < l->n; i++) {
        snprintf(p, sizeof(p), "%s.log", l->segs[i]->path);
        cr_assert(eq(i64, faultio_synced_size(p), (long long)segment_size(l->segs[i])),
                  "segment %zu not synced by the flush", i);
    }
    cr_assert(eq(i64, partition_high_watermark(part), 60));
    cr_assert(eq(i64, recovery_point_file(), l->segs[l->n - 1]->base_offset));
    segment_list_put(l);
    check_values(60);
}

static _Atomic int durable_fired;

static void note_durable(struct partition_waiter *w)
{
    (void)w;
    atomic_fetch_add(&durable_fired, 1);
}

/* The same through the store: its sync thread answers durable waiters, and the thread
 * that appends (an HTTP pool thread in the server) never syncs, rolls included. */
Test(faults, the_store_sync_thread_does_every_sync_of_rolling_durable_appends)
{
    struct faultio_plan plan = {.enospc_after = -1};
    struct partition_waiter w = {.fire = note_durable};
    struct topic_meta m;
    struct segment_list *l;
    struct store *st;
    struct topic *t;
    struct partition *p;
    char err[160];
    int64_t last;
    int before;

    memset(&m, 0, sizeof(m));
    snprintf(m.name, sizeof(m.name), "rolls");
    m.partitions = 1;
    topic_config_defaults(&m.config);
    cr_assert(eq(int, topic_config_set(&m.config, "segment.bytes", "1024", err, 160), 0));
    faultio_install(&plan);
    cr_assert(eq(int, store_open(&st, dir), 0));
    cr_assert(eq(int, store_create_topic(st, &m, &t), 0));
    p = topic_partition(t, 0);
    before = faultio_thread_sync_calls(); /* creating the topic syncs, here */
    for (int64_t off = 0; off < 60; off += 3) {
        cr_assert(eq(int, append_unsynced(p, off, &last), 0));
        atomic_store(&durable_fired, 0);
        w.offset = last + 1;
        if (!partition_watch_durable(p, &w)) {
            for (int i = 0; i < 10000 && !atomic_load(&durable_fired); i++)
                nanosleep(&(struct timespec){0, 1000000}, NULL);
            cr_assert(eq(int, atomic_load(&durable_fired), 1));
        }
        cr_assert(eq(i64, partition_high_watermark(p), last + 1));
    }
    l = partition_segments(p);
    cr_assert(ge(sz, l->n, (3) + 1), "the test needs rolls");
    segment_list_put(l);
    cr_assert(eq(int, faultio_thread_sync_calls(), before), "the appender synced");
    cr_assert(ge(int, faultio_fdatasync_calls(), 20));
    cr_assert(eq(int, partition_error(p), 0));
    topic_put(t);
    store_close(st);
}

/* Everything in every segment of the partition, from offset 0 to 'end', dense, with no
 * .log file left outside the list. */
static void check_segments(int64_t end)
{
    struct segment_list *l = partition_segments(part);

    cr_assert(eq(i64, partition_log_start(part), 0));
    cr_assert(eq(i64, l->segs[0]->base_offset, 0));
    for (size_t i = 1; i < l->n; i++)
        cr_assert(eq(i64, l->segs[i]->base_offset, segment_next_offset(l->segs[i - 1])));
    cr_assert(eq(i64, segment_next_offset(l->segs[l->n - 1]), end));
    cr_assert(eq(sz, log_files(), l->n), "segments past the end of the log are left");
    segment_list_put(l);
}

/* Power loss with several rolls since the last flush: what comes back is a prefix of
 * what was written, with no gap, holding everything a flush covered (all that
 * flush.policy=always acknowledges); the partition is not read-only and goes on. Small
 * segments; torn and whole cuts; half the time new names are lost as well. */
Test(faults, power_loss_after_rolls_recovers_a_prefix_without_gaps, .timeout = 180)
{
    for (unsigned seed = 1; seed <= 60; seed++) {
        struct faultio_plan plan = {.enospc_after = -1,
                                    .lose_unsynced_names = seed % 4 >= 2};
        uint64_t seg = 1024 + 512 * (seed % 3);
        unsigned r = seed;
        int64_t acked = 0, written = 0, last, hw;

        faultio_install(&plan);
        open_seg(seg, true);
        for (int i = rand_r(&r) % 30; i > 0; i--) {
            cr_assert(eq(int, append_unsynced(part, written, &last), 0));
            written += 3;
            if (seed % 5 && rand_r(&r) % 4 == 0) { /* the sync thread's group commit */
                cr_assert(eq(int, partition_flush(part, written), 0));
                acked = written;
            }
        }
        for (int i = 8 + rand_r(&r) % 20; i > 0; i--, written += 3) /* rolls, no flush */
            cr_assert(eq(int, append_unsynced(part, written, &last), 0));
        cr_assert(eq(i64, partition_high_watermark(part), acked));
        faultio_crash(seed % 2 == 0, seed);
        partition_abandon(part);
        part = NULL;
        faultio_uninstall();

        open_seg(seg, true);
        cr_assert(eq(int, partition_error(part), 0), "seed %u: read-only", seed);
        hw = partition_high_watermark(part);
        cr_assert(ge(i64, hw, acked), "seed %u: lost acknowledged data", seed);
        cr_assert(le(i64, hw, written));
        cr_assert(eq(i64, hw % 3, 0), "ends on a batch boundary");
        check_segments(hw);
        check_values(hw);
        cr_assert(eq(int, logtest_append(part, hw, 3, 50, 0), 0), "seed %u", seed);
        partition_close(part);
        part = NULL;
        open_seg(seg, true);
        check_segments(hw + 3);
        check_values(hw + 3);
        partition_close(part);
        part = NULL;
        tmpdir_remove(dir);
        cr_assert(eq(int, tmpdir_make(dir, sizeof(dir)), 0));
    }
}

/* The deterministic case: flushed segments up to the recovery point, then rolls with
 * nothing synced. The segment the last flush covered is cut back to what it synced;
 * the log ends there and the segments after it (empty after the crash) are deleted. */
Test(faults, power_loss_cuts_a_rolled_segment_and_deletes_the_ones_after_it)
{
    struct faultio_plan plan = {.enospc_after = -1};
    int64_t off, last, rp;
    size_t kept;

    faultio_install(&plan);
    open_seg(2048, true);
    for (off = 0; off < 60; off += 3) {
        cr_assert(eq(int, append_unsynced(part, off, &last), 0));
        cr_assert(eq(int, partition_flush(part, last + 1), 0));
    }
    kept = segment_count();
    rp = recovery_point_file();
    cr_assert(ge(sz, kept, (2) + 1));
    cr_assert(ge(i64, rp, (0) + 1));
    for (; off < 150; off += 3)
        cr_assert(eq(int, append_unsynced(part, off, &last), 0));
    cr_assert(ge(sz, segment_count(), (kept + 2) + 1));
    faultio_crash(false, 1);
    partition_abandon(part);
    part = NULL;
    faultio_uninstall();

    open_seg(2048, true);
    cr_assert(eq(int, partition_error(part), 0));
    cr_assert(eq(i64, partition_high_watermark(part), 60));
    cr_assert(eq(sz, segment_count(), kept));
    check_segments(60);
    check_values(60);
    cr_assert(eq(i64, recovery_point_file(), rp), "the active segment is still the same");
    cr_assert(eq(int, logtest_append(part, 60, 3, 50, 0), 0));
    check_values(63);
}
