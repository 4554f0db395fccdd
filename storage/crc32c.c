/* crc32c.c: CRC-32C (Castagnoli), in software and with SSE4.2.
 *
 * The CRC is reflected (bits are processed least significant first) over the polynomial
 * 0x82F63B78, starting from and finishing with an xor of 0xFFFFFFFF:
 *
 *   crc32c("123456789", 9) == 0xE3069283
 *
 * Software: slice-by-8. table[0] is the classic byte-at-a-time table; table[k][b] is the
 * CRC of byte b followed by k zero bytes, so eight table lookups advance the CRC over
 * eight input bytes at once. The tables are generated here, once, at the first use.
 *
 * Hardware: the SSE4.2 crc32 instruction computes exactly this CRC (without the xors),
 * eight bytes per instruction. Which implementation crc32c() uses is decided at the
 * first call and kept in an atomic function pointer; racing first calls all reach the
 * same answer, so the race is harmless.
 */
#include "storage/crc32c.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#define CRC32C_POLY 0x82F63B78u

static uint32_t crc_table[8][256];
static pthread_once_t crc_table_once = PTHREAD_ONCE_INIT;

static void crc_table_init(void)
{
    uint32_t c;
    unsigned i, k, bit;

    for (i = 0; i < 256; i++) {
        c = i;
        for (bit = 0; bit < 8; bit++)
            c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
        crc_table[0][i] = c;
    }
    for (i = 0; i < 256; i++) {
        c = crc_table[0][i];
        for (k = 1; k < 8; k++) {
            c = (c >> 8) ^ crc_table[0][c & 0xff];
            crc_table[k][i] = c;
        }
    }
}

uint32_t crc32c_extend_sw(uint32_t crc, const void *data, size_t len)
{
    const uint8_t *p = data;
    uint32_t(*t)[256] = crc_table;

    pthread_once(&crc_table_once, crc_table_init);
    crc = ~crc;
    while (len >= 8) {
        /* Byte by byte, so the result does not depend on the host's byte order. */
        crc ^= (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
               (uint32_t)p[3] << 24;
        crc = t[7][crc & 0xff] ^ t[6][(crc >> 8) & 0xff] ^ t[5][(crc >> 16) & 0xff] ^
              t[4][crc >> 24] ^ t[3][p[4]] ^ t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]];
        p += 8;
        len -= 8;
    }
    while (len--)
        crc = (crc >> 8) ^ t[0][(crc ^ *p++) & 0xff];
    return ~crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t hw_extend(uint32_t crc,
                                                            const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t c = ~crc, word;

    /* Align so the eight-byte loads below never straddle a cache line. */
    while (len && ((uintptr_t)p & 7)) {
        c = _mm_crc32_u8((uint32_t)c, *p++);
        len--;
    }
    while (len >= 8) {
        memcpy(&word, p, 8);
        c = _mm_crc32_u64(c, word);
        p += 8;
        len -= 8;
    }
    while (len--)
        c = _mm_crc32_u8((uint32_t)c, *p++);
    return ~(uint32_t)c;
}

static int cpu_has_sse42(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2") != 0;
}
#else
static uint32_t hw_extend(uint32_t crc, const void *data, size_t len)
{
    (void)data;
    (void)len;
    return crc;
}

static int cpu_has_sse42(void)
{
    return 0;
}
#endif

int crc32c_have_hw(void)
{
    static atomic_int have = -1; /* -1 until the CPU has been asked */
    int h = atomic_load_explicit(&have, memory_order_relaxed);

    if (h < 0) {
        h = cpu_has_sse42();
        atomic_store_explicit(&have, h, memory_order_relaxed);
    }
    return h;
}

int crc32c_extend_hw(uint32_t crc, const void *data, size_t len, uint32_t *out)
{
    if (!crc32c_have_hw())
        return 0;
    *out = hw_extend(crc, data, len);
    return 1;
}

typedef uint32_t crc_fn(uint32_t crc, const void *data, size_t len);

static uint32_t pick_extend(uint32_t crc, const void *data, size_t len);

static _Atomic(crc_fn *) extend_impl = pick_extend;

/* The first call lands here, installs the right implementation and forwards to it. */
static uint32_t pick_extend(uint32_t crc, const void *data, size_t len)
{
    crc_fn *fn = crc32c_have_hw() ? hw_extend : crc32c_extend_sw;

    atomic_store_explicit(&extend_impl, fn, memory_order_release);
    return fn(crc, data, len);
}

uint32_t crc32c_extend(uint32_t crc, const void *data, size_t len)
{
    return atomic_load_explicit(&extend_impl, memory_order_acquire)(crc, data, len);
}

uint32_t crc32c(const void *data, size_t len)
{
    return crc32c_extend(0, data, len);
}
