/* router.c: the route table, in openapi.yaml's order, and matching a request to it:
 * percent-decoding of path segments, 404 for unknown paths, 405 with Allow. */
#include "api/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"
#include "common/xalloc.h"

/* Who may call a route. Every route but the public ones needs a valid token; a route
 * with 'need' also needs those actions, on the topic of its path (ROUTE_TOPIC) or on
 * every topic (ROUTE_SERVER). Routes with neither check in their handlers (the topics
 * in a body, a group's topics) or show only what the token may see (lists, metrics). */
enum route_flags {
    ROUTE_PUBLIC = 1 << 0, /* no token: /healthz; webhooks carry a signature instead */
    ROUTE_TOPIC = 1 << 1,
    ROUTE_SERVER = 1 << 2,
};

struct route {
    const char *method;
    const char *pattern; /* literal segments and {} for a parameter */
    api_handler handler;
    unsigned flags;
    unsigned need;      /* enum auth_action bits (any of them will do) */
    const char *params; /* the query parameters it takes, space-separated */
};

#define TOPIC(action) ROUTE_TOPIC, (action)

static const struct route routes[] = {
    {"GET", "/healthz", api_get_health, ROUTE_PUBLIC, 0, NULL},
    {"GET", "/openapi.yaml", api_get_openapi, 0, 0, NULL},
    {"GET", "/metrics", api_get_metrics, 0, 0, ""},
    {"GET", "/topics", api_list_topics, 0, 0, "internal"},
    {"POST", "/topics", api_create_topic, 0, 0, ""},
    {"GET", "/topics/{}", api_get_topic, TOPIC(AUTH_ANY), ""},
    {"PATCH", "/topics/{}", api_update_topic, TOPIC(AUTH_ADMIN), ""},
    {"DELETE", "/topics/{}", api_delete_topic, TOPIC(AUTH_ADMIN), ""},
    {"POST", "/topics/{}/messages", api_produce_records, TOPIC(AUTH_PRODUCE),
     "raw key partition"},
    {"POST", "/topics/{}/webhook", api_produce_webhook, ROUTE_PUBLIC, 0, "key partition"},
    {"GET", "/topics/{}/partitions/{}", api_fetch_records, TOPIC(AUTH_CONSUME),
     "offset timestamp limit max_bytes wait_ms value_format"},
    {"GET", "/topics/{}/partitions/{}/offsets", api_get_offsets, TOPIC(AUTH_CONSUME), ""},
    {"GET", "/topics/{}/partitions/{}/stream", api_stream_partition, TOPIC(AUTH_CONSUME),
     "offset timestamp last_event_id group commit"},
    {"GET", "/topics/{}/stream", api_stream_topic, TOPIC(AUTH_CONSUME),
     "offset timestamp last_event_id group commit"},
    {"GET", "/groups", api_list_groups, 0, 0, ""},
    {"DELETE", "/groups/{}", api_delete_group, 0, 0, ""},
    {"POST", "/groups/{}/offsets", api_commit_group_offsets, 0, 0, ""},
    {"GET", "/groups/{}/offsets", api_get_group_offsets, 0, 0, ""},
    {"POST", "/groups/{}/members", api_join_group, 0, 0, ""},
    {"DELETE", "/groups/{}/members/{}", api_leave_group, 0, 0, ""},
    {"POST", "/groups/{}/members/{}/heartbeat", api_heartbeat_member, 0, 0, ""},
    {"GET", "/groups/{}/members/{}/records", api_read_member_records, 0, 0,
     "limit max_bytes wait_ms"},
    {"POST", "/tokens", api_create_token, ROUTE_SERVER, AUTH_ADMIN, ""},
    {"GET", "/tokens", api_list_tokens, ROUTE_SERVER, AUTH_ADMIN, ""},
    {"GET", "/tokens/{}", api_get_token, ROUTE_SERVER, AUTH_ADMIN, ""},
    {"DELETE", "/tokens/{}", api_delete_token, ROUTE_SERVER, AUTH_ADMIN, ""},
};

#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/* Decodes %XX in seg[0..len); returns NULL on a malformed escape or a NUL byte. */
static char *percent_decode(const char *seg, size_t len)
{
    char *out = xmalloc(len + 1), *o = out;

    for (size_t i = 0; i < len; i++) {
        if (seg[i] != '%') {
            *o++ = seg[i];
            continue;
        }
        int hi = i + 2 < len ? hex_digit_value((unsigned char)seg[i + 1]) : -1;
        int lo = i + 2 < len ? hex_digit_value((unsigned char)seg[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            free(out);
            return NULL;
        }
        *o++ = (char)(hi << 4 | lo);
        i += 2;
    }
    *o = '\0';
    return out;
}

/* Matches 'path' against 'pattern', collecting decoded parameters. Returns 1 on a
 * match, 0 if not, -1 if a parameter is malformed. */
static int match(const char *pattern, const char *path, size_t path_len,
                 struct api_ctx *ctx)
{
    const char *p = pattern, *s = path, *end = path + path_len;

    ctx->nparams = 0;
    while (*p && s < end) {
        if (p[0] == '{' && p[1] == '}') {
            const char *seg_end = memchr(s, '/', (size_t)(end - s));
            char *param;

            if (!seg_end)
                seg_end = end;
            if (seg_end == s || ctx->nparams == API_MAX_PARAMS)
                return 0;
            param = percent_decode(s, (size_t)(seg_end - s));
            if (!param)
                return -1;
            ctx->params[ctx->nparams++] = param;
            s = seg_end;
            p += 2;
        } else if (*p == *s) {
            p++;
            s++;
        } else {
            return 0;
        }
    }
    return !*p && s == end;
}

static void free_params(struct api_ctx *ctx)
{
    for (size_t i = 0; i < ctx->nparams; i++)
        free(ctx->params[i]);
    ctx->nparams = 0;
}

bool api_word_listed(const char *list, const char *word)
{
    size_t n = strlen(word);

    if (!n || strpbrk(word, " ,")) /* "": strstr() would find it at every step */
        return false;
    for (const char *p = list; (p = strstr(p, word)); p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == ',' || !p[n]))
            return true;
    return false;
}

/* A query parameter the route does not take is a 400: a typo like ?ofset=5 must not
 * silently read from the start. access_token is everyone's (GET); NULL: anything. */
static bool known_params(const struct route *r, struct api_ctx *ctx)
{
    if (!r->params)
        return true;
    for (size_t i = 0; i < ctx->req->nquery; i++) {
        const char *name = ctx->req->query[i].name;

        bool printable = strlen(name) <= 64;

        if (!strcmp(name, "access_token") || api_word_listed(r->params, name))
            continue;
        for (const char *c = name; *c && printable; c++)
            printable = *c >= 0x20 && *c < 0x7f; /* the detail is JSON: ASCII only */
        reply_problem(ctx->resp, 400, "unknown_parameter", NULL,
                      "unknown query parameter '%s'%s%s", printable ? name : "?",
                      *r->params ? "; this operation takes: " : "; this operation takes none",
                      r->params);
        return false;
    }
    return true;
}

enum api_status router_dispatch(struct api *a, struct api_ctx *ctx)
{
    const char *target = ctx->req->target;
    size_t len = strcspn(target, "?#");
    const char *method = ctx->req->method;
    struct buf allow = BUF_INIT;
    const struct route *found = NULL;
    bool bad_param = false;

    (void)a;
    cors_headers(ctx);
    if (!strcmp(method, "HEAD"))
        method = "GET"; /* the server sends no body for HEAD */
    for (size_t i = 0; i < NROUTES; i++) {
        int m = match(routes[i].pattern, target, len, ctx);

        if (m < 0)
            bad_param = true;
        if (m <= 0) {
            free_params(ctx);
            continue;
        }
        if (!strcmp(routes[i].method, method)) {
            found = &routes[i];
            break;
        }
        buf_printf(&allow, "%s%s", allow.len ? ", " : "", routes[i].method);
        if (!strcmp(routes[i].method, "GET"))
            buf_addstr(&allow, ", HEAD");
        free_params(ctx);
    }
    if (!found) {
        char shown_method[201], shown[201];

        if (allow.len && !strcmp(method, "OPTIONS")) {
            cors_preflight(ctx, allow.data);
        } else if (allow.len) {
            api_printable_copy(shown_method, sizeof(shown_method), ctx->req->method,
                           strlen(ctx->req->method));
            api_response_header(ctx->resp, "Allow", "%s", allow.data);
            reply_problem(ctx->resp, 405, "method_not_allowed", NULL,
                          "method %s is not allowed here; allowed: %s", shown_method,
                          allow.data);
        } else if (bad_param) {
            reply_problem(ctx->resp, 400, "bad_path", NULL,
                          "the path has a malformed percent-escape or a NUL byte");
        } else {
            api_printable_copy(shown_method, sizeof(shown_method), method,
                               strlen(method));
            api_printable_copy(shown, sizeof(shown), target, len);
            reply_problem(ctx->resp, 404, "not_found", NULL, "no route for %s %s",
                          shown_method, shown);
        }
        buf_release(&allow);
        return API_DONE;
    }
    buf_release(&allow);
    if (!(found->flags & ROUTE_PUBLIC) && !api_authenticate(ctx))
        return API_DONE;
    if ((found->flags & ROUTE_TOPIC) && !api_require(ctx, found->need, ctx->params[0]))
        return API_DONE;
    if ((found->flags & ROUTE_SERVER) && !api_require(ctx, found->need, NULL))
        return API_DONE;
    if (!known_params(found, ctx) || ctx->admit_only)
        return API_DONE;
    return found->handler(ctx);
}

bool router_route(size_t i, const char **method, const char **pattern, bool *is_public)
{
    if (i >= NROUTES)
        return false;
    *method = routes[i].method;
    *pattern = routes[i].pattern;
    *is_public = routes[i].flags & ROUTE_PUBLIC;
    return true;
}
