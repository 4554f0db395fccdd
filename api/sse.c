/* sse.c: server-sent events framing and event ids (see sse.h). */
#include "api/sse.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

void sse_add_data(struct buf *b, const char *data, size_t len)
{
    size_t start = 0;

    buf_addstr(b, "data: ");
    for (size_t i = 0; i < len; i++) {
        if (data[i] != '\r' && data[i] != '\n')
            continue;
        buf_add(b, data + start, i - start);
        buf_addstr(b, "\ndata: ");
        if (data[i] == '\r' && i + 1 < len && data[i + 1] == '\n')
            i++;
        start = i + 1;
    }
    buf_add(b, data + start, len - start);
    buf_addch(b, '\n');
}

/* Parses decimal digits from *s up to a character not a digit; at least one digit,
 * no overflow past INT64_MAX. Advances *s. */
static int parse_digits(const char **s, int64_t *out)
{
    const char *p = *s;
    int64_t v = 0;

    if (*p < '0' || *p > '9')
        return -EINVAL;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (INT64_MAX - (*p - '0')) / 10)
            return -EINVAL;
        v = v * 10 + (*p - '0');
    }
    *s = p;
    *out = v;
    return 0;
}

int sse_parse_offset_id(const char *s, int64_t *offset)
{
    if (strlen(s) > SSE_MAX_ID_LEN || parse_digits(&s, offset) || *s)
        return -EINVAL;
    return 0;
}

int sse_parse_vector_id(const char *s, int64_t *next, int32_t n)
{
    bool *seen;
    int ret = 0;

    if (strlen(s) > SSE_MAX_ID_LEN || !*s)
        return -EINVAL;
    seen = calloc((size_t)n + 1, sizeof(*seen));
    if (!seen)
        return -ENOMEM;
    for (;;) {
        int64_t p, off;

        if (parse_digits(&s, &p) || *s++ != ':' || parse_digits(&s, &off)) {
            ret = -EINVAL;
            break;
        }
        if (p >= n) {
            ret = -ERANGE;
            break;
        }
        if (seen[p]) {
            ret = -EINVAL;
            break;
        }
        seen[p] = true;
        next[p] = off;
        if (!*s)
            break;
        if (*s++ != ',') {
            ret = -EINVAL;
            break;
        }
    }
    free(seen);
    return ret;
}

void sse_add_i64(struct buf *b, int64_t v)
{
    char tmp[24];
    size_t i = sizeof(tmp);
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[--i] = '-';
    buf_add(b, tmp + i, sizeof(tmp) - i);
}

void sse_add_vector_id(struct buf *b, const int64_t *next, int32_t n)
{
    for (int32_t p = 0; p < n; p++) {
        if (p)
            buf_addch(b, ',');
        sse_add_i64(b, p);
        buf_addch(b, ':');
        sse_add_i64(b, next[p]);
    }
}
