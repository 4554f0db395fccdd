/* tests/storage/test_topic_config.c: tests for storage/topic_config.c and
 * storage/topic_name.c */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/topic_config.h"
#include "storage/topic_name.h"

#define DEFAULT_JSON                                                                     \
    "{\"retention.ms\":604800000,\"retention.bytes\":-1,\"segment.bytes\":1073741824,"   \
    "\"segment.ms\":604800000,\"cleanup.policy\":\"delete\",\"flush.policy\":"           \
    "\"always\","                                                                        \
    "\"flush.ms\":1000,\"max.message.bytes\":1048576,\"delete.retention.ms\":86400000}"

static char *to_json(const struct topic_config *c, bool include_secret)
{
    struct buf out = BUF_INIT;

    topic_config_to_json(c, &out, include_secret);
    return buf_detach(&out, NULL);
}

static int set(struct topic_config *c, const char *key, const char *value)
{
    char err[160];

    return topic_config_set(c, key, value, err, sizeof(err));
}

TestSuite(topic_config, .timeout = 10);

Test(topic_config, defaults_are_kafkas)
{
    struct topic_config c;

    memset(&c, 0x5a, sizeof(c));
    topic_config_defaults(&c);
    cr_assert(eq(i64, c.retention_ms, 604800000));
    cr_assert(eq(i64, c.retention_bytes, -1));
    cr_assert(eq(i64, c.segment_bytes, 1073741824));
    cr_assert(eq(i64, c.segment_ms, 604800000));
    cr_assert(eq(int, c.cleanup_policy, CLEANUP_DELETE));
    cr_assert(eq(int, c.flush_policy, FLUSH_ALWAYS));
    cr_assert(eq(i64, c.flush_ms, 1000));
    cr_assert(eq(i64, c.max_message_bytes, 1048576));
    cr_assert(eq(i64, c.delete_retention_ms, 86400000));
    cr_assert(eq(str, c.webhook_secret, ""));
}

Test(topic_config, defaults_serialise_in_fixed_order_without_secret)
{
    struct topic_config c;
    char *a, *b;

    topic_config_defaults(&c);
    a = to_json(&c, false);
    b = to_json(&c, true); /* no secret set: nothing to include */
    cr_assert(eq(str, a, DEFAULT_JSON));
    cr_assert(eq(str, b, DEFAULT_JSON));
    free(a);
    free(b);
}

Test(topic_config, keys_list_matches_json_order)
{
    static const char *const expected[] = {
        "retention.ms",        "retention.bytes", "segment.bytes", "segment.ms",
        "cleanup.policy",      "flush.policy",    "flush.ms",      "max.message.bytes",
        "delete.retention.ms", "webhook.secret",
    };
    struct topic_config c;
    const char *at;
    char *json;
    size_t i;

    topic_config_defaults(&c);
    cr_assert(eq(int, set(&c, "webhook.secret", "s"), 0));
    json = to_json(&c, true);
    at = json;
    for (i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
        char quoted[64];

        cr_assert(ne(ptr, (void *)topic_config_keys[i], NULL));
        cr_assert(eq(str, (char *)topic_config_keys[i], (char *)expected[i]));
        snprintf(quoted, sizeof(quoted), "\"%s\":", expected[i]);
        at = strstr(at, quoted);
        cr_assert(ne(ptr, (void *)at, NULL), "key %s out of order in %s", expected[i],
                  json);
    }
    cr_assert(eq(ptr, (void *)topic_config_keys[i], NULL));
    free(json);
}

Test(topic_config, every_key_set_reads_back_through_json)
{
    struct topic_config c;
    char *json;

    topic_config_defaults(&c);
    cr_assert(eq(int, set(&c, "retention.ms", "-1"), 0));
    cr_assert(eq(int, set(&c, "retention.bytes", "9223372036854775807"), 0));
    cr_assert(eq(int, set(&c, "segment.bytes", "1024"), 0));
    cr_assert(eq(int, set(&c, "segment.ms", "1"), 0));
    cr_assert(eq(int, set(&c, "cleanup.policy", "compact"), 0));
    cr_assert(eq(int, set(&c, "flush.policy", "interval"), 0));
    cr_assert(eq(int, set(&c, "flush.ms", "250"), 0));
    cr_assert(eq(int, set(&c, "max.message.bytes", "2147483647"), 0));
    cr_assert(eq(int, set(&c, "delete.retention.ms", "0"), 0));
    cr_assert(eq(int, set(&c, "webhook.secret", "q\"uo\\te"), 0));

    cr_assert(eq(i64, c.retention_ms, -1));
    cr_assert(eq(i64, c.retention_bytes, INT64_MAX));
    cr_assert(eq(i64, c.segment_bytes, 1024));
    cr_assert(eq(i64, c.segment_ms, 1));
    cr_assert(eq(int, c.cleanup_policy, CLEANUP_COMPACT));
    cr_assert(eq(int, c.flush_policy, FLUSH_INTERVAL));
    cr_assert(eq(i64, c.flush_ms, 250));
    cr_assert(eq(i64, c.max_message_bytes, INT32_MAX));
    cr_assert(eq(i64, c.delete_retention_ms, 0));
    cr_assert(eq(str, c.webhook_secret, "q\"uo\\te"));

    json = to_json(&c, true);
    cr_assert(eq(str, json,
                 "{\"retention.ms\":-1,\"retention.bytes\":9223372036854775807,"
                 "\"segment.bytes\":1024,\"segment.ms\":1,\"cleanup.policy\":\"compact\","
                 "\"flush.policy\":\"interval\",\"flush.ms\":250,"
                 "\"max.message.bytes\":2147483647,\"delete.retention.ms\":0,"
                 "\"webhook.secret\":\"q\\\"uo\\\\te\"}"));
    free(json);
}

Test(topic_config, secret_is_never_written_without_include_secret)
{
    struct topic_config c;
    char *json;

    topic_config_defaults(&c);
    cr_assert(eq(int, set(&c, "webhook.secret", "hunter2-very-secret"), 0));
    json = to_json(&c, false);
    cr_assert(eq(str, json, DEFAULT_JSON));
    cr_assert(eq(ptr, strstr(json, "hunter2"), NULL));
    cr_assert(eq(ptr, strstr(json, "webhook"), NULL));
    free(json);
}

Test(topic_config, empty_secret_removes_it)
{
    struct topic_config c;

    topic_config_defaults(&c);
    cr_assert(eq(int, set(&c, "webhook.secret", "abc"), 0));
    cr_assert(eq(int, set(&c, "webhook.secret", ""), 0));
    cr_assert(eq(str, c.webhook_secret, ""));
}

Test(topic_config, secret_of_128_printable_characters_is_accepted)
{
    struct topic_config c;
    char s[129];
    int i;

    for (i = 0; i < 128; i++)
        s[i] = (char)(0x20 + i % 95); /* every printable ASCII character, space to '~' */
    s[128] = '\0';
    topic_config_defaults(&c);
    cr_assert(eq(int, set(&c, "webhook.secret", s), 0));
    cr_assert(eq(str, c.webhook_secret, s));
}

Test(topic_config, numbers_accept_range_edges)
{
    struct topic_config c;

    topic_config_defaults(&c);
    cr_assert(eq(int, set(&c, "retention.ms", "0"), 0));
    cr_assert(eq(i64, c.retention_ms, 0));
    cr_assert(eq(int, set(&c, "retention.ms", "9223372036854775807"), 0));
    cr_assert(eq(i64, c.retention_ms, INT64_MAX));
    cr_assert(eq(int, set(&c, "segment.bytes", "2147483647"), 0));
    cr_assert(eq(i64, c.segment_bytes, INT32_MAX));
    cr_assert(eq(int, set(&c, "max.message.bytes", "1"), 0));
    cr_assert(eq(i64, c.max_message_bytes, 1));
    cr_assert(eq(int, set(&c, "flush.ms", "1"), 0));
    cr_assert(eq(i64, c.flush_ms, 1));
    cr_assert(eq(int, set(&c, "segment.ms", "9223372036854775807"), 0));
    cr_assert(eq(i64, c.segment_ms, INT64_MAX));
}

Test(topic_config, error_names_the_key_and_range)
{
    struct topic_config c;
    char err[160] = "";

    topic_config_defaults(&c);
    cr_assert(eq(int, topic_config_set(&c, "segment.bytes", "1023", err, sizeof(err)),
                 -EINVAL));
    cr_assert(eq(str, err,
                 "config 'segment.bytes' must be an integer from 1024 to 2147483647"));
    cr_assert(
        eq(int, topic_config_set(&c, "cleanup.policy", "x", err, sizeof(err)), -EINVAL));
    cr_assert(ne(ptr, strstr(err, "cleanup.policy"), NULL));
    cr_assert(ne(ptr, strstr(err, "compact"), NULL));
}

Test(topic_config, error_buffer_is_optional_and_truncated)
{
    struct topic_config c;
    char err[8];

    topic_config_defaults(&c);
    cr_assert(eq(int, topic_config_set(&c, "segment.bytes", "1", NULL, 0), -EINVAL));
    cr_assert(eq(int, topic_config_set(&c, "nope", "1", NULL, 0), -ENOENT));
    cr_assert(
        eq(int, topic_config_set(&c, "segment.bytes", "1", err, sizeof(err)), -EINVAL));
    cr_assert(eq(sz, strlen(err), sizeof(err) - 1));
}

Test(topic_config, unknown_key_is_enoent_and_changes_nothing)
{
    static const char *const unknown[] = {"",
                                          "retention",
                                          "Retention.ms",
                                          "retention.ms ",
                                          "segment_bytes",
                                          "webhook.secret.x",
                                          "min.insync"};
    struct topic_config c, before;
    char err[160] = "";
    size_t i;

    topic_config_defaults(&c);
    memcpy(&before, &c, sizeof(c));
    for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        cr_assert(
            eq(int, topic_config_set(&c, unknown[i], "1", err, sizeof(err)), -ENOENT),
            "key '%s'", unknown[i]);
        cr_assert(eq(int, memcmp(&c, &before, sizeof(c)), 0));
    }
    cr_assert(ne(ptr, strstr(err, "unknown config"), NULL));
}

/* Inline arrays, not pointers: criterion hands parameters to a fresh process. */
struct bad_value {
    char key[32];
    char value[160];
};

static struct bad_value bad_values[] = {
/* every integer key: not a number, empty, fraction, exponent, overflow, '+', space */
#define BAD_INTS(k)                                                                      \
    {k, "abc"}, {k, ""}, {k, "1.5"}, {k, "1e3"}, {k, "99999999999999999999"}, {k, "+5"}, \
        {k, " 5"}, {k, "5 "}, {k, "0x10"}, {k, "-"}, {k, "--1"}, {k, "5a"},              \
        {k, "9223372036854775808"},                                                      \
    {                                                                                    \
        k, "-9223372036854775809"                                                        \
    }
    BAD_INTS("retention.ms"),
    BAD_INTS("retention.bytes"),
    BAD_INTS("segment.bytes"),
    BAD_INTS("segment.ms"),
    BAD_INTS("flush.ms"),
    BAD_INTS("max.message.bytes"),
    BAD_INTS("delete.retention.ms"),
    /* below the minimum, "-1" where it is not allowed, above the maximum */
    {"retention.ms", "-2"},
    {"retention.ms", "-9223372036854775808"},
    {"retention.bytes", "-2"},
    {"segment.bytes", "1023"},
    {"segment.bytes", "0"},
    {"segment.bytes", "-1"},
    {"segment.bytes", "2147483648"},
    {"segment.ms", "0"},
    {"segment.ms", "-1"},
    {"flush.ms", "0"},
    {"flush.ms", "-1"},
    {"max.message.bytes", "0"},
    {"max.message.bytes", "-1"},
    {"max.message.bytes", "2147483648"},
    {"delete.retention.ms", "-1"},
    /* policies: exact lowercase words only */
    {"cleanup.policy", ""},
    {"cleanup.policy", "Delete"},
    {"cleanup.policy", "compact,delete"},
    {"cleanup.policy", "delete "},
    {"cleanup.policy", "1"},
    {"cleanup.policy", "always"},
    {"flush.policy", ""},
    {"flush.policy", "ALWAYS"},
    {"flush.policy", "never"},
    {"flush.policy", "0"},
    {"flush.policy", "delete"},
    /* secret: printable ASCII, at most 128 */
    {"webhook.secret", "tab\there"},
    {"webhook.secret", "new\nline"},
    {"webhook.secret", "del\x7f"},
    {"webhook.secret", "caf\xc3\xa9"},
    {"webhook.secret", "\xff"},
    {"webhook.secret",
     "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
     "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdefX"},
};

ParameterizedTestParameters(topic_config, bad_value_is_einval_and_changes_nothing)
{
    return cr_make_param_array(struct bad_value, bad_values,
                               sizeof(bad_values) / sizeof(bad_values[0]));
}

ParameterizedTest(struct bad_value *p, topic_config,
                  bad_value_is_einval_and_changes_nothing)
{
    struct topic_config c, before;
    char err[160] = "";

    topic_config_defaults(&c);
    cr_assert(eq(int, set(&c, "webhook.secret", "keep"), 0));
    memcpy(&before, &c, sizeof(c));
    cr_assert(eq(int, topic_config_set(&c, p->key, p->value, err, sizeof(err)), -EINVAL),
              "%s = '%s'", p->key, p->value);
    cr_assert(eq(int, memcmp(&c, &before, sizeof(c)), 0), "%s = '%s'", p->key, p->value);
    cr_assert(ne(ptr, strstr(err, p->key), NULL), "reason '%s' names the key", err);
}

/* Topic names (API.md): 1-249 of [A-Za-z0-9._-], not "." or "..". */

TestSuite(topic_name, .timeout = 10);

static bool valid(const char *s)
{
    return topic_name_is_valid(s, strlen(s));
}

Test(topic_name, ordinary_names_are_valid)
{
    cr_assert(valid("orders"));
    cr_assert(valid("a"));
    cr_assert(valid("ABC-xyz_0.9"));
    cr_assert(valid("..."));
    cr_assert(valid(".hidden"));
    cr_assert(valid("-"));
    cr_assert(valid("__consumer_offsets"));
}

Test(topic_name, length_limit_is_249)
{
    char s[251];

    memset(s, 'a', sizeof(s) - 1);
    s[250] = '\0';
    cr_assert(topic_name_is_valid(s, 249));
    cr_assert(not(topic_name_is_valid(s, 250)));
    cr_assert(not(valid(s)));
}

Test(topic_name, unsafe_or_empty_names_are_invalid)
{
    static const char *const bad[] = {
        "",     ".",   "..",   "/",           "a/b",      "../etc", "a%2Fb",
        "%2F",  "a b", "a\\b", "caf\xc3\xa9", "\xc3\xa9", "a:b",    "a*",
        "a\"b", "\t",  "a\nb", "\xff",        "a+b",      "a?b",
    };
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert(not(valid(bad[i])), "'%s' should be invalid", bad[i]);
}

Test(topic_name, nul_inside_is_invalid)
{
    cr_assert(not(topic_name_is_valid("ab\0cd", 5)));
    cr_assert(not(topic_name_is_valid("\0", 1)));
    cr_assert(topic_name_is_valid("ab\0cd", 2));
}

Test(topic_name, double_underscore_is_internal)
{
    cr_assert(topic_name_is_internal("__consumer_offsets"));
    cr_assert(topic_name_is_internal("__"));
    cr_assert(valid("__consumer_offsets"));
    cr_assert(not(topic_name_is_internal("_orders")));
    cr_assert(not(topic_name_is_internal("orders__")));
    cr_assert(not(topic_name_is_internal("")));
}
