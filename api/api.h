/* api.h: rill's HTTP semantics, with no HTTP library in sight. server/http.c turns a
 * libmicrohttpd request into a struct api_request, calls api_handle(), and sends the
 * struct api_response back; api/ never includes microhttpd.h, so handlers can be unit
 * tested without sockets.
 *
 * A handler that must wait (a produce for its fdatasync, a long poll for data) asks
 * the server to suspend the connection with req->suspend() and answers API_SUSPENDED.
 * Later, from any thread, the API calls req->resume(); the server then calls
 * api_continue() for the answer. resume is only ever called after suspend. */
#ifndef API_API_H
#define API_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/buf.h"

struct store;
struct api_call;

struct api_pair {
    const char *name;
    const char *value;
};

struct api_request {
    const char *method;
    const char *target;                   /* raw request target: path and query */
    const struct api_pair *query;         /* decoded query parameters */
    size_t nquery;
    const struct api_pair *headers;       /* header names as received */
    size_t nheaders;
    const char *body;                     /* NUL-terminated; may hold NULs itself */
    size_t body_len;
    const char *client;                   /* the peer's address, for logs */
    void (*suspend)(void *conn);          /* call within api_handle() only */
    void (*resume)(void *conn);           /* any thread, after suspend */
    void *conn;
};

#define API_MAX_HEADERS 16

struct api_response {
    int status;
    const char *content_type; /* static string */
    struct buf body;
    struct {
        const char *name; /* static string */
        char value[256];
    } headers[API_MAX_HEADERS];
    size_t nheaders;
    bool stream; /* a stream of server-sent events: status and headers now, the body
                    from api_stream_read(); 'body' is unused */
};

enum api_status { API_DONE, API_SUSPENDED };

struct api_config {
    bool auth;                /* require bearer tokens */
    const char *data_dir;     /* for admin.token */
    size_t max_body_bytes;    /* the server enforces it; here for error texts */
    size_t max_records;       /* records per produce request */
    int64_t max_wait_ms;      /* longest long poll */
    unsigned heartbeat_ms;    /* a comment on an idle event stream this often */
    size_t stream_buffer_bytes; /* how far a live event stream may fall behind */
    size_t offsets_segment_bytes; /* of __consumer_offsets when it is made (0: 16 MiB) */
    const char *cors_origin;  /* origins allowed cross-origin ("a,b" or "*"); NULL: none */
};

struct api;

/* Creates the API over an open store (borrowed; it must outlive the API): opens the
 * token store (api/auth.h; with auth on and no token yet, writes DATA/admin.token)
 * and the internal topics. Returns 0 or -errno (-EBADMSG: a damaged token store),
 * having logged why. */
int api_new(struct api **out, struct store *store, const struct api_config *config);
/* Wakes every suspended call (they answer at once) so the server can stop. */
void api_shutdown(struct api *a);
void api_free(struct api *a);

/* Handles one whole request. API_DONE: 'resp' is the answer (resp->body is the
 * caller's to release). API_SUSPENDED: *call holds the waiting request. */
enum api_status api_handle(struct api *a, const struct api_request *req,
                           struct api_response *resp, struct api_call **call);
/* Whether a request may go on, judged from its line and headers alone (its body is
 * not read yet): routing, the token, the route's scope and query parameters, as
 * api_handle() will check them (the rate limit is left to it). If not, 'resp' holds
 * the answer (404, 405, 400, 401, 403). For the server, so that a big body is not read
 * for nothing. */
bool api_admit(struct api *a, const struct api_request *req, struct api_response *resp);
/* The answer of a suspended call, after its resume(). */
enum api_status api_continue(struct api *a, struct api_call *call,
                             struct api_response *resp);
/* The next bytes of a streamed answer (resp->stream), into dst[0..max). Returns the
 * number of bytes (> 0); 0 when there is nothing to send now: the call has then
 * suspended the connection (req->suspend) and resumes it when there is, after which
 * the server calls again; or -1 when the stream is over. Call only from the server's
 * content callback, where suspending is allowed. */
ssize_t api_stream_read(struct api *a, struct api_call *call, char *dst, size_t max);
/* Frees a call (done or abandoned); cancels its waiters. NULL is a no-op. */
void api_call_free(struct api *a, struct api_call *call);

/* The Access-Control-Allow-Origin value for a request from 'origin' (NULL if none, or
 * not allowed by --cors-origin), for answers the server writes itself. */
const char *api_cors_origin(const struct api *a, const char *origin);

void api_response_init(struct api_response *resp);
void api_response_release(struct api_response *resp);
/* Adds a header (value copied, truncated to 255 bytes). */
void api_response_header(struct api_response *resp, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
