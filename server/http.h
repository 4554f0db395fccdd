/* http.h: the HTTP daemon (libmicrohttpd, internal epoll thread pool). The only header
 * in the tree whose implementation includes microhttpd.h.
 *
 * Lifecycle, driven by server/main.c:
 *
 *     http_start()         listening and serving; threads started with the signal
 *                          mask of the caller (main blocks SIGTERM/SIGINT first)
 *     http_quiesce()       new requests get 503 shutting_down (Retry-After: 1);
 *                          requests in flight carry on and get `Connection: close`
 *     http_in_flight()     poll until 0 (or a grace period ends)
 *     http_stop()          close every connection, join the threads, free
 *
 * Every request gets one access-log line at info level when it completes:
 * `<client> "<METHOD> <target>" <status> <ms>ms`, where the target's access_token
 * query values read REDACTED.
 *
 * Connections are counted against --max-connections and --max-connections-per-ip
 * (server/conn_limit.h). One over either is still accepted, up to a headroom, so that
 * its first request is answered 503 too_many_connections or 429
 * too_many_connections_per_ip, with Retry-After: 1, and the connection closed; past
 * the headroom libmicrohttpd closes new connections unanswered. */
#ifndef SERVER_HTTP_H
#define SERVER_HTTP_H

#include <stdbool.h>
#include <stddef.h>

struct api;
struct http_server;
struct server_config;

/* Starts the daemon on c->listen_addr with c's threads, connection limits (see above),
 * timeout and TLS files, answering through 'api'. 'c' and 'api' are borrowed and must
 * outlive the server. The reason for a failure is logged. Returns 0, or -errno
 * (-EADDRINUSE, -EACCES, -ENOENT for a missing TLS file, -ENOTSUP when libmicrohttpd
 * lacks TLS or epoll, -EIO otherwise). */
int http_start(struct http_server **out, const struct server_config *c, struct api *api);

/* The address actually bound, "127.0.0.1:41234" or "[::1]:41234" (with --listen HOST:0
 * the port the kernel picked). Returns 0 or -ENOSPC. */
int http_bound_address(const struct http_server *s, char *out, size_t size);

/* Stops accepting connections; established ones are still served. Idempotent. */
void http_quiesce(struct http_server *s);

/* Requests handed to the API and not yet completed (not those still receiving). */
unsigned http_in_flight(const struct http_server *s);

/* Quiesces if not done, closes every connection (requests still running end with
 * DAEMON_SHUTDOWN), stops the threads and frees 's'. NULL is a no-op. Suspended
 * connections must have been resumed before (libmicrohttpd's rule). */
void http_stop(struct http_server *s);

/* The access-log redaction, exposed for tests and fuzzing. */

/* Whether the raw query parameter name name[0..len) decodes (%XX either case, '+' as
 * space) to access_token in any case. */
bool http_is_token_param(const char *name, size_t len);

/* The request target as it goes into the access log: every access_token parameter's
 * value replaced by REDACTED, bytes <= 0x20, >= 0x7f, '"' and '\\' percent-encoded.
 * Returns an allocated string (free()); never NULL. */
char *http_loggable_target(const char *target);

#endif
