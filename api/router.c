/* router.c: the route table, in openapi.yaml's order, and matching a request to it:
 * percent-decoding of path segments, 404 for unknown paths, 405 with Allow. */
#include "api/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"
#include "common/xalloc.h"

enum route_flags { ROUTE_PUBLIC = 1 << 0 };

struct route {
    const char *method;
    const char *pattern; /* literal segments and {} for a parameter */
    api_handler handler;
    unsigned flags;
    const char *params; /* the query parameters it takes, space-separated */
};

static const struct route routes[] = {
    {"GET", "/healthz", api_get_health, ROUTE_PUBLIC, NULL},
    {"GET", "/openapi.yaml", api_get_openapi, 0, NULL},
    {"GET", "/metrics", api_get_metrics, 0, ""},
    {"GET", "/topics", api_list_topics, 0, "internal"},
    {"POST", "/topics", api_create_topic, 0, ""},
    {"GET", "/topics/{}", api_get_topic, 0, ""},
    {"PATCH", "/topics/{}", api_update_topic, 0, ""},
    {"DELETE", "/topics/{}", api_delete_topic, 0, ""},
    {"POST", "/topics/{}/messages", api_produce_records, 0, "raw key partition"},
    {"POST", "/topics/{}/webhook", api_produce_webhook, ROUTE_PUBLIC, "key partition"},
    {"GET", "/topics/{}/partitions/{}", api_fetch_records, 0,
     "offset timestamp limit max_bytes wait_ms value_format"},
    {"GET", "/topics/{}/partitions/{}/offsets", api_get_offsets, 0, ""},
    {"GET", "/topics/{}/partitions/{}/stream", api_stream_partition, 0,
     "offset timestamp last_event_id group commit"},
    {"GET", "/topics/{}/stream", api_stream_topic, 0,
     "offset timestamp last_event_id group commit"},
    {"GET", "/groups", api_list_groups, 0, ""},
    {"DELETE", "/groups/{}", api_delete_group, 0, ""},
    {"POST", "/groups/{}/offsets", api_commit_group_offsets, 0, ""},
    {"GET", "/groups/{}/offsets", api_get_group_offsets, 0, ""},
    {"POST", "/groups/{}/members", api_join_group, 0, ""},
    {"DELETE", "/groups/{}/members/{}", api_leave_group, 0, ""},
    {"POST", "/groups/{}/members/{}/heartbeat", api_heartbeat_member, 0, ""},
    {"GET", "/groups/{}/members/{}/records", api_read_member_records, 0,
     "limit max_bytes wait_ms"},
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

/* True if 'name' is a word of the space-separated 'list'. */
static bool listed(const char *list, const char *name)
{
    size_t n = strlen(name);

    if (!n) /* "?=x", "?&a=1": strstr() finds "" at every step and p never moves */
        return false;
    for (const char *p = list; (p = strstr(p, name)); p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || !p[n]))
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

        if (!strcmp(name, "access_token") || listed(r->params, name))
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

        if (allow.len) {
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
    if (!known_params(found, ctx))
        return API_DONE;
    return found->handler(ctx);
}
