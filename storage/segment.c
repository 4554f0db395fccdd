/* segment.c: one segment of a partition log (format and invariants in segment.h).
 *
 * Contents: file naming and opening; scanning the log (recovery and index rebuild);
 * index checks at open; append; staged (compacted) segments and their commit; lookups
 * by offset and time; reads. */
#include "storage/segment.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "storage/io.h"
#include "storage/record.h"

#define SCAN_CHUNK (1u << 20) /* bytes read at a time when scanning a log */

static void file_path(struct buf *out, const struct segment *s, const char *ext)
{
    buf_reset(out);
    buf_printf(out, "%s.%s%s", s->path, ext, s->staged ? SEGMENT_CLEANED_SUFFIX : "");
}

static struct segment *segment_alloc(const char *dir, int64_t base)
{
    struct segment *s = xcalloc(1, sizeof(*s));
    struct buf path = BUF_INIT;

    buf_printf(&path, "%s/%020" PRId64, dir, base);
    s->path = buf_detach(&path, NULL);
    s->base_offset = base;
    s->log_fd = s->index_fd = s->time_fd = -1;
    atomic_init(&s->size, 0);
    atomic_init(&s->next_offset, base);
    atomic_init(&s->max_timestamp, INT64_MIN);
    atomic_init(&s->index_entries, 0);
    atomic_init(&s->time_entries, 0);
    atomic_init(&s->refs, 1);
    atomic_init(&s->remove_on_close, false);
    s->dir_synced = true; /* an existing segment; segment_create says otherwise */
    s->time_indexed_max = INT64_MIN;
    s->compacted_end = -1;
    return s;
}

static void segment_free(struct segment *s)
{
    io_close(s->log_fd);
    io_close(s->index_fd);
    io_close(s->time_fd);
    if (atomic_load(&s->remove_on_close)) {
        struct buf p = BUF_INIT;
        const char *exts[] = {"log", "index", "timeindex"};

        for (size_t i = 0; i < 3; i++) {
            file_path(&p, s, exts[i]);
            io_unlink(p.data);
        }
        buf_release(&p);
    }
    free(s->path);
    free(s);
}

void segment_get(struct segment *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void segment_put(struct segment *s)
{
    if (s && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
        segment_free(s);
}

/* Opens the three files, the log with 'log_flags' and the indexes with 'index_flags'
 * (both with O_RDWR). */
static int open_files(struct segment *s, int log_flags, int index_flags)
{
    struct buf p = BUF_INIT;
    int fd;

    file_path(&p, s, "log");
    fd = io_open(p.data, O_RDWR | log_flags, 0644);
    if (fd < 0)
        goto out;
    s->log_fd = fd;
    file_path(&p, s, "index");
    fd = io_open(p.data, O_RDWR | index_flags, 0644);
    if (fd < 0)
        goto out;
    s->index_fd = fd;
    file_path(&p, s, "timeindex");
    fd = io_open(p.data, O_RDWR | index_flags, 0644);
    if (fd < 0)
        goto out;
    s->time_fd = fd;
    fd = 0;
out:
    buf_release(&p);
    return fd < 0 ? fd : 0;
}

int segment_create(struct segment **out, const char *dir, int64_t base)
{
    struct segment *s = segment_alloc(dir, base);
    int ret = open_files(s, O_CREAT | O_EXCL, O_CREAT | O_TRUNC);

    if (ret) {
        segment_free(s);
        return ret;
    }
    s->dir_synced = false;
    *out = s;
    return 0;
}

/* ---- index entries ---- */

static void encode_index_entry(uint8_t e[SEGMENT_INDEX_ENTRY], uint32_t rel, uint32_t pos)
{
    store_be32(e, rel);
    store_be32(e + 4, pos);
}

static void encode_time_entry(uint8_t e[SEGMENT_TIME_ENTRY], int64_t ts, uint32_t rel)
{
    store_be64(e, (uint64_t)ts);
    store_be32(e + 8, rel);
}

/* Collects index entries while batches go by, with the same rule as append. */
struct index_builder {
    struct buf index, time;
    uint32_t index_entries, time_entries;
    uint64_t bytes_since_index;
    int64_t max_ts;          /* running maximum timestamp */
    int64_t time_indexed_max;
};

static void builder_init(struct index_builder *b)
{
    buf_init(&b->index);
    buf_init(&b->time);
    b->index_entries = b->time_entries = 0;
    b->bytes_since_index = 0;
    b->max_ts = INT64_MIN;
    b->time_indexed_max = INT64_MIN;
}

static void builder_release(struct index_builder *b)
{
    buf_release(&b->index);
    buf_release(&b->time);
}

/* A batch of 'len' bytes with baseOffset base+rel at 'pos': which entries it gets.
 * Returns which entries to add: bit 0 offset entry, bit 1 time entry. */
static int index_rule(uint64_t *bytes_since_index, int64_t max_ts_before,
                      int64_t *time_indexed_max, uint64_t pos, size_t len)
{
    int add = 0;

    if (pos > 0 && *bytes_since_index >= SEGMENT_INDEX_INTERVAL) {
        add |= 1;
        *bytes_since_index = 0;
        if (max_ts_before > *time_indexed_max) {
            add |= 2;
            *time_indexed_max = max_ts_before;
        }
    }
    *bytes_since_index += len;
    return add;
}

static void builder_add(struct index_builder *b, uint32_t rel, uint64_t pos, size_t len,
                        int64_t batch_max_ts)
{
    int add = index_rule(&b->bytes_since_index, b->max_ts, &b->time_indexed_max, pos, len);
    uint8_t e[SEGMENT_TIME_ENTRY];

    if (add & 1) {
        encode_index_entry(e, rel, (uint32_t)pos);
        buf_add(&b->index, e, SEGMENT_INDEX_ENTRY);
        b->index_entries++;
    }
    if (add & 2) {
        encode_time_entry(e, b->max_ts, rel);
        buf_add(&b->time, e, SEGMENT_TIME_ENTRY);
        b->time_entries++;
    }
    if (batch_max_ts > b->max_ts)
        b->max_ts = batch_max_ts;
}

/* ---- scanning the log ---- */

/* The total size a batch header at 'p' claims (>= 61), or 0 if impossible. Only the
 * 12 bytes before partitionLeaderEpoch are needed. */
static size_t claimed_size(const uint8_t *p)
{
    int32_t len = (int32_t)load_be32(p + 8);

    if (len < RECORD_BATCH_OVERHEAD - RECORD_BATCH_LOG_OVERHEAD)
        return 0;
    return RECORD_BATCH_LOG_OVERHEAD + (size_t)len;
}

/* Whether a checked batch may come where 'expected' is the next offset: exactly there
 * in a dense segment. In a compacted one anywhere from there on, ending below the
 * next segment, with relative offsets that fit the index's u32 (baseOffset is outside
 * the CRC: these bounds are all that catch a damaged one there). */
static bool batch_follows(const struct segment *s, const struct record_batch_header *h,
                          int64_t expected)
{
    int64_t end = s->compacted_end;

    if (end < 0)
        return h->base_offset == expected;
    return h->base_offset >= expected && h->base_offset < end &&
           h->last_offset_delta < end - h->base_offset &&
           h->base_offset - s->base_offset <= (int64_t)UINT32_MAX - h->last_offset_delta;
}

/* Walks the batches of the log from 'pos' (where baseOffset 'offset' is expected),
 * validating each (bounds, magic, CRC, records, baseOffset as batch_follows() says),
 * feeding 'b' if given, until the end of the file or the first bad batch. */
static void scan_log(struct segment *s, uint64_t pos, int64_t offset,
                     struct index_builder *b, struct segment_scan *out)
{
    struct buf chunk = BUF_INIT;
    off_t file_size = io_file_size(s->log_fd);

    memset(out, 0, sizeof(*out));
    out->max_timestamp = INT64_MIN;
    out->valid_bytes = pos;
    out->next_offset = offset;
    if (file_size < 0) {
        out->error = (int)file_size;
        return;
    }
    out->file_bytes = (uint64_t)file_size;
    while (pos < out->file_bytes) {
        uint64_t left = out->file_bytes - pos;
        size_t want = left < SCAN_CHUNK ? (size_t)left : SCAN_CHUNK;
        size_t at = 0;
        ssize_t n;

        for (;;) {
            buf_reset(&chunk);
            buf_grow(&chunk, want);
            n = io_pread_full(s->log_fd, chunk.data, want, (off_t)pos);
            if (n < 0) {
                out->error = (int)n;
                goto out;
            }
            chunk.len = (size_t)n;
            /* A first batch larger than the chunk is read again whole. */
            if (chunk.len >= RECORD_BATCH_LOG_OVERHEAD && claimed_size((uint8_t *)chunk.data) >
                chunk.len && claimed_size((uint8_t *)chunk.data) <= left &&
                want < claimed_size((uint8_t *)chunk.data)) {
                want = claimed_size((uint8_t *)chunk.data);
                continue;
            }
            break;
        }
        while (at < chunk.len) {
            const uint8_t *p = (const uint8_t *)chunk.data + at;
            size_t avail = chunk.len - at;
            struct record_batch_header h;
            size_t total;

            if (avail < RECORD_BATCH_OVERHEAD ||
                (total = claimed_size(p)) == 0 || total > avail) {
                total = avail >= RECORD_BATCH_LOG_OVERHEAD ? claimed_size(p) : 0;
                if (at > 0 && total && pos + at + total <= out->file_bytes)
                    break; /* whole on disk, cut by the chunk: read on from here */
                if (at > 0 && !total && avail < RECORD_BATCH_LOG_OVERHEAD &&
                    pos + chunk.len < out->file_bytes)
                    break;
                out->error = -EBADMSG; /* a torn tail, or a length that cannot be */
                goto out;
            }
            if (record_batch_check(p, avail, &h)) {
                out->error = -EBADMSG;
                goto out;
            }
            if (!batch_follows(s, &h, out->next_offset)) {
                out->error = -EBADMSG;
                out->misplaced = true;
                goto out;
            }
            if (b)
                builder_add(b, (uint32_t)(h.base_offset - s->base_offset), pos + at,
                            total, h.max_timestamp);
            if (h.max_timestamp > out->max_timestamp)
                out->max_timestamp = h.max_timestamp;
            at += total;
            out->valid_bytes = pos + at;
            out->next_offset = h.base_offset + h.last_offset_delta + 1;
        }
        pos += at;
    }
out:
    buf_release(&chunk);
}

/* Replaces both index files with the builder's entries. */
static int write_indexes(struct segment *s, struct index_builder *b)
{
    int ret = io_ftruncate(s->index_fd, 0);

    if (!ret)
        ret = io_pwrite_full(s->index_fd, b->index.data, b->index.len, 0);
    if (!ret)
        ret = io_ftruncate(s->time_fd, 0);
    if (!ret)
        ret = io_pwrite_full(s->time_fd, b->time.data, b->time.len, 0);
    return ret;
}

/* Sets the in-memory state from a scan of the whole log and its rebuilt indexes. */
static void adopt_scan(struct segment *s, const struct segment_scan *scan,
                       const struct index_builder *b, uint64_t last_index_pos)
{
    atomic_store(&s->index_entries, b->index_entries);
    atomic_store(&s->time_entries, b->time_entries);
    s->bytes_since_index = scan->valid_bytes - last_index_pos;
    s->time_indexed_max = b->time_indexed_max;
    atomic_store(&s->max_timestamp, scan->max_timestamp);
    atomic_store(&s->next_offset, scan->next_offset);
    atomic_store(&s->size, scan->valid_bytes);
}

/* Scans the whole log, rebuilding both indexes; cuts a bad tail when 'cut'. */
static int rebuild(struct segment *s, bool cut, struct segment_scan *scan)
{
    struct index_builder b;
    uint64_t last_pos = 0;
    int ret;

    builder_init(&b);
    scan_log(s, 0, s->base_offset, &b, scan);
    if (scan->error && scan->error != -EBADMSG) {
        ret = scan->error;
        goto out;
    }
    if (b.index_entries)
        last_pos = load_be32((const uint8_t *)b.index.data + b.index.len - 4);
    /* A torn write leaves a batch cut short or garbage, never a whole valid batch at
     * the wrong offset: that is damage, to report, not a tail to cut. */
    if (cut && scan->valid_bytes < scan->file_bytes && !scan->misplaced) {
        log_warn("segment '%s.log': cutting %" PRIu64 " bytes of torn or invalid tail at "
                 "position %" PRIu64,
                 s->path, scan->file_bytes - scan->valid_bytes, scan->valid_bytes);
        ret = io_ftruncate(s->log_fd, (off_t)scan->valid_bytes);
        if (!ret)
            ret = io_fdatasync(s->log_fd);
        if (ret)
            goto out;
        scan->error = 0;
    }
    ret = write_indexes(s, &b);
    if (!ret)
        adopt_scan(s, scan, &b, last_pos);
out:
    builder_release(&b);
    return ret;
}

/* Reads a whole index file; returns its size in entries or -errno. */
static int read_index_file(int fd, size_t entry, struct buf *out)
{
    off_t size = io_file_size(fd);
    ssize_t n;

    if (size < 0)
        return (int)size;
    if ((size_t)size % entry || (uint64_t)size / entry > UINT32_MAX)
        return -EBADMSG;
    buf_grow(out, (size_t)size);
    n = io_pread_full(fd, out->data, (size_t)size, 0);
    if (n != size)
        return n < 0 ? (int)n : -EBADMSG;
    out->len = (size_t)n;
    return (int)((size_t)size / entry);
}

/* Checks the indexes against the log; on success sets the index state and returns the
 * position and offset of the last indexed batch, from which the tail is scanned. */
static int check_indexes(struct segment *s, uint64_t log_size, uint64_t *tail_pos,
                         int64_t *tail_offset)
{
    struct buf ix = BUF_INIT, tx = BUF_INIT;
    uint8_t head[RECORD_BATCH_LOG_OVERHEAD];
    int n, nt, ret = -EBADMSG;
    uint32_t prev_rel = 0, prev_pos = 0;
    int64_t prev_ts = INT64_MIN;

    n = read_index_file(s->index_fd, SEGMENT_INDEX_ENTRY, &ix);
    nt = read_index_file(s->time_fd, SEGMENT_TIME_ENTRY, &tx);
    if (n < 0 || nt < 0)
        goto out;
    for (int i = 0; i < n; i++) {
        const uint8_t *e = (const uint8_t *)ix.data + (size_t)i * SEGMENT_INDEX_ENTRY;
        uint32_t rel = load_be32(e), pos = load_be32(e + 4);

        if (rel <= prev_rel || pos <= prev_pos || pos >= log_size)
            goto out;
        prev_rel = rel;
        prev_pos = pos;
    }
    for (int i = 0; i < nt; i++) {
        const uint8_t *e = (const uint8_t *)tx.data + (size_t)i * SEGMENT_TIME_ENTRY;
        int64_t ts = (int64_t)load_be64(e);
        uint32_t rel = load_be32(e + 8);

        if (ts <= prev_ts || rel > prev_rel || (i > 0 && rel == 0))
            goto out;
        prev_ts = ts;
    }
    *tail_pos = 0;
    *tail_offset = s->base_offset;
    if (n > 0) {
        if (io_pread_full(s->log_fd, head, sizeof(head), prev_pos) != sizeof(head))
            goto out;
        if ((int64_t)load_be64(head) != s->base_offset + prev_rel || !claimed_size(head))
            goto out;
        *tail_pos = prev_pos;
        *tail_offset = s->base_offset + prev_rel;
    }
    atomic_store(&s->index_entries, (uint32_t)n);
    atomic_store(&s->time_entries, (uint32_t)nt);
    s->time_indexed_max = prev_ts;
    ret = 0;
out:
    buf_release(&ix);
    buf_release(&tx);
    return ret;
}

/* Validates the batches after the last index entry and indexes them: the indexes are
 * not synced, so a crash may have left them short (or, if deleted, empty). */
static int scan_tail(struct segment *s, uint64_t tail_pos, int64_t tail_offset,
                     struct segment_scan *scan)
{
    uint32_t n = atomic_load(&s->index_entries), nt = atomic_load(&s->time_entries);
    struct index_builder b;
    int ret;

    /* The rule's state right after the last entry: the maximum timestamp before it is
     * the last time entry's, since a time entry is written whenever the maximum grew. */
    builder_init(&b);
    b.max_ts = b.time_indexed_max = s->time_indexed_max;
    scan_log(s, tail_pos, tail_offset, &b, scan);
    if (scan->error && scan->error != -EBADMSG) {
        ret = scan->error;
        goto out;
    }
    ret = io_pwrite_full(s->index_fd, b.index.data, b.index.len,
                         (off_t)n * SEGMENT_INDEX_ENTRY);
    if (!ret)
        ret = io_pwrite_full(s->time_fd, b.time.data, b.time.len,
                             (off_t)nt * SEGMENT_TIME_ENTRY);
    if (ret)
        goto out;
    atomic_store(&s->index_entries, n + b.index_entries);
    atomic_store(&s->time_entries, nt + b.time_entries);
    s->time_indexed_max = b.time_indexed_max;
    s->bytes_since_index = b.bytes_since_index;
    atomic_store(&s->max_timestamp, b.max_ts);
    atomic_store(&s->next_offset, scan->next_offset);
    atomic_store(&s->size, scan->valid_bytes);
out:
    builder_release(&b);
    return ret;
}

int segment_open(struct segment **out, const char *dir, int64_t base,
                 int64_t compacted_end, bool recover, struct segment_scan *scan)
{
    struct segment *s = segment_alloc(dir, base);
    uint64_t tail_pos;
    int64_t tail_offset;
    off_t size;
    int ret;

    s->compacted_end = compacted_end;
    ret = open_files(s, 0, O_CREAT);
    if (ret)
        goto fail;
    if (recover) {
        ret = rebuild(s, true, scan);
        goto done;
    }
    size = io_file_size(s->log_fd);
    if (size < 0) {
        ret = (int)size;
        goto fail;
    }
    if (check_indexes(s, (uint64_t)size, &tail_pos, &tail_offset)) {
        log_warn("segment '%s': index missing or damaged, rebuilding it from the log",
                 s->path);
        ret = rebuild(s, false, scan);
        goto done;
    }
    ret = scan_tail(s, tail_pos, tail_offset, scan);
done:
    if (ret)
        goto fail;
    if (scan->error)
        log_error("segment '%s.log': corrupt batch at position %" PRIu64
                  " (offset %" PRId64 "); not serving from there on",
                  s->path, scan->valid_bytes, scan->next_offset);
    else if (compacted_end >= 0) /* what compaction removed at the end is still ours */
        atomic_store(&s->next_offset, compacted_end);
    *out = s;
    return 0;
fail:
    segment_free(s);
    return ret;
}

/* ---- writing ---- */

/* Adds the entries the index rule asks for before the batch at 'pos'. An entry that
 * cannot be written is skipped: lookups then scan a little further, and the next open
 * finds the gap harmless (entries stay ordered). */
static void index_batch(struct segment *s, int64_t base_offset, uint64_t pos, size_t len)
{
    int64_t max_before = atomic_load_explicit(&s->max_timestamp, memory_order_relaxed);
    int add = index_rule(&s->bytes_since_index, max_before, &s->time_indexed_max, pos, len);
    uint32_t rel = (uint32_t)(base_offset - s->base_offset);
    uint8_t e[SEGMENT_TIME_ENTRY];

    if (add & 1) {
        uint32_t n = atomic_load_explicit(&s->index_entries, memory_order_relaxed);
        encode_index_entry(e, rel, (uint32_t)pos);
        if (io_pwrite_full(s->index_fd, e, SEGMENT_INDEX_ENTRY,
                           (off_t)n * SEGMENT_INDEX_ENTRY) == 0)
            atomic_store_explicit(&s->index_entries, n + 1, memory_order_release);
        else
            add &= ~2; /* a time entry must point at an indexed batch */
    }
    if (add & 2) {
        uint32_t n = atomic_load_explicit(&s->time_entries, memory_order_relaxed);
        encode_time_entry(e, max_before, rel);
        if (io_pwrite_full(s->time_fd, e, SEGMENT_TIME_ENTRY,
                           (off_t)n * SEGMENT_TIME_ENTRY) == 0)
            atomic_store_explicit(&s->time_entries, n + 1, memory_order_release);
    }
}

int segment_append(struct segment *s, const struct iovec *iov, int iovcnt, size_t len,
                   int64_t base_offset, int32_t record_count, int64_t max_timestamp,
                   bool *torn)
{
    uint64_t pos = atomic_load_explicit(&s->size, memory_order_relaxed);
    int64_t next = atomic_load_explicit(&s->next_offset, memory_order_relaxed);
    int ret;

    *torn = false;
    if (record_count <= 0 || pos + len > UINT32_MAX)
        return -EINVAL;
    if (s->compacted_end < 0 ? base_offset != next
                             : base_offset < next ||
                                   record_count > s->compacted_end - base_offset)
        return -EINVAL;
    ret = io_pwritev_full(s->log_fd, iov, iovcnt, (off_t)pos);
    if (ret) {
        /* Cut back what may have landed, so the log ends on a batch boundary. */
        if (io_ftruncate(s->log_fd, (off_t)pos))
            *torn = true;
        return ret;
    }
    if (!s->created_ms)
        s->created_ms = clock_wall_ms();
    index_batch(s, base_offset, pos, len);
    if (max_timestamp > atomic_load_explicit(&s->max_timestamp, memory_order_relaxed))
        atomic_store_explicit(&s->max_timestamp, max_timestamp, memory_order_release);
    atomic_store_explicit(&s->next_offset, base_offset + record_count, memory_order_release);
    atomic_store_explicit(&s->size, pos + len, memory_order_release);
    return 0;
}

int segment_sync(struct segment *s)
{
    return io_fdatasync(s->log_fd);
}

/* ---- staged (compacted) segments ---- */

int segment_create_cleaned(struct segment **out, const char *dir, int64_t base,
                           int64_t end)
{
    struct segment *s = segment_alloc(dir, base);
    int ret;

    s->staged = true;
    s->compacted_end = end;
    s->dir_synced = false;
    /* A staged file left by an earlier failed pass is ours to overwrite. */
    ret = open_files(s, O_CREAT | O_TRUNC, O_CREAT | O_TRUNC);
    if (ret) {
        segment_discard(s);
        return ret;
    }
    *out = s;
    return 0;
}

void segment_discard(struct segment *s)
{
    atomic_store(&s->remove_on_close, true);
    segment_put(s);
}

/* The directory holding the segment's files. */
static void segment_dir(struct buf *out, const struct segment *s)
{
    buf_reset(out);
    buf_add(out, s->path, (size_t)(strrchr(s->path, '/') - s->path));
}

/* Renames the staged file 'ext' over its final name. */
static int rename_staged(struct segment *s, const char *ext, struct buf *from,
                         struct buf *to)
{
    buf_reset(from);
    buf_printf(from, "%s.%s" SEGMENT_CLEANED_SUFFIX, s->path, ext);
    buf_reset(to);
    buf_printf(to, "%s.%s", s->path, ext);
    return io_ops->rename(from->data, to->data) ? -errno : 0;
}

int segment_commit_cleaned(struct segment *s)
{
    struct buf dir = BUF_INIT, from = BUF_INIT, to = BUF_INIT;
    int ret = io_fdatasync(s->log_fd);

    segment_dir(&dir, s);
    /* An old index beside the new log would point into the middle of batches: the old
     * indexes go first, and for good, before the log changes. */
    for (int i = 0; !ret && i < 2; i++) {
        buf_reset(&to);
        buf_printf(&to, "%s.%s", s->path, i ? "timeindex" : "index");
        ret = io_unlink(to.data);
    }
    if (!ret)
        ret = io_fsync_dir(dir.data);
    if (!ret)
        ret = rename_staged(s, "log", &from, &to);
    if (ret)
        goto out;
    s->staged = false; /* committed: the log has its name */
    atomic_store(&s->next_offset, s->compacted_end); /* it reaches the next segment */
    /* The directory is synced before the indexes get their names, so no crash can
     * pair the new indexes with the old log either. */
    ret = io_fsync_dir(dir.data);
    if (!ret)
        ret = rename_staged(s, "index", &from, &to);
    if (!ret)
        ret = rename_staged(s, "timeindex", &from, &to);
    if (!ret)
        ret = io_fsync_dir(dir.data);
    if (ret)
        log_warn("segment '%s': compacted log in place, but not its indexes (%s): "
                 "they are rebuilt at the next open", s->path, strerror(-ret));
    else
        s->dir_synced = true;
    ret = 0;
out:
    buf_release(&dir);
    buf_release(&from);
    buf_release(&to);
    return ret;
}

/* ---- lookups and reads (any thread, no lock) ---- */

/* The position of the last index entry whose relative offset is <= 'rel' (0 if none),
 * by binary search over the published entries. */
static int index_floor(struct segment *s, uint32_t rel, uint64_t *pos)
{
    uint32_t lo = 0, hi = atomic_load_explicit(&s->index_entries, memory_order_acquire);
    uint64_t best = 0;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        uint8_t e[SEGMENT_INDEX_ENTRY];
        ssize_t n = io_pread_full(s->index_fd, e, sizeof(e), (off_t)mid * sizeof(e));

        if (n != (ssize_t)sizeof(e))
            return n < 0 ? (int)n : -EIO;
        if (load_be32(e) <= rel) {
            best = load_be32(e + 4);
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    *pos = best;
    return 0;
}

/* Reads the 61-byte header at 'pos' (below 'size'). */
static int read_header(struct segment *s, uint64_t pos, uint64_t size,
                       struct record_batch_header *h)
{
    uint8_t head[RECORD_BATCH_OVERHEAD];
    ssize_t n;
    int r;

    if (size - pos < sizeof(head))
        return -EBADMSG;
    n = io_pread_full(s->log_fd, head, sizeof(head), (off_t)pos);
    if (n != (ssize_t)sizeof(head))
        return n < 0 ? (int)n : -EIO;
    r = record_batch_peek(head, sizeof(head), size - pos, h);
    if (r == -EAGAIN && claimed_size(head) && claimed_size(head) <= size - pos) {
        h->base_offset = (int64_t)load_be64(head);
        h->batch_length = (int32_t)load_be32(head + 8);
        h->last_offset_delta = (int32_t)load_be32(head + 23);
        h->max_timestamp = (int64_t)load_be64(head + 35);
        r = 0;
    }
    return r ? -EBADMSG : 0;
}

static bool holds_offset(const struct record_batch_header *h, int64_t offset)
{
    return offset <= h->base_offset + h->last_offset_delta;
}

static bool reaches_time(const struct record_batch_header *h, int64_t ts)
{
    return h->max_timestamp >= ts;
}

/* From the batch at 'pos', reads headers only until one satisfies 'stop' (with 'key'):
 * its position in *pos_out and header in *h. Returns 0, -ERANGE at the end, -errno. */
static int walk_headers(struct segment *s, uint64_t pos, uint64_t size,
                        bool (*stop)(const struct record_batch_header *, int64_t),
                        int64_t key, struct record_batch_header *h, uint64_t *pos_out)
{
    while (pos < size) {
        int ret = read_header(s, pos, size, h);

        if (ret)
            return ret;
        if (stop(h, key)) {
            *pos_out = pos;
            return 0;
        }
        pos += record_batch_total(h);
    }
    return -ERANGE;
}

int segment_find(struct segment *s, int64_t offset, uint64_t *pos_out)
{
    uint64_t size = segment_size(s);
    struct record_batch_header h;
    uint64_t pos = 0;
    int ret;

    if (offset < s->base_offset || offset >= segment_next_offset(s))
        return -ERANGE;
    ret = index_floor(s, (uint32_t)(offset - s->base_offset), &pos);
    if (ret)
        return ret;
    ret = walk_headers(s, pos, size, holds_offset, offset, &h, pos_out);
    if (!ret && offset < h.base_offset && s->compacted_end < 0)
        return -EBADMSG; /* dense: the index pointed past the offset */
    return ret;
}

int segment_find_time(struct segment *s, int64_t ts, uint64_t *pos_out)
{
    struct record_batch_header h;
    uint32_t lo = 0, hi = atomic_load_explicit(&s->time_entries, memory_order_acquire);
    uint64_t size = segment_size(s), pos = 0;
    int64_t from = s->base_offset;
    int ret;

    if (atomic_load_explicit(&s->max_timestamp, memory_order_acquire) < ts)
        return -ERANGE;
    while (lo < hi) { /* the last entry with timestamp < ts: all before it are earlier */
        uint32_t mid = lo + (hi - lo) / 2;
        uint8_t e[SEGMENT_TIME_ENTRY];
        ssize_t n = io_pread_full(s->time_fd, e, sizeof(e), (off_t)mid * sizeof(e));

        if (n != (ssize_t)sizeof(e))
            return n < 0 ? (int)n : -EIO;
        if ((int64_t)load_be64(e) < ts) {
            from = s->base_offset + load_be32(e + 8);
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (from > s->base_offset) {
        ret = segment_find(s, from, &pos);
        if (ret)
            return ret;
    }
    return walk_headers(s, pos, size, reaches_time, ts, &h, pos_out);
}

int segment_read(struct segment *s, uint64_t pos, int64_t end_offset, size_t max_bytes,
                 struct buf *out, uint64_t *next_pos)
{
    uint64_t size = segment_size(s);
    struct record_batch_header h;
    size_t start = out->len, want, at = 0;
    ssize_t n;
    int batches = 0, ret;

    *next_pos = pos;
    if (pos >= size)
        return 0;
    ret = read_header(s, pos, size, &h);
    if (ret)
        return ret;
    if (h.base_offset >= end_offset)
        return 0;
    want = size - pos < max_bytes ? (size_t)(size - pos) : max_bytes;
    if (want < record_batch_total(&h))
        want = record_batch_total(&h);
    buf_grow(out, want);
    n = io_pread_full(s->log_fd, out->data + start, want, (off_t)pos);
    if (n != (ssize_t)want) {
        buf_truncate(out, start);
        return n < 0 ? (int)n : -EIO;
    }
    while (at < want) {
        const uint8_t *p = (const uint8_t *)out->data + start + at;
        size_t total;

        if (want - at < RECORD_BATCH_OVERHEAD || !(total = claimed_size(p)) ||
            total > want - at)
            break; /* the next batch does not fit in max_bytes */
        ret = record_batch_check(p, want - at, &h);
        if (ret) {
            log_error("segment '%s.log': corrupt batch at position %" PRIu64 ": not serving it",
                      s->path, pos + at);
            ret = -EBADMSG;
            break;
        }
        if (h.base_offset >= end_offset)
            break;
        at += total;
        batches++;
    }
    out->len = start + at;
    out->data[out->len] = '\0';
    *next_pos = pos + at;
    return batches ? batches : (ret ? ret : 0);
}
