/* compact.h: log compaction (Kafka's cleanup.policy=compact): which records of a closed
 * segment survive, and the rewriting of a segment into a staged copy of its survivors.
 * partition_compact() (partition.c) chooses the segments, runs the pass and swaps the
 * copies in; the rules are here:
 *
 *  - a record is removed when a later record in the key map has the same key (the key
 *    map holds, for every key in a range of segments, the highest offset holding it);
 *  - the latest record of a key that is a tombstone (null value) is removed once
 *    delete.retention.ms have passed since its timestamp, i.e. when now - timestamp >
 *    delete.retention.ms. The record's own timestamp (CreateTime, given by the
 *    producer) decides, not the time it was first cleaned as in Kafka 3 (which stores
 *    that "delete horizon" in the batch header): a tombstone produced with an old
 *    timestamp can go at the first pass that finds it in a closed segment;
 *  - a record without a key (null key) is kept: it cannot be superseded. Kafka refuses
 *    them on compacted topics; we take and keep them.
 *
 * Survivors keep their offsets. A batch that loses nothing is copied byte for byte;
 * one that loses records is re-encoded as one batch per run of consecutive surviving
 * offsets (record.c reads only dense offsetDeltas inside a batch, so the gaps fall
 * between batches), with the records' timestamps, keys, values and headers as they
 * were. Batch attributes are rewritten as ours always are: 0. */
#ifndef STORAGE_COMPACT_H
#define STORAGE_COMPACT_H

#include <stddef.h>
#include <stdint.h>

#include "storage/segment.h"

/* Bytes of key map one pass may build before it stops taking more segments (at least
 * one segment is always taken). */
#define COMPACT_MAP_BUDGET ((size_t)64 << 20)

/* Keys to latest offsets. Keys are compared whole (the hash only finds candidates), so
 * two keys never stand for each other, whatever a producer chooses. */
struct compact_map;

struct compact_map *compact_map_new(void);
void compact_map_free(struct compact_map *m);
/* Adds every keyed record of the segment 's' (closed: its size does not change) in
 * offset order, so each key ends up with its highest offset. Returns 0, -EBADMSG
 * (corrupt data: nothing should be compacted) or -EIO. */
int compact_map_add_segment(struct compact_map *m, struct segment *s);
/* Memory the map holds, for COMPACT_MAP_BUDGET. */
size_t compact_map_bytes(const struct compact_map *m);

struct compact_rules {
    const struct compact_map *map; /* may be NULL: only expired tombstones go */
    int64_t now_ms;
    int64_t delete_retention_ms; /* >= 0 */
};

struct compact_outcome {
    uint64_t kept, removed; /* records of the segment */
    int64_t tombstone_due;  /* the earliest time a kept tombstone expires (it goes once
                               now is past it), INT64_MAX if none */
};

/* Applies 'rules' to the closed segment 's' in 'dir'. If nothing goes, *out is NULL
 * and nothing is written. Else *out is a staged segment (segment_create_cleaned(),
 * ending where 's' ends) holding the survivors, written but not synced or committed:
 * segment_commit_cleaned() it, or segment_discard() it. *o is filled either way.
 * Returns 0, or -errno (nothing staged left behind). */
int compact_segment(struct segment *s, const char *dir, const struct compact_rules *rules,
                    struct segment **out, struct compact_outcome *o);

#endif
