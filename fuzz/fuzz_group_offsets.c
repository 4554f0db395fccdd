/* fuzz_group_offsets.c: libFuzzer target for storage/group_offsets.c's readers of what
 * __consumer_offsets holds on disk: group_key_decode(), group_value_decode() and the
 * replay of records into the table at start. The bytes come from disk (a damaged log,
 * or one written by another tool), so any key or value may turn up.
 *
 * Input: records, one after another, each
 *   u8 flags      bit 0: null key; bit 1: null value (a tombstone); bit 2: the key is
 *                 built from the next fields instead of read raw (so that valid keys
 *                 are common): u8 group (0-3), u8 topic (0-3), u8 partition
 *   u16 klen, key[klen]   (raw keys, big-endian length; absent when null or built)
 *   u16 vlen, value[vlen] (absent when null)
 * an unfinished record is dropped. Keys and values are heap copies of exactly their
 * length, so ASan catches a read past one. Each input replays into a fresh table (a
 * group_offsets over an empty store made once). Properties, else abort():
 *  - decoders never read past their input, and accept only what re-encodes to the same
 *    bytes where the format is the one rill writes (key v1; value v3 with no leader
 *    epoch and empty metadata);
 *  - the table then holds what a model says: for each (group, topic, partition) key
 *    that decodes, the last record with a value that decodes sets its offset, a
 *    tombstone removes it; records whose key or value does not decode change nothing.
 * Seeds: fuzz/corpus/fuzz_group_offsets/. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "storage/group_offsets.h"
#include "storage/io.h"
#include "storage/record.h"
#include "storage/store.h"
#include "tests/support/fuzz_store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_RECORDS 128

static const char *const names[] = {"g", "billing", "g2", "\xc3\xa9t\xc3\xa9"};
static const char *const topics[] = {"t", "orders", "t.2", "x_y"};

static struct store *store;

static void setup(void)
{
    struct group_offsets *g;

    store = fuzz_store("groups");
    if (group_offsets_open(&g, store, 0)) /* creates the internal topic once */
        abort();
    group_offsets_close(g);
}

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

static uint8_t *field(struct reader *rd, int32_t *len)
{
    const uint8_t *b, *d;
    uint16_t n;
    uint8_t *copy;

    if (!take(rd, 2, &b))
        return NULL;
    n = (uint16_t)(b[0] << 8 | b[1]);
    if (!take(rd, n, &d))
        return NULL;
    copy = xmalloc(n ? n : 1);
    memcpy(copy, d, n);
    *len = n;
    return copy;
}

/* The model: one slot per (group, topic, partition) of the built keys, -1 = none. */
struct model {
    int64_t offset[4][4][256];
};

/* Whether a key decodes to one of the modelled (group, topic, partition) slots. */
static bool model_slot(const uint8_t *k, size_t len, int *gi, int *ti, int *pi)
{
    const char *g, *t;
    size_t gl, tl;
    int32_t p;

    if (group_key_decode(k, len, &g, &gl, &t, &tl, &p) || p > 255)
        return false;
    *gi = *ti = -1;
    for (int i = 0; i < 4; i++) {
        if (strlen(names[i]) == gl && !memcmp(names[i], g, gl))
            *gi = i;
        if (strlen(topics[i]) == tl && !memcmp(topics[i], t, tl))
            *ti = i;
    }
    *pi = p;
    return *gi >= 0 && *ti >= 0;
}

static void check_roundtrip_key(const uint8_t *k, size_t len)
{
    const char *g, *t;
    size_t gl, tl;
    int32_t p;
    struct buf b = BUF_INIT;
    char *gs, *ts;

    if (group_key_decode(k, len, &g, &gl, &t, &tl, &p))
        return;
    if (len < 2 || k[1] != 1 || memchr(g, 0, gl) || memchr(t, 0, tl))
        return; /* version 0, or names with NUL bytes: not what rill writes */
    gs = xstrndup(g, gl);
    ts = xstrndup(t, tl);
    group_key_encode(&b, gs, ts, p);
    if (b.len != len || memcmp(b.data, k, len))
        abort();
    buf_release(&b);
    free(gs);
    free(ts);
}

static void check_roundtrip_value(const uint8_t *v, size_t len)
{
    int64_t off, ts;
    struct buf b = BUF_INIT;

    if (group_value_decode(v, len, &off, &ts))
        return;
    if (off < 0)
        abort();
    if (len != 24 || v[1] != 3 || memcmp(v + 10, "\xff\xff\xff\xff\0\0", 6))
        return; /* another version, an epoch or metadata: decoded, not rill's own */
    group_value_encode(&b, off, ts);
    if (b.len != len || memcmp(b.data, v, len))
        abort();
    buf_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    struct reader rd = {data, data + size};
    struct group_offsets *g;
    struct model *m = xmalloc(sizeof(*m));

    if (!ready) {
        setup();
        ready = true;
    }
    memset(m->offset, 0xff, sizeof(m->offset)); /* -1 */
    if (group_offsets_open(&g, store, 0))
        abort();
    for (int n = 0; n < MAX_RECORDS; n++) {
        const uint8_t *f, *sel;
        struct record r = {0};
        uint8_t *key = NULL, *value = NULL;
        struct buf built = BUF_INIT;
        int gi, ti, pi;
        int64_t off, ts;

        if (!take(&rd, 1, &f))
            break;
        r.key_len = r.value_len = -1;
        if (f[0] & 4) {
            if (!take(&rd, 3, &sel))
                break;
            group_key_encode(&built, names[sel[0] % 4], topics[sel[1] % 4], sel[2]);
            key = xmalloc(built.len);
            memcpy(key, built.data, built.len);
            r.key_len = (int32_t)built.len;
            buf_release(&built);
        } else if (!(f[0] & 1) && !(key = field(&rd, &r.key_len))) {
            break;
        }
        if (!(f[0] & 2) && !(value = field(&rd, &r.value_len))) {
            free(key);
            break;
        }
        r.key = key;
        r.value = value;
        if (key)
            check_roundtrip_key(key, (size_t)r.key_len);
        if (value)
            check_roundtrip_value(value, (size_t)r.value_len);
        if (group_offsets_replay_record(g, &r))
            abort();
        if (key && model_slot(key, (size_t)r.key_len, &gi, &ti, &pi)) {
            if (!value)
                m->offset[gi][ti][pi] = -1;
            else if (!group_value_decode(value, (size_t)r.value_len, &off, &ts))
                m->offset[gi][ti][pi] = off;
        }
        free(key);
        free(value);
    }
    /* the table holds what the model says, for the modelled keys */
    for (int gi = 0; gi < 4; gi++) {
        struct group_offset *o = NULL;
        size_t n = 0;

        if (group_offsets_get(g, names[gi], &o, &n))
            n = 0;
        for (size_t i = 0; i < n; i++) {
            for (int ti = 0; ti < 4; ti++)
                if (!strcmp(o[i].topic, topics[ti]) && o[i].partition < 256 &&
                    m->offset[gi][ti][o[i].partition] != o[i].offset)
                    abort();
        }
        for (int ti = 0; ti < 4; ti++)
            for (int pi = 0; pi < 256; pi++) {
                bool found = false;

                if (m->offset[gi][ti][pi] < 0)
                    continue;
                for (size_t i = 0; i < n; i++)
                    found |= !strcmp(o[i].topic, topics[ti]) && o[i].partition == pi;
                if (!found)
                    abort();
            }
        if (o)
            group_offsets_free(o, n);
    }
    group_offsets_close(g);
    free(m);
    return 0;
}
