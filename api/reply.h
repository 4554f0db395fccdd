/* reply.h: answers: JSON bodies, RFC 9457 problem documents with a stable 'code', and
 * the one table from errno to HTTP status. */
#ifndef API_REPLY_H
#define API_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include "api/api.h"

/* Appends 's' (len bytes, assumed UTF-8) as a JSON string, quotes included. */
void json_add_string(struct buf *b, const char *s, size_t len);
static inline void json_add_cstr(struct buf *b, const char *s)
{
    json_add_string(b, s, __builtin_strlen(s));
}

/* 200 (or 'status') with a JSON body taken from 'body' (left empty). */
void reply_json(struct api_response *resp, int status, struct buf *body);
/* A problem document: 'code' is the stable machine-readable reason, 'detail' the
 * human one (it names the field at fault). Extra members may be appended by passing
 * 'extra' as JSON text starting with ',' (or NULL). */
void reply_problem(struct api_response *resp, int status, const char *code,
                   const char *extra, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* A problem for a storage error (-ENOSPC 507, -EROFS/-EIO 503, ...). */
void reply_errno(struct api_response *resp, int err, const char *what);

#endif
