/* tests/api/test_record_json.c: a stored record as the JSON a fetch returns
 * (api_record_json in api/consume.c): JSON values embedded, other bytes in base64,
 * keys and headers as text when UTF-8, else in their _base64 forms. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <jansson.h>
#include <string.h>

#include "api/internal.h"

/* Encodes 'in' as a one-record batch, decodes it and renders it as JSON. */
static json_t *render(const struct record *in, bool value_base64)
{
    struct buf batch = BUF_INIT, out = BUF_INIT;
    struct record_batch_header h;
    struct record_iter it;
    struct record r;
    json_t *j;

    cr_assert(eq(int, record_batch_encode(&batch, in, 1), 0));
    cr_assert(eq(int, record_batch_check((uint8_t *)batch.data, batch.len, &h), 0));
    record_iter_init(&it, (uint8_t *)batch.data, &h);
    cr_assert(eq(int, record_iter_next(&it, &r), 1));
    api_record_json(&out, &r, -1, value_base64);
    j = json_loadb(out.data, out.len, 0, NULL);
    cr_assert(not(eq(ptr, j, NULL)), "not JSON: %s", out.data);
    buf_release(&batch);
    buf_release(&out);
    return j;
}

static const char *member(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

Test(record_json, json_values_are_embedded_and_text_keys_are_strings)
{
    struct record in = {.timestamp = 5, .key = (const uint8_t *)"k", .key_len = 1,
                        .value = (const uint8_t *)"{\"a\":[1,2]}", .value_len = 11};
    json_t *j = render(&in, false);

    cr_assert(eq(str, (char *)member(j, "key"), "k"));
    cr_assert(0 != json_is_array(json_object_get(json_object_get(j, "value"), "a")));
    cr_assert(eq(i64, json_integer_value(json_object_get(j, "timestamp")), 5));
    cr_assert(0 != json_is_object(json_object_get(j, "headers")));
    cr_assert(eq(ptr, json_object_get(j, "headers_base64"), NULL));
    json_decref(j);
}

Test(record_json, other_bytes_come_as_base64_and_nulls_as_null)
{
    struct record in = {.key = (const uint8_t *)"\xff\x00", .key_len = 2,
                        .value = (const uint8_t *)"not json", .value_len = 8};
    struct record tomb = {.key_len = -1, .value_len = -1};
    json_t *j = render(&in, false), *t = render(&tomb, false);

    cr_assert(eq(str, (char *)member(j, "key_base64"), "/wA="));
    cr_assert(eq(str, (char *)member(j, "value_base64"), "bm90IGpzb24="));
    cr_assert(eq(ptr, json_object_get(j, "value"), NULL));
    cr_assert(0 != json_is_null(json_object_get(t, "key")));
    cr_assert(0 != json_is_null(json_object_get(t, "value")));
    json_decref(j);
    json_decref(t);
}

Test(record_json, value_format_base64_forces_base64)
{
    struct record in = {.key_len = -1, .value = (const uint8_t *)"1", .value_len = 1};
    json_t *j = render(&in, true);

    cr_assert(eq(str, (char *)member(j, "value_base64"), "MQ=="));
    json_decref(j);
}

Test(record_json, binary_headers_go_to_headers_base64)
{
    struct record_header h[3] = {
        {(const uint8_t *)"text", 4, (const uint8_t *)"v", 1},
        {(const uint8_t *)"bin", 3, (const uint8_t *)"\xfe", 1},
        {(const uint8_t *)"none", 4, NULL, -1},
    };
    struct record in = {.key_len = -1, .value_len = -1, .headers = h, .header_count = 3};
    json_t *j = render(&in, false), *hd = json_object_get(j, "headers"),
           *hb = json_object_get(j, "headers_base64");

    cr_assert(eq(str, (char *)member(hd, "text"), "v"));
    cr_assert(0 != json_is_null(json_object_get(hd, "none")));
    cr_assert(eq(ptr, json_object_get(hd, "bin"), NULL));
    cr_assert(eq(str, (char *)member(hb, "Ymlu"), "/g=="), "base64 name -> base64 value");
    json_decref(j);
}

/* A value whose bytes are the JSON literal null would render as "value":null, which
 * is how a null value (a tombstone) looks: those bytes come as base64 instead. */
Test(record_json, a_value_of_the_bytes_null_comes_as_base64_not_as_a_null_value)
{
    static const struct {
        const char *bytes, *base64;
    } cases[] = {
        {"null", "bnVsbA=="},
        {" null", "IG51bGw="},
        {"null\n", "bnVsbAo="},
        {"\t\r\n null \n", "CQ0KIG51bGwgCg=="},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct record in = {.key_len = -1, .value = (const uint8_t *)cases[i].bytes,
                            .value_len = (int32_t)strlen(cases[i].bytes)};
        json_t *j = render(&in, false);

        cr_assert(eq(ptr, json_object_get(j, "value"), NULL), "case %zu", i);
        cr_assert(eq(str, (char *)member(j, "value_base64"), (char *)cases[i].base64),
                  "case %zu", i);
        json_decref(j);
    }
}

Test(record_json, json_values_that_only_hold_null_are_still_embedded)
{
    static const char *const values[] = {"[null]", "{\"a\":null}", "\"null\"", "0"};

    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        struct record in = {.key_len = -1, .value = (const uint8_t *)values[i],
                            .value_len = (int32_t)strlen(values[i])};
        json_t *j = render(&in, false), *v = json_object_get(j, "value");

        cr_assert(ne(ptr, v, NULL), "%s", values[i]);
        cr_assert(eq(int, json_is_null(v), 0), "%s", values[i]);
        cr_assert(eq(ptr, json_object_get(j, "value_base64"), NULL), "%s", values[i]);
        json_decref(j);
    }
}
