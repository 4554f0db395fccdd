/* segment.h: one segment of a partition log: a .log file of record batches and its two
 * sparse indexes, all named by the segment's base offset in 20 digits.
 *
 *   00000000000000000000.log        RecordBatch v2 batches, back to back
 *   00000000000000000000.index      8-byte entries: | u32 relative offset | u32 position |
 *   00000000000000000000.timeindex 12-byte entries: | i64 timestamp | u32 relative offset |
 *
 * All integers big-endian, as Kafka writes them. An offset index entry (r, pos) says the
 * batch whose baseOffset is base+r starts at byte pos of the .log; one is written when
 * at least SEGMENT_INDEX_INTERVAL bytes were appended since the last one. A time index
 * entry (ts, r) says every record at an offset below base+r has a timestamp <= ts;
 * it is written beside an offset index entry when the running maximum timestamp grew.
 *
 * Invariants: bytes of the .log below 'size' are whole, valid batches and never change
 * while the segment is open; index entries below 'index_entries' are durable in the
 * page cache and never change. Readers load those two counters (acquire) and take no
 * lock; one writer at a time (the partition's append lock) appends.
 *
 * Indexes are not synced: after a crash, recovery rebuilds them from the log. They are
 * read with pread, never mmap (a disk error under mmap is a SIGBUS).
 *
 * A compacted segment (log compaction, compact.c) holds only some of its offsets: its
 * baseOffsets increase but may skip (offsets stay dense inside each batch), and its
 * offsets end where the next segment begins ('compacted_end'), whatever its last record.
 * A segment is rewritten beside itself as <base>.log.cleaned (and .index.cleaned,
 * .timeindex.cleaned) and renamed over the original by segment_commit_cleaned(): the
 * rename is the commit, so the name always holds the old log or the new one, whole.
 */
#ifndef STORAGE_SEGMENT_H
#define STORAGE_SEGMENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/buf.h"

#define SEGMENT_INDEX_INTERVAL 4096 /* bytes of log between two index entries */
#define SEGMENT_INDEX_ENTRY 8
#define SEGMENT_TIME_ENTRY 12
#define SEGMENT_CLEANED_SUFFIX ".cleaned" /* files of a segment being rewritten */

struct segment {
    int64_t base_offset;
    char *path;                     /* <dir>/<20 digits>, without extension */
    int log_fd, index_fd, time_fd;  /* -1 when closed */
    _Atomic uint64_t size;          /* bytes of whole batches readers may see */
    _Atomic int64_t next_offset;    /* one past the last offset in the segment */
    _Atomic int64_t max_timestamp;  /* largest record timestamp, INT64_MIN if empty */
    _Atomic uint32_t index_entries; /* entries readers may search */
    _Atomic uint32_t time_entries;
    int64_t created_ms;             /* first append (wall clock) for segment.ms */
    uint64_t bytes_since_index;     /* writer only */
    int64_t time_indexed_max;       /* writer only: timestamp of the last time entry */
    _Atomic int refs;
    _Atomic bool remove_on_close;   /* unlink the files when the last reference goes */
    bool dir_synced;                /* its names are durable: false from segment_create
                                       until the partition's flush fsyncs the directory
                                       (the flush, one at a time, is the only user) */
    int64_t compacted_end;          /* -1: dense. Else a compacted segment whose
                                       offsets may skip, ending here (the next
                                       segment's base) */
    bool staged;                    /* files still named *.cleaned: written by the
                                       cleaner, not committed yet */
};

/* The outcome of reading a segment's batches from disk. */
struct segment_scan {
    uint64_t valid_bytes; /* length of the prefix of whole, valid batches */
    int64_t next_offset;  /* one past the last offset in that prefix */
    int64_t max_timestamp;
    uint64_t file_bytes;  /* the .log's size on disk */
    int error;            /* 0, or -EBADMSG at valid_bytes (bad batch), -EIO ... */
    bool misplaced;       /* the bad batch is whole and valid, at the wrong offset:
                             damage (or gaps of a compaction recovery was not told
                             of), never a torn write, so it is never cut */
};

/* Creates the three empty files of a new segment with base offset 'base' in 'dir'.
 * The directory is not fsynced here (a roll runs on the appending thread): the new
 * names are durable only once someone fsyncs 'dir', and until then s->dir_synced is
 * false. *out holds one reference. Returns 0 or -errno (-EEXIST: the .log exists). */
int segment_create(struct segment **out, const char *dir, int64_t base);

/* Opens an existing segment and brings its indexes in line with its log:
 * - 'recover' (the segment may hold a torn tail): every batch is validated from the
 *   start, the log is cut after the last valid one (unless what follows is a whole,
 *   valid batch at an unexpected offset: scan->misplaced), and both indexes are
 *   rebuilt;
 * - otherwise the indexes are checked (sizes, order, bounds, that the last entry
 *   points at a batch) and rebuilt from the log if missing or damaged, and the batches
 *   after the last index entry are validated to find the end.
 * A batch is valid if it passes record_batch_check() and its baseOffset is exactly the
 * next offset; with 'compacted_end' >= 0 (a segment that compaction may have rewritten)
 * a baseOffset may skip ahead instead, but every record must lie below compacted_end,
 * and the segment's next offset is then compacted_end.
 * A bad batch that is not cut (closed segments) is not served: the segment's size
 * stops before it and *scan reports -EBADMSG at that position. *out holds one reference.
 * Returns 0 (check scan->error) or -errno if the files cannot be opened or read. */
int segment_open(struct segment **out, const char *dir, int64_t base,
                 int64_t compacted_end, bool recover, struct segment_scan *scan);

/* Creates (or empties) the staged files <base>.log.cleaned, .index.cleaned and
 * .timeindex.cleaned in 'dir' for a compacted copy of the segment at 'base' that ends
 * at 'end': segment_append() then takes batches whose baseOffsets skip, as long as
 * they end below 'end'. *out holds one reference; readers must not see it before
 * segment_commit_cleaned(). Returns 0 or -errno (nothing left behind). */
int segment_create_cleaned(struct segment **out, const char *dir, int64_t base,
                           int64_t end);

/* Puts a staged segment in place of the segment with the same base offset, in an
 * order that leaves after a crash at any point either the old log or the new one
 * under <base>.log, whole, and never one log beside the other's index:
 *   1. fdatasync <base>.log.cleaned
 *   2. unlink <base>.index and <base>.timeindex, fsync the directory
 *   3. rename <base>.log.cleaned over <base>.log, fsync the directory (the commit)
 *   4. rename the two staged indexes into place, fsync the directory
 * A missing index is rebuilt from the log at open, and leftover *.cleaned files are
 * removed there (partition.c). Readers holding the old segment keep reading its files,
 * which live on, unlinked, until their last descriptor closes. Returns 0 once step 3's
 * rename is done (later failures are logged: the next open rebuilds the indexes);
 * else -errno, the old log in place and the staged one to be discarded. */
int segment_commit_cleaned(struct segment *s);

/* Drops a staged segment that will not be committed, removing its files. */
void segment_discard(struct segment *s);

void segment_get(struct segment *s);
/* Drops a reference; the last one closes the files (and removes them if marked). */
void segment_put(struct segment *s);

/* Writes one batch (already stamped with its base offset) at the end of the log with a
 * single pwritev, adds index entries, then publishes the new size and offsets.
 * 'base_offset' must equal next_offset (in a staged compacted segment: be at least
 * next_offset, with the batch ending below the segment's end). On a write error the
 * log is cut back to its previous size and the error is returned (-ENOSPC, -EIO...);
 * if even the cut fails, -EIO and *torn is set (the segment must not be written
 * again). Writer only. */
int segment_append(struct segment *s, const struct iovec *iov, int iovcnt, size_t len,
                   int64_t base_offset, int32_t record_count, int64_t max_timestamp,
                   bool *torn);

/* fdatasync of the log. Returns 0 or -errno; a failure must not be retried. */
int segment_sync(struct segment *s);

/* The byte position of the batch holding 'offset' (base_offset <= offset <
 * next_offset), found by index lookup and a short scan. In a compacted segment, where
 * 'offset' may have been removed, the position of the first batch after it. Returns
 * 0, -ERANGE if the offset is not in the segment (or, compacted, nothing survives from
 * it to the segment's end), -EBADMSG or -EIO. */
int segment_find(struct segment *s, int64_t offset, uint64_t *pos);

/* The position of the first batch that may hold a record with timestamp >= ts, by the
 * time index. Returns 0, or -ERANGE if no record in the segment is that late. */
int segment_find_time(struct segment *s, int64_t ts, uint64_t *pos);

/* Appends to 'out' whole batches starting at 'pos', stopping before a batch whose
 * baseOffset is >= 'end_offset', at the segment's end, or once 'max_bytes' would be
 * passed (the first batch is always given whole). Each batch's CRC is checked.
 * *next_pos is where reading stopped. Returns the number of batches, or -EBADMSG/-EIO. */
int segment_read(struct segment *s, uint64_t pos, int64_t end_offset, size_t max_bytes,
                 struct buf *out, uint64_t *next_pos);

static inline uint64_t segment_size(struct segment *s)
{
    return atomic_load_explicit(&s->size, memory_order_acquire);
}

static inline int64_t segment_next_offset(struct segment *s)
{
    return atomic_load_explicit(&s->next_offset, memory_order_acquire);
}

#endif
