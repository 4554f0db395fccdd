/* fuzz_webhook.c: libFuzzer target for webhook_verify() (api/webhook.c), the check of
 * X-Hub-Signature-256 on POST /topics/{t}/webhook, the one thing there an
 * unauthenticated caller reaches.
 *
 * Input:
 *
 *   u8 s, secret[s]     (fewer if the input ends; any bytes)
 *   u8 h, header[h]     (fewer if the input ends; cut at a first NUL, as the server
 *                        never hands one to the API); h = 255: no header at all
 *   body                the rest
 *
 * The secret, header and body are heap copies of exactly their size (the header plus
 * its NUL), so ASan catches any read past one. Properties, else abort():
 *  - no header is WEBHOOK_SIGNATURE_MISSING; a header is MALFORMED exactly when it is
 *    not "sha256=" and 64 hex digits (either case), by a separate model;
 *  - a well formed one is OK exactly when its digits are the HMAC-SHA256 of the body
 *    under the secret, computed here from SHA-256 by RFC 2104 (not by
 *    crypto_auth_hmacsha256, which webhook_verify uses);
 *  - that HMAC written as a header, in lower and in upper case, is OK, and with any
 *    one bit of it flipped is MISMATCH;
 *  - the same call gives the same answer twice.
 * Seeds: fuzz/corpus/fuzz_webhook/. */
#include <ctype.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/webhook.h"
#include "common/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NO_HEADER 255
#define BLOCK 64 /* SHA-256's block, in bytes */

#define FUZZ_ASSERT(cond)                                                                \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);     \
            abort();                                                                     \
        }                                                                                \
    } while (0)

/* RFC 2104: H((K ^ opad) || H((K ^ ipad) || body)), K the key hashed if longer than a
 * block, then padded with zeros to one. */
static void model_hmac(const uint8_t *key, size_t key_len, const uint8_t *body,
                       size_t len, uint8_t out[crypto_hash_sha256_BYTES])
{
    uint8_t k[BLOCK] = {0}, pad[BLOCK], inner[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_state st;

    if (key_len > BLOCK)
        crypto_hash_sha256(k, key, key_len);
    else if (key_len)
        memcpy(k, key, key_len);
    for (size_t i = 0; i < BLOCK; i++)
        pad[i] = k[i] ^ 0x36;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, pad, BLOCK);
    crypto_hash_sha256_update(&st, body, len);
    crypto_hash_sha256_final(&st, inner);
    for (size_t i = 0; i < BLOCK; i++)
        pad[i] = k[i] ^ 0x5c;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, pad, BLOCK);
    crypto_hash_sha256_update(&st, inner, sizeof(inner));
    crypto_hash_sha256_final(&st, out);
}

/* The model of a well formed header: "sha256=" and 64 hex digits, decoded into mac. */
static bool model_parse(const char *h, uint8_t mac[32])
{
    if (strlen(h) != 71 || memcmp(h, "sha256=", 7))
        return false;
    for (size_t i = 0; i < 32; i++) {
        char pair[3] = {h[7 + 2 * i], h[8 + 2 * i], '\0'};

        if (!isxdigit((unsigned char)pair[0]) || !isxdigit((unsigned char)pair[1]))
            return false;
        mac[i] = (uint8_t)strtoul(pair, NULL, 16);
    }
    return true;
}

static enum webhook_signature verify(const uint8_t *secret, size_t secret_len,
                                     const char *header, const uint8_t *body, size_t len)
{
    char *h = header ? xstrdup(header) : NULL; /* exactly strlen + 1 bytes */
    enum webhook_signature a = webhook_verify(secret, secret_len, h, body, len);

    FUZZ_ASSERT(webhook_verify(secret, secret_len, h, body, len) == a);
    free(h);
    return a;
}

/* The right signature, in both cases, is accepted; any one bit off is not. */
static void check_right_one(const uint8_t *secret, size_t secret_len, const uint8_t *body,
                            size_t len, const uint8_t mac[32], unsigned flip)
{
    char h[72] = "sha256=";
    uint8_t off[32];

    sodium_bin2hex(h + 7, sizeof(h) - 7, mac, 32);
    FUZZ_ASSERT(verify(secret, secret_len, h, body, len) == WEBHOOK_SIGNATURE_OK);
    for (size_t i = 7; i < 71; i++)
        h[i] = (char)toupper((unsigned char)h[i]);
    FUZZ_ASSERT(verify(secret, secret_len, h, body, len) == WEBHOOK_SIGNATURE_OK);
    memcpy(off, mac, 32);
    off[flip / 8 % 32] ^= (uint8_t)(1u << flip % 8);
    sodium_bin2hex(h + 7, sizeof(h) - 7, off, 32);
    FUZZ_ASSERT(verify(secret, secret_len, h, body, len) == WEBHOOK_SIGNATURE_MISMATCH);
}

/* Takes up to n bytes (as many as are left) into a heap copy of exactly that size. */
static uint8_t *take(const uint8_t **p, const uint8_t *end, size_t n, size_t *len)
{
    uint8_t *copy;

    *len = n < (size_t)(end - *p) ? n : (size_t)(end - *p);
    copy = xmalloc(*len ? *len : 1);
    if (*len)
        memcpy(copy, *p, *len);
    *p += *len;
    return copy;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    uint8_t *secret, *raw, *body, mac[32], given[32];
    size_t secret_len, raw_len, body_len;
    size_t slen;
    unsigned hlen, flip = 0;
    char *header = NULL;
    enum webhook_signature got;

    if (sodium_init() < 0)
        abort();
    slen = p < end ? *p++ : 0;
    secret = take(&p, end, slen, &secret_len);
    hlen = p < end ? *p++ : NO_HEADER;
    raw = take(&p, end, hlen == NO_HEADER ? 0 : hlen, &raw_len);
    if (hlen != NO_HEADER) {
        header = xmalloc(raw_len + 1);
        memcpy(header, raw, raw_len);
        header[raw_len] = '\0';
    }
    body = take(&p, end, (size_t)(end - p), &body_len);

    model_hmac(secret, secret_len, body, body_len, mac);
    got = verify(secret, secret_len, header, body, body_len);
    if (!header)
        FUZZ_ASSERT(got == WEBHOOK_SIGNATURE_MISSING);
    else if (!model_parse(header, given))
        FUZZ_ASSERT(got == WEBHOOK_SIGNATURE_MALFORMED);
    else
        FUZZ_ASSERT(got == (memcmp(given, mac, 32) ? WEBHOOK_SIGNATURE_MISMATCH
                                                   : WEBHOOK_SIGNATURE_OK));
    for (size_t i = 0; i < size; i++)
        flip = flip * 31 + data[i];
    check_right_one(secret, secret_len, body, body_len, mac, flip);
    free(header);
    free(body);
    free(raw);
    free(secret);
    return 0;
}
