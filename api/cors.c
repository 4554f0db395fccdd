/* cors.c: cross-origin requests from browsers (--cors-origin), so a dashboard served
 * from another origin can call the API with a bearer token.
 *
 * --cors-origin is a comma-separated list of origins ("https://ops.example.com,
 * http://localhost:5173") or "*"; none by default, and then no CORS header is sent
 * at all. A request whose Origin is allowed gets Access-Control-Allow-Origin (and the
 * headers a script may read: Location, Retry-After, ...); a preflight (OPTIONS with
 * Access-Control-Request-Method) gets 204 with the path's methods and every request
 * header the API reads. No cookies are involved, so no credentials are allowed. */
#include "api/internal.h"

#include <string.h>
#include <strings.h>

#define CORS_METHODS_EXTRA ", OPTIONS"
#define CORS_HEADERS                                                                     \
    "Authorization, Content-Type, Idempotency-Key, If-Match, Last-Event-ID, "          \
    "X-Hub-Signature-256, X-GitHub-Event, X-GitHub-Delivery"
#define CORS_EXPOSE "Location, Retry-After, WWW-Authenticate, Allow, Idempotent-Replayed"
#define CORS_MAX_AGE "600"
#define CORS_ORIGIN_MAX 200 /* fits in an answer's header value */

const char *api_cors_origin(const struct api *a, const char *origin)
{
    const char *list = a->config.cors_origin;
    size_t len;

    if (!list || !origin || !*origin)
        return NULL;
    if (!strcmp(list, "*"))
        return "*";
    len = strlen(origin);
    if (len > CORS_ORIGIN_MAX)
        return NULL;
    for (const char *p = list; *p;) {
        size_t n;

        while (*p == ' ' || *p == ',')
            p++;
        n = strcspn(p, ", ");
        if (n == len && !strncasecmp(p, origin, n)) /* scheme and host are caseless */
            return origin;
        p += n;
    }
    return NULL;
}

void cors_headers(struct api_ctx *ctx)
{
    const char *allow = api_cors_origin(ctx->api, api_header(ctx, "Origin"));

    if (!ctx->api->config.cors_origin)
        return;
    if (strcmp(ctx->api->config.cors_origin, "*"))
        api_response_header(ctx->resp, "Vary", "Origin"); /* the answer depends on it */
    if (!allow)
        return;
    api_response_header(ctx->resp, "Access-Control-Allow-Origin", "%s", allow);
    api_response_header(ctx->resp, "Access-Control-Expose-Headers", CORS_EXPOSE);
}

void cors_preflight(struct api_ctx *ctx, const char *methods)
{
    const char *allow = api_cors_origin(ctx->api, api_header(ctx, "Origin"));

    api_response_header(ctx->resp, "Allow", "%s" CORS_METHODS_EXTRA, methods);
    if (allow && api_header(ctx, "Access-Control-Request-Method")) {
        api_response_header(ctx->resp, "Access-Control-Allow-Methods",
                            "%s" CORS_METHODS_EXTRA, methods);
        api_response_header(ctx->resp, "Access-Control-Allow-Headers", CORS_HEADERS);
        api_response_header(ctx->resp, "Access-Control-Max-Age", CORS_MAX_AGE);
    }
    ctx->resp->status = 204;
}
