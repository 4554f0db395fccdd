/* api.c: the API's state, authentication, and the request/response plumbing around the
 * router. */
#include "api/internal.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"

/* How many partitions a topic has now, for group assignments (0: no such topic). */
static int32_t topic_partitions(void *arg, const char *name)
{
    struct api *a = arg;
    struct topic *t;
    int32_t n;

    if (store_get_topic(a->store, name, &t))
        return 0;
    n = topic_partition_count(t);
    topic_put(t);
    return n;
}

int api_new(struct api **out, struct store *store, const struct api_config *config)
{
    struct api *a = xcalloc(1, sizeof(*a));
    const char *why;
    int ret;

    if (sodium_init() < 0) {
        free(a);
        return -EIO;
    }
    json_set_alloc_funcs(xmalloc, free);
    a->store = store;
    a->config = *config;
    pthread_mutex_init(&a->calls_lock, NULL);
    hub_list_init(&a->hubs, a->config.stream_buffer_bytes);
    atomic_init(&a->sticky, 0);
    ret = auth_open(&a->auth, a->config.data_dir, a->config.auth, &why);
    if (ret) {
        log_error("cannot open the token store in '%s': %s", a->config.data_dir,
                  why ? why : strerror(-ret));
        goto fail;
    }
    if (!a->config.auth) {
        log_warn("authentication is OFF (--auth off): anyone who can reach this port "
                 "can read, write and delete everything");
    }
    ret = idem_open(&a->idem, store);
    if (ret) {
        log_error("cannot open the internal topic " IDEM_TOPIC ": %s", strerror(-ret));
        goto fail;
    }
    ret = group_offsets_open(&a->groups, store, a->config.offsets_segment_bytes);
    if (ret) {
        log_error("cannot open the internal topic " GROUP_OFFSETS_TOPIC ": %s", strerror(-ret));
        goto fail;
    }
    a->members = group_members_new(topic_partitions, a);
    ret = timer_wheel_start(&a->timers);
    if (ret) {
        log_error("cannot start the timer thread: %s", strerror(-ret));
        goto fail;
    }
    *out = a;
    return 0;
fail:
    auth_close(a->auth);
    group_offsets_close(a->groups);
    idem_close(a->idem);
    hub_list_destroy(&a->hubs);
    pthread_mutex_destroy(&a->calls_lock);
    free(a);
    return ret;
}

void api_track_call(struct api *a, struct api_call *c)
{
    bool wake;

    pthread_mutex_lock(&a->calls_lock);
    if (!c->tracked) {
        c->tracked = true;
        c->prev = NULL;
        c->next = a->calls;
        if (a->calls)
            a->calls->prev = c;
        a->calls = c;
    }
    wake = atomic_load(&a->shutting_down) && c->wake_on_shutdown;
    pthread_mutex_unlock(&a->calls_lock);
    if (wake)
        call_wake(c);
}

static void untrack_call(struct api *a, struct api_call *c)
{
    pthread_mutex_lock(&a->calls_lock);
    if (c->tracked) {
        if (c->prev)
            c->prev->next = c->next;
        else
            a->calls = c->next;
        if (c->next)
            c->next->prev = c->prev;
        c->prev = c->next = NULL;
        c->tracked = false;
    }
    pthread_mutex_unlock(&a->calls_lock);
}

void api_shutdown(struct api *a)
{
    pthread_mutex_lock(&a->calls_lock);
    atomic_store(&a->shutting_down, true);
    for (struct api_call *c = a->calls; c; c = c->next)
        if (c->wake_on_shutdown)
            call_wake(c);
    pthread_mutex_unlock(&a->calls_lock);
}

bool api_is_shutting_down(struct api *a)
{
    return atomic_load(&a->shutting_down);
}

void api_wake_followers(struct api *a, const void *t)
{
    pthread_mutex_lock(&a->calls_lock);
    for (struct api_call *c = a->calls; c; c = c->next)
        if (c->follows == t)
            call_wake(c);
    pthread_mutex_unlock(&a->calls_lock);
}

void api_wake_token(struct api *a, const struct auth_token *t)
{
    pthread_mutex_lock(&a->calls_lock);
    for (struct api_call *c = a->calls; c; c = c->next)
        if (c->token == t)
            call_wake(c);
    pthread_mutex_unlock(&a->calls_lock);
}

void api_free(struct api *a)
{
    if (!a)
        return;
    timer_wheel_stop(a->timers);
    group_members_free(a->members);
    group_offsets_close(a->groups);
    idem_close(a->idem);
    hub_list_destroy(&a->hubs);
    pthread_mutex_destroy(&a->calls_lock);
    auth_close(a->auth);
    free(a);
}

/* ---- requests ---- */

const char *api_query(const struct api_ctx *ctx, const char *name)
{
    for (size_t i = 0; i < ctx->req->nquery; i++)
        if (!strcmp(ctx->req->query[i].name, name))
            return ctx->req->query[i].value ? ctx->req->query[i].value : "";
    return NULL;
}

const char *api_header(const struct api_ctx *ctx, const char *name)
{
    for (size_t i = 0; i < ctx->req->nheaders; i++)
        if (!strcasecmp(ctx->req->headers[i].name, name))
            return ctx->req->headers[i].value;
    return NULL;
}

void api_printable_copy(char *out, size_t size, const char *s, size_t len)
{
    size_t n = len < size - 1 ? len : size - 1;

    for (size_t i = 0; i < n; i++)
        out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    out[n] = '\0';
}

int api_parse_i64(const char *s, int64_t *out)
{
    bool neg = *s == '-';
    uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;

    if (neg)
        s++;
    if (!*s)
        return -EINVAL;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (limit - (uint64_t)(*s - '0')) / 10)
            return -EINVAL;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

struct topic *api_topic_param(struct api_ctx *ctx)
{
    const char *name = ctx->params[0];
    struct topic *t;

    if (!topic_name_is_valid(name, strlen(name))) {
        reply_problem(ctx->resp, 400, "invalid_topic_name", NULL,
                      "topic name must be 1-249 characters of [A-Za-z0-9._-], not '.' or "
                      "'..'");
        return NULL;
    }
    if (store_get_topic(ctx->api->store, name, &t)) {
        reply_problem(ctx->resp, 404, "topic_not_found", NULL, "topic '%s' does not exist",
                      name);
        return NULL;
    }
    return t;
}

enum api_media api_media_type(const struct api_ctx *ctx)
{
    const char *ct = api_header(ctx, "Content-Type");
    size_t n;

    if (!ct)
        return MEDIA_NONE;
    n = strcspn(ct, "; ");
    if (n == 16 && !strncasecmp(ct, "application/json", n))
        return MEDIA_JSON;
    if (n == 33 && !strncasecmp(ct, "application/x-www-form-urlencoded", n))
        return MEDIA_FORM; /* curl -d's default */
    return MEDIA_OTHER;
}

/* Where the request's token is (RFC 6750): the Authorization header, or
 * ?access_token= on a GET (EventSource cannot set headers). */
enum bearer { BEARER_NONE, BEARER_FOUND, BEARER_OTHER_SCHEME, BEARER_TWICE };

static enum bearer bearer_token(const struct api_ctx *ctx, const char **token)
{
    const char *h = api_header(ctx, "Authorization"), *q = NULL;
    bool get = !strcmp(ctx->req->method, "GET") || !strcmp(ctx->req->method, "HEAD");

    if (get)
        q = api_query(ctx, "access_token");
    *token = q;
    if (!h)
        return q ? BEARER_FOUND : BEARER_NONE;
    if (q)
        return BEARER_TWICE;
    if (strncasecmp(h, "Bearer ", 7))
        return BEARER_OTHER_SCHEME;
    for (h += 7; *h == ' '; h++)
        ;
    *token = h;
    return BEARER_FOUND;
}

/* 401 with the challenge; 'error' is RFC 6750's error code (NULL: none, for a request
 * that carried no bearer token). */
static void challenge(struct api_response *resp, const char *error, const char *code,
                      const char *detail)
{
    if (error)
        api_response_header(resp, "WWW-Authenticate",
                            "Bearer realm=\"rill\", error=\"%s\", error_description=\"%s\"",
                            error, detail);
    else
        api_response_header(resp, "WWW-Authenticate", "Bearer realm=\"rill\"");
    reply_problem(resp, 401, code, NULL, "%s", detail);
}

/* 401 for a token found but no longer valid (AUTH_EXPIRED, AUTH_REVOKED). */
static void reply_token_ended(struct api_response *resp, enum auth_state st)
{
    if (st == AUTH_EXPIRED)
        challenge(resp, "invalid_token", "token_expired", "the bearer token has expired");
    else
        challenge(resp, "invalid_token", "token_revoked", "the bearer token was revoked");
}

bool api_call_token_valid(struct api_call *c, struct api_response *resp)
{
    enum auth_state st = c->token ? auth_token_state(c->token, clock_wall_ms()) : AUTH_VALID;

    if (st == AUTH_VALID)
        return true;
    if (resp)
        reply_token_ended(resp, st);
    return false;
}

bool api_authenticate(struct api_ctx *ctx)
{
    const char *text;
    struct auth_token *t;
    enum auth_state st;
    int64_t wait_ms;

    if (!ctx->api->config.auth)
        return true;
    switch (bearer_token(ctx, &text)) {
    case BEARER_NONE:
        challenge(ctx->resp, NULL, "unauthorized",
                  "a bearer token is required: Authorization: Bearer <token>");
        return false;
    case BEARER_OTHER_SCHEME:
        challenge(ctx->resp, NULL, "unauthorized",
                  "the Authorization header must be 'Bearer <token>'");
        return false;
    case BEARER_TWICE:
        api_response_header(ctx->resp, "WWW-Authenticate",
                            "Bearer realm=\"rill\", error=\"invalid_request\"");
        reply_problem(ctx->resp, 400, "invalid_request", NULL,
                      "give the token once: in the Authorization header or in "
                      "?access_token=, not both");
        return false;
    case BEARER_FOUND:
        break;
    }
    st = auth_lookup(ctx->api->auth, text, strlen(text), clock_wall_ms(), &t);
    if (st == AUTH_UNKNOWN) {
        challenge(ctx->resp, "invalid_token", "invalid_token", "the bearer token is not valid");
        return false;
    }
    if (st != AUTH_VALID) {
        reply_token_ended(ctx->resp, st);
        return false;
    }
    wait_ms = ctx->admit_only ? 0 : auth_rate_admit(t, ctx->req->body_len, clock_mono_ms());
    if (wait_ms) {
        api_response_header(ctx->resp, "Retry-After", "%" PRId64, (wait_ms + 999) / 1000);
        reply_problem(ctx->resp, 429, "rate_limited", NULL,
                      "token '%s' is over its rate limit; retry in %" PRId64 " ms", t->id,
                      wait_ms);
        return false;
    }
    ctx->token = t;
    return true;
}

bool api_may(const struct api_ctx *ctx, unsigned action, const char *topic)
{
    return !ctx->api->config.auth || auth_allows(ctx->token, action, topic);
}

bool api_require(struct api_ctx *ctx, unsigned action, const char *topic)
{
    const char *what = action == AUTH_PRODUCE   ? "produce to"
                       : action == AUTH_CONSUME ? "consume"
                       : action == AUTH_ADMIN   ? "administer"
                                                : "use";

    if (api_may(ctx, action, topic))
        return true;
    if (topic)
        api_reply_forbidden(ctx->resp, "this token may not %s topic '%s'", what, topic);
    else
        api_reply_forbidden(ctx->resp, "this operation needs a token with '%s' on topics '*'",
                            action == AUTH_ADMIN ? "admin" : what);
    return false;
}

void api_reply_forbidden(struct api_response *resp, const char *fmt, ...)
{
    struct buf detail = BUF_INIT;
    va_list ap;

    va_start(ap, fmt);
    buf_vprintf(&detail, fmt, ap);
    va_end(ap);
    api_response_header(resp, "WWW-Authenticate",
                        "Bearer realm=\"rill\", error=\"insufficient_scope\"");
    reply_problem(resp, 403, "forbidden", NULL, "%s", detail.data);
    buf_release(&detail);
}

enum api_status api_handle(struct api *a, const struct api_request *req,
                           struct api_response *resp, struct api_call **call)
{
    struct api_ctx ctx = {.api = a, .req = req, .resp = resp, .call = call};
    enum api_status st;

    *call = NULL;
    st = router_dispatch(a, &ctx);
    for (size_t i = 0; i < ctx.nparams; i++)
        free(ctx.params[i]);
    if (st == API_DONE && !resp->stream && strcmp(req->method, "HEAD")) /* HEAD: no body */
        auth_rate_charge(ctx.token, resp->body.len, clock_mono_ms());
    return st;
}

bool api_admit(struct api *a, const struct api_request *req, struct api_response *resp)
{
    struct api_call *call = NULL;
    struct api_ctx ctx = {.api = a, .req = req, .resp = resp, .call = &call,
                          .admit_only = true};

    router_dispatch(a, &ctx);
    for (size_t i = 0; i < ctx.nparams; i++)
        free(ctx.params[i]);
    return !resp->status;
}

enum api_status api_continue(struct api *a, struct api_call *call,
                             struct api_response *resp)
{
    struct api_ctx ctx = {.api = a, .req = call->req, .resp = resp};
    enum api_status st;

    cors_headers(&ctx); /* the answer is a new response: the first one's headers are gone */
    st = call->cont(call, resp);
    if (st == API_DONE && !resp->stream && strcmp(call->req->method, "HEAD"))
        auth_rate_charge(call->token, resp->body.len, clock_mono_ms());
    return st;
}

void api_call_free(struct api *a, struct api_call *call)
{
    if (!call)
        return;
    untrack_call(a, call);
    call->release(call);
}

/* ---- responses ---- */

void api_response_init(struct api_response *resp)
{
    memset(resp, 0, sizeof(*resp));
    buf_init(&resp->body);
}

void api_response_release(struct api_response *resp)
{
    buf_release(&resp->body);
    resp->nheaders = 0;
}

void api_response_header(struct api_response *resp, const char *name, const char *fmt, ...)
{
    va_list ap;

    if (resp->nheaders == API_MAX_HEADERS)
        return;
    resp->headers[resp->nheaders].name = name;
    va_start(ap, fmt);
    vsnprintf(resp->headers[resp->nheaders].value, sizeof(resp->headers[0].value), fmt, ap);
    va_end(ap);
    resp->nheaders++;
}
