/* envelope.c: the produce envelope {"records":[...]} in one forward pass (envelope.h).
 *
 * The envelope's own structure (the outer object, the array, each record's fields and
 * headers) is walked here; every token inside it, from a field name to a whole value,
 * is measured and validated by json_value_span(), the same grammar as json_check().
 * What a token decodes to is then taken from bytes already known to be valid, so the
 * decoders below (unescape, compact) check nothing.
 *
 * Memory: one array of records grown by doubling, and an arena of chained blocks for
 * what cannot point into the body (unescaped strings, compacted values, decoded
 * base64, header arrays). Blocks never move, so earlier pointers stay valid; a block
 * is twice the size of the one before, up to ARENA_MAX_BLOCK. A body of plain records
 * without escapes or whitespace inside values uses no arena at all.
 *
 * Contents:
 *   arena           arena_alloc(), arena_trim()
 *   errors          fail(), syntax(), show_name()
 *   decoders        unescape(), compact(), decode_base64()
 *   tokens          skip_ws(), expect(), take_string(), take_null(), take_int()
 *   records         parse_headers(), parse_field(), parse_record()
 *   the envelope    parse_records(), parse_body(), envelope_parse()
 */
#include "api/envelope.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/json_check.h"
#include "common/hex.h"
#include "common/xalloc.h"

#define ARENA_MIN_BLOCK 4096
#define ARENA_MAX_BLOCK (1u << 20)
#define ARENA_ALIGN 8       /* enough for struct record_header */
#define NAME_SHOWN_MAX 64   /* bytes of a field or header name quoted in a detail */
#define FIRST_RECORDS 16    /* first capacity of the records array */
#define HEADERS_PAIRWISE 16 /* up to this many headers, duplicates are found pairwise */

struct envelope_block {
    struct envelope_block *next; /* older */
    size_t size, used;
    /* then 'size' bytes, ARENA_ALIGN-aligned (xmalloc's alignment, header of 24) */
};

enum field {
    FIELD_KEY,
    FIELD_KEY_BASE64,
    FIELD_VALUE,
    FIELD_VALUE_BASE64,
    FIELD_HEADERS,
    FIELD_PARTITION,
    FIELD_TIMESTAMP,
    FIELD_UNKNOWN,
};

static const char *const field_names[] = {
    [FIELD_KEY] = "key",
    [FIELD_KEY_BASE64] = "key_base64",
    [FIELD_VALUE] = "value",
    [FIELD_VALUE_BASE64] = "value_base64",
    [FIELD_HEADERS] = "headers",
    [FIELD_PARTITION] = "partition",
    [FIELD_TIMESTAMP] = "timestamp",
};

struct parser {
    const unsigned char *start, *p, *end;
    size_t max_records;
    struct envelope *env;
    struct envelope_error *err;
    struct record_header *scratch; /* the headers object being read */
    size_t scratch_cap;
};

/* ---- arena ---- */

static unsigned char *block_data(struct envelope_block *b)
{
    return (unsigned char *)(b + 1);
}

/* n bytes (n may be 0; the pointer is never NULL) that stay put until release. */
static void *arena_alloc(struct envelope *env, size_t n, size_t align)
{
    struct envelope_block *b = env->blocks;
    size_t size;

    if (b) {
        size_t at = (b->used + align - 1) & ~(align - 1);

        if (at <= b->size && b->size - at >= n) {
            b->used = at + n;
            return block_data(b) + at;
        }
    }
    size = ARENA_MIN_BLOCK;
    if (b)
        size = b->size < ARENA_MAX_BLOCK / 2 ? b->size * 2 : ARENA_MAX_BLOCK;
    if (size < n)
        size = n;
    b = xmalloc(sizeof(*b) + size);
    b->next = env->blocks;
    b->size = size;
    b->used = n;
    env->blocks = b;
    return block_data(b);
}

/* Shrinks the latest allocation 'mem' to its first n bytes. */
static void arena_trim(struct envelope *env, void *mem, size_t n)
{
    struct envelope_block *b = env->blocks;

    b->used = (size_t)((unsigned char *)mem - block_data(b)) + n;
}

/* ---- errors ---- */

__attribute__((format(printf, 4, 5))) static bool
fail(struct parser *ps, int status, const char *code, const char *fmt, ...)
{
    va_list ap;

    ps->err->status = status;
    ps->err->code = code;
    va_start(ap, fmt);
    vsnprintf(ps->err->detail, sizeof(ps->err->detail), fmt, ap);
    va_end(ap);
    return false;
}

static bool syntax(struct parser *ps, const unsigned char *at, const char *why)
{
    return fail(ps, 400, "invalid_json", "the body is not valid JSON: %s at byte %zu",
                why, (size_t)(at - ps->start));
}

/* A syntax error from json_value_span() on the token at ps->p. */
static bool syntax_span(struct parser *ps, const struct json_span *info)
{
    return syntax(ps, ps->p + info->error_at, info->error);
}

/* The syntax error for an unexpected byte at ps->p (or the end). */
static bool unexpected(struct parser *ps, const char *expected)
{
    if (ps->p == ps->end)
        return syntax(ps, ps->p, "unexpected end of input");
    return syntax(ps, ps->p, expected);
}

/* Name s[0..n) (valid UTF-8) for a detail: at most NAME_SHOWN_MAX bytes, cut before a
 * sequence that does not fit, "..." if cut, control characters as '?'. */
static const char *show_name(char *out, size_t size, const uint8_t *s, size_t n)
{
    size_t i = 0, o = 0, seq;

    while (i < n) {
        seq = s[i] < 0x80 ? 1 : s[i] < 0xE0 ? 2 : s[i] < 0xF0 ? 3 : 4;
        if (o + seq > NAME_SHOWN_MAX || o + seq + 4 > size)
            break;
        if (seq == 1 && (s[i] < 0x20 || s[i] == 0x7F))
            out[o] = '?';
        else
            memcpy(out + o, s + i, seq);
        o += seq;
        i += seq;
    }
    if (i < n) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

/* ---- decoders (of bytes json_value_span() accepted) ---- */

static bool is_ws(unsigned char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static uint32_t hex4(const unsigned char *p)
{
    uint32_t v = 0;

    for (int i = 0; i < 4; i++)
        v = v << 4 | (uint32_t)hex_digit_value(p[i]);
    return v;
}

static size_t put_utf8(uint8_t *o, uint32_t u)
{
    if (u < 0x80) {
        o[0] = (uint8_t)u;
        return 1;
    }
    if (u < 0x800) {
        o[0] = (uint8_t)(0xC0 | u >> 6);
        o[1] = (uint8_t)(0x80 | (u & 0x3F));
        return 2;
    }
    if (u < 0x10000) {
        o[0] = (uint8_t)(0xE0 | u >> 12);
        o[1] = (uint8_t)(0x80 | (u >> 6 & 0x3F));
        o[2] = (uint8_t)(0x80 | (u & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | u >> 18);
    o[1] = (uint8_t)(0x80 | (u >> 12 & 0x3F));
    o[2] = (uint8_t)(0x80 | (u >> 6 & 0x3F));
    o[3] = (uint8_t)(0x80 | (u & 0x3F));
    return 4;
}

/* A valid string body s[0..end) unescaped into dst (end - s bytes at most). */
static size_t unescape(uint8_t *dst, const unsigned char *s, const unsigned char *end)
{
    uint8_t *o = dst;
    const unsigned char *bs;
    uint32_t u;

    while ((bs = memchr(s, '\\', (size_t)(end - s)))) {
        memcpy(o, s, (size_t)(bs - s));
        o += bs - s;
        s = bs + 2;
        switch (bs[1]) {
        case 'b':
            *o++ = '\b';
            break;
        case 'f':
            *o++ = '\f';
            break;
        case 'n':
            *o++ = '\n';
            break;
        case 'r':
            *o++ = '\r';
            break;
        case 't':
            *o++ = '\t';
            break;
        case 'u':
            u = hex4(s);
            s += 4;
            if (u >= 0xD800 && u < 0xDC00) { /* a high surrogate, then \u and a low one */
                u = 0x10000 + ((u - 0xD800) << 10) + (hex4(s + 2) - 0xDC00);
                s += 6;
            }
            o += put_utf8(o, u);
            break;
        default: /* '"', '\\', '/' */
            *o++ = bs[1];
        }
    }
    memcpy(o, s, (size_t)(end - s));
    return (size_t)(o - dst) + (size_t)(end - s);
}

/* A valid value s[0..end) without the whitespace outside its strings, into dst. */
static size_t compact(uint8_t *dst, const unsigned char *s, const unsigned char *end)
{
    uint8_t *o = dst;
    unsigned char c;

    while (s < end) {
        c = *s++;
        if (is_ws(c))
            continue;
        *o++ = c;
        if (c != '"')
            continue;
        do { /* a string, verbatim */
            c = *s++;
            *o++ = c;
            if (c == '\\')
                *o++ = *s++;
        } while (c != '"');
    }
    return (size_t)(o - dst);
}

/* Standard or URL-safe base64, padding optional, into the arena. The alphabet is
 * checked here, and it and the padding pick the one libsodium variant that can accept
 * the text, so this accepts exactly what trying all four variants would. */
static bool decode_base64(struct envelope *env, const uint8_t *s, size_t n,
                          const uint8_t **out, int32_t *out_len)
{
    size_t cap = n / 4 * 3 + 3, got;
    bool urlsafe = false, padded = n > 0 && s[n - 1] == '=';
    const char *b64_end;
    uint8_t *bin;
    int variant;

    /* libsodium 1.0.18 takes bytes >= 0x80 as digits: only the base64 alphabets pass */
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];

        if (c == '-' || c == '_')
            urlsafe = true;
        else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                   (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '='))
            return false;
    }
    /* without a final '=' the no-padding variants accept a superset of the others */
    if (urlsafe)
        variant = padded ? sodium_base64_VARIANT_URLSAFE
                         : sodium_base64_VARIANT_URLSAFE_NO_PADDING;
    else
        variant = padded ? sodium_base64_VARIANT_ORIGINAL
                         : sodium_base64_VARIANT_ORIGINAL_NO_PADDING;
    bin = arena_alloc(env, cap, 1);
    if (sodium_base642bin(bin, cap, (const char *)s, n, NULL, &got, &b64_end, variant) ||
        b64_end != (const char *)s + n) {
        arena_trim(env, bin, 0);
        return false;
    }
    arena_trim(env, bin, got);
    *out = bin;
    *out_len = (int32_t)got;
    return true;
}

/* ---- tokens ---- */

static void skip_ws(struct parser *ps)
{
    while (ps->p < ps->end && is_ws(*ps->p))
        ps->p++;
}

/* True if c can start a JSON value: then a value of the wrong type is a semantic error,
 * anything else a syntax error. */
static bool starts_value(unsigned char c)
{
    return c == '{' || c == '[' || c == '"' || c == '-' || (c >= '0' && c <= '9') ||
           c == 't' || c == 'f' || c == 'n';
}

/* Skips whitespace, the byte c and whitespace again; a syntax error if c is not there
 * or nothing follows it. */
static bool expect(struct parser *ps, unsigned char c, const char *why)
{
    skip_ws(ps);
    if (ps->p == ps->end || *ps->p != c)
        return unexpected(ps, why);
    ps->p++;
    skip_ws(ps);
    if (ps->p == ps->end)
        return unexpected(ps, why);
    return true;
}

/* The string token at ps->p (a '"'): its unescaped bytes in *out, *n; moves past it. */
static bool take_string(struct parser *ps, const uint8_t **out, size_t *n)
{
    struct json_span info;
    size_t span = json_value_span((const char *)ps->p, (size_t)(ps->end - ps->p), &info);
    const unsigned char *s = ps->p + 1;
    uint8_t *dst;

    if (!span)
        return syntax_span(ps, &info);
    ps->p += span;
    span -= 2; /* the quotes */
    if (!memchr(s, '\\', span)) {
        *out = s;
        *n = span;
        return true;
    }
    dst = arena_alloc(ps->env, span, 1); /* escapes only shrink */
    *n = unescape(dst, s, s + span);
    arena_trim(ps->env, dst, *n);
    *out = dst;
    return true;
}

/* The literal null at ps->p (an 'n'); moves past it. */
static bool take_null(struct parser *ps)
{
    struct json_span info;
    size_t span = json_value_span((const char *)ps->p, (size_t)(ps->end - ps->p), &info);

    if (!span)
        return syntax_span(ps, &info);
    ps->p += span;
    return true;
}

/* The number at ps->p into *out if it is an integer in [0, INT64_MAX] ("-0" is 0);
 * *ok says whether it was; false only for a syntax error. Moves past it. */
static bool take_int(struct parser *ps, int64_t *out, bool *ok)
{
    struct json_span info;
    size_t span = json_value_span((const char *)ps->p, (size_t)(ps->end - ps->p), &info);
    const unsigned char *s = ps->p, *e = s + span;
    bool negative = *s == '-';
    uint64_t v = 0;

    if (!span)
        return syntax_span(ps, &info);
    ps->p = e;
    *ok = false;
    for (s += negative; s < e; s++) {
        unsigned d = (unsigned)(*s - '0');

        if (d > 9 || v > ((uint64_t)INT64_MAX - d) / 10)
            return true; /* a fraction, an exponent, or too big */
        v = v * 10 + d;
    }
    if (negative && v != 0)
        return true;
    *out = (int64_t)v;
    *ok = true;
    return true;
}

/* ---- records ---- */

static int cmp_header_names(const void *a, const void *b)
{
    const struct record_header *x = a, *y = b;

    if (x->key_len != y->key_len)
        return x->key_len < y->key_len ? -1 : 1;
    return memcmp(x->key, y->key, (size_t)x->key_len);
}

static bool same_name(const struct record_header *x, const struct record_header *y)
{
    return x->key_len == y->key_len && !memcmp(x->key, y->key, (size_t)x->key_len);
}

/* A header name given twice among h[0..n), or NULL. Sorts h when n is large. */
static const struct record_header *duplicate_header(struct record_header *h, size_t n)
{
    if (n <= HEADERS_PAIRWISE) {
        for (size_t i = 1; i < n; i++)
            for (size_t j = 0; j < i; j++)
                if (same_name(&h[i], &h[j]))
                    return &h[i];
        return NULL;
    }
    qsort(h, n, sizeof(*h), cmp_header_names);
    for (size_t i = 1; i < n; i++)
        if (same_name(&h[i], &h[i - 1]))
            return &h[i];
    return NULL;
}

/* The headers object at ps->p (a '{') into r->headers. */
static bool parse_headers(struct parser *ps, size_t i, struct envelope_record *r)
{
    const struct record_header *dup;
    const uint8_t *name, *value;
    size_t n = 0, name_len, value_len;
    char shown[NAME_SHOWN_MAX + 4];

    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        return true;
    }
    for (;;) {
        if (ps->p == ps->end || *ps->p != '"')
            return unexpected(ps, "expected a member name");
        if (!take_string(ps, &name, &name_len) || !expect(ps, ':', "expected ':'"))
            return false;
        if (*ps->p != '"') {
            if (!starts_value(*ps->p))
                return unexpected(ps, "unexpected character");
            return fail(ps, 400, "invalid_record",
                        "records[%zu].headers.%s must be a string", i,
                        show_name(shown, sizeof(shown), name, name_len));
        }
        if (!take_string(ps, &value, &value_len))
            return false;
        if (n == ps->scratch_cap) {
            ps->scratch_cap = ps->scratch_cap ? ps->scratch_cap * 2 : 16;
            ps->scratch = xrealloc(ps->scratch, ps->scratch_cap * sizeof(*ps->scratch));
        }
        ps->scratch[n++] =
            (struct record_header){name, (int32_t)name_len, value, (int32_t)value_len};
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == '}')
            break;
        if (!expect(ps, ',', "expected ',' or '}'"))
            return false;
    }
    ps->p++;
    r->headers = arena_alloc(ps->env, n * sizeof(*r->headers), ARENA_ALIGN);
    memcpy(r->headers, ps->scratch, n * sizeof(*r->headers));
    r->header_count = (uint32_t)n;
    dup = duplicate_header(ps->scratch, n);
    if (dup)
        return fail(ps, 400, "invalid_record", "records[%zu].headers has '%s' twice", i,
                    show_name(shown, sizeof(shown), dup->key, (size_t)dup->key_len));
    return true;
}

static enum field field_of(const uint8_t *s, size_t n)
{
    enum field f;

    switch (n) {
    case 3:
        f = FIELD_KEY;
        break;
    case 5:
        f = FIELD_VALUE;
        break;
    case 7:
        f = FIELD_HEADERS;
        break;
    case 9:
        f = s[0] == 'p' ? FIELD_PARTITION : FIELD_TIMESTAMP;
        break;
    case 10:
        f = FIELD_KEY_BASE64;
        break;
    case 12:
        f = FIELD_VALUE_BASE64;
        break;
    default:
        return FIELD_UNKNOWN;
    }
    return memcmp(s, field_names[f], n) ? FIELD_UNKNOWN : f;
}

/* The base64 string at ps->p for field f (key_base64 or value_base64), decoded. */
static bool take_base64(struct parser *ps, size_t i, enum field f, const uint8_t **out,
                        int32_t *out_len)
{
    const uint8_t *s;
    size_t n;

    if (*ps->p == '"') {
        if (!take_string(ps, &s, &n))
            return false;
        if (decode_base64(ps->env, s, n, out, out_len))
            return true;
    } else if (!starts_value(*ps->p)) {
        return unexpected(ps, "unexpected character");
    }
    return fail(ps, 400, "invalid_base64", "records[%zu].%s is not valid base64", i,
                field_names[f]);
}

static bool take_value(struct parser *ps, size_t i, struct envelope_record *r)
{
    struct json_span info;
    size_t span;
    uint8_t *dst;

    if (*ps->p == 'n' && (size_t)(ps->end - ps->p) >= 4 && !memcmp(ps->p, "null", 4))
        return take_null(ps);
    span = json_value_span((const char *)ps->p, (size_t)(ps->end - ps->p), &info);
    if (!span) {
        if (info.too_deep)
            return fail(ps, 400, "invalid_record",
                        "records[%zu].value is nested deeper than %d levels", i,
                        JSON_CHECK_MAX_DEPTH);
        return syntax_span(ps, &info);
    }
    if (info.space == 0) {
        r->value = ps->p;
        r->value_len = (int32_t)span;
    } else {
        dst = arena_alloc(ps->env, span - info.space, 1);
        r->value = dst;
        r->value_len = (int32_t)compact(dst, ps->p, ps->p + span);
    }
    ps->p += span;
    return true;
}

static bool take_integer(struct parser *ps, size_t i, enum field f, int64_t *out)
{
    bool ok = false;

    if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9')) {
        if (!take_int(ps, out, &ok))
            return false;
    } else if (!starts_value(*ps->p)) {
        return unexpected(ps, "unexpected character");
    }
    if (ok)
        return true;
    if (f == FIELD_PARTITION)
        return fail(ps, 400, "invalid_record",
                    "records[%zu].partition must be a non-negative integer", i);
    return fail(ps, 400, "invalid_record",
                "records[%zu].timestamp must be milliseconds since the epoch (>= 0)", i);
}

/* The value of field f at ps->p (not whitespace, not the end) into r. */
static bool parse_field(struct parser *ps, size_t i, enum field f,
                        struct envelope_record *r)
{
    const uint8_t *s;
    size_t n;

    switch (f) {
    case FIELD_KEY:
        if (*ps->p == 'n')
            return take_null(ps);
        if (*ps->p == '"') {
            if (!take_string(ps, &s, &n))
                return false;
            r->key = s;
            r->key_len = (int32_t)n;
            return true;
        }
        if (!starts_value(*ps->p))
            return unexpected(ps, "unexpected character");
        return fail(ps, 400, "invalid_record", "records[%zu].key must be a string", i);
    case FIELD_KEY_BASE64:
        return take_base64(ps, i, f, &r->key, &r->key_len);
    case FIELD_VALUE:
        return take_value(ps, i, r);
    case FIELD_VALUE_BASE64:
        return take_base64(ps, i, f, &r->value, &r->value_len);
    case FIELD_HEADERS:
        if (*ps->p == '{')
            return parse_headers(ps, i, r);
        if (!starts_value(*ps->p))
            return unexpected(ps, "unexpected character");
        return fail(ps, 400, "invalid_record",
                    "records[%zu].headers must be an object of strings", i);
    case FIELD_PARTITION:
        return take_integer(ps, i, f, &r->partition);
    case FIELD_TIMESTAMP:
        return take_integer(ps, i, f, &r->timestamp);
    case FIELD_UNKNOWN:
        break;
    }
    return false; /* not reached */
}

/* The record object at ps->p (a '{') into r. */
static bool parse_record(struct parser *ps, size_t i, struct envelope_record *r)
{
    unsigned seen = 0;
    const uint8_t *name;
    size_t name_len;
    enum field f;
    char shown[NAME_SHOWN_MAX + 4];

    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        return true;
    }
    for (;;) {
        if (ps->p == ps->end || *ps->p != '"')
            return unexpected(ps, "expected a member name");
        if (!take_string(ps, &name, &name_len))
            return false;
        f = field_of(name, name_len);
        if (f == FIELD_UNKNOWN)
            return fail(
                ps, 400, "unknown_field",
                "records[%zu] has an unknown field '%s' (expected key, key_base64, "
                "value, value_base64, headers, partition, timestamp)",
                i, show_name(shown, sizeof(shown), name, name_len));
        if (seen & (1u << f))
            return fail(ps, 400, "invalid_record", "records[%zu] has '%s' twice", i,
                        field_names[f]);
        seen |= 1u << f;
        if ((seen & (1u << FIELD_KEY)) && (seen & (1u << FIELD_KEY_BASE64)))
            return fail(ps, 400, "invalid_record",
                        "records[%zu]: give key or key_base64, not both", i);
        if ((seen & (1u << FIELD_VALUE)) && (seen & (1u << FIELD_VALUE_BASE64)))
            return fail(ps, 400, "invalid_record",
                        "records[%zu]: give value or value_base64, not both", i);
        if (!expect(ps, ':', "expected ':'") || !parse_field(ps, i, f, r))
            return false;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == '}') {
            ps->p++;
            return true;
        }
        if (!expect(ps, ',', "expected ',' or '}'"))
            return false;
    }
}

/* ---- the envelope ---- */

static struct envelope_record *new_record(struct parser *ps)
{
    struct envelope *env = ps->env;
    struct envelope_record *r;

    if (env->count == env->capacity) {
        env->capacity = env->capacity ? env->capacity * 2 : FIRST_RECORDS;
        if (env->capacity > ps->max_records)
            env->capacity = ps->max_records;
        env->records = xrealloc(env->records, env->capacity * sizeof(*env->records));
    }
    r = &env->records[env->count++];
    *r = (struct envelope_record){NULL, -1, NULL, -1, NULL, 0, -1, -1};
    return r;
}

/* The records array's elements, ps->p just past its '['. */
static bool parse_records(struct parser *ps)
{
    size_t i;

    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ']')
        return fail(ps, 400, "invalid_envelope", "'records' is empty");
    for (i = 0;; i++) {
        if (ps->p == ps->end || !starts_value(*ps->p))
            return unexpected(ps, "unexpected character");
        if (i == ps->max_records) {
            ps->err->limit = ps->max_records;
            return fail(ps, 413, "too_many_records",
                        "more than %zu records in one request; the limit is %zu",
                        ps->max_records, ps->max_records);
        }
        if (*ps->p != '{')
            return fail(ps, 400, "invalid_record", "records[%zu] must be an object", i);
        if (!parse_record(ps, i, new_record(ps)))
            return false;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ']') {
            ps->p++;
            return true;
        }
        if (!expect(ps, ',', "expected ',' or ']'"))
            return false;
    }
}

static bool bad_envelope(struct parser *ps)
{
    return fail(ps, 400, "invalid_envelope",
                "the body must be {\"records\":[...]} and nothing else");
}

/* The body at ps->p is not an object: a syntax error, or valid JSON of another type. */
static bool not_an_object(struct parser *ps)
{
    struct json_span info;
    size_t span = json_value_span((const char *)ps->p, (size_t)(ps->end - ps->p), &info);

    if (!span && !info.too_deep)
        return syntax_span(ps, &info);
    if (span) {
        ps->p += span;
        skip_ws(ps);
        if (ps->p < ps->end)
            return syntax(ps, ps->p, "trailing characters");
    }
    return fail(ps, 400, "invalid_json", "the body must be a JSON object");
}

static bool parse_body(struct parser *ps)
{
    const uint8_t *name;
    size_t name_len;

    skip_ws(ps);
    if (ps->p == ps->end)
        return fail(ps, 400, "invalid_json", "the request body is empty");
    if (*ps->p != '{')
        return not_an_object(ps);
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}')
        return bad_envelope(ps);
    if (ps->p == ps->end || *ps->p != '"')
        return unexpected(ps, "expected a member name");
    if (!take_string(ps, &name, &name_len))
        return false;
    if (name_len != 7 || memcmp(name, "records", 7))
        return bad_envelope(ps);
    if (!expect(ps, ':', "expected ':'"))
        return false;
    if (*ps->p != '[')
        return starts_value(*ps->p) ? bad_envelope(ps)
                                    : unexpected(ps, "unexpected character");
    ps->p++;
    if (!parse_records(ps))
        return false;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ',') {
        ps->p++;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == '"')
            return bad_envelope(ps); /* a second member */
        return unexpected(ps, "expected a member name");
    }
    if (ps->p == ps->end || *ps->p != '}')
        return unexpected(ps, "expected ',' or '}'");
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end)
        return syntax(ps, ps->p, "trailing characters");
    return true;
}

bool envelope_parse(const char *body, size_t len, size_t max_records,
                    struct envelope *env, struct envelope_error *err)
{
    const unsigned char *start = (const unsigned char *)(body ? body : "");
    struct parser ps = {start, start, start + len, max_records, env, err, NULL, 0};
    bool ok;

    memset(env, 0, sizeof(*env));
    memset(err, 0, sizeof(*err));
    if (len > INT32_MAX) {
        err->limit = INT32_MAX;
        return fail(&ps, 413, "content_too_large", "the body exceeds %d bytes",
                    INT32_MAX);
    }
    ok = parse_body(&ps);
    free(ps.scratch);
    if (!ok)
        envelope_release(env);
    return ok;
}

void envelope_release(struct envelope *env)
{
    struct envelope_block *b = env->blocks, *next;

    for (; b; b = next) {
        next = b->next;
        free(b);
    }
    free(env->records);
    memset(env, 0, sizeof(*env));
}
