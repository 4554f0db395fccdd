/* buf.h: a growable byte buffer (git's strbuf). Invariants: data is never NULL and
 * data[len] == '\0', so a buf holding text is always a valid C string. */
#ifndef COMMON_BUF_H
#define COMMON_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
    char *data; /* never NULL; points at buf_empty until the first growth */
    size_t len; /* bytes used, not counting the trailing NUL */
    size_t cap; /* bytes allocated; 0 while data is buf_empty */
};

extern char buf_empty[];
#define BUF_INIT {buf_empty, 0, 0}

void buf_init(struct buf *b);
/* Frees the memory and leaves 'b' empty and reusable. */
void buf_release(struct buf *b);
/* Makes room for 'extra' more bytes (plus the NUL). */
void buf_grow(struct buf *b, size_t extra);
void buf_add(struct buf *b, const void *data, size_t len);
void buf_addch(struct buf *b, char c);
void buf_addstr(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Sets len to 'len' (<= current len) and rewrites the NUL. */
void buf_truncate(struct buf *b, size_t len);
static inline void buf_reset(struct buf *b)
{
    buf_truncate(b, 0);
}
/* Hands the memory to the caller (to free()) and leaves 'b' empty. */
char *buf_detach(struct buf *b, size_t *len);

/* Big-endian fixed-width appends, as Kafka's wire formats use. */
void buf_add_be16(struct buf *b, uint16_t v);
void buf_add_be32(struct buf *b, uint32_t v);
void buf_add_be64(struct buf *b, uint64_t v);

static inline uint16_t load_be16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}
static inline uint32_t load_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t load_be64(const uint8_t *p)
{
    return (uint64_t)load_be32(p) << 32 | load_be32(p + 4);
}
static inline void store_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void store_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline void store_be64(uint8_t *p, uint64_t v)
{
    store_be32(p, (uint32_t)(v >> 32));
    store_be32(p + 4, (uint32_t)v);
}

#endif
