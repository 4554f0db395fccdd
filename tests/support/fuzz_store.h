/* fuzz_store.h: a store for fuzz targets that need one: made once per process in a
 * fresh temp dir ($TMPDIR or /tmp), with logs at error level, and removed at exit. */
#ifndef TESTS_SUPPORT_FUZZ_STORE_H
#define TESTS_SUPPORT_FUZZ_STORE_H

struct store;

/* The store (made on the first call; 'tag' names the temp dir). Aborts on failure. */
struct store *fuzz_store(const char *tag);

#endif
