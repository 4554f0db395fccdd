/* config.h: the server's settings, from flags, environment, a config file and defaults.
 *
 * Every option has three spellings: the flag `--foo-bar`, the environment variable
 * `RILL_FOO_BAR` and the config-file key `foo-bar`. Precedence, highest first:
 *
 *     flags  >  environment  >  config file (--config FILE or RILL_CONFIG)  >  defaults
 *
 * A config file holds `key = value` lines; blank lines and lines whose first non-blank
 * character is `#` are ignored. The value is the rest of the line, trimmed (no quoting,
 * no trailing comments). An empty environment variable counts as unset. */
#ifndef SERVER_CONFIG_H
#define SERVER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "common/log.h"

enum config_backend {
    CONFIG_BACKEND_LOG,   /* the embedded log engine (storage/) */
    CONFIG_BACKEND_KAFKA, /* an Apache Kafka cluster, via --kafka-brokers */
};

struct server_config {
    char *data_dir;                      /* --data, default "./data" */
    char *listen;                        /* --listen as given, default "127.0.0.1:8080" */
    struct sockaddr_storage listen_addr; /* 'listen' parsed (IPv4 or IPv6) */
    socklen_t listen_addr_len;           /* sizeof the sockaddr_in or sockaddr_in6 */
    char *config_file;                   /* --config, NULL when none */
    unsigned threads;                    /* --threads, default: online CPUs */
    char *tls_cert;                      /* --tls-cert PEM path, NULL: plain HTTP */
    char *tls_key;                       /* --tls-key PEM path, set iff tls_cert is */
    enum config_backend backend;         /* --backend log|kafka */
    char *kafka_brokers;                 /* --kafka-brokers, required for kafka */
    bool auth;                           /* --auth on|off, default on */
    char *cors_origin;                   /* --cors-origin, NULL: no CORS headers */
    enum log_level log_level;            /* --log-level, default info */
    unsigned retention_check_ms;         /* --retention-check-ms, default 30000 */
    size_t max_body_bytes;               /* --max-body-bytes, default 8 MiB */
    unsigned max_connections;            /* --max-connections, default 1024 */
    unsigned max_connections_per_ip;     /* --max-connections-per-ip, default 256 */
    unsigned request_timeout_s;          /* --request-timeout-s, default 30 */
    unsigned max_records;                /* --max-records per produce, default 10000 */
    unsigned heartbeat_ms;               /* --heartbeat-ms on idle streams, default 15000 */
    size_t offsets_segment_bytes;        /* --offsets-segment-bytes of __consumer_offsets
                                            when it is made, default 16 MiB (Kafka's
                                            offsets.topic.segment.bytes) */
    size_t stream_buffer_bytes;          /* --stream-buffer-bytes, default 4 MiB: how far
                                            a live stream may fall behind before it is
                                            cut (per partition, shared by its streams) */
};

/* Fills 'c' from defaults, the config file, the environment and the flags in 'argv'
 * (argv[0], the command name, is skipped as getopt does; flags are `--name value` or
 * `--name=value`; the last of a repeated flag wins). Strings in 'c' are allocated; free
 * them with config_release().
 *
 * Returns 0, or -EINVAL with a one-line reason in 'err' (no trailing newline) naming
 * the flag, the variable, or the file and line at fault, e.g.
 * "rill.conf:3: threads: '0' is out of range (1..1024)". On failure 'c' holds
 * nothing to release (config_release() on it is still safe). */
int config_parse(struct server_config *c, int argc, char **argv, char *err,
                 size_t errlen);

/* Frees the strings config_parse() allocated and leaves 'c' zeroed. Idempotent. */
void config_release(struct server_config *c);

/* Formats an address as "127.0.0.1:8080" or "[::1]:8080" into 'out'. Returns 0, or
 * -ENOSPC when 'size' is too small, -EAFNOSUPPORT for a family other than IPv4/IPv6. */
int config_format_addr(const struct sockaddr *sa, char *out, size_t size);

#endif
