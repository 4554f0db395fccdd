/* stream_hub.c: shared, formatted tails of partitions for streams (see stream_hub.h). */
#include "api/stream_hub.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "api/sse.h"
#include "common/xalloc.h"

/* How much log one extension of a hub reads at most. */
#define HUB_READ_BYTES (256 * 1024)

static void chunk_init(struct event_chunk *c, int64_t base)
{
    memset(c, 0, sizeof(*c));
    c->base = c->end = base;
    buf_init(&c->text);
}

static void chunk_release(struct event_chunk *c)
{
    buf_release(&c->text);
    free(c->starts);
    free(c->offsets);
}

int64_t stream_format_batches(struct event_chunk *c, const struct buf *data, int64_t from,
                              int32_t partition)
{
    struct buf starts = BUF_INIT, offsets = BUF_INIT, json = BUF_INIT;
    size_t first = 0;
    struct record_walk w;
    struct record rec;

    chunk_init(c, from);
    buf_add(&starts, &first, sizeof(first));
    record_walk_init(&w, data->data, data->len, c->end);
    while (record_walk_next(&w, &rec)) {
        size_t end;

        buf_reset(&json);
        api_record_json(&json, &rec, partition, false);
        buf_addstr(&c->text, "id: ");
        sse_add_i64(&c->text, rec.offset + 1);
        buf_addstr(&c->text, "\nevent: record\n");
        sse_add_data(&c->text, json.data, json.len);
        buf_addch(&c->text, '\n');
        end = c->text.len;
        buf_add(&starts, &end, sizeof(end));
        buf_add(&offsets, &rec.offset, sizeof(rec.offset));
        c->n++;
        c->end = rec.offset + 1;
    }
    buf_release(&json);
    c->starts = (size_t *)(void *)buf_detach(&starts, NULL);
    c->offsets = (int64_t *)(void *)buf_detach(&offsets, NULL);
    return c->end;
}

/* The index of the first event at or after 'offset'. */
static size_t chunk_find(const struct event_chunk *c, int64_t offset)
{
    size_t lo = 0, hi = c->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (c->offsets[mid] < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Copies chunk events from *next on until 'out' holds 'budget' bytes: as they are (one
 * copy of a run of events), or with the id line of each replaced by add_id's. Moves
 * *next past what was copied (to the chunk's end once all of it was). */
static void chunk_copy(const struct event_chunk *c, int64_t *next, struct buf *out,
                       size_t budget, hub_add_id add_id, void *arg)
{
    size_t i = chunk_find(c, *next), j = i;

    if (!add_id) {
        while (j < c->n && out->len + (c->starts[j] - c->starts[i]) < budget)
            j++;
        buf_add(out, c->text.data + c->starts[i], c->starts[j] - c->starts[i]);
    } else {
        for (; j < c->n && out->len < budget; j++) {
            const char *ev = c->text.data + c->starts[j];
            const char *end = c->text.data + c->starts[j + 1];
            const char *body = (const char *)memchr(ev, '\n', (size_t)(end - ev)) + 1;

            add_id(arg, out, c->offsets[j] + 1);
            buf_add(out, body, (size_t)(end - body));
        }
    }
    if (j == c->n)
        *next = c->end;
    else if (j > i)
        *next = c->offsets[j - 1] + 1;
}

int stream_format_read(struct partition *p, int32_t partition, int64_t *next,
                       size_t max_bytes, struct buf *out, hub_add_id add_id, void *arg)
{
    struct buf data = BUF_INIT;
    struct event_chunk c;
    int64_t from = *next;
    int r = partition_read(p, from, max_bytes, &data);

    if (r == 0 && from < partition_high_watermark(p))
        *next = partition_high_watermark(p); /* compaction left nothing below it */
    if (r <= 0) {
        buf_release(&data);
        return r;
    }
    stream_format_batches(&c, &data, from, partition);
    buf_release(&data);
    chunk_copy(&c, next, out, SIZE_MAX, add_id, arg);
    r = (int)c.n;
    chunk_release(&c);
    return r;
}

void hub_list_init(struct hub_list *l, size_t window)
{
    pthread_mutex_init(&l->lock, NULL);
    l->hubs = NULL;
    l->window = window;
}

void hub_list_destroy(struct hub_list *l)
{
    pthread_mutex_destroy(&l->lock);
}

struct stream_hub *hub_get(struct hub_list *l, struct partition *p, int32_t partition)
{
    struct stream_hub *h;

    pthread_mutex_lock(&l->lock);
    for (h = l->hubs; h && h->p != p; h = h->next)
        ;
    if (!h) {
        h = xcalloc(1, sizeof(*h));
        h->p = p;
        h->partition = partition;
        h->window = l->window;
        h->end = partition_high_watermark(p);
        pthread_mutex_init(&h->lock, NULL);
        h->next = l->hubs;
        l->hubs = h;
    }
    h->refs++;
    pthread_mutex_unlock(&l->lock);
    return h;
}

static void drop_first(struct stream_hub *h)
{
    struct event_chunk *c = h->first;

    h->first = c->next;
    if (h->first)
        h->first->prev = NULL;
    else
        h->last = NULL;
    h->bytes -= c->text.len;
    chunk_release(c);
    free(c);
}

void hub_put(struct hub_list *l, struct stream_hub *h, struct hub_cursor *c)
{
    struct stream_hub **pp;

    if (!h)
        return;
    if (c && c->live) {
        pthread_mutex_lock(&h->lock);
        h->nlive--;
        pthread_mutex_unlock(&h->lock);
        c->live = false;
    }
    pthread_mutex_lock(&l->lock);
    if (--h->refs > 0) {
        pthread_mutex_unlock(&l->lock);
        return;
    }
    for (pp = &l->hubs; *pp != h; pp = &(*pp)->next)
        ;
    *pp = h->next;
    pthread_mutex_unlock(&l->lock);
    while (h->first)
        drop_first(h);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

/* Formats the next run of new records into a chunk at the end (under h->lock).
 * Returns the number of batches read (0: none new) or -errno. */
static int extend(struct stream_hub *h)
{
    struct buf data = BUF_INIT;
    struct event_chunk *c;
    int64_t hw = partition_high_watermark(h->p);
    int r = partition_read(h->p, h->end, HUB_READ_BYTES, &data);

    if (r < 0 || (r == 0 && h->end >= hw)) {
        buf_release(&data);
        return r;
    }
    c = xmalloc(sizeof(*c));
    stream_format_batches(c, &data, h->end, h->partition);
    buf_release(&data);
    if (r == 0) { /* compaction left nothing below the high watermark: an empty chunk */
        c->end = hw;
        r = 1;
    }
    h->end = c->end;
    c->prev = h->last;
    c->next = NULL;
    if (h->last)
        h->last->next = c;
    else
        h->first = c;
    h->last = c;
    h->bytes += c->text.len;
    while (h->bytes > h->window && h->first != h->last) /* the newest chunk stays */
        drop_first(h);
    return r;
}

static int64_t hub_first(const struct stream_hub *h)
{
    return h->first ? h->first->base : h->end;
}

int hub_copy(struct stream_hub *h, struct hub_cursor *c, struct buf *out, size_t budget,
             hub_add_id add_id, void *arg)
{
    int64_t hw = partition_high_watermark(h->p);
    struct event_chunk *k;
    int ret = HUB_OK;

    pthread_mutex_lock(&h->lock);
    if (c->next < hub_first(h)) {
        ret = c->live ? HUB_CUT : HUB_BEHIND;
        goto out;
    }
    if (c->next > h->end && h->nlive == 0) {
        /* nobody tails the hub: forget what it holds rather than format the records in
         * between */
        while (h->first)
            drop_first(h);
        h->end = c->next;
    }
    /* A live stream is measured against the newest record: the hub takes in the log up
     * to it, and a stream more than the window behind falls out (after at most a
     * window's worth of formatting). Others only extend it from its end. */
    while (h->end < hw && (c->live || c->next >= h->end)) {
        int r = extend(h);

        if (r <= 0) {
            ret = r < 0 ? r : ret;
            break;
        }
        if (c->next < hub_first(h)) {
            ret = HUB_CUT;
            goto out;
        }
    }
    if (ret == HUB_OK) {
        for (k = h->last; k && k->base > c->next; k = k->prev)
            ;
        for (; k && out->len < budget; k = k->next)
            chunk_copy(k, &c->next, out, budget, add_id, arg);
        if (!c->live && c->next >= hw) { /* caught up: from now on, live */
            c->live = true;
            h->nlive++;
        }
    }
out:
    pthread_mutex_unlock(&h->lock);
    return ret;
}
