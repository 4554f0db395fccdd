/* tests/integration/test_api_topics.c: /topics and /topics/{t} end to end (api/topics.c,
 * api/router.c, api/api.c's authentication, api/reply.c's problem documents), through
 * the real binary ($RILL_BIN). Each test has its own server (see api_client.h) and ends
 * by stopping it: a clean exit 0 on SIGTERM, so no sanitizer report. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "common/clock.h"
#include "tests/support/api_client.h"

static struct ac_server srv;

static void setup(void) { ac_server_start(&srv, NULL); }

static void teardown(void) { ac_server_cleanup(&srv); }

TestSuite(api_topics, .init = setup, .fini = teardown, .timeout = 60);

/* Asserts the topic object shape of API.md: name, id, internal, created_ms, partitions
 * [{partition, earliest, latest, size_bytes}], config (never webhook.secret). */
static void expect_topic_shape(const json_t *t, const char *name, size_t partitions)
{
    json_t *parts = json_object_get(t, "partitions"),
           *config = json_object_get(t, "config");

    cr_assert(
        eq(str, (char *)json_string_value(json_object_get(t, "name")), (char *)name));
    cr_assert(ac_holds(json_is_boolean(json_object_get(t, "internal"))));
    cr_assert(ac_holds(json_is_integer(json_object_get(t, "created_ms"))));
    cr_assert(eq(sz, strspn(json_string_value(json_object_get(t, "id")) ?: "",
                            "0123456789abcdef"),
                 32), "id is 32 hex digits");
    cr_assert(ac_holds(json_is_array(parts)));
    cr_assert(eq(sz, json_array_size(parts), partitions));
    for (size_t i = 0; i < partitions; i++) {
        json_t *p = json_array_get(parts, i);

        cr_assert(eq(i64, ac_int(p, "partition"), (int64_t)i));
        cr_assert(ge(i64, ac_int(p, "earliest"), 0));
        cr_assert(ge(i64, ac_int(p, "latest"), ac_int(p, "earliest")));
        cr_assert(ge(i64, ac_int(p, "size_bytes"), 0));
    }
    cr_assert(ac_holds(json_is_object(config)));
    cr_assert(eq(ptr, json_object_get(config, "webhook.secret"), NULL),
              "webhook.secret is shown");
}

static json_t *get_topic(const char *name, long status)
{
    struct http_response r;
    char path[600];
    json_t *j;

    snprintf(path, sizeof(path), "/topics/%s", name);
    ac_get(&srv, path, &r);
    j = status == 200 ? ac_expect_json(&r, 200)
                      : ac_expect_problem(&r, status, "topic_not_found");
    http_response_release(&r);
    return j;
}

Test(api_topics, create_answers_201_with_location_and_the_topic)
{
    struct http_response r;
    long long before = clock_wall_ms(), after;
    json_t *t;

    ac_send_json(&srv, "POST", "/topics",
                 "{\"name\":\"orders\",\"partitions\":3,\"config\":{\"retention.ms\":"
                 "3600000,\"webhook.secret\":\"s3cret\"}}",
                 &r);
    after = clock_wall_ms();
    t = ac_expect_json(&r, 201);
    cr_assert(eq(str, (char *)http_response_header(&r, "Location"), "/topics/orders"));
    expect_topic_shape(t, "orders", 3);
    cr_assert(ac_holds(json_is_false(json_object_get(t, "internal"))));
    cr_assert(ge(i64, ac_int(t, "created_ms"), before - 1000));
    cr_assert(le(i64, ac_int(t, "created_ms"), after + 1000));
    for (size_t i = 0; i < 3; i++) {
        json_t *p = json_array_get(json_object_get(t, "partitions"), i);

        cr_assert(eq(i64, ac_int(p, "earliest"), 0));
        cr_assert(eq(i64, ac_int(p, "latest"), 0));
    }
    cr_assert(eq(i64, ac_int(json_object_get(t, "config"), "retention.ms"), 3600000));
    cr_assert(eq(ptr, strstr(r.body, "s3cret"), NULL), "the secret leaks: %s", r.body);
    json_decref(t);
    http_response_release(&r);
    ac_server_stop_clean(&srv);
}

Test(api_topics, create_defaults_to_one_partition_and_the_documented_config)
{
    struct http_response r;
    json_t *t, *c;

    ac_send_json(&srv, "POST", "/topics", "{\"name\":\"plain\"}", &r);
    t = ac_expect_json(&r, 201);
    expect_topic_shape(t, "plain", 1);
    c = json_object_get(t, "config");
    cr_assert(eq(i64, ac_int(c, "retention.ms"), 604800000));
    cr_assert(eq(i64, ac_int(c, "retention.bytes"), -1));
    cr_assert(eq(i64, ac_int(c, "segment.bytes"), 1073741824));
    cr_assert(eq(i64, ac_int(c, "max.message.bytes"), 1048576));
    cr_assert(eq(str, (char *)json_string_value(json_object_get(c, "cleanup.policy")),
                 "delete"));
    json_decref(t);
    http_response_release(&r);
    ac_server_stop_clean(&srv);
}

Test(api_topics, creating_an_existing_topic_is_409_and_changes_nothing)
{
    struct http_response r;
    json_t *t;

    ac_create_topic(&srv, "dup", 2, NULL);
    ac_send_json(&srv, "POST", "/topics", "{\"name\":\"dup\",\"partitions\":5}", &r);
    json_decref(ac_expect_problem(&r, 409, "topic_exists"));
    http_response_release(&r);
    t = get_topic("dup", 200);
    expect_topic_shape(t, "dup", 2);
    json_decref(t);
    ac_server_stop_clean(&srv);
}

Test(api_topics, get_answers_the_topic_as_create_did)
{
    struct http_response r;
    json_t *created, *got;

    ac_send_json(&srv, "POST", "/topics", "{\"name\":\"same\",\"partitions\":4}", &r);
    created = ac_expect_json(&r, 201);
    http_response_release(&r);
    got = get_topic("same", 200);
    ac_expect_json_equal(got, created, "GET /topics/same");
    json_decref(created);
    json_decref(got);
    json_decref(get_topic("missing", 404));
    ac_server_stop_clean(&srv);
}

Test(api_topics, list_shows_created_topics_and_hides_internal_ones_unless_asked)
{
    struct http_response r;
    json_t *plain, *all, *list, *t;
    size_t i;
    int seen = 0;

    ac_create_topic(&srv, "a.one", 1, NULL);
    ac_create_topic(&srv, "b-two", 2, "{\"webhook.secret\":\"hush\"}");
    ac_get(&srv, "/topics", &r);
    plain = ac_expect_json(&r, 200);
    cr_assert(eq(ptr, strstr(r.body, "hush"), NULL), "a secret leaks: %s", r.body);
    http_response_release(&r);
    list = json_object_get(plain, "topics");
    cr_assert(ac_holds(json_is_array(list)), "no topics array");
    json_array_foreach(list, i, t)
    {
        const char *name = json_string_value(json_object_get(t, "name"));

        cr_assert(not(eq(ptr, (void *)name, NULL)));
        cr_assert(strncmp(name, "__", 2), "internal topic %s listed by default", name);
        cr_assert(ac_holds(json_is_false(json_object_get(t, "internal"))));
        if (!strcmp(name, "a.one")) {
            expect_topic_shape(t, "a.one", 1);
            seen++;
        } else if (!strcmp(name, "b-two")) {
            expect_topic_shape(t, "b-two", 2);
            seen++;
        }
    }
    cr_assert(eq(int, seen, 2), "%d of the 2 topics listed", seen);

    /* ?internal=true: the same user topics, plus only internal ones (maybe none) */
    ac_get(&srv, "/topics?internal=true", &r);
    all = ac_expect_json(&r, 200);
    http_response_release(&r);
    json_array_foreach(json_object_get(all, "topics"), i, t)
    {
        const char *name = json_string_value(json_object_get(t, "name"));
        bool internal = !strncmp(name, "__", 2);

        cr_assert(eq(int, json_is_true(json_object_get(t, "internal")), internal), "%s",
                  name);
    }
    cr_assert(
        ge(sz, json_array_size(json_object_get(all, "topics")), json_array_size(list)));
    json_decref(plain);
    json_decref(all);
    ac_server_stop_clean(&srv);
}

Test(api_topics, patch_grows_partitions_and_merges_config)
{
    struct http_response r;
    json_t *t, *c;

    ac_create_topic(&srv, "grow", 1, "{\"retention.ms\":1000}");
    ac_send_json(&srv, "PATCH", "/topics/grow",
                 "{\"partitions\":3,\"config\":{\"cleanup.policy\":\"compact\"}}", &r);
    t = ac_expect_json(&r, 200);
    http_response_release(&r);
    expect_topic_shape(t, "grow", 3);
    c = json_object_get(t, "config");
    cr_assert(eq(str, (char *)json_string_value(json_object_get(c, "cleanup.policy")),
                 "compact"));
    cr_assert(eq(i64, ac_int(c, "retention.ms"), 1000), "PATCH lost an untouched key");
    json_decref(t);
    t = get_topic("grow", 200);
    expect_topic_shape(t, "grow", 3);
    cr_assert(eq(str,
                 (char *)json_string_value(
                     json_object_get(json_object_get(t, "config"), "cleanup.policy")),
                 "compact"));
    json_decref(t);
    /* the new partitions take records */
    json_decref(
        ac_produce(&srv, "grow", "{\"records\":[{\"value\":1,\"partition\":2}]}"));
    cr_assert(eq(i64, ac_latest(&srv, "grow", 2), 1));
    ac_server_stop_clean(&srv);
}

Test(api_topics, patch_cannot_shrink_partitions)
{
    struct http_response r;
    json_t *t;

    ac_create_topic(&srv, "shrink", 3, NULL);
    ac_send_json(&srv, "PATCH", "/topics/shrink", "{\"partitions\":2}", &r);
    json_decref(ac_expect_problem(&r, 400, "partitions_cannot_shrink"));
    http_response_release(&r);
    t = get_topic("shrink", 200);
    expect_topic_shape(t, "shrink", 3);
    json_decref(t);
    ac_server_stop_clean(&srv);
}

Test(api_topics, patch_with_a_bad_config_changes_nothing)
{
    struct http_response r;
    json_t *before, *after;

    ac_create_topic(&srv, "keep", 1, NULL);
    before = get_topic("keep", 200);
    ac_send_json(&srv, "PATCH", "/topics/keep",
                 "{\"partitions\":4,\"config\":{\"retention.ms\":\"soon\"}}", &r);
    json_decref(ac_expect_problem(&r, 400, "invalid_config"));
    http_response_release(&r);
    after = get_topic("keep", 200);
    ac_expect_json_equal(after, before, "the topic after a refused PATCH");
    json_decref(before);
    json_decref(after);
    ac_server_stop_clean(&srv);
}

Test(api_topics, patch_of_a_missing_topic_is_404)
{
    struct http_response r;

    ac_send_json(&srv, "PATCH", "/topics/ghost", "{\"partitions\":2}", &r);
    json_decref(ac_expect_problem(&r, 404, "topic_not_found"));
    http_response_release(&r);
    ac_server_stop_clean(&srv);
}

Test(api_topics, an_invalid_config_key_or_value_is_400_invalid_config)
{
    static const char *const configs[] = {
        "{\"no.such.key\":1}",
        "{\"retention.ms\":\"abc\"}",
        "{\"retention.ms\":-2}",
        "{\"retention.ms\":1.5}",
        "{\"retention.ms\":true}",
        "{\"retention.ms\":null}",
        "{\"cleanup.policy\":\"shred\"}",
        "{\"flush.policy\":\"sometimes\"}",
        "{\"max.message.bytes\":0}",
        "{\"segment.bytes\":1}",
        "{\"segment.bytes\":99999999999}",
        "[]",
        "\"retention.ms=1\"",
    };
    struct http_response r;
    char body[256];

    for (size_t i = 0; i < sizeof(configs) / sizeof(configs[0]); i++) {
        snprintf(body, sizeof(body), "{\"name\":\"cfg\",\"config\":%s}", configs[i]);
        ac_send_json(&srv, "POST", "/topics", body, &r);
        json_decref(ac_expect_problem(&r, 400, "invalid_config"));
        http_response_release(&r);
    }
    json_decref(get_topic("cfg", 404)); /* none of them created it */
    ac_server_stop_clean(&srv);
}

Test(api_topics, unknown_fields_are_400)
{
    struct http_response r;

    ac_send_json(&srv, "POST", "/topics", "{\"name\":\"uf\",\"partitons\":3}", &r);
    json_decref(ac_expect_problem(&r, 400, "unknown_field"));
    http_response_release(&r);
    json_decref(get_topic("uf", 404));
    ac_create_topic(&srv, "uf", 1, NULL);
    ac_send_json(&srv, "PATCH", "/topics/uf", "{\"name\":\"other\"}", &r);
    json_decref(ac_expect_problem(&r, 400, "unknown_field"));
    http_response_release(&r);
    /* an empty name, and names that are only part of a field's */
    for (const char *const *b = (const char *const[]){"{\"\":1}", "{\"config\":{},\"conf\":1}",
                                                       "{\"partitions, config\":1}", NULL};
         *b; b++) {
        ac_send_json(&srv, "PATCH", "/topics/uf", *b, &r);
        json_decref(ac_expect_problem(&r, 400, "unknown_field"));
        http_response_release(&r);
    }
    ac_expect_healthy(&srv);
    ac_server_stop_clean(&srv);
}

Test(api_topics, a_body_that_is_not_a_json_object_is_400)
{
    static const char *const bodies[] = {"", "[]", "\"orders\"", "{\"name\":", "null"};
    struct http_response r;

    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        ac_send_json(&srv, "POST", "/topics", bodies[i], &r);
        json_decref(ac_expect_problem(&r, 400, NULL));
        http_response_release(&r);
    }
    ac_server_stop_clean(&srv);
}

Test(api_topics, partitions_outside_1_to_10000_are_400)
{
    static const char *const bad[] = {"0", "-1", "10001", "1.5", "\"3\"", "true"};
    struct http_response r;
    char body[128];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(body, sizeof(body), "{\"name\":\"np\",\"partitions\":%s}", bad[i]);
        ac_send_json(&srv, "POST", "/topics", body, &r);
        json_decref(ac_expect_problem(&r, 400, NULL));
        http_response_release(&r);
    }
    json_decref(get_topic("np", 404));
    ac_server_stop_clean(&srv);
}

Test(api_topics, delete_answers_204_then_the_topic_is_gone)
{
    struct http_response r;

    json_t *before, *after;

    ac_create_topic(&srv, "gone", 2, NULL);
    json_decref(
        ac_produce(&srv, "gone", "{\"records\":[{\"value\":1,\"partition\":1}]}"));
    before = get_topic("gone", 200);
    ac_req(&srv, "DELETE", "/topics/gone", NULL, NULL, 0, &r);
    cr_assert(eq(long, r.status, 204), "%ld %s", r.status, r.body);
    cr_assert(eq(sz, r.body_len, 0));
    http_response_release(&r);
    json_decref(get_topic("gone", 404));
    ac_req(&srv, "DELETE", "/topics/gone", NULL, NULL, 0, &r);
    json_decref(ac_expect_problem(&r, 404, "topic_not_found"));
    http_response_release(&r);
    /* a new topic of that name starts empty */
    ac_create_topic(&srv, "gone", 2, NULL);
    cr_assert(eq(i64, ac_latest(&srv, "gone", 1), 0), "the deleted records came back");
    after = get_topic("gone", 200);
    cr_assert(ne(str, (char *)json_string_value(json_object_get(before, "id")),
                 (char *)json_string_value(json_object_get(after, "id"))),
              "a new incarnation keeps the old id");
    json_decref(before);
    json_decref(after);
    ac_server_stop_clean(&srv);
}

/* How many entries DATA/<sub> holds ('.' and '..' aside). */
static int entries_in(const char *sub)
{
    char path[600];
    struct dirent *e;
    DIR *d;
    int n = 0;

    snprintf(path, sizeof(path), "%s/%s", srv.proc.data, sub);
    d = opendir(path);
    cr_assert(ne(ptr, d, NULL), "cannot open %s", path);
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

/* The longest valid names (242-249 characters) once made the trash entry of a delete
 * longer than a file name may be: 500 "File name too long". */
Test(api_topics, a_topic_with_a_249_character_name_is_deleted_and_made_again)
{
    char name[250], path[300];
    struct http_response r;

    memset(name, 'x', 249);
    name[249] = '\0';
    snprintf(path, sizeof(path), "/topics/%s", name);
    ac_create_topic(&srv, name, 2, NULL);
    json_decref(ac_produce(&srv, name, "{\"records\":[{\"value\":1,\"partition\":1}]}"));
    ac_req(&srv, "DELETE", path, NULL, NULL, 0, &r);
    cr_assert(eq(long, r.status, 204), "%ld %s", r.status, r.body);
    http_response_release(&r);
    json_decref(get_topic(name, 404));
    cr_assert(eq(int, entries_in("trash"), 0), "the deleted topic is left in trash/");
    ac_create_topic(&srv, name, 2, NULL);
    cr_assert(eq(i64, ac_latest(&srv, name, 1), 0), "the deleted records came back");
    json_decref(ac_produce(&srv, name, "{\"records\":[{\"value\":2,\"partition\":0}]}"));
    ac_server_stop_clean(&srv);
    ac_server_restart(&srv);
    cr_assert(eq(int, entries_in("trash"), 0), "trash/ is not empty after a restart");
    cr_assert(eq(i64, ac_latest(&srv, name, 0), 1));
    cr_assert(eq(i64, ac_latest(&srv, name, 1), 0));
    ac_server_stop_clean(&srv);
}

/* The permission bits of DATA/topics/<name>/topic.json. */
static unsigned topic_json_mode(const char *name)
{
    char path[600];
    struct stat st;

    snprintf(path, sizeof(path), "%s/topics/%s/topic.json", srv.proc.data, name);
    cr_assert(eq(int, stat(path, &st), 0), "cannot stat %s", path);
    return (unsigned)(st.st_mode & 07777);
}

/* topic.json holds webhook.secret: it is as private as admin.token (0600). */
Test(api_topics, topic_json_is_0600_after_create_and_after_patch)
{
    struct http_response r;

    ac_create_topic(&srv, "secret", 1, "{\"webhook.secret\":\"s3cret\"}");
    cr_assert(eq(u32, topic_json_mode("secret"), 0600u));
    ac_send_json(&srv, "PATCH", "/topics/secret",
                 "{\"partitions\":2,\"config\":{\"webhook.secret\":\"other\"}}", &r);
    json_decref(ac_expect_json(&r, 200));
    http_response_release(&r);
    cr_assert(eq(u32, topic_json_mode("secret"), 0600u));
    ac_server_stop_clean(&srv);
}

/* Names API.md forbids, as JSON string literals. */
static const char *const bad_names[] = {
    "\"/\"",           "\"..\"",  "\".\"",       "\"%2F\"",
    "\"%00\"",         "\"a/b\"", "\"a b\"",     "\"caf\\u00e9\"",
    "\"caf\xc3\xa9\"", "\"\"",    "\"\\u2603\"", "\"a\\nb\"",
    "\"a:b\"",         "42",      "null",
};

Test(api_topics, invalid_names_are_400_invalid_topic_name_on_create)
{
    struct http_response r;
    char body[600], longname[251];

    for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
        snprintf(body, sizeof(body), "{\"name\":%s}", bad_names[i]);
        ac_send_json(&srv, "POST", "/topics", body, &r);
        json_decref(ac_expect_problem(&r, 400, "invalid_topic_name"));
        http_response_release(&r);
    }
    memset(longname, 'a', 250);
    longname[250] = '\0';
    snprintf(body, sizeof(body), "{\"name\":\"%s\"}", longname);
    ac_send_json(&srv, "POST", "/topics", body, &r);
    json_decref(ac_expect_problem(&r, 400, "invalid_topic_name"));
    http_response_release(&r);
    ac_server_stop_clean(&srv);
}

Test(api_topics, a_nul_inside_a_name_or_config_value_is_refused_by_its_field)
{
    struct http_response r;

    ac_send_json(&srv, "POST", "/topics", "{\"name\":\"a\\u0000b\"}", &r);
    json_decref(ac_expect_problem(&r, 400, "invalid_topic_name"));
    http_response_release(&r);
    json_decref(get_topic("a", 404));
    ac_send_json(&srv, "POST", "/topics",
                 "{\"name\":\"nul\",\"config\":{\"cleanup.policy\":\"delete\\u0000x\"}}", &r);
    json_decref(ac_expect_problem(&r, 400, "invalid_config"));
    http_response_release(&r);
    json_decref(get_topic("nul", 404));
    ac_server_stop_clean(&srv);
}

Test(api_topics, a_number_beyond_64_bits_is_400_number_out_of_range)
{
    struct http_response r;

    ac_send_json(&srv, "POST", "/topics",
                 "{\"name\":\"big\",\"config\":{\"retention.ms\":99999999999999999999}}", &r);
    json_decref(ac_expect_problem(&r, 400, "number_out_of_range"));
    http_response_release(&r);
    json_decref(get_topic("big", 404));
    ac_create_topic(&srv, "big", 1, NULL);
    ac_send_json(&srv, "PATCH", "/topics/big", "{\"partitions\":1e400}", &r);
    json_decref(ac_expect_problem(&r, 400, "number_out_of_range"));
    http_response_release(&r);
    ac_server_stop_clean(&srv);
}

Test(api_topics, names_of_249_chars_and_every_allowed_character_are_accepted)
{
    char name[250], path[300];
    struct http_response r;
    json_t *t;

    memset(name, 'x', 249);
    name[249] = '\0';
    ac_create_topic(&srv, name, 1, NULL);
    t = get_topic(name, 200);
    expect_topic_shape(t, name, 1);
    json_decref(t);
    ac_create_topic(&srv, "Az09._-", 1, NULL);
    ac_create_topic(&srv, "_x", 1, NULL); /* one underscore is not internal */
    snprintf(path, sizeof(path), "/topics/Az09._-");
    ac_get(&srv, path, &r);
    t = ac_expect_json(&r, 200);
    cr_assert(ac_holds(json_is_false(json_object_get(t, "internal"))));
    json_decref(t);
    http_response_release(&r);
    ac_server_stop_clean(&srv);
}

Test(api_topics, a_name_starting_with_two_underscores_is_reserved)
{
    struct http_response r;

    ac_send_json(&srv, "POST", "/topics", "{\"name\":\"__x\"}", &r);
    json_decref(ac_expect_problem(&r, 400, "reserved_topic_name"));
    http_response_release(&r);
    ac_server_stop_clean(&srv);
}

/* A GET sent as is (curl would remove dot segments); returns the status and parses
 * the body, which must be a problem document with one of 'codes'. */
static long raw_get_problem(const char *path, const char *const *codes)
{
    char req[1024], ct[128];
    char *resp;
    long status;
    json_t *j;

    snprintf(req, sizeof(req),
             "GET %s HTTP/1.1\r\nHost: t\r\n%s\r\nConnection: close\r\n\r\n", path,
             srv.auth);
    resp = ac_raw_exchange(&srv, req, strlen(req));
    status = ac_raw_status(resp);
    ac_raw_header(resp, "Content-Type", ct, sizeof(ct));
    cr_assert(eq(int, strncasecmp(ct, "application/problem+json", 24), 0), "%s: %s", path,
              resp);
    j = ac_json(ac_raw_body(resp));
    cr_assert(eq(i64, ac_int(j, "status"), status), "%s", resp);
    if (codes) {
        const char *code = json_string_value(json_object_get(j, "code"));
        bool found = false;

        for (const char *const *c = codes; code && *c; c++)
            found |= !strcmp(code, *c);
        cr_assert(found, "%s: code %s: %s", path, code ? code : "(none)", resp);
    }
    json_decref(j);
    free(resp);
    return status;
}

Test(api_topics, invalid_names_in_the_path_are_400_invalid_topic_name)
{
    static const char *const paths[] = {
        "/topics/%2F",           "/topics/..",        "/topics/.",
        "/topics/%2E%2E",        "/topics/caf%C3%A9", "/topics/a%20b",
        "/topics/..%2F..%2Fetc", "/topics/%2e",
    };
    static const char *const codes[] = {"invalid_topic_name", NULL};
    char path[400];

    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        cr_assert(eq(long, raw_get_problem(paths[i], codes), 400), "%s", paths[i]);
    memcpy(path, "/topics/", 8);
    memset(path + 8, 'a', 250);
    path[258] = '\0';
    cr_assert(eq(long, raw_get_problem(path, codes), 400), "250 chars");
    ac_server_stop_clean(&srv);
}

Test(api_topics, a_nul_in_the_path_is_400)
{
    static const char *const codes[] = {"invalid_topic_name", "bad_path", NULL};

    cr_assert(eq(long, raw_get_problem("/topics/%00", codes), 400));
    cr_assert(eq(long, raw_get_problem("/topics/a%00b/partitions/0", codes), 400));
    ac_server_stop_clean(&srv);
}

Test(api_topics, delete_with_a_dot_segment_name_is_400_and_deletes_nothing)
{
    char req[512];
    char *resp;

    ac_create_topic(&srv, "survivor", 1, NULL);
    snprintf(req, sizeof(req),
             "DELETE /topics/.. HTTP/1.1\r\nHost: t\r\n%s\r\nConnection: close\r\n\r\n",
             srv.auth);
    resp = ac_raw_exchange(&srv, req, strlen(req));
    cr_assert(eq(long, ac_raw_status(resp), 400), "%s", resp);
    free(resp);
    json_decref(get_topic("survivor", 200));
    ac_server_stop_clean(&srv);
}

/* The Allow header as a set: every method of 'want' and nothing else. */
static void expect_allow(const struct http_response *r, const char *const *want)
{
    const char *allow = http_response_header(r, "Allow");
    char copy[256], *save = NULL;
    size_t n = 0, nwant = 0;

    cr_assert(not(eq(ptr, (void *)allow, NULL)), "405 without Allow");
    while (want[nwant])
        nwant++;
    snprintf(copy, sizeof(copy), "%s", allow);
    for (char *m = strtok_r(copy, ", ", &save); m; m = strtok_r(NULL, ", ", &save)) {
        bool found = false;

        for (size_t i = 0; i < nwant; i++)
            found |= !strcmp(m, want[i]);
        cr_assert(found, "Allow: %s has %s", allow, m);
        n++;
    }
    cr_assert(eq(sz, n, nwant), "Allow: %s", allow);
}

struct allow_case {
    const char *method;
    const char *path;
    const char *allow[6];
};

Test(api_topics, a_wrong_method_is_405_with_allow_listing_the_right_ones)
{
    static const struct allow_case cases[] = {
        {"PUT", "/topics", {"GET", "HEAD", "POST"}},
        {"DELETE", "/topics", {"GET", "HEAD", "POST"}},
        {"POST", "/topics/t", {"GET", "HEAD", "PATCH", "DELETE"}},
        {"PUT", "/topics/t", {"GET", "HEAD", "PATCH", "DELETE"}},
        {"GET", "/topics/t/messages", {"POST"}},
        {"POST", "/topics/t/partitions/0", {"GET", "HEAD"}},
        {"DELETE", "/topics/t/partitions/0/offsets", {"GET", "HEAD"}},
        {"DELETE", "/healthz", {"GET", "HEAD"}},
    };
    struct http_response r;

    ac_create_topic(&srv, "t", 1, NULL);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ac_req(&srv, cases[i].method, cases[i].path, NULL, NULL, 0, &r);
        json_decref(ac_expect_problem(&r, 405, "method_not_allowed"));
        expect_allow(&r, cases[i].allow);
        http_response_release(&r);
    }
    ac_server_stop_clean(&srv);
}

Test(api_topics, unknown_paths_are_404_not_found)
{
    static const char *const paths[] = {
        "/nope",
        "/topics/t/nope",
        "/topics/t/partitions",
        "/topics/t/partitions/0/x",
        "/TOPICS",
        "/topics//partitions/0",
    };
    struct http_response r;

    ac_create_topic(&srv, "t", 1, NULL);
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        ac_get(&srv, paths[i], &r);
        json_decref(ac_expect_problem(&r, 404, "not_found"));
        http_response_release(&r);
    }
    ac_server_stop_clean(&srv);
}

/* Sends GET /topics with 'auth_header' (or none) and expects a 401 with a Bearer
 * challenge; 'error' (if not NULL) must appear in WWW-Authenticate. */
static void expect_401(const char *auth_header, const char *error)
{
    const char *h[] = {auth_header, NULL};
    struct http_response r;
    const char *www;

    ac_req_noauth(&srv, "GET", "/topics", auth_header ? h : NULL, NULL, 0, &r);
    json_decref(ac_expect_problem(&r, 401, NULL));
    www = http_response_header(&r, "WWW-Authenticate");
    cr_assert(not(eq(ptr, (void *)www, NULL)), "401 without WWW-Authenticate");
    cr_assert(eq(int, strncasecmp(www, "Bearer", 6), 0), "WWW-Authenticate: %s", www);
    if (error)
        cr_assert(not(eq(ptr, strstr(www, error), NULL)), "WWW-Authenticate: %s", www);
    cr_assert(eq(ptr, strstr(r.body, srv.token), NULL), "the token is echoed");
    http_response_release(&r);
}

Test(api_topics, no_token_is_401_with_a_bearer_challenge)
{
    expect_401(NULL, NULL);
    expect_401("Authorization: Bearer ", NULL);
    ac_server_stop_clean(&srv);
}

Test(api_topics, a_wrong_or_truncated_token_is_401_invalid_token)
{
    char h[256];

    expect_401("Authorization: Bearer rill_not-the-token", "error=\"invalid_token\"");
    snprintf(h, sizeof(h), "Authorization: Bearer %.*s", (int)strlen(srv.token) - 1,
             srv.token);
    expect_401(h, "error=\"invalid_token\"");
    snprintf(h, sizeof(h), "Authorization: Bearer %sx", srv.token);
    expect_401(h, "error=\"invalid_token\"");
    ac_server_stop_clean(&srv);
}

Test(api_topics, another_auth_scheme_is_401_with_a_bearer_challenge)
{
    char h[256];

    expect_401("Authorization: Basic dXNlcjpwYXNz", NULL);
    snprintf(h, sizeof(h), "Authorization: Token %s", srv.token);
    expect_401(h, NULL);
    ac_server_stop_clean(&srv);
}

Test(api_topics, the_bearer_scheme_is_case_insensitive)
{
    struct http_response r;
    char h[256];
    const char *hs[] = {h, NULL};

    snprintf(h, sizeof(h), "Authorization: bearer %s", srv.token);
    ac_req_noauth(&srv, "GET", "/topics", hs, NULL, 0, &r);
    json_decref(ac_expect_json(&r, 200));
    http_response_release(&r);
    ac_server_stop_clean(&srv);
}

Test(api_topics, a_refused_token_writes_nothing)
{
    const char *h[] = {"Content-Type: application/json", "Authorization: Bearer nope",
                       NULL};
    struct http_response r;
    const char *body = "{\"name\":\"sneaky\"}";

    ac_req_noauth(&srv, "POST", "/topics", h, body, strlen(body), &r);
    json_decref(ac_expect_problem(&r, 401, NULL));
    http_response_release(&r);
    json_decref(get_topic("sneaky", 404));
    ac_server_stop_clean(&srv);
}

Test(api_topics, access_token_works_on_get)
{
    struct http_response r;
    char path[300];

    ac_create_topic(&srv, "viaquery", 1, NULL);
    snprintf(path, sizeof(path), "/topics/viaquery?access_token=%s", srv.token);
    ac_req_noauth(&srv, "GET", path, NULL, NULL, 0, &r);
    json_decref(ac_expect_json(&r, 200));
    http_response_release(&r);
    snprintf(path, sizeof(path), "/topics?access_token=%.*s", (int)strlen(srv.token) - 1,
             srv.token);
    ac_req_noauth(&srv, "GET", path, NULL, NULL, 0, &r);
    json_decref(ac_expect_problem(&r, 401, NULL));
    http_response_release(&r);
    ac_server_stop_clean(&srv);
}

Test(api_topics, access_token_is_refused_on_post_and_delete)
{
    const char *h[] = {"Content-Type: application/json", NULL};
    const char *body = "{\"name\":\"byquery\"}";
    struct http_response r;
    char path[300];

    snprintf(path, sizeof(path), "/topics?access_token=%s", srv.token);
    ac_req_noauth(&srv, "POST", path, h, body, strlen(body), &r);
    json_decref(ac_expect_problem(&r, 401, NULL));
    http_response_release(&r);
    json_decref(get_topic("byquery", 404));

    ac_create_topic(&srv, "keepme", 1, NULL);
    snprintf(path, sizeof(path), "/topics/keepme?access_token=%s", srv.token);
    ac_req_noauth(&srv, "DELETE", path, NULL, NULL, 0, &r);
    json_decref(ac_expect_problem(&r, 401, NULL));
    http_response_release(&r);
    json_decref(get_topic("keepme", 200));
    ac_server_stop_clean(&srv);
}

Test(api_topics, healthz_needs_no_token)
{
    ac_expect_healthy(&srv);
    ac_server_stop_clean(&srv);
}
