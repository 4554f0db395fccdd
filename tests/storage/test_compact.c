/* tests/storage/test_compact.c: tests for log compaction: storage/compact.c, and
 * partition_compact(), compacted segments and their recovery in storage/partition.c
 * and storage/segment.c, and the store's cleaner (storage/store.c).
 *
 * Each test checks the log against a model: the records appended, and what compaction
 * must leave of them (expect_compacted()). */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "storage/io.h"
#include "storage/partition.h"
#include "storage/record.h"
#include "storage/store.h"
#include "tests/support/faultio.h"
#include "tests/support/logtest.h"
#include "tests/support/tmpdir.h"

/* Strict comparisons are written ge(x, y + 1): criterion 2.4.1's gt() passes when
 * both sides are equal. */
#define T0 1700000000000 /* timestamps of the records: T0 + offset */
#define KEEP 60000       /* delete.retention.ms of most tests */
#define LATER (T0 + 1000000000) /* a 'now' at which every tombstone has expired */

static char dir[256], dir2[256];
static struct partition *part;
static struct store *store;

static void setup(void)
{
    cr_assert(eq(int, tmpdir_make(dir, sizeof(dir)), 0));
    dir2[0] = '\0';
}

static void teardown(void)
{
    faultio_uninstall();
    partition_close(part);
    part = NULL;
    store_close(store);
    store = NULL;
    tmpdir_remove(dir);
    tmpdir_remove(dir2);
}

TestSuite(compact, .init = setup, .fini = teardown, .timeout = 120);

/* ---- helpers ---- */

static void open_at(const char *where, uint64_t segment_bytes, bool always)
{
    struct partition_config c = logtest_config(segment_bytes, always);

    cr_assert(eq(int, partition_open(&part, where, 0, &c), 0));
}

static void open_part(uint64_t segment_bytes)
{
    open_at(dir, segment_bytes, true);
}

static void close_part(void)
{
    partition_close(part);
    part = NULL;
}

/* Reopens as after a crash: no clean-shutdown checkpoint, recovery rules apply. */
static void crash_and_reopen(uint64_t segment_bytes)
{
    partition_abandon(part);
    part = NULL;
    open_part(segment_bytes);
}

static char *path_in(const char *d, const char *name)
{
    static char p[512];

    snprintf(p, sizeof(p), "%s/%s", d, name);
    return p;
}

/* Appends one record as its own batch; returns its offset. */
static int64_t put(const char *key, const char *value, int64_t ts)
{
    struct logtest_kv kv = {key, value, ts};
    int64_t off;

    cr_assert(eq(int, logtest_append_kvs(part, &kv, 1, &off), 0));
    return off;
}

/* Appends 'n' records as one batch, keys key<i % nkeys>, values "v<offset>". */
static void put_batch(size_t n, int nkeys)
{
    int64_t base = partition_high_watermark(part);
    struct logtest_kv *kv = xcalloc(n, sizeof(*kv));
    char (*keys)[16] = xcalloc(n, 16), (*vals)[32] = xcalloc(n, 32);
    int64_t got;

    for (size_t i = 0; i < n; i++) {
        snprintf(keys[i], 16, "key%d", (int)((base + (int64_t)i) % nkeys));
        snprintf(vals[i], 32, "v%lld", (long long)(base + (int64_t)i));
        kv[i] = (struct logtest_kv){keys[i], vals[i], T0 + base + (int64_t)i};
    }
    cr_assert(eq(int, logtest_append_kvs(part, kv, n, &got), 0));
    cr_assert(eq(i64, got, base));
    free(kv);
    free(keys);
    free(vals);
}

static int64_t active_base(void)
{
    struct segment_list *l = partition_segments(part);
    int64_t base = l->segs[l->n - 1]->base_offset;

    segment_list_put(l);
    return base;
}

static size_t segment_count(void)
{
    struct segment_list *l = partition_segments(part);
    size_t n = l->n;

    segment_list_put(l);
    return n;
}

static void snapshot(struct logtest_snap *s)
{
    cr_assert(eq(int, logtest_snapshot(part, s), 0));
}

/* What compacting the records of 'pre' below 'end' at 'now' leaves: the latest record
 * of each key, unless a tombstone older than 'keep'; records without a key; everything
 * from 'end' on. Shallow copies: free only out->recs. */
static void expect_compacted(const struct logtest_snap *pre, int64_t end, int64_t now,
                             int64_t keep, struct logtest_snap *out)
{
    out->recs = xcalloc(pre->n + 1, sizeof(*out->recs));
    out->n = 0;
    for (size_t i = 0; i < pre->n; i++) {
        const struct logtest_rec *r = &pre->recs[i];
        bool stays = true;

        if (r->offset < end && r->key) {
            for (size_t j = i + 1; j < pre->n && pre->recs[j].offset < end && stays; j++)
                if (pre->recs[j].key && !strcmp(pre->recs[j].key, r->key))
                    stays = false;
            if (stays && !r->value && now - r->timestamp > keep)
                stays = false;
        }
        if (stays)
            out->recs[out->n++] = *r;
    }
}

static bool same_records(const struct logtest_rec *a, size_t na,
                         const struct logtest_rec *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (!logtest_rec_equal(&a[i], &b[i]))
            return false;
    return true;
}

static void assert_snap(const struct logtest_snap *got, const struct logtest_snap *want,
                        const char *what)
{
    for (size_t i = 0; i < got->n && i < want->n; i++)
        cr_assert(logtest_rec_equal(&got->recs[i], &want->recs[i]),
                  "%s: record %zu: offset %lld, want %lld", what, i,
                  (long long)got->recs[i].offset, (long long)want->recs[i].offset);
    cr_assert(eq(sz, got->n, want->n), "%s: record count", what);
}

/* The log now reads exactly 'want'. */
static void assert_log(const struct logtest_snap *want, const char *what)
{
    struct logtest_snap got;

    snapshot(&got);
    assert_snap(&got, want, what);
    logtest_snapshot_release(&got);
}

/* The first record that partition_read() gives from 'offset' (skipping those below
 * it, as a reader must): its offset, or -1 if the read gave none. */
static int64_t first_from(int64_t offset)
{
    struct buf b = BUF_INIT;
    int64_t first = -1;
    size_t at = 0;
    int n = partition_read(part, offset, 1, &b);

    cr_assert(ge(int, n, 0), "read at %lld: %d", (long long)offset, n);
    while (first < 0 && at < b.len) {
        struct record_batch_header h;
        struct record_iter it;
        struct record r;

        cr_assert(eq(int, record_batch_check((uint8_t *)b.data + at, b.len - at, &h), 0));
        record_iter_init(&it, (uint8_t *)b.data + at, &h);
        while (first < 0 && record_iter_next(&it, &r) == 1)
            if (r.offset >= offset)
                first = r.offset;
        at += record_batch_total(&h);
    }
    buf_release(&b);
    return first;
}

/* Every offset of the log, kept or removed, reads from the next record of 'want'. */
static void assert_reads_by_offset(const struct logtest_snap *want)
{
    size_t next = 0;

    for (int64_t off = partition_log_start(part); off < partition_high_watermark(part);
         off++) {
        while (next < want->n && want->recs[next].offset < off)
            next++;
        cr_assert(eq(i64, first_from(off), next < want->n ? want->recs[next].offset : -1),
                  "read from offset %lld", (long long)off);
    }
}

/* Fills a log of 'rounds' rounds over 'nkeys' keys, in batches of 3, with segments of
 * 'segment_bytes'. */
static void fill(int rounds, int nkeys, uint64_t segment_bytes)
{
    open_part(segment_bytes);
    for (int i = 0; i < rounds * nkeys / 3; i++)
        put_batch(3, nkeys);
}

/* ---- what stays ---- */

Test(compact, keys_overwritten_many_times_keep_only_their_latest)
{
    struct logtest_snap pre, want;
    int64_t end, hw;
    size_t seen[10] = {0};

    fill(60, 10, 2048);
    hw = partition_high_watermark(part);
    end = active_base();
    cr_assert(ge(sz, segment_count(), 5));
    snapshot(&pre);
    expect_compacted(&pre, end, LATER, KEEP, &want);
    cr_assert(ge(int, partition_compact(part, LATER, KEEP), 1));
    assert_log(&want, "after compaction");
    for (size_t i = 0; i < want.n; i++)
        if (want.recs[i].offset < end)
            seen[want.recs[i].key[3] - '0']++;
    for (int k = 0; k < 10; k++)
        cr_assert(le(sz, seen[k], 1), "key%d appears %zu times below the active segment",
                  k, seen[k]);
    cr_assert(eq(i64, partition_high_watermark(part), hw), "the high watermark stays");
    cr_assert(eq(i64, partition_log_start(part), 0), "the log start stays");
    cr_assert(lt(u64, partition_size_bytes(part), 2048 * 3), "the log shrank");
    free(want.recs);
    logtest_snapshot_release(&pre);
}

/* Offsets partition_for_each() visits from 'from'. */
struct offsets {
    int64_t *v;
    size_t n;
};

static int collect_offset(void *arg, const struct record *r)
{
    struct offsets *o = arg;

    o->v = xrealloc(o->v, (o->n + 1) * sizeof(*o->v));
    o->v[o->n++] = r->offset;
    return 0;
}

Test(compact, survivors_keep_their_offsets_and_any_offset_reads_the_next_survivor)
{
    struct logtest_snap pre, want;

    fill(40, 7, 1024);
    snapshot(&pre);
    expect_compacted(&pre, active_base(), LATER, KEEP, &want);
    cr_assert(ge(int, partition_compact(part, LATER, KEEP), 1));
    assert_log(&want, "after compaction");
    assert_reads_by_offset(&want);
    /* partition_for_each from any offset visits the survivors from there on. */
    for (int64_t from = 0; from < partition_high_watermark(part); from += 3) {
        struct offsets got = {NULL, 0};
        size_t k = 0;

        while (k < want.n && want.recs[k].offset < from)
            k++;
        cr_assert(eq(int, partition_for_each(part, from, collect_offset, &got), 0));
        cr_assert(eq(sz, got.n, want.n - k), "from %lld", (long long)from);
        for (size_t i = 0; i < got.n; i++)
            cr_assert(eq(i64, got.v[i], want.recs[k + i].offset));
        free(got.v);
    }
    free(want.recs);
    logtest_snapshot_release(&pre);
}

Test(compact, a_batch_that_loses_records_keeps_the_rest_with_headers_and_timestamps)
{
    struct record_header h[2] = {
        {(const uint8_t *)"trace", 5, (const uint8_t *)"abc", 3},
        {(const uint8_t *)"empty", 5, NULL, -1},
    };
    struct record recs[5];
    const char *keys[5] = {"a", "b", "a", "c", "b"};
    struct buf b = BUF_INIT;
    struct record_batch_header bh;
    struct record_iter it;
    struct record r;
    int64_t base, offs[5], n = 0;

    open_part(1024);
    memset(recs, 0, sizeof(recs));
    for (int i = 0; i < 5; i++) {
        recs[i].timestamp = T0 + 100 - 7 * i; /* not in order */
        recs[i].key = (const uint8_t *)keys[i];
        recs[i].key_len = 1;
        recs[i].value = (const uint8_t *)"value";
        recs[i].value_len = 5;
        recs[i].headers = h;
        recs[i].header_count = 2;
    }
    cr_assert(eq(int, partition_append_records(part, recs, 5, &base), 0));
    put("a", "last a", T0); /* supersedes the first batch's a, b stays */
    put("b", "last b", T0);
    while (segment_count() < 2)
        put("filler", "x", T0);
    cr_assert(eq(int, partition_compact(part, LATER, KEEP), 1));
    /* Of 0..4 (a b a c b), c at 3 stays alone: a batch of one, its header intact. */
    cr_assert(ge(int, partition_read(part, 0, 1, &b), 1));
    cr_assert(eq(int, record_batch_check((uint8_t *)b.data, b.len, &bh), 0));
    cr_assert(eq(i64, bh.base_offset, 3), "the first survivor's batch");
    record_iter_init(&it, (uint8_t *)b.data, &bh);
    while (record_iter_next(&it, &r) == 1) {
        const uint8_t *cur = r.raw_headers, *end = r.raw_headers + r.raw_headers_len;
        struct record_header got;

        offs[n++] = r.offset;
        cr_assert(eq(i64, r.timestamp, T0 + 100 - 7 * 3));
        cr_assert(eq(int, (int)r.header_count, 2));
        cr_assert(eq(int, record_header_next(&cur, end, &got), 1));
        cr_assert(eq(int, got.value_len, 3));
        cr_assert(eq(int, memcmp(got.value, "abc", 3), 0));
        cr_assert(eq(int, record_header_next(&cur, end, &got), 1));
        cr_assert(eq(int, got.value_len, -1));
    }
    cr_assert(eq(i64, n, 1));
    cr_assert(eq(i64, offs[0], 3));
    buf_release(&b);
}

Test(compact, records_without_a_key_are_kept)
{
    struct logtest_snap s;

    open_part(1024);
    put(NULL, "anonymous 1", T0);
    put("k", "old", T0);
    put(NULL, "anonymous 2", T0);
    put("k", "new", T0);
    while (segment_count() < 2)
        put("filler", "x", T0);
    cr_assert(eq(int, partition_compact(part, LATER, KEEP), 1));
    snapshot(&s);
    cr_assert(eq(i64, s.recs[0].offset, 0));
    cr_assert(eq(str, s.recs[0].value, "anonymous 1"));
    cr_assert(eq(i64, s.recs[1].offset, 2));
    cr_assert(eq(str, s.recs[1].value, "anonymous 2"));
    cr_assert(eq(i64, s.recs[2].offset, 3));
    cr_assert(eq(str, s.recs[2].value, "new"));
    logtest_snapshot_release(&s);
}

/* ---- tombstones ---- */

Test(compact, tombstones_stay_until_delete_retention_ms_has_passed)
{
    struct logtest_snap s;
    int64_t tomb, ts = T0 + 5000;

    open_part(1024);
    put("gone", "v1", T0);
    put("gone", "v2", T0);
    put("stays", "v", T0);
    tomb = put("gone", NULL, ts);
    while (segment_count() < 3)
        put("filler", "x", T0);
    /* Older values of the key go at once; the tombstone stays for KEEP ms. */
    cr_assert(eq(int, partition_compact(part, ts + KEEP, KEEP), 2));
    cr_assert(eq(i64, first_from(0), 2));
    cr_assert(eq(i64, first_from(3), tomb));
    /* Nothing new and no tombstone due: the pass does nothing. */
    cr_assert(eq(int, partition_compact(part, ts + KEEP, KEEP), 0));
    cr_assert(eq(i64, first_from(3), tomb), "exactly KEEP old: still there");
    cr_assert(eq(int, partition_compact(part, ts + KEEP + 1, KEEP), 1));
    cr_assert(ge(i64, first_from(3), (tomb) + 1), "older than KEEP: removed");
    snapshot(&s);
    for (size_t i = 0; i < s.n; i++)
        cr_assert(s.recs[i].key && strcmp(s.recs[i].key, "gone"), "'gone' is gone");
    logtest_snapshot_release(&s);
}

Test(compact, a_tombstone_superseded_by_a_later_value_goes_at_once)
{
    open_part(1024);
    put("k", "v1", T0);
    put("k", NULL, LATER); /* a tombstone that would not expire */
    put("k", "v2", T0);
    while (segment_count() < 2)
        put("filler", "x", T0);
    cr_assert(eq(int, partition_compact(part, T0, KEEP), 1));
    cr_assert(eq(i64, first_from(0), 2));
}

/* Compaction can leave nothing between an offset and the high watermark: when the last
 * closed records were expired tombstones and the active segment is empty. */
Test(compact, a_read_past_the_last_survivor_finds_nothing_below_the_high_watermark)
{
    struct offsets got = {NULL, 0};
    struct buf b = BUF_INIT;
    char name[64];
    int64_t hw, first_tomb;

    open_part(1024);
    put("a", "v", T0);
    first_tomb = put("b", NULL, T0);
    while (segment_count() < 2)
        put("b", NULL, T0);
    hw = active_base();
    put("b", NULL, T0); /* the active segment's first batch, torn by the crash below */
    partition_abandon(part);
    part = NULL;
    snprintf(name, sizeof(name), "%020lld.log", (long long)hw);
    cr_assert(eq(int, truncate(path_in(dir, name), 10), 0));
    open_part(1024);
    cr_assert(eq(i64, partition_high_watermark(part), hw));
    cr_assert(eq(sz, segment_count(), 2), "the active segment is empty");
    cr_assert(eq(int, partition_compact(part, LATER, KEEP), 1));
    cr_assert(eq(i64, first_from(0), 0));
    cr_assert(eq(int, partition_read(part, first_tomb, 1 << 20, &b), 0));
    cr_assert(eq(sz, b.len, 0));
    cr_assert(eq(int, partition_for_each(part, 0, collect_offset, &got), 0));
    cr_assert(eq(sz, got.n, 1), "only offset 0 survives");
    free(got.v);
    buf_release(&b);
}

/* ---- what is never touched ---- */

Test(compact, the_active_segment_is_never_touched)
{
    uint8_t *before, *after;
    size_t before_len, after_len;
    char name[64];

    open_part(1 << 20); /* one segment: the active one */
    for (int i = 0; i < 30; i++)
        put("k", "v", T0);
    cr_assert(eq(int, partition_compact(part, LATER, KEEP), 0));
    cr_assert(eq(i64, first_from(0), 0), "nothing removed");
    close_part();
    fill(30, 3, 1024); /* in the same directory: appends after offset 30 */
    snprintf(name, sizeof(name), "%020lld.log", (long long)active_base());
    cr_assert(eq(int, logtest_file_bytes(path_in(dir, name), &before, &before_len), 0));
    cr_assert(ge(int, partition_compact(part, LATER, KEEP), 1));
    cr_assert(eq(int, logtest_file_bytes(path_in(dir, name), &after, &after_len), 0));
    cr_assert(eq(sz, after_len, before_len));
    cr_assert(eq(int, memcmp(before, after, before_len), 0));
    free(before);
    free(after);
}

Test(compact, segments_not_yet_synced_are_not_compacted)
{
    struct logtest_snap pre;

    open_at(dir, 1024, false); /* flush.policy=interval: nothing synced until a flush */
    for (int i = 0; i < 20; i++)
        put_batch(3, 2);
    cr_assert(ge(sz, segment_count(), 3));
    snapshot(&pre);
    cr_assert(eq(int, partition_compact(part, LATER, KEEP), 0));
    assert_log(&pre, "unsynced segments are left alone");
    cr_assert(eq(int, partition_flush(part, partition_high_watermark(part)), 0));
    cr_assert(ge(int, partition_compact(part, LATER, KEEP), 1));
    logtest_snapshot_release(&pre);
}

/* ---- reopening ---- */

Test(compact, a_reopen_after_compaction_reads_the_same)
{
    struct logtest_snap pre, want;
    int64_t end;

    fill(50, 6, 1024);
    end = active_base();
    snapshot(&pre);
    expect_compacted(&pre, end, LATER, KEEP, &want);
    cr_assert(ge(int, partition_compact(part, LATER, KEEP), 1));
    close_part();
    open_part(1024);
    cr_assert(eq(int, partition_error(part), 0));
    assert_log(&want, "after a clean reopen");
    assert_reads_by_offset(&want);
    crash_and_reopen(1024);
    cr_assert(eq(int, partition_error(part), 0));
    assert_log(&want, "after a crash");
    /* The first pass after open finds nothing more to remove. */
    cr_assert(eq(int, partition_compact(part, LATER, KEEP), 0));
    /* And the log goes on: appends, a roll, another pass. */
    for (int i = 0; i < 20; i++)
        put_batch(3, 6);
    cr_assert(ge(int, partition_compact(part, LATER, KEEP), 1));
    crash_and_reopen(1024);
    cr_assert(eq(int, partition_error(part), 0));
    free(want.recs);
    logtest_snapshot_release(&pre);
    snapshot(&pre);
    expect_compacted(&pre, active_base(), LATER, KEEP, &want);
    assert_log(&want, "after a second pass and a crash");
    free(want.recs);
    logtest_snapshot_release(&pre);
}

Test(compact, time_lookups_skip_the_gaps)
{
    struct logtest_snap want;
    int64_t off;

    fill(30, 5, 1024);
    cr_assert(ge(int, partition_compact(part, LATER, KEEP), 1));
    snapshot(&want);
    for (int64_t k = 0; k < partition_high_watermark(part); k++) {
        size_t i = 0;

        while (i < want.n && want.recs[i].timestamp < T0 + k)
            i++;
        cr_assert(eq(int, partition_offset_for_time(part, T0 + k, &off), 0));
        cr_assert(eq(i64, off, want.recs[i].offset), "timestamp T0 + %lld", (long long)k);
    }
    logtest_snapshot_release(&want);
}

Test(compact, leftover_cleaned_files_are_removed_at_open)
{
    struct logtest_snap pre;
    const char *junk[] = {"00000000000000000000.log.cleaned",
                          "00000000000000000000.index.cleaned", "clean-point.tmp"};
    struct stat st;

    fill(20, 4, 1024);
    snapshot(&pre);
    close_part();
    for (int i = 0; i < 3; i++)
        cr_assert(eq(int, logtest_write_file(path_in(dir, junk[i]), "junk", 4), 0));
    open_part(1024);
    for (int i = 0; i < 3; i++)
        cr_assert(ne(int, stat(path_in(dir, junk[i]), &st), 0), "%s", junk[i]);
    assert_log(&pre, "untouched");
    logtest_snapshot_release(&pre);
}

/* The clean point is what lets recovery accept gaps: without it a compacted segment
 * looks damaged, and damage is served read-only, never cut. (Were the recovery point
 * lost too, every segment would look unsynced, and one that compaction made end early
 * would look cut by a crash: the segments after it would be dropped. Both files are
 * replaced atomically; only a hand or a broken file system loses them.) */
Test(compact, a_lost_clean_point_makes_the_log_read_only_and_cuts_nothing)
{
    struct logtest_snap want;
    uint8_t *before, *after;
    size_t before_len, after_len;
    char name[64];

    fill(40, 4, 1024);
    cr_assert(ge(int, partition_compact(part, LATER, KEEP), 1));
    snapshot(&want);
    snprintf(name, sizeof(name), "%020lld.log", 0LL);
    cr_assert(eq(int, logtest_file_bytes(path_in(dir, name), &before, &before_len), 0));
    cr_assert(eq(int, unlink(path_in(dir, "clean-point")), 0));
    crash_and_reopen(1024);
    cr_assert(eq(int, partition_error(part), -EBADMSG));
    cr_assert(eq(int, logtest_file_bytes(path_in(dir, name), &after, &after_len), 0));
    cr_assert(eq(sz, after_len, before_len), "nothing cut");
    cr_assert(eq(int, partition_compact(part, LATER, KEEP), -EROFS));
    /* Put back, the log reads whole again. */
    partition_abandon(part);
    part = NULL;
    cr_assert(eq(int, logtest_write_file(path_in(dir, "clean-point"),
                                         "rill-clean-point 1\n999999\n", 26), 0));
    open_part(1024);
    cr_assert(eq(int, partition_error(part), 0));
    assert_log(&want, "with the clean point back");
    free(before);
    free(after);
    logtest_snapshot_release(&want);
}

Test(compact, a_malformed_clean_point_reads_every_closed_segment_as_compacted)
{
    struct logtest_snap want;
    int64_t point;

    fill(40, 4, 1024);
    cr_assert(ge(int, partition_compact(part, LATER, KEEP), 1));
    snapshot(&want);
    cr_assert(eq(int, logtest_write_file(path_in(dir, "clean-point"), "rill-cle", 8), 0));
    crash_and_reopen(1024);
    cr_assert(eq(int, partition_error(part), 0));
    assert_log(&want, "after reopen");
    cr_assert(eq(int, partition_read_clean_point(dir, &point), 0), "rewritten");
    cr_assert(eq(i64, point, active_base()));
    logtest_snapshot_release(&want);
}

/* Gaps are accepted only where compaction may have made them. */
Test(compact, a_skipping_base_offset_above_the_clean_point_is_still_damage)
{
    uint8_t *log;
    size_t len;
    struct record_batch_header h;
    size_t at = 0, last = 0;
    char name[64];
    int64_t victim;

    fill(20, 4, 1024);
    cr_assert(ge(int, partition_compact(part, LATER, KEEP), 1));
    victim = active_base();
    while (segment_count() < 4) /* segments past the clean point */
        put_batch(3, 4);
    snprintf(name, sizeof(name), "%020lld.log", (long long)victim);
    crash_and_reopen(1024);
    cr_assert(eq(int, partition_error(part), 0));
    partition_abandon(part);
    part = NULL;
    /* Move the last batch of that closed segment one offset up, as a flipped bit in
     * its baseOffset would (outside the CRC). */
    cr_assert(eq(int, logtest_file_bytes(path_in(dir, name), &log, &len), 0));
    while (at < len) {
        cr_assert(eq(int, record_batch_peek(log + at, len - at, len - at, &h), 0));
        last = at;
        at += record_batch_total(&h);
    }
    record_batch_set_base_offset(log + last, h.base_offset + 1);
    cr_assert(eq(int, logtest_write_file(path_in(dir, name), log, len), 0));
    free(log);
    open_part(1024);
    cr_assert(eq(int, partition_error(part), -EBADMSG));
}

Test(compact, a_torn_write_in_the_active_segment_is_still_cut_after_compaction)
{
    int64_t hw;
    char name[64];
    struct stat st;

    fill(20, 4, 1024);
    cr_assert(ge(int, partition_compact(part, LATER, KEEP), 1));
    hw = partition_high_watermark(part);
    put_batch(3, 4);
    snprintf(name, sizeof(name), "%020lld.log", (long long)active_base());
    cr_assert(eq(int, stat(path_in(dir, name), &st), 0));
    partition_abandon(part);
    part = NULL;
    cr_assert(eq(int, truncate(path_in(dir, name), st.st_size - 5), 0));
    open_part(1024);
    cr_assert(eq(int, partition_error(part), 0));
    cr_assert(eq(i64, partition_high_watermark(part), hw), "the torn batch is cut");
}

/* ---- a crash or a failure at each step ---- */

/* An io table over faultio's that counts the calls that change files (an open that
 * creates or truncates, pwritev, fdatasync, fsync, ftruncate, rename, unlink) and
 * fails with EIO from the Nth on, as if the process had died just before it, or only
 * the Nth ('once': a transient error). */
static const struct io_ops *under;
static _Atomic int steps, fail_at;
static bool fail_once;

static bool step_fails(void)
{
    int n = atomic_fetch_add(&steps, 1) + 1, at = atomic_load(&fail_at);

    if (at && (fail_once ? n == at : n >= at)) {
        errno = EIO;
        return true;
    }
    return false;
}

static int st_open(const char *path, int flags, mode_t mode)
{
    if ((flags & (O_CREAT | O_TRUNC)) && step_fails())
        return -1;
    return under->open(path, flags, mode);
}

static ssize_t st_pwritev(int fd, const struct iovec *iov, int iovcnt, off_t off)
{
    return step_fails() ? -1 : under->pwritev(fd, iov, iovcnt, off);
}

static int st_fdatasync(int fd)
{
    return step_fails() ? -1 : under->fdatasync(fd);
}

static int st_fsync(int fd)
{
    return step_fails() ? -1 : under->fsync(fd);
}

static int st_ftruncate(int fd, off_t len)
{
    return step_fails() ? -1 : under->ftruncate(fd, len);
}

static int st_rename(const char *from, const char *to)
{
    return step_fails() ? -1 : under->rename(from, to);
}

static int st_unlink(const char *path)
{
    return step_fails() ? -1 : under->unlink(path);
}

static int st_close(int fd)
{
    return under->close(fd);
}

static ssize_t st_pread(int fd, void *buf, size_t n, off_t off)
{
    return under->pread(fd, buf, n, off);
}

static int st_mkdir(const char *path, mode_t mode)
{
    return under->mkdir(path, mode);
}

static int st_rmdir(const char *path)
{
    return under->rmdir(path);
}

static const struct io_ops stepped = {
    .open = st_open,
    .close = st_close,
    .pread = st_pread,
    .pwritev = st_pwritev,
    .fdatasync = st_fdatasync,
    .fsync = st_fsync,
    .ftruncate = st_ftruncate,
    .rename = st_rename,
    .unlink = st_unlink,
    .mkdir = st_mkdir,
    .rmdir = st_rmdir,
};

/* Counts steps from now, failing at 'at' (0: never). faultio must be installed. */
static void install_steps(int at, bool once)
{
    under = io_ops;
    atomic_store(&steps, 0);
    atomic_store(&fail_at, at);
    fail_once = once;
    io_set_ops(&stepped);
}

/* A log whose compaction rewrites several segments, empties the first, and removes
 * some records from multi-record batches: keys overwritten in batches of 3, a key
 * deleted by an expired tombstone, records without a key. */
static void build_log(const char *where)
{
    open_at(where, 1024, true);
    for (int i = 0; i < 8; i++)
        put_batch(3, 5);
    for (int round = 0; round < 14; round++) {
        put_batch(3, 5);
        put("gone", round < 13 ? "doomed" : NULL, T0);
        put(NULL, "anonymous", T0 + round);
        put_batch(2, 5);
    }
    cr_assert(ge(sz, segment_count(), 5));
    close_part();
}

static void segment_bases(int64_t **bases, size_t *n)
{
    struct segment_list *l = partition_segments(part);

    *n = l->n;
    *bases = xmalloc(l->n * sizeof(**bases));
    for (size_t i = 0; i < l->n; i++)
        (*bases)[i] = l->segs[i]->base_offset;
    segment_list_put(l);
}

/* The records of 's' in [from, to). */
static struct logtest_snap slice(const struct logtest_snap *s, int64_t from, int64_t to)
{
    struct logtest_snap out = {s->recs, 0};
    size_t i = 0;

    while (i < s->n && s->recs[i].offset < from)
        i++;
    out.recs = s->recs + i;
    while (i + out.n < s->n && s->recs[i + out.n].offset < to)
        out.n++;
    return out;
}

/* Each segment of the log reads as it was before compaction or as after it, whole. */
static void assert_old_or_new(const struct logtest_snap *pre,
                              const struct logtest_snap *post, const int64_t *bases,
                              size_t nb, int step)
{
    struct logtest_snap got;

    cr_assert(eq(int, partition_error(part), 0), "step %d", step);
    cr_assert(eq(i64, partition_log_start(part), 0), "step %d", step);
    cr_assert(eq(i64, partition_high_watermark(part), pre->recs[pre->n - 1].offset + 1),
              "step %d", step);
    snapshot(&got);
    for (size_t i = 0; i < nb; i++) {
        int64_t to = i + 1 < nb ? bases[i + 1] : INT64_MAX;
        struct logtest_snap g = slice(&got, bases[i], to), a = slice(pre, bases[i], to),
                            b = slice(post, bases[i], to);

        cr_assert(same_records(g.recs, g.n, a.recs, a.n) ||
                      same_records(g.recs, g.n, b.recs, b.n),
                  "step %d: segment %lld is neither its old nor its new self (%zu "
                  "records, old %zu, new %zu)",
                  step, (long long)bases[i], g.n, a.n, b.n);
    }
    logtest_snapshot_release(&got);
}

/* Copies the pristine log (in dir2) into a fresh 'dir'. */
static void restore(void)
{
    tmpdir_remove(dir);
    cr_assert(eq(int, mkdir(dir, 0700), 0));
    cr_assert(eq(int, logtest_copy_dir(dir2, dir), 0));
}

/* Compacts a copy of the pristine log with step 'k' failing: returns the steps the
 * pass made. The partition stays open. */
static int compact_failing_at(int k, bool once)
{
    int r;

    restore();
    faultio_install(NULL);
    open_part(1024);
    install_steps(k, once);
    r = partition_compact(part, LATER, KEEP);
    cr_assert(r > 0 || r == -EIO || r == -ENOENT, "step %d: %d", k, r);
    return atomic_load(&steps);
}

/* Builds the pristine log in dir2, and its content before and after compaction. */
static void prepare(struct logtest_snap *pre, struct logtest_snap *post, int64_t **bases,
                    size_t *nb)
{
    cr_assert(eq(int, tmpdir_make(dir2, sizeof(dir2)), 0));
    build_log(dir2);
    restore();
    open_part(1024);
    snapshot(pre);
    segment_bases(bases, nb);
    cr_assert(ge(int, partition_compact(part, LATER, KEEP), 3));
    snapshot(post);
    cr_assert(lt(sz, post->n, pre->n));
    close_part();
}

Test(compact, a_crash_at_any_step_leaves_each_segment_old_or_new)
{
    struct logtest_snap pre, post;
    int64_t *bases;
    size_t nb;
    int k;

    prepare(&pre, &post, &bases, &nb);
    for (k = 1;; k++) {
        int made = compact_failing_at(k, false);

        /* Power loss there: what was not synced is gone, or (odd steps) partly there. */
        faultio_crash(k % 2, (unsigned)k);
        partition_abandon(part);
        part = NULL;
        faultio_uninstall();
        open_part(1024);
        assert_old_or_new(&pre, &post, bases, nb, k);
        /* The next pass finishes the job. */
        cr_assert(ge(int, partition_compact(part, LATER, KEEP), 0));
        assert_log(&post, "the pass after the crash");
        close_part();
        if (made < k)
            break; /* the pass ended before step k: every step had its crash */
    }
    cr_assert(ge(int, k, 31), "steps: %d", k);
    free(bases);
    logtest_snapshot_release(&pre);
    logtest_snapshot_release(&post);
}

Test(compact, a_failure_at_any_step_keeps_serving_and_the_next_pass_completes)
{
    struct logtest_snap pre, post;
    int64_t *bases;
    size_t nb;
    int k;

    prepare(&pre, &post, &bases, &nb);
    for (k = 1;; k++) {
        int made = compact_failing_at(k, true);

        assert_old_or_new(&pre, &post, bases, nb, k);
        cr_assert(ge(int, partition_compact(part, LATER, KEEP), 0));
        assert_log(&post, "the pass after the failure");
        close_part();
        faultio_uninstall();
        open_part(1024);
        assert_log(&post, "after reopen");
        close_part();
        if (made < k)
            break;
    }
    cr_assert(ge(int, k, 31), "steps: %d", k);
    free(bases);
    logtest_snapshot_release(&pre);
    logtest_snapshot_release(&post);
}

/* ---- readers meanwhile ---- */

struct reader {
    _Atomic bool stop;
    _Atomic int64_t uniques; /* records with a key of their own, appended so far */
    int64_t scans;
    char failure[200];
};

struct scan {
    int64_t last, uniques;
};

/* Every record reads "o<its offset>", offsets only increase. */
static int check_record(void *arg, const struct record *r)
{
    struct scan *sc = arg;
    char want[32];

    snprintf(want, sizeof(want), "o%lld", (long long)r->offset);
    if (r->offset <= sc->last)
        return -EPROTO;
    if (r->value_len != (int32_t)strlen(want) || memcmp(r->value, want, strlen(want)))
        return -EILSEQ;
    sc->last = r->offset;
    if (r->key_len > 0 && r->key[0] == 'u')
        sc->uniques++;
    return 0;
}

static void *reader_main(void *arg)
{
    struct reader *rd = arg;

    while (!atomic_load(&rd->stop)) {
        struct scan sc = {-1, 0};
        int64_t want = atomic_load(&rd->uniques);
        int ret = partition_for_each(part, 0, check_record, &sc);

        if (ret) {
            snprintf(rd->failure, sizeof(rd->failure), "scan %lld: %s after offset %lld",
                     (long long)rd->scans, strerror(-ret), (long long)sc.last);
            break;
        }
        /* A record no later one supersedes is never removed: each scan sees them all. */
        if (sc.uniques < want) {
            snprintf(rd->failure, sizeof(rd->failure), "scan %lld: %lld of %lld records "
                     "with a key of their own", (long long)rd->scans,
                     (long long)sc.uniques, (long long)want);
            break;
        }
        rd->scans++;
    }
    return NULL;
}

static void put_own_offset(const char *key)
{
    char value[32];
    int64_t off = partition_high_watermark(part);

    snprintf(value, sizeof(value), "o%lld", (long long)off);
    cr_assert(eq(i64, put(key, value, T0 + off), off));
}

Test(compact, readers_during_compaction_read_every_survivor)
{
    struct reader rd = {0};
    pthread_t th;
    int rewritten = 0;

    open_at(dir, 1024, false); /* appends without a sync each; flushed before passes */
    cr_assert(eq(int, pthread_create(&th, NULL, reader_main, &rd), 0));
    for (int round = 0; round < 150; round++) {
        char key[16];

        for (int i = 0; i < 5; i++) {
            snprintf(key, sizeof(key), "k%d", i % 4);
            put_own_offset(key);
        }
        snprintf(key, sizeof(key), "u%d", round);
        put_own_offset(key);
        atomic_fetch_add(&rd.uniques, 1);
        if (round % 10 == 9) {
            int r;

            cr_assert(eq(int, partition_flush(part, partition_high_watermark(part)), 0));
            r = partition_compact(part, LATER, KEEP);
            cr_assert(ge(int, r, 0));
            rewritten += r;
        }
    }
    atomic_store(&rd.stop, true);
    pthread_join(th, NULL);
    cr_assert(eq(str, rd.failure, ""));
    cr_assert(ge(i64, rd.scans, 1));
    cr_assert(ge(int, rewritten, 11));
}

/* ---- the store ---- */

static void set_config(struct topic_config *c, const char *key, const char *value)
{
    char err[160];

    cr_assert(eq(int, topic_config_set(c, key, value, err, sizeof(err)), 0), "%s", err);
}

static struct topic *create_topic(const char *name, const char *policy)
{
    struct topic_meta m;
    struct topic *t;

    memset(&m, 0, sizeof(m));
    snprintf(m.name, sizeof(m.name), "%s", name);
    m.partitions = 1;
    topic_config_defaults(&m.config);
    set_config(&m.config, "cleanup.policy", policy);
    set_config(&m.config, "segment.bytes", "1024");
    set_config(&m.config, "retention.ms", "1000");
    cr_assert(eq(int, store_create_topic(store, &m, &t), 0));
    return t;
}

/* Old records over 4 keys, until the partition has 4 segments. */
static void fill_topic(struct topic *t)
{
    struct partition *p = topic_partition(t, 0);
    int64_t i = 0;

    for (;;) {
        struct segment_list *l = partition_segments(p);
        size_t n = l->n;
        char key[8], value[16];
        struct logtest_kv kv = {key, value, T0};

        segment_list_put(l);
        if (n >= 4)
            break;
        snprintf(key, sizeof(key), "k%lld", (long long)(i % 4));
        snprintf(value, sizeof(value), "v%lld", (long long)i++);
        cr_assert(eq(int, logtest_append_kvs(p, &kv, 1, NULL), 0));
    }
}

Test(compact, the_store_compacts_compact_topics_and_applies_no_retention_to_them)
{
    struct topic *c, *d;
    uint64_t c_size, d_size;

    cr_assert(eq(int, store_open(&store, dir), 0));
    c = create_topic("state", "compact");
    d = create_topic("events", "delete");
    fill_topic(c);
    fill_topic(d);
    c_size = partition_size_bytes(topic_partition(c, 0));
    d_size = partition_size_bytes(topic_partition(d, 0));
    /* Every record is older than retention.ms: only the delete topic loses segments. */
    cr_assert(eq(int, store_apply_retention(store), 3));
    cr_assert(eq(i64, partition_log_start(topic_partition(c, 0)), 0));
    cr_assert(eq(u64, partition_size_bytes(topic_partition(c, 0)), c_size));
    cr_assert(lt(u64, partition_size_bytes(topic_partition(d, 0)), d_size));
    d_size = partition_size_bytes(topic_partition(d, 0));
    cr_assert(eq(int, store_compact_now(store), 3));
    cr_assert(lt(u64, partition_size_bytes(topic_partition(c, 0)), c_size));
    cr_assert(eq(u64, partition_size_bytes(topic_partition(d, 0)), d_size));
    topic_put(c);
    topic_put(d);
}

Test(compact, the_cleaner_thread_compacts_every_retention_check_ms)
{
    struct topic *c;
    uint64_t size;
    int waited = 0;

    cr_assert(eq(int, store_open(&store, dir), 0));
    c = create_topic("state", "compact");
    fill_topic(c);
    size = partition_size_bytes(topic_partition(c, 0));
    store_set_retention_check_ms(store, 20);
    while (partition_size_bytes(topic_partition(c, 0)) == size && waited++ < 500)
        usleep(10000);
    cr_assert(lt(u64, partition_size_bytes(topic_partition(c, 0)), size));
    topic_put(c);
}
