/* partition.c: one partition's log (design in partition.h).
 *
 * Beside its segments a partition directory holds up to three small files, each
 * replaced atomically (tmp file, fdatasync, rename, fsync of the directory):
 *
 *   recovery-checkpoint  a clean close wrote it; open removes it
 *                        rill-checkpoint 1\n<log_end> <active base> <active size>\n
 *   recovery-point       every byte of the log below <offset> is synced
 *                        rill-recovery-point 1\n<offset>\n
 *   clean-point          a segment ending at or below <offset> may be compacted (its
 *                        offsets skip); all of them are synced. Missing: none is.
 *                        rill-clean-point 1\n<offset>\n
 *
 * e.g. 00000000000000000000.log, 00000000000000001200.log, 00000000000000002400.log
 * and "rill-recovery-point 1\n2400\n": the first two are on disk whole, the active
 * one may end in a torn write.
 *
 * The recovery point is the base of the first segment not known to be synced whole,
 * normally the active one. A roll syncs nothing (it runs on an appending thread); the
 * flush that syncs the closed segment then rewrites the file, once per roll. Open and
 * close bring it up to the active segment. A stale, lower value only costs a longer
 * scan after a crash.
 *
 * Recovery. With a checkpoint matching the active segment nothing is scanned (each
 * segment's indexes are checked and the batches after the last entry validated).
 * Without one (a crash), with R the recovery point (0 if the file is missing or
 * malformed):
 *  - a segment that ends at or below R (the next one starts at or below R) is opened
 *    as after a clean close: damage there is bit rot, not a torn write; it is reported
 *    and the partition is served read-only up to it;
 *  - every segment that extends past R is validated batch by batch (length bounds,
 *    magic, CRC-32C, baseOffset exactly the next expected), cut after its last valid
 *    batch, its indexes rebuilt, and fdatasync'ed. A whole, valid batch at the wrong
 *    offset is no torn write (a tear leaves a short or garbled batch): it is damage,
 *    served read-only up to it, and nothing is cut;
 *  - where such a segment ends short of the next segment's base (a closed segment was
 *    cut, or a newer segment's file is gone), the log ends: no flush makes anything
 *    durable past a byte it has not synced, so the later segments never held an
 *    acknowledged record; they are deleted, with a log line, and the partition is
 *    served normally. A gap that starts below R, or segments that overlap, are
 *    corruption (read-only).
 * R below the first segment (retention moved the log start) scans every segment.
 *
 * Compaction. With C the clean point, a segment whose successor starts at or below C
 * is opened as compacted (segment_open()'s compacted_end): a baseOffset may skip ahead
 * but every batch must end before the next segment, which the segment is taken to
 * reach. The strict rule (exactly the next offset) stays for every other segment, so
 * the torn-write rules above are unchanged where writes happen: compaction rewrites
 * only segments below the recovery point, C never passes R (so R is taken as at least
 * C), and a compacted segment is never cut or followed by dropped segments. C is
 * written before the first rewritten segment is renamed into place. A malformed C
 * (never written by us) leaves unknown which segments were rewritten: every closed
 * segment is then opened as compacted and none is cut (damage makes the partition
 * read-only instead), and C is rewritten. A missing C with compacted segments (lost
 * by hand) makes them look damaged: read-only, nothing cut. Losing R as well is the
 * one case that loses data: a compacted segment that ends early then looks cut by a
 * crash, and the segments after it are dropped. Leftover *.cleaned files of a pass
 * that did not commit are deleted (segment.h: a rename commits a segment whole).
 *
 * Contents: segment lists; the recovery point; opening and recovery; waiters; group
 * commit; append and roll; retention; compaction; reads and time lookups; close with a
 * checkpoint. */
#include "storage/partition.h"

#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "storage/compact.h"
#include "storage/io.h"

#define CHECKPOINT_FILE "recovery-checkpoint"
#define RECOVERY_POINT_FILE "recovery-point"
#define RECOVERY_POINT_MAGIC "rill-recovery-point 1\n"
#define CLEAN_POINT_FILE "clean-point"
#define CLEAN_POINT_MAGIC "rill-clean-point 1\n"

/* ---- segment lists ---- */

static struct segment_list *list_new(size_t n)
{
    struct segment_list *l = xmalloc(sizeof(*l) + n * sizeof(l->segs[0]));

    atomic_init(&l->refs, 1);
    l->n = n;
    return l;
}

void segment_list_put(struct segment_list *l)
{
    if (!l || atomic_fetch_sub_explicit(&l->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < l->n; i++)
        segment_put(l->segs[i]);
    free(l);
}

struct segment_list *partition_segments(struct partition *p)
{
    struct segment_list *l;

    pthread_mutex_lock(&p->list_lock);
    l = p->segments;
    atomic_fetch_add_explicit(&l->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&p->list_lock);
    return l;
}

/* Publishes 'l' as the segment list (taking over the caller's reference). */
static void swap_list(struct partition *p, struct segment_list *l)
{
    struct segment_list *old;

    pthread_mutex_lock(&p->list_lock);
    old = p->segments;
    p->segments = l;
    pthread_mutex_unlock(&p->list_lock);
    segment_list_put(old);
}

static struct segment *active_segment(struct partition *p)
{
    return p->segments->segs[p->segments->n - 1]; /* writer side: under append_lock */
}

/* Index of the last segment whose base offset is <= offset (0 if none). */
static size_t segment_for(const struct segment_list *l, int64_t offset)
{
    size_t lo = 0, hi = l->n;

    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (l->segs[mid]->base_offset <= offset)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* ---- the recovery point ---- */

/* Reads <dir>/<name>: 'magic', then a decimal offset and a newline, at most 64 bytes.
 * Returns 0 with *point set, -ENOENT, -EBADMSG (malformed) or another -errno. */
static int read_point_file(const char *dir, const char *name, const char *magic,
                           int64_t *point)
{
    struct buf path = BUF_INIT;
    const char *at;
    char *text = NULL, *end = NULL;
    long long v = -1;
    int ret;

    buf_printf(&path, "%s/%s", dir, name);
    ret = io_read_file(path.data, 64, &text, NULL);
    if (!ret && !strncmp(text, magic, strlen(magic))) {
        at = text + strlen(magic);
        errno = 0;
        if (*at >= '0' && *at <= '9')
            v = strtoll(at, &end, 10);
        if (errno || v < 0 || strcmp(end, "\n"))
            v = -1;
    }
    if (!ret)
        ret = v < 0 ? -EBADMSG : 0;
    if (!ret)
        *point = (int64_t)v;
    free(text);
    buf_release(&path);
    return ret;
}

/* Reads 'recovery-point'. A missing file is 0, and so is a malformed one (logged):
 * scanning every segment is slow but never wrong. */
int64_t partition_read_recovery_point(const char *dir)
{
    int64_t v = 0;
    int ret = read_point_file(dir, RECOVERY_POINT_FILE, RECOVERY_POINT_MAGIC, &v);

    if (ret && ret != -ENOENT)
        log_warn("partition '%s': unreadable " RECOVERY_POINT_FILE " (%s): scanning "
                 "every segment", dir, ret == -EBADMSG ? "malformed" : strerror(-ret));
    return ret ? 0 : v;
}

int partition_read_clean_point(const char *dir, int64_t *point)
{
    int ret = read_point_file(dir, CLEAN_POINT_FILE, CLEAN_POINT_MAGIC, point);

    if (ret && ret != -ENOENT) {
        log_warn("partition '%s': unreadable " CLEAN_POINT_FILE " (%s): every closed "
                 "segment is taken as compacted",
                 dir, ret == -EBADMSG ? "malformed" : strerror(-ret));
        ret = -EBADMSG;
    }
    return ret;
}

/* Makes 'recovery-point' say 'point' unless that was already written or tried. Every
 * byte below 'point' must be synced, and the caller must be the only one who can get
 * here: the flush holding 'syncing', or open and close. A failure leaves the old value
 * (a longer scan after a crash); the next roll tries again. */
static void advance_recovery_point(struct partition *p, int64_t point)
{
    struct buf text = BUF_INIT;
    bool due;
    int ret;

    pthread_mutex_lock(&p->sync_lock);
    due = point != p->recovery_point_tried;
    p->recovery_point_tried = point;
    pthread_mutex_unlock(&p->sync_lock);
    if (!due)
        return;
    buf_printf(&text, RECOVERY_POINT_MAGIC "%" PRId64 "\n", point);
    ret = io_replace_file(p->dir, RECOVERY_POINT_FILE, text.data, text.len, 0644);
    buf_release(&text);
    if (ret) {
        log_warn("partition '%s': cannot write " RECOVERY_POINT_FILE ": %s", p->dir,
                 strerror(-ret));
        return;
    }
    pthread_mutex_lock(&p->sync_lock);
    p->recovery_point = point;
    pthread_mutex_unlock(&p->sync_lock);
}

/* ---- opening ---- */

static int raise_clean_point(struct partition *p, int64_t point);

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

/* True if 'name' is <20 digits>.<ext>, with the number in *base. */
bool partition_parse_segment_name(const char *name, const char *ext, int64_t *base)
{
    size_t n = strlen(name);
    uint64_t v = 0;

    if (n != 21 + strlen(ext) || name[20] != '.' || strcmp(name + 21, ext))
        return false;
    for (int i = 0; i < 20; i++) {
        uint64_t d;

        if (name[i] < '0' || name[i] > '9')
            return false;
        d = (uint64_t)(name[i] - '0');
        if (v > (INT64_MAX - d) / 10) /* before the step: 20 digits can wrap a uint64 */
            return false;
        v = v * 10 + d;
    }
    *base = (int64_t)v;
    return true;
}

/* True if 'name' ends with 'suffix' (and has something before it). */
static bool has_suffix(const char *name, const char *suffix)
{
    size_t n = strlen(name), k = strlen(suffix);

    return n > k && !strcmp(name + n - k, suffix);
}

/* Lists the base offsets of the .log files in 'dir', ascending, and removes leftovers
 * of interrupted writes (*.tmp) and compaction passes that did not commit (*.cleaned:
 * a committed log no longer has that name; an index that still has it is rebuilt). */
static int list_segments(const char *dir, int64_t **bases, size_t *n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t cap = 8;

    if (!d)
        return -errno;
    *bases = xmalloc(cap * sizeof(**bases));
    *n = 0;
    while ((e = readdir(d))) {
        int64_t base;

        if (has_suffix(e->d_name, ".tmp") ||
            has_suffix(e->d_name, SEGMENT_CLEANED_SUFFIX)) {
            struct buf p = BUF_INIT;
            buf_printf(&p, "%s/%s", dir, e->d_name);
            io_unlink(p.data);
            buf_release(&p);
            continue;
        }
        if (!partition_parse_segment_name(e->d_name, "log", &base))
            continue;
        if (*n == cap)
            *bases = xrealloc(*bases, (cap *= 2) * sizeof(**bases));
        (*bases)[(*n)++] = base;
    }
    closedir(d);
    qsort(*bases, *n, sizeof(**bases), cmp_i64);
    return 0;
}

/* Reads the clean-shutdown checkpoint; returns true if it describes 'active'. */
bool partition_checkpoint_matches(const char *dir, int64_t active_base)
{
    struct buf path = BUF_INIT, seg = BUF_INIT;
    char *text = NULL;
    long long end, base, size;
    bool ok = false;
    int fd;

    buf_printf(&path, "%s/" CHECKPOINT_FILE, dir);
    if (io_read_file(path.data, 256, &text, NULL))
        goto out;
    if (sscanf(text, "rill-checkpoint 1\n%lld %lld %lld", &end, &base, &size) != 3 ||
        base != active_base)
        goto out;
    buf_printf(&seg, "%s/%020" PRId64 ".log", dir, active_base);
    fd = io_open(seg.data, O_RDONLY, 0);
    if (fd >= 0) {
        ok = io_file_size(fd) == (off_t)size;
        io_close(fd);
    }
out:
    free(text);
    buf_release(&seg);
    buf_release(&path);
    return ok;
}

static void partition_free(struct partition *p)
{
    segment_list_put(p->segments);
    pthread_mutex_destroy(&p->clean_lock);
    pthread_mutex_destroy(&p->waiter_lock);
    pthread_mutex_destroy(&p->append_lock);
    pthread_mutex_destroy(&p->list_lock);
    pthread_mutex_destroy(&p->sync_lock);
    pthread_cond_destroy(&p->sync_cond);
    free(p->dir);
    free(p);
}

/* The log ended at 'end', before the segments named in bases[0..n): deletes them.
 * Nothing in them was ever durable (see the top of this file). */
static void drop_segments(struct partition *p, const int64_t *bases, size_t n,
                          int64_t end)
{
    const char *exts[] = {"log", "index", "timeindex"};
    struct buf path = BUF_INIT;
    int ret = 0;

    log_warn("partition '%s': a torn write ends the log at offset %" PRId64 "; deleting "
             "%zu segment%s from %020" PRId64 " on, never durable",
             p->dir, end, n, n == 1 ? "" : "s", bases[0]);
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < 3 && !ret; k++) {
            buf_reset(&path);
            buf_printf(&path, "%s/%020" PRId64 ".%s", p->dir, bases[i], exts[k]);
            ret = io_unlink(path.data);
        }
    }
    if (ret) {
        log_error("partition '%s': cannot delete '%s': %s; partition is read-only",
                  p->dir, path.data, strerror(-ret));
        atomic_store(&p->error, -EIO);
    }
    buf_release(&path);
}

/* Opens the segments named in bases[0..n). After a crash ('clean' false), the ones
 * that extend past the recovery point 'rp' are validated, cut and synced, and a log
 * cut short ends there. Those ending at or below the clean point 'cp' are opened as
 * compacted (rp >= cp: never cut). Stops at the first corruption (read-only from
 * there). */
static int open_segments(struct partition *p, const int64_t *bases, size_t n, bool clean,
                         int64_t rp, int64_t cp)
{
    struct segment_list *l = list_new(n);
    int ret = 0;

    l->n = 0;
    for (size_t i = 0; i < n; i++) {
        struct segment_scan scan;
        struct segment *s;
        bool recover = !clean && (i == n - 1 || bases[i + 1] > rp);
        int64_t compacted_end = i + 1 < n && bases[i + 1] <= cp ? bases[i + 1] : -1;

        if (l->n) {
            int64_t expected = segment_next_offset(l->segs[l->n - 1]);

            if (!clean && bases[i] > expected && expected >= rp) {
                drop_segments(p, bases + i, n - i, expected);
                break;
            }
            if (bases[i] != expected) {
                log_error("partition '%s': segment %020" PRId64 " does not follow offset "
                          "%" PRId64 "; not serving from there on",
                          p->dir, bases[i], expected);
                atomic_store(&p->error, -EBADMSG);
                break;
            }
        }
        ret = segment_open(&s, p->dir, bases[i], compacted_end, recover, &scan);
        if (ret) {
            log_error("partition '%s': cannot open segment %020" PRId64 ": %s", p->dir,
                      bases[i], strerror(-ret));
            break;
        }
        l->segs[l->n++] = s;
        if (scan.error) {
            atomic_store(&p->error, -EBADMSG);
            break;
        }
        /* What a crash of the process left in the page cache is not on disk yet. */
        if (recover && segment_sync(s)) {
            log_error("partition '%s': cannot sync recovered segment %020" PRId64
                      "; partition is read-only", p->dir, bases[i]);
            atomic_store(&p->error, -EIO);
            break;
        }
    }
    if (ret) {
        segment_list_put(l);
        return ret;
    }
    p->segments = l;
    return 0;
}

int partition_open(struct partition **out, const char *dir, int32_t id,
                   const struct partition_config *config)
{
    struct partition *p = xcalloc(1, sizeof(*p));
    struct buf cp = BUF_INIT;
    int64_t *bases = NULL, end, rp, rp_file, clean_point = 0;
    size_t n = 0;
    bool clean, clean_point_bad;
    int ret;

    p->dir = xstrdup(dir);
    p->id = id;
    p->config = *config;
    pthread_mutex_init(&p->append_lock, NULL);
    pthread_mutex_init(&p->list_lock, NULL);
    pthread_mutex_init(&p->sync_lock, NULL);
    pthread_cond_init(&p->sync_cond, NULL);
    pthread_mutex_init(&p->waiter_lock, NULL);
    pthread_mutex_init(&p->clean_lock, NULL);
    atomic_init(&p->nwaiters, 0);
    atomic_init(&p->error, 0);

    ret = io_mkdir_synced(dir);
    if (!ret)
        ret = list_segments(dir, &bases, &n);
    if (ret)
        goto fail;
    rp = rp_file = partition_read_recovery_point(dir);
    ret = partition_read_clean_point(dir, &clean_point);
    clean_point_bad = ret == -EBADMSG;
    if (clean_point_bad)
        clean_point = INT64_MAX;
    else if (ret)
        clean_point = 0;
    if (clean_point > rp)
        rp = clean_point; /* every byte below the clean point is synced */
    if (n == 0) {
        struct segment *s;
        ret = segment_create(&s, dir, 0); /* its name is synced by the first flush */
        if (ret)
            goto fail;
        p->segments = list_new(1);
        p->segments->segs[0] = s;
        clean = true;
    } else {
        clean = partition_checkpoint_matches(dir, bases[n - 1]);
        ret = open_segments(p, bases, n, clean, rp, clean_point);
        if (ret)
            goto fail;
    }
    /* From here on a crash must be noticed: the checkpoint goes until the next close.
     * The directory fsync also makes durable, after a crash, the names of the segments
     * found and the removal of those dropped. */
    buf_printf(&cp, "%s/" CHECKPOINT_FILE, dir);
    ret = io_unlink(cp.data);
    if (!ret && n)
        ret = io_fsync_dir(dir);
    if (ret)
        goto fail;
    end = segment_next_offset(active_segment(p));
    atomic_init(&p->log_start, p->segments->segs[0]->base_offset);
    atomic_init(&p->log_end, end);
    atomic_init(&p->high_watermark, end);
    p->durable = end;
    p->last_sync_ms = clock_wall_ms();
    p->recovery_point = p->recovery_point_tried = clean_point_bad ? rp_file : rp;
    p->clean_point = clean_point_bad ? 0 : clean_point;
    p->clean_to = p->segments->segs[0]->base_offset; /* nothing known to be clean */
    p->tombstone_due = INT64_MIN;
    /* Every segment before the active one is synced: a clean close synced them, or
     * recovery did just now. */
    if (!partition_error(p))
        advance_recovery_point(p, active_segment(p)->base_offset);
    if (clean_point_bad && !partition_error(p))
        raise_clean_point(p, active_segment(p)->base_offset);
    if (!clean && n)
        log_info("partition '%s': recovered to offset %" PRId64
                 " (recovery point %" PRId64 ")", dir, end, rp);
    free(bases);
    buf_release(&cp);
    *out = p;
    return 0;
fail:
    free(bases);
    buf_release(&cp);
    partition_free(p);
    return ret;
}

void partition_abandon(struct partition *p)
{
    if (p)
        partition_free(p);
}

void partition_set_config(struct partition *p, const struct partition_config *config)
{
    pthread_mutex_lock(&p->append_lock);
    p->config = *config;
    pthread_mutex_unlock(&p->append_lock);
}

/* ---- waiters ---- */

enum { LIST_NONE, LIST_DATA, LIST_DURABLE };

static void list_add(struct partition *p, struct partition_waiter *w, int list)
{
    struct partition_waiter **head = &p->waiters[list - 1];

    w->prev = NULL;
    w->next = *head;
    if (*head)
        (*head)->prev = w;
    *head = w;
    w->list = list;
    atomic_fetch_add_explicit(&p->nwaiters, 1, memory_order_relaxed);
}

static void list_del(struct partition *p, struct partition_waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        p->waiters[w->list - 1] = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
    w->list = LIST_NONE;
    atomic_fetch_sub_explicit(&p->nwaiters, 1, memory_order_relaxed);
}

/* Fires and unlists the waiters of 'list' that 'reached' says are done. */
static void fire_waiters(struct partition *p, int list, int64_t mark, bool all)
{
    struct partition_waiter *w, *next;

    if (!atomic_load_explicit(&p->nwaiters, memory_order_relaxed))
        return;
    pthread_mutex_lock(&p->waiter_lock);
    for (w = p->waiters[list - 1]; w; w = next) {
        next = w->next;
        if (all || (list == LIST_DATA ? mark > w->offset : mark >= w->offset)) {
            list_del(p, w);
            w->fire(w);
        }
    }
    pthread_mutex_unlock(&p->waiter_lock);
}

bool partition_watch(struct partition *p, struct partition_waiter *w)
{
    bool reached;

    pthread_mutex_lock(&p->waiter_lock);
    /* Checked under the lock: a publish or a delete after this sees the waiter. */
    reached = p->deleted || partition_high_watermark(p) > w->offset;
    if (!reached)
        list_add(p, w, LIST_DATA);
    pthread_mutex_unlock(&p->waiter_lock);
    return reached;
}

bool partition_watch_durable(struct partition *p, struct partition_waiter *w)
{
    bool reached;

    pthread_mutex_lock(&p->sync_lock);
    reached = p->durable >= w->offset || partition_error(p) == -EIO;
    /* Listed under sync_lock, so a flush finishing now fires it or sees it. */
    if (!reached) {
        pthread_mutex_lock(&p->waiter_lock);
        list_add(p, w, LIST_DURABLE);
        pthread_mutex_unlock(&p->waiter_lock);
    }
    pthread_mutex_unlock(&p->sync_lock);
    if (!reached) {
        if (p->sync_requested)
            p->sync_requested(p->sync_arg, p);
        else
            partition_flush(p, w->offset);
    }
    return reached;
}

void partition_mark_deleted(struct partition *p)
{
    pthread_mutex_lock(&p->waiter_lock);
    p->deleted = true;
    pthread_mutex_unlock(&p->waiter_lock);
    fire_waiters(p, LIST_DATA, 0, true);
}

void partition_unwatch(struct partition *p, struct partition_waiter *w)
{
    pthread_mutex_lock(&p->waiter_lock);
    if (w->list != LIST_NONE)
        list_del(p, w);
    pthread_mutex_unlock(&p->waiter_lock);
}

/* ---- durability ---- */

/* Marks everything below 'end' durable and, under flush.policy=always, visible.
 * Caller holds sync_lock. */
static void publish_durable(struct partition *p, int64_t end)
{
    if (end > p->durable)
        p->durable = end;
    if (p->config.flush_always &&
        p->durable > atomic_load_explicit(&p->high_watermark, memory_order_relaxed)) {
        atomic_store_explicit(&p->high_watermark, p->durable, memory_order_release);
        fire_waiters(p, LIST_DATA, p->durable, false);
    }
    fire_waiters(p, LIST_DURABLE, p->durable, false);
}

/* fsyncgate: after a failed sync the file's state is unknown; never sync it again. */
static void fail_sync(struct partition *p, int err)
{
    int expected = 0;

    if (atomic_compare_exchange_strong(&p->error, &expected, err))
        log_error("partition '%s': sync failed (%s): partition is now read-only",
                  p->dir, strerror(-err));
    fire_waiters(p, LIST_DURABLE, 0, true); /* nothing more will become durable */
}

/* Syncs, in order, every segment of 'l' holding bytes in [from, to), the directory
 * first if one of them is new (without it the name may not survive a crash). Only the
 * flush holding 'syncing' calls this. Returns 0 or -errno. */
static int sync_segments(struct partition *p, struct segment_list *l, int64_t from,
                         int64_t to)
{
    size_t first = segment_for(l, from), i;
    int ret = 0;

    for (i = first; i < l->n && l->segs[i]->base_offset < to; i++)
        if (!l->segs[i]->dir_synced)
            break;
    if (i < l->n && l->segs[i]->base_offset < to) {
        ret = io_fsync_dir(p->dir);
        if (ret)
            return ret;
        for (i = 0; i < l->n; i++)
            l->segs[i]->dir_synced = true; /* each was created before the fsync */
    }
    for (i = first; !ret && i < l->n && l->segs[i]->base_offset < to; i++)
        ret = segment_sync(l->segs[i]);
    return ret;
}

int partition_flush(struct partition *p, int64_t upto)
{
    int64_t end = atomic_load_explicit(&p->log_end, memory_order_acquire);
    int ret = 0;

    if (upto > end)
        upto = end; /* nothing past the written end can become durable */
    pthread_mutex_lock(&p->sync_lock);
    while (p->durable < upto) {
        struct segment_list *l;
        int64_t from, target, point = -1;
        int r;

        if (partition_error(p) == -EIO) {
            ret = -EIO;
            break;
        }
        if (p->syncing) {
            pthread_cond_wait(&p->sync_cond, &p->sync_lock);
            continue;
        }
        p->syncing = true;
        from = p->durable;
        /* The end before the list: every byte below it is in a segment of the list (a
         * roll publishes the segment before writing to it; retention drops none that
         * holds bytes past 'durable'). */
        target = atomic_load_explicit(&p->log_end, memory_order_acquire);
        pthread_mutex_unlock(&p->sync_lock);
        l = partition_segments(p);
        r = sync_segments(p, l, from, target);
        if (!r)
            point = l->segs[segment_for(l, target)]->base_offset;
        segment_list_put(l);
        pthread_mutex_lock(&p->sync_lock);
        p->last_sync_ms = clock_wall_ms();
        if (r)
            fail_sync(p, -EIO);
        else
            publish_durable(p, target);
        if (point > p->recovery_point_tried) { /* a segment boundary was crossed */
            pthread_cond_broadcast(&p->sync_cond); /* who waits for 'target' is done */
            pthread_mutex_unlock(&p->sync_lock);
            advance_recovery_point(p, point); /* still 'syncing': no other flush runs */
            pthread_mutex_lock(&p->sync_lock);
        }
        p->syncing = false;
        pthread_cond_broadcast(&p->sync_cond);
    }
    pthread_mutex_unlock(&p->sync_lock);
    return ret;
}

int partition_flush_if_due(struct partition *p, int64_t now_ms)
{
    bool due;

    pthread_mutex_lock(&p->sync_lock);
    due = p->durable < atomic_load(&p->log_end) && now_ms - p->last_sync_ms >= p->config.flush_ms;
    pthread_mutex_unlock(&p->sync_lock);
    return due ? partition_flush(p, atomic_load(&p->log_end)) : 0;
}

/* ---- appending ---- */

static bool should_roll(struct partition *p, struct segment *s, size_t len, int32_t count)
{
    uint64_t size = segment_size(s);

    if (size == 0)
        return false;
    return size + len > p->config.segment_bytes ||
           (s->created_ms && clock_wall_ms() - s->created_ms >= p->config.segment_ms) ||
           segment_next_offset(s) + count - s->base_offset > (int64_t)UINT32_MAX ||
           size + len > UINT32_MAX;
}

/* Starts a new active segment at the log end. Under append_lock, on the appending
 * thread: nothing is synced here, not even the directory. The next flush syncs the old
 * segment's tail and the new one's name before it makes anything in it durable. */
static int roll(struct partition *p)
{
    struct segment_list *old = p->segments, *l;
    struct segment *s;
    int ret = segment_create(&s, p->dir, atomic_load(&p->log_end));

    if (ret)
        return ret;
    l = list_new(old->n + 1);
    for (size_t i = 0; i < old->n; i++) {
        segment_get(old->segs[i]);
        l->segs[i] = old->segs[i];
    }
    l->segs[old->n] = s;
    swap_list(p, l);
    return 0;
}

/* Appends one batch. Under append_lock. */
static int append_locked(struct partition *p, uint8_t *batch, size_t len, int64_t *base_offset,
                         int64_t *last_offset)
{
    struct record_batch_header h;
    struct iovec iov = {batch, len};
    int64_t base;
    bool torn;
    int ret = record_batch_peek(batch, len, len, &h);

    if (ret || record_batch_total(&h) != len || h.record_count <= 0)
        return -EINVAL;
    if (partition_error(p))
        return -EROFS;
    if (len > p->config.segment_bytes || len > UINT32_MAX)
        return -EMSGSIZE;
    if (should_roll(p, active_segment(p), len, h.record_count)) {
        ret = roll(p);
        if (ret)
            return ret;
    }
    base = atomic_load_explicit(&p->log_end, memory_order_relaxed);
    record_batch_set_base_offset(batch, base);
    ret = segment_append(active_segment(p), &iov, 1, len, base, h.record_count,
                         h.max_timestamp, &torn);
    if (ret) {
        if (torn) {
            log_error("partition '%s': cannot cut a failed write back (%s): read-only",
                      p->dir, strerror(-ret));
            atomic_store(&p->error, -EIO);
        }
        return ret;
    }
    atomic_store_explicit(&p->log_end, base + h.record_count, memory_order_release);
    if (!p->config.flush_always) {
        atomic_store_explicit(&p->high_watermark, base + h.record_count,
                              memory_order_release);
        fire_waiters(p, LIST_DATA, base + h.record_count, false);
    }
    *base_offset = base;
    *last_offset = base + h.record_count - 1;
    return 0;
}

int partition_append_batches(struct partition *p, uint8_t *const *batches,
                             const size_t *lens, size_t n, int64_t expect,
                             int64_t *base_offset, int64_t *last_offset)
{
    int64_t base, last;
    int ret = 0;

    pthread_mutex_lock(&p->append_lock);
    if (expect >= 0 && expect != atomic_load(&p->log_end)) {
        *base_offset = atomic_load(&p->log_end);
        ret = -ESTALE;
        goto out;
    }
    for (size_t i = 0; i < n && !ret; i++) {
        ret = append_locked(p, batches[i], lens[i], &base, &last);
        if (!ret && i == 0)
            *base_offset = base;
        if (!ret)
            *last_offset = last;
    }
out:
    pthread_mutex_unlock(&p->append_lock);
    return ret;
}

int partition_append(struct partition *p, uint8_t *batch, size_t len, int64_t *base_offset,
                     int64_t *last_offset)
{
    return partition_append_batches(p, &batch, &len, 1, -1, base_offset, last_offset);
}

int partition_append_records(struct partition *p, const struct record *recs, size_t n,
                             int64_t *base_offset)
{
    struct buf b = BUF_INIT;
    int64_t last;
    int ret = record_batch_encode(&b, recs, n);

    if (!ret)
        ret = partition_append(p, (uint8_t *)b.data, b.len, base_offset, &last);
    if (!ret && p->config.flush_always)
        ret = partition_flush(p, last + 1);
    buf_release(&b);
    return ret;
}

/* ---- retention ---- */

int partition_apply_retention(struct partition *p, int64_t now_ms)
{
    struct segment_list *old, *l;
    uint64_t total = 0;
    size_t drop = 0;
    int64_t ms, bytes, durable;

    /* Not while compaction swaps a segment (a removed segment's files go by name), and
     * without waiting for a pass that may take minutes: this runs on the thread that
     * syncs for durable produces. Retention comes round again. */
    if (pthread_mutex_trylock(&p->clean_lock))
        return 0;
    pthread_mutex_lock(&p->append_lock);
    old = p->segments;
    ms = p->config.retention_ms;
    bytes = p->config.retention_bytes;
    pthread_mutex_lock(&p->sync_lock);
    durable = p->durable;
    pthread_mutex_unlock(&p->sync_lock);
    for (size_t i = 0; i < old->n; i++)
        total += segment_size(old->segs[i]);
    while (drop + 1 < old->n) { /* never the active segment */
        struct segment *s = old->segs[drop];
        bool expired = ms >= 0 && atomic_load(&s->max_timestamp) < now_ms - ms;
        bool too_big = bytes >= 0 && total - segment_size(s) >= (uint64_t)bytes;

        if (!expired && !too_big)
            break;
        /* Its unlink is not synced, so a crash may bring the segment back: it must come
         * back whole. One not synced yet goes after the next flush. */
        if (segment_next_offset(s) > durable)
            break;
        total -= segment_size(s);
        drop++;
    }
    if (drop) {
        l = list_new(old->n - drop);
        for (size_t i = 0; i < old->n; i++) {
            if (i < drop) {
                atomic_store(&old->segs[i]->remove_on_close, true);
                continue;
            }
            segment_get(old->segs[i]);
            l->segs[i - drop] = old->segs[i];
        }
        atomic_store_explicit(&p->log_start, l->segs[0]->base_offset, memory_order_release);
        swap_list(p, l);
        log_info("partition '%s': retention deleted %zu segment%s, log starts at %" PRId64,
                 p->dir, drop, drop == 1 ? "" : "s", partition_log_start(p));
    }
    pthread_mutex_unlock(&p->append_lock);
    pthread_mutex_unlock(&p->clean_lock);
    return (int)drop;
}

/* ---- compaction ---- */

static bool partition_is_deleted(struct partition *p)
{
    bool deleted;

    pthread_mutex_lock(&p->waiter_lock);
    deleted = p->deleted;
    pthread_mutex_unlock(&p->waiter_lock);
    return deleted;
}

/* Makes 'clean-point' say at least 'point', before any segment below it is renamed
 * into place compacted (else recovery would take its gaps for damage). Every byte
 * below 'point' must be synced. Under clean_lock, or at open. */
static int raise_clean_point(struct partition *p, int64_t point)
{
    struct buf text = BUF_INIT;
    int ret;

    if (point <= p->clean_point)
        return 0;
    buf_printf(&text, CLEAN_POINT_MAGIC "%" PRId64 "\n", point);
    ret = io_replace_file(p->dir, CLEAN_POINT_FILE, text.data, text.len, 0644);
    buf_release(&text);
    if (ret)
        log_warn("partition '%s': cannot write " CLEAN_POINT_FILE ": %s", p->dir,
                 strerror(-ret));
    else
        p->clean_point = point;
    return ret;
}

/* How many segments of 'l', from the first, compaction may rewrite: closed ones that
 * end at or below the recovery point. Their bytes are synced, so a superseding record
 * is durable before what it supersedes goes, and recovery never cuts them. */
static size_t cleanable_segments(struct partition *p, const struct segment_list *l)
{
    int64_t rp;
    size_t k = 0;

    pthread_mutex_lock(&p->sync_lock);
    rp = p->recovery_point;
    pthread_mutex_unlock(&p->sync_lock);
    while (k + 1 < l->n && l->segs[k + 1]->base_offset <= rp)
        k++;
    return k;
}

/* Maps the keys of the segments among the first k that end past clean_to (the dirty
 * ones: below clean_to each key is already in one record at most), until the map's
 * budget is spent. Sets *covered to how many segments from the first the pass can
 * compact: each record there is checked against every later one in the map. */
static int map_dirty(struct partition *p, const struct segment_list *l, size_t k,
                     struct compact_map *m, size_t *covered)
{
    bool mapped = false;
    size_t i;
    int ret = 0;

    for (i = 0; i < k && !ret; i++) {
        if (l->segs[i + 1]->base_offset <= p->clean_to)
            continue;
        if (mapped && compact_map_bytes(m) >= COMPACT_MAP_BUDGET)
            break;
        ret = compact_map_add_segment(m, l->segs[i]);
        mapped = true;
    }
    *covered = i;
    return ret;
}

/* Publishes the committed segment 's' in place of 'old' (same base offset). The old
 * one's files are already replaced by name, so it must not remove them: readers that
 * still hold it read its unlinked files until they let go. */
static void replace_segment(struct partition *p, struct segment *old, struct segment *s)
{
    struct segment_list *cur, *l;
    bool found = false;

    pthread_mutex_lock(&p->append_lock);
    cur = p->segments;
    l = list_new(cur->n);
    for (size_t i = 0; i < cur->n; i++) {
        if (cur->segs[i] == old) {
            l->segs[i] = s; /* takes the caller's reference */
            found = true;
            continue;
        }
        segment_get(cur->segs[i]);
        l->segs[i] = cur->segs[i];
    }
    assert(found); /* clean_lock keeps retention, the only remover, away */
    swap_list(p, l);
    pthread_mutex_unlock(&p->append_lock);
}

/* Compacts 'old' by 'rules'; 'clean_end' (synced, a segment boundary past 'old')
 * becomes the clean point if it is not yet. Returns 1 if rewritten, 0 if nothing went,
 * or -errno (the old segment stays). */
static int compact_one(struct partition *p, struct segment *old,
                       const struct compact_rules *rules, int64_t clean_end, int64_t *due)
{
    struct compact_outcome o;
    struct segment *s;
    int ret = compact_segment(old, p->dir, rules, &s, &o);

    if (ret)
        return ret;
    if (o.tombstone_due < *due)
        *due = o.tombstone_due;
    if (!s)
        return 0;
    /* A deleted topic's directory is gone, or is already another topic's. */
    if (partition_is_deleted(p)) {
        segment_discard(s);
        return -ENOENT;
    }
    ret = raise_clean_point(p, clean_end);
    if (!ret)
        ret = segment_commit_cleaned(s);
    if (ret) {
        segment_discard(s);
        return ret;
    }
    replace_segment(p, old, s);
    log_info("partition '%s': compacted segment %020" PRId64 ": %" PRIu64
             " records kept, %" PRIu64 " removed",
             p->dir, old->base_offset, o.kept, o.removed);
    return 1;
}

int partition_compact(struct partition *p, int64_t now_ms, int64_t delete_retention_ms)
{
    struct compact_rules rules = {NULL, now_ms,
                                  delete_retention_ms > 0 ? delete_retention_ms : 0};
    struct compact_map *m = NULL;
    struct segment_list *l;
    int64_t due = INT64_MAX;
    size_t k, covered;
    int ret = 0, rewritten = 0;

    pthread_mutex_lock(&p->clean_lock);
    if (partition_error(p)) {
        pthread_mutex_unlock(&p->clean_lock);
        return -EROFS; /* a damaged log is left as it is */
    }
    l = partition_segments(p);
    k = cleanable_segments(p, l);
    /* Nothing new to compact, and no kept tombstone has expired since the last pass. */
    if (!k || (p->clean_to >= l->segs[k]->base_offset && now_ms <= p->tombstone_due))
        goto out;
    m = compact_map_new();
    ret = map_dirty(p, l, k, m, &covered);
    if (ret)
        goto out;
    rules.map = m;
    /* In offset order: a tombstone goes only after what it deletes went before it. The
     * clean point goes to the end of every cleanable segment (never below an earlier
     * one, whatever this pass covers). */
    for (size_t i = 0; i < covered && ret >= 0; i++) {
        ret = compact_one(p, l->segs[i], &rules, l->segs[k]->base_offset, &due);
        if (ret > 0)
            rewritten++;
    }
    if (ret >= 0) {
        p->clean_to = l->segs[covered]->base_offset;
        p->tombstone_due = due;
        ret = rewritten;
    }
out:
    compact_map_free(m);
    segment_list_put(l);
    pthread_mutex_unlock(&p->clean_lock);
    if (ret < 0)
        log_warn("partition '%s': compaction stopped after %d segment%s: %s", p->dir,
                 rewritten, rewritten == 1 ? "" : "s", strerror(-ret));
    return ret;
}

/* ---- reading ---- */

int partition_read(struct partition *p, int64_t offset, size_t max_bytes, struct buf *out)
{
    int64_t hw = partition_high_watermark(p);
    size_t start = out->len;
    struct segment_list *l;
    uint64_t pos;
    int total = 0, ret;

    if (offset < partition_log_start(p) || offset > hw)
        return -ERANGE;
    if (offset == hw)
        return 0;
    l = partition_segments(p);
    for (size_t i = segment_for(l, offset); i < l->n; i++) {
        struct segment *s = l->segs[i];
        size_t room = out->len - start < max_bytes ? max_bytes - (out->len - start) : 0;

        if (total && room == 0)
            break;
        if (s->base_offset >= hw)
            break;
        if (offset > s->base_offset) {
            ret = segment_find(s, offset, &pos);
            if (ret == -ERANGE)
                continue; /* offset is past this segment: in the next one */
            if (ret)
                goto fail;
        } else {
            pos = 0;
        }
        ret = segment_read(s, pos, hw, total ? room : max_bytes, out, &pos);
        if (ret < 0)
            goto fail;
        total += ret;
        if (pos < segment_size(s) || segment_next_offset(s) >= hw)
            break; /* stopped inside this segment: full, or at the high watermark */
        offset = segment_next_offset(s);
    }
    segment_list_put(l);
    return total;
fail:
    segment_list_put(l);
    if (total)
        return total; /* serve what came before the bad spot; the next read fails */
    return ret;
}

int partition_for_each(struct partition *p, int64_t from,
                       int (*fn)(void *arg, const struct record *r), void *arg)
{
    int64_t hw = partition_high_watermark(p);
    struct buf b = BUF_INIT;
    int ret = 0;

    while (!ret && from < hw) {
        size_t at = 0;
        int n;

        buf_reset(&b);
        n = partition_read(p, from, 1 << 20, &b);
        if (n <= 0) {
            ret = n; /* 0: compaction left nothing up to the high watermark */
            break;
        }
        while (!ret && at < b.len) {
            struct record_batch_header h;
            struct record_iter it;
            struct record r;

            ret = record_batch_check((uint8_t *)b.data + at, b.len - at, &h);
            if (ret)
                break;
            record_iter_init(&it, (uint8_t *)b.data + at, &h);
            while (!ret && record_iter_next(&it, &r) == 1) {
                if (r.offset < from)
                    continue;
                from = r.offset + 1;
                ret = fn(arg, &r);
            }
            at += record_batch_total(&h);
        }
    }
    buf_release(&b);
    return ret;
}

int partition_offset_for_time(struct partition *p, int64_t ts, int64_t *offset)
{
    int64_t hw = partition_high_watermark(p);
    struct segment_list *l = partition_segments(p);
    struct buf b = BUF_INIT;
    int ret = 0;

    *offset = hw;
    for (size_t i = 0; i < l->n; i++) {
        struct segment *s = l->segs[i];
        struct record_batch_header h;
        struct record_iter it;
        struct record r;
        uint64_t pos, next;

        if (s->base_offset >= hw)
            break;
        ret = segment_find_time(s, ts, &pos);
        if (ret == -ERANGE) {
            ret = 0;
            continue;
        }
        if (ret)
            break;
        buf_reset(&b);
        ret = segment_read(s, pos, hw, 1, &b, &next);
        if (ret <= 0)
            break; /* 0: the batch is above the high watermark */
        ret = record_batch_check((uint8_t *)b.data, b.len, &h);
        if (ret)
            break;
        record_iter_init(&it, (uint8_t *)b.data, &h);
        while ((ret = record_iter_next(&it, &r)) == 1) {
            if (r.timestamp >= ts) {
                *offset = r.offset;
                break;
            }
        }
        ret = ret < 0 ? ret : 0;
        break;
    }
    buf_release(&b);
    segment_list_put(l);
    return ret;
}

uint64_t partition_size_bytes(struct partition *p)
{
    struct segment_list *l = partition_segments(p);
    uint64_t size = 0;

    for (size_t i = 0; i < l->n; i++)
        size += segment_size(l->segs[i]);
    segment_list_put(l);
    return size;
}

/* ---- closing ---- */

void partition_close(struct partition *p)
{
    struct buf text = BUF_INIT;
    struct segment *s;
    int64_t end;

    if (!p)
        return;
    s = active_segment(p);
    end = atomic_load(&p->log_end);
    if (!partition_error(p) && !partition_flush(p, end)) {
        advance_recovery_point(p, s->base_offset);
        buf_printf(&text, "rill-checkpoint 1\n%" PRId64 " %" PRId64 " %" PRIu64 "\n", end,
                   s->base_offset, segment_size(s));
        if (io_replace_file(p->dir, CHECKPOINT_FILE, text.data, text.len, 0644))
            log_warn("partition '%s': cannot write the recovery checkpoint", p->dir);
    }
    buf_release(&text);
    partition_free(p);
}
