/* tmpdir.c: temporary directories for tests. */
#include "tests/support/tmpdir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "storage/io.h"

int tmpdir_make(char *out, size_t size)
{
    const char *base = getenv("TMPDIR");

    if (!base || !*base)
        base = "/tmp";
    if (snprintf(out, size, "%s/rill-test-XXXXXX", base) >= (int)size)
        return -ENAMETOOLONG;
    return mkdtemp(out) ? 0 : -errno;
}

void tmpdir_remove(const char *dir)
{
    if (dir && *dir)
        io_remove_tree(dir);
}
