/* webhook.c: POST /topics/{t}/webhook, inbound webhooks signed as GitHub signs them.
 *
 * No bearer token: a topic with a webhook.secret takes a body signed with it
 * (webhook.h), checked before the body is used at all. It is then produced as a
 * raw record (produce.h, as POST /topics/{t}/messages would, ?key= and ?partition=
 * included), with the sender's event headers kept as record headers and its delivery
 * id as the idempotency key, so a redelivery is stored once. A topic that does not
 * exist, is internal or has no secret gets one and the same 403: a caller without the
 * secret learns nothing about which topics exist. */
#include "api/webhook.h"

#include <sodium.h>
#include <string.h>

#include "api/internal.h"
#include "api/produce.h"
#include "common/hex.h"

#define SIGNATURE_PREFIX "sha256="
#define SIGNATURE_HEX_LEN (2 * crypto_auth_hmacsha256_BYTES)
#define SIGNATURE_CHALLENGE                                                              \
    "HMAC-SHA256 realm=\"rill\", header=\"" WEBHOOK_SIGNATURE_HEADER "\""

/* The request headers kept as the record's headers, under these names. Never the
 * signature or Authorization. */
static const char *const kept_headers[] = {
    "content-type",
    "x-github-event",
    "x-github-delivery",
    "x-github-hook-id",
    "x-github-hook-installation-target-id",
    "x-github-hook-installation-target-type",
    "x-gitlab-event",
    "x-gitlab-event-uuid",
    "user-agent",
    NULL,
};

/* Where the delivery id (the idempotency key) is; the first one present wins. */
static const char *const delivery_headers[] = {
    "X-GitHub-Delivery",
    "X-Gitlab-Event-UUID",
    "Idempotency-Key",
};

enum webhook_signature webhook_verify(const void *secret, size_t secret_len,
                                      const char *header, const void *body, size_t len)
{
    const size_t prefix = strlen(SIGNATURE_PREFIX);
    unsigned char given[crypto_auth_hmacsha256_BYTES], mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    int differ;

    if (!header)
        return WEBHOOK_SIGNATURE_MISSING;
    if (strncmp(header, SIGNATURE_PREFIX, prefix) ||
        strlen(header) != prefix + SIGNATURE_HEX_LEN)
        return WEBHOOK_SIGNATURE_MALFORMED;
    for (size_t i = 0; i < sizeof(given); i++) {
        int hi = hex_digit_value((unsigned char)header[prefix + 2 * i]);
        int lo = hex_digit_value((unsigned char)header[prefix + 2 * i + 1]);

        if (hi < 0 || lo < 0)
            return WEBHOOK_SIGNATURE_MALFORMED;
        given[i] = (unsigned char)(hi << 4 | lo);
    }
    crypto_auth_hmacsha256_init(&st, secret, secret_len);
    crypto_auth_hmacsha256_update(&st, body, len);
    crypto_auth_hmacsha256_final(&st, mac);
    differ = sodium_memcmp(mac, given, sizeof(mac));
    sodium_memzero(&st, sizeof(st));
    return differ ? WEBHOOK_SIGNATURE_MISMATCH : WEBHOOK_SIGNATURE_OK;
}

/* The one answer for a topic that takes no webhooks, whatever the reason. */
static void reply_not_enabled(struct api_ctx *ctx, const char *name)
{
    char shown[TOPIC_NAME_MAX + 1];

    api_printable_copy(shown, sizeof(shown), name, strlen(name));
    reply_problem(ctx->resp, 403, "webhook_not_enabled", NULL,
                  "topic '%s' does not accept webhooks: it does not exist or has no "
                  "webhook.secret",
                  shown);
}

/* Whether the body is signed with 'secret'; answers 401 if not. */
static bool signature_holds(struct api_ctx *ctx, const char *secret)
{
    const char *code = "invalid_signature";
    const char *detail = "the signature does not match the body";

    switch (webhook_verify(secret, strlen(secret),
                           api_header(ctx, WEBHOOK_SIGNATURE_HEADER), ctx->req->body,
                           ctx->req->body_len)) {
    case WEBHOOK_SIGNATURE_OK:
        return true;
    case WEBHOOK_SIGNATURE_MISSING:
        code = "missing_signature";
        detail = "a webhook must be signed: X-Hub-Signature-256: sha256=<hex of the "
                 "body's HMAC-SHA256, keyed with the topic's webhook.secret>";
        break;
    case WEBHOOK_SIGNATURE_MALFORMED:
        detail = "X-Hub-Signature-256 must be 'sha256=' followed by the 64 hex digits "
                 "of the body's HMAC-SHA256";
        break;
    case WEBHOOK_SIGNATURE_MISMATCH:
        break;
    }
    api_response_header(ctx->resp, "WWW-Authenticate", SIGNATURE_CHALLENGE);
    reply_problem(ctx->resp, 401, code, NULL, "%s", detail);
    return false;
}

/* The name of the header that holds the delivery id, or NULL if none does. */
static const char *delivery_header(const struct api_ctx *ctx)
{
    for (size_t i = 0; i < sizeof(delivery_headers) / sizeof(delivery_headers[0]); i++)
        if (api_header(ctx, delivery_headers[i]))
            return delivery_headers[i];
    return NULL;
}

enum api_status api_produce_webhook(struct api_ctx *ctx)
{
    const char *name = ctx->params[0];
    struct topic *t = NULL;
    struct topic_meta m;
    enum api_status st = API_DONE;

    if (!topic_name_is_valid(name, strlen(name)) || topic_name_is_internal(name) ||
        store_get_topic(ctx->api->store, name, &t)) {
        reply_not_enabled(ctx, name);
        return API_DONE;
    }
    topic_meta_copy(t, &m);
    if (!m.config.webhook_secret[0]) {
        reply_not_enabled(ctx, name);
    } else if (signature_holds(ctx, m.config.webhook_secret)) {
        const struct produce_opts o = {
            .raw = true,
            .headers = kept_headers,
            .idem_header = delivery_header(ctx),
        };

        st = produce_run(ctx, t, &o);
    }
    sodium_memzero(m.config.webhook_secret, sizeof(m.config.webhook_secret));
    topic_put(t);
    return st;
}
