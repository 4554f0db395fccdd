/* tests/server/test_conn_limit.c: tests for server/conn_limit.c */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "server/conn_limit.h"

static struct conn_limit cl;
static bool cl_ready;
static unsigned max_total, max_per_ip; /* as given to conn_limit_init() */

static void teardown(void)
{
    if (cl_ready)
        conn_limit_destroy(&cl);
    cl_ready = false;
}

TestSuite(conn_limit, .fini = teardown, .timeout = 30);

static void init(unsigned total, unsigned per_ip)
{
    max_total = total;
    max_per_ip = per_ip;
    cr_assert(eq(int, conn_limit_init(&cl, total, per_ip), 0));
    cl_ready = true;
}

/* An IPv4 or IPv6 socket address for 'text' (port 'port'), in 'ss'. */
static const struct sockaddr *addr(struct sockaddr_storage *ss, const char *text,
                                   unsigned port)
{
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, text, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
    } else {
        cr_assert(eq(int, inet_pton(AF_INET6, text, &a6->sin6_addr), 1), "%s", text);
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
    }
    return (const struct sockaddr *)ss;
}

Test(conn_limit, the_per_ip_limit_is_exact_at_the_boundary)
{
    struct sockaddr_storage a;

    init(100, 3);
    for (unsigned i = 0; i < 3; i++)
        cr_assert(eq(int, conn_limit_admit(&cl, addr(&a, "10.0.0.1", 1000 + i)), CONN_OK),
                  "connection %u", i);
    cr_assert(eq(int, conn_limit_admit(&cl, addr(&a, "10.0.0.1", 2000)),
                 CONN_TOO_MANY_FROM_IP));
    cr_assert(eq(int, conn_limit_admit(&cl, addr(&a, "10.0.0.1", 2001)),
                 CONN_TOO_MANY_FROM_IP));
    cr_assert(eq(uint, conn_limit_count(&cl, addr(&a, "10.0.0.1", 0)), 3));
    cr_assert(eq(uint, conn_limit_count(&cl, NULL), 3), "a refused one is not counted");
}

Test(conn_limit, the_total_limit_is_exact_at_the_boundary)
{
    struct sockaddr_storage a;
    char ip[32];

    init(4, 3);
    for (unsigned i = 0; i < 4; i++) {
        snprintf(ip, sizeof(ip), "10.0.0.%u", i + 1);
        cr_assert(eq(int, conn_limit_admit(&cl, addr(&a, ip, 1)), CONN_OK), "%s", ip);
    }
    cr_assert(eq(int, conn_limit_admit(&cl, addr(&a, "10.0.0.9", 1)), CONN_TOO_MANY));
    cr_assert(eq(uint, conn_limit_count(&cl, NULL), 4));
    cr_assert(eq(uint, conn_limit_count(&cl, addr(&a, "10.0.0.9", 1)), 0));
    cr_assert(eq(sz, conn_limit_addresses(&cl), 4), "a refused address gets no entry");
}

Test(conn_limit, an_address_at_its_own_limit_hears_so_even_when_the_server_is_full)
{
    struct sockaddr_storage a;

    init(2, 2);
    cr_assert(eq(int, conn_limit_admit(&cl, addr(&a, "10.0.0.1", 1)), CONN_OK));
    cr_assert(eq(int, conn_limit_admit(&cl, addr(&a, "10.0.0.1", 2)), CONN_OK));
    cr_assert(
        eq(int, conn_limit_admit(&cl, addr(&a, "10.0.0.1", 3)), CONN_TOO_MANY_FROM_IP));
    cr_assert(eq(int, conn_limit_admit(&cl, addr(&a, "10.0.0.2", 1)), CONN_TOO_MANY));
}

Test(conn_limit, release_frees_a_slot)
{
    struct sockaddr_storage a;

    init(2, 1);
    cr_assert(eq(int, conn_limit_admit(&cl, addr(&a, "10.0.0.1", 1)), CONN_OK));
    cr_assert(
        eq(int, conn_limit_admit(&cl, addr(&a, "10.0.0.1", 2)), CONN_TOO_MANY_FROM_IP));
    cr_assert(eq(int, conn_limit_admit(&cl, addr(&a, "10.0.0.2", 1)), CONN_OK));
    cr_assert(eq(int, conn_limit_admit(&cl, addr(&a, "10.0.0.3", 1)), CONN_TOO_MANY));

    conn_limit_release(&cl, addr(&a, "10.0.0.1", 1));
    cr_assert(eq(uint, conn_limit_count(&cl, NULL), 1));
    cr_assert(eq(int, conn_limit_admit(&cl, addr(&a, "10.0.0.3", 1)), CONN_OK),
              "the total slot is free again");
    conn_limit_release(&cl, addr(&a, "10.0.0.3", 1));
    cr_assert(eq(int, conn_limit_admit(&cl, addr(&a, "10.0.0.1", 7)), CONN_OK),
              "the address's slot is free again (another port)");
}

Test(conn_limit, ipv4_and_ipv6_addresses_are_counted_apart)
{
    struct sockaddr_storage a;

    init(0, 1);
    cr_assert(eq(int, conn_limit_admit(&cl, addr(&a, "127.0.0.1", 1)), CONN_OK));
    cr_assert(eq(int, conn_limit_admit(&cl, addr(&a, "::1", 1)), CONN_OK));
    cr_assert(eq(int, conn_limit_admit(&cl, addr(&a, "::ffff:127.0.0.1", 1)), CONN_OK));
    cr_assert(eq(int, conn_limit_admit(&cl, addr(&a, "::7f00:1", 1)), CONN_OK),
              "the IPv4 bytes as an IPv6 address are another address");
    cr_assert(eq(int, conn_limit_admit(&cl, addr(&a, "::1", 2)), CONN_TOO_MANY_FROM_IP));
    cr_assert(
        eq(int, conn_limit_admit(&cl, addr(&a, "127.0.0.1", 2)), CONN_TOO_MANY_FROM_IP));
    cr_assert(eq(sz, conn_limit_addresses(&cl), 4));
    conn_limit_release(&cl, addr(&a, "::1", 1));
    cr_assert(eq(uint, conn_limit_count(&cl, addr(&a, "127.0.0.1", 0)), 1));
    cr_assert(eq(uint, conn_limit_count(&cl, addr(&a, "::1", 0)), 0));
}

Test(conn_limit, many_distinct_addresses_each_get_their_own_count)
{
    struct sockaddr_storage a;
    char ip[64];

    init(0, 2);
    for (unsigned i = 0; i < 5000; i++) {
        snprintf(ip, sizeof(ip), "10.%u.%u.%u", i >> 16, (i >> 8) & 255, i & 255);
        cr_assert(eq(int, conn_limit_admit(&cl, addr(&a, ip, 1)), CONN_OK), "%s", ip);
        snprintf(ip, sizeof(ip), "2001:db8::%x", i);
        cr_assert(eq(int, conn_limit_admit(&cl, addr(&a, ip, 1)), CONN_OK), "%s", ip);
        cr_assert(eq(int, conn_limit_admit(&cl, addr(&a, ip, 2)), CONN_OK), "%s", ip);
    }
    cr_assert(eq(sz, conn_limit_addresses(&cl), 10000));
    cr_assert(eq(uint, conn_limit_count(&cl, NULL), 15000));
    for (unsigned i = 0; i < 5000; i++) {
        snprintf(ip, sizeof(ip), "10.%u.%u.%u", i >> 16, (i >> 8) & 255, i & 255);
        cr_assert(eq(uint, conn_limit_count(&cl, addr(&a, ip, 0)), 1), "%s", ip);
        snprintf(ip, sizeof(ip), "2001:db8::%x", i);
        cr_assert(eq(int, conn_limit_admit(&cl, addr(&a, ip, 3)), CONN_TOO_MANY_FROM_IP),
                  "%s", ip);
    }
    for (unsigned i = 0; i < 5000; i++) {
        snprintf(ip, sizeof(ip), "10.%u.%u.%u", i >> 16, (i >> 8) & 255, i & 255);
        conn_limit_release(&cl, addr(&a, ip, 1));
        snprintf(ip, sizeof(ip), "2001:db8::%x", i);
        conn_limit_release(&cl, addr(&a, ip, 1));
        conn_limit_release(&cl, addr(&a, ip, 2));
    }
    cr_assert(eq(sz, conn_limit_addresses(&cl), 0));
    cr_assert(eq(uint, conn_limit_count(&cl, NULL), 0));
}

Test(conn_limit, releasing_the_last_connection_of_an_address_frees_its_entry)
{
    struct sockaddr_storage a;

    init(10, 5);
    cr_assert(eq(int, conn_limit_admit(&cl, addr(&a, "192.0.2.1", 1)), CONN_OK));
    cr_assert(eq(int, conn_limit_admit(&cl, addr(&a, "192.0.2.1", 2)), CONN_OK));
    cr_assert(eq(int, conn_limit_admit(&cl, addr(&a, "192.0.2.2", 1)), CONN_OK));
    cr_assert(eq(sz, conn_limit_addresses(&cl), 2));
    conn_limit_release(&cl, addr(&a, "192.0.2.1", 1));
    cr_assert(eq(sz, conn_limit_addresses(&cl), 2), "one connection is still open");
    conn_limit_release(&cl, addr(&a, "192.0.2.1", 2));
    cr_assert(eq(sz, conn_limit_addresses(&cl), 1));
    conn_limit_release(&cl, addr(&a, "192.0.2.2", 1));
    cr_assert(eq(sz, conn_limit_addresses(&cl), 0));
    cr_assert(eq(uint, conn_limit_count(&cl, NULL), 0));
    /* no trace left: the address starts from 0 again */
    for (unsigned i = 0; i < 5; i++)
        cr_assert(eq(int, conn_limit_admit(&cl, addr(&a, "192.0.2.1", i)), CONN_OK));
    cr_assert(
        eq(int, conn_limit_admit(&cl, addr(&a, "192.0.2.1", 9)), CONN_TOO_MANY_FROM_IP));
}

Test(conn_limit, zero_means_unlimited)
{
    struct sockaddr_storage a;

    init(0, 0);
    for (unsigned i = 0; i < 3000; i++)
        cr_assert(eq(int, conn_limit_admit(&cl, addr(&a, "10.0.0.1", i)), CONN_OK));
    cr_assert(eq(uint, conn_limit_count(&cl, NULL), 3000));
    cr_assert(eq(sz, conn_limit_addresses(&cl), 0), "no addresses kept without a limit");
    for (unsigned i = 0; i < 3000; i++)
        conn_limit_release(&cl, addr(&a, "10.0.0.1", i));
    cr_assert(eq(uint, conn_limit_count(&cl, NULL), 0));
}

Test(conn_limit, other_families_count_towards_the_total_only)
{
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    const struct sockaddr *sa = (const struct sockaddr *)&un;

    init(2, 1);
    cr_assert(eq(int, conn_limit_admit(&cl, sa), CONN_OK));
    cr_assert(eq(int, conn_limit_admit(&cl, NULL), CONN_OK));
    cr_assert(eq(int, conn_limit_admit(&cl, sa), CONN_TOO_MANY));
    cr_assert(eq(sz, conn_limit_addresses(&cl), 0));
    conn_limit_release(&cl, sa);
    conn_limit_release(&cl, NULL);
    cr_assert(eq(uint, conn_limit_count(&cl, NULL), 0));
}

/* Each thread admits and releases connections from its own and shared addresses. */
#define THREADS 8
#define ROUNDS 20000

struct worker {
    pthread_t thread;
    unsigned id;
    unsigned refused; /* admissions refused */
    unsigned over;    /* times a count was seen above its limit */
};

static void *churn(void *arg)
{
    struct worker *w = arg;
    struct sockaddr_storage own, shared;
    char ip[64];

    snprintf(ip, sizeof(ip), "2001:db8::%x", w->id + 1);
    addr(&own, ip, 1);
    addr(&shared, "198.51.100.7", 1);
    for (unsigned i = 0; i < ROUNDS; i++) {
        const struct sockaddr *sa = (const struct sockaddr *)(i % 2 ? &own : &shared);

        if (conn_limit_admit(&cl, sa) != CONN_OK) {
            w->refused++;
            continue;
        }
        if ((max_total && conn_limit_count(&cl, NULL) > max_total) ||
            conn_limit_count(&cl, sa) > max_per_ip)
            w->over++;
        if (i % 3 == 0) /* sometimes hold two at once */
            if (conn_limit_admit(&cl, sa) == CONN_OK)
                conn_limit_release(&cl, sa);
        conn_limit_release(&cl, sa);
    }
    return NULL;
}

Test(conn_limit, concurrent_admits_and_releases_keep_the_counts_right)
{
    struct worker w[THREADS];
    struct sockaddr_storage a;

    /* at most 2 connections per thread are open at once: the limits never bite */
    init(2 * THREADS, 2 * THREADS);
    cr_assert(eq(int, conn_limit_admit(&cl, addr(&a, "198.51.100.7", 9)), CONN_OK));
    for (unsigned i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.id = i};
        cr_assert(eq(int, pthread_create(&w[i].thread, NULL, churn, &w[i]), 0));
    }
    for (unsigned i = 0; i < THREADS; i++) {
        cr_assert(eq(int, pthread_join(w[i].thread, NULL), 0));
        cr_assert(eq(uint, w[i].refused, 0), "thread %u", i);
        cr_assert(eq(uint, w[i].over, 0), "thread %u", i);
    }
    cr_assert(eq(uint, conn_limit_count(&cl, NULL), 1));
    cr_assert(eq(uint, conn_limit_count(&cl, addr(&a, "198.51.100.7", 0)), 1));
    cr_assert(eq(sz, conn_limit_addresses(&cl), 1));
}

Test(conn_limit, concurrent_admits_never_exceed_the_limits)
{
    struct worker w[THREADS];
    struct sockaddr_storage held[4];
    unsigned refused = 0;

    /* 8 threads, each holding up to 2: total 5 and per address 3 must bite, and
     * whatever the interleaving, every admitted connection is released. 4 of the 5 are
     * held from elsewhere throughout, so a thread that holds one and asks for a second
     * is refused whatever the scheduling: the limit bites in every run. */
    init(5, 3);
    for (unsigned i = 0; i < 4; i++) {
        char ip[32];

        snprintf(ip, sizeof(ip), "192.0.2.%u", i + 1);
        cr_assert(eq(int, conn_limit_admit(&cl, addr(&held[i], ip, 1)), CONN_OK));
    }
    for (unsigned i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.id = i % 2};
        cr_assert(eq(int, pthread_create(&w[i].thread, NULL, churn, &w[i]), 0));
    }
    for (unsigned i = 0; i < THREADS; i++) {
        cr_assert(eq(int, pthread_join(w[i].thread, NULL), 0));
        cr_assert(eq(uint, w[i].over, 0), "thread %u saw a count over its limit", i);
        refused += w[i].refused;
    }
    cr_assert(ge(uint, refused, (0) + 1), "the limits never bit");
    for (unsigned i = 0; i < 4; i++)
        conn_limit_release(&cl, (const struct sockaddr *)&held[i]);
    cr_assert(eq(uint, conn_limit_count(&cl, NULL), 0));
    cr_assert(eq(sz, conn_limit_addresses(&cl), 0));
}
