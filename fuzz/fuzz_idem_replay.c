/* fuzz_idem_replay.c: libFuzzer target for idem_replay_record() (api/idempotency.c), which
 * turns each stored record of the internal topic __idempotency back into a remembered
 * Idempotency-Key answer at start: key = the table's key, value = 32-byte request hash
 * then the answer. The bytes come from disk, so any key, value or timestamp may turn
 * up: a damaged or hand-edited log, a clock that was wrong when it was written.
 *
 * Input: records, one after another, each
 *
 *   u8 flags      bits 0-1: timestamp form (below); bit 2: null key; bit 3: null value
 *   u16 klen, key[klen], u16 vlen, value[vlen]          (big-endian; absent when null)
 *   timestamp     0: u16 s, now - s seconds - 5 s       (within the 24 h window)
 *                 1: u16 s, now - 24 h - s s - 5 s      (past it)
 *                 2: u16 s, now + s s + 5 s             (a clock that ran ahead)
 *                 3: i64 d, now + d, wrapping           (anything at all)
 *
 * where now is the wall clock when the input starts; an unfinished record is dropped.
 * Keys and values are heap copies of exactly their length, so ASan catches any read
 * past one. Each input gets a fresh table from idem_open() over a store holding only
 * the (empty) internal topic. Properties, else abort():
 *  - idem_replay_record() returns 0 and never crashes, leaks or overflows;
 *  - the table then answers as a model says: a record with a key and a value of at
 *    least 32 bytes sets its key (up to a first NUL: keys are C strings) to its hash
 *    and answer (up to a first NUL), the last record of a key winning; the others
 *    are ignored. idem_begin() forgets answers older than 24 h from the oldest
 *    replayed on, stopping at the first younger one (replay order, not timestamp
 *    order), so every key it has not forgotten replays its answer with its own hash
 *    and conflicts with another, and every forgotten one is new again.
 * Seeds: fuzz/corpus/fuzz_idem_replay/. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/idempotency.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "storage/io.h"
#include "storage/record.h"
#include "storage/store.h"
#include "tests/support/fuzz_store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_RECORDS 256
#define MARGIN_MS 5000 /* the u16 timestamp forms keep this far from the 24 h edge */
#define SLACK_MS 2000  /* closer than this to the edge: no verdict on expiry */

static struct store *store;

static void setup(void)
{
    struct idem_table *t;

    store = fuzz_store("idem");
    if (idem_open(&t, store)) /* creates the internal topic once */
        abort();
    idem_close(t);
}

/* ---- reading the input ---- */

struct reader {
    const uint8_t *p, *end;
};

static bool take(struct reader *rd, size_t n, const uint8_t **out)
{
    if ((size_t)(rd->end - rd->p) < n)
        return false;
    *out = rd->p;
    rd->p += n;
    return true;
}

static bool take_u16(struct reader *rd, uint16_t *v)
{
    const uint8_t *b;

    if (!take(rd, 2, &b))
        return false;
    *v = (uint16_t)(b[0] << 8 | b[1]);
    return true;
}

/* A heap copy of exactly n bytes (NULL for a null field). */
static uint8_t *field(struct reader *rd, bool null, int32_t *len)
{
    const uint8_t *b;
    uint16_t n;
    uint8_t *copy;

    *len = -1;
    if (null)
        return NULL;
    if (!take_u16(rd, &n) || !take(rd, n, &b))
        return NULL;
    copy = xmalloc(n);
    memcpy(copy, b, n);
    *len = n;
    return copy;
}

static bool read_record(struct reader *rd, int64_t now, struct record *r)
{
    const uint8_t *b;
    uint8_t flags;
    uint16_t s;
    uint64_t d = 0;

    memset(r, 0, sizeof(*r));
    if (!take(rd, 1, &b))
        return false;
    flags = b[0];
    r->key = field(rd, flags & 4, &r->key_len);
    if (!(flags & 4) && r->key_len < 0)
        return false;
    r->value = field(rd, flags & 8, &r->value_len);
    if (!(flags & 8) && r->value_len < 0)
        goto fail;
    if ((flags & 3) == 3) {
        if (!take(rd, 8, &b))
            goto fail;
        for (int i = 0; i < 8; i++)
            d = d << 8 | b[i];
        r->timestamp = (int64_t)((uint64_t)now + d);
        return true;
    }
    if (!take_u16(rd, &s))
        goto fail;
    if ((flags & 3) == 0)
        r->timestamp = now - s * 1000LL - MARGIN_MS;
    else if ((flags & 3) == 1)
        r->timestamp = now - IDEM_WINDOW_MS - s * 1000LL - MARGIN_MS;
    else
        r->timestamp = now + s * 1000LL + MARGIN_MS;
    return true;
fail:
    free((void *)r->key);
    free((void *)r->value);
    return false;
}

/* ---- the model ---- */

struct entry {
    char *key;
    uint8_t hash[32];
    char *answer;
    int64_t ts;
    size_t age; /* replay order of its last record */
};

struct model {
    struct entry e[MAX_RECORDS];
    size_t n, ages;
};

static void model_put(struct model *m, const struct record *r)
{
    char *key;
    struct entry *e = NULL;

    if (r->key_len <= 0 || r->value_len < 32)
        return;
    key = xstrndup((const char *)r->key, (size_t)r->key_len);
    for (size_t i = 0; i < m->n && !e; i++)
        if (!strcmp(m->e[i].key, key))
            e = &m->e[i];
    if (e) {
        free(e->key);
        free(e->answer);
    } else {
        e = &m->e[m->n++];
    }
    e->key = key;
    memcpy(e->hash, r->value, 32);
    e->answer = xstrndup((const char *)r->value + 32, (size_t)r->value_len - 32);
    e->ts = r->timestamp;
    e->age = m->ages++;
}

static int by_age(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;

    return (x->age > y->age) - (x->age < y->age);
}

static void model_free(struct model *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->e[i].key);
        free(m->e[i].answer);
    }
}

/* ---- the checks ---- */

/* Asks the table about every key of the model, oldest first. */
static void check_table(struct idem_table *t, struct model *m)
{
    int64_t now = clock_wall_ms(), edge = now - IDEM_WINDOW_MS;
    size_t forgotten = 0;

    qsort(m->e, m->n, sizeof(m->e[0]), by_age);
    while (forgotten < m->n && m->e[forgotten].ts < edge)
        forgotten++;
    for (size_t i = 0; i < m->n && i <= forgotten; i++)
        if (m->e[i].ts > edge - SLACK_MS && m->e[i].ts < edge + SLACK_MS)
            return; /* too close to call: the clock moves while we ask */
    for (size_t i = 0; i < m->n; i++) {
        struct entry *e = &m->e[i];
        uint8_t other[32];
        char *answer = NULL;
        enum idem_result r = idem_begin(t, e->key, e->hash, &answer);

        if (i < forgotten) {
            if (r != IDEM_NEW)
                abort();
            idem_abort(t, e->key);
            continue;
        }
        if (r != IDEM_REPLAY || !answer || strcmp(answer, e->answer))
            abort();
        free(answer);
        memcpy(other, e->hash, 32);
        other[31] ^= 1;
        if (idem_begin(t, e->key, other, &answer) != IDEM_CONFLICT)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct reader rd = {data, data + size};
    static struct model m;
    struct idem_table *t;
    struct record r;
    int64_t now;
    size_t n = 0;

    if (!store)
        setup();
    if (idem_open(&t, store))
        abort();
    now = clock_wall_ms();
    m.n = m.ages = 0;
    while (n++ < MAX_RECORDS && read_record(&rd, now, &r)) {
        if (idem_replay_record(t, &r))
            abort();
        model_put(&m, &r);
        free((void *)r.key);
        free((void *)r.value);
    }
    check_table(t, &m);
    model_free(&m);
    idem_close(t);
    return 0;
}
