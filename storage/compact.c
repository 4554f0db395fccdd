/* compact.c: log compaction's rules and segment rewriting (see compact.h).
 *
 * The key map is an open-addressing hash table of
 *   | u64 hash | i64 latest offset | key position in the key arena | i32 key length |
 * with the key bytes in one arena, so a pass holds about 24 bytes plus the key per
 * distinct key. The hash is seeded per map (FNV-1a, then a 64-bit finalizer): chosen
 * keys can at worst make probing slower, never make two keys one.
 *
 * A segment is compacted in two reads: the first decides (and writes nothing if
 * nothing goes, the common case for an already compacted segment), the second writes
 * the survivors. The segment is closed and immutable, so both reads see the same.
 *
 * e.g. a batch at offsets 10..14 with keys a b a c b, compacted against a map saying
 * a -> 12, b -> 14, c -> 13, keeps 12 13 14 and becomes one batch, baseOffset 12,
 * three records with offsetDeltas 0 1 2; the next batch still starts at 15. */
#include "storage/compact.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/xalloc.h"
#include "storage/record.h"

#define READ_CHUNK (1u << 20) /* log bytes read at a time */
#define MAP_MIN_SLOTS 1024

/* ---- the key map ---- */

struct map_slot {
    uint64_t hash;
    int64_t offset; /* -1: empty */
    size_t key_at;  /* in 'keys' */
    int32_t key_len;
};

struct compact_map {
    struct map_slot *slots;
    size_t cap, n; /* cap is a power of two */
    struct buf keys;
    uint64_t seed;
};

static uint64_t key_hash(uint64_t seed, const uint8_t *key, int32_t len)
{
    uint64_t h = 0xcbf29ce484222325ull ^ seed;

    for (int32_t i = 0; i < len; i++)
        h = (h ^ key[i]) * 0x100000001b3ull;
    h ^= h >> 33; /* murmur3's finalizer: FNV's low bits are weak */
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 33);
}

static void slots_init(struct compact_map *m, size_t cap)
{
    m->slots = xmalloc(cap * sizeof(*m->slots));
    m->cap = cap;
    for (size_t i = 0; i < cap; i++)
        m->slots[i].offset = -1;
}

struct compact_map *compact_map_new(void)
{
    struct compact_map *m = xcalloc(1, sizeof(*m));
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    m->seed = key_hash((uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)m,
                       (const uint8_t *)&ts.tv_sec, (int32_t)sizeof(ts.tv_sec));
    slots_init(m, MAP_MIN_SLOTS);
    buf_init(&m->keys);
    return m;
}

void compact_map_free(struct compact_map *m)
{
    if (!m)
        return;
    free(m->slots);
    buf_release(&m->keys);
    free(m);
}

size_t compact_map_bytes(const struct compact_map *m)
{
    return m->cap * sizeof(*m->slots) + m->keys.cap;
}

/* The slot holding 'key', or the empty slot where it would go. */
static struct map_slot *map_slot(const struct compact_map *m, uint64_t hash,
                                 const uint8_t *key, int32_t len)
{
    size_t i = (size_t)hash & (m->cap - 1);

    for (;; i = (i + 1) & (m->cap - 1)) {
        struct map_slot *sl = &m->slots[i];

        if (sl->offset < 0)
            return sl;
        if (sl->hash == hash && sl->key_len == len &&
            !memcmp(m->keys.data + sl->key_at, key, (size_t)len))
            return sl;
    }
}

static void map_grow(struct compact_map *m)
{
    struct map_slot *old = m->slots;
    size_t n = m->cap;

    slots_init(m, n * 2);
    for (size_t i = 0; i < n; i++) {
        size_t k;

        if (old[i].offset < 0)
            continue;
        for (k = (size_t)old[i].hash & (m->cap - 1); m->slots[k].offset >= 0;
             k = (k + 1) & (m->cap - 1))
            ;
        m->slots[k] = old[i];
    }
    free(old);
}

static void map_put(struct compact_map *m, const uint8_t *key, int32_t len,
                    int64_t offset)
{
    uint64_t hash = key_hash(m->seed, key, len);
    struct map_slot *sl = map_slot(m, hash, key, len);

    if (sl->offset < 0) {
        if ((m->n + 1) * 10 > m->cap * 7) { /* keep probes short: at most 70% full */
            map_grow(m);
            sl = map_slot(m, hash, key, len);
        }
        sl->hash = hash;
        sl->key_at = m->keys.len;
        sl->key_len = len;
        buf_add(&m->keys, key, (size_t)len);
        m->n++;
    }
    if (offset > sl->offset)
        sl->offset = offset;
}

/* The highest offset of 'key' in the map, or -1. */
static int64_t map_latest(const struct compact_map *m, const uint8_t *key, int32_t len)
{
    return map_slot(m, key_hash(m->seed, key, len), key, len)->offset;
}

/* ---- walking a segment ---- */

/* Calls fn on every batch of the closed segment 's', in order, each checked whole,
 * until fn returns non-zero (which is returned). Returns 0 or -errno. */
static int for_each_batch(struct segment *s,
                          int (*fn)(void *arg, const uint8_t *batch,
                                    const struct record_batch_header *h),
                          void *arg)
{
    uint64_t pos = 0, size = segment_size(s);
    struct buf b = BUF_INIT;
    int ret = 0;

    while (!ret && pos < size) {
        size_t at = 0;
        int n;

        buf_reset(&b);
        n = segment_read(s, pos, INT64_MAX, READ_CHUNK, &b, &pos);
        if (n <= 0) {
            ret = n ? n : -EIO; /* 0 before the end of a closed segment: cannot be */
            break;
        }
        while (!ret && at < b.len) {
            struct record_batch_header h;

            ret = record_batch_check((const uint8_t *)b.data + at, b.len - at, &h);
            if (!ret)
                ret = fn(arg, (const uint8_t *)b.data + at, &h);
            at += record_batch_total(&h);
        }
    }
    buf_release(&b);
    return ret;
}

static int map_batch(void *arg, const uint8_t *batch, const struct record_batch_header *h)
{
    struct compact_map *m = arg;
    struct record_iter it;
    struct record r;
    int ret;

    record_iter_init(&it, batch, h);
    while ((ret = record_iter_next(&it, &r)) == 1)
        if (r.key_len >= 0)
            map_put(m, r.key, r.key_len, r.offset);
    return ret;
}

int compact_map_add_segment(struct compact_map *m, struct segment *s)
{
    return for_each_batch(s, map_batch, m);
}

/* ---- the rules ---- */

/* Whether record 'r' stays; a tombstone that stays lowers o->tombstone_due. */
static bool survives(const struct compact_rules *rules, const struct record *r,
                     struct compact_outcome *o)
{
    int64_t expires;

    if (r->key_len < 0)
        return true; /* nothing can supersede it */
    if (rules->map && map_latest(rules->map, r->key, r->key_len) > r->offset)
        return false;
    if (r->value_len >= 0)
        return true;
    /* The key's latest record is a tombstone: kept while now <= timestamp + keep. */
    if (__builtin_add_overflow(r->timestamp, rules->delete_retention_ms, &expires))
        expires = INT64_MAX; /* keep >= 0: only a late timestamp overflows */
    if (rules->now_ms > expires)
        return false;
    if (expires < o->tombstone_due)
        o->tombstone_due = expires;
    return true;
}

/* First read: counts what stays and goes. */
struct decide {
    const struct compact_rules *rules;
    struct compact_outcome *o;
};

static int decide_batch(void *arg, const uint8_t *batch,
                        const struct record_batch_header *h)
{
    struct decide *d = arg;
    struct record_iter it;
    struct record r;
    int ret;

    record_iter_init(&it, batch, h);
    while ((ret = record_iter_next(&it, &r)) == 1) {
        if (survives(d->rules, &r, d->o))
            d->o->kept++;
        else
            d->o->removed++;
    }
    return ret;
}

/* ---- writing the survivors ---- */

struct writer {
    const struct compact_rules *rules;
    struct compact_outcome scratch; /* the second read's count, unused */
    struct segment *out;
    struct record *run; /* consecutive survivors of the current batch */
    size_t nrun, cap;
    struct buf enc;
};

static int write_batch(struct segment *out, const uint8_t *batch, size_t len,
                       int64_t base, int32_t count, int64_t max_ts)
{
    struct iovec iov = {(void *)batch, len};
    bool torn;

    return segment_append(out, &iov, 1, len, base, count, max_ts, &torn);
}

/* Encodes w->run as one batch (decoded headers made encodable) and appends it. */
static int flush_run(struct writer *w)
{
    struct record_header *hdrs;
    size_t total = 0, at = 0;
    int64_t max_ts = INT64_MIN;
    int ret;

    if (!w->nrun)
        return 0;
    for (size_t i = 0; i < w->nrun; i++)
        total += w->run[i].header_count;
    hdrs = xmalloc((total ? total : 1) * sizeof(*hdrs));
    for (size_t i = 0; i < w->nrun; i++) {
        struct record *r = &w->run[i];
        const uint8_t *cur = r->raw_headers, *end = r->raw_headers + r->raw_headers_len;

        r->headers = hdrs + at;
        for (uint32_t k = 0; k < r->header_count; k++)
            record_header_next(&cur, end, &hdrs[at++]); /* the batch was checked */
        if (r->timestamp > max_ts)
            max_ts = r->timestamp;
    }
    buf_reset(&w->enc);
    ret = record_batch_encode(&w->enc, w->run, w->nrun);
    if (!ret) {
        record_batch_set_base_offset((uint8_t *)w->enc.data, w->run[0].offset);
        ret = write_batch(w->out, (const uint8_t *)w->enc.data, w->enc.len,
                          w->run[0].offset, (int32_t)w->nrun, max_ts);
    }
    free(hdrs);
    w->nrun = 0;
    return ret;
}

static int write_survivors(void *arg, const uint8_t *batch,
                           const struct record_batch_header *h)
{
    struct writer *w = arg;
    struct record_iter it;
    struct record r;
    size_t n = 0;
    int ret;

    if ((size_t)h->record_count > w->cap) {
        w->cap = (size_t)h->record_count;
        w->run = xrealloc(w->run, w->cap * sizeof(*w->run));
    }
    record_iter_init(&it, batch, h);
    while ((ret = record_iter_next(&it, &r)) == 1) {
        n++;
        if (survives(w->rules, &r, &w->scratch)) {
            w->run[w->nrun++] = r; /* a batch's offsets are dense: so is the run */
            continue;
        }
        ret = flush_run(w);
        if (ret)
            return ret;
    }
    if (ret)
        return ret;
    if (w->nrun == n) { /* nothing went: the batch as it was */
        w->nrun = 0;
        return write_batch(w->out, batch, record_batch_total(h), h->base_offset,
                           h->record_count, h->max_timestamp);
    }
    return flush_run(w);
}

int compact_segment(struct segment *s, const char *dir, const struct compact_rules *rules,
                    struct segment **out, struct compact_outcome *o)
{
    struct writer w = {.rules = rules};
    struct decide d;
    int ret;

    memset(o, 0, sizeof(*o));
    o->tombstone_due = INT64_MAX;
    d.rules = rules;
    d.o = o;
    w.scratch.tombstone_due = INT64_MAX;
    *out = NULL;
    ret = for_each_batch(s, decide_batch, &d);
    if (ret || !o->removed)
        return ret;
    ret = segment_create_cleaned(&w.out, dir, s->base_offset, segment_next_offset(s));
    if (ret)
        return ret;
    buf_init(&w.enc);
    ret = for_each_batch(s, write_survivors, &w);
    free(w.run);
    buf_release(&w.enc);
    if (ret) {
        segment_discard(w.out);
        return ret;
    }
    *out = w.out;
    return 0;
}
