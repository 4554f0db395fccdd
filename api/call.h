/* call.h: a request that waits. A handler that cannot answer at once embeds a struct
 * api_call in its own state, lists what it waits for (partition waiters, a timer), and
 * suspends; the first of them to fire wakes it (or, for durable writes, the last of a
 * counted group). States, moved only by compare-and-swap:
 *
 *   RUNNING --suspend--> WAITING --wake--> READY (resume the connection)
 *   RUNNING --wake-----> READY   (fired before the suspend finished: resumed by it)
 *
 * so the server's resume is called exactly once, and only after its suspend. */
#ifndef API_CALL_H
#define API_CALL_H

#include <stdatomic.h>
#include <stdbool.h>

#include "api/api.h"

struct api_ctx;
struct api_response;
struct auth_token;

struct api_call {
    struct api *api;
    const struct api_request *req;      /* lives until the call is freed */
    _Atomic int state;
    _Atomic int pending;                /* counted waits still outstanding */
    bool wake_on_shutdown;              /* long polls: answer at once at shutdown */
    const void *follows;                /* a topic whose new partitions wake the call */
    enum api_status (*cont)(struct api_call *c, struct api_response *resp);
    void (*release)(struct api_call *c); /* cancels waits and frees the whole state */
    struct api_call *prev, *next;       /* in the API's list of suspended calls */
    bool tracked;                       /* in that list (a call may suspend twice) */
    struct auth_token *token;           /* whose request it is (NULL: auth off) */
};

/* Starts a call for the request of 'ctx' (its API, request and token). */
void call_init(struct api_call *c, const struct api_ctx *ctx,
               enum api_status (*cont)(struct api_call *, struct api_response *),
               void (*release)(struct api_call *));
/* Wakes the call (first wake wins; later ones do nothing). Any thread. */
void call_wake(struct api_call *c);
/* One of the counted waits fired; the last one wakes the call. */
void call_done_one(struct api_call *c);
/* Makes a woken call ready to wait again (inside its continuation). */
void call_rearm(struct api_call *c);
/* Suspends the connection and lists the call. Returns API_SUSPENDED. */
enum api_status call_suspend(struct api_call *c);

#endif
