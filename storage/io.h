/* io.h: every file operation of the storage engine goes through one table (SQLite's
 * aSyscall[]), so tests can swap in a table that fails the Nth fdatasync with EIO, runs
 * out of space, writes short, or "crashes" by dropping what was never synced.
 *
 * The io_* helpers below return 0 (or a count) on success and -errno on failure, with
 * EINTR retried and short reads/writes continued. */
#ifndef STORAGE_IO_H
#define STORAGE_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct io_ops {
    int (*open)(const char *path, int flags, mode_t mode);
    int (*close)(int fd);
    ssize_t (*pread)(int fd, void *buf, size_t n, off_t off);
    ssize_t (*pwritev)(int fd, const struct iovec *iov, int iovcnt, off_t off);
    int (*fdatasync)(int fd);
    int (*fsync)(int fd);
    int (*ftruncate)(int fd, off_t len);
    int (*rename)(const char *from, const char *to);
    int (*unlink)(const char *path);
    int (*mkdir)(const char *path, mode_t mode);
    int (*rmdir)(const char *path);
};

/* The plain POSIX table, and the one in use (io_posix_ops unless a test swapped it). */
extern const struct io_ops io_posix_ops;
extern const struct io_ops *io_ops;
/* Tests only: replaces the table (NULL restores io_posix_ops). Not thread safe against
 * I/O in flight. */
void io_set_ops(const struct io_ops *ops);

/* open(2); returns the fd or -errno. */
int io_open(const char *path, int flags, mode_t mode);
/* close(2), ignoring a negative fd. */
void io_close(int fd);
/* Reads up to n bytes at 'off', continuing short reads; returns bytes read (< n only at
 * end of file) or -errno. */
ssize_t io_pread_full(int fd, void *buf, size_t n, off_t off);
/* Writes all of iov at 'off', continuing short writes. Returns 0 or -errno; on error an
 * unknown prefix may have been written (the caller cuts the file back). */
int io_pwritev_full(int fd, const struct iovec *iov, int iovcnt, off_t off);
int io_pwrite_full(int fd, const void *buf, size_t n, off_t off);
int io_fdatasync(int fd);
int io_ftruncate(int fd, off_t len);
/* The size of an open file, or -errno. */
off_t io_file_size(int fd);
/* fsync of the directory 'dir', so that creates, renames and unlinks in it are durable. */
int io_fsync_dir(const char *dir);
/* mkdir, then fsync of its parent; an existing directory is success. */
int io_mkdir_synced(const char *path);
/* unlink(2) of 'path' (ENOENT is success). */
int io_unlink(const char *path);
/* Writes 'data' to 'path' (created or truncated, mode 0644 or 'mode'), fdatasync, close. */
int io_write_file_synced(const char *path, const void *data, size_t len, mode_t mode);
/* Atomically replaces <dir>/<name> with the file 'tmp_path' and fsyncs 'dir'. */
int io_rename_and_fsync_dir(const char *tmp_path, const char *dir, const char *name);
/* Writes <dir>/<name> atomically: <name>.tmp, fdatasync, rename, fsync of dir. */
int io_replace_file(const char *dir, const char *name, const void *data, size_t len,
                    mode_t mode);
/* Reads a whole (small) file into a malloc'ed, NUL-terminated buffer. At most 'max'
 * bytes: a larger file is -EFBIG. Returns 0 or -errno. */
int io_read_file(const char *path, size_t max, char **out, size_t *len);
/* Removes a directory tree (files and subdirectories), then fsyncs its parent. */
int io_remove_tree(const char *path);

#endif
