/* topic_config.c: a topic's configuration, set from text and written as JSON.
 *
 * Every key is one row of key_defs[] (name, kind, field, range), so topic_config_set(),
 * topic_config_to_json() and topic_config_keys[] cannot disagree on names or order.
 * The JSON form, with the defaults, as topic.json holds it (the secret only there):
 *
 *     {"retention.ms":604800000,"retention.bytes":-1,"segment.bytes":1073741824,
 *      "segment.ms":604800000,"cleanup.policy":"delete","flush.policy":"always",
 *      "flush.ms":1000,"max.message.bytes":1048576,"delete.retention.ms":86400000,
 *      "webhook.secret":"s3cr\"t"}
 *
 * Invariant: whatever topic_config_set() accepted, topic_config_to_json() writes so
 * that feeding each value back (as text) to topic_config_set() gives the same config. */
#include "storage/topic_config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

enum key_kind { KEY_INT, KEY_CLEANUP, KEY_FLUSH, KEY_SECRET };

struct key_def {
    const char *name;
    enum key_kind kind;
    size_t off;  /* of the field in struct topic_config */
    int64_t min; /* KEY_INT only, inclusive */
    int64_t max;
};

/* clang-format off */
#define INT_KEY(n, field, lo, hi) {n, KEY_INT, offsetof(struct topic_config, field), lo, hi}

static const struct key_def key_defs[] = {
    INT_KEY("retention.ms", retention_ms, -1, INT64_MAX),
    INT_KEY("retention.bytes", retention_bytes, -1, INT64_MAX),
    INT_KEY("segment.bytes", segment_bytes, 1024, INT32_MAX),
    INT_KEY("segment.ms", segment_ms, 1, INT64_MAX),
    {"cleanup.policy", KEY_CLEANUP, offsetof(struct topic_config, cleanup_policy), 0, 0},
    {"flush.policy", KEY_FLUSH, offsetof(struct topic_config, flush_policy), 0, 0},
    INT_KEY("flush.ms", flush_ms, 1, INT64_MAX),
    INT_KEY("max.message.bytes", max_message_bytes, 1, INT32_MAX),
    INT_KEY("delete.retention.ms", delete_retention_ms, 0, INT64_MAX),
    {"webhook.secret", KEY_SECRET, offsetof(struct topic_config, webhook_secret), 0, 0},
};

const char *const topic_config_keys[] = {
    "retention.ms", "retention.bytes", "segment.bytes", "segment.ms", "cleanup.policy",
    "flush.policy", "flush.ms", "max.message.bytes", "delete.retention.ms",
    "webhook.secret", NULL,
};
/* clang-format on */

_Static_assert(ARRAY_SIZE(topic_config_keys) == ARRAY_SIZE(key_defs) + 1,
               "topic_config_keys[] and key_defs[] list the same keys");

static const char *const cleanup_names[] = {
    [CLEANUP_DELETE] = "delete", [CLEANUP_COMPACT] = "compact"};
static const char *const flush_names[] = {
    [FLUSH_ALWAYS] = "always", [FLUSH_INTERVAL] = "interval"};

void topic_config_defaults(struct topic_config *c)
{
    memset(c, 0, sizeof(*c));
    c->retention_ms = 604800000;
    c->retention_bytes = -1;
    c->segment_bytes = 1073741824;
    c->segment_ms = 604800000;
    c->cleanup_policy = CLEANUP_DELETE;
    c->flush_policy = FLUSH_ALWAYS;
    c->flush_ms = 1000;
    c->max_message_bytes = 1048576;
    c->delete_retention_ms = 86400000;
    c->webhook_secret[0] = '\0';
}

static int64_t *int_field(struct topic_config *c, const struct key_def *k)
{
    return (int64_t *)(void *)((char *)c + k->off);
}

static const int64_t *int_field_const(const struct topic_config *c,
                                      const struct key_def *k)
{
    return (const int64_t *)(const void *)((const char *)c + k->off);
}

/* Parses '-'? [0-9]+ filling the whole string, within int64. */
static bool parse_int64(const char *s, int64_t *out)
{
    uint64_t limit = (uint64_t)INT64_MAX;
    uint64_t mag = 0;
    bool neg = false;

    if (*s == '-') {
        neg = true;
        limit += 1;
        s++;
    }
    if (!*s)
        return false;
    for (; *s; s++) {
        unsigned d;

        if (*s < '0' || *s > '9')
            return false;
        d = (unsigned)(*s - '0');
        if (mag > (limit - d) / 10)
            return false;
        mag = mag * 10 + d;
    }
    if (!neg)
        *out = (int64_t)mag;
    else
        *out = mag > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)mag;
    return true;
}

/* Returns the index of 'value' in names[0..n), or -1. */
static int find_word(const char *const *names, size_t n, const char *value)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (!strcmp(names[i], value))
            return (int)i;
    return -1;
}

static bool secret_is_valid(const char *value)
{
    size_t len = strlen(value);
    size_t i;

    if (len > TOPIC_CONFIG_SECRET_MAX)
        return false;
    for (i = 0; i < len; i++)
        if (value[i] < 0x20 || value[i] > 0x7e)
            return false;
    return true;
}

static int set_int(struct topic_config *c, const struct key_def *k, const char *value,
                   char *err, size_t errlen)
{
    int64_t v;

    if (!parse_int64(value, &v) || v < k->min || v > k->max) {
        if (errlen)
            snprintf(err, errlen, "config '%s' must be an integer from %lld to %lld%s",
                     k->name, (long long)k->min, (long long)k->max,
                     k->min == -1 ? " (-1: no limit)" : "");
        return -EINVAL;
    }
    *int_field(c, k) = v;
    return 0;
}

int topic_config_set(struct topic_config *c, const char *key, const char *value,
                     char *err, size_t errlen)
{
    const struct key_def *k = NULL;
    size_t i;
    int w;

    for (i = 0; i < ARRAY_SIZE(key_defs); i++)
        if (!strcmp(key_defs[i].name, key))
            k = &key_defs[i];
    if (!k) {
        if (errlen)
            snprintf(err, errlen, "unknown config '%.64s'", key);
        return -ENOENT;
    }
    switch (k->kind) {
    case KEY_INT:
        return set_int(c, k, value, err, errlen);
    case KEY_CLEANUP:
        w = find_word(cleanup_names, ARRAY_SIZE(cleanup_names), value);
        if (w < 0)
            break;
        c->cleanup_policy = (enum cleanup_policy)w;
        return 0;
    case KEY_FLUSH:
        w = find_word(flush_names, ARRAY_SIZE(flush_names), value);
        if (w < 0)
            break;
        c->flush_policy = (enum flush_policy)w;
        return 0;
    case KEY_SECRET:
        if (!secret_is_valid(value))
            break;
        strcpy(c->webhook_secret, value);
        return 0;
    }
    if (errlen) {
        if (k->kind == KEY_CLEANUP)
            snprintf(err, errlen, "config '%s' must be \"delete\" or \"compact\"",
                     k->name);
        else if (k->kind == KEY_FLUSH)
            snprintf(err, errlen, "config '%s' must be \"always\" or \"interval\"",
                     k->name);
        else
            snprintf(err, errlen,
                     "config '%s' must be 1 to %d printable ASCII characters, or empty",
                     k->name, TOPIC_CONFIG_SECRET_MAX);
    }
    return -EINVAL;
}

/* Appends s[0..len) as a JSON string: '"' and '\\' escaped, control bytes as \u00XX,
 * anything else (including UTF-8) as is. */
static void add_json_string(struct buf *out, const char *s, size_t len)
{
    size_t i;

    buf_addch(out, '"');
    for (i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (ch == '"' || ch == '\\') {
            buf_addch(out, '\\');
            buf_addch(out, (char)ch);
        } else if (ch < 0x20) {
            buf_printf(out, "\\u%04x", ch);
        } else {
            buf_addch(out, (char)ch);
        }
    }
    buf_addch(out, '"');
}

void topic_config_to_json(const struct topic_config *c, struct buf *out,
                          bool include_secret)
{
    size_t secret_len = strnlen(c->webhook_secret, sizeof(c->webhook_secret));
    const char *sep = "";
    size_t i;

    buf_addch(out, '{');
    for (i = 0; i < ARRAY_SIZE(key_defs); i++) {
        const struct key_def *k = &key_defs[i];

        if (k->kind == KEY_SECRET && (!include_secret || !secret_len))
            continue;
        buf_printf(out, "%s\"%s\":", sep, k->name);
        sep = ",";
        switch (k->kind) {
        case KEY_INT:
            buf_printf(out, "%lld", (long long)*int_field_const(c, k));
            break;
        case KEY_CLEANUP:
            buf_printf(out, "\"%s\"",
                       c->cleanup_policy == CLEANUP_COMPACT ? "compact" : "delete");
            break;
        case KEY_FLUSH:
            buf_printf(out, "\"%s\"",
                       c->flush_policy == FLUSH_INTERVAL ? "interval" : "always");
            break;
        case KEY_SECRET:
            add_json_string(out, c->webhook_secret, secret_len);
            break;
        }
    }
    buf_addch(out, '}');
}

bool topic_config_equal(const struct topic_config *a, const struct topic_config *b)
{
    return a->retention_ms == b->retention_ms && a->retention_bytes == b->retention_bytes &&
           a->segment_bytes == b->segment_bytes && a->segment_ms == b->segment_ms &&
           a->cleanup_policy == b->cleanup_policy && a->flush_policy == b->flush_policy &&
           a->flush_ms == b->flush_ms && a->max_message_bytes == b->max_message_bytes &&
           a->delete_retention_ms == b->delete_retention_ms &&
           !strcmp(a->webhook_secret, b->webhook_secret);
}
