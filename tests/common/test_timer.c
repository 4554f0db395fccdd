/* tests/common/test_timer.c: tests for common/timer.c
 *
 * Nothing here asserts that something happened within X ms. Waits are bounded polls (up
 * to 10 s) for an event that must come; where a test needs a timer to still be pending
 * when the next call runs, its due time is a second or more away, which the comment at
 * that spot points out. Every test cancels or outlives what it armed before returning,
 * since the fixture's timer_wheel_stop() touches still-armed timers. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "common/timer.h"

#define WAIT_LIMIT_MS 10000

static struct timer_wheel *wheel;

static void setup(void)
{
    cr_assert(eq(int, timer_wheel_start(&wheel), 0));
}

static void teardown(void)
{
    timer_wheel_stop(wheel);
    wheel = NULL;
}

TestSuite(timer, .init = setup, .fini = teardown, .timeout = 60);

struct probe {
    struct timer timer;
    int id;
    atomic_int fired;
};

#define MAX_ORDER 64
static atomic_int firings;   /* record_fire() calls; each test is its own process */
static int order[MAX_ORDER]; /* probe ids in firing order, written before 'firings' */
static int order_len;        /* only fire() touches it, and fire() runs under the lock */

static struct probe *probe_of(struct timer *t)
{
    return (struct probe *)((char *)t - offsetof(struct probe, timer));
}

static void record_fire(struct timer *t)
{
    struct probe *p = probe_of(t);

    if (order_len < MAX_ORDER)
        order[order_len++] = p->id;
    atomic_fetch_add(&p->fired, 1);
    atomic_fetch_add(&firings, 1); /* last: a reader that sees it sees the rest */
}

static void arm_in(struct probe *p, int64_t ms_from_now)
{
    p->timer.due_ms = timer_now_ms() + ms_from_now;
    p->timer.fire = record_fire;
    timer_arm(wheel, &p->timer);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

    nanosleep(&ts, NULL);
}

/* Polls until *v >= want or WAIT_LIMIT_MS passed; returns whether it got there. */
static bool wait_for(atomic_int *v, int want)
{
    int64_t give_up = timer_now_ms() + WAIT_LIMIT_MS;

    while (atomic_load(v) < want) {
        if (timer_now_ms() > give_up)
            return false;
        sleep_ms(1);
    }
    return true;
}

Test(timer, timers_fire_in_due_order)
{
    /* armed out of order; all due >= 1 s from now, so all are armed before any fires */
    static const int offsets[] = {700, 100, 500, 300, 800, 200, 600, 400, 0};
    struct probe p[9] = {0};
    int64_t base = timer_now_ms() + 1000;

    for (int i = 0; i < 9; i++) {
        p[i].id = offsets[i] / 100;
        p[i].timer.due_ms = base + offsets[i];
        p[i].timer.fire = record_fire;
        timer_arm(wheel, &p[i].timer);
    }
    cr_assert(wait_for(&firings, 9), "only %d of 9 fired", atomic_load(&firings));
    for (int k = 0; k < 9; k++)
        cr_expect(eq(int, order[k], k), "firing %d", k);
}

Test(timer, timers_due_at_the_same_time_all_fire)
{
    struct probe p[20] = {0};
    int64_t due = timer_now_ms() + 20;

    for (int i = 0; i < 20; i++) {
        p[i].timer.due_ms = due;
        p[i].timer.fire = record_fire;
        timer_arm(wheel, &p[i].timer);
    }
    cr_assert(wait_for(&firings, 20));
    for (int i = 0; i < 20; i++)
        cr_expect(eq(int, atomic_load(&p[i].fired), 1), "timer %d", i);
}

Test(timer, a_due_time_in_the_past_fires)
{
    struct probe p = {0};

    arm_in(&p, -5000);
    cr_assert(wait_for(&p.fired, 1));
    cr_assert(not(timer_cancel(wheel, &p.timer)));
}

Test(timer, cancel_before_due_prevents_firing)
{
    struct probe victim = {0}, sentinel = {0};

    arm_in(&victim, 1000); /* a second to cancel it in */
    arm_in(&sentinel, 1200);
    cr_assert(timer_cancel(wheel, &victim.timer));
    cr_assert(wait_for(&sentinel.fired, 1));
    cr_assert(eq(int, atomic_load(&victim.fired), 0));
    cr_assert(not(timer_cancel(wheel, &victim.timer)), "cancelled twice");
}

Test(timer, cancelling_half_of_many_fires_exactly_the_other_half)
{
    enum { N = 2000 };
    struct probe *p = calloc(N, sizeof(*p));
    struct probe sentinel = {0};

    cr_assert(p != NULL);
    for (int i = 0; i < N; i++)
        arm_in(&p[i], 1000 + i % 100); /* a second to cancel them in */
    arm_in(&sentinel, 1200);
    for (int i = 1; i < N; i += 2)
        cr_expect(timer_cancel(wheel, &p[i].timer), "timer %d", i);
    cr_assert(wait_for(&sentinel.fired, 1));
    for (int i = 0; i < N; i++)
        cr_expect(eq(int, atomic_load(&p[i].fired), i % 2 ? 0 : 1), "timer %d", i);
    free(p);
}

Test(timer, cancel_returns_false_after_firing_and_when_never_armed)
{
    struct probe p = {0};

    cr_assert(not(timer_cancel(wheel, &p.timer)), "never armed");
    arm_in(&p, 0);
    cr_assert(wait_for(&p.fired, 1));
    cr_assert(not(timer_cancel(wheel, &p.timer)), "already fired");
    arm_in(&p, 0); /* a fired timer can be armed again */
    cr_assert(wait_for(&p.fired, 2));
    cr_assert(not(timer_cancel(wheel, &p.timer)));
}

Test(timer, rearming_moves_a_timer_earlier)
{
    struct probe p = {0};

    arm_in(&p, 3600 * 1000);
    arm_in(&p, 0);
    cr_assert(wait_for(&p.fired, 1), "still waiting for the old due time");
    cr_assert(not(timer_cancel(wheel, &p.timer)), "fired, so no longer armed");
    sleep_ms(50);
    cr_assert(eq(int, atomic_load(&p.fired), 1), "moving must not leave a second copy");
}

Test(timer, rearming_moves_a_timer_later)
{
    struct probe p = {0}, sentinel = {0};

    arm_in(&p, 1000); /* a second to move it in */
    arm_in(&p, 3600 * 1000);
    arm_in(&sentinel, 1200);
    cr_assert(wait_for(&sentinel.fired, 1));
    cr_assert(eq(int, atomic_load(&p.fired), 0), "fired at its old due time");
    cr_assert(timer_cancel(wheel, &p.timer), "still armed at the new due time");
}

Test(timer, changing_due_ms_without_rearming_has_no_effect)
{
    struct probe p = {0}, sentinel = {0};

    arm_in(&p, 3600 * 1000);
    p.timer.due_ms = 0; /* ignored until the next timer_arm() */
    arm_in(&sentinel, 50);
    cr_assert(wait_for(&sentinel.fired, 1));
    cr_assert(eq(int, atomic_load(&p.fired), 0));
    cr_assert(timer_cancel(wheel, &p.timer));
}

Test(timer, ten_thousand_timers_all_fire_exactly_once)
{
    enum { N = 10000 };
    struct probe *p = calloc(N, sizeof(*p));

    cr_assert(p != NULL);
    for (int i = 0; i < N; i++)
        arm_in(&p[i], (int64_t)((unsigned)i * 7919u % 300u));
    cr_assert(wait_for(&firings, N), "%d of %d fired", atomic_load(&firings), N);
    /* none is armed any more, so nothing can fire after this */
    for (int i = 0; i < N; i++)
        cr_expect(not(timer_cancel(wheel, &p[i].timer)), "timer %d still armed", i);
    cr_assert(eq(int, atomic_load(&firings), N));
    for (int i = 0; i < N; i++)
        cr_expect(eq(int, atomic_load(&p[i].fired), 1), "timer %d", i);
    free(p);
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Arms, moves and cancels timers at random, then checks that the survivors fire in due
 * order: a heap left inconsistent by a move or a removal shows up as an inversion. */
enum { SHUFFLED = 3000 };
static int64_t due_log[SHUFFLED]; /* due times by firing, written before 'firings' */
static int due_log_len;           /* only fire() touches it, under the lock */

static void record_due(struct timer *t)
{
    if (due_log_len < SHUFFLED)
        due_log[due_log_len++] = t->due_ms;
    atomic_fetch_add(&probe_of(t)->fired, 1);
    atomic_fetch_add(&firings, 1);
}

Test(timer, random_moves_and_cancels_keep_due_order)
{
    struct probe *p = calloc(SHUFFLED, sizeof(*p));
    bool *armed = calloc(SHUFFLED, sizeof(*armed));
    uint64_t seed = 5;
    int64_t base = timer_now_ms() + 1000; /* a second for all the arms and cancels */
    int live = 0;

    cr_assert(p != NULL && armed != NULL);
    for (int i = 0; i < SHUFFLED; i++) {
        p[i].timer.fire = record_due;
        p[i].timer.due_ms = base + (int64_t)(rng_next(&seed) % 500);
        timer_arm(wheel, &p[i].timer);
        armed[i] = true;
    }
    for (int r = 0; r < 3 * SHUFFLED; r++) {
        size_t i = rng_next(&seed) % SHUFFLED;
        struct timer *t = &p[i].timer;

        if (rng_next(&seed) % 3 == 0) {
            cr_expect(eq(int, timer_cancel(wheel, t), armed[i]), "timer %zu", i);
            armed[i] = false;
        } else {
            t->due_ms = base + (int64_t)(rng_next(&seed) % 500);
            timer_arm(wheel, t);
            armed[i] = true;
        }
    }
    for (int i = 0; i < SHUFFLED; i++)
        live += armed[i];
    cr_assert(ge(int, live, (0) + 1));
    cr_assert(lt(int, live, SHUFFLED));
    cr_assert(wait_for(&firings, live), "%d of %d fired", atomic_load(&firings), live);
    for (int k = 1; k < live; k++)
        cr_expect(le(i64, due_log[k - 1], due_log[k]), "firing %d is out of order", k);
    for (int i = 0; i < SHUFFLED; i++)
        cr_expect(not(timer_cancel(wheel, &p[i].timer)), "timer %d still armed", i);
    cr_assert(eq(int, atomic_load(&firings), live), "a cancelled timer fired");
    for (int i = 0; i < SHUFFLED; i++)
        cr_expect(eq(int, atomic_load(&p[i].fired), armed[i]), "timer %d", i);
    free(armed);
    free(p);
}

/* Four threads arm and cancel their own timers at random, due within 0-3 ms, so
 * cancels race firings. Every arm is preceded by a cancel, so it starts a new "episode"
 * that ends exactly once: by firing, or by a cancel that returns true. A lost firing or
 * a double one breaks arms == fires + successful cancels for some timer. */
enum { WORKERS = 4, PER_WORKER = 256, ROUNDS = 100000 };

struct worker {
    pthread_t thread;
    uint64_t seed;
    struct probe probes[PER_WORKER];
    int arms[PER_WORKER];
    int cancels[PER_WORKER]; /* that returned true */
};

static void count_fire(struct timer *t)
{
    atomic_fetch_add(&probe_of(t)->fired, 1);
}

static void *work(void *arg)
{
    struct worker *w = arg;

    for (int r = 0; r < ROUNDS; r++) {
        uint64_t x = rng_next(&w->seed);
        int i = (int)(x % PER_WORKER);
        struct timer *t = &w->probes[i].timer;

        w->cancels[i] += timer_cancel(wheel, t);
        if ((x >> 32) % 4 == 0)
            continue; /* leave it cancelled for a while */
        t->due_ms = timer_now_ms() + (int64_t)((x >> 40) % 4);
        t->fire = count_fire;
        timer_arm(wheel, t);
        w->arms[i]++;
    }
    for (int i = 0; i < PER_WORKER; i++)
        w->cancels[i] += timer_cancel(wheel, &w->probes[i].timer);
    return NULL;
}

Test(timer, concurrent_arm_and_cancel_loses_and_duplicates_nothing)
{
    struct worker *w = calloc(WORKERS, sizeof(*w));
    long arms = 0, fires = 0, cancels = 0;

    cr_assert(w != NULL);
    for (int k = 0; k < WORKERS; k++) {
        w[k].seed = (uint64_t)k + 1;
        cr_assert(eq(int, pthread_create(&w[k].thread, NULL, work, &w[k]), 0));
    }
    for (int k = 0; k < WORKERS; k++)
        pthread_join(w[k].thread, NULL);
    /* all cancelled, and a cancel that has returned means no fire() is running */
    for (int k = 0; k < WORKERS; k++) {
        for (int i = 0; i < PER_WORKER; i++) {
            int fired = atomic_load(&w[k].probes[i].fired);

            cr_expect(eq(int, w[k].arms[i], fired + w[k].cancels[i]),
                      "worker %d timer %d: %d arms, %d fires, %d cancels", k, i,
                      w[k].arms[i], fired, w[k].cancels[i]);
            arms += w[k].arms[i];
            fires += fired;
            cancels += w[k].cancels[i];
        }
    }
    cr_log_info("%ld arms, %ld fires, %ld cancelled", arms, fires, cancels);
    cr_assert(ge(long, fires, (0) + 1), "no timer fired: the race was not exercised");
    cr_assert(ge(long, cancels, (0) + 1), "no cancel succeeded: the race was not exercised");
    free(w);
}

/* A fire() that takes a while, to show that timer_cancel() waits for it. */
static atomic_int slow_started, slow_finished;

static void slow_fire(struct timer *t)
{
    (void)t;
    atomic_store(&slow_started, 1);
    sleep_ms(200);
    atomic_store(&slow_finished, 1);
}

Test(timer, cancel_returns_only_after_a_running_fire_has_finished)
{
    struct timer t = {.fire = slow_fire};

    t.due_ms = timer_now_ms();
    timer_arm(wheel, &t);
    cr_assert(wait_for(&slow_started, 1));
    cr_assert(not(timer_cancel(wheel, &t)));
    cr_assert(eq(int, atomic_load(&slow_finished), 1), "cancel returned during fire()");
}

Test(timer, stop_with_armed_timers_returns_and_never_fires_them)
{
    enum { N = 1000 };
    struct probe *p = calloc(N, sizeof(*p));

    cr_assert(p != NULL);
    for (int i = 0; i < N; i++)
        arm_in(&p[i], 3600 * 1000 + i);
    p[0].timer.due_ms = INT64_MAX; /* the far future must not upset the sleep */
    timer_arm(wheel, &p[0].timer);
    sleep_ms(20); /* let the thread go to sleep on them */
    /* due in an hour: a stop that waited for them would hit the suite's timeout */
    timer_wheel_stop(wheel);
    wheel = NULL;
    cr_assert(eq(int, atomic_load(&firings), 0));
    for (int i = 0; i < N; i++)
        cr_expect(not(p[i].timer.armed), "timer %d left armed", i);

    /* and they can be used with a new wheel */
    cr_assert(eq(int, timer_wheel_start(&wheel), 0));
    for (int i = 0; i < N; i++)
        arm_in(&p[i], 0);
    cr_assert(wait_for(&firings, N));
    free(p);
}

Test(timer, stopping_an_idle_wheel_and_null_are_fine)
{
    struct timer_wheel *other;

    cr_assert(eq(int, timer_wheel_start(&other), 0));
    timer_wheel_stop(other);
    timer_wheel_stop(NULL);
}

Test(timer, now_is_monotonic)
{
    int64_t a = timer_now_ms(), b;

    sleep_ms(5);
    b = timer_now_ms();
    cr_assert(ge(i64, b, a + 5));
}
