/* tests/storage/test_faults.c: the log engine under injected disk faults (through
 * storage/io.c's table): failed fdatasync, a full disk, short writes, power loss. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <sys/stat.h>

#include "storage/partition.h"
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

Test(faults, eio_on_the_sync_of_a_roll_refuses_the_append)
{
    struct partition_config c = logtest_config(2048, false); /* syncs only at rolls */
    struct faultio_plan plan = {.enospc_after = -1};

    cr_assert(eq(int, partition_open(&part, dir, 0, &c), 0));
    for (int64_t off = 0; off < 9; off += 3)
        cr_assert(eq(int, logtest_append(part, off, 3, 50, 0), 0));
    plan.fail_fdatasync_at = 1;
    faultio_install(&plan);
    int64_t off = 9;
    int r;
    while ((r = logtest_append(part, off, 3, 50, 0)) == 0)
        off += 3; /* the first roll's sync fails */
    cr_assert(eq(int, r, -EROFS));
    cr_assert(eq(i64, partition_high_watermark(part), off));
    check_values(off);
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
