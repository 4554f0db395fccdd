/* http.c: the libmicrohttpd daemon. It accepts connections and counts them against
 * our limits, reads each request (headers, then the body up to --max-body-bytes),
 * hands it to the API (api_handle(): routing, auth and every operation's answer are
 * api/'s) and sends what the API answered, suspending the connection while a call
 * waits (long polls, durable appends). It writes one access-log line per request.
 *
 * One request, one owner: the URI log callback (the first thing MHD calls for a request)
 * allocates a struct req_ctx, which MHD keeps on *req_cls; NOTIFY_COMPLETED frees it.
 * Because the URI log callback makes MHD "client aware", the completion callback runs
 * for every request it saw, even one MHD rejected before our handler ran.
 *
 * A few answers are written here, as problem+json, without running the API:
 *   - 413 content_too_large: Content-Length over --max-body-bytes (at header time)
 *   - 503 too_many_connections / 429 too_many_connections_per_ip: the first request
 *     on a connection over --max-connections / --max-connections-per-ip (at header
 *     time, with Retry-After: 1 and Connection: close); see on_connection()
 *   - 503 shutting_down, with Retry-After: 1: a request begun after the drain began
 *   - 400 bad_query: a header or query parameter holding a NUL byte
 * An answer queued at header time makes MHD skip the body and close the connection
 * after it (see on_request()). */
#include "server/http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/buf.h"
#include "common/hex.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "api/api.h"
#include "server/config.h"
#include "server/conn_limit.h"
#include "server/tls.h"
#include "storage/io.h"

/* libmicrohttpd's per-connection pool (headers, read buffer). It is cleared for every
 * request, so its size is paid per request: 16 KiB, not the default 32 KiB, leaves
 * room for 8 KiB of headers. */
#define HTTP_CONNECTION_MEMORY (16 * 1024)
/* A body above this is read only once the API would take the request. */
#define HTTP_EARLY_CHECK_BYTES (64 * 1024)
/* What MHD asks a stream for at a time, at most. */
#define HTTP_STREAM_BLOCK (16 * 1024)

struct http_server {
    struct MHD_Daemon *daemon;
    struct api *api;                    /* borrowed */
    const struct server_config *config; /* borrowed */
    bool quiesced;
    atomic_bool draining;  /* responses then carry Connection: close */
    atomic_uint in_flight; /* req_ctx allocated and not yet freed */
    atomic_uint busy;      /* requests handed to the API and not yet completed */
    _Atomic int64_t last_upload_ms; /* CLOCK_MONOTONIC ms of the last body bytes */
    struct conn_limit limits;       /* --max-connections, --max-connections-per-ip */
    char *tls_cert;        /* PEM text, kept for the daemon's lifetime */
    char *tls_key;
};

struct req_ctx {
    struct http_server *server;
    struct timespec start; /* CLOCK_MONOTONIC, when the request line was read */
    char *target;          /* request target, loggable: see http_loggable_target() */
    char *raw_target;      /* request target as received, for routing */
    char method[16];       /* loggable copy, truncated */
    char client[INET6_ADDRSTRLEN];
    unsigned status;   /* 0 until a response is queued */
    bool headers_seen; /* the access handler ran once */
    bool dispatched;   /* handed to the API: counted in 'busy' until completed */
    bool late;         /* begun after the drain began: answered 503 */
    size_t body_bytes; /* of the request body so far */
    struct buf body;   /* the request body, up to --max-body-bytes */
    struct api_pair *pairs; /* headers then query arguments, for the API */
    size_t nheaders, nquery;
    struct api_request req;
    struct api_call *call; /* a suspended API call, until completion */
    struct MHD_Connection *conn; /* for suspend and resume */
    bool waited;                 /* suspended at least once (logged) */
};

/* Percent-encodes what would make a log line ambiguous or unsafe. */
static void add_loggable(struct buf *b, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (ch <= 0x20 || ch >= 0x7f || ch == '"' || ch == '\\')
            buf_printf(b, "%%%02X", ch);
        else
            buf_addch(b, (char)ch);
    }
}

/* Whether a raw query parameter name decodes to access_token (any case, %-escapes and
 * '+' decoded), so no spelling of it slips a token into the log. */
bool http_is_token_param(const char *name, size_t len)
{
    static const char want[] = "access_token";
    size_t n = 0;

    for (size_t i = 0; i < len; i++, n++) {
        char ch = name[i];

        if (ch == '%' && i + 2 < len && hex_digit_value((unsigned char)name[i + 1]) >= 0 &&
            hex_digit_value((unsigned char)name[i + 2]) >= 0) {
            ch = (char)(hex_digit_value((unsigned char)name[i + 1]) << 4 | hex_digit_value((unsigned char)name[i + 2]));
            i += 2;
        } else if (ch == '+') {
            ch = ' ';
        }
        if (n >= sizeof(want) - 1 || tolower((unsigned char)ch) != want[n])
            return false;
    }
    return n == sizeof(want) - 1;
}

/* The request target as it goes into the access log: the value of every access_token
 * query parameter replaced by REDACTED, unsafe bytes percent-encoded. */
char *http_loggable_target(const char *target)
{
    struct buf b = BUF_INIT;
    const char *q = strchr(target, '?'), *p, *end, *eq;

    add_loggable(&b, target, q ? (size_t)(q - target) : strlen(target));
    if (!q)
        return buf_detach(&b, NULL);
    buf_addch(&b, '?');
    for (p = q + 1;; p = end + 1) {
        end = strchr(p, '&');
        if (!end)
            end = p + strlen(p);
        eq = memchr(p, '=', (size_t)(end - p));
        if (eq && http_is_token_param(p, (size_t)(eq - p))) {
            add_loggable(&b, p, (size_t)(eq - p));
            buf_addstr(&b, "=REDACTED");
        } else {
            add_loggable(&b, p, (size_t)(end - p));
        }
        if (!*end)
            break;
        buf_addch(&b, '&');
    }
    return buf_detach(&b, NULL);
}

static const struct sockaddr *client_sockaddr(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

    return ci ? ci->client_addr : NULL;
}

static void client_address(struct MHD_Connection *conn, char *out, size_t size)
{
    const struct sockaddr *sa = client_sockaddr(conn);
    const void *addr = NULL;

    if (sa && sa->sa_family == AF_INET)
        addr = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
    else if (sa && sa->sa_family == AF_INET6)
        addr = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
    if (!addr || !inet_ntop(sa->sa_family, addr, out, (socklen_t)size))
        snprintf(out, size, "-");
}

static struct req_ctx *req_new(struct http_server *s, struct MHD_Connection *conn,
                               const char *target)
{
    struct req_ctx *rc = xcalloc(1, sizeof(*rc));

    rc->server = s;
    clock_gettime(CLOCK_MONOTONIC, &rc->start);
    rc->target = http_loggable_target(target ? target : "");
    rc->raw_target = xstrdup(target ? target : "");
    rc->late = atomic_load(&s->draining);
    buf_init(&rc->body);
    snprintf(rc->method, sizeof(rc->method), "-");
    client_address(conn, rc->client, sizeof(rc->client));
    atomic_fetch_add(&s->in_flight, 1);
    return rc;
}

/* MHD_OPTION_URI_LOG_CALLBACK: the raw target, before MHD splits off the query. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    return req_new(cls, conn, uri);
}

static const char *termination_reason(enum MHD_RequestTerminationCode toe)
{
    switch (toe) {
    case MHD_REQUEST_TERMINATED_COMPLETED_OK:
        return NULL;
    case MHD_REQUEST_TERMINATED_WITH_ERROR:
        return "error";
    case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED:
        return "timeout";
    case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN:
        return "shutdown";
    case MHD_REQUEST_TERMINATED_READ_ERROR:
        return "read error";
    case MHD_REQUEST_TERMINATED_CLIENT_ABORT:
        return "client abort";
    }
    return "unknown";
}

/* MHD_OPTION_NOTIFY_COMPLETED: the access-log line, then the request's memory. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http_server *s = cls;
    struct req_ctx *rc = *req_cls;
    const char *why = termination_reason(toe);
    struct timespec now;
    double ms;
    char status[16];

    (void)conn;
    if (!rc)
        return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    ms = (double)(now.tv_sec - rc->start.tv_sec) * 1e3 +
         (double)(now.tv_nsec - rc->start.tv_nsec) / 1e6;
    if (rc->status)
        snprintf(status, sizeof(status), "%u", rc->status);
    else
        snprintf(status, sizeof(status), "-");
    log_info("%s \"%s %s\" %s %.3fms%s%s%s", rc->client, rc->method, rc->target, status,
             ms, why ? " (" : "", why ? why : "", why ? ")" : "");
    api_call_free(s->api, rc->call);
    if (rc->dispatched)
        atomic_fetch_sub(&s->busy, 1);
    free(rc->target);
    free(rc->raw_target);
    free(rc->pairs);
    buf_release(&rc->body);
    free(rc);
    *req_cls = NULL;
    atomic_fetch_sub(&s->in_flight, 1);
}

/* What an answer written here carries besides status and body. */
struct reply_extra {
    unsigned retry_after_s; /* Retry-After, when not 0 */
    bool close;             /* Connection: close (added anyway while draining) */
    unsigned limit;         /* a "limit" member in the problem, when not 0 */
};

/* Takes ownership of 'body' when 'must_free'. 'x' may be NULL. */
static enum MHD_Result reply(struct req_ctx *rc, struct MHD_Connection *conn,
                             unsigned status, const char *content_type, void *body,
                             size_t len, bool must_free, const struct reply_extra *x)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;
    const char *cors;
    char retry[16];

    resp = MHD_create_response_from_buffer(
        len, body, must_free ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        if (must_free)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    cors = api_cors_origin(rc->server->api,
                           MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin"));
    if (cors) { /* so a script sees this refusal for what it is, not as a CORS error */
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", cors);
        if (strcmp(cors, "*"))
            MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Origin");
    }
    if (x && x->retry_after_s) {
        snprintf(retry, sizeof(retry), "%u", x->retry_after_s);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, retry);
    }
    if ((x && x->close) || atomic_load(&rc->server->draining))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    if (ret == MHD_YES)
        rc->status = status;
    return ret;
}

/* A JSON string body for 's' (no quotes added): escapes what JSON requires, and any
 * non-ASCII byte so the document is valid UTF-8 whatever the client sent. */
static void add_json_text(struct buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;

        if (ch == '"' || ch == '\\')
            buf_printf(b, "\\%c", ch);
        else if (ch < 0x20 || ch >= 0x7f)
            buf_printf(b, "\\u%04x", ch);
        else
            buf_addch(b, (char)ch);
    }
}

/* An RFC 9457 problem document, for the answers written here (api/reply.c writes the
 * API's). 'x' may be NULL. */
static enum MHD_Result reply_problem(struct req_ctx *rc, struct MHD_Connection *conn,
                                     unsigned status, const char *title, const char *code,
                                     const struct reply_extra *x, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

static enum MHD_Result reply_problem(struct req_ctx *rc, struct MHD_Connection *conn,
                                     unsigned status, const char *title, const char *code,
                                     const struct reply_extra *x, const char *fmt, ...)
{
    struct buf detail = BUF_INIT, body = BUF_INIT;
    size_t len;
    char *data;
    va_list ap;

    va_start(ap, fmt);
    buf_vprintf(&detail, fmt, ap);
    va_end(ap);
    buf_printf(&body,
               "{\"type\":\"about:blank\",\"title\":\"%s\",\"status\":%u,\"detail\":\"",
               title, status);
    add_json_text(&body, detail.data);
    buf_printf(&body, "\",\"code\":\"%s\"", code);
    if (x && x->limit)
        buf_printf(&body, ",\"limit\":%u", x->limit);
    buf_addch(&body, '}');
    buf_release(&detail);
    data = buf_detach(&body, &len);
    return reply(rc, conn, status, "application/problem+json", data, len, true, x);
}

/* Content-Length above --max-body-bytes: refuse before reading the body. */
static bool declares_too_much(struct MHD_Connection *conn, size_t max)
{
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    unsigned long long n;
    char *end;

    if (!cl)
        return false;
    errno = 0;
    n = strtoull(cl, &end, 10);
    return end != cl && (errno == ERANGE || n > max); /* MHD rejected malformed ones */
}

/* Collects header or argument pairs from MHD (the strings are MHD's, valid for the
 * request's lifetime). */
struct pair_list {
    struct api_pair *pairs;
    size_t n, cap;
    bool has_nul; /* a key or value held a NUL byte (%00): it would be cut short */
};

static enum MHD_Result collect_pair(void *cls, enum MHD_ValueKind kind, const char *key,
                                    size_t key_size, const char *value, size_t value_size)
{
    struct pair_list *l = cls;

    (void)kind;
    if (strlen(key) != key_size || (value && strlen(value) != value_size))
        l->has_nul = true;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->pairs = xrealloc(l->pairs, l->cap * sizeof(*l->pairs));
    }
    l->pairs[l->n++] = (struct api_pair){key, value ? value : ""};
    return MHD_YES;
}

static void suspend_conn(void *arg)
{
    struct req_ctx *rc = arg;

    if (!rc->waited) { /* once: a stream suspends whenever it is idle */
        rc->waited = true;
        log_debug("%s \"%s %s\" waits", rc->client, rc->method, rc->target);
    }
    MHD_suspend_connection(rc->conn);
}

static void resume_conn(void *arg)
{
    MHD_resume_connection(((struct req_ctx *)arg)->conn);
}

/* The body of a streamed answer (server-sent events), as MHD asks for it. With
 * nothing to send, api_stream_read() has suspended the connection and we return 0:
 * MHD calls again once the call resumes it (never spinning meanwhile). */
static ssize_t read_stream(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct req_ctx *rc = cls;
    ssize_t n;

    (void)pos;
    n = api_stream_read(rc->server->api, rc->call, buf, max);
    return n < 0 ? MHD_CONTENT_READER_END_OF_STREAM : n;
}

/* Sends what the API answered. */
static enum MHD_Result send_api_response(struct req_ctx *rc, struct MHD_Connection *conn,
                                         struct api_response *ar)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;
    size_t len;
    char *body = buf_detach(&ar->body, &len);

    if (ar->stream) {
        free(body);
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, HTTP_STREAM_BLOCK,
                                                 read_stream, rc, NULL);
    } else {
        resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
        if (!resp)
            free(body);
    }
    if (!resp) {
        api_response_release(ar);
        return MHD_NO;
    }
    if (ar->content_type && ar->status != 204)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ar->content_type);
    for (size_t i = 0; i < ar->nheaders; i++)
        MHD_add_response_header(resp, ar->headers[i].name, ar->headers[i].value);
    if (atomic_load(&rc->server->draining))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    ret = MHD_queue_response(conn, (unsigned)ar->status, resp);
    MHD_destroy_response(resp);
    if (ret == MHD_YES)
        rc->status = (unsigned)ar->status;
    api_response_release(ar);
    return ret;
}

/* The request's headers and query parameters as the API sees them, in rc->req (the
 * body: what has come so far). Once per request. Returns false, having answered 400,
 * if one holds a NUL byte. */
static bool build_request(struct req_ctx *rc, struct MHD_Connection *conn, const char *method,
                          enum MHD_Result *answered)
{
    struct pair_list l = {0};

    if (!rc->pairs) {
        MHD_get_connection_values_n(conn, MHD_HEADER_KIND, collect_pair, &l);
        rc->nheaders = l.n;
        MHD_get_connection_values_n(conn, MHD_GET_ARGUMENT_KIND, collect_pair, &l);
        rc->nquery = l.n - rc->nheaders;
        rc->pairs = l.pairs;
        if (l.has_nul) {
            *answered = reply_problem(rc, conn, MHD_HTTP_BAD_REQUEST, "Bad Request",
                                      "bad_query", NULL,
                                      "a query parameter or header holds a NUL byte (%%00)");
            return false;
        }
    }
    rc->conn = conn;
    rc->req = (struct api_request){
        .method = method,
        .target = rc->raw_target,
        .headers = rc->pairs,
        .nheaders = rc->nheaders,
        .query = rc->pairs ? rc->pairs + rc->nheaders : NULL,
        .nquery = rc->nquery,
        .body = rc->body.data,
        .body_len = rc->body.len,
        .client = rc->client,
        .suspend = suspend_conn,
        .resume = resume_conn,
        .conn = rc,
    };
    return true;
}

/* A body bigger than HTTP_EARLY_CHECK_BYTES (or of unknown length) is read only for a
 * request the API would take: one without a valid token, for an unknown route or out
 * of its token's scope is answered now, and its connection closed. */
static bool declares_a_big_body(struct MHD_Connection *conn)
{
    return declares_too_much(conn, HTTP_EARLY_CHECK_BYTES) ||
           MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                       MHD_HTTP_HEADER_TRANSFER_ENCODING);
}

/* The whole request is in: hand it to the API. */
static enum MHD_Result dispatch(struct req_ctx *rc, struct MHD_Connection *conn,
                                const char *method)
{
    struct api_response ar;
    enum api_status st;
    enum MHD_Result answered;

    if (!build_request(rc, conn, method, &answered))
        return answered;
    if (rc->late) {
        static const struct reply_extra retry = {.retry_after_s = 1, .close = true};

        return reply_problem(rc, conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                             "Service Unavailable", "shutting_down", &retry,
                             "the server is shutting down");
    }
    rc->dispatched = true;
    atomic_fetch_add(&rc->server->busy, 1);
    api_response_init(&ar);
    st = api_handle(rc->server->api, &rc->req, &ar, &rc->call);
    if (st == API_SUSPENDED) {
        api_response_release(&ar);
        return MHD_YES;
    }
    return send_api_response(rc, conn, &ar);
}

/* A suspended call was resumed: its answer. */
static enum MHD_Result resume_call(struct req_ctx *rc, struct MHD_Connection *conn)
{
    struct api_response ar;

    api_response_init(&ar);
    if (api_continue(rc->server->api, rc->call, &ar) == API_SUSPENDED) {
        api_response_release(&ar);
        return MHD_YES;
    }
    return send_api_response(rc, conn, &ar);
}

/* A connection's verdict rides in MHD's socket_context as verdict + 1, so NULL (no
 * STARTED notification seen) reads as "not counted". */
static void *verdict_tag(enum conn_verdict v)
{
    return (void *)((uintptr_t)v + 1);
}

/* MHD_OPTION_NOTIFY_CONNECTION: every connection MHD accepts is admitted or refused
 * by our limits when it opens, and an admitted one is released when it closes. A
 * refused one stays open just long enough for on_request() to tell it why. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct http_server *s = cls;

    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        *socket_context =
            verdict_tag(conn_limit_admit(&s->limits, client_sockaddr(conn)));
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        if (*socket_context == verdict_tag(CONN_OK))
            conn_limit_release(&s->limits, client_sockaddr(conn));
        *socket_context = NULL;
    }
}

static enum conn_verdict connection_verdict(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    uintptr_t tag = ci ? (uintptr_t)ci->socket_context : 0;

    return tag ? (enum conn_verdict)(tag - 1) : CONN_OK;
}

/* The first request on a connection our limits refused: 503 or 429, Retry-After: 1,
 * and the connection closed after it. */
static enum MHD_Result reply_over_limit(struct req_ctx *rc, struct MHD_Connection *conn,
                                        enum conn_verdict v)
{
    const struct server_config *c = rc->server->config;
    struct reply_extra x = {.retry_after_s = 1, .close = true};

    if (v == CONN_TOO_MANY_FROM_IP) {
        x.limit = c->max_connections_per_ip;
        return reply_problem(rc, conn, MHD_HTTP_TOO_MANY_REQUESTS, "Too Many Requests",
                             "too_many_connections_per_ip", &x,
                             "%s has %u connections open (--max-connections-per-ip); "
                             "retry later",
                             rc->client, x.limit);
    }
    x.limit = c->max_connections;
    return reply_problem(rc, conn, MHD_HTTP_SERVICE_UNAVAILABLE, "Service Unavailable",
                         "too_many_connections", &x,
                         "the server has %u connections open (--max-connections); "
                         "retry later",
                         x.limit);
}

/* The access handler, called (1) once the headers are in, (2) for each piece of body,
 * (3) with *upload_data_size == 0 once the request is complete. Answering at (3), not
 * (1), lets MHD keep the connection alive: a response queued before the body was read
 * makes it close the connection, reading no more of the body: what the early answers
 * (413, over a connection limit) want. Bodies are kept up to --max-body-bytes. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
    struct http_server *s = cls;
    struct req_ctx *rc = *req_cls;
    size_t max = s->config->max_body_bytes;

    (void)version;
    (void)url;
    if (!rc) /* no URI log callback ran (cannot happen with MHD 0.9.75, but be safe) */
        *req_cls = rc = req_new(s, conn, url);
    if (!rc->headers_seen) {
        struct buf m = BUF_INIT;
        enum conn_verdict verdict;

        rc->headers_seen = true;
        add_loggable(&m, method, strlen(method));
        snprintf(rc->method, sizeof(rc->method), "%s", m.data);
        buf_release(&m);
        log_debug("%s \"%s %s\" begins", rc->client, rc->method, rc->target);
        verdict = connection_verdict(conn);
        if (verdict != CONN_OK)
            return reply_over_limit(rc, conn, verdict);
        if (declares_too_much(conn, max)) {
            struct reply_extra x = {.limit = (unsigned)max};

            return reply_problem(rc, conn, MHD_HTTP_CONTENT_TOO_LARGE,
                                 "Content Too Large", "content_too_large", &x,
                                 "request body exceeds %zu bytes", max);
        }
        if (declares_a_big_body(conn)) {
            struct api_response ar;
            enum MHD_Result answered;

            if (!build_request(rc, conn, method, &answered))
                return answered;
            api_response_init(&ar);
            if (!api_admit(s->api, &rc->req, &ar))
                return send_api_response(rc, conn, &ar);
            api_response_release(&ar);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        atomic_store(&s->last_upload_ms, clock_mono_ms());
        rc->body_bytes += *upload_data_size;
        /* a chunked body over the limit: no response is possible mid-body in MHD
         * 0.9.75, so drop the connection */
        if (rc->body_bytes > max)
            return MHD_NO;
        if (!rc->status)
            buf_add(&rc->body, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (rc->status) /* answered early */
        return MHD_YES;
    if (rc->call)
        return resume_call(rc, conn);
    return dispatch(rc, conn, method);
}

/* MHD_OPTION_EXTERNAL_LOGGER: libmicrohttpd's own messages, one line each. */
__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt,
                                                             va_list ap)
{
    char msg[512];
    size_t n;

    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    /* a client gone while its answer was being sent: how every event stream ends */
    if (strstr(msg, "no longer available") || strstr(msg, "forcibly closed by remote"))
        log_debug("http: %s", msg);
    /* libmicrohttpd 0.9.75 says this of every failed handshake, whatever the cause */
    else if (strstr(msg, "handshake message out of context"))
        log_warn("http: a TLS handshake failed: plain HTTP to the HTTPS port, a client "
                 "that does not trust the certificate, or another TLS error");
    else
        log_warn("http: %s", msg);
}

static int load_tls(struct http_server *s, const struct server_config *c)
{
    int ret;

    if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
        log_error("this libmicrohttpd was built without TLS support");
        return -ENOTSUP;
    }
    ret = io_read_file(c->tls_cert, TLS_FILE_MAX, &s->tls_cert, NULL);
    if (ret) {
        log_error("cannot read TLS certificate '%s': %s", c->tls_cert, strerror(-ret));
        return ret;
    }
    ret = io_read_file(c->tls_key, TLS_FILE_MAX, &s->tls_key, NULL);
    if (ret)
        log_error("cannot read TLS key '%s': %s", c->tls_key, strerror(-ret));
    return ret;
}

static bool is_ipv6_any(const struct server_config *c)
{
    const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&c->listen_addr;

    return c->listen_addr.ss_family == AF_INET6 &&
           IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr);
}

/* MHD's own limits, which close a connection without a word, sit above ours so that a
 * connection over ours is still accepted and answered (503/429 with Retry-After).
 * Headroom: an eighth of --max-connections plus 16 in total, 8 per address. Past it,
 * MHD closes new connections silently. (config.c allows 1 or more for both flags, so
 * neither is 0, "unlimited", here.) */
static unsigned mhd_total_limit(const struct server_config *c)
{
    return c->max_connections + c->max_connections / 8 + 16;
}

static unsigned mhd_per_ip_limit(const struct server_config *c)
{
    return c->max_connections_per_ip + 8;
}

static void http_free(struct http_server *s)
{
    conn_limit_destroy(&s->limits);
    free(s->tls_cert);
    free(s->tls_key);
    free(s);
}

int http_start(struct http_server **out, const struct server_config *c, struct api *api)
{
    struct http_server *s = xcalloc(1, sizeof(*s));
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    struct MHD_OptionItem tls[] = {
        {MHD_OPTION_END, 0, NULL},
        {MHD_OPTION_END, 0, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    int ret;

    s->config = c;
    s->api = api;
    ret = conn_limit_init(&s->limits, c->max_connections, c->max_connections_per_ip);
    if (ret) {
        log_error("cannot set up connection limits: %s", strerror(-ret));
        free(s);
        return ret;
    }
    atomic_init(&s->draining, false);
    atomic_init(&s->in_flight, 0);
    atomic_init(&s->busy, 0);
    if (!MHD_is_feature_supported(MHD_FEATURE_EPOLL)) {
        log_error("this libmicrohttpd was built without epoll support");
        ret = -ENOTSUP;
        goto out_free;
    }
    if (c->listen_addr.ss_family == AF_INET6)
        flags |= is_ipv6_any(c) ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;
    if (c->tls_cert) {
        ret = load_tls(s, c);
        if (ret)
            goto out_free;
        flags |= MHD_USE_TLS;
        tls[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert};
        tls[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key};
    }

    errno = 0;
    /* one option per line; the logger first, so it catches everything */
    /* clang-format off */
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
        MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&c->listen_addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)c->threads,
        MHD_OPTION_CONNECTION_LIMIT, mhd_total_limit(c),
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, mhd_per_ip_limit(c),
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)c->request_timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONNECTION_MEMORY,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_ARRAY, tls,
        MHD_OPTION_END);
    /* clang-format on */
    if (!s->daemon) {
        ret = errno ? -errno : -EIO;
        log_error("cannot listen on '%s': %s", c->listen, strerror(-ret));
        goto out_free;
    }
    *out = s;
    return 0;
out_free:
    http_free(s);
    return ret;
}

int http_bound_address(const struct http_server *s, char *out, size_t size)
{
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    struct sockaddr_storage ss = s->config->listen_addr;
    uint16_t port = info ? info->port : 0;

    if (ss.ss_family == AF_INET)
        ((struct sockaddr_in *)&ss)->sin_port = htons(port);
    else
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
    return config_format_addr((const struct sockaddr *)&ss, out, size);
}

/* Not MHD_quiesce_daemon(): with epoll and a thread pool, libmicrohttpd 0.9.75 can
 * abort in it ("Failed to remove listen FD from epoll set"). The listening socket
 * stays open until http_stop(); requests that arrive meanwhile get 503. */
void http_quiesce(struct http_server *s)
{
    if (!s || s->quiesced)
        return;
    atomic_store(&s->draining, true);
    s->quiesced = true;
}

/* Requests the API is working on, and those still receiving their body while any
 * body bytes arrived in the last second. A client that went quiet mid-request
 * (libmicrohttpd only notices at the connection timeout) must not hold up a
 * shutdown; nothing of theirs was acknowledged. */
unsigned http_in_flight(const struct http_server *s)
{
    unsigned busy = atomic_load(&s->busy), all = atomic_load(&s->in_flight);

    if (all > busy && clock_mono_ms() - atomic_load(&s->last_upload_ms) < 1000)
        return all;
    return busy;
}

void http_stop(struct http_server *s)
{
    if (!s)
        return;
    http_quiesce(s);
    MHD_stop_daemon(s->daemon);
    http_free(s);
}
