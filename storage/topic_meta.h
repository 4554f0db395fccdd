/* topic_meta.h: a topic's metadata file, DATA/topics/<topic>/topic.json: its name,
 * partition count, creation time and configuration. storage/ has no JSON library, so
 * topic_meta.c carries a small strict reader for exactly this file's shape. */
#ifndef STORAGE_TOPIC_META_H
#define STORAGE_TOPIC_META_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "storage/topic_config.h"
#include "storage/topic_name.h"

/* The largest topic.json topic_meta_read() accepts. */
#define TOPIC_META_MAX_BYTES (64 * 1024)
#define TOPIC_META_MAX_PARTITIONS 10000
/* A topic id: 32 lowercase hex digits (128 random bits), like Kafka's topic ids. */
#define TOPIC_ID_LEN 32
/* topic.json holds webhook.secret: owner read/write only, like admin.token. */
#define TOPIC_META_MODE 0600

struct topic_meta {
    char name[TOPIC_NAME_MAX + 1]; /* valid per topic_name_is_valid() */
    int32_t partitions;            /* 1..10000 */
    int64_t created_ms;            /* ms since the epoch, >= 0 */
    /* This incarnation of the name: a topic deleted and made again gets another id.
     * A topic.json without "id" (written before ids existed) reads as created_ms in
     * hex, zero-padded. */
    char id[TOPIC_ID_LEN + 1];
    struct topic_config config;
};

/* True if 'a' and 'b' say the same (name, id, partitions, created_ms, config). */
bool topic_meta_equal(const struct topic_meta *a, const struct topic_meta *b);

/* Writes <dir>/topic.json atomically with io_replace_file() (tmp, fdatasync, rename,
 * fsync of dir), secret included, mode TOPIC_META_MODE whatever the old file's mode
 * (a stale topic.json.tmp is removed first). Returns 0, -EINVAL if 'm' would not read
 * back (bad name, partitions or created_ms, or a config value topic_config_set() would
 * refuse), or the -errno of the I/O. */
int topic_meta_write(const char *dir, const struct topic_meta *m);

/* Reads <dir>/topic.json into 'm'. Returns 0, -ENOENT if there is none, -EBADMSG if it
 * is not a valid topic.json (see topic_meta_parse()) or larger than 64 KiB, or another
 * -errno of the I/O. 'm' is unchanged on failure. */
int topic_meta_read(const char *dir, struct topic_meta *m);

/* Parses text[0..len) (need not be NUL-terminated; nothing past len is read). The shape
 * is one object with "name" (string), "partitions" and "created_ms" (integers), all
 * three required, optionally "id" (TOPIC_ID_LEN lowercase hex digits; see
 * topic_meta.id when absent) and "config": an object whose values are strings or
 * integers, each given as text to topic_config_set(); keys missing from it keep their
 * defaults. Returns 0 or -EBADMSG for anything else: malformed JSON, invalid UTF-8 or
 * escapes, other types, nesting, duplicate or unknown keys, numbers with a fraction,
 * exponent, leading zero or outside int64, strings over 255 bytes or holding \u0000,
 * an invalid name, partitions outside 1..10000, created_ms < 0, a config value
 * topic_config_set() refuses, or bytes after the object. 'm' is unchanged on failure. */
int topic_meta_parse(const char *text, size_t len, struct topic_meta *m);

/* Fills m->id with a new random id. Returns 0 or the -errno of getrandom(). */
int topic_meta_new_id(struct topic_meta *m);

/* Appends m as topic.json text (one line, '\n'-terminated, secret included) to 'out'.
 * m->name must be valid; topic_meta_write() checks that. */
void topic_meta_to_json(const struct topic_meta *m, struct buf *out);

/* The JSON string reader behind topic_meta_parse(), for tests: decodes the string that
 * starts at text[0] (a '"'), escapes (\uXXXX and surrogate pairs to UTF-8) resolved,
 * into out (NUL-terminated; *outlen bytes before the NUL, which may include NULs from
 * \u0000) and sets *used to the bytes consumed, closing quote included. Returns 0, or
 * -EBADMSG for an invalid escape, a lone surrogate, a raw control character, invalid
 * UTF-8, a missing closing quote before len, or a result that does not fit in
 * outsize - 1 bytes. */
int topic_meta_parse_string(const char *text, size_t len, size_t *used, char *out,
                            size_t outsize, size_t *outlen);

#endif
