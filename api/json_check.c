/* json_check.c: strict JSON (RFC 8259) and UTF-8 validation without building a tree.
 *
 * One forward pass with a pointer that never passes 'end' and a stack of
 * JSON_CHECK_MAX_DEPTH flags saying whether each open container is an object. The main
 * loop alternates two states: "a value is expected" (open a container, or scan a
 * scalar) and "a value just ended" (close containers, or take ',' and the next member).
 * The token scanners return the position just past their token, or NULL if it is
 * malformed, so a NULL anywhere means "not JSON"; where and why go in a struct
 * scan_error on the way (json_value_span() reports them). json_check() and
 * json_value_span() share scan_value(), the one copy of the grammar.
 *
 * Speed: string bodies are skipped 8 bytes at a time while they are printable ASCII
 * other than '"' and '\' (a SWAR test on a uint64_t); everything else goes byte by byte.
 *
 * Well-formed UTF-8 is Unicode's table 3-7; anything else (overlongs, surrogates,
 * above U+10FFFF, stray or missing continuation bytes) is rejected:
 *
 *   00..7F | C2..DF 80..BF | E0 A0..BF 80..BF | E1..EC 80..BF 80..BF
 *   ED 80..9F 80..BF | EE..EF 80..BF 80..BF | F0 90..BF 80..BF 80..BF
 *   F1..F3 80..BF 80..BF 80..BF | F4 80..8F 80..BF 80..BF
 */
#include "api/json_check.h"

#include <stdint.h>
#include <string.h>

#include "common/hex.h"

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* Nonzero if some byte of 'w' is below 'n' (exact for n <= 128). */
static inline uint64_t word_has_below(uint64_t w, uint64_t n)
{
    return (w - ONES * n) & ~w & HIGHS;
}

/* Nonzero if some byte of 'w' equals 'c'. */
static inline uint64_t word_has_byte(uint64_t w, uint64_t c)
{
    return word_has_below(w ^ (ONES * c), 1);
}

/* True if all 8 bytes of 'w' may stand unescaped in a string and are ASCII. */
static inline bool word_is_plain(uint64_t w)
{
    uint64_t special =
        w | word_has_below(w, 0x20) | word_has_byte(w, '"') | word_has_byte(w, '\\');

    return (special & HIGHS) == 0;
}

static inline bool byte_is_plain(unsigned char c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

static inline bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static inline const unsigned char *skip_ws(const unsigned char *p,
                                           const unsigned char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

/* Length of the well-formed UTF-8 sequence starting at p (*p >= 0x80), or 0. */
static size_t utf8_sequence(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0], lo = 0x80, hi = 0xBF;
    size_t n, i;

    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0; /* below is overlong */
        else if (c == 0xED)
            hi = 0x9F; /* above is U+D800..DFFF */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90; /* below is overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* above is beyond U+10FFFF */
    } else {
        return 0; /* a continuation byte, C0/C1 (overlong) or F5..FF */
    }
    if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
        return 0;
    for (i = 2; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

/* Where and why a scan failed; the scanners below fill it through fail(). */
struct scan_error {
    const unsigned char *at;
    const char *why;
    bool too_deep;
};

static const unsigned char *fail(struct scan_error *e, const unsigned char *at,
                                 const char *why)
{
    e->at = at;
    e->why = why;
    return NULL;
}

/* The value of the 4 hex digits at p (which has 4 bytes), or -1. */
static long hex4(const unsigned char *p)
{
    long v = 0;

    for (int i = 0; i < 4; i++) {
        int d = hex_digit_value(p[i]);

        if (d < 0)
            return -1;
        v = v << 4 | d;
    }
    return v;
}

/* p is just past a backslash inside a string. A \u escape of a high surrogate must be
 * followed at once by a \u escape of a low surrogate; a lone one of either is invalid. */
static const unsigned char *scan_escape(const unsigned char *p, const unsigned char *end,
                                        struct scan_error *e)
{
    const unsigned char *slash = p - 1;
    long u, low;

    if (p == end)
        return fail(e, end, "unexpected end of input");
    switch (*p) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
        return p + 1;
    case 'u':
        break;
    default:
        return fail(e, slash, "invalid escape");
    }
    if (end - p < 5 || (u = hex4(p + 1)) < 0)
        return fail(e, slash, "invalid \\u escape");
    p += 5;
    if (u < 0xD800 || u > 0xDFFF)
        return p;
    if (u >= 0xDC00)
        return fail(e, slash, "lone surrogate");
    if (end - p < 6 || p[0] != '\\' || p[1] != 'u')
        return fail(e, slash, "lone surrogate");
    low = hex4(p + 2);
    if (low < 0xDC00 || low > 0xDFFF)
        return fail(e, slash, "lone surrogate");
    return p + 6;
}

/* p is just past the opening quote; returns just past the closing one. */
static const unsigned char *scan_string(const unsigned char *p, const unsigned char *end,
                                        struct scan_error *e)
{
    uint64_t w;
    size_t n;

    for (;;) {
        while (end - p >= 8) {
            memcpy(&w, p, 8);
            if (!word_is_plain(w))
                break;
            p += 8;
        }
        while (p < end && byte_is_plain(*p))
            p++;
        if (p == end)
            return fail(e, end, "unexpected end of input");
        if (*p == '"')
            return p + 1;
        if (*p == '\\') {
            p = scan_escape(p + 1, end, e);
            if (!p)
                return NULL;
        } else if (*p < 0x20) {
            return fail(e, p, "control character in string"); /* must be escaped */
        } else {
            n = utf8_sequence(p, end);
            if (!n)
                return fail(e, p, "invalid UTF-8");
            p += n;
        }
    }
}

/* One or more digits. */
static const unsigned char *scan_digits(const unsigned char *p, const unsigned char *end,
                                        struct scan_error *e)
{
    if (p == end || !is_digit(*p))
        return fail(e, p, "invalid number");
    do
        p++;
    while (p < end && is_digit(*p));
    return p;
}

/* number = [ "-" ] ( "0" / 1-9 *DIGIT ) [ "." 1*DIGIT ] [ ( "e" / "E" ) [ "+" / "-" ]
 * 1*DIGIT ]. A digit right after a leading "0" is left for the caller to reject. */
static const unsigned char *scan_number(const unsigned char *p, const unsigned char *end,
                                        struct scan_error *e)
{
    if (*p == '-')
        p++;
    if (p < end && *p == '0')
        p++;
    else if (!(p = scan_digits(p, end, e)))
        return NULL;
    if (p < end && *p == '.' && !(p = scan_digits(p + 1, end, e)))
        return NULL;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        p = scan_digits(p, end, e);
    }
    return p;
}

static const unsigned char *scan_literal(const unsigned char *p, const unsigned char *end,
                                         const char *word, size_t n, struct scan_error *e)
{
    if ((size_t)(end - p) < n || memcmp(p, word, n) != 0)
        return fail(e, p, "invalid literal");
    return p + n;
}

/* A string, number or literal starting at p (p < end). */
static inline const unsigned char *
scan_scalar(const unsigned char *p, const unsigned char *end, struct scan_error *e)
{
    switch (*p) {
    case '"':
        return scan_string(p + 1, end, e);
    case 't':
        return scan_literal(p, end, "true", 4, e);
    case 'f':
        return scan_literal(p, end, "false", 5, e);
    case 'n':
        return scan_literal(p, end, "null", 4, e);
    default:
        if (*p == '-' || is_digit(*p))
            return scan_number(p, end, e);
        return fail(e, p, "unexpected character");
    }
}

/* True for a byte that would continue a number or literal that seems to end before it. */
static bool continues_token(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
           c == '+' || c == '-';
}

/* ws string ws ':' ws, an object member's name, up to where its value starts; adds the
 * whitespace skipped to *space. */
static inline const unsigned char *scan_name(const unsigned char *p,
                                             const unsigned char *end, size_t *space,
                                             bool count, struct scan_error *e)
{
    const unsigned char *q = skip_ws(p, end);

    if (count)
        *space += (size_t)(q - p);
    if (q == end)
        return fail(e, end, "unexpected end of input");
    if (*q != '"')
        return fail(e, q, "expected a member name");
    if (!(p = scan_string(q + 1, end, e)))
        return NULL;
    q = skip_ws(p, end);
    if (count)
        *space += (size_t)(q - p);
    if (q == end)
        return fail(e, end, "unexpected end of input");
    if (*q != ':')
        return fail(e, q, "expected ':'");
    p = skip_ws(q + 1, end);
    if (count)
        *space += (size_t)(p - q - 1);
    return p;
}

/* The one value starting at p (no whitespace before it): returns just past it, or NULL
 * with 'e' filled. If 'count', the number of whitespace bytes inside it goes in
 * *space_out. Always inlined, so that json_check() gets a copy without the counting
 * (a few percent on documents with many small tokens). */
__attribute__((always_inline)) static inline const unsigned char *
scan_value(const unsigned char *p, const unsigned char *end, bool count,
           size_t *space_out, struct scan_error *e)
{
    bool in_object[JSON_CHECK_MAX_DEPTH];
    const unsigned char *q;
    size_t depth = 0, space = 0;

    for (;;) {
        /* a value is expected at p */
        if (p == end)
            return fail(e, end, "unexpected end of input");
        if (*p == '{' || *p == '[') {
            if (depth == JSON_CHECK_MAX_DEPTH) {
                e->too_deep = true;
                return fail(e, p, "nested too deep");
            }
            in_object[depth] = *p == '{';
            q = skip_ws(p + 1, end);
            if (count)
                space += (size_t)(q - p - 1);
            p = q;
            if (p == end)
                return fail(e, end, "unexpected end of input");
            if (*p == (in_object[depth] ? '}' : ']')) {
                p++; /* empty: a whole value */
            } else {
                depth++;
                if (in_object[depth - 1] && !(p = scan_name(p, end, &space, count, e)))
                    return NULL;
                continue;
            }
        } else {
            q = scan_scalar(p, end, e);
            if (!q)
                return NULL;
            if (depth == 0 && *p != '"' && q < end && continues_token(*q))
                return fail(e, q,
                            *p == '-' || is_digit(*p) ? "invalid number"
                                                      : "invalid literal");
            p = q;
        }
        /* a value has ended: close containers until a ',' or the end */
        for (;;) {
            if (depth == 0) {
                *space_out = space;
                return p;
            }
            q = skip_ws(p, end);
            if (count)
                space += (size_t)(q - p);
            p = q;
            if (p == end)
                return fail(e, end, "unexpected end of input");
            if (*p == ',') {
                if (in_object[depth - 1]) {
                    p = scan_name(p + 1, end, &space, count, e);
                    if (!p)
                        return NULL;
                } else {
                    q = skip_ws(p + 1, end);
                    if (count)
                        space += (size_t)(q - p - 1);
                    p = q;
                }
                break;
            }
            if (*p != (in_object[depth - 1] ? '}' : ']'))
                return fail(e, p,
                            in_object[depth - 1] ? "expected ',' or '}'"
                                                 : "expected ',' or ']'");
            depth--;
            p++;
        }
    }
}

bool json_check(const char *data, size_t len)
{
    const unsigned char *p = (const unsigned char *)data, *end;
    struct scan_error e = {0};
    size_t space = 0;

    if (len == 0)
        return false;
    end = p + len;
    p = scan_value(skip_ws(p, end), end, false, &space, &e);
    return p && skip_ws(p, end) == end;
}

size_t json_value_span(const char *data, size_t len, struct json_span *info)
{
    const unsigned char *start = (const unsigned char *)data, *p = NULL;
    struct scan_error e = {NULL, "unexpected end of input", false};
    size_t space = 0;

    if (len > 0)
        p = scan_value(start, start + len, true, &space, &e);
    if (info) {
        memset(info, 0, sizeof(*info));
        if (p) {
            info->space = space;
        } else {
            info->error_at = e.at ? (size_t)(e.at - start) : len;
            info->error = e.why;
            info->too_deep = e.too_deep;
        }
    }
    return p ? (size_t)(p - start) : 0;
}

bool utf8_check(const char *data, size_t len)
{
    const unsigned char *p = (const unsigned char *)data, *end;
    uint64_t w;
    size_t n;

    if (len == 0)
        return true;
    end = p + len;
    while (p < end) {
        if (end - p >= 8) {
            memcpy(&w, p, 8);
            if ((w & HIGHS) == 0) {
                p += 8;
                continue;
            }
        }
        if (*p < 0x80) {
            p++;
            continue;
        }
        n = utf8_sequence(p, end);
        if (!n)
            return false;
        p += n;
    }
    return true;
}
