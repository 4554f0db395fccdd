/* fuzz_topic_meta.c: libFuzzer target for topic_meta_parse().
 *
 * Input: arbitrary bytes, parsed from a heap copy of exactly 'size' bytes (no NUL after
 * it), so ASan catches any read past the end. Property: whatever parses serialises with
 * topic_meta_to_json() to text that parses back to the same metadata; otherwise
 * abort(). Seeds: fuzz/corpus/fuzz_topic_meta/. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "storage/topic_meta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size ? size : 1);
    struct topic_meta m, back;
    struct buf out = BUF_INIT;

    if (!text)
        abort();
    if (size)
        memcpy(text, data, size);
    if (topic_meta_parse(text, size, &m) == 0) {
        topic_meta_to_json(&m, &out);
        if (topic_meta_parse(out.data, out.len, &back) != 0 || !topic_meta_equal(&m, &back))
            abort();
        buf_release(&out);
    }
    free(text);
    return 0;
}
