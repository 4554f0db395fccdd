/* fuzz_access_log.c: libFuzzer target for the access-log redaction in server/http.c,
 * http_is_token_param() and http_loggable_target().
 *
 * Input: arbitrary bytes. http_is_token_param() gets them all as a raw parameter name,
 * from a heap copy of exactly 'size' bytes (no NUL after it). http_loggable_target()
 * gets them up to the first NUL byte as the request target (libmicrohttpd hands over a
 * C string), from a heap copy of exactly that many bytes plus the NUL. ASan catches
 * any read past either. Properties, else abort():
 *  - http_is_token_param() agrees with the reference below: the name, decoded the way
 *    libmicrohttpd decodes query names ('+' is a space, %XX with two hex digits of
 *    either case is that byte, any other '%' is itself), is "access_token" compared
 *    ASCII case-insensitively;
 *  - in http_loggable_target()'s output, the query (after the first '?') has as many
 *    '&'-separated parameters as the input's, and every one whose name (up to its
 *    first '=') is an access_token spelling per the reference reads exactly
 *    <name>=REDACTED: its value never reaches the log;
 *  - the output is exactly the reference's: path and every other parameter with each
 *    byte <= 0x20 or >= 0x7f, '"' and '\\' written as %XX (upper case), the rest as is;
 *  - the output holds only printable ASCII, never '"' or '\\';
 *  - the same input gives the same output twice.
 * Seeds: fuzz/corpus/fuzz_access_log/. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char redacted[] = "REDACTED";

static int ref_hex(unsigned char c)
{
    static const char digits[] = "0123456789abcdef";
    const char *at;

    if (c >= 'A' && c <= 'F')
        c = (unsigned char)(c - 'A' + 'a');
    at = c ? strchr(digits, c) : NULL;
    return at ? (int)(at - digits) : -1;
}

static unsigned char ref_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c | 0x20) : c;
}

/* The reference reading of the rule: decode the whole name first, then compare. */
static bool ref_is_token(const unsigned char *name, size_t len)
{
    static const char want[] = "access_token";
    unsigned char dec[sizeof(want)];
    size_t n = 0, i = 0;

    while (i < len) {
        unsigned char c = name[i];

        if (n == sizeof(want) - 1)
            return false; /* decodes to something longer */
        if (c == '%' && len - i >= 3 && ref_hex(name[i + 1]) >= 0 &&
            ref_hex(name[i + 2]) >= 0) {
            c = (unsigned char)(ref_hex(name[i + 1]) * 16 + ref_hex(name[i + 2]));
            i += 3;
        } else {
            if (c == '+')
                c = ' ';
            i++;
        }
        dec[n++] = c;
    }
    if (n != sizeof(want) - 1)
        return false;
    for (i = 0; i < n; i++)
        if (ref_lower(dec[i]) != (unsigned char)want[i])
            return false;
    return true;
}

/* Appends s[0..len) as the log should show it; returns the new end of 'out'. */
static char *ref_encode(char *out, const unsigned char *s, size_t len)
{
    static const char upper[] = "0123456789ABCDEF";

    for (size_t i = 0; i < len; i++) {
        unsigned char c = s[i];
        bool safe = c > ' ' && c < 0x7f && c != '"' && c != '\\';

        if (safe) {
            *out++ = (char)c;
        } else {
            *out++ = '%';
            *out++ = upper[c >> 4];
            *out++ = upper[c & 15];
        }
    }
    return out;
}

/* The expected log form of target[0..len); 'out' has room for 3 * len + 16 bytes per
 * parameter beyond. */
static void ref_loggable(char *out, const unsigned char *t, size_t len)
{
    size_t q = 0, start, stop, name_len;

    while (q < len && t[q] != '?')
        q++;
    out = ref_encode(out, t, q);
    if (q < len) {
        *out++ = '?';
        for (start = q + 1;; start = stop + 1) {
            for (stop = start; stop < len && t[stop] != '&'; stop++)
                ;
            for (name_len = 0; start + name_len < stop && t[start + name_len] != '='; name_len++)
                ;
            if (start + name_len < stop && ref_is_token(t + start, name_len)) {
                out = ref_encode(out, t + start, name_len);
                *out++ = '=';
                memcpy(out, redacted, sizeof(redacted) - 1);
                out += sizeof(redacted) - 1;
            } else {
                out = ref_encode(out, t + start, stop - start);
            }
            if (stop == len)
                break;
            *out++ = '&';
        }
    }
    *out = '\0';
}

/* The structural check: each access_token parameter of the input reads REDACTED in the
 * output, found by splitting the output on its own (encoding never writes '?', '&' or
 * '='). */
static void check_redacted(const unsigned char *t, size_t len, const char *log)
{
    const char *lq = strchr(log, '?'), *lp;
    size_t q = 0, start, stop, eq;

    while (q < len && t[q] != '?')
        q++;
    if ((q < len) != (lq != NULL))
        abort();
    if (q == len)
        return;
    lp = lq + 1;
    for (start = q + 1;; start = stop + 1) {
        const char *lend = strchr(lp, '&'), *leq;

        for (stop = start; stop < len && t[stop] != '&'; stop++)
            ;
        if (!lend)
            lend = lp + strlen(lp);
        if ((stop == len) != (*lend == '\0'))
            abort(); /* not the same number of parameters */
        for (eq = start; eq < stop && t[eq] != '='; eq++)
            ;
        if (eq < stop && ref_is_token(t + start, eq - start)) {
            leq = memchr(lp, '=', (size_t)(lend - lp));
            if (!leq || (size_t)(lend - leq - 1) != sizeof(redacted) - 1 ||
                memcmp(leq + 1, redacted, sizeof(redacted) - 1) != 0)
                abort(); /* a token value in the log */
        }
        if (stop == len)
            break;
        lp = lend + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = size ? memchr(data, '\0', size) : NULL;
    size_t tlen = nul ? (size_t)(nul - data) : size;
    char *name = calloc(size ? size : 1, 1), *target = malloc(tlen + 1), *log, *again, *want;

    if (!name || !target)
        abort();
    if (size)
        memcpy(name, data, size);
    if (http_is_token_param(name, size) != ref_is_token(data, size))
        abort();

    memcpy(target, data, tlen);
    target[tlen] = '\0';
    log = http_loggable_target(target);
    again = http_loggable_target(target);
    if (!log || !again || strcmp(log, again) != 0)
        abort();
    for (const char *c = log; *c; c++)
        if (*c <= ' ' || *c >= 0x7f || *c == '"' || *c == '\\')
            abort();
    check_redacted(data, tlen, log);

    want = malloc(3 * tlen + (tlen + 1) * (sizeof(redacted) + 1) + 1);
    if (!want)
        abort();
    ref_loggable(want, data, tlen);
    if (strcmp(log, want) != 0)
        abort();

    free(want);
    free(again);
    free(log);
    free(target);
    free(name);
    return 0;
}
