/* call.c: requests that wait (state machine in call.h). */
#include "api/call.h"

#include "api/internal.h"

enum { CALL_RUNNING, CALL_WAITING, CALL_READY };

void call_init(struct api_call *c, const struct api_ctx *ctx,
               enum api_status (*cont)(struct api_call *, struct api_response *),
               void (*release)(struct api_call *))
{
    c->api = ctx->api;
    c->req = ctx->req;
    atomic_init(&c->state, CALL_RUNNING);
    atomic_init(&c->pending, 0);
    c->wake_on_shutdown = false;
    c->follows = NULL;
    c->cont = cont;
    c->release = release;
    c->prev = c->next = NULL;
    c->tracked = false;
    c->token = ctx->token; /* set before any suspend: a revocation finds the call */
}

void call_wake(struct api_call *c)
{
    int expected = CALL_WAITING;

    if (atomic_compare_exchange_strong(&c->state, &expected, CALL_READY)) {
        c->req->resume(c->req->conn);
        return;
    }
    expected = CALL_RUNNING;
    atomic_compare_exchange_strong(&c->state, &expected, CALL_READY);
}

void call_done_one(struct api_call *c)
{
    if (atomic_fetch_sub(&c->pending, 1) == 1)
        call_wake(c);
}

void call_rearm(struct api_call *c)
{
    atomic_store(&c->state, CALL_RUNNING);
}

enum api_status call_suspend(struct api_call *c)
{
    int expected = CALL_RUNNING;

    c->req->suspend(c->req->conn);
    api_track_call(c->api, c);
    if (!atomic_compare_exchange_strong(&c->state, &expected, CALL_WAITING))
        c->req->resume(c->req->conn); /* woken while suspending: resume it ourselves */
    return API_SUSPENDED;
}
