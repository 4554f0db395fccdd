/* tests/api/test_murmur2.c: tests for api/murmur2.c
 *
 * Sources of the expected values, kept apart on purpose:
 *   - kafka_vectors: Kafka's own UtilsTest.testMurmur2 (clients module), verbatim;
 *   - akka_vectors: Akka's Murmur2Spec, which says it takes them from Kafka's
 *     implementation;
 *   - partition_vectors: derived by us, not published by Kafka: toPositive and % n of
 *     the values above, computed by Kafka's Utils.murmur2 and toPositive transcribed
 *     into a Java 17 program;
 *   - keys with bytes >= 0x80: checked against java_murmur2() below, an independent,
 *     deliberately literal re-implementation of the Java code with Java's semantics
 *     (signed bytes masked with & 0xff, 32-bit int wrap-around, >>> as a logical shift);
 *     the three pinned values were also produced by that Java 17 program. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "api/murmur2.h"

TestSuite(murmur2, .timeout = 10);

/* Arrays, not pointers: criterion copies parameters into a new process image. */
struct vector {
    char key[64];
    int32_t hash;
};

ParameterizedTestParameters(murmur2, matches_kafka_utils_test)
{
    static struct vector kafka_vectors[] = {
        {"21", -973932308},
        {"foobar", -790332482},
        {"a-little-bit-long-string", -985981536},
        {"a-little-bit-longer-string", -1486304829},
        {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
        {"abc", 479470107},
    };
    return cr_make_param_array(struct vector, kafka_vectors,
                               sizeof(kafka_vectors) / sizeof(kafka_vectors[0]));
}

ParameterizedTest(struct vector *v, murmur2, matches_kafka_utils_test)
{
    cr_assert(eq(i32, murmur2(v->key, strlen(v->key)), v->hash), "key '%s'", v->key);
}

ParameterizedTestParameters(murmur2, matches_akka_murmur2_spec)
{
    static struct vector akka_vectors[] = {
        {"1", -1993445489},    {"12", 126087238},      {"123", -267702483},
        {"1234", -1614185708}, {"12345", -1188365604},
    };
    return cr_make_param_array(struct vector, akka_vectors,
                               sizeof(akka_vectors) / sizeof(akka_vectors[0]));
}

ParameterizedTest(struct vector *v, murmur2, matches_akka_murmur2_spec)
{
    cr_assert(eq(i32, murmur2(v->key, strlen(v->key)), v->hash), "key '%s'", v->key);
}

/* Derived by us, not from Kafka: see the top comment. */
struct partition_vector {
    char key[64];
    int32_t positive; /* toPositive(murmur2(key)) */
    int32_t mod3, mod10;
};

static const struct partition_vector partition_vectors[] = {
    {"21", 1173551340, 0, 0},
    {"foobar", 1357151166, 0, 6},
    {"a-little-bit-long-string", 1161502112, 2, 2},
    {"a-little-bit-longer-string", 661178819, 2, 9},
    {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", 2088585677, 2, 7},
    {"abc", 479470107, 0, 7},
    {"", 275646681, 0, 1},
};

Test(murmur2, to_positive_and_partition_match_derived_values)
{
    size_t n = sizeof(partition_vectors) / sizeof(partition_vectors[0]);

    for (size_t i = 0; i < n; i++) {
        const struct partition_vector *v = &partition_vectors[i];
        const char *key = v->key;
        size_t len = strlen(key);
        int32_t hash = murmur2(key, len);

        cr_expect(eq(i32, murmur2_to_positive(hash), v->positive), "'%s'", key);
        cr_expect(eq(i32, murmur2_partition(key, len, 3), v->mod3), "'%s'", key);
        cr_expect(eq(i32, murmur2_partition(key, len, 10), v->mod10), "'%s'", key);
        cr_expect(eq(i32, murmur2_partition(key, len, 1), 0), "'%s'", key);
    }
}

Test(murmur2, empty_key_may_be_null)
{
    cr_assert(eq(i32, murmur2(NULL, 0), murmur2("", 0)));
    cr_assert(eq(i32, murmur2(NULL, 0), 275646681)); /* already positive */
}

Test(murmur2, to_positive_masks_the_sign_bit_and_is_not_abs)
{
    cr_assert(eq(i32, murmur2_to_positive(-1), INT32_MAX));
    cr_assert(eq(i32, murmur2_to_positive(INT32_MIN), 0));
    cr_assert(eq(i32, murmur2_to_positive(-973932308), 1173551340));
    cr_assert(eq(i32, murmur2_to_positive(5), 5));
}

Test(murmur2, partition_rejects_a_count_below_one)
{
    cr_assert(eq(i32, murmur2_partition("a", 1, 0), -EINVAL));
    cr_assert(eq(i32, murmur2_partition("a", 1, -3), -EINVAL));
}

/* Utils.murmur2 written out as Java executes it: data[i] is a signed byte (int8_t),
 * masked with & 0xff; int arithmetic wraps mod 2^32 (done in uint32_t, since signed
 * overflow is undefined in C); >>> is a logical shift of the 32-bit pattern. */
static int32_t java_murmur2(const int8_t *data, int length)
{
    const uint32_t seed = 0x9747b28cu, m = 0x5bd1e995u;
    const int r = 24;
    uint32_t h = seed ^ (uint32_t)length;
    int length4 = length / 4;

    for (int i = 0; i < length4; i++) {
        int i4 = i * 4;
        uint32_t k = (uint32_t)(data[i4 + 0] & 0xff) +
                     ((uint32_t)(data[i4 + 1] & 0xff) << 8) +
                     ((uint32_t)(data[i4 + 2] & 0xff) << 16) +
                     ((uint32_t)(data[i4 + 3] & 0xff) << 24);

        k *= m;
        k ^= k >> r;
        k *= m;
        h *= m;
        h ^= k;
    }
    switch (length % 4) {
    case 3:
        h ^= (uint32_t)(data[(length & ~3) + 2] & 0xff) << 16;
        /* fall through */
    case 2:
        h ^= (uint32_t)(data[(length & ~3) + 1] & 0xff) << 8;
        /* fall through */
    case 1:
        h ^= (uint32_t)(data[length & ~3] & 0xff);
        h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return (int32_t)h;
}

Test(murmur2, keys_with_high_bytes_match_java_semantics)
{
    static const struct {
        const char *key;
        int len;
        int32_t hash; /* from Kafka's code run on Java 17 */
    } pinned[] = {
        {"\xff\xfe\x80", 3, -160726397},
        {"\x80\x81\x82\x83", 4, 1420557722},
        {"\xff\xff\xff\xff\xff\xff\xff", 7, -71293549},
        {"caf\xc3\xa9", 5, -1358007374},
    };

    for (size_t i = 0; i < sizeof(pinned) / sizeof(pinned[0]); i++) {
        int32_t java = java_murmur2((const int8_t *)pinned[i].key, pinned[i].len);

        cr_expect(eq(i32, java, pinned[i].hash), "the Java model disagrees with Java");
        cr_expect(eq(i32, murmur2(pinned[i].key, (size_t)pinned[i].len), pinned[i].hash),
                  "key %zu", i);
    }
}

Test(murmur2, every_byte_value_at_every_position_matches_java_semantics)
{
    int8_t key[11];

    /* lengths 1..11 cover every tail length after zero, one and two blocks */
    for (int len = 1; len <= (int)sizeof(key); len++) {
        for (int pos = 0; pos < len; pos++) {
            for (int b = 0; b < 256; b++) {
                memset(key, 'k', sizeof(key));
                key[pos] = (int8_t)b;
                if (murmur2(key, (size_t)len) != java_murmur2(key, len))
                    cr_fail("len %d, byte 0x%02x at %d", len, b, pos);
            }
        }
    }
}

Test(murmur2, partition_is_in_range_and_deterministic)
{
    char key[32];

    for (int i = 0; i < 10000; i++) {
        int n = snprintf(key, sizeof(key), "key-%d", i);
        int32_t p = murmur2_partition(key, (size_t)n, 7);

        cr_assert(ge(i32, p, 0));
        cr_assert(lt(i32, p, 7));
        cr_assert(eq(i32, p, murmur2_to_positive(murmur2(key, (size_t)n)) % 7));
    }
}
