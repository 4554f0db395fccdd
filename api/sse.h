/* sse.h: server-sent events framing and stream positions (event ids), with no I/O.
 *
 * An event is lines "field: value" ended by a blank line. rill sends:
 *
 *     retry: 2000                       once, first: how long a browser waits to
 *                                       reconnect
 *     id: 18                            a partition stream: the next offset to read
 *     id: 0:17,1:4,2:9                  a topic stream: every partition's next offset
 *     event: record | gap
 *     data: {...}                       one JSON document; a CR or LF inside it (only
 *                                       ever JSON whitespace) starts a new data line
 *     : heartbeat                       a comment, to keep proxies and dead-peer
 *                                       detection honest
 *
 * The id is a position, so a reconnect with Last-Event-ID resumes exactly after the
 * last event the client saw. */
#ifndef API_SSE_H
#define API_SSE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* Longest event id we accept: a vector for a topic of many partitions. */
#define SSE_MAX_ID_LEN 65536

/* Appends "data: " lines carrying data[0..len), then the newline that ends the field;
 * CR, LF and CRLF each start a new "data: " line, so the client reassembles the same
 * text with LF line ends. */
void sse_add_data(struct buf *b, const char *data, size_t len);

/* Parses a partition stream's event id: a decimal offset >= 0, digits only. Returns 0
 * or -EINVAL. */
int sse_parse_offset_id(const char *s, int64_t *offset);

/* Parses a topic stream's event id, "P:N" pairs joined by ',' (partition, next offset;
 * decimal, digits only). For each pair sets next[P]; entries for partitions it does
 * not name are left alone. Returns 0, -EINVAL (malformed, empty, a partition named
 * twice) or -ERANGE (a partition >= n). */
int sse_parse_vector_id(const char *s, int64_t *next, int32_t n);

/* Appends next[0..n) as a topic stream's event id: "0:17,1:4". */
void sse_add_vector_id(struct buf *b, const int64_t *next, int32_t n);

/* Appends a decimal int64 (faster than buf_printf on the per-event path). */
void sse_add_i64(struct buf *b, int64_t v);

#endif
