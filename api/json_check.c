/* json_check.c: strict JSON (RFC 8259) and UTF-8 validation without building a tree.
 *
 * One forward pass with a pointer that never passes 'end' and a stack of
 * JSON_CHECK_MAX_DEPTH flags saying whether each open container is an object. The main
 * loop alternates two states: "a value is expected" (open a container, or scan a
 * scalar) and "a value just ended" (close containers, or take ',' and the next member).
 * The token scanners return the position just past their token, or NULL if it is
 * malformed, so a NULL anywhere means "not JSON".
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
static const unsigned char *scan_escape(const unsigned char *p, const unsigned char *end)
{
    long u, low;

    if (p == end)
        return NULL;
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
        return NULL;
    }
    if (end - p < 5 || (u = hex4(p + 1)) < 0)
        return NULL;
    p += 5;
    if (u < 0xD800 || u > 0xDFFF)
        return p;
    if (u >= 0xDC00)
        return NULL;
    if (end - p < 6 || p[0] != '\\' || p[1] != 'u')
        return NULL;
    low = hex4(p + 2);
    if (low < 0xDC00 || low > 0xDFFF)
        return NULL;
    return p + 6;
}

/* p is just past the opening quote; returns just past the closing one. */
static const unsigned char *scan_string(const unsigned char *p, const unsigned char *end)
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
            return NULL;
        if (*p == '"')
            return p + 1;
        if (*p == '\\') {
            p = scan_escape(p + 1, end);
            if (!p)
                return NULL;
        } else if (*p < 0x20) {
            return NULL; /* control characters must be escaped */
        } else {
            n = utf8_sequence(p, end);
            if (!n)
                return NULL;
            p += n;
        }
    }
}

/* One or more digits. */
static const unsigned char *scan_digits(const unsigned char *p, const unsigned char *end)
{
    if (p == end || !is_digit(*p))
        return NULL;
    do
        p++;
    while (p < end && is_digit(*p));
    return p;
}

/* number = [ "-" ] ( "0" / 1-9 *DIGIT ) [ "." 1*DIGIT ] [ ( "e" / "E" ) [ "+" / "-" ]
 * 1*DIGIT ]. A digit right after a leading "0" is left for the caller to reject. */
static const unsigned char *scan_number(const unsigned char *p, const unsigned char *end)
{
    if (*p == '-')
        p++;
    if (p < end && *p == '0')
        p++;
    else if (!(p = scan_digits(p, end)))
        return NULL;
    if (p < end && *p == '.' && !(p = scan_digits(p + 1, end)))
        return NULL;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        p = scan_digits(p, end);
    }
    return p;
}

static const unsigned char *scan_literal(const unsigned char *p, const unsigned char *end,
                                         const char *word, size_t n)
{
    if ((size_t)(end - p) < n || memcmp(p, word, n) != 0)
        return NULL;
    return p + n;
}

/* A string, number or literal starting at p (p < end). */
static const unsigned char *scan_scalar(const unsigned char *p, const unsigned char *end)
{
    switch (*p) {
    case '"':
        return scan_string(p + 1, end);
    case 't':
        return scan_literal(p, end, "true", 4);
    case 'f':
        return scan_literal(p, end, "false", 5);
    case 'n':
        return scan_literal(p, end, "null", 4);
    default:
        return *p == '-' || is_digit(*p) ? scan_number(p, end) : NULL;
    }
}

/* ws string ws ':', an object member's name, up to where its value may start. */
static const unsigned char *scan_name(const unsigned char *p, const unsigned char *end)
{
    p = skip_ws(p, end);
    if (p == end || *p != '"' || !(p = scan_string(p + 1, end)))
        return NULL;
    p = skip_ws(p, end);
    if (p == end || *p != ':')
        return NULL;
    return p + 1;
}

bool json_check(const char *data, size_t len)
{
    const unsigned char *p = (const unsigned char *)data, *end;
    bool in_object[JSON_CHECK_MAX_DEPTH];
    size_t depth = 0;

    if (len == 0)
        return false;
    end = p + len;
    for (;;) {
        /* a value is expected */
        p = skip_ws(p, end);
        if (p == end)
            return false;
        if (*p == '{' || *p == '[') {
            if (depth == JSON_CHECK_MAX_DEPTH)
                return false;
            in_object[depth] = *p == '{';
            p = skip_ws(p + 1, end);
            if (p == end)
                return false;
            if (*p == (in_object[depth] ? '}' : ']')) {
                p++; /* empty: a whole value */
            } else {
                depth++;
                if (in_object[depth - 1] && !(p = scan_name(p, end)))
                    return false;
                continue;
            }
        } else if (!(p = scan_scalar(p, end))) {
            return false;
        }
        /* a value has ended: close containers until a ',' or the end */
        for (;;) {
            p = skip_ws(p, end);
            if (depth == 0)
                return p == end;
            if (p == end)
                return false;
            if (*p == ',') {
                p++;
                if (in_object[depth - 1] && !(p = scan_name(p, end)))
                    return false;
                break;
            }
            if (*p != (in_object[depth - 1] ? '}' : ']'))
                return false;
            depth--;
            p++;
        }
    }
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
