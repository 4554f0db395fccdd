/* api.c: the API's state, authentication, and the request/response plumbing around the
 * router. */
#include "api/internal.h"

#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/log.h"
#include "common/xalloc.h"

#define ADMIN_TOKEN_FILE "admin.token"
#define TOKEN_PREFIX "rill_"

static void token_hash(const char *token, size_t len, uint8_t out[32])
{
    crypto_generichash(out, 32, (const unsigned char *)token, len, NULL, 0);
}

/* Reads DATA/admin.token, or makes one (32 random bytes, "rill_" + base64url) and
 * writes it with mode 0600. Only its hash is kept in memory. */
static int load_admin_token(struct api *a)
{
    struct buf path = BUF_INIT;
    char *text = NULL;
    size_t len;
    int ret;

    buf_printf(&path, "%s/" ADMIN_TOKEN_FILE, a->config.data_dir);
    ret = io_read_file(path.data, 4096, &text, &len);
    if (ret == -ENOENT) {
        unsigned char raw[32];
        char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
        struct buf token = BUF_INIT;

        randombytes_buf(raw, sizeof(raw));
        sodium_bin2base64(b64, sizeof(b64), raw, sizeof(raw),
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        sodium_memzero(raw, sizeof(raw));
        buf_printf(&token, TOKEN_PREFIX "%s\n", b64);
        ret = io_replace_file(a->config.data_dir, ADMIN_TOKEN_FILE, token.data, token.len,
                              0600);
        if (!ret) {
            token_hash(token.data, token.len - 1, a->admin_hash);
            log_info("admin token written to '%s' (mode 0600)", path.data);
        }
        sodium_memzero(token.data, token.len);
        buf_release(&token);
    } else if (!ret) {
        while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
            len--;
        token_hash(text, len, a->admin_hash);
        sodium_memzero(text, len);
        log_info("admin token read from '%s'", path.data);
    }
    free(text);
    buf_release(&path);
    return ret;
}

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
    if (a->config.auth) {
        ret = load_admin_token(a);
        if (ret)
            goto fail;
    } else {
        log_warn("authentication is OFF (--auth off): anyone who can reach this port "
                 "can read, write and delete everything");
    }
    ret = idem_open(&a->idem, store);
    if (ret)
        goto fail;
    ret = group_offsets_open(&a->groups, store, a->config.offsets_segment_bytes);
    if (ret)
        goto fail;
    a->members = group_members_new(topic_partitions, a);
    ret = timer_wheel_start(&a->timers);
    if (ret)
        goto fail;
    *out = a;
    return 0;
fail:
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
    sodium_memzero(a->admin_hash, sizeof(a->admin_hash));
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

/* The bearer token of the request: the Authorization header, or ?access_token= on a
 * GET (EventSource cannot set headers). Returns NULL if none; *scheme_ok false if an
 * Authorization header is there but not "Bearer <token>". */
static const char *bearer_token(const struct api_ctx *ctx, bool *scheme_ok)
{
    const char *h = api_header(ctx, "Authorization");

    *scheme_ok = true;
    if (h) {
        if (strncasecmp(h, "Bearer ", 7)) {
            *scheme_ok = false;
            return NULL;
        }
        h += 7;
        while (*h == ' ')
            h++;
        return *h ? h : NULL;
    }
    if (!strcmp(ctx->req->method, "GET") || !strcmp(ctx->req->method, "HEAD"))
        return api_query(ctx, "access_token");
    return NULL;
}

bool api_authenticate(struct api_ctx *ctx)
{
    bool scheme_ok;
    const char *token = bearer_token(ctx, &scheme_ok);
    uint8_t hash[32];

    if (!ctx->api->config.auth)
        return true;
    if (token) {
        token_hash(token, strlen(token), hash);
        if (!sodium_memcmp(hash, ctx->api->admin_hash, sizeof(hash)))
            return true;
    }
    if (!token && scheme_ok) {
        api_response_header(ctx->resp, "WWW-Authenticate", "Bearer realm=\"rill\"");
        reply_problem(ctx->resp, 401, "unauthorized", NULL,
                      "a bearer token is required: Authorization: Bearer <token>");
    } else {
        api_response_header(ctx->resp, "WWW-Authenticate",
                            "Bearer realm=\"rill\", error=\"invalid_token\"");
        reply_problem(ctx->resp, 401, "invalid_token", NULL,
                      scheme_ok ? "the bearer token is not valid"
                                : "the Authorization header must be 'Bearer <token>'");
    }
    return false;
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
    return st;
}

enum api_status api_continue(struct api *a, struct api_call *call,
                             struct api_response *resp)
{
    (void)a;
    return call->cont(call, resp);
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
