/* json_check.h: a strict, allocation-free JSON validator for stored record values.
 *
 * A stored value whose bytes pass json_check() can be embedded in a response as-is. No
 * tree is built and nothing is allocated, so this is cheap enough for the read path.
 * Duplicate object keys are valid JSON (RFC 8259 says names SHOULD be unique) and are
 * accepted; numbers of any size are accepted, since the grammar puts no bound on them. */
#ifndef API_JSON_CHECK_H
#define API_JSON_CHECK_H

#include <stdbool.h>
#include <stddef.h>

/* Deepest accepted nesting of arrays and objects: 64 '[' pass, 65 fail. */
#define JSON_CHECK_MAX_DEPTH 64

/* True if data[0..len) is exactly one JSON value (RFC 8259) with optional surrounding
 * whitespace, strictly: UTF-8 validated (no overlongs, no surrogates U+D800..DFFF,
 * nothing above U+10FFFF), no control characters in strings, valid escapes (\uXXXX,
 * including that a \u high surrogate is followed by a \u low surrogate and lone
 * surrogates are rejected), numbers per the grammar (no leading zeros, no '+', no '.5',
 * no '1.', no NaN/Infinity), literals true/false/null, nesting at most
 * JSON_CHECK_MAX_DEPTH deep, and no bytes after the value but whitespace. A byte order
 * mark is not whitespace and is rejected. Empty input is false. Never reads past len,
 * allocates nothing, iterative. 'data' may be NULL when len is 0. */
bool json_check(const char *data, size_t len);

/* What json_value_span() learnt besides the length. */
struct json_span {
    size_t space;      /* on success: whitespace bytes between the value's tokens */
    size_t error_at;   /* on failure: offset of the offending byte (len: input ended) */
    const char *error; /* on failure: a short reason, such as "invalid escape" */
    bool too_deep;     /* on failure: nested deeper than JSON_CHECK_MAX_DEPTH */
};

/* The length of the one JSON value that starts at data[0], by the rules of
 * json_check(), or 0 if there is none. No whitespace may precede it; whatever follows
 * it is not looked at, except that the byte right after a number or literal must not
 * be one that could continue it (a digit, an ASCII letter, '.', '+' or '-'), so "12x"
 * and "nullx" are rejected while "12," and "null}" give 2 and 4. Only the value's own
 * nesting counts against JSON_CHECK_MAX_DEPTH. If 'info' is not NULL it is filled:
 * 'space' on success (the value's bytes with that many whitespace bytes removed are
 * its compact form), 'error_at', 'error' and 'too_deep' on failure. Never reads past
 * len, allocates nothing. 'data' may be NULL when len is 0. */
size_t json_value_span(const char *data, size_t len, struct json_span *info);

/* True if data[0..len) is valid UTF-8 by the same rules (shortest form, no surrogates,
 * at most U+10FFFF). NUL and other control characters are valid UTF-8; empty input is
 * true. 'data' may be NULL when len is 0. */
bool utf8_check(const char *data, size_t len);

#endif
