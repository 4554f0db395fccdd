/* rillproc.c: the real rill binary as a child process, for integration tests. Only libc
 * and tests/support/tmpdir.h (and the header-only common/clock.h). */
#include "tests/support/rillproc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "tests/support/tmpdir.h"

#define POLL_NS (10 * 1000 * 1000)

static const char *rill_bin(void)
{
    const char *bin = getenv("RILL_BIN");

    return bin && *bin ? bin : "./rill";
}

static void tick(void)
{
    const struct timespec ts = {0, POLL_NS};

    nanosleep(&ts, NULL);
}

static int decode_status(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return -ECHILD;
}

/* Reads a whole file; returns a malloc'ed NUL-terminated string or NULL (errno set). */
static char *read_text(const char *path)
{
    FILE *f = fopen(path, "re");
    char *data = NULL;
    size_t len = 0, cap = 0, n;

    if (!f)
        return NULL;
    do {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 8192;
            data = realloc(data, cap);
            if (!data)
                abort();
        }
        n = fread(data + len, 1, cap - len - 1, f);
        len += n;
    } while (n > 0);
    data[len] = '\0';
    fclose(f);
    return data;
}

/* In the child, between fork and exec: only async-signal-safe calls. */
static void exec_child(const char *bin, char *const *argv, int out_fd, int err_fd)
{
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigset_t none;
    int null_fd = open("/dev/null", O_RDONLY);

    if (null_fd >= 0)
        dup2(null_fd, STDIN_FILENO);
    dup2(out_fd, STDOUT_FILENO);
    dup2(err_fd, STDERR_FILENO);
    close_range(3, ~0U, 0);
    /* the server sets up its own signals; give it a clean slate, whatever the test
     * runner blocked or ignored */
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    sigaction(SIGTERM, &dfl, NULL);
    sigaction(SIGINT, &dfl, NULL);
    sigaction(SIGPIPE, &dfl, NULL);
    execv(bin, argv);
    dprintf(STDERR_FILENO, "rillproc: cannot exec '%s': %s\n", bin, strerror(errno));
    _exit(127);
}

/* argv = { bin, head..., tail..., NULL }; the strings are borrowed. */
static char **build_argv(const char *const *head, char *const *tail)
{
    size_t n = 1, i = 0;
    char **argv;

    for (const char *const *a = head; a && *a; a++)
        n++;
    for (char *const *a = tail; a && *a; a++)
        n++;
    argv = calloc(n + 1, sizeof(*argv));
    if (!argv)
        abort();
    argv[i++] = (char *)rill_bin();
    for (const char *const *a = head; a && *a; a++)
        argv[i++] = (char *)*a;
    for (char *const *a = tail; a && *a; a++)
        argv[i++] = *a;
    return argv;
}

static int spawn(struct rillproc *p)
{
    const char *with_listen[] = {"serve",  "--listen", "127.0.0.1:0",
                                 "--data", p->data,    NULL};
    const char *without[] = {"serve", "--data", p->data, NULL};
    char **argv =
        build_argv(p->flags & RILLPROC_NO_LISTEN ? without : with_listen, p->args);
    int log_fd = open(p->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    pid_t pid;
    int ret = 0;

    if (log_fd < 0) {
        ret = -errno;
        goto out_free;
    }
    pid = fork();
    if (pid < 0) {
        ret = -errno;
        goto out_close;
    }
    if (pid == 0)
        exec_child(argv[0], argv, log_fd, log_fd);
    p->pid = pid;
    p->status = -1;
out_close:
    close(log_fd);
out_free:
    free(argv);
    return ret;
}

/* Whether the extra args turn TLS on (--tls-cert F or --tls-cert=F). */
static bool uses_tls(const struct rillproc *p)
{
    for (char **a = p->args; a && *a; a++) {
        if (!strcmp(*a, "--tls-cert") || !strncmp(*a, "--tls-cert=", 11))
            return true;
    }
    return false;
}

/* Polls for DATA/rill.addr while the server lives. */
static int wait_ready(struct rillproc *p)
{
    long long deadline = clock_mono_ms() + RILLPROC_TIMEOUT_MS;
    char path[600];
    int st;

    snprintf(path, sizeof(path), "%s/rill.addr", p->data);
    for (;;) {
        char *text;

        if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
            p->pid = 0;
            p->status = decode_status(st);
            return -ECHILD;
        }
        text = read_text(path);
        if (text) {
            size_t n = strcspn(text, "\r\n");

            text[n] = '\0';
            if (n > 0 && n < sizeof(p->addr)) {
                memcpy(p->addr, text, n + 1);
                snprintf(p->url, sizeof(p->url), "%s://%s",
                         uses_tls(p) ? "https" : "http", p->addr);
                free(text);
                return 0;
            }
            free(text);
        }
        if (clock_mono_ms() >= deadline) {
            rillproc_kill9(p);
            return -ETIMEDOUT;
        }
        tick();
    }
}

static void copy_args(struct rillproc *p, const char *const *extra)
{
    size_t n = 0;

    while (extra && extra[n])
        n++;
    p->args = calloc(n + 1, sizeof(*p->args));
    if (!p->args)
        abort();
    for (size_t i = 0; i < n; i++) {
        p->args[i] = strdup(extra[i]);
        if (!p->args[i])
            abort();
    }
}

int rillproc_start_with(struct rillproc *p, const char *data_subdir, unsigned flags,
                        const char *const *extra_args)
{
    int ret;

    memset(p, 0, sizeof(*p));
    p->status = -1;
    p->flags = flags;
    copy_args(p, extra_args);
    ret = tmpdir_make(p->dir, sizeof(p->dir));
    if (ret)
        return ret;
    if (data_subdir)
        snprintf(p->data, sizeof(p->data), "%s/%s", p->dir, data_subdir);
    else
        snprintf(p->data, sizeof(p->data), "%s", p->dir);
    snprintf(p->log_path, sizeof(p->log_path), "%s.log", p->dir);
    ret = spawn(p);
    return ret ? ret : wait_ready(p);
}

int rillproc_start(struct rillproc *p, const char *const *extra_args)
{
    return rillproc_start_with(p, NULL, 0, extra_args);
}

int rillproc_restart(struct rillproc *p)
{
    char path[600];
    int ret;

    if (p->pid)
        return -EBUSY;
    snprintf(path, sizeof(path), "%s/rill.addr", p->data);
    if (unlink(path) && errno != ENOENT)
        return -errno;
    p->addr[0] = p->url[0] = '\0';
    ret = spawn(p);
    return ret ? ret : wait_ready(p);
}

int rillproc_wait(struct rillproc *p, int timeout_ms)
{
    long long deadline = clock_mono_ms() + timeout_ms;
    int st;

    if (!p->pid)
        return p->status >= 0 ? p->status : -ECHILD;
    for (;;) {
        pid_t r = waitpid(p->pid, &st, WNOHANG);

        if (r == p->pid) {
            p->pid = 0;
            p->status = decode_status(st);
            return p->status;
        }
        if (r < 0)
            return -errno;
        if (clock_mono_ms() >= deadline)
            return -ETIMEDOUT;
        tick();
    }
}

int rillproc_stop(struct rillproc *p)
{
    int ret;

    if (!p->pid)
        return p->status >= 0 ? p->status : -ECHILD;
    if (kill(p->pid, SIGTERM))
        return -errno;
    ret = rillproc_wait(p, RILLPROC_TIMEOUT_MS);
    if (ret == -ETIMEDOUT)
        rillproc_kill9(p);
    return ret;
}

int rillproc_kill9(struct rillproc *p)
{
    int st;

    if (!p->pid)
        return -ECHILD;
    kill(p->pid, SIGKILL);
    while (waitpid(p->pid, &st, 0) < 0 && errno == EINTR)
        ;
    p->pid = 0;
    p->status = decode_status(st);
    return 0;
}

void rillproc_cleanup(struct rillproc *p)
{
    const char *keep = getenv("RILL_TEST_KEEP");

    if (p->pid)
        rillproc_kill9(p);
    if (keep && *keep && strcmp(keep, "0")) {
        fprintf(stderr, "rillproc: kept %s and %s\n", p->dir, p->log_path);
    } else if (p->dir[0]) {
        tmpdir_remove(p->dir);
        unlink(p->log_path);
    }
    for (char **a = p->args; a && *a; a++)
        free(*a);
    free(p->args);
    p->args = NULL;
}

char *rillproc_read_log(const struct rillproc *p)
{
    char *text = read_text(p->log_path);

    return text ? text : strdup("");
}

/* A file in $TMPDIR for a child's output; returns its fd (path in 'path') or -errno. */
static int temp_output(char *path, size_t size)
{
    const char *base = getenv("TMPDIR");
    int fd;

    snprintf(path, size, "%s/rill-out-XXXXXX", base && *base ? base : "/tmp");
    fd = mkostemp(path, O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int rillproc_run(const char *const *args, char **out, char **err)
{
    struct rillproc p = {.status = -1};
    char out_path[300], err_path[300];
    char **argv = build_argv(args, NULL);
    int out_fd, err_fd, ret;

    if (out)
        *out = NULL;
    if (err)
        *err = NULL;
    out_fd = temp_output(out_path, sizeof(out_path));
    if (out_fd < 0) {
        ret = out_fd;
        goto out_free;
    }
    err_fd = temp_output(err_path, sizeof(err_path));
    if (err_fd < 0) {
        ret = err_fd;
        goto out_unlink_out;
    }
    p.pid = fork();
    if (p.pid < 0) {
        ret = -errno;
        goto out_unlink_err;
    }
    if (p.pid == 0)
        exec_child(argv[0], argv, out_fd, err_fd);
    ret = rillproc_wait(&p, RILLPROC_TIMEOUT_MS);
    if (ret == -ETIMEDOUT)
        rillproc_kill9(&p);
    if (out && !(*out = read_text(out_path)))
        *out = strdup("");
    if (err && !(*err = read_text(err_path)))
        *err = strdup("");
out_unlink_err:
    close(err_fd);
    unlink(err_path);
out_unlink_out:
    close(out_fd);
    unlink(out_path);
out_free:
    free(argv);
    return ret;
}

int rillproc_admin_token(const struct rillproc *p, char *out, size_t size)
{
    char path[600];
    FILE *f;
    int ret = 0;

    snprintf(path, sizeof(path), "%s/admin.token", p->data);
    f = fopen(path, "r");
    if (!f)
        return -errno;
    if (!fgets(out, (int)size, f))
        ret = -EIO;
    fclose(f);
    out[ret ? 0 : strcspn(out, "\r\n")] = '\0';
    return ret;
}
