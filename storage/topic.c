/* topic.c: a topic: its metadata and partitions (layout in topic.h). */
#include "storage/topic.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "storage/io.h"

struct partition_config topic_partition_config(const struct topic_config *c)
{
    struct partition_config pc = {
        .segment_bytes = (uint64_t)c->segment_bytes,
        .segment_ms = c->segment_ms,
        .flush_always = c->flush_policy == FLUSH_ALWAYS,
        .flush_ms = c->flush_ms,
        .retention_ms = c->retention_ms,
        .retention_bytes = c->retention_bytes,
    };
    return pc;
}

static struct topic *topic_alloc(const char *dir, const struct topic_meta *meta)
{
    struct topic *t = xcalloc(1, sizeof(*t));
    struct partition_array *a = xcalloc(1, sizeof(*a));

    t->name = xstrdup(meta->name);
    t->dir = xstrdup(dir);
    t->meta = *meta;
    pthread_mutex_init(&t->lock, NULL);
    atomic_init(&t->parts, a);
    atomic_init(&t->refs, 1);
    atomic_init(&t->deleted, false);
    return t;
}

static void topic_free(struct topic *t)
{
    struct partition_array *a = atomic_load(&t->parts);
    bool deleted = atomic_load(&t->deleted);

    for (int32_t i = 0; i < a->n; i++) {
        if (deleted)
            partition_abandon(a->parts[i]);
        else
            partition_close(a->parts[i]);
    }
    free(a);
    for (size_t i = 0; i < t->nretired; i++)
        free(t->retired[i]);
    free(t->retired);
    pthread_mutex_destroy(&t->lock);
    free(t->name);
    free(t->dir);
    free(t);
}

void topic_get(struct topic *t)
{
    atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
}

void topic_put(struct topic *t)
{
    if (t && atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1)
        topic_free(t);
}

/* Opens partitions [old n, n) and publishes the longer array. Under t->lock (or before
 * the topic is shared). */
static int open_partitions(struct topic *t, int32_t n)
{
    struct partition_array *old = atomic_load(&t->parts), *a;
    struct partition_config pc = topic_partition_config(&t->meta.config);
    struct buf dir = BUF_INIT;
    int32_t i;
    int ret = 0;

    a = xmalloc(sizeof(*a) + (size_t)n * sizeof(a->parts[0]));
    memcpy(a->parts, old->parts, (size_t)old->n * sizeof(a->parts[0]));
    for (i = old->n; i < n; i++) {
        buf_reset(&dir);
        buf_printf(&dir, "%s/%" PRId32, t->dir, i);
        ret = partition_open(&a->parts[i], dir.data, i, &pc);
        if (ret) {
            log_error("topic '%s': cannot open partition %" PRId32 ": %s", t->name, i,
                      strerror(-ret));
            break;
        }
        a->parts[i]->owner = t;
        a->parts[i]->sync_requested = t->sync_requested;
        a->parts[i]->sync_arg = t->sync_arg;
        if (atomic_load(&t->deleted)) /* a grow racing the delete */
            partition_mark_deleted(a->parts[i]);
    }
    buf_release(&dir);
    if (ret) {
        for (int32_t k = old->n; k < i; k++)
            partition_close(a->parts[k]);
        free(a);
        return ret;
    }
    a->n = n;
    t->retired = xrealloc(t->retired, (t->nretired + 1) * sizeof(*t->retired));
    t->retired[t->nretired++] = old;
    atomic_store_explicit(&t->parts, a, memory_order_release);
    return 0;
}

int topic_create(struct topic **out, const char *dir, const struct topic_meta *meta)
{
    struct topic *t;
    int ret;

    if (meta->partitions < 1 || meta->partitions > TOPIC_META_MAX_PARTITIONS)
        return -EINVAL;
    ret = io_mkdir_synced(dir);
    if (ret)
        return ret;
    t = topic_alloc(dir, meta);
    ret = open_partitions(t, meta->partitions);
    if (!ret)
        ret = topic_meta_write(dir, meta);
    if (ret) {
        topic_put(t);
        return ret;
    }
    *out = t;
    return 0;
}

int topic_open(struct topic **out, const char *dir)
{
    struct topic_meta meta;
    struct topic *t;
    int ret = topic_meta_read(dir, &meta);

    if (ret)
        return ret;
    t = topic_alloc(dir, &meta);
    ret = open_partitions(t, meta.partitions);
    if (ret) {
        topic_put(t);
        return ret;
    }
    *out = t;
    return 0;
}

void topic_mark_deleted(struct topic *t)
{
    struct partition_array *a;

    /* Under the lock a grow holds, and a grow marks what it opens after this: no
     * partition of a deleted topic is left unmarked. */
    pthread_mutex_lock(&t->lock);
    atomic_store_explicit(&t->deleted, true, memory_order_release);
    a = atomic_load(&t->parts);
    for (int32_t i = 0; i < a->n; i++)
        partition_mark_deleted(a->parts[i]);
    pthread_mutex_unlock(&t->lock);
}

struct partition *topic_partition(struct topic *t, int32_t id)
{
    struct partition_array *a = atomic_load_explicit(&t->parts, memory_order_acquire);

    return id >= 0 && id < a->n ? a->parts[id] : NULL;
}

int32_t topic_partition_count(struct topic *t)
{
    return atomic_load_explicit(&t->parts, memory_order_acquire)->n;
}

void topic_meta_copy(struct topic *t, struct topic_meta *out)
{
    pthread_mutex_lock(&t->lock);
    *out = t->meta;
    pthread_mutex_unlock(&t->lock);
}

int topic_update(struct topic *t, int32_t partitions, const struct topic_config *config)
{
    struct partition_config pc = topic_partition_config(config);
    struct partition_array *a;
    struct topic_meta meta;
    struct topic_config old;
    int ret = 0;

    pthread_mutex_lock(&t->lock);
    old = t->meta.config;
    if (partitions < t->meta.partitions || partitions > TOPIC_META_MAX_PARTITIONS) {
        ret = -EINVAL;
        goto out;
    }
    meta = t->meta;
    meta.partitions = partitions;
    meta.config = *config;
    /* New partitions first: a crash before topic.json leaves unused directories that
     * the next grow reuses, never a topic.json naming missing partitions. (They open
     * with the new config, which topic.json then confirms.) */
    t->meta.config = *config;
    if (partitions > t->meta.partitions)
        ret = open_partitions(t, partitions);
    if (!ret)
        ret = topic_meta_write(t->dir, &meta);
    if (ret) {
        t->meta.config = old;
        goto out;
    }
    t->meta = meta;
    a = atomic_load(&t->parts);
    for (int32_t i = 0; i < a->n; i++)
        partition_set_config(a->parts[i], &pc);
out:
    pthread_mutex_unlock(&t->lock);
    return ret;
}

int topic_grow(struct topic *t, int32_t partitions)
{
    struct topic_meta m;

    topic_meta_copy(t, &m);
    return topic_update(t, partitions, &m.config);
}

int topic_set_config(struct topic *t, const struct topic_config *config)
{
    return topic_update(t, topic_partition_count(t), config);
}

void topic_set_sync_hook(struct topic *t, void (*fn)(void *arg, struct partition *p),
                         void *arg)
{
    struct partition_array *a;

    pthread_mutex_lock(&t->lock);
    t->sync_requested = fn;
    t->sync_arg = arg;
    a = atomic_load(&t->parts);
    for (int32_t i = 0; i < a->n; i++) {
        a->parts[i]->sync_requested = fn;
        a->parts[i]->sync_arg = arg;
    }
    pthread_mutex_unlock(&t->lock);
}
