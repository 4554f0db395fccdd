/* ops.c: operations endpoints: /healthz and /openapi.yaml. */
#include "api/internal.h"

#include <string.h>

/* openapi.yaml, embedded at build time by api/openapi_blob.S. */
extern const char api_openapi_yaml[];

enum api_status api_get_health(struct api_ctx *ctx)
{
    struct buf b = BUF_INIT;

    buf_addstr(&b, "{\"status\":\"ok\"}");
    reply_json(ctx->resp, 200, &b);
    return API_DONE;
}

enum api_status api_get_openapi(struct api_ctx *ctx)
{
    ctx->resp->status = 200;
    ctx->resp->content_type = "application/yaml";
    buf_reset(&ctx->resp->body);
    buf_addstr(&ctx->resp->body, api_openapi_yaml);
    return API_DONE;
}
