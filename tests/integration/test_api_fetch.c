/* tests/integration/test_api_fetch.c: GET /topics/{t}/partitions/{p} and .../offsets end
 * to end (api/consume.c: offsets, timestamps, limits, the long poll), and that what was
 * acknowledged survives a restart and a kill -9, through the real binary ($RILL_BIN).
 * Each test has its own server (see api_client.h), at debug log level so a test can
 * see when a request has reached it, and ends by stopping it: a clean exit 0. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "tests/support/api_client.h"

static struct ac_server srv;

static void setup(void)
{
    const char *args[] = {"--log-level", "debug", NULL};

    ac_server_start(&srv, args);
}

static void teardown(void) { ac_server_cleanup(&srv); }

TestSuite(api_fetch, .init = setup, .fini = teardown, .timeout = 90);

static json_t *records_of(const json_t *answer)
{
    json_t *recs = json_object_get(answer, "records");

    cr_assert(ac_holds(json_is_array(recs)), "no records array");
    return recs;
}

/* Asserts the records' offsets are exactly from..to-1. */
static void expect_offsets_range(const json_t *answer, int64_t from, int64_t to)
{
    json_t *recs = records_of(answer);

    cr_assert(eq(sz, json_array_size(recs), (size_t)(to - from)));
    for (int64_t o = from; o < to; o++)
        cr_assert(eq(i64, ac_int(json_array_get(recs, (size_t)(o - from)), "offset"), o));
}

/* Five records, offsets 0..4, values 0..4, in one request (one batch). */
static void produce_five(const char *topic)
{
    ac_create_topic(&srv, topic, 1, NULL);
    json_decref(ac_produce(&srv, topic,
                           "{\"records\":[{\"value\":0},{\"value\":1},{\"value\":2},"
                           "{\"value\":3},{\"value\":4}]}"));
}

Test(api_fetch, an_offset_reads_from_there_with_next_offset_and_high_watermark)
{
    json_t *j;

    produce_five("f");
    j = ac_fetch(&srv, "f", 0, "offset=2");
    cr_assert(eq(str, (char *)json_string_value(json_object_get(j, "topic")), "f"));
    cr_assert(eq(i64, ac_int(j, "partition"), 0));
    expect_offsets_range(j, 2, 5);
    cr_assert(eq(i64, ac_int(json_array_get(records_of(j), 0), "value"), 2));
    cr_assert(eq(i64, ac_int(j, "next_offset"), 5));
    cr_assert(eq(i64, ac_int(j, "high_watermark"), 5));
    json_decref(j);
    ac_server_stop_clean(&srv);
}

Test(api_fetch, offset_defaults_to_earliest_and_takes_earliest_and_latest)
{
    json_t *j;

    produce_five("f");
    j = ac_fetch(&srv, "f", 0, NULL);
    expect_offsets_range(j, 0, 5);
    json_decref(j);
    j = ac_fetch(&srv, "f", 0, "offset=earliest");
    expect_offsets_range(j, 0, 5);
    json_decref(j);
    j = ac_fetch(&srv, "f", 0, "offset=latest");
    expect_offsets_range(j, 5, 5);
    cr_assert(eq(i64, ac_int(j, "next_offset"), 5));
    cr_assert(eq(i64, ac_int(j, "high_watermark"), 5));
    json_decref(j);
    ac_server_stop_clean(&srv);
}

Test(api_fetch, an_offset_at_the_high_watermark_is_an_empty_answer)
{
    json_t *j;

    produce_five("f");
    j = ac_fetch(&srv, "f", 0, "offset=5");
    expect_offsets_range(j, 5, 5);
    cr_assert(eq(i64, ac_int(j, "next_offset"), 5));
    json_decref(j);
    ac_create_topic(&srv, "empty", 1, NULL);
    j = ac_fetch(&srv, "empty", 0, "offset=0");
    expect_offsets_range(j, 0, 0);
    cr_assert(eq(i64, ac_int(j, "next_offset"), 0));
    cr_assert(eq(i64, ac_int(j, "high_watermark"), 0));
    json_decref(j);
    ac_server_stop_clean(&srv);
}

struct ts_case {
    const char *query;
    int64_t first; /* first offset answered; == end for none */
};

Test(api_fetch, timestamp_finds_the_first_offset_at_or_after_it)
{
    static const struct ts_case cases[] = {
        {"timestamp=0", 0},    {"timestamp=1000", 0}, {"timestamp=1001", 1},
        {"timestamp=2500", 2}, {"timestamp=3000", 2}, {"timestamp=3001", 3},
        {"timestamp=4500", 4}, {"timestamp=5000", 4}, {"timestamp=5001", 5},
    };

    ac_create_topic(&srv, "ts", 1, NULL);
    json_decref(ac_produce(&srv, "ts",
                           "{\"records\":[{\"value\":0,\"timestamp\":1000},{\"value\":1,"
                           "\"timestamp\":2000},{\"value\":2,\"timestamp\":3000}]}"));
    json_decref(ac_produce(&srv, "ts",
                           "{\"records\":[{\"value\":3,\"timestamp\":4000},{\"value\":4,"
                           "\"timestamp\":5000}]}"));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *j = ac_fetch(&srv, "ts", 0, cases[i].query);
        json_t *recs = records_of(j);

        if (cases[i].first == 5) {
            cr_assert(eq(sz, json_array_size(recs), 0), "%s", cases[i].query);
            cr_assert(eq(i64, ac_int(j, "next_offset"), 5), "%s", cases[i].query);
        } else {
            cr_assert(ge(sz, json_array_size(recs), (0) + 1), "%s", cases[i].query);
            cr_assert(eq(i64, ac_int(json_array_get(recs, 0), "offset"), cases[i].first),
                      "%s", cases[i].query);
        }
        json_decref(j);
    }
    ac_server_stop_clean(&srv);
}

Test(api_fetch, timestamp_with_out_of_order_times_finds_the_first_record_at_or_after_it)
{
    /* offsets 0..3, timestamps 1000, 3000, 2000, 4000, each its own batch */
    static const struct ts_case cases[] = {
        {"timestamp=1500", 1}, {"timestamp=2000", 1}, {"timestamp=3000", 1},
        {"timestamp=3500", 3}, {"timestamp=4001", 4},
    };
    static const int times[] = {1000, 3000, 2000, 4000};
    char body[128];

    ac_create_topic(&srv, "ts", 1, NULL);
    for (int i = 0; i < 4; i++) {
        snprintf(body, sizeof(body), "{\"records\":[{\"value\":%d,\"timestamp\":%d}]}", i,
                 times[i]);
        json_decref(ac_produce(&srv, "ts", body));
    }
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *j = ac_fetch(&srv, "ts", 0, cases[i].query);
        json_t *recs = records_of(j);

        if (cases[i].first == 4) {
            cr_assert(eq(sz, json_array_size(recs), 0), "%s", cases[i].query);
        } else {
            cr_assert(ge(sz, json_array_size(recs), (0) + 1), "%s", cases[i].query);
            cr_assert(eq(i64, ac_int(json_array_get(recs, 0), "offset"), cases[i].first),
                      "%s", cases[i].query);
        }
        json_decref(j);
    }
    ac_server_stop_clean(&srv);
}

Test(api_fetch, limit_caps_the_records_and_next_offset_follows)
{
    json_t *j;

    produce_five("f");
    j = ac_fetch(&srv, "f", 0, "offset=1&limit=2");
    expect_offsets_range(j, 1, 3);
    cr_assert(eq(i64, ac_int(j, "next_offset"), 3));
    cr_assert(eq(i64, ac_int(j, "high_watermark"), 5));
    json_decref(j);
    j = ac_fetch(&srv, "f", 0, "offset=3&limit=10000");
    expect_offsets_range(j, 3, 5);
    json_decref(j);
    ac_server_stop_clean(&srv);
}

Test(api_fetch, max_bytes_still_returns_one_record_bigger_than_it)
{
    char body[2200];
    json_t *j;

    ac_create_topic(&srv, "big", 1, NULL);
    for (int i = 0; i < 3; i++) { /* three requests: three batches of ~1 KiB */
        snprintf(body, sizeof(body), "{\"records\":[{\"value\":\"%d%01000d\"}]}", i, 0);
        json_decref(ac_produce(&srv, "big", body));
    }
    j = ac_fetch(&srv, "big", 0, "offset=0&max_bytes=1");
    expect_offsets_range(j, 0, 1);
    cr_assert(eq(i64, ac_int(j, "next_offset"), 1));
    json_decref(j);
    j = ac_fetch(&srv, "big", 0, "offset=1&max_bytes=1500");
    expect_offsets_range(j, 1, 2);
    json_decref(j);
    j = ac_fetch(&srv, "big", 0, "offset=0&max_bytes=1048576");
    expect_offsets_range(j, 0, 3);
    json_decref(j);
    ac_server_stop_clean(&srv);
}

Test(api_fetch, value_format_base64_forces_base64)
{
    json_t *j, *rec;
    unsigned char *v;
    size_t len;

    ac_create_topic(&srv, "b64", 1, NULL);
    json_decref(
        ac_produce(&srv, "b64", "{\"records\":[{\"key\":\"k\",\"value\":{\"a\":1}}]}"));
    j = ac_fetch(&srv, "b64", 0, "offset=0&value_format=base64");
    rec = json_array_get(records_of(j), 0);
    cr_assert(eq(ptr, json_object_get(rec, "value"), NULL));
    v = ac_unbase64(json_string_value(json_object_get(rec, "value_base64")), &len);
    cr_assert(not(eq(ptr, v, NULL)));
    cr_assert(eq(sz, len, 7));
    cr_assert(eq(int, memcmp(v, "{\"a\":1}", 7), 0));
    cr_assert(eq(str, (char *)json_string_value(json_object_get(rec, "key")), "k"));
    free(v);
    json_decref(j);
    j = ac_fetch(&srv, "b64", 0, "offset=0&value_format=auto");
    rec = json_array_get(records_of(j), 0);
    cr_assert(ac_holds(json_is_object(json_object_get(rec, "value"))));
    json_decref(j);
    ac_server_stop_clean(&srv);
}

Test(api_fetch, an_offset_past_the_high_watermark_is_416_with_earliest_and_latest)
{
    static const char *const queries[] = {"offset=6", "offset=9223372036854775807"};
    struct http_response r;
    char path[128];

    produce_five("f");
    for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
        json_t *p;

        snprintf(path, sizeof(path), "/topics/f/partitions/0?%s", queries[i]);
        ac_get(&srv, path, &r);
        p = ac_expect_problem(&r, 416, "offset_out_of_range");
        cr_assert(eq(i64, ac_int(p, "earliest"), 0));
        cr_assert(eq(i64, ac_int(p, "latest"), 5));
        json_decref(p);
        http_response_release(&r);
    }
    ac_server_stop_clean(&srv);
}

/* Retention is not implemented yet (no code reads retention.ms or retention.bytes, see
 * the report), so the log start never moves and this cannot pass: enable it once it is.
 */
Test(api_fetch, an_offset_below_the_log_start_is_416_with_earliest_and_latest)
{
    struct http_response r;
    struct ac_text body = {0};
    int64_t earliest = 0;
    json_t *p;

    ac_server_stop_clean(&srv);
    ac_server_cleanup(&srv);
    {
        const char *args[] = {"--retention-check-ms", "50", NULL};

        ac_server_start(&srv, args);
    }
    ac_create_topic(&srv, "old", 1, "{\"segment.bytes\":1024,\"retention.ms\":1}");
    for (int i = 0; i < 20; i++) {
        body.len = 0;
        ac_text_printf(&body, "{\"records\":[{\"value\":\"%0200d\"}]}", i);
        json_decref(ac_produce(&srv, "old", body.data));
    }
    for (int i = 0; i < 400 && earliest == 0; i++) { /* up to 20 s */
        ac_get(&srv, "/topics/old/partitions/0/offsets", &r);
        p = ac_expect_json(&r, 200);
        earliest = ac_int(p, "earliest");
        json_decref(p);
        http_response_release(&r);
        if (!earliest)
            nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
    }
    cr_assert(ge(i64, earliest, (0) + 1), "retention never moved the log start");
    ac_get(&srv, "/topics/old/partitions/0?offset=0", &r);
    p = ac_expect_problem(&r, 416, "offset_out_of_range");
    cr_assert(eq(i64, ac_int(p, "earliest"), earliest));
    json_decref(p);
    http_response_release(&r);
    ac_text_release(&body);
    ac_server_stop_clean(&srv);
}

/* GETs /topics/f/partitions/0?<query> and expects 400 (a problem naming nothing in
 * particular: the code varies by parameter). */
static void expect_400(const char *query)
{
    struct http_response r;
    char path[256];

    snprintf(path, sizeof(path), "/topics/f/partitions/0?%s", query);
    ac_get(&srv, path, &r);
    cr_assert(eq(long, r.status, 400), "%s: %ld %s", query, r.status, r.body);
    json_decref(ac_expect_problem(&r, 400, NULL));
    http_response_release(&r);
}

/* An offset is never negative, so "-1" is bad input (400, like limit=-1), not a
 * position outside the log: api/consume.c parse_fetch() parses it as a number and
 * answers 416 offset_out_of_range. Disabled until it answers 400. */
Test(api_fetch, negative_offsets_are_400)
{
    produce_five("f");
    expect_400("offset=-1");
    expect_400("offset=-9223372036854775808");
    ac_server_stop_clean(&srv);
}

Test(api_fetch, non_numeric_offsets_are_400)
{
    static const char *const bad[] = {
        "offset=abc",   "offset=1x",   "offset=",     "offset=0x10",
        "offset=1e3",   "offset=%201", "offset=%2B1", "offset=99999999999999999999",
        "offset=first", "offset=1.0",
    };

    produce_five("f");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_400(bad[i]);
    ac_server_stop_clean(&srv);
}

Test(api_fetch, out_of_range_limits_and_bad_parameters_are_400)
{
    static const char *const bad[] = {
        "limit=0",      "limit=10001",      "limit=-1",      "limit=ten",
        "max_bytes=0",  "max_bytes=-5",     "wait_ms=30001", "wait_ms=-1",
        "wait_ms=soon", "value_format=hex", "timestamp=abc", "offset=0&timestamp=0",
    };

    produce_five("f");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_400(bad[i]);
    ac_server_stop_clean(&srv);
}

/* A timestamp is milliseconds since the epoch, never negative: -1 is not Kafka's
 * "latest" (nor, as it once was, a read from the start). */
Test(api_fetch, a_negative_timestamp_is_400_invalid_parameter_naming_timestamp)
{
    static const char *const bad[] = {"timestamp=-1", "timestamp=-5",
                                      "timestamp=-9223372036854775808"};
    struct http_response r;
    char path[256];
    json_t *p, *j;

    produce_five("f");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *detail;

        snprintf(path, sizeof(path), "/topics/f/partitions/0?%s", bad[i]);
        ac_get(&srv, path, &r);
        p = ac_expect_problem(&r, 400, "invalid_parameter");
        detail = json_string_value(json_object_get(p, "detail"));
        cr_assert(ne(ptr, strstr(detail, "'timestamp'"), NULL), "%s: %s", bad[i], detail);
        cr_assert(ne(ptr, strstr(detail, ">= 0"), NULL), "%s: %s", bad[i], detail);
        json_decref(p);
        http_response_release(&r);
    }
    j = ac_fetch(&srv, "f", 0, "timestamp=0");
    expect_offsets_range(j, 0, 5);
    json_decref(j);
    ac_server_stop_clean(&srv);
}

/* The bytes "null" (a raw produce, or value_base64 "bnVsbA==") are a value, not the
 * null value of a tombstone, so they come back as value_base64. */
Test(api_fetch, a_value_of_the_bytes_null_comes_back_as_value_base64)
{
    static const char *const text[] = {"Content-Type: text/plain", NULL};
    struct http_response r;
    json_t *j, *recs, *rec;

    ac_create_topic(&srv, "n", 1, NULL);
    ac_req(&srv, "POST", "/topics/n/messages", text, "null", 4, &r);
    cr_assert(eq(long, r.status, 200), "%ld %s", r.status, r.body);
    http_response_release(&r);
    json_decref(ac_produce(&srv, "n",
                           "{\"records\":[{\"value\":null},"
                           "{\"value_base64\":\"bnVsbA==\"},{\"value\":[null]}]}"));
    j = ac_fetch(&srv, "n", 0, "offset=0");
    recs = records_of(j);
    cr_assert(eq(sz, json_array_size(recs), 4));
    for (size_t i = 0; i < 2; i++) { /* offsets 0 (raw) and 2 (value_base64) */
        rec = json_array_get(recs, 2 * i);
        cr_assert(eq(ptr, json_object_get(rec, "value"), NULL), "offset %zu", 2 * i);
        cr_assert(eq(str, (char *)json_string_value(json_object_get(rec, "value_base64")),
                     "bnVsbA=="), "offset %zu", 2 * i);
    }
    rec = json_array_get(recs, 1);
    cr_assert(ac_holds(json_is_null(json_object_get(rec, "value"))), "a null value");
    cr_assert(eq(ptr, json_object_get(rec, "value_base64"), NULL));
    rec = json_array_get(recs, 3);
    cr_assert(ac_holds(json_is_array(json_object_get(rec, "value"))), "[null] embedded");
    json_decref(j);
    ac_server_stop_clean(&srv);
}

Test(api_fetch, wait_ms_30000_is_accepted_and_does_not_wait_when_records_exist)
{
    json_t *j;

    produce_five("f");
    j = ac_fetch(&srv, "f", 0, "offset=4&wait_ms=30000");
    expect_offsets_range(j, 4, 5);
    json_decref(j);
    ac_server_stop_clean(&srv);
}

Test(api_fetch, bad_partitions_are_400_or_404)
{
    static const char *const codes400[] = {"invalid_partition", NULL};
    struct http_response r;

    ac_create_topic(&srv, "three", 3, NULL);
    ac_get(&srv, "/topics/three/partitions/abc", &r);
    json_decref(ac_expect_problem_any(&r, 400, codes400));
    http_response_release(&r);
    ac_get(&srv, "/topics/three/partitions/-1", &r);
    json_decref(ac_expect_problem_any(&r, 400, codes400));
    http_response_release(&r);
    ac_get(&srv, "/topics/three/partitions/3", &r);
    json_decref(ac_expect_problem(&r, 404, "partition_not_found"));
    http_response_release(&r);
    ac_get(&srv, "/topics/three/partitions/99999999999999999999", &r);
    json_decref(ac_expect_problem_any(&r, 400, codes400));
    http_response_release(&r);
    ac_get(&srv, "/topics/three/partitions/3/offsets", &r);
    json_decref(ac_expect_problem(&r, 404, "partition_not_found"));
    http_response_release(&r);
    ac_get(&srv, "/topics/nope/partitions/0", &r);
    json_decref(ac_expect_problem(&r, 404, "topic_not_found"));
    http_response_release(&r);
    ac_get(&srv, "/topics/nope/partitions/0/offsets", &r);
    json_decref(ac_expect_problem(&r, 404, "topic_not_found"));
    http_response_release(&r);
    ac_server_stop_clean(&srv);
}

Test(api_fetch, the_offsets_endpoint_answers_earliest_and_latest)
{
    struct http_response r;
    json_t *j;

    produce_five("f");
    ac_get(&srv, "/topics/f/partitions/0/offsets", &r);
    j = ac_expect_json(&r, 200);
    cr_assert(eq(i64, ac_int(j, "earliest"), 0));
    cr_assert(eq(i64, ac_int(j, "latest"), 5));
    json_decref(j);
    http_response_release(&r);
    ac_server_stop_clean(&srv);
}

/* ---- the long poll ---- */

/* One GET on its own thread; no assertions off the test's main thread. */
struct poller {
    char path[256];
    pthread_t thread;
    int ret;
    long status;
    char *body;
};

static void *poll_main(void *arg)
{
    struct poller *pl = arg;
    const char *h[] = {srv.auth, NULL};
    struct http_response r;
    char url[512];

    snprintf(url, sizeof(url), "%s%s", srv.proc.url, pl->path);
    pl->ret = http_request("GET", url, h, NULL, 0, &r);
    pl->status = r.status;
    pl->body = strdup(r.body ? r.body : "");
    http_response_release(&r);
    return NULL;
}

/* Starts the GET and returns once the server's log shows the request arrived. */
static void poller_start(struct poller *pl, const char *path)
{
    char needle[300];

    memset(pl, 0, sizeof(*pl));
    snprintf(pl->path, sizeof(pl->path), "%s", path);
    cr_assert(eq(int, pthread_create(&pl->thread, NULL, poll_main, pl), 0));
    snprintf(needle, sizeof(needle), "\"GET %s\" begins", path);
    cr_assert(ac_server_log_shows(&srv, needle), "the server never saw %s", path);
}

/* Joins the GET; asserts a 200 and returns its records' answer (to json_decref). */
static json_t *poller_join(struct poller *pl)
{
    json_t *j;

    pthread_join(pl->thread, NULL);
    cr_assert(eq(int, pl->ret, 0), "the long poll got no answer");
    cr_assert(eq(long, pl->status, 200), "%s", pl->body);
    j = ac_json(pl->body);
    free(pl->body);
    pl->body = NULL;
    return j;
}

Test(api_fetch, a_long_poll_answers_with_the_record_produced_while_it_waits)
{
    struct poller pl;
    json_t *j, *rec;

    produce_five("lp");
    poller_start(&pl, "/topics/lp/partitions/0?offset=5&wait_ms=5000");
    json_decref(
        ac_produce(&srv, "lp", "{\"records\":[{\"key\":\"new\",\"value\":\"fresh\"}]}"));
    j = poller_join(&pl);
    cr_assert(eq(sz, json_array_size(records_of(j)), 1),
              "the long poll answered without the new record: %s", json_dumps(j, 0));
    rec = json_array_get(records_of(j), 0);
    cr_assert(eq(i64, ac_int(rec, "offset"), 5));
    cr_assert(eq(str, (char *)json_string_value(json_object_get(rec, "value")), "fresh"));
    cr_assert(eq(i64, ac_int(j, "next_offset"), 6));
    json_decref(j);
    ac_server_stop_clean(&srv);
}

Test(api_fetch, several_long_polls_on_one_partition_all_get_the_record)
{
    struct poller pl[3];

    ac_create_topic(&srv, "lp", 2, NULL);
    poller_start(&pl[0], "/topics/lp/partitions/1?offset=0&wait_ms=5000");
    poller_start(&pl[1], "/topics/lp/partitions/1?offset=latest&wait_ms=5000");
    poller_start(&pl[2], "/topics/lp/partitions/1?wait_ms=5000&limit=1");
    json_decref(ac_produce(&srv, "lp", "{\"records\":[{\"partition\":1,\"value\":7}]}"));
    for (int i = 0; i < 3; i++) {
        json_t *j = poller_join(&pl[i]);

        cr_assert(eq(sz, json_array_size(records_of(j)), 1), "poll %d", i);
        cr_assert(eq(i64, ac_int(json_array_get(records_of(j), 0), "value"), 7));
        json_decref(j);
    }
    ac_server_stop_clean(&srv);
}

Test(api_fetch, a_long_poll_with_nothing_produced_answers_200_with_no_records)
{
    json_t *j;

    produce_five("lp");
    j = ac_fetch(&srv, "lp", 0, "offset=5&wait_ms=300");
    expect_offsets_range(j, 5, 5);
    cr_assert(eq(i64, ac_int(j, "next_offset"), 5));
    cr_assert(eq(i64, ac_int(j, "high_watermark"), 5));
    json_decref(j);
    ac_server_stop_clean(&srv);
}

Test(api_fetch, a_long_poll_open_at_sigterm_is_answered_and_the_server_exits_0)
{
    struct poller pl;
    json_t *j;

    produce_five("lp");
    poller_start(&pl, "/topics/lp/partitions/0?offset=latest&wait_ms=30000");
    /* exit 0 within rillproc_stop()'s 20 s, so well before the 30 s poll ends */
    ac_server_stop_clean(&srv);
    j = poller_join(&pl);
    expect_offsets_range(j, 5, 5);
    json_decref(j);
}

/* A long poll on a topic deleted while it waits answers 404 topic_not_found at once
 * (not 200 and no records once its wait_ms has passed), on every partition. The bound
 * is far from both: the polls ask for 30 s, the test allows 20 s. */
Test(api_fetch, a_long_poll_on_a_topic_deleted_while_it_waits_answers_404_at_once)
{
    struct poller pl[2];
    struct http_response r;
    int64_t start = clock_mono_ms();

    ac_create_topic(&srv, "lp", 2, NULL);
    json_decref(ac_produce(&srv, "lp", "{\"records\":[{\"partition\":1,\"value\":1}]}"));
    poller_start(&pl[0], "/topics/lp/partitions/0?offset=0&wait_ms=30000");
    poller_start(&pl[1], "/topics/lp/partitions/1?offset=latest&wait_ms=30000");
    ac_req(&srv, "DELETE", "/topics/lp", NULL, NULL, 0, &r);
    cr_assert(eq(long, r.status, 204), "%ld %s", r.status, r.body);
    http_response_release(&r);
    for (int i = 0; i < 2; i++) {
        json_t *p;

        pthread_join(pl[i].thread, NULL);
        cr_assert(eq(int, pl[i].ret, 0), "poll %d got no answer", i);
        cr_assert(lt(i64, clock_mono_ms() - start, 20000), "poll %d waited it out", i);
        cr_assert(eq(long, pl[i].status, 404), "poll %d: %ld %s", i, pl[i].status,
                  pl[i].body);
        p = ac_json(pl[i].body);
        cr_assert(eq(str, (char *)json_string_value(json_object_get(p, "code")),
                     "topic_not_found"));
        json_decref(p);
        free(pl[i].body);
    }
    ac_server_stop_clean(&srv);
}

/* ---- durability ---- */

/* Every record of every partition of 'topics' (n partitions each), as one array per
 * topic and partition. */
static json_t *snapshot(const char *const *topics, int n)
{
    json_t *all = json_array();

    for (const char *const *t = topics; *t; t++)
        for (int p = 0; p < n; p++)
            json_array_append_new(all, ac_fetch_all(&srv, *t, p));
    return all;
}

static void produce_mix(const char *topic, int round)
{
    char body[512];

    snprintf(body, sizeof(body),
             "{\"records\":[{\"key\":\"a\",\"value\":{\"round\":%d}},{\"key\":\"b\","
             "\"value_base64\":\"AP8=\",\"headers\":{\"h\":\"%d\"}},{\"key\":\"c\","
             "\"value\":null},{\"value\":%d,\"partition\":2,\"timestamp\":%d}]}",
             round, round, round, 1000 + round);
    json_decref(ac_produce(&srv, topic, body));
}

Test(api_fetch, a_restart_keeps_every_record_and_the_topics)
{
    static const char *const topics[] = {"durable", "lazy", NULL};
    struct http_response r;
    json_t *before, *after, *tb, *ta;

    ac_create_topic(&srv, "durable", 3, "{\"retention.ms\":123456}");
    ac_create_topic(&srv, "lazy", 3,
                    "{\"flush.policy\":\"interval\",\"flush.ms\":60000}");
    for (int round = 0; round < 5; round++) {
        produce_mix("durable", round);
        produce_mix("lazy", round);
    }
    before = snapshot(topics, 3);
    ac_get(&srv, "/topics/durable", &r);
    tb = ac_expect_json(&r, 200);
    http_response_release(&r);

    ac_server_stop_clean(&srv);
    ac_server_restart(&srv);

    after = snapshot(topics, 3);
    ac_expect_json_equal(after, before, "the records after a restart");
    ac_get(&srv, "/topics/durable", &r);
    ta = ac_expect_json(&r, 200);
    http_response_release(&r);
    ac_expect_json_equal(ta, tb, "the topic after a restart");
    {
        int64_t was[3], now[3];

        ac_latest_all(&srv, "durable", 3, was);
        produce_mix("durable", 99); /* four records */
        ac_latest_all(&srv, "durable", 3, now);
        cr_assert(eq(i64, now[0] + now[1] + now[2], was[0] + was[1] + was[2] + 4),
                  "offsets do not go on after a restart");
        cr_assert(ge(i64, now[2], was[2] + 1));
    }
    json_decref(before);
    json_decref(after);
    json_decref(tb);
    json_decref(ta);
    ac_server_stop_clean(&srv);
}

Test(api_fetch, after_kill_9_everything_acknowledged_is_still_there)
{
    static const char *const topics[] = {"durable", "lazy", NULL};
    json_t *before, *after;

    ac_create_topic(&srv, "durable", 3, NULL);
    ac_create_topic(&srv, "lazy", 3,
                    "{\"flush.policy\":\"interval\",\"flush.ms\":60000}");
    for (int round = 0; round < 20; round++) {
        produce_mix("durable", round);
        produce_mix("lazy", round);
    }
    before = snapshot(topics, 3);
    cr_assert(eq(int, rillproc_kill9(&srv.proc), 0));
    ac_server_restart(&srv);
    after = snapshot(topics, 3);
    ac_expect_json_equal(after, before, "the records after kill -9");
    produce_mix("durable", 99);
    json_decref(before);
    json_decref(after);
    ac_server_stop_clean(&srv);
}
