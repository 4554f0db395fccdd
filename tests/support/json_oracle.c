/* json_oracle.c: jansson as an oracle for json_check() (json_oracle.h). */
#include "tests/support/json_oracle.h"

#include <jansson.h>
#include <stdbool.h>
#include <string.h>

#include "api/json_check.h"

/* The deepest nesting in a document jansson accepted. Counted in the text, not in
 * jansson's tree: with a duplicate key the tree keeps only the last value, so
 * {"a":[[]],"a":0} would look one level shallower than it is. */
static int text_depth(const char *s, size_t len)
{
    int depth = 0, max = 0;
    bool in_string = false;

    for (size_t i = 0; i < len; i++) {
        char c = s[i];

        if (in_string) {
            if (c == '\\')
                i++; /* skip the escaped character */
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            max = ++depth > max ? depth : max;
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return max;
}

int json_oracle_verdict(const char *s, size_t len)
{
    json_error_t err;
    json_t *v = json_loadb(s, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);

    if (v) {
        json_decref(v);
        return text_depth(s, len) <= JSON_CHECK_MAX_DEPTH && !memchr(s, '\0', len);
    }
    switch (json_error_code(&err)) {
    case json_error_numeric_overflow:
    case json_error_null_byte_in_key:
        return -1;
    default:
        return 0;
    }
}
