/* tests/integration/test_api_webhook.c: POST /topics/{t}/webhook end to end
 * (api/webhook.c over api/produce.c), through the real binary ($RILL_BIN): a body
 * signed with the topic's webhook.secret is one raw record with the sender's event
 * headers; anything unsigned or signed otherwise is 401 and writes nothing; a topic
 * that takes no webhooks is one 403 whether it exists or not; a redelivery is stored
 * once, also after a restart. Signatures are computed here with libsodium. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/api_client.h"

#define SECRET "It's a Secret to Everybody"
#define SECRET_CONFIG "{\"webhook.secret\":\"It's a Secret to Everybody\"}"
#define CHALLENGE "HMAC-SHA256 realm=\"rill\", header=\"X-Hub-Signature-256\""

static struct ac_server srv;

static void setup(void) { ac_server_start(&srv, NULL); }

static void teardown(void) { ac_server_cleanup(&srv); }

TestSuite(webhook, .init = setup, .fini = teardown, .timeout = 90);

/* The HMAC-SHA256 of body[0..len) keyed with 'secret'. */
static void mac_of(const char *secret, const void *body, size_t len,
                   unsigned char mac[crypto_auth_hmacsha256_BYTES])
{
    crypto_auth_hmacsha256_state st;

    cr_assert(ge(int, sodium_init(), 0));
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&st, body, len);
    crypto_auth_hmacsha256_final(&st, mac);
}

/* "sha256=<hex of mac>" into out. */
static void signature_text(const unsigned char mac[crypto_auth_hmacsha256_BYTES],
                           char out[80])
{
    memcpy(out, "sha256=", 7);
    sodium_bin2hex(out + 7, 80 - 7, mac, crypto_auth_hmacsha256_BYTES);
}

/* The X-Hub-Signature-256 value GitHub would send for body[0..len) under 'secret'. */
static void sign(const char *secret, const void *body, size_t len, char out[80])
{
    unsigned char mac[crypto_auth_hmacsha256_BYTES];

    mac_of(secret, body, len, mac);
    signature_text(mac, out);
}

/* POSTs body[0..len) to 'path' without a token, with 'sig' as X-Hub-Signature-256
 * (none if NULL; "" is sent as an empty header) and the header lines 'more'
 * (NULL-terminated, may be NULL). */
static void post(const char *path, const char *sig, const char *const *more,
                 const void *body, size_t len, struct http_response *r)
{
    const char *h[24];
    char line[512];
    size_t n = 0;

    if (sig) {
        snprintf(line, sizeof(line),
                 *sig ? "X-Hub-Signature-256: %s" : "X-Hub-Signature-256;", sig);
        h[n++] = line;
    }
    for (const char *const *m = more; m && *m; m++)
        h[n++] = *m;
    h[n] = NULL;
    ac_req_noauth(&srv, "POST", path, h, body, len, r);
}

/* The same, signed with SECRET. */
static void post_signed(const char *path, const char *const *more, const void *body,
                        size_t len, struct http_response *r)
{
    char sig[80];

    sign(SECRET, body, len, sig);
    post(path, sig, more, body, len, r);
}

/* Asserts a 401 problem with 'code' and the HMAC challenge. */
static void expect_401(const struct http_response *r, const char *code, const char *what)
{
    const char *challenge = http_response_header(r, "WWW-Authenticate");

    json_decref(ac_expect_problem(r, 401, code));
    cr_assert(not(eq(ptr, (void *)challenge, NULL)), "%s: no WWW-Authenticate", what);
    cr_assert(eq(str, (char *)challenge, CHALLENGE), "%s", what);
}

/* The only record of partition 'p' (asserting there is one), fetched with
 * value_format=base64; the caller json_decref()s the answer 'holder'. */
static json_t *only_record(const char *topic, int p, json_t **holder)
{
    json_t *recs;

    *holder = ac_fetch(&srv, topic, p, "offset=earliest&value_format=base64");
    recs = json_object_get(*holder, "records");
    cr_assert(eq(sz, json_array_size(recs), 1), "%s: not one record", topic);
    return json_array_get(recs, 0);
}

/* Asserts that value_base64 of 'rec' decodes to exactly want[0..len). */
static void expect_value(const json_t *rec, const void *want, size_t len)
{
    size_t got_len;
    unsigned char *got =
        ac_unbase64(json_string_value(json_object_get(rec, "value_base64")), &got_len);

    cr_assert(not(eq(ptr, got, NULL)), "no value_base64");
    cr_assert(eq(sz, got_len, len));
    cr_assert(eq(int, memcmp(got, want, len), 0), "the value is not the body verbatim");
    free(got);
}

Test(webhook, a_signed_body_is_stored_verbatim_with_the_event_headers)
{
    static const char body[] = "{\"action\":\"opened\",\n  \"number\": 1 }";
    static const char *const more[] = {
        "Content-Type: application/json",
        "X-GitHub-Event: pull_request",
        "X-GitHub-Delivery: 72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-GitHub-Hook-ID: 292430182",
        "X-GitHub-Hook-Installation-Target-ID: 79929171",
        "X-GitHub-Hook-Installation-Target-Type: repository",
        "User-Agent: GitHub-Hookshot/044aadd",
        "Authorization: Bearer not-a-token",
        "X-Other: not kept",
        NULL,
    };
    struct http_response r;
    json_t *answer, *holder, *rec, *want;

    ac_create_topic(&srv, "gh", 1, SECRET_CONFIG);
    post_signed("/topics/gh/webhook", more, body, strlen(body), &r);
    answer = ac_expect_json(&r, 200);
    want = ac_json("{\"offsets\":[{\"partition\":0,\"offset\":0}]}");
    ac_expect_json_equal(answer, want, "the answer");
    cr_assert(eq(ptr, (void *)http_response_header(&r, "Idempotent-Replayed"), NULL));
    json_decref(want);
    json_decref(answer);
    http_response_release(&r);

    rec = only_record("gh", 0, &holder);
    expect_value(rec, body, strlen(body));
    cr_assert(ac_holds(json_is_null(json_object_get(rec, "key"))));
    want = ac_json("{\"content-type\":\"application/json\","
                   "\"x-github-event\":\"pull_request\","
                   "\"x-github-delivery\":\"72d3162e-cc78-11e3-81ab-4c9367dc0958\","
                   "\"x-github-hook-id\":\"292430182\","
                   "\"x-github-hook-installation-target-id\":\"79929171\","
                   "\"x-github-hook-installation-target-type\":\"repository\","
                   "\"user-agent\":\"GitHub-Hookshot/044aadd\"}");
    ac_expect_json_equal(json_object_get(rec, "headers"), want, "the record's headers");
    cr_assert(eq(ptr,
                 json_object_get(json_object_get(rec, "headers"), "x-hub-signature-256"),
                 NULL),
              "the signature is stored");
    json_decref(want);
    json_decref(holder);
    ac_server_stop_clean(&srv);
}

Test(webhook, gitlab_headers_are_kept_and_its_event_uuid_is_the_delivery_id)
{
    static const char body[] = "{\"object_kind\":\"push\"}";
    static const char *const more[] = {
        "Content-Type: application/json",
        "X-Gitlab-Event: Push Hook",
        "X-Gitlab-Event-UUID: 13792a34-cac6-4fda-95a8-c58e00a3954e",
        NULL,
    };
    struct http_response r;
    json_t *holder, *rec, *want;

    ac_create_topic(&srv, "gl", 1, SECRET_CONFIG);
    for (int i = 0; i < 2; i++) {
        post_signed("/topics/gl/webhook", more, body, strlen(body), &r);
        cr_assert(eq(long, r.status, 200), "%s", r.body);
        cr_assert(eq(int, http_response_header(&r, "Idempotent-Replayed") != NULL, i),
                  "delivery %d", i);
        http_response_release(&r);
    }
    rec = only_record("gl", 0, &holder);
    want =
        ac_json("{\"content-type\":\"application/json\",\"x-gitlab-event\":\"Push Hook\","
                "\"x-gitlab-event-uuid\":\"13792a34-cac6-4fda-95a8-c58e00a3954e\"}");
    ac_expect_json_equal(json_object_get(rec, "headers"), want, "the record's headers");
    json_decref(want);
    json_decref(holder);
    ac_server_stop_clean(&srv);
}

/* GitHub's documented example ("Validating webhook deliveries"), in both cases. */
Test(webhook, githubs_example_signature_is_accepted_in_either_case)
{
    static const char *const sigs[] = {
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        "sha256=757107EA0EB2509FC211221CCE984B8A37570B6D7586C22C46F4379C8B043E17",
    };
    static const char *const more[] = {"Content-Type: text/plain", NULL};
    struct http_response r;

    ac_create_topic(&srv, "docs", 1, SECRET_CONFIG);
    for (size_t i = 0; i < 2; i++) {
        post("/topics/docs/webhook", sigs[i], more, "Hello, World!", 13, &r);
        cr_assert(eq(long, r.status, 200), "%s: %s", sigs[i], r.body);
        http_response_release(&r);
    }
    cr_assert(eq(i64, ac_latest(&srv, "docs", 0), 2));
    ac_server_stop_clean(&srv);
}

Test(webhook, a_wrong_or_malformed_signature_is_401_and_writes_nothing)
{
    static const char body[] = "{\"action\":\"opened\"}";
    static const char *const more[] = {"Content-Type: application/json",
                                       "X-GitHub-Delivery: d-401", NULL};
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    char good[80], flipped[80], other_body[80], other_secret[80], sha1[80];
    char short_hex[80], long_hex[96], not_hex[80];
    struct {
        const char *what, *sig, *code;
    } cases[] = {
        {"no header", NULL, "missing_signature"},
        {"one bit of the mac flipped", flipped, "invalid_signature"},
        {"another body's", other_body, "invalid_signature"},
        {"another secret's", other_secret, "invalid_signature"},
        {"sha1=", sha1, "invalid_signature"},
        {"63 hex digits", short_hex, "invalid_signature"},
        {"65 hex digits", long_hex, "invalid_signature"},
        {"a non-hex digit", not_hex, "invalid_signature"},
        {"empty", "", "invalid_signature"},
        {"no prefix", good + 7, "invalid_signature"},
    };
    json_t *holder;

    ac_create_topic(&srv, "guarded", 1, SECRET_CONFIG);
    mac_of(SECRET, body, strlen(body), mac);
    signature_text(mac, good);
    mac[31] ^= 1;
    signature_text(mac, flipped);
    sign(SECRET, "{\"action\":\"closed\"}", 19, other_body);
    sign("It's a secret to everybody", body, strlen(body), other_secret);
    snprintf(sha1, sizeof(sha1), "sha1=%.40s", good + 7);
    snprintf(short_hex, sizeof(short_hex), "%.70s", good);
    snprintf(long_hex, sizeof(long_hex), "%s0", good);
    snprintf(not_hex, sizeof(not_hex), "%s", good);
    not_hex[20] = 'g';
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct http_response r;

        post("/topics/guarded/webhook", cases[i].sig, more, body, strlen(body), &r);
        expect_401(&r, cases[i].code, cases[i].what);
        http_response_release(&r);
    }
    holder = ac_fetch(&srv, "guarded", 0, "offset=earliest");
    cr_assert(eq(sz, json_array_size(json_object_get(holder, "records")), 0),
              "a refused request was written");
    json_decref(holder);
    /* and the delivery id was not used up by any of them */
    {
        struct http_response r;

        post("/topics/guarded/webhook", good, more, body, strlen(body), &r);
        cr_assert(eq(long, r.status, 200), "%s", r.body);
        cr_assert(eq(ptr, (void *)http_response_header(&r, "Idempotent-Replayed"), NULL));
        http_response_release(&r);
    }
    ac_server_stop_clean(&srv);
}

Test(webhook, no_bearer_token_is_needed_and_a_token_alone_is_401)
{
    static const char *const more[] = {"Content-Type: text/plain", NULL};
    char sig[80], line[128];
    const char *headers[] = {"Content-Type: text/plain", line, NULL};
    struct http_response r;

    ac_create_topic(&srv, "tok", 1, SECRET_CONFIG);
    ac_req(&srv, "POST", "/topics/tok/webhook", more, "x", 1, &r);
    expect_401(&r, "missing_signature", "the admin token alone");
    http_response_release(&r);
    sign(SECRET, "x", 1, sig);
    snprintf(line, sizeof(line), "X-Hub-Signature-256: %s", sig);
    ac_req(&srv, "POST", "/topics/tok/webhook", headers, "x", 1, &r);
    cr_assert(eq(long, r.status, 200), "a token beside a good signature: %s", r.body);
    http_response_release(&r);
    post("/topics/tok/webhook", sig, more, "x", 1, &r);
    cr_assert(eq(long, r.status, 200), "no token: %s", r.body);
    http_response_release(&r);
    cr_assert(eq(i64, ac_latest(&srv, "tok", 0), 2));
    ac_server_stop_clean(&srv);
}

/* The same 403 whether the topic exists or not: a caller without the secret must not
 * learn which topics exist. */
Test(webhook, a_topic_that_takes_no_webhooks_is_one_403_existing_or_not)
{
    static const char *const more[] = {"Content-Type: text/plain", NULL};
    static const char *const paths[] = {
        "/topics/__idempotency/webhook",
        "/topics/bad%20name/webhook",
        "/topics/..%2Fx/webhook",
        "/topics/caf%C3%A9%FF/webhook",
    };
    struct http_response r;
    char before[1024];
    json_t *p;

    post_signed("/topics/later/webhook", more, "x", 1, &r);
    p = ac_expect_problem(&r, 403, "webhook_not_enabled");
    cr_assert(not(
        eq(ptr, strstr(json_string_value(json_object_get(p, "detail")), "later"), NULL)));
    json_decref(p);
    snprintf(before, sizeof(before), "%s", r.body);
    http_response_release(&r);

    ac_create_topic(&srv, "later", 1, NULL);
    post_signed("/topics/later/webhook", more, "x", 1, &r);
    json_decref(ac_expect_problem(&r, 403, "webhook_not_enabled"));
    cr_assert(eq(str, r.body, before), "the answer tells the topic exists");
    http_response_release(&r);
    post("/topics/later/webhook", NULL, more, "x", 1, &r); /* 403 comes before 401 */
    cr_assert(eq(str, r.body, before));
    http_response_release(&r);

    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        post_signed(paths[i], more, "x", 1, &r);
        json_decref(ac_expect_problem(&r, 403, "webhook_not_enabled"));
        http_response_release(&r);
    }

    /* a secret set later with PATCH opens it; removing it ("") closes it again */
    ac_send_json(&srv, "PATCH", "/topics/later", "{\"config\":" SECRET_CONFIG "}", &r);
    cr_assert(eq(long, r.status, 200), "%s", r.body);
    http_response_release(&r);
    post_signed("/topics/later/webhook", more, "x", 1, &r);
    cr_assert(eq(long, r.status, 200), "%s", r.body);
    http_response_release(&r);
    ac_send_json(&srv, "PATCH", "/topics/later", "{\"config\":{\"webhook.secret\":\"\"}}",
                 &r);
    cr_assert(eq(long, r.status, 200), "%s", r.body);
    http_response_release(&r);
    post_signed("/topics/later/webhook", more, "x", 1, &r);
    cr_assert(eq(str, r.body, before));
    http_response_release(&r);
    cr_assert(eq(i64, ac_latest(&srv, "later", 0), 1));
    ac_server_stop_clean(&srv);
}

Test(webhook, a_redelivery_is_stored_once_also_after_a_restart)
{
    static const char body[] = "{\"action\":\"created\"}";
    static const char *const more[] = {"Content-Type: application/json",
                                       "X-GitHub-Event: issue_comment",
                                       "X-GitHub-Delivery: d-1", NULL};
    struct http_response r;
    char first[256];

    ac_create_topic(&srv, "redo", 3, SECRET_CONFIG);
    post_signed("/topics/redo/webhook", more, body, strlen(body), &r);
    json_decref(ac_expect_json(&r, 200));
    snprintf(first, sizeof(first), "%s", r.body);
    http_response_release(&r);
    for (int round = 0; round < 2; round++) {
        post_signed("/topics/redo/webhook", more, body, strlen(body), &r);
        cr_assert(eq(long, r.status, 200), "%s", r.body);
        cr_assert(eq(str, r.body, first), "round %d: not the first answer", round);
        cr_assert(
            eq(str, (char *)http_response_header(&r, "Idempotent-Replayed"), "true"));
        http_response_release(&r);
        if (round == 0) {
            ac_server_stop_clean(&srv);
            ac_server_restart(&srv);
        }
    }
    {
        int64_t total = 0;

        for (int p = 0; p < 3; p++)
            total += ac_latest(&srv, "redo", p);
        cr_assert(eq(i64, total, 1), "stored more than once");
    }
    ac_server_stop_clean(&srv);
}

Test(webhook, the_same_delivery_with_another_body_is_409)
{
    static const char *const more[] = {"Content-Type: application/json",
                                       "X-GitHub-Delivery: d-2", NULL};
    struct http_response r;

    ac_create_topic(&srv, "clash", 1, SECRET_CONFIG);
    post_signed("/topics/clash/webhook", more, "{\"n\":1}", 7, &r);
    cr_assert(eq(long, r.status, 200), "%s", r.body);
    http_response_release(&r);
    post_signed("/topics/clash/webhook", more, "{\"n\":2}", 7, &r);
    json_decref(ac_expect_problem(&r, 409, "idempotency_key_reused"));
    http_response_release(&r);
    cr_assert(eq(i64, ac_latest(&srv, "clash", 0), 1));
    ac_server_stop_clean(&srv);
}

Test(webhook, an_invalid_delivery_id_is_400)
{
    static const char *const more[] = {"Content-Type: application/json",
                                       "X-GitHub-Delivery: caf\xc3\xa9", NULL};
    struct http_response r;

    ac_create_topic(&srv, "badid", 1, SECRET_CONFIG);
    post_signed("/topics/badid/webhook", more, "{}", 2, &r);
    json_decref(ac_expect_problem(&r, 400, "invalid_idempotency_key"));
    http_response_release(&r);
    cr_assert(eq(i64, ac_latest(&srv, "badid", 0), 0));
    ac_server_stop_clean(&srv);
}

Test(webhook, a_body_over_max_message_bytes_is_413_once_signed)
{
    static const char *const more[] = {"Content-Type: text/plain", NULL};
    char *big = malloc(2000);
    struct http_response r;
    json_t *p;

    memset(big, 'b', 2000);
    ac_create_topic(&srv, "small", 1,
                    "{\"max.message.bytes\":1024,\"webhook.secret\":\"" SECRET "\"}");
    post("/topics/small/webhook", "sha256=00", more, big, 2000, &r);
    expect_401(&r, "invalid_signature", "the signature is checked first");
    http_response_release(&r);
    post_signed("/topics/small/webhook", more, big, 2000, &r);
    p = ac_expect_problem(&r, 413, "record_too_large");
    cr_assert(eq(i64, ac_int(p, "limit"), 1024));
    json_decref(p);
    http_response_release(&r);
    cr_assert(eq(i64, ac_latest(&srv, "small", 0), 0));
    free(big);
    ac_server_stop_clean(&srv);
}

Test(webhook, key_and_partition_place_the_record_as_a_raw_produce_does)
{
    static const char *const keys[] = {"k1", "user-42", "repo/rill", "a", "zz"};
    static const char *const more[] = {"Content-Type: text/plain", NULL};
    struct http_response r;
    char path[128];

    ac_create_topic(&srv, "placed", 3, SECRET_CONFIG);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        json_t *raw, *hook;

        snprintf(path, sizeof(path), "/topics/placed/messages?key=%s", keys[i]);
        ac_req(&srv, "POST", path, more, "m", 1, &r);
        raw = ac_expect_json(&r, 200);
        http_response_release(&r);
        snprintf(path, sizeof(path), "/topics/placed/webhook?key=%s", keys[i]);
        post_signed(path, more, "w", 1, &r);
        hook = ac_expect_json(&r, 200);
        http_response_release(&r);
        cr_assert(
            eq(i64,
               ac_int(json_array_get(json_object_get(hook, "offsets"), 0), "partition"),
               ac_int(json_array_get(json_object_get(raw, "offsets"), 0), "partition")),
            "key '%s'", keys[i]);
        json_decref(raw);
        json_decref(hook);
    }
    post_signed("/topics/placed/webhook?partition=2&key=k1", more, "p", 1, &r);
    cr_assert(eq(long, r.status, 200), "%s", r.body);
    cr_assert(not(eq(ptr, strstr(r.body, "\"partition\":2"), NULL)), "%s", r.body);
    http_response_release(&r);
    post_signed("/topics/placed/webhook?partition=3", more, "p", 1, &r);
    json_decref(ac_expect_problem(&r, 404, "partition_not_found"));
    http_response_release(&r);
    post_signed("/topics/placed/webhook?raw=1", more, "p", 1, &r);
    json_decref(ac_expect_problem(&r, 400, "unknown_parameter"));
    http_response_release(&r);
    ac_server_stop_clean(&srv);
}

Test(webhook, a_binary_body_keeps_every_byte)
{
    static const char *const more[] = {"Content-Type: application/octet-stream", NULL};
    unsigned char body[300];
    struct http_response r;
    json_t *holder, *rec;

    for (size_t i = 0; i < sizeof(body); i++)
        body[i] = (unsigned char)(255 - i % 256); /* 0xff, 0xfe, ...: not UTF-8 */
    ac_create_topic(&srv, "bin", 1, SECRET_CONFIG);
    post_signed("/topics/bin/webhook", more, body, sizeof(body), &r);
    cr_assert(eq(long, r.status, 200), "%s", r.body);
    http_response_release(&r);
    rec = only_record("bin", 0, &holder);
    expect_value(rec, body, sizeof(body));
    cr_assert(eq(str,
                 (char *)json_string_value(
                     json_object_get(json_object_get(rec, "headers"), "content-type")),
                 "application/octet-stream"));
    json_decref(holder);
    ac_server_stop_clean(&srv);
}
