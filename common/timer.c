/* timer.c: one-shot timers on one thread: a binary min-heap under a mutex, and a
 * thread that sleeps on a CLOCK_MONOTONIC condition variable until the root is due.
 *
 * Invariants (under w->lock): heap[0..n) is a min-heap on slot due_ms; for every slot i,
 * heap[i].t->heap_index == i and heap[i].t->armed; a timer not in the heap has armed
 * false. Each slot keeps its own copy of the due time taken by timer_arm(), so the heap
 * never reads caller memory a caller may be writing (t->due_ms of an armed timer).
 *
 * The thread: with an empty heap it waits with no timeout (no CPU while idle);
 * otherwise it waits until the root's due time or a signal. timer_arm() signals only
 * when the timer it placed became the root, i.e. the thread may be sleeping too long;
 * a cancel or a move later leaves the thread to wake early, find nothing due and
 * sleep again. Due timers are removed and disarmed before fire() runs, so fire() sees
 * a consistent heap, and all of it happens under the lock, which is what lets
 * timer_cancel() promise that 't' is not being fired once it returns. */
#include "common/timer.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "common/clock.h"
#include "common/xalloc.h"

/* The longest single sleep: a later root is re-examined after this long, which keeps
 * pthread_cond_timedwait() far away from time_t edge cases for due times like
 * INT64_MAX and costs one wakeup an hour only while such a timer is armed. */
#define TIMER_MAX_SLEEP_MS (3600 * 1000)

struct timer_slot {
    int64_t due_ms; /* copied from t->due_ms by timer_arm() */
    struct timer *t;
};

struct timer_wheel {
    pthread_mutex_t lock; /* guards everything below and every armed timer */
    pthread_cond_t wake;  /* CLOCK_MONOTONIC; new root or stopping */
    pthread_t thread;
    struct timer_slot *heap; /* min-heap on due_ms */
    size_t n;                /* slots in use */
    size_t cap;              /* slots allocated */
    bool stopping;
};

int64_t timer_now_ms(void)
{
    return clock_mono_ms();
}

static void heap_set(struct timer_wheel *w, size_t i, struct timer_slot s)
{
    w->heap[i] = s;
    s.t->heap_index = i;
}

static void sift_up(struct timer_wheel *w, size_t i)
{
    struct timer_slot s = w->heap[i];

    while (i > 0) {
        size_t parent = (i - 1) / 2;

        if (w->heap[parent].due_ms <= s.due_ms)
            break;
        heap_set(w, i, w->heap[parent]);
        i = parent;
    }
    heap_set(w, i, s);
}

static void sift_down(struct timer_wheel *w, size_t i)
{
    struct timer_slot s = w->heap[i];

    for (;;) {
        size_t child = 2 * i + 1;

        if (child >= w->n)
            break;
        if (child + 1 < w->n && w->heap[child + 1].due_ms < w->heap[child].due_ms)
            child++;
        if (s.due_ms <= w->heap[child].due_ms)
            break;
        heap_set(w, i, w->heap[child]);
        i = child;
    }
    heap_set(w, i, s);
}

/* Restores the heap after heap[i]'s due time changed. */
static void heap_fix(struct timer_wheel *w, size_t i)
{
    struct timer *t = w->heap[i].t;

    sift_up(w, i);
    sift_down(w, t->heap_index);
}

/* Takes heap[i] out of the heap; the caller clears its armed flag. */
static void heap_remove(struct timer_wheel *w, size_t i)
{
    w->n--;
    if (i == w->n)
        return;
    heap_set(w, i, w->heap[w->n]);
    heap_fix(w, i);
}

static struct timespec ms_to_timespec(int64_t ms)
{
    struct timespec ts;

    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)(ms % 1000) * 1000000;
    return ts;
}

/* Fires every due timer. Called and returns with w->lock held. */
static void fire_due(struct timer_wheel *w, int64_t now)
{
    while (w->n > 0 && w->heap[0].due_ms <= now) {
        struct timer *t = w->heap[0].t;

        heap_remove(w, 0);
        t->armed = false;
        t->fire(t);
    }
}

static void *timer_thread(void *arg)
{
    struct timer_wheel *w = arg;

    pthread_mutex_lock(&w->lock);
    while (!w->stopping) {
        int64_t now, wake_at;
        struct timespec ts;

        if (w->n == 0) {
            pthread_cond_wait(&w->wake, &w->lock);
            continue;
        }
        now = timer_now_ms();
        if (w->heap[0].due_ms <= now) {
            fire_due(w, now);
            continue;
        }
        wake_at = w->heap[0].due_ms - now > TIMER_MAX_SLEEP_MS ? now + TIMER_MAX_SLEEP_MS
                                                               : w->heap[0].due_ms;
        ts = ms_to_timespec(wake_at);
        pthread_cond_timedwait(&w->wake, &w->lock, &ts);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

int timer_wheel_start(struct timer_wheel **out)
{
    struct timer_wheel *w = xcalloc(1, sizeof(*w));
    pthread_condattr_t attr;
    int ret;

    *out = NULL;
    ret = pthread_condattr_init(&attr);
    if (ret)
        goto out_free;
    ret = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (!ret)
        ret = pthread_cond_init(&w->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (ret)
        goto out_free;
    ret = pthread_mutex_init(&w->lock, NULL);
    if (ret)
        goto out_destroy_cond;
    ret = pthread_create(&w->thread, NULL, timer_thread, w);
    if (ret)
        goto out_destroy_lock;
    *out = w;
    return 0;
out_destroy_lock:
    pthread_mutex_destroy(&w->lock);
out_destroy_cond:
    pthread_cond_destroy(&w->wake);
out_free:
    free(w);
    return -ret;
}

void timer_wheel_stop(struct timer_wheel *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);

    for (size_t i = 0; i < w->n; i++)
        w->heap[i].t->armed = false;
    free(w->heap);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->wake);
    free(w);
}

void timer_arm(struct timer_wheel *w, struct timer *t)
{
    pthread_mutex_lock(&w->lock);
    if (t->armed) {
        w->heap[t->heap_index].due_ms = t->due_ms;
        heap_fix(w, t->heap_index);
    } else {
        if (w->n == w->cap) {
            w->cap = w->cap ? w->cap * 2 : 64;
            w->heap = xrealloc(w->heap, w->cap * sizeof(*w->heap));
        }
        t->armed = true;
        heap_set(w, w->n++, (struct timer_slot){.due_ms = t->due_ms, .t = t});
        sift_up(w, w->n - 1);
    }
    if (t->heap_index == 0)
        pthread_cond_signal(&w->wake); /* the thread may sleep past the new root */
    pthread_mutex_unlock(&w->lock);
}

bool timer_cancel(struct timer_wheel *w, struct timer *t)
{
    bool was_armed;

    pthread_mutex_lock(&w->lock);
    was_armed = t->armed;
    if (was_armed) {
        heap_remove(w, t->heap_index);
        t->armed = false;
    }
    pthread_mutex_unlock(&w->lock);
    return was_armed;
}
