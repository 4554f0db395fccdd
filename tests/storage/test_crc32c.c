/* tests/storage/test_crc32c.c: tests for storage/crc32c.c */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <pthread.h>
#include <string.h>

#include "storage/crc32c.h"

TestSuite(crc32c, .timeout = 30);

static const char check_input[] = "123456789";
#define CHECK_VALUE 0xE3069283u

/* splitmix64: a deterministic source of test bytes. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void fill_random(uint8_t *p, size_t n, uint64_t *seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)rng_next(seed);
}

Test(crc32c, software_matches_the_check_value)
{
    cr_assert(eq(u32, crc32c_extend_sw(0, check_input, 9), CHECK_VALUE));
}

Test(crc32c, hardware_matches_the_check_value_when_present)
{
    uint32_t out = 0x12345678;
    int have = crc32c_extend_hw(0, check_input, 9, &out);

    cr_assert(eq(int, have, crc32c_have_hw()));
    if (have)
        cr_assert(eq(u32, out, CHECK_VALUE));
    else
        cr_assert(eq(u32, out, 0x12345678), "out must be left alone without hardware");
}

Test(crc32c, dispatcher_matches_the_check_value)
{
    cr_assert(eq(u32, crc32c(check_input, 9), CHECK_VALUE));
    cr_assert(eq(u32, crc32c_extend(0, check_input, 9), CHECK_VALUE));
}

Test(crc32c, empty_input_is_zero)
{
    uint32_t out = 1;

    cr_assert(eq(u32, crc32c("", 0), 0));
    cr_assert(eq(u32, crc32c_extend_sw(0, "", 0), 0));
    if (crc32c_extend_hw(0, "", 0, &out))
        cr_assert(eq(u32, out, 0));
    /* Extending by nothing changes nothing. */
    cr_assert(eq(u32, crc32c_extend(0xDEADBEEF, "", 0), 0xDEADBEEF));
}

#if defined(__x86_64__)
Test(crc32c, have_hw_follows_the_cpu)
{
    __builtin_cpu_init();
    cr_assert(eq(int, crc32c_have_hw(), __builtin_cpu_supports("sse4.2") != 0));
}
#endif

/* RFC 3720 (iSCSI) appendix B.4, 32-byte vectors. */
Test(crc32c, matches_the_iscsi_vectors)
{
    uint8_t buf[32];
    uint32_t hw;

    memset(buf, 0, sizeof(buf));
    cr_assert(eq(u32, crc32c(buf, 32), 0x8A9136AA));
    cr_assert(eq(u32, crc32c_extend_sw(0, buf, 32), 0x8A9136AA));
    if (crc32c_extend_hw(0, buf, 32, &hw))
        cr_assert(eq(u32, hw, 0x8A9136AA));
    memset(buf, 0xff, sizeof(buf));
    cr_assert(eq(u32, crc32c(buf, 32), 0x62A8AB43));
    cr_assert(eq(u32, crc32c_extend_sw(0, buf, 32), 0x62A8AB43));
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)i;
    cr_assert(eq(u32, crc32c(buf, 32), 0x46DD794E));
    cr_assert(eq(u32, crc32c_extend_sw(0, buf, 32), 0x46DD794E));
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)(31 - i);
    cr_assert(eq(u32, crc32c(buf, 32), 0x113FDB5C));
    cr_assert(eq(u32, crc32c_extend_sw(0, buf, 32), 0x113FDB5C));
}

/* A bit-at-a-time CRC straight from the definition, to check the sliced tables. */
static uint32_t crc_bitwise(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFF;

    while (n--) {
        c ^= *p++;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78 : c >> 1;
    }
    return ~c;
}

Test(crc32c, software_matches_the_bitwise_definition)
{
    uint8_t buf[300];
    uint64_t seed = 7;

    fill_random(buf, sizeof(buf), &seed);
    for (size_t len = 0; len <= sizeof(buf); len++)
        cr_assert(eq(u32, crc32c_extend_sw(0, buf, len), crc_bitwise(buf, len)),
                  "length %zu", len);
}

Test(crc32c, software_and_hardware_agree_at_every_length_and_alignment)
{
    uint8_t buf[300 + 8];
    uint64_t seed = 42;
    uint32_t hw, sw, start;

    if (!crc32c_have_hw())
        cr_skip_test("no SSE4.2 on this CPU");
    for (size_t align = 0; align < 8; align++) {
        for (size_t len = 0; len <= 300; len++) {
            fill_random(buf, sizeof(buf), &seed);
            start = (uint32_t)rng_next(&seed);
            sw = crc32c_extend_sw(start, buf + align, len);
            cr_assert(eq(int, crc32c_extend_hw(start, buf + align, len, &hw), 1));
            cr_assert(eq(u32, hw, sw), "align %zu length %zu", align, len);
            cr_assert(eq(u32, crc32c_extend(start, buf + align, len), sw));
        }
    }
}

Test(crc32c, software_gives_the_same_answer_at_every_alignment)
{
    uint8_t buf[300 + 8], moved[300 + 8];
    uint64_t seed = 3;

    fill_random(buf, 300, &seed);
    for (size_t align = 0; align < 8; align++) {
        memcpy(moved + align, buf, 300);
        for (size_t len = 0; len <= 300; len += 7)
            cr_assert(eq(u32, crc32c_extend_sw(0, moved + align, len),
                         crc32c_extend_sw(0, buf, len)));
    }
}

Test(crc32c, extend_composes_at_every_split)
{
    uint8_t buf[257];
    uint64_t seed = 9;
    uint32_t whole, a, hw;

    fill_random(buf, sizeof(buf), &seed);
    whole = crc32c(buf, sizeof(buf));
    cr_assert(eq(u32, whole, crc_bitwise(buf, sizeof(buf))));
    for (size_t cut = 0; cut <= sizeof(buf); cut++) {
        a = crc32c(buf, cut);
        cr_assert(eq(u32, crc32c_extend(a, buf + cut, sizeof(buf) - cut), whole));
        a = crc32c_extend_sw(0, buf, cut);
        cr_assert(eq(u32, crc32c_extend_sw(a, buf + cut, sizeof(buf) - cut), whole));
        if (crc32c_extend_hw(0, buf, cut, &a)) {
            cr_assert(eq(int, crc32c_extend_hw(a, buf + cut, sizeof(buf) - cut, &hw), 1));
            cr_assert(eq(u32, hw, whole));
        }
    }
}

Test(crc32c, a_flipped_bit_changes_the_crc)
{
    uint8_t buf[64];
    uint64_t seed = 11;
    uint32_t good;

    fill_random(buf, sizeof(buf), &seed);
    good = crc32c(buf, sizeof(buf));
    for (size_t bit = 0; bit < sizeof(buf) * 8; bit++) {
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        cr_assert(ne(u32, crc32c(buf, sizeof(buf)), good), "bit %zu", bit);
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
}

/* Criterion forks each test, so this is the process's first CRC: the threads race to
 * pick the implementation and build the tables. */
#define RACE_THREADS 8

static uint8_t race_buf[4096];

static void *race_worker(void *arg)
{
    uint32_t *out = arg;

    *out = crc32c(race_buf, sizeof(race_buf)) ^ crc32c_extend_sw(0, race_buf, 100);
    return NULL;
}

Test(crc32c, first_calls_from_many_threads_agree)
{
    pthread_t t[RACE_THREADS];
    uint32_t got[RACE_THREADS];
    uint64_t seed = 5;

    fill_random(race_buf, sizeof(race_buf), &seed);
    for (int i = 0; i < RACE_THREADS; i++)
        cr_assert(eq(int, pthread_create(&t[i], NULL, race_worker, &got[i]), 0));
    for (int i = 0; i < RACE_THREADS; i++)
        cr_assert(eq(int, pthread_join(t[i], NULL), 0));
    for (int i = 0; i < RACE_THREADS; i++)
        cr_assert(
            eq(u32, got[i],
               crc_bitwise(race_buf, sizeof(race_buf)) ^ crc_bitwise(race_buf, 100)));
}
