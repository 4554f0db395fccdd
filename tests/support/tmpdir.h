/* tmpdir.h: temporary directories for tests. */
#ifndef TESTS_SUPPORT_TMPDIR_H
#define TESTS_SUPPORT_TMPDIR_H

#include <stddef.h>

/* Creates a fresh directory under $TMPDIR (or /tmp) and writes its path to 'out'.
 * Returns 0 or -errno. */
int tmpdir_make(char *out, size_t size);
/* Removes the directory and everything in it. */
void tmpdir_remove(const char *dir);

#endif
