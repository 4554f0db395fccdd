/* api_client.c: a rill server for one test and calls to its HTTP API. */
#include "tests/support/api_client.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LOG_TAIL 6000

/* The last LOG_TAIL bytes of the server's log, malloc'ed. */
static char *log_tail(const struct rillproc *p)
{
    char *log = rillproc_read_log(p);
    size_t n = strlen(log);

    if (n > LOG_TAIL)
        memmove(log, log + n - LOG_TAIL, LOG_TAIL + 1);
    return log;
}

static void read_token(struct ac_server *s)
{
    if (rillproc_admin_token(&s->proc, s->token, sizeof(s->token)))
        s->token[0] = '\0';
    snprintf(s->auth, sizeof(s->auth), "Authorization: Bearer %s", s->token);
}

void ac_server_start(struct ac_server *s, const char *const *args)
{
    memset(s, 0, sizeof(*s));
    s->start_ret = rillproc_start(&s->proc, args);
    if (!s->start_ret)
        read_token(s);
}

void ac_server_require(const struct ac_server *s)
{
    if (s->start_ret || !s->proc.pid || !s->token[0]) {
        char *log = log_tail(&s->proc);

        cr_fatal("rill is not running (start %d, status %d, token '%s'); log:\n%s",
                 s->start_ret, s->proc.status, s->token, log);
        free(log);
    }
}

void ac_server_stop_clean(struct ac_server *s)
{
    int ret;

    ac_server_require(s);
    ret = rillproc_stop(&s->proc);
    if (ret != 0) {
        char *log = log_tail(&s->proc);

        cr_fatal("rill did not exit 0 on SIGTERM: %d (-110: still running after %d ms; "
                 "128+n: signal n; 1 or 23: a sanitizer report); log:\n%s",
                 ret, RILLPROC_TIMEOUT_MS, log);
        free(log);
    }
}

void ac_server_restart(struct ac_server *s)
{
    s->start_ret = rillproc_restart(&s->proc);
    if (!s->start_ret)
        read_token(s);
    ac_server_require(s);
}

void ac_server_cleanup(struct ac_server *s) { rillproc_cleanup(&s->proc); }

bool ac_server_log_shows(const struct ac_server *s, const char *needle)
{
    const struct timespec tick = {0, 10 * 1000 * 1000};

    for (int i = 0; i < RILLPROC_TIMEOUT_MS / 10; i++) {
        char *log = rillproc_read_log(&s->proc);
        bool found = strstr(log, needle) != NULL;

        free(log);
        if (found)
            return true;
        nanosleep(&tick, NULL);
    }
    return false;
}

/* ---- requests ---- */

static void request(const struct ac_server *s, bool with_auth, const char *method,
                    const char *path, const char *const *headers, const void *body,
                    size_t len, struct http_response *r)
{
    const char *all[32];
    size_t n = 0;
    char url[4096];
    int ret;

    ac_server_require(s);
    if (with_auth)
        all[n++] = s->auth;
    for (const char *const *h = headers; h && *h; h++) {
        cr_assert(lt(sz, n, sizeof(all) / sizeof(all[0]) - 1), "too many headers");
        all[n++] = *h;
    }
    all[n] = NULL;
    cr_assert(lt(sz, strlen(s->proc.url) + strlen(path), sizeof(url)), "path too long");
    snprintf(url, sizeof(url), "%s%s", s->proc.url, path);
    ret = http_request(method, url, all, body, len, r);
    cr_assert(eq(int, ret, 0), "%s %.200s: no answer: %s", method, path, r->error);
}

void ac_req(const struct ac_server *s, const char *method, const char *path,
            const char *const *headers, const void *body, size_t len,
            struct http_response *r)
{
    request(s, true, method, path, headers, body, len, r);
}

void ac_req_noauth(const struct ac_server *s, const char *method, const char *path,
                   const char *const *headers, const void *body, size_t len,
                   struct http_response *r)
{
    request(s, false, method, path, headers, body, len, r);
}

void ac_get(const struct ac_server *s, const char *path, struct http_response *r)
{
    request(s, true, "GET", path, NULL, NULL, 0, r);
}

void ac_send_json(const struct ac_server *s, const char *method, const char *path,
                  const char *json, struct http_response *r)
{
    const char *h[] = {"Content-Type: application/json", NULL};

    request(s, true, method, path, h, json, strlen(json), r);
}

/* ---- answers ---- */

json_t *ac_json(const char *text)
{
    json_error_t err;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &err);

    cr_assert(not(eq(ptr, j, NULL)), "not JSON (%s at %d): %.2000s", err.text,
              err.position, text);
    return j;
}

int64_t ac_int(const json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);

    cr_assert(ac_holds(json_is_integer(v)), "member '%s' is not an integer", name);
    return json_integer_value(v);
}

json_t *ac_expect_json(const struct http_response *r, long status)
{
    const char *ct = http_response_header(r, "Content-Type");

    cr_assert(eq(long, r->status, status), "status %ld, want %ld: %.2000s", r->status,
              status, r->body);
    cr_assert(not(eq(ptr, (void *)ct, NULL)), "no Content-Type");
    cr_assert(eq(int, strncasecmp(ct, "application/json", 16), 0), "Content-Type %s", ct);
    return ac_json(r->body);
}

static json_t *check_problem(const struct http_response *r, long status)
{
    const char *ct = http_response_header(r, "Content-Type");
    json_t *j, *v;

    cr_assert(eq(long, r->status, status), "status %ld, want %ld: %.2000s", r->status,
              status, r->body);
    cr_assert(not(eq(ptr, (void *)ct, NULL)), "no Content-Type on a %ld", status);
    cr_assert(eq(int, strncasecmp(ct, "application/problem+json", 24), 0),
              "Content-Type %s on a %ld", ct, status);
    j = ac_json(r->body);
    cr_assert(ac_holds(json_is_object(j)), "%s", r->body);
    cr_assert(ac_holds(json_is_string(json_object_get(j, "type"))), "no type: %s",
              r->body);
    v = json_object_get(j, "title");
    cr_assert(ac_holds(json_is_string(v) && json_string_length(v) > 0), "no title: %s",
              r->body);
    v = json_object_get(j, "detail");
    cr_assert(ac_holds(json_is_string(v) && json_string_length(v) > 0), "no detail: %s",
              r->body);
    v = json_object_get(j, "status");
    cr_assert(ac_holds(json_is_integer(v) && json_integer_value(v) == status),
              "status member: %s", r->body);
    cr_assert(ac_holds(json_is_string(json_object_get(j, "code"))), "no code: %s",
              r->body);
    return j;
}

json_t *ac_expect_problem(const struct http_response *r, long status, const char *code)
{
    json_t *j = check_problem(r, status);

    if (code)
        cr_assert(
            eq(str, (char *)json_string_value(json_object_get(j, "code")), (char *)code),
            "%s", r->body);
    return j;
}

json_t *ac_expect_problem_any(const struct http_response *r, long status,
                              const char *const *codes)
{
    json_t *j = check_problem(r, status);
    const char *code = json_string_value(json_object_get(j, "code"));
    bool found = false;

    for (const char *const *c = codes; *c; c++)
        found |= !strcmp(code, *c);
    cr_assert(found, "unexpected code: %s", r->body);
    return j;
}

void ac_expect_json_equal(const json_t *got, const json_t *want, const char *what)
{
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT);
        char *w = json_dumps(want, JSON_ENCODE_ANY | JSON_COMPACT);

        cr_fatal("%s:\n got  %.3000s\n want %.3000s", what, g ? g : "(null)",
                 w ? w : "(null)");
        free(g);
        free(w);
    }
}

/* ---- topics, produce, fetch ---- */

void ac_create_topic(const struct ac_server *s, const char *name, int partitions,
                     const char *config_json)
{
    struct http_response r;
    struct ac_text body = {0};

    ac_text_printf(&body, "{\"name\":\"%s\",\"partitions\":%d%s%s}", name, partitions,
                   config_json ? ",\"config\":" : "", config_json ? config_json : "");
    ac_send_json(s, "POST", "/topics", body.data, &r);
    cr_assert(eq(long, r.status, 201), "creating %s: %ld %s", name, r.status, r.body);
    http_response_release(&r);
    ac_text_release(&body);
}

int64_t ac_latest(const struct ac_server *s, const char *topic, int partition)
{
    struct http_response r;
    char path[512];
    json_t *j;
    int64_t latest;

    snprintf(path, sizeof(path), "/topics/%s/partitions/%d/offsets", topic, partition);
    ac_get(s, path, &r);
    j = ac_expect_json(&r, 200);
    latest = ac_int(j, "latest");
    json_decref(j);
    http_response_release(&r);
    return latest;
}

void ac_latest_all(const struct ac_server *s, const char *topic, int n, int64_t *out)
{
    for (int p = 0; p < n; p++)
        out[p] = ac_latest(s, topic, p);
}

void ac_expect_latest(const struct ac_server *s, const char *topic, int n,
                      const int64_t *want, const char *what)
{
    for (int p = 0; p < n; p++) {
        int64_t got = ac_latest(s, topic, p);

        cr_assert(eq(i64, got, want[p]), "%s: partition %d of %s moved from %lld to %lld",
                  what, p, topic, (long long)want[p], (long long)got);
    }
}

json_t *ac_produce(const struct ac_server *s, const char *topic, const char *body)
{
    struct http_response r;
    char path[512];
    json_t *j;

    snprintf(path, sizeof(path), "/topics/%s/messages", topic);
    ac_send_json(s, "POST", path, body, &r);
    j = ac_expect_json(&r, 200);
    http_response_release(&r);
    return j;
}

json_t *ac_fetch(const struct ac_server *s, const char *topic, int partition,
                 const char *query)
{
    struct http_response r;
    char path[1024];
    json_t *j;

    snprintf(path, sizeof(path), "/topics/%s/partitions/%d%s%s", topic, partition,
             query && *query ? "?" : "", query ? query : "");
    ac_get(s, path, &r);
    j = ac_expect_json(&r, 200);
    http_response_release(&r);
    return j;
}

json_t *ac_fetch_all(const struct ac_server *s, const char *topic, int partition)
{
    json_t *all = json_array();
    char query[128] = "offset=earliest&limit=10000";

    for (int rounds = 0; rounds < 10000; rounds++) {
        json_t *j = ac_fetch(s, topic, partition, query);
        json_t *recs = json_object_get(j, "records");
        int64_t next = ac_int(j, "next_offset"), hw = ac_int(j, "high_watermark");

        cr_assert(ac_holds(json_is_array(recs)));
        json_array_extend(all, recs);
        json_decref(j);
        if (next >= hw)
            return all;
        cr_assert(ge(sz, json_array_size(recs), (0) + 1), "no progress below the watermark");
        snprintf(query, sizeof(query), "offset=%lld&limit=10000", (long long)next);
    }
    cr_fatal("fetch_all did not end");
    return all;
}

void ac_expect_healthy(const struct ac_server *s)
{
    struct http_response r;

    ac_req_noauth(s, "GET", "/healthz", NULL, NULL, 0, &r);
    cr_assert(eq(long, r.status, 200), "/healthz: %ld %s", r.status, r.body);
    cr_assert(eq(str, r.body, "{\"status\":\"ok\"}"));
    http_response_release(&r);
}

/* ---- base64 ---- */

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *ac_base64(const void *data, size_t len)
{
    const unsigned char *in = data;
    char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;

    cr_assert(not(eq(ptr, out, NULL)));
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16;

        if (i + 1 < len)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        *o++ = b64chars[v >> 18 & 63];
        *o++ = b64chars[v >> 12 & 63];
        *o++ = i + 1 < len ? b64chars[v >> 6 & 63] : '=';
        *o++ = i + 2 < len ? b64chars[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

unsigned char *ac_unbase64(const char *text, size_t *len)
{
    size_t n = strlen(text), k = 0;
    unsigned char *out;

    if (n % 4)
        return NULL;
    out = malloc(n / 4 * 3 + 1);
    cr_assert(not(eq(ptr, out, NULL)));
    for (size_t i = 0; i < n; i += 4) {
        unsigned v = 0;
        int pad = 0;

        for (size_t j = 0; j < 4; j++) {
            const char *c = text[i + j] ? strchr(b64chars, text[i + j]) : NULL;

            if (text[i + j] == '=' && i + 4 == n && j >= 2) {
                pad++;
                v <<= 6;
                continue;
            }
            if (!c || pad) {
                free(out);
                return NULL;
            }
            v = v << 6 | (unsigned)(c - b64chars);
        }
        out[k++] = (unsigned char)(v >> 16);
        if (pad < 2)
            out[k++] = (unsigned char)(v >> 8);
        if (pad < 1)
            out[k++] = (unsigned char)v;
    }
    out[k] = '\0';
    *len = k;
    return out;
}

/* ---- text ---- */

void ac_text_add(struct ac_text *t, const void *data, size_t len)
{
    if (t->len + len + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;

        while (cap < t->len + len + 1)
            cap *= 2;
        t->data = realloc(t->data, cap);
        cr_assert(not(eq(ptr, t->data, NULL)));
        t->cap = cap;
    }
    memcpy(t->data + t->len, data, len);
    t->len += len;
    t->data[t->len] = '\0';
}

void ac_text_printf(struct ac_text *t, const char *fmt, ...)
{
    va_list ap;
    char small[512];
    int n;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    cr_assert(ge(int, n, 0));
    if ((size_t)n < sizeof(small)) {
        ac_text_add(t, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);

    cr_assert(not(eq(ptr, big, NULL)));
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    ac_text_add(t, big, (size_t)n);
    free(big);
}

void ac_text_release(struct ac_text *t)
{
    free(t->data);
    memset(t, 0, sizeof(*t));
}

/* ---- raw connections ---- */

int ac_raw_connect(const struct ac_server *s)
{
    const char *colon = strrchr(s->proc.addr, ':');
    struct sockaddr_in a = {.sin_family = AF_INET};
    int fd;

    ac_server_require(s);
    cr_assert(not(eq(ptr, (void *)colon, NULL)), "addr %s", s->proc.addr);
    a.sin_port = htons((uint16_t)strtoul(colon + 1, NULL, 10));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(ge(int, fd, 0), "socket: %s", strerror(errno));
    cr_assert(eq(int, connect(fd, (struct sockaddr *)&a, sizeof(a)), 0), "connect: %s",
              strerror(errno));
    return fd;
}

bool ac_raw_send(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

char *ac_raw_exchange(const struct ac_server *s, const void *req, size_t len)
{
    int fd = ac_raw_connect(s);
    struct ac_text t = {0};
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    char buf[65536];

    cr_assert(ac_raw_send(fd, req, len), "the server closed while the request was sent");
    for (;;) {
        ssize_t n;

        cr_assert(eq(int, poll(&pfd, 1, RILLPROC_TIMEOUT_MS), 1), "no answer in %d ms",
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

long ac_raw_status(const char *resp)
{
    long status = 0;

    if (sscanf(resp, "HTTP/1.%*d %ld", &status) != 1)
        return 0;
    return status;
}

const char *ac_raw_body(const char *resp)
{
    const char *p = strstr(resp, "\r\n\r\n");

    return p ? p + 4 : "";
}

void ac_raw_header(const char *resp, const char *name, char *out, size_t size)
{
    const char *end = strstr(resp, "\r\n\r\n"), *p = strstr(resp, "\r\n");
    size_t nlen = strlen(name);

    out[0] = '\0';
    while (p && end && p < end) {
        const char *line = p + 2, *eol = strstr(line, "\r\n");

        if (!eol)
            break;
        if ((size_t)(eol - line) > nlen && !strncasecmp(line, name, nlen) &&
            line[nlen] == ':') {
            const char *v = line + nlen + 1;

            while (*v == ' ')
                v++;
            snprintf(out, size, "%.*s", (int)(eol - v), v);
            return;
        }
        p = eol;
    }
}
