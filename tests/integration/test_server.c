/* tests/integration/test_server.c: the rill process end to end (server/main.c,
 * server/http.c, server/config.c), through the real binary ($RILL_BIN). */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tests/support/http_client.h"
#include "tests/support/rillproc.h"
#include "tests/support/tmpdir.h"

extern char **environ;

static struct rillproc p;
static char scratch[64]; /* a temp dir for files a test writes itself */

static void clear_rill_env(void)
{
    char name[128];

    for (char **e = environ; *e;) {
        if (strncmp(*e, "RILL_", 5) || !strncmp(*e, "RILL_BIN=", 9) ||
            !strncmp(*e, "RILL_TEST_KEEP=", 15)) {
            e++;
            continue;
        }
        snprintf(name, sizeof(name), "%.*s", (int)strcspn(*e, "="), *e);
        unsetenv(name);
        e = environ;
    }
}

static void setup(void)
{
    clear_rill_env();
    cr_assert(eq(int, tmpdir_make(scratch, sizeof(scratch)), 0));
}

static void teardown(void)
{
    rillproc_cleanup(&p);
    tmpdir_remove(scratch);
}

TestSuite(server, .init = setup, .fini = teardown, .timeout = 90);

/* Starts the server or fails the test with its log. */
static void start_with(const char *data_subdir, unsigned flags, const char *const *args)
{
    int ret = rillproc_start_with(&p, data_subdir, flags, args);

    if (ret) {
        char *log = rillproc_read_log(&p);

        cr_fatal("rill did not start (%d, status %d); log:\n%s", ret, p.status, log);
        free(log);
    }
}

static void start(const char *const *args) { start_with(NULL, 0, args); }

static void url_for(char *out, size_t size, const char *path)
{
    snprintf(out, size, "%s%s", p.url, path);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    char *text = calloc(1, 4096);

    cr_assert(not(eq(ptr, f, NULL)), "cannot open %s", path);
    size_t n = fread(text, 1, 4095, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

static bool exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0;
}

static size_t count_char(const char *s, char c)
{
    size_t n = 0;

    for (; *s; s++)
        n += *s == c;
    return n;
}

static unsigned port_of(const char *addr)
{
    const char *colon = strrchr(addr, ':');

    return colon ? (unsigned)strtoul(colon + 1, NULL, 10) : 0;
}

/* A port that was free a moment ago: bind port 0, read it back, close. */
static unsigned free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert(eq(int, bind(fd, (struct sockaddr *)&a, sizeof(a)), 0));
    cr_assert(eq(int, getsockname(fd, (struct sockaddr *)&a, &len), 0));
    close(fd);
    return ntohs(a.sin_port);
}

static bool have_ipv6_loopback(void)
{
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;

    if (fd >= 0)
        close(fd);
    return ok;
}

/* Polls the server's log for 'needle' (the log line may trail the event a little). */
static bool log_shows(const char *needle)
{
    struct timespec tick = {0, 10 * 1000 * 1000};

    for (int i = 0; i < RILLPROC_TIMEOUT_MS / 10; i++) {
        char *log = rillproc_read_log(&p);
        bool found = strstr(log, needle) != NULL;

        free(log);
        if (found)
            return true;
        nanosleep(&tick, NULL);
    }
    return false;
}

static void expect_health_ok(const char *base)
{
    struct http_response r;
    char url[256];

    snprintf(url, sizeof(url), "%s/healthz", base);
    cr_assert(eq(int, http_get(url, &r), 0), "%s: %s", url, r.error);
    cr_assert(eq(long, r.status, 200));
    cr_assert(eq(str, r.body, "{\"status\":\"ok\"}"));
    http_response_release(&r);
}

Test(server, healthz_answers_200_with_status_ok_json)
{
    struct http_response r;
    char url[256];

    start(NULL);
    url_for(url, sizeof(url), "/healthz");
    cr_assert(eq(int, http_get(url, &r), 0), "%s", r.error);
    cr_assert(eq(long, r.status, 200));
    cr_assert(
        eq(str, (char *)http_response_header(&r, "content-type"), "application/json"));
    cr_assert(eq(str, r.body, "{\"status\":\"ok\"}"));
    http_response_release(&r);
}

Test(server, head_healthz_answers_200_without_a_body)
{
    struct http_response r;
    char url[256];

    start(NULL);
    url_for(url, sizeof(url), "/healthz");
    cr_assert(eq(int, http_request("HEAD", url, NULL, NULL, 0, &r), 0), "%s", r.error);
    cr_assert(eq(long, r.status, 200));
    cr_assert(eq(sz, r.body_len, 0));
    cr_assert(
        eq(str, (char *)http_response_header(&r, "Content-Type"), "application/json"));
    http_response_release(&r);
}

Test(server, an_unknown_path_is_404_problem_json)
{
    struct http_response r;
    char url[256];

    start(NULL);
    url_for(url, sizeof(url), "/x");
    cr_assert(eq(int, http_get(url, &r), 0), "%s", r.error);
    cr_assert(eq(long, r.status, 404));
    cr_assert(eq(str, (char *)http_response_header(&r, "Content-Type"),
                 "application/problem+json"));
    cr_assert(eq(str, r.body,
                 "{\"type\":\"about:blank\",\"title\":\"Not Found\",\"status\":404,"
                 "\"detail\":\"no route for GET /x\",\"code\":\"not_found\"}"));
    http_response_release(&r);
}

Test(server, a_path_with_json_metacharacters_still_gives_valid_problem_json)
{
    struct http_response r;
    char url[256];

    start(NULL);
    url_for(url, sizeof(url), "/a%22b%5Cc");
    cr_assert(eq(int, http_get(url, &r), 0), "%s", r.error);
    cr_assert(eq(long, r.status, 404));
    cr_assert(
        not(eq(ptr, strstr(r.body, "\"detail\":\"no route for GET /a%22b%5Cc\""), NULL)),
        "%s", r.body);
    http_response_release(&r);
}

Test(server, post_to_healthz_is_405_with_allow)
{
    struct http_response r;
    char url[256];

    start(NULL);
    url_for(url, sizeof(url), "/healthz");
    cr_assert(eq(int, http_request("POST", url, NULL, "{}", 2, &r), 0), "%s", r.error);
    cr_assert(eq(long, r.status, 405));
    cr_assert(eq(str, (char *)http_response_header(&r, "Allow"), "GET, HEAD"));
    cr_assert(eq(str, (char *)http_response_header(&r, "Content-Type"),
                 "application/problem+json"));
    cr_assert(not(eq(ptr, strstr(r.body, "\"code\":\"method_not_allowed\""), NULL)), "%s",
              r.body);
    cr_assert(not(eq(ptr, strstr(r.body, "\"status\":405"), NULL)), "%s", r.body);
    http_response_release(&r);
}

Test(server, a_declared_body_over_max_body_bytes_is_413)
{
    const char *args[] = {"--max-body-bytes", "16", NULL};
    char body[17], url[256];
    struct http_response r;

    memset(body, 'x', sizeof(body));
    start(args);
    url_for(url, sizeof(url), "/healthz");
    cr_assert(eq(int, http_request("POST", url, NULL, body, sizeof(body), &r), 0), "%s",
              r.error);
    cr_assert(eq(long, r.status, 413));
    cr_assert(not(eq(ptr, strstr(r.body, "\"code\":\"content_too_large\""), NULL)), "%s",
              r.body);
    http_response_release(&r);
    /* at the limit it is read and the route answers */
    cr_assert(eq(int, http_request("POST", url, NULL, body, 16, &r), 0), "%s", r.error);
    cr_assert(eq(long, r.status, 405));
    http_response_release(&r);
}

Test(server, rill_addr_names_the_port_it_answers_on)
{
    char path[600], want[200];
    char *addr;

    start(NULL);
    snprintf(path, sizeof(path), "%s/rill.addr", p.data);
    addr = read_file(path);
    cr_assert(eq(str, addr, p.addr));
    cr_assert(eq(int, strncmp(addr, "127.0.0.1:", 10), 0), "%s", addr);
    cr_assert(gt(uint, port_of(addr), 0));
    expect_health_ok(p.url);
    snprintf(want, sizeof(want), "listening on http://%s ", addr);
    cr_assert(log_shows(want), "the log does not name %s", addr);
    free(addr);
}

Test(server, listen_binds_the_port_it_is_given)
{
    char listen[64], args_listen[64];
    unsigned port = free_port();
    const char *args[] = {"--listen", args_listen, NULL};

    snprintf(args_listen, sizeof(args_listen), "127.0.0.1:%u", port);
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
    start(args);
    cr_assert(eq(str, p.addr, listen));
    expect_health_ok(p.url);
}

Test(server, listens_on_ipv6_loopback)
{
    const char *args[] = {"--listen", "[::1]:0", NULL};

    if (!have_ipv6_loopback())
        cr_skip_test("no IPv6 loopback on this host");
    start(args);
    cr_assert(eq(int, strncmp(p.addr, "[::1]:", 6), 0), "%s", p.addr);
    cr_assert(gt(uint, port_of(p.addr), 0));
    expect_health_ok(p.url);
}

Test(server, a_missing_data_dir_is_created)
{
    struct stat st;

    start_with("a/b/c", 0, NULL);
    cr_assert(eq(int, stat(p.data, &st), 0));
    cr_assert(eq(int, st.st_mode &S_IFMT, S_IFDIR));
    cr_assert(eq(int, st.st_mode & 0777, 0755));
    expect_health_ok(p.url);
}

Test(server, a_second_server_on_the_same_data_dir_exits_2)
{
    const char *args[] = {"serve", "--listen", "127.0.0.1:0", "--data", p.data, NULL};
    char *out, *err;

    start(NULL);
    args[4] = p.data;
    cr_assert(eq(int, rillproc_run(args, &out, &err), 2), "stderr: %s", err);
    cr_assert(eq(sz, count_char(err, '\n'), 1), "not one line: %s", err);
    cr_assert(not(eq(ptr, strstr(err, "in use"), NULL)), "%s", err);
    cr_assert(not(eq(ptr, strstr(err, p.data), NULL)), "%s", err);
    free(out);
    free(err);
    expect_health_ok(p.url); /* the first one is unharmed */
}

Test(server, the_lock_is_released_at_exit)
{
    start(NULL);
    cr_assert(eq(int, rillproc_stop(&p), 0));
    cr_assert(eq(int, rillproc_restart(&p), 0));
    expect_health_ok(p.url);
}

Test(server, a_data_dir_that_is_a_file_exits_2)
{
    char file[128], *err;
    const char *args[] = {"serve", "--listen", "127.0.0.1:0", "--data", file, NULL};
    FILE *f;

    snprintf(file, sizeof(file), "%s/plain-file", scratch);
    f = fopen(file, "w");
    cr_assert(not(eq(ptr, f, NULL)));
    fclose(f);
    cr_assert(eq(int, rillproc_run(args, NULL, &err), 2), "stderr: %s", err);
    cr_assert(eq(sz, count_char(err, '\n'), 1), "not one line: %s", err);
    cr_assert(not(eq(ptr, strstr(err, file), NULL)), "%s", err);
    free(err);
}

struct bad_args {
    const char *args[8];
    const char *mentions;
};

Test(server, bad_flags_exit_2_with_one_line_on_stderr)
{
    char data[128];
    struct bad_args cases[] = {
        {{"serve", "--bogus", NULL}, "--bogus"},
        {{"serve", "--data", data, "--threads", "0", NULL}, "--threads"},
        {{"serve", "--data", data, "--listen", NULL}, "--listen"},
        {{"serve", "--data", data, "--auth", "maybe", NULL}, "maybe"},
        {{"serve", "--data", data, "--listen", "nohost", NULL}, "nohost"},
        {{"serve", "--data", data, "stray", NULL}, "stray"},
        {{"frobnicate", NULL}, "frobnicate"},
        {{NULL}, "command"},
    };

    snprintf(data, sizeof(data), "%s/never-created", scratch);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *out, *err;
        int ret = rillproc_run(cases[i].args, &out, &err);

        cr_assert(eq(int, ret, 2), "case %zu: exit %d, stderr: %s", i, ret, err);
        cr_assert(eq(str, out, ""), "case %zu: stdout: %s", i, out);
        cr_assert(eq(sz, count_char(err, '\n'), 1), "case %zu: not one line: %s", i, err);
        cr_assert(eq(int, strncmp(err, "rill: ", 6), 0), "case %zu: %s", i, err);
        cr_assert(not(eq(ptr, strstr(err, cases[i].mentions), NULL)), "case %zu: %s", i,
                  err);
        free(out);
        free(err);
    }
    cr_assert(not(exists(data)), "a rejected command created the data dir");
}

Test(server, version_prints_the_version)
{
    const char *args[] = {"version", NULL};
    char *out, *err;
    unsigned major, minor, patch;
    char nl;

    cr_assert(eq(int, rillproc_run(args, &out, &err), 0), "%s", err);
    cr_assert(eq(int, sscanf(out, "rill %u.%u.%u%c", &major, &minor, &patch, &nl), 4),
              "%s", out);
    cr_assert(eq(chr, nl, '\n'));
    cr_assert(eq(sz, count_char(out, '\n'), 1), "%s", out);
    cr_assert(eq(str, err, ""));
    free(out);
    free(err);
}

Test(server, help_prints_usage_and_exits_0)
{
    const char *args[] = {"help", NULL};
    const char *serve_help[] = {"serve", "--help", NULL};
    char *out, *err;

    cr_assert(eq(int, rillproc_run(args, &out, &err), 0), "%s", err);
    cr_assert(not(eq(ptr, strstr(out, "usage: rill serve"), NULL)), "%s", out);
    cr_assert(not(eq(ptr, strstr(out, "--max-connections-per-ip"), NULL)), "%s", out);
    free(out);
    free(err);
    cr_assert(eq(int, rillproc_run(serve_help, &out, &err), 0), "%s", err);
    cr_assert(not(eq(ptr, strstr(out, "--listen"), NULL)), "%s", out);
    free(out);
    free(err);
}

Test(server, sigterm_exits_0_and_removes_rill_addr)
{
    char path[600], url[256];
    struct http_response r;

    start(NULL);
    snprintf(path, sizeof(path), "%s/rill.addr", p.data);
    cr_assert(exists(path));
    url_for(url, sizeof(url), "/healthz");
    cr_assert(eq(int, rillproc_stop(&p), 0));
    cr_assert(not(exists(path)), "rill.addr is still there");
    cr_assert(eq(int, http_get(url, &r), -ECONNREFUSED), "still answering: %ld",
              r.status);
    http_response_release(&r);
    cr_assert(log_shows("received SIGTERM"));
}

/* A raw connection to the server, for requests sent in pieces. */
static int connect_raw(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port_of(p.addr))};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert(eq(int, connect(fd, (struct sockaddr *)&a, sizeof(a)), 0), "%s",
              strerror(errno));
    return fd;
}

static void send_all(int fd, const char *s)
{
    size_t len = strlen(s);

    cr_assert(eq(long, (long)send(fd, s, len, MSG_NOSIGNAL), (long)len));
}

/* Reads until the peer closes (at most 20 s); returns what came, malloc'ed. */
static char *read_until_close(int fd)
{
    size_t len = 0, cap = 65536;
    char *buf = calloc(1, cap);
    struct pollfd pfd = {.fd = fd, .events = POLLIN};

    for (;;) {
        ssize_t n;

        cr_assert(eq(int, poll(&pfd, 1, RILLPROC_TIMEOUT_MS), 1), "no response");
        n = recv(fd, buf + len, cap - len - 1, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
        cr_assert(lt(sz, len, cap - 1));
    }
    buf[len] = '\0';
    return buf;
}

Test(server, sigterm_lets_a_request_in_flight_finish)
{
    const char *args[] = {"--log-level", "debug", NULL};
    char *resp;
    int fd;

    start(args);
    fd = connect_raw();
    send_all(fd, "POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nab");
    cr_assert(log_shows("\"POST /healthz\" begins"));
    cr_assert(eq(int, kill(p.pid, SIGTERM), 0));
    cr_assert(log_shows("received SIGTERM"));
    send_all(fd, "cde"); /* the rest of the body, after the signal */
    resp = read_until_close(fd);
    close(fd);
    cr_assert(eq(int, strncmp(resp, "HTTP/1.1 405 ", 13), 0), "%s", resp);
    cr_assert(not(eq(ptr, strcasestr(resp, "\r\nConnection: close\r\n"), NULL)), "%s",
              resp);
    free(resp);
    cr_assert(eq(int, rillproc_wait(&p, RILLPROC_TIMEOUT_MS), 0));
}

Test(server, sigint_exits_0)
{
    start(NULL);
    cr_assert(eq(int, kill(p.pid, SIGINT), 0));
    cr_assert(eq(int, rillproc_wait(&p, RILLPROC_TIMEOUT_MS), 0));
    cr_assert(log_shows("received SIGINT"));
}

Test(server, restart_after_kill9_serves_again)
{
    start(NULL);
    cr_assert(eq(int, rillproc_kill9(&p), 0));
    cr_assert(eq(int, p.status, 128 + SIGKILL));
    cr_assert(eq(int, rillproc_restart(&p), 0));
    expect_health_ok(p.url);
}

Test(server, rill_listen_in_the_environment_is_honoured)
{
    char listen[64];
    unsigned port = free_port();

    snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
    setenv("RILL_LISTEN", listen, 1);
    start_with(NULL, RILLPROC_NO_LISTEN, NULL);
    cr_assert(eq(str, p.addr, listen));
    expect_health_ok(p.url);
}

Test(server, a_flag_overrides_the_environment)
{
    const char *args[] = {"--log-level", "error", NULL};
    char *log;

    setenv("RILL_LOG_LEVEL", "debug", 1);
    setenv("RILL_LISTEN", "127.0.0.1:1", 1); /* overridden by --listen 127.0.0.1:0 */
    start(args);
    cr_assert(ne(uint, port_of(p.addr), 1));
    expect_health_ok(p.url);
    cr_assert(eq(int, rillproc_stop(&p), 0));
    log = rillproc_read_log(&p);
    cr_assert(eq(ptr, strstr(log, " debug "), NULL), "debug lines at error level:\n%s",
              log);
    cr_assert(eq(ptr, strstr(log, " info "), NULL), "info lines at error level:\n%s",
              log);
    free(log);
}

Test(server, a_config_file_is_honoured)
{
    char conf[128];
    const char *args[] = {"--config", conf, NULL};
    FILE *f;

    snprintf(conf, sizeof(conf), "%s/rill.conf", scratch);
    f = fopen(conf, "w");
    cr_assert(not(eq(ptr, f, NULL)));
    fputs("# test config\n\nlog-level = debug\nthreads = 1\n", f);
    fclose(f);
    start(args);
    expect_health_ok(p.url);
    cr_assert(log_shows(" debug config: "), "no debug line with log-level = debug");
    cr_assert(log_shows("threads 1 "));
}

Test(server, the_environment_overrides_the_config_file)
{
    char conf[128], *log;
    const char *args[] = {"--config", conf, NULL};
    FILE *f;

    snprintf(conf, sizeof(conf), "%s/rill.conf", scratch);
    f = fopen(conf, "w");
    cr_assert(not(eq(ptr, f, NULL)));
    fputs("log-level = debug\n", f);
    fclose(f);
    setenv("RILL_LOG_LEVEL", "warn", 1);
    start(args);
    cr_assert(eq(int, rillproc_stop(&p), 0));
    log = rillproc_read_log(&p);
    cr_assert(eq(ptr, strstr(log, " debug "), NULL), "%s", log);
    free(log);
}

Test(server, a_bad_config_file_exits_2_naming_file_and_line)
{
    char conf[128], want[200], *err;
    const char *args[] = {"serve", "--config", conf, NULL};
    FILE *f;

    snprintf(conf, sizeof(conf), "%s/rill.conf", scratch);
    f = fopen(conf, "w");
    cr_assert(not(eq(ptr, f, NULL)));
    fputs("threads = 2\nlisten = 127.0.0.1:0\nlog-level = loud\n", f);
    fclose(f);
    cr_assert(eq(int, rillproc_run(args, NULL, &err), 2), "%s", err);
    snprintf(want, sizeof(want), "%s:3: log-level:", conf);
    cr_assert(not(eq(ptr, strstr(err, want), NULL)), "%s", err);
    cr_assert(eq(sz, count_char(err, '\n'), 1), "%s", err);
    free(err);
}

Test(server, the_access_log_never_shows_an_access_token)
{
    struct http_response r;
    char url[256], *log;

    start(NULL);
    url_for(url, sizeof(url), "/healthz?access_token=secret123&x=1");
    cr_assert(eq(int, http_get(url, &r), 0), "%s", r.error);
    cr_assert(eq(long, r.status, 200));
    http_response_release(&r);
    url_for(url, sizeof(url), "/nope?a=1&ACCESS_TOKEN=secret123");
    cr_assert(eq(int, http_get(url, &r), 0), "%s", r.error);
    cr_assert(eq(long, r.status, 404));
    cr_assert(eq(ptr, strstr(r.body, "secret123"), NULL), "%s", r.body);
    http_response_release(&r);
    url_for(url, sizeof(url), "/nope?access%5Ftoken=secret123");
    cr_assert(eq(int, http_get(url, &r), 0), "%s", r.error);
    http_response_release(&r);
    cr_assert(eq(int, rillproc_stop(&p), 0)); /* every access line is written by now */

    log = rillproc_read_log(&p);
    cr_assert(not(eq(ptr, strstr(log, "\"GET /healthz?access_token=REDACTED&x=1\" 200 "),
                     NULL)),
              "%s", log);
    cr_assert(
        not(eq(ptr, strstr(log, "\"GET /nope?a=1&ACCESS_TOKEN=REDACTED\" 404 "), NULL)),
        "%s", log);
    cr_assert(eq(ptr, strstr(log, "secret123"), NULL), "token in the log:\n%s", log);
    free(log);
}
