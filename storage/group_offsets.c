/* group_offsets.c: consumer group offsets in __consumer_offsets (see group_offsets.h). */
#include "storage/group_offsets.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "storage/partition.h"
#include "storage/record.h"
#include "storage/store.h"
#include "storage/topic.h"
#include "storage/topic_config.h"
#include "storage/topic_meta.h"

#define KEY_VERSION 1
#define VALUE_VERSION 3

/* One group's offsets, sorted by topic, then partition. */
struct group {
    char *name;
    struct group_offset *offs;
    size_t n, cap;
    struct group *next;
};

struct group_offsets {
    struct topic *topic;
    struct partition *p;
    pthread_mutex_t lock; /* the table, and the order of appends */
    struct group *groups;
};

/* ---- Kafka's formats ---- */

static void add_string(struct buf *b, const char *s, size_t len)
{
    buf_add_be16(b, (uint16_t)len);
    buf_add(b, s, len);
}

void group_key_encode(struct buf *b, const char *group, const char *topic,
                      int32_t partition)
{
    buf_add_be16(b, KEY_VERSION);
    add_string(b, group, strlen(group));
    add_string(b, topic, strlen(topic));
    buf_add_be32(b, (uint32_t)partition);
}

void group_value_encode(struct buf *b, int64_t offset, int64_t commit_ms)
{
    buf_add_be16(b, VALUE_VERSION);
    buf_add_be64(b, (uint64_t)offset);
    buf_add_be32(b, (uint32_t)-1); /* leader epoch: none */
    add_string(b, "", 0);          /* metadata */
    buf_add_be64(b, (uint64_t)commit_ms);
}

/* A cursor over bytes read from disk: every read checks the length first. */
struct cursor {
    const uint8_t *p, *end;
};

static bool take(struct cursor *c, size_t n, const uint8_t **out)
{
    if ((size_t)(c->end - c->p) < n)
        return false;
    *out = c->p;
    c->p += n;
    return true;
}

static bool take_string(struct cursor *c, const char **s, size_t *len)
{
    const uint8_t *h, *d;
    int16_t n;

    if (!take(c, 2, &h))
        return false;
    n = (int16_t)load_be16(h);
    if (n < 0 || !take(c, (size_t)n, &d))
        return false;
    *s = (const char *)d;
    *len = (size_t)n;
    return true;
}

int group_key_decode(const uint8_t *data, size_t len, const char **group,
                     size_t *group_len, const char **topic, size_t *topic_len,
                     int32_t *partition)
{
    struct cursor c = {data, data + len};
    const uint8_t *v, *p;

    /* versions 0 and 1 are the offset-commit key; 2 is a group's metadata */
    if (!take(&c, 2, &v) || load_be16(v) > KEY_VERSION ||
        !take_string(&c, group, group_len) || !take_string(&c, topic, topic_len) ||
        !take(&c, 4, &p) || c.p != c.end)
        return -EBADMSG;
    *partition = (int32_t)load_be32(p);
    return *partition < 0 ? -EBADMSG : 0;
}

int group_value_decode(const uint8_t *data, size_t len, int64_t *offset,
                       int64_t *commit_ms)
{
    struct cursor c = {data, data + len};
    const uint8_t *v, *o, *t, *skip;
    const char *meta;
    size_t meta_len;
    uint16_t version;

    if (!take(&c, 2, &v))
        return -EBADMSG;
    version = load_be16(v);
    if (version > VALUE_VERSION || !take(&c, 8, &o) ||
        (version == 3 && !take(&c, 4, &skip)) || !take_string(&c, &meta, &meta_len) ||
        !take(&c, 8, &t) || (version == 1 && !take(&c, 8, &skip)) || c.p != c.end)
        return -EBADMSG;
    *offset = (int64_t)load_be64(o);
    *commit_ms = (int64_t)load_be64(t);
    return *offset < 0 ? -EBADMSG : 0;
}

/* ---- the table ---- */

static struct group *find_group(struct group_offsets *g, const char *name, size_t len)
{
    for (struct group *e = g->groups; e; e = e->next)
        if (strlen(e->name) == len && !memcmp(e->name, name, len))
            return e;
    return NULL;
}

static int compare(const char *topic, size_t topic_len, int32_t partition,
                   const struct group_offset *o)
{
    size_t olen = strlen(o->topic);
    int c = memcmp(topic, o->topic, topic_len < olen ? topic_len : olen);

    if (c)
        return c;
    if (topic_len != olen)
        return topic_len < olen ? -1 : 1;
    return partition < o->partition ? -1 : partition > o->partition;
}

/* Where (topic, partition) is or would go in e->offs; *found says which. */
static size_t locate(const struct group *e, const char *topic, size_t topic_len,
                     int32_t partition, bool *found)
{
    size_t lo = 0, hi = e->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = compare(topic, topic_len, partition, &e->offs[mid]);

        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    *found = false;
    return lo;
}

static void remove_group(struct group_offsets *g, struct group *e)
{
    struct group **pp;

    for (pp = &g->groups; *pp != e; pp = &(*pp)->next)
        ;
    *pp = e->next;
    for (size_t i = 0; i < e->n; i++)
        free(e->offs[i].topic);
    free(e->offs);
    free(e->name);
    free(e);
}

/* Sets (offset >= 0) or removes (offset < 0, a tombstone) one entry. */
static void apply(struct group_offsets *g, const char *group, size_t group_len,
                  const char *topic, size_t topic_len, int32_t partition, int64_t offset,
                  int64_t commit_ms)
{
    struct group *e = find_group(g, group, group_len);
    bool found;
    size_t i;

    if (!e) {
        if (offset < 0)
            return;
        e = xcalloc(1, sizeof(*e));
        e->name = xstrndup(group, group_len);
        e->next = g->groups;
        g->groups = e;
    }
    i = locate(e, topic, topic_len, partition, &found);
    if (offset < 0) {
        if (found) {
            free(e->offs[i].topic);
            memmove(&e->offs[i], &e->offs[i + 1], (e->n - i - 1) * sizeof(e->offs[0]));
            e->n--;
        }
        if (!e->n)
            remove_group(g, e);
        return;
    }
    if (!found) {
        if (e->n == e->cap) {
            e->cap = e->cap ? e->cap * 2 : 8;
            e->offs = xrealloc(e->offs, e->cap * sizeof(e->offs[0]));
        }
        memmove(&e->offs[i + 1], &e->offs[i], (e->n - i) * sizeof(e->offs[0]));
        e->n++;
        e->offs[i].topic = xstrndup(topic, topic_len);
        e->offs[i].partition = partition;
    }
    e->offs[i].offset = offset;
    e->offs[i].commit_ms = commit_ms;
}

int group_offsets_replay_record(void *arg, const struct record *r)
{
    struct group_offsets *g = arg;
    const char *group, *topic;
    size_t group_len, topic_len;
    int32_t partition;
    int64_t offset = -1, commit_ms = 0;

    if (r->key_len < 0 || group_key_decode(r->key, (size_t)r->key_len, &group, &group_len,
                                           &topic, &topic_len, &partition))
        return 0; /* not an offset commit (Kafka keeps group metadata here too) */
    if (r->value_len >= 0 &&
        group_value_decode(r->value, (size_t)r->value_len, &offset, &commit_ms)) {
        log_warn("%s: offset %lld: unreadable commit value, skipped", GROUP_OFFSETS_TOPIC,
                 (long long)r->offset);
        return 0;
    }
    apply(g, group, group_len, topic, topic_len, partition, offset, commit_ms);
    return 0;
}

int group_offsets_open(struct group_offsets **out, struct store *store,
                       uint64_t segment_bytes)
{
    struct group_offsets *g = xcalloc(1, sizeof(*g));
    char size[24];
    /* commits are kept until replaced, however old: never by age or size */
    const char *const config[] = {"cleanup.policy", "compact", "retention.ms", "-1",
                                  "segment.bytes", size, NULL};
    int ret;

    snprintf(size, sizeof(size), "%llu",
             (unsigned long long)(segment_bytes ? segment_bytes : 16 << 20));
    ret = store_internal_topic(store, GROUP_OFFSETS_TOPIC, config, &g->topic);
    pthread_mutex_init(&g->lock, NULL);
    if (!ret) {
        g->p = topic_partition(g->topic, 0);
        ret = partition_for_each(g->p, partition_log_start(g->p),
                                 group_offsets_replay_record, g);
    }
    if (ret) {
        group_offsets_close(g);
        return ret;
    }
    *out = g;
    return 0;
}

void group_offsets_close(struct group_offsets *g)
{
    if (!g)
        return;
    while (g->groups)
        remove_group(g, g->groups);
    topic_put(g->topic);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

struct partition *group_offsets_partition(struct group_offsets *g)
{
    return g->p;
}

static void ignore_durable(struct partition_waiter *w)
{
    (void)w;
}

/* Appends recs[0..n) as one batch, then applies each (under g->lock), then lists 'w'
 * for its durability (NULL: not waited for). */
static int append_and_apply(struct group_offsets *g, const char *group,
                            const struct group_offset *offs, struct record *recs,
                            size_t n, struct partition_waiter *w)
{
    struct buf batch = BUF_INIT;
    int64_t base, last;
    int ret = record_batch_encode(&batch, recs, n);

    if (!ret)
        ret = partition_append(g->p, (uint8_t *)batch.data, batch.len, &base, &last);
    buf_release(&batch);
    if (ret)
        return ret;
    for (size_t i = 0; i < n; i++)
        apply(g, group, strlen(group), offs[i].topic, strlen(offs[i].topic),
              offs[i].partition, recs[i].value_len < 0 ? -1 : offs[i].offset,
              recs[i].timestamp);
    if (!w) { /* not waited for: listing a waiter asks for the sync; then let it go */
        struct partition_waiter ask = {.offset = last + 1, .fire = ignore_durable};

        if (!partition_watch_durable(g->p, &ask))
            partition_unwatch(g->p, &ask);
        return 0;
    }
    w->offset = last + 1;
    return partition_watch_durable(g->p, w) ? 0 : 1;
}

/* Commits (or, with 'tombstones', deletes) offs[0..n) of 'group'; under g->lock. */
static int write_locked(struct group_offsets *g, const char *group,
                        const struct group_offset *offs, size_t n, bool tombstones,
                        struct partition_waiter *w)
{
    struct record *recs = xcalloc(n, sizeof(*recs));
    struct buf *keys = xcalloc(n, sizeof(*keys)), *values = xcalloc(n, sizeof(*values));
    int64_t now = clock_wall_ms();
    int ret;

    for (size_t i = 0; i < n; i++) {
        buf_init(&keys[i]);
        buf_init(&values[i]);
        group_key_encode(&keys[i], group, offs[i].topic, offs[i].partition);
        recs[i].timestamp = now;
        recs[i].key = (const uint8_t *)keys[i].data;
        recs[i].key_len = (int32_t)keys[i].len;
        if (tombstones) {
            recs[i].value_len = -1;
        } else {
            group_value_encode(&values[i], offs[i].offset, now);
            recs[i].value = (const uint8_t *)values[i].data;
            recs[i].value_len = (int32_t)values[i].len;
        }
    }
    ret = append_and_apply(g, group, offs, recs, n, w);
    for (size_t i = 0; i < n; i++) {
        buf_release(&keys[i]);
        buf_release(&values[i]);
    }
    free(keys);
    free(values);
    free(recs);
    return ret;
}

int group_offsets_commit(struct group_offsets *g, const char *group,
                         const struct group_offset *offsets, size_t n,
                         struct partition_waiter *w)
{
    int ret;

    if (!n)
        return 0;
    pthread_mutex_lock(&g->lock);
    ret = write_locked(g, group, offsets, n, false, w);
    pthread_mutex_unlock(&g->lock);
    return ret;
}

int group_offsets_delete(struct group_offsets *g, const char *group,
                         struct partition_waiter *w)
{
    struct group *e;
    struct group_offset *copy;
    size_t n;
    int ret;

    pthread_mutex_lock(&g->lock);
    e = find_group(g, group, strlen(group));
    if (!e) {
        pthread_mutex_unlock(&g->lock);
        return -ENOENT;
    }
    n = e->n;
    copy = xmalloc(n * sizeof(*copy));
    memcpy(copy, e->offs, n * sizeof(*copy)); /* the tombstones remove e->offs */
    for (size_t i = 0; i < n; i++)
        copy[i].topic = xstrdup(e->offs[i].topic);
    ret = write_locked(g, group, copy, n, true, w);
    pthread_mutex_unlock(&g->lock);
    group_offsets_free(copy, n);
    return ret;
}

void group_offsets_forget_topic(struct group_offsets *g, const char *topic)
{
    pthread_mutex_lock(&g->lock);
    for (struct group *e = g->groups, *next; e; e = next) {
        struct group_offset *gone = xmalloc((e->n ? e->n : 1) * sizeof(*gone));
        char *name = xstrdup(e->name);
        size_t n = 0;

        next = e->next; /* the tombstones may free e */
        for (size_t i = 0; i < e->n; i++) {
            if (strcmp(e->offs[i].topic, topic))
                continue;
            gone[n] = e->offs[i];
            gone[n++].topic = xstrdup(topic);
        }
        if (n && write_locked(g, name, gone, n, true, NULL) < 0)
            log_warn("%s: cannot forget group '%s' offsets of deleted topic '%s'",
                     GROUP_OFFSETS_TOPIC, name, topic);
        group_offsets_free(gone, n);
        free(name);
    }
    pthread_mutex_unlock(&g->lock);
}

int group_offsets_get(struct group_offsets *g, const char *group,
                      struct group_offset **out, size_t *n)
{
    struct group *e;
    int ret = 0;

    pthread_mutex_lock(&g->lock);
    e = find_group(g, group, strlen(group));
    if (!e) {
        ret = -ENOENT;
    } else {
        *n = e->n;
        *out = xmalloc((e->n ? e->n : 1) * sizeof(**out));
        for (size_t i = 0; i < e->n; i++) {
            (*out)[i] = e->offs[i];
            (*out)[i].topic = xstrdup(e->offs[i].topic);
        }
    }
    pthread_mutex_unlock(&g->lock);
    return ret;
}

void group_offsets_free(struct group_offset *o, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(o[i].topic);
    free(o);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **group_offsets_groups(struct group_offsets *g, size_t *n)
{
    char **names;
    size_t k = 0;

    pthread_mutex_lock(&g->lock);
    for (struct group *e = g->groups; e; e = e->next)
        k++;
    names = xmalloc((k ? k : 1) * sizeof(*names));
    k = 0;
    for (struct group *e = g->groups; e; e = e->next)
        names[k++] = xstrdup(e->name);
    pthread_mutex_unlock(&g->lock);
    qsort(names, k, sizeof(*names), compare_names);
    *n = k;
    return names;
}
