/* tests/storage/test_group_offsets.c: storage/group_offsets.c: Kafka's key and value
 * formats byte for byte, refusal of damaged ones, and the table over a real store:
 * commits, overwrites, deletes (tombstones), all replayed from __consumer_offsets
 * after a reopen. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "storage/group_offsets.h"
#include "storage/partition.h"
#include "storage/store.h"
#include "storage/topic.h"
#include "storage/topic_config.h"
#include "storage/record.h"
#include "tests/support/tmpdir.h"

static char dir[256];
static struct store *store;
static struct group_offsets *groups;

static void setup(void)
{
    cr_assert(eq(int, tmpdir_make(dir, sizeof(dir)), 0));
    cr_assert(eq(int, store_open(&store, dir), 0));
    cr_assert(eq(int, group_offsets_open(&groups, store, 0), 0));
}

static void teardown(void)
{
    group_offsets_close(groups);
    groups = NULL;
    store_close(store);
    store = NULL;
    tmpdir_remove(dir);
}

/* cr_assert() of a plain condition */
static inline bool holds(bool c) { return c; }

TestSuite(group_offsets, .init = setup, .fini = teardown, .timeout = 30);

static void reopen(void)
{
    group_offsets_close(groups);
    store_close(store);
    cr_assert(eq(int, store_open(&store, dir), 0));
    cr_assert(eq(int, group_offsets_open(&groups, store, 0), 0));
}

static atomic_bool durable;

static void on_durable(struct partition_waiter *w)
{
    (void)w;
    atomic_store(&durable, true);
}

/* Waits (bounded) until the write that listed 'w' is durable. */
static void wait_durable(int r, struct partition_waiter *w)
{
    int64_t deadline = clock_mono_ms() + 10000;

    cr_assert(ge(int, r, 0), "write failed: %d", r);
    while (r == 1 && !atomic_load(&durable) && clock_mono_ms() < deadline) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    cr_assert(holds(r == 0 || atomic_load(&durable)), "never durable");
    partition_unwatch(group_offsets_partition(groups), w);
}

static void commit(const char *group, const char *topic, int32_t partition, int64_t offset)
{
    struct group_offset o = {.topic = (char *)topic, .partition = partition, .offset = offset};
    struct partition_waiter w = {.fire = on_durable};

    atomic_store(&durable, false);
    wait_durable(group_offsets_commit(groups, group, &o, 1, &w), &w);
}

static int64_t committed(const char *group, const char *topic, int32_t partition)
{
    struct group_offset *o;
    size_t n;
    int64_t v = -1;

    if (group_offsets_get(groups, group, &o, &n))
        return -2;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(o[i].topic, topic) && o[i].partition == partition)
            v = o[i].offset;
    group_offsets_free(o, n);
    return v;
}

Test(group_offsets, the_key_is_kafkas_offset_commit_key_v1)
{
    static const uint8_t want[] = {0, 1, 0, 3, 'g', 'r', 'p', 0, 6, 'o', 'r', 'd', 'e', 'r', 's',
                                   0, 0, 0, 7};
    struct buf b = BUF_INIT;
    const char *g, *t;
    size_t gl, tl;
    int32_t p;

    group_key_encode(&b, "grp", "orders", 7);
    cr_assert(eq(sz, b.len, sizeof(want)));
    cr_assert(eq(int, memcmp(b.data, want, sizeof(want)), 0));
    cr_assert(eq(int, group_key_decode((uint8_t *)b.data, b.len, &g, &gl, &t, &tl, &p), 0));
    cr_assert(eq(sz, gl, 3));
    cr_assert(eq(int, memcmp(g, "grp", 3), 0));
    cr_assert(eq(sz, tl, 6));
    cr_assert(eq(i32, p, 7));
    buf_release(&b);
}

Test(group_offsets, the_value_is_kafkas_offset_commit_value_v3)
{
    static const uint8_t want[] = {0, 3,                      /* version */
                                   0, 0, 0, 0, 0, 0, 1, 0,    /* offset 256 */
                                   0xff, 0xff, 0xff, 0xff,    /* leader epoch -1 */
                                   0, 0,                      /* metadata "" */
                                   0, 0, 0x01, 0x9a, 0, 0, 0, 5}; /* commit time */
    struct buf b = BUF_INIT;
    int64_t off, ts;

    group_value_encode(&b, 256, 0x019a00000005LL);
    cr_assert(eq(sz, b.len, sizeof(want)));
    cr_assert(eq(int, memcmp(b.data, want, sizeof(want)), 0));
    cr_assert(eq(int, group_value_decode((uint8_t *)b.data, b.len, &off, &ts), 0));
    cr_assert(eq(i64, off, 256));
    cr_assert(eq(i64, ts, 0x019a00000005LL));
    buf_release(&b);
}

Test(group_offsets, older_value_versions_are_read_too)
{
    /* v1: offset, metadata, commit timestamp, expire timestamp */
    static const uint8_t v1[] = {0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 0, 1, 'm',
                                 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 8};
    /* v0 and v2: offset, metadata, commit timestamp */
    static const uint8_t v2[] = {0, 2, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4};
    int64_t off, ts;

    cr_assert(eq(int, group_value_decode(v1, sizeof(v1), &off, &ts), 0));
    cr_assert(eq(i64, off, 9));
    cr_assert(eq(i64, ts, 4));
    cr_assert(eq(int, group_value_decode(v2, sizeof(v2), &off, &ts), 0));
    cr_assert(eq(i64, off, 9));
}

Test(group_offsets, damaged_keys_and_values_are_refused)
{
    struct buf k = BUF_INIT, v = BUF_INIT;
    const char *g, *t;
    size_t gl, tl;
    int32_t p;
    int64_t off, ts;

    group_key_encode(&k, "grp", "orders", 7);
    group_value_encode(&v, 5, 6);
    for (size_t cut = 0; cut < k.len; cut++)
        cr_assert(eq(int, group_key_decode((uint8_t *)k.data, cut, &g, &gl, &t, &tl, &p),
                     -EBADMSG), "key cut at %zu", cut);
    for (size_t cut = 0; cut < v.len; cut++)
        cr_assert(eq(int, group_value_decode((uint8_t *)v.data, cut, &off, &ts), -EBADMSG),
                  "value cut at %zu", cut);
    buf_addch(&k, 0); /* a trailing byte */
    cr_assert(eq(int, group_key_decode((uint8_t *)k.data, k.len, &g, &gl, &t, &tl, &p),
                 -EBADMSG));
    k.data[0] = 0; k.data[1] = 2; /* a group metadata key, not an offset commit */
    cr_assert(eq(int, group_key_decode((uint8_t *)k.data, k.len - 1, &g, &gl, &t, &tl, &p),
                 -EBADMSG));
    k.data[1] = 1;
    k.data[2] = 0xff; /* a negative string length */
    cr_assert(eq(int, group_key_decode((uint8_t *)k.data, k.len - 1, &g, &gl, &t, &tl, &p),
                 -EBADMSG));
    v.data[2] = (char)0x80; /* a negative offset */
    cr_assert(eq(int, group_value_decode((uint8_t *)v.data, v.len, &off, &ts), -EBADMSG));
    buf_release(&k);
    buf_release(&v);
}

Test(group_offsets, commits_are_kept_latest_wins_and_survive_a_reopen)
{
    commit("billing", "orders", 0, 5);
    commit("billing", "orders", 1, 2);
    commit("billing", "orders", 0, 9);
    commit("audit", "orders", 0, 1);
    cr_assert(eq(i64, committed("billing", "orders", 0), 9));
    reopen();
    cr_assert(eq(i64, committed("billing", "orders", 0), 9));
    cr_assert(eq(i64, committed("billing", "orders", 1), 2));
    cr_assert(eq(i64, committed("audit", "orders", 0), 1));
    {
        size_t n;
        char **names = group_offsets_groups(groups, &n);

        cr_assert(eq(sz, n, 2));
        cr_assert(eq(str, names[0], "audit"));
        cr_assert(eq(str, names[1], "billing"));
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        free(names);
    }
}

Test(group_offsets, offsets_come_sorted_by_topic_and_partition)
{
    struct group_offset *o;
    size_t n;

    commit("g", "zeta", 0, 1);
    commit("g", "alpha", 2, 1);
    commit("g", "alpha", 0, 1);
    commit("g", "alphabet", 0, 1);
    cr_assert(eq(int, group_offsets_get(groups, "g", &o, &n), 0));
    cr_assert(eq(sz, n, 4));
    cr_assert(eq(str, o[0].topic, "alpha"));
    cr_assert(eq(i32, o[0].partition, 0));
    cr_assert(eq(i32, o[1].partition, 2));
    cr_assert(eq(str, o[2].topic, "alphabet"));
    cr_assert(eq(str, o[3].topic, "zeta"));
    group_offsets_free(o, n);
}

Test(group_offsets, a_delete_writes_tombstones_that_a_reopen_honours)
{
    struct partition_waiter w = {.fire = on_durable};

    commit("billing", "orders", 0, 5);
    commit("keep", "orders", 0, 3);
    atomic_store(&durable, false);
    wait_durable(group_offsets_delete(groups, "billing", &w), &w);
    cr_assert(eq(i64, committed("billing", "orders", 0), -2), "gone at once");
    cr_assert(eq(int, group_offsets_delete(groups, "billing", &w), -ENOENT));
    reopen();
    cr_assert(eq(i64, committed("billing", "orders", 0), -2), "and after a reopen");
    cr_assert(eq(i64, committed("keep", "orders", 0), 3));
    commit("billing", "orders", 0, 1); /* the name can be used again */
    reopen();
    cr_assert(eq(i64, committed("billing", "orders", 0), 1));
}

Test(group_offsets, records_that_are_not_offset_commits_are_skipped_at_replay)
{
    struct record r = {0};
    static const uint8_t junk[] = {0, 2, 0, 1, 'x'};
    struct buf k = BUF_INIT, v = BUF_INIT;

    r.key = junk;
    r.key_len = sizeof(junk);
    r.value_len = -1;
    cr_assert(eq(int, group_offsets_replay_record(groups, &r), 0));
    r.key_len = -1;
    cr_assert(eq(int, group_offsets_replay_record(groups, &r), 0));
    group_key_encode(&k, "g", "t", 0);
    buf_addstr(&v, "not a value");
    r.key = (uint8_t *)k.data;
    r.key_len = (int32_t)k.len;
    r.value = (uint8_t *)v.data;
    r.value_len = (int32_t)v.len;
    cr_assert(eq(int, group_offsets_replay_record(groups, &r), 0));
    cr_assert(eq(i64, committed("g", "t", 0), -2), "nothing applied");
    buf_release(&k);
    buf_release(&v);
}

/* __consumer_offsets made beforehand with small segments, so that it rolls often and
 * the cleaner has closed segments to compact. */
static void setup_small_segments(void)
{
    static const char *const config[] = {"cleanup.policy", "compact", "segment.bytes", "1024",
                                         "retention.ms", "-1", NULL};
    struct topic *t;

    cr_assert(eq(int, tmpdir_make(dir, sizeof(dir)), 0));
    cr_assert(eq(int, store_open(&store, dir), 0));
    cr_assert(eq(int, store_internal_topic(store, GROUP_OFFSETS_TOPIC, config, &t), 0));
    topic_put(t);
    cr_assert(eq(int, group_offsets_open(&groups, store, 0), 0));
}

TestSuite(group_offsets_compaction, .init = setup_small_segments, .fini = teardown,
          .timeout = 60);

static int count_record(void *arg, const struct record *r)
{
    (void)r;
    (*(int *)arg)++;
    return 0;
}

static int records_in_log(void)
{
    struct topic *t;
    int n = 0;

    cr_assert(eq(int, store_get_topic(store, GROUP_OFFSETS_TOPIC, &t), 0));
    cr_assert(eq(int, partition_for_each(topic_partition(t, 0), 0, count_record, &n), 0));
    topic_put(t);
    return n;
}

Test(group_offsets_compaction, compaction_keeps_each_keys_latest_commit)
{
    for (int i = 1; i <= 100; i++)
        for (int p = 0; p < 3; p++)
            commit("billing", "orders", p, i * 10 + p);
    commit("gone", "orders", 0, 1);
    {
        struct partition_waiter w = {.fire = on_durable};
        atomic_store(&durable, false);
        wait_durable(group_offsets_delete(groups, "gone", &w), &w);
    }
    cr_assert(eq(int, records_in_log(), 302));
    cr_assert(ge(int, store_compact_now(store), 1), "nothing compacted");
    cr_assert(lt(int, records_in_log(), 302 / 4), "still %d records", records_in_log());
    reopen(); /* the replay of what is left gives the same table */
    for (int p = 0; p < 3; p++)
        cr_assert(eq(i64, committed("billing", "orders", p), 1000 + p));
    cr_assert(eq(i64, committed("gone", "orders", 0), -2), "the tombstone still counts");
}
