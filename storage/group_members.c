/* group_members.c: consumer group membership in memory (see group_members.h). */
#include "storage/group_members.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/xalloc.h"

struct member {
    char id[MEMBER_ID_LEN + 1];
    char **topics; /* sorted, each once */
    size_t ntopics;
    int64_t session_timeout_ms;
    int64_t last_seen_ms;
    bool earliest;
};

struct mgroup {
    char *name;
    struct member *members; /* sorted by id */
    size_t n, cap;
    int64_t generation;
    uint64_t shape; /* hash of the subscribed topics' partition counts */
    struct mgroup *next;
};

struct group_members {
    pthread_mutex_t lock;
    struct mgroup *groups;
    member_partitions_fn partitions;
    void *arg;
};

struct group_members *group_members_new(member_partitions_fn partitions, void *arg)
{
    struct group_members *m = xcalloc(1, sizeof(*m));

    pthread_mutex_init(&m->lock, NULL);
    m->partitions = partitions;
    m->arg = arg;
    return m;
}

static void member_release(struct member *mb)
{
    for (size_t i = 0; i < mb->ntopics; i++)
        free(mb->topics[i]);
    free(mb->topics);
}

static void group_free(struct mgroup *g)
{
    for (size_t i = 0; i < g->n; i++)
        member_release(&g->members[i]);
    free(g->members);
    free(g->name);
    free(g);
}

void group_members_free(struct group_members *m)
{
    if (!m)
        return;
    while (m->groups) {
        struct mgroup *g = m->groups;

        m->groups = g->next;
        group_free(g);
    }
    pthread_mutex_destroy(&m->lock);
    free(m);
}

void member_view_release(struct member_view *v)
{
    for (size_t i = 0; i < v->nassigned; i++)
        free(v->assigned[i].topic);
    free(v->assigned);
    v->assigned = NULL;
    v->nassigned = 0;
}

static struct mgroup *find_group(struct group_members *m, const char *name, bool create)
{
    struct mgroup *g;

    for (g = m->groups; g; g = g->next)
        if (!strcmp(g->name, name))
            return g;
    if (!create)
        return NULL;
    g = xcalloc(1, sizeof(*g));
    g->name = xstrdup(name);
    g->next = m->groups;
    m->groups = g;
    return g;
}

static void drop_group(struct group_members *m, struct mgroup *g)
{
    struct mgroup **pp;

    for (pp = &m->groups; *pp != g; pp = &(*pp)->next)
        ;
    *pp = g->next;
    group_free(g);
}

static struct member *find_member(struct mgroup *g, const char *id)
{
    for (size_t i = 0; i < g->n; i++)
        if (!strcmp(g->members[i].id, id))
            return &g->members[i];
    return NULL;
}

static void remove_member(struct mgroup *g, struct member *mb)
{
    size_t i = (size_t)(mb - g->members);

    member_release(mb);
    memmove(&g->members[i], &g->members[i + 1], (g->n - i - 1) * sizeof(*mb));
    g->n--;
}

static bool subscribes(const struct member *mb, const char *topic)
{
    for (size_t i = 0; i < mb->ntopics; i++)
        if (!strcmp(mb->topics[i], topic))
            return true;
    return false;
}

/* FNV-1a over every member's topics and their partition counts now. */
static uint64_t group_shape(struct group_members *m, const struct mgroup *g)
{
    uint64_t h = 14695981039346656037ULL;

    for (size_t i = 0; i < g->n; i++) {
        for (size_t t = 0; t < g->members[i].ntopics; t++) {
            const char *name = g->members[i].topics[t];
            int32_t parts = m->partitions(m->arg, name);

            for (const char *c = name; *c; c++)
                h = (h ^ (uint8_t)*c) * 1099511628211ULL;
            h = (h ^ (uint64_t)(uint32_t)parts) * 1099511628211ULL;
        }
    }
    return h;
}

/* Expires members past their session and starts a new generation if the arrangement
 * changed (members gone, or a subscribed topic's partition count). May free 'g':
 * returns it, or NULL when it has no member left. */
static struct mgroup *refresh(struct group_members *m, struct mgroup *g, int64_t now_ms)
{
    bool changed = false;
    uint64_t shape;

    for (size_t i = g->n; i-- > 0;) {
        if (now_ms - g->members[i].last_seen_ms > g->members[i].session_timeout_ms) {
            remove_member(g, &g->members[i]);
            changed = true;
        }
    }
    if (!g->n) {
        drop_group(m, g);
        return NULL;
    }
    shape = group_shape(m, g);
    if (changed || shape != g->shape) {
        g->shape = shape;
        g->generation++;
    }
    return g;
}

/* The member's partitions: of each of its topics, partition p when it is member
 * p mod k of the k members subscribed to the topic (in id order). */
static void fill_view(struct group_members *m, const struct mgroup *g, const struct member *mb,
                      struct member_view *out)
{
    size_t cap = 0;

    memset(out, 0, sizeof(*out));
    memcpy(out->member_id, mb->id, sizeof(out->member_id));
    out->generation = g->generation;
    out->earliest = mb->earliest;
    for (size_t t = 0; t < mb->ntopics; t++) {
        const char *topic = mb->topics[t];
        int32_t parts = m->partitions(m->arg, topic);
        size_t k = 0, me = 0;

        for (size_t i = 0; i < g->n; i++) {
            if (!subscribes(&g->members[i], topic))
                continue;
            if (&g->members[i] == mb)
                me = k;
            k++;
        }
        for (int32_t p = (int32_t)me; p < parts; p += (int32_t)k) {
            if (out->nassigned == cap) {
                cap = cap ? cap * 2 : 8;
                out->assigned = xrealloc(out->assigned, cap * sizeof(*out->assigned));
            }
            out->assigned[out->nassigned].topic = xstrdup(topic);
            out->assigned[out->nassigned++].partition = p;
        }
    }
}

static int compare_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void new_member_id(char out[MEMBER_ID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t raw[16];

    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        abort(); /* the kernel's generator does not fail for 16 bytes once seeded */
    memcpy(out, "m-", 2);
    for (size_t i = 0; i < sizeof(raw); i++) {
        out[2 + 2 * i] = hex[raw[i] >> 4];
        out[3 + 2 * i] = hex[raw[i] & 15];
    }
    out[MEMBER_ID_LEN] = '\0';
}

int group_members_join(struct group_members *m, const char *group, const char *const *topics,
                       size_t ntopics, int64_t session_timeout_ms, bool earliest,
                       int64_t now_ms, struct member_view *out)
{
    struct mgroup *g;
    struct member mb = {0}, *slot;
    size_t i;

    new_member_id(mb.id);
    mb.topics = xmalloc((ntopics ? ntopics : 1) * sizeof(*mb.topics));
    for (i = 0; i < ntopics; i++)
        mb.topics[i] = xstrdup(topics[i]);
    qsort(mb.topics, ntopics, sizeof(*mb.topics), compare_str);
    for (i = 0; i < ntopics; i++) { /* each once */
        if (mb.ntopics && !strcmp(mb.topics[mb.ntopics - 1], mb.topics[i]))
            free(mb.topics[i]);
        else
            mb.topics[mb.ntopics++] = mb.topics[i];
    }
    mb.session_timeout_ms = session_timeout_ms;
    mb.last_seen_ms = now_ms;
    mb.earliest = earliest;

    pthread_mutex_lock(&m->lock);
    g = find_group(m, group, true);
    if (g->n)
        g = refresh(m, g, now_ms);
    if (!g)
        g = find_group(m, group, true);
    if (g->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 4;
        g->members = xrealloc(g->members, g->cap * sizeof(*g->members));
    }
    for (i = 0; i < g->n && strcmp(g->members[i].id, mb.id) < 0; i++)
        ;
    memmove(&g->members[i + 1], &g->members[i], (g->n - i) * sizeof(mb));
    g->members[i] = mb;
    g->n++;
    g->generation++;
    g->shape = group_shape(m, g);
    slot = &g->members[i];
    fill_view(m, g, slot, out);
    pthread_mutex_unlock(&m->lock);
    return 0;
}

/* Looks the member up after a refresh; fills 'out' if not NULL. Under m->lock. */
static struct member *lookup(struct group_members *m, const char *group, const char *member_id,
                             int64_t now_ms, struct mgroup **gout)
{
    struct mgroup *g = find_group(m, group, false);

    if (g)
        g = refresh(m, g, now_ms);
    *gout = g;
    return g ? find_member(g, member_id) : NULL;
}

/* The member's view, its session renewed with 'renew'. -ENOENT if not a member. */
static int view_of(struct group_members *m, const char *group, const char *member_id,
                   int64_t now_ms, bool renew, struct member_view *out)
{
    struct mgroup *g;
    struct member *mb;

    pthread_mutex_lock(&m->lock);
    mb = lookup(m, group, member_id, now_ms, &g);
    if (mb) {
        if (renew)
            mb->last_seen_ms = now_ms;
        fill_view(m, g, mb, out);
    }
    pthread_mutex_unlock(&m->lock);
    return mb ? 0 : -ENOENT;
}

int group_members_heartbeat(struct group_members *m, const char *group, const char *member_id,
                            int64_t now_ms, struct member_view *out)
{
    return view_of(m, group, member_id, now_ms, true, out);
}

int group_members_view(struct group_members *m, const char *group, const char *member_id,
                       int64_t now_ms, struct member_view *out)
{
    return view_of(m, group, member_id, now_ms, false, out);
}

int group_members_leave(struct group_members *m, const char *group, const char *member_id,
                        int64_t now_ms)
{
    struct mgroup *g;
    struct member *mb;

    pthread_mutex_lock(&m->lock);
    mb = lookup(m, group, member_id, now_ms, &g);
    if (mb) {
        remove_member(g, mb);
        g->generation++;
        if (!g->n)
            drop_group(m, g);
        else
            g->shape = group_shape(m, g);
    }
    pthread_mutex_unlock(&m->lock);
    return mb ? 0 : -ENOENT;
}

int group_members_check(struct group_members *m, const char *group, const char *member_id,
                        int64_t generation, int64_t now_ms)
{
    struct mgroup *g;
    struct member *mb;
    int ret;

    pthread_mutex_lock(&m->lock);
    mb = lookup(m, group, member_id, now_ms, &g);
    ret = !mb ? -ENOENT : generation != g->generation ? -ESTALE : 0;
    pthread_mutex_unlock(&m->lock);
    return ret;
}

size_t group_members_count(struct group_members *m, const char *group, int64_t now_ms)
{
    struct mgroup *g;
    size_t n;

    pthread_mutex_lock(&m->lock);
    g = find_group(m, group, false);
    if (g)
        g = refresh(m, g, now_ms);
    n = g ? g->n : 0;
    pthread_mutex_unlock(&m->lock);
    return n;
}

char **group_members_groups(struct group_members *m, int64_t now_ms, size_t *n)
{
    size_t k = 0, cap = 8;
    char **names = xmalloc(cap * sizeof(*names));

    pthread_mutex_lock(&m->lock);
    for (struct mgroup *g = m->groups, *next; g; g = next) {
        next = g->next; /* refresh may free g */
        if (!refresh(m, g, now_ms))
            continue;
        if (k == cap) {
            cap *= 2;
            names = xrealloc(names, cap * sizeof(*names));
        }
        names[k++] = xstrdup(g->name);
    }
    pthread_mutex_unlock(&m->lock);
    qsort(names, k, sizeof(*names), compare_str);
    *n = k;
    return names;
}

char **group_members_topics(struct group_members *m, const char *group, int64_t now_ms,
                            size_t *n)
{
    size_t k = 0, cap = 0;
    char **names = NULL;
    struct mgroup *g;

    pthread_mutex_lock(&m->lock);
    g = find_group(m, group, false);
    if (g)
        g = refresh(m, g, now_ms);
    for (size_t i = 0; g && i < g->n; i++) {
        for (size_t j = 0; j < g->members[i].ntopics; j++) {
            if (k == cap) {
                cap = cap ? 2 * cap : 8;
                names = xrealloc(names, cap * sizeof(*names));
            }
            names[k++] = xstrdup(g->members[i].topics[j]);
        }
    }
    pthread_mutex_unlock(&m->lock);
    if (k)
        qsort(names, k, sizeof(*names), compare_str);
    *n = 0;
    for (size_t i = 0; i < k; i++) { /* each once */
        if (*n && !strcmp(names[*n - 1], names[i]))
            free(names[i]);
        else
            names[(*n)++] = names[i];
    }
    return names;
}
