/* rillproc.h: the real rill binary as a child process, for integration tests.
 *
 * The binary is $RILL_BIN (default ./rill). rillproc_start() makes a fresh temp dir
 * DIR, runs `rill serve --listen 127.0.0.1:0 --data DIR <extra args>` (a later flag
 * wins, so extra args may override either), sends stdout and stderr to DIR.log
 * (outside the data dir, appended across restarts) and returns once DIR/rill.addr
 * exists, i.e. once the server accepts connections.
 *
 *     struct rillproc p;
 *     cr_assert(eq(int, rillproc_start(&p, NULL), 0));
 *     http_request("GET", ..., p.url ...);              // "http://127.0.0.1:41234"
 *     cr_assert(eq(int, rillproc_stop(&p), 0));         // SIGTERM, exit status
 *     rillproc_cleanup(&p);
 *
 * All waits are bounded (20 s); nothing sleeps for a fixed time. Set RILL_TEST_KEEP=1
 * to keep the dir and log after rillproc_cleanup() (their paths go to stderr). */
#ifndef TESTS_SUPPORT_RILLPROC_H
#define TESTS_SUPPORT_RILLPROC_H

#include <stddef.h>
#include <sys/types.h>

#define RILLPROC_TIMEOUT_MS 20000

enum rillproc_flags {
    RILLPROC_NO_LISTEN = 1 << 0, /* leave --listen out (to test RILL_LISTEN, a file) */
};

struct rillproc {
    pid_t pid;          /* the running server, 0 when none */
    char dir[256];      /* temp dir from tmpdir_make() */
    char data[512];     /* the data dir: 'dir', or a path below it */
    char log_path[300]; /* DIR.log: the server's stdout and stderr */
    char addr[128];     /* contents of DATA/rill.addr, e.g. "127.0.0.1:41234" */
    char url[160];      /* "http://" + addr; "https://" when the extra args have
                           --tls-cert (not when only the environment or a file does) */
    char **args;        /* extra args (owned copy), reused by rillproc_restart() */
    unsigned flags;     /* enum rillproc_flags */
    int status;         /* exit status once it ended: see rillproc_wait() */
};

/* Makes the temp dir, starts the server on it and waits for DATA/rill.addr.
 * 'extra_args' (NULL-terminated, may be NULL) is copied. Returns 0; -ECHILD if the
 * server exited first (p->status says how; the log says why); -ETIMEDOUT if rill.addr
 * did not appear within 20 s (the server is then killed); or another -errno. On
 * failure the dir and log stay for rillproc_cleanup(), which must still be called. */
int rillproc_start(struct rillproc *p, const char *const *extra_args);
/* The admin token the server wrote to DATA/admin.token, without its newline.
 * Returns 0 or -errno. */
int rillproc_admin_token(const struct rillproc *p, char *out, size_t size);

/* As rillproc_start(), with the data dir at DIR/'data_subdir' when it is not NULL (not
 * created beforehand: the server must create it) and 'flags'. */
int rillproc_start_with(struct rillproc *p, const char *data_subdir, unsigned flags,
                        const char *const *extra_args);

/* Starts the server again on the same data dir with the same args, after a stop or a
 * kill. A stale DATA/rill.addr left by rillproc_kill9() is removed first so the wait
 * sees the new server's. Returns as rillproc_start(), or -EBUSY if it still runs. */
int rillproc_restart(struct rillproc *p);

/* Waits up to 'timeout_ms' for the server to exit. Returns its exit code (0..255), or
 * 128 + the signal that killed it, or -ETIMEDOUT (still running), -ECHILD (none). */
int rillproc_wait(struct rillproc *p, int timeout_ms);

/* SIGTERM, then up to 20 s for it to exit. Returns as rillproc_wait(); on -ETIMEDOUT
 * the server has been SIGKILLed and reaped. */
int rillproc_stop(struct rillproc *p);

/* SIGKILL and reap: a crash, leaving the data dir as it was. Returns 0 or -ECHILD. */
int rillproc_kill9(struct rillproc *p);

/* Kills the server if it still runs, removes the dir and the log, frees the args. */
void rillproc_cleanup(struct rillproc *p);

/* The server's log so far, malloc'ed and NUL-terminated ("" when none); never NULL. */
char *rillproc_read_log(const struct rillproc *p);

/* Runs $RILL_BIN 'args' (NULL-terminated, argv[1..]) to completion with no stdin, at
 * most 20 s (then SIGKILL). Stores its stdout and stderr, malloc'ed and NUL-terminated,
 * in *out and *err ('out', 'err' may be NULL to discard; on -errno before the run they
 * are set to NULL). Returns the status as rillproc_wait(), or -errno. */
int rillproc_run(const char *const *args, char **out, char **err);

#endif
