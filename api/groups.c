/* groups.c: consumer groups' committed offsets (storage/group_offsets.h).
 *
 *   POST   /groups/{g}/offsets  {"offsets":[{"topic","partition","offset"}]}
 *                               -> 200, the group as GET shows it, once durable
 *   GET    /groups/{g}/offsets  {"group","offsets":[{"topic","partition","offset",
 *                               "latest","lag"}]}
 *   GET    /groups              {"groups":[{"name","members","topics"}]}
 *   DELETE /groups/{g}          204, once durable
 *
 * An offset is the next record to read (as in Kafka), from 0 up to the partition's
 * high watermark. A commit names existing topics and partitions, each once; it is
 * written as one batch, so it holds whole or not at all. A member's commit carries
 * "member_id" and "generation" and is fenced (members.c): 409 unknown_member or
 * stale_generation. A group with live members cannot be deleted (409). */
#include "api/internal.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "api/json_check.h"
#include "common/clock.h"
#include "common/xalloc.h"

#define GROUP_MAX_COMMIT 10000 /* offsets in one commit */

bool api_group_param(struct api_ctx *ctx, const char **name)
{
    *name = ctx->params[0];
    return api_group_name_ok(ctx, *name) && api_require_group(ctx, *name);
}

/* The first topic of the group the token may not consume (malloc'ed), or NULL. */
static char *uncovered_topic(const struct api_ctx *ctx, const char *group)
{
    struct group_offset *o = NULL;
    char **subscribed, *denied = NULL;
    size_t n = 0, k;

    if (api_may(ctx, AUTH_CONSUME, NULL))
        return NULL;
    if (!group_offsets_get(ctx->api->groups, group, &o, &n)) {
        for (size_t i = 0; i < n && !denied; i++)
            if (!api_may(ctx, AUTH_CONSUME, o[i].topic))
                denied = xstrdup(o[i].topic);
        group_offsets_free(o, n);
    }
    subscribed = group_members_topics(ctx->api->members, group, clock_mono_ms(), &k);
    for (size_t i = 0; i < k; i++) {
        if (!denied && !api_may(ctx, AUTH_CONSUME, subscribed[i]))
            denied = xstrdup(subscribed[i]);
        free(subscribed[i]);
    }
    free(subscribed);
    return denied;
}

bool api_covers_group(const struct api_ctx *ctx, const char *group)
{
    char *denied = uncovered_topic(ctx, group);

    free(denied);
    return !denied;
}

bool api_require_group(struct api_ctx *ctx, const char *group)
{
    char *denied = uncovered_topic(ctx, group);

    if (!denied)
        return true;
    api_reply_forbidden(ctx->resp,
                        "this token may not use group '%s': it reads topic '%s', which the "
                        "token may not consume",
                        group, denied);
    free(denied);
    return false;
}

/* A group name: 1 to 255 bytes of UTF-8 without control characters. */
bool api_group_name_ok(struct api_ctx *ctx, const char *g)
{
    size_t len = strlen(g);

    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)g[i] < 0x20 || g[i] == 0x7f) {
            len = 0;
            break;
        }
    }
    if (!len || len > GROUP_NAME_MAX || !utf8_check(g, len)) {
        reply_problem(ctx->resp, 400, "invalid_group_name", NULL,
                      "a group name is 1 to %d bytes of UTF-8 without control characters",
                      GROUP_NAME_MAX);
        return false;
    }
    return true;
}

/* {"group":...,"offsets":[...]} with each partition's latest offset and lag (a topic
 * deleted since is left out). */
static void group_json(struct api *a, struct buf *b, const char *group,
                       const struct group_offset *o, size_t n)
{
    struct topic *t = NULL;

    buf_addstr(b, "{\"group\":");
    json_add_cstr(b, group);
    buf_addstr(b, ",\"offsets\":[");
    for (size_t i = 0, k = 0; i < n; i++) {
        struct partition *p;
        int64_t latest;

        if (!t || strcmp(t->name, o[i].topic)) {
            topic_put(t);
            t = NULL;
            if (store_get_topic(a->store, o[i].topic, &t))
                continue;
        }
        p = topic_partition(t, o[i].partition);
        if (!p)
            continue;
        latest = partition_high_watermark(p);
        buf_addstr(b, k++ ? ",{\"topic\":" : "{\"topic\":");
        json_add_cstr(b, o[i].topic);
        buf_printf(b, ",\"partition\":%" PRId32 ",\"offset\":%" PRId64 ",\"latest\":%" PRId64
                   ",\"lag\":%" PRId64 "}",
                   o[i].partition, o[i].offset, latest,
                   latest > o[i].offset ? latest - o[i].offset : 0);
    }
    topic_put(t);
    buf_addstr(b, "]}");
}

/* Answers the group's offsets: 200, or 404 group_not_found. */
static void answer_group(struct api *a, struct api_response *resp, const char *group)
{
    struct group_offset *o;
    struct buf b = BUF_INIT;
    size_t n;

    if (group_offsets_get(a->groups, group, &o, &n)) {
        reply_problem(resp, 404, "group_not_found", NULL,
                      "group '%s' has no committed offsets", group);
        return;
    }
    group_json(a, &b, group, o, n);
    group_offsets_free(o, n);
    reply_json(resp, 200, &b);
}

enum api_status api_get_group_offsets(struct api_ctx *ctx)
{
    const char *group;

    if (api_group_param(ctx, &group))
        answer_group(ctx->api, ctx->resp, group);
    return API_DONE;
}

/* The names in a and b (each sorted, each freed here) merged, each once. */
static char **merge_names(char **a, size_t na, char **b, size_t nb, size_t *n)
{
    char **out = xmalloc((na + nb + 1) * sizeof(*out));
    size_t i = 0, j = 0, k = 0;

    while (i < na || j < nb) {
        int c = i == na ? 1 : j == nb ? -1 : strcmp(a[i], b[j]);

        if (c <= 0) {
            out[k++] = a[i++];
            if (c == 0)
                free(b[j++]);
        } else {
            out[k++] = b[j++];
        }
    }
    free(a);
    free(b);
    *n = k;
    return out;
}

char **api_group_names(struct api *a, size_t *n)
{
    size_t no, nm;
    char **with_offsets = group_offsets_groups(a->groups, &no);
    char **with_members = group_members_groups(a->members, clock_mono_ms(), &nm);

    return merge_names(with_offsets, no, with_members, nm, n);
}

enum api_status api_list_groups(struct api_ctx *ctx)
{
    struct buf b = BUF_INIT;
    size_t n;
    int64_t now = clock_mono_ms();
    char **names = api_group_names(ctx->api, &n);

    buf_addstr(&b, "{\"groups\":[");
    for (size_t i = 0, shown_groups = 0; i < n; i++) {
        struct group_offset *o;
        size_t k;

        if (!api_covers_group(ctx, names[i])) {
            free(names[i]);
            continue;
        }
        if (shown_groups++)
            buf_addch(&b, ',');
        buf_addstr(&b, "{\"name\":");
        json_add_cstr(&b, names[i]);
        buf_printf(&b, ",\"members\":%zu,\"topics\":[",
                   group_members_count(ctx->api->members, names[i], now));
        if (!group_offsets_get(ctx->api->groups, names[i], &o, &k)) {
            for (size_t j = 0, shown = 0; j < k; j++) {
                if (j && !strcmp(o[j].topic, o[j - 1].topic))
                    continue; /* sorted by topic: each once */
                if (shown++)
                    buf_addch(&b, ',');
                json_add_cstr(&b, o[j].topic);
            }
            group_offsets_free(o, k);
        }
        buf_addstr(&b, "]}");
        free(names[i]);
    }
    free(names);
    buf_addstr(&b, "]}");
    reply_json(ctx->resp, 200, &b);
    return API_DONE;
}

/* ---- commits and deletes wait for their record to be durable ---- */

struct group_call {
    struct api_call call;
    struct partition_waiter durable;
    char *group;
    bool deleted; /* a DELETE: answer 204 */
};

static void group_durable(struct partition_waiter *w)
{
    call_wake(&((struct group_call *)(void *)((char *)w -
                                              offsetof(struct group_call, durable)))->call);
}

static enum api_status group_continue(struct api_call *c, struct api_response *resp)
{
    struct group_call *gc = (struct group_call *)c;
    int err = partition_error(group_offsets_partition(c->api->groups));

    if (err)
        reply_errno(resp, err, "writing the commit");
    else if (gc->deleted)
        resp->status = 204;
    else
        answer_group(c->api, resp, gc->group);
    return API_DONE;
}

static void group_release(struct api_call *c)
{
    struct group_call *gc = (struct group_call *)c;

    partition_unwatch(group_offsets_partition(c->api->groups), &gc->durable);
    free(gc->group);
    free(gc);
}

static struct group_call *group_call_new(struct api_ctx *ctx, const char *group)
{
    struct group_call *gc = xcalloc(1, sizeof(*gc));

    call_init(&gc->call, ctx, group_continue, group_release);
    gc->group = xstrdup(group);
    gc->durable.fire = group_durable;
    return gc;
}

/* After group_offsets_commit/delete: answers now, or waits for durability. */
static enum api_status finish_write(struct api_ctx *ctx, struct group_call *gc, int r,
                                    const char *what)
{
    if (r < 0) {
        reply_errno(ctx->resp, r, what);
        group_release(&gc->call);
        return API_DONE;
    }
    if (r == 0) { /* durable already */
        enum api_status st = group_continue(&gc->call, ctx->resp);

        group_release(&gc->call);
        return st;
    }
    *ctx->call = &gc->call;
    return call_suspend(&gc->call);
}

/* Reads one {"topic","partition","offset"} into 'o' (topic borrowed from 'item'),
 * checking the topic, partition and range; answers 400/404 on failure. */
static bool parse_commit_item(struct api_ctx *ctx, json_t *item, size_t i,
                              struct group_offset *o)
{
    json_t *topic = json_object_get(item, "topic"), *part = json_object_get(item, "partition");
    json_t *off = json_object_get(item, "offset");
    struct topic *t;
    struct partition *p;
    char where[32];
    bool ok = false;

    if (!json_is_object(item)) {
        reply_problem(ctx->resp, 400, "invalid_offsets", NULL,
                      "offsets[%zu] must be an object {\"topic\",\"partition\",\"offset\"}", i);
        return false;
    }
    snprintf(where, sizeof(where), "offsets[%zu]", i);
    if (!api_known_fields(ctx, item, "topic, partition, offset", where))
        return false;
    if (!json_is_string(topic) || !json_is_integer(part) || !json_is_integer(off)) {
        reply_problem(ctx->resp, 400, "invalid_offsets", NULL,
                      "offsets[%zu] needs 'topic' (a string), 'partition' and 'offset' "
                      "(integers)", i);
        return false;
    }
    if (strlen(json_string_value(topic)) == json_string_length(topic) &&
        !api_require(ctx, AUTH_CONSUME, json_string_value(topic)))
        return false;
    if (strlen(json_string_value(topic)) != json_string_length(topic) ||
        store_get_topic(ctx->api->store, json_string_value(topic), &t)) {
        reply_problem(ctx->resp, 404, "topic_not_found", NULL,
                      "offsets[%zu]: topic '%s' does not exist", i, json_string_value(topic));
        return false;
    }
    p = json_integer_value(part) >= 0 && json_integer_value(part) < INT32_MAX
            ? topic_partition(t, (int32_t)json_integer_value(part))
            : NULL;
    if (!p) {
        reply_problem(ctx->resp, 404, "partition_not_found", NULL,
                      "offsets[%zu]: topic '%s' has %" PRId32 " partitions", i, t->name,
                      topic_partition_count(t));
    } else if (json_integer_value(off) < 0 ||
               json_integer_value(off) > partition_high_watermark(p)) {
        reply_problem(ctx->resp, 400, "invalid_offset", NULL,
                      "offsets[%zu]: offset %" PRId64 " is outside [0, %" PRId64
                      "] (the next offset to read, at most the high watermark)",
                      i, (int64_t)json_integer_value(off), partition_high_watermark(p));
    } else {
        o->topic = (char *)json_string_value(topic);
        o->partition = (int32_t)json_integer_value(part);
        o->offset = json_integer_value(off);
        ok = true;
    }
    topic_put(t);
    return ok;
}

/* A commit that names a member ("member_id" with "generation") is fenced: only a
 * member in the group, at the group's generation, may commit; while the group has
 * members, every commit must name one (as Kafka requires). Answers 400/409. */
static bool fenced_ok(struct api_ctx *ctx, json_t *root)
{
    json_t *id = json_object_get(root, "member_id"), *gen = json_object_get(root, "generation");
    int r;

    if (!id && !gen) {
        if (!group_members_count(ctx->api->members, ctx->params[0], clock_mono_ms()))
            return true;
        /* else anyone could step around the fencing by leaving the member out */
        reply_problem(ctx->resp, 409, "member_required", NULL,
                      "the group has members: a commit names its member_id and generation");
        return false;
    }
    if (!json_is_string(id) || !json_is_integer(gen)) {
        reply_problem(ctx->resp, 400, "invalid_member", NULL,
                      "'member_id' (a string) and 'generation' (an integer) go together");
        return false;
    }
    r = group_members_check(ctx->api->members, ctx->params[0], json_string_value(id),
                            json_integer_value(gen), clock_mono_ms());
    if (r == -ENOENT) {
        api_reply_unknown_member(ctx->resp);
        return false;
    }
    if (r == -ESTALE) {
        reply_problem(ctx->resp, 409, "stale_generation", NULL,
                      "generation %" PRId64 " is over: the group has rebalanced since "
                      "(heartbeat for the current assignment, then commit again)",
                      (int64_t)json_integer_value(gen));
        return false;
    }
    return true;
}

/* Parses the commit body into *out (n entries); answers 400/404/409 on failure. */
static bool parse_commit(struct api_ctx *ctx, json_t *root, struct group_offset **out,
                         size_t *n)
{
    json_t *offsets = json_object_get(root, "offsets");

    if (!api_known_fields(ctx, root, "offsets, member_id, generation", NULL))
        return false;
    if (!fenced_ok(ctx, root))
        return false;
    if (!json_is_array(offsets) || !json_array_size(offsets) ||
        json_array_size(offsets) > GROUP_MAX_COMMIT) {
        reply_problem(ctx->resp, 400, "invalid_offsets", NULL,
                      "'offsets' must be an array of 1 to %d offsets", GROUP_MAX_COMMIT);
        return false;
    }
    *n = json_array_size(offsets);
    *out = xcalloc(*n, sizeof(**out));
    for (size_t i = 0; i < *n; i++) {
        if (!parse_commit_item(ctx, json_array_get(offsets, i), i, &(*out)[i]))
            goto fail;
        for (size_t j = 0; j < i; j++) {
            if ((*out)[j].partition == (*out)[i].partition &&
                !strcmp((*out)[j].topic, (*out)[i].topic)) {
                reply_problem(ctx->resp, 400, "invalid_offsets", NULL,
                              "offsets[%zu] names the same partition as offsets[%zu]", i, j);
                goto fail;
            }
        }
    }
    return true;
fail:
    free(*out);
    return false;
}

enum api_status api_commit_group_offsets(struct api_ctx *ctx)
{
    struct group_offset *offs = NULL;
    const char *group;
    json_t *root;
    size_t n;
    enum api_status st = API_DONE;

    if (!api_group_param(ctx, &group) || !(root = api_parse_body_object(ctx)))
        return API_DONE;
    if (parse_commit(ctx, root, &offs, &n)) {
        struct group_call *gc = group_call_new(ctx, group);

        st = finish_write(ctx, gc,
                          group_offsets_commit(ctx->api->groups, group, offs, n, &gc->durable),
                          "committing offsets");
        free(offs); /* the topics were borrowed from 'root' */
    }
    json_decref(root);
    return st;
}

enum api_status api_delete_group(struct api_ctx *ctx)
{
    struct group_call *gc;
    const char *group;
    int r;

    if (!api_group_param(ctx, &group))
        return API_DONE;
    if (group_members_count(ctx->api->members, group, clock_mono_ms())) {
        reply_problem(ctx->resp, 409, "group_not_empty", NULL,
                      "the group has members: they leave (or expire) first");
        return API_DONE;
    }
    gc = group_call_new(ctx, group);
    gc->deleted = true;
    r = group_offsets_delete(ctx->api->groups, group, &gc->durable);
    if (r == -ENOENT) {
        group_release(&gc->call);
        reply_problem(ctx->resp, 404, "group_not_found", NULL,
                      "group '%s' has no committed offsets", group);
        return API_DONE;
    }
    return finish_write(ctx, gc, r, "deleting the group");
}
