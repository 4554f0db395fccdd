/* tests/integration/test_api_compact.c: a cleanup.policy=compact topic through the API
 * of the real binary: once the cleaner has run, a fetch and a stream read only each
 * key's latest record, with its offset unchanged (gaps between offsets), a read from
 * an offset compacted away starts at the next survivor, and new records still flow. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "tests/support/api_client.h"
#include "tests/support/sse_client.h"

#define KEYS 5
#define ROUNDS 60

static struct ac_server srv;

static void setup(void)
{
    const char *args[] = {"--retention-check-ms", "20", NULL};

    ac_server_start(&srv, args);
}

static void teardown(void) { ac_server_cleanup(&srv); }

TestSuite(api_compact, .init = setup, .fini = teardown, .timeout = 120);

/* Produces ROUNDS rounds of KEYS keyed records (value = round), one request each. */
static void produce_rounds(void)
{
    for (int round = 0; round < ROUNDS; round++) {
        struct ac_text body = {0};

        ac_text_printf(&body, "{\"records\":[");
        for (int k = 0; k < KEYS; k++)
            ac_text_printf(&body, "%s{\"key\":\"k%d\",\"value\":{\"round\":%d,\"pad\":\"%0100d\"}}",
                           k ? "," : "", k, round, 0);
        ac_text_printf(&body, "]}");
        json_decref(ac_produce(&srv, "c", body.data));
        ac_text_release(&body);
    }
}

/* Every record from earliest (one fetch: the topic is small). */
static json_t *fetch_all(void)
{
    return ac_fetch(&srv, "c", 0, "offset=earliest&limit=10000");
}

Test(api_compact, reads_see_each_keys_latest_record_at_its_own_offset)
{
    json_t *all = NULL, *recs, *r;
    size_t n = 0, i;
    int unchanged = 0; /* fetches in a row that found as many records as the one before */
    int64_t prev = -1, gap_at = -1;
    bool latest_seen[KEYS] = {false};

    ac_create_topic(&srv, "c", 1,
                    "{\"cleanup.policy\":\"compact\",\"segment.bytes\":4096,"
                    "\"flush.policy\":\"interval\",\"flush.ms\":10}");
    produce_rounds();
    /* Wait for the cleaner to have compacted and then to leave the log alone (it runs
     * every 20 ms, over each segment once it is closed and synced): the stream below
     * must read what this snapshot saw. */
    for (int64_t deadline = clock_mono_ms() + 20000; clock_mono_ms() < deadline;) {
        size_t before = n;

        json_decref(all);
        all = fetch_all();
        n = json_array_size(json_object_get(all, "records"));
        unchanged = n == before ? unchanged + 1 : 0;
        if (n < KEYS * ROUNDS / 2 && unchanged == 10)
            break;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    cr_assert(lt(sz, n, (size_t)(KEYS * ROUNDS / 2)), "the cleaner never compacted (%zu)", n);
    cr_assert(eq(i64, ac_int(all, "next_offset"), KEYS * ROUNDS));
    recs = json_object_get(all, "records");
    json_array_foreach(recs, i, r)
    {
        int64_t off = ac_int(r, "offset");
        const char *key = json_string_value(json_object_get(r, "key"));
        int64_t round = ac_int(json_object_get(r, "value"), "round");

        cr_assert(ge(i64, off, (prev) + 1), "offsets ascend");
        if (off > prev + 1 && gap_at < 0)
            gap_at = prev + 1;
        prev = off;
        /* an offset is round * KEYS + key: unchanged by compaction */
        cr_assert(eq(i64, off, round * KEYS + (key[1] - '0')), "record %zu moved", i);
        if (round == ROUNDS - 1)
            latest_seen[key[1] - '0'] = true;
    }
    for (int k = 0; k < KEYS; k++)
        cr_assert(ac_holds(latest_seen[k]), "key k%d lost its latest record", k);
    cr_assert(ge(i64, gap_at, 0), "no gap found");
    /* a read from an offset compacted away starts at the next survivor */
    {
        char q[64];
        json_t *one;

        snprintf(q, sizeof(q), "offset=%lld&limit=1", (long long)gap_at);
        one = ac_fetch(&srv, "c", 0, q);
        cr_assert(ge(i64, ac_int(json_array_get(json_object_get(one, "records"), 0), "offset"), (gap_at - 1) + 1));
        json_decref(one);
    }
    /* a stream from the start sends exactly the survivors, then new records */
    {
        struct sse_client c;
        struct sse_event ev = {0};
        const char *h[] = {srv.auth, NULL};

        cr_assert(eq(int, sse_open(&c, srv.proc.addr, "/topics/c/partitions/0/stream?offset=earliest",
                                   h, 0), 200));
        json_array_foreach(recs, i, r)
        {
            char want[32];
            json_t *j;

            cr_assert(eq(int, sse_next_event(&c, &ev, 10000), 1));
            j = ac_json(ev.data.data);
            cr_assert(eq(i64, ac_int(j, "offset"), ac_int(r, "offset")));
            snprintf(want, sizeof(want), "%lld", (long long)ac_int(r, "offset") + 1);
            cr_assert(eq(str, ev.id, want));
            json_decref(j);
        }
        json_decref(ac_produce(&srv, "c", "{\"records\":[{\"key\":\"k0\",\"value\":1}]}"));
        cr_assert(eq(int, sse_next_event(&c, &ev, 10000), 1));
        cr_assert(ac_holds(strstr(ev.data.data, "\"offset\":300") != NULL), "%s", ev.data.data);
        sse_close(&c);
        sse_event_release(&ev);
    }
    json_decref(all);
    ac_server_stop_clean(&srv);
}
