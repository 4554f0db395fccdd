/* tests/integration/test_api_cors.c: --cors-origin over real HTTP: the preflight of
 * every route (walking the route table), the headers of answers to an allowed origin
 * (refusals, answers that waited, the server's own 413), nothing for another origin or
 * without the flag, and '*'. The browser's side is tests/browser/cors.mjs. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <string.h>

#include "api/internal.h"
#include "tests/support/api_client.h"

#define ORIGIN "http://dash.example:5173"

static struct ac_server srv;

static void setup(void)
{
    const char *args[] = {"--cors-origin", "https://other.example, " ORIGIN,
                          "--max-body-bytes", "4096", NULL};

    ac_server_start(&srv, args);
}

static void teardown(void)
{
    ac_server_cleanup(&srv);
}

TestSuite(cors, .init = setup, .fini = teardown, .timeout = 120);

static bool holds(bool b)
{
    return b;
}

/* Whether header 'name' of 'r' contains 'word' (NULL header: false). */
static bool header_has(const struct http_response *r, const char *name, const char *word)
{
    const char *v = http_response_header(r, name);

    return v && strstr(v, word);
}

static void expect_allowed(const struct http_response *r, const char *what)
{
    const char *acao = http_response_header(r, "Access-Control-Allow-Origin");

    cr_assert(not(eq(ptr, (void *)acao, NULL)), "%s: no Access-Control-Allow-Origin", what);
    cr_assert(eq(str, (char *)acao, ORIGIN), "%s", what);
    cr_assert(holds(header_has(r, "Vary", "Origin")), "%s: no Vary: Origin", what);
    cr_assert(holds(header_has(r, "Access-Control-Expose-Headers", "Retry-After")), "%s",
              what);
}

Test(cors, every_route_has_a_preflight_naming_its_method_and_the_headers_we_read)
{
    const char *method, *pattern;
    bool is_public;

    for (size_t i = 0; router_route(i, &method, &pattern, &is_public); i++) {
        char path[256], acrm[64];
        const char *h[] = {"Origin: " ORIGIN, acrm,
                           "Access-Control-Request-Headers: authorization,content-type",
                           NULL};
        struct http_response r;
        size_t o = 0;

        for (const char *p = pattern; *p && o < sizeof(path) - 2; p++) {
            if (p[0] == '{' && p[1] == '}') {
                path[o++] = 'x';
                p++;
            } else {
                path[o++] = *p;
            }
        }
        path[o] = '\0';
        snprintf(acrm, sizeof(acrm), "Access-Control-Request-Method: %s", method);
        ac_req_noauth(&srv, "OPTIONS", path, h, NULL, 0, &r);
        cr_assert(eq(long, r.status, 204), "OPTIONS %s: %ld", path, r.status);
        expect_allowed(&r, path);
        cr_assert(holds(header_has(&r, "Access-Control-Allow-Methods", method)),
                  "OPTIONS %s does not allow %s", path, method);
        cr_assert(holds(header_has(&r, "Allow", method)), "%s", path);
        cr_assert(holds(header_has(&r, "Allow", "OPTIONS")), "%s", path);
        for (const char *const *w = (const char *const[]){
                 "Authorization", "Content-Type", "Idempotency-Key", "If-Match",
                 "Last-Event-ID", "X-Hub-Signature-256", NULL};
             *w; w++)
            cr_assert(holds(header_has(&r, "Access-Control-Allow-Headers", *w)),
                      "OPTIONS %s does not allow header %s", path, *w);
        cr_assert(eq(str, (char *)http_response_header(&r, "Access-Control-Max-Age"), "600"));
        http_response_release(&r);
    }
    ac_server_stop_clean(&srv);
}

Test(cors, answers_to_an_allowed_origin_carry_it_refusals_and_waits_included)
{
    const char *h[] = {"Origin: " ORIGIN, NULL};
    const char *json[] = {"Origin: " ORIGIN, "Content-Type: application/json", NULL};
    char big[5000];
    struct http_response r;

    ac_create_topic(&srv, "t", 1, NULL); /* flush.policy=always: a produce waits */
    ac_req_noauth(&srv, "GET", "/topics", h, NULL, 0, &r);
    cr_assert(eq(long, r.status, 401));
    expect_allowed(&r, "401");
    cr_assert(holds(header_has(&r, "Access-Control-Expose-Headers", "WWW-Authenticate")));
    http_response_release(&r);

    ac_req(&srv, "POST", "/topics/t/messages", json, "{\"records\":[{\"value\":1}]}", 25, &r);
    cr_assert(eq(long, r.status, 200), "%s", r.body);
    expect_allowed(&r, "a produce answered after its sync");
    http_response_release(&r);

    ac_req(&srv, "GET", "/topics/t/partitions/0?offset=1&wait_ms=50", h, NULL, 0, &r);
    cr_assert(eq(long, r.status, 200), "%s", r.body);
    expect_allowed(&r, "a long poll that waited");
    http_response_release(&r);

    memset(big, 'a', sizeof(big));
    ac_req(&srv, "POST", "/topics/t/messages", h, big, sizeof(big), &r);
    cr_assert(eq(long, r.status, 413));
    cr_assert(eq(str, (char *)http_response_header(&r, "Access-Control-Allow-Origin"), ORIGIN),
              "the server's own 413 carries no Access-Control-Allow-Origin");
    http_response_release(&r);
    ac_server_stop_clean(&srv);
}

Test(cors, another_origin_gets_no_cors_header)
{
    const char *h[] = {"Origin: http://evil.example", "Access-Control-Request-Method: DELETE",
                       NULL};
    struct http_response r;

    ac_req_noauth(&srv, "OPTIONS", "/topics/t", h, NULL, 0, &r);
    cr_assert(eq(long, r.status, 204));
    cr_assert(eq(ptr, (void *)http_response_header(&r, "Access-Control-Allow-Origin"), NULL));
    cr_assert(eq(ptr, (void *)http_response_header(&r, "Access-Control-Allow-Methods"), NULL));
    cr_assert(holds(header_has(&r, "Vary", "Origin")));
    http_response_release(&r);
    ac_req(&srv, "GET", "/topics", h, NULL, 0, &r);
    cr_assert(eq(long, r.status, 200));
    cr_assert(eq(ptr, (void *)http_response_header(&r, "Access-Control-Allow-Origin"), NULL));
    http_response_release(&r);
    /* the prefix or a longer name of an allowed origin is another origin */
    ac_req(&srv, "GET", "/topics", (const char *[]){"Origin: http://dash.example", NULL}, NULL,
           0, &r);
    cr_assert(eq(ptr, (void *)http_response_header(&r, "Access-Control-Allow-Origin"), NULL));
    http_response_release(&r);
    ac_req(&srv, "GET", "/topics",
           (const char *[]){"Origin: " ORIGIN "0", NULL}, NULL, 0, &r);
    cr_assert(eq(ptr, (void *)http_response_header(&r, "Access-Control-Allow-Origin"), NULL));
    http_response_release(&r);
    ac_server_stop_clean(&srv);
}

Test(cors, without_the_flag_no_cors_header_at_all_and_star_allows_any_origin)
{
    const char *h[] = {"Origin: " ORIGIN, "Access-Control-Request-Method: POST", NULL};
    const char *star[] = {"--cors-origin", "*", NULL};
    struct http_response r;

    ac_server_stop_clean(&srv);
    ac_server_cleanup(&srv);
    ac_server_start(&srv, NULL);
    ac_req_noauth(&srv, "OPTIONS", "/topics", h, NULL, 0, &r);
    cr_assert(eq(long, r.status, 204));
    cr_assert(eq(str, (char *)http_response_header(&r, "Allow"), "GET, HEAD, POST, OPTIONS"));
    for (size_t i = 0; i < r.n_headers; i++)
        cr_assert(not(eq(int, strncasecmp(r.headers[i].name, "Access-Control-", 15), 0)),
                  "%s", r.headers[i].name);
    cr_assert(eq(ptr, (void *)http_response_header(&r, "Vary"), NULL));
    http_response_release(&r);
    ac_server_stop_clean(&srv);
    ac_server_cleanup(&srv);

    ac_server_start(&srv, star);
    ac_req_noauth(&srv, "OPTIONS", "/topics", h, NULL, 0, &r);
    cr_assert(eq(str, (char *)http_response_header(&r, "Access-Control-Allow-Origin"), "*"));
    cr_assert(eq(ptr, (void *)http_response_header(&r, "Vary"), NULL));
    http_response_release(&r);
    ac_server_stop_clean(&srv);
}
