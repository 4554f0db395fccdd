/* tests/storage/test_store.c: tests for storage/store.c and storage/topic.c: topics
 * created, listed, described, grown, reconfigured and deleted, across reopens. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/clock.h"
#include "storage/record.h"
#include "storage/store.h"
#include "tests/support/logtest.h"
#include "tests/support/tmpdir.h"

static char dir[256];
static struct store *store;

static void setup(void)
{
    cr_assert(eq(int, tmpdir_make(dir, sizeof(dir)), 0));
    cr_assert(eq(int, store_open(&store, dir), 0));
}

static void teardown(void)
{
    store_close(store);
    store = NULL;
    tmpdir_remove(dir);
}

TestSuite(store, .init = setup, .fini = teardown, .timeout = 30);

static void reopen(void)
{
    store_close(store);
    store = NULL;
    cr_assert(eq(int, store_open(&store, dir), 0));
}

static int create(const char *name, int32_t partitions)
{
    struct topic_meta m;

    memset(&m, 0, sizeof(m));
    snprintf(m.name, sizeof(m.name), "%s", name);
    m.partitions = partitions;
    topic_config_defaults(&m.config);
    return store_create_topic(store, &m, NULL);
}

static bool exists(const char *rel)
{
    char p[512];
    struct stat st;

    snprintf(p, sizeof(p), "%s/%s", dir, rel);
    return stat(p, &st) == 0;
}

Test(store, created_topics_are_listed_in_name_order_and_survive_reopen)
{
    struct topic **list;
    size_t n;

    cr_assert(eq(int, create("orders", 3), 0));
    cr_assert(eq(int, create("audit.log", 1), 0));
    cr_assert(eq(int, create("__consumer_offsets", 2), 0));
    cr_assert(exists("topics/orders/topic.json"));
    cr_assert(exists("topics/orders/2/00000000000000000000.log"));
    reopen();
    cr_assert(eq(int, store_list_topics(store, &list, &n), 0));
    cr_assert(eq(sz, n, 3));
    cr_assert(eq(str, list[0]->name, "__consumer_offsets"));
    cr_assert(eq(str, list[1]->name, "audit.log"));
    cr_assert(eq(str, list[2]->name, "orders"));
    cr_assert(eq(i32, topic_partition_count(list[2]), 3));
    store_free_list(list, n);
}

Test(store, a_second_create_of_one_name_is_eexist)
{
    cr_assert(eq(int, create("orders", 3), 0));
    cr_assert(eq(int, create("orders", 1), -EEXIST));
}

Test(store, bad_names_and_partition_counts_are_refused)
{
    const char *bad[] = {"", ".", "..", "a/b", "a%2Fb", "sp ace", "ü"};
    char longname[251];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert(eq(int, create(bad[i], 1), -EINVAL), "%s", bad[i]);
    /* 250 characters cannot even be put in a topic_meta: test_topic_name covers it. */
    memset(longname, 'a', 249);
    longname[249] = '\0';
    cr_assert(eq(int, create(longname, 1), 0), "249 characters is the limit");
    cr_assert(eq(int, create("zero", 0), -EINVAL));
    cr_assert(eq(int, create("many", 10001), -EINVAL));
}

Test(store, data_written_to_a_topic_survives_reopen)
{
    struct topic *t;
    char v[256];

    cr_assert(eq(int, create("orders", 2), 0));
    cr_assert(eq(int, store_get_topic(store, "orders", &t), 0));
    cr_assert(eq(int, logtest_append(topic_partition(t, 1), 0, 3, 20, 5), 0));
    topic_put(t);
    reopen();
    cr_assert(eq(int, store_get_topic(store, "orders", &t), 0));
    cr_assert(eq(i64, partition_high_watermark(topic_partition(t, 1)), 3));
    cr_assert(eq(i64, partition_high_watermark(topic_partition(t, 0)), 0));
    cr_assert(eq(int, logtest_read(topic_partition(t, 1), 2, v, sizeof(v), NULL), 0));
    cr_assert(eq(ptr, topic_partition(t, 2), NULL));
    cr_assert(eq(ptr, topic_partition(t, -1), NULL));
    topic_put(t);
}

Test(store, partitions_grow_and_never_shrink)
{
    struct topic *t;
    struct topic_meta m;

    cr_assert(eq(int, create("orders", 2), 0));
    cr_assert(eq(int, store_get_topic(store, "orders", &t), 0));
    cr_assert(eq(int, topic_grow(t, 5), 0));
    cr_assert(eq(i32, topic_partition_count(t), 5));
    cr_assert(eq(int, topic_grow(t, 4), -EINVAL));
    cr_assert(eq(int, topic_grow(t, 10001), -EINVAL));
    cr_assert(eq(int, logtest_append(topic_partition(t, 4), 0, 1, 10, 0), 0));
    topic_put(t);
    reopen();
    cr_assert(eq(int, store_get_topic(store, "orders", &t), 0));
    topic_meta_copy(t, &m);
    cr_assert(eq(i32, m.partitions, 5));
    cr_assert(eq(i64, partition_high_watermark(topic_partition(t, 4)), 1));
    topic_put(t);
}

Test(store, config_changes_persist_and_apply)
{
    struct topic *t;
    struct topic_config c;
    struct topic_meta m;
    struct segment_list *l;
    char err[160];

    cr_assert(eq(int, create("orders", 1), 0));
    cr_assert(eq(int, store_get_topic(store, "orders", &t), 0));
    topic_meta_copy(t, &m);
    c = m.config;
    cr_assert(eq(int, topic_config_set(&c, "segment.bytes", "2048", err, sizeof(err)), 0));
    cr_assert(eq(int, topic_config_set(&c, "flush.policy", "interval", err, sizeof(err)), 0));
    cr_assert(eq(int, topic_set_config(t, &c), 0));
    for (int64_t off = 0; off < 60; off += 3)
        cr_assert(eq(int, logtest_append(topic_partition(t, 0), off, 3, 100, 0), 0));
    l = partition_segments(topic_partition(t, 0));
    cr_assert(ge(sz, l->n, (3) + 1), "small segments roll");
    segment_list_put(l);
    topic_put(t);
    reopen();
    cr_assert(eq(int, store_get_topic(store, "orders", &t), 0));
    topic_meta_copy(t, &m);
    cr_assert(eq(i64, m.config.segment_bytes, 2048));
    cr_assert(eq(int, (int)m.config.flush_policy, (int)FLUSH_INTERVAL));
    cr_assert(eq(i64, partition_high_watermark(topic_partition(t, 0)), 60));
    topic_put(t);
}

Test(store, deleted_topic_is_gone_at_once_and_after_reopen)
{
    struct topic *held, *t;

    cr_assert(eq(int, create("orders", 2), 0));
    cr_assert(eq(int, store_get_topic(store, "orders", &held), 0));
    cr_assert(eq(int, store_delete_topic(store, "orders"), 0));
    cr_assert(eq(int, store_get_topic(store, "orders", &t), -ENOENT));
    cr_assert(eq(int, store_delete_topic(store, "orders"), -ENOENT));
    cr_assert(not(exists("topics/orders")));
    /* A reader that held it still has a usable (if orphaned) partition. */
    cr_assert(eq(i64, partition_high_watermark(topic_partition(held, 0)), 0));
    topic_put(held);
    cr_assert(eq(int, create("orders", 1), 0), "the name is free again");
    reopen();
    cr_assert(eq(int, store_get_topic(store, "orders", &t), 0));
    cr_assert(eq(i32, topic_partition_count(t), 1));
    topic_put(t);
}

Test(store, leftovers_of_an_interrupted_create_are_cleaned_at_open)
{
    struct topic **list;
    size_t n;
    char p[512];

    snprintf(p, sizeof(p), "%s/staging/half", dir);
    cr_assert(eq(int, mkdir(p, 0755), 0));
    snprintf(p, sizeof(p), "%s/staging/half/0", dir);
    cr_assert(eq(int, mkdir(p, 0755), 0));
    snprintf(p, sizeof(p), "%s/topics/notjson", dir);
    cr_assert(eq(int, mkdir(p, 0755), 0)); /* a topic directory without topic.json */
    reopen();
    cr_assert(not(exists("staging/half")));
    cr_assert(eq(int, store_list_topics(store, &list, &n), 0));
    cr_assert(eq(sz, n, 0));
    store_free_list(list, n);
}

/* The background flusher syncs flush.policy=interval partitions by itself. */
Test(store, interval_topics_are_synced_by_the_flusher)
{
    struct topic_meta m;
    struct topic *t;
    struct partition *p;
    char err[160];
    bool synced = false;

    memset(&m, 0, sizeof(m));
    snprintf(m.name, sizeof(m.name), "fast");
    m.partitions = 1;
    topic_config_defaults(&m.config);
    cr_assert(eq(int, topic_config_set(&m.config, "flush.policy", "interval", err,
                                       sizeof(err)), 0));
    cr_assert(eq(int, topic_config_set(&m.config, "flush.ms", "10", err, sizeof(err)), 0));
    cr_assert(eq(int, store_create_topic(store, &m, &t), 0));
    p = topic_partition(t, 0);
    cr_assert(eq(int, logtest_append(p, 0, 3, 10, 0), 0));
    cr_assert(eq(i64, partition_high_watermark(p), 3), "visible at once under interval");
    for (int i = 0; i < 1000 && !synced; i++) { /* wait up to ~10 s, no timing asserted */
        struct timespec pause = {0, 10 * 1000000};
        pthread_mutex_lock(&p->sync_lock);
        synced = p->durable == 3;
        pthread_mutex_unlock(&p->sync_lock);
        if (!synced)
            nanosleep(&pause, NULL);
    }
    cr_assert(synced, "the flusher never synced the partition");
    topic_put(t);
}

static _Atomic int fired;

static void count_fire(struct partition_waiter *w)
{
    (void)w;
    atomic_fetch_add(&fired, 1);
}

static bool wait_fired(int n)
{
    for (int i = 0; i < 1000 && atomic_load(&fired) < n; i++) {
        struct timespec pause = {0, 10 * 1000000};
        nanosleep(&pause, NULL);
    }
    return atomic_load(&fired) >= n;
}

Test(store, durable_waiters_fire_after_the_sync_thread_syncs)
{
    struct partition_waiter w[3];
    struct record r = {.key_len = -1, .value = (const uint8_t *)"v", .value_len = 1};
    struct buf b = BUF_INIT;
    struct partition *p;
    struct topic *t;
    int64_t base, last;

    atomic_store(&fired, 0);
    cr_assert(eq(int, create("orders", 1), 0));
    cr_assert(eq(int, store_get_topic(store, "orders", &t), 0));
    p = topic_partition(t, 0);
    for (int i = 0; i < 3; i++) {
        buf_reset(&b);
        cr_assert(eq(int, record_batch_encode(&b, &r, 1), 0));
        cr_assert(eq(int, partition_append(p, (uint8_t *)b.data, b.len, &base, &last), 0));
        w[i] = (struct partition_waiter){.offset = last + 1, .fire = count_fire};
        cr_assert(not(partition_watch_durable(p, &w[i])));
    }
    cr_assert(wait_fired(3), "durable waiters fired: %d", atomic_load(&fired));
    cr_assert(eq(i64, partition_high_watermark(p), 3));
    w[0].offset = 3;
    cr_assert(partition_watch_durable(p, &w[0]), "already durable: true at once");
    buf_release(&b);
    topic_put(t);
}

Test(store, data_waiters_fire_when_records_arrive_and_not_after_unwatch)
{
    struct partition_waiter early = {.offset = 0, .fire = count_fire};
    struct partition_waiter gone = {.offset = 0, .fire = count_fire};
    struct partition_waiter later = {.offset = 5, .fire = count_fire};
    struct partition *p;
    struct topic *t;

    atomic_store(&fired, 0);
    cr_assert(eq(int, create("orders", 1), 0));
    cr_assert(eq(int, store_get_topic(store, "orders", &t), 0));
    p = topic_partition(t, 0);
    cr_assert(not(partition_watch(p, &early)));
    cr_assert(not(partition_watch(p, &gone)));
    cr_assert(not(partition_watch(p, &later)));
    partition_unwatch(p, &gone);
    cr_assert(eq(int, logtest_append(p, 0, 3, 10, 0), 0)); /* flushes: publishes 3 */
    cr_assert(eq(int, atomic_load(&fired), 1), "only the waiter for offset 0");
    cr_assert(eq(int, logtest_append(p, 3, 3, 10, 0), 0));
    cr_assert(eq(int, atomic_load(&fired), 2), "offset 5 now exists");
    partition_unwatch(p, &later); /* harmless after firing */
    cr_assert(partition_watch(p, &gone), "offset 0 exists: true at once");
    topic_put(t);
}

/* A long poll on a deleted topic must not wait out its time for data that cannot
 * come: deleting fires every data waiter of every partition, and a watch that comes
 * after the delete (a reader that looked the topic up just before) fires at once. */
Test(store, deleting_a_topic_fires_its_data_waiters_and_later_watches_at_once)
{
    struct partition_waiter w[3], late = {.offset = 0, .fire = count_fire};
    struct topic *t;

    atomic_store(&fired, 0);
    cr_assert(eq(int, create("orders", 3), 0));
    cr_assert(eq(int, store_get_topic(store, "orders", &t), 0));
    for (int32_t i = 0; i < 3; i++) {
        w[i] = (struct partition_waiter){.offset = 0, .fire = count_fire};
        cr_assert(not(partition_watch(topic_partition(t, i), &w[i])));
    }
    cr_assert(not(atomic_load(&t->deleted)));
    cr_assert(eq(int, store_delete_topic(store, "orders"), 0));
    cr_assert(eq(int, atomic_load(&fired), 3), "every partition's waiter fired");
    cr_assert(atomic_load(&t->deleted));
    cr_assert(partition_watch(topic_partition(t, 1), &late), "true at once after delete");
    for (int32_t i = 0; i < 3; i++)
        partition_unwatch(topic_partition(t, i), &w[i]); /* harmless after firing */
    topic_put(t);
}

/* Names of 242-249 characters are valid; the trash entry a delete makes must still
 * fit in a file name (255 bytes), and leave nothing behind. */
Test(store, a_topic_with_a_249_character_name_is_deleted_and_made_again)
{
    char name[TOPIC_NAME_MAX + 1], p[512];
    struct topic *t;
    struct dirent *e;
    DIR *d;
    int left = 0;

    memset(name, 'n', TOPIC_NAME_MAX);
    name[TOPIC_NAME_MAX] = '\0';
    cr_assert(eq(int, create(name, 2), 0));
    cr_assert(eq(int, store_delete_topic(store, name), 0));
    cr_assert(eq(int, store_get_topic(store, name, &t), -ENOENT));
    snprintf(p, sizeof(p), "%s/trash", dir);
    d = opendir(p);
    cr_assert(ne(ptr, d, NULL));
    while ((e = readdir(d)))
        left += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    cr_assert(eq(int, left, 0), "trash/ is empty after the delete");
    cr_assert(eq(int, create(name, 1), 0), "the name is free again");
    reopen();
    cr_assert(eq(int, store_get_topic(store, name, &t), 0));
    cr_assert(eq(i32, topic_partition_count(t), 1));
    topic_put(t);
}

/* A delete that crashed before removing its files leaves them in trash/: the next
 * open removes them, whether named the old way ("<name>.<seq>") or the new one
 * ("<seq>.<topic id>"). */
Test(store, leftovers_of_an_interrupted_delete_are_cleaned_at_open)
{
    static const char *const left[] = {
        "trash/orders.1764000000000", "trash/orders.1764000000000/0",
        "trash/1764000000001.0123456789abcdef0123456789abcdef",
        "trash/1764000000001.0123456789abcdef0123456789abcdef/0",
    };
    char p[512];

    for (size_t i = 0; i < sizeof(left) / sizeof(left[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, left[i]);
        cr_assert(eq(int, mkdir(p, 0755), 0), "%s", p);
    }
    reopen();
    cr_assert(exists("trash"));
    cr_assert(not(exists(left[0])));
    cr_assert(not(exists(left[2])));
}

static struct topic *create_with(const char *name, const char *const *kv)
{
    struct topic_meta m;
    struct topic *t;
    char err[160];

    memset(&m, 0, sizeof(m));
    snprintf(m.name, sizeof(m.name), "%s", name);
    m.partitions = 1;
    topic_config_defaults(&m.config);
    for (; *kv; kv += 2)
        cr_assert(eq(int, topic_config_set(&m.config, kv[0], kv[1], err, sizeof(err)), 0));
    cr_assert(eq(int, store_create_topic(store, &m, &t), 0));
    return t;
}

Test(store, retention_by_time_deletes_old_closed_segments_and_moves_the_log_start)
{
    const char *kv[] = {"segment.bytes", "1024", "retention.ms", "60000", NULL};
    struct topic *t = create_with("old", kv);
    struct partition *p = topic_partition(t, 0);
    struct segment_list *l;
    char v[256];
    int64_t now = clock_wall_ms();

    /* 30 batches of old records (timestamps an hour ago), then 3 new ones */
    for (int64_t off = 0; off < 90; off += 3)
        cr_assert(eq(int, logtest_append(p, off, 3, 100, now - 3600 * 1000), 0));
    for (int64_t off = 90; off < 99; off += 3)
        cr_assert(eq(int, logtest_append(p, off, 3, 100, now), 0));
    cr_assert(ge(int, store_apply_retention(store), (0) + 1));
    cr_assert(ge(i64, partition_log_start(p), (0) + 1));
    l = partition_segments(p);
    cr_assert(eq(i64, l->segs[0]->base_offset, partition_log_start(p)));
    cr_assert(ge(i64, atomic_load(&l->segs[0]->max_timestamp), now - 60000),
              "the first segment left holds new records");
    segment_list_put(l);
    cr_assert(eq(int, logtest_read(p, 0, v, sizeof(v), NULL), -ERANGE));
    cr_assert(eq(int, logtest_read(p, 98, v, sizeof(v), NULL), 0));
    topic_put(t);
    reopen();
    cr_assert(eq(int, store_get_topic(store, "old", &t), 0));
    cr_assert(ge(i64, partition_log_start(topic_partition(t, 0)), (0) + 1), "the files are gone");
    topic_put(t);
}

Test(store, retention_by_bytes_keeps_at_least_that_many_bytes)
{
    const char *kv[] = {"segment.bytes", "1024", "retention.bytes", "2048", NULL};
    struct topic *t = create_with("big", kv);
    struct partition *p = topic_partition(t, 0);

    for (int64_t off = 0; off < 90; off += 3) /* recent: retention.ms keeps them */
        cr_assert(eq(int, logtest_append(p, off, 3, 100, clock_wall_ms()), 0));
    cr_assert(ge(int, store_apply_retention(store), (0) + 1));
    cr_assert(ge(u64, partition_size_bytes(p), 2048));
    cr_assert(lt(u64, partition_size_bytes(p), 2048 + 2 * 1024));
    cr_assert(eq(i64, partition_high_watermark(p), 90));
    cr_assert(eq(int, store_apply_retention(store), 0), "nothing more to delete");
    topic_put(t);
}
