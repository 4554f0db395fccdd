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
    cr_assert(not(eq(ptr, strstr(r.body, "\"limit\":16"), NULL)), "%s", r.body);
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
    cr_assert(ge(uint, port_of(addr), (0) + 1));
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
    cr_assert(ge(uint, port_of(p.addr), (0) + 1));
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

/* ---- connection limits ---- */

/* Reads one response on a kept-alive connection: the header block, then
 * Content-Length bytes of body. Returns it malloc'ed. */
static char *read_response(int fd)
{
    size_t len = 0, cap = 65536;
    char *buf = calloc(1, cap);
    struct pollfd pfd = {.fd = fd, .events = POLLIN};

    for (;;) {
        char *end = strstr(buf, "\r\n\r\n");
        const char *cl = strcasestr(buf, "\r\nContent-Length:");
        ssize_t n;

        if (end && cl && cl < end &&
            len >= (size_t)(end + 4 - buf) + strtoul(cl + 17, NULL, 10))
            break;
        cr_assert(eq(int, poll(&pfd, 1, RILLPROC_TIMEOUT_MS), 1), "no response");
        n = recv(fd, buf + len, cap - len - 1, 0);
        cr_assert(ge(long, (long)n, (0) + 1), "closed after %zu bytes: %s", len, buf);
        len += (size_t)n;
        buf[len] = '\0';
        cr_assert(lt(sz, len, cap - 1));
    }
    return buf;
}

/* A connection that holds a slot: one keep-alive request answered 200, left open. */
static int hold_connection(void)
{
    int fd = connect_raw();
    char *resp;

    send_all(fd, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    resp = read_response(fd);
    cr_assert(eq(int, strncmp(resp, "HTTP/1.1 200 ", 13), 0), "%s", resp);
    cr_assert(eq(ptr, strcasestr(resp, "\r\nConnection: close\r\n"), NULL), "%s", resp);
    free(resp);
    return fd;
}

/* A new connection's first request; returns the whole answer, read until the server
 * closed the connection. */
static char *request_on_new_connection(const char *request)
{
    int fd = connect_raw();
    char *resp;

    send_all(fd, request);
    resp = read_until_close(fd);
    close(fd);
    return resp;
}

/* Checks an over-limit answer: status line, Retry-After: 1, Connection: close and a
 * problem body with 'code', the limit and the flag in the detail. */
static void expect_over_limit(const char *resp, const char *status_line, const char *code,
                              unsigned limit, const char *flag)
{
    char want[128];

    cr_assert(eq(int, strncmp(resp, status_line, strlen(status_line)), 0), "%s", resp);
    cr_assert(not(eq(ptr, strcasestr(resp, "\r\nRetry-After: 1\r\n"), NULL)), "%s", resp);
    cr_assert(not(eq(ptr, strcasestr(resp, "\r\nConnection: close\r\n"), NULL)), "%s",
              resp);
    cr_assert(not(eq(ptr, strcasestr(resp, "\r\nContent-Type: application/problem+json"),
                     NULL)),
              "%s", resp);
    snprintf(want, sizeof(want), "\"code\":\"%s\"", code);
    cr_assert(not(eq(ptr, strstr(resp, want), NULL)), "%s", resp);
    snprintf(want, sizeof(want), "\"limit\":%u}", limit);
    cr_assert(not(eq(ptr, strstr(resp, want), NULL)), "%s", resp);
    snprintf(want, sizeof(want), "%u connections open (%s); retry later", limit, flag);
    cr_assert(not(eq(ptr, strstr(resp, want), NULL)), "%s", resp);
}

/* Connections close asynchronously: polls until a new connection is served 200. */
static void expect_served_again(void)
{
    struct timespec tick = {0, 10 * 1000 * 1000};
    struct http_response r;
    char url[256];
    long status = 0;

    url_for(url, sizeof(url), "/healthz");
    for (int i = 0; i < RILLPROC_TIMEOUT_MS / 10 && status != 200; i++) {
        cr_assert(eq(int, http_get(url, &r), 0), "%s", r.error);
        status = r.status;
        if (status != 200) {
            cr_assert(eq(str, (char *)http_response_header(&r, "Retry-After"), "1"));
            nanosleep(&tick, NULL);
        }
        http_response_release(&r);
    }
    cr_assert(eq(long, status, 200), "a freed slot was never served");
}

static const char get_healthz[] = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";

Test(server, a_connection_over_the_per_ip_limit_is_429_with_retry_after)
{
    const char *args[] = {"--max-connections-per-ip", "2", NULL};
    char *resp;
    int a, b;

    start(args);
    a = hold_connection();
    b = hold_connection();
    resp = request_on_new_connection(get_healthz);
    expect_over_limit(resp, "HTTP/1.1 429 ", "too_many_connections_per_ip", 2,
                      "--max-connections-per-ip");
    cr_assert(not(eq(ptr, strstr(resp, "\"detail\":\"127.0.0.1 has 2 "), NULL)), "%s",
              resp);
    free(resp);

    /* the two held connections are unharmed and still kept alive */
    send_all(a, get_healthz);
    resp = read_response(a);
    cr_assert(eq(int, strncmp(resp, "HTTP/1.1 200 ", 13), 0), "%s", resp);
    free(resp);

    close(a); /* frees a slot: a new connection is served */
    expect_served_again();
    close(b);
    cr_assert(eq(int, rillproc_stop(&p), 0), "the server did not stop cleanly");
}

Test(server, a_connection_over_the_total_limit_is_503_with_retry_after)
{
    const char *args[] = {"--max-connections", "2", NULL};
    struct http_response r;
    char url[256], *resp;
    int a, b;

    start(args);
    a = hold_connection();
    b = hold_connection();
    resp = request_on_new_connection(get_healthz);
    expect_over_limit(resp, "HTTP/1.1 503 ", "too_many_connections", 2,
                      "--max-connections");
    cr_assert(not(eq(ptr, strstr(resp, "\"detail\":\"the server has 2 connections open "),
                     NULL)),
              "%s", resp);
    free(resp);

    /* a HEAD gets the same status and headers, no body */
    resp = request_on_new_connection("HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    cr_assert(eq(int, strncmp(resp, "HTTP/1.1 503 ", 13), 0), "%s", resp);
    cr_assert(not(eq(ptr, strcasestr(resp, "\r\nRetry-After: 1\r\n"), NULL)), "%s", resp);
    cr_assert(eq(ptr, strstr(resp, "{"), NULL), "%s", resp);
    free(resp);

    /* any path, any method, even one that needs a token: answered before the API */
    url_for(url, sizeof(url), "/topics");
    cr_assert(eq(int, http_request("POST", url, NULL, "{}", 2, &r), 0), "%s", r.error);
    cr_assert(eq(long, r.status, 503));
    cr_assert(eq(str, (char *)http_response_header(&r, "Retry-After"), "1"));
    cr_assert(not(eq(ptr, strstr(r.body, "\"code\":\"too_many_connections\""), NULL)),
              "%s", r.body);
    http_response_release(&r);

    close(b);
    expect_served_again();
    close(a);
    cr_assert(eq(int, rillproc_stop(&p), 0), "the server did not stop cleanly");
}

Test(server, an_over_limit_request_is_answered_without_waiting_for_its_body)
{
    const char *args[] = {"--max-connections-per-ip", "1", NULL};
    char *resp;
    int a, fd;

    start(args);
    a = hold_connection();
    fd = connect_raw();
    /* the headers only: the 100000-byte body never comes */
    send_all(fd, "POST /topics HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                 "Content-Length: 100000\r\n\r\n");
    resp = read_until_close(fd);
    close(fd);
    expect_over_limit(resp, "HTTP/1.1 429 ", "too_many_connections_per_ip", 1,
                      "--max-connections-per-ip");
    free(resp);
    close(a);
    expect_served_again();
    cr_assert(eq(int, rillproc_stop(&p), 0), "the server did not stop cleanly");
}

Test(server, connections_past_the_headroom_are_closed_unanswered)
{
    /* per address: 2 served, libmicrohttpd holds 2 + 8; the one after those is closed
     * by libmicrohttpd as soon as it is accepted, before any request */
    const char *args[] = {"--max-connections-per-ip", "2", NULL};
    struct pollfd pfd[9];
    int held[2], closed = -1;
    char *resp;

    start(args);
    held[0] = hold_connection();
    held[1] = hold_connection();
    for (int i = 0; i < 9; i++)
        pfd[i] = (struct pollfd){.fd = connect_raw(), .events = POLLIN};
    while (closed < 0) {
        cr_assert(ge(int, poll(pfd, 9, RILLPROC_TIMEOUT_MS), (0) + 1), "none was closed");
        for (int i = 0; i < 9; i++) {
            if (pfd[i].revents) {
                char ch;

                cr_assert(lt(long, (long)recv(pfd[i].fd, &ch, 1, 0), 1),
                          "connection %d got bytes before a request", i);
                cr_assert(eq(int, closed, -1), "connections %d and %d were closed",
                          closed, i);
                closed = i;
            }
        }
    }
    for (int i = 0; i < 9; i++) {
        if (i == closed)
            continue;
        send_all(pfd[i].fd, get_healthz);
        resp = read_until_close(pfd[i].fd);
        expect_over_limit(resp, "HTTP/1.1 429 ", "too_many_connections_per_ip", 2,
                          "--max-connections-per-ip");
        free(resp);
    }
    for (int i = 0; i < 9; i++)
        close(pfd[i].fd);
    close(held[0]);
    close(held[1]);
    expect_served_again();
    cr_assert(eq(int, rillproc_stop(&p), 0), "the server did not stop cleanly");
}

Test(server, a_request_arriving_while_draining_is_503_with_retry_after)
{
    const char *args[] = {"--log-level", "debug", NULL};
    char *resp;
    int fd;

    start(args);
    /* a request in flight keeps the server draining while body bytes come */
    fd = connect_raw();
    send_all(fd, "POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nab");
    cr_assert(log_shows("\"POST /healthz\" begins"));
    cr_assert(eq(int, kill(p.pid, SIGTERM), 0));
    cr_assert(log_shows("received SIGTERM"));
    send_all(fd, "c");
    resp = request_on_new_connection(get_healthz);
    cr_assert(eq(int, strncmp(resp, "HTTP/1.1 503 ", 13), 0), "%s", resp);
    cr_assert(not(eq(ptr, strcasestr(resp, "\r\nRetry-After: 1\r\n"), NULL)), "%s", resp);
    cr_assert(not(eq(ptr, strcasestr(resp, "\r\nConnection: close\r\n"), NULL)), "%s",
              resp);
    cr_assert(not(eq(ptr, strstr(resp, "\"code\":\"shutting_down\""), NULL)), "%s", resp);
    free(resp);
    send_all(fd, "de");
    resp = read_until_close(fd);
    close(fd);
    cr_assert(eq(int, strncmp(resp, "HTTP/1.1 405 ", 13), 0), "%s", resp);
    free(resp);
    cr_assert(eq(int, rillproc_wait(&p, RILLPROC_TIMEOUT_MS), 0));
}
