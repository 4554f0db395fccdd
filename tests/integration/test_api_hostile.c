/* tests/integration/test_api_hostile.c: hostile and broken input against the real
 * binary ($RILL_BIN, built with ASan and UBSan). None of it may crash the server, leak
 * (each test ends by stopping the server: a sanitizer report makes its exit non-zero),
 * or write anything: after each attempt the partition offsets are checked unchanged. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/support/api_client.h"

#define NPART 3

static struct ac_server srv;
static int64_t baseline[NPART]; /* topic "h" offsets before the attack */

static void setup(void)
{
    const char *args[] = {"--log-level", "debug", NULL};

    ac_server_start(&srv, args);
}

static void setup_small_body(void)
{
    const char *args[] = {"--max-body-bytes", "65536", NULL};

    ac_server_start(&srv, args);
}

static void teardown(void) { ac_server_cleanup(&srv); }

TestSuite(api_hostile, .init = setup, .fini = teardown, .timeout = 180);
TestSuite(api_hostile_small_body, .init = setup_small_body, .fini = teardown,
          .timeout = 60);

/* Topic "h" with a record in each partition; notes the offsets. */
static void prepare(void)
{
    ac_create_topic(&srv, "h", NPART, NULL);
    json_decref(ac_produce(&srv, "h",
                           "{\"records\":[{\"partition\":0,\"value\":0},{\"partition\":1,"
                           "\"value\":1},{\"partition\":2,\"value\":2}]}"));
    ac_latest_all(&srv, "h", NPART, baseline);
}

/* The server still answers and "h" has not moved. */
static void expect_untouched(const char *what)
{
    ac_expect_healthy(&srv);
    ac_expect_latest(&srv, "h", NPART, baseline, what);
}

/* POSTs 'body' (len bytes) to /topics/h/messages as JSON; asserts a 4xx problem. */
static void expect_refused(const void *body, size_t len, const char *what)
{
    const char *h[] = {"Content-Type: application/json", NULL};
    struct http_response r;
    json_t *p;

    ac_req(&srv, "POST", "/topics/h/messages", h, body, len, &r);
    cr_assert(r.status >= 400 && r.status < 500, "%s: %ld %.300s", what, r.status,
              r.body);
    p = ac_expect_problem(&r, r.status, NULL);
    json_decref(p);
    http_response_release(&r);
}

static void expect_400(const char *body, const char *what)
{
    const char *h[] = {"Content-Type: application/json", NULL};
    struct http_response r;

    ac_req(&srv, "POST", "/topics/h/messages", h, body, strlen(body), &r);
    cr_assert(eq(long, r.status, 400), "%s: %ld %.300s", what, r.status, r.body);
    json_decref(ac_expect_problem(&r, 400, NULL));
    http_response_release(&r);
}

Test(api_hostile, malformed_json_is_400_and_writes_nothing)
{
    static const char *const bodies[] = {
        "{",
        "}",
        "{records:[{\"value\":1}]}",
        "{'records':[{'value':1}]}",
        "{\"records\":[{\"value\":1},]}",
        "{\"records\":[{\"value\":1}]} trailing",
        "{\"records\":[{\"value\":1}]}{\"records\":[]}",
        "{\"records\":[{\"value\":NaN}]}",
        "{\"records\":[{\"value\":Infinity}]}",
        "{\"records\":[{\"value\":01}]}",
        "{\"records\":[{\"value\":\"\\x41\"}]}",
        "{\"records\":[{\"value\":\"tab\there\"}]}",
        "{\"records\":[{\"value\":1,\"value\":2}]}",
        "{\"records\":[{\"value\":1}],\"records\":[{\"value\":2}]}",
        "{\"records\":[{\"headers\":{\"a\":\"1\",\"a\":\"2\"},\"value\":1}]}",
        "{\"records\":[{\"value\":tru}]}",
        "{\"records\":[{\"value\":\"unterminated}]}",
        "\"records\"",
        "null",
        "[]",
        "{\"records\":null}",
        "{\"records\":\"[]\"}",
        "{\"records\":[null]}",
        "{\"records\":[[]]}",
        "{\"records\":[\"value\"]}",
        "   ",
    };

    prepare();
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        expect_400(bodies[i], bodies[i]);
        expect_untouched(bodies[i]);
    }
    ac_server_stop_clean(&srv);
}

Test(api_hostile, every_truncation_of_a_valid_envelope_is_400_and_writes_nothing)
{
    const char *full =
        "{\"records\":[{\"key\":\"k\\u00e9\",\"value\":{\"a\":[1,2.5,\"x\"],\"b\":null},"
        "\"headers\":{\"h\":\"v\"},\"partition\":1,\"timestamp\":1764000000000},"
        "{\"key_base64\":\"AAE=\",\"value_base64\":\"AP8=\"},{\"value\":null}]}";
    size_t n = strlen(full);
    int64_t want[NPART];
    json_t *a;

    prepare();
    for (size_t len = 0; len < n; len++) {
        char what[32];

        snprintf(what, sizeof(what), "prefix of %zu bytes", len);
        {
            const char *h[] = {"Content-Type: application/json", NULL};
            struct http_response r;

            ac_req(&srv, "POST", "/topics/h/messages", h, full, len, &r);
            cr_assert(eq(long, r.status, 400), "%s: %ld %.300s", what, r.status, r.body);
            json_decref(ac_expect_problem(&r, 400, NULL));
            http_response_release(&r);
        }
    }
    ac_expect_latest(&srv, "h", NPART, baseline, "after every prefix");
    /* the whole of it is fine: three records */
    a = ac_produce(&srv, "h", full);
    cr_assert(eq(sz, json_array_size(json_object_get(a, "offsets")), 3));
    json_decref(a);
    ac_latest_all(&srv, "h", NPART, want);
    cr_assert(eq(i64, want[0] + want[1] + want[2],
                 baseline[0] + baseline[1] + baseline[2] + 3));
    ac_server_stop_clean(&srv);
}

Test(api_hostile, wrong_types_for_every_field_are_refused)
{
    static const char *const records[] = {
        "{\"key\":1,\"value\":1}",
        "{\"key\":true,\"value\":1}",
        "{\"key\":[],\"value\":1}",
        "{\"key\":{},\"value\":1}",
        "{\"key_base64\":1,\"value\":1}",
        "{\"key_base64\":{},\"value\":1}",
        "{\"key_base64\":null,\"value\":1}",
        "{\"value_base64\":1}",
        "{\"value_base64\":[]}",
        "{\"value_base64\":{}}",
        "{\"value_base64\":true}",
        "{\"headers\":\"h\"}",
        "{\"headers\":[]}",
        "{\"headers\":1}",
        "{\"headers\":{\"a\":1}}",
        "{\"headers\":{\"a\":null}}",
        "{\"headers\":{\"a\":{}}}",
        "{\"headers\":{\"a\":[\"x\"]}}",
        "{\"headers\":{\"a\":true}}",
        "{\"partition\":\"0\"}",
        "{\"partition\":1.5}",
        "{\"partition\":1.0}",
        "{\"partition\":true}",
        "{\"partition\":[]}",
        "{\"partition\":{}}",
        "{\"partition\":-1}",
        "{\"timestamp\":\"1\"}",
        "{\"timestamp\":1.5}",
        "{\"timestamp\":-1}",
        "{\"timestamp\":true}",
        "{\"timestamp\":[]}",
        "{\"timestamp\":{}}",
        "{\"Value\":1}",
        "{\"\":1}",
    };
    char body[256];

    prepare();
    for (size_t i = 0; i < sizeof(records) / sizeof(records[0]); i++) {
        snprintf(body, sizeof(body), "{\"records\":[{\"value\":\"fine\"},%s]}",
                 records[i]);
        expect_refused(body, strlen(body), records[i]);
        expect_untouched(records[i]);
    }
    ac_server_stop_clean(&srv);
}

Test(api_hostile, invalid_base64_is_400_and_writes_nothing)
{
    static const char *const bad[] = {
        "!!!!",  "A",    "AAAAA",   "AA=A",  "=AAA",  "AAA==",
        "AA===", "ab+_", "QUJD\\n", " QUJD", "QUJD ", "Q-J+",
    };
    char body[256];

    prepare();
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(body, sizeof(body),
                 "{\"records\":[{\"value\":1},{\"value_base64\":\"%s\"}]}", bad[i]);
        expect_400(body, bad[i]);
        snprintf(body, sizeof(body),
                 "{\"records\":[{\"value\":1},{\"key_base64\":\"%s\",\"value\":1}]}",
                 bad[i]);
        expect_400(body, bad[i]);
        expect_untouched(bad[i]);
    }
    ac_server_stop_clean(&srv);
}

/* libsodium 1.0.18's decoder reads every byte >= 0x80 as the digit '/' (63), and
 * api/produce.c decode_base64() trusts it: "\u00e9\u00e9\u00e9\u00e9" is stored as
 * ff ff ff ff ff ff. Disabled until decode_base64() checks the alphabet itself. */
Test(api_hostile, base64_with_non_ascii_characters_is_400_and_writes_nothing)
{
    static const char *const bad[] = {
        "\\u00e9\\u00e9\\u00e9\\u00e9",
        "QUJ\\u00ff",
        "\\u0080\\u0080\\u0080\\u0080",
        "QUJD\\u00e9\\u00e9",
    };
    char body[256];

    prepare();
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(body, sizeof(body),
                 "{\"records\":[{\"value\":1},{\"value_base64\":\"%s\"}]}", bad[i]);
        expect_400(body, bad[i]);
        snprintf(body, sizeof(body),
                 "{\"records\":[{\"value\":1},{\"key_base64\":\"%s\",\"value\":1}]}",
                 bad[i]);
        expect_400(body, bad[i]);
        expect_untouched(bad[i]);
    }
    ac_server_stop_clean(&srv);
}

Test(api_hostile, invalid_utf8_in_json_strings_is_400_and_writes_nothing)
{
    static const char *const bodies[] = {
        "{\"records\":[{\"value\":\"\xff\"}]}",
        "{\"records\":[{\"value\":\"a\xfe\"}]}",
        "{\"records\":[{\"key\":\"\xff\",\"value\":1}]}",
        "{\"records\":[{\"value\":1,\"headers\":{\"\xff\":\"v\"}}]}",
        "{\"records\":[{\"value\":1,\"headers\":{\"h\":\"\xff\"}}]}",
        "{\"records\":[{\"value\":{\"\xff\":1}}]}",
        "{\"records\":[{\"value\":\"\xc0\xaf\"}]}",         /* overlong '/' */
        "{\"records\":[{\"value\":\"\xed\xa0\x80\"}]}",     /* encoded surrogate */
        "{\"records\":[{\"value\":\"\xe2\x82\"}]}",         /* cut short */
        "{\"records\":[{\"value\":\"\xf4\x90\x80\x80\"}]}", /* above U+10FFFF */
        "{\"records\":[{\"value\":\"\\ud800\"}]}",          /* lone high surrogate */
        "{\"records\":[{\"value\":\"\\udc00x\"}]}",         /* lone low surrogate */
        "{\"\xff\":[{\"value\":1}]}",
    };
    struct http_response r;

    prepare();
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        char what[16];

        snprintf(what, sizeof(what), "body %zu", i);
        expect_400(bodies[i], what);
        expect_untouched(what);
    }
    ac_send_json(&srv, "POST", "/topics", "{\"name\":\"\xff\"}", &r);
    json_decref(ac_expect_problem(&r, 400, NULL));
    http_response_release(&r);
    ac_server_stop_clean(&srv);
}

Test(api_hostile, huge_numbers_are_refused_and_write_nothing)
{
    static const char *const records[] = {
        "{\"value\":1,\"partition\":1e400}",
        "{\"value\":1,\"partition\":99999999999999999999}",
        "{\"value\":1,\"partition\":2147483648}",
        "{\"value\":1,\"partition\":4294967296}",
        "{\"value\":1,\"partition\":9223372036854775807}",
        "{\"value\":1,\"partition\":-9223372036854775808}",
        "{\"value\":1,\"partition\":-9223372036854775809}",
        "{\"value\":1,\"timestamp\":1e400}",
        "{\"value\":1,\"timestamp\":99999999999999999999}",
        "{\"value\":1,\"timestamp\":-9223372036854775808}",
        "{\"value\":1,\"timestamp\":1e18}",
    };
    static const char *const topics[] = {
        "{\"name\":\"n\",\"partitions\":1e400}",
        "{\"name\":\"n\",\"partitions\":99999999999999999999}",
        "{\"name\":\"n\",\"partitions\":4294967297}",
        "{\"name\":\"n\",\"config\":{\"retention.ms\":99999999999999999999}}",
        "{\"name\":\"n\",\"config\":{\"segment.bytes\":9223372036854775807}}",
        "{\"name\":\"n\",\"config\":{\"max.message.bytes\":-9223372036854775808}}",
    };
    char body[256];
    struct http_response r;

    prepare();
    for (size_t i = 0; i < sizeof(records) / sizeof(records[0]); i++) {
        snprintf(body, sizeof(body), "{\"records\":[{\"value\":\"fine\"},%s]}",
                 records[i]);
        expect_refused(body, strlen(body), records[i]);
        expect_untouched(records[i]);
    }
    for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++) {
        ac_send_json(&srv, "POST", "/topics", topics[i], &r);
        json_decref(ac_expect_problem(&r, 400, NULL));
        http_response_release(&r);
    }
    ac_get(&srv, "/topics/n", &r);
    json_decref(ac_expect_problem(&r, 404, "topic_not_found"));
    http_response_release(&r);
    ac_server_stop_clean(&srv);
}

/* Numbers beyond double or int64 are valid JSON (RFC 8259 puts no bound on them): a
 * value holding them is stored and served byte for byte, never rounded. */
Test(api_hostile, huge_numbers_inside_values_are_kept_verbatim)
{
    struct http_response r;
    char path[128];

    prepare();
    json_decref(ac_produce(&srv, "h",
                           "{\"records\":[{\"partition\":0,\"value\":{\"id\":"
                           "123456789012345678901234567890,\"big\":1e400,\"neg\":-1E-400}}]}"));
    snprintf(path, sizeof(path), "/topics/h/partitions/0?offset=%lld", (long long)baseline[0]);
    ac_get(&srv, path, &r);
    cr_assert(eq(long, r.status, 200), "%s", r.body);
    cr_assert(not(eq(ptr, strstr(r.body, "\"value\":{\"id\":123456789012345678901234567890,"
                                         "\"big\":1e400,\"neg\":-1E-400}"),
                     NULL)),
              "%s", r.body);
    http_response_release(&r);
    ac_server_stop_clean(&srv);
}

Test(api_hostile, extreme_timestamps_are_kept_exactly)
{
    json_t *recs;
    int64_t start;

    prepare();
    start = baseline[0];
    json_decref(
        ac_produce(&srv, "h",
                   "{\"records\":[{\"partition\":0,\"value\":1,\"timestamp\":0},"
                   "{\"partition\":0,\"value\":2,\"timestamp\":9223372036854775807},"
                   "{\"partition\":0,\"value\":3,\"timestamp\":0}]}"));
    json_decref(ac_produce(&srv, "h",
                           "{\"records\":[{\"partition\":0,\"value\":4,\"timestamp\":"
                           "9223372036854775807},{\"partition\":0,\"value\":5,"
                           "\"timestamp\":1}]}"));
    recs = ac_fetch_all(&srv, "h", 0);
    cr_assert(eq(sz, json_array_size(recs), (size_t)start + 5));
    {
        static const int64_t want[] = {0, INT64_MAX, 0, INT64_MAX, 1};

        for (size_t i = 0; i < 5; i++)
            cr_assert(eq(i64,
                         ac_int(json_array_get(recs, (size_t)start + i), "timestamp"),
                         want[i]),
                      "record %zu", i);
    }
    json_decref(recs);
    json_decref(ac_fetch(&srv, "h", 0, "timestamp=9223372036854775807"));
    json_decref(ac_fetch(&srv, "h", 0, "timestamp=0")); /* the least one allowed */
    ac_server_stop_clean(&srv);
}

Test(api_hostile, hostile_fetch_parameters_are_refused)
{
    static const char *const queries[] = {
        "offset=-1",
        "offset=-9223372036854775808",
        "offset=-9223372036854775809",
        "offset=9223372036854775808",
        "offset=99999999999999999999999999",
        "offset=%00",
        "limit=99999999999999999999",
        "limit=-9223372036854775808",
        "max_bytes=9223372036854775807",
        "wait_ms=9223372036854775807",
        "wait_ms=-9223372036854775808",
        "timestamp=99999999999999999999",
        "timestamp=-9223372036854775808",
        "value_format=%00",
    };
    char path[256];
    struct http_response r;

    prepare();
    for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
        snprintf(path, sizeof(path), "/topics/h/partitions/0?%s", queries[i]);
        ac_get(&srv, path, &r);
        cr_assert(r.status == 400 || r.status == 416, "%s: %ld %s", queries[i], r.status,
                  r.body);
        json_decref(ac_expect_problem(&r, r.status, NULL));
        http_response_release(&r);
    }
    ac_get(&srv, "/topics/h/partitions/99999999999999999999999", &r);
    json_decref(ac_expect_problem(&r, 400, NULL));
    http_response_release(&r);
    ac_get(&srv, "/topics/h/partitions/%00", &r);
    json_decref(ac_expect_problem(&r, 400, NULL));
    http_response_release(&r);
    expect_untouched("after hostile fetches");
    ac_server_stop_clean(&srv);
}

/* MHD decodes %00 inside a query value to a NUL and server/http.c hands the API a C
 * string, so everything after it is silently dropped: ?offset=1%002 reads offset 1,
 * ?key=a%00b stores the key "a". Disabled until a NUL in a query value is refused. */
Test(api_hostile, a_nul_inside_a_query_value_is_refused_not_cut_short)
{
    const char *h[] = {"Content-Type: text/plain", NULL};
    struct http_response r;

    prepare();
    ac_get(&srv, "/topics/h/partitions/0?offset=1%002", &r);
    json_decref(ac_expect_problem(&r, 400, NULL));
    http_response_release(&r);
    ac_req(&srv, "POST", "/topics/h/messages?key=a%00b&partition=0", h, "x", 1, &r);
    json_decref(ac_expect_problem(&r, 400, NULL));
    http_response_release(&r);
    expect_untouched("after NULs in query values");
    ac_server_stop_clean(&srv);
}

/* The names in a directory, sorted, one per line (malloc'ed). */
static char *listing(const char *dir)
{
    struct ac_text t = {0};
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);

    cr_assert(ge(int, n, 0), "cannot list %s", dir);
    for (int i = 0; i < n; i++) {
        ac_text_printf(&t, "%s\n", names[i]->d_name);
        free(names[i]);
    }
    free(names);
    if (!t.data)
        ac_text_add(&t, "", 0);
    return t.data;
}

Test(api_hostile, hostile_topic_names_create_nothing_anywhere)
{
    static const char *const paths[] = {
        "/topics/%2F/messages",
        "/topics/..%2F..%2Frill-escape/messages",
        "/topics/..%2Frill-escape/messages",
        "/topics/%2E%2E/messages",
        "/topics/../messages",
        "/topics/./messages",
        "/topics/a%00b/messages",
        "/topics/%00/messages",
        "/topics/h%2F..%2F..%2Frill-escape/messages",
        "/topics/%ff/messages",
        "/topics/%/messages",
        "/topics/%2/messages",
    };
    static const char *const names[] = {
        "/",
        "../rill-escape",
        "../../rill-escape",
        "..",
        ".",
        "%2F",
        "%00",
        "a/../b",
        "\\\\",
        "~",
    };
    char topics_dir[600], escape[600], req[2048], parent[512], longpath[400];
    char *data_before, *topics_before, *data_after, *topics_after;
    struct stat st;
    struct http_response r;

    prepare();
    snprintf(topics_dir, sizeof(topics_dir), "%s/topics", srv.proc.data);
    snprintf(parent, sizeof(parent), "%s", srv.proc.data);
    *strrchr(parent, '/') = '\0';
    snprintf(escape, sizeof(escape), "%s/rill-escape", parent);
    data_before = listing(srv.proc.data);
    topics_before = listing(topics_dir);
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        char *resp;
        long status;

        snprintf(req, sizeof(req),
                 "POST %s HTTP/1.1\r\nHost: t\r\n%s\r\nContent-Type: application/json\r\n"
                 "Content-Length: 27\r\nConnection: close\r\n\r\n"
                 "{\"records\":[{\"value\":1}]}\r\n",
                 paths[i], srv.auth);
        resp = ac_raw_exchange(&srv, req, strlen(req));
        status = ac_raw_status(resp);
        cr_assert(status >= 400 && status < 500, "%s: %s", paths[i], resp);
        free(resp);
    }
    memcpy(longpath, "/topics/", 8);
    memset(longpath + 8, 'a', 300);
    snprintf(longpath + 308, sizeof(longpath) - 308, "/messages");
    ac_send_json(&srv, "POST", longpath, "{\"records\":[{\"value\":1}]}", &r);
    json_decref(ac_expect_problem(&r, 400, "invalid_topic_name"));
    http_response_release(&r);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char body[128];

        snprintf(body, sizeof(body), "{\"name\":\"%s\"}", names[i]);
        ac_send_json(&srv, "POST", "/topics", body, &r);
        json_decref(ac_expect_problem(&r, 400, NULL));
        http_response_release(&r);
    }
    data_after = listing(srv.proc.data);
    topics_after = listing(topics_dir);
    cr_assert(eq(str, data_after, data_before));
    cr_assert(eq(str, topics_after, topics_before));
    cr_assert(ne(int, stat(escape, &st), 0), "%s exists", escape);
    expect_untouched("after hostile names");
    free(data_before);
    free(topics_before);
    free(data_after);
    free(topics_after);
    ac_server_stop_clean(&srv);
}

/* {"records":[{"value":1},...]} with n records. */
static void many_records(struct ac_text *t, size_t n)
{
    ac_text_printf(t, "{\"records\":[");
    for (size_t i = 0; i < n; i++)
        ac_text_add(t, i ? ",{\"value\":1}" : "{\"value\":1}", i ? 12 : 11);
    ac_text_printf(t, "]}");
}

Test(api_hostile, a_hundred_thousand_records_are_413_too_many_records)
{
    struct ac_text body = {0};
    struct http_response r;
    json_t *p;

    prepare();
    many_records(&body, 100000);
    cr_assert(lt(sz, body.len, 8u << 20));
    ac_send_json(&srv, "POST", "/topics/h/messages", body.data, &r);
    p = ac_expect_problem(&r, 413, "too_many_records");
    cr_assert(not(eq(ptr, strstr(r.body, "10000"), NULL)), "the limit is not named: %s",
              r.body);
    cr_assert(eq(i64, ac_int(p, "limit"), 10000));
    json_decref(p);
    http_response_release(&r);
    ac_text_release(&body);
    many_records(&body, 10001);
    ac_send_json(&srv, "POST", "/topics/h/messages", body.data, &r);
    json_decref(ac_expect_problem(&r, 413, "too_many_records"));
    http_response_release(&r);
    ac_text_release(&body);
    expect_untouched("after too many records");
    ac_server_stop_clean(&srv);
}

Test(api_hostile, ten_thousand_records_in_one_request_are_accepted_densely)
{
    struct ac_text body = {0};
    json_t *a, *offsets;
    int64_t p0;

    prepare();
    many_records(&body, 10000);
    a = ac_produce(&srv, "h", body.data);
    offsets = json_object_get(a, "offsets");
    cr_assert(eq(sz, json_array_size(offsets), 10000));
    p0 = ac_int(json_array_get(offsets, 0), "partition");
    for (size_t i = 0; i < 10000; i++) {
        json_t *o = json_array_get(offsets, i);

        cr_assert(eq(i64, ac_int(o, "partition"), p0));
        cr_assert(eq(i64, ac_int(o, "offset"), baseline[p0] + (int64_t)i));
    }
    cr_assert(eq(i64, ac_latest(&srv, "h", (int)p0), baseline[p0] + 10000));
    json_decref(a);
    ac_text_release(&body);
    ac_server_stop_clean(&srv);
}

/* 'tmpl' with "@AUTH@" replaced by the Authorization header line, malloc'ed. */
static char *with_auth(const char *tmpl)
{
    struct ac_text t = {0};
    const char *at = strstr(tmpl, "@AUTH@");

    if (!at) {
        ac_text_printf(&t, "%s", tmpl);
        return t.data;
    }
    ac_text_add(&t, tmpl, (size_t)(at - tmpl));
    ac_text_printf(&t, "%s%s", srv.auth, at + 6);
    return t.data;
}

/* Requests cut off at various points ("@AUTH@" is the Authorization line). */
static const char *const partial[] = {
    "POST /topics/h/messages HTTP/1.1\r\nHost: t\r\nContent-Type: application/json"
    "\r\nContent-Length: 100000\r\n@AUTH@\r\n\r\n{\"records\"",
    "POST /topics/h/messages HTTP/1.1\r\nHost: t\r\nContent-Len",
    "POST /topics/h/messages HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
    "@AUTH@\r\n\r\n10\r\n{\"records\":[{\"v",
    "GET /topics/h/partitions/0 HTTP/1.1\r\n",
    "POST /topics/h/messages HTTP/1.1\r\nHost: t\r\nContent-Type: application/json"
    "\r\nContent-Length: 26\r\n@AUTH@\r\n\r\n{\"records\":[{\"value\":1}]",
    "\r\n\r\n\r\n\r\n",
};

/* Sends each of partial[] on its own connection and closes it: with a reset
 * (SO_LINGER 0) when 'reset', else with a FIN, as close() normally does. */
static void abandon_requests(bool reset, int rounds)
{
    for (int round = 0; round < rounds; round++) {
        for (size_t i = 0; i < sizeof(partial) / sizeof(partial[0]); i++) {
            char *req = with_auth(partial[i]);
            int fd = ac_raw_connect(&srv);

            ac_raw_send(fd, req, strlen(req));
            if (reset) {
                struct linger lg = {.l_onoff = 1, .l_linger = 0};

                setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
            }
            close(fd);
            free(req);
        }
    }
}

Test(api_hostile, clients_that_reset_mid_request_leave_the_server_serving)
{
    prepare();
    abandon_requests(true, 10);
    expect_untouched("after abandoned requests");
    ac_server_stop_clean(&srv);
}

Test(api_hostile, clients_that_close_mid_request_leave_the_server_serving)
{
    /* with a short request timeout, so the stop need not wait 30 s for the abandoned
     * connections (see the disabled test below) */
    const char *args[] = {"--log-level", "debug", "--request-timeout-s", "2", NULL};

    ac_server_stop_clean(&srv);
    ac_server_cleanup(&srv);
    ac_server_start(&srv, args);
    prepare();
    abandon_requests(false, 10);
    expect_untouched("after abandoned requests");
    ac_server_stop_clean(&srv);
}

/* libmicrohttpd 0.9.75 does not notice a FIN from a client whose request is not
 * complete and keeps the connection until --request-timeout-s (30 s); server/main.c
 * drain() counts it as a request in flight, so SIGTERM takes 30 s (the harness gives
 * 20). Disabled until the server stops waiting for requests whose client has gone. */
Test(api_hostile, clients_that_close_mid_request_do_not_delay_shutdown)
{
    prepare();
    abandon_requests(false, 2);
    expect_untouched("after abandoned requests");
    ac_server_stop_clean(&srv);
}

/* Sends 'len' bytes (the server may close before it has them all), closes our side
 * for writing and reads until the server closes (or resets) the connection, at most
 * 20 s. Returns what came, malloc'ed. */
static char *exchange_lenient(const void *data, size_t len)
{
    int fd = ac_raw_connect(&srv);
    struct ac_text t = {0};
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    char buf[65536];

    ac_raw_send(fd, data, len);
    shutdown(fd, SHUT_WR);
    for (;;) {
        ssize_t n;

        cr_assert(eq(int, poll(&pfd, 1, RILLPROC_TIMEOUT_MS), 1), "no end in %d ms",
                  RILLPROC_TIMEOUT_MS);
        n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        ac_text_add(&t, buf, (size_t)n);
    }
    close(fd);
    if (!t.data)
        ac_text_add(&t, "", 0);
    return t.data;
}

Test(api_hostile, clients_that_leave_during_a_long_poll_leave_nothing_behind)
{
    char req[512];
    int fds[2];

    prepare();
    for (int i = 0; i < 2; i++) {
        char needle[128];

        snprintf(req, sizeof(req),
                 "GET /topics/h/partitions/%d?offset=latest&wait_ms=30000 HTTP/1.1\r\n"
                 "Host: t\r\n%s\r\n\r\n",
                 i, srv.auth);
        fds[i] = ac_raw_connect(&srv);
        cr_assert(ac_raw_send(fds[i], req, strlen(req)));
        snprintf(needle, sizeof(needle),
                 "\"GET /topics/h/partitions/%d?offset=latest&wait_ms=30000\" begins", i);
        cr_assert(ac_server_log_shows(&srv, needle));
        close(fds[i]);
    }
    /* wakes the first (its client is gone); the second is left to the shutdown */
    json_decref(
        ac_produce(&srv, "h", "{\"records\":[{\"partition\":0,\"value\":\"x\"}]}"));
    ac_expect_healthy(&srv);
    ac_server_stop_clean(&srv);
}

Test(api_hostile, garbage_on_the_wire_does_not_hurt_the_server)
{
    /* whole requests, each answered (or dropped) at once, never with a 2xx */
    static const char *const whole[] = {
        "FOO /topics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        "GET /topics HTTP/9.9\r\nHost: t\r\nConnection: close\r\n\r\n",
        "POST /topics/h/messages HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n"
        "Connection: close\r\n\r\n",
        "POST /topics/h/messages HTTP/1.1\r\nHost: t\r\n"
        "Content-Length: 999999999999999999999999\r\nConnection: close\r\n\r\n",
        "POST /topics/h/messages HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
        "Content-Length: 5\r\nConnection: close\r\n\r\nabcde",
        "POST /topics/h/messages HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
        "Connection: close\r\n\r\nzz\r\nxx\r\n0\r\n\r\n",
        "GET /topics/h/partitions/0 HTTP/1.1\r\nHost: t\r\nX: \x01\x02\xff\r\n"
        "Connection: close\r\n\r\n",
        "GET /\x01\xff%%%% HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        "GET /topics/h/partitions/0?offset=%zz&limit=%%% HTTP/1.1\r\nHost: t\r\n"
        "Connection: close\r\n\r\n",
    };
    /* not HTTP at all: sent, then the connection is reset */
    static const char *const junk[] = {
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage-tls-hello\r\n\r\n",
        "GET\r\n\r\n",
        "\x00\x00\x00\x00\x00\x00\x00\x00",
        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    };

    prepare();
    for (size_t i = 0; i < sizeof(whole) / sizeof(whole[0]); i++) {
        char *resp = ac_raw_exchange(&srv, whole[i], strlen(whole[i]));
        long status = ac_raw_status(resp);

        cr_assert(status == 0 || status >= 400, "request %zu got %ld: %s", i, status,
                  resp);
        free(resp);
        expect_untouched("after garbage");
    }
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        int fd = ac_raw_connect(&srv);

        ac_raw_send(fd, junk[i], i == 2 ? 8 : strlen(junk[i]));
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        close(fd);
        expect_untouched("after junk");
    }
    ac_server_stop_clean(&srv);
}

Test(api_hostile, a_huge_request_target_or_header_is_refused)
{
    struct ac_text req = {0};
    char *resp;
    long status;

    prepare();
    ac_text_printf(&req, "GET /topics/h/partitions/0?x=");
    for (int i = 0; i < 200000; i++)
        ac_text_add(&req, "a", 1);
    ac_text_printf(&req, " HTTP/1.1\r\nHost: t\r\n%s\r\nConnection: close\r\n\r\n",
                   srv.auth);
    resp = exchange_lenient(req.data, req.len);
    status = ac_raw_status(resp);
    cr_assert(status == 0 || status >= 400, "got %ld", status);
    free(resp);
    ac_text_release(&req);
    ac_text_printf(&req, "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: ");
    for (int i = 0; i < 200000; i++)
        ac_text_add(&req, "b", 1);
    ac_text_printf(&req, "\r\nConnection: close\r\n\r\n");
    resp = exchange_lenient(req.data, req.len);
    status = ac_raw_status(resp);
    cr_assert(status == 0 || status >= 400, "got %ld", status);
    free(resp);
    ac_text_release(&req);
    expect_untouched("after huge requests");
    ac_server_stop_clean(&srv);
}

Test(api_hostile, deeply_nested_json_is_refused_without_crashing)
{
    struct ac_text body = {0};
    struct http_response r;

    prepare();
    /* 100k unclosed '[' as a value, as the whole body, and as a topic */
    ac_text_printf(&body, "{\"records\":[{\"value\":");
    for (int i = 0; i < 100000; i++)
        ac_text_add(&body, "[", 1);
    expect_refused(body.data, body.len, "100k unclosed [");
    ac_text_release(&body);
    for (int i = 0; i < 100000; i++)
        ac_text_add(&body, "[", 1);
    expect_refused(body.data, body.len, "a body of 100k [");
    ac_send_json(&srv, "POST", "/topics", body.data, &r);
    json_decref(ac_expect_problem(&r, 400, NULL));
    http_response_release(&r);
    ac_text_release(&body);
    /* 100k balanced: valid JSON, deeper than anything sane */
    ac_text_printf(&body, "{\"records\":[{\"value\":");
    for (int i = 0; i < 100000; i++)
        ac_text_add(&body, "[", 1);
    for (int i = 0; i < 100000; i++)
        ac_text_add(&body, "]", 1);
    ac_text_printf(&body, "}]}");
    expect_refused(body.data, body.len, "100k balanced [ ]");
    ac_text_release(&body);
    /* objects too */
    ac_text_printf(&body, "{\"records\":[{\"value\":");
    for (int i = 0; i < 50000; i++)
        ac_text_add(&body, "{\"a\":", 5);
    for (int i = 0; i < 50000; i++)
        ac_text_add(&body, "}", 1);
    ac_text_printf(&body, "}]}");
    expect_refused(body.data, body.len, "50k nested objects");
    ac_text_release(&body);
    expect_untouched("after deep JSON");
    ac_server_stop_clean(&srv);
}

Test(api_hostile, a_deeply_nested_raw_body_is_stored_and_read_back_byte_for_byte)
{
    const char *h[] = {"Content-Type: application/json", NULL};
    struct ac_text body = {0};
    struct http_response r;
    json_t *a, *j;
    unsigned char *got;
    size_t len;
    int64_t p, off;
    char query[128];

    prepare();
    for (int i = 0; i < 100000; i++)
        ac_text_add(&body, "[", 1);
    for (int i = 0; i < 100000; i++)
        ac_text_add(&body, "]", 1);
    ac_req(&srv, "POST", "/topics/h/messages?raw=1&partition=1", h, body.data, body.len,
           &r);
    a = ac_expect_json(&r, 200);
    http_response_release(&r);
    p = ac_int(json_array_get(json_object_get(a, "offsets"), 0), "partition");
    off = ac_int(json_array_get(json_object_get(a, "offsets"), 0), "offset");
    json_decref(a);
    cr_assert(eq(i64, p, 1));
    snprintf(query, sizeof(query), "offset=%lld&value_format=base64", (long long)off);
    j = ac_fetch(&srv, "h", 1, query);
    got = ac_unbase64(
        json_string_value(json_object_get(
            json_array_get(json_object_get(j, "records"), 0), "value_base64")),
        &len);
    cr_assert(not(eq(ptr, got, NULL)));
    cr_assert(eq(sz, len, body.len));
    cr_assert(eq(int, memcmp(got, body.data, len), 0));
    free(got);
    json_decref(j);
    /* read in the default format, the answer is 200 and carries the same bytes */
    snprintf(query, sizeof(query), "/topics/h/partitions/1?offset=%lld", (long long)off);
    ac_get(&srv, query, &r);
    cr_assert(eq(long, r.status, 200), "%.300s", r.body);
    cr_assert(strstr(r.body, "\"value_base64\":\"") || strstr(r.body, body.data),
              "the value is neither base64 nor the stored text");
    http_response_release(&r);
    ac_text_release(&body);
    ac_server_stop_clean(&srv);
}

Test(api_hostile, a_7_mib_string_value_is_413_record_too_large)
{
    struct ac_text body = {0};
    struct http_response r;
    size_t n = 7u << 20;
    char *big = malloc(n);

    prepare();
    cr_assert(not(eq(ptr, big, NULL)));
    memset(big, 'v', n);
    ac_text_printf(&body, "{\"records\":[{\"partition\":2,\"value\":\"");
    ac_text_add(&body, big, n);
    ac_text_printf(&body, "\"}]}");
    free(big);
    cr_assert(lt(sz, body.len, 8u << 20));
    ac_send_json(&srv, "POST", "/topics/h/messages", body.data, &r);
    json_decref(ac_expect_problem(&r, 413, "record_too_large"));
    http_response_release(&r);
    ac_text_release(&body);
    expect_untouched("after a 7 MiB value");
    ac_server_stop_clean(&srv);
}

Test(api_hostile, ten_thousand_headers_on_one_record_round_trip)
{
    struct ac_text body = {0};
    json_t *a, *recs, *headers;
    int64_t off;

    prepare();
    ac_text_printf(&body, "{\"records\":[{\"partition\":1,\"value\":1,\"headers\":{");
    for (int i = 0; i < 10000; i++)
        ac_text_printf(&body, "%s\"h%05d\":\"v%d\"", i ? "," : "", i, i);
    ac_text_printf(&body, "}}]}");
    a = ac_produce(&srv, "h", body.data);
    off = ac_int(json_array_get(json_object_get(a, "offsets"), 0), "offset");
    json_decref(a);
    recs = ac_fetch_all(&srv, "h", 1);
    headers = json_object_get(json_array_get(recs, (size_t)off), "headers");
    cr_assert(eq(sz, json_object_size(headers), 10000));
    for (int i = 0; i < 10000; i += 999) {
        char name[16], value[16];

        snprintf(name, sizeof(name), "h%05d", i);
        snprintf(value, sizeof(value), "v%d", i);
        cr_assert(
            eq(str, (char *)json_string_value(json_object_get(headers, name)), value));
    }
    json_decref(recs);
    ac_text_release(&body);
    ac_server_stop_clean(&srv);
}

/* ---- topics deleted under readers and writers ---- */

struct bg_request {
    char path[128];
    const char *method;
    const char *body;
    int rounds; /* at most this many requests */
    long until; /* stop after an answer with this status (0: never) */
    pthread_t thread;
    int done;         /* requests made */
    long first, last; /* the first and the last status (0: no answer) */
    int unexpected;   /* answers other than 200, 404 and 'until' */
};

/* Repeats the request; no assertions off the test's main thread. */
static void *bg_main(void *arg)
{
    struct bg_request *b = arg;
    const char *h[] = {srv.auth, "Content-Type: application/json", NULL};
    char url[512];

    snprintf(url, sizeof(url), "%s%s", srv.proc.url, b->path);
    for (b->done = 0; b->done < b->rounds; b->done++) {
        struct http_response r;

        http_request(b->method, url, h, b->body, b->body ? strlen(b->body) : 0, &r);
        if (b->done == 0)
            b->first = r.status;
        b->last = r.status;
        b->unexpected += r.status != 200 && r.status != 404 && r.status != b->until;
        http_response_release(&r);
        if (b->until && b->last == b->until)
            break;
    }
    return NULL;
}

Test(api_hostile, deleting_a_topic_under_a_long_poll_is_safe)
{
    struct bg_request poll = {.path = "/topics/doomed/partitions/0?offset=0&wait_ms=3000",
                              .method = "GET",
                              .rounds = 1};
    struct http_response r;

    prepare();
    ac_create_topic(&srv, "doomed", 1, NULL);
    cr_assert(eq(int, pthread_create(&poll.thread, NULL, bg_main, &poll), 0));
    cr_assert(ac_server_log_shows(
        &srv, "\"GET /topics/doomed/partitions/0?offset=0&wait_ms=3000\" "
              "begins"));
    ac_req(&srv, "DELETE", "/topics/doomed", NULL, NULL, 0, &r);
    cr_assert(eq(long, r.status, 204), "%s", r.body);
    http_response_release(&r);
    ac_create_topic(&srv, "doomed", 1, NULL); /* a new one of the same name */
    json_decref(ac_produce(&srv, "doomed", "{\"records\":[{\"value\":1}]}"));
    pthread_join(poll.thread, NULL);
    cr_assert(poll.first == 200 || poll.first == 404 || poll.first == 410,
              "the long poll on a deleted topic answered %ld", poll.first);
    expect_untouched("after deleting a topic under a long poll");
    ac_server_stop_clean(&srv);
}

Test(api_hostile, deleting_a_topic_while_producers_write_is_safe)
{
    struct bg_request w[3];
    struct http_response r;

    prepare();
    ac_create_topic(&srv, "doomed", 2, NULL);
    for (int i = 0; i < 3; i++) {
        w[i] = (struct bg_request){.path = "/topics/doomed/messages",
                                   .method = "POST",
                                   .body = "{\"records\":[{\"value\":1},{\"key\":\"k\","
                                           "\"value\":2}]}",
                                   .rounds = 100000,
                                   .until = 404};
        cr_assert(eq(int, pthread_create(&w[i].thread, NULL, bg_main, &w[i]), 0));
    }
    cr_assert(ac_server_log_shows(&srv, "\"POST /topics/doomed/messages\" 200"));
    ac_req(&srv, "DELETE", "/topics/doomed", NULL, NULL, 0, &r);
    cr_assert(eq(long, r.status, 204), "%s", r.body);
    http_response_release(&r);
    for (int i = 0; i < 3; i++) { /* each stops at its first 404 */
        pthread_join(w[i].thread, NULL);
        cr_assert(eq(int, w[i].unexpected, 0), "writer %d got other answers", i);
        cr_assert(eq(long, w[i].last, 404), "writer %d: writes go on after the delete",
                  i);
    }
    ac_get(&srv, "/topics/doomed", &r);
    json_decref(ac_expect_problem(&r, 404, "topic_not_found"));
    http_response_release(&r);
    expect_untouched("after deleting a topic under writers");
    ac_server_stop_clean(&srv);
}

/* ---- a server with --max-body-bytes 65536 ---- */

/* An envelope of exactly 'len' bytes: one record with a padded string value. */
static void sized_envelope(struct ac_text *t, size_t len)
{
    const char *head = "{\"records\":[{\"partition\":0,\"value\":\"", *tail = "\"}]}";
    size_t pad = len - strlen(head) - strlen(tail);

    ac_text_printf(t, "%s", head);
    for (size_t i = 0; i < pad; i++)
        ac_text_add(t, "p", 1);
    ac_text_printf(t, "%s", tail);
    cr_assert(eq(sz, t->len, len));
}

Test(api_hostile_small_body, a_body_over_max_body_bytes_is_413_and_writes_nothing)
{
    struct ac_text body = {0};
    struct http_response r;

    prepare();
    sized_envelope(&body, 100 * 1024);
    ac_send_json(&srv, "POST", "/topics/h/messages", body.data, &r);
    json_decref(ac_expect_problem(&r, 413, NULL));
    http_response_release(&r);
    ac_text_release(&body);
    sized_envelope(&body, 65537);
    ac_send_json(&srv, "POST", "/topics/h/messages", body.data, &r);
    json_decref(ac_expect_problem(&r, 413, NULL));
    http_response_release(&r);
    ac_text_release(&body);
    expect_untouched("after bodies over the limit");
    ac_server_stop_clean(&srv);
}

Test(api_hostile_small_body, a_body_of_exactly_max_body_bytes_is_read)
{
    struct ac_text body = {0};

    prepare();
    sized_envelope(&body, 65536);
    json_decref(ac_produce(&srv, "h", body.data));
    cr_assert(eq(i64, ac_latest(&srv, "h", 0), baseline[0] + 1));
    ac_text_release(&body);
    ac_server_stop_clean(&srv);
}

Test(api_hostile_small_body, a_chunked_body_over_the_limit_writes_nothing)
{
    const char *h[] = {"Content-Type: application/json", "Transfer-Encoding: chunked",
                       NULL};
    struct ac_text body = {0};
    struct http_response r;
    char url[256];
    int ret;

    prepare();
    sized_envelope(&body, 100 * 1024);
    snprintf(url, sizeof(url), "%s/topics/h/messages", srv.proc.url);
    {
        const char *all[] = {srv.auth, h[0], h[1], NULL};

        ret = http_request("POST", url, all, body.data, body.len, &r);
    }
    /* no answer (the connection is dropped) or a 4xx; never a write */
    cr_assert(ret != 0 || (r.status >= 400 && r.status < 500), "%d %ld %.200s", ret,
              r.status, r.body ? r.body : "");
    http_response_release(&r);
    ac_text_release(&body);
    expect_untouched("after a chunked body over the limit");
    ac_server_stop_clean(&srv);
}

/* An empty query parameter name ("?&x" or "?=x") once made the allowed-parameter check
 * loop forever, freezing a server thread: it is 400 unknown_parameter at once. */
Test(api_hostile, an_empty_query_parameter_name_is_400_and_hangs_nothing)
{
    static const char *const paths[] = {"/topics?&internal=true", "/topics?=x",
                                        "/topics/h/partitions/0?&offset=0"};
    struct http_response r;

    prepare();
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        ac_get(&srv, paths[i], &r);
        json_decref(ac_expect_problem(&r, 400, "unknown_parameter"));
        http_response_release(&r);
    }
    expect_untouched("after empty parameter names");
    ac_server_stop_clean(&srv);
}
