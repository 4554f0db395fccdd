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

static bool config_equal(const struct topic_config *a, const struct topic_config *b)
{
    return a->retention_ms == b->retention_ms &&
           a->retention_bytes == b->retention_bytes &&
           a->segment_bytes == b->segment_bytes && a->segment_ms == b->segment_ms &&
           a->cleanup_policy == b->cleanup_policy && a->flush_policy == b->flush_policy &&
           a->flush_ms == b->flush_ms && a->max_message_bytes == b->max_message_bytes &&
           a->delete_retention_ms == b->delete_retention_ms &&
           !strcmp(a->webhook_secret, b->webhook_secret);
}

static bool meta_equal(const struct topic_meta *a, const struct topic_meta *b)
{
    return !strcmp(a->name, b->name) && a->partitions == b->partitions &&
           a->created_ms == b->created_ms && config_equal(&a->config, &b->config);
}

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
        if (topic_meta_parse(out.data, out.len, &back) != 0 || !meta_equal(&m, &back))
            abort();
        buf_release(&out);
    }
    free(text);
    return 0;
}
