/* idempotency.h: the Idempotency-Key header of produce requests. A retry with the
 * same key and the same request within 24 h gets the first answer and writes
 * nothing; the same key with another request is a conflict.
 *
 * Keys are kept in memory and in the log itself: the internal topic __idempotency
 * (one partition, flush.policy=always) holds one record per answered key, key =
 * "<topic>\n<topic created_ms>\n<Idempotency-Key>" (a topic made again under the same
 * name starts with no keys), value = 32-byte BLAKE2b of the request, then the
 * answer's JSON. It is replayed at start, so a retry after a restart is still
 * recognised. A key's record is written only after the request's own records are
 * durable, and the answer waits for it: a crash in between at worst forgets a key
 * whose answer was never sent. */
#ifndef API_IDEMPOTENCY_H
#define API_IDEMPOTENCY_H

#include <stdint.h>

struct store;
struct record;
struct partition;
struct partition_waiter;
struct idem_table;

#define IDEM_TOPIC "__idempotency"
#define IDEM_KEY_MAX 255
#define IDEM_WINDOW_MS (24LL * 3600 * 1000)

enum idem_result {
    IDEM_NEW,         /* first time: go on, then idem_finish() or idem_abort() */
    IDEM_REPLAY,      /* seen with this request: *answer holds the first answer */
    IDEM_CONFLICT,    /* seen with another request */
    IDEM_IN_PROGRESS, /* the first request with this key is still running */
};

/* Opens (creating the internal topic if needed) and replays the last 24 h. */
int idem_open(struct idem_table **out, struct store *store);
void idem_close(struct idem_table *t);

/* Looks 'key' up with the request's hash; IDEM_NEW reserves it. For IDEM_REPLAY,
 * *answer is a malloc'ed copy of the first answer. */
enum idem_result idem_begin(struct idem_table *t, const char *key, const uint8_t hash[32],
                            char **answer);
/* The request failed: the key is free again. */
void idem_abort(struct idem_table *t, const char *key);
/* The request succeeded with 'answer': appends the key's record and lists 'w' (its
 * fire set by the caller) to fire when that record is durable. Returns 1 if the caller
 * must wait for 'w', 0 if already durable, or -errno (the key is then freed). */
int idem_finish(struct idem_table *t, const char *key, const uint8_t hash[32],
                const char *answer, struct partition_waiter *w);
/* The partition 'w' waits on, for partition_unwatch(). */
struct partition *idem_partition(struct idem_table *t);

/* Replays a stored record into a struct idem_table: exposed for tests and fuzzing. */
int idem_replay_record(void *arg, const struct record *r);

#endif
