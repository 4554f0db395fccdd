/* sse_client.h: a server-sent-events client for tests, on a plain socket, so a test
 * can hold many streams open, read slowly or not at all, and see exactly where a stream
 * ends (libcurl's easy interface can do none of these).
 *
 *     struct sse_client c;
 *     cr_assert(eq(int, sse_open(&c, srv.proc.addr, "/topics/t/stream", hdrs, 0), 200));
 *     struct sse_event ev;
 *     while (sse_next(&c, &ev, 5000) == 1) { ... ev.id, ev.event, ev.data ... }
 *     sse_close(&c);
 *
 * The response body is de-chunked as it comes; events are parsed per the HTML
 * standard's rules (fields "id", "event", "data" joined with '\n', "retry"; lines
 * starting with ':' are comments). */
#ifndef TESTS_SUPPORT_SSE_CLIENT_H
#define TESTS_SUPPORT_SSE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"

struct sse_client {
    int fd;
    int status;        /* of the response, once sse_open() returned */
    struct buf head;   /* status line and headers */
    struct buf raw;    /* bytes read after the headers, not yet de-chunked */
    struct buf body;   /* the de-chunked body */
    size_t parsed;     /* body bytes already returned as events */
    bool chunked;
    bool done;         /* the body ended properly (the last chunk came) */
    bool eof;          /* the connection closed */
};

struct sse_event {
    char id[4096];     /* the id field of the event, "" if it had none */
    bool has_id;
    char event[64];    /* the event type, "message" if none */
    struct buf data;   /* the data lines joined with '\n' */
    bool comment;      /* a comment line (": ..."), not an event; 'data' holds it */
    long retry;        /* a retry field's value, or -1 */
};

/* Connects to 'addr' ("127.0.0.1:PORT"), sends GET 'path' with 'headers'
 * (NULL-terminated "Name: value" lines, may be NULL) and reads the status and headers.
 * With 'rcvbuf' > 0, the socket's receive buffer is set that small first (a slow
 * client). Returns the HTTP status, or -errno. The body of a non-200 answer is read
 * whole into c->body. */
int sse_open(struct sse_client *c, const char *addr, const char *path,
             const char *const *headers, int rcvbuf);
/* The value of response header 'name', malloc'ed, or NULL. */
char *sse_header(const struct sse_client *c, const char *name);
/* The next event or comment, within 'timeout_ms'. Returns 1, 0 when the stream ended
 * (c->done tells whether properly), or -ETIMEDOUT. 'ev' is overwritten; release its
 * data with sse_event_release() when done with the client. */
int sse_next(struct sse_client *c, struct sse_event *ev, int timeout_ms);
/* The next record or gap event, skipping comments and retry-only events. */
int sse_next_event(struct sse_client *c, struct sse_event *ev, int timeout_ms);
void sse_event_release(struct sse_event *ev);
void sse_close(struct sse_client *c);

#endif
