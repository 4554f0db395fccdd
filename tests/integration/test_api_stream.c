/* tests/integration/test_api_stream.c: server-sent events end to end against the real
 * binary (api/stream.c, api/stream_hub.c): partition and topic streams, exact resume
 * with Last-Event-ID, gap events after retention, heartbeats, a slow client cut and
 * resumed without loss, 1,000 idle streams costing no CPU, the error answers, and a
 * stop with streams open. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "tests/support/api_client.h"
#include "tests/support/sse_client.h"

#define WAIT_MS 10000

static struct ac_server srv;

static void setup(void) { ac_server_start(&srv, NULL); }
static void teardown(void) { ac_server_cleanup(&srv); }

TestSuite(api_stream, .init = setup, .fini = teardown, .timeout = 120);

/* Opens a stream of 'path' with the admin token and 'extra' header (may be NULL). */
static void open_stream(struct sse_client *c, const char *path, const char *extra)
{
    const char *h[] = {srv.auth, extra, NULL};

    ac_server_require(&srv);
    cr_assert(eq(int, sse_open(c, srv.proc.addr, path, h, 0), 200), "GET %s: %d %s",
              path, c->status, c->body.data);
}

/* The next record event: asserts it comes, is a record, and returns its data. */
static json_t *next_record(struct sse_client *c, struct sse_event *ev)
{
    int r = sse_next_event(c, ev, WAIT_MS);

    cr_assert(eq(int, r, 1), "no event (%d)", r);
    cr_assert(eq(str, ev->event, "record"), "event '%s': %s", ev->event, ev->data.data);
    return ac_json(ev->data.data);
}

/* Produces n records {"value":first..first+n-1} to one partition. */
static void produce_n(const char *topic, int partition, int first, int n)
{
    struct ac_text body = {0};

    ac_text_printf(&body, "{\"records\":[");
    for (int i = 0; i < n; i++)
        ac_text_printf(&body, "%s{\"value\":%d,\"partition\":%d}", i ? "," : "", first + i,
                       partition);
    ac_text_printf(&body, "]}");
    json_decref(ac_produce(&srv, topic, body.data));
    ac_text_release(&body);
}

/* Reads n record events of a partition stream, asserting offsets from..from+n-1 with
 * ids offset+1 and values equal to offsets. */
static void expect_partition_records(struct sse_client *c, int64_t from, int n)
{
    struct sse_event ev = {0};

    for (int64_t o = from; o < from + n; o++) {
        json_t *j = next_record(c, &ev);
        char want_id[32];

        snprintf(want_id, sizeof(want_id), "%lld", (long long)o + 1);
        cr_assert(eq(str, ev.id, want_id));
        cr_assert(eq(i64, ac_int(j, "offset"), o));
        cr_assert(eq(i64, ac_int(j, "partition"), 0));
        cr_assert(eq(i64, ac_int(j, "value"), o));
        cr_assert(ac_holds(json_is_object(json_object_get(j, "headers"))));
        cr_assert(ac_holds(json_is_integer(json_object_get(j, "timestamp"))));
        json_decref(j);
    }
    sse_event_release(&ev);
}

Test(api_stream, a_partition_stream_sends_records_then_tails_them_live)
{
    struct sse_client c;
    struct sse_event ev = {0};
    char *ct, *cc, *xab;

    ac_create_topic(&srv, "t", 1, NULL);
    produce_n("t", 0, 0, 5);
    open_stream(&c, "/topics/t/partitions/0/stream?offset=earliest", NULL);
    ct = sse_header(&c, "Content-Type");
    cc = sse_header(&c, "Cache-Control");
    xab = sse_header(&c, "X-Accel-Buffering");
    cr_assert(eq(str, ct ? ct : "", "text/event-stream"));
    cr_assert(eq(str, cc ? cc : "", "no-cache"));
    cr_assert(eq(str, xab ? xab : "", "no"));
    free(ct);
    free(cc);
    free(xab);
    cr_assert(eq(int, sse_next(&c, &ev, WAIT_MS), 1));
    cr_assert(eq(long, ev.retry, 2000), "the stream begins with retry:");
    expect_partition_records(&c, 0, 5);
    produce_n("t", 0, 5, 3); /* while it is open */
    expect_partition_records(&c, 5, 3);
    sse_close(&c);
    sse_event_release(&ev);
    ac_server_stop_clean(&srv);
}

/* Reads of the log returning any number of records (here 1, 2, 3: once, 2 was taken
 * for "cut") leave the stream open. */
Test(api_stream, a_stream_that_catches_up_from_the_log_stays_open)
{
    struct sse_client c;

    for (int n = 1; n <= 3; n++) {
        char topic[16], path[96];

        snprintf(topic, sizeof(topic), "t%d", n); /* a new topic: nothing shared yet */
        ac_create_topic(&srv, topic, 1, NULL);
        produce_n(topic, 0, 0, n);
        snprintf(path, sizeof(path), "/topics/%s/partitions/0/stream?offset=0", topic);
        open_stream(&c, path, NULL);
        expect_partition_records(&c, 0, n);
        produce_n(topic, 0, n, 1); /* on the same connection */
        expect_partition_records(&c, n, 1);
        sse_close(&c);
    }
    ac_server_stop_clean(&srv);
}

Test(api_stream, a_partition_stream_starts_at_latest_by_default_and_at_a_timestamp)
{
    struct sse_client c;

    ac_create_topic(&srv, "t", 1, NULL);
    produce_n("t", 0, 0, 4);
    open_stream(&c, "/topics/t/partitions/0/stream", NULL);
    produce_n("t", 0, 4, 2);
    expect_partition_records(&c, 4, 2);
    sse_close(&c);
    open_stream(&c, "/topics/t/partitions/0/stream?timestamp=0", NULL);
    expect_partition_records(&c, 0, 6);
    sse_close(&c);
    open_stream(&c, "/topics/t/partitions/0/stream?offset=3", NULL);
    expect_partition_records(&c, 3, 3);
    sse_close(&c);
    ac_server_stop_clean(&srv);
}

Test(api_stream, last_event_id_resumes_exactly_after_the_last_event_seen)
{
    struct sse_client c;

    ac_create_topic(&srv, "t", 1, NULL);
    produce_n("t", 0, 0, 10);
    open_stream(&c, "/topics/t/partitions/0/stream?offset=earliest", NULL);
    expect_partition_records(&c, 0, 4); /* last id seen: 4 */
    sse_close(&c);
    produce_n("t", 0, 10, 2);
    /* the header wins over the query (a browser reconnects with both) and offset= */
    open_stream(&c, "/topics/t/partitions/0/stream?offset=earliest&last_event_id=1",
                "Last-Event-ID: 4");
    expect_partition_records(&c, 4, 8);
    sse_close(&c);
    open_stream(&c, "/topics/t/partitions/0/stream?last_event_id=11", NULL);
    expect_partition_records(&c, 11, 1);
    produce_n("t", 0, 12, 1);
    expect_partition_records(&c, 12, 1);
    sse_close(&c);
    ac_server_stop_clean(&srv);
}

/* A topic stream's id: "0:a,1:b,...", parsed into next[]. */
static void parse_vector(const char *id, int64_t *next, int n)
{
    const char *p = id;

    for (int i = 0; i < n; i++) {
        char *end;
        long part = strtol(p, &end, 10);

        cr_assert(eq(long, part, i), "id '%s'", id);
        cr_assert(eq(chr, *end, ':'), "id '%s'", id);
        next[i] = strtoll(end + 1, &end, 10);
        cr_assert(ac_holds(*end == (i + 1 < n ? ',' : '\0')), "id '%s'", id);
        p = end + 1;
    }
}

/* Reads 'count' events of a topic stream, marking each (partition, offset) in seen[]
 * (asserting none twice) and checking each id is the vector after its record. */
static void read_topic_events(struct sse_client *c, int nparts, int count, int64_t *next,
                              bool seen[][64], char *last_id, size_t last_id_size)
{
    struct sse_event ev = {0};

    for (int i = 0; i < count; i++) {
        json_t *j = next_record(c, &ev);
        int64_t p = ac_int(j, "partition"), o = ac_int(j, "offset");
        int64_t after[8];

        cr_assert(ac_holds(p >= 0 && p < nparts && o >= 0 && o < 64));
        cr_assert(not(ac_holds(seen[p][o])), "partition %lld offset %lld twice",
                  (long long)p, (long long)o);
        seen[p][o] = true;
        cr_assert(eq(i64, o, next[p]), "partition %lld out of order", (long long)p);
        next[p] = o + 1;
        parse_vector(ev.id, after, nparts);
        for (int k = 0; k < nparts; k++)
            cr_assert(eq(i64, after[k], next[k]), "id '%s'", ev.id);
        snprintf(last_id, last_id_size, "%s", ev.id);
        json_decref(j);
    }
    sse_event_release(&ev);
}

Test(api_stream, a_topic_stream_covers_every_partition_and_resumes_with_its_vector)
{
    struct sse_client c;
    bool seen[4][64] = {{false}};
    int64_t next[4] = {0};
    char last[256], hdr[300];

    ac_create_topic(&srv, "t", 3, NULL);
    produce_n("t", 0, 0, 5);
    produce_n("t", 1, 0, 3);
    produce_n("t", 2, 0, 4);
    open_stream(&c, "/topics/t/stream?offset=earliest", NULL);
    read_topic_events(&c, 3, 7, next, seen, last, sizeof(last));
    sse_close(&c);
    produce_n("t", 1, 3, 2);
    snprintf(hdr, sizeof(hdr), "Last-Event-ID: %s", last);
    open_stream(&c, "/topics/t/stream", hdr);
    read_topic_events(&c, 3, 14 - 7, next, seen, last, sizeof(last));
    cr_assert(eq(i64, next[0], 5));
    cr_assert(eq(i64, next[1], 5));
    cr_assert(eq(i64, next[2], 4));
    /* partitions added later are followed, from their start */
    {
        struct http_response r;
        ac_send_json(&srv, "PATCH", "/topics/t", "{\"partitions\":4}", &r);
        cr_assert(eq(long, r.status, 200), "%s", r.body);
        http_response_release(&r);
    }
    produce_n("t", 3, 0, 2);
    {
        struct sse_event ev = {0};
        for (int o = 0; o < 2; o++) {
            json_t *j = next_record(&c, &ev);
            cr_assert(eq(i64, ac_int(j, "partition"), 3));
            cr_assert(eq(i64, ac_int(j, "offset"), o));
            json_decref(j);
        }
        cr_assert(eq(str, ev.id, "0:5,1:5,2:4,3:2"));
        sse_event_release(&ev);
    }
    sse_close(&c);
    /* a vector without the new partition: it is newer than the id, read from its start */
    open_stream(&c, "/topics/t/stream?last_event_id=0:5,1:5,2:4", NULL);
    {
        struct sse_event ev = {0};
        json_t *j = next_record(&c, &ev);
        cr_assert(eq(i64, ac_int(j, "partition"), 3));
        cr_assert(eq(i64, ac_int(j, "offset"), 0));
        json_decref(j);
        sse_event_release(&ev);
    }
    sse_close(&c);
    ac_server_stop_clean(&srv);
}

Test(api_stream, a_resume_past_deleted_records_says_gap_first)
{
    struct sse_client c;
    struct sse_event ev = {0};
    json_t *j, *offs;
    int64_t start = 0;
    char value[600];

    /* small segments, retention by size, checked often */
    rillproc_stop(&srv.proc);
    ac_server_cleanup(&srv);
    {
        const char *args[] = {"--retention-check-ms", "10", NULL};
        ac_server_start(&srv, args);
    }
    ac_create_topic(&srv, "t", 1,
                    "{\"segment.bytes\":2048,\"retention.bytes\":2048,"
                    "\"flush.policy\":\"interval\"}");
    memset(value, 'x', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0';
    for (int i = 0; i < 20; i++) {
        char body[800];
        snprintf(body, sizeof(body), "{\"records\":[{\"value\":\"%s\"}]}", value);
        json_decref(ac_produce(&srv, "t", body));
    }
    for (int64_t deadline = clock_mono_ms() + WAIT_MS; clock_mono_ms() < deadline;) {
        struct http_response r;
        ac_get(&srv, "/topics/t/partitions/0/offsets", &r);
        offs = ac_expect_json(&r, 200);
        start = ac_int(offs, "earliest");
        json_decref(offs);
        http_response_release(&r);
        if (start > 2)
            break;
    }
    cr_assert(ge(i64, start, (2) + 1), "retention deleted nothing");
    open_stream(&c, "/topics/t/partitions/0/stream", "Last-Event-ID: 2");
    cr_assert(eq(int, sse_next_event(&c, &ev, WAIT_MS), 1));
    cr_assert(eq(str, ev.event, "gap"), "got '%s'", ev.event);
    j = ac_json(ev.data.data);
    cr_assert(eq(i64, ac_int(j, "partition"), 0));
    cr_assert(eq(i64, ac_int(j, "from"), 2));
    cr_assert(eq(i64, ac_int(j, "to"), start));
    json_decref(j);
    j = next_record(&c, &ev);
    cr_assert(eq(i64, ac_int(j, "offset"), start), "the records go on after the gap");
    json_decref(j);
    sse_close(&c);
    sse_event_release(&ev);
    ac_server_stop_clean(&srv);
}

Test(api_stream, an_idle_stream_gets_heartbeat_comments)
{
    struct sse_client c;
    struct sse_event ev = {0};
    const char *args[] = {"--heartbeat-ms", "100", NULL};
    int comments = 0;

    rillproc_stop(&srv.proc);
    ac_server_cleanup(&srv);
    ac_server_start(&srv, args);
    ac_create_topic(&srv, "t", 1, NULL);
    open_stream(&c, "/topics/t/partitions/0/stream", NULL);
    while (comments < 3) {
        cr_assert(eq(int, sse_next(&c, &ev, WAIT_MS), 1), "no heartbeat");
        if (ev.comment) {
            cr_assert(eq(str, ev.data.data, "heartbeat"));
            comments++;
        }
    }
    sse_close(&c);
    sse_event_release(&ev);
    ac_server_stop_clean(&srv);
}

Test(api_stream, a_client_that_falls_behind_is_cut_and_resumes_without_loss)
{
    struct sse_client c;
    struct sse_event ev = {0};
    const char *args[] = {"--stream-buffer-bytes", "65536", NULL};
    int64_t next = 0, total = 0;
    char hdr[64];
    struct ac_text body = {0};
    bool cut = false;

    rillproc_stop(&srv.proc);
    ac_server_cleanup(&srv);
    ac_server_start(&srv, args);
    ac_create_topic(&srv, "t", 1, "{\"flush.policy\":\"interval\"}");
    ac_server_require(&srv);
    {
        const char *h[] = {srv.auth, NULL};
        cr_assert(eq(int, sse_open(&c, srv.proc.addr, "/topics/t/partitions/0/stream", h,
                                   4096), 200));
    }
    /* the client reads nothing while 16 MiB go by: far more than the window and than
     * the sockets hold */
    ac_text_printf(&body, "{\"records\":[");
    for (int i = 0; i < 1000; i++)
        ac_text_printf(&body, "%s{\"value\":\"%01000d\"}", i ? "," : "", i);
    ac_text_printf(&body, "]}");
    for (int i = 0; i < 16; i++) {
        json_decref(ac_produce(&srv, "t", body.data));
        total += 1000;
    }
    ac_text_release(&body);
    /* now it reads: what the sockets held, then the end of the stream */
    for (;;) {
        int r = sse_next_event(&c, &ev, WAIT_MS);

        cr_assert(ac_holds(r >= 0), "the stream neither went on nor ended");
        if (r == 0) {
            cut = true;
            break;
        }
        json_t *j = ac_json(ev.data.data);
        cr_assert(eq(i64, ac_int(j, "offset"), next));
        json_decref(j);
        next++;
        if (next == total)
            break;
    }
    cr_assert(ac_holds(cut), "the slow client was never cut");
    cr_assert(ac_holds(c.done), "the stream ended properly (last chunk)");
    cr_assert(lt(i64, next, total));
    sse_close(&c);
    /* resume: the rest, exactly */
    snprintf(hdr, sizeof(hdr), "Last-Event-ID: %lld", (long long)next);
    open_stream(&c, "/topics/t/partitions/0/stream", hdr);
    while (next < total) {
        json_t *j = next_record(&c, &ev);
        cr_assert(eq(i64, ac_int(j, "offset"), next));
        json_decref(j);
        next++;
    }
    cr_assert(ac_server_log_shows(&srv, "behind; ending it"));
    sse_close(&c);
    sse_event_release(&ev);
    ac_server_stop_clean(&srv);
}

/* utime + stime of a process, in clock ticks. */
static long long cpu_ticks(pid_t pid)
{
    char path[64], text[1024];
    FILE *f;
    size_t n;
    const char *p;
    unsigned long long ut = 0, st = 0;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    cr_assert(not(eq(ptr, f, NULL)));
    n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    p = strrchr(text, ')'); /* fields after the command name: 3 is state, 14 utime */
    cr_assert(not(eq(ptr, (void *)p, NULL)));
    cr_assert(eq(int, sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                             &ut, &st), 2));
    return (long long)(ut + st);
}

Test(api_stream, a_thousand_idle_streams_cost_no_cpu, .timeout = 180)
{
    enum { N = 1000 };
    const char *args[] = {"--max-connections", "2000", "--max-connections-per-ip", "2000",
                          NULL};
    struct sse_client *c = calloc(N, sizeof(*c));
    struct sse_event ev = {0};
    struct rlimit rl;
    long long before, after;
    long hz = sysconf(_SC_CLK_TCK);

    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    cr_assert(ac_holds(rl.rlim_cur > N + 100), "too few file descriptors here");
    rillproc_stop(&srv.proc);
    ac_server_cleanup(&srv);
    ac_server_start(&srv, args);
    ac_create_topic(&srv, "t", 1, NULL);
    for (int i = 0; i < N; i++) {
        open_stream(&c[i], "/topics/t/partitions/0/stream", NULL);
        cr_assert(eq(int, sse_next(&c[i], &ev, WAIT_MS), 1));
        cr_assert(eq(long, ev.retry, 2000));
    }
    /* idle: measure the server's CPU over 3 s; a spinning stream would burn a core */
    before = cpu_ticks(srv.proc.pid);
    {
        struct timespec ts = {3, 0};
        while (nanosleep(&ts, &ts) && errno == EINTR)
            ;
    }
    after = cpu_ticks(srv.proc.pid);
    cr_assert(lt(dbl, (double)(after - before) / (double)hz, 0.3),
              "1000 idle streams used %.2f s of CPU in 3 s",
              (double)(after - before) / (double)hz);
    /* and they are alive: one record reaches every one of them */
    produce_n("t", 0, 0, 1);
    for (int i = 0; i < N; i++) {
        json_t *j = next_record(&c[i], &ev);
        cr_assert(eq(i64, ac_int(j, "offset"), 0));
        json_decref(j);
    }
    ac_server_stop_clean(&srv); /* with 1000 streams open: every one ends, exit 0 */
    for (int i = 0; i < N; i++) {
        cr_assert(eq(int, sse_next(&c[i], &ev, WAIT_MS), 0), "stream %d did not end", i);
        sse_close(&c[i]);
    }
    free(c);
    sse_event_release(&ev);
}

Test(api_stream, a_stop_ends_open_streams_cleanly)
{
    struct sse_client c[3];
    struct sse_event ev = {0};

    ac_create_topic(&srv, "t", 2, NULL);
    open_stream(&c[0], "/topics/t/partitions/0/stream", NULL);
    open_stream(&c[1], "/topics/t/partitions/1/stream?offset=earliest", NULL);
    open_stream(&c[2], "/topics/t/stream", NULL);
    for (int i = 0; i < 3; i++)
        cr_assert(eq(int, sse_next(&c[i], &ev, WAIT_MS), 1));
    ac_server_stop_clean(&srv);
    for (int i = 0; i < 3; i++) {
        cr_assert(eq(int, sse_next(&c[i], &ev, WAIT_MS), 0));
        cr_assert(ac_holds(c[i].done), "stream %d: no last chunk", i);
        sse_close(&c[i]);
    }
    sse_event_release(&ev);
}

Test(api_stream, deleting_the_topic_ends_its_streams)
{
    struct sse_client c;
    struct sse_event ev = {0};
    struct http_response r;

    ac_create_topic(&srv, "t", 1, NULL);
    open_stream(&c, "/topics/t/partitions/0/stream", NULL);
    cr_assert(eq(int, sse_next(&c, &ev, WAIT_MS), 1));
    ac_req(&srv, "DELETE", "/topics/t", NULL, NULL, 0, &r);
    cr_assert(eq(long, r.status, 204));
    http_response_release(&r);
    cr_assert(eq(int, sse_next(&c, &ev, WAIT_MS), 0));
    cr_assert(ac_holds(c.done));
    sse_close(&c);
    sse_event_release(&ev);
    ac_server_stop_clean(&srv);
}

Test(api_stream, access_token_works_on_a_stream_and_is_never_logged)
{
    struct sse_client c;
    char path[300];
    char *log;

    ac_create_topic(&srv, "t", 1, NULL);
    snprintf(path, sizeof(path), "/topics/t/partitions/0/stream?access_token=%s",
             srv.token);
    cr_assert(eq(int, sse_open(&c, srv.proc.addr, path, NULL, 0), 200));
    sse_close(&c);
    cr_assert(eq(int, sse_open(&c, srv.proc.addr, "/topics/t/stream", NULL, 0), 401));
    sse_close(&c);
    ac_server_stop_clean(&srv);
    log = rillproc_read_log(&srv.proc);
    cr_assert(not(ac_holds(strstr(log, srv.token) != NULL)), "the token is in the log");
    cr_assert(ac_holds(strstr(log, "access_token=REDACTED") != NULL));
    free(log);
}

/* Asserts GET 'path' answers the problem 'status'/'code'. */
static void expect_problem(const char *path, const char *header, long status,
                           const char *code)
{
    struct http_response r;
    const char *h[] = {header, NULL};

    ac_req(&srv, "GET", path, header ? h : NULL, NULL, 0, &r);
    json_decref(ac_expect_problem(&r, status, code));
    http_response_release(&r);
}

Test(api_stream, bad_positions_and_names_get_clear_errors)
{
    ac_create_topic(&srv, "t", 2, NULL);
    produce_n("t", 0, 0, 3);
    expect_problem("/topics/t/partitions/0/stream?offset=x", NULL, 400, "invalid_parameter");
    expect_problem("/topics/t/partitions/0/stream?offset=-1", NULL, 400, "invalid_parameter");
    expect_problem("/topics/t/partitions/0/stream?offset=4", NULL, 416,
                   "offset_out_of_range");
    expect_problem("/topics/t/partitions/0/stream?offset=1&timestamp=5", NULL, 400,
                   "invalid_parameter");
    expect_problem("/topics/t/partitions/0/stream", "Last-Event-ID: 0:1", 400,
                   "invalid_parameter");
    expect_problem("/topics/t/partitions/0/stream", "Last-Event-ID: 99", 416,
                   "offset_out_of_range");
    expect_problem("/topics/t/partitions/0/stream?last_event_id=-3", NULL, 400,
                   "invalid_parameter");
    expect_problem("/topics/t/partitions/0/stream?last_event_id=99999999999999999999", NULL,
                   400, "invalid_parameter");
    expect_problem("/topics/t/stream?offset=3", NULL, 400, "invalid_parameter");
    expect_problem("/topics/t/stream", "Last-Event-ID: 0:1,0:2", 400, "invalid_parameter");
    expect_problem("/topics/t/stream", "Last-Event-ID: 0:1,2:0", 400, "invalid_parameter");
    expect_problem("/topics/t/stream", "Last-Event-ID: 0:1,", 400, "invalid_parameter");
    expect_problem("/topics/t/stream", "Last-Event-ID: 0:9", 416, "offset_out_of_range");
    expect_problem("/topics/t/stream?value_format=base64", NULL, 400, "unknown_parameter");
    expect_problem("/topics/t/partitions/2/stream", NULL, 404, "partition_not_found");
    expect_problem("/topics/nope/stream", NULL, 404, "topic_not_found");
    expect_problem("/topics/nope/partitions/0/stream", NULL, 404, "topic_not_found");
    ac_server_stop_clean(&srv);
}

/* The committed offset of partition 0 of 't' in 'group', or -1 (polls up to 10 s until
 * it is at least 'want'). */
static int64_t wait_committed(const char *group, int64_t want)
{
    int64_t got = -1;

    for (int64_t deadline = clock_mono_ms() + WAIT_MS; clock_mono_ms() < deadline;) {
        struct http_response r;
        char path[128];

        snprintf(path, sizeof(path), "/groups/%s/offsets", group);
        ac_get(&srv, path, &r);
        if (r.status == 200) {
            json_t *j = ac_expect_json(&r, 200);
            got = ac_int(json_array_get(json_object_get(j, "offsets"), 0), "offset");
            json_decref(j);
        }
        http_response_release(&r);
        if (got >= want)
            break;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return got;
}

Test(api_stream, a_group_stream_starts_at_the_commit_and_commits_as_it_goes)
{
    struct sse_client c;
    struct http_response r;

    ac_create_topic(&srv, "t", 1, NULL);
    produce_n("t", 0, 0, 6);
    ac_send_json(&srv, "POST", "/groups/g/offsets",
                 "{\"offsets\":[{\"topic\":\"t\",\"partition\":0,\"offset\":2}]}", &r);
    cr_assert(eq(long, r.status, 200));
    http_response_release(&r);
    open_stream(&c, "/topics/t/partitions/0/stream?group=g", NULL);
    expect_partition_records(&c, 2, 4);
    sse_close(&c);
    /* commit=auto: a new group from the start, three events, gone: committed at 3 */
    open_stream(&c, "/topics/t/stream?group=h&commit=auto&offset=earliest", NULL);
    {
        struct sse_event ev = {0};
        for (int i = 0; i < 6; i++)
            json_decref(next_record(&c, &ev));
        sse_event_release(&ev);
    }
    cr_assert(eq(i64, wait_committed("h", 6), 6), "delivered events are committed");
    sse_close(&c);
    produce_n("t", 0, 6, 2);
    open_stream(&c, "/topics/t/partitions/0/stream?group=h&commit=auto", NULL);
    expect_partition_records(&c, 6, 2); /* from the commit, not from the start */
    sse_close(&c);
    cr_assert(eq(i64, wait_committed("h", 8), 8), "and on close");
    ac_server_stop_clean(&srv);
}

Test(api_stream, group_stream_parameters_are_checked)
{
    struct http_response r;

    ac_create_topic(&srv, "t", 1, NULL);
    expect_problem("/topics/t/stream?commit=auto", NULL, 400, "invalid_parameter");
    expect_problem("/topics/t/stream?group=g&commit=sometimes", NULL, 400, "invalid_parameter");
    expect_problem("/topics/t/stream?group=%01", NULL, 400, "invalid_group_name");
    ac_send_json(&srv, "POST", "/groups/busy/members", "{\"topics\":[\"t\"]}", &r);
    cr_assert(eq(long, r.status, 201));
    http_response_release(&r);
    expect_problem("/topics/t/partitions/0/stream?group=busy", NULL, 409, "member_required");
    ac_server_stop_clean(&srv);
}
