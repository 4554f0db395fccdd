/* fuzz_sse.c: libFuzzer target for api/sse.c, the parsers of the event ids a client
 * sends back (Last-Event-ID, ?last_event_id=) and the framing of data lines.
 *
 * Input: u8 n (partitions: n % 9), then the rest as a NUL-free string s (cut at the
 * first NUL, as the server never hands one to the API). Properties, else abort():
 *  - sse_parse_offset_id(s) accepts exactly the non-empty all-digit strings whose
 *    value fits in int64 (and the length limit), with that value;
 *  - sse_parse_vector_id(s, next, n) accepts exactly what a separate model accepts
 *    ("P:N" pairs joined by ',', digits only, P < n, no P twice; -ERANGE for a P >= n
 *    where the text is otherwise well formed up to it), sets exactly the named
 *    entries, and an accepted id printed back by sse_add_vector_id() (when it names
 *    every partition in order) is the same text up to leading zeros;
 *  - sse_add_data(s) makes lines that each start with "data: " and hold no CR or LF,
 *    and joining their values with LF gives s with CRLF and CR turned into LF (what
 *    an EventSource reads back).
 * Seeds: fuzz/corpus/fuzz_sse/. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/sse.h"
#include "common/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Model: digits of s[*i..], at least one, value in int64; advances *i. */
static bool model_number(const char *s, size_t len, size_t *i, int64_t *v)
{
    uint64_t acc = 0;
    size_t start = *i;

    while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
        if (__builtin_mul_overflow(acc, 10, &acc) ||
            __builtin_add_overflow(acc, (uint64_t)(s[*i] - '0'), &acc) ||
            acc > (uint64_t)INT64_MAX)
            return false;
        (*i)++;
    }
    *v = (int64_t)acc;
    return *i > start;
}

/* Model of the vector id: 0, -EINVAL or -ERANGE, filling want[] and named[]. */
static int model_vector(const char *s, size_t len, int32_t n, int64_t *want, bool *named)
{
    size_t i = 0;

    if (len == 0 || len > SSE_MAX_ID_LEN)
        return -EINVAL;
    for (;;) {
        int64_t p, off;

        if (!model_number(s, len, &i, &p) || i >= len || s[i++] != ':' ||
            !model_number(s, len, &i, &off))
            return -EINVAL;
        if (p >= n)
            return -ERANGE;
        if (named[p])
            return -EINVAL;
        named[p] = true;
        want[p] = off;
        if (i == len)
            return 0;
        if (s[i++] != ',')
            return -EINVAL;
    }
}

static void check_offset_id(const char *s, size_t len)
{
    int64_t got = -1, want = -1;
    size_t i = 0;
    bool ok = len <= SSE_MAX_ID_LEN && model_number(s, len, &i, &want) && i == len;
    int r = sse_parse_offset_id(s, &got);

    if ((r == 0) != ok || (ok && got != want))
        abort();
}

static void check_vector_id(const char *s, size_t len, int32_t n)
{
    int64_t got[9], want[9];
    bool named[9] = {false};
    int r, m;

    for (int i = 0; i < 9; i++)
        got[i] = want[i] = -7;
    m = model_vector(s, len, n, want, named);
    r = sse_parse_vector_id(s, got, n);
    if (r != m)
        abort();
    if (r)
        return;
    for (int32_t p = 0; p < 9; p++)
        if (got[p] != want[p])
            abort();
    /* printed back: the same pairs, in partition order */
    {
        bool all = true;
        struct buf b = BUF_INIT;
        int64_t again[9];

        for (int32_t p = 0; p < n; p++)
            all = all && named[p];
        if (!all)
            return;
        sse_add_vector_id(&b, got, n);
        for (int i = 0; i < 9; i++)
            again[i] = -7;
        if (sse_parse_vector_id(b.data, again, n) || memcmp(again, got, sizeof(got)))
            abort();
        buf_release(&b);
    }
}

static void check_data(const char *s, size_t len)
{
    struct buf b = BUF_INIT, joined = BUF_INIT, want = BUF_INIT;
    size_t at = 0;

    sse_add_data(&b, s, len);
    if (b.len == 0 || b.data[b.len - 1] != '\n')
        abort();
    while (at < b.len) {
        char *eol = memchr(b.data + at, '\n', b.len - at);

        if (!eol || (size_t)(eol - (b.data + at)) < 6 || memcmp(b.data + at, "data: ", 6))
            abort();
        if (memchr(b.data + at, '\r', (size_t)(eol - (b.data + at))))
            abort();
        if (at)
            buf_addch(&joined, '\n');
        buf_add(&joined, b.data + at + 6, (size_t)(eol - (b.data + at)) - 6);
        at = (size_t)(eol - b.data) + 1;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\r') {
            buf_addch(&want, '\n');
            if (i + 1 < len && s[i + 1] == '\n')
                i++;
        } else {
            buf_addch(&want, s[i]);
        }
    }
    if (joined.len != want.len || memcmp(joined.data, want.data, want.len))
        abort();
    buf_release(&b);
    buf_release(&joined);
    buf_release(&want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int32_t n;
    size_t len;
    char *s;

    if (size < 1)
        return 0;
    n = data[0] % 9;
    len = strnlen((const char *)data + 1, size - 1);
    s = xmalloc(len + 1); /* exactly: ASan sees a read past the end */
    memcpy(s, data + 1, len);
    s[len] = '\0';
    check_offset_id(s, len);
    check_vector_id(s, len, n);
    check_data(s, len);
    free(s);
    return 0;
}
