/* faultio.h: a file operation table for tests (storage/io.h) that injects faults:
 * EIO on the Nth fdatasync, ENOSPC after a number of bytes, short writes, and a
 * "crash" that drops every byte not yet fdatasync'ed, as a power loss would. */
#ifndef TESTS_SUPPORT_FAULTIO_H
#define TESTS_SUPPORT_FAULTIO_H

#include <stdbool.h>
#include <stdint.h>

struct faultio_plan {
    int fail_fdatasync_at;    /* the Nth fdatasync (1-based) fails with EIO; 0 never */
    int64_t enospc_after;     /* bytes writes may still add, then ENOSPC; -1 no limit */
    bool short_writes;        /* each pwritev writes about half of what it is asked */
    int fail_ftruncate;       /* ftruncate fails with this errno (0: works) */
    int slow_fdatasync_ms;    /* each fdatasync takes at least this long */
    bool lose_unsynced_names; /* a crash also removes each file created since install
                                 whose directory was not fsynced after it was made */
};

/* Installs the faulty table with 'plan' (NULL: no faults, tracking only). */
void faultio_install(const struct faultio_plan *plan);
/* Restores the POSIX table and forgets the tracked files. */
void faultio_uninstall(void);
/* Counters since install. */
int faultio_fdatasync_calls(void);
/* fsync calls (the storage engine fsyncs only directories). */
int faultio_fsync_calls(void);
/* fdatasync and fsync calls made by the calling thread. */
int faultio_thread_sync_calls(void);
/* The size 'path' had at its last fdatasync (or when first opened), or -1 if the file
 * was not opened since install. */
long long faultio_synced_size(const char *path);
/* Power loss: every file written since install is cut back to the size it had at its
 * last fdatasync (or at open). With 'torn', to a random size between that and its
 * current size instead, as a partly written page cache would leave it. With the plan's
 * lose_unsynced_names, files whose names were never made durable go. Call with the
 * files closed or about to be abandoned. */
void faultio_crash(bool torn, unsigned seed);

#endif
