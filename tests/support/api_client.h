/* api_client.h (prefix ac_): a rill server for one test and calls to its HTTP API, shared
 * by the tests/integration/test_api_*.c suites.
 *
 *     static struct ac_server srv;
 *     static void setup(void) { ac_server_start(&srv, NULL); }   // no assert here
 *     static void teardown(void) { ac_server_cleanup(&srv); }
 *     TestSuite(topics, .init = setup, .fini = teardown, .timeout = 60);
 *
 *     Test(topics, ...)
 *     {
 *         ac_create_topic(&srv, "orders", 3, NULL);           // asserts 201
 *         ...
 *         ac_server_stop_clean(&srv);   // SIGTERM: asserts exit 0 (ASan, LSan, UBSan)
 *     }
 *
 * Criterion runs .init and .fini around every test, in the test's own process, and
 * ignores an assertion that fails in either (the test still passes). So
 * ac_server_start() only records how the start went, every request helper asserts
 * that the server is up (a failed start fails the test that uses it), and each test
 * ends with ac_server_stop_clean() in its body, where an assertion counts. A sanitizer
 * report in the server makes its exit status non-zero, and the log is shown.
 *
 * Every helper that talks to the server fails the test (cr_assert) when no answer
 * came; statuses are for the caller to check, except where a helper says so. */
#ifndef TESTS_SUPPORT_API_CLIENT_H
#define TESTS_SUPPORT_API_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tests/support/http_client.h"
#include "tests/support/rillproc.h"

struct ac_server {
    struct rillproc proc;
    int start_ret;   /* rillproc_start()'s answer: 0 once the server is up */
    char token[128]; /* the admin token, from DATA/admin.token */
    char auth[192];  /* "Authorization: Bearer <token>" */
};

/* For cr_assert() of a plain condition: <criterion/new/assert.h> reads a leading
 * identifier as a possible specifier (eq, not, ...), so a condition that starts with
 * '(' or '!' (as json_is_object() does once expanded) goes through this. */
static inline bool ac_holds(bool condition) { return condition; }

/* Starts the server with 'args' (NULL-terminated, may be NULL) and reads its admin
 * token. Asserts nothing (it runs in .init): see ac_server_require(). */
void ac_server_start(struct ac_server *s, const char *const *args);
/* Fails the test, with the server's log, unless the server is up. */
void ac_server_require(const struct ac_server *s);
/* SIGTERM; asserts the server exits 0 within rillproc_stop()'s bound, else fails with
 * its exit status and the end of its log. */
void ac_server_stop_clean(struct ac_server *s);
/* rillproc_restart() after a stop or a kill; asserts it is up, rereads the token. */
void ac_server_restart(struct ac_server *s);
/* Kills the server if still running and removes its files. */
void ac_server_cleanup(struct ac_server *s);
/* Polls the server's log (at most 20 s) for 'needle'. */
bool ac_server_log_shows(const struct ac_server *s, const char *needle);

/* One request to s->url + 'path' with the admin token, plus 'headers' (NULL-terminated
 * "Name: value" lines, may be NULL). Asserts that an answer came. */
void ac_req(const struct ac_server *s, const char *method, const char *path,
            const char *const *headers, const void *body, size_t len,
            struct http_response *r);
/* The same without the Authorization header. */
void ac_req_noauth(const struct ac_server *s, const char *method, const char *path,
                   const char *const *headers, const void *body, size_t len,
                   struct http_response *r);
void ac_get(const struct ac_server *s, const char *path, struct http_response *r);
/* POST/PATCH/... of a NUL-terminated JSON text with Content-Type: application/json. */
void ac_send_json(const struct ac_server *s, const char *method, const char *path,
                  const char *json, struct http_response *r);

/* Asserts the status and an application/json body, which is parsed; returns it (the
 * caller json_decref()s it). */
json_t *ac_expect_json(const struct http_response *r, long status);
/* Asserts an RFC 9457 problem: the status, Content-Type application/problem+json, and
 * the members type, title (non-empty), status (== 'status'), detail (non-empty) and
 * code (== 'code' unless 'code' is NULL). Returns the parsed document. */
json_t *ac_expect_problem(const struct http_response *r, long status, const char *code);
/* The same, with the code one of 'codes' (NULL-terminated). */
json_t *ac_expect_problem_any(const struct http_response *r, long status,
                              const char *const *codes);

/* POST /topics {"name","partitions"[,"config":config_json]}; asserts 201. */
void ac_create_topic(const struct ac_server *s, const char *name, int partitions,
                     const char *config_json);
/* GET .../partitions/{p}/offsets -> latest, for p in [0, n). Asserts 200s. */
void ac_latest_all(const struct ac_server *s, const char *topic, int n, int64_t *out);
int64_t ac_latest(const struct ac_server *s, const char *topic, int partition);
/* Asserts that each partition's latest offset is still 'want[p]'. */
void ac_expect_latest(const struct ac_server *s, const char *topic, int n,
                      const int64_t *want, const char *what);
/* POSTs 'body' as the JSON envelope to /topics/{topic}/messages; asserts 200 and
 * returns the answer. */
json_t *ac_produce(const struct ac_server *s, const char *topic, const char *body);
/* GET /topics/{topic}/partitions/{p}?<query>; asserts 200 and returns the answer. */
json_t *ac_fetch(const struct ac_server *s, const char *topic, int partition,
                 const char *query);
/* Every record of a partition, from earliest to the high watermark (a new array). */
json_t *ac_fetch_all(const struct ac_server *s, const char *topic, int partition);
/* GET /healthz answers 200 {"status":"ok"}. */
void ac_expect_healthy(const struct ac_server *s);

/* Asserts json_equal(got, want), showing both. */
void ac_expect_json_equal(const json_t *got, const json_t *want, const char *what);
/* Parses 'text' (asserting it is JSON); the caller json_decref()s it. */
json_t *ac_json(const char *text);
/* The integer member 'name' of 'o' (asserting it is an integer). */
int64_t ac_int(const json_t *o, const char *name);

/* Base64 (standard alphabet, padded), malloc'ed and NUL-terminated. */
char *ac_base64(const void *data, size_t len);
/* Decodes standard base64 (padded); NULL if malformed. */
unsigned char *ac_unbase64(const char *text, size_t *len);

/* A growable byte string for big bodies ('data' is NUL-terminated once non-empty). */
struct ac_text {
    char *data;
    size_t len, cap;
};
void ac_text_add(struct ac_text *t, const void *data, size_t len);
void ac_text_printf(struct ac_text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void ac_text_release(struct ac_text *t);

/* A TCP connection to the server, for requests curl would rewrite (dot segments) or
 * that stop half way. Asserts it connects. */
int ac_raw_connect(const struct ac_server *s);
/* Sends all of data[0..len) (asserting it could); false if the peer closed. */
bool ac_raw_send(int fd, const void *data, size_t len);
/* Sends a whole request on a new connection and reads until the server closes it (at
 * most 20 s). Returns the response, malloc'ed and NUL-terminated. */
char *ac_raw_exchange(const struct ac_server *s, const void *req, size_t len);
/* The status code of a raw response, or 0; and its body (after the blank line). */
long ac_raw_status(const char *resp);
const char *ac_raw_body(const char *resp);
/* The value of header 'name' in a raw response, copied into out (or "" if absent). */
void ac_raw_header(const char *resp, const char *name, char *out, size_t size);

#endif
