/* tokens.c: the token store over HTTP (api/auth.h), for admins (admin on '*'):
 *
 *   POST   /tokens       {"name":"ci","scopes":[{"topics":"orders.*",
 *                        "actions":["produce","consume"]}],"expires_in":86400,
 *                        "rate_limit":{"requests_per_s":100,"bytes_per_s":1048576}}
 *                        -> 201 the token with its secret "token", shown this once
 *   GET    /tokens       {"tokens":[...]} newest first, no secrets
 *   GET    /tokens/{id}  the token, no secret
 *   DELETE /tokens/{id}  204: revoked at once, its open streams end
 */
#include "api/internal.h"

#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <string.h>

#include "api/json_check.h"
#include "common/clock.h"
#include "common/log.h"

#define RATE_MAX 1000000000000LL /* per second: a bound, not a plan */

/* 'name': 1..AUTH_NAME_MAX bytes of UTF-8 without control characters. */
static bool name_ok(json_t *name)
{
    const char *s = json_string_value(name);
    size_t len = json_string_length(name);

    if (!s || !len || len > AUTH_NAME_MAX || strlen(s) != len || !utf8_check(s, len))
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

static bool parse_scope(struct api_ctx *ctx, json_t *o, size_t i, struct auth_scope *out)
{
    json_t *topics = json_object_get(o, "topics"), *actions = json_object_get(o, "actions");
    json_t *v;
    char where[32];
    size_t j;

    if (!json_is_object(o)) {
        reply_problem(ctx->resp, 400, "invalid_scopes", NULL,
                      "scopes[%zu] must be an object {\"topics\",\"actions\"}", i);
        return false;
    }
    snprintf(where, sizeof(where), "scopes[%zu]", i);
    if (!api_known_fields(ctx, o, "topics, actions", where))
        return false;
    if (!json_is_string(topics) ||
        strlen(json_string_value(topics)) != json_string_length(topics) ||
        !auth_pattern_is_valid(json_string_value(topics))) {
        reply_problem(ctx->resp, 400, "invalid_scopes", NULL,
                      "scopes[%zu].topics must be a topic name, a prefix followed by '*' "
                      "(e.g. \"orders.*\"), or \"*\"",
                      i);
        return false;
    }
    out->pattern = (char *)json_string_value(topics); /* borrowed from the body */
    out->actions = 0;
    if (json_is_array(actions)) {
        json_array_foreach(actions, j, v)
        {
            unsigned bit = json_is_string(v) ? auth_action_of(json_string_value(v)) : 0;

            if (!bit) {
                out->actions = 0;
                break;
            }
            out->actions |= bit;
        }
    }
    if (!out->actions) {
        reply_problem(ctx->resp, 400, "invalid_scopes", NULL,
                      "scopes[%zu].actions must be a non-empty array of \"produce\", "
                      "\"consume\", \"admin\"",
                      i);
        return false;
    }
    return true;
}

/* A positive integer no larger than 'max', absent or null: 0. Answers 400 if not. */
static bool positive_or_null(struct api_ctx *ctx, json_t *v, const char *field, int64_t max,
                             int64_t *out)
{
    *out = 0;
    if (!v || json_is_null(v))
        return true;
    if (json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) <= max) {
        *out = json_integer_value(v);
        return true;
    }
    reply_problem(ctx->resp, 400, "invalid_parameter", NULL,
                  "'%s' must be an integer from 1 to %lld, or null", field, (long long)max);
    return false;
}

static bool parse_rate_limit(struct api_ctx *ctx, json_t *rate, struct auth_spec *spec)
{
    if (!rate || json_is_null(rate))
        return true;
    if (!json_is_object(rate)) {
        reply_problem(ctx->resp, 400, "invalid_parameter", NULL,
                      "'rate_limit' must be an object {\"requests_per_s\",\"bytes_per_s\"}");
        return false;
    }
    if (!api_known_fields(ctx, rate, "requests_per_s, bytes_per_s", "rate_limit"))
        return false;
    return positive_or_null(ctx, json_object_get(rate, "requests_per_s"),
                            "rate_limit.requests_per_s", RATE_MAX, &spec->requests_per_s) &&
           positive_or_null(ctx, json_object_get(rate, "bytes_per_s"),
                            "rate_limit.bytes_per_s", RATE_MAX, &spec->bytes_per_s);
}

/* The body of POST /tokens into 'spec' (its strings borrowed from 'root'). */
static bool parse_spec(struct api_ctx *ctx, json_t *root, struct auth_scope *scopes,
                       struct auth_spec *spec)
{
    json_t *name = json_object_get(root, "name"), *list = json_object_get(root, "scopes");
    json_t *v;
    size_t i;

    if (!api_known_fields(ctx, root, "name, scopes, expires_in, rate_limit", NULL))
        return false;
    if (!name_ok(name)) {
        reply_problem(ctx->resp, 400, "invalid_name", NULL,
                      "'name' must be 1 to %d bytes of UTF-8 without control characters",
                      AUTH_NAME_MAX);
        return false;
    }
    spec->name = json_string_value(name);
    if (!json_is_array(list) || !json_array_size(list) ||
        json_array_size(list) > AUTH_MAX_SCOPES) {
        reply_problem(ctx->resp, 400, "invalid_scopes", NULL,
                      "'scopes' must be an array of 1 to %d scopes {\"topics\",\"actions\"}",
                      AUTH_MAX_SCOPES);
        return false;
    }
    json_array_foreach(list, i, v)
    {
        if (!parse_scope(ctx, v, i, &scopes[i]))
            return false;
    }
    spec->scopes = scopes;
    spec->nscopes = json_array_size(list);
    return positive_or_null(ctx, json_object_get(root, "expires_in"), "expires_in",
                            AUTH_MAX_EXPIRES_S, &spec->expires_in_s) &&
           parse_rate_limit(ctx, json_object_get(root, "rate_limit"), spec);
}

static void reply_store_error(struct api_ctx *ctx, int err);

enum api_status api_create_token(struct api_ctx *ctx)
{
    struct auth_scope scopes[AUTH_MAX_SCOPES];
    struct auth_spec spec = {0};
    char secret[AUTH_TOKEN_LEN + 1];
    struct auth_token *t;
    struct buf b = BUF_INIT;
    json_t *root = api_parse_body_object(ctx);
    int64_t now = clock_wall_ms();
    int r;

    if (!root)
        return API_DONE;
    if (!parse_spec(ctx, root, scopes, &spec))
        goto out;
    r = auth_create(ctx->api->auth, &spec, now, secret, &t);
    if (r == -EDQUOT) {
        reply_problem(ctx->resp, 409, "too_many_tokens", NULL,
                      "the server holds %d live tokens: revoke some first", AUTH_MAX_TOKENS);
        goto out;
    }
    if (r) {
        reply_store_error(ctx, r);
        goto out;
    }
    log_info("token %s created", t->id);
    auth_token_json(&b, t, now, secret);
    sodium_memzero(secret, sizeof(secret));
    reply_json(ctx->resp, 201, &b);
    api_response_header(ctx->resp, "Location", "/tokens/%s", t->id);
    api_response_header(ctx->resp, "Cache-Control", "no-store"); /* it holds a secret */
out:
    json_decref(root);
    return API_DONE;
}

enum api_status api_list_tokens(struct api_ctx *ctx)
{
    struct buf b = BUF_INIT;

    auth_list_json(ctx->api->auth, &b, clock_wall_ms());
    reply_json(ctx->resp, 200, &b);
    return API_DONE;
}

/* tokens.json could not be written (the change was undone). */
static void reply_store_error(struct api_ctx *ctx, int err)
{
    if (err == -ENOSPC)
        reply_errno(ctx->resp, err, "writing tokens.json");
    else
        reply_problem(ctx->resp, 500, "internal_error", NULL, "cannot write tokens.json: %s",
                      strerror(-err));
}

static void reply_no_token(struct api_ctx *ctx)
{
    reply_problem(ctx->resp, 404, "token_not_found", NULL, "no token has this id");
}

enum api_status api_get_token(struct api_ctx *ctx)
{
    struct auth_token *t = auth_find(ctx->api->auth, ctx->params[0]);
    struct buf b = BUF_INIT;

    if (!t) {
        reply_no_token(ctx);
        return API_DONE;
    }
    auth_token_json(&b, t, clock_wall_ms(), NULL);
    reply_json(ctx->resp, 200, &b);
    return API_DONE;
}

enum api_status api_delete_token(struct api_ctx *ctx)
{
    struct auth_token *t;
    int r = auth_revoke(ctx->api->auth, ctx->params[0], clock_wall_ms(), &t);

    if (r == -ENOENT) {
        reply_no_token(ctx);
        return API_DONE;
    }
    if (r) {
        reply_store_error(ctx, r);
        return API_DONE;
    }
    log_info("token %s revoked", t->id);
    api_wake_token(ctx->api, t); /* its streams and waits end now */
    ctx->resp->status = 204;
    return API_DONE;
}
