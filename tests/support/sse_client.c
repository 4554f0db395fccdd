/* sse_client.c: see sse_client.h. */
#include "tests/support/sse_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"

static int connect_to(const char *addr, int rcvbuf)
{
    char host[64];
    const char *colon = strrchr(addr, ':');
    struct sockaddr_in sa = {.sin_family = AF_INET};
    int fd;

    if (!colon || (size_t)(colon - addr) >= sizeof(host))
        return -EINVAL;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    sa.sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return -EINVAL;
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

/* Reads what the socket has into c->raw, waiting up to 'timeout_ms'. Returns 1 (got
 * bytes), 0 (closed), -ETIMEDOUT. */
static int read_some(struct sse_client *c, int timeout_ms)
{
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    ssize_t n;
    int r;

    if (c->eof)
        return 0;
    do {
        r = poll(&p, 1, timeout_ms);
    } while (r < 0 && errno == EINTR);
    if (r == 0)
        return -ETIMEDOUT;
    buf_grow(&c->raw, 65536);
    n = read(c->fd, c->raw.data + c->raw.len, 65536);
    if (n <= 0) {
        c->eof = true;
        return 0;
    }
    c->raw.len += (size_t)n;
    c->raw.data[c->raw.len] = '\0';
    return 1;
}

/* Moves whole chunks (or everything, unchunked) from raw to body. */
static void dechunk(struct sse_client *c)
{
    size_t at = 0;

    if (!c->chunked) {
        buf_add(&c->body, c->raw.data, c->raw.len);
        buf_reset(&c->raw);
        return;
    }
    while (!c->done) {
        char *eol = memmem(c->raw.data + at, c->raw.len - at, "\r\n", 2);
        unsigned long size;

        if (!eol)
            break;
        size = strtoul(c->raw.data + at, NULL, 16);
        if ((size_t)(eol + 2 - c->raw.data) + size + 2 > c->raw.len)
            break;
        if (size == 0) {
            c->done = true;
            at = c->raw.len;
            break;
        }
        buf_add(&c->body, eol + 2, size);
        at = (size_t)(eol + 2 - c->raw.data) + size + 2;
    }
    memmove(c->raw.data, c->raw.data + at, c->raw.len - at);
    buf_truncate(&c->raw, c->raw.len - at);
}

int sse_open(struct sse_client *c, const char *addr, const char *path,
             const char *const *headers, int rcvbuf)
{
    struct buf req = BUF_INIT;
    int64_t deadline = clock_mono_ms() + 20000;
    char *end;
    int r;

    memset(c, 0, sizeof(*c));
    buf_init(&c->head);
    buf_init(&c->raw);
    buf_init(&c->body);
    c->fd = connect_to(addr, rcvbuf);
    if (c->fd < 0)
        return c->fd;
    buf_printf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n", path,
               addr);
    for (size_t i = 0; headers && headers[i]; i++)
        buf_printf(&req, "%s\r\n", headers[i]);
    buf_addstr(&req, "\r\n");
    r = (int)write(c->fd, req.data, req.len);
    buf_release(&req);
    if (r < 0)
        return -errno;
    while (!(end = strstr(c->raw.data, "\r\n\r\n"))) {
        r = read_some(c, (int)(deadline - clock_mono_ms()));
        if (r <= 0)
            return r ? r : -ECONNRESET;
    }
    buf_add(&c->head, c->raw.data, (size_t)(end + 4 - c->raw.data));
    memmove(c->raw.data, end + 4, c->raw.len - c->head.len);
    buf_truncate(&c->raw, c->raw.len - c->head.len);
    c->status = atoi(c->head.data + 9);
    {
        char *te = sse_header(c, "Transfer-Encoding");
        c->chunked = te && !strcasecmp(te, "chunked");
        free(te);
    }
    if (c->status != 200) { /* an error document: read it whole */
        char *cl = sse_header(c, "Content-Length");
        size_t want = cl ? strtoul(cl, NULL, 10) : 0;

        free(cl);
        while (c->raw.len < want && read_some(c, (int)(deadline - clock_mono_ms())) > 0)
            ;
        dechunk(c);
    }
    return c->status;
}

char *sse_header(const struct sse_client *c, const char *name)
{
    size_t n = strlen(name);

    for (const char *l = strstr(c->head.data, "\r\n"); l && l[2]; l = strstr(l + 2, "\r\n")) {
        const char *v = l + 2;

        if (!strncasecmp(v, name, n) && v[n] == ':') {
            const char *e = strstr(v, "\r\n");

            v += n + 1;
            while (*v == ' ')
                v++;
            return strndup(v, (size_t)(e - v));
        }
    }
    return NULL;
}

/* One event from body[parsed..) if a whole one (ended by a blank line) is there. */
static bool parse_event(struct sse_client *c, struct sse_event *ev)
{
    const char *start = c->body.data + c->parsed, *end = c->body.data + c->body.len;
    const char *blank = memmem(start, (size_t)(end - start), "\n\n", 2);
    bool any_data = false;

    if (!blank)
        return false;
    ev->id[0] = '\0';
    ev->has_id = false;
    snprintf(ev->event, sizeof(ev->event), "message");
    buf_reset(&ev->data);
    ev->comment = false;
    ev->retry = -1;
    for (const char *l = start; l <= blank;) {
        const char *eol = memchr(l, '\n', (size_t)(end - l));
        const char *colon = memchr(l, ':', (size_t)(eol - l));
        const char *v = colon ? colon + 1 : eol;
        size_t flen = (size_t)((colon ? colon : eol) - l), vlen;

        if (v < eol && *v == ' ')
            v++;
        vlen = (size_t)(eol - v);
        if (flen == 0 && colon) { /* a comment */
            ev->comment = true;
            buf_add(&ev->data, v, vlen);
        } else if (flen == 2 && !memcmp(l, "id", 2)) {
            snprintf(ev->id, sizeof(ev->id), "%.*s", (int)vlen, v);
            ev->has_id = true;
        } else if (flen == 5 && !memcmp(l, "event", 5)) {
            snprintf(ev->event, sizeof(ev->event), "%.*s", (int)vlen, v);
        } else if (flen == 4 && !memcmp(l, "data", 4)) {
            if (any_data)
                buf_addch(&ev->data, '\n');
            buf_add(&ev->data, v, vlen);
            any_data = true;
        } else if (flen == 5 && !memcmp(l, "retry", 5)) {
            ev->retry = strtol(v, NULL, 10);
        }
        l = eol + 1;
    }
    c->parsed = (size_t)(blank + 2 - c->body.data);
    if (c->parsed > 1 << 20) { /* keep the body short */
        memmove(c->body.data, c->body.data + c->parsed, c->body.len - c->parsed);
        buf_truncate(&c->body, c->body.len - c->parsed);
        c->parsed = 0;
    }
    return true;
}

int sse_next(struct sse_client *c, struct sse_event *ev, int timeout_ms)
{
    int64_t deadline = clock_mono_ms() + timeout_ms;

    if (!ev->data.data)
        buf_init(&ev->data);
    for (;;) {
        int r;

        dechunk(c);
        if (parse_event(c, ev))
            return 1;
        if (c->done)
            return 0;
        r = read_some(c, (int)(deadline - clock_mono_ms()));
        if (r == 0) {
            dechunk(c);
            return parse_event(c, ev) ? 1 : 0;
        }
        if (r < 0 || clock_mono_ms() >= deadline)
            return -ETIMEDOUT;
    }
}

int sse_next_event(struct sse_client *c, struct sse_event *ev, int timeout_ms)
{
    int r;

    while ((r = sse_next(c, ev, timeout_ms)) == 1)
        if (!ev->comment && (ev->data.len || ev->has_id))
            return 1;
    return r;
}

void sse_event_release(struct sse_event *ev)
{
    if (ev->data.data)
        buf_release(&ev->data);
}

void sse_close(struct sse_client *c)
{
    if (c->fd > 0)
        close(c->fd);
    c->fd = -1;
    buf_release(&c->head);
    buf_release(&c->raw);
    buf_release(&c->body);
}
