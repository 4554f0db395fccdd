/* tests/integration/test_api_groups.c: consumer group offsets end to end against the
 * real binary (api/groups.c, storage/group_offsets.c): commit, read back with lag,
 * list, delete, the errors, and that a commit answered 200 survives a restart and a
 * kill -9. */
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

static void setup(void) { ac_server_start(&srv, NULL); }
static void teardown(void) { ac_server_cleanup(&srv); }

TestSuite(api_groups, .init = setup, .fini = teardown, .timeout = 120);

/* POST /groups/{g}/offsets with 'body'; returns the answer (caller releases). */
static void commit_raw(const char *group, const char *body, struct http_response *r)
{
    char path[512];

    snprintf(path, sizeof(path), "/groups/%s/offsets", group);
    ac_send_json(&srv, "POST", path, body, r);
}

static void commit(const char *group, const char *topic, int partition, long long offset)
{
    struct http_response r;
    char body[256];

    snprintf(body, sizeof(body),
             "{\"offsets\":[{\"topic\":\"%s\",\"partition\":%d,\"offset\":%lld}]}", topic,
             partition, offset);
    commit_raw(group, body, &r);
    json_decref(ac_expect_json(&r, 200));
    http_response_release(&r);
}

/* GET /groups/{g}/offsets: asserts 200 and returns the document. */
static json_t *get_group(const char *group)
{
    struct http_response r;
    char path[512];
    json_t *j;

    snprintf(path, sizeof(path), "/groups/%s/offsets", group);
    ac_get(&srv, path, &r);
    j = ac_expect_json(&r, 200);
    http_response_release(&r);
    return j;
}

/* The entry of (topic, partition) in a group document, asserting it is there. */
static json_t *entry(json_t *doc, const char *topic, int partition)
{
    json_t *offs = json_object_get(doc, "offsets"), *e;
    size_t i;

    json_array_foreach(offs, i, e)
    {
        if (!strcmp(json_string_value(json_object_get(e, "topic")), topic) &&
            ac_int(e, "partition") == partition)
            return e;
    }
    cr_fatal("no offset for %s/%d", topic, partition);
    return NULL;
}

static void produce(const char *topic, int partition, int n)
{
    struct ac_text body = {0};

    ac_text_printf(&body, "{\"records\":[");
    for (int i = 0; i < n; i++)
        ac_text_printf(&body, "%s{\"value\":%d,\"partition\":%d}", i ? "," : "", i, partition);
    ac_text_printf(&body, "]}");
    json_decref(ac_produce(&srv, topic, body.data));
    ac_text_release(&body);
}

Test(api_groups, a_commit_reads_back_with_latest_and_lag_and_survives_a_restart)
{
    json_t *doc, *e;

    ac_create_topic(&srv, "orders", 2, NULL);
    produce("orders", 0, 5);
    produce("orders", 1, 2);
    commit("billing", "orders", 0, 3);
    commit("billing", "orders", 1, 2);
    doc = get_group("billing");
    cr_assert(eq(str, (char *)json_string_value(json_object_get(doc, "group")), "billing"));
    e = entry(doc, "orders", 0);
    cr_assert(eq(i64, ac_int(e, "offset"), 3));
    cr_assert(eq(i64, ac_int(e, "latest"), 5));
    cr_assert(eq(i64, ac_int(e, "lag"), 2));
    cr_assert(eq(i64, ac_int(entry(doc, "orders", 1), "lag"), 0));
    json_decref(doc);
    produce("orders", 1, 4); /* lag follows the log */
    doc = get_group("billing");
    cr_assert(eq(i64, ac_int(entry(doc, "orders", 1), "lag"), 4));
    json_decref(doc);
    rillproc_stop(&srv.proc);
    ac_server_restart(&srv);
    doc = get_group("billing");
    cr_assert(eq(i64, ac_int(entry(doc, "orders", 0), "offset"), 3));
    cr_assert(eq(i64, ac_int(entry(doc, "orders", 1), "offset"), 2));
    json_decref(doc);
    ac_server_stop_clean(&srv);
}

Test(api_groups, groups_are_listed_with_their_topics_and_deleted_for_good)
{
    struct http_response r;
    json_t *j;

    ac_create_topic(&srv, "a", 1, NULL);
    ac_create_topic(&srv, "b", 1, NULL);
    produce("a", 0, 1);
    commit("g2", "b", 0, 0);
    commit("g1", "a", 0, 1);
    commit("g1", "b", 0, 0);
    ac_get(&srv, "/groups", &r);
    j = ac_expect_json(&r, 200);
    http_response_release(&r);
    {
        json_t *want = ac_json("{\"groups\":[{\"name\":\"g1\",\"members\":0,\"topics\":[\"a\",\"b\"]},"
                               "{\"name\":\"g2\",\"members\":0,\"topics\":[\"b\"]}]}");
        ac_expect_json_equal(j, want, "GET /groups");
        json_decref(want);
    }
    json_decref(j);
    ac_req(&srv, "DELETE", "/groups/g1", NULL, NULL, 0, &r);
    cr_assert(eq(long, r.status, 204));
    http_response_release(&r);
    ac_get(&srv, "/groups/g1/offsets", &r);
    json_decref(ac_expect_problem(&r, 404, "group_not_found"));
    http_response_release(&r);
    ac_req(&srv, "DELETE", "/groups/g1", NULL, NULL, 0, &r);
    json_decref(ac_expect_problem(&r, 404, "group_not_found"));
    http_response_release(&r);
    rillproc_stop(&srv.proc);
    ac_server_restart(&srv);
    ac_get(&srv, "/groups/g1/offsets", &r);
    json_decref(ac_expect_problem(&r, 404, "group_not_found"));
    http_response_release(&r);
    json_decref(get_group("g2"));
    ac_server_stop_clean(&srv);
}

Test(api_groups, a_commit_answered_200_survives_kill_9, .timeout = 180)
{
    ac_create_topic(&srv, "orders", 1, NULL);
    produce("orders", 0, 50);
    for (int cycle = 0; cycle < 4; cycle++) {
        json_t *doc;

        for (int k = 1; k <= 10; k++)
            commit("billing", "orders", 0, cycle * 10 + k);
        cr_assert(eq(int, rillproc_kill9(&srv.proc), 0)); /* right after the last 200 */
        ac_server_restart(&srv);
        doc = get_group("billing");
        cr_assert(eq(i64, ac_int(entry(doc, "orders", 0), "offset"), cycle * 10 + 10),
                  "cycle %d", cycle);
        json_decref(doc);
    }
    ac_server_stop_clean(&srv);
}

struct committer {
    int id;
};

static void *commit_many(void *arg)
{
    struct committer *c = arg;

    for (int k = 0; k < 20; k++)
        commit("race", "orders", 0, (c->id * 20 + k) % 40);
    return NULL;
}

Test(api_groups, concurrent_commits_leave_what_a_replay_finds)
{
    pthread_t th[4];
    struct committer c[4];
    json_t *doc;
    int64_t before;

    ac_create_topic(&srv, "orders", 1, NULL);
    produce("orders", 0, 40);
    for (int i = 0; i < 4; i++) {
        c[i].id = i;
        pthread_create(&th[i], NULL, commit_many, &c[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    doc = get_group("race");
    before = ac_int(entry(doc, "orders", 0), "offset");
    json_decref(doc);
    rillproc_stop(&srv.proc);
    ac_server_restart(&srv);
    doc = get_group("race");
    cr_assert(eq(i64, ac_int(entry(doc, "orders", 0), "offset"), before),
              "the table followed the log's order");
    json_decref(doc);
    ac_server_stop_clean(&srv);
}

/* Asserts a commit body to 'group' answers the problem status/code. */
static void expect_commit_problem(const char *group, const char *body, long status,
                                  const char *code)
{
    struct http_response r;

    commit_raw(group, body, &r);
    json_decref(ac_expect_problem(&r, status, code));
    http_response_release(&r);
}

Test(api_groups, bad_commits_get_clear_errors_and_change_nothing)
{
    struct http_response r;
    char longname[300];
    const char *good = "{\"offsets\":[{\"topic\":\"orders\",\"partition\":0,\"offset\":1}]}";

    ac_create_topic(&srv, "orders", 2, NULL);
    produce("orders", 0, 3);
    memset(longname, 'g', 256);
    longname[256] = '\0';
    expect_commit_problem(longname, good, 400, "invalid_group_name");
    expect_commit_problem("a%01b", good, 400, "invalid_group_name");
    expect_commit_problem("g", "{\"offsets\":[],\"x\":1}", 400, "unknown_field");
    expect_commit_problem("g", "{\"offsets\":[]}", 400, "invalid_offsets");
    expect_commit_problem("g", "{}", 400, "invalid_offsets");
    expect_commit_problem("g", "{\"offsets\":{}}", 400, "invalid_offsets");
    expect_commit_problem("g", "{\"offsets\":[1]}", 400, "invalid_offsets");
    expect_commit_problem("g", "{\"offsets\":[{\"topic\":\"orders\",\"partition\":\"0\","
                               "\"offset\":1}]}", 400, "invalid_offsets");
    expect_commit_problem("g", "{\"offsets\":[{\"topic\":\"orders\",\"partition\":0,"
                               "\"offset\":1,\"meta\":\"x\"}]}", 400, "unknown_field");
    expect_commit_problem("g", "{\"offsets\":[{\"topic\":\"orders\",\"partition\":0,"
                               "\"offset\":1},{\"topic\":\"orders\",\"partition\":0,"
                               "\"offset\":2}]}", 400, "invalid_offsets");
    expect_commit_problem("g", "{\"offsets\":[{\"topic\":\"nope\",\"partition\":0,"
                               "\"offset\":0}]}", 404, "topic_not_found");
    expect_commit_problem("g", "{\"offsets\":[{\"topic\":\"orders\",\"partition\":2,"
                               "\"offset\":0}]}", 404, "partition_not_found");
    expect_commit_problem("g", "{\"offsets\":[{\"topic\":\"orders\",\"partition\":-1,"
                               "\"offset\":0}]}", 404, "partition_not_found");
    expect_commit_problem("g", "{\"offsets\":[{\"topic\":\"orders\",\"partition\":0,"
                               "\"offset\":4}]}", 400, "invalid_offset");
    expect_commit_problem("g", "{\"offsets\":[{\"topic\":\"orders\",\"partition\":0,"
                               "\"offset\":-1}]}", 400, "invalid_offset");
    expect_commit_problem("g", "{\"offsets\":[{\"topic\":\"orders\",\"partition\":0,"
                               "\"offset\":99999999999999999999}]}", 400,
                          "number_out_of_range");
    expect_commit_problem("g", "{\"offsets\":[{\"topic\":\"orders\",\"partition\":0,"
                               "\"offset\":1}],\"member_id\":\"m\",\"generation\":1}", 409,
                          "unknown_member");
    expect_commit_problem("g", "{\"offsets\":", 400, "invalid_json");
    /* a good item after a bad one: all or nothing */
    expect_commit_problem("g", "{\"offsets\":[{\"topic\":\"orders\",\"partition\":0,"
                               "\"offset\":1},{\"topic\":\"orders\",\"partition\":1,"
                               "\"offset\":9}]}", 400, "invalid_offset");
    {
        const char *h[] = {"Content-Type: text/plain", NULL};

        ac_req(&srv, "POST", "/groups/g/offsets", h, good, strlen(good), &r);
        json_decref(ac_expect_problem(&r, 415, "unsupported_media_type"));
        http_response_release(&r);
    }
    ac_get(&srv, "/groups/g/offsets", &r);
    json_decref(ac_expect_problem(&r, 404, "group_not_found"));
    http_response_release(&r);
    ac_get(&srv, "/groups", &r);
    {
        json_t *j = ac_expect_json(&r, 200), *want = ac_json("{\"groups\":[]}");
        ac_expect_json_equal(j, want, "no group was made");
        json_decref(j);
        json_decref(want);
    }
    http_response_release(&r);
    ac_server_stop_clean(&srv);
}

Test(api_groups, the_offsets_topic_is_internal)
{
    struct http_response r;

    ac_get(&srv, "/topics", &r); /* the topic exists from the first start */
    cr_assert(not(ac_holds(strstr(r.body, "__consumer_offsets") != NULL)));
    http_response_release(&r);
    ac_get(&srv, "/topics?internal=true", &r);
    cr_assert(ac_holds(strstr(r.body, "\"__consumer_offsets\"") != NULL), "%s", r.body);
    http_response_release(&r);
    ac_send_json(&srv, "POST", "/topics/__consumer_offsets/messages",
                 "{\"records\":[{\"value\":1}]}", &r);
    json_decref(ac_expect_problem(&r, 403, "internal_topic"));
    http_response_release(&r);
    ac_server_stop_clean(&srv);
}

/* ---- membership ---- */

/* POST /groups/g/members: asserts 201 and returns the view. */
static json_t *join(const char *body)
{
    struct http_response r;
    json_t *j;

    ac_send_json(&srv, "POST", "/groups/g/members", body, &r);
    j = ac_expect_json(&r, 201);
    cr_assert(not(eq(ptr, (void *)http_response_header(&r, "Location"), NULL)));
    http_response_release(&r);
    return j;
}

static const char *member_id(json_t *view)
{
    return json_string_value(json_object_get(view, "member_id"));
}

/* POST .../heartbeat: the status; *view gets the answer when 200. */
static long heartbeat(const char *id, json_t **view)
{
    struct http_response r;
    char path[256];
    long status;

    snprintf(path, sizeof(path), "/groups/g/members/%s/heartbeat", id);
    ac_req(&srv, "POST", path, NULL, NULL, 0, &r);
    status = r.status;
    if (view)
        *view = status == 200 ? ac_expect_json(&r, 200) : NULL;
    if (status != 200)
        json_decref(ac_expect_problem(&r, 409, "unknown_member"));
    http_response_release(&r);
    return status;
}

/* Counts how often each partition of 'orders' appears in the views' assignments. */
static void expect_dealt(json_t **views, int n, int partitions)
{
    int seen[16] = {0};

    for (int i = 0; i < n; i++) {
        json_t *as = json_object_get(views[i], "assignments"), *e;
        size_t k;

        json_array_foreach(as, k, e)
            seen[ac_int(e, "partition")]++;
    }
    for (int p = 0; p < partitions; p++)
        cr_assert(eq(int, seen[p], 1), "partition %d is read by %d members", p, seen[p]);
}

Test(api_groups, members_split_partitions_and_rebalance_on_leave_and_expiry)
{
    json_t *a, *b, *va, *vb;
    struct http_response r;
    char path[256];

    ac_create_topic(&srv, "orders", 5, NULL);
    a = join("{\"topics\":[\"orders\"],\"session_timeout_ms\":600000}");
    b = join("{\"topics\":[\"orders\"],\"session_timeout_ms\":300}");
    cr_assert(eq(long, heartbeat(member_id(a), &va), 200));
    cr_assert(eq(long, heartbeat(member_id(b), &vb), 200));
    cr_assert(eq(i64, ac_int(va, "generation"), ac_int(vb, "generation")));
    {
        json_t *views[2] = {va, vb};
        expect_dealt(views, 2, 5);
    }
    json_decref(va);
    json_decref(vb);
    /* b stops heartbeating: after its session it is out, and a reads everything */
    for (int64_t deadline = clock_mono_ms() + 10000;;) {
        cr_assert(eq(long, heartbeat(member_id(a), &va), 200));
        if (json_array_size(json_object_get(va, "assignments")) == 5)
            break;
        json_decref(va);
        cr_assert(lt(i64, clock_mono_ms(), deadline), "b never expired");
    }
    json_decref(va);
    cr_assert(eq(long, heartbeat(member_id(b), NULL), 409), "an expired member rejoins");
    /* a third member joins, then leaves */
    json_decref(b);
    b = join("{\"topics\":[\"orders\"]}");
    cr_assert(eq(long, heartbeat(member_id(a), &va), 200));
    cr_assert(eq(long, heartbeat(member_id(b), &vb), 200));
    {
        json_t *views[2] = {va, vb};
        expect_dealt(views, 2, 5); /* 3 and 2, by member id order */
    }
    json_decref(va);
    json_decref(vb);
    snprintf(path, sizeof(path), "/groups/g/members/%s", member_id(b));
    ac_req(&srv, "DELETE", path, NULL, NULL, 0, &r);
    cr_assert(eq(long, r.status, 204));
    http_response_release(&r);
    ac_req(&srv, "DELETE", path, NULL, NULL, 0, &r);
    json_decref(ac_expect_problem(&r, 404, "member_not_found"));
    http_response_release(&r);
    cr_assert(eq(long, heartbeat(member_id(a), &va), 200));
    cr_assert(eq(sz, json_array_size(json_object_get(va, "assignments")), 5));
    json_decref(va);
    json_decref(a);
    json_decref(b);
    ac_server_stop_clean(&srv);
}

/* A member's commit: the status. */
static long member_commit(json_t *view, int64_t generation, int partition, int64_t offset)
{
    struct http_response r;
    char body[512];
    long status;

    snprintf(body, sizeof(body),
             "{\"member_id\":\"%s\",\"generation\":%lld,\"offsets\":[{\"topic\":\"orders\","
             "\"partition\":%d,\"offset\":%lld}]}",
             member_id(view), (long long)generation, partition, (long long)offset);
    commit_raw("g", body, &r);
    status = r.status;
    http_response_release(&r);
    return status;
}

Test(api_groups, a_fenced_member_cannot_commit_and_a_group_with_members_stays)
{
    json_t *a, *b;
    struct http_response r;
    int64_t gen_a;

    ac_create_topic(&srv, "orders", 2, NULL);
    produce("orders", 0, 5);
    a = join("{\"topics\":[\"orders\"]}");
    gen_a = ac_int(a, "generation");
    cr_assert(eq(long, member_commit(a, gen_a, 0, 3), 200));
    b = join("{\"topics\":[\"orders\"]}"); /* a rebalance: generation moves on */
    cr_assert(eq(long, member_commit(a, gen_a, 0, 1), 409), "a stale generation");
    commit_raw("g", "{\"member_id\":\"m-0\",\"generation\":1,\"offsets\":[{\"topic\":"
                    "\"orders\",\"partition\":0,\"offset\":1}]}", &r);
    json_decref(ac_expect_problem(&r, 409, "unknown_member"));
    http_response_release(&r);
    commit_raw("g", "{\"member_id\":\"m-0\",\"offsets\":[]}", &r);
    json_decref(ac_expect_problem(&r, 400, "invalid_member"));
    http_response_release(&r);
    commit_raw("g", "{\"offsets\":[{\"topic\":\"orders\",\"partition\":0,\"offset\":1}]}",
               &r);
    json_decref(ac_expect_problem(&r, 409, "member_required"));
    http_response_release(&r);
    {
        json_t *doc = get_group("g");
        cr_assert(eq(i64, ac_int(entry(doc, "orders", 0), "offset"), 3),
                  "the fenced commit moved nothing");
        json_decref(doc);
    }
    cr_assert(eq(long, member_commit(a, ac_int(b, "generation"), 0, 4), 200));
    ac_req(&srv, "DELETE", "/groups/g", NULL, NULL, 0, &r);
    json_decref(ac_expect_problem(&r, 409, "group_not_empty"));
    http_response_release(&r);
    ac_get(&srv, "/groups", &r);
    cr_assert(ac_holds(strstr(r.body, "\"members\":2") != NULL), "%s", r.body);
    http_response_release(&r);
    json_decref(a);
    json_decref(b);
    ac_server_stop_clean(&srv);
}

/* GET .../records of a member; asserts 200 and returns the answer. */
static json_t *member_records(json_t *view, const char *query)
{
    struct http_response r;
    char path[256];
    json_t *j;

    snprintf(path, sizeof(path), "/groups/g/members/%s/records%s", member_id(view), query);
    ac_get(&srv, path, &r);
    j = ac_expect_json(&r, 200);
    http_response_release(&r);
    return j;
}

struct delayed {
    int partition;
};

static void *produce_later(void *arg)
{
    struct delayed *d = arg;
    struct timespec ts = {0, 300 * 1000 * 1000};

    nanosleep(&ts, NULL);
    produce("orders", d->partition, 1);
    return NULL;
}

Test(api_groups, a_member_reads_its_partitions_from_the_committed_offsets)
{
    json_t *a, *recs, *offs;
    struct http_response r;
    char body[512];
    pthread_t th;
    struct delayed d = {1};

    ac_create_topic(&srv, "orders", 2, NULL);
    produce("orders", 0, 3);
    produce("orders", 1, 2);
    a = join("{\"topics\":[\"orders\"],\"auto_offset_reset\":\"earliest\"}");
    recs = member_records(a, "");
    cr_assert(eq(sz, json_array_size(json_object_get(recs, "records")), 5));
    cr_assert(eq(str, (char *)json_string_value(json_object_get(
                          json_array_get(json_object_get(recs, "records"), 0), "topic")),
                 "orders"));
    /* commit what it says, as a consumer does once it has processed them */
    offs = json_object_get(recs, "offsets");
    {
        char *text = json_dumps(offs, JSON_COMPACT);

        snprintf(body, sizeof(body),
                 "{\"member_id\":\"%s\",\"generation\":%lld,\"offsets\":%s}",
                 member_id(a), (long long)ac_int(a, "generation"), text);
        free(text);
    }
    commit_raw("g", body, &r);
    json_decref(ac_expect_json(&r, 200));
    http_response_release(&r);
    json_decref(recs);
    /* nothing new: a long poll, woken by a produce */
    pthread_create(&th, NULL, produce_later, &d);
    recs = member_records(a, "?wait_ms=10000");
    pthread_join(th, NULL);
    cr_assert(eq(sz, json_array_size(json_object_get(recs, "records")), 1));
    cr_assert(eq(i64, ac_int(json_array_get(json_object_get(recs, "records"), 0), "offset"), 2));
    cr_assert(eq(i64, ac_int(json_array_get(json_object_get(recs, "records"), 0), "partition"),
                 1));
    json_decref(recs);
    /* a restart forgets members but not offsets: rejoin, and read on from the commit */
    rillproc_stop(&srv.proc);
    ac_server_restart(&srv);
    cr_assert(eq(long, heartbeat(member_id(a), NULL), 409));
    json_decref(a);
    a = join("{\"topics\":[\"orders\"],\"auto_offset_reset\":\"earliest\"}");
    recs = member_records(a, "");
    cr_assert(eq(sz, json_array_size(json_object_get(recs, "records")), 1),
              "only what was not committed");
    json_decref(recs);
    json_decref(a);
    ac_server_stop_clean(&srv);
}

Test(api_groups, deleting_a_topic_forgets_its_offsets_in_every_group)
{
    struct http_response r;
    json_t *doc;

    ac_create_topic(&srv, "orders", 1, NULL);
    ac_create_topic(&srv, "keep", 1, NULL);
    produce("orders", 0, 3);
    produce("keep", 0, 1);
    commit("g1", "orders", 0, 3);
    commit("g1", "keep", 0, 1);
    commit("g2", "orders", 0, 2);
    ac_req(&srv, "DELETE", "/topics/orders", NULL, NULL, 0, &r);
    cr_assert(eq(long, r.status, 204));
    http_response_release(&r);
    ac_get(&srv, "/groups/g2/offsets", &r);
    json_decref(ac_expect_problem(&r, 404, "group_not_found"));
    http_response_release(&r);
    ac_create_topic(&srv, "orders", 1, NULL); /* made again: no old offsets */
    doc = get_group("g1");
    cr_assert(eq(sz, json_array_size(json_object_get(doc, "offsets")), 1));
    cr_assert(eq(str, (char *)json_string_value(json_object_get(
                          json_array_get(json_object_get(doc, "offsets"), 0), "topic")),
                 "keep"));
    json_decref(doc);
    rillproc_stop(&srv.proc);
    ac_server_restart(&srv);
    doc = get_group("g1");
    cr_assert(eq(sz, json_array_size(json_object_get(doc, "offsets")), 1), "after a restart too");
    json_decref(doc);
    ac_get(&srv, "/groups", &r);
    cr_assert(not(ac_holds(strstr(r.body, "\"g2\"") != NULL)), "%s", r.body);
    http_response_release(&r);
    ac_server_stop_clean(&srv);
}

Test(api_groups, latest_reset_keeps_its_place_so_nothing_appended_later_is_skipped)
{
    json_t *a, *recs;
    pthread_t th;
    struct delayed d = {0};

    ac_create_topic(&srv, "orders", 1, NULL);
    produce("orders", 0, 3); /* the past: not read with latest */
    a = join("{\"topics\":[\"orders\"]}");
    recs = member_records(a, "");
    cr_assert(eq(sz, json_array_size(json_object_get(recs, "records")), 0));
    json_decref(recs);
    produce("orders", 0, 2); /* between two reads, nothing committed by the member */
    recs = member_records(a, "");
    cr_assert(eq(sz, json_array_size(json_object_get(recs, "records")), 2),
              "the reset position was kept");
    cr_assert(eq(i64, ac_int(json_array_get(json_object_get(recs, "records"), 0), "offset"), 3));
    json_decref(recs);
    json_decref(a);
    /* a long poll of a new group at latest: the record that wakes it is the answer */
    {
        struct http_response r;
        ac_send_json(&srv, "POST", "/groups/g2/members", "{\"topics\":[\"orders\"]}", &r);
        a = ac_expect_json(&r, 201);
        http_response_release(&r);
    }
    pthread_create(&th, NULL, produce_later, &d);
    {
        struct http_response r;
        char path[256];

        snprintf(path, sizeof(path), "/groups/g2/members/%s/records?wait_ms=10000",
                 member_id(a));
        ac_get(&srv, path, &r);
        recs = ac_expect_json(&r, 200);
        http_response_release(&r);
    }
    pthread_join(th, NULL);
    cr_assert(eq(sz, json_array_size(json_object_get(recs, "records")), 1));
    cr_assert(eq(i64, ac_int(json_array_get(json_object_get(recs, "records"), 0), "offset"), 5));
    json_decref(recs);
    json_decref(a);
    ac_server_stop_clean(&srv);
}

Test(api_groups, the_offsets_topic_is_compacted_and_its_lag_is_a_metric)
{
    struct http_response r;
    const char *args[] = {"--offsets-segment-bytes", "1024", "--retention-check-ms", "20",
                          NULL};
    size_t left = 0;

    rillproc_stop(&srv.proc);
    ac_server_cleanup(&srv);
    ac_server_start(&srv, args);
    ac_create_topic(&srv, "orders", 2, NULL);
    produce("orders", 0, 50);
    produce("orders", 1, 50);
    for (int i = 1; i <= 50; i++) {
        commit("billing", "orders", 0, i);
        commit("billing", "orders", 1, 50 - i);
    }
    /* the cleaner keeps each (group, topic, partition)'s latest commit */
    for (int64_t deadline = clock_mono_ms() + 20000; clock_mono_ms() < deadline;) {
        json_error_t err;
        json_t *j; /* keys are Kafka's binary keys: their NUL bytes come as \u0000 */

        ac_get(&srv, "/topics/__consumer_offsets/partitions/0?offset=earliest&limit=10000", &r);
        cr_assert(eq(long, r.status, 200));
        j = json_loadb(r.body, r.body_len, JSON_ALLOW_NUL, &err);
        cr_assert(not(eq(ptr, j, NULL)), "%s", err.text);
        left = json_array_size(json_object_get(j, "records"));
        json_decref(j);
        http_response_release(&r);
        if (left < 30)
            break;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    cr_assert(lt(sz, left, 30), "100 commits, %zu records left", left);
    rillproc_stop(&srv.proc);
    ac_server_restart(&srv); /* replayed from what compaction left */
    {
        json_t *doc = get_group("billing");
        cr_assert(eq(i64, ac_int(entry(doc, "orders", 0), "offset"), 50));
        cr_assert(eq(i64, ac_int(entry(doc, "orders", 1), "offset"), 0));
        json_decref(doc);
    }
    ac_get(&srv, "/metrics", &r);
    cr_assert(eq(long, r.status, 200));
    cr_assert(ac_holds(strstr(r.body, "rill_consumer_group_lag{group=\"billing\",topic=\"orders\","
                                      "partition=\"0\"} 0\n") != NULL), "%s", r.body);
    cr_assert(ac_holds(strstr(r.body, "rill_consumer_group_lag{group=\"billing\",topic=\"orders\","
                                      "partition=\"1\"} 50\n") != NULL), "%s", r.body);
    cr_assert(ac_holds(strstr(r.body, "rill_partition_high_watermark{topic=\"orders\","
                                      "partition=\"1\"} 50\n") != NULL));
    http_response_release(&r);
    ac_server_stop_clean(&srv);
}
