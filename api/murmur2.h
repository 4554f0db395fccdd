/* murmur2.h: Kafka's key partitioner, bit for bit (the Java client's Utils.murmur2,
 * Utils.toPositive and the default partitioner's partitionForKey), so a keyed record
 * lands in the partition a Kafka producer would have chosen. */
#ifndef API_MURMUR2_H
#define API_MURMUR2_H

#include <stddef.h>
#include <stdint.h>

/* Kafka's Utils.murmur2 (Java client), seed 0x9747b28c, all arithmetic mod 2^32. Bytes
 * are taken as unsigned, as Kafka's "& 0xff" makes Java's signed bytes. 'key' may be
 * NULL when len is 0. */
int32_t murmur2(const void *key, size_t len);

/* Kafka's Utils.toPositive: x & 0x7fffffff (NOT abs: INT32_MIN maps to 0). */
static inline int32_t murmur2_to_positive(int32_t x)
{
    return x & 0x7fffffff;
}

/* toPositive(murmur2(key)) % partitions, as the Java client's partitionForKey: a
 * partition in [0, partitions), or -EINVAL if partitions <= 0. */
int32_t murmur2_partition(const void *key, size_t len, int32_t partitions);

#endif
