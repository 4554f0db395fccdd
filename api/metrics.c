/* metrics.c: GET /metrics, Prometheus text exposition (format 0.0.4): each partition's
 * offsets and size, and each consumer group's members and lag per partition, as far as
 * the token may see them (its topics, the groups it covers). Read from the live state
 * at each scrape; nothing is kept between scrapes. */
#include "api/internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"

/* A label value: backslash, double quote and newline escaped, as the format says. */
static void add_label(struct buf *b, const char *name, const char *value, bool first)
{
    buf_printf(b, "%s%s=\"", first ? "" : ",", name);
    for (const char *c = value; *c; c++) {
        if (*c == '\\' || *c == '"')
            buf_printf(b, "\\%c", *c);
        else if (*c == '\n')
            buf_addstr(b, "\\n");
        else
            buf_addch(b, *c);
    }
    buf_addch(b, '"');
}

static void add_family(struct buf *b, const char *name, const char *type, const char *help)
{
    buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* rill_partition_*{topic,partition} for every partition of the topics the token may
 * use. */
static void partition_metrics(const struct api_ctx *ctx, struct buf *b)
{
    static const char *const names[] = {"rill_partition_high_watermark",
                                        "rill_partition_log_start_offset",
                                        "rill_partition_size_bytes"};
    static const char *const helps[] = {
        "The next offset of the partition (what readers see).",
        "The first offset still in the partition.",
        "Bytes of log on disk.",
    };
    struct topic **list;
    size_t n;

    if (store_list_topics(ctx->api->store, &list, &n))
        return;
    for (int m = 0; m < 3; m++) {
        add_family(b, names[m], "gauge", helps[m]);
        for (size_t i = 0; i < n; i++) {
            if (!api_may(ctx, AUTH_ANY, list[i]->name))
                continue;
            for (int32_t p = 0; p < topic_partition_count(list[i]); p++) {
                struct partition *part = topic_partition(list[i], p);
                char id[16];
                uint64_t v = m == 0   ? (uint64_t)partition_high_watermark(part)
                             : m == 1 ? (uint64_t)partition_log_start(part)
                                      : partition_size_bytes(part);

                snprintf(id, sizeof(id), "%" PRId32, p);
                buf_printf(b, "%s{", names[m]);
                add_label(b, "topic", list[i]->name, true);
                add_label(b, "partition", id, false);
                buf_printf(b, "} %" PRIu64 "\n", v);
            }
        }
    }
    store_free_list(list, n);
}

/* rill_consumer_group_lag{group,topic,partition} and rill_consumer_group_members, for
 * the groups the token covers. */
static void group_metrics(const struct api_ctx *ctx, struct buf *b)
{
    struct api *a = ctx->api;
    size_t n;
    char **groups = api_group_names(a, &n);
    int64_t now = clock_mono_ms();

    for (size_t i = 0; i < n; i++) {
        if (!api_covers_group(ctx, groups[i])) {
            free(groups[i]);
            groups[i] = NULL;
        }
    }
    add_family(b, "rill_consumer_group_lag", "gauge",
               "Records between a group's committed offset and the high watermark.");
    for (size_t i = 0; i < n; i++) {
        struct group_offset *o;
        size_t k;
        struct topic *t = NULL;

        if (!groups[i] || group_offsets_get(a->groups, groups[i], &o, &k))
            continue;
        for (size_t j = 0; j < k; j++) {
            struct partition *p;
            char id[16];
            int64_t lag;

            if (!t || strcmp(t->name, o[j].topic)) {
                topic_put(t);
                t = NULL;
                if (store_get_topic(a->store, o[j].topic, &t))
                    continue;
            }
            if (!(p = topic_partition(t, o[j].partition)))
                continue;
            lag = partition_high_watermark(p) - o[j].offset;
            snprintf(id, sizeof(id), "%" PRId32, o[j].partition);
            buf_addstr(b, "rill_consumer_group_lag{");
            add_label(b, "group", groups[i], true);
            add_label(b, "topic", o[j].topic, false);
            add_label(b, "partition", id, false);
            buf_printf(b, "} %" PRId64 "\n", lag > 0 ? lag : 0);
        }
        topic_put(t);
        group_offsets_free(o, k);
    }
    add_family(b, "rill_consumer_group_members", "gauge", "Live members of a group.");
    for (size_t i = 0; i < n; i++) {
        if (!groups[i])
            continue;
        buf_addstr(b, "rill_consumer_group_members{");
        add_label(b, "group", groups[i], true);
        buf_printf(b, "} %zu\n", group_members_count(a->members, groups[i], now));
        free(groups[i]);
    }
    free(groups);
}

enum api_status api_get_metrics(struct api_ctx *ctx)
{
    struct buf *b = &ctx->resp->body;

    buf_reset(b);
    partition_metrics(ctx, b);
    group_metrics(ctx, b);
    ctx->resp->status = 200;
    ctx->resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
    return API_DONE;
}
