/* json_oracle.h: jansson as an oracle for api/json_check.c, where jansson agrees with
 * RFC 8259. Shared by tests/api/test_json_check.c and fuzz/fuzz_json_check.c. */
#ifndef TESTS_SUPPORT_JSON_ORACLE_H
#define TESTS_SUPPORT_JSON_ORACLE_H

#include <stddef.h>

/* 1 valid, 0 invalid, -1 where jansson departs from RFC 8259 and has no verdict:
 * numbers too big for it, "\u0000" inside an object key. Documents it accepts count
 * as invalid when nested deeper than JSON_CHECK_MAX_DEPTH (it allows 2048) or when
 * holding a raw NUL byte (jansson 2.14 drops one after a number or literal). */
int json_oracle_verdict(const char *s, size_t len);

#endif
