/* murmur2.c: MurmurHash2 as Kafka's Java client computes it (Utils.murmur2).
 *
 * Java's int arithmetic wraps mod 2^32 and '>>>' is a logical shift, so uint32_t does
 * the same work; the result is the same 32 bits read as a signed int. It is Austin
 * Appleby's MurmurHash2 with a fixed seed and 4-byte blocks read little-endian. Java's
 * bytes are signed and Kafka masks each with '& 0xff' (in the blocks and in the tail);
 * reading them as unsigned char here is the same. Example: murmur2("21", 2) ==
 * -973932308. */
#include "api/murmur2.h"

#include <errno.h>

#define MURMUR2_SEED 0x9747b28cu
#define MURMUR2_M 0x5bd1e995u
#define MURMUR2_R 24

int32_t murmur2(const void *key, size_t len)
{
    const unsigned char *data = key;
    uint32_t h = MURMUR2_SEED ^ (uint32_t)len; /* Java: seed ^ data.length */
    size_t tail = len & ~(size_t)3;

    for (size_t i = 0; i < tail; i += 4) {
        uint32_t k = (uint32_t)data[i] | (uint32_t)data[i + 1] << 8 |
                     (uint32_t)data[i + 2] << 16 | (uint32_t)data[i + 3] << 24;

        k *= MURMUR2_M;
        k ^= k >> MURMUR2_R;
        k *= MURMUR2_M;
        h *= MURMUR2_M;
        h ^= k;
    }
    switch (len & 3) {
    case 3:
        h ^= (uint32_t)data[tail + 2] << 16;
        /* fall through */
    case 2:
        h ^= (uint32_t)data[tail + 1] << 8;
        /* fall through */
    case 1:
        h ^= data[tail];
        h *= MURMUR2_M;
    }
    h ^= h >> 13;
    h *= MURMUR2_M;
    h ^= h >> 15;
    return (int32_t)h; /* two's complement, as Java's int */
}

int32_t murmur2_partition(const void *key, size_t len, int32_t partitions)
{
    if (partitions <= 0)
        return -EINVAL;
    return murmur2_to_positive(murmur2(key, len)) % partitions;
}
