/* tests/api/test_webhook.c: tests for webhook_verify() (api/webhook.c), the check of
 * X-Hub-Signature-256. Expected MACs come from outside this tree: GitHub's documented
 * example ("Validating webhook deliveries") and RFC 4231's HMAC-SHA256 test cases. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <sodium.h>
#include <string.h>

#include "api/webhook.h"

#define GITHUB_SECRET "It's a Secret to Everybody"
#define GITHUB_BODY "Hello, World!"
#define GITHUB_HEX "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

static void setup(void) { cr_assert(ge(int, sodium_init(), 0)); }

TestSuite(webhook, .init = setup, .timeout = 10);

/* Arrays, not pointers: criterion copies parameters into a new process image. */
struct sig_case {
    char what[48];
    char secret[32];
    char body[64];
    bool has_header;
    char header[96];
    enum webhook_signature want;
};

ParameterizedTestParameters(webhook, verify_table)
{
    static struct sig_case cases[] = {
        {"github's example", GITHUB_SECRET, GITHUB_BODY, true, "sha256=" GITHUB_HEX,
         WEBHOOK_SIGNATURE_OK},
        {"upper-case hex", GITHUB_SECRET, GITHUB_BODY, true,
         "sha256=757107EA0EB2509FC211221CCE984B8A37570B6D7586C22C46F4379C8B043E17",
         WEBHOOK_SIGNATURE_OK},
        {"mixed-case hex", GITHUB_SECRET, GITHUB_BODY, true,
         "sha256=757107Ea0eB2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043E17",
         WEBHOOK_SIGNATURE_OK},
        {"rfc 4231 case 2", "Jefe", "what do ya want for nothing?", true,
         "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
         WEBHOOK_SIGNATURE_OK},
        {"empty secret and body", "", "", true,
         "sha256=b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad",
         WEBHOOK_SIGNATURE_OK},
        {"no header", GITHUB_SECRET, GITHUB_BODY, false, "", WEBHOOK_SIGNATURE_MISSING},
        {"empty header", GITHUB_SECRET, GITHUB_BODY, true, "",
         WEBHOOK_SIGNATURE_MALFORMED},
        {"prefix only", GITHUB_SECRET, GITHUB_BODY, true,
         "sha256=", WEBHOOK_SIGNATURE_MALFORMED},
        {"hex only", GITHUB_SECRET, GITHUB_BODY, true, GITHUB_HEX,
         WEBHOOK_SIGNATURE_MALFORMED},
        {"upper-case prefix", GITHUB_SECRET, GITHUB_BODY, true, "SHA256=" GITHUB_HEX,
         WEBHOOK_SIGNATURE_MALFORMED},
        {"sha1", GITHUB_SECRET, GITHUB_BODY, true,
         "sha1=757107ea0eb2509fc211221cce984b8a37570b6d", WEBHOOK_SIGNATURE_MALFORMED},
        {"leading space", GITHUB_SECRET, GITHUB_BODY, true, " sha256=" GITHUB_HEX,
         WEBHOOK_SIGNATURE_MALFORMED},
        {"trailing space", GITHUB_SECRET, GITHUB_BODY, true, "sha256=" GITHUB_HEX " ",
         WEBHOOK_SIGNATURE_MALFORMED},
        {"63 digits", GITHUB_SECRET, GITHUB_BODY, true,
         "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1",
         WEBHOOK_SIGNATURE_MALFORMED},
        {"65 digits", GITHUB_SECRET, GITHUB_BODY, true, "sha256=" GITHUB_HEX "7",
         WEBHOOK_SIGNATURE_MALFORMED},
        {"a non-hex digit", GITHUB_SECRET, GITHUB_BODY, true,
         "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1g",
         WEBHOOK_SIGNATURE_MALFORMED},
        {"0x in the digits", GITHUB_SECRET, GITHUB_BODY, true,
         "sha256=0x7107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
         WEBHOOK_SIGNATURE_MALFORMED},
        {"last bit flipped", GITHUB_SECRET, GITHUB_BODY, true,
         "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e16",
         WEBHOOK_SIGNATURE_MISMATCH},
        {"first bit flipped", GITHUB_SECRET, GITHUB_BODY, true,
         "sha256=f57107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
         WEBHOOK_SIGNATURE_MISMATCH},
        {"another secret", "It's a secret to everybody", GITHUB_BODY, true,
         "sha256=" GITHUB_HEX, WEBHOOK_SIGNATURE_MISMATCH},
        {"another body", GITHUB_SECRET, "Hello, World?", true, "sha256=" GITHUB_HEX,
         WEBHOOK_SIGNATURE_MISMATCH},
        {"zeros", GITHUB_SECRET, GITHUB_BODY, true,
         "sha256=0000000000000000000000000000000000000000000000000000000000000000",
         WEBHOOK_SIGNATURE_MISMATCH},
    };

    return cr_make_param_array(struct sig_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct sig_case *c, webhook, verify_table)
{
    enum webhook_signature got =
        webhook_verify(c->secret, strlen(c->secret), c->has_header ? c->header : NULL,
                       c->body, strlen(c->body));

    cr_assert(eq(int, (int)got, (int)c->want), "%s", c->what);
}

/* RFC 4231 case 6: a key longer than SHA-256's block is hashed first (any length of
 * secret works, and its bytes need not be text). */
Test(webhook, a_key_longer_than_a_block_is_hashed_first)
{
    static const char body[] = "Test Using Larger Than Block-Size Key - Hash Key First";
    unsigned char key[131];

    memset(key, 0xaa, sizeof(key));
    cr_assert(
        eq(int,
           (int)webhook_verify(key, sizeof(key),
                               "sha256=60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5"
                               "140546040f0ee37f54",
                               body, strlen(body)),
           (int)WEBHOOK_SIGNATURE_OK));
}

/* The body is bytes: NULs and bytes that are not UTF-8 are signed like any other. */
Test(webhook, a_binary_body_is_signed_byte_for_byte)
{
    static const unsigned char body[] = {0x00, 0xff, 0xfe, '\n', 0x00, 0x80};
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    char header[8 + 2 * crypto_auth_hmacsha256_BYTES] = "sha256=";
    crypto_auth_hmacsha256_state st;

    crypto_auth_hmacsha256_init(&st, (const unsigned char *)"k", 1);
    crypto_auth_hmacsha256_update(&st, body, sizeof(body));
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2hex(header + 7, sizeof(header) - 7, mac, sizeof(mac));
    cr_assert(eq(int, (int)webhook_verify("k", 1, header, body, sizeof(body)),
                 (int)WEBHOOK_SIGNATURE_OK));
    cr_assert(eq(int, (int)webhook_verify("k", 1, header, body, sizeof(body) - 1),
                 (int)WEBHOOK_SIGNATURE_MISMATCH),
              "the last byte is signed");
}
