/* main.c: the rill process: subcommands, the data directory and its lock, signals,
 * start-up order and graceful shutdown.
 *
 * Start-up: config -> data dir (mkdir -p, writable) -> DATA/.lock (flock) -> block
 * SIGTERM/SIGINT -> storage_start() -> http_start() -> DATA/rill.addr (atomic, last:
 * when it exists, the server is ready). Shutdown on the first SIGTERM/SIGINT, taken
 * synchronously with sigwait() in this thread: stop accepting -> remove rill.addr ->
 * let requests in flight finish (at most --request-timeout-s; a second signal cuts it
 * short) -> http_stop() -> storage_stop() -> exit 0.
 *
 * Exit status: 0 after a signal; 2 for bad flags, an unusable or locked data dir or
 * storage that will not open (one line on stderr); 1 when the HTTP server cannot
 * start (address in use, ...) or rill.addr cannot be written. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/buf.h"
#include "common/log.h"
#include "api/api.h"
#include "server/config.h"
#include "server/http.h"
#include "server/tls.h"
#include "storage/io.h"
#include "storage/store.h"

#ifndef RILL_VERSION
#define RILL_VERSION "0.1.0"
#endif

#define EXIT_USAGE 2
#define ADDR_FILE "rill.addr"
#define LOCK_FILE ".lock"

static const char usage[] =
    "usage: rill serve [flags]     run the server\n"
    "       rill version           print the version\n"
    "       rill help              print this help\n"
    "\n"
    "serve flags (each also RILL_<FLAG> in the environment, e.g. RILL_LISTEN, and a\n"
    "key in the --config file; flags > environment > config file > defaults):\n"
    "  --data DIR                      data directory (./data)\n"
    "  --listen HOST:PORT              address to listen on (127.0.0.1:8080);\n"
    "                                  port 0 picks one, IPv6 as [::1]:8080\n"
    "  --config FILE                   config file of 'key = value' lines\n"
    "  --threads N                     HTTP threads (online CPUs)\n"
    "  --tls-cert FILE --tls-key FILE  serve HTTPS with these PEM files\n"
    "  --backend log|kafka             storage backend (log)\n"
    "  --kafka-brokers LIST            Kafka bootstrap servers, for --backend kafka\n"
    "  --auth on|off                   require bearer tokens (on)\n"
    "  --cors-origin ORIGIN            allow this browser origin (none)\n"
    "  --log-level LEVEL               debug, info, warn or error (info)\n"
    "  --retention-check-ms MS         retention and compaction period (30000)\n"
    "  --max-body-bytes N              largest request body (8388608)\n"
    "  --max-connections N             open connections at most (1024)\n"
    "  --max-connections-per-ip N      open connections per client IP (256)\n"
    "  --request-timeout-s S           idle connection timeout (30)\n"
    "  --max-records N                 records in one produce request (10000)\n"
    "  --heartbeat-ms MS               comment on an idle event stream (15000)\n"
    "  --stream-buffer-bytes N         how far a live event stream may fall behind\n"
    "                                  the newest record before it is cut (4194304)\n"
    "  --offsets-segment-bytes N       segment size of __consumer_offsets, when it is\n"
    "                                  made (16777216)\n";

/* The storage engine: storage_start() opens it (recovery included) before the HTTP
 * server listens; storage_stop() flushes, writes checkpoints and closes it after the
 * HTTP server has stopped, so no handler can still reach it. */
static struct store *engine;

static int storage_start(const struct server_config *c)
{
    int ret;

    if (c->backend != CONFIG_BACKEND_LOG) {
        log_error("backend 'kafka' is not available in this build yet");
        return -ENOTSUP;
    }
    ret = store_open(&engine, c->data_dir);
    if (ret)
        log_error("cannot open the log in '%s': %s", c->data_dir, strerror(-ret));
    else
        store_set_retention_check_ms(engine, c->retention_check_ms);
    return ret;
}

static void storage_stop(void)
{
    store_close(engine);
    engine = NULL;
}

/* The longest long poll (wait_ms), as API.md promises. */
#define MAX_WAIT_MS 30000

static int api_start(struct api **out, const struct server_config *c)
{
    struct api_config ac = {
        .auth = c->auth,
        .data_dir = c->data_dir,
        .max_body_bytes = c->max_body_bytes,
        .max_records = c->max_records,
        .max_wait_ms = MAX_WAIT_MS,
        .heartbeat_ms = c->heartbeat_ms,
        .stream_buffer_bytes = c->stream_buffer_bytes,
        .offsets_segment_bytes = c->offsets_segment_bytes,
        .cors_origin = c->cors_origin,
    };
    return api_new(out, engine, &ac); /* it logs why it fails */
}

/* mkdir -p, each new level fsynced into its parent; then it must be a directory we
 * may write. Returns 0 or -errno, with 'what' naming the failed step. */
static int prepare_data_dir(const char *dir, const char **what)
{
    struct buf path = BUF_INIT;
    struct stat st;
    int ret = 0;

    buf_addstr(&path, dir);
    *what = "cannot create data dir";
    for (size_t i = 1; i <= path.len && !ret; i++) {
        if (path.data[i] != '/' && path.data[i] != '\0')
            continue;
        if (path.data[i - 1] == '/')
            continue; /* "a//b" or a trailing slash */
        path.data[i] = '\0';
        ret = io_mkdir_synced(path.data);
        path.data[i] = i < path.len ? '/' : '\0';
    }
    buf_release(&path);
    if (ret)
        return ret;
    if (stat(dir, &st))
        return -errno;
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    *what = "data dir is not writable";
    if (access(dir, W_OK | X_OK))
        return -errno;
    return 0;
}

/* Takes DATA/.lock (flock, exclusive, non-blocking) and records our pid in it. The
 * lock lives as long as the returned fd: closing it, or dying, releases it.
 * Returns the fd, or -errno (-EWOULDBLOCK: another process holds it). */
static int lock_data_dir(const char *dir, long *holder)
{
    struct buf path = BUF_INIT;
    char pid[32];
    ssize_t n;
    int fd, ret;

    buf_printf(&path, "%s/%s", dir, LOCK_FILE);
    fd = open(path.data, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    buf_release(&path);
    if (fd < 0)
        return -errno;
    if (flock(fd, LOCK_EX | LOCK_NB)) {
        ret = -errno;
        n = pread(fd, pid, sizeof(pid) - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        *holder = strtol(pid, NULL, 10);
        close(fd);
        return ret;
    }
    n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) || pwrite(fd, pid, (size_t)n, 0) != n)
        log_warn("cannot record pid in '%s/%s': %s", dir, LOCK_FILE, strerror(errno));
    return fd;
}

/* Removes DATA/rill.addr (gone already is fine). */
static void remove_addr_file(const char *dir)
{
    struct buf path = BUF_INIT;
    int ret;

    buf_printf(&path, "%s/%s", dir, ADDR_FILE);
    ret = io_unlink(path.data);
    if (ret)
        log_warn("cannot remove '%s': %s", path.data, strerror(-ret));
    buf_release(&path);
}

/* TLS files that cannot be read, or that libmicrohttpd could not use (not PEM, a key
 * that is not the certificate's), are bad flags (exit 2), found before anything
 * starts; http.c reads them again for the daemon. Returns 0 or -errno, having said why
 * on stderr. */
static int check_tls_files(const struct server_config *c)
{
    char err[1024];
    int ret;

    if (!c->tls_cert) /* config.c saw to it that both or neither are set */
        return 0;
    ret = tls_check_files(c->tls_cert, c->tls_key, err, sizeof(err));
    if (ret)
        fprintf(stderr, "rill: %s\n", err);
    return ret;
}

static void log_config(const struct server_config *c)
{
    log_debug("config: data '%s' listen '%s' file '%s' threads %u backend %s auth %s "
              "tls %s cors-origin '%s' retention-check-ms %u max-body-bytes %zu "
              "max-connections %u max-connections-per-ip %u request-timeout-s %u",
              c->data_dir, c->listen, c->config_file ? c->config_file : "", c->threads,
              c->backend == CONFIG_BACKEND_KAFKA ? "kafka" : "log",
              c->auth ? "on" : "off", c->tls_cert ? "on" : "off",
              c->cors_origin ? c->cors_origin : "", c->retention_check_ms,
              c->max_body_bytes, c->max_connections, c->max_connections_per_ip,
              c->request_timeout_s);
}

/* After quiescing: waits for requests in flight, at most the request timeout, or
 * until a second signal says not to wait. */
static void drain(struct http_server *http, const struct server_config *c,
                  const sigset_t *signals)
{
    const struct timespec tick = {0, 10 * 1000 * 1000};
    int64_t deadline = clock_mono_ms() + (int64_t)c->request_timeout_s * 1000;
    unsigned left;

    while ((left = http_in_flight(http)) > 0) {
        if (clock_mono_ms() >= deadline) {
            log_warn("%u requests still running after %us, closing them", left,
                     c->request_timeout_s);
            return;
        }
        if (sigtimedwait(signals, NULL, &tick) > 0) {
            log_warn("second signal, closing %u requests still running", left);
            return;
        }
    }
}

/* Runs until SIGTERM/SIGINT once the server is up. Returns the exit status. */
static int serve_until_signal(const struct server_config *c, const sigset_t *signals)
{
    struct http_server *http;
    struct api *api;
    char addr[128];
    int sig, ret;

    ret = storage_start(c);
    if (ret) { /* an unusable data dir, as far as the user can tell */
        log_error("cannot open storage in '%s': %s", c->data_dir, strerror(-ret));
        return EXIT_USAGE;
    }
    if (api_start(&api, c)) { /* the token store or an internal topic: the data dir */
        storage_stop();
        return EXIT_USAGE;
    }
    if (http_start(&http, c, api)) /* it logged why */
        goto out_api;
    ret = http_bound_address(http, addr, sizeof(addr));
    if (!ret)
        ret = io_replace_file(c->data_dir, ADDR_FILE, addr, strlen(addr), 0644);
    if (ret) {
        log_error("cannot write '%s/%s': %s", c->data_dir, ADDR_FILE, strerror(-ret));
        goto out_http;
    }
    log_info("rill %s listening on %s://%s (data '%s', %u threads)", RILL_VERSION,
             c->tls_cert ? "https" : "http", addr, c->data_dir, c->threads);

    while (sigwait(signals, &sig))
        ;
    http_quiesce(http);
    log_info("received %s, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    remove_addr_file(c->data_dir);
    api_shutdown(api); /* long polls answer now */
    drain(http, c, signals);
    http_stop(http);
    api_free(api);
    storage_stop();
    log_info("stopped");
    return 0;

out_http:
    http_stop(http);
out_api:
    api_free(api);
    storage_stop();
    return 1;
}

/* Every connection is a file descriptor, and an event stream holds one for as long as
 * its client listens: take the hard limit on open files as the soft one (as nginx and
 * Redis do), and say so when it is below what --max-connections asks for. */
static void raise_open_files_limit(const struct server_config *c)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)c->max_connections + c->max_connections / 8 + 256;

    if (getrlimit(RLIMIT_NOFILE, &rl))
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want)
        log_warn("the open files limit (%llu) is below what --max-connections %u needs "
                 "(%llu); raise it (ulimit -n) or lower --max-connections",
                 (unsigned long long)rl.rlim_cur, c->max_connections,
                 (unsigned long long)want);
}

static int serve(int argc, char **argv)
{
    struct server_config c;
    sigset_t signals;
    const char *what;
    char err[512];
    long holder = 0;
    int lock_fd, ret;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 0;
        }
    }
    if (config_parse(&c, argc, argv, err, sizeof(err))) {
        fprintf(stderr, "rill: %s\n", err);
        return EXIT_USAGE;
    }
    log_set_level(c.log_level);
    log_config(&c);
    raise_open_files_limit(&c);
    if (check_tls_files(&c))
        goto out_config;

    ret = prepare_data_dir(c.data_dir, &what);
    if (ret) {
        fprintf(stderr, "rill: %s '%s': %s\n", what, c.data_dir, strerror(-ret));
        goto out_config;
    }
    lock_fd = lock_data_dir(c.data_dir, &holder);
    if (lock_fd == -EWOULDBLOCK) {
        fprintf(stderr,
                "rill: data dir '%s' is in use by another rill (pid %ld holds %s)\n",
                c.data_dir, holder, LOCK_FILE);
        goto out_config;
    }
    if (lock_fd < 0) {
        fprintf(stderr, "rill: cannot lock data dir '%s': %s\n", c.data_dir,
                strerror(-lock_fd));
        goto out_config;
    }
    /* a rill.addr left by a crash must not announce a server that is not up yet */
    remove_addr_file(c.data_dir);

    /* Before any thread exists, so every thread inherits the mask and the signals
     * reach only sigwait() below. SIGPIPE: a peer that went away is an EPIPE. */
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    ret = serve_until_signal(&c, &signals);
    close(lock_fd);
    config_release(&c);
    return ret;

out_config:
    config_release(&c);
    return EXIT_USAGE;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : NULL;

    if (!cmd) {
        fprintf(stderr, "rill: no command given (try 'rill help')\n");
        return EXIT_USAGE;
    }
    if (!strcmp(cmd, "serve"))
        return serve(argc - 1, argv + 1);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        if (argc > 2) {
            fprintf(stderr, "rill: '%s' takes no arguments\n", cmd);
            return EXIT_USAGE;
        }
        printf("rill %s\n", RILL_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        fputs(usage, stdout);
        return 0;
    }
    fprintf(stderr, "rill: unknown command '%s' (try 'rill help')\n", cmd);
    return EXIT_USAGE;
}
