/* loopback_fanout.c: the ceiling of the SSE fan-out benchmark on this machine, for
 * `make bench`: the same bytes as sse-fanout delivers, moved by the kernel alone.
 *
 * N TCP connections over 127.0.0.1. A writer thread (the "server") sends, every 1000 /
 * (RATE / BATCH) ms, one chunk of BATCH events of EVENT bytes each to every connection,
 * as rill sends a producer's batch to every stream; a reader thread (the "subscribers",
 * one epoll) reads them all. Each event starts with its send time, so the reader
 * measures send-to-receive latency of every event. No HTTP, no framing, no JSON: what
 * is left is loopback TCP and the two threads' wakeups. Prints one line: events/s
 * delivered (of offered), latency p50/p99/max, CPU in cores.
 *
 * Usage: loopback-fanout [--subs N] [--seconds D] [--rate R] [--batch B] [--event BYTES]
 * Exit status 0; 2 on usage or setup errors. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int subs = 1000, seconds = 5, rate = 10000, batch = 100, event = 150;
static int *wfd, *rfd;
static atomic_bool writing = true;

static int64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t cpu_us(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 + ru.ru_utime.tv_usec +
           ru.ru_stime.tv_usec;
}

/* Sends every connection a chunk of 'batch' events on schedule; a connection whose
 * socket buffer is full gets the rest of its chunk later (blocking write: the writer
 * falls behind, as a server would, and the latency shows it). */
static void *writer(void *arg)
{
    char *chunk = calloc((size_t)batch, (size_t)event);
    int64_t start = now_us(), period = 1000000LL * batch / rate;

    (void)arg;
    for (int64_t k = 0; now_us() - start < (int64_t)seconds * 1000000; k++) {
        int64_t due = start + k * period, t;

        while ((t = now_us()) < due)
            usleep((useconds_t)(due - t));
        for (int i = 0; i < batch; i++)
            memcpy(chunk + (size_t)i * (size_t)event, &t, sizeof(t));
        for (int s = 0; s < subs; s++) {
            size_t off = 0, len = (size_t)batch * (size_t)event;

            while (off < len) {
                ssize_t n = write(wfd[s], chunk + off, len - off);

                if (n < 0 && errno != EINTR)
                    exit(2);
                off += n > 0 ? (size_t)n : 0;
            }
        }
    }
    atomic_store(&writing, false);
    free(chunk);
    return NULL;
}

static int compare_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"subs", 1, 0, 'n'}, {"seconds", 1, 0, 'd'}, {"rate", 1, 0, 'r'},
        {"batch", 1, 0, 'b'}, {"event", 1, 0, 'e'}, {0, 0, 0, 0}};
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(addr);
    int c, lfd, ep;
    size_t *pos, nlat = 0, cap;
    int64_t *lat, events = 0, t0, cpu0;
    char *buf;
    pthread_t w;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int v = atoi(optarg);

        if (v <= 0)
            return 2;
        *(c == 'n' ? &subs : c == 'd' ? &seconds : c == 'r' ? &rate : c == 'b' ? &batch
                                                                                 : &event) = v;
    }
    if (event < (int)sizeof(int64_t) || rate < batch)
        return 2;
    wfd = calloc((size_t)subs, sizeof(int));
    rfd = calloc((size_t)subs, sizeof(int));
    pos = calloc((size_t)subs, sizeof(size_t));
    cap = (size_t)rate * (size_t)subs * (size_t)(seconds + 5) / 100 + 1024;
    lat = malloc(cap * sizeof(*lat)); /* one event in a hundred is sampled */
    buf = malloc(1 << 16);
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) ||
        getsockname(lfd, (struct sockaddr *)&addr, &alen) || listen(lfd, 4096))
        return 2;
    ep = epoll_create1(0);
    for (int s = 0; s < subs; s++) {
        int one = 1;
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)s};

        rfd[s] = socket(AF_INET, SOCK_STREAM, 0);
        if (rfd[s] < 0 || connect(rfd[s], (struct sockaddr *)&addr, sizeof(addr)) ||
            (wfd[s] = accept(lfd, NULL, NULL)) < 0)
            return 2;
        setsockopt(wfd[s], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        epoll_ctl(ep, EPOLL_CTL_ADD, rfd[s], &ev);
    }
    t0 = now_us();
    cpu0 = cpu_us();
    pthread_create(&w, NULL, writer, NULL);
    for (;;) {
        struct epoll_event evs[256];
        int n = epoll_wait(ep, evs, 256, 200);

        if (n <= 0 && !atomic_load(&writing))
            break;
        for (int i = 0; i < n; i++) {
            int s = (int)evs[i].data.u32;
            ssize_t got = read(rfd[s], buf, 1 << 16);
            int64_t t = now_us();

            /* the events that start in this read: at k = first, first + event, ... */
            size_t skip = (size_t)event - pos[s] % (size_t)event;

            for (ssize_t k = (ssize_t)(skip % (size_t)event); k < got; k += event) {
                if (events % 100 == 0 && nlat < cap && k + (ssize_t)sizeof(int64_t) <= got) {
                    int64_t sent;

                    memcpy(&sent, buf + k, sizeof(sent));
                    lat[nlat++] = t - sent;
                }
                events++;
            }
            if (got > 0)
                pos[s] += (size_t)got;
        }
    }
    pthread_join(w, NULL);
    qsort(lat, nlat, sizeof(*lat), compare_i64);
    printf("loopback fan-out, %d connections: %.2f M events/s delivered of %.2f M offered,"
           " latency p50 %.1f ms p99 %.1f ms max %.1f ms, %.2f cores (writer and reader)\n",
           subs, (double)events / ((double)(now_us() - t0) / 1e6) / 1e6,
           (double)rate * subs / 1e6, nlat ? (double)lat[nlat / 2] / 1000 : 0,
           nlat ? (double)lat[nlat * 99 / 100] / 1000 : 0,
           nlat ? (double)lat[nlat - 1] / 1000 : 0,
           (double)(cpu_us() - cpu0) / (double)(now_us() - t0));
    return 0;
}
