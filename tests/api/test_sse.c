/* tests/api/test_sse.c: api/sse.c, the framing of data lines and the event ids a client
 * sends back. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <stdint.h>

#include "api/sse.h"

TestSuite(sse, .timeout = 10);

static void expect_data(const char *in, const char *want)
{
    struct buf b = BUF_INIT;

    sse_add_data(&b, in, strlen(in));
    cr_assert(eq(str, b.data, (char *)want));
    buf_release(&b);
}

Test(sse, data_lines_split_at_cr_lf_and_crlf)
{
    expect_data("{\"a\":1}", "data: {\"a\":1}\n");
    expect_data("", "data: \n");
    expect_data("{\n \"a\": 1\n}", "data: {\ndata:  \"a\": 1\ndata: }\n");
    expect_data("a\r\nb\rc\n", "data: a\ndata: b\ndata: c\ndata: \n");
    expect_data("\r\n\r\n", "data: \ndata: \ndata: \n");
}

Test(sse, an_offset_id_is_digits_only)
{
    int64_t v = -1;

    cr_assert(eq(int, sse_parse_offset_id("0", &v), 0));
    cr_assert(eq(i64, v, 0));
    cr_assert(eq(int, sse_parse_offset_id("9223372036854775807", &v), 0));
    cr_assert(eq(i64, v, INT64_MAX));
    cr_assert(eq(int, sse_parse_offset_id("9223372036854775808", &v), -EINVAL));
    cr_assert(eq(int, sse_parse_offset_id("", &v), -EINVAL));
    cr_assert(eq(int, sse_parse_offset_id("-1", &v), -EINVAL));
    cr_assert(eq(int, sse_parse_offset_id("+1", &v), -EINVAL));
    cr_assert(eq(int, sse_parse_offset_id(" 1", &v), -EINVAL));
    cr_assert(eq(int, sse_parse_offset_id("1 ", &v), -EINVAL));
    cr_assert(eq(int, sse_parse_offset_id("0:1", &v), -EINVAL));
    cr_assert(eq(int, sse_parse_offset_id("0x10", &v), -EINVAL));
}

Test(sse, a_vector_id_sets_the_partitions_it_names)
{
    int64_t next[4] = {-1, -1, -1, -1};

    cr_assert(eq(int, sse_parse_vector_id("0:17,1:4,3:9", next, 4), 0));
    cr_assert(eq(i64, next[0], 17));
    cr_assert(eq(i64, next[1], 4));
    cr_assert(eq(i64, next[2], -1), "a partition it does not name is left alone");
    cr_assert(eq(i64, next[3], 9));
    cr_assert(eq(int, sse_parse_vector_id("2:0", next, 4), 0));
    cr_assert(eq(i64, next[2], 0));
}

Test(sse, a_malformed_vector_id_is_refused)
{
    static const char *bad[] = {"", ",", "0", "0:", ":1", "0:1,", ",0:1", "0:1,,1:2",
                                "0:1;1:2", "0:-1", "-1:0", "0:1 ", " 0:1", "0:1,0:2",
                                "0:99999999999999999999", "a:b", "0:1:2"};
    int64_t next[2];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert(eq(int, sse_parse_vector_id(bad[i], next, 2), -EINVAL), "'%s'", bad[i]);
    cr_assert(eq(int, sse_parse_vector_id("0:1,2:5", next, 2), -ERANGE));
    cr_assert(eq(int, sse_parse_vector_id("99999999999:5", next, 2), -ERANGE));
}

Test(sse, a_huge_id_is_refused_before_parsing)
{
    size_t n = SSE_MAX_ID_LEN + 1;
    char *s = malloc(n + 1);
    int64_t v, next[1];

    memset(s, '1', n);
    s[n] = '\0';
    cr_assert(eq(int, sse_parse_offset_id(s, &v), -EINVAL));
    cr_assert(eq(int, sse_parse_vector_id(s, next, 1), -EINVAL));
    free(s);
}

Test(sse, a_vector_id_round_trips)
{
    int64_t next[3] = {5, 0, INT64_MAX}, back[3] = {0};
    struct buf b = BUF_INIT;

    sse_add_vector_id(&b, next, 3);
    cr_assert(eq(str, b.data, "0:5,1:0,2:9223372036854775807"));
    cr_assert(eq(int, sse_parse_vector_id(b.data, back, 3), 0));
    cr_assert(eq(i64, back[2], INT64_MAX));
    buf_reset(&b);
    sse_add_i64(&b, -42);
    cr_assert(eq(str, b.data, "-42"));
    buf_release(&b);
}
