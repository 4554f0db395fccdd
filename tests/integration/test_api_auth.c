/* tests/integration/test_api_auth.c: bearer tokens end to end against the real binary
 * (api/auth.c, api/tokens.c, api_authenticate/api_require in api/api.c, the route flags
 * of api/router.c, group coverage in api/groups.c, filtered lists and metrics, the
 * revocation check of api/stream.c): every route refuses a request without a token, a
 * token sees and does only what its scopes allow (403 before 404), groups are covered
 * by the topics they read, the /tokens API and its bad bodies, the Authorization
 * header's forms, revocation and expiry ending open streams and long polls, no secret
 * on disk or in the log, a damaged store refusing to start, rate limits, --auth off. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/internal.h"
#include "common/clock.h"
#include "tests/support/api_client.h"
#include "tests/support/sse_client.h"

#define WAIT_MS 10000

static struct ac_server srv;

static void setup(void) { ac_server_start(&srv, NULL); }
static void teardown(void) { ac_server_cleanup(&srv); }

TestSuite(auth, .init = setup, .fini = teardown, .timeout = 180);

/* ---- helpers ---- */

/* A token made through POST /tokens: its id, its secret, and the header that sends it. */
struct tok {
    char id[64];
    char secret[128];
    char auth[192]; /* "Authorization: Bearer <secret>" */
};

static void sleep_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&t, NULL);
}

/* Whether 's' is "rill_" and 43 base64url characters. */
static bool secret_shape_ok(const char *s)
{
    if (strlen(s) != 48 || strncmp(s, "rill_", 5))
        return false;
    for (const char *c = s + 5; *c; c++)
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
              (*c >= '0' && *c <= '9') || *c == '-' || *c == '_'))
            return false;
    return true;
}

static void set_tok(struct tok *t, const char *id, const char *secret)
{
    snprintf(t->id, sizeof(t->id), "%s", id);
    snprintf(t->secret, sizeof(t->secret), "%s", secret);
    snprintf(t->auth, sizeof(t->auth), "Authorization: Bearer %s", secret);
}

/* POST /tokens 'body' with the admin token; asserts 201 and returns the answer. */
static json_t *create_token_json(const char *body, struct tok *t)
{
    struct http_response r;
    json_t *j;
    const char *id, *secret;

    ac_send_json(&srv, "POST", "/tokens", body, &r);
    j = ac_expect_json(&r, 201);
    id = json_string_value(json_object_get(j, "id"));
    secret = json_string_value(json_object_get(j, "token"));
    cr_assert(ac_holds(id && secret), "no id or token: %s", r.body);
    cr_assert(ac_holds(secret_shape_ok(secret)), "token '%s' is not rill_ + 43 base64url",
              secret);
    set_tok(t, id, secret);
    http_response_release(&r);
    return j;
}

/* A token named 'name' with 'scopes' (a JSON array) and 'extra' (",..." or ""). */
static void new_token(struct tok *t, const char *name, const char *scopes,
                      const char *extra)
{
    char body[2048];

    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"scopes\":%s%s}", name, scopes,
             extra);
    json_decref(create_token_json(body, t));
}

/* One request with the header 'auth' (a whole "Authorization: ..." line, or NULL for
 * none) and a JSON body when 'json' is not NULL. Asserts an answer came. */
static void call(const char *auth, const char *method, const char *path, const char *json,
                 struct http_response *r)
{
    const char *h[3];
    size_t n = 0;
    char url[4096];
    int ret;

    ac_server_require(&srv);
    if (auth)
        h[n++] = auth;
    if (json)
        h[n++] = "Content-Type: application/json";
    h[n] = NULL;
    snprintf(url, sizeof(url), "%s%s", srv.proc.url, path);
    ret = http_request(method, url, h, json, json ? strlen(json) : 0, r);
    cr_assert(eq(int, ret, 0), "%s %s: no answer: %s", method, path, r->error);
}

/* The status of one request (see call()). */
static long status_of(const char *auth, const char *method, const char *path,
                      const char *json)
{
    struct http_response r;
    long st;

    call(auth, method, path, json, &r);
    st = r.status;
    http_response_release(&r);
    return st;
}

/* Asserts a 401 problem with 'code'; the challenge is Bearer realm="rill", with
 * error="<error>" when 'error' is not NULL, bare otherwise. */
static void expect_401(const struct http_response *r, const char *code, const char *error)
{
    const char *w = http_response_header(r, "WWW-Authenticate");
    char want[128];

    json_decref(ac_expect_problem(r, 401, code));
    cr_assert(not(eq(ptr, (void *)w, NULL)), "a 401 without WWW-Authenticate: %s",
              r->body);
    cr_assert(eq(int, strncmp(w, "Bearer realm=\"rill\"", 19), 0), "challenge: %s", w);
    if (error) {
        snprintf(want, sizeof(want), "error=\"%s\"", error);
        cr_assert(not(eq(ptr, strstr(w, want), NULL)), "challenge without %s: %s", want,
                  w);
    } else {
        cr_assert(eq(str, (char *)w, "Bearer realm=\"rill\""));
    }
}

/* Asserts 403 forbidden with error="insufficient_scope" in the challenge. */
static void expect_403(const struct http_response *r, const char *what)
{
    const char *w = http_response_header(r, "WWW-Authenticate");

    cr_assert(eq(long, r->status, 403), "%s: status %ld, want 403: %s", what, r->status,
              r->body);
    json_decref(ac_expect_problem(r, 403, "forbidden"));
    cr_assert(not(eq(ptr, (void *)w, NULL)), "%s: a 403 without WWW-Authenticate", what);
    cr_assert(not(eq(ptr, strstr(w, "error=\"insufficient_scope\""), NULL)),
              "%s: challenge %s", what, w);
}

/* GET 'path' with 'auth'; asserts 200 JSON and returns it. */
static json_t *get_json(const char *auth, const char *path)
{
    struct http_response r;
    json_t *j;

    call(auth, "GET", path, NULL, &r);
    j = ac_expect_json(&r, 200);
    http_response_release(&r);
    return j;
}

/* GET 'path' with 'auth'; asserts 200 and returns the body (malloc'ed). */
static char *get_text(const char *auth, const char *path)
{
    struct http_response r;
    char *body;

    call(auth, "GET", path, NULL, &r);
    cr_assert(eq(long, r.status, 200), "GET %s: %ld %s", path, r.status, r.body);
    body = strdup(r.body);
    http_response_release(&r);
    return body;
}

/* The names in {"<member>":[{"name":...},...]} joined as "a,b,c" into out. */
static void names_of(json_t *doc, const char *member, char *out, size_t size)
{
    json_t *e;
    size_t i, at = 0;

    out[0] = '\0';
    json_array_foreach(json_object_get(doc, member), i, e)
    {
        at += (size_t)snprintf(out + at, size - at, "%s%s", i ? "," : "",
                               json_string_value(json_object_get(e, "name")));
        cr_assert(lt(sz, at, size));
    }
}

/* The names GET /topics shows to 'auth', as "a,b". */
static void visible_topics(const char *auth, char *out, size_t size)
{
    json_t *j = get_json(auth, "/topics");

    names_of(j, "topics", out, size);
    json_decref(j);
}

/* The names GET /groups shows to 'auth', as "a,b". */
static void visible_groups(const char *auth, char *out, size_t size)
{
    json_t *j = get_json(auth, "/groups");

    names_of(j, "groups", out, size);
    json_decref(j);
}

/* GET /tokens/{id} with the admin token. */
static json_t *get_token(const char *id)
{
    char path[128];

    snprintf(path, sizeof(path), "/tokens/%s", id);
    return get_json(srv.auth, path);
}

static const char *str_member(const json_t *o, const char *name)
{
    const char *s = json_string_value(json_object_get(o, name));

    cr_assert(not(eq(ptr, (void *)s, NULL)), "member '%s' is not a string", name);
    return s;
}

/* Opens a stream with 'auth' (may be NULL); returns the status (the stream stays open
 * on 200: sse_close() it). */
static int open_stream(struct sse_client *c, const char *auth, const char *path)
{
    const char *h[] = {auth, NULL};

    ac_server_require(&srv);
    return sse_open(c, srv.proc.addr, path, auth ? h : NULL, 0);
}

/* Reads the stream until it ends, for at most 'ms'; returns sse_next's last answer
 * (0: it ended). Events before the end are skipped. */
static int read_until_end(struct sse_client *c, int ms)
{
    struct sse_event ev = {0};
    int64_t deadline = clock_mono_ms() + ms;
    int r;

    do {
        int64_t left = deadline - clock_mono_ms();

        r = sse_next(c, &ev, left > 0 ? (int)left : 1);
    } while (r == 1 && clock_mono_ms() < deadline);
    sse_event_release(&ev);
    return r;
}

static void produce_n(const char *topic, int n)
{
    struct ac_text body = {0};

    ac_text_printf(&body, "{\"records\":[");
    for (int i = 0; i < n; i++)
        ac_text_printf(&body, "%s{\"value\":%d,\"partition\":0}", i ? "," : "", i);
    ac_text_printf(&body, "]}");
    json_decref(ac_produce(&srv, topic, body.data));
    ac_text_release(&body);
}

/* POST /groups/{g}/offsets with the admin token; asserts 200. */
static void admin_commit(const char *group, const char *topic, int64_t offset)
{
    struct http_response r;
    char path[256], body[256];

    snprintf(path, sizeof(path), "/groups/%s/offsets", group);
    snprintf(body, sizeof(body),
             "{\"offsets\":[{\"topic\":\"%s\",\"partition\":0,\"offset\":%lld}]}", topic,
             (long long)offset);
    ac_send_json(&srv, "POST", path, body, &r);
    json_decref(ac_expect_json(&r, 200));
    http_response_release(&r);
}

/* Restarts the suite's server fresh with 'args'. */
static void restart_fresh(const char *const *args)
{
    rillproc_stop(&srv.proc);
    ac_server_cleanup(&srv);
    ac_server_start(&srv, args);
    ac_server_require(&srv);
}

static bool contains(const char *hay, size_t len, const char *needle)
{
    return memmem(hay, len, needle, strlen(needle)) != NULL;
}

/* ---- 1. every route ---- */

/* What to put in each {} of a route, so that the request would succeed for a token
 * allowed to make it: existing topics, groups, members, tokens. */
struct walk {
    const char *topic, *group, *member_group, *member, *token_id;
};

static void route_path(const struct walk *w, const char *pattern, char *out, size_t size)
{
    const char *values[4] = {"x", "x", "x", "x"};
    size_t at = 0, k = 0;

    if (!strncmp(pattern, "/topics/", 8)) {
        values[0] = w->topic;
        values[1] = "0";
    } else if (!strncmp(pattern, "/groups/{}/members/{}", 21)) {
        values[0] = w->member_group;
        values[1] = w->member;
    } else if (!strncmp(pattern, "/groups/", 8)) {
        values[0] = w->group;
    } else if (!strncmp(pattern, "/tokens/", 8)) {
        values[0] = w->token_id;
    }
    for (const char *p = pattern; *p;) {
        if (p[0] == '{' && p[1] == '}') {
            cr_assert(lt(sz, k, 4));
            at += (size_t)snprintf(out + at, size - at, "%s", values[k++]);
            p += 2;
        } else {
            at += (size_t)snprintf(out + at, size - at, "%c", *p++);
        }
        cr_assert(lt(sz, at, size));
    }
}

/* A body that the route would accept (NULL: none). */
static const char *route_body(const char *method, const char *pattern)
{
    static const struct {
        const char *method, *pattern, *body;
    } bodies[] = {
        {"POST", "/topics", "{\"name\":\"walk-new-topic\",\"partitions\":1}"},
        {"PATCH", "/topics/{}", "{\"partitions\":2}"},
        {"POST", "/topics/{}/messages", "{\"records\":[{\"value\":1}]}"},
        {"POST", "/groups/{}/offsets",
         "{\"offsets\":[{\"topic\":\"walk-topic-x\",\"partition\":0,\"offset\":0}]}"},
        {"POST", "/groups/{}/members",
         "{\"topics\":[\"walk-topic-x\"],\"session_timeout_ms\":600000}"},
        {"POST", "/tokens",
         "{\"name\":\"walk\",\"scopes\":[{\"topics\":\"*\",\"actions\":"
         "[\"admin\"]}]}"},
    };

    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
        if (!strcmp(bodies[i].method, method) && !strcmp(bodies[i].pattern, pattern))
            return bodies[i].body;
    return NULL;
}

/* A public route, called with or without a token: /healthz answers; a webhook is
 * signed instead, and a topic without webhook.secret takes none. */
static void expect_public(const char *pattern, const char *path,
                          const struct http_response *r)
{
    if (strstr(pattern, "/webhook")) {
        cr_assert(eq(long, r->status, 403), "public %s: %ld %s", path, r->status, r->body);
        cr_assert(not(eq(ptr, strstr(r->body, "webhook_not_enabled"), NULL)), "%s", r->body);
    } else {
        cr_assert(eq(long, r->status, 200), "public %s: %ld %s", path, r->status, r->body);
    }
}

static bool lists_what_it_may_see(const char *method, const char *pattern)
{
    return !strcmp(method, "GET") &&
           (!strcmp(pattern, "/openapi.yaml") || !strcmp(pattern, "/topics") ||
            !strcmp(pattern, "/groups") || !strcmp(pattern, "/metrics"));
}

/* Asserts that no name of 'hidden' (NULL-terminated) is in 'body'. */
static void expect_no_names(const char *what, const char *body, const char *const *hidden)
{
    for (const char *const *h = hidden; *h; h++)
        cr_assert(eq(ptr, strstr(body, *h), NULL),
                  "%s shows '%s' to a token without it:\n%s", what, *h, body);
}

Test(auth, every_route_needs_a_token_and_one_without_scope_gets_403_or_empty_lists)
{
    struct walk w = {"walk-topic-x", "walk-group-o", "walk-group-m", NULL, NULL};
    const char *hidden[] = {"walk-topic-x",   "walk-group-o",       "walk-group-m",
                            "walk-new-topic", "__consumer_offsets", NULL};
    const char *method, *pattern;
    bool is_public;
    struct tok nothing, victim;
    struct http_response r;
    char path[512], member[128];
    size_t routes = 0, publics = 0;
    json_t *j;

    ac_create_topic(&srv, "walk-topic-x", 1, NULL);
    ac_create_topic(&srv, "nothing.here", 1, NULL);
    produce_n("walk-topic-x", 2);
    produce_n("nothing.here", 1);
    admin_commit("walk-group-o", "walk-topic-x", 1);
    admin_commit("nothing-group", "nothing.here", 0);
    ac_send_json(&srv, "POST", "/groups/walk-group-m/members",
                 "{\"topics\":[\"walk-topic-x\"],\"session_timeout_ms\":600000}", &r);
    j = ac_expect_json(&r, 201);
    snprintf(member, sizeof(member), "%s", str_member(j, "member_id"));
    json_decref(j);
    http_response_release(&r);
    w.member = member;
    new_token(&victim, "victim", "[{\"topics\":\"*\",\"actions\":[\"consume\"]}]", "");
    w.token_id = victim.id;
    new_token(&nothing, "nothing",
              "[{\"topics\":\"nothing.*\",\"actions\":[\"consume\"]}]", "");

    /* without a token: 401 everywhere but the public routes */
    for (size_t i = 0; router_route(i, &method, &pattern, &is_public); i++) {
        const char *body = route_body(method, pattern);

        route_path(&w, pattern, path, sizeof(path));
        call(NULL, method, path, body, &r);
        if (is_public) {
            expect_public(pattern, path, &r);
            publics++;
        } else {
            cr_assert(eq(long, r.status, 401), "%s %s without a token: %ld %s", method,
                      path, r.status, r.body);
            expect_401(&r, "unauthorized", NULL);
        }
        http_response_release(&r);
        routes++;
    }
    cr_assert(ge(sz, routes, 20), "the route table has %zu routes?", routes);
    cr_assert(eq(sz, publics, 2), "only /healthz and the webhook (signed) are public");

    /* a token with no scope on any of them: 403, or a list without their names */
    for (size_t i = 0; router_route(i, &method, &pattern, &is_public); i++) {
        const char *body = route_body(method, pattern);
        char what[600];

        route_path(&w, pattern, path, sizeof(path));
        snprintf(what, sizeof(what), "%s %s", method, path);
        call(nothing.auth, method, path, body, &r);
        if (is_public) {
            expect_public(pattern, path, &r);
        } else if (lists_what_it_may_see(method, pattern)) {
            cr_assert(eq(long, r.status, 200), "%s: %ld %s", what, r.status, r.body);
            if (strcmp(pattern, "/openapi.yaml") && strcmp(pattern, "/healthz"))
                expect_no_names(what, r.body, hidden);
        } else {
            expect_403(&r, what);
        }
        http_response_release(&r);
    }
    /* the lists show what the token may see */
    {
        char names[1024];
        char *metrics, *text;

        visible_topics(nothing.auth, names, sizeof(names));
        cr_assert(eq(str, names, "nothing.here"));
        visible_groups(nothing.auth, names, sizeof(names));
        cr_assert(eq(str, names, "nothing-group"));
        text = get_text(nothing.auth, "/topics?internal=true");
        expect_no_names("GET /topics?internal=true", text, hidden);
        free(text);
        metrics = get_text(nothing.auth, "/metrics");
        cr_assert(not(eq(ptr, strstr(metrics, "topic=\"nothing.here\""), NULL)), "%s",
                  metrics);
        cr_assert(
            not(eq(ptr,
                   strstr(metrics, "rill_consumer_group_lag{group=\"nothing-group\""),
                   NULL)),
            "%s", metrics);
        free(metrics);
    }
    /* and nothing happened: the topic, group, member and token are as they were */
    j = get_json(srv.auth, "/topics/walk-topic-x");
    cr_assert(eq(sz, json_array_size(json_object_get(j, "partitions")), 1));
    json_decref(j);
    cr_assert(eq(i64, ac_latest(&srv, "walk-topic-x", 0), 2));
    cr_assert(eq(long, status_of(srv.auth, "GET", "/topics/walk-new-topic", NULL), 404));
    j = get_json(srv.auth, "/groups/walk-group-o/offsets");
    cr_assert(
        eq(i64, ac_int(json_array_get(json_object_get(j, "offsets"), 0), "offset"), 1));
    json_decref(j);
    snprintf(path, sizeof(path), "/groups/walk-group-m/members/%s/heartbeat", member);
    cr_assert(eq(long, status_of(srv.auth, "POST", path, NULL), 200));
    j = get_token(victim.id);
    cr_assert(eq(str, (char *)str_member(j, "status"), "active"));
    json_decref(j);
    cr_assert(eq(long, status_of(victim.auth, "GET", "/topics", NULL), 200));
    ac_server_stop_clean(&srv);
}

/* ---- 2. scopes ---- */

enum who { P, C, A, D, NWHO };

struct row {
    enum who who;
    const char *method, *path, *body;
    long status;
};

#define REC "{\"records\":[{\"value\":1,\"partition\":0}]}"

static const struct row matrix[] = {
    /* P: produce on "billing" (an exact name) */
    {P, "POST", "/topics/billing/messages", REC, 200},
    {P, "POST", "/topics/orders.eu/messages", REC, 403},
    {P, "POST", "/topics/billing2/messages", REC, 403}, /* exact: not a prefix */
    {P, "POST", "/topics/nope/messages", REC, 403},     /* 403 before 404 */
    {P, "GET", "/topics/billing", NULL, 200},
    {P, "GET", "/topics/orders.eu", NULL, 403},
    {P, "GET", "/topics/billing/partitions/0", NULL, 403},
    {P, "GET", "/topics/billing/partitions/0/offsets", NULL, 403},
    {P, "GET", "/topics/billing/partitions/0/stream", NULL, 403},
    {P, "GET", "/topics/billing/stream", NULL, 403},
    {P, "PATCH", "/topics/billing", "{\"partitions\":2}", 403},
    {P, "DELETE", "/topics/billing", NULL, 403},
    {P, "POST", "/topics", "{\"name\":\"billing-new\"}", 403},
    {P, "POST", "/topics", "{\"name\":\"billing\"}", 403}, /* 403 before 409 */
    {P, "GET", "/tokens", NULL, 403},
    /* C: consume on "orders.*" */
    {C, "GET", "/topics/orders.eu/partitions/0", NULL, 200},
    {C, "GET", "/topics/orders.us/partitions/0/offsets", NULL, 200},
    {C, "GET", "/topics/orders.us/partitions/0/stream?offset=earliest", NULL, 200},
    {C, "GET", "/topics/orders.eu/stream", NULL, 200},
    {C, "GET", "/topics/orders.eu", NULL, 200},
    {C, "GET", "/topics/billing", NULL, 403},
    {C, "GET", "/topics/billing/partitions/0", NULL, 403},
    {C, "GET", "/topics/billing/partitions/0/offsets", NULL, 403},
    {C, "GET", "/topics/billing/stream", NULL, 403},
    {C, "POST", "/topics/orders.eu/messages", REC, 403},
    {C, "PATCH", "/topics/orders.eu", "{\"partitions\":2}", 403},
    {C, "DELETE", "/topics/orders.us", NULL, 403},
    {C, "POST", "/topics", "{\"name\":\"orders.new\"}", 403},
    {C, "GET", "/topics/orders.zz/partitions/0", NULL, 404}, /* in scope: 404 */
    {C, "GET", "/topics/ordersX/partitions/0", NULL, 403},   /* "orders." is the prefix */
    {C, "GET", "/topics/nope/partitions/0/offsets", NULL, 403},
    {C, "GET", "/tokens", NULL, 403},
    /* A: admin on "*", nothing else */
    {A, "POST", "/topics", "{\"name\":\"audit\",\"partitions\":1}", 201},
    {A, "GET", "/topics/billing", NULL, 200},
    {A, "GET", "/topics/audit", NULL, 200},
    {A, "PATCH", "/topics/audit", "{\"partitions\":2}", 200},
    {A, "POST", "/topics/audit/messages", REC, 403},
    {A, "GET", "/topics/audit/partitions/0", NULL, 403},
    {A, "GET", "/topics/audit/partitions/0/offsets", NULL, 403},
    {A, "GET", "/topics/audit/partitions/0/stream", NULL, 403},
    {A, "GET", "/topics/audit/stream", NULL, 403},
    {A, "DELETE", "/topics/audit", NULL, 204},
    {A, "DELETE", "/topics/nope", NULL, 404}, /* in scope: 404 */
    {A, "GET", "/topics/nope", NULL, 404},
    {A, "GET", "/tokens", NULL, 200},
    /* D: admin on "orders.*" */
    {D, "POST", "/topics", "{\"name\":\"orders.new\",\"partitions\":1}", 201},
    {D, "POST", "/topics", "{\"name\":\"billing-x\",\"partitions\":1}", 403},
    {D, "PATCH", "/topics/orders.new", "{\"partitions\":3}", 200},
    {D, "PATCH", "/topics/billing", "{\"partitions\":3}", 403},
    {D, "DELETE", "/topics/orders.new", NULL, 204},
    {D, "DELETE", "/topics/billing", NULL, 403},
    {D, "GET", "/topics/orders.eu/partitions/0", NULL, 403},
    {D, "GET", "/tokens", NULL, 403},
};

Test(auth, each_token_does_what_its_scopes_allow_and_gets_403_before_404_elsewhere)
{
    static const char *const names[NWHO] = {"P", "C", "A", "D"};
    struct tok t[NWHO];
    char seen[1024];

    ac_create_topic(&srv, "orders.eu", 1, NULL);
    ac_create_topic(&srv, "orders.us", 1, NULL);
    ac_create_topic(&srv, "billing", 1, NULL);
    new_token(&t[P], "p", "[{\"topics\":\"billing\",\"actions\":[\"produce\"]}]", "");
    new_token(&t[C], "c", "[{\"topics\":\"orders.*\",\"actions\":[\"consume\"]}]", "");
    new_token(&t[A], "a", "[{\"topics\":\"*\",\"actions\":[\"admin\"]}]", "");
    new_token(&t[D], "d", "[{\"topics\":\"orders.*\",\"actions\":[\"admin\"]}]", "");
    for (size_t i = 0; i < sizeof(matrix) / sizeof(matrix[0]); i++) {
        const struct row *m = &matrix[i];
        char what[300];

        snprintf(what, sizeof(what), "row %zu: token %s %s %s", i, names[m->who],
                 m->method, m->path);
        if (strstr(m->path, "stream")) {
            struct sse_client c;
            int st = open_stream(&c, t[m->who].auth, m->path);

            cr_assert(eq(int, st, (int)m->status), "%s: %d %s", what, st, c.body.data);
            sse_close(&c);
            continue;
        }
        {
            struct http_response r;

            call(t[m->who].auth, m->method, m->path, m->body, &r);
            if (m->status == 403)
                expect_403(&r, what);
            else if (m->status == 404)
                json_decref(ac_expect_problem(&r, 404, "topic_not_found"));
            else
                cr_assert(eq(long, r.status, m->status), "%s: %ld %s", what, r.status,
                          r.body);
            http_response_release(&r);
        }
    }
    /* each sees the topics it has any action on */
    visible_topics(t[P].auth, seen, sizeof(seen));
    cr_assert(eq(str, seen, "billing"));
    visible_topics(t[C].auth, seen, sizeof(seen));
    cr_assert(eq(str, seen, "orders.eu,orders.us"));
    visible_topics(t[A].auth, seen, sizeof(seen));
    cr_assert(eq(str, seen, "billing,orders.eu,orders.us"));
    visible_topics(t[D].auth, seen, sizeof(seen));
    cr_assert(eq(str, seen, "orders.eu,orders.us"));
    /* the refused requests changed nothing: one record (P's), one partition each */
    cr_assert(eq(i64, ac_latest(&srv, "billing", 0), 1));
    cr_assert(eq(i64, ac_latest(&srv, "orders.eu", 0), 0));
    for (int i = 0; i < 3; i++) {
        static const char *const topics[] = {"/topics/billing", "/topics/orders.eu",
                                             "/topics/orders.us"};
        json_t *j = get_json(srv.auth, topics[i]);

        cr_assert(eq(sz, json_array_size(json_object_get(j, "partitions")), 1), "%s",
                  topics[i]);
        json_decref(j);
    }
    cr_assert(eq(long, status_of(srv.auth, "GET", "/topics/billing-new", NULL), 404));
    cr_assert(eq(long, status_of(srv.auth, "GET", "/topics/billing-x", NULL), 404));
    ac_server_stop_clean(&srv);
}

/* ---- 3. groups ---- */

Test(auth, a_group_is_covered_by_every_topic_it_reads)
{
    struct tok c1, c2;
    struct http_response r;
    struct sse_client sc;
    char seen[1024], *metrics;
    json_t *j;

    ac_create_topic(&srv, "orders.eu", 1, NULL);
    ac_create_topic(&srv, "billing", 1, NULL);
    produce_n("orders.eu", 5);
    produce_n("billing", 3);
    admin_commit("g-both", "orders.eu", 2);
    admin_commit("g-both", "billing", 1);
    admin_commit("g-orders", "orders.eu", 4);
    /* a live member reading billing, no commits */
    ac_send_json(&srv, "POST", "/groups/g-live/members",
                 "{\"topics\":[\"billing\"],\"session_timeout_ms\":600000}", &r);
    json_decref(ac_expect_json(&r, 201));
    http_response_release(&r);
    new_token(&c1, "c1", "[{\"topics\":\"orders.*\",\"actions\":[\"consume\"]}]", "");
    new_token(&c2, "c2",
              "[{\"topics\":\"orders.*\",\"actions\":[\"consume\"]},"
              "{\"topics\":\"billing\",\"actions\":[\"consume\"]}]",
              "");

    /* c1 consumes orders.* only */
    call(c1.auth, "GET", "/groups/g-both/offsets", NULL, &r);
    expect_403(&r, "c1 GET /groups/g-both/offsets");
    http_response_release(&r);
    call(c1.auth, "DELETE", "/groups/g-both", NULL, &r);
    expect_403(&r, "c1 DELETE /groups/g-both");
    http_response_release(&r);
    call(c1.auth, "POST", "/groups/g-both/offsets",
         "{\"offsets\":[{\"topic\":\"orders.eu\",\"partition\":0,\"offset\":5}]}", &r);
    expect_403(&r, "c1 commits orders.eu to g-both, which reads billing");
    http_response_release(&r);
    call(c1.auth, "GET", "/groups/g-live/offsets", NULL, &r);
    expect_403(&r, "c1 GET /groups/g-live/offsets (a member reads billing)");
    http_response_release(&r);
    cr_assert(
        eq(int, open_stream(&sc, c1.auth, "/topics/orders.eu/stream?group=g-both"), 403));
    sse_close(&sc);
    visible_groups(c1.auth, seen, sizeof(seen));
    cr_assert(eq(str, seen, "g-orders"));
    metrics = get_text(c1.auth, "/metrics");
    cr_assert(eq(ptr, strstr(metrics, "group=\"g-both\""), NULL), "%s", metrics);
    cr_assert(eq(ptr, strstr(metrics, "group=\"g-live\""), NULL), "%s", metrics);
    cr_assert(eq(ptr, strstr(metrics, "topic=\"billing\""), NULL), "%s", metrics);
    cr_assert(
        not(eq(ptr, strstr(metrics, "rill_consumer_group_lag{group=\"g-orders\""), NULL)),
        "%s", metrics);
    free(metrics);
    j = get_json(c1.auth, "/groups/g-orders/offsets");
    cr_assert(
        eq(i64, ac_int(json_array_get(json_object_get(j, "offsets"), 0), "lag"), 1));
    json_decref(j);
    /* commits and joins naming a topic outside the scope */
    call(c1.auth, "POST", "/groups/g-new/offsets",
         "{\"offsets\":[{\"topic\":\"billing\",\"partition\":0,\"offset\":1}]}", &r);
    expect_403(&r, "c1 commits billing");
    http_response_release(&r);
    call(c1.auth, "POST", "/groups/g-new/offsets",
         "{\"offsets\":[{\"topic\":\"orders.eu\",\"partition\":0,\"offset\":0},"
         "{\"topic\":\"billing\",\"partition\":0,\"offset\":1}]}",
         &r);
    expect_403(&r, "c1 commits orders.eu and billing");
    http_response_release(&r);
    call(srv.auth, "GET", "/groups/g-new/offsets", NULL, &r);
    json_decref(ac_expect_problem(&r, 404, "group_not_found")); /* nothing was written */
    http_response_release(&r);
    call(c1.auth, "POST", "/groups/g-new/offsets",
         "{\"offsets\":[{\"topic\":\"nope\",\"partition\":0,\"offset\":0}]}", &r);
    expect_403(&r, "c1 commits an unknown topic outside its scope");
    http_response_release(&r);
    call(c1.auth, "POST", "/groups/g-new/offsets",
         "{\"offsets\":[{\"topic\":\"orders.zz\",\"partition\":0,\"offset\":0}]}", &r);
    json_decref(ac_expect_problem(&r, 404, "topic_not_found")); /* in scope: 404 */
    http_response_release(&r);
    call(c1.auth, "POST", "/groups/g-join/members", "{\"topics\":[\"nope\"]}", &r);
    expect_403(&r, "c1 joins with an unknown topic outside its scope");
    http_response_release(&r);
    call(c1.auth, "POST", "/groups/g-new/offsets",
         "{\"offsets\":[{\"topic\":\"orders.eu\",\"partition\":0,\"offset\":3}]}", &r);
    json_decref(ac_expect_json(&r, 200));
    http_response_release(&r);
    call(c1.auth, "POST", "/groups/g-join/members",
         "{\"topics\":[\"orders.eu\",\"billing\"]}", &r);
    expect_403(&r, "c1 joins with billing");
    http_response_release(&r);
    call(c1.auth, "POST", "/groups/g-join/members", "{\"topics\":[\"orders.eu\"]}", &r);
    json_decref(ac_expect_json(&r, 201));
    http_response_release(&r);
    visible_groups(c1.auth, seen, sizeof(seen));
    cr_assert(eq(str, seen, "g-join,g-new,g-orders"));

    /* c2 consumes both: it sees and may do everything */
    visible_groups(c2.auth, seen, sizeof(seen));
    cr_assert(eq(str, seen, "g-both,g-join,g-live,g-new,g-orders"));
    metrics = get_text(c2.auth, "/metrics");
    cr_assert(not(eq(ptr,
                     strstr(metrics,
                            "rill_consumer_group_lag{group=\"g-both\",topic=\"billing\""),
                     NULL)),
              "%s", metrics);
    cr_assert(
        not(eq(ptr, strstr(metrics, "rill_consumer_group_members{group=\"g-live\"} 1"),
               NULL)),
        "%s", metrics);
    free(metrics);
    j = get_json(c2.auth, "/groups/g-both/offsets");
    cr_assert(eq(sz, json_array_size(json_object_get(j, "offsets")), 2));
    json_decref(j);
    call(c2.auth, "GET", "/groups/g-live/offsets", NULL, &r);
    json_decref(ac_expect_problem(&r, 404, "group_not_found"));
    http_response_release(&r);
    call(c2.auth, "DELETE", "/groups/g-both", NULL, &r);
    cr_assert(eq(long, r.status, 204), "%ld %s", r.status, r.body);
    http_response_release(&r);
    visible_groups(srv.auth, seen, sizeof(seen));
    cr_assert(eq(str, seen, "g-join,g-live,g-new,g-orders"));
    ac_server_stop_clean(&srv);
}

/* ---- 4. the /tokens API ---- */

Test(auth, tokens_are_created_listed_and_revoked_and_the_secret_is_shown_once)
{
    struct tok t, other, admin_scoped;
    struct http_response r;
    json_t *j, *want, *list, *e;
    const char *loc, *cc;
    char path[128], want_loc[128];
    int64_t created;
    size_t i;
    bool found = false;

    ac_send_json(&srv, "POST", "/tokens",
                 "{\"name\":\"ci\",\"scopes\":[{\"topics\":\"orders.*\",\"actions\":"
                 "[\"produce\",\"consume\"]}],\"expires_in\":3600,\"rate_limit\":"
                 "{\"requests_per_s\":100,\"bytes_per_s\":1048576}}",
                 &r);
    j = ac_expect_json(&r, 201);
    set_tok(&t, str_member(j, "id"), str_member(j, "token"));
    cr_assert(ac_holds(secret_shape_ok(t.secret)), "%s", t.secret);
    cr_assert(eq(sz, strlen(t.id), 16));
    cr_assert(eq(sz, strspn(t.id, "0123456789abcdef"), 16), "id %s", t.id);
    loc = http_response_header(&r, "Location");
    snprintf(want_loc, sizeof(want_loc), "/tokens/%s", t.id);
    cr_assert(not(eq(ptr, (void *)loc, NULL)));
    cr_assert(eq(str, (char *)loc, want_loc));
    cc = http_response_header(&r, "Cache-Control");
    cr_assert(not(eq(ptr, (void *)cc, NULL)));
    cr_assert(not(eq(ptr, strstr(cc, "no-store"), NULL)), "Cache-Control: %s", cc);
    created = ac_int(j, "created_at");
    cr_assert(eq(i64, ac_int(j, "expires_at"), created + 3600 * 1000));
    cr_assert(ac_holds(json_is_null(json_object_get(j, "revoked_at"))));
    cr_assert(eq(str, (char *)str_member(j, "status"), "active"));
    cr_assert(eq(str, (char *)str_member(j, "name"), "ci"));
    want = ac_json("[{\"topics\":\"orders.*\",\"actions\":[\"produce\",\"consume\"]}]");
    ac_expect_json_equal(json_object_get(j, "scopes"), want, "scopes");
    json_decref(want);
    want = ac_json("{\"requests_per_s\":100,\"bytes_per_s\":1048576}");
    ac_expect_json_equal(json_object_get(j, "rate_limit"), want, "rate_limit");
    json_decref(want);
    cr_assert(ac_holds(json_object_get(j, "hash") == NULL));
    json_decref(j);
    http_response_release(&r);

    /* it works */
    cr_assert(eq(long, status_of(t.auth, "GET", "/topics", NULL), 200));
    /* GET shows it, without the secret or its hash */
    call(srv.auth, "GET", want_loc, NULL, &r);
    j = ac_expect_json(&r, 200);
    cr_assert(eq(ptr, strstr(r.body, t.secret), NULL), "GET shows the secret");
    cr_assert(ac_holds(json_object_get(j, "token") == NULL), "%s", r.body);
    cr_assert(ac_holds(json_object_get(j, "hash") == NULL), "%s", r.body);
    cr_assert(eq(str, (char *)str_member(j, "id"), t.id));
    cr_assert(eq(i64, ac_int(j, "created_at"), created));
    json_decref(j);
    http_response_release(&r);
    new_token(&other, "other", "[{\"topics\":\"x\",\"actions\":[\"produce\"]}]", "");
    call(srv.auth, "GET", "/tokens", NULL, &r);
    list = ac_expect_json(&r, 200);
    cr_assert(eq(ptr, strstr(r.body, t.secret), NULL), "GET /tokens shows a secret");
    cr_assert(eq(ptr, strstr(r.body, other.secret), NULL), "GET /tokens shows a secret");
    cr_assert(eq(ptr, strstr(r.body, srv.token), NULL), "GET /tokens shows the admin's");
    cr_assert(eq(sz, json_array_size(json_object_get(list, "tokens")), 3), "%s", r.body);
    json_array_foreach(json_object_get(list, "tokens"), i, e)
    {
        cr_assert(ac_holds(json_object_get(e, "token") == NULL), "%s", r.body);
        cr_assert(ac_holds(json_object_get(e, "hash") == NULL), "%s", r.body);
        cr_assert(ac_holds(json_is_string(json_object_get(e, "status"))), "%s", r.body);
        found |= !strcmp(str_member(e, "id"), t.id);
    }
    cr_assert(ac_holds(found), "GET /tokens lacks %s: %s", t.id, r.body);
    /* newest first */
    cr_assert(eq(
        str, (char *)str_member(json_array_get(json_object_get(list, "tokens"), 0), "id"),
        other.id));
    json_decref(list);
    http_response_release(&r);

    /* a token with admin on a prefix only is no token admin */
    new_token(
        &admin_scoped, "prefix-admin",
        "[{\"topics\":\"orders.*\",\"actions\":[\"admin\",\"produce\",\"consume\"]},"
        "{\"topics\":\"*\",\"actions\":[\"produce\",\"consume\"]}]",
        "");
    {
        struct {
            const char *method, *body;
            const char *id;
        } routes[] = {
            {"POST",
             "{\"name\":\"x\",\"scopes\":[{\"topics\":\"*\",\"actions\":[\"admin\"]}]}",
             NULL},
            {"GET", NULL, NULL},
            {"GET", NULL, t.id},
            {"GET", NULL, admin_scoped.id},
            {"DELETE", NULL, t.id},
            {"DELETE", NULL, admin_scoped.id},
        };

        for (size_t k = 0; k < sizeof(routes) / sizeof(routes[0]); k++) {
            snprintf(path, sizeof(path), "/tokens%s%s", routes[k].id ? "/" : "",
                     routes[k].id ? routes[k].id : "");
            call(admin_scoped.auth, routes[k].method, path, routes[k].body, &r);
            expect_403(&r, path);
            http_response_release(&r);
            call(t.auth, routes[k].method, path, routes[k].body, &r);
            expect_403(&r, path);
            http_response_release(&r);
        }
    }
    j = get_token(t.id);
    cr_assert(eq(str, (char *)str_member(j, "status"), "active"),
              "a 403 DELETE revoked it");
    json_decref(j);

    /* revoke: 204, and again 204; unknown ids 404 */
    call(srv.auth, "DELETE", want_loc, NULL, &r);
    cr_assert(eq(long, r.status, 204), "%ld %s", r.status, r.body);
    http_response_release(&r);
    call(srv.auth, "DELETE", want_loc, NULL, &r);
    cr_assert(eq(long, r.status, 204), "second DELETE: %ld %s", r.status, r.body);
    http_response_release(&r);
    call(t.auth, "GET", "/topics", NULL, &r);
    expect_401(&r, "token_revoked", "invalid_token");
    http_response_release(&r);
    j = get_token(t.id);
    cr_assert(eq(str, (char *)str_member(j, "status"), "revoked"));
    cr_assert(ge(i64, ac_int(j, "revoked_at"), created));
    json_decref(j);
    cr_assert(eq(long, status_of(other.auth, "POST", "/topics/x/messages", REC), 404),
              "another token is not revoked with it");
    call(srv.auth, "DELETE", "/tokens/0123456789abcdef", NULL, &r);
    json_decref(ac_expect_problem(&r, 404, "token_not_found"));
    http_response_release(&r);
    call(srv.auth, "GET", "/tokens/0123456789abcdef", NULL, &r);
    json_decref(ac_expect_problem(&r, 404, "token_not_found"));
    http_response_release(&r);
    call(srv.auth, "GET", "/tokens/nope", NULL, &r);
    json_decref(ac_expect_problem(&r, 404, "token_not_found"));
    http_response_release(&r);
    ac_server_stop_clean(&srv);
}

struct bad_body {
    const char *body, *code;
};

#define SC "\"scopes\":[{\"topics\":\"a\",\"actions\":[\"consume\"]}]"

static const struct bad_body bad_bodies[] = {
    {"not json", "invalid_json"},
    {"[]", "invalid_json"},
    {"{\"name\":\"x\"," SC ",\"color\":1}", "unknown_field"},
    {"{\"name\":\"x\",\"scopes\":[{\"topics\":\"a\",\"actions\":[\"consume\"],\"x\":1}]}",
     "unknown_field"},
    {"{" SC "}", "invalid_name"},
    {"{\"name\":\"\"," SC "}", "invalid_name"},
    {"{\"name\":\"a\\u0001b\"," SC "}", "invalid_name"},
    {"{\"name\":\"a\\u0000b\"," SC "}", "invalid_name"},
    {"{\"name\":7," SC "}", "invalid_name"},
    {"{\"name\":\"x\"}", "invalid_scopes"},
    {"{\"name\":\"x\",\"scopes\":[]}", "invalid_scopes"},
    {"{\"name\":\"x\",\"scopes\":\"*\"}", "invalid_scopes"},
    {"{\"name\":\"x\",\"scopes\":[\"*\"]}", "invalid_scopes"},
    {"{\"name\":\"x\",\"scopes\":[{\"topics\":\"a*b\",\"actions\":[\"consume\"]}]}",
     "invalid_scopes"},
    {"{\"name\":\"x\",\"scopes\":[{\"topics\":\"\",\"actions\":[\"consume\"]}]}",
     "invalid_scopes"},
    {"{\"name\":\"x\",\"scopes\":[{\"topics\":\"../x\",\"actions\":[\"consume\"]}]}",
     "invalid_scopes"},
    {"{\"name\":\"x\",\"scopes\":[{\"topics\":\"**\",\"actions\":[\"consume\"]}]}",
     "invalid_scopes"},
    {"{\"name\":\"x\",\"scopes\":[{\"topics\":\"a\",\"actions\":[\"write\"]}]}",
     "invalid_scopes"},
    {"{\"name\":\"x\",\"scopes\":[{\"topics\":\"a\",\"actions\":[\"consume\",\"write\"]}]"
     "}",
     "invalid_scopes"},
    {"{\"name\":\"x\",\"scopes\":[{\"topics\":\"a\",\"actions\":[]}]}", "invalid_scopes"},
    {"{\"name\":\"x\",\"scopes\":[{\"topics\":\"a\"}]}", "invalid_scopes"},
    {"{\"name\":\"x\"," SC ",\"expires_in\":0}", "invalid_parameter"},
    {"{\"name\":\"x\"," SC ",\"expires_in\":-1}", "invalid_parameter"},
    {"{\"name\":\"x\"," SC ",\"expires_in\":\"1\"}", "invalid_parameter"},
    {"{\"name\":\"x\"," SC ",\"expires_in\":1e30}", "invalid_parameter"},
    {"{\"name\":\"x\"," SC ",\"expires_in\":1.5}", "invalid_parameter"},
    {"{\"name\":\"x\"," SC ",\"expires_in\":315360001}",
     "invalid_parameter"}, /* > 10 y */
    {"{\"name\":\"x\"," SC ",\"rate_limit\":{\"x\":1}}", "unknown_field"},
    /* an empty name, and a name that is only part of a field's */
    {"{\"name\":\"x\"," SC ",\"rate_limit\":{\"\":1}}", "unknown_field"},
    {"{\"name\":\"x\"," SC ",\"rate_limit\":{\"bytes\":1}}", "unknown_field"},
    {"{\"name\":\"x\"," SC ",\"\":1}", "unknown_field"},
    {"{\"name\":\"x\"," SC ",\"rate_limit\":{\"requests_per_s\":0}}",
     "invalid_parameter"},
    {"{\"name\":\"x\"," SC ",\"rate_limit\":{\"bytes_per_s\":-5}}", "invalid_parameter"},
    {"{\"name\":\"x\"," SC ",\"rate_limit\":5}", "invalid_parameter"},
};

Test(auth, bad_token_bodies_are_400_with_a_code_and_create_nothing)
{
    struct http_response r;
    char long_name[300];
    json_t *j;

    for (size_t i = 0; i < sizeof(bad_bodies) / sizeof(bad_bodies[0]); i++) {
        ac_send_json(&srv, "POST", "/tokens", bad_bodies[i].body, &r);
        cr_assert(eq(long, r.status, 400), "body %zu %s: %ld %s", i, bad_bodies[i].body,
                  r.status, r.body);
        j = ac_expect_problem(&r, 400, bad_bodies[i].code);
        json_decref(j);
        http_response_release(&r);
    }
    /* a name of 129 bytes is one too many; 128 pass */
    memset(long_name, 'n', 129);
    long_name[129] = '\0';
    {
        char body[600];

        snprintf(body, sizeof(body), "{\"name\":\"%s\"," SC "}", long_name);
        ac_send_json(&srv, "POST", "/tokens", body, &r);
        json_decref(ac_expect_problem(&r, 400, "invalid_name"));
        http_response_release(&r);
    }
    j = get_json(srv.auth, "/tokens");
    cr_assert(eq(sz, json_array_size(json_object_get(j, "tokens")), 1),
              "only the admin token: %s", json_dumps(j, 0));
    json_decref(j);
    long_name[128] = '\0';
    {
        struct tok t;

        new_token(&t, long_name, "[{\"topics\":\"*\",\"actions\":[\"consume\"]}]", "");
    }
    ac_server_stop_clean(&srv);
}

/* ---- 5. the Authorization header ---- */

static void random_secret(char out[49])
{
    static const char b64url[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char raw[43];
    FILE *f = fopen("/dev/urandom", "rb");

    cr_assert(not(eq(ptr, f, NULL)));
    cr_assert(eq(sz, fread(raw, 1, sizeof(raw), f), sizeof(raw)));
    fclose(f);
    memcpy(out, "rill_", 5);
    for (int i = 0; i < 43; i++)
        out[5 + i] = b64url[raw[i] % 64];
    out[48] = '\0';
}

Test(auth, the_authorization_header_is_checked_in_all_its_forms)
{
    struct http_response r;
    char forged[49], h[300], path[300];

    ac_server_require(&srv);
    random_secret(forged);
    snprintf(h, sizeof(h), "Authorization: Bearer %s", forged);
    call(h, "GET", "/topics", NULL, &r);
    expect_401(&r, "invalid_token", "invalid_token");
    http_response_release(&r);
    snprintf(h, sizeof(h), "Authorization: Bearer %.*s", (int)strlen(srv.token) - 1,
             srv.token);
    call(h, "GET", "/topics", NULL, &r);
    expect_401(&r, "invalid_token", "invalid_token");
    http_response_release(&r);
    snprintf(h, sizeof(h), "Authorization: Bearer %sA", srv.token);
    call(h, "GET", "/topics", NULL, &r);
    expect_401(&r, "invalid_token", "invalid_token");
    http_response_release(&r);
    snprintf(h, sizeof(h), "Authorization: Bearer %s", "rill_");
    call(h, "GET", "/topics", NULL, &r);
    expect_401(&r, "invalid_token", "invalid_token");
    http_response_release(&r);
    /* the scheme is case-insensitive (RFC 9110) */
    snprintf(h, sizeof(h), "Authorization: bearer %s", srv.token);
    cr_assert(eq(long, status_of(h, "GET", "/topics", NULL), 200));
    snprintf(h, sizeof(h), "Authorization: BEARER %s", srv.token);
    cr_assert(eq(long, status_of(h, "GET", "/topics", NULL), 200));
    /* other schemes and empty ones */
    call("Authorization: Basic dXNlcjpwYXNzd29yZA==", "GET", "/topics", NULL, &r);
    expect_401(&r, "unauthorized", NULL);
    http_response_release(&r);
    call("Authorization: Bearer", "GET", "/topics", NULL, &r);
    cr_assert(eq(long, r.status, 401), "%ld %s", r.status, r.body);
    cr_assert(not(eq(ptr, (void *)http_response_header(&r, "WWW-Authenticate"), NULL)));
    http_response_release(&r);
    call("Authorization: Bearer ", "GET", "/topics", NULL, &r);
    cr_assert(eq(long, r.status, 401), "%ld %s", r.status, r.body);
    cr_assert(not(eq(ptr, (void *)http_response_header(&r, "WWW-Authenticate"), NULL)));
    http_response_release(&r);
    call(NULL, "GET", "/topics", NULL, &r);
    expect_401(&r, "unauthorized", NULL);
    http_response_release(&r);
    /* the query parameter: GET only, never with the header */
    snprintf(path, sizeof(path), "/topics?access_token=%s", srv.token);
    cr_assert(eq(long, status_of(NULL, "GET", path, NULL), 200));
    call(srv.auth, "GET", path, NULL, &r);
    json_decref(ac_expect_problem(&r, 400, "invalid_request"));
    http_response_release(&r);
    snprintf(path, sizeof(path), "/topics?access_token=%s", forged);
    call(NULL, "GET", path, NULL, &r);
    expect_401(&r, "invalid_token", "invalid_token");
    http_response_release(&r);
    snprintf(path, sizeof(path), "/topics?access_token=%s", srv.token);
    call(NULL, "POST", path, "{\"name\":\"sneaky\",\"partitions\":1}", &r);
    expect_401(&r, "unauthorized", NULL);
    http_response_release(&r);
    snprintf(path, sizeof(path), "/topics/sneaky?access_token=%s", srv.token);
    call(NULL, "DELETE", path, NULL, &r);
    expect_401(&r, "unauthorized", NULL);
    http_response_release(&r);
    cr_assert(eq(long, status_of(srv.auth, "GET", "/topics/sneaky", NULL), 404),
              "a POST with ?access_token= made the topic");
    /* /healthz needs nothing, /openapi.yaml any valid token */
    cr_assert(eq(long, status_of(NULL, "GET", "/healthz", NULL), 200));
    call(NULL, "GET", "/openapi.yaml", NULL, &r);
    expect_401(&r, "unauthorized", NULL);
    http_response_release(&r);
    cr_assert(eq(long, status_of(srv.auth, "GET", "/openapi.yaml", NULL), 200));
    ac_server_stop_clean(&srv);
}

/* ---- 6. revocation ---- */

Test(auth, a_revoked_token_is_refused_at_once_its_streams_end_and_it_stays_revoked)
{
    const char *args[] = {"--heartbeat-ms", "3600000",
                          NULL}; /* only the wake ends them */
    struct tok rev, keep;
    struct sse_client c1, c2, c3;
    struct sse_event ev = {0};
    struct http_response r;
    char path[300];
    json_t *j;

    restart_fresh(args);
    ac_create_topic(&srv, "t", 1, NULL);
    produce_n("t", 2);
    new_token(&rev, "rev", "[{\"topics\":\"*\",\"actions\":[\"consume\"]}]", "");
    new_token(&keep, "keep", "[{\"topics\":\"t\",\"actions\":[\"consume\"]}]", "");
    cr_assert(eq(
        int, open_stream(&c1, rev.auth, "/topics/t/partitions/0/stream?offset=earliest"),
        200));
    snprintf(path, sizeof(path), "/topics/t/stream?offset=earliest&access_token=%s",
             rev.secret);
    cr_assert(eq(int, open_stream(&c2, NULL, path), 200));
    cr_assert(eq(
        int, open_stream(&c3, keep.auth, "/topics/t/partitions/0/stream?offset=earliest"),
        200));
    for (int i = 0; i < 2; i++) {
        cr_assert(eq(int, sse_next_event(&c1, &ev, WAIT_MS), 1));
        cr_assert(eq(int, sse_next_event(&c2, &ev, WAIT_MS), 1));
        cr_assert(eq(int, sse_next_event(&c3, &ev, WAIT_MS), 1));
    }
    /* both streams of 'rev' are idle and caught up now: revoke */
    call(srv.auth, "DELETE", "/tokens/", NULL, &r); /* no id: not a route */
    cr_assert(not(eq(long, r.status, 204)));
    http_response_release(&r);
    snprintf(path, sizeof(path), "/tokens/%s", rev.id);
    call(srv.auth, "DELETE", path, NULL, &r);
    cr_assert(eq(long, r.status, 204), "%ld %s", r.status, r.body);
    http_response_release(&r);
    cr_assert(eq(int, read_until_end(&c1, WAIT_MS), 0), "the partition stream goes on");
    cr_assert(ac_holds(c1.done || c1.eof));
    cr_assert(eq(int, read_until_end(&c2, WAIT_MS), 0), "the topic stream goes on");
    cr_assert(ac_holds(c2.done || c2.eof));
    sse_close(&c1);
    sse_close(&c2);
    /* another token's stream goes on */
    produce_n("t", 1);
    cr_assert(eq(int, sse_next_event(&c3, &ev, WAIT_MS), 1), "keep's stream ended too");
    cr_assert(eq(str, ev.event, "record"));
    sse_close(&c3);
    /* and the token is refused */
    call(rev.auth, "GET", "/topics/t/partitions/0", NULL, &r);
    expect_401(&r, "token_revoked", "invalid_token");
    http_response_release(&r);
    cr_assert(eq(int, open_stream(&c1, rev.auth, "/topics/t/partitions/0/stream"), 401));
    sse_close(&c1);
    snprintf(path, sizeof(path), "/topics?access_token=%s", rev.secret);
    call(NULL, "GET", path, NULL, &r);
    expect_401(&r, "token_revoked", "invalid_token");
    http_response_release(&r);
    /* for good */
    cr_assert(eq(int, rillproc_stop(&srv.proc), 0));
    ac_server_restart(&srv);
    call(rev.auth, "GET", "/topics", NULL, &r);
    expect_401(&r, "token_revoked", "invalid_token");
    http_response_release(&r);
    cr_assert(eq(
        long, status_of(keep.auth, "GET", "/topics/t/partitions/0/offsets", NULL), 200));
    j = get_json(srv.auth, "/tokens");
    {
        json_t *e;
        size_t i;
        bool seen = false;

        json_array_foreach(json_object_get(j, "tokens"), i, e)
        {
            if (strcmp(str_member(e, "id"), rev.id))
                continue;
            seen = true;
            cr_assert(eq(str, (char *)str_member(e, "status"), "revoked"));
            cr_assert(ac_holds(json_is_integer(json_object_get(e, "revoked_at"))));
        }
        cr_assert(ac_holds(seen), "the revoked token is gone from GET /tokens");
    }
    json_decref(j);
    sse_event_release(&ev);
    ac_server_stop_clean(&srv);
}

/* ---- 7. expiry ---- */

Test(auth, an_expired_token_is_refused_and_its_stream_ends)
{
    const char *args[] = {"--heartbeat-ms", "200", NULL};
    struct tok e;
    struct sse_client c;
    struct sse_event ev = {0};
    struct http_response r;
    int st = 0;
    int64_t deadline;
    char path[300];
    json_t *j;

    restart_fresh(args);
    ac_create_topic(&srv, "t", 1, NULL);
    produce_n("t", 1);
    /* a token that lives one second: open its stream within that second (a slow run
     * may miss it: then the open itself must say token_expired, and we try again) */
    for (int attempt = 0; attempt < 5 && st != 200; attempt++) {
        j = create_token_json(
            "{\"name\":\"brief\",\"scopes\":[{\"topics\":\"t\",\"actions\":"
            "[\"consume\"]}],\"expires_in\":1}",
            &e);
        cr_assert(eq(i64, ac_int(j, "expires_at"), ac_int(j, "created_at") + 1000));
        json_decref(j);
        st = open_stream(&c, e.auth, "/topics/t/partitions/0/stream?offset=earliest");
        if (st != 200) {
            cr_assert(eq(int, st, 401), "%d %s", st, c.body.data);
            cr_assert(not(eq(ptr, strstr(c.body.data, "token_expired"), NULL)), "%s",
                      c.body.data);
            sse_close(&c);
        }
    }
    cr_assert(eq(int, st, 200), "could not open a stream within a second, 5 times");
    cr_assert(eq(int, sse_next_event(&c, &ev, WAIT_MS), 1));
    cr_assert(eq(str, ev.event, "record"));
    /* requests fail once it expires */
    deadline = clock_mono_ms() + WAIT_MS;
    for (;;) {
        call(e.auth, "GET", "/topics/t/partitions/0/offsets", NULL, &r);
        if (r.status != 200 || clock_mono_ms() > deadline)
            break;
        http_response_release(&r);
        sleep_ms(50);
    }
    expect_401(&r, "token_expired", "invalid_token");
    http_response_release(&r);
    snprintf(path, sizeof(path), "/topics/t/partitions/0?access_token=%s", e.secret);
    call(NULL, "GET", path, NULL, &r);
    expect_401(&r, "token_expired", "invalid_token");
    http_response_release(&r);
    /* its stream ends (at the latest at its next heartbeat) */
    cr_assert(eq(int, read_until_end(&c, WAIT_MS), 0), "the stream outlives its token");
    cr_assert(ac_holds(c.done || c.eof));
    sse_close(&c);
    j = get_token(e.id);
    cr_assert(eq(str, (char *)str_member(j, "status"), "expired"));
    cr_assert(ac_holds(json_is_null(json_object_get(j, "revoked_at"))));
    json_decref(j);
    sse_event_release(&ev);
    ac_server_stop_clean(&srv);
}

/* ---- 7b. long polls ---- */

/* A request made on its own thread, so the test can act while it waits. */
struct bg_call {
    pthread_t thread;
    char url[600];
    char auth[192];
    struct http_response r;
    int ret;
};

static void *bg_run(void *arg)
{
    struct bg_call *b = arg;
    const char *h[] = {b->auth, NULL};

    b->ret = http_request("GET", b->url, h, NULL, 0, &b->r);
    return NULL;
}

static void bg_start(struct bg_call *b, const char *auth, const char *path)
{
    memset(b, 0, sizeof(*b));
    snprintf(b->url, sizeof(b->url), "%s%s", srv.proc.url, path);
    snprintf(b->auth, sizeof(b->auth), "%s", auth);
    cr_assert(eq(int, pthread_create(&b->thread, NULL, bg_run, b), 0));
}

/* Joins within 'ms'; false if the request still runs then. */
static bool bg_join(struct bg_call *b, int ms)
{
    struct timespec until;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    return pthread_timedjoin_np(b->thread, NULL, &until) == 0;
}

Test(auth, long_polls_of_a_revoked_or_expired_token_end_and_get_no_later_records)
{
    const char *args[] = {"--log-level", "debug", NULL};
    struct bg_call b;
    struct tok t;
    char path[300], needle[400];
    int64_t deadline;

    restart_fresh(args);
    ac_create_topic(&srv, "t", 1, NULL);
    produce_n("t", 1);

    /* revoked while it waits (the server logs "waits" once it is suspended): the
     * revocation wakes it at once (its wait is 30 s), and it is refused */
    new_token(&t, "rev", "[{\"topics\":\"t\",\"actions\":[\"consume\"]}]", "");
    snprintf(path, sizeof(path), "/topics/t/partitions/0?offset=1&wait_ms=30000");
    snprintf(needle, sizeof(needle), "%s\" waits", path);
    bg_start(&b, t.auth, path);
    cr_assert(ac_holds(ac_server_log_shows(&srv, needle)), "the poll never waited");
    snprintf(path, sizeof(path), "/tokens/%s", t.id);
    cr_assert(eq(long, status_of(srv.auth, "DELETE", path, NULL), 204));
    cr_assert(ac_holds(bg_join(&b, WAIT_MS)), "the long poll of a revoked token still waits");
    cr_assert(eq(int, b.ret, 0), "no answer: %s", b.r.error);
    expect_401(&b.r, "token_revoked", "invalid_token");
    http_response_release(&b.r);

    /* expired while it waits: a record that comes after the end is not its to read */
    json_decref(create_token_json("{\"name\":\"brief\",\"scopes\":[{\"topics\":\"t\","
                                  "\"actions\":[\"consume\"]}],\"expires_in\":2}",
                                  &t));
    snprintf(path, sizeof(path), "/topics/t/partitions/0?offset=%lld&wait_ms=20000",
             (long long)ac_latest(&srv, "t", 0));
    snprintf(needle, sizeof(needle), "%s\" waits", path);
    bg_start(&b, t.auth, path);
    cr_assert(ac_holds(ac_server_log_shows(&srv, needle)), "the poll never waited");
    deadline = clock_mono_ms() + WAIT_MS;
    while (status_of(t.auth, "GET", "/topics/t/partitions/0/offsets", NULL) == 200 &&
           clock_mono_ms() < deadline)
        sleep_ms(50);
    cr_assert(eq(long, status_of(t.auth, "GET", "/topics", NULL), 401), "never expired");
    produce_n("t", 1); /* the token has ended; now a record comes and wakes the poll */
    cr_assert(ac_holds(bg_join(&b, 30000)), "the poll never answered");
    cr_assert(eq(int, b.ret, 0), "no answer: %s", b.r.error);
    expect_401(&b.r, "token_expired", "invalid_token");
    http_response_release(&b.r);
    ac_server_stop_clean(&srv);
}

/* ---- 8. secrets ---- */

struct found {
    char where[1100];
};

/* Looks for each of 'secrets' in every file under 'dir' (recursively); the first file
 * holding one goes to *f (with which), skipping 'allowed' (secret 0 in that file). */
static bool find_secret(const char *dir, const char *const *secrets, size_t n,
                        const char *allowed, struct found *f, size_t *files)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    bool hit = false;

    cr_assert(not(eq(ptr, d, NULL)), "opendir %s: %s", dir, strerror(errno));
    while (!hit && (de = readdir(d))) {
        char path[1024];
        struct stat st;

        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        cr_assert(eq(int, lstat(path, &st), 0), "%s", path);
        if (S_ISDIR(st.st_mode)) {
            hit = find_secret(path, secrets, n, allowed, f, files);
        } else if (S_ISREG(st.st_mode)) {
            FILE *fp = fopen(path, "rb");
            char *data = malloc((size_t)st.st_size + 1);
            size_t len;

            cr_assert(not(eq(ptr, fp, NULL)), "%s", path);
            len = fread(data, 1, (size_t)st.st_size, fp);
            fclose(fp);
            (*files)++;
            for (size_t i = 0; i < n && !hit; i++) {
                if (i == 0 && allowed && !strcmp(de->d_name, allowed))
                    continue;
                if (contains(data, len, secrets[i])) {
                    snprintf(f->where, sizeof(f->where), "secret %zu in %s", i, path);
                    hit = true;
                }
            }
            free(data);
        }
    }
    closedir(d);
    return hit;
}

static void expect_mode_0600(const char *dir, const char *name)
{
    char path[1024];
    struct stat st;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    cr_assert(eq(int, stat(path, &st), 0), "%s: %s", path, strerror(errno));
    cr_assert(eq(int, (int)(st.st_mode & 07777), 0600), "%s has mode %o", name,
              (unsigned)(st.st_mode & 07777));
}

Test(auth, no_secret_is_kept_on_disk_or_written_to_the_log)
{
    const char *args[] = {"--log-level", "debug", NULL};
    struct tok t[3];
    const char *secrets[5];
    struct found f = {{0}};
    char path[400], forged[49], admin_file[1024], *log;
    size_t files = 0;

    restart_fresh(args);
    ac_create_topic(&srv, "t", 1, NULL);
    new_token(&t[0], "one", "[{\"topics\":\"*\",\"actions\":[\"consume\"]}]", "");
    new_token(&t[1], "two", "[{\"topics\":\"t\",\"actions\":[\"produce\",\"consume\"]}]",
              ",\"expires_in\":86400");
    new_token(&t[2], "three", "[{\"topics\":\"t*\",\"actions\":[\"admin\"]}]",
              ",\"rate_limit\":{\"requests_per_s\":1000}");
    random_secret(forged);
    secrets[0] = srv.token;
    secrets[1] = t[0].secret;
    secrets[2] = t[1].secret;
    secrets[3] = t[2].secret;
    secrets[4] = forged;
    /* use them every way, and revoke one (the store is rewritten) */
    for (int i = 0; i < 5; i++) {
        snprintf(path, sizeof(path), "/topics?access_token=%s", secrets[i]);
        status_of(NULL, "GET", path, NULL);
        snprintf(path, sizeof(path), "/topics/t/partitions/0?offset=0&access_token=%s",
                 secrets[i]);
        status_of(NULL, "GET", path, NULL);
        snprintf(path, sizeof(path), "/topics?%%61ccess_token=%s", secrets[i]);
        status_of(NULL, "GET", path, NULL);
        snprintf(path, sizeof(path), "/topics?ACCESS_TOKEN=%s", secrets[i]);
        status_of(srv.auth, "GET", path, NULL);
        snprintf(path, sizeof(path), "/topics/t/messages?access_token=%s", secrets[i]);
        status_of(NULL, "POST", path, REC);
        snprintf(path, sizeof(path), "/no/such/route?access_token=%s", secrets[i]);
        status_of(NULL, "GET", path, NULL);
        snprintf(path, sizeof(path), "Authorization: Bearer %s", secrets[i]);
        status_of(path, "GET", "/topics", NULL);
    }
    snprintf(path, sizeof(path), "/tokens/%s", t[0].id);
    cr_assert(eq(long, status_of(srv.auth, "DELETE", path, NULL), 204));
    snprintf(path, sizeof(path), "/topics?access_token=%s", t[0].secret);
    cr_assert(eq(long, status_of(NULL, "GET", path, NULL), 401));
    ac_server_stop_clean(&srv);

    /* on disk: only admin.token holds a secret, the admin's */
    cr_assert(
        not(ac_holds(find_secret(srv.proc.data, secrets, 5, "admin.token", &f, &files))),
        "%s", f.where);
    cr_assert(ge(sz, files, 3), "walked %zu files", files);
    snprintf(admin_file, sizeof(admin_file), "%s/admin.token", srv.proc.data);
    {
        FILE *fp = fopen(admin_file, "r");
        char line[256] = "";

        cr_assert(not(eq(ptr, fp, NULL)));
        cr_assert(not(eq(ptr, fgets(line, sizeof(line), fp), NULL)));
        fclose(fp);
        line[strcspn(line, "\n")] = '\0';
        cr_assert(eq(str, line, srv.token));
    }
    expect_mode_0600(srv.proc.data, "admin.token");
    expect_mode_0600(srv.proc.data, "auth.key");
    expect_mode_0600(srv.proc.data, "tokens.json");
    /* nor in the log, not even at debug level */
    log = rillproc_read_log(&srv.proc);
    cr_assert(not(eq(ptr, strstr(log, "REDACTED"), NULL)),
              "the requests are not logged?");
    for (int i = 0; i < 5; i++)
        cr_assert(eq(ptr, strstr(log, secrets[i]), NULL), "secret %d is in the log", i);
    /* nor a part that would help: the 43 characters after "rill_" */
    for (int i = 0; i < 5; i++)
        cr_assert(eq(ptr, strstr(log, secrets[i] + 5), NULL),
                  "secret %d's body is logged", i);
    free(log);
}

/* ---- 9. the store's files ---- */

static void write_file(const char *dir, const char *name, const void *data, size_t len)
{
    char path[1024];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "wb");
    cr_assert(not(eq(ptr, f, NULL)), "%s", path);
    cr_assert(eq(sz, fwrite(data, 1, len, f), len));
    cr_assert(eq(int, fclose(f), 0));
}

/* The whole file (malloc'ed, NUL-terminated) and its length; NULL if absent. */
static char *slurp(const char *dir, const char *name, size_t *len)
{
    char path[1024];
    FILE *f;
    char *data;
    struct stat st;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (stat(path, &st))
        return NULL;
    f = fopen(path, "rb");
    cr_assert(not(eq(ptr, f, NULL)), "%s", path);
    data = malloc((size_t)st.st_size + 1);
    *len = fread(data, 1, (size_t)st.st_size, f);
    data[*len] = '\0';
    fclose(f);
    return data;
}

static void remove_file(const char *dir, const char *name)
{
    char path[1024];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    cr_assert(eq(int, unlink(path), 0), "unlink %s: %s", path, strerror(errno));
}

/* Starts the server on its damaged dir: asserts it refuses (exit 2, as for any unusable
 * data dir) and that the log of this start names 'file'. */
static void expect_refusal(const char *file)
{
    char *before = rillproc_read_log(&srv.proc), *log;
    size_t skip = strlen(before);
    int ret;

    free(before);
    ret = rillproc_restart(&srv.proc);
    cr_assert(eq(int, ret, -ECHILD), "the server started (%d) on a damaged store", ret);
    cr_assert(eq(int, srv.proc.status, 2), "exit status %d", srv.proc.status);
    log = rillproc_read_log(&srv.proc);
    /* cr_expect: the test goes on to check the rest of the store's handling */
    cr_expect(not(eq(ptr, strstr(log + skip, file), NULL)),
              "the refusal does not name '%s' (exit %d):\n%s", file, srv.proc.status,
              log + skip);
    free(log);
}

Test(auth, a_damaged_store_keeps_the_server_from_starting_and_a_wiped_one_starts_afresh)
{
    const char *data = srv.proc.data;
    struct tok t;
    char *store, *key, *admin, *now, old_admin[128], h[256];
    size_t store_len, key_len, admin_len, now_len;
    struct http_response r;

    ac_server_require(&srv);
    new_token(&t, "kept", "[{\"topics\":\"*\",\"actions\":[\"consume\"]}]", "");
    snprintf(old_admin, sizeof(old_admin), "%s", srv.token);
    cr_assert(eq(int, rillproc_stop(&srv.proc), 0));
    store = slurp(data, "tokens.json", &store_len);
    key = slurp(data, "auth.key", &key_len);
    admin = slurp(data, "admin.token", &admin_len);
    cr_assert(ac_holds(store && key && admin));

    /* tokens.json cut in half */
    write_file(data, "tokens.json", store, store_len / 2);
    expect_refusal("tokens.json");
    now = slurp(data, "tokens.json", &now_len);
    cr_assert(ac_holds(now && now_len == store_len / 2 && !memcmp(now, store, now_len)),
              "the refused start rewrote tokens.json");
    free(now);
    /* tokens.json "{}" */
    write_file(data, "tokens.json", "{}", 2);
    expect_refusal("tokens.json");
    /* back as it was: it starts, both tokens work */
    write_file(data, "tokens.json", store, store_len);
    ac_server_restart(&srv);
    cr_assert(eq(str, srv.token, old_admin));
    cr_assert(eq(long, status_of(srv.auth, "GET", "/tokens", NULL), 200));
    cr_assert(eq(long, status_of(t.auth, "GET", "/topics", NULL), 200));
    cr_assert(eq(int, rillproc_stop(&srv.proc), 0));
    /* auth.key gone while tokens.json is there: every hash would be useless */
    remove_file(data, "auth.key");
    expect_refusal("auth.key");
    now = slurp(data, "auth.key", &now_len);
    cr_assert(eq(ptr, now, NULL), "the refused start made a new auth.key");
    now = slurp(data, "tokens.json", &now_len);
    cr_assert(ac_holds(now && now_len == store_len && !memcmp(now, store, now_len)),
              "the refused start rewrote tokens.json");
    free(now);
    /* a key of the wrong size */
    write_file(data, "auth.key", key, key_len - 1);
    expect_refusal("auth.key");
    write_file(data, "auth.key", key, key_len);
    ac_server_restart(&srv);
    cr_assert(eq(long, status_of(t.auth, "GET", "/topics", NULL), 200));
    cr_assert(eq(int, rillproc_stop(&srv.proc), 0));
    /* all three gone: a new admin token, the old ones are nothing */
    remove_file(data, "tokens.json");
    remove_file(data, "auth.key");
    remove_file(data, "admin.token");
    ac_server_restart(&srv);
    cr_assert(not(eq(str, srv.token, old_admin)), "the same admin token again");
    cr_assert(ac_holds(secret_shape_ok(srv.token)), "%s", srv.token);
    snprintf(h, sizeof(h), "Authorization: Bearer %s", old_admin);
    call(h, "GET", "/topics", NULL, &r);
    expect_401(&r, "invalid_token", "invalid_token");
    http_response_release(&r);
    call(t.auth, "GET", "/topics", NULL, &r);
    expect_401(&r, "invalid_token", "invalid_token");
    http_response_release(&r);
    {
        json_t *j = get_json(srv.auth, "/tokens");

        cr_assert(eq(sz, json_array_size(json_object_get(j, "tokens")), 1));
        json_decref(j);
    }
    expect_mode_0600(data, "admin.token");
    expect_mode_0600(data, "auth.key");
    expect_mode_0600(data, "tokens.json");
    free(store);
    free(key);
    free(admin);
    ac_server_stop_clean(&srv);
}

/* ---- 10. rate limits ---- */

/* Asserts a 429 rate_limited with Retry-After: a whole number of seconds >= 1. */
static long expect_429(const struct http_response *r)
{
    const char *ra = http_response_header(r, "Retry-After");
    char *end;
    long s;

    json_decref(ac_expect_problem(r, 429, "rate_limited"));
    cr_assert(not(eq(ptr, (void *)ra, NULL)), "a 429 without Retry-After");
    s = strtol(ra, &end, 10);
    cr_assert(ac_holds(end != ra && *end == '\0'), "Retry-After: %s", ra);
    cr_assert(ge(long, s, 1), "Retry-After: %s", ra);
    return s;
}

Test(auth, requests_over_a_tokens_rate_get_429_with_retry_after)
{
    struct tok q;
    struct http_response r;
    int limited = 0;

    new_token(&q, "q", "[{\"topics\":\"*\",\"actions\":[\"consume\"]}]",
              ",\"rate_limit\":{\"requests_per_s\":3}");
    for (int i = 0; i < 10; i++) {
        call(q.auth, "GET", "/topics", NULL, &r);
        if (i < 3)
            cr_assert(eq(long, r.status, 200), "request %d of a full bucket: %ld %s", i,
                      r.status, r.body);
        if (r.status == 429) {
            expect_429(&r);
            limited++;
        } else {
            cr_assert(eq(long, r.status, 200), "%ld %s", r.status, r.body);
        }
        http_response_release(&r);
        /* the admin token, without a limit, is never held back */
        cr_assert(eq(long, status_of(srv.auth, "GET", "/topics", NULL), 200));
    }
    cr_assert(ge(int, limited, 1), "10 quick requests, none refused at 3 per second");
    ac_server_stop_clean(&srv);
}

Test(auth, bytes_over_a_tokens_rate_are_a_debt_that_later_requests_repay)
{
    struct tok w, rd;
    struct http_response r;
    struct ac_text body = {0};
    int64_t deadline;
    long st;
    size_t pad;

    ac_create_topic(&srv, "t", 1, NULL);
    new_token(&w, "w", "[{\"topics\":\"t\",\"actions\":[\"produce\",\"consume\"]}]",
              ",\"rate_limit\":{\"bytes_per_s\":1000}");
    /* a 5000-byte body passes on a full bucket of 1000 */
    pad = 5000 - strlen("{\"records\":[{\"value\":\"\"}]}");
    ac_text_printf(&body, "{\"records\":[{\"value\":\"");
    for (size_t i = 0; i < pad; i++)
        ac_text_add(&body, "x", 1);
    ac_text_printf(&body, "\"}]}");
    cr_assert(eq(sz, body.len, 5000));
    call(w.auth, "POST", "/topics/t/messages", body.data, &r);
    json_decref(ac_expect_json(&r, 200));
    http_response_release(&r);
    /* then the debt: the next one, however small, waits */
    call(w.auth, "GET", "/topics/t/partitions/0/offsets", NULL, &r);
    expect_429(&r);
    http_response_release(&r);
    cr_assert(eq(long, status_of(srv.auth, "GET", "/topics/t/partitions/0/offsets", NULL),
                 200));
    /* until it is repaid (4000 bytes at 1000/s) */
    deadline = clock_mono_ms() + 3 * WAIT_MS;
    do {
        sleep_ms(200);
        st = status_of(w.auth, "GET", "/topics/t/partitions/0/offsets", NULL);
    } while (st == 429 && clock_mono_ms() < deadline);
    cr_assert(eq(long, st, 200), "the debt is never repaid");

    /* answers count too: a 5000-byte fetch by a token that sends no body */
    new_token(&rd, "rd", "[{\"topics\":\"t\",\"actions\":[\"consume\"]}]",
              ",\"rate_limit\":{\"bytes_per_s\":1000}");
    call(rd.auth, "GET", "/topics/t/partitions/0?offset=0", NULL, &r);
    cr_assert(eq(long, r.status, 200), "%ld", r.status);
    cr_assert(ge(sz, r.body_len, 5000));
    http_response_release(&r);
    call(rd.auth, "GET", "/topics/t/partitions/0/offsets", NULL, &r);
    expect_429(&r);
    http_response_release(&r);
    ac_text_release(&body);
    ac_server_stop_clean(&srv);
}

/* ---- 11. --auth off ---- */

Test(auth, with_auth_off_everything_is_allowed_without_a_token)
{
    const char *args[] = {"--auth", "off", NULL};
    struct http_response r;
    char url[512];
    const char *json[] = {"Content-Type: application/json", NULL};
    const char *garbage[] = {"Authorization: Bearer garbage", NULL};
    const char *topic = "{\"name\":\"open\",\"partitions\":1}";
    const char *tokbody = "{\"name\":\"x\",\"scopes\":[{\"topics\":\"*\",\"actions\":"
                          "[\"consume\"]}]}";
    json_t *j;

    rillproc_stop(&srv.proc);
    ac_server_cleanup(&srv);
    memset(&srv, 0, sizeof(srv));
    cr_assert(eq(int, rillproc_start(&srv.proc, args), 0));
    snprintf(url, sizeof(url), "%s/topics", srv.proc.url);
    cr_assert(eq(int, http_request("GET", url, NULL, NULL, 0, &r), 0));
    cr_assert(eq(long, r.status, 200), "%ld %s", r.status, r.body);
    http_response_release(&r);
    cr_assert(eq(int, http_request("POST", url, json, topic, strlen(topic), &r), 0));
    cr_assert(eq(long, r.status, 201), "%ld %s", r.status, r.body);
    http_response_release(&r);
    cr_assert(eq(int, http_request("GET", url, garbage, NULL, 0, &r), 0));
    cr_assert(eq(long, r.status, 200), "%ld %s", r.status, r.body);
    http_response_release(&r);
    snprintf(url, sizeof(url), "%s/tokens", srv.proc.url);
    cr_assert(eq(int, http_request("POST", url, json, tokbody, strlen(tokbody), &r), 0));
    j = ac_expect_json(&r, 201);
    cr_assert(ac_holds(secret_shape_ok(json_string_value(json_object_get(j, "token")))));
    json_decref(j);
    http_response_release(&r);
    cr_assert(eq(int, http_request("GET", url, NULL, NULL, 0, &r), 0));
    j = ac_expect_json(&r, 200);
    cr_assert(eq(sz, json_array_size(json_object_get(j, "tokens")), 1));
    json_decref(j);
    http_response_release(&r);
    snprintf(url, sizeof(url), "%s/metrics", srv.proc.url);
    cr_assert(eq(int, http_request("GET", url, NULL, NULL, 0, &r), 0));
    cr_assert(eq(long, r.status, 200));
    cr_assert(not(eq(ptr, strstr(r.body, "topic=\"open\""), NULL)), "%s", r.body);
    http_response_release(&r);
    cr_assert(eq(int, rillproc_stop(&srv.proc), 0));
}

/* ---- 13. a big body is read only for a request the server would take ---- */

/* Sends the request line and headers of a request with a big body, and no body: an
 * answer can only come before the body, and the server closes the connection after
 * it (ac_raw_exchange reads until then, at most 20 s: without an early answer it
 * would wait for the body, and the status would be 0). Returns the status. */
static long early_status(const char *method, const char *path, const char *extra_headers)
{
    char req[2048];
    char *resp;
    long status;

    snprintf(req, sizeof(req),
             "%s %s HTTP/1.1\r\nHost: rill\r\nConnection: close\r\n"
             "Content-Type: application/json\r\n%s\r\n",
             method, path, extra_headers);
    resp = ac_raw_exchange(&srv, req, strlen(req));
    status = ac_raw_status(resp);
    free(resp);
    return status;
}

Test(auth, a_big_body_is_not_read_for_a_request_that_would_be_refused)
{
    char headers[512];
    struct tok t;

    ac_create_topic(&srv, "big", 1, NULL);
    new_token(&t, "small", "[{\"topics\":\"other\",\"actions\":[\"produce\"]}]", "");
    cr_assert(eq(long, early_status("POST", "/topics/big/messages", "Content-Length: 4000000\r\n"),
                 401));
    cr_assert(eq(long,
                 early_status("POST", "/topics/big/messages",
                              "Transfer-Encoding: chunked\r\n"),
                 401), "a chunked body of unknown length");
    snprintf(headers, sizeof(headers), "%s\r\nContent-Length: 4000000\r\n", t.auth);
    cr_assert(eq(long, early_status("POST", "/topics/big/messages", headers), 403),
              "out of the token's scope");
    snprintf(headers, sizeof(headers), "%s\r\nContent-Length: 4000000\r\n", srv.auth);
    cr_assert(eq(long, early_status("POST", "/nowhere", headers), 404));
    cr_assert(eq(long, early_status("PUT", "/topics/big/messages", headers), 405));
    /* a small body goes the usual way: read, then refused */
    cr_assert(eq(long, early_status("POST", "/topics/big/messages", "Content-Length: 0\r\n"),
                 401));
    ac_expect_healthy(&srv);
    ac_expect_latest(&srv, "big", 1, (const int64_t[]){0}, "nothing was written");
    ac_server_stop_clean(&srv);
}
