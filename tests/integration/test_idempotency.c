/* tests/integration/test_idempotency.c: Idempotency-Key on produce: a retry gets the
 * first answer and writes nothing, also after a clean restart and after kill -9; the
 * same key with another body is 409; keys are per topic. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/http_client.h"
#include "tests/support/rillproc.h"

static struct rillproc server;
static char auth[160];

static void load_token(void)
{
    char token[128];

    cr_assert(eq(int, rillproc_admin_token(&server, token, sizeof(token)), 0));
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
}

/* POSTs 'body' to 'path' with an optional Idempotency-Key; returns the status and
 * copies the body into 'out'. */
static long post(const char *path, const char *key, const char *body, char *out,
                 size_t size, bool *replayed)
{
    char idem[300], url[512];
    const char *headers[] = {auth, "Content-Type: application/json", key ? idem : NULL, NULL};
    struct http_response resp;
    long status;

    snprintf(idem, sizeof(idem), "Idempotency-Key: %s", key ? key : "");
    snprintf(url, sizeof(url), "%s%s", server.url, path);
    cr_assert(eq(int, http_request("POST", url, headers, body, strlen(body), &resp), 0));
    status = resp.status;
    if (out)
        snprintf(out, size, "%s", resp.body);
    if (replayed)
        *replayed = http_response_header(&resp, "Idempotent-Replayed") != NULL;
    http_response_release(&resp);
    return status;
}

static long long latest(const char *topic)
{
    char url[512], want[64];
    const char *headers[] = {auth, NULL};
    struct http_response resp;
    long long v = -1;
    const char *at;

    snprintf(url, sizeof(url), "%s/topics/%s/partitions/0/offsets", server.url, topic);
    cr_assert(eq(int, http_request("GET", url, headers, NULL, 0, &resp), 0));
    snprintf(want, sizeof(want), "\"latest\":");
    at = strstr(resp.body, want);
    if (at)
        v = atoll(at + strlen(want));
    http_response_release(&resp);
    return v;
}

static void setup(void)
{
    cr_assert(eq(int, rillproc_start(&server, NULL), 0));
    load_token();
    cr_assert(eq(long, post("/topics", NULL, "{\"name\":\"orders\"}", NULL, 0, NULL), 201));
    cr_assert(eq(long, post("/topics", NULL, "{\"name\":\"audit\"}", NULL, 0, NULL), 201));
}

static void teardown(void)
{
    if (server.pid)
        cr_assert(eq(int, rillproc_stop(&server), 0), "the server exits 0");
    rillproc_cleanup(&server);
}

TestSuite(idempotency, .init = setup, .fini = teardown, .timeout = 120);

static const char body1[] = "{\"records\":[{\"value\":{\"n\":1}},{\"value\":{\"n\":2}}]}";

Test(idempotency, a_retry_gets_the_first_answer_and_writes_nothing)
{
    char first[256], again[256];
    bool replayed;

    cr_assert(eq(long, post("/topics/orders/messages", "k-1", body1, first, sizeof(first),
                            &replayed), 200));
    cr_assert(not(replayed));
    cr_assert(eq(long, post("/topics/orders/messages", "k-1", body1, again, sizeof(again),
                            &replayed), 200));
    cr_assert(replayed, "the retry says it is a replay");
    cr_assert(eq(str, again, first));
    cr_assert(eq(i64, latest("orders"), 2), "written once");
}

Test(idempotency, the_same_key_with_another_body_is_a_conflict)
{
    char out[512];

    cr_assert(eq(long, post("/topics/orders/messages", "k-2", body1, NULL, 0, NULL), 200));
    cr_assert(eq(long, post("/topics/orders/messages", "k-2",
                            "{\"records\":[{\"value\":3}]}", out, sizeof(out), NULL), 409));
    cr_assert(not(eq(ptr, strstr(out, "\"idempotency_key_reused\""), NULL)), "%s", out);
    cr_assert(eq(i64, latest("orders"), 2));
}

Test(idempotency, keys_are_per_topic)
{
    cr_assert(eq(long, post("/topics/orders/messages", "k-3", body1, NULL, 0, NULL), 200));
    cr_assert(eq(long, post("/topics/audit/messages", "k-3", body1, NULL, 0, NULL), 200));
    cr_assert(eq(i64, latest("audit"), 2));
}

Test(idempotency, a_failed_request_does_not_use_up_its_key)
{
    cr_assert(eq(long, post("/topics/orders/messages", "k-4",
                            "{\"records\":[{\"value\":1,\"partition\":7}]}", NULL, 0, NULL),
                 404));
    cr_assert(eq(long, post("/topics/orders/messages", "k-4", body1, NULL, 0, NULL), 200));
    cr_assert(eq(i64, latest("orders"), 2));
}

Test(idempotency, bad_keys_are_refused)
{
    char longkey[300];

    memset(longkey, 'k', 256);
    longkey[256] = '\0';
    cr_assert(eq(long, post("/topics/orders/messages", longkey, body1, NULL, 0, NULL), 400));
    cr_assert(eq(i64, latest("orders"), 0));
}

Test(idempotency, a_retry_after_a_restart_or_a_kill_is_still_recognised)
{
    char first[256], again[256];
    bool replayed;

    cr_assert(eq(long, post("/topics/orders/messages", "k-5", body1, first, sizeof(first),
                            NULL), 200));
    cr_assert(eq(int, rillproc_stop(&server), 0));
    cr_assert(eq(int, rillproc_restart(&server), 0));
    cr_assert(eq(long, post("/topics/orders/messages", "k-5", body1, again, sizeof(again),
                            &replayed), 200));
    cr_assert(replayed);
    cr_assert(eq(str, again, first));
    cr_assert(eq(int, rillproc_kill9(&server), 0));
    cr_assert(eq(int, rillproc_restart(&server), 0));
    cr_assert(eq(long, post("/topics/orders/messages", "k-5", body1, again, sizeof(again),
                            &replayed), 200));
    cr_assert(replayed);
    cr_assert(eq(str, again, first));
    cr_assert(eq(i64, latest("orders"), 2), "still written once");
}

Test(idempotency, a_topic_deleted_and_made_again_has_none_of_the_old_keys)
{
    char url[512], out[256];
    const char *headers[] = {auth, NULL};
    struct http_response resp;
    bool replayed;

    cr_assert(eq(long, post("/topics/orders/messages", "k-6", body1, NULL, 0, NULL), 200));
    snprintf(url, sizeof(url), "%s/topics/orders", server.url);
    cr_assert(eq(int, http_request("DELETE", url, headers, NULL, 0, &resp), 0));
    cr_assert(eq(long, resp.status, 204));
    http_response_release(&resp);
    cr_assert(eq(long, post("/topics", NULL, "{\"name\":\"orders\"}", NULL, 0, NULL), 201));
    cr_assert(eq(long, post("/topics/orders/messages", "k-6", body1, out, sizeof(out),
                            &replayed), 200));
    cr_assert(not(replayed), "a new topic must not replay the old one's answer");
    cr_assert(eq(i64, latest("orders"), 2), "written to the new topic: %s", out);
}
