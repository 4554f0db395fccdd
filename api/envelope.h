/* envelope.h: the produce request envelope, parsed in one pass without a JSON tree.
 *
 *   {"records":[{"key":"k","value":{"a":1},"headers":{"h":"v"},"partition":0,
 *                "timestamp":1700000000000}, ...]}
 *
 * and nothing else. A record's fields are all optional: key (string, or null for no
 * key) or key_base64; value (any JSON value, stored as its compact text; null is a
 * null value) or value_base64; headers (an object of strings); partition and
 * timestamp (non-negative integers). Base64 is standard or URL-safe, padding optional.
 *
 * Decoded bytes point into the body where they can (a string without escapes, a value
 * without whitespace between its tokens) and into the envelope's own arena otherwise.
 * A value's compact text is its exact bytes less the whitespace outside strings:
 * escapes and number spellings are kept as sent, and the value passes json_check(). */
#ifndef API_ENVELOPE_H
#define API_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/record.h"

struct envelope_record {
    const uint8_t *key;            /* NULL when key_len == -1 */
    int32_t key_len;               /* -1: no key */
    const uint8_t *value;          /* NULL when value_len == -1 */
    int32_t value_len;             /* -1: null value (a tombstone) */
    struct record_header *headers; /* header_count of them, or NULL if none */
    uint32_t header_count;
    int64_t partition; /* -1: not given */
    int64_t timestamp; /* -1: not given */
};

/* Why a body was refused, ready for reply_problem(status, code, "%s", detail). */
struct envelope_error {
    int status;       /* 400, or 413 for too many records (or a body over 2 GiB) */
    const char *code; /* "invalid_json", "invalid_envelope", "invalid_record", ... */
    char detail[256]; /* one sentence, valid UTF-8 */
    size_t limit;     /* for a 413: the limit reached (records or bytes), else 0 */
};

struct envelope_block; /* private: one block of the arena */

struct envelope {
    struct envelope_record *records; /* count of them, in request order */
    size_t count;
    /* private */
    size_t capacity;               /* of records */
    struct envelope_block *blocks; /* the arena, newest block first */
};

/* Parses body[0..len) into *env (whatever *env held is overwritten, not released).
 * Returns true on success: env->records[0..count) with 1 <= count <= max_records;
 * their pointers point into 'body' or into env's arena, so 'body' must outlive env.
 * Returns false with *err filled and env released (empty) for anything else; errors
 * are reported as they are met, so a semantic error (say an unknown field) can be
 * reported for a body that also has a syntax error further on. The errors, i being the
 * record's index:
 *   400 invalid_json      "the request body is empty" (nothing but whitespace);
 *                         "the body is not valid JSON: <reason> at byte <offset>";
 *                         "the body must be a JSON object"
 *   400 invalid_envelope  "the body must be {"records":[...]} and nothing else";
 *                         "'records' is empty"
 *   413 too_many_records  "more than <max> records in one request; the limit is <max>"
 *                         (reported when record max+1 starts; the rest is not read)
 *   400 invalid_record    "records[i] must be an object"; "records[i] has 'f' twice";
 *                         "records[i]: give key or key_base64, not both" (or value);
 *                         "records[i].key must be a string";
 *                         "records[i].headers must be an object of strings";
 *                         "records[i].headers.<name> must be a string";
 *                         "records[i].headers has '<name>' twice";
 *                         "records[i].partition must be a non-negative integer";
 *                         "records[i].timestamp must be milliseconds since the epoch
 *                         (>= 0)"; "records[i].value is nested deeper than 64 levels"
 *   400 unknown_field     "records[i] has an unknown field '<name>' (expected key, ...)"
 *   400 invalid_base64    "records[i].key_base64 is not valid base64" (or value_base64)
 *   413 content_too_large "the body exceeds 2147483647 bytes" (lengths are int32)
 * Names in details are cut to 64 bytes (at a UTF-8 boundary, "..." added) with control
 * characters shown as '?'. "-0" is taken as 0 for partition and timestamp; integers
 * with a fraction or exponent ("1.0", "1e3") or beyond INT64_MAX are refused. Keys and
 * header strings may hold NUL bytes (from \u0000). 'body' may be NULL when len is 0. */
bool envelope_parse(const char *body, size_t len, size_t max_records,
                    struct envelope *env, struct envelope_error *err);

/* Frees what envelope_parse() allocated and empties env; releasing an empty (released
 * or zeroed) envelope again is a no-op. */
void envelope_release(struct envelope *env);

#endif
