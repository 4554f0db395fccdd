/* topic.h: a topic: its metadata (topic.json) and its partitions.
 *
 *   DATA/topics/<name>/topic.json      name, partition count, config (topic_meta.h)
 *   DATA/topics/<name>/<partition>/    one partition log each (partition.h)
 *
 * Partitions only grow. The partition array is published whole, so a reader that
 * looked up a partition keeps a valid pointer for as long as it holds the topic. */
#ifndef STORAGE_TOPIC_H
#define STORAGE_TOPIC_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "storage/partition.h"
#include "storage/topic_meta.h"

struct partition_array {
    int32_t n;
    struct partition *parts[];
};

struct topic {
    char *name;
    char *dir;
    pthread_mutex_t lock;                    /* serialises grow and config changes */
    struct topic_meta meta;                  /* under lock */
    _Atomic(struct partition_array *) parts; /* current array */
    struct partition_array **retired;        /* older arrays, freed with the topic */
    size_t nretired;
    _Atomic int refs;
    _Atomic bool deleted; /* files gone: the last reference frees without syncing */
    void (*sync_requested)(void *arg, struct partition *p); /* given to partitions */
    void *sync_arg;
};

/* Creates a topic in 'dir' (which must not exist): partitions, then topic.json last,
 * so a directory without topic.json is an unfinished create. *out has one reference.
 * Returns 0 or -errno. */
int topic_create(struct topic **out, const char *dir, const struct topic_meta *meta);

/* Opens the topic in 'dir' from its topic.json. Returns 0, -ENOENT (no topic.json),
 * -EBADMSG, or another -errno. */
int topic_open(struct topic **out, const char *dir);

void topic_get(struct topic *t);
/* Drops a reference; the last one closes the partitions (with checkpoints, unless the
 * topic was deleted). NULL is a no-op. */
void topic_put(struct topic *t);

/* Marks the topic deleted, once its files are on their way out (the store does, on
 * delete): the last reference then frees without syncing, and every partition's data
 * waiters fire now and any listed later at once (partition_mark_deleted()), so a long
 * poll answers instead of waiting for records that cannot come. */
void topic_mark_deleted(struct topic *t);
static inline bool topic_is_deleted(struct topic *t)
{
    return atomic_load_explicit(&t->deleted, memory_order_acquire);
}

/* The partition, or NULL if out of range. Borrowed: valid while the topic is held. */
struct partition *topic_partition(struct topic *t, int32_t id);
int32_t topic_partition_count(struct topic *t);
/* A copy of the metadata. */
void topic_meta_copy(struct topic *t, struct topic_meta *out);

/* Grows to 'partitions' partitions and replaces the config, with one write of
 * topic.json after the new partitions exist (so a failure changes neither). Returns
 * 0, -EINVAL if fewer partitions than now or more than 10000, or -errno. */
int topic_update(struct topic *t, int32_t partitions, const struct topic_config *config);
/* topic_update() of the partition count alone, or of the config alone. */
int topic_grow(struct topic *t, int32_t partitions);
int topic_set_config(struct topic *t, const struct topic_config *config);

/* Sets who syncs the partitions for their durable waiters (partition.h), for these
 * partitions and those added later. Call before the topic is shared. */
void topic_set_sync_hook(struct topic *t, void (*fn)(void *arg, struct partition *p),
                         void *arg);

/* The partition settings that a topic config implies. */
struct partition_config topic_partition_config(const struct topic_config *c);

#endif
