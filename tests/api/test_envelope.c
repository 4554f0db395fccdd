/* tests/api/test_envelope.c: tests for api/envelope.c and json_value_span() in
 * api/json_check.c
 *
 * Every body is handed over in a heap buffer of exactly its size, so ASan reports any
 * read past the end; every failure is also checked to leave the envelope empty and a
 * detail that is short, valid UTF-8 text. Three kinds of evidence: tables of bodies
 * with the expected error (status, code, part of the detail) or decoded records; cuts
 * and random garbage that must never crash; and jansson as an oracle on generated and
 * mutated envelopes (whatever we accept, jansson accepts and decodes to the same key,
 * header and value bytes; whatever jansson rejects, we reject). Where jansson is no
 * oracle: numbers beyond int64/double (json_error_numeric_overflow) and "\u0000" in an
 * object key (json_error_null_byte_in_key) get no verdict; we nest values at most 64
 * deep where jansson allows 2048. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <jansson.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/envelope.h"
#include "api/json_check.h"

TestSuite(envelope, .timeout = 120);

/* ---- helpers ---- */

struct parsed {
    char *body; /* the exact-size copy the records point into */
    size_t len;
    struct envelope env;
    struct envelope_error err;
    bool ok;
};

/* s as C-ish text for failure messages. */
static const char *show(const char *s, size_t len)
{
    static char out[2048];
    size_t o = 0;

    for (size_t i = 0; i < len && o + 8 < sizeof(out); i++) {
        unsigned char c = (unsigned char)s[i];

        if (c >= 0x20 && c < 0x7f && c != '\\')
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, sizeof(out) - o, "\\x%02x", c);
    }
    out[o] = '\0';
    return out;
}

/* The invariants of any outcome: a failure leaves the envelope empty and a detail
 * that is non-empty, short, valid UTF-8 text; a success has 1..max records with
 * sane lengths and values that pass json_check(). */
static void check_outcome(const struct parsed *p, size_t max)
{
    const struct envelope *env = &p->env;

    if (!p->ok) {
        size_t n = strlen(p->err.detail);

        cr_assert(p->err.code != NULL, "no code for %s", show(p->body, p->len));
        cr_assert(p->err.status == 400 || p->err.status == 413);
        cr_assert(n > 0 && n < sizeof(p->err.detail));
        cr_assert(utf8_check(p->err.detail, n), "detail not UTF-8: %s",
                  show(p->err.detail, n));
        cr_assert(eq(ptr, env->records, NULL));
        cr_assert(eq(sz, env->count, 0));
        cr_assert(eq(ptr, env->blocks, NULL));
        return;
    }
    cr_assert(env->count >= 1 && env->count <= max);
    for (size_t i = 0; i < env->count; i++) {
        const struct envelope_record *r = &env->records[i];

        cr_assert(r->key_len >= -1 && r->value_len >= -1);
        cr_assert(eq(int, r->key_len == -1, r->key == NULL));
        cr_assert(eq(int, r->value_len == -1, r->value == NULL));
        cr_assert(r->partition >= -1 && r->timestamp >= -1);
        cr_assert(eq(int, r->header_count == 0, r->headers == NULL));
        for (uint32_t k = 0; k < r->header_count; k++) {
            cr_assert(r->headers[k].key != NULL && r->headers[k].key_len >= 0);
            cr_assert(r->headers[k].value != NULL && r->headers[k].value_len >= 0);
        }
    }
}

static bool parse_n(struct parsed *p, const char *s, size_t len, size_t max)
{
    memset(p, 0, sizeof(*p));
    p->body = malloc(len ? len : 1);
    cr_assert(p->body != NULL);
    if (len)
        memcpy(p->body, s, len);
    p->len = len;
    p->ok = envelope_parse(p->body, len, max, &p->env, &p->err);
    check_outcome(p, max);
    return p->ok;
}

static bool parse(struct parsed *p, const char *s)
{
    return parse_n(p, s, strlen(s), 100);
}

static void done(struct parsed *p)
{
    envelope_release(&p->env);
    free(p->body);
    p->body = NULL;
}

static bool bytes_eq(const uint8_t *got, int32_t got_len, const char *want,
                     size_t want_len)
{
    return got_len >= 0 && (size_t)got_len == want_len &&
           (want_len == 0 || memcmp(got, want, want_len) == 0);
}

#define expect_bytes(got, got_len, want)                                                 \
    cr_expect(bytes_eq(got, got_len, want, sizeof(want) - 1), "got %d bytes '%s'",       \
              (int)(got_len),                                                            \
              (got_len) >= 0 ? show((const char *)(got), (size_t)(got_len)) : "(null)")

/* A body and the error it must give. */
struct bad {
    const char *body;
    size_t len; /* 0: strlen(body) */
    int status;
    const char *code;
    const char *detail; /* a substring of the detail */
};

static void expect_errors(const struct bad *t, size_t n)
{
    struct parsed p;

    for (size_t i = 0; i < n; i++) {
        size_t len = t[i].len ? t[i].len : strlen(t[i].body);

        parse_n(&p, t[i].body, len, 100);
        cr_expect(not(p.ok), "accepted: %s", show(t[i].body, len));
        if (!p.ok) {
            cr_expect(eq(int, p.err.status, t[i].status), "%s", show(t[i].body, len));
            cr_expect(eq(str, (char *)p.err.code, (char *)t[i].code), "%s: %s",
                      show(t[i].body, len), p.err.detail);
            cr_expect(strstr(p.err.detail, t[i].detail) != NULL,
                      "detail '%s' lacks '%s' for %s", p.err.detail, t[i].detail,
                      show(t[i].body, len));
        }
        done(&p);
    }
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- json_value_span ---- */

Test(envelope, json_value_span_measures_one_value_and_ignores_what_follows)
{
    static const struct {
        const char *text;
        size_t span, space;
    } t[] = {
        {"1", 1, 0},
        {"12,", 2, 0},
        {"-0.5e+3]", 7, 0},
        {"true}", 4, 0},
        {"null ", 4, 0},
        {"\"a b\"x", 5, 0},
        {"\"\\u00e9\":", 8, 0},
        {"[]x", 2, 0},
        {"{ }", 3, 1},
        {"[ 1 , 2 ]  ", 9, 4},
        {"{\"a\" :\n[ ] }tail", 12, 4},
        {"[\"a b\", \"c\"]", 12, 1},
    };
    struct json_span info;

    for (size_t i = 0; i < N(t); i++) {
        size_t len = strlen(t[i].text);
        char *copy = malloc(len);

        memcpy(copy, t[i].text, len);
        cr_expect(eq(sz, json_value_span(copy, len, &info), t[i].span), "%s", t[i].text);
        cr_expect(eq(sz, info.space, t[i].space), "%s", t[i].text);
        cr_expect(eq(sz, json_value_span(copy, len, NULL), t[i].span));
        free(copy);
    }
}

Test(envelope, json_value_span_reports_where_and_why_it_fails)
{
    static const struct {
        const char *text;
        size_t at;
        const char *why;
    } t[] = {
        {"", 0, "unexpected end of input"},
        {" 1", 0, "unexpected character"},
        {"12x", 2, "invalid number"},
        {"01", 1, "invalid number"},
        {"nullx", 4, "invalid literal"},
        {"nul", 0, "invalid literal"},
        {"[1 2]", 3, "expected ',' or ']'"},
        {"{\"a\" 1}", 5, "expected ':'"},
        {"{1:1}", 1, "expected a member name"},
        {"[1,", 3, "unexpected end of input"},
        {"\"ab\\x\"", 3, "invalid escape"},
        {"\"\\ud800\"", 1, "lone surrogate"},
        {"\"a\x01\"", 2, "control character in string"},
        {"\"a\xc3(\"", 2, "invalid UTF-8"},
        {"\"abc", 4, "unexpected end of input"},
        {"[1.]", 3, "invalid number"},
    };
    struct json_span info;

    for (size_t i = 0; i < N(t); i++) {
        size_t len = strlen(t[i].text);
        char *copy = malloc(len ? len : 1);

        memcpy(copy, t[i].text, len);
        cr_expect(eq(sz, json_value_span(copy, len, &info), 0), "%s", t[i].text);
        cr_expect(eq(sz, info.error_at, t[i].at), "%s", t[i].text);
        cr_expect(eq(str, (char *)info.error, (char *)t[i].why), "%s", t[i].text);
        cr_expect(not(info.too_deep));
        free(copy);
    }
    cr_expect(eq(sz, json_value_span(NULL, 0, &info), 0));
}

Test(envelope, json_value_span_counts_only_the_values_own_depth)
{
    char buf[200];
    struct json_span info;
    size_t n = 0;

    for (int i = 0; i < JSON_CHECK_MAX_DEPTH; i++)
        buf[n++] = '[';
    for (int i = 0; i < JSON_CHECK_MAX_DEPTH; i++)
        buf[n++] = ']';
    cr_assert(eq(sz, json_value_span(buf, n, &info), n));
    memmove(buf + 1, buf, n);
    buf[0] = '[';
    buf[n + 1] = ']';
    cr_assert(eq(sz, json_value_span(buf, n + 2, &info), 0));
    cr_assert(info.too_deep);
    cr_assert(eq(sz, info.error_at, JSON_CHECK_MAX_DEPTH));
}

/* Random bytes from a JSON-ish alphabet: json_check(d) must equal "after leading
 * whitespace, one value spans up to trailing whitespace". */
Test(envelope, json_value_span_agrees_with_json_check)
{
    static const char alphabet[] = "[]{}\",: \n01-e.tfnrulas\\\xc3\xa9";
    char buf[24];
    unsigned seed = 12345;

    for (int iter = 0; iter < 200000; iter++) {
        size_t len = (size_t)(rand_r(&seed) % (int)sizeof(buf)), skip = 0, span, end;
        bool want, got;

        for (size_t i = 0; i < len; i++)
            buf[i] = alphabet[rand_r(&seed) % (int)(sizeof(alphabet) - 1)];
        want = json_check(buf, len);
        while (skip < len && strchr(" \n", buf[skip]))
            skip++;
        span = json_value_span(buf + skip, len - skip, NULL);
        end = skip + span;
        while (span && end < len && strchr(" \n", buf[end]))
            end++;
        got = span && end == len;
        cr_assert(eq(int, got, want), "%s", show(buf, len));
    }
}

/* ---- errors ---- */

Test(envelope, an_empty_body_is_refused)
{
    static const struct bad t[] = {
        {"", 0, 400, "invalid_json", "the request body is empty"},
        {" \t\r\n ", 0, 400, "invalid_json", "the request body is empty"},
    };
    struct envelope env;
    struct envelope_error err;

    expect_errors(t, N(t));
    cr_assert(not(envelope_parse(NULL, 0, 10, &env, &err)));
    cr_assert(eq(str, err.detail, "the request body is empty"));
}

Test(envelope, syntax_errors_are_invalid_json_with_a_reason_and_offset)
{
    static const struct bad t[] = {
        {"{", 0, 400, "invalid_json", "unexpected end of input at byte 1"},
        {"{\"records\"", 0, 400, "invalid_json", "unexpected end of input at byte 10"},
        {"{\"records\":", 0, 400, "invalid_json", "at byte 11"},
        {"{\"records\":[", 0, 400, "invalid_json", "at byte 12"},
        {"{\"records\":[{}", 0, 400, "invalid_json", "at byte 14"},
        {"{\"records\":[{}]", 0, 400, "invalid_json", "at byte 15"},
        {"{records:[{}]}", 0, 400, "invalid_json", "expected a member name at byte 1"},
        {"{\"records\" [{}]}", 0, 400, "invalid_json", "expected ':' at byte 11"},
        {"{\"records\":[{}}", 0, 400, "invalid_json", "expected ',' or ']' at byte 14"},
        {"{\"records\":[{}] x", 0, 400, "invalid_json", "expected ',' or '}' at byte 16"},
        {"{\"records\":[{}]} x", 0, 400, "invalid_json",
         "trailing characters at byte 17"},
        {"{\"records\":[{}]}}", 0, 400, "invalid_json", "trailing characters at byte 16"},
        {"{\"records\":[{}]}\0", 17, 400, "invalid_json", "trailing characters"},
        {"{\"records\":[{},]}", 0, 400, "invalid_json", "at byte 15"},
        {"{\"records\":[,{}]}", 0, 400, "invalid_json", "at byte 12"},
        {"{\"records\":[{}],}", 0, 400, "invalid_json", "expected a member name"},
        {"{\"records\":[{\"key\":\"a\",}]}", 0, 400, "invalid_json",
         "expected a member name at byte 23"},
        {"{\"records\":[{\"key\" \"a\"}]}", 0, 400, "invalid_json", "expected ':'"},
        {"{\"records\":[{\"key\":\"a\" \"value\":1}]}", 0, 400, "invalid_json",
         "expected ',' or '}' at byte 23"},
        {"{\"records\":[{\"key\":'a'}]}", 0, 400, "invalid_json",
         "unexpected character at byte 19"},
        {"\xef\xbb\xbf{\"records\":[{}]}", 0, 400, "invalid_json", "at byte 0"},
        /* bad tokens inside values, at the offending byte */
        {"{\"records\":[{\"value\":12x}]}", 0, 400, "invalid_json",
         "invalid number at byte 23"},
        {"{\"records\":[{\"value\":01}]}", 0, 400, "invalid_json", "invalid number"},
        {"{\"records\":[{\"value\":1.}]}", 0, 400, "invalid_json", "invalid number"},
        {"{\"records\":[{\"value\":-}]}", 0, 400, "invalid_json", "invalid number"},
        {"{\"records\":[{\"value\":+1}]}", 0, 400, "invalid_json",
         "unexpected character"},
        {"{\"records\":[{\"value\":NaN}]}", 0, 400, "invalid_json",
         "unexpected character"},
        {"{\"records\":[{\"value\":tru}]}", 0, 400, "invalid_json", "invalid literal"},
        {"{\"records\":[{\"value\":nul}]}", 0, 400, "invalid_json", "invalid literal"},
        {"{\"records\":[{\"key\":nullx}]}", 0, 400, "invalid_json", "invalid literal"},
        {"{\"records\":[{\"value\":[1,2}]}", 0, 400, "invalid_json",
         "expected ',' or ']' at byte 25"},
        {"{\"records\":[{\"value\":{\"a\" 1}}]}", 0, 400, "invalid_json", "expected ':'"},
        {"{\"records\":[{\"value\":[1,]}]}", 0, 400, "invalid_json",
         "unexpected character"},
        /* strings: escapes, surrogates, control characters, UTF-8 */
        {"{\"records\":[{\"key\":\"a\\x\"}]}", 0, 400, "invalid_json",
         "invalid escape at byte 21"},
        {"{\"records\":[{\"key\":\"\\u12G4\"}]}", 0, 400, "invalid_json",
         "invalid \\u escape"},
        {"{\"records\":[{\"key\":\"\\ud800\"}]}", 0, 400, "invalid_json",
         "lone surrogate"},
        {"{\"records\":[{\"key\":\"\\udc00\\ud800\"}]}", 0, 400, "invalid_json",
         "lone surrogate"},
        {"{\"records\":[{\"value\":\"\\ud83d\\u0041\"}]}", 0, 400, "invalid_json",
         "lone surrogate"},
        {"{\"records\":[{\"key\":\"a\tb\"}]}", 0, 400, "invalid_json",
         "control character in string at byte 21"},
        {"{\"records\":[{\"key\":\"a\nb\"}]}", 0, 400, "invalid_json",
         "control character in string"},
        {"{\"records\":[{\"key\":\"\xc3\x28\"}]}", 0, 400, "invalid_json",
         "invalid UTF-8 at byte 20"},
        {"{\"records\":[{\"key\":\"\xed\xa0\x80\"}]}", 0, 400, "invalid_json",
         "invalid UTF-8"},
        {"{\"records\":[{\"key\":\"\xc0\x80\"}]}", 0, 400, "invalid_json",
         "invalid UTF-8"},
        {"{\"records\":[{\"headers\":{\"\xff\":\"v\"}}]}", 0, 400, "invalid_json",
         "invalid UTF-8"},
        {"{\"records\":[{\"headers\":{\"h\":\"\xf4\x90\x80\x80\"}}]}", 0, 400,
         "invalid_json", "invalid UTF-8"},
        {"{\"records\":[{\"value\":[\"\x80\"]}]}", 0, 400, "invalid_json",
         "invalid UTF-8"},
        {"{\"records\":[{\"value\":\"a", 0, 400, "invalid_json",
         "unexpected end of input"},
        {"{\"rec\xe9rds\":[]}", 0, 400, "invalid_json", "invalid UTF-8"},
        {"{\"records\":[{\"key\":\"a\0\"}]}", 26, 400, "invalid_json",
         "control character"},
        /* JSON nobody's envelope: not an object at all */
        {"[1", 0, 400, "invalid_json", "unexpected end of input at byte 2"},
        {"x", 0, 400, "invalid_json", "unexpected character at byte 0"},
        {"[1] x", 0, 400, "invalid_json", "trailing characters at byte 4"},
    };

    expect_errors(t, N(t));
}

Test(envelope, a_body_that_is_json_but_not_an_object_is_refused)
{
    static const struct bad t[] = {
        {"[]", 0, 400, "invalid_json", "the body must be a JSON object"},
        {" [{\"records\":[]}] ", 0, 400, "invalid_json",
         "the body must be a JSON object"},
        {"1", 0, 400, "invalid_json", "the body must be a JSON object"},
        {"\"records\"", 0, 400, "invalid_json", "the body must be a JSON object"},
        {"null", 0, 400, "invalid_json", "the body must be a JSON object"},
        {"\ntrue\n", 0, 400, "invalid_json", "the body must be a JSON object"},
    };

    expect_errors(t, N(t));
}

Test(envelope, anything_but_one_records_array_is_an_invalid_envelope)
{
    static const char *const msg =
        "the body must be {\"records\":[...]} and nothing else";
    const struct bad t[] = {
        {"{}", 0, 400, "invalid_envelope", msg},
        {" { } ", 0, 400, "invalid_envelope", msg},
        {"{\"record\":[{}]}", 0, 400, "invalid_envelope", msg},
        {"{\"Records\":[{}]}", 0, 400, "invalid_envelope", msg},
        {"{\"x\":1,\"records\":[{}]}", 0, 400, "invalid_envelope", msg},
        {"{\"records\":[{}],\"x\":1}", 0, 400, "invalid_envelope", msg},
        {"{\"records\":[{}],\"records\":[{}]}", 0, 400, "invalid_envelope", msg},
        {"{\"records\":{}}", 0, 400, "invalid_envelope", msg},
        {"{\"records\":null}", 0, 400, "invalid_envelope", msg},
        {"{\"records\":\"[]\"}", 0, 400, "invalid_envelope", msg},
        {"{\"records\":1}", 0, 400, "invalid_envelope", msg},
        {"{\"records\":[]}", 0, 400, "invalid_envelope", "'records' is empty"},
        {" {\n\"records\" : [ \t] } ", 0, 400, "invalid_envelope", "'records' is empty"},
    };

    expect_errors(t, N(t));
}

Test(envelope, a_records_member_spelt_with_escapes_is_the_records_member)
{
    struct parsed p;

    cr_assert(parse(&p, "{\"rec\\u006frds\":[{\"key\":\"k\"}]}"), "%s", p.err.detail);
    cr_assert(eq(sz, p.env.count, 1));
    done(&p);
}

Test(envelope, elements_that_are_not_objects_are_invalid_records)
{
    static const struct bad t[] = {
        {"{\"records\":[1]}", 0, 400, "invalid_record", "records[0] must be an object"},
        {"{\"records\":[[]]}", 0, 400, "invalid_record", "records[0] must be an object"},
        {"{\"records\":[\"x\"]}", 0, 400, "invalid_record",
         "records[0] must be an object"},
        {"{\"records\":[null]}", 0, 400, "invalid_record",
         "records[0] must be an object"},
        {"{\"records\":[{}, {}, true]}", 0, 400, "invalid_record",
         "records[2] must be an object"},
    };

    expect_errors(t, N(t));
}

Test(envelope, unknown_fields_are_named_in_the_detail)
{
    static const struct bad t[] = {
        {"{\"records\":[{\"foo\":1}]}", 0, 400, "unknown_field",
         "records[0] has an unknown field 'foo' (expected key, key_base64, value, "
         "value_base64, headers, partition, timestamp)"},
        {"{\"records\":[{},{\"Key\":\"a\"}]}", 0, 400, "unknown_field",
         "records[1] has an unknown field 'Key'"},
        {"{\"records\":[{\"\":1}]}", 0, 400, "unknown_field", "unknown field ''"},
        {"{\"records\":[{\"keys\":1}]}", 0, 400, "unknown_field", "'keys'"},
        {"{\"records\":[{\"ke\":1}]}", 0, 400, "unknown_field", "'ke'"},
        {"{\"records\":[{\"partitioN\":1}]}", 0, 400, "unknown_field", "'partitioN'"},
        {"{\"records\":[{\"a\\u0000b\\nc\":1}]}", 0, 400, "unknown_field", "'a?b?c'"},
        {"{\"records\":[{\"caf\\u00e9\":1}]}", 0, 400, "unknown_field", "'caf\xc3\xa9'"},
        /* reported as met, before a later syntax error */
        {"{\"records\":[{\"foo\":1 x", 0, 400, "unknown_field", "'foo'"},
    };

    expect_errors(t, N(t));
}

Test(envelope, a_long_field_name_is_cut_at_a_character_boundary)
{
    char body[2000], want[100];
    struct parsed p;
    size_t n = (size_t)sprintf(body, "{\"records\":[{\"");

    /* 'x' then 2-byte characters, so byte 64 falls inside one */
    body[n++] = 'x';
    for (int i = 0; i < 300; i++)
        n += (size_t)sprintf(body + n, "\xc3\xa9");
    n += (size_t)sprintf(body + n, "\":1}]}");
    cr_assert(not(parse_n(&p, body, n, 10)));
    cr_assert(eq(str, (char *)p.err.code, "unknown_field"));
    n = (size_t)sprintf(want, "'x");
    for (int i = 0; i < 31; i++)
        n += (size_t)sprintf(want + n, "\xc3\xa9");
    sprintf(want + n, "...' (expected");
    cr_assert(strstr(p.err.detail, want) != NULL, "%s", p.err.detail);
    done(&p);
}

Test(envelope, a_field_given_twice_is_refused)
{
    static const struct bad t[] = {
        {"{\"records\":[{\"key\":\"a\",\"key\":\"b\"}]}", 0, 400, "invalid_record",
         "records[0] has 'key' twice"},
        {"{\"records\":[{\"key\":null,\"key\":null}]}", 0, 400, "invalid_record",
         "has 'key' twice"},
        {"{\"records\":[{\"key\":\"a\",\"k\\u0065y\":\"b\"}]}", 0, 400, "invalid_record",
         "has 'key' twice"},
        {"{\"records\":[{\"key_base64\":\"YQ\",\"key_base64\":\"YQ\"}]}", 0, 400,
         "invalid_record", "has 'key_base64' twice"},
        {"{\"records\":[{},{\"value\":1,\"value\":1}]}", 0, 400, "invalid_record",
         "records[1] has 'value' twice"},
        {"{\"records\":[{\"value_base64\":\"\",\"value_base64\":\"\"}]}", 0, 400,
         "invalid_record", "has 'value_base64' twice"},
        {"{\"records\":[{\"headers\":{},\"headers\":{}}]}", 0, 400, "invalid_record",
         "has 'headers' twice"},
        {"{\"records\":[{\"partition\":0,\"partition\":0}]}", 0, 400, "invalid_record",
         "has 'partition' twice"},
        {"{\"records\":[{\"timestamp\":0,\"timestamp\":1}]}", 0, 400, "invalid_record",
         "has 'timestamp' twice"},
    };

    expect_errors(t, N(t));
}

Test(envelope, a_field_and_its_base64_form_together_are_refused)
{
    static const struct bad t[] = {
        {"{\"records\":[{\"key\":\"a\",\"key_base64\":\"YQ\"}]}", 0, 400,
         "invalid_record", "records[0]: give key or key_base64, not both"},
        {"{\"records\":[{\"key_base64\":\"YQ\",\"key\":null}]}", 0, 400, "invalid_record",
         "records[0]: give key or key_base64, not both"},
        {"{\"records\":[{\"value\":1,\"value_base64\":\"YQ\"}]}", 0, 400,
         "invalid_record", "records[0]: give value or value_base64, not both"},
        {"{\"records\":[{\"value\":null,\"value_base64\":\"YQ\"}]}", 0, 400,
         "invalid_record", "give value or value_base64, not both"},
        {"{\"records\":[{\"value_base64\":\"!\",\"value\":null}]}", 0, 400,
         "invalid_base64", "records[0].value_base64 is not valid base64"},
    };

    expect_errors(t, N(t));
}

Test(envelope, fields_of_the_wrong_type_are_refused)
{
    static const struct bad t[] = {
        {"{\"records\":[{\"key\":1}]}", 0, 400, "invalid_record",
         "records[0].key must be a string"},
        {"{\"records\":[{\"key\":true}]}", 0, 400, "invalid_record",
         "key must be a string"},
        {"{\"records\":[{\"key\":[\"a\"]}]}", 0, 400, "invalid_record",
         "key must be a string"},
        {"{\"records\":[{\"key\":{}}]}", 0, 400, "invalid_record",
         "key must be a string"},
        {"{\"records\":[{\"headers\":[]}]}", 0, 400, "invalid_record",
         "records[0].headers must be an object of strings"},
        {"{\"records\":[{\"headers\":null}]}", 0, 400, "invalid_record",
         "headers must be an object of strings"},
        {"{\"records\":[{\"headers\":\"h\"}]}", 0, 400, "invalid_record",
         "headers must be an object of strings"},
        {"{\"records\":[{\"headers\":{\"a\":\"1\",\"b\":2}}]}", 0, 400, "invalid_record",
         "records[0].headers.b must be a string"},
        {"{\"records\":[{\"headers\":{\"a\":null}}]}", 0, 400, "invalid_record",
         "headers.a must be a string"},
        {"{\"records\":[{\"headers\":{\"a\\u0000\":{}}}]}", 0, 400, "invalid_record",
         "headers.a? must be a string"},
        {"{\"records\":[{\"headers\":{\"a\":\"1\",\"a\":\"2\"}}]}", 0, 400,
         "invalid_record", "records[0].headers has 'a' twice"},
        {"{\"records\":[{\"headers\":{\"a\":\"1\",\"\\u0061\":\"2\"}}]}", 0, 400,
         "invalid_record", "headers has 'a' twice"},
        {"{\"records\":[{\"partition\":-1}]}", 0, 400, "invalid_record",
         "records[0].partition must be a non-negative integer"},
        {"{\"records\":[{\"partition\":1.0}]}", 0, 400, "invalid_record",
         "partition must be a non-negative integer"},
        {"{\"records\":[{\"partition\":1e2}]}", 0, 400, "invalid_record",
         "partition must be a non-negative integer"},
        {"{\"records\":[{\"partition\":-0.0}]}", 0, 400, "invalid_record",
         "partition must be a non-negative integer"},
        {"{\"records\":[{\"partition\":9223372036854775808}]}", 0, 400, "invalid_record",
         "partition must be a non-negative integer"},
        {"{\"records\":[{\"partition\":99999999999999999999999}]}", 0, 400,
         "invalid_record", "partition must be a non-negative integer"},
        {"{\"records\":[{\"partition\":\"1\"}]}", 0, 400, "invalid_record",
         "partition must be a non-negative integer"},
        {"{\"records\":[{\"partition\":null}]}", 0, 400, "invalid_record",
         "partition must be a non-negative integer"},
        {"{\"records\":[{\"timestamp\":-5}]}", 0, 400, "invalid_record",
         "records[0].timestamp must be milliseconds since the epoch (>= 0)"},
        {"{\"records\":[{\"timestamp\":1.5}]}", 0, 400, "invalid_record",
         "timestamp must be milliseconds since the epoch (>= 0)"},
        {"{\"records\":[{\"timestamp\":[]}]}", 0, 400, "invalid_record",
         "timestamp must be milliseconds since the epoch (>= 0)"},
        {"{\"records\":[{\"timestamp\":-9223372036854775809}]}", 0, 400, "invalid_record",
         "timestamp must be milliseconds"},
    };

    expect_errors(t, N(t));
}

Test(envelope, bad_base64_is_refused)
{
    static const struct bad t[] = {
        {"{\"records\":[{\"key_base64\":1}]}", 0, 400, "invalid_base64",
         "records[0].key_base64 is not valid base64"},
        {"{\"records\":[{\"key_base64\":null}]}", 0, 400, "invalid_base64",
         "key_base64 is not valid base64"},
        {"{\"records\":[{\"value_base64\":{}}]}", 0, 400, "invalid_base64",
         "records[0].value_base64 is not valid base64"},
        {"{\"records\":[{\"value_base64\":\"YQ=!\"}]}", 0, 400, "invalid_base64",
         "value_base64"},
        {"{\"records\":[{\"value_base64\":\"Y Q\"}]}", 0, 400, "invalid_base64",
         "value_base64"},
        {"{\"records\":[{\"value_base64\":\"Y\\nQ\"}]}", 0, 400, "invalid_base64",
         "value_base64"},
        {"{\"records\":[{\"value_base64\":\"YQ=\"}]}", 0, 400, "invalid_base64",
         "value_base64"},
        {"{\"records\":[{\"value_base64\":\"Y\"}]}", 0, 400, "invalid_base64",
         "value_base64"},
        {"{\"records\":[{\"value_base64\":\"YR\"}]}", 0, 400, "invalid_base64",
         "value_base64"},
        {"{\"records\":[{\"value_base64\":\"+_8\"}]}", 0, 400, "invalid_base64",
         "value_base64"},
        {"{\"records\":[{\"value_base64\":\"YQ==YQ==\"}]}", 0, 400, "invalid_base64",
         "value_base64"},
        /* bytes >= 0x80 (libsodium 1.0.18 would take them as digits) */
        {"{\"records\":[{\"key_base64\":\"YW\xc3\xa9J\"}]}", 0, 400, "invalid_base64",
         "key_base64"},
        {"{\"records\":[{\"key_base64\":\"YW\\u00e9J\"}]}", 0, 400, "invalid_base64",
         "key_base64"},
    };

    expect_errors(t, N(t));
}

Test(envelope, a_value_nested_deeper_than_the_limit_is_refused)
{
    char body[400];
    struct parsed p;
    size_t n;

    for (int depth = JSON_CHECK_MAX_DEPTH; depth <= JSON_CHECK_MAX_DEPTH + 1; depth++) {
        n = (size_t)sprintf(body,
                            "{\"records\":[{\"key\":\"k\",\"headers\":{},\"value\":");
        size_t at = n;
        for (int i = 0; i < depth; i++)
            body[n++] = '[';
        for (int i = 0; i < depth; i++)
            body[n++] = ']';
        size_t vlen = n - at;
        n += (size_t)sprintf(body + n, "}]}");
        parse_n(&p, body, n, 10);
        if (depth == JSON_CHECK_MAX_DEPTH) {
            cr_assert(p.ok, "%s", p.err.detail);
            cr_assert(eq(int, p.env.records[0].value_len, (int)vlen));
            cr_assert(eq(ptr, (void *)p.env.records[0].value, p.body + at));
        } else {
            cr_assert(not(p.ok));
            cr_assert(eq(str, (char *)p.err.code, "invalid_record"));
            cr_assert(eq(str, p.err.detail,
                         "records[0].value is nested deeper than 64 levels"));
        }
        done(&p);
    }
}

Test(envelope, more_records_than_the_limit_are_refused_without_reading_on)
{
    char body[4000];
    struct parsed p;
    size_t n;

    for (size_t count = 4; count <= 6; count++) {
        n = (size_t)sprintf(body, "{\"records\":[");
        for (size_t i = 0; i < count; i++)
            n += (size_t)sprintf(body + n, "%s{\"value\":%zu}", i ? "," : "", i);
        n += (size_t)sprintf(body + n, "]}");
        parse_n(&p, body, n, 5);
        if (count <= 5) {
            cr_assert(p.ok, "%s", p.err.detail);
            cr_assert(eq(sz, p.env.count, count));
        } else {
            cr_assert(not(p.ok));
            cr_assert(eq(int, p.err.status, 413));
            cr_assert(eq(str, (char *)p.err.code, "too_many_records"));
            cr_assert(eq(str, p.err.detail,
                         "more than 5 records in one request; the limit is 5"));
            cr_assert(eq(sz, p.err.limit, 5));
        }
        done(&p);
    }
    /* the sixth record is never read: garbage in it does not matter */
    n = (size_t)sprintf(body, "{\"records\":[{},{},{},{},{}, {\"bad\":\xff");
    parse_n(&p, body, n, 5);
    cr_assert(eq(int, p.err.status, 413));
    done(&p);
    n = (size_t)sprintf(body, "{\"records\":[{}]}");
    parse_n(&p, body, n, 0);
    cr_assert(eq(int, p.err.status, 413));
    done(&p);
}

/* ---- decoding ---- */

Test(envelope, every_field_is_decoded)
{
    struct parsed p;
    const struct envelope_record *r;

    cr_assert(parse(&p, "{\"records\":[{\"key\":\"k1\",\"value\":{\"a\":1},"
                        "\"headers\":{\"h1\":\"v1\",\"h2\":\"\"},\"partition\":3,"
                        "\"timestamp\":1700000000000},"
                        "{\"key_base64\":\"AP8=\",\"value_base64\":\"aGk\"},"
                        "{\"value\":\"text\",\"key\":\"\"},"
                        "{}]}"),
              "%s", p.err.detail);
    cr_assert(eq(sz, p.env.count, 4));
    r = &p.env.records[0];
    expect_bytes(r->key, r->key_len, "k1");
    expect_bytes(r->value, r->value_len, "{\"a\":1}");
    cr_assert(eq(u32, r->header_count, 2));
    expect_bytes(r->headers[0].key, r->headers[0].key_len, "h1");
    expect_bytes(r->headers[0].value, r->headers[0].value_len, "v1");
    expect_bytes(r->headers[1].key, r->headers[1].key_len, "h2");
    expect_bytes(r->headers[1].value, r->headers[1].value_len, "");
    cr_assert(eq(i64, r->partition, 3));
    cr_assert(eq(i64, r->timestamp, 1700000000000));
    r = &p.env.records[1];
    expect_bytes(r->key, r->key_len, "\x00\xff");
    expect_bytes(r->value, r->value_len, "hi");
    cr_assert(eq(u32, r->header_count, 0));
    cr_assert(eq(ptr, r->headers, NULL));
    cr_assert(eq(i64, r->partition, -1));
    cr_assert(eq(i64, r->timestamp, -1));
    r = &p.env.records[2];
    expect_bytes(r->key, r->key_len, "");
    expect_bytes(r->value, r->value_len, "\"text\"");
    r = &p.env.records[3];
    cr_assert(eq(int, r->key_len, -1));
    cr_assert(eq(int, r->value_len, -1));
    cr_assert(eq(ptr, (void *)r->key, NULL));
    cr_assert(eq(ptr, (void *)r->value, NULL));
    done(&p);
}

Test(envelope, null_key_and_null_value_are_absent)
{
    struct parsed p;

    cr_assert(
        parse(&p, "{\"records\":[{\"key\":null,\"value\":null},{\"value\" : null }]}"));
    for (size_t i = 0; i < 2; i++) {
        cr_assert(eq(int, p.env.records[i].key_len, -1));
        cr_assert(eq(int, p.env.records[i].value_len, -1));
    }
    done(&p);
}

Test(envelope, integers_at_the_edges)
{
    static const struct {
        const char *text;
        int64_t want;
    } t[] = {
        {"0", 0},
        {"-0", 0},
        {"7", 7},
        {"9223372036854775807", INT64_MAX},
    };
    char body[200];
    struct parsed p;

    for (size_t i = 0; i < N(t); i++) {
        sprintf(body, "{\"records\":[{\"partition\":%s,\"timestamp\":%s}]}", t[i].text,
                t[i].text);
        cr_assert(parse(&p, body), "%s: %s", body, p.err.detail);
        cr_assert(eq(i64, p.env.records[0].partition, t[i].want));
        cr_assert(eq(i64, p.env.records[0].timestamp, t[i].want));
        done(&p);
    }
}

Test(envelope, escapes_and_surrogate_pairs_decode_to_utf8)
{
    struct parsed p;
    const struct envelope_record *r;

    cr_assert(parse(&p,
                    "{\"records\":[{\"key\":\"a\\u00e9\\u20AC\\ud83d\\ude00\\\"\\\\\\/"
                    "\\b\\f\\n\\r\\t\\u0000z\","
                    "\"headers\":{\"n\\u00e9\\uDBFF\\uDFFF\":\"v\\u0041\\n\","
                    "\"caf\xc3\xa9\":\"\xf0\x9f\x98\x80\"},"
                    "\"value\":\"\\u00e9 \\ud83d\\ude00\"}]}"),
              "%s", p.err.detail);
    r = &p.env.records[0];
    expect_bytes(r->key, r->key_len,
                 "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"\\/\b\f\n\r\t\0z");
    cr_assert(eq(u32, r->header_count, 2));
    expect_bytes(r->headers[0].key, r->headers[0].key_len, "n\xc3\xa9\xf4\x8f\xbf\xbf");
    expect_bytes(r->headers[0].value, r->headers[0].value_len, "vA\n");
    expect_bytes(r->headers[1].key, r->headers[1].key_len, "caf\xc3\xa9");
    expect_bytes(r->headers[1].value, r->headers[1].value_len, "\xf0\x9f\x98\x80");
    /* a value keeps its escapes verbatim */
    expect_bytes(r->value, r->value_len, "\"\\u00e9 \\ud83d\\ude00\"");
    done(&p);
}

Test(envelope, values_lose_whitespace_outside_strings_only)
{
    static const struct {
        const char *value, *want;
    } t[] = {
        {"{ \"a\" : [ 1 , 2 ] }", "{\"a\":[1,2]}"},
        {"[ \"a b\" , \"c \\\" d\" ,\"\\\\\" ]", "[\"a b\",\"c \\\" d\",\"\\\\\"]"},
        {"\n{\n\t\"k\\\"ey\" :\r\n\"x  y\"\n}\n", "{\"k\\\"ey\":\"x  y\"}"},
        {"[ 1.50E+02 , -0 , 1e400 , 123456789012345678901234567890 ]",
         "[1.50E+02,-0,1e400,123456789012345678901234567890]"},
        {"{\"a\":1,\"a\":2}", "{\"a\":1,\"a\":2}"},
        {" [ ] ", "[]"},
        {"\"  \"", "\"  \""},
        {"true", "true"},
        {"-12.5e-3", "-12.5e-3"},
        {"123456789012345678901234567890e999999",
         "123456789012345678901234567890e999999"},
        {"\"\\u0000\"", "\"\\u0000\""},
    };
    char body[400];
    struct parsed p;

    for (size_t i = 0; i < N(t); i++) {
        sprintf(body, "{\"records\":[{\"value\":%s}]}", t[i].value);
        cr_assert(parse(&p, body), "%s: %s", body, p.err.detail);
        cr_expect(bytes_eq(p.env.records[0].value, p.env.records[0].value_len, t[i].want,
                           strlen(t[i].want)),
                  "%s gave %s", t[i].value,
                  show((const char *)p.env.records[0].value,
                       (size_t)p.env.records[0].value_len));
        cr_assert(json_check((const char *)p.env.records[0].value,
                             (size_t)p.env.records[0].value_len));
        done(&p);
    }
}

/* True if [mem, mem + len) lies inside the body. */
static bool in_body(const struct parsed *p, const uint8_t *mem, int32_t len)
{
    return mem >= (const uint8_t *)p->body &&
           mem + len <= (const uint8_t *)p->body + p->len;
}

Test(envelope, plain_strings_and_compact_values_point_into_the_body)
{
    struct parsed fast, slow;
    const struct envelope_record *f, *s;

    cr_assert(parse(&fast, "{\"records\":[{\"key\":\"abc\",\"value\":{\"x\":[1,\"y z\"]},"
                           "\"headers\":{\"hk\":\"hv\"}}]}"));
    cr_assert(parse(&slow, "{\"records\":[{\"key\":\"a\\u0062c\",\"value\":{ \"x\" : [1, "
                           "\"y z\"] },\"headers\":{\"h\\u006b\":\"h\\u0076\"}}]}"));
    f = &fast.env.records[0];
    s = &slow.env.records[0];
    cr_assert(in_body(&fast, f->key, f->key_len));
    cr_assert(in_body(&fast, f->value, f->value_len));
    cr_assert(in_body(&fast, f->headers[0].key, f->headers[0].key_len));
    cr_assert(in_body(&fast, f->headers[0].value, f->headers[0].value_len));
    cr_assert(not(in_body(&slow, s->key, s->key_len)));
    cr_assert(not(in_body(&slow, s->value, s->value_len)));
    cr_assert(not(in_body(&slow, s->headers[0].key, s->headers[0].key_len)));
    cr_assert(bytes_eq(f->key, f->key_len, (const char *)s->key, (size_t)s->key_len));
    cr_assert(
        bytes_eq(f->value, f->value_len, (const char *)s->value, (size_t)s->value_len));
    cr_assert(bytes_eq(f->headers[0].key, f->headers[0].key_len,
                       (const char *)s->headers[0].key, (size_t)s->headers[0].key_len));
    cr_assert(bytes_eq(f->headers[0].value, f->headers[0].value_len,
                       (const char *)s->headers[0].value,
                       (size_t)s->headers[0].value_len));
    done(&fast);
    done(&slow);
}

/* The four-variant loop api/produce.c used, as a reference for the one-variant choice. */
static bool reference_base64(const char *s, size_t n, uint8_t *out, size_t *got)
{
    static const int variants[] = {
        sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
        sodium_base64_VARIANT_URLSAFE, sodium_base64_VARIANT_URLSAFE_NO_PADDING};

    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= '0' && s[i] <= '9') || strchr("+/-_=", s[i])))
            return false;
    for (size_t k = 0; k < 4; k++) {
        const char *end;

        if (!sodium_base642bin(out, n / 4 * 3 + 3, s, n, NULL, got, &end, variants[k]) &&
            end == s + n)
            return true;
    }
    return false;
}

Test(envelope, base64_accepts_exactly_what_the_four_libsodium_variants_do)
{
    static const char alphabet[] = "AQgw+/-_=";
    static const char *const fixed[] = {
        "",   "YQ",   "YQ==", "YWI", "YWI=", "YWJj", "-_8", "+/8",    "-_-_", "+/+/",
        "_w", "_w==", "/w==", "YQ=", "Y",    "=",    "==",  "YQ==YQ", "+_",   "YWJj====",
    };
    char body[200], text[16];
    uint8_t want[16];
    unsigned seed = 7;
    struct parsed p;

    for (int iter = 0; iter < 20000; iter++) {
        size_t n, got = 0;
        bool ok;

        if (iter < (int)N(fixed)) {
            n = strlen(fixed[iter]);
            memcpy(text, fixed[iter], n);
        } else {
            n = (size_t)(rand_r(&seed) % 9);
            for (size_t i = 0; i < n; i++)
                text[i] = alphabet[rand_r(&seed) % (int)(sizeof(alphabet) - 1)];
        }
        text[n] = '\0';
        ok = reference_base64(text, n, want, &got);
        sprintf(body, "{\"records\":[{\"key_base64\":\"%s\"}]}", text);
        cr_assert(eq(int, parse(&p, body), ok), "'%s': %s", text, p.err.detail);
        if (ok)
            cr_assert(bytes_eq(p.env.records[0].key, p.env.records[0].key_len,
                               (const char *)want, got),
                      "'%s'", text);
        done(&p);
    }
}

Test(envelope, many_headers_keep_their_order_and_duplicates_are_found)
{
    enum { COUNT = 5000 };
    char *body = malloc(COUNT * 40 + 100);
    struct parsed p;
    size_t n;

    for (int dup = 0; dup <= 1; dup++) {
        n = (size_t)sprintf(body, "{\"records\":[{\"headers\":{");
        for (int i = 0; i < COUNT; i++)
            n += (size_t)sprintf(body + n, "%s\"name-%d\":\"value-%d\"", i ? "," : "",
                                 dup && i == COUNT - 1 ? 1234 : i, i);
        n += (size_t)sprintf(body + n, "}}]}");
        parse_n(&p, body, n, 10);
        if (dup) {
            cr_assert(not(p.ok));
            cr_assert(eq(str, p.err.detail, "records[0].headers has 'name-1234' twice"));
        } else {
            char want[40];

            cr_assert(p.ok, "%s", p.err.detail);
            cr_assert(eq(u32, p.env.records[0].header_count, COUNT));
            for (int i = 0; i < COUNT; i++) {
                const struct record_header *h = &p.env.records[0].headers[i];

                sprintf(want, "name-%d", i);
                cr_assert(bytes_eq(h->key, h->key_len, want, strlen(want)));
                sprintf(want, "value-%d", i);
                cr_assert(bytes_eq(h->value, h->value_len, want, strlen(want)));
            }
        }
        done(&p);
    }
    free(body);
}

Test(envelope, long_header_names_are_cut_in_details)
{
    char body[2000];
    struct parsed p;
    size_t n;

    n = (size_t)sprintf(body, "{\"records\":[{\"headers\":{\"");
    memset(body + n, 'h', 1000);
    n += 1000;
    n += (size_t)sprintf(body + n, "\":5}}]}");
    cr_assert(not(parse_n(&p, body, n, 10)));
    cr_assert(strstr(p.err.detail, "records[0].headers.hhhh") != NULL);
    cr_assert(strstr(p.err.detail, "hhh... must be a string") != NULL, "%s",
              p.err.detail);
    cr_assert(strlen(p.err.detail) < 120);
    done(&p);
}

Test(envelope, a_thousand_records_round_trip)
{
    enum { COUNT = 1000 };
    char *body = malloc(COUNT * 200 + 100), want[200];
    struct parsed p;
    size_t n = (size_t)sprintf(body, "{\"records\":[");

    for (int i = 0; i < COUNT; i++)
        n += (size_t)sprintf(
            body + n,
            "%s{\"key\":\"key-%d\",\"value\":{\"id\":%d,\"name\":\"user %d\","
            "\"tags\":[\"a\",\"b\"],\"ok\":true},\"partition\":%d,"
            "\"timestamp\":%d}",
            i ? ",\n" : "", i, i, i, i % 7, 1000 + i);
    n += (size_t)sprintf(body + n, "]}");
    cr_assert(parse_n(&p, body, n, COUNT), "%s", p.err.detail);
    cr_assert(eq(sz, p.env.count, COUNT));
    for (int i = 0; i < COUNT; i++) {
        const struct envelope_record *r = &p.env.records[i];

        sprintf(want, "key-%d", i);
        cr_assert(bytes_eq(r->key, r->key_len, want, strlen(want)));
        sprintf(want,
                "{\"id\":%d,\"name\":\"user %d\",\"tags\":[\"a\",\"b\"],\"ok\":true}", i,
                i);
        cr_assert(bytes_eq(r->value, r->value_len, want, strlen(want)));
        cr_assert(eq(i64, r->partition, i % 7));
        cr_assert(eq(i64, r->timestamp, 1000 + i));
    }
    done(&p);
    free(body);
}

Test(envelope, a_body_cut_at_any_byte_is_refused)
{
    static const char body[] =
        "{ \"records\" : [\n"
        "  {\"key\":\"k\\u00e9\\ud83d\\ude00\", \"value\": { \"a\" : [1, 2.5e3, \"x y\"] "
        "},\n"
        "   \"headers\": {\"h\\n\": \"v\", \"h2\": \"\"}, \"partition\": 10,"
        " \"timestamp\": 1700000000000},\n"
        "  {\"key_base64\": \"AP8=\", \"value_base64\": \"aGk\", \"value\" : null},\n"
        "  {\"key\": null, \"value\": [true, false, null, -0, {}]}\n"
        "] }";
    size_t len = sizeof(body) - 1;
    struct parsed p;

    /* the full body is valid but for value and value_base64 together */
    cr_assert(not(parse_n(&p, body, len, 10)));
    cr_assert(strstr(p.err.detail, "records[1]: give value or value_base64") != NULL);
    done(&p);
    {
        char *fixed = malloc(len);
        const char *cut = strstr(body, ", \"value\" : null");
        size_t at = (size_t)(cut - body), drop = strlen(", \"value\" : null");

        memcpy(fixed, body, at);
        memcpy(fixed + at, body + at + drop, len - at - drop);
        for (size_t n = 0; n < len - drop; n++) {
            cr_assert(not(parse_n(&p, fixed, n, 10)), "cut at %zu accepted", n);
            done(&p);
        }
        cr_assert(parse_n(&p, fixed, len - drop, 10), "%s", p.err.detail);
        cr_assert(eq(sz, p.env.count, 3));
        done(&p);
        free(fixed);
    }
}

/* ---- random input ---- */

static uint64_t rng_state;

static uint64_t rng(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static size_t below(size_t n)
{
    return (size_t)(rng() % n);
}

Test(envelope, random_garbage_never_crashes)
{
    static const char *const pieces[] = {
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        " ",
        "\"records\"",
        "\"key\"",
        "\"value\"",
        "\"headers\"",
        "\"partition\"",
        "\"timestamp\"",
        "\"key_base64\"",
        "\"value_base64\"",
        "\"a\"",
        "\"\\u00e9\"",
        "\"\\ud800\"",
        "null",
        "true",
        "1",
        "-0",
        "1e5",
        "\"YQ\"",
        "\xff",
        "\xc3\xa9",
        "\\",
        "\"",
        "\n",
        "{\"records\":[",
        "]}",
    };
    char buf[512];
    struct parsed p;

    rng_state = 42;
    for (int iter = 0; iter < 30000; iter++) {
        size_t n = 0;

        if (iter % 3 == 0) {
            n = below(64);
            for (size_t i = 0; i < n; i++)
                buf[i] = (char)below(256);
        } else {
            size_t k = below(40);

            if (iter % 3 == 1)
                n = (size_t)sprintf(buf, "{\"records\":[{");
            for (size_t i = 0; i < k; i++) {
                const char *s = pieces[below(N(pieces))];
                size_t l = strlen(s);

                if (n + l >= sizeof(buf))
                    break;
                memcpy(buf + n, s, l);
                n += l;
            }
        }
        parse_n(&p, buf, n, 3);
        if (p.ok)
            for (size_t i = 0; i < p.env.count; i++)
                if (p.env.records[i].value_len >= 0)
                    cr_assert(json_check((const char *)p.env.records[i].value,
                                         (size_t)p.env.records[i].value_len));
        done(&p);
    }
}

/* ---- jansson as an oracle ---- */

struct gen {
    char *buf;
    size_t n, cap;
};

static void put(struct gen *g, const char *s)
{
    size_t l = strlen(s);

    if (g->n + l + 1 > g->cap) {
        g->cap = (g->n + l + 1) * 2;
        g->buf = realloc(g->buf, g->cap);
        cr_assert(g->buf != NULL);
    }
    memcpy(g->buf + g->n, s, l + 1);
    g->n += l;
}

static void ws(struct gen *g)
{
    static const char *const spaces[] = {"", "", "", " ", "\n", " \t", "\r\n  "};

    put(g, spaces[below(N(spaces))]);
}

static void gen_string(struct gen *g)
{
    static const char *const parts[] = {
        "a",       "b",    "key",        " ",   "x y",     "\xc3\xa9", "\xf0\x9f\x98\x80",
        "\\n",     "\\\"", "\\\\",       "\\/", "\\u00e9", "\\u20AC",  "\\ud83d\\ude00",
        "\\u0041", "\\t",  "0123456789",
    };

    put(g, "\"");
    for (size_t k = below(4); k > 0; k--)
        put(g, parts[below(N(parts))]);
    put(g, "\"");
}

static void gen_value(struct gen *g, int depth)
{
    static const char *const scalars[] = {
        "0",
        "-0",
        "1",
        "-17",
        "3.25",
        "1e3",
        "-2.5E-2",
        "true",
        "false",
        "null",
        "9007199254740993",
    };
    size_t kind = depth > 3 ? below(2) : below(4);

    if (kind == 0) {
        put(g, scalars[below(N(scalars))]);
    } else if (kind == 1) {
        gen_string(g);
    } else {
        bool obj = kind == 3;

        put(g, obj ? "{" : "[");
        for (size_t i = 0, k = below(4); i < k; i++) {
            if (i)
                put(g, ",");
            ws(g);
            if (obj) {
                gen_string(g);
                ws(g);
                put(g, ":");
                ws(g);
            }
            gen_value(g, depth + 1);
            ws(g);
        }
        put(g, obj ? "}" : "]");
    }
}

static void gen_base64(struct gen *g)
{
    static const int variants[] = {
        sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
        sodium_base64_VARIANT_URLSAFE, sodium_base64_VARIANT_URLSAFE_NO_PADDING};
    uint8_t bin[12];
    char text[40];
    size_t n = below(sizeof(bin));

    for (size_t i = 0; i < n; i++)
        bin[i] = (uint8_t)below(256);
    sodium_bin2base64(text, sizeof(text), bin, n, variants[below(4)]);
    put(g, "\"");
    put(g, text);
    put(g, "\"");
}

static void gen_field(struct gen *g, const char *name)
{
    put(g, "\"");
    put(g, name);
    put(g, "\"");
    ws(g);
    put(g, ":");
    ws(g);
}

/* A valid envelope of 1..4 records with random fields, order and whitespace. */
static void gen_envelope(struct gen *g)
{
    g->n = 0;
    put(g, "");
    ws(g);
    put(g, "{");
    ws(g);
    put(g, "\"records\"");
    ws(g);
    put(g, ":");
    ws(g);
    put(g, "[");
    for (size_t i = 0, count = 1 + below(4); i < count; i++) {
        size_t fields = 0;

        put(g, i ? "," : "");
        ws(g);
        put(g, "{");
        ws(g);
        for (int f = 0; f < 5; f++) {
            if (below(3) == 0)
                continue;
            put(g, fields++ ? "," : "");
            ws(g);
            switch (f) {
            case 0:
                if (below(4) == 0) {
                    gen_field(g, "key_base64");
                    gen_base64(g);
                } else {
                    gen_field(g, "key");
                    if (below(5) == 0)
                        put(g, "null");
                    else
                        gen_string(g);
                }
                break;
            case 1:
                if (below(4) == 0) {
                    gen_field(g, "value_base64");
                    gen_base64(g);
                } else {
                    gen_field(g, "value");
                    gen_value(g, 0);
                }
                break;
            case 2:
                gen_field(g, "headers");
                put(g, "{");
                for (size_t h = 0, k = below(4); h < k; h++) {
                    char name[16];

                    sprintf(name, "h%zu", h);
                    put(g, h ? "," : "");
                    gen_field(g, name);
                    gen_string(g);
                }
                put(g, "}");
                break;
            case 3:
                gen_field(g, "partition");
                put(g, below(2) ? "0" : "42");
                break;
            case 4:
                gen_field(g, "timestamp");
                put(g, below(2) ? "-0" : "1700000000000");
                break;
            }
            ws(g);
        }
        put(g, "}");
        ws(g);
    }
    put(g, "]");
    ws(g);
    put(g, "}");
    ws(g);
}

/* jansson's verdict on the body: 1 with *root, 0, or -1 for no verdict. */
static int jansson_load(const char *s, size_t len, json_t **root)
{
    json_error_t err;

    *root = json_loadb(s, len, JSON_ALLOW_NUL, &err);
    if (*root)
        return 1;
    switch (json_error_code(&err)) {
    case json_error_numeric_overflow:
    case json_error_null_byte_in_key:
        return -1;
    default:
        return 0;
    }
}

static bool same_string(const uint8_t *b, int32_t len, json_t *s)
{
    return json_is_string(s) && len >= 0 && (size_t)len == json_string_length(s) &&
           memcmp(b, json_string_value(s), (size_t)len) == 0;
}

static bool same_base64(const uint8_t *b, int32_t len, json_t *s)
{
    uint8_t out[64];
    size_t got;

    return json_is_string(s) && json_string_length(s) < 80 &&
           reference_base64(json_string_value(s), json_string_length(s), out, &got) &&
           bytes_eq(b, len, (const char *)out, got);
}

/* Our record r against jansson's decoding of the same record. */
static void compare_record(const struct envelope_record *r, json_t *o, const char *body)
{
    json_t *key = json_object_get(o, "key"), *key64 = json_object_get(o, "key_base64");
    json_t *val = json_object_get(o, "value"),
           *val64 = json_object_get(o, "value_base64");
    json_t *headers = json_object_get(o, "headers"), *v;

    cr_assert(eq(int, json_is_object(o), 1), "%s", body);
    if (key64)
        cr_assert(same_base64(r->key, r->key_len, key64), "%s", body);
    else if (key && !json_is_null(key))
        cr_assert(same_string(r->key, r->key_len, key), "%s", body);
    else
        cr_assert(eq(int, r->key_len, -1), "%s", body);
    if (val64) {
        cr_assert(same_base64(r->value, r->value_len, val64), "%s", body);
    } else if (val && !json_is_null(val)) {
        json_t *ours;

        cr_assert(r->value_len >= 0, "%s", body);
        ours = json_loadb((const char *)r->value, (size_t)r->value_len,
                          JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        cr_assert(ours != NULL && json_equal(ours, val), "%s", body);
        json_decref(ours);
    } else {
        cr_assert(eq(int, r->value_len, -1), "%s", body);
    }
    cr_assert(eq(sz, r->header_count, headers ? json_object_size(headers) : 0), "%s",
              body);
    for (uint32_t k = 0; k < r->header_count; k++) {
        v = json_object_getn(headers, (const char *)r->headers[k].key,
                             (size_t)r->headers[k].key_len);
        cr_assert(same_string(r->headers[k].value, r->headers[k].value_len, v), "%s",
                  body);
    }
    v = json_object_get(o, "partition");
    cr_assert(eq(i64, r->partition, v ? json_integer_value(v) : -1), "%s", body);
    v = json_object_get(o, "timestamp");
    cr_assert(eq(i64, r->timestamp, v ? json_integer_value(v) : -1), "%s", body);
}

/* ours accepts => jansson accepts (or has no verdict) and decodes the same;
 * jansson rejects => ours rejects. Returns whether ours accepted. */
static bool differential(const char *s, size_t len)
{
    struct parsed p;
    json_t *root;
    int verdict = jansson_load(s, len, &root);

    parse_n(&p, s, len, 10);
    if (verdict == 0)
        cr_assert(not(p.ok), "jansson rejects, we accept: %s", show(s, len));
    if (p.ok && verdict == 1) {
        json_t *records = json_object_get(root, "records");

        cr_assert(eq(sz, json_array_size(records), p.env.count), "%s", show(s, len));
        for (size_t i = 0; i < p.env.count; i++)
            compare_record(&p.env.records[i], json_array_get(records, i), show(s, len));
    }
    json_decref(root);
    done(&p);
    return p.ok;
}

Test(envelope, generated_envelopes_agree_with_jansson)
{
    struct gen g = {0};

    rng_state = 2024;
    for (int iter = 0; iter < 3000; iter++) {
        gen_envelope(&g);
        cr_assert(differential(g.buf, g.n), "refused: %s", show(g.buf, g.n));
    }
    free(g.buf);
}

Test(envelope, mutated_envelopes_agree_with_jansson)
{
    static const char bytes[] = "{}[],:\" \\nu0-1.eE+/\x80\xc3\xa9\xff\x00tfa";
    struct gen g = {0};
    size_t accepted = 0;

    rng_state = 99;
    for (int iter = 0; iter < 20000; iter++) {
        gen_envelope(&g);
        for (size_t m = 1 + below(3); m > 0 && g.n > 0; m--) {
            size_t at = below(g.n);

            switch (below(3)) {
            case 0: /* replace */
                g.buf[at] = bytes[below(sizeof(bytes) - 1)];
                break;
            case 1: /* delete */
                memmove(g.buf + at, g.buf + at + 1, g.n - at - 1);
                g.n--;
                break;
            default: /* insert */
                put(&g, " ");
                memmove(g.buf + at + 1, g.buf + at, g.n - at - 1);
                g.buf[at] = bytes[below(sizeof(bytes) - 1)];
            }
        }
        accepted += differential(g.buf, g.n);
    }
    cr_assert(accepted > 1000, "only %zu mutants accepted", accepted);
    free(g.buf);
}

Test(envelope, handpicked_bodies_agree_with_jansson)
{
    static const char *const bodies[] = {
        "{\"records\":[{\"value\":{\"a\":{\"b\":[1,{\"c\":null}]}}}]}",
        "{\"records\":[{\"value\":\"\\u0000\",\"key\":\"\\u0000\"}]}",
        "{\"records\":[{\"headers\":{\"\\u00e9\":\"\\ud83d\\ude00\"}}]}",
        "{\"records\":[{\"value\":[1e400]}]}",
        "{\"records\":[{\"value\":{\"\\u0000\":1}}]}",
        "{\"records\":[{\"partition\":-0,\"timestamp\":0}]}",
        "{\"records\":[{\"value\":0\0}]}",
        "{\"records\":[{\"value\":{\"k\":1,\"k\":2}}]}",
        "{\"records\":[{\"key\":\"a\"},{\"key\":\"b\"}]}x",
        "{\"records\":[{}]",
    };

    for (size_t i = 0; i < N(bodies); i++)
        differential(bodies[i], strlen(bodies[i]));
}
