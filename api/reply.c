/* reply.c: JSON bodies, problem documents and the errno -> HTTP status table. */
#include "api/reply.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void json_add_string(struct buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0;

    buf_grow(b, len + 2);
    buf_addch(b, '"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        buf_add(b, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"':
            buf_add(b, "\\\"", 2);
            break;
        case '\\':
            buf_add(b, "\\\\", 2);
            break;
        case '\n':
            buf_add(b, "\\n", 2);
            break;
        case '\r':
            buf_add(b, "\\r", 2);
            break;
        case '\t':
            buf_add(b, "\\t", 2);
            break;
        default: {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            buf_add(b, e, sizeof(e));
        }
        }
    }
    buf_add(b, s + run, len - run);
    buf_addch(b, '"');
}

void reply_json(struct api_response *resp, int status, struct buf *body)
{
    resp->status = status;
    resp->content_type = "application/json";
    buf_release(&resp->body);
    resp->body = *body;
    buf_init(body);
}

static const char *status_title(int status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 507: return "Insufficient Storage";
    }
    return "Error";
}

void reply_problem(struct api_response *resp, int status, const char *code,
                   const char *extra, const char *fmt, ...)
{
    struct buf detail = BUF_INIT;
    va_list ap;

    va_start(ap, fmt);
    buf_vprintf(&detail, fmt, ap);
    va_end(ap);
    resp->status = status;
    resp->content_type = "application/problem+json";
    buf_reset(&resp->body);
    buf_printf(&resp->body, "{\"type\":\"about:blank\",\"title\":\"%s\",\"status\":%d,"
                            "\"detail\":",
               status_title(status), status);
    json_add_string(&resp->body, detail.data, detail.len);
    buf_printf(&resp->body, ",\"code\":\"%s\"%s}", code, extra ? extra : "");
    buf_release(&detail);
}

void reply_errno(struct api_response *resp, int err, const char *what)
{
    switch (err) {
    case -ENOSPC:
        reply_problem(resp, 507, "disk_full", NULL, "%s: the disk is full", what);
        break;
    case -EROFS:
    case -EIO:
        reply_problem(resp, 503, "read_only", NULL,
                      "%s: the partition is read-only after a disk error", what);
        break;
    case -EBADMSG:
        reply_problem(resp, 503, "corrupt_data", NULL,
                      "%s: the data there is corrupt and is not served", what);
        break;
    case -EMSGSIZE:
        reply_problem(resp, 413, "message_too_large", NULL, "%s: too large", what);
        break;
    case -ENOENT:
        reply_problem(resp, 404, "not_found", NULL, "%s: not found", what);
        break;
    default:
        reply_problem(resp, 500, "internal_error", NULL, "%s: %s", what, strerror(-err));
    }
}
