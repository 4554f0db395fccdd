/* topic_config.h: a topic's configuration, Kafka's names and meanings (API.md "Topics").
 * Values arrive as text (from a request or from topic.json) and leave as a JSON object;
 * storage/ knows no JSON library, so both directions are done here by hand. */
#ifndef STORAGE_TOPIC_CONFIG_H
#define STORAGE_TOPIC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* The longest webhook.secret, in bytes. */
#define TOPIC_CONFIG_SECRET_MAX 128

enum cleanup_policy { CLEANUP_DELETE, CLEANUP_COMPACT };
enum flush_policy { FLUSH_ALWAYS, FLUSH_INTERVAL };

struct topic_config {
    int64_t retention_ms;               /* default 604800000 (7 d); -1 = forever */
    int64_t retention_bytes;            /* default -1 = no limit */
    int64_t segment_bytes;              /* default 1 GiB; 1024..INT32_MAX */
    int64_t segment_ms;                 /* default 604800000; min 1 */
    enum cleanup_policy cleanup_policy; /* "delete" (default) | "compact" */
    enum flush_policy flush_policy;     /* "always" (default) | "interval" */
    int64_t flush_ms;                   /* default 1000; min 1 */
    int64_t max_message_bytes;          /* default 1 MiB; 1..INT32_MAX */
    int64_t delete_retention_ms;        /* default 86400000 (1 d); min 0 */
    char webhook_secret[TOPIC_CONFIG_SECRET_MAX + 1]; /* "" = none; write-only */
};

/* The names of the known keys in the order topic_config_to_json() writes them,
 * NULL-terminated. */
extern const char *const topic_config_keys[];

/* True if every setting of 'a' and 'b' is the same. */
bool topic_config_equal(const struct topic_config *a, const struct topic_config *b);

/* Fills 'c' with the defaults above. */
void topic_config_defaults(struct topic_config *c);

/* Sets one key from its text value. Numbers are decimal text: an optional '-', then
 * digits only (no spaces, '+', fraction or exponent), within int64 and the key's range
 * (so "-1" only for retention.ms and retention.bytes). Policies are the exact lowercase
 * words. webhook.secret is 1..128 printable ASCII characters (0x20..0x7e), or "" to
 * remove it. Returns 0; -ENOENT for an unknown key; -EINVAL for a bad value. On failure
 * 'c' is unchanged and a reason for the client is written to 'err' (if errlen > 0),
 * e.g. "config 'segment.bytes' must be an integer from 1024 to 2147483647". */
int topic_config_set(struct topic_config *c, const char *key, const char *value,
                     char *err, size_t errlen);

/* Appends 'c' to 'out' as one compact JSON object with the keys in topic_config_keys
 * order: numbers as JSON numbers, policies as strings. "webhook.secret" is written only
 * if include_secret (topic.json) and the secret is set; never otherwise, since it is
 * write-only over the API. */
void topic_config_to_json(const struct topic_config *c, struct buf *out,
                          bool include_secret);

#endif
