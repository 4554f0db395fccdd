/* fuzz_router.c: libFuzzer target for router_dispatch() (api/router.c): route matching,
 * percent-decoding of path segments, 404/405/400 answers, the bearer token and the
 * check of query parameter names; past the router, the real handlers run against a
 * store holding only the internal topics __idempotency and __consumer_offsets (so
 * nothing a request does can change the store: producing to, changing or deleting them
 * is 403, creating a topic, committing offsets or joining a group needs a body and no
 * body is sent; the members that heartbeat, leave or read are unknown: 409/404).
 *
 * Input, lines split at '\n' (an input holding a NUL byte is skipped: the server
 * never hands one to the API, it answers 400 bad_query itself):
 *
 *   METHOD
 *   TARGET                   the raw request target, path and query
 *   ?name=value              a query parameter as libmicrohttpd decodes it; "?name"
 *                            alone has no value (NULL)
 *   Name: value              any other line is a header
 *
 * Every string is a heap copy of exactly strlen + 1 bytes, so ASan catches any read
 * past one. Properties, else abort():
 *  - the outcome is the one an independent model of openapi.yaml's route table
 *    predicts: 404 not_found, 405 method_not_allowed with the right Allow header,
 *    400 bad_path, 401 without the admin token on a route that needs it (400
 *    invalid_request with a token both in the header and the query), 204 with Allow
 *    for OPTIONS, 400 unknown_parameter for a name the route does not take, or else a
 *    handler ran;
 *  - the path parameters left in the context are exactly the route's segments,
 *    percent-decoded (%XX either case; %00 or a malformed escape refuses the path),
 *    so they never hold a NUL byte ('/' from %2F is allowed: handlers check names);
 *  - every JSON answer passes json_check() (problem details hold request bytes);
 *  - the same request gives the same answer twice.
 * Seeds: fuzz/corpus/fuzz_router/. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/internal.h"
#include "api/json_check.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "storage/io.h"
#include "storage/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ADMIN_TOKEN "rill_fuzz"
#define MAX_PAIRS 16

/* openapi.yaml's routes, in its order: the model the router is checked against. */
static const struct want_route {
    const char *method;
    const char *path[5]; /* segments; "{}" is a parameter */
    bool public_route;
    const char *params; /* query names it takes, space-separated; NULL: anything */
} want_routes[] = {
    {"GET", {"healthz"}, true, NULL},
    {"GET", {"openapi.yaml"}, false, NULL},
    {"GET", {"metrics"}, false, ""},
    {"GET", {"topics"}, false, "internal"},
    {"POST", {"topics"}, false, ""},
    {"GET", {"topics", "{}"}, false, ""},
    {"PATCH", {"topics", "{}"}, false, ""},
    {"DELETE", {"topics", "{}"}, false, ""},
    {"POST", {"topics", "{}", "messages"}, false, "raw key partition"},
    {"POST", {"topics", "{}", "webhook"}, true, "key partition"},
    {"GET",
     {"topics", "{}", "partitions", "{}"},
     false,
     "offset timestamp limit max_bytes wait_ms value_format"},
    {"GET", {"topics", "{}", "partitions", "{}", "offsets"}, false, ""},
    {"GET",
     {"topics", "{}", "partitions", "{}", "stream"},
     false,
     "offset timestamp last_event_id group commit"},
    {"GET", {"topics", "{}", "stream"}, false, "offset timestamp last_event_id group commit"},
    {"GET", {"groups"}, false, ""},
    {"DELETE", {"groups", "{}"}, false, ""},
    {"POST", {"groups", "{}", "offsets"}, false, ""},
    {"GET", {"groups", "{}", "offsets"}, false, ""},
    {"POST", {"groups", "{}", "members"}, false, ""},
    {"DELETE", {"groups", "{}", "members", "{}"}, false, ""},
    {"POST", {"groups", "{}", "members", "{}", "heartbeat"}, false, ""},
    {"GET", {"groups", "{}", "members", "{}", "records"}, false, "limit max_bytes wait_ms"},
    {"POST", {"tokens"}, false, ""},
    {"GET", {"tokens"}, false, ""},
    {"GET", {"tokens", "{}"}, false, ""},
    {"DELETE", {"tokens", "{}"}, false, ""},
};

#define NROUTES (sizeof(want_routes) / sizeof(want_routes[0]))

static char data_dir[4096];
static struct store *store;
static struct api *api;

static void teardown(void)
{
    api_free(api);
    store_close(store);
    io_remove_tree(data_dir);
}

static void setup(void)
{
    const char *base = getenv("TMPDIR");
    struct api_config config = {.auth = true,
                                 .max_body_bytes = 1 << 20,
                                 .max_records = 100,
                                 .max_wait_ms = 1000,
                                 .cors_origin = "http://a.example, https://b.example"};
    char path[4200];
    FILE *f;

    log_set_level(LOG_ERROR);
    snprintf(data_dir, sizeof(data_dir), "%s/rill-fuzz-router-XXXXXX",
             base && *base ? base : "/tmp");
    if (!mkdtemp(data_dir))
        abort();
    snprintf(path, sizeof(path), "%s/admin.token", data_dir);
    f = fopen(path, "w");
    if (!f || fputs(ADMIN_TOKEN "\n", f) < 0 || fclose(f))
        abort();
    config.data_dir = data_dir;
    if (store_open(&store, data_dir) || api_new(&api, store, &config))
        abort();
    atexit(teardown);
}

/* ---- the request ---- */

struct request {
    char *method, *target;
    struct api_pair query[MAX_PAIRS], headers[MAX_PAIRS];
    size_t nquery, nheaders;
};

static char *copy(const char *s, size_t len)
{
    char *c = xmalloc(len + 1);

    memcpy(c, s, len);
    c[len] = '\0';
    return c;
}

static void add_line(struct request *r, const char *line, size_t len)
{
    const char *sep;

    if (len && line[0] == '?') {
        if (r->nquery == MAX_PAIRS)
            return;
        line++, len--;
        sep = memchr(line, '=', len);
        r->query[r->nquery].name = copy(line, sep ? (size_t)(sep - line) : len);
        r->query[r->nquery++].value =
            sep ? copy(sep + 1, len - (size_t)(sep + 1 - line)) : NULL;
        return;
    }
    if (r->nheaders == MAX_PAIRS)
        return;
    sep = memchr(line, ':', len);
    r->headers[r->nheaders].name = copy(line, sep ? (size_t)(sep - line) : len);
    if (sep) {
        sep++;
        while (sep < line + len && (*sep == ' ' || *sep == '\t'))
            sep++;
    }
    r->headers[r->nheaders++].value =
        sep ? copy(sep, len - (size_t)(sep - line)) : copy("", 0);
}

static void request_parse(struct request *r, const char *data, size_t size)
{
    const char *p = data, *end = data + size;
    int n = 0;

    memset(r, 0, sizeof(*r));
    while (p < end || n < 2) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);

        if (n == 0)
            r->method = copy(p, len);
        else if (n == 1)
            r->target = copy(p, len);
        else
            add_line(r, p, len);
        n++;
        p = nl ? nl + 1 : end;
    }
}

static void request_free(struct request *r)
{
    free(r->method);
    free(r->target);
    for (size_t i = 0; i < r->nquery; i++) {
        free((char *)r->query[i].name);
        free((char *)r->query[i].value);
    }
    for (size_t i = 0; i < r->nheaders; i++) {
        free((char *)r->headers[i].name);
        free((char *)r->headers[i].value);
    }
}

/* ---- the model ---- */

/* Deliberately not common/hex.h, which the router uses: the model is a second,
 * independent reading of the spec. */
static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes a path segment into out (room for len bytes): %XX in either case
 * is the byte XX; %00 or a '%' without two hex digits after it refuses it (false). */
static bool want_decode(const char *s, size_t len, char *out, size_t *outlen)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        int hi, lo;

        if (s[i] != '%') {
            out[n++] = s[i];
            continue;
        }
        if (len - i < 3 || (hi = hex_value(s[i + 1])) < 0 ||
            (lo = hex_value(s[i + 2])) < 0 || (hi | lo) == 0)
            return false;
        out[n++] = (char)(hi << 4 | lo);
        i += 2;
    }
    *outlen = n;
    return true;
}

struct param {
    char *text; /* not NUL-terminated */
    size_t len;
};

static void free_params(struct param *params, size_t *np)
{
    for (size_t i = 0; i < *np; i++)
        free(params[i].text);
    *np = 0;
}

/* 1 if 'path' (the target up to '?' or '#') is the route's, 0 if not, -1 if a
 * parameter segment is refused, reading left to right as the router does. */
static int want_match(const struct want_route *w, const char *path, size_t len,
                      struct param *params, size_t *np)
{
    const char *s = path, *end = path + len;

    *np = 0;
    for (size_t i = 0; i < 5 && w->path[i]; i++) {
        const char *seg, *seg_end;
        struct param *pm;

        if (s == end || *s != '/')
            return 0;
        seg = s + 1;
        seg_end = memchr(seg, '/', (size_t)(end - seg));
        if (!seg_end)
            seg_end = end;
        if (strcmp(w->path[i], "{}")) {
            if (strlen(w->path[i]) != (size_t)(seg_end - seg) ||
                memcmp(w->path[i], seg, (size_t)(seg_end - seg)))
                return 0;
        } else {
            if (seg == seg_end)
                return 0;
            pm = &params[(*np)++];
            pm->text = xmalloc((size_t)(seg_end - seg));
            if (!want_decode(seg, (size_t)(seg_end - seg), pm->text, &pm->len))
                return -1;
        }
        s = seg_end;
    }
    return s == end;
}

static const char *header(const struct request *r, const char *name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (!strcasecmp(r->headers[i].name, name))
            return r->headers[i].value;
    return NULL;
}

/* What the bearer check makes of a request: the admin token in
 * "Authorization: Bearer <token>" (the scheme in any case, spaces before the token),
 * or on GET and HEAD without that header, the first ?access_token=; a token given both
 * ways is a bad request. */
enum want_auth { WANT_AUTHORIZED, WANT_401, WANT_400 };

static enum want_auth want_authorized(const struct request *r)
{
    const char *h = header(r, "Authorization"), *q = NULL;
    bool get = !strcmp(r->method, "GET") || !strcmp(r->method, "HEAD");

    for (size_t i = 0; get && i < r->nquery && !q; i++)
        if (!strcmp(r->query[i].name, "access_token"))
            q = r->query[i].value ? r->query[i].value : "";
    if (h && q)
        return WANT_400;
    if (h) {
        if (strncasecmp(h, "Bearer ", 7))
            return WANT_401;
        for (h += 7; *h == ' '; h++)
            ;
        return strcmp(h, ADMIN_TOKEN) ? WANT_401 : WANT_AUTHORIZED;
    }
    return q && !strcmp(q, ADMIN_TOKEN) ? WANT_AUTHORIZED : WANT_401;
}

/* True if 'name' is one of the space-separated words of 'list'. */
static bool word_of(const char *list, const char *name)
{
    size_t n = strlen(name);

    while (*list) {
        size_t w = strcspn(list, " ");

        if (w && w == n && !memcmp(list, name, n))
            return true;
        list += w;
        list += *list == ' ';
    }
    return false;
}

static bool params_known(const struct want_route *w, const struct request *r)
{
    if (!w->params)
        return true;
    for (size_t i = 0; i < r->nquery; i++)
        if (strcmp(r->query[i].name, "access_token") &&
            !word_of(w->params, r->query[i].name))
            return false;
    return true;
}

/* What the model says the router does with a request. */
struct want {
    const struct want_route *found; /* NULL: the router answers itself */
    struct param params[2];         /* the found route's, decoded */
    size_t nparams;
    struct buf allow; /* routes of the path with other methods: 405 */
    bool bad_path;    /* a parameter refused on the way: 400 if nothing matched */
};

static void want_init(struct want *w, const struct request *r)
{
    const char *method = strcmp(r->method, "HEAD") ? r->method : "GET";
    size_t len = strcspn(r->target, "?#");

    memset(w, 0, sizeof(*w));
    buf_init(&w->allow);
    for (size_t i = 0; i < NROUTES; i++) {
        const struct want_route *route = &want_routes[i];
        int m = want_match(route, r->target, len, w->params, &w->nparams);

        w->bad_path |= m < 0;
        if (m > 0 && !strcmp(route->method, method)) {
            w->found = route;
            return;
        }
        free_params(w->params, &w->nparams);
        if (m > 0)
            buf_printf(&w->allow, "%s%s%s", w->allow.len ? ", " : "", route->method,
                       strcmp(route->method, "GET") ? "" : ", HEAD");
    }
}

static void want_release(struct want *w)
{
    free_params(w->params, &w->nparams);
    buf_release(&w->allow);
}

/* ---- running it ---- */

struct outcome {
    enum api_status st;
    struct api_response resp;
};

/* True if the body is a problem document with this "code" (reply_problem() writes it
 * last; a detail cannot fake it: its quotes are escaped). */
static bool has_code(const struct api_response *resp, const char *code)
{
    char want[96];
    size_t n = (size_t)snprintf(want, sizeof(want), ",\"code\":\"%s\"}", code);

    return resp->body.len >= n && !memcmp(resp->body.data + resp->body.len - n, want, n);
}

/* True if the answer is one the router gives itself (a handler's not_found would come
 * from reply_errno(), which no request here can reach). */
static bool router_answered(const struct api_response *resp)
{
    static const char *const codes[] = {"not_found",       "method_not_allowed",
                                        "bad_path",        "unauthorized",
                                        "invalid_token",   "unknown_parameter",
                                        "invalid_request", "forbidden"};

    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (has_code(resp, codes[i]))
            return true;
    return false;
}

static const char *header_out(const struct api_response *resp, const char *name)
{
    for (size_t i = 0; i < resp->nheaders; i++)
        if (!strcmp(resp->headers[i].name, name))
            return resp->headers[i].value;
    return NULL;
}

static bool is_json(const struct api_response *resp)
{
    return resp->content_type &&
           (!strcmp(resp->content_type, "application/json") ||
            !strcmp(resp->content_type, "application/problem+json"));
}

/* The request found its route: checks the parameters and who answered. */
static void check_routed(const struct want *w, const struct request *r,
                         const struct api_ctx *ctx, const struct outcome *o)
{
    if (ctx->nparams != w->nparams)
        abort();
    for (size_t i = 0; i < w->nparams; i++)
        if (strlen(ctx->params[i]) != w->params[i].len ||
            memcmp(ctx->params[i], w->params[i].text, w->params[i].len))
            abort();
    enum want_auth auth = w->found->public_route ? WANT_AUTHORIZED : want_authorized(r);

    if (auth == WANT_401) {
        if (o->resp.status != 401 ||
            !(has_code(&o->resp, "unauthorized") || has_code(&o->resp, "invalid_token")))
            abort();
    } else if (auth == WANT_400) {
        if (o->resp.status != 400 || !has_code(&o->resp, "invalid_request"))
            abort();
    } else if (!params_known(w->found, r)) {
        if (o->resp.status != 400 || !has_code(&o->resp, "unknown_parameter"))
            abort();
    } else if (o->st == API_DONE && (o->resp.status < 200 || o->resp.status > 599 ||
                                     router_answered(&o->resp))) {
        abort();
    }
}

/* No route took the request: the router answers OPTIONS (204), 405, 400 or 404
 * itself. */
static void check_unrouted(const struct want *w, const struct request *r,
                           const struct api_ctx *ctx, const struct outcome *o)
{
    const char *allow = header_out(&o->resp, "Allow");

    if (ctx->nparams || o->st != API_DONE)
        abort();
    if (w->allow.len && !strcmp(r->method, "OPTIONS")) {
        if (o->resp.status != 204 || !allow || strncmp(allow, w->allow.data, w->allow.len) ||
            strcmp(allow + w->allow.len, ", OPTIONS"))
            abort();
    } else if (w->allow.len) {
        if (o->resp.status != 405 || !has_code(&o->resp, "method_not_allowed") ||
            !allow || strcmp(allow, w->allow.data))
            abort();
    } else if (w->bad_path) {
        if (o->resp.status != 400 || !has_code(&o->resp, "bad_path"))
            abort();
    } else if (o->resp.status != 404 || !has_code(&o->resp, "not_found")) {
        abort();
    }
}

static void suspend_conn(void *conn)
{
    (void)conn;
}

static void resume_conn(void *conn)
{
    (void)conn;
}

/* Dispatches once and checks the answer against the model. */
static void run(const struct request *r, struct outcome *o)
{
    const struct api_request req = {
        .method = r->method,
        .target = r->target,
        .query = r->query,
        .nquery = r->nquery,
        .headers = r->headers,
        .nheaders = r->nheaders,
        .body = "",
        .client = "fuzz",
        .suspend = suspend_conn,
        .resume = resume_conn,
    };
    struct api_call *call = NULL;
    struct api_ctx ctx = {.api = api, .req = &req, .resp = &o->resp, .call = &call};
    struct want w;

    want_init(&w, r);
    api_response_init(&o->resp);
    o->st = router_dispatch(api, &ctx);
    if (o->st == API_SUSPENDED) {
        api_call_free(api, call); /* as when the client goes away */
    } else if (o->resp.stream) { /* an event stream: its first bytes, then goodbye */
        char first[64];

        if (!call || o->resp.status != 200 ||
            api_stream_read(api, call, first, sizeof(first)) < 6 ||
            memcmp(first, "retry:", 6))
            abort();
        api_call_free(api, call);
    } else if (call) {
        abort(); /* a call is only left behind with API_SUSPENDED or a stream */
    }
    if (w.found)
        check_routed(&w, r, &ctx, o);
    else
        check_unrouted(&w, r, &ctx, o);
    if (o->st == API_DONE && is_json(&o->resp) &&
        !json_check(o->resp.body.data, o->resp.body.len))
        abort();
    for (size_t i = 0; i < ctx.nparams; i++)
        free(ctx.params[i]);
    want_release(&w);
}

static bool same_outcome(const struct outcome *a, const struct outcome *b)
{
    if (a->st != b->st)
        return false;
    if (a->st == API_SUSPENDED)
        return true;
    if (a->resp.status != b->resp.status || a->resp.nheaders != b->resp.nheaders ||
        a->resp.body.len != b->resp.body.len ||
        memcmp(a->resp.body.data, b->resp.body.data, a->resp.body.len))
        return false;
    if (!a->resp.content_type != !b->resp.content_type ||
        (a->resp.content_type && strcmp(a->resp.content_type, b->resp.content_type)))
        return false;
    for (size_t i = 0; i < a->resp.nheaders; i++)
        if (strcmp(a->resp.headers[i].name, b->resp.headers[i].name) ||
            strcmp(a->resp.headers[i].value, b->resp.headers[i].value))
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct request r;
    struct outcome first, again;

    if (size && memchr(data, '\0', size))
        return 0;
    if (!api)
        setup();
    request_parse(&r, (const char *)data, size);
    run(&r, &first);
    run(&r, &again);
    if (!same_outcome(&first, &again))
        abort();
    api_response_release(&first.resp);
    api_response_release(&again.resp);
    request_free(&r);
    return 0;
}
