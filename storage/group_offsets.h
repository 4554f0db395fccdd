/* group_offsets.h: consumer groups' committed offsets, kept in the log itself.
 *
 * The internal topic __consumer_offsets (one partition, flush.policy=always,
 * cleanup.policy=compact) holds one record per commit of a (group, topic, partition),
 * in Kafka's own formats, so the data reads like Kafka's:
 *
 *   key    OffsetCommitKey v1:   int16 1, string group, string topic, int32 partition
 *   value  OffsetCommitValue v3: int16 3, int64 offset, int32 leader epoch (-1),
 *                                string metadata, int64 commit timestamp (ms)
 *
 * (big-endian; a string is an int16 length and its bytes). Deleting a group writes a
 * tombstone (null value) per key. At open the topic is replayed into a table in
 * memory, the latest record of each key winning; compaction keeps the topic small.
 *
 * A commit is appended and applied to the table under one lock, so the table follows
 * the log's order; the caller answers only once the record is durable (a waiter on
 * the partition, as a durable produce does). Knows no HTTP and no JSON. */
#ifndef STORAGE_GROUP_OFFSETS_H
#define STORAGE_GROUP_OFFSETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct store;
struct record;
struct partition;
struct partition_waiter;

#define GROUP_OFFSETS_TOPIC "__consumer_offsets"
#define GROUP_NAME_MAX 255 /* bytes */

struct group_offset {
    char *topic;
    int32_t partition;
    int64_t offset;    /* the next record to read, as in Kafka */
    int64_t commit_ms; /* wall clock of the commit */
};

struct group_offsets;

/* Opens (creating the internal topic, with segments of 'segment_bytes' (0: 16 MiB),
 * if needed) and replays it. */
int group_offsets_open(struct group_offsets **out, struct store *store,
                       uint64_t segment_bytes);
void group_offsets_close(struct group_offsets *g);

/* Commits offsets[0..n) for 'group' as one batch, applies them to the table and lists
 * 'w' (its fire set by the caller) to fire once the batch is durable. Returns 1 if the
 * caller must wait for 'w', 0 if already durable, or -errno (nothing applied). With 'w'
 * NULL the commit is not waited for: it is synced with the topic's next flush. */
int group_offsets_commit(struct group_offsets *g, const char *group,
                         const struct group_offset *offsets, size_t n,
                         struct partition_waiter *w);
/* Deletes every offset of 'group' (tombstones), as a commit does. Returns 1/0 as
 * group_offsets_commit(), -ENOENT if the group has none, or -errno. */
int group_offsets_delete(struct group_offsets *g, const char *group,
                         struct partition_waiter *w);
/* Forgets every group's offsets of 'topic' (it was deleted: a topic made again under
 * the name starts with none), writing tombstones; not waited for: they are synced with
 * the topic's next flush. A group left with no offsets is gone. */
void group_offsets_forget_topic(struct group_offsets *g, const char *topic);
/* The partition the waiters above wait on, for partition_unwatch(). */
struct partition *group_offsets_partition(struct group_offsets *g);

/* A copy of a group's offsets, sorted by topic and partition (free with
 * group_offsets_free()). Returns 0 or -ENOENT. */
int group_offsets_get(struct group_offsets *g, const char *group,
                      struct group_offset **out, size_t *n);
void group_offsets_free(struct group_offset *o, size_t n);
/* The names of the groups with offsets, sorted (free each and the array). */
char **group_offsets_groups(struct group_offsets *g, size_t *n);

/* Kafka's key and value formats: exposed for tests and fuzzing. Encoders append;
 * decoders return 0 or -EBADMSG and point into 'data' (strings are not
 * NUL-terminated: *_len gives their length). */
void group_key_encode(struct buf *b, const char *group, const char *topic,
                      int32_t partition);
int group_key_decode(const uint8_t *data, size_t len, const char **group,
                     size_t *group_len, const char **topic, size_t *topic_len,
                     int32_t *partition);
void group_value_encode(struct buf *b, int64_t offset, int64_t commit_ms);
int group_value_decode(const uint8_t *data, size_t len, int64_t *offset,
                       int64_t *commit_ms);
/* Replays one stored record into a table (group_offsets_open does, for each record). */
int group_offsets_replay_record(void *arg, const struct record *r);

#endif
