/* timer.h: one-shot timers fired by one thread (long-poll deadlines, SSE heartbeats).
 *
 * A struct timer_wheel is a min-heap of armed timers ordered by due time, a mutex, a
 * condition variable on CLOCK_MONOTONIC and one thread that sleeps until the earliest
 * due time (with nothing armed it waits without a timeout: no CPU while idle). Arming,
 * moving and cancelling are O(log n) under the lock. */
#ifndef COMMON_TIMER_H
#define COMMON_TIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Embedded in the caller's struct, caller-owned; starts zeroed (armed false). */
struct timer {
    int64_t due_ms;                /* CLOCK_MONOTONIC ms; read once, by timer_arm() */
    void (*fire)(struct timer *t); /* runs on the timer thread WITH the wheel's lock
                                      held: must be quick, must not call timer_*() */
    size_t heap_index;             /* private */
    bool armed;                    /* private: set by timer_arm(), cleared before fire()
                                      or by timer_cancel() / timer_wheel_stop() */
};

struct timer_wheel;

/* Starts a wheel and its thread. Returns 0 or -errno from pthread (-EAGAIN, ...); out of
 * memory aborts. */
int timer_wheel_start(struct timer_wheel **out);

/* Stops the thread, joins it and frees 'w'. Timers still armed never fire and are left
 * disarmed (their memory is the caller's, untouched otherwise). NULL is a no-op. No other
 * thread may use 'w' during or after the call. */
void timer_wheel_stop(struct timer_wheel *w);

/* CLOCK_MONOTONIC in milliseconds. */
int64_t timer_now_ms(void);

/* Arms 't' to fire once at t->due_ms (a time already past fires at once). Re-arming an
 * armed timer moves it to the new due time; it still fires once. Set t->due_ms and
 * t->fire before the call; due_ms is copied, so changing it later has no effect until
 * the next timer_arm(). 't' must stay valid until it fires, is cancelled or the wheel
 * stops. Must not be called from fire(). */
void timer_arm(struct timer_wheel *w, struct timer *t);

/* Disarms 't'. Returns true if it was armed (it will not fire); false if it already
 * fired or was never armed. Because fire() runs under the lock, once this returns 't' is
 * not being fired and will not be: the caller may free it. Must not be called from
 * fire(). */
bool timer_cancel(struct timer_wheel *w, struct timer *t);

#endif
