/* conn_limit.h: open connections counted in total and per client address, for
 * --max-connections and --max-connections-per-ip. Pure bookkeeping: no HTTP, no
 * sockets of its own; server/http.c asks it about each connection MHD accepts.
 *
 *     conn_limit_admit()    CONN_OK: counted until conn_limit_release();
 *                           CONN_TOO_MANY / CONN_TOO_MANY_FROM_IP: refused, not counted
 *     conn_limit_release()  once per admitted connection, with the same address
 *
 * Addresses are compared as bytes with their family: the 4 bytes of an IPv4 address,
 * the 16 of an IPv6 one (so 127.0.0.1 and ::1 are two addresses; so are 1.2.3.4 and
 * ::ffff:1.2.3.4, which one listening socket never mixes). Other families, and a NULL
 * address, count towards the total only.
 *
 * Per address, a hash map entry exists while that address has connections open: it is
 * made by the first admitted connection and freed when the last one is released, so
 * memory follows the addresses connected now (at most max_total of them), never those
 * seen before. The hash is keyed with a random seed; a chain is at worst as long as
 * the number of entries. One mutex guards it all, so every call is thread-safe. */
#ifndef SERVER_CONN_LIMIT_H
#define SERVER_CONN_LIMIT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum conn_verdict {
    CONN_OK,               /* admitted, and counted */
    CONN_TOO_MANY,         /* max_total connections are open: not counted */
    CONN_TOO_MANY_FROM_IP, /* max_per_ip are open from this address: not counted */
};

struct conn_limit_entry;

/* Embedded in its user; set up by conn_limit_init(). The fields are private. */
struct conn_limit {
    pthread_mutex_t lock;
    unsigned max_total;                /* 0: unlimited */
    unsigned max_per_ip;               /* 0: unlimited, and no addresses are kept */
    unsigned total;                    /* admitted and not yet released */
    struct conn_limit_entry **buckets; /* chains; NULL until the first address */
    size_t nbuckets;                   /* 0 or a power of two */
    size_t nentries;                   /* addresses with connections open */
    uint64_t seed;                     /* keys the hash */
};

/* Sets up 'cl' with no connections open. A limit of 0 means unlimited (config.c
 * allows 1 or more for both flags, so the server always has both). Returns 0, or
 * -errno from pthread_mutex_init() ('cl' then needs no conn_limit_destroy()). */
int conn_limit_init(struct conn_limit *cl, unsigned max_total, unsigned max_per_ip);

/* Counts a new connection from 'sa' (borrowed; may be NULL) if it fits both limits.
 * The per-address limit is checked first: a client at its own limit hears that
 * (CONN_TOO_MANY_FROM_IP) even when the server is full too. At a limit exactly, the
 * next connection is refused: with max_per_ip 2, the third from one address is. */
enum conn_verdict conn_limit_admit(struct conn_limit *cl, const struct sockaddr *sa);

/* Uncounts a connection conn_limit_admit() admitted from the same address (the port
 * may differ; only the address is read). Releasing what was not admitted is a bug
 * (an assert; without asserts, counts never go below 0). */
void conn_limit_release(struct conn_limit *cl, const struct sockaddr *sa);

/* Connections open: in total when 'sa' is NULL, else from that address (0 when
 * max_per_ip is 0, since no addresses are kept then). */
unsigned conn_limit_count(struct conn_limit *cl, const struct sockaddr *sa);

/* Addresses with connections open: the map's entries. */
size_t conn_limit_addresses(struct conn_limit *cl);

/* Frees what 'cl' holds (entries left by connections never released included) and
 * destroys its mutex. No other thread may use 'cl' during or after the call. Not
 * conn_limit_release(), which uncounts one connection. */
void conn_limit_destroy(struct conn_limit *cl);

#endif
