/* sse_fanout.c: the server-sent events fan-out benchmark for `make bench`.
 *
 * N subscribers (one thread, epoll, plain sockets) stream one partition of a topic
 * (GET /topics/T/partitions/P/stream?offset=latest, HTTP/1.1, chunked); once every one
 * has its "retry:" line, the producer POSTs RATE records/s in requests of BATCH for
 * SECONDS, request k due at k * BATCH / RATE s (at once when late), on K connections
 * (--producers, one thread each; default 1) so that one slow answer does not hold the
 * rate down. Each record's value is {"t":SEND_TIME} (CLOCK_REALTIME microseconds), so
 * a subscriber's latency is its receive time minus t. Then the producer stops and we
 * wait until every subscriber has every record (or 5 s pass) and print one line:
 * records produced (rate, produce round trip p99), events delivered and per second,
 * produce-to-event latency p50/p99/max, the subscribers that missed a record, and the
 * CPU the server (--server-pid) and this process used meanwhile, in cores.
 *
 * Every subscriber must see ids 1, 2, ..., produced (id = offset + 1) in order: one that
 * has a gap, a repeat or a failed stream "lost a record"; one that is still behind at
 * the deadline (slow, not wrong) is also counted as missed. A stream the server cuts (a
 * subscriber fell out of its window) is resumed with Last-Event-ID, as a browser does;
 * the line says how many were ("resumed").
 *
 * Usage: sse-fanout --addr HOST:PORT --token TOKEN --topic T [--subs N] [--seconds D]
 *                   [--rate R] [--batch B] [--producers K] [--partition P]
 *                   [--server-pid PID]
 * The topic must exist (flush.policy interval keeps the producer off fsync).
 * Exit status: 0; 1 if a subscriber lost a record or a produce failed (being behind
 * is a figure, not a failure); 2 on usage or setup errors. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common/hex.h"

/* latency histogram: 10 us steps below 1 s, 1 ms steps up to 120 s, then one bucket */
#define HIST_FINE 100000
#define HIST_BUCKETS (HIST_FINE + 119000 + 1)
#define READ_BYTES (256 * 1024)
#define LINE_MAX_KEEP 1024
#define HDR_MAX 8192
#define DRAIN_MS 5000
#define CONNECT_MS 60000

/* ---- options ---- */

static struct sockaddr_in g_addr;
static char g_host[128];
static const char *g_token, *g_topic;
static int g_nsubs = 1, g_seconds = 5, g_rate = 10000, g_batch = 100, g_partition;
static int g_producers = 1;
static long g_server_pid;

/* ---- time ---- */

static int64_t mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t real_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void die(const char *what)
{
    perror(what);
    exit(2);
}

/* ---- subscribers ---- */

enum sub_state { SUB_CONNECTING, SUB_SENDING, SUB_HEADERS, SUB_BODY, SUB_FAILED };
enum chunk_state { CH_SIZE, CH_EXT, CH_DATA, CH_DATA_END, CH_DONE };

struct sub {
    int fd;
    enum sub_state state;
    bool ready;         /* got the retry: line of its first stream */
    bool resuming;      /* the next request carries Last-Event-ID */
    /* request */
    char req[1024];
    size_t req_len, req_off;
    /* response head */
    char hdr[HDR_MAX];
    size_t hdr_len;
    bool chunked;
    /* chunked body */
    enum chunk_state cst;
    uint64_t chunk_left;
    /* event stream: the current line (when split across reads) and event */
    char line[LINE_MAX_KEEP];
    size_t line_len;
    int64_t ev_id, ev_t;
    bool ev_has_id, ev_has_t, ev_has_data, ev_record, ev_gap;
    /* results */
    int64_t last_id;    /* id of the last record event: offsets [0, last_id) seen */
    uint64_t events, out_of_order, gap_events, no_t, reconnects;
};

static struct sub *g_subs;
static int g_epfd;
static int64_t g_now_real_us;      /* receive time of the bytes being parsed */
static int64_t g_last_event_mono;  /* when the last record event arrived */
static uint64_t *g_hist;
static int64_t g_lat_max_us;
static uint64_t g_events, g_lat_n;
static int g_ready, g_failed;
static bool g_first_error_shown;

__attribute__((format(printf, 2, 3)))
static void sub_error(struct sub *s, const char *fmt, ...)
{
    if (!g_first_error_shown) {
        va_list ap;

        fprintf(stderr, "sse-fanout: subscriber %d: ", (int)(s - g_subs));
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        g_first_error_shown = true;
    }
    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
    s->state = SUB_FAILED;
    g_failed++;
}

static void sub_build_request(struct sub *s)
{
    int n;

    if (s->resuming)
        n = snprintf(s->req, sizeof(s->req),
                     "GET /topics/%s/partitions/%d/stream HTTP/1.1\r\nHost: %s\r\n"
                     "Authorization: Bearer %s\r\nAccept: text/event-stream\r\n"
                     "Last-Event-ID: %" PRId64 "\r\n\r\n",
                     g_topic, g_partition, g_host, g_token, s->last_id);
    else
        n = snprintf(s->req, sizeof(s->req),
                     "GET /topics/%s/partitions/%d/stream?offset=latest HTTP/1.1\r\n"
                     "Host: %s\r\nAuthorization: Bearer %s\r\n"
                     "Accept: text/event-stream\r\n\r\n",
                     g_topic, g_partition, g_host, g_token);
    if (n < 0 || (size_t)n >= sizeof(s->req)) {
        fprintf(stderr, "sse-fanout: request too long\n");
        exit(2);
    }
    s->req_len = (size_t)n;
    s->req_off = 0;
}

static void sub_connect(struct sub *s)
{
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = s};
    int one = 1;

    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0)
        die("socket");
    setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    s->hdr_len = 0;
    s->chunked = false;
    s->cst = CH_SIZE;
    s->chunk_left = 0;
    s->line_len = 0;
    s->ev_has_id = s->ev_has_t = s->ev_has_data = s->ev_record = s->ev_gap = false;
    sub_build_request(s);
    if (connect(s->fd, (struct sockaddr *)&g_addr, sizeof(g_addr)) == 0) {
        s->state = SUB_SENDING;
    } else if (errno == EINPROGRESS) {
        s->state = SUB_CONNECTING;
    } else {
        sub_error(s, "connect: %s", strerror(errno));
        return;
    }
    if (epoll_ctl(g_epfd, EPOLL_CTL_ADD, s->fd, &ev))
        die("epoll_ctl");
}

/* The stream ended (the server cut it, or stopped): resume after the last event. */
static void sub_reconnect(struct sub *s)
{
    close(s->fd);
    s->fd = -1;
    s->reconnects++;
    s->resuming = true;
    sub_connect(s);
}

static void record_latency(int64_t us)
{
    int64_t b;

    if (us < 0)
        us = 0;
    if (us > g_lat_max_us)
        g_lat_max_us = us;
    b = us < 1000000 ? us / 10 : HIST_FINE + (us - 1000000) / 1000;
    if (b >= HIST_BUCKETS)
        b = HIST_BUCKETS - 1;
    g_hist[b]++;
    g_lat_n++;
}

static int64_t parse_i64(const char *p, const char *end)
{
    int64_t v = 0;

    while (p < end && *p == ' ')
        p++;
    while (p < end && *p >= '0' && *p <= '9')
        v = v * 10 + (*p++ - '0');
    return v;
}

/* The parsing below runs for every event of every subscriber (millions a second, on
 * the server's machine), so it avoids memmem() and library calls for short compares. */
static bool starts(const char *p, size_t len, const char *lit, size_t litlen)
{
    if (len < litlen)
        return false;
    for (size_t i = 0; i < litlen; i++)
        if (p[i] != lit[i])
            return false;
    return true;
}

/* The number after the last "t": of a data line (records carry {"t":N} last but for
 * their headers, so searching back for a 't' finds it at once). */
static bool find_t(const char *p, const char *end, int64_t *t)
{
    const char *q;

    while (end - p >= 4 && (q = memrchr(p, 't', (size_t)(end - p)))) {
        if (q > p && q[-1] == '"' && end - q >= 3 && q[1] == '"' && q[2] == ':') {
            *t = parse_i64(q + 3, end);
            return true;
        }
        end = q;
    }
    return false;
}

static void dispatch_event(struct sub *s)
{
    if (s->ev_has_data) {
        if (s->ev_gap) {
            s->gap_events++;
        } else if (s->ev_record) {
            s->events++;
            g_events++;
            if (!s->ev_has_id || s->ev_id != s->last_id + 1)
                s->out_of_order++;
            if (s->ev_has_id && s->ev_id > s->last_id)
                s->last_id = s->ev_id;
            if (s->ev_has_t)
                record_latency(g_now_real_us - s->ev_t);
            else
                s->no_t++;
        }
    }
    s->ev_has_id = s->ev_has_t = s->ev_has_data = s->ev_record = s->ev_gap = false;
}

static void process_line(struct sub *s, const char *p, size_t len)
{
    const char *end;

    if (len && p[len - 1] == '\r')
        len--;
    end = p + len;
    if (len == 0) {
        dispatch_event(s);
    } else if (p[0] == ':') {
        /* comment (heartbeat) */
    } else if (starts(p, len, "data:", 5)) {
        s->ev_has_data = true;
        if (find_t(p + 5, end, &s->ev_t))
            s->ev_has_t = true;
    } else if (starts(p, len, "id:", 3)) {
        s->ev_id = parse_i64(p + 3, end);
        s->ev_has_id = true;
    } else if (starts(p, len, "event:", 6)) {
        const char *v = p + 6;

        if (v < end && *v == ' ')
            v++;
        s->ev_record = end - v == 6 && starts(v, 6, "record", 6);
        s->ev_gap = end - v == 3 && starts(v, 3, "gap", 3);
    } else if (starts(p, len, "retry:", 6)) {
        if (!s->ready) {
            s->ready = true;
            g_ready++;
        }
    }
}

/* Event stream bytes of one subscriber. */
static void sse_feed(struct sub *s, const char *p, size_t n)
{
    while (n) {
        const char *nl = memchr(p, '\n', n);
        size_t len;

        if (!nl) {
            size_t keep = n;

            if (keep > sizeof(s->line) - s->line_len)
                keep = sizeof(s->line) - s->line_len; /* long line: its head is enough */
            memcpy(s->line + s->line_len, p, keep);
            s->line_len += keep;
            return;
        }
        len = (size_t)(nl - p);
        if (s->line_len) {
            size_t keep = len;

            if (keep > sizeof(s->line) - s->line_len)
                keep = sizeof(s->line) - s->line_len;
            memcpy(s->line + s->line_len, p, keep);
            process_line(s, s->line, s->line_len + keep);
            s->line_len = 0;
        } else {
            process_line(s, p, len);
        }
        p = nl + 1;
        n -= len + 1;
    }
}

/* Body bytes: undo the chunked coding. Returns false when the body ended. */
static bool body_feed(struct sub *s, const char *p, size_t n)
{
    if (!s->chunked) {
        sse_feed(s, p, n);
        return true;
    }
    while (n) {
        switch (s->cst) {
        case CH_SIZE: {
            int v = hex_digit_value((unsigned char)*p);

            if (v >= 0) {
                s->chunk_left = s->chunk_left * 16 + (uint64_t)v;
            } else if (*p == '\n') {
                s->cst = s->chunk_left ? CH_DATA : CH_DONE;
                if (s->cst == CH_DONE)
                    return false;
            } else {
                s->cst = CH_EXT; /* ';' extension or '\r' */
            }
            p++, n--;
            break;
        }
        case CH_EXT:
            if (*p == '\n') {
                s->cst = s->chunk_left ? CH_DATA : CH_DONE;
                if (s->cst == CH_DONE)
                    return false;
            }
            p++, n--;
            break;
        case CH_DATA: {
            size_t take = n < s->chunk_left ? n : (size_t)s->chunk_left;

            sse_feed(s, p, take);
            s->chunk_left -= take;
            p += take, n -= take;
            if (!s->chunk_left)
                s->cst = CH_DATA_END;
            break;
        }
        case CH_DATA_END: /* the CRLF after the data */
            if (*p == '\n')
                s->cst = CH_SIZE;
            p++, n--;
            break;
        case CH_DONE:
            return false;
        }
    }
    return true;
}

/* Response head bytes; passes what follows it to body_feed(). */
static bool head_feed(struct sub *s, const char *p, size_t n)
{
    size_t old = s->hdr_len, room = sizeof(s->hdr) - 1 - old, take = n < room ? n : room;
    char *end;

    memcpy(s->hdr + s->hdr_len, p, take);
    s->hdr_len += take;
    s->hdr[s->hdr_len] = '\0';
    end = strstr(s->hdr, "\r\n\r\n");
    if (!end) {
        if (s->hdr_len == sizeof(s->hdr) - 1)
            sub_error(s, "%s", "response head too long");
        return true;
    }
    *end = '\0';
    if (strncmp(s->hdr, "HTTP/1.1 200", 12)) {
        char *eol = strchr(s->hdr, '\r');

        if (eol)
            *eol = '\0';
        sub_error(s, "answer %s", s->hdr);
        return true;
    }
    s->chunked = strcasestr(s->hdr, "\r\ntransfer-encoding: chunked") != NULL;
    s->state = SUB_BODY;
    {
        size_t used = (size_t)(end + 4 - s->hdr) - old;

        return body_feed(s, p + used, n - used);
    }
}

static void sub_io(struct sub *s, uint32_t events, char *buf)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};

    if (s->state == SUB_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);

        getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            sub_error(s, "connect: %s", strerror(err));
            return;
        }
        s->state = SUB_SENDING;
    }
    if (s->state == SUB_SENDING) {
        ssize_t w = send(s->fd, s->req + s->req_off, s->req_len - s->req_off, MSG_NOSIGNAL);

        if (w < 0 && errno != EAGAIN) {
            sub_error(s, "send: %s", strerror(errno));
            return;
        }
        if (w > 0)
            s->req_off += (size_t)w;
        if (s->req_off == s->req_len) {
            s->state = SUB_HEADERS;
            if (epoll_ctl(g_epfd, EPOLL_CTL_MOD, s->fd, &ev))
                die("epoll_ctl");
        }
        return;
    }
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        return;
    {
        ssize_t r = recv(s->fd, buf, READ_BYTES, 0);
        bool more;

        if (r < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            sub_error(s, "recv: %s", strerror(errno));
            return;
        }
        if (r == 0) {
            if (s->state == SUB_BODY && s->ready)
                sub_reconnect(s); /* ended without a last chunk: resume too */
            else
                sub_error(s, "%s", "connection closed before the stream began");
            return;
        }
        g_now_real_us = real_us();
        {
            uint64_t before = g_events;

            if (s->state == SUB_HEADERS)
                more = head_feed(s, buf, (size_t)r);
            else
                more = body_feed(s, buf, (size_t)r);
            if (g_events != before)
                g_last_event_mono = mono_us();
        }
        if (s->state == SUB_FAILED)
            return;
        if (!more)
            sub_reconnect(s);
    }
}

/* ---- producer ---- */

static atomic_int g_prod_running;  /* producer threads not yet done */
static struct timespec g_prod_t0;  /* request k is due at t0 + k * interval */
static atomic_llong g_produced;     /* records acknowledged (200) */
static atomic_llong g_prod_errors;
static int64_t g_prod_start_mono;
static _Atomic int64_t g_prod_end_mono;
static int64_t *g_prod_lat;         /* us per request */
static long g_prod_reqs;

static int prod_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

    if (fd < 0)
        die("socket");
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&g_addr, sizeof(g_addr)))
        die("producer connect");
    return fd;
}

static bool send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        p += w, n -= (size_t)w;
    }
    return true;
}

/* Reads one answer (the head into buf, the body skipped but for its start, which an
 * error prints); returns its status (0 on a broken connection). */
static int read_answer(int fd, char *buf, size_t size, bool *keep)
{
    size_t len = 0, head, body_have;
    unsigned long long body_len;
    char *end, *cl;
    int status;

    for (;;) {
        ssize_t r = recv(fd, buf + len, size - 1 - len, 0);

        if (r <= 0)
            return 0;
        len += (size_t)r;
        buf[len] = '\0';
        if ((end = strstr(buf, "\r\n\r\n")))
            break;
        if (len == size - 1)
            return 0;
    }
    status = atoi(buf + 9);
    *end = '\0';
    head = (size_t)(end + 4 - buf);
    *keep = !strcasestr(buf, "\r\nconnection: close");
    cl = strcasestr(buf, "\r\ncontent-length:");
    if (!cl) { /* rill answers with a length; anything else: read no further */
        *keep = false;
        return status;
    }
    body_len = strtoull(cl + 17, NULL, 10);
    body_have = len - head;
    while (body_have < body_len) {
        char sink[65536];
        ssize_t r = recv(fd, sink, sizeof(sink), 0);

        if (r <= 0)
            return 0;
        if (head + body_have < size - 1) {
            size_t room = size - 1 - head - body_have;
            size_t n = (size_t)r < room ? (size_t)r : room;

            memcpy(buf + head + body_have, sink, n);
            buf[head + body_have + n] = '\0';
        }
        body_have += (size_t)r;
    }
    if (status != 200)
        fprintf(stderr, "sse-fanout: produce answered %d: %s\n", status, end + 4);
    return status;
}

/* Producer thread j of g_producers sends requests j, j + g_producers, ... on its own
 * connection, each when due (at once if the previous answer came late). */
static void *producer(void *arg)
{
    long nreq = g_prod_reqs, j = (long)(intptr_t)arg;
    int64_t interval_ns = (int64_t)g_batch * 1000000000 / g_rate;
    size_t bodycap = (size_t)g_batch * 80 + 64, reqcap = bodycap + 1024; /* ample */
    char *body = malloc(bodycap), *req = malloc(reqcap), ans[16384];
    struct timespec t0 = g_prod_t0, due;
    int fd = prod_connect();
    int64_t end;

    if (!body || !req)
        die("malloc");
    for (long k = j; k < nreq; k += g_producers) {
        int64_t ns = (int64_t)t0.tv_nsec + k * interval_ns, t, sent;
        size_t blen = 0;
        int hlen, status;
        bool keep = true;

        due.tv_sec = t0.tv_sec + (time_t)(ns / 1000000000);
        due.tv_nsec = (long)(ns % 1000000000);
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &due, NULL) == EINTR)
            ;
        t = real_us();
        sent = mono_us();
        blen += (size_t)snprintf(body + blen, bodycap - blen, "{\"records\":[");
        for (int i = 0; i < g_batch; i++)
            blen += (size_t)snprintf(body + blen, bodycap - blen,
                                     "%s{\"partition\":%d,\"value\":{\"t\":%" PRId64 "}}",
                                     i ? "," : "", g_partition, t);
        blen += (size_t)snprintf(body + blen, bodycap - blen, "]}");
        hlen = snprintf(req, reqcap,
                        "POST /topics/%s/messages HTTP/1.1\r\nHost: %s\r\n"
                        "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                        "Content-Length: %zu\r\n\r\n",
                        g_topic, g_host, g_token, blen);
        memcpy(req + hlen, body, blen);
        if (!send_all(fd, req, (size_t)hlen + blen) ||
            !(status = read_answer(fd, ans, sizeof(ans), &keep))) {
            /* not retried: the server may have appended the records */
            fprintf(stderr, "sse-fanout: producer lost its connection\n");
            atomic_fetch_add(&g_prod_errors, 1);
            close(fd);
            fd = prod_connect();
            continue;
        }
        g_prod_lat[k] = mono_us() - sent;
        if (status == 200)
            atomic_fetch_add(&g_produced, g_batch);
        else
            atomic_fetch_add(&g_prod_errors, 1);
        if (!keep) {
            close(fd);
            fd = prod_connect();
        }
    }
    end = mono_us();
    for (int64_t old = atomic_load(&g_prod_end_mono);
         end > old && !atomic_compare_exchange_weak(&g_prod_end_mono, &old, end);)
        ;
    close(fd);
    free(body);
    free(req);
    atomic_fetch_sub(&g_prod_running, 1);
    return NULL;
}

/* ---- CPU ---- */

/* utime + stime of a process in seconds, or -1. */
static double proc_cpu_s(long pid)
{
    char path[64], buf[2048], *p;
    unsigned long long ut, st;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    if (!(f = fopen(path, "r")))
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    if (!(p = strrchr(buf, ')')))
        return -1;
    /* after ')': state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt
     * cmajflt utime(14) stime(15) */
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
               &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* ---- main ---- */

static double hist_pct_ms(double pct)
{
    uint64_t want = (uint64_t)((double)g_lat_n * pct / 100.0), seen = 0;

    if (!g_lat_n)
        return 0;
    if (want >= g_lat_n)
        want = g_lat_n - 1;
    for (int64_t b = 0; b < HIST_BUCKETS; b++) {
        seen += g_hist[b];
        if (seen > want)
            return b < HIST_FINE ? (double)(b * 10 + 5) / 1000.0
                                 : (double)(b - HIST_FINE) + 1000.5;
    }
    return (double)g_lat_max_us / 1000.0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: sse-fanout --addr HOST:PORT --token TOKEN --topic T [--subs N]\n"
            "       [--seconds D] [--rate RECORDS_PER_S] [--batch RECORDS_PER_REQUEST]\n"
            "       [--partition P] [--server-pid PID] [--producers K]\n");
    exit(2);
}

static void parse_addr(const char *s)
{
    const char *colon = strrchr(s, ':');
    char ip[64];

    if (!colon || (size_t)(colon - s) >= sizeof(ip))
        usage();
    memcpy(ip, s, (size_t)(colon - s));
    ip[colon - s] = '\0';
    memset(&g_addr, 0, sizeof(g_addr));
    g_addr.sin_family = AF_INET;
    g_addr.sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, ip, &g_addr.sin_addr) != 1)
        usage();
    snprintf(g_host, sizeof(g_host), "%s", s);
}

static void loop_once(struct epoll_event *evs, int nev, char *buf, int timeout_ms)
{
    int n = epoll_wait(g_epfd, evs, nev, timeout_ms);

    if (n < 0 && errno != EINTR)
        die("epoll_wait");
    for (int i = 0; i < n; i++) {
        struct sub *s = evs[i].data.ptr;

        if (s->state != SUB_FAILED)
            sub_io(s, evs[i].events, buf);
    }
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"addr", required_argument, NULL, 'a'},
        {"token", required_argument, NULL, 'k'},
        {"topic", required_argument, NULL, 't'},
        {"subs", required_argument, NULL, 'n'},
        {"seconds", required_argument, NULL, 'd'},
        {"rate", required_argument, NULL, 'r'},
        {"batch", required_argument, NULL, 'b'},
        {"producers", required_argument, NULL, 'P'},
        {"partition", required_argument, NULL, 'p'},
        {"server-pid", required_argument, NULL, 's'},
        {NULL, 0, NULL, 0},
    };
    struct epoll_event evs[256];
    char *buf;
    struct rlimit rl;
    pthread_t prod[64];
    int64_t t_start, t_wait, t_end, t_cpu, deadline = 0, produced;
    double srv0, srv1, self0, self1, wall_s, prod_s, prod_p99_ms, cores;
    int c, missed = 0, lost = 0;
    uint64_t reconnects = 0, ooo = 0, gaps = 0, no_t = 0;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'a': parse_addr(optarg); break;
        case 'k': g_token = optarg; break;
        case 't': g_topic = optarg; break;
        case 'n': g_nsubs = atoi(optarg); break;
        case 'd': g_seconds = atoi(optarg); break;
        case 'r': g_rate = atoi(optarg); break;
        case 'b': g_batch = atoi(optarg); break;
        case 'p': g_partition = atoi(optarg); break;
        case 's': g_server_pid = atol(optarg); break;
        case 'P': g_producers = atoi(optarg); break;
        default: usage();
        }
    }
    if (!g_host[0] || !g_token || !g_topic || g_nsubs < 1 || g_seconds < 1 || g_rate < 1 ||
        g_batch < 1 || g_batch > g_rate || g_producers < 1 || g_producers > 64)
        usage();

    /* a descriptor per subscriber */
    if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < (rlim_t)g_nsubs + 64) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < (rlim_t)g_nsubs + 64) {
            fprintf(stderr, "sse-fanout: %d subscribers need ulimit -n %d\n", g_nsubs,
                    g_nsubs + 64);
            return 2;
        }
    }

    g_subs = calloc((size_t)g_nsubs, sizeof(*g_subs));
    g_hist = calloc(HIST_BUCKETS, sizeof(*g_hist));
    buf = malloc(READ_BYTES);
    g_prod_reqs = (long)g_rate * g_seconds / g_batch;
    g_prod_lat = calloc((size_t)g_prod_reqs + 1, sizeof(*g_prod_lat));
    if (!g_subs || !g_hist || !buf || !g_prod_lat)
        die("calloc");
    if ((g_epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
        die("epoll_create1");

    /* subscribe, and wait for every retry: line */
    for (int i = 0; i < g_nsubs; i++) {
        g_subs[i].fd = -1;
        sub_connect(&g_subs[i]);
    }
    t_wait = mono_us();
    while (g_ready + g_failed < g_nsubs && mono_us() - t_wait < (int64_t)CONNECT_MS * 1000)
        loop_once(evs, 256, buf, 100);
    if (g_ready < g_nsubs) {
        fprintf(stderr, "sse-fanout: only %d of %d subscribers streaming after %.1f s\n",
                g_ready, g_nsubs, (double)(mono_us() - t_wait) / 1e6);
        return 2;
    }

    /* produce, while the subscribers read */
    srv0 = g_server_pid ? proc_cpu_s(g_server_pid) : -1;
    self0 = self_cpu_s();
    t_start = g_prod_start_mono = mono_us();
    clock_gettime(CLOCK_MONOTONIC, &g_prod_t0);
    atomic_store(&g_prod_running, g_producers);
    for (int j = 0; j < g_producers; j++)
        if (pthread_create(&prod[j], NULL, producer, (void *)(intptr_t)j))
            die("pthread_create");
    for (;;) {
        loop_once(evs, 256, buf, 20);
        if (atomic_load(&g_prod_running))
            continue;
        produced = atomic_load(&g_produced);
        if (!deadline)
            deadline = mono_us() + (int64_t)DRAIN_MS * 1000;
        {
            bool all = true;

            for (int i = 0; i < g_nsubs && all; i++)
                all = g_subs[i].state == SUB_FAILED || g_subs[i].last_id >= produced;
            if (all || mono_us() >= deadline)
                break;
        }
    }
    t_end = g_last_event_mono > t_start ? g_last_event_mono : mono_us();
    srv1 = g_server_pid ? proc_cpu_s(g_server_pid) : -1;
    t_cpu = mono_us();
    self1 = self_cpu_s();
    for (int j = 0; j < g_producers; j++)
        pthread_join(prod[j], NULL);

    for (int i = 0; i < g_nsubs; i++) {
        struct sub *s = &g_subs[i];

        /* every id in order: what a subscriber has is the log's prefix; it misses
         * records if it has not all of them by the deadline (slow), loses them if an
         * id was skipped or repeated, or its stream failed */
        if (s->state == SUB_FAILED || s->out_of_order || s->last_id > produced ||
            s->events != (uint64_t)s->last_id)
            lost++;
        if (s->state == SUB_FAILED || s->last_id != produced || s->out_of_order)
            missed++;
        reconnects += s->reconnects;
        ooo += s->out_of_order;
        gaps += s->gap_events;
        no_t += s->no_t;
    }
    qsort(g_prod_lat, (size_t)g_prod_reqs, sizeof(*g_prod_lat), cmp_i64);

    wall_s = (double)(t_end - t_start) / 1e6;
    prod_s = (double)(g_prod_end_mono - g_prod_start_mono) / 1e6;
    prod_p99_ms = (double)g_prod_lat[(size_t)((double)g_prod_reqs * 0.99)] / 1000.0;
    printf("subs %5d  produced %ld rec in %.2f s (%.0f/s, %d/req on %d conn, p99 %.1f ms)"
           "  delivered %" PRIu64 " events  %.0f events/s  latency p50 %.1f p99 %.1f"
           " max %.1f ms  missed %d",
           g_nsubs, (long)produced, prod_s, (double)produced / prod_s, g_batch, g_producers,
           prod_p99_ms,
           g_events, (double)g_events / wall_s, hist_pct_ms(50), hist_pct_ms(99),
           (double)g_lat_max_us / 1000.0, missed);
    if (missed)
        printf(" (%d behind after %d s, %d lost a record)", missed - lost, DRAIN_MS / 1000,
               lost);
    if (srv0 >= 0 && srv1 >= 0) {
        cores = (srv1 - srv0) / ((double)(t_cpu - t_start) / 1e6);
        printf("  server CPU %.2f cores", cores);
    }
    printf("  client CPU %.2f cores", (self1 - self0) / ((double)(t_cpu - t_start) / 1e6));
    if (reconnects)
        printf("  resumed %" PRIu64, reconnects);
    if (ooo || gaps || no_t)
        printf("  (out of order %" PRIu64 ", gap events %" PRIu64 ", no t %" PRIu64 ")",
               ooo, gaps, no_t);
    if (atomic_load(&g_prod_errors))
        printf("  PRODUCE ERRORS %lld", (long long)atomic_load(&g_prod_errors));
    printf("\n");
    for (int i = 0; i < g_nsubs; i++)
        if (g_subs[i].fd >= 0)
            close(g_subs[i].fd);
    return lost || atomic_load(&g_prod_errors) ? 1 : 0;
}
