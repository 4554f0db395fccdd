/* stream_hub.h: the events of one partition's newest records, formatted once and
 * shared by every stream that tails it.
 *
 * A stream at the head of a partition ("live") copies its events from the partition's
 * hub: a list of chunks, each the event text of a run of records (a partition stream
 * copies a run in one go; a topic stream swaps in its own id lines), appended as the
 * log grows and trimmed from the front to
 * keep about 'window' bytes. So 1,000 streams on one partition format each record once,
 * not 1,000 times. A stream is live once it has caught up with the newest record; from
 * then on the window is its buffer: a live stream that falls more than the window
 * behind the newest record (its client reads slower than the log grows) is cut, and
 * the client resumes with Last-Event-ID, reading the log itself (stream_format_read())
 * until it is back in the window. A stream that starts further back reads the log the
 * same way, and is not cut while it catches up.
 *
 * Hubs exist while streams use them: hub_get() makes or finds one, hub_put() drops it. */
#ifndef API_STREAM_HUB_H
#define API_STREAM_HUB_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "storage/backend.h"

/* The events of the records in offsets [base, end) of one partition (compaction may
 * have removed some: offsets need not be dense). Event i, of the record at offsets[i],
 * is text[starts[i] .. starts[i + 1]), "id: <offsets[i] + 1>\nevent: record\ndata: {...}
 * \n\n" (the id of a partition stream; a topic stream swaps in its own). */
struct event_chunk {
    int64_t base, end;
    size_t n;          /* events */
    int64_t *offsets;  /* n, ascending */
    size_t *starts;    /* n + 1 */
    struct buf text;
    struct event_chunk *prev, *next;
};

struct stream_hub {
    struct partition *p; /* borrowed: the streams hold its topic */
    int32_t partition;
    int refs;            /* under the hubs' list lock (hub_get/hub_put) */
    pthread_mutex_t lock;
    int nlive;           /* streams reading from the hub (under lock) */
    struct event_chunk *first, *last; /* under lock */
    size_t bytes;        /* of text in the chunks */
    int64_t end;         /* next record to format: chunks cover [first->base, end) */
    size_t window;
    struct stream_hub *next; /* in the list of hubs */
};

/* Where a stream stands in a partition, as the hub sees it. */
struct hub_cursor {
    int64_t next; /* next record to send */
    bool live;    /* has caught up with the newest record once (counted in nlive):
                     from then on it is cut if it falls more than the window behind */
};

/* Appends the id line of the event of a record; 'next' is the offset after it. Where
 * the functions below take one, NULL means the partition stream's own id (as
 * formatted), so runs of events are copied whole. */
typedef void (*hub_add_id)(void *arg, struct buf *out, int64_t next);

enum hub_result {
    HUB_OK,     /* copied what there was (maybe nothing) */
    HUB_BEHIND, /* c->next is older than the window: read the log (not live) */
    HUB_CUT,    /* a live stream fell out of the window: end it */
};

/* The list of a process's hubs. */
struct hub_list {
    pthread_mutex_t lock;
    struct stream_hub *hubs;
    size_t window;
};

void hub_list_init(struct hub_list *l, size_t window);
void hub_list_destroy(struct hub_list *l);
/* The hub of partition p (made if none), with a reference. */
struct stream_hub *hub_get(struct hub_list *l, struct partition *p, int32_t partition);
/* Drops a reference; 'c' (may be NULL) is the cursor of the stream letting go. */
void hub_put(struct hub_list *l, struct stream_hub *h, struct hub_cursor *c);

/* Copies events from c->next on into 'out' (each with its id line from add_id) until
 * 'out' holds 'budget' bytes or the hub's end, formatting the log's new records into
 * the hub first: up to the newest record for a live stream, from the hub's end for
 * one at it. Marks the cursor live once it reaches the newest record. Returns HUB_OK,
 * HUB_BEHIND (not live, older than the window: read the log), HUB_CUT (live, fell out
 * of the window), or a -errno from reading the log. */
int hub_copy(struct stream_hub *h, struct hub_cursor *c, struct buf *out, size_t budget,
             hub_add_id add_id, void *arg);

/* Formats records from 'from' on of whole batches 'data' (partition_read()) into a
 * chunk (base = 'from'). Returns the chunk's end: the offset after its last record, or
 * 'from' when there is none. */
int64_t stream_format_batches(struct event_chunk *c, const struct buf *data, int64_t from,
                              int32_t partition);
/* Reads about max_bytes of the log from *next and appends the events (with ids) to
 * 'out', advancing *next (to the high watermark when compaction left nothing below
 * it). Returns the number of events, or -errno (-ERANGE if *next is below the log
 * start). */
int stream_format_read(struct partition *p, int32_t partition, int64_t *next,
                       size_t max_bytes, struct buf *out, hub_add_id add_id, void *arg);

#endif
