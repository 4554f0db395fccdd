/* store.c: the embedded log engine: topics under one data directory (store.h).
 *
 * Two background threads: the flusher (syncs for durable waiters and interval topics,
 * and retention) and the cleaner (log compaction). Compaction rewrites segments and
 * can take minutes: on the flusher it would hold up every flush.policy=always
 * acknowledgement for as long. */
#include "storage/store.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "storage/io.h"

#define FLUSHER_IDLE_MS 1000 /* longest sleep of the interval flusher */

struct store {
    char *data_dir;
    char *topics_dir, *staging_dir, *trash_dir;
    pthread_rwlock_t lock; /* guards the topic table */
    struct topic **topics; /* sorted by name */
    size_t ntopics, cap;
    uint64_t trash_seq;

    pthread_t flusher;
    bool flusher_started;
    pthread_mutex_t flusher_lock;
    pthread_cond_t flusher_cond;
    bool stopping;
    _Atomic int64_t retention_check_ms;
    int64_t next_retention; /* under flusher_lock: when retention runs next */
    pthread_t cleaner;
    bool cleaner_started;
    pthread_cond_t cleaner_cond; /* with flusher_lock */
    int64_t next_clean;          /* under flusher_lock: when compaction runs next */
    struct partition **sync_queue; /* under flusher_lock; each holds a topic reference */
    size_t nsync, sync_cap;
};

/* ---- the topic table (caller holds the lock) ---- */

/* The index of 'name', or where it would go (with *found false). */
static size_t table_find(struct store *s, const char *name, bool *found)
{
    size_t lo = 0, hi = s->ntopics;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s->topics[mid]->name, name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static void table_insert(struct store *s, size_t at, struct topic *t)
{
    if (s->ntopics == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->topics = xrealloc(s->topics, s->cap * sizeof(*s->topics));
    }
    memmove(s->topics + at + 1, s->topics + at, (s->ntopics - at) * sizeof(*s->topics));
    s->topics[at] = t;
    s->ntopics++;
}

static void table_remove(struct store *s, size_t at)
{
    memmove(s->topics + at, s->topics + at + 1, (s->ntopics - at - 1) * sizeof(*s->topics));
    s->ntopics--;
}

/* ---- the interval flusher ---- */

/* Syncs what is due; returns how long to sleep. */
static int64_t flush_due(struct store *s)
{
    int64_t now = clock_wall_ms(), sleep_ms = FLUSHER_IDLE_MS;
    struct topic **list;
    size_t n;

    if (store_list_topics(s, &list, &n))
        return sleep_ms;
    for (size_t i = 0; i < n; i++) {
        struct topic *t = list[i];
        int32_t np = topic_partition_count(t);

        for (int32_t k = 0; k < np; k++) {
            struct partition *p = topic_partition(t, k);
            int64_t every;

            pthread_mutex_lock(&p->append_lock);
            every = p->config.flush_always ? 0 : p->config.flush_ms;
            pthread_mutex_unlock(&p->append_lock);
            if (!every)
                continue;
            partition_flush_if_due(p, now);
            if (every < sleep_ms)
                sleep_ms = every;
        }
    }
    store_free_list(list, n);
    return sleep_ms;
}

/* A partition's durable waiters need a sync: queue it for the flusher thread (once). */
static void request_sync(void *arg, struct partition *p)
{
    struct store *s = arg;

    if (atomic_exchange(&p->sync_queued, true))
        return; /* already queued: that sync will cover this waiter */
    topic_get(p->owner);
    pthread_mutex_lock(&s->flusher_lock);
    if (s->nsync == s->sync_cap) {
        s->sync_cap = s->sync_cap ? s->sync_cap * 2 : 64;
        s->sync_queue = xrealloc(s->sync_queue, s->sync_cap * sizeof(*s->sync_queue));
    }
    s->sync_queue[s->nsync++] = p;
    pthread_cond_signal(&s->flusher_cond);
    pthread_mutex_unlock(&s->flusher_lock);
}

/* Syncs the queued partitions. Called and returns with flusher_lock held. Every
 * appender that queued while a sync ran shares the next one (group commit). */
static void sync_queued(struct store *s)
{
    while (s->nsync) {
        struct partition **batch = s->sync_queue;
        size_t n = s->nsync;

        s->sync_queue = NULL;
        s->nsync = s->sync_cap = 0;
        pthread_mutex_unlock(&s->flusher_lock);
        for (size_t i = 0; i < n; i++) {
            struct partition *p = batch[i];
            atomic_store(&p->sync_queued, false);
            partition_flush(p, atomic_load(&p->log_end));
            topic_put(p->owner);
        }
        free(batch);
        pthread_mutex_lock(&s->flusher_lock);
    }
}

static void deadline_in(struct timespec *until, int64_t ms)
{
    clock_gettime(CLOCK_REALTIME, until);
    until->tv_sec += ms / 1000;
    until->tv_nsec += (ms % 1000) * 1000000;
    if (until->tv_nsec >= 1000000000) {
        until->tv_sec++;
        until->tv_nsec -= 1000000000;
    }
}

void store_set_retention_check_ms(struct store *s, int64_t ms)
{
    atomic_store(&s->retention_check_ms, ms);
    pthread_mutex_lock(&s->flusher_lock);
    s->next_retention = 0; /* at once, then every 'ms' */
    s->next_clean = 0;
    pthread_cond_signal(&s->flusher_cond);
    pthread_cond_signal(&s->cleaner_cond);
    pthread_mutex_unlock(&s->flusher_lock);
}

/* Whether 't' is cleanup.policy=compact, and its delete.retention.ms. */
static bool topic_compacts(struct topic *t, int64_t *delete_retention_ms)
{
    bool compact;

    pthread_mutex_lock(&t->lock);
    compact = t->meta.config.cleanup_policy == CLEANUP_COMPACT;
    *delete_retention_ms = t->meta.config.delete_retention_ms;
    pthread_mutex_unlock(&t->lock);
    return compact;
}

int store_apply_retention(struct store *s)
{
    int64_t now = clock_wall_ms(), unused;
    struct topic **list;
    size_t n;
    int deleted = 0;

    store_list_topics(s, &list, &n);
    for (size_t i = 0; i < n; i++) {
        if (topic_compacts(list[i], &unused))
            continue; /* "compact" alone never deletes by age or size (Kafka) */
        for (int32_t k = 0; k < topic_partition_count(list[i]); k++)
            deleted += partition_apply_retention(topic_partition(list[i], k), now);
    }
    store_free_list(list, n);
    return deleted;
}

static bool is_stopping(struct store *s)
{
    bool stopping;

    pthread_mutex_lock(&s->flusher_lock);
    stopping = s->stopping;
    pthread_mutex_unlock(&s->flusher_lock);
    return stopping;
}

int store_compact_now(struct store *s)
{
    struct topic **list;
    size_t n;
    int rewritten = 0;

    store_list_topics(s, &list, &n);
    for (size_t i = 0; i < n && !is_stopping(s); i++) {
        int64_t keep;

        if (!topic_compacts(list[i], &keep))
            continue;
        for (int32_t k = 0; k < topic_partition_count(list[i]); k++) {
            /* A failed pass is logged by the partition and tried again next time. */
            int r = partition_compact(topic_partition(list[i], k), clock_wall_ms(), keep);

            if (r > 0)
                rewritten += r;
        }
    }
    store_free_list(list, n);
    return rewritten;
}

/* The cleaner thread: compacts every retention_check_ms. */
static void *cleaner_main(void *arg)
{
    struct store *s = arg;

    pthread_mutex_lock(&s->flusher_lock);
    while (!s->stopping) {
        struct timespec until;

        if (clock_wall_ms() >= s->next_clean) {
            s->next_clean = clock_wall_ms() + atomic_load(&s->retention_check_ms);
            pthread_mutex_unlock(&s->flusher_lock);
            store_compact_now(s);
            pthread_mutex_lock(&s->flusher_lock);
            continue;
        }
        deadline_in(&until, s->next_clean - clock_wall_ms());
        pthread_cond_timedwait(&s->cleaner_cond, &s->flusher_lock, &until);
    }
    pthread_mutex_unlock(&s->flusher_lock);
    return NULL;
}

/* The background thread: syncs queued partitions (durable waiters), syncs interval
 * partitions when due, applies retention every retention_check_ms. */
static void *flusher_main(void *arg)
{
    struct store *s = arg;
    int64_t next_due = 0;

    pthread_mutex_lock(&s->flusher_lock);
    while (!s->stopping) {
        struct timespec until;
        int64_t wake;

        sync_queued(s);
        if (clock_wall_ms() >= next_due) {
            pthread_mutex_unlock(&s->flusher_lock);
            next_due = clock_wall_ms() + flush_due(s);
            pthread_mutex_lock(&s->flusher_lock);
        }
        if (clock_wall_ms() >= s->next_retention) {
            s->next_retention = clock_wall_ms() + atomic_load(&s->retention_check_ms);
            pthread_mutex_unlock(&s->flusher_lock);
            store_apply_retention(s);
            pthread_mutex_lock(&s->flusher_lock);
        }
        if (s->stopping || s->nsync)
            continue;
        wake = next_due < s->next_retention ? next_due : s->next_retention;
        deadline_in(&until, wake - clock_wall_ms());
        pthread_cond_timedwait(&s->flusher_cond, &s->flusher_lock, &until);
    }
    sync_queued(s); /* nobody waits forever: the last waiters get their sync */
    pthread_mutex_unlock(&s->flusher_lock);
    return NULL;
}

/* ---- open and close ---- */

static char *join(const char *a, const char *b)
{
    struct buf p = BUF_INIT;

    buf_printf(&p, "%s/%s", a, b);
    return buf_detach(&p, NULL);
}

/* Empties a scratch directory (staging/ or trash/) left by a crash. */
static int reset_dir(const char *dir)
{
    int ret = io_remove_tree(dir);

    return ret ? ret : io_mkdir_synced(dir);
}

static int open_topics(struct store *s)
{
    DIR *d = opendir(s->topics_dir);
    struct dirent *e;

    if (!d)
        return -errno;
    while ((e = readdir(d))) {
        struct topic *t;
        char *dir;
        bool found;
        size_t at;
        int ret;

        if (!topic_name_is_valid(e->d_name, strlen(e->d_name)))
            continue;
        dir = join(s->topics_dir, e->d_name);
        ret = topic_open(&t, dir);
        free(dir);
        if (ret) {
            log_error("cannot open topic '%s': %s", e->d_name, strerror(-ret));
            continue;
        }
        if (strcmp(t->name, e->d_name)) {
            log_error("topic directory '%s' holds topic '%s': skipped", e->d_name, t->name);
            topic_put(t);
            continue;
        }
        topic_set_sync_hook(t, request_sync, s);
        at = table_find(s, t->name, &found);
        table_insert(s, at, t);
    }
    closedir(d);
    return 0;
}

int store_open(struct store **out, const char *data_dir)
{
    struct store *s = xcalloc(1, sizeof(*s));
    int ret;

    s->data_dir = xstrdup(data_dir);
    s->topics_dir = join(data_dir, "topics");
    s->staging_dir = join(data_dir, "staging");
    s->trash_dir = join(data_dir, "trash");
    pthread_rwlock_init(&s->lock, NULL);
    pthread_mutex_init(&s->flusher_lock, NULL);
    pthread_cond_init(&s->flusher_cond, NULL);
    pthread_cond_init(&s->cleaner_cond, NULL);
    s->trash_seq = (uint64_t)clock_wall_ms();
    atomic_init(&s->retention_check_ms, 30000);

    ret = io_mkdir_synced(data_dir);
    if (!ret)
        ret = io_mkdir_synced(s->topics_dir);
    if (!ret)
        ret = reset_dir(s->staging_dir);
    if (!ret)
        ret = reset_dir(s->trash_dir);
    if (!ret)
        ret = open_topics(s);
    if (!ret)
        ret = -pthread_create(&s->flusher, NULL, flusher_main, s);
    s->flusher_started = !ret;
    if (!ret)
        ret = -pthread_create(&s->cleaner, NULL, cleaner_main, s);
    s->cleaner_started = !ret;
    if (ret) {
        store_close(s);
        return ret;
    }
    *out = s;
    return 0;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->flusher_lock);
    s->stopping = true;
    pthread_cond_signal(&s->flusher_cond);
    pthread_cond_signal(&s->cleaner_cond);
    pthread_mutex_unlock(&s->flusher_lock);
    if (s->cleaner_started)
        pthread_join(s->cleaner, NULL);
    if (s->flusher_started)
        pthread_join(s->flusher, NULL);
    for (size_t i = 0; i < s->ntopics; i++)
        topic_put(s->topics[i]);
    free(s->topics);
    free(s->sync_queue);
    pthread_rwlock_destroy(&s->lock);
    pthread_mutex_destroy(&s->flusher_lock);
    pthread_cond_destroy(&s->flusher_cond);
    pthread_cond_destroy(&s->cleaner_cond);
    free(s->topics_dir);
    free(s->staging_dir);
    free(s->trash_dir);
    free(s->data_dir);
    free(s);
}

/* ---- topics ---- */

int store_create_topic(struct store *s, const struct topic_meta *meta_in, struct topic **out)
{
    struct topic_meta meta = *meta_in;
    char *staged = NULL, *final = NULL;
    struct topic *t = NULL;
    bool found;
    size_t at;
    int ret;

    if (!topic_name_is_valid(meta.name, strlen(meta.name)) || meta.partitions < 1 ||
        meta.partitions > TOPIC_META_MAX_PARTITIONS)
        return -EINVAL;
    meta.created_ms = clock_wall_ms();
    ret = topic_meta_new_id(&meta);
    if (ret)
        return ret;
    staged = join(s->staging_dir, meta.name);
    final = join(s->topics_dir, meta.name);
    /* The write lock covers the whole create, so two creates of one name cannot race
     * and readers never see a half-made topic. Creates are rare. */
    pthread_rwlock_wrlock(&s->lock);
    at = table_find(s, meta.name, &found);
    if (found) {
        ret = -EEXIST;
        goto out;
    }
    io_remove_tree(staged);
    ret = topic_create(&t, staged, &meta);
    if (ret)
        goto out_unstage;
    topic_put(t); /* closed in staging/, opened again where it will live */
    t = NULL;
    ret = io_rename_and_fsync_dir(staged, s->topics_dir, meta.name);
    if (!ret)
        ret = io_fsync_dir(s->staging_dir);
    if (ret)
        goto out_unstage;
    ret = topic_open(&t, final);
    if (ret)
        goto out;
    topic_set_sync_hook(t, request_sync, s);
    table_insert(s, at, t);
    if (out) {
        topic_get(t);
        *out = t;
    }
    goto out;
out_unstage:
    io_remove_tree(staged);
out:
    pthread_rwlock_unlock(&s->lock);
    free(staged);
    free(final);
    return ret;
}

int store_internal_topic(struct store *s, const char *name, const char *const *config,
                         struct topic **out)
{
    struct topic_meta m;
    char err[160];
    int ret = store_get_topic(s, name, out);

    if (ret != -ENOENT)
        return ret;
    memset(&m, 0, sizeof(m));
    snprintf(m.name, sizeof(m.name), "%s", name);
    m.partitions = 1;
    topic_config_defaults(&m.config);
    for (size_t i = 0; config && config[i]; i += 2) {
        ret = topic_config_set(&m.config, config[i], config[i + 1], err, sizeof(err));
        if (ret)
            return ret; /* a wrong setting in the code that asks: it would show in tests */
    }
    return store_create_topic(s, &m, out);
}

int store_get_topic(struct store *s, const char *name, struct topic **out)
{
    bool found;
    size_t at;

    pthread_rwlock_rdlock(&s->lock);
    at = table_find(s, name, &found);
    if (found) {
        *out = s->topics[at];
        topic_get(*out);
    }
    pthread_rwlock_unlock(&s->lock);
    return found ? 0 : -ENOENT;
}

int store_list_topics(struct store *s, struct topic ***out, size_t *n)
{
    pthread_rwlock_rdlock(&s->lock);
    *out = xmalloc((s->ntopics ? s->ntopics : 1) * sizeof(**out));
    for (size_t i = 0; i < s->ntopics; i++) {
        (*out)[i] = s->topics[i];
        topic_get(s->topics[i]);
    }
    *n = s->ntopics;
    pthread_rwlock_unlock(&s->lock);
    return 0;
}

void store_free_list(struct topic **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        topic_put(list[i]);
    free(list);
}

int store_delete_topic(struct store *s, const char *name)
{
    struct buf trashed = BUF_INIT;
    struct topic *t;
    char *trash_path;
    bool found;
    size_t at;
    int ret;

    pthread_rwlock_wrlock(&s->lock);
    at = table_find(s, name, &found);
    if (!found) {
        pthread_rwlock_unlock(&s->lock);
        return -ENOENT;
    }
    t = s->topics[at];
    /* One rename takes the topic away; removing the files can then fail or crash
     * without bringing it back. Readers holding it keep their open files. The entry
     * is named by sequence and topic id, never by the name: "<name>.<seq>" passes
     * NAME_MAX (255) for names of 242 characters and more. */
    pthread_mutex_lock(&t->lock);
    buf_printf(&trashed, "%" PRIu64 ".%s", s->trash_seq++, t->meta.id);
    pthread_mutex_unlock(&t->lock);
    ret = io_rename_and_fsync_dir(t->dir, s->trash_dir, trashed.data);
    if (!ret)
        ret = io_fsync_dir(s->topics_dir);
    if (ret) {
        pthread_rwlock_unlock(&s->lock);
        buf_release(&trashed);
        return ret;
    }
    table_remove(s, at);
    pthread_rwlock_unlock(&s->lock);
    topic_mark_deleted(t); /* long polls on it answer now */
    trash_path = join(s->trash_dir, trashed.data);
    if (io_remove_tree(trash_path))
        log_warn("cannot remove '%s' (removed at next start)", trash_path);
    free(trash_path);
    buf_release(&trashed);
    topic_put(t);
    return 0;
}
