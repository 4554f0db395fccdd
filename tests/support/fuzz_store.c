/* fuzz_store.c: see fuzz_store.h. */
#include "tests/support/fuzz_store.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/log.h"
#include "storage/io.h"
#include "storage/store.h"

static char data_dir[4096];
static struct store *store;

static void teardown(void)
{
    store_close(store);
    io_remove_tree(data_dir);
}

struct store *fuzz_store(const char *tag)
{
    const char *base = getenv("TMPDIR");

    if (store)
        return store;
    log_set_level(LOG_ERROR);
    snprintf(data_dir, sizeof(data_dir), "%s/rill-fuzz-%s-XXXXXX", base && *base ? base : "/tmp",
             tag);
    if (!mkdtemp(data_dir) || store_open(&store, data_dir))
        abort();
    atexit(teardown);
    return store;
}
