/* fuzz_json_check.c: libFuzzer target for json_check() and utf8_check().
 *
 * Input: arbitrary bytes, checked from a heap copy of exactly 'size' bytes (no NUL after
 * it), so ASan catches any read past the end. Properties, abort() on a violation:
 *   - json_check() agrees with jansson (json_loadb with JSON_DECODE_ANY |
 *     JSON_ALLOW_NUL) except where jansson departs from RFC 8259: numbers too big for
 *     it and "\u0000" inside an object key (no verdict), nesting deeper than our 64
 *     (jansson allows 2048), and a raw NUL byte after a number or literal, which jansson
 *     drops (tests/support/json_oracle.c, shared with tests/api/test_json_check.c);
 *   - utf8_check() agrees with jansson's json_stringn(), which validates UTF-8;
 *   - whatever json_check() accepts is valid UTF-8 as a whole.
 * Seeds: fuzz/corpus/fuzz_json_check/. */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/json_check.h"
#include "tests/support/json_oracle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size ? size : 1);
    bool is_json, is_utf8;
    json_t *str;
    int want;

    if (!text)
        abort();
    if (size)
        memcpy(text, data, size);
    is_json = json_check(text, size);
    is_utf8 = utf8_check(text, size);
    want = json_oracle_verdict(text, size);
    if (want >= 0 && is_json != (bool)want)
        abort();
    str = json_stringn(text, size);
    if (is_utf8 != (str != NULL))
        abort();
    json_decref(str);
    if (is_json && !is_utf8)
        abort();
    free(text);
    return 0;
}
