/* fuzz_envelope.c: libFuzzer target for envelope_parse() (api/envelope.c).
 *
 * Input: arbitrary bytes as a produce body, parsed from a heap copy of exactly 'size'
 * bytes (no NUL after it), so ASan catches any read past the end; at most
 * FUZZ_MAX_RECORDS records. Properties, abort() on a violation:
 *   - a failure leaves the envelope empty, with status 400 or 413, a code, and a
 *     detail that is non-empty, shorter than its buffer and valid UTF-8;
 *   - a success has 1..FUZZ_MAX_RECORDS records; every length is -1 (null, with a NULL
 *     pointer) or at most 'size' (decoding never grows anything), and whatever points
 *     into the body stays inside it; partition and timestamp are >= -1;
 *   - jansson (JSON_ALLOW_NUL) accepts every body we accept, but where it has no
 *     verdict (numbers too big for it, "\u0000" in an object key), and decodes it to
 *     the same records: key and header bytes, partition and timestamp, and every
 *     "value" that is not null passes json_check(), is compact (json_value_span() finds
 *     it whole with no whitespace between its tokens) and is json_equal() to jansson's;
 *   - a second parse gives the same outcome, byte for byte.
 * Seeds: fuzz/corpus/fuzz_envelope/. */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/envelope.h"
#include "api/json_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_RECORDS 50

#define FUZZ_ASSERT(cond)                                                                \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);     \
            abort();                                                                     \
        }                                                                                \
    } while (0)

/* A length and pointer that decode from a body of 'size' bytes at 'body'. */
static void check_bytes(const uint8_t *p, int32_t len, const char *body, size_t size)
{
    const uint8_t *b = (const uint8_t *)body;

    FUZZ_ASSERT(len >= -1);
    FUZZ_ASSERT((len == -1) == (p == NULL));
    if (len == -1)
        return;
    FUZZ_ASSERT((size_t)len <= size);
    if (p >= b && p < b + size)
        FUZZ_ASSERT(p + len <= b + size);
}

static void check_success(const struct envelope *env, const char *body, size_t size)
{
    FUZZ_ASSERT(env->count >= 1 && env->count <= FUZZ_MAX_RECORDS);
    for (size_t i = 0; i < env->count; i++) {
        const struct envelope_record *r = &env->records[i];

        check_bytes(r->key, r->key_len, body, size);
        check_bytes(r->value, r->value_len, body, size);
        FUZZ_ASSERT(r->partition >= -1 && r->timestamp >= -1);
        FUZZ_ASSERT((r->header_count == 0) == (r->headers == NULL));
        for (uint32_t k = 0; k < r->header_count; k++) {
            FUZZ_ASSERT(r->headers[k].key_len >= 0 && r->headers[k].value_len >= 0);
            check_bytes(r->headers[k].key, r->headers[k].key_len, body, size);
            check_bytes(r->headers[k].value, r->headers[k].value_len, body, size);
        }
    }
}

static bool same_string(const uint8_t *b, int32_t len, json_t *s)
{
    return json_is_string(s) && len >= 0 && (size_t)len == json_string_length(s) &&
           memcmp(b, json_string_value(s), (size_t)len) == 0;
}

/* Our record r against jansson's o. */
static void check_against(const struct envelope_record *r, json_t *o)
{
    json_t *key = json_object_get(o, "key"), *val = json_object_get(o, "value");
    json_t *headers = json_object_get(o, "headers"), *v, *ours;
    struct json_span info;

    FUZZ_ASSERT(json_is_object(o));
    if (json_is_string(key))
        FUZZ_ASSERT(same_string(r->key, r->key_len, key));
    else if (!json_object_get(o, "key_base64"))
        FUZZ_ASSERT(r->key_len == -1);
    if (val && !json_is_null(val)) {
        FUZZ_ASSERT(r->value_len >= 0);
        FUZZ_ASSERT(json_check((const char *)r->value, (size_t)r->value_len));
        FUZZ_ASSERT(json_value_span((const char *)r->value, (size_t)r->value_len,
                                    &info) == (size_t)r->value_len);
        FUZZ_ASSERT(info.space == 0);
        ours = json_loadb((const char *)r->value, (size_t)r->value_len,
                          JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        FUZZ_ASSERT(ours && json_equal(ours, val));
        json_decref(ours);
    } else if (!json_object_get(o, "value_base64")) {
        FUZZ_ASSERT(r->value_len == -1);
    }
    FUZZ_ASSERT(r->header_count == (headers ? json_object_size(headers) : 0));
    for (uint32_t k = 0; k < r->header_count; k++) {
        v = json_object_getn(headers, (const char *)r->headers[k].key,
                             (size_t)r->headers[k].key_len);
        FUZZ_ASSERT(same_string(r->headers[k].value, r->headers[k].value_len, v));
    }
    v = json_object_get(o, "partition");
    FUZZ_ASSERT(r->partition == (v ? json_integer_value(v) : -1));
    v = json_object_get(o, "timestamp");
    FUZZ_ASSERT(r->timestamp == (v ? json_integer_value(v) : -1));
}

/* Whatever we accept, jansson accepts (where it has a verdict) and decodes alike. */
static void check_jansson(const struct envelope *env, const char *text, size_t size)
{
    json_error_t err;
    json_t *root = json_loadb(text, size, JSON_ALLOW_NUL, &err), *records;

    if (!root) {
        FUZZ_ASSERT(json_error_code(&err) == json_error_numeric_overflow ||
                    json_error_code(&err) == json_error_null_byte_in_key);
        return;
    }
    records = json_object_get(root, "records");
    FUZZ_ASSERT(json_array_size(records) == env->count);
    for (size_t i = 0; i < env->count; i++)
        check_against(&env->records[i], json_array_get(records, i));
    json_decref(root);
}

static void check_failure(const struct envelope *env, const struct envelope_error *err)
{
    size_t n = strlen(err->detail);

    FUZZ_ASSERT(err->status == 400 || err->status == 413);
    FUZZ_ASSERT(err->code != NULL);
    FUZZ_ASSERT(n > 0 && n < sizeof(err->detail));
    FUZZ_ASSERT(utf8_check(err->detail, n));
    FUZZ_ASSERT(env->records == NULL && env->count == 0 && env->blocks == NULL);
}

static bool same_bytes(const uint8_t *a, int32_t alen, const uint8_t *b, int32_t blen)
{
    return alen == blen && (alen <= 0 || memcmp(a, b, (size_t)alen) == 0);
}

static bool same_record(const struct envelope_record *a, const struct envelope_record *b)
{
    if (!same_bytes(a->key, a->key_len, b->key, b->key_len) ||
        !same_bytes(a->value, a->value_len, b->value, b->value_len) ||
        a->header_count != b->header_count || a->partition != b->partition ||
        a->timestamp != b->timestamp)
        return false;
    for (uint32_t k = 0; k < a->header_count; k++)
        if (!same_bytes(a->headers[k].key, a->headers[k].key_len, b->headers[k].key,
                        b->headers[k].key_len) ||
            !same_bytes(a->headers[k].value, a->headers[k].value_len, b->headers[k].value,
                        b->headers[k].value_len))
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size ? size : 1);
    struct envelope env, again;
    struct envelope_error err, err2;
    bool ok, ok2;

    if (!text)
        abort();
    if (size)
        memcpy(text, data, size);
    ok = envelope_parse(text, size, FUZZ_MAX_RECORDS, &env, &err);
    ok2 = envelope_parse(text, size, FUZZ_MAX_RECORDS, &again, &err2);
    FUZZ_ASSERT(ok == ok2);
    if (ok) {
        check_success(&env, text, size);
        FUZZ_ASSERT(env.count == again.count);
        for (size_t i = 0; i < env.count; i++)
            FUZZ_ASSERT(same_record(&env.records[i], &again.records[i]));
        check_jansson(&env, text, size);
    } else {
        check_failure(&env, &err);
        FUZZ_ASSERT(err.status == err2.status && !strcmp(err.code, err2.code) &&
                    !strcmp(err.detail, err2.detail));
    }
    envelope_release(&env);
    envelope_release(&again);
    envelope_release(&env); /* a second release is a no-op */
    free(text);
    return 0;
}
