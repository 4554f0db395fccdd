/* tests/storage/test_topic_meta.c: tests for storage/topic_meta.c */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "storage/topic_meta.h"
#include "tests/support/tmpdir.h"

#define VALID_JSON                                                                       \
    "{\"name\":\"orders\",\"partitions\":3,\"created_ms\":1764000000000,\"config\":{"    \
    "\"retention.ms\":-1,\"retention.bytes\":1000000,\"segment.bytes\":4096,"            \
    "\"segment.ms\":60000,\"cleanup.policy\":\"compact\",\"flush.policy\":\"interval\"," \
    "\"flush.ms\":5,\"max.message.bytes\":2048,\"delete.retention.ms\":0,"               \
    "\"webhook.secret\":\"a\\\"b\\\\c\"}}"

static char dir[64];

static void setup(void)
{
    cr_assert(eq(int, tmpdir_make(dir, sizeof(dir)), 0));
}

static void teardown(void)
{
    tmpdir_remove(dir);
}

TestSuite(topic_meta, .init = setup, .fini = teardown, .timeout = 30);

/* Parses a heap copy of exactly len bytes, so ASan sees any read past the end. */
static int parse_exact(const char *text, size_t len, struct topic_meta *m)
{
    char *copy = malloc(len ? len : 1);
    int ret;

    cr_assert(ne(ptr, copy, NULL));
    memcpy(copy, text, len);
    ret = topic_meta_parse(copy, len, m);
    free(copy);
    return ret;
}

static int parse(const char *text, struct topic_meta *m)
{
    return parse_exact(text, strlen(text), m);
}


static void sample(struct topic_meta *m)
{
    memset(m, 0, sizeof(*m));
    strcpy(m->name, "orders");
    m->partitions = 3;
    m->created_ms = 1764000000000;
    strcpy(m->id, "0123456789abcdef0123456789abcdef");
    topic_config_defaults(&m->config);
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *text = calloc(1, 1 << 17);
    size_t n;

    cr_assert(ne(ptr, f, NULL), "open %s", path);
    n = fread(text, 1, (1 << 17) - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

static void write_text(const char *name, const char *text, size_t len)
{
    char path[128];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "wb");
    cr_assert(ne(ptr, f, NULL));
    cr_assert(eq(sz, fwrite(text, 1, len, f), len));
    fclose(f);
}

static bool exists(const char *name)
{
    char path[128];
    struct stat st;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

/* Round trips through the file. */

Test(topic_meta, defaults_round_trip_through_the_file)
{
    struct topic_meta m, back;

    sample(&m);
    cr_assert(eq(int, topic_meta_write(dir, &m), 0));
    cr_assert(eq(int, topic_meta_read(dir, &back), 0));
    cr_assert(topic_meta_equal(&m, &back));
    cr_assert(not(exists("topic.json.tmp")));
}

Test(topic_meta, file_is_one_json_line_in_key_order)
{
    struct topic_meta m;
    char path[128];
    char *text;

    sample(&m);
    cr_assert(eq(int, topic_config_set(&m.config, "webhook.secret", "s", NULL, 0), 0));
    cr_assert(eq(int, topic_meta_write(dir, &m), 0));
    snprintf(path, sizeof(path), "%s/topic.json", dir);
    text = read_text(path);
    cr_assert(eq(str, text,
                 "{\"name\":\"orders\",\"id\":\"0123456789abcdef0123456789abcdef\","
                 "\"partitions\":3,\"created_ms\":1764000000000,"
                 "\"config\":{\"retention.ms\":604800000,\"retention.bytes\":-1,"
                 "\"segment.bytes\":1073741824,\"segment.ms\":604800000,"
                 "\"cleanup.policy\":\"delete\",\"flush.policy\":\"always\","
                 "\"flush.ms\":1000,\"max.message.bytes\":1048576,"
                 "\"delete.retention.ms\":86400000,\"webhook.secret\":\"s\"}}\n"));
    free(text);
}

Test(topic_meta, every_field_round_trips_including_quotes_and_backslashes_in_secret)
{
    static const char *const secrets[] = {
        "a\"b\\c",
        "\\",
        "\"",
        "\\\"\\\"",
        "\\u0041 not an escape",
        "/*{}[]:,*/",
        " leading and trailing ",
        "~!@#$%^&*()_+`-={}|[]\\:\";'<>?,./",
    };
    struct topic_meta m, back;
    size_t i;

    for (i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
        sample(&m);
        strcpy(m.name, "__consumer_offsets");
        m.partitions = 10000;
        m.created_ms = INT64_MAX;
        m.config.retention_ms = -1;
        m.config.retention_bytes = INT64_MAX;
        m.config.segment_bytes = 1024;
        m.config.segment_ms = 1;
        m.config.cleanup_policy = CLEANUP_COMPACT;
        m.config.flush_policy = FLUSH_INTERVAL;
        m.config.flush_ms = 7;
        m.config.max_message_bytes = INT32_MAX;
        m.config.delete_retention_ms = 0;
        cr_assert(eq(
            int, topic_config_set(&m.config, "webhook.secret", secrets[i], NULL, 0), 0));
        cr_assert(eq(int, topic_meta_write(dir, &m), 0), "secret %s", secrets[i]);
        memset(&back, 0x5a, sizeof(back));
        cr_assert(eq(int, topic_meta_read(dir, &back), 0), "secret %s", secrets[i]);
        cr_assert(topic_meta_equal(&m, &back), "secret %s", secrets[i]);
        cr_assert(eq(str, back.config.webhook_secret, (char *)secrets[i]));
    }
}

Test(topic_meta, rewrite_replaces_the_file)
{
    struct topic_meta m, back;

    sample(&m);
    cr_assert(eq(int, topic_meta_write(dir, &m), 0));
    m.partitions = 12;
    m.config.cleanup_policy = CLEANUP_COMPACT;
    cr_assert(eq(int, topic_meta_write(dir, &m), 0));
    cr_assert(eq(int, topic_meta_read(dir, &back), 0));
    cr_assert(eq(i32, back.partitions, 12));
    cr_assert(eq(int, back.config.cleanup_policy, CLEANUP_COMPACT));
}

/* The file holds the webhook secret: owner-only, like admin.token, and a file left
 * 0644 by an older rill (or a stale 0644 topic.json.tmp) is tightened by the next
 * rewrite. */
Test(topic_meta, file_is_0600_and_a_0644_one_becomes_0600_when_rewritten)
{
    struct topic_meta m;
    char path[128], tmp[128];
    struct stat st;

    snprintf(path, sizeof(path), "%s/topic.json", dir);
    snprintf(tmp, sizeof(tmp), "%s/topic.json.tmp", dir);
    sample(&m);
    cr_assert(eq(int, topic_meta_write(dir, &m), 0));
    cr_assert(eq(int, stat(path, &st), 0));
    cr_assert(eq(u32, (unsigned)(st.st_mode & 07777), 0600u));
    cr_assert(eq(int, chmod(path, 0644), 0));
    write_text("topic.json.tmp", "x", 1);
    cr_assert(eq(int, chmod(tmp, 0644), 0));
    m.partitions = 4;
    cr_assert(eq(int, topic_meta_write(dir, &m), 0));
    cr_assert(eq(int, stat(path, &st), 0));
    cr_assert(eq(u32, (unsigned)(st.st_mode & 07777), 0600u));
    cr_assert(not(exists("topic.json.tmp")));
}

Test(topic_meta, missing_file_is_enoent)
{
    struct topic_meta m;

    cr_assert(eq(int, topic_meta_read(dir, &m), -ENOENT));
}

Test(topic_meta, file_over_64_kib_is_ebadmsg_and_64_kib_is_fine)
{
    size_t len = strlen(VALID_JSON);
    size_t size = TOPIC_META_MAX_BYTES;
    char *text = malloc(size + 1);
    struct topic_meta m;

    memset(text, ' ', size + 1);
    memcpy(text, VALID_JSON, len); /* then whitespace up to exactly 64 KiB */
    write_text("topic.json", text, size);
    cr_assert(eq(int, topic_meta_read(dir, &m), 0));
    write_text("topic.json", text, size + 1);
    cr_assert(eq(int, topic_meta_read(dir, &m), -EBADMSG));
    free(text);
}

Test(topic_meta, garbage_file_is_ebadmsg)
{
    struct topic_meta m;

    write_text("topic.json", "not json", 8);
    cr_assert(eq(int, topic_meta_read(dir, &m), -EBADMSG));
    write_text("topic.json", "", 0);
    cr_assert(eq(int, topic_meta_read(dir, &m), -EBADMSG));
}

Test(topic_meta, write_refuses_what_would_not_read_back)
{
    struct topic_meta m;

    sample(&m);
    strcpy(m.name, "a/b");
    cr_assert(eq(int, topic_meta_write(dir, &m), -EINVAL));
    strcpy(m.name, "..");
    cr_assert(eq(int, topic_meta_write(dir, &m), -EINVAL));
    m.name[0] = '\0';
    cr_assert(eq(int, topic_meta_write(dir, &m), -EINVAL));
    memset(m.name, 'a', sizeof(m.name)); /* no NUL at all */
    cr_assert(eq(int, topic_meta_write(dir, &m), -EINVAL));

    sample(&m);
    m.partitions = 0;
    cr_assert(eq(int, topic_meta_write(dir, &m), -EINVAL));
    m.partitions = 10001;
    cr_assert(eq(int, topic_meta_write(dir, &m), -EINVAL));

    sample(&m);
    m.created_ms = -1;
    cr_assert(eq(int, topic_meta_write(dir, &m), -EINVAL));

    sample(&m);
    m.config.segment_bytes = 5;
    cr_assert(eq(int, topic_meta_write(dir, &m), -EINVAL));

    sample(&m);
    strcpy(m.config.webhook_secret, "new\nline");
    cr_assert(eq(int, topic_meta_write(dir, &m), -EINVAL));

    cr_assert(not(exists("topic.json")));
    cr_assert(not(exists("topic.json.tmp")));
}

/* The parser on hand-written input. */

Test(topic_meta, parse_accepts_whitespace_any_order_and_missing_config_keys)
{
    static const char text[] = " \r\n\t{ \"config\" : { \"segment.bytes\" : 2048 ,"
                               "\"flush.policy\":\"interval\" } ,\n\"created_ms\": 0,"
                               "\t\"partitions\" :1 , \"name\" : \"t\" } \n\r\t ";
    struct topic_meta m;
    struct topic_config def;

    cr_assert(eq(int, parse(text, &m), 0));
    cr_assert(eq(str, m.name, "t"));
    cr_assert(eq(i32, m.partitions, 1));
    cr_assert(eq(i64, m.created_ms, 0));
    cr_assert(eq(i64, m.config.segment_bytes, 2048));
    cr_assert(eq(int, m.config.flush_policy, FLUSH_INTERVAL));
    topic_config_defaults(&def);
    def.segment_bytes = 2048;
    def.flush_policy = FLUSH_INTERVAL;
    cr_assert(topic_config_equal(&m.config, &def));
}

Test(topic_meta, parse_without_config_gives_defaults)
{
    struct topic_meta m;
    struct topic_config def;

    cr_assert(
        eq(int, parse("{\"name\":\"x\",\"partitions\":2,\"created_ms\":5}", &m), 0));
    topic_config_defaults(&def);
    cr_assert(topic_config_equal(&m.config, &def));
    cr_assert(eq(int,
                 parse("{\"name\":\"x\",\"partitions\":2,\"created_ms\":5,"
                       "\"config\":{}}",
                       &m),
                 0));
    cr_assert(topic_config_equal(&m.config, &def));
}

Test(topic_meta, parse_accepts_numbers_as_strings_in_config)
{
    struct topic_meta m;

    cr_assert(eq(int,
                 parse("{\"name\":\"x\",\"partitions\":2,\"created_ms\":5,"
                       "\"config\":{\"retention.ms\":\"-1\"}}",
                       &m),
                 0));
    cr_assert(eq(i64, m.config.retention_ms, -1));
}

Test(topic_meta, parse_decodes_escapes_in_strings)
{
    struct topic_meta m;

    cr_assert(eq(int,
                 parse("{\"n\\u0061me\":\"or\\u0064ers\",\"partitions\":1,"
                       "\"created_ms\":-0,\"config\":{\"webhook.secret\":"
                       "\"\\u0041\\u005c\\u0022\\/\\\"\\\\x\\u007e\"}}",
                       &m),
                 0));
    cr_assert(eq(str, m.name, "orders"));
    cr_assert(eq(i64, m.created_ms, 0));
    cr_assert(eq(str, m.config.webhook_secret, "A\\\"/\"\\x~"));
}

Test(topic_meta, parse_rejects_non_ascii_secret_even_when_well_escaped)
{
    /* webhook.secret is printable ASCII only: a correctly decoded \u00e9 or surrogate
     * pair is still refused (decoding itself is tested on topic_meta_parse_string). */
    struct topic_meta m;

    cr_assert(eq(int,
                 parse("{\"name\":\"x\",\"partitions\":1,\"created_ms\":1,"
                       "\"config\":{\"webhook.secret\":\"caf\\u00e9\"}}",
                       &m),
                 -EBADMSG));
    cr_assert(eq(int,
                 parse("{\"name\":\"x\",\"partitions\":1,\"created_ms\":1,"
                       "\"config\":{\"webhook.secret\":\"\\ud83d\\ude00\"}}",
                       &m),
                 -EBADMSG));
    cr_assert(eq(int,
                 parse("{\"name\":\"x\",\"partitions\":1,\"created_ms\":1,"
                       "\"config\":{\"webhook.secret\":\"caf\xc3\xa9\"}}",
                       &m),
                 -EBADMSG));
}

Test(topic_meta, parse_accepts_int64_edges)
{
    struct topic_meta m;

    cr_assert(eq(int,
                 parse("{\"name\":\"x\",\"partitions\":10000,"
                       "\"created_ms\":9223372036854775807,"
                       "\"config\":{\"retention.bytes\":9223372036854775807}}",
                       &m),
                 0));
    cr_assert(eq(i64, m.created_ms, INT64_MAX));
    cr_assert(eq(i32, m.partitions, 10000));
    cr_assert(eq(i64, m.config.retention_bytes, INT64_MAX));
}

Test(topic_meta, every_truncation_of_a_valid_file_is_rejected)
{
    size_t len = strlen(VALID_JSON);
    struct topic_meta m, before;
    size_t n;

    cr_assert(eq(int, parse(VALID_JSON, &m), 0));
    memcpy(&before, &m, sizeof(m));
    for (n = 0; n < len; n++) {
        cr_assert(eq(int, parse_exact(VALID_JSON, n, &m), -EBADMSG), "prefix of %zu", n);
        cr_assert(eq(int, memcmp(&m, &before, sizeof(m)), 0), "m changed at %zu", n);
    }
}

Test(topic_meta, whatever_parses_after_a_byte_deletion_round_trips)
{
    /* Deleting one byte mostly breaks the file; where it does not (a shorter number or
     * secret), the result must serialise and parse back to the same metadata. */
    static const char valid[] = VALID_JSON;
    size_t len = strlen(valid);
    char *text = malloc(len);
    struct topic_meta m, back;
    size_t i, ok = 0;

    for (i = 0; i < len; i++) {
        struct buf out = BUF_INIT;

        memcpy(text, valid, i);
        memcpy(text + i, valid + i + 1, len - i - 1);
        if (parse_exact(text, len - 1, &m))
            continue;
        ok++;
        topic_meta_to_json(&m, &out);
        cr_assert(eq(int, parse_exact(out.data, out.len, &back), 0), "%s", out.data);
        cr_assert(topic_meta_equal(&m, &back), "deletion at %zu", i);
        buf_release(&out);
    }
    cr_assert(ge(sz, ok, (0) + 1));
    cr_assert(lt(sz, ok, len / 2));
    free(text);
}

struct bad_doc {
    char what[48];
    char text[400];
};

#define NPC "\"name\":\"x\",\"partitions\":1,\"created_ms\":1"
#define WITH_CONFIG(c) "{" NPC ",\"config\":{" c "}}"

static struct bad_doc bad_docs[] = {
    /* not JSON, or not an object */
    {"empty", ""},
    {"whitespace", "  \n"},
    {"null", "null"},
    {"number", "1"},
    {"string", "\"name\""},
    {"array", "[{" NPC "}]"},
    {"open brace", "{"},
    {"close brace", "}"},
    {"bom", "\xef\xbb\xbf{" NPC "}"},
    {"single quotes", "{'name':'x','partitions':1,'created_ms':1}"},
    {"bare key", "{name:\"x\",\"partitions\":1,\"created_ms\":1}"},
    {"missing colon", "{\"name\" \"x\",\"partitions\":1,\"created_ms\":1}"},
    {"missing comma", "{\"name\":\"x\" \"partitions\":1,\"created_ms\":1}"},
    {"double comma", "{\"name\":\"x\",,\"partitions\":1,\"created_ms\":1}"},
    {"trailing comma", "{" NPC ",}"},
    {"leading comma", "{," NPC "}"},
    {"trailing comma in config", WITH_CONFIG("\"flush.ms\":5,")},
    {"comment", "{" NPC " /* c */}"},
    {"unclosed config", "{" NPC ",\"config\":{\"flush.ms\":5}"},
    {"bracket mismatch", "{" NPC ",\"config\":{\"flush.ms\":5]}"},
    /* bytes after the end */
    {"garbage after", "{" NPC "}x"},
    {"second object", "{" NPC "}{}"},
    {"comma after", "{" NPC "},"},
    {"nul after", "{" NPC "}\0"},
    /* required keys */
    {"empty object", "{}"},
    {"no name", "{\"partitions\":1,\"created_ms\":1}"},
    {"no partitions", "{\"name\":\"x\",\"created_ms\":1}"},
    {"no created_ms", "{\"name\":\"x\",\"partitions\":1}"},
    /* unknown and duplicate keys */
    {"unknown top key", "{" NPC ",\"extra\":1}"},
    {"unknown config key", WITH_CONFIG("\"min.insync.replicas\":1")},
    {"key with nul", "{" NPC ",\"name\\u0000\":\"y\"}"},
    {"config key with nul", WITH_CONFIG("\"flush.ms\\u0000\":5")},
    {"duplicate name", "{" NPC ",\"name\":\"y\"}"},
    {"duplicate escaped", "{" NPC ",\"n\\u0061me\":\"x\"}"},
    {"duplicate partitions", "{" NPC ",\"partitions\":1}"},
    {"duplicate config", "{" NPC ",\"config\":{},\"config\":{}}"},
    {"duplicate config key", WITH_CONFIG("\"flush.ms\":5,\"flush.ms\":5")},
    {"duplicate secret",
     WITH_CONFIG("\"webhook.secret\":\"a\",\"webhook.secret\":\"a\"")},
    /* wrong types */
    {"name number", "{\"name\":5,\"partitions\":1,\"created_ms\":1}"},
    {"name null", "{\"name\":null,\"partitions\":1,\"created_ms\":1}"},
    {"name array", "{\"name\":[\"x\"],\"partitions\":1,\"created_ms\":1}"},
    {"partitions string", "{\"name\":\"x\",\"partitions\":\"1\",\"created_ms\":1}"},
    {"partitions bool", "{\"name\":\"x\",\"partitions\":true,\"created_ms\":1}"},
    {"partitions null", "{\"name\":\"x\",\"partitions\":null,\"created_ms\":1}"},
    {"created string", "{\"name\":\"x\",\"partitions\":1,\"created_ms\":\"1\"}"},
    {"config array", "{" NPC ",\"config\":[]}"},
    {"config string", "{" NPC ",\"config\":\"x\"}"},
    {"config null", "{" NPC ",\"config\":null}"},
    {"config value true", WITH_CONFIG("\"flush.ms\":true")},
    {"config value null", WITH_CONFIG("\"webhook.secret\":null")},
    {"config value array", WITH_CONFIG("\"flush.ms\":[5]")},
    {"config value object", WITH_CONFIG("\"flush.ms\":{}")},
    {"policy as number", WITH_CONFIG("\"cleanup.policy\":0")},
    /* nesting */
    {"nested object", WITH_CONFIG("\"flush.ms\":{\"a\":{\"b\":{\"c\":1}}}")},
    {"deep arrays",
     "{\"name\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]"
     "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}"},
    {"deep objects", "{\"config\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{}}}}}}}}"},
    /* numbers */
    {"fraction", "{\"name\":\"x\",\"partitions\":1.0,\"created_ms\":1}"},
    {"fraction 1.5", "{\"name\":\"x\",\"partitions\":1.5,\"created_ms\":1}"},
    {"exponent", "{\"name\":\"x\",\"partitions\":1e3,\"created_ms\":1}"},
    {"exponent E", "{\"name\":\"x\",\"partitions\":1E3,\"created_ms\":1}"},
    {"leading zero", "{\"name\":\"x\",\"partitions\":01,\"created_ms\":1}"},
    {"negative leading zero", "{\"name\":\"x\",\"partitions\":1,\"created_ms\":-01}"},
    {"plus sign", "{\"name\":\"x\",\"partitions\":+1,\"created_ms\":1}"},
    {"hex", "{\"name\":\"x\",\"partitions\":0x1,\"created_ms\":1}"},
    {"dot first", "{\"name\":\"x\",\"partitions\":.5,\"created_ms\":1}"},
    {"dot last", "{\"name\":\"x\",\"partitions\":1.,\"created_ms\":1}"},
    {"bare minus", "{\"name\":\"x\",\"partitions\":-,\"created_ms\":1}"},
    {"double minus", "{\"name\":\"x\",\"partitions\":--1,\"created_ms\":1}"},
    {"nan", "{\"name\":\"x\",\"partitions\":NaN,\"created_ms\":1}"},
    {"infinity", "{\"name\":\"x\",\"partitions\":Infinity,\"created_ms\":1}"},
    {"huge partitions",
     "{\"name\":\"x\",\"partitions\":99999999999999999999,\"created_ms\":1}"},
    {"int64 max+1",
     "{\"name\":\"x\",\"partitions\":1,\"created_ms\":9223372036854775808}"},
    {"int64 min-1",
     "{\"name\":\"x\",\"partitions\":1,\"created_ms\":-9223372036854775809}"},
    {"huge config", WITH_CONFIG("\"retention.ms\":99999999999999999999")},
    {"config fraction", WITH_CONFIG("\"flush.ms\":1.5")},
    {"config exponent", WITH_CONFIG("\"flush.ms\":1e3")},
    {"config string fraction", WITH_CONFIG("\"flush.ms\":\"1.5\"")},
    /* values out of range */
    {"partitions 0", "{\"name\":\"x\",\"partitions\":0,\"created_ms\":1}"},
    {"partitions -1", "{\"name\":\"x\",\"partitions\":-1,\"created_ms\":1}"},
    {"partitions 10001", "{\"name\":\"x\",\"partitions\":10001,\"created_ms\":1}"},
    {"partitions 2^32+1", "{\"name\":\"x\",\"partitions\":4294967297,\"created_ms\":1}"},
    {"created negative", "{\"name\":\"x\",\"partitions\":1,\"created_ms\":-1}"},
    {"segment.bytes small", WITH_CONFIG("\"segment.bytes\":1023")},
    {"segment.ms -1", WITH_CONFIG("\"segment.ms\":-1")},
    {"bad policy", WITH_CONFIG("\"cleanup.policy\":\"Compact\"")},
    {"secret control", WITH_CONFIG("\"webhook.secret\":\"a\\nb\"")},
    {"secret nul", WITH_CONFIG("\"webhook.secret\":\"a\\u0000b\"")},
    /* names */
    {"name empty", "{\"name\":\"\",\"partitions\":1,\"created_ms\":1}"},
    {"name dot", "{\"name\":\".\",\"partitions\":1,\"created_ms\":1}"},
    {"name dotdot", "{\"name\":\"..\",\"partitions\":1,\"created_ms\":1}"},
    {"name slash", "{\"name\":\"a/b\",\"partitions\":1,\"created_ms\":1}"},
    {"name escaped slash", "{\"name\":\"a\\/b\",\"partitions\":1,\"created_ms\":1}"},
    {"name nul", "{\"name\":\"a\\u0000b\",\"partitions\":1,\"created_ms\":1}"},
    {"name unicode", "{\"name\":\"caf\\u00e9\",\"partitions\":1,\"created_ms\":1}"},
    {"name 250",
     "{\"name\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"partitions\":1,\"created_ms\":1}"},
    /* strings */
    {"unterminated", "{\"name\":\"x,\"partitions\":1,\"created_ms\":1}"},
    {"raw newline", "{\"name\":\"x\ny\",\"partitions\":1,\"created_ms\":1}"},
    {"raw tab", WITH_CONFIG("\"webhook.secret\":\"a\tb\"")},
    {"bad escape", WITH_CONFIG("\"webhook.secret\":\"a\\xb\"")},
    {"escape at end", "{\"name\":\"x\\"},
    {"short \\u", WITH_CONFIG("\"webhook.secret\":\"\\u12\"")},
    {"bad hex", WITH_CONFIG("\"webhook.secret\":\"\\u12g4\"")},
    {"lone high surrogate", WITH_CONFIG("\"webhook.secret\":\"\\ud83dx\"")},
    {"lone low surrogate", WITH_CONFIG("\"webhook.secret\":\"\\ude00\"")},
    {"invalid utf-8", WITH_CONFIG("\"webhook.secret\":\"\xc3\"")},
    {"invalid utf-8 in key", "{" NPC ",\"\xff\":1}"},
};

ParameterizedTestParameters(topic_meta, malformed_document_is_ebadmsg)
{
    return cr_make_param_array(struct bad_doc, bad_docs,
                               sizeof(bad_docs) / sizeof(bad_docs[0]));
}

ParameterizedTest(struct bad_doc *p, topic_meta, malformed_document_is_ebadmsg)
{
    size_t len = strlen(p->text);
    struct topic_meta m, before;

    if (!strcmp(p->what, "nul after"))
        len++; /* the NUL itself is the trailing byte */
    sample(&m);
    memcpy(&before, &m, sizeof(m));
    cr_assert(eq(int, parse_exact(p->text, len, &m), -EBADMSG), "%s: %s", p->what,
              p->text);
    cr_assert(eq(int, memcmp(&m, &before, sizeof(m)), 0), "%s changed m", p->what);
}

Test(topic_meta, very_deep_nesting_is_rejected_without_recursion)
{
    size_t n = 1000000;
    char *text = malloc(n);
    struct topic_meta m;

    memcpy(text, "{\"name\":", 8);
    memset(text + 8, '[', n - 8);
    cr_assert(eq(int, parse_exact(text, n, &m), -EBADMSG));
    memset(text, '{', n);
    cr_assert(eq(int, parse_exact(text, n, &m), -EBADMSG));
    free(text);
}

Test(topic_meta, bad_docs_share_a_valid_prefix)
{
    /* Guards the table above: the shared prefix itself is accepted. */
    struct topic_meta m;

    cr_assert(eq(int, parse("{" NPC "}", &m), 0));
    cr_assert(eq(int, parse(WITH_CONFIG("\"flush.ms\":5"), &m), 0));
    cr_assert(eq(int, parse(VALID_JSON, &m), 0));
    cr_assert(eq(str, m.config.webhook_secret, "a\"b\\c"));
}

/* The string reader. */

static int str_exact(const char *text, size_t len, char *out, size_t outsize,
                     size_t *outlen, size_t *used)
{
    char *copy = malloc(len ? len : 1);
    int ret;

    memcpy(copy, text, len);
    ret = topic_meta_parse_string(copy, len, used, out, outsize, outlen);
    free(copy);
    return ret;
}

static void expect_string(const char *json, const char *want, size_t want_len)
{
    char out[64];
    size_t outlen = 999, used = 999;

    cr_assert(eq(int, str_exact(json, strlen(json), out, sizeof(out), &outlen, &used), 0),
              "%s", json);
    cr_assert(eq(sz, used, strlen(json)), "%s", json);
    cr_assert(eq(sz, outlen, want_len), "%s", json);
    cr_assert(eq(int, memcmp(out, want, want_len), 0), "%s", json);
    cr_assert(eq(chr, out[outlen], '\0'));
}

static void expect_bad_string(const char *json, size_t len)
{
    char out[64];
    size_t outlen, used;

    cr_assert(eq(int, str_exact(json, len, out, sizeof(out), &outlen, &used), -EBADMSG),
              "%s", json);
}

#define GOOD(json, want) expect_string(json, want, sizeof(want) - 1)
#define BAD(json) expect_bad_string(json, sizeof(json) - 1)

Test(topic_meta, string_escapes_decode)
{
    GOOD("\"\"", "");
    GOOD("\"abc\"", "abc");
    GOOD("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t");
    GOOD("\"\\u0041\\u00e9\\u00E9\"", "A\xc3\xa9\xc3\xa9");
    GOOD("\"\\u07ff\\u0800\\u20ac\\uffff\"",
         "\xdf\xbf\xe0\xa0\x80\xe2\x82\xac\xef\xbf\xbf");
    GOOD("\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80"); /* U+1F600 */
    GOOD("\"\\uD800\\uDC00\"", "\xf0\x90\x80\x80"); /* U+10000 */
    GOOD("\"\\udbff\\udfff\"", "\xf4\x8f\xbf\xbf"); /* U+10FFFF */
    GOOD("\"\\u0000\"", "\0");
    GOOD("\"a\\u0000b\"", "a\0b");
    GOOD("\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \x7f\"",
         "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \x7f");
}

Test(topic_meta, string_reader_stops_at_the_closing_quote)
{
    char out[16];
    size_t outlen, used;

    cr_assert(eq(int, str_exact("\"ab\" , 1", 8, out, sizeof(out), &outlen, &used), 0));
    cr_assert(eq(sz, used, 4));
    cr_assert(eq(str, out, "ab"));
}

Test(topic_meta, string_errors_are_ebadmsg)
{
    BAD("");
    BAD("abc\"");
    BAD("\"abc");
    BAD("\"abc\\\"");
    BAD("\"\\");
    BAD("\"\\x\"");
    BAD("\"\\U0041\"");
    BAD("\"\\'\"");
    BAD("\"\\0\"");
    BAD("\"\\u\"");
    BAD("\"\\u12\"");
    BAD("\"\\u004");
    BAD("\"\\u00g1\"");
    BAD("\"\\ud83d\""); /* lone high surrogate */
    BAD("\"\\ud83dx\"");
    BAD("\"\\ud83d\\u0041\""); /* high then not a low */
    BAD("\"\\ud83d\\ud83d\"");
    BAD("\"\\ud83d\\n\"");
    BAD("\"\\ud83d\\ude0"); /* truncated low */
    BAD("\"\\ude00\"");     /* lone low surrogate */
    BAD("\"a\x01\"");       /* raw control characters */
    BAD("\"a\nb\"");
    BAD("\"a\tb\"");
    BAD("\"\x1f\"");
    BAD("\"\x80\"");     /* lone continuation byte */
    BAD("\"\xc0\xaf\""); /* overlong '/' */
    BAD("\"\xc1\xbf\"");
    BAD("\"\xe0\x80\xaf\"");     /* overlong, 3 bytes */
    BAD("\"\xf0\x80\x80\xaf\""); /* overlong, 4 bytes */
    BAD("\"\xed\xa0\x80\"");     /* UTF-8 encoded surrogate */
    BAD("\"\xf4\x90\x80\x80\""); /* above U+10FFFF */
    BAD("\"\xf5\x80\x80\x80\"");
    BAD("\"\xff\"");
    BAD("\"\xc3\""); /* truncated sequences */
    BAD("\"\xe2\x82\"");
    BAD("\"\xf0\x9f\x98\"");
    BAD("\"\xc3");
    BAD("\"\xe2\x82");
    BAD("\"\xc3\x41\""); /* not a continuation */
}

Test(topic_meta, string_longer_than_the_output_is_ebadmsg)
{
    char out[4];
    size_t outlen, used;

    cr_assert(eq(int, str_exact("\"abc\"", 5, out, sizeof(out), &outlen, &used), 0));
    cr_assert(
        eq(int, str_exact("\"abcd\"", 6, out, sizeof(out), &outlen, &used), -EBADMSG));
    cr_assert(eq(int, str_exact("\"a\\u00e9\"", 9, out, sizeof(out), &outlen, &used), 0));
    cr_assert(eq(int, str_exact("\"ab\\u00e9\"", 10, out, sizeof(out), &outlen, &used),
                 -EBADMSG));
    cr_assert(eq(int, str_exact("\"\"", 2, out, 0, &outlen, &used), -EBADMSG));
}

Test(topic_meta, every_truncation_of_a_string_is_rejected)
{
    static const char s[] = "\"a\\\"\\u00e9\\ud83d\\ude00\xe2\x82\xac\\n\"";
    size_t n;

    for (n = 0; n < sizeof(s) - 1; n++)
        expect_bad_string(s, n);
}

/* Topic ids. */

Test(topic_meta, an_id_is_32_lowercase_hex_digits)
{
    static const char *const bad[] = {
        "0123456789abcdef0123456789abcde",   /* 31 */
        "0123456789abcdef0123456789abcdef0", /* 33 */
        "0123456789ABCDEF0123456789abcdef",  /* upper case */
        "0123456789abcdef0123456789abcdeg",  /* not hex */
        "",
    };
    struct topic_meta m;
    char text[256];

    cr_assert(eq(int,
                 parse("{\"name\":\"x\",\"id\":\"00112233445566778899aabbccddeeff\","
                       "\"partitions\":1,\"created_ms\":5}",
                       &m),
                 0));
    cr_assert(eq(str, m.id, "00112233445566778899aabbccddeeff"));
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        snprintf(text, sizeof(text),
                 "{\"name\":\"x\",\"id\":\"%s\",\"partitions\":1,\"created_ms\":5}", bad[i]);
        cr_assert(eq(int, parse(text, &m), -EBADMSG), "%s", bad[i]);
    }
    cr_assert(eq(int, parse("{\"name\":\"x\",\"id\":7,\"partitions\":1,\"created_ms\":5}", &m),
                 -EBADMSG));
}

Test(topic_meta, a_file_without_an_id_reads_as_its_creation_time_in_hex)
{
    struct topic_meta m;

    cr_assert(eq(int, parse("{\"name\":\"x\",\"partitions\":1,\"created_ms\":255}", &m), 0));
    cr_assert(eq(str, m.id, "000000000000000000000000000000ff"));
}

Test(topic_meta, new_ids_are_valid_and_differ)
{
    struct topic_meta a, b, back;

    sample(&a);
    sample(&b);
    cr_assert(eq(int, topic_meta_new_id(&a), 0));
    cr_assert(eq(int, topic_meta_new_id(&b), 0));
    cr_assert(eq(sz, strlen(a.id), TOPIC_ID_LEN));
    cr_assert(ne(str, a.id, b.id));
    cr_assert(not(topic_meta_equal(&a, &b)));
    cr_assert(eq(int, topic_meta_write(dir, &a), 0));
    cr_assert(eq(int, topic_meta_read(dir, &back), 0));
    cr_assert(eq(str, back.id, a.id));
}
