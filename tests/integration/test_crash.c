/* tests/integration/test_crash.c: kill -9 while producers write concurrently, then
 * restart: every record the server answered 200 for is there, at the offset it was
 * given, with its value. Several cycles on one data directory. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/support/http_client.h"
#include "tests/support/rillproc.h"

#define PRODUCERS 4
#define CYCLES 4
#define MAX_ACKS 20000

struct ack {
    int partition;
    long long offset;
    char value[64];
};

static struct rillproc server;
static char auth[160];
static struct ack acks[MAX_ACKS];
static _Atomic int nacks;
static _Atomic bool stop_producing;

static void load_token(void)
{
    char token[128];

    cr_assert(eq(int, rillproc_admin_token(&server, token, sizeof(token)), 0));
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
}

static int request(const char *method, const char *path, const char *body,
                   struct http_response *resp)
{
    const char *headers[] = {auth, "Content-Type: application/json", NULL};
    char url[512];

    snprintf(url, sizeof(url), "%s%s", server.url, path);
    return http_request(method, url, headers, body, body ? strlen(body) : 0, resp);
}

struct producer {
    int id;
    int cycle;
};

/* Produces one record at a time until told to stop (or the server dies), noting
 * every acknowledged offset. */
static void *produce_loop(void *arg)
{
    struct producer *pr = arg;

    for (int seq = 0; !atomic_load(&stop_producing); seq++) {
        struct http_response resp;
        char body[160], value[48];
        json_t *root, *o;

        snprintf(value, sizeof(value), "c%d-p%d-%d", pr->cycle, pr->id, seq);
        snprintf(body, sizeof(body), "{\"records\":[{\"value\":\"%s\"}]}", value);
        if (request("POST", "/topics/crash/messages", body, &resp)) {
            http_response_release(&resp);
            break; /* connection refused: the server is gone */
        }
        if (resp.status == 200 && (root = json_loads(resp.body, 0, NULL))) {
            o = json_array_get(json_object_get(root, "offsets"), 0);
            int i = atomic_fetch_add(&nacks, 1);
            if (i < MAX_ACKS) {
                acks[i].partition = (int)json_integer_value(json_object_get(o, "partition"));
                acks[i].offset = json_integer_value(json_object_get(o, "offset"));
                snprintf(acks[i].value, sizeof(acks[i].value), "\"%s\"", value);
            }
            json_decref(root);
        }
        http_response_release(&resp);
    }
    return NULL;
}

/* The value stored at (partition, offset), as JSON text, into 'out'. */
static bool read_value(int partition, long long offset, char *out, size_t size)
{
    struct http_response resp;
    char path[128];
    json_t *root, *rec;
    bool ok = false;

    snprintf(path, sizeof(path), "/topics/crash/partitions/%d?offset=%lld&limit=1", partition,
             offset);
    if (request("GET", path, NULL, &resp) || resp.status != 200) {
        http_response_release(&resp);
        return false;
    }
    root = json_loads(resp.body, 0, NULL);
    rec = json_array_get(json_object_get(root, "records"), 0);
    if (rec && json_integer_value(json_object_get(rec, "offset")) == offset) {
        char *v = json_dumps(json_object_get(rec, "value"), JSON_ENCODE_ANY | JSON_COMPACT);
        snprintf(out, size, "%s", v ? v : "");
        free(v);
        ok = true;
    }
    json_decref(root);
    http_response_release(&resp);
    return ok;
}

static void teardown(void)
{
    if (server.pid)
        rillproc_stop(&server);
    rillproc_cleanup(&server);
}

TestSuite(crash, .fini = teardown, .timeout = 240);

Test(crash, kill_9_during_concurrent_produce_loses_nothing_acknowledged)
{
    struct http_response resp;

    cr_assert(eq(int, rillproc_start(&server, NULL), 0));
    load_token();
    cr_assert(eq(int, request("POST", "/topics", "{\"name\":\"crash\",\"partitions\":3}", &resp),
                 0));
    cr_assert(eq(int, (int)resp.status, 201));
    http_response_release(&resp);

    for (int cycle = 0; cycle < CYCLES; cycle++) {
        pthread_t t[PRODUCERS];
        struct producer pr[PRODUCERS];
        int before = atomic_load(&nacks);
        struct timespec pause = {0, 300 * 1000000};

        atomic_store(&stop_producing, false);
        for (int i = 0; i < PRODUCERS; i++) {
            pr[i] = (struct producer){.id = i, .cycle = cycle};
            pthread_create(&t[i], NULL, produce_loop, &pr[i]);
        }
        nanosleep(&pause, NULL); /* let some writes land; the kill comes mid-stream */
        for (int i = 0; i < 200 && atomic_load(&nacks) == before; i++)
            nanosleep(&(struct timespec){0, 10 * 1000000}, NULL);
        cr_assert(eq(int, rillproc_kill9(&server), 0));
        atomic_store(&stop_producing, true);
        for (int i = 0; i < PRODUCERS; i++)
            pthread_join(t[i], NULL);
        cr_assert(ge(int, atomic_load(&nacks), (before) + 1), "cycle %d acknowledged nothing",
                  cycle);
        cr_assert(eq(int, rillproc_restart(&server), 0));
        load_token();
        for (int i = 0; i < atomic_load(&nacks) && i < MAX_ACKS; i++) {
            char got[64];
            cr_assert(read_value(acks[i].partition, acks[i].offset, got, sizeof(got)),
                      "cycle %d: acknowledged offset %lld of partition %d is gone", cycle,
                      acks[i].offset, acks[i].partition);
            cr_assert(eq(str, got, acks[i].value), "cycle %d: partition %d offset %lld",
                      cycle, acks[i].partition, acks[i].offset);
        }
    }
    cr_assert(ge(int, atomic_load(&nacks), (CYCLES * 10) + 1), "too few writes to mean much");
    cr_assert(eq(int, rillproc_stop(&server), 0));
}
