/* store.h: the embedded log engine: every topic under one data directory.
 *
 *   DATA/topics/<name>/   live topics (topic.h)
 *   DATA/staging/<name>/  a topic being created: built here, then renamed into
 *                         topics/ in one step, so a crash never leaves half a topic
 *   DATA/trash/<N>.<id>/  a deleted topic: renamed here in one step, then removed;
 *                         N is a sequence number, id the topic's 32-hex-digit id
 *                         (topic_meta.h), so the name fits NAME_MAX whatever the
 *                         topic's name (an older rill wrote "<name>.N")
 *
 * staging/ and trash/ are emptied at open, whatever their entries are called. A
 * background thread syncs partitions whose flush.policy is interval every flush.ms,
 * and applies retention; a second one compacts cleanup.policy=compact topics
 * (partition_compact()), both every retention_check_ms. */
#ifndef STORAGE_STORE_H
#define STORAGE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "storage/topic.h"

struct store;

/* Opens (creating if needed) the store in 'data_dir' and every topic in it. A topic
 * that cannot be opened is logged and left out. Returns 0 or -errno. */
int store_open(struct store **out, const char *data_dir);
/* How often the background threads apply retention and compact (default 30000 ms). */
void store_set_retention_check_ms(struct store *s, int64_t ms);
/* Applies retention to every partition of a cleanup.policy=delete topic now (compact
 * topics keep every record that compaction keeps, however old); returns the segments
 * deleted. */
int store_apply_retention(struct store *s);
/* Compacts every partition of a cleanup.policy=compact topic now, with its topic's
 * delete.retention.ms; returns the segments rewritten (failures are logged). */
int store_compact_now(struct store *s);

/* Stops the flusher and closes every topic (checkpoints written). Topics still held
 * elsewhere are closed when their last reference goes. NULL is a no-op. */
void store_close(struct store *s);

/* Creates a topic; 'meta' names it (name checked, partitions 1..10000; created_ms is
 * set here). On success *out (if not NULL) holds a reference. Returns 0, -EEXIST,
 * -EINVAL (bad name or partitions) or -errno. */
int store_create_topic(struct store *s, const struct topic_meta *meta, struct topic **out);
/* An internal topic of one partition: the topic named 'name' (with a reference), made
 * first if it does not exist, with the defaults and then 'config' applied: pairs of
 * key and value, NULL-terminated. Returns 0 or -errno. */
int store_internal_topic(struct store *s, const char *name, const char *const *config,
                         struct topic **out);
/* The topic named 'name', with a reference (topic_put() it). Returns 0 or -ENOENT. */
int store_get_topic(struct store *s, const char *name, struct topic **out);
/* Every topic, sorted by name, each with a reference; free with store_free_list(). */
int store_list_topics(struct store *s, struct topic ***out, size_t *n);
void store_free_list(struct topic **list, size_t n);
/* Deletes a topic: gone from lookups at once, files removed, and marked deleted
 * (topic_mark_deleted()) for those still holding it: their long polls answer at once.
 * Returns 0, -ENOENT, or the -errno of moving it to trash/ (then nothing changed). */
int store_delete_topic(struct store *s, const char *name);

#endif
