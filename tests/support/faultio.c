/* faultio.c: fault-injecting file operations for tests. */
#include "tests/support/faultio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
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
    off_t synced;      /* size at the last fdatasync (or open) */
    bool name_durable; /* existed at install, or its directory was fsynced since */
    bool gone;         /* a rename replaced it: no longer at 'path' */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct faultio_plan plan;
static int fdatasync_calls, fsync_calls;
static int64_t written;
static struct tracked files[MAX_FILES];
static int nfiles;
static int fd_file[MAX_FDS]; /* fd -> index in files, -1 if untracked */
static char *fd_dir[MAX_FDS]; /* fd -> path of the directory open on it, or NULL */
static _Atomic unsigned generation; /* bumped by install: resets the thread counters */
static _Thread_local unsigned thread_generation;
static _Thread_local int thread_syncs;

static void count_thread_sync(void)
{
    unsigned g = atomic_load(&generation);

    if (thread_generation != g) {
        thread_generation = g;
        thread_syncs = 0;
    }
    thread_syncs++;
}

static int find(const char *path)
{
    for (int i = 0; i < nfiles; i++)
        if (!files[i].gone && !strcmp(files[i].path, path))
            return i;
    return -1;
}

/* 'created': the open made the file, so its name is not durable yet. */
static int track(const char *path, int fd, bool created)
{
    struct stat st;
    off_t size = fstat(fd, &st) ? 0 : st.st_size;
    int i = find(path);

    if (i < 0) {
        if (nfiles == MAX_FILES)
            return -1;
        i = nfiles++;
        files[i].path = strdup(path);
        files[i].synced = size;
        files[i].name_durable = !created;
        files[i].gone = false;
    } else {
        if (created) /* made again after an unlink */
            files[i].name_durable = false;
        if (files[i].synced > size) /* truncated at open, or made again */
            files[i].synced = size;
    }
    if (fd >= 0 && fd < MAX_FDS)
        fd_file[fd] = i;
    return i;
}

static int f_open(const char *path, int flags, mode_t mode)
{
    bool existed = !(flags & O_CREAT) || access(path, F_OK) == 0;
    int fd = io_posix_ops.open(path, flags, mode);

    if (fd >= 0) {
        struct stat st;
        pthread_mutex_lock(&lock);
        if (fd < MAX_FDS) {
            fd_file[fd] = -1;
            free(fd_dir[fd]);
            fd_dir[fd] = NULL;
        }
        if (!fstat(fd, &st) && S_ISREG(st.st_mode))
            track(path, fd, !existed);
        else if (!fstat(fd, &st) && S_ISDIR(st.st_mode) && fd < MAX_FDS)
            fd_dir[fd] = strdup(path);
        pthread_mutex_unlock(&lock);
    }
    return fd;
}

static int f_close(int fd)
{
    pthread_mutex_lock(&lock);
    if (fd >= 0 && fd < MAX_FDS) {
        fd_file[fd] = -1;
        free(fd_dir[fd]);
        fd_dir[fd] = NULL;
    }
    pthread_mutex_unlock(&lock);
    return io_posix_ops.close(fd);
}

/* fsync of a directory makes the names of the files in it durable. */
static int f_fsync(int fd)
{
    pthread_mutex_lock(&lock);
    fsync_calls++;
    count_thread_sync();
    if (fd >= 0 && fd < MAX_FDS && fd_dir[fd]) {
        size_t n = strlen(fd_dir[fd]);
        for (int i = 0; i < nfiles; i++) {
            const char *p = files[i].path;
            if (!strncmp(p, fd_dir[fd], n) && p[n] == '/' && !strchr(p + n + 1, '/'))
                files[i].name_durable = true;
        }
    }
    pthread_mutex_unlock(&lock);
    return io_posix_ops.fsync(fd);
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
    count_thread_sync();
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
    int i;

    if (io_posix_ops.rename(from, to))
        return -1;
    pthread_mutex_lock(&lock);
    if ((i = find(to)) >= 0)
        files[i].gone = true; /* replaced */
    if ((i = find(from)) >= 0) {
        free(files[i].path);
        files[i].path = strdup(to);
        files[i].name_durable = false; /* until the directory is fsynced */
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
    .fsync = f_fsync,
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
    for (int i = 0; i < MAX_FDS; i++) {
        fd_file[i] = -1;
        free(fd_dir[i]);
        fd_dir[i] = NULL;
    }
    fdatasync_calls = fsync_calls = 0;
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
    atomic_fetch_add(&generation, 1);
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

int faultio_fsync_calls(void)
{
    return fsync_calls;
}

int faultio_thread_sync_calls(void)
{
    return thread_generation == atomic_load(&generation) ? thread_syncs : 0;
}

long long faultio_synced_size(const char *path)
{
    long long size;
    int i;

    pthread_mutex_lock(&lock);
    i = find(path);
    size = i < 0 ? -1 : (long long)files[i].synced;
    pthread_mutex_unlock(&lock);
    return size;
}

void faultio_crash(bool torn, unsigned seed)
{
    pthread_mutex_lock(&lock);
    srand(seed);
    for (int i = 0; i < nfiles; i++) {
        struct stat st;
        off_t keep = files[i].synced;

        if (files[i].gone)
            continue;
        if (plan.lose_unsynced_names && !files[i].name_durable) {
            unlink(files[i].path);
            continue;
        }
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
