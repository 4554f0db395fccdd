/* faultio.c: fault-injecting file operations for tests. */
#include "tests/support/faultio.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "storage/io.h"

#define MAX_FDS 4096
#define MAX_FILES 1024

struct tracked {
    char *path;
    off_t synced; /* size at the last fdatasync (or open) */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct faultio_plan plan;
static int fdatasync_calls;
static int64_t written;
static struct tracked files[MAX_FILES];
static int nfiles;
static int fd_file[MAX_FDS]; /* fd -> index in files, -1 if untracked */

static int track(const char *path, int fd)
{
    struct stat st;
    int i;

    for (i = 0; i < nfiles; i++)
        if (!strcmp(files[i].path, path))
            break;
    if (i == nfiles) {
        if (nfiles == MAX_FILES)
            return -1;
        files[i].path = strdup(path);
        files[i].synced = fstat(fd, &st) ? 0 : st.st_size;
        nfiles++;
    }
    if (fd >= 0 && fd < MAX_FDS)
        fd_file[fd] = i;
    return i;
}

static int f_open(const char *path, int flags, mode_t mode)
{
    int fd = io_posix_ops.open(path, flags, mode);

    if (fd >= 0) {
        struct stat st;
        pthread_mutex_lock(&lock);
        if (!fstat(fd, &st) && S_ISREG(st.st_mode))
            track(path, fd);
        else if (fd < MAX_FDS)
            fd_file[fd] = -1;
        pthread_mutex_unlock(&lock);
    }
    return fd;
}

static int f_close(int fd)
{
    pthread_mutex_lock(&lock);
    if (fd >= 0 && fd < MAX_FDS)
        fd_file[fd] = -1;
    pthread_mutex_unlock(&lock);
    return io_posix_ops.close(fd);
}

static ssize_t f_pwritev(int fd, const struct iovec *iov, int iovcnt, off_t off)
{
    size_t want = 0, allow;
    struct iovec cut[64];
    int n = 0;

    for (int i = 0; i < iovcnt; i++)
        want += iov[i].iov_len;
    pthread_mutex_lock(&lock);
    allow = want;
    if (plan.short_writes && want > 1)
        allow = want / 2;
    if (plan.enospc_after >= 0 && (int64_t)allow > plan.enospc_after - written)
        allow = plan.enospc_after > written ? (size_t)(plan.enospc_after - written) : 0;
    written += (int64_t)allow;
    pthread_mutex_unlock(&lock);
    if (want && !allow) {
        errno = ENOSPC;
        return -1;
    }
    if (allow == want)
        return io_posix_ops.pwritev(fd, iov, iovcnt, off);
    for (size_t left = allow; left && n < 64 && n < iovcnt; n++) {
        cut[n] = iov[n];
        if (cut[n].iov_len > left)
            cut[n].iov_len = left;
        left -= cut[n].iov_len;
    }
    return io_posix_ops.pwritev(fd, cut, n, off);
}

static int f_fdatasync(int fd)
{
    struct stat st;
    int fail;

    pthread_mutex_lock(&lock);
    fdatasync_calls++;
    fail = plan.fail_fdatasync_at && fdatasync_calls == plan.fail_fdatasync_at;
    if (!fail && fd >= 0 && fd < MAX_FDS && fd_file[fd] >= 0 && !fstat(fd, &st))
        files[fd_file[fd]].synced = st.st_size;
    pthread_mutex_unlock(&lock);
    if (fail) {
        errno = EIO;
        return -1;
    }
    if (plan.slow_fdatasync_ms) {
        struct timespec ts = {plan.slow_fdatasync_ms / 1000,
                              (plan.slow_fdatasync_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    return io_posix_ops.fdatasync(fd);
}

static int f_ftruncate(int fd, off_t len)
{
    struct stat st;

    if (plan.fail_ftruncate) {
        errno = plan.fail_ftruncate;
        return -1;
    }
    if (io_posix_ops.ftruncate(fd, len))
        return -1;
    /* A cut shrinks what is durable too (the metadata goes with the next sync). */
    pthread_mutex_lock(&lock);
    if (fd >= 0 && fd < MAX_FDS && fd_file[fd] >= 0 && !fstat(fd, &st) &&
        files[fd_file[fd]].synced > st.st_size)
        files[fd_file[fd]].synced = st.st_size;
    pthread_mutex_unlock(&lock);
    return 0;
}

static int f_rename(const char *from, const char *to)
{
    if (io_posix_ops.rename(from, to))
        return -1;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < nfiles; i++) {
        if (!strcmp(files[i].path, from)) {
            free(files[i].path);
            files[i].path = strdup(to);
        }
    }
    pthread_mutex_unlock(&lock);
    return 0;
}

static const struct io_ops faulty = {
    .open = f_open,
    .close = f_close,
    .pread = pread,
    .pwritev = f_pwritev,
    .fdatasync = f_fdatasync,
    .fsync = fsync,
    .ftruncate = f_ftruncate,
    .rename = f_rename,
    .unlink = unlink,
    .mkdir = mkdir,
    .rmdir = rmdir,
};

static void forget(void)
{
    for (int i = 0; i < nfiles; i++)
        free(files[i].path);
    nfiles = 0;
    for (int i = 0; i < MAX_FDS; i++)
        fd_file[i] = -1;
    fdatasync_calls = 0;
    written = 0;
}

void faultio_install(const struct faultio_plan *p)
{
    pthread_mutex_lock(&lock);
    forget();
    memset(&plan, 0, sizeof(plan));
    plan.enospc_after = -1;
    if (p)
        plan = *p;
    pthread_mutex_unlock(&lock);
    io_set_ops(&faulty);
}

void faultio_uninstall(void)
{
    io_set_ops(NULL);
    pthread_mutex_lock(&lock);
    forget();
    pthread_mutex_unlock(&lock);
}

int faultio_fdatasync_calls(void)
{
    return fdatasync_calls;
}

void faultio_crash(bool torn, unsigned seed)
{
    pthread_mutex_lock(&lock);
    srand(seed);
    for (int i = 0; i < nfiles; i++) {
        struct stat st;
        off_t keep = files[i].synced;

        if (stat(files[i].path, &st) || st.st_size <= keep)
            continue;
        if (torn)
            keep += (off_t)((unsigned)rand() % (unsigned)(st.st_size - keep + 1));
        if (truncate(files[i].path, keep)) {
            /* the test will see the bytes still there */
        }
    }
    pthread_mutex_unlock(&lock);
}
