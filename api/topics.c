/* topics.c: /topics and /topics/{t}: create, list, describe, grow and reconfigure,
 * delete. One topic shape everywhere:
 *   {"name":"orders","id":"<32 hex digits>","internal":false,"created_ms":1764000000000,
 *    "partitions":[{"partition":0,"earliest":0,"latest":42,"size_bytes":4096},...],
 *    "config":{"retention.ms":604800000,...}}      (webhook.secret never shown) */
#include "api/internal.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* Appends the topic object. */
static void topic_json(struct buf *b, struct topic *t)
{
    struct topic_meta m;
    int32_t n = topic_partition_count(t);

    topic_meta_copy(t, &m);
    buf_addstr(b, "{\"name\":");
    json_add_cstr(b, m.name);
    buf_printf(b, ",\"id\":\"%s\"", m.id);
    buf_printf(b, ",\"internal\":%s,\"created_ms\":%" PRId64 ",\"partitions\":[",
               topic_name_is_internal(m.name) ? "true" : "false", m.created_ms);
    for (int32_t i = 0; i < n; i++) {
        struct partition *p = topic_partition(t, i);
        buf_printf(b,
                   "%s{\"partition\":%" PRId32 ",\"earliest\":%" PRId64 ",\"latest\":%" PRId64
                   ",\"size_bytes\":%" PRIu64 "}",
                   i ? "," : "", i, partition_log_start(p), partition_high_watermark(p),
                   partition_size_bytes(p));
    }
    buf_addstr(b, "],\"config\":");
    topic_config_to_json(&m.config, b, false);
    buf_addch(b, '}');
}

json_t *api_parse_body_object(struct api_ctx *ctx)
{
    json_error_t err;
    json_t *root;

    /* JSON, no type, or curl -d's default form type (a convenience for curl) */
    if (api_media_type(ctx) == MEDIA_OTHER) {
        reply_problem(ctx->resp, 415, "unsupported_media_type", NULL,
                      "the body must be application/json");
        return NULL;
    }
    if (!ctx->req->body_len) {
        reply_problem(ctx->resp, 400, "invalid_json", NULL, "the request body is empty");
        return NULL;
    }
    /* JSON_ALLOW_NUL: a "\u0000" inside a string is valid JSON; the field's own check
     * refuses it (a name is 400 invalid_topic_name, not a parser complaint). */
    root = json_loadb(ctx->req->body, ctx->req->body_len,
                      JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
    if (!root && json_error_code(&err) == json_error_numeric_overflow) {
        reply_problem(ctx->resp, 400, "number_out_of_range", NULL,
                      "a number in the body is out of range (64-bit integers only; line "
                      "%d, column %d)",
                      err.line, err.column);
        return NULL;
    }
    if (!root) {
        reply_problem(ctx->resp, 400, "invalid_json", NULL,
                      "the body is not valid JSON: %s (line %d, column %d)", err.text,
                      err.line, err.column);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        reply_problem(ctx->resp, 400, "invalid_json", NULL,
                      "the body must be a JSON object");
        return NULL;
    }
    return root;
}

bool api_known_fields(struct api_ctx *ctx, json_t *obj, const char *fields,
                      const char *where)
{
    const char *key;
    json_t *v;

    json_object_foreach(obj, key, v)
    {
        if (!api_word_listed(fields, key)) {
            reply_problem(ctx->resp, 400, "unknown_field", NULL,
                          "%s%sunknown field '%s' (expected %s)", where ? where : "",
                          where ? ": " : "", key, fields);
            return false;
        }
    }
    return true;
}

/* Applies a "config" object onto 'c'. Answers 400 and returns false on a bad key or
 * value. */
static bool apply_config(struct api_ctx *ctx, json_t *config, struct topic_config *c)
{
    const char *key;
    json_t *v;

    if (!json_is_object(config)) {
        reply_problem(ctx->resp, 400, "invalid_config", NULL, "'config' must be an object");
        return false;
    }
    json_object_foreach(config, key, v)
    {
        char text[160], err[200];
        int r;

        if (json_is_string(v))
            snprintf(text, sizeof(text), "%s", json_string_value(v));
        else if (json_is_integer(v))
            snprintf(text, sizeof(text), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        else {
            reply_problem(ctx->resp, 400, "invalid_config", NULL,
                          "config '%s' must be a string or an integer", key);
            return false;
        }
        if (json_is_string(v) && strlen(json_string_value(v)) != json_string_length(v)) {
            reply_problem(ctx->resp, 400, "invalid_config", NULL,
                          "config '%s' holds a NUL character", key);
            return false;
        }
        if (json_is_string(v) && strlen(json_string_value(v)) >= sizeof(text)) {
            reply_problem(ctx->resp, 400, "invalid_config", NULL, "config '%s' is too long",
                          key);
            return false;
        }
        r = topic_config_set(c, key, text, err, sizeof(err));
        if (r) {
            reply_problem(ctx->resp, 400, "invalid_config", NULL, "%s", err);
            return false;
        }
    }
    return true;
}

/* Reads "partitions" as an integer in [lo, 10000]; answers 400 if it is not. */
static bool parse_partitions(struct api_ctx *ctx, json_t *v, int32_t lo, int32_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < lo ||
        json_integer_value(v) > TOPIC_META_MAX_PARTITIONS) {
        reply_problem(ctx->resp, 400, "invalid_partitions", NULL,
                      "'partitions' must be an integer from %" PRId32 " to %d", lo,
                      TOPIC_META_MAX_PARTITIONS);
        return false;
    }
    *out = (int32_t)json_integer_value(v);
    return true;
}

enum api_status api_list_topics(struct api_ctx *ctx)
{
    const char *internal = api_query(ctx, "internal");
    bool with_internal = internal && !strcmp(internal, "true");
    struct buf b = BUF_INIT;
    struct topic **list;
    size_t n;
    bool first = true;

    store_list_topics(ctx->api->store, &list, &n);
    buf_addstr(&b, "{\"topics\":[");
    for (size_t i = 0; i < n; i++) {
        if ((!with_internal && topic_name_is_internal(list[i]->name)) ||
            !api_may(ctx, AUTH_ANY, list[i]->name))
            continue;
        if (!first)
            buf_addch(&b, ',');
        first = false;
        topic_json(&b, list[i]);
    }
    buf_addstr(&b, "]}");
    store_free_list(list, n);
    reply_json(ctx->resp, 200, &b);
    return API_DONE;
}

enum api_status api_create_topic(struct api_ctx *ctx)
{
    json_t *root = api_parse_body_object(ctx), *name, *parts, *config;
    struct topic_meta m;
    struct topic *t;
    struct buf b = BUF_INIT;
    int r;

    if (!root)
        return API_DONE;
    memset(&m, 0, sizeof(m));
    topic_config_defaults(&m.config);
    m.partitions = 1;
    if (!api_known_fields(ctx, root, "name, partitions, config", NULL))
        goto out;
    name = json_object_get(root, "name");
    if (!json_is_string(name) ||
        !topic_name_is_valid(json_string_value(name), json_string_length(name))) {
        reply_problem(ctx->resp, 400, "invalid_topic_name", NULL,
                      "'name' must be 1-249 characters of [A-Za-z0-9._-], not '.' or '..'");
        goto out;
    }
    if (topic_name_is_internal(json_string_value(name))) {
        reply_problem(ctx->resp, 400, "reserved_topic_name", NULL,
                      "names starting with '__' are reserved for internal topics");
        goto out;
    }
    if (!api_require(ctx, AUTH_ADMIN, json_string_value(name)))
        goto out;
    snprintf(m.name, sizeof(m.name), "%s", json_string_value(name));
    parts = json_object_get(root, "partitions");
    if (parts && !parse_partitions(ctx, parts, 1, &m.partitions))
        goto out;
    config = json_object_get(root, "config");
    if (config && !apply_config(ctx, config, &m.config))
        goto out;
    r = store_create_topic(ctx->api->store, &m, &t);
    if (r == -EEXIST) {
        reply_problem(ctx->resp, 409, "topic_exists", NULL, "topic '%s' already exists",
                      m.name);
        goto out;
    }
    if (r) {
        reply_errno(ctx->resp, r, "creating the topic");
        goto out;
    }
    topic_json(&b, t);
    topic_put(t);
    api_response_header(ctx->resp, "Location", "/topics/%s", m.name);
    reply_json(ctx->resp, 201, &b);
out:
    json_decref(root);
    return API_DONE;
}

enum api_status api_get_topic(struct api_ctx *ctx)
{
    struct topic *t = api_topic_param(ctx);
    struct buf b = BUF_INIT;

    if (!t)
        return API_DONE;
    topic_json(&b, t);
    topic_put(t);
    reply_json(ctx->resp, 200, &b);
    return API_DONE;
}

enum api_status api_update_topic(struct api_ctx *ctx)
{
    struct topic *t = api_topic_param(ctx);
    json_t *root, *parts, *config;
    struct topic_meta m;
    struct buf b = BUF_INIT;
    int32_t n;
    int r;

    if (!t)
        return API_DONE;
    if (topic_name_is_internal(t->name)) {
        reply_problem(ctx->resp, 403, "internal_topic", NULL,
                      "internal topics cannot be changed");
        goto out_put;
    }
    root = api_parse_body_object(ctx);
    if (!root)
        goto out_put;
    if (!api_known_fields(ctx, root, "partitions, config", NULL))
        goto out;
    topic_meta_copy(t, &m);
    parts = json_object_get(root, "partitions");
    n = m.partitions;
    if (parts && !parse_partitions(ctx, parts, 1, &n))
        goto out;
    if (n < m.partitions) {
        reply_problem(ctx->resp, 400, "partitions_cannot_shrink", NULL,
                      "'partitions' can only grow (now %" PRId32 ")", m.partitions);
        goto out;
    }
    config = json_object_get(root, "config");
    if (config && !apply_config(ctx, config, &m.config))
        goto out;
    r = topic_update(t, n, &m.config);
    if (r) {
        reply_errno(ctx->resp, r, "updating the topic");
        goto out;
    }
    if (n > m.partitions)
        api_wake_followers(ctx->api, t); /* topic streams take up the new partitions */
    topic_json(&b, t);
    reply_json(ctx->resp, 200, &b);
out:
    json_decref(root);
out_put:
    topic_put(t);
    return API_DONE;
}

enum api_status api_delete_topic(struct api_ctx *ctx)
{
    struct topic *t = api_topic_param(ctx);
    int r;

    if (!t)
        return API_DONE;
    topic_put(t);
    if (topic_name_is_internal(ctx->params[0])) {
        reply_problem(ctx->resp, 403, "internal_topic", NULL,
                      "internal topics cannot be deleted");
        return API_DONE;
    }
    r = store_delete_topic(ctx->api->store, ctx->params[0]);
    if (r == -ENOENT)
        reply_problem(ctx->resp, 404, "topic_not_found", NULL, "topic '%s' does not exist",
                      ctx->params[0]);
    else if (r)
        reply_errno(ctx->resp, r, "deleting the topic");
    else
        ctx->resp->status = 204;
    if (!r) /* as Kafka does: no group keeps offsets of a topic that is gone */
        group_offsets_forget_topic(ctx->api->groups, ctx->params[0]);
    return API_DONE;
}
