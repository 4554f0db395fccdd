/* webhook.h: the signature of an inbound webhook, GitHub's way:
 *
 *     X-Hub-Signature-256: sha256=<64 hex digits: HMAC-SHA256 of the raw body>
 *
 * keyed with the topic's webhook.secret. POST /topics/{t}/webhook (webhook.c) is its
 * handler; the check is exposed for tests and fuzzing. */
#ifndef API_WEBHOOK_H
#define API_WEBHOOK_H

#include <stddef.h>

#define WEBHOOK_SIGNATURE_HEADER "X-Hub-Signature-256"

enum webhook_signature {
    WEBHOOK_SIGNATURE_OK,
    WEBHOOK_SIGNATURE_MISSING,   /* no header */
    WEBHOOK_SIGNATURE_MALFORMED, /* not exactly "sha256=" and 64 hex digits */
    WEBHOOK_SIGNATURE_MISMATCH,  /* well formed, but not the body's with this secret */
};

/* Checks 'header' (the X-Hub-Signature-256 value, NUL-terminated, or NULL) against the
 * HMAC-SHA256 of body[0..len) with the key secret[0..secret_len) (any length). The hex
 * digits may be in either case; the MACs are compared in constant time. */
enum webhook_signature webhook_verify(const void *secret, size_t secret_len,
                                      const char *header, const void *body, size_t len);

#endif
