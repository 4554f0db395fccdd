/* tests/api/test_stream_hub.c: api/stream_hub.c over a real partition: events formatted
 * once and copied with each stream's ids, the window, a live stream cut when it falls
 * out of it, a stream behind the window sent to the log, and catching up. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api/stream_hub.h"
#include "tests/support/logtest.h"
#include "tests/support/tmpdir.h"

static char dir[256];
static struct partition *part;
static struct hub_list hubs;

static void setup(void)
{
    struct partition_config c = logtest_config(1 << 20, false);

    cr_assert(eq(int, tmpdir_make(dir, sizeof(dir)), 0));
    cr_assert(eq(int, partition_open(&part, dir, 0, &c), 0));
}

static void teardown(void)
{
    partition_close(part);
    part = NULL;
    tmpdir_remove(dir);
}

/* cr_assert() of a plain condition (see api_client.h's ac_holds) */
static inline bool holds(bool c) { return c; }

TestSuite(stream_hub, .init = setup, .fini = teardown, .timeout = 30);

static void add_id(void *arg, struct buf *out, int64_t next)
{
    buf_printf(out, "id: %lld/%s\n", (long long)next, (const char *)arg);
}

/* n records of 100-byte values. */
static void append(int64_t first, size_t n)
{
    cr_assert(eq(int, logtest_append(part, first, n, 100, 1000), 0));
}

/* Counts "event: record" in out; checks the ids run from..from+count. */
static int64_t count_events(const struct buf *out, int64_t from, const char *tag)
{
    const char *p = out->data;
    int64_t n = 0;

    while ((p = strstr(p, "id: "))) {
        char want[64];

        snprintf(want, sizeof(want), "id: %lld/%s\nevent: record\ndata: {\"partition\":0,"
                 "\"offset\":%lld,", (long long)(from + n + 1), tag, (long long)(from + n));
        cr_assert(eq(int, strncmp(p, want, strlen(want)), 0), "event %lld: %.80s",
                  (long long)n, p);
        p += 4;
        n++;
    }
    return n;
}

Test(stream_hub, streams_at_the_head_share_the_events_with_their_own_ids)
{
    struct stream_hub *h;
    struct hub_cursor a = {.next = 0}, b = {.next = 0};
    struct buf oa = BUF_INIT, ob = BUF_INIT;

    hub_list_init(&hubs, 1 << 20);
    h = hub_get(&hubs, part, 0); /* a reference per stream */
    cr_assert(eq(ptr, hub_get(&hubs, part, 0), h), "one hub per partition");
    append(0, 10);
    cr_assert(eq(int, hub_copy(h, &a, &oa, 1 << 20, add_id, "a"), HUB_OK));
    cr_assert(eq(i64, a.next, 10));
    cr_assert(holds(a.live), "caught up: live");
    cr_assert(eq(i64, count_events(&oa, 0, "a"), 10));
    cr_assert(eq(int, hub_copy(h, &b, &ob, 1 << 20, add_id, "b"), HUB_OK));
    cr_assert(eq(i64, count_events(&ob, 0, "b"), 10));
    cr_assert(eq(int, h->nlive, 2));
    cr_assert(holds(h->first == h->last), "formatted once: one chunk");
    hub_put(&hubs, h, &a);
    cr_assert(eq(int, h->nlive, 1));
    hub_put(&hubs, h, &b);
    buf_release(&oa);
    buf_release(&ob);
    hub_list_destroy(&hubs);
}

Test(stream_hub, a_budget_bounds_one_copy_and_the_next_goes_on)
{
    struct stream_hub *h;
    struct hub_cursor c = {.next = 0};
    struct buf out = BUF_INIT;
    int64_t total = 0;

    hub_list_init(&hubs, 1 << 20);
    h = hub_get(&hubs, part, 0);
    append(0, 50);
    while (c.next < 50) {
        int64_t from = c.next;

        buf_reset(&out);
        cr_assert(eq(int, hub_copy(h, &c, &out, 1000, add_id, "x"), HUB_OK));
        cr_assert(ge(i64, c.next, (from) + 1));
        total += count_events(&out, from, "x");
    }
    cr_assert(eq(i64, total, 50));
    hub_put(&hubs, h, &c);
    buf_release(&out);
    hub_list_destroy(&hubs);
}

Test(stream_hub, a_live_stream_that_falls_out_of_the_window_is_cut)
{
    struct stream_hub *h;
    struct hub_cursor slow = {.next = 0};
    struct buf out = BUF_INIT;

    hub_list_init(&hubs, 64 * 1024);
    h = hub_get(&hubs, part, 0);
    append(0, 1);
    cr_assert(eq(int, hub_copy(h, &slow, &out, 1 << 20, add_id, "s"), HUB_OK));
    cr_assert(holds(slow.live));
    /* 4000 records of ~200 bytes of events: far more than the window */
    for (int i = 0; i < 40; i++)
        append(1 + i * 100, 100);
    buf_reset(&out);
    cr_assert(eq(int, hub_copy(h, &slow, &out, 1 << 20, add_id, "s"), HUB_CUT));
    cr_assert(eq(sz, out.len, 0));
    cr_assert(le(sz, h->bytes - h->last->text.len, (size_t)(64 * 1024)),
              "the window holds (beyond the newest chunk)");
    hub_put(&hubs, h, &slow);
    buf_release(&out);
    hub_list_destroy(&hubs);
}

Test(stream_hub, a_stream_behind_the_window_reads_the_log_and_is_not_cut)
{
    struct stream_hub *h;
    struct hub_cursor head = {.next = 0}, back = {.next = 0};
    struct buf out = BUF_INIT;
    int r;

    hub_list_init(&hubs, 64 * 1024);
    h = hub_get(&hubs, part, 0);
    hub_get(&hubs, part, 0);
    for (int i = 0; i < 40; i++) {
        append(i * 100, 100);
        buf_reset(&out);
        while (head.next < (i + 1) * 100)
            cr_assert(eq(int, hub_copy(h, &head, &out, 1 << 20, add_id, "h"), HUB_OK));
    }
    buf_reset(&out);
    cr_assert(eq(int, hub_copy(h, &back, &out, 1 << 20, add_id, "b"), HUB_BEHIND));
    cr_assert(not(holds(back.live)));
    /* it catches up from the log, then joins the hub */
    while ((r = hub_copy(h, &back, &out, 1 << 20, add_id, "b")) == HUB_BEHIND) {
        int64_t from = back.next;
        struct buf part_out = BUF_INIT;

        cr_assert(ge(int, stream_format_read(part, 0, &back.next, 16 * 1024, &part_out,
                                             add_id, "b"), (0) + 1));
        cr_assert(eq(i64, count_events(&part_out, from, "b"), back.next - from));
        buf_release(&part_out);
    }
    cr_assert(eq(int, r, HUB_OK));
    cr_assert(eq(i64, back.next, 4000));
    cr_assert(holds(back.live));
    hub_put(&hubs, h, &head);
    hub_put(&hubs, h, &back);
    buf_release(&out);
    hub_list_destroy(&hubs);
}

Test(stream_hub, a_hub_nobody_tails_jumps_to_a_new_stream_instead_of_formatting)
{
    struct stream_hub *h;
    struct hub_cursor c = {.next = 0};
    struct buf out = BUF_INIT;

    hub_list_init(&hubs, 1 << 20);
    h = hub_get(&hubs, part, 0); /* made at offset 0 */
    append(0, 1000);
    c.next = 1000; /* a stream from latest */
    cr_assert(eq(int, hub_copy(h, &c, &out, 1 << 20, add_id, "c"), HUB_OK));
    cr_assert(eq(i64, h->end, 1000));
    cr_assert(eq(ptr, h->first, NULL), "nothing formatted");
    append(1000, 2);
    cr_assert(eq(int, hub_copy(h, &c, &out, 1 << 20, add_id, "c"), HUB_OK));
    cr_assert(eq(i64, count_events(&out, 1000, "c"), 2));
    hub_put(&hubs, h, &c);
    buf_release(&out);
    hub_list_destroy(&hubs);
}

Test(stream_hub, stream_format_read_below_the_log_start_is_erange)
{
    struct buf out = BUF_INIT;
    int64_t next = 5;

    cr_assert(eq(int, stream_format_read(part, 0, &next, 4096, &out, add_id, "x"), -ERANGE));
    cr_assert(eq(i64, next, 5));
    buf_release(&out);
}

/* Counts events with their own (partition stream) ids: "id: N" for offset N - 1. */
static int64_t count_own_events(const struct buf *out, int64_t from)
{
    const char *p = out->data;
    int64_t n = 0;

    while ((p = strstr(p, "id: "))) {
        char want[96];

        snprintf(want, sizeof(want), "id: %lld\nevent: record\ndata: {\"partition\":0,"
                 "\"offset\":%lld,", (long long)(from + n + 1), (long long)(from + n));
        cr_assert(eq(int, strncmp(p, want, strlen(want)), 0), "event %lld: %.80s",
                  (long long)n, p);
        p += 4;
        n++;
    }
    return n;
}

Test(stream_hub, without_an_id_writer_runs_of_events_are_copied_with_their_own_ids)
{
    struct stream_hub *h;
    struct hub_cursor c = {.next = 0};
    struct buf out = BUF_INIT;
    int64_t total = 0;

    hub_list_init(&hubs, 1 << 20);
    h = hub_get(&hubs, part, 0);
    append(0, 30);
    while (c.next < 30) { /* small budgets: every copy stops at an event's end */
        int64_t from = c.next;

        buf_reset(&out);
        cr_assert(eq(int, hub_copy(h, &c, &out, 700, NULL, NULL), HUB_OK));
        cr_assert(ge(i64, c.next, (from) + 1), "at least one event per copy");
        cr_assert(eq(chr, out.data[out.len - 1], '\n'));
        cr_assert(eq(chr, out.data[out.len - 2], '\n'));
        total += count_own_events(&out, from);
        cr_assert(eq(i64, total, c.next));
    }
    hub_put(&hubs, h, &c);
    buf_release(&out);
    hub_list_destroy(&hubs);
}
