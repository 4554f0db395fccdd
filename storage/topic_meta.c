/* topic_meta.c: DATA/topics/<topic>/topic.json, written atomically and read strictly.
 *
 * The file is one JSON object on one line; topic_meta_write() produces, e.g.:
 *
 *     {"name":"orders","id":"5f0c...(32 hex digits)","partitions":3,
 *      "created_ms":1764000000000,"config":{
 *      "retention.ms":604800000,"retention.bytes":-1,"segment.bytes":1073741824,
 *      "segment.ms":604800000,"cleanup.policy":"delete","flush.policy":"always",
 *      "flush.ms":1000,"max.message.bytes":1048576,"delete.retention.ms":86400000,
 *      "webhook.secret":"a\"b\\c"}}
 *
 * (without the line breaks inside). The reader accepts any JSON whitespace and key
 * order but only this shape: a top-level object of name/id/partitions/created_ms/config,
 * and config an object of strings or integers. It never recurses (nothing deeper than
 * config is accepted), never reads text[len] or beyond, and fills the caller's struct
 * only once the whole text has been accepted.
 *
 * Invariant: topic_meta_write() parses what it is about to write first, so a file it
 * wrote always reads back to the same metadata. The file holds the webhook secret, so
 * it is written 0600 (like admin.token), and an older 0644 file is 0600 once rewritten
 * (a create, or a PATCH of the topic). */
#include "storage/topic_meta.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/hex.h"
#include "storage/io.h"

/* Longest decoded key or string value: a topic name (249) fits, so does any valid
 * config value; anything longer cannot be valid. */
#define MAX_STRING 255

enum top_key { TOP_NAME, TOP_ID, TOP_PARTITIONS, TOP_CREATED, TOP_CONFIG, TOP_COUNT };

static const char *const top_keys[TOP_COUNT] = {
    [TOP_NAME] = "name",
    [TOP_ID] = "id",
    [TOP_PARTITIONS] = "partitions",
    [TOP_CREATED] = "created_ms",
    [TOP_CONFIG] = "config",
};

struct cursor {
    const unsigned char *s;
    size_t len;
    size_t pos; /* next byte to look at; pos <= len always */
};

static void skip_ws(struct cursor *cur)
{
    while (cur->pos < cur->len) {
        unsigned char ch = cur->s[cur->pos];

        if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r')
            break;
        cur->pos++;
    }
}

/* Skips whitespace, then consumes 'ch' if it comes next. */
static bool eat(struct cursor *cur, char ch)
{
    skip_ws(cur);
    if (cur->pos < cur->len && cur->s[cur->pos] == (unsigned char)ch) {
        cur->pos++;
        return true;
    }
    return false;
}

/* Reads the 4 hex digits of a \uXXXX whose backslash is at s[at]. */
static bool read_u_escape(const struct cursor *cur, size_t at, uint32_t *out)
{
    uint32_t v = 0;
    size_t i;

    if (cur->len - at < 6 || cur->s[at] != '\\' || cur->s[at + 1] != 'u')
        return false;
    for (i = 0; i < 4; i++) {
        int h = hex_digit_value((unsigned char)cur->s[at + 2 + i]);

        if (h < 0)
            return false;
        v = v << 4 | (uint32_t)h;
    }
    *out = v;
    return true;
}

/* Decodes the escape whose backslash is at cur->pos into code point *cp and moves past
 * it. A \u high surrogate must be followed by a \u low surrogate; they make one. */
static bool read_escape(struct cursor *cur, uint32_t *cp)
{
    static const char from[] = "\"\\/bfnrt";
    static const char to[] = "\"\\/\b\f\n\r\t";
    const char *hit;
    uint32_t lo;

    if (cur->len - cur->pos < 2)
        return false;
    if (cur->s[cur->pos + 1] != 'u') {
        hit = cur->s[cur->pos + 1] ? strchr(from, cur->s[cur->pos + 1]) : NULL;
        if (!hit)
            return false;
        *cp = (unsigned char)to[hit - from];
        cur->pos += 2;
        return true;
    }
    if (!read_u_escape(cur, cur->pos, cp))
        return false;
    if (*cp >= 0xdc00 && *cp <= 0xdfff)
        return false;
    if (*cp < 0xd800 || *cp > 0xdbff) {
        cur->pos += 6;
        return true;
    }
    if (!read_u_escape(cur, cur->pos + 6, &lo) || lo < 0xdc00 || lo > 0xdfff)
        return false;
    *cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
    cur->pos += 12;
    return true;
}

static size_t utf8_encode(uint32_t cp, unsigned char *out)
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xc0 | cp >> 6);
        out[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xe0 | cp >> 12);
        out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        out[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (unsigned char)(0xf0 | cp >> 18);
    out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
    out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
    out[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

/* The length of the well-formed UTF-8 sequence at s[0..avail) (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or 0. s[0] >= 0x80. */
static size_t utf8_sequence(const unsigned char *s, size_t avail)
{
    unsigned char lo = 0x80, hi = 0xbf;
    size_t n, i;

    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        n = 2;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        n = 3;
        lo = s[0] == 0xe0 ? 0xa0 : 0x80;
        hi = s[0] == 0xed ? 0x9f : 0xbf;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        n = 4;
        lo = s[0] == 0xf0 ? 0x90 : 0x80;
        hi = s[0] == 0xf4 ? 0x8f : 0xbf;
    } else {
        return 0;
    }
    if (avail < n || s[1] < lo || s[1] > hi)
        return 0;
    for (i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return n;
}

/* Reads the string at cur->pos (its opening quote) into out, see
 * topic_meta_parse_string(). */
static int read_string(struct cursor *cur, char *out, size_t outsize, size_t *outlen)
{
    struct cursor c = *cur;
    size_t n = 0;

    if (c.pos >= c.len || c.s[c.pos] != '"' || outsize == 0)
        return -EBADMSG;
    c.pos++;
    for (;;) {
        unsigned char enc[4];
        size_t enc_len;
        uint32_t cp;

        if (c.pos >= c.len || c.s[c.pos] < 0x20)
            return -EBADMSG;
        if (c.s[c.pos] == '"')
            break;
        if (c.s[c.pos] == '\\') {
            if (!read_escape(&c, &cp))
                return -EBADMSG;
            enc_len = utf8_encode(cp, enc);
        } else if (c.s[c.pos] < 0x80) {
            enc[0] = c.s[c.pos++];
            enc_len = 1;
        } else {
            enc_len = utf8_sequence(c.s + c.pos, c.len - c.pos);
            if (!enc_len)
                return -EBADMSG;
            memcpy(enc, c.s + c.pos, enc_len);
            c.pos += enc_len;
        }
        if (outsize - 1 - n < enc_len)
            return -EBADMSG;
        memcpy(out + n, enc, enc_len);
        n += enc_len;
    }
    out[n] = '\0';
    *outlen = n;
    cur->pos = c.pos + 1;
    return 0;
}

int topic_meta_parse_string(const char *text, size_t len, size_t *used, char *out,
                            size_t outsize, size_t *outlen)
{
    struct cursor cur = {(const unsigned char *)text, len, 0};
    int ret = read_string(&cur, out, outsize, outlen);

    if (!ret)
        *used = cur.pos;
    return ret;
}

/* Skips whitespace, then reads a JSON integer: -?(0|[1-9][0-9]*), within int64, not
 * followed by a fraction or exponent. */
static int read_int(struct cursor *cur, int64_t *out)
{
    uint64_t limit = (uint64_t)INT64_MAX;
    uint64_t mag = 0;
    bool neg = false;
    size_t p;

    skip_ws(cur);
    p = cur->pos;
    if (p < cur->len && cur->s[p] == '-') {
        neg = true;
        limit += 1;
        p++;
    }
    if (p >= cur->len || cur->s[p] < '0' || cur->s[p] > '9')
        return -EBADMSG;
    if (cur->s[p] == '0') {
        p++;
    } else {
        while (p < cur->len && cur->s[p] >= '0' && cur->s[p] <= '9') {
            unsigned d = (unsigned)(cur->s[p] - '0');

            if (mag > (limit - d) / 10)
                return -EBADMSG;
            mag = mag * 10 + d;
            p++;
        }
    }
    if (p < cur->len && (cur->s[p] == '.' || cur->s[p] == 'e' || cur->s[p] == 'E' ||
                         (cur->s[p] >= '0' && cur->s[p] <= '9')))
        return -EBADMSG;
    if (!neg)
        *out = (int64_t)mag;
    else
        *out = mag > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)mag;
    cur->pos = p;
    return 0;
}

/* Skips whitespace and reads a key (a string without NULs) and its ':'. */
static int read_key(struct cursor *cur, char *key, size_t keysize)
{
    size_t len;

    skip_ws(cur);
    if (read_string(cur, key, keysize, &len) || strlen(key) != len || !eat(cur, ':'))
        return -EBADMSG;
    return 0;
}

/* Reads one config value (string or integer) and sets 'key' from it. */
static int read_config_value(struct cursor *cur, struct topic_config *c, const char *key)
{
    char text[MAX_STRING + 1];
    size_t len;
    int64_t v;

    skip_ws(cur);
    if (cur->pos < cur->len && cur->s[cur->pos] == '"') {
        if (read_string(cur, text, sizeof(text), &len) || strlen(text) != len)
            return -EBADMSG;
    } else {
        if (read_int(cur, &v))
            return -EBADMSG;
        snprintf(text, sizeof(text), "%lld", (long long)v);
    }
    return topic_config_set(c, key, text, NULL, 0) ? -EBADMSG : 0;
}

/* Reads the config object: defaults, then each key once. */
static int read_config(struct cursor *cur, struct topic_config *c)
{
    char key[MAX_STRING + 1];
    unsigned seen = 0;
    unsigned i;

    topic_config_defaults(c);
    if (!eat(cur, '{'))
        return -EBADMSG;
    if (eat(cur, '}'))
        return 0;
    do {
        if (read_key(cur, key, sizeof(key)))
            return -EBADMSG;
        for (i = 0; topic_config_keys[i]; i++)
            if (!strcmp(topic_config_keys[i], key))
                break;
        if (!topic_config_keys[i] || (seen & 1u << i))
            return -EBADMSG;
        seen |= 1u << i;
        if (read_config_value(cur, c, key))
            return -EBADMSG;
    } while (eat(cur, ','));
    return eat(cur, '}') ? 0 : -EBADMSG;
}

static bool id_is_valid(const char *id, size_t len)
{
    if (len != TOPIC_ID_LEN)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return false;
    return true;
}

/* Reads the value of top-level key 'k' into m. */
static int read_top_value(struct cursor *cur, enum top_key k, struct topic_meta *m)
{
    size_t len;
    int64_t v;

    switch (k) {
    case TOP_NAME:
        skip_ws(cur);
        if (read_string(cur, m->name, sizeof(m->name), &len) ||
            !topic_name_is_valid(m->name, len))
            return -EBADMSG;
        return 0;
    case TOP_ID:
        skip_ws(cur);
        if (read_string(cur, m->id, sizeof(m->id), &len) || !id_is_valid(m->id, len))
            return -EBADMSG;
        return 0;
    case TOP_PARTITIONS:
        if (read_int(cur, &v) || v < 1 || v > TOPIC_META_MAX_PARTITIONS)
            return -EBADMSG;
        m->partitions = (int32_t)v;
        return 0;
    case TOP_CREATED:
        if (read_int(cur, &v) || v < 0)
            return -EBADMSG;
        m->created_ms = v;
        return 0;
    case TOP_CONFIG:
        return read_config(cur, &m->config);
    case TOP_COUNT:
        break;
    }
    return -EBADMSG;
}

int topic_meta_parse(const char *text, size_t len, struct topic_meta *m)
{
    struct cursor cur = {(const unsigned char *)text, len, 0};
    const unsigned required = 1u << TOP_NAME | 1u << TOP_PARTITIONS | 1u << TOP_CREATED;
    char key[MAX_STRING + 1];
    struct topic_meta tmp;
    unsigned seen = 0;
    unsigned k;

    memset(&tmp, 0, sizeof(tmp));
    topic_config_defaults(&tmp.config);
    if (!eat(&cur, '{'))
        return -EBADMSG;
    if (!eat(&cur, '}')) {
        do {
            if (read_key(&cur, key, sizeof(key)))
                return -EBADMSG;
            for (k = 0; k < TOP_COUNT; k++)
                if (!strcmp(top_keys[k], key))
                    break;
            if (k == TOP_COUNT || (seen & 1u << k))
                return -EBADMSG;
            seen |= 1u << k;
            if (read_top_value(&cur, (enum top_key)k, &tmp))
                return -EBADMSG;
        } while (eat(&cur, ','));
        if (!eat(&cur, '}'))
            return -EBADMSG;
    }
    skip_ws(&cur);
    if (cur.pos != cur.len || (seen & required) != required)
        return -EBADMSG;
    if (!(seen & 1u << TOP_ID))
        snprintf(tmp.id, sizeof(tmp.id), "%0*llx", TOPIC_ID_LEN,
                 (unsigned long long)tmp.created_ms);
    *m = tmp;
    return 0;
}

int topic_meta_new_id(struct topic_meta *m)
{
    unsigned char bytes[TOPIC_ID_LEN / 2];
    size_t got = 0;

    while (got < sizeof(bytes)) {
        ssize_t n = getrandom(bytes + got, sizeof(bytes) - got, 0);
        if (n < 0 && errno != EINTR)
            return -errno;
        if (n > 0)
            got += (size_t)n;
    }
    for (size_t i = 0; i < sizeof(bytes); i++)
        snprintf(m->id + 2 * i, 3, "%02x", bytes[i]);
    return 0;
}

void topic_meta_to_json(const struct topic_meta *m, struct buf *out)
{
    buf_printf(out,
               "{\"name\":\"%.*s\",\"id\":\"%.*s\",\"partitions\":%d,\"created_ms\":%lld,"
               "\"config\":",
               (int)strnlen(m->name, sizeof(m->name)), m->name,
               (int)strnlen(m->id, sizeof(m->id)), m->id, (int)m->partitions,
               (long long)m->created_ms);
    topic_config_to_json(&m->config, out, true);
    buf_add(out, "}\n", 2);
}

int topic_meta_write(const char *dir, const struct topic_meta *m)
{
    struct buf text = BUF_INIT, tmp = BUF_INIT;
    struct topic_meta check;
    int ret;

    if (!topic_name_is_valid(m->name, strnlen(m->name, sizeof(m->name))))
        return -EINVAL;
    topic_meta_to_json(m, &text);
    /* Refuse what would not read back, rather than find out at the next start. */
    if (topic_meta_parse(text.data, text.len, &check)) {
        ret = -EINVAL;
        goto out_release_text;
    }
    /* 0600: the file holds webhook.secret. The new file takes the mode of the tmp
     * file it is renamed from, so a topic.json of any older mode is 0600 once
     * rewritten; a tmp left by a crash would keep its mode through O_CREAT, so it goes
     * first. */
    buf_printf(&tmp, "%s/topic.json.tmp", dir);
    ret = io_unlink(tmp.data);
    if (!ret)
        ret = io_replace_file(dir, "topic.json", text.data, text.len, TOPIC_META_MODE);
    buf_release(&tmp);
out_release_text:
    buf_release(&text);
    return ret;
}

int topic_meta_read(const char *dir, struct topic_meta *m)
{
    struct buf path = BUF_INIT;
    char *text;
    size_t len;
    int ret;

    buf_printf(&path, "%s/topic.json", dir);
    ret = io_read_file(path.data, TOPIC_META_MAX_BYTES, &text, &len);
    if (ret) {
        if (ret == -EFBIG)
            ret = -EBADMSG;
        goto out_release_path;
    }
    ret = topic_meta_parse(text, len, m);
    free(text);
out_release_path:
    buf_release(&path);
    return ret;
}

bool topic_meta_equal(const struct topic_meta *a, const struct topic_meta *b)
{
    return !strcmp(a->name, b->name) && !strcmp(a->id, b->id) &&
           a->partitions == b->partitions &&
           a->created_ms == b->created_ms && topic_config_equal(&a->config, &b->config);
}
