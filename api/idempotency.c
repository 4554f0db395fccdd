/* idempotency.c: Idempotency-Key for produce (design in idempotency.h). */
#include "api/idempotency.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "storage/backend.h"

#define NBUCKETS 4096

struct idem_entry {
    char *key;
    uint8_t hash[32];
    char *answer;  /* NULL while the first request runs */
    int64_t ts_ms; /* when it was answered (or begun) */
    struct idem_entry *next;       /* bucket chain */
    struct idem_entry *older, *newer; /* age list, for expiry */
};

struct idem_table {
    pthread_mutex_t lock;
    struct idem_entry *buckets[NBUCKETS];
    struct idem_entry *oldest, *newest;
    struct topic *topic;
    struct partition *p;
};

static size_t bucket_of(const char *key)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */

    for (; *key; key++)
        h = (h ^ (uint8_t)*key) * 1099511628211ULL;
    return (size_t)(h % NBUCKETS);
}

static struct idem_entry **find(struct idem_table *t, const char *key)
{
    struct idem_entry **e = &t->buckets[bucket_of(key)];

    while (*e && strcmp((*e)->key, key))
        e = &(*e)->next;
    return e;
}

static void unlink_age(struct idem_table *t, struct idem_entry *e)
{
    if (e->older)
        e->older->newer = e->newer;
    else
        t->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        t->newest = e->older;
    e->older = e->newer = NULL;
}

static void push_age(struct idem_table *t, struct idem_entry *e)
{
    e->older = t->newest;
    e->newer = NULL;
    if (t->newest)
        t->newest->newer = e;
    else
        t->oldest = e;
    t->newest = e;
}

static void remove_entry(struct idem_table *t, struct idem_entry **slot)
{
    struct idem_entry *e = *slot;

    *slot = e->next;
    unlink_age(t, e);
    free(e->key);
    free(e->answer);
    free(e);
}

/* Forgets answered keys older than the window. Under the lock. A replayed timestamp
 * may be anything (read from disk): 'now - ts' could overflow, 'now - window' cannot. */
static void expire(struct idem_table *t, int64_t now)
{
    while (t->oldest && t->oldest->answer && t->oldest->ts_ms < now - IDEM_WINDOW_MS)
        remove_entry(t, find(t, t->oldest->key));
}

/* Sets 'key' to a finished entry (replay at start). Under the lock. */
static void put_answered(struct idem_table *t, const char *key, const uint8_t hash[32],
                         const char *answer, size_t answer_len, int64_t ts)
{
    struct idem_entry **slot = find(t, key), *e;

    if (*slot)
        remove_entry(t, slot);
    e = xcalloc(1, sizeof(*e));
    e->key = xstrdup(key);
    memcpy(e->hash, hash, 32);
    e->answer = xstrndup(answer, answer_len);
    e->ts_ms = ts;
    e->next = *slot;
    *slot = e;
    push_age(t, e);
}

int idem_replay_record(void *arg, const struct record *r)
{
    struct idem_table *t = arg;
    char *key;

    if (r->key_len <= 0 || r->value_len < 32)
        return 0;
    key = xstrndup((const char *)r->key, (size_t)r->key_len);
    put_answered(t, key, r->value, (const char *)r->value + 32, (size_t)r->value_len - 32,
                 r->timestamp);
    free(key);
    return 0;
}

/* Reads the records of the last 24 h back into memory. */
static int replay(struct idem_table *t)
{
    int64_t from;
    int ret = partition_offset_for_time(t->p, clock_wall_ms() - IDEM_WINDOW_MS, &from);

    return ret ? ret : partition_for_each(t->p, from, idem_replay_record, t);
}

int idem_open(struct idem_table **out, struct store *store)
{
    struct idem_table *t = xcalloc(1, sizeof(*t));
    static const char *const config[] = {"retention.ms", "86400000",
                                         "segment.bytes", "67108864", NULL};
    int ret = store_internal_topic(store, IDEM_TOPIC, config, &t->topic);

    pthread_mutex_init(&t->lock, NULL);
    if (!ret) {
        t->p = topic_partition(t->topic, 0);
        ret = replay(t);
    }
    if (ret) {
        idem_close(t);
        return ret;
    }
    *out = t;
    return 0;
}

void idem_close(struct idem_table *t)
{
    if (!t)
        return;
    while (t->oldest)
        remove_entry(t, find(t, t->oldest->key));
    topic_put(t->topic);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

struct partition *idem_partition(struct idem_table *t)
{
    return t->p;
}

enum idem_result idem_begin(struct idem_table *t, const char *key, const uint8_t hash[32],
                            char **answer)
{
    struct idem_entry **slot, *e;
    enum idem_result r = IDEM_NEW;
    int64_t now = clock_wall_ms();

    pthread_mutex_lock(&t->lock);
    expire(t, now);
    slot = find(t, key);
    if ((e = *slot)) {
        if (memcmp(e->hash, hash, 32))
            r = IDEM_CONFLICT;
        else if (!e->answer)
            r = IDEM_IN_PROGRESS;
        else {
            r = IDEM_REPLAY;
            *answer = xstrdup(e->answer);
        }
    } else {
        e = xcalloc(1, sizeof(*e));
        e->key = xstrdup(key);
        memcpy(e->hash, hash, 32);
        e->ts_ms = now;
        *slot = e;
        push_age(t, e);
    }
    pthread_mutex_unlock(&t->lock);
    return r;
}

void idem_abort(struct idem_table *t, const char *key)
{
    struct idem_entry **slot;

    pthread_mutex_lock(&t->lock);
    slot = find(t, key);
    if (*slot && !(*slot)->answer)
        remove_entry(t, slot);
    pthread_mutex_unlock(&t->lock);
}

int idem_finish(struct idem_table *t, const char *key, const uint8_t hash[32],
                const char *answer, struct partition_waiter *w)
{
    size_t alen = strlen(answer);
    uint8_t *value = xmalloc(32 + alen);
    struct record r = {
        .timestamp = clock_wall_ms(),
        .key = (const uint8_t *)key,
        .key_len = (int32_t)strlen(key),
        .value = value,
        .value_len = (int32_t)(32 + alen),
    };
    struct buf b = BUF_INIT;
    int64_t base, last;
    int ret;

    memcpy(value, hash, 32);
    memcpy(value + 32, answer, alen);
    ret = record_batch_encode(&b, &r, 1);
    if (!ret)
        ret = partition_append(t->p, (uint8_t *)b.data, b.len, &base, &last);
    buf_release(&b);
    free(value);
    if (ret) {
        idem_abort(t, key);
        return ret;
    }
    pthread_mutex_lock(&t->lock);
    {
        struct idem_entry *e = *find(t, key);
        if (e && !e->answer) {
            e->answer = xstrdup(answer);
            e->ts_ms = r.timestamp;
            unlink_age(t, e);
            push_age(t, e);
        }
    }
    pthread_mutex_unlock(&t->lock);
    w->offset = last + 1;
    return partition_watch_durable(t->p, w) ? 0 : 1;
}
