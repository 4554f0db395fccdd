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

/* True if data[0..len) is valid UTF-8 by the same rules (shortest form, no surrogates,
 * at most U+10FFFF). NUL and other control characters are valid UTF-8; empty input is
 * true. 'data' may be NULL when len is 0. */
bool utf8_check(const char *data, size_t len);

#endif
