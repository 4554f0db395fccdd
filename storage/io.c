/* io.c: the file operation table and the helpers built on it. */
#include "storage/io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/xalloc.h"

static int posix_open(const char *path, int flags, mode_t mode)
{
    return open(path, flags | O_CLOEXEC, mode);
}

const struct io_ops io_posix_ops = {
    .open = posix_open,
    .close = close,
    .pread = pread,
    .pwritev = pwritev,
    .fdatasync = fdatasync,
    .fsync = fsync,
    .ftruncate = ftruncate,
    .rename = rename,
    .unlink = unlink,
    .mkdir = mkdir,
    .rmdir = rmdir,
};

const struct io_ops *io_ops = &io_posix_ops;

void io_set_ops(const struct io_ops *ops)
{
    io_ops = ops ? ops : &io_posix_ops;
}

int io_open(const char *path, int flags, mode_t mode)
{
    int fd;

    do
        fd = io_ops->open(path, flags, mode);
    while (fd < 0 && errno == EINTR);
    return fd < 0 ? -errno : fd;
}

void io_close(int fd)
{
    if (fd >= 0)
        io_ops->close(fd);
}

ssize_t io_pread_full(int fd, void *buf, size_t n, off_t off)
{
    size_t done = 0;

    while (done < n) {
        ssize_t r = io_ops->pread(fd, (char *)buf + done, n - done, off + (off_t)done);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0)
            break;
        done += (size_t)r;
    }
    return (ssize_t)done;
}

int io_pwritev_full(int fd, const struct iovec *iov_in, int iovcnt, off_t off)
{
    struct iovec stack[16], *copy = stack, *iov;
    int ret = 0;

    if (iovcnt > (int)(sizeof(stack) / sizeof(stack[0])))
        copy = xmalloc(sizeof(*copy) * (size_t)iovcnt);
    memcpy(copy, iov_in, sizeof(*copy) * (size_t)iovcnt);
    iov = copy;
    while (iovcnt > 0 && iov->iov_len == 0) { /* nothing to write is no full disk */
        iov++;
        iovcnt--;
    }
    while (iovcnt > 0) {
        ssize_t w = io_ops->pwritev(fd, iov, iovcnt > IOV_MAX ? IOV_MAX : iovcnt, off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            ret = -errno;
            break;
        }
        if (w == 0) { /* no progress and no error: treat it as a full disk */
            ret = -ENOSPC;
            break;
        }
        off += w;
        while (iovcnt > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            iovcnt--;
        }
        if (iovcnt > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    if (copy != stack)
        free(copy);
    return ret;
}

int io_pwrite_full(int fd, const void *buf, size_t n, off_t off)
{
    struct iovec iov = {(void *)buf, n};

    return io_pwritev_full(fd, &iov, 1, off);
}

int io_fdatasync(int fd)
{
    /* Never retried on failure (fsyncgate): the caller stops writing to the file. */
    return io_ops->fdatasync(fd) ? -errno : 0;
}

int io_ftruncate(int fd, off_t len)
{
    int r;

    do
        r = io_ops->ftruncate(fd, len);
    while (r && errno == EINTR);
    return r ? -errno : 0;
}

off_t io_file_size(int fd)
{
    struct stat st;

    return fstat(fd, &st) ? -errno : st.st_size;
}

int io_fsync_dir(const char *dir)
{
    int fd = io_open(dir, O_RDONLY | O_DIRECTORY, 0);
    int ret;

    if (fd < 0)
        return fd;
    ret = io_ops->fsync(fd) ? -errno : 0;
    io_close(fd);
    return ret;
}

/* The parent directory of 'path' into 'out' ("." if none). */
static void parent_dir(const char *path, struct buf *out)
{
    const char *slash = strrchr(path, '/');

    if (!slash)
        buf_addstr(out, ".");
    else if (slash == path)
        buf_addstr(out, "/");
    else
        buf_add(out, path, (size_t)(slash - path));
}

int io_mkdir_synced(const char *path)
{
    struct buf parent = BUF_INIT;
    int ret;

    if (io_ops->mkdir(path, 0755)) {
        if (errno == EEXIST)
            return 0;
        return -errno;
    }
    parent_dir(path, &parent);
    ret = io_fsync_dir(parent.data);
    buf_release(&parent);
    return ret;
}

int io_unlink(const char *path)
{
    if (io_ops->unlink(path) && errno != ENOENT)
        return -errno;
    return 0;
}

int io_write_file_synced(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd = io_open(path, O_WRONLY | O_CREAT | O_TRUNC, mode ? mode : 0644);
    int ret;

    if (fd < 0)
        return fd;
    ret = io_pwrite_full(fd, data, len, 0);
    if (!ret)
        ret = io_fdatasync(fd);
    io_close(fd);
    return ret;
}

int io_rename_and_fsync_dir(const char *tmp_path, const char *dir, const char *name)
{
    struct buf dst = BUF_INIT;
    int ret = 0;

    buf_printf(&dst, "%s/%s", dir, name);
    if (io_ops->rename(tmp_path, dst.data))
        ret = -errno;
    else
        ret = io_fsync_dir(dir);
    buf_release(&dst);
    return ret;
}

int io_replace_file(const char *dir, const char *name, const void *data, size_t len,
                    mode_t mode)
{
    struct buf tmp = BUF_INIT;
    int ret;

    buf_printf(&tmp, "%s/%s.tmp", dir, name);
    ret = io_write_file_synced(tmp.data, data, len, mode);
    if (ret)
        goto out_release_tmp;
    ret = io_rename_and_fsync_dir(tmp.data, dir, name);
    if (ret)
        io_unlink(tmp.data);
out_release_tmp:
    buf_release(&tmp);
    return ret;
}

int io_read_file(const char *path, size_t max, char **out, size_t *len)
{
    int fd = io_open(path, O_RDONLY, 0);
    off_t size;
    ssize_t n;
    char *data;

    if (fd < 0)
        return fd;
    size = io_file_size(fd);
    if (size < 0 || (size_t)size > max) {
        io_close(fd);
        return size < 0 ? (int)size : -EFBIG;
    }
    data = xmalloc((size_t)size + 1);
    n = io_pread_full(fd, data, (size_t)size, 0);
    io_close(fd);
    if (n < 0) {
        free(data);
        return (int)n;
    }
    data[n] = '\0';
    *out = data;
    if (len)
        *len = (size_t)n;
    return 0;
}

/* Removes everything below 'path' and 'path' itself; no fsync. */
static int remove_recursive(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    int ret = 0;

    if (!d)
        return errno == ENOENT ? 0 : -errno;
    while ((e = readdir(d))) {
        struct buf child = BUF_INIT;
        struct stat st;

        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        buf_printf(&child, "%s/%s", path, e->d_name);
        if (lstat(child.data, &st) == 0 && S_ISDIR(st.st_mode))
            ret = remove_recursive(child.data);
        else if (io_ops->unlink(child.data) && errno != ENOENT)
            ret = -errno;
        buf_release(&child);
        if (ret)
            break;
    }
    closedir(d);
    if (!ret && io_ops->rmdir(path) && errno != ENOENT)
        ret = -errno;
    return ret;
}

int io_remove_tree(const char *path)
{
    struct buf parent = BUF_INIT;
    int ret = remove_recursive(path);

    if (!ret) {
        parent_dir(path, &parent);
        ret = io_fsync_dir(parent.data);
        buf_release(&parent);
    }
    return ret;
}
