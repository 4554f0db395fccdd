/* http_client.h: a small blocking HTTP client for tests (libcurl easy interface).
 *
 *     struct http_response r;
 *     cr_assert(eq(int, http_request("GET", url, NULL, NULL, 0, &r), 0));
 *     cr_assert(eq(long, r.status, 200));
 *     cr_assert(eq(str, r.body, "{\"status\":\"ok\"}"));
 *     http_response_release(&r);
 *
 * For HTTPS, http_client_set_ca_file() names the certificates to trust (a test's
 * self-signed one); without it, the system's. Verification is never turned off. */
#ifndef TESTS_SUPPORT_HTTP_CLIENT_H
#define TESTS_SUPPORT_HTTP_CLIENT_H

#include <stddef.h>

#define HTTP_CLIENT_TIMEOUT_S 30

struct http_header {
    char *name;  /* as received */
    char *value; /* trimmed */
};

struct http_response {
    long status; /* e.g. 200; 0 if no response */
    char *body;  /* malloc'ed, NUL-terminated (may hold NULs before) */
    size_t body_len;
    char *raw_headers; /* the final response's status line and header block */
    size_t raw_headers_len;
    struct http_header *headers; /* parsed from raw_headers, in order */
    size_t n_headers;
    char error[512]; /* curl's reason when http_request() fails */
};

/* Sends one request and waits for the whole response (at most 30 s). 'headers' is a
 * NULL-terminated list of "Name: value" lines (may be NULL); 'body' of 'body_len' bytes
 * is sent when not NULL (POST/PUT/...; "HEAD" sends no body and expects none). curl's
 * automatic "Expect: 100-continue" is turned off. Each call uses a new connection.
 * 'resp' is always initialised; release it with http_response_release().
 * Returns 0 for any HTTP status; -ECONNREFUSED, -ETIMEDOUT or -EIO (reason in
 * resp->error) when no response came. */
int http_request(const char *method, const char *url, const char *const *headers,
                 const void *body, size_t body_len, struct http_response *resp);

/* Shorthand for a GET without headers. */
int http_get(const char *url, struct http_response *resp);

/* A GET of a response that may not end (an event stream): reads the body until it
 * holds 'until', then drops the connection. Returns 0 once 'until' came or the
 * response ended (resp->body tells which); otherwise as http_request(), -ETIMEDOUT
 * after 'timeout_s' seconds, with what came so far in resp->body. */
int http_get_until(const char *url, const char *const *headers, const char *until,
                   long timeout_s, struct http_response *resp);

/* HTTPS servers are verified against the PEM certificates in 'path' from now on
 * (CURLOPT_CAINFO), not the system's; NULL goes back to the system's. The path is
 * copied. Call it before requests start (it is not thread-safe). */
void http_client_set_ca_file(const char *path);

/* The value of the first header named 'name' (case-insensitive), or NULL. */
const char *http_response_header(const struct http_response *resp, const char *name);

/* Frees what http_request() stored; leaves 'resp' zeroed. */
void http_response_release(struct http_response *resp);

#endif
