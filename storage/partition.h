/* partition.h: one partition's log: an ordered list of segments, one writer at a time,
 * readers without locks, and durability by group commit.
 *
 * Offsets are dense from the log start, until log compaction (partition_compact())
 * removes superseded records from closed segments: survivors keep their offsets, so a
 * compacted log has gaps, and a read from a removed offset starts at the next record
 * that survives. Three marks move up, in this order:
 *   log_end         next offset to assign; bytes up to it are written (page cache)
 *   durable         bytes up to it are fdatasync'ed
 *   high_watermark  what readers see: log_end for flush.policy=interval, durable for
 *                   always. Readers never see a record the policy has not made durable.
 *
 * Group commit: partition_flush() callers that arrive while an fdatasync is running
 * wait for it and then share the next one, so N concurrent durable appenders cost about
 * one fsync per round instead of N.
 *
 * An fdatasync failure is never retried on the same file (fsyncgate): the partition
 * turns read-only and appends fail with -EROFS; what was not durable is never
 * acknowledged. A write that fails (ENOSPC, EIO) is cut back to the last batch so
 * later appends stay contiguous.
 *
 * A roll only creates the next segment: no appending thread ever waits for a sync.
 * partition_flush() (the store's sync thread) syncs every segment holding bytes between
 * the durable mark and its target, so after a roll the old segment is synced by the
 * next flush, and the flush that first crosses a segment boundary records how far the
 * log is synced in 'recovery-point' (Kafka's recovery point). After a crash, opening
 * validates only the segments past it. Files and recovery rules: partition.c. */
#ifndef STORAGE_PARTITION_H
#define STORAGE_PARTITION_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "storage/record.h"
#include "storage/segment.h"

/* Someone to tell when a partition reaches an offset: a long poll waiting for data, a
 * produce waiting for its fdatasync. Caller-owned memory, listed in the partition. */
struct partition_waiter {
    int64_t offset; /* data: fire once high_watermark > offset; durable: once the log
                       is durable up to offset (exclusive), or the partition failed */
    /* Called with the partition's waiter lock held, from whichever thread moved the
     * mark: must be quick and must not call back into the partition. */
    void (*fire)(struct partition_waiter *w);
    struct partition_waiter *prev, *next; /* private */
    int list;                             /* private: which list holds it, 0 none */
};

struct partition_config {
    uint64_t segment_bytes; /* roll when the active segment would pass this */
    int64_t segment_ms;     /* roll when the active segment is this old */
    bool flush_always;      /* flush.policy=always (else interval) */
    int64_t flush_ms;       /* interval between syncs for flush.policy=interval */
    int64_t retention_ms;   /* delete closed segments older than this; -1 never */
    int64_t retention_bytes; /* ... while this much would remain; -1 no limit */
};

/* An immutable snapshot of the segment list; readers hold a reference while reading. */
struct segment_list {
    _Atomic int refs;
    size_t n;
    struct segment *segs[]; /* ascending base offsets; the last one is active */
};

struct partition {
    char *dir;
    int32_t id;
    pthread_mutex_t append_lock; /* the one writer */
    pthread_mutex_t list_lock;   /* guards taking a reference on 'segments' */
    struct segment_list *segments;
    struct partition_config config; /* under append_lock */

    _Atomic int64_t log_start;
    _Atomic int64_t log_end;
    _Atomic int64_t high_watermark;

    pthread_mutex_t sync_lock;
    pthread_cond_t sync_cond;
    bool syncing;         /* under sync_lock: a flush is in fdatasync */
    int64_t durable;      /* under sync_lock */
    int64_t last_sync_ms; /* under sync_lock */
    int64_t recovery_point;       /* under sync_lock: what 'recovery-point' on disk says
                                     (0 if missing): every byte below it is synced */
    int64_t recovery_point_tried; /* under sync_lock: the last one written or tried */

    _Atomic int error; /* 0, or why the partition is read-only (-EIO, -EBADMSG) */

    pthread_mutex_t waiter_lock;
    struct partition_waiter *waiters[2]; /* data and durable waiters, under waiter_lock */
    bool deleted;                        /* under waiter_lock: partition_mark_deleted() */
    _Atomic int nwaiters;                /* lets appends skip the lock when none wait */
    /* Asked for when a durable waiter is listed: someone must partition_flush() soon.
     * Set by the owner (the store's sync thread); NULL means flush on the spot. */
    void (*sync_requested)(void *arg, struct partition *p);
    void *sync_arg;
    void *owner;              /* opaque to the partition: its topic */
    _Atomic bool sync_queued; /* owner's bookkeeping for sync_requested */

    /* Log maintenance: one compaction or retention pass at a time. Taken before
     * append_lock, never while holding it. */
    pthread_mutex_t clean_lock;
    int64_t clean_point;   /* under clean_lock: what 'clean-point' on disk says */
    int64_t clean_to;      /* under clean_lock: below it each key is in one record at
                              most (compacted against every later key up to here) */
    int64_t tombstone_due; /* under clean_lock: a kept tombstone expires once the
                              clock passes this; INT64_MIN: unknown */
};

/* Opens (creating if needed) the partition in 'dir', recovering as the clean-shutdown
 * checkpoint and the recovery point say (rules in partition.c). Returns 0 or -errno.
 * A partition found corrupt still opens, read-only, serving up to the corruption (see
 * partition_error()); a torn write is cut away and the partition served normally. */
int partition_open(struct partition **out, const char *dir, int32_t id,
                   const struct partition_config *config);

/* Syncs, brings 'recovery-point' up to the active segment, writes the clean-shutdown
 * checkpoint and frees. No other thread may be using the partition. NULL is a no-op. */
void partition_close(struct partition *p);

/* Frees without syncing or writing the checkpoint, leaving the files as a crash would
 * (for tests of recovery). */
void partition_abandon(struct partition *p);

void partition_set_config(struct partition *p, const struct partition_config *config);

/* Appends one encoded batch (record_batch_encode()); the partition stamps its base
 * offset into 'batch'. Returns after the write, before any sync: with flush.policy
 * always, call partition_flush(p, *last_offset + 1) before acknowledging. On success
 * sets *base_offset and *last_offset. Returns 0, -EROFS (read-only), -ENOSPC or -EIO
 * (nothing written), -EMSGSIZE (batch larger than segment.bytes or 4 GiB), -EINVAL. */
int partition_append(struct partition *p, uint8_t *batch, size_t len, int64_t *base_offset,
                     int64_t *last_offset);

/* Appends n encoded batches in order under one hold of the append lock, so nothing
 * comes between them. With expect >= 0, only if the next offset is 'expect'; else
 * -ESTALE with the next offset in *base_offset (a conditional append). *base_offset
 * is the first batch's base offset and *last_offset the last record's offset. On an
 * error after some batches were written, those stay (they were not acknowledged) and
 * the error is returned. */
int partition_append_batches(struct partition *p, uint8_t *const *batches,
                             const size_t *lens, size_t n, int64_t expect,
                             int64_t *base_offset, int64_t *last_offset);

/* Encodes recs[0..n) as one batch, appends it and, with flush.policy=always, flushes
 * it. Sets *base_offset. For tests, tools and benchmarks. */
int partition_append_records(struct partition *p, const struct record *recs, size_t n,
                             int64_t *base_offset);

/* Makes offsets below 'upto' durable (group commit), then publishes the high watermark
 * (flush.policy=always): syncs, in order, every segment holding bytes at or past the
 * durable mark (the directory first if one of them is new since the last flush), and
 * after crossing a segment boundary rewrites 'recovery-point'. Blocks on fdatasync:
 * call it from the sync thread, not from a request. Returns 0, or -EIO once a sync
 * has failed (never retried: the partition is read-only). */
int partition_flush(struct partition *p, int64_t upto);

/* Lists 'w' to fire once the high watermark passes w->offset. Returns true (and
 * lists nothing) if it already has, or if the partition is marked deleted. Once listed,
 * w->fire may run at any moment, even before this returns. */
bool partition_watch(struct partition *p, struct partition_waiter *w);
/* The partition's topic is deleted: fires every data waiter now, and partition_watch()
 * returns true from now on, so nobody waits for records that cannot come (the waiter
 * finds out why from its topic). Durable waiters are left to their sync. */
void partition_mark_deleted(struct partition *p);
/* Lists 'w' to fire once the log is durable up to w->offset, and asks for a sync.
 * Returns true (and lists nothing) if it already is, or the partition has failed. */
bool partition_watch_durable(struct partition *p, struct partition_waiter *w);
/* Takes 'w' off its list. Once this returns, w->fire is not running and will not run,
 * so 'w' may be freed. Harmless if 'w' was never listed or has fired. */
void partition_unwatch(struct partition *p, struct partition_waiter *w);

/* Retention: deletes whole closed segments whose newest record is older than
 * retention.ms, and the oldest closed segments while at least retention.bytes would
 * remain (Kafka's rules); the log start moves up. The active segment stays, and so
 * does a segment not yet synced (it goes after the next flush). Readers that hold a
 * deleted segment keep reading it; its files go with the last reference. Returns the
 * number of segments deleted (0 at once while a compaction pass runs). The store skips
 * it for cleanup.policy=compact topics (as Kafka does for "compact" without "delete"). */
int partition_apply_retention(struct partition *p, int64_t now_ms);

/* Log compaction (cleanup.policy=compact; rules in compact.h): in the closed segments
 * that are synced (below the recovery point), removes every record that a later one
 * with the same key supersedes, and tombstones whose timestamp is more than
 * 'delete_retention_ms' before 'now_ms'. The active segment is never touched. Offsets,
 * the log start and the high watermark do not change. Each rewritten segment is
 * swapped in atomically on disk and in memory (segment_commit_cleaned()); readers
 * holding the old one keep reading it. A pass does nothing unless segments were added
 * since the last one or a kept tombstone has expired since. Blocks on I/O for as long
 * as the rewriting takes: call it from a background thread. Returns the number of
 * segments rewritten, or -EROFS (the partition failed: a damaged log is not touched),
 * -EBADMSG (corrupt data met), -EIO, -ENOSPC... (segments rewritten before the error
 * stay rewritten; the rest of the log is as it was). */
int partition_compact(struct partition *p, int64_t now_ms, int64_t delete_retention_ms);

/* For flush.policy=interval: syncs if there is unsynced data and flush.ms has passed
 * since the last sync. Returns 0 or -errno. */
int partition_flush_if_due(struct partition *p, int64_t now_ms);

/* Appends to 'out' whole batches holding records from 'offset' on (the first batch may
 * start before it: skip records below 'offset'), below the high watermark, about
 * 'max_bytes' at most but always at least one batch when one exists. Compaction may
 * have removed 'offset': the first record is then a later one, and between batches
 * offsets may skip (the next offset to read is the last record's + 1, never the
 * count of records). Returns the number of batches: 0 when offset == high watermark,
 * and also when compaction left no record from 'offset' up to the high watermark (the
 * reader is then at the high watermark); -ERANGE if offset is below the log start or
 * above the high watermark, -EBADMSG if the data there is corrupt, -EIO. */
int partition_read(struct partition *p, int64_t offset, size_t max_bytes, struct buf *out);

/* Calls fn on every record from offset 'from' up to the high watermark, in order (with
 * gaps where compaction removed records), until fn returns non-zero (which is
 * returned). Returns 0 at the end, or -errno (-ERANGE for 'from' outside the log,
 * -EBADMSG for corrupt data). */
int partition_for_each(struct partition *p, int64_t from,
                       int (*fn)(void *arg, const struct record *r), void *arg);

/* The first offset whose record timestamp is >= ts, or the high watermark if none
 * (an offset that holds a record: compaction's gaps are skipped). Returns 0 or -errno. */
int partition_offset_for_time(struct partition *p, int64_t ts, int64_t *offset);

static inline int64_t partition_log_start(struct partition *p)
{
    return atomic_load_explicit(&p->log_start, memory_order_acquire);
}

static inline int64_t partition_high_watermark(struct partition *p)
{
    return atomic_load_explicit(&p->high_watermark, memory_order_acquire);
}

static inline int partition_error(struct partition *p)
{
    return atomic_load_explicit(&p->error, memory_order_acquire);
}

/* Bytes of log on disk (whole batches). */
uint64_t partition_size_bytes(struct partition *p);

/* Takes and drops a reference on the current segment list (for readers and tests). */
struct segment_list *partition_segments(struct partition *p);
void segment_list_put(struct segment_list *l);

/* Readers of the partition directory's files: exposed for tests and fuzzing. */
int64_t partition_read_recovery_point(const char *dir);
/* Reads 'clean-point' into *point: 0, -ENOENT (no file: nothing compacted), or
 * -EBADMSG (malformed, logged). */
int partition_read_clean_point(const char *dir, int64_t *point);
bool partition_checkpoint_matches(const char *dir, int64_t active_base);
bool partition_parse_segment_name(const char *name, const char *ext, int64_t *base);

#endif
