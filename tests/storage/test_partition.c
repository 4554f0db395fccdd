/* tests/storage/test_partition.c: tests for storage/partition.c and storage/segment.c:
 * append and read, index and time lookups across segments, recovery of torn tails,
 * rebuilt indexes, the recovery point. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "storage/partition.h"
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
    partition_close(part);
    part = NULL;
    tmpdir_remove(dir);
}

TestSuite(partition, .init = setup, .fini = teardown, .timeout = 60);

static void open_part(uint64_t segment_bytes)
{
    struct partition_config c = logtest_config(segment_bytes, true);

    cr_assert(eq(int, partition_open(&part, dir, 0, &c), 0));
}

static void reopen(uint64_t segment_bytes)
{
    partition_close(part);
    part = NULL;
    open_part(segment_bytes);
}

static char *path_of(const char *name)
{
    static char p[512];

    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return p;
}

/* Appends 'batches' batches of 3 records of 100 bytes; timestamps 1000 + 10*offset. */
static int64_t fill(int batches)
{
    int64_t next = 0;

    for (int i = 0; i < batches; i++) {
        cr_assert(eq(int, logtest_append(part, next, 3, 100, 1000 + 10 * next), 0));
        next += 3;
    }
    return next;
}

/* Every offset below 'end' reads back with the value it was written with. */
static void check_all(int64_t end)
{
    char got[256], want[256];

    cr_assert(eq(i64, partition_high_watermark(part), end));
    for (int64_t off = 0; off < end; off++) {
        int64_t first = off - off % 3, ts;

        cr_assert(eq(int, logtest_read(part, off, got, sizeof(got), &ts), 0),
                  "offset %lld", (long long)off);
        logtest_value(want, sizeof(want), first, (size_t)(off - first), 100);
        cr_assert(eq(str, got, want), "offset %lld", (long long)off);
    }
}

Test(partition, new_partition_is_empty_at_offset_zero)
{
    struct buf b = BUF_INIT;

    open_part(1 << 30);
    cr_assert(eq(i64, partition_log_start(part), 0));
    cr_assert(eq(i64, partition_high_watermark(part), 0));
    cr_assert(eq(int, partition_read(part, 0, 1024, &b), 0));
    cr_assert(eq(int, partition_read(part, 1, 1024, &b), -ERANGE));
    cr_assert(eq(int, partition_read(part, -1, 1024, &b), -ERANGE));
    buf_release(&b);
}

Test(partition, appends_get_dense_offsets_and_read_back)
{
    open_part(1 << 30);
    check_all(fill(50));
}

Test(partition, every_offset_is_found_across_several_segments)
{
    struct segment_list *l;
    int64_t end;

    open_part(16 * 1024);
    end = fill(300);
    l = partition_segments(part);
    cr_assert(ge(sz, l->n, (5) + 1), "segments: %zu", l->n);
    for (size_t i = 1; i < l->n; i++)
        cr_assert(eq(i64, l->segs[i]->base_offset, segment_next_offset(l->segs[i - 1])));
    for (size_t i = 0; i < l->n; i++)
        cr_assert(ge(u32, atomic_load(&l->segs[i]->index_entries), (0) + 1));
    segment_list_put(l);
    check_all(end);
    reopen(16 * 1024);
    check_all(end);
}

Test(partition, read_respects_max_bytes_but_gives_at_least_one_batch)
{
    struct buf b = BUF_INIT;

    open_part(1 << 30);
    fill(20);
    cr_assert(eq(int, partition_read(part, 4, 1, &b), 1));
    size_t batch = b.len; /* all batches here have the same size */
    buf_reset(&b);
    cr_assert(eq(int, partition_read(part, 0, 2000, &b), (int)(2000 / batch)));
    cr_assert(eq(sz, b.len, 2000 / batch * batch));
    buf_release(&b);
}

Test(partition, time_lookup_finds_first_offset_at_or_after)
{
    int64_t end, off;

    open_part(16 * 1024);
    end = fill(300);
    for (int64_t k = 0; k < end; k += 7) {
        cr_assert(eq(int, partition_offset_for_time(part, 1000 + 10 * k, &off), 0));
        cr_assert(eq(i64, off, k));
        cr_assert(eq(int, partition_offset_for_time(part, 1000 + 10 * k - 5, &off), 0));
        cr_assert(eq(i64, off, k));
    }
    cr_assert(eq(int, partition_offset_for_time(part, 0, &off), 0));
    cr_assert(eq(i64, off, 0));
    cr_assert(eq(int, partition_offset_for_time(part, 1000 + 10 * end, &off), 0));
    cr_assert(eq(i64, off, end), "past the last record: the high watermark");
}

Test(partition, time_lookup_with_timestamps_out_of_order)
{
    int64_t off;

    open_part(1 << 30);
    cr_assert(eq(int, logtest_append(part, 0, 1, 10, 5000), 0));
    cr_assert(eq(int, logtest_append(part, 1, 1, 10, 3000), 0));
    cr_assert(eq(int, logtest_append(part, 2, 1, 10, 7000), 0));
    cr_assert(eq(int, partition_offset_for_time(part, 4000, &off), 0));
    cr_assert(eq(i64, off, 0), "offset 0 has 5000 >= 4000");
    cr_assert(eq(int, partition_offset_for_time(part, 6000, &off), 0));
    cr_assert(eq(i64, off, 2));
}

/* Cuts the active .log at every byte inside the last batch: recovery must end the log
 * at the previous batch, with the same indexes as if the last batch never came. */
Test(partition, recovery_cuts_a_torn_last_batch_at_every_byte)
{
    char *log = xstrdup(path_of("00000000000000000000.log"));
    uint8_t *full, *ix_before, *tx_before, *again;
    size_t full_len, ix_len, tx_len, again_len;
    int64_t end;
    off_t last_start;

    open_part(1 << 30);
    end = fill(40);
    /* Indexes as they stand before the last batch. */
    reopen(1 << 30);
    {
        struct segment_list *l = partition_segments(part);
        uint64_t pos;
        cr_assert(eq(int, segment_find(l->segs[0], end - 1, &pos), 0));
        last_start = (off_t)pos;
        segment_list_put(l);
    }
    partition_close(part);
    part = NULL;
    cr_assert(eq(int, logtest_file_bytes(log, &full, &full_len), 0));
    /* The reference: the same log without its last batch, indexes rebuilt. */
    cr_assert(eq(int, truncate(log, last_start), 0));
    unlink(path_of("recovery-checkpoint"));
    open_part(1 << 30);
    check_all(end - 3);
    partition_close(part);
    part = NULL;
    cr_assert(eq(int, logtest_file_bytes(path_of("00000000000000000000.index"), &ix_before,
                                         &ix_len), 0));
    cr_assert(eq(int, logtest_file_bytes(path_of("00000000000000000000.timeindex"),
                                         &tx_before, &tx_len), 0));
    cr_assert(ge(sz, ix_len, (0) + 1), "the test needs index entries");

    for (off_t cut = last_start; cut < (off_t)full_len; cut++) {
        uint8_t *ix, *tx;
        size_t il, tl;

        cr_assert(eq(int, logtest_write_file(log, full, (size_t)cut), 0));
        unlink(path_of("recovery-checkpoint"));
        open_part(1 << 30);
        cr_assert(eq(i64, partition_high_watermark(part), end - 3), "cut at %lld",
                  (long long)cut);
        partition_close(part);
        part = NULL;
        cr_assert(eq(int, logtest_file_bytes(path_of("00000000000000000000.index"), &ix,
                                             &il), 0));
        cr_assert(eq(int, logtest_file_bytes(path_of("00000000000000000000.timeindex"),
                                             &tx, &tl), 0));
        cr_assert(eq(sz, il, ix_len));
        cr_assert(eq(int, memcmp(ix, ix_before, il), 0), "index differs, cut %lld",
                  (long long)cut);
        cr_assert(eq(sz, tl, tx_len));
        cr_assert(eq(int, memcmp(tx, tx_before, tl), 0));
        free(ix);
        free(tx);
    }
    /* The last cut once more: reopening twice (clean, then as after a crash) gives the
     * same bytes, and the reads are right. */
    open_part(1 << 30);
    check_all(end - 3);
    partition_close(part);
    part = NULL;
    unlink(path_of("recovery-checkpoint"));
    open_part(1 << 30);
    check_all(end - 3);
    partition_close(part);
    part = NULL;
    cr_assert(eq(int, logtest_file_bytes(log, &again, &again_len), 0));
    cr_assert(eq(sz, again_len, (size_t)last_start));
    cr_assert(eq(int, memcmp(again, full, again_len), 0));
    /* Appends after recovery continue at the cut. */
    open_part(1 << 30);
    cr_assert(eq(int, logtest_append(part, end - 3, 3, 100, 1000 + 10 * (end - 3)), 0));
    check_all(end);
    free(full);
    free(again);
    free(ix_before);
    free(tx_before);
    free(log);
}

Test(partition, garbage_after_the_last_batch_is_cut)
{
    char *log = path_of("00000000000000000000.log");
    FILE *f;

    open_part(1 << 30);
    fill(10);
    partition_close(part);
    part = NULL;
    f = fopen(log, "ab");
    cr_assert(not(eq(ptr, f, NULL)));
    for (int i = 0; i < 1000; i++)
        fputc(i * 7 + 3, f);
    fclose(f);
    unlink(path_of("recovery-checkpoint"));
    open_part(1 << 30);
    check_all(30);
    cr_assert(eq(int, logtest_append(part, 30, 3, 100, 1300), 0));
    check_all(33);
}

Test(partition, deleted_index_is_rebuilt_from_the_log)
{
    uint8_t *ix_want, *tx_want, *ix_got, *tx_got;
    size_t iw, tw, ig, tg;
    int64_t end;

    open_part(1 << 30);
    end = fill(60);
    partition_close(part);
    part = NULL;
    cr_assert(eq(int, logtest_file_bytes(path_of("00000000000000000000.index"), &ix_want,
                                         &iw), 0));
    cr_assert(eq(int, logtest_file_bytes(path_of("00000000000000000000.timeindex"),
                                         &tx_want, &tw), 0));
    cr_assert(ge(sz, iw, (8) + 1));
    unlink(path_of("00000000000000000000.index"));
    unlink(path_of("00000000000000000000.timeindex"));
    open_part(1 << 30);
    check_all(end);
    partition_close(part);
    part = NULL;
    cr_assert(eq(int, logtest_file_bytes(path_of("00000000000000000000.index"), &ix_got,
                                         &ig), 0));
    cr_assert(eq(int, logtest_file_bytes(path_of("00000000000000000000.timeindex"),
                                         &tx_got, &tg), 0));
    cr_assert(eq(sz, ig, iw));
    cr_assert(eq(int, memcmp(ix_got, ix_want, iw), 0));
    cr_assert(eq(sz, tg, tw));
    cr_assert(eq(int, memcmp(tx_got, tx_want, tw), 0));
    free(ix_want);
    free(tx_want);
    free(ix_got);
    free(tx_got);
}

Test(partition, garbage_index_in_a_closed_segment_is_rebuilt)
{
    uint8_t *ix_want, *ix_got, *junk;
    size_t iw, ig;
    int64_t end, off;

    open_part(16 * 1024);
    end = fill(120);
    partition_close(part);
    part = NULL;
    cr_assert(eq(int, logtest_file_bytes(path_of("00000000000000000000.index"), &ix_want,
                                         &iw), 0));
    junk = malloc(iw);
    srand(7);
    for (size_t i = 0; i < iw; i++)
        junk[i] = (uint8_t)rand();
    cr_assert(eq(int, logtest_write_file(path_of("00000000000000000000.index"), junk, iw),
                 0));
    cr_assert(eq(int, logtest_write_file(path_of("00000000000000000000.timeindex"), junk,
                                         iw - iw % 12), 0));
    open_part(16 * 1024);
    check_all(end);
    cr_assert(eq(int, partition_offset_for_time(part, 1000 + 10 * 5, &off), 0));
    cr_assert(eq(i64, off, 5));
    partition_close(part);
    part = NULL;
    cr_assert(eq(int, logtest_file_bytes(path_of("00000000000000000000.index"), &ix_got,
                                         &ig), 0));
    cr_assert(eq(sz, ig, iw));
    cr_assert(eq(int, memcmp(ix_got, ix_want, iw), 0));
    free(ix_want);
    free(ix_got);
    free(junk);
}

Test(partition, corruption_in_a_closed_segment_is_reported_not_served)
{
    char *log = path_of("00000000000000000000.log");
    uint8_t *bytes;
    size_t len;
    int64_t end;
    char v[256];

    open_part(16 * 1024);
    end = fill(120);
    partition_close(part);
    part = NULL;
    cr_assert(eq(int, logtest_file_bytes(log, &bytes, &len), 0));
    bytes[len / 2] ^= 0x40; /* a bit flip in the middle of the first segment */
    cr_assert(eq(int, logtest_write_file(log, bytes, len), 0));
    free(bytes);
    unlink(path_of("00000000000000000000.index")); /* forces a scan at open */
    open_part(16 * 1024);
    cr_assert(eq(int, partition_error(part), -EBADMSG));
    cr_assert(lt(i64, partition_high_watermark(part), end));
    cr_assert(eq(int, logtest_read(part, 0, v, sizeof(v), NULL), 0), "before it: served");
    cr_assert(eq(int, logtest_append(part, partition_high_watermark(part), 1, 10, 0), -EROFS));
}

Test(partition, a_flipped_bit_is_refused_at_read_time)
{
    char *log = path_of("00000000000000000000.log");
    uint8_t *bytes;
    size_t len;
    char v[256];

    open_part(1 << 30);
    fill(20);
    partition_close(part);
    part = NULL;
    open_part(1 << 30); /* clean: nothing is scanned at open */
    cr_assert(eq(int, logtest_file_bytes(log, &bytes, &len), 0));
    bytes[100] ^= 0x01; /* inside the first batch's records */
    cr_assert(eq(int, logtest_write_file(log, bytes, len), 0));
    free(bytes);
    cr_assert(eq(int, logtest_read(part, 0, v, sizeof(v), NULL), -EBADMSG));
}

Test(partition, segments_roll_and_survive_reopen)
{
    struct segment_list *l;
    int64_t end;

    open_part(4096);
    end = fill(100);
    l = partition_segments(part);
    for (size_t i = 0; i + 1 < l->n; i++)
        cr_assert(le(u64, segment_size(l->segs[i]), 4096));
    segment_list_put(l);
    reopen(4096);
    check_all(end);
    cr_assert(eq(int, logtest_append(part, end, 3, 100, 0), 0));
    check_all(end + 3);
}

Test(partition, batch_larger_than_segment_bytes_is_refused)
{
    open_part(1024);
    cr_assert(eq(int, logtest_append(part, 0, 20, 100, 0), -EMSGSIZE));
    cr_assert(eq(i64, partition_high_watermark(part), 0));
}

Test(partition, interval_policy_publishes_at_write_and_syncs_when_due)
{
    struct partition_config c = logtest_config(1 << 30, false);

    c.flush_ms = 1;
    cr_assert(eq(int, partition_open(&part, dir, 0, &c), 0));
    cr_assert(eq(int, logtest_append(part, 0, 3, 10, 0), 0));
    cr_assert(eq(i64, partition_high_watermark(part), 3));
    cr_assert(eq(int, partition_flush_if_due(part, INT64_MAX / 2), 0));
    pthread_mutex_lock(&part->sync_lock);
    cr_assert(eq(i64, part->durable, 3));
    pthread_mutex_unlock(&part->sync_lock);
}

Test(partition, segment_ms_rolls_an_old_segment)
{
    struct partition_config c = logtest_config(1 << 30, true);
    struct timespec pause = {0, 5 * 1000000};
    struct segment_list *l;

    c.segment_ms = 1;
    cr_assert(eq(int, partition_open(&part, dir, 0, &c), 0));
    cr_assert(eq(int, logtest_append(part, 0, 3, 100, 1000), 0));
    nanosleep(&pause, NULL); /* the segment is now older than segment.ms */
    cr_assert(eq(int, logtest_append(part, 3, 3, 100, 1030), 0));
    l = partition_segments(part);
    cr_assert(eq(sz, l->n, 2));
    cr_assert(eq(i64, l->segs[1]->base_offset, 3));
    segment_list_put(l);
    check_all(6);
}

/* ---- the recovery point ---- */

static size_t nsegments(void)
{
    struct segment_list *l = partition_segments(part);
    size_t n = l->n;

    segment_list_put(l);
    return n;
}

/* The base offset of segment i (negative: from the end). */
static int64_t segment_base(long i)
{
    struct segment_list *l = partition_segments(part);
    int64_t base = l->segs[i < 0 ? (long)l->n + i : i]->base_offset;

    segment_list_put(l);
    return base;
}

static char *log_of(int64_t base)
{
    static char name[64];

    snprintf(name, sizeof(name), "%020lld.log", (long long)base);
    return path_of(name);
}

/* The offset in 'recovery-point'; -1 without the file. */
static int64_t recovery_point(void)
{
    long long v;
    FILE *f = fopen(path_of("recovery-point"), "r");

    if (!f)
        return -1;
    cr_assert(eq(int, fscanf(f, "rill-recovery-point 1\n%lld", &v), 1));
    fclose(f);
    return v;
}

/* Replaces 'recovery-point' with 'text', or removes it (NULL). */
static void put_recovery_point(const char *text)
{
    unlink(path_of("recovery-point"));
    if (text) {
        int r = logtest_write_file(path_of("recovery-point"), text, strlen(text));
        cr_assert(eq(int, r, 0));
    }
}

/* Every offset from 'from' to 'end' reads back (the log may start after 0). */
static void check_range(int64_t from, int64_t end)
{
    char got[256], want[256];

    cr_assert(eq(i64, partition_high_watermark(part), end));
    for (int64_t off = from; off < end; off++) {
        int64_t first = off - off % 3;

        cr_assert(eq(int, logtest_read(part, off, got, sizeof(got), NULL), 0));
        logtest_value(want, sizeof(want), first, (size_t)(off - first), 100);
        cr_assert(eq(str, got, want), "offset %lld", (long long)off);
    }
}

Test(partition, the_flush_after_a_roll_writes_the_recovery_point_once)
{
    struct partition_config c = logtest_config(4096, false); /* we flush by hand */
    int64_t off = 0;

    cr_assert(eq(int, partition_open(&part, dir, 0, &c), 0));
    while (nsegments() < 2) {
        cr_assert(eq(int, logtest_append(part, off, 3, 100, 0), 0));
        off += 3;
    }
    cr_assert(eq(i64, recovery_point(), -1), "a roll writes nothing");
    cr_assert(eq(int, partition_flush(part, off), 0));
    cr_assert(eq(i64, recovery_point(), segment_base(-1)));
    /* More in the same segment, another flush: the file is not written again. */
    put_recovery_point(NULL);
    cr_assert(eq(int, logtest_append(part, off, 3, 100, 0), 0));
    off += 3;
    cr_assert(eq(int, partition_flush(part, off), 0));
    cr_assert(eq(i64, recovery_point(), -1));
    while (nsegments() < 4) {
        cr_assert(eq(int, logtest_append(part, off, 3, 100, 0), 0));
        off += 3;
    }
    cr_assert(eq(int, partition_flush(part, off), 0));
    cr_assert(eq(i64, recovery_point(), segment_base(-1)));
    check_all(off);
}

Test(partition, the_recovery_point_survives_reopen_and_a_clean_close_sets_it)
{
    int64_t end, active;

    open_part(4096);
    end = fill(40);
    active = segment_base(-1);
    cr_assert(ge(i64, active, (0) + 1));
    cr_assert(eq(i64, recovery_point(), active));
    reopen(4096);
    cr_assert(eq(i64, recovery_point(), active));
    partition_abandon(part); /* a crash */
    part = NULL;
    open_part(4096);
    cr_assert(eq(i64, recovery_point(), active));
    check_all(end);
    /* A data directory from before recovery points: a clean open writes it. */
    partition_close(part);
    part = NULL;
    put_recovery_point(NULL);
    open_part(4096);
    cr_assert(eq(i64, recovery_point(), active));
    check_all(end);
}

/* Arrays, not pointers: criterion copies parameters into a new process image. */
struct rp_text {
    bool missing; /* no file at all */
    char text[64];
};

ParameterizedTestParameters(partition, a_missing_or_malformed_recovery_point_scans_all)
{
    static struct rp_text texts[] = {
        {true, ""},
        {false, ""},
        {false, "garbage"},
        {false, "rill-recovery-point 1\n"},
        {false, "rill-recovery-point 1\n-5\n"},
        {false, "rill-recovery-point 1\n 999\n"},
        {false, "rill-recovery-point 1\n999x\n"},
        {false, "rill-recovery-point 1\n999"},
        {false, "rill-recovery-point 2\n999\n"},
        {false, "rill-recovery-point 1\n99999999999999999999999\n"},
    };
    return cr_make_param_array(struct rp_text, texts, sizeof(texts) / sizeof(texts[0]));
}

/* After a crash a recovery point that cannot be read is 0: every segment is validated,
 * so a closed segment cut by the crash ends the log there and the later segments go;
 * the partition is served, not read-only. */
ParameterizedTest(struct rp_text *t, partition,
                  a_missing_or_malformed_recovery_point_scans_all)
{
    int64_t base1, end1;
    struct stat st;

    open_part(4096);
    fill(40);
    cr_assert(ge(sz, nsegments(), (3) + 1));
    base1 = segment_base(1);
    end1 = segment_base(2);
    partition_abandon(part); /* a crash */
    part = NULL;
    cr_assert(eq(int, stat(log_of(base1), &st), 0));
    /* the last batch torn */
    cr_assert(eq(int, truncate(log_of(base1), st.st_size - 50), 0));
    put_recovery_point(t->missing ? NULL : t->text);
    open_part(4096);
    cr_assert(eq(int, partition_error(part), 0));
    check_all(end1 - 3);
    cr_assert(eq(sz, nsegments(), 2));
    cr_assert(not(eq(int, access(log_of(end1), F_OK), 0)), "later segments are deleted");
    cr_assert(eq(i64, recovery_point(), base1), "and the recovery point is right again");
    cr_assert(eq(int, logtest_append(part, end1 - 3, 3, 100, 1000 + 10 * (end1 - 3)), 0));
    check_all(end1);
}

/* Below the recovery point a segment is known synced: damage there is not a torn write
 * but bit rot, reported and served read-only up to it, and nothing is deleted. */
Test(partition, damage_below_the_recovery_point_is_read_only_after_a_crash)
{
    int64_t base1, end1, end;
    struct stat st;

    open_part(4096);
    end = fill(40);
    base1 = segment_base(1);
    end1 = segment_base(2);
    cr_assert(ge(i64, recovery_point(), (base1) + 1));
    partition_abandon(part);
    part = NULL;
    cr_assert(eq(int, stat(log_of(base1), &st), 0));
    cr_assert(eq(int, truncate(log_of(base1), st.st_size - 50), 0));
    open_part(4096);
    cr_assert(eq(int, partition_error(part), -EBADMSG));
    cr_assert(lt(i64, partition_high_watermark(part), end1));
    cr_assert(ge(i64, partition_high_watermark(part), base1));
    cr_assert(eq(int, access(log_of(end1), F_OK), 0), "nothing deleted");
    cr_assert(eq(int, logtest_append(part, partition_high_watermark(part), 1, 10, 0),
                 -EROFS));
    (void)end;
}

Test(partition, a_flipped_bit_below_the_recovery_point_is_read_only_after_a_crash)
{
    char *log = xstrdup(log_of(0));
    char v[256];
    uint8_t *bytes;
    size_t len;

    open_part(16 * 1024);
    fill(120);
    cr_assert(ge(i64, recovery_point(), (0) + 1));
    partition_abandon(part);
    part = NULL;
    cr_assert(eq(int, logtest_file_bytes(log, &bytes, &len), 0));
    bytes[len / 2] ^= 0x40;
    cr_assert(eq(int, logtest_write_file(log, bytes, len), 0));
    free(bytes);
    unlink(path_of("00000000000000000000.index")); /* forces a scan at open */
    open_part(16 * 1024);
    cr_assert(eq(int, partition_error(part), -EBADMSG));
    cr_assert(eq(int, logtest_read(part, 0, v, sizeof(v), NULL), 0), "before it: served");
    free(log);
}

/* Retention moves the log start past an old recovery point: opening after a crash
 * validates every segment that is left, and serves them. */
Test(partition, a_recovery_point_below_the_log_start_is_harmless)
{
    struct partition_config c = logtest_config(4096, true);
    int64_t end, start;

    cr_assert(eq(int, partition_open(&part, dir, 0, &c), 0));
    end = fill(60);
    c.retention_bytes = 8192;
    partition_set_config(part, &c);
    cr_assert(ge(int, partition_apply_retention(part, 0), (0) + 1));
    start = partition_log_start(part);
    cr_assert(ge(i64, start, (0) + 1));
    cr_assert(ge(i64, recovery_point(), start));
    partition_abandon(part);
    part = NULL;
    put_recovery_point("rill-recovery-point 1\n3\n"); /* older than the retention */
    cr_assert(eq(int, partition_open(&part, dir, 0, &c), 0));
    cr_assert(eq(int, partition_error(part), 0));
    cr_assert(eq(i64, partition_log_start(part), start));
    check_range(start, end);
    cr_assert(eq(i64, recovery_point(), segment_base(-1)));
}

/* Retention never deletes a segment before it is synced: its unlink is not, and a
 * crash could bring it back torn, below segments that were synced. */
Test(partition, retention_waits_for_the_flush_of_a_rolled_segment)
{
    struct partition_config c = logtest_config(4096, false);
    int64_t end;
    size_t n;

    c.retention_bytes = 0;
    cr_assert(eq(int, partition_open(&part, dir, 0, &c), 0));
    end = fill(40);
    n = nsegments();
    cr_assert(ge(sz, n, (3) + 1));
    cr_assert(eq(int, partition_apply_retention(part, 0), 0), "nothing synced yet");
    cr_assert(eq(int, partition_flush(part, end), 0));
    cr_assert(eq(int, partition_apply_retention(part, 0), (int)n - 1));
    cr_assert(eq(sz, nsegments(), 1));
}
