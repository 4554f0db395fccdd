/* conn_limit.c: open connections counted in total and per client address.
 *
 * The per-address counts are a chained hash map: buckets[hash & (nbuckets - 1)] is a
 * singly linked list of entries, one per address with connections open, e.g. with
 * 127.0.0.1 holding 2 connections and ::1 one:
 *
 *     buckets[5] -> { len 4,  bytes 7f 00 00 01, count 2 } -> NULL
 *     buckets[9] -> { len 16, bytes 00 .. 00 01, count 1 } -> NULL
 *
 * Invariants, under 'lock': every entry's count is 1 or more (an entry whose count
 * drops to 0 is unlinked and freed); the counts add up to at most 'total' (connections
 * of other families have no entry); nentries <= nbuckets, since the table doubles
 * when it would be exceeded (it never shrinks: its size is that of the busiest
 * moment, 8 bytes a bucket). */
#include "server/conn_limit.h"

#include <assert.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "common/xalloc.h"

#define CONN_LIMIT_MIN_BUCKETS 64

/* An address as a map key: 4 bytes (IPv4) or 16 (IPv6), the rest zero. */
struct conn_key {
    unsigned char bytes[16];
    unsigned char len;
};

struct conn_limit_entry {
    struct conn_limit_entry *next;
    struct conn_key key;
    unsigned count; /* connections open from this address, 1 or more */
};

/* 'sa' as a key. Returns false for NULL and families other than IPv4 and IPv6. */
static bool key_of(const struct sockaddr *sa, struct conn_key *k)
{
    memset(k, 0, sizeof(*k));
    if (!sa)
        return false;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a4 = (const struct sockaddr_in *)(const void *)sa;

        memcpy(k->bytes, &a4->sin_addr, 4);
        k->len = 4;
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)(const void *)sa;

        memcpy(k->bytes, &a6->sin6_addr, 16);
        k->len = 16;
        return true;
    }
    return false;
}

/* murmur3's 64-bit finaliser: every input bit reaches every output bit. */
static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static uint64_t hash_key(const struct conn_limit *cl, const struct conn_key *k)
{
    uint64_t lo, hi;

    memcpy(&lo, k->bytes, 8);
    memcpy(&hi, k->bytes + 8, 8);
    return mix64(mix64(cl->seed ^ lo ^ k->len) ^ hi);
}

static struct conn_limit_entry **slot_of(struct conn_limit *cl, const struct conn_key *k)
{
    return &cl->buckets[hash_key(cl, k) & (cl->nbuckets - 1)];
}

/* The link that points at k's entry (or the NULL ending its chain). */
static struct conn_limit_entry **find(struct conn_limit *cl, const struct conn_key *k)
{
    struct conn_limit_entry **link = slot_of(cl, k);

    while (*link && ((*link)->key.len != k->len ||
                     memcmp((*link)->key.bytes, k->bytes, sizeof(k->bytes))))
        link = &(*link)->next;
    return link;
}

/* Doubles the table (or makes the first one), moving every entry to its new chain. */
static void grow(struct conn_limit *cl)
{
    struct conn_limit_entry **old = cl->buckets;
    size_t n = cl->nbuckets;

    cl->nbuckets = n ? n * 2 : CONN_LIMIT_MIN_BUCKETS;
    cl->buckets = xcalloc(cl->nbuckets, sizeof(*cl->buckets));
    for (size_t i = 0; i < n; i++) {
        struct conn_limit_entry *e = old[i], *next;

        for (; e; e = next) {
            struct conn_limit_entry **slot = slot_of(cl, &e->key);

            next = e->next;
            e->next = *slot;
            *slot = e;
        }
    }
    free(old);
}

/* Not a secret, only unknown to clients; the clock stands in if getrandom() fails. */
static uint64_t random_seed(const void *salt)
{
    uint64_t seed;
    struct timespec ts;

    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) == (ssize_t)sizeof(seed))
        return seed;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return mix64((uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 32 ^ (uintptr_t)salt);
}

int conn_limit_init(struct conn_limit *cl, unsigned max_total, unsigned max_per_ip)
{
    int ret;

    memset(cl, 0, sizeof(*cl));
    ret = pthread_mutex_init(&cl->lock, NULL);
    if (ret)
        return -ret;
    cl->max_total = max_total;
    cl->max_per_ip = max_per_ip;
    cl->seed = random_seed(cl);
    return 0;
}

enum conn_verdict conn_limit_admit(struct conn_limit *cl, const struct sockaddr *sa)
{
    struct conn_limit_entry **link = NULL, *e;
    enum conn_verdict v = CONN_OK;
    struct conn_key k;

    pthread_mutex_lock(&cl->lock);
    if (cl->max_per_ip && key_of(sa, &k)) {
        if (cl->nentries == cl->nbuckets)
            grow(cl);
        link = find(cl, &k);
        if (*link && (*link)->count >= cl->max_per_ip) {
            v = CONN_TOO_MANY_FROM_IP;
            goto out_unlock;
        }
    }
    if (cl->max_total && cl->total >= cl->max_total) {
        v = CONN_TOO_MANY;
        goto out_unlock;
    }
    cl->total++;
    if (!link)
        goto out_unlock;
    e = *link;
    if (!e) {
        e = xcalloc(1, sizeof(*e));
        e->key = k;
        *link = e;
        cl->nentries++;
    }
    e->count++;
out_unlock:
    pthread_mutex_unlock(&cl->lock);
    return v;
}

void conn_limit_release(struct conn_limit *cl, const struct sockaddr *sa)
{
    struct conn_limit_entry **link, *e;
    struct conn_key k;

    pthread_mutex_lock(&cl->lock);
    assert(cl->total > 0);
    if (cl->total > 0)
        cl->total--;
    if (!cl->max_per_ip || !key_of(sa, &k) || !cl->nbuckets)
        goto out_unlock;
    link = find(cl, &k);
    e = *link;
    assert(e); /* an admitted address has its entry */
    if (e && --e->count == 0) {
        *link = e->next;
        free(e);
        cl->nentries--;
    }
out_unlock:
    pthread_mutex_unlock(&cl->lock);
}

unsigned conn_limit_count(struct conn_limit *cl, const struct sockaddr *sa)
{
    struct conn_limit_entry *e;
    struct conn_key k;
    unsigned n = 0;

    pthread_mutex_lock(&cl->lock);
    if (!sa) {
        n = cl->total;
    } else if (cl->nbuckets && key_of(sa, &k)) {
        e = *find(cl, &k);
        n = e ? e->count : 0;
    }
    pthread_mutex_unlock(&cl->lock);
    return n;
}

size_t conn_limit_addresses(struct conn_limit *cl)
{
    size_t n;

    pthread_mutex_lock(&cl->lock);
    n = cl->nentries;
    pthread_mutex_unlock(&cl->lock);
    return n;
}

void conn_limit_destroy(struct conn_limit *cl)
{
    for (size_t i = 0; i < cl->nbuckets; i++) {
        struct conn_limit_entry *e = cl->buckets[i], *next;

        for (; e; e = next) {
            next = e->next;
            free(e);
        }
    }
    free(cl->buckets);
    pthread_mutex_destroy(&cl->lock);
    memset(cl, 0, sizeof(*cl));
}
