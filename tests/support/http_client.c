/* http_client.c: a small blocking HTTP client for tests, on libcurl's easy interface. */
#include "tests/support/http_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;
static char ca_file[4096]; /* http_client_set_ca_file(); "" for the system's */

static void init_curl(void) { curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT); }

/* A growable byte string; a NULL data pointer means empty. */
struct chunk {
    char *data;
    size_t len, cap;
};

static void chunk_add(struct chunk *c, const void *data, size_t len)
{
    if (c->len + len + 1 > c->cap) {
        size_t cap = c->cap ? c->cap : 256;

        while (cap < c->len + len + 1)
            cap *= 2;
        c->data = realloc(c->data, cap);
        if (!c->data)
            abort();
        c->cap = cap;
    }
    memcpy(c->data + c->len, data, len);
    c->len += len;
    c->data[c->len] = '\0';
}

static char *chunk_take(struct chunk *c, size_t *len)
{
    char *data;

    if (!c->data)
        chunk_add(c, "", 0);
    data = c->data;
    *len = c->len;
    memset(c, 0, sizeof(*c));
    return data;
}

/* Where a body goes: with 'until', the transfer stops once the body holds it. */
struct body_sink {
    struct chunk c;
    const char *until; /* NULL: read it all */
    bool found;
};

static size_t on_body(char *data, size_t size, size_t n, void *userdata)
{
    struct body_sink *b = userdata;

    chunk_add(&b->c, data, size * n);
    if (b->until && memmem(b->c.data, b->c.len, b->until, strlen(b->until))) {
        b->found = true;
        return 0; /* curl stops with CURLE_WRITE_ERROR */
    }
    return size * n;
}

/* Header lines of every response arrive here (a 100 Continue, redirects); a status
 * line starts a new block, so what stays is the final response's. */
static size_t on_header(char *data, size_t size, size_t n, void *userdata)
{
    struct chunk *c = userdata;

    if (size * n >= 5 && !memcmp(data, "HTTP/", 5))
        c->len = 0;
    chunk_add(c, data, size * n);
    return size * n;
}

static char *dup_range(const char *s, size_t len)
{
    char *d = malloc(len + 1);

    if (!d)
        abort();
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

/* Splits raw_headers into name/value pairs, skipping the status line. */
static void parse_headers(struct http_response *r)
{
    const char *p = r->raw_headers, *end = p + r->raw_headers_len;
    size_t cap = 0;

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p)), *colon, *v, *ve;

        if (!eol)
            eol = end;
        colon = memchr(p, ':', (size_t)(eol - p));
        if (colon && !((size_t)(eol - p) >= 5 && !memcmp(p, "HTTP/", 5))) {
            v = colon + 1;
            ve = eol;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            if (r->n_headers == cap) {
                cap = cap ? cap * 2 : 16;
                r->headers = realloc(r->headers, cap * sizeof(*r->headers));
                if (!r->headers)
                    abort();
            }
            r->headers[r->n_headers].name = dup_range(p, (size_t)(colon - p));
            r->headers[r->n_headers++].value = dup_range(v, (size_t)(ve - v));
        }
        p = eol + 1;
    }
}

static int errno_of(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
        return -ECONNREFUSED;
    case CURLE_OPERATION_TIMEDOUT:
        return -ETIMEDOUT;
    default:
        return -EIO;
    }
}

static int perform(const char *method, const char *url, const char *const *headers,
                   const void *body, size_t body_len, const char *until, long timeout_s,
                   struct http_response *resp)
{
    struct body_sink b = {.until = until};
    struct chunk h = {0};
    struct curl_slist *list = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    bool has_expect = false;
    CURL *curl;
    CURLcode rc;
    int ret = 0;

    memset(resp, 0, sizeof(*resp));
    pthread_once(&curl_once, init_curl);
    if (curl_init_result != CURLE_OK) {
        snprintf(resp->error, sizeof(resp->error), "curl_global_init failed");
        return -EIO;
    }
    curl = curl_easy_init();
    if (!curl) {
        snprintf(resp->error, sizeof(resp->error), "curl_easy_init failed");
        return -EIO;
    }
    for (const char *const *p = headers; p && *p; p++) {
        has_expect |= !strncasecmp(*p, "Expect:", 7);
        list = curl_slist_append(list, *p);
    }
    if (!has_expect)
        list = curl_slist_append(list, "Expect:");

    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, timeout_s);
    if (ca_file[0])
        curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file);
    curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &h);
    if (!strcmp(method, "HEAD")) {
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    } else {
        /* POST, PUT and PATCH always carry a body, if empty (Content-Length: 0) */
        if (!body && (!strcmp(method, "POST") || !strcmp(method, "PUT") ||
                      !strcmp(method, "PATCH"))) {
            body = "";
            body_len = 0;
        }
        if (body) {
            curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
            curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        }
        if (strcmp(method, body ? "POST" : "GET"))
            curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    }

    rc = curl_easy_perform(curl);
    if (rc == CURLE_WRITE_ERROR && b.found)
        rc = CURLE_OK;
    if (rc != CURLE_OK) {
        snprintf(resp->error, sizeof(resp->error), "%s: %s", curl_easy_strerror(rc),
                 errbuf);
        ret = errno_of(rc);
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
    resp->body = chunk_take(&b.c, &resp->body_len);
    resp->raw_headers = chunk_take(&h, &resp->raw_headers_len);
    parse_headers(resp);
    curl_easy_cleanup(curl);
    curl_slist_free_all(list);
    return ret;
}

int http_request(const char *method, const char *url, const char *const *headers,
                 const void *body, size_t body_len, struct http_response *resp)
{
    return perform(method, url, headers, body, body_len, NULL,
                   (long)HTTP_CLIENT_TIMEOUT_S, resp);
}

int http_get(const char *url, struct http_response *resp)
{
    return http_request("GET", url, NULL, NULL, 0, resp);
}

int http_get_until(const char *url, const char *const *headers, const char *until,
                   long timeout_s, struct http_response *resp)
{
    return perform("GET", url, headers, NULL, 0, until, timeout_s, resp);
}

void http_client_set_ca_file(const char *path)
{
    snprintf(ca_file, sizeof(ca_file), "%s", path ? path : "");
}

const char *http_response_header(const struct http_response *resp, const char *name)
{
    for (size_t i = 0; i < resp->n_headers; i++) {
        if (!strcasecmp(resp->headers[i].name, name))
            return resp->headers[i].value;
    }
    return NULL;
}

void http_response_release(struct http_response *resp)
{
    for (size_t i = 0; i < resp->n_headers; i++) {
        free(resp->headers[i].name);
        free(resp->headers[i].value);
    }
    free(resp->headers);
    free(resp->body);
    free(resp->raw_headers);
    memset(resp, 0, sizeof(*resp));
}
