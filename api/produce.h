/* produce.h: the one produce path, shared by POST /topics/{t}/messages (produce.c) and
 * POST /topics/{t}/webhook (webhook.c). Each handler finds and authorizes the topic its
 * own way, then says here how the request's body becomes records. */
#ifndef API_PRODUCE_H
#define API_PRODUCE_H

#include <stdbool.h>

#include "api/api.h"

struct api_ctx;
struct topic;

struct produce_opts {
    bool raw;                   /* the body is one record (else the JSON envelope) */
    const char *const *headers; /* raw: the request headers kept as record headers,
                                   lowercase names (matched in any case, stored as
                                   given), NULL-terminated; NULL: none */
    const char *idem_header;    /* the request header holding the idempotency key
                                   ("Idempotency-Key"), or NULL for none */
    bool if_match;              /* If-Match makes the append conditional */
};

/* Produces the request's body to 't' (borrowed; not an internal topic) as 'o' says: all
 * of it validated first, then written, and answered 200 {"offsets":[...]} once durable
 * (suspending until then), or a problem (400, 404 partition_not_found, 409, 412, 413,
 * 503, 507) with nothing written. The key in o->idem_header follows the Idempotency-Key
 * rules (api/idempotency.h): a repeat of the same request is answered from the first. */
enum api_status produce_run(struct api_ctx *ctx, struct topic *t,
                            const struct produce_opts *o);

#endif
