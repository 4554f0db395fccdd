/* clock.h: the two clocks in milliseconds. Wall time for what is stored or compared
 * with stored times (record timestamps, segment ages, retention); monotonic time for
 * deadlines and durations. */
#ifndef COMMON_CLOCK_H
#define COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t clock_ms_of(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds since the epoch. */
static inline int64_t clock_wall_ms(void)
{
    return clock_ms_of(CLOCK_REALTIME);
}

/* CLOCK_MONOTONIC milliseconds. */
static inline int64_t clock_mono_ms(void)
{
    return clock_ms_of(CLOCK_MONOTONIC);
}

#endif
