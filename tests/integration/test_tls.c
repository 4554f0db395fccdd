/* tests/integration/test_tls.c: HTTPS end to end (--tls-cert/--tls-key: server/tls.c,
 * the TLS daemon in server/http.c, the checks in server/main.c) through the real
 * binary ($RILL_BIN). Certificates are made at test time with the openssl command
 * line (self-signed, for 127.0.0.1 and localhost, EC P-256 or RSA 2048); clients trust
 * exactly that certificate: libcurl through http_client_set_ca_file(), and the curl
 * command line with --cacert, as README.md shows. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "tests/support/api_client.h"
#include "tests/support/http_client.h"
#include "tests/support/rillproc.h"
#include "tests/support/tmpdir.h"

static struct ac_server srv;
static char certs[64]; /* a temp dir for the certificates and keys a test makes */

struct pair {
    char cert[160];
    char key[160];
};

static void setup(void)
{
    if (tmpdir_make(certs, sizeof(certs)))
        certs[0] = '\0'; /* make_pair() fails the test */
}

static void teardown(void)
{
    ac_server_cleanup(&srv);
    if (certs[0])
        tmpdir_remove(certs);
    http_client_set_ca_file(NULL);
}

TestSuite(tls, .init = setup, .fini = teardown, .timeout = 120);

/* A command run in the background (found on PATH), no stdin, its stdout and stderr
 * together read from a pipe into 'out'. */
struct tool {
    const char *name;
    pid_t pid;
    int fd;
    struct ac_text out; /* what it printed so far; NUL-terminated once non-empty */
};

static void tool_start(struct tool *t, const char *const *argv)
{
    int fds[2];

    memset(t, 0, sizeof(*t));
    t->name = argv[0];
    cr_assert(eq(int, pipe2(fds, O_CLOEXEC), 0), "pipe: %s", strerror(errno));
    t->pid = fork();
    cr_assert(ge(int, t->pid, 0), "fork: %s", strerror(errno));
    if (t->pid == 0) {
        int null_fd = open("/dev/null", O_RDONLY);

        dup2(null_fd, STDIN_FILENO);
        dup2(fds[1], STDOUT_FILENO);
        dup2(fds[1], STDERR_FILENO);
        execvp(argv[0], (char *const *)argv);
        dprintf(STDERR_FILENO, "cannot run '%s': %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    t->fd = fds[0];
    ac_text_add(&t->out, "", 0);
}

/* Reads its output until it holds 'until', or to the end when 'until' is NULL; fails
 * the test (killing it) after RILLPROC_TIMEOUT_MS. */
static void tool_read(struct tool *t, const char *until)
{
    long long deadline = clock_mono_ms() + RILLPROC_TIMEOUT_MS;

    while (!until || !strstr(t->out.data, until)) {
        struct pollfd pfd = {.fd = t->fd, .events = POLLIN};
        long long left = deadline - clock_mono_ms();
        char buf[4096];
        ssize_t n;

        if (left <= 0 || poll(&pfd, 1, (int)left) == 0) {
            kill(t->pid, SIGKILL);
            cr_fatal("'%s' gave no '%s' in %d ms; it printed:\n%s", t->name,
                     until ? until : "end", RILLPROC_TIMEOUT_MS, t->out.data);
        }
        n = read(t->fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            cr_assert(eq(ptr, (void *)until, NULL), "'%s' ended without '%s':\n%s",
                      t->name, until, t->out.data);
            return;
        }
        ac_text_add(&t->out, buf, (size_t)n);
    }
}

/* Reads to the end and reaps it. Returns its exit status, or -1 when a signal ended it;
 * its output stays in t->out (ac_text_release() it). */
static int tool_wait(struct tool *t)
{
    int st;

    tool_read(t, NULL);
    close(t->fd);
    while (waitpid(t->pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Runs 'argv' to completion (at most RILLPROC_TIMEOUT_MS); its output goes to *out
 * (malloc'ed). Returns its exit status, or -1 when a signal ended it. */
static int run_tool(const char *const *argv, char **out)
{
    struct tool t;
    int ret;

    tool_start(&t, argv);
    ret = tool_wait(&t);
    *out = t.out.data;
    return ret;
}

/* A self-signed certificate for 127.0.0.1 and localhost, valid two days, and its key
 * (unencrypted PEM), as certs/<name>-cert.pem and certs/<name>-key.pem. 'algorithm'
 * and 'keygen_opt' are openssl's: "ec" "ec_paramgen_curve:prime256v1", "rsa"
 * "rsa_keygen_bits:2048". */
static void make_pair_with(struct pair *p, const char *name, const char *algorithm,
                           const char *keygen_opt)
{
    const char *argv[] = {"openssl",  "req",
                          "-x509",    "-newkey",
                          algorithm,  "-pkeyopt",
                          keygen_opt, "-nodes",
                          "-days",    "2",
                          "-subj",    "/CN=localhost",
                          "-addext",  "subjectAltName=IP:127.0.0.1,DNS:localhost",
                          "-keyout",  p->key,
                          "-out",     p->cert,
                          NULL};
    char *out;
    int ret;

    cr_assert(not(eq(chr, certs[0], '\0')), "no temp dir for certificates");
    snprintf(p->cert, sizeof(p->cert), "%s/%s-cert.pem", certs, name);
    snprintf(p->key, sizeof(p->key), "%s/%s-key.pem", certs, name);
    ret = run_tool(argv, &out);
    cr_assert(eq(int, ret, 0), "openssl req: exit %d:\n%s", ret, out);
    free(out);
}

static void make_pair(struct pair *p, const char *name)
{
    make_pair_with(p, name, "ec", "ec_paramgen_curve:prime256v1");
}

/* Starts the server on 'p' and makes http_client trust p's certificate. */
static void start_tls(const struct pair *p)
{
    const char *args[] = {"--tls-cert", p->cert, "--tls-key", p->key, NULL};

    ac_server_start(&srv, args);
    ac_server_require(&srv);
    cr_assert(eq(int, strncmp(srv.proc.url, "https://", 8), 0), "%s", srv.proc.url);
    http_client_set_ca_file(p->cert);
}

static void url_for(char *out, size_t size, const char *path)
{
    snprintf(out, size, "%s%s", srv.proc.url, path);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    cr_assert(not(eq(ptr, f, NULL)), "%s: %s", path, strerror(errno));
    fputs(text, f);
    fclose(f);
}

static size_t count_char(const char *s, char c)
{
    size_t n = 0;

    for (; *s; s++)
        n += *s == c;
    return n;
}

/* Asserts a produce, fetch and stream round trip of one record over HTTPS. */
static void expect_round_trip(const char *topic, const char *value)
{
    char body[256], path[256], want[256], url[512];
    const char *h[] = {srv.auth, NULL};
    struct http_response r;
    json_t *j, *records;

    snprintf(body, sizeof(body), "{\"records\":[{\"value\":\"%s\"}]}", value);
    json_decref(ac_produce(&srv, topic, body));
    j = ac_fetch(&srv, topic, 0, "offset=earliest");
    records = json_object_get(j, "records");
    cr_assert(eq(sz, json_array_size(records), 1), "%s", json_dumps(j, 0));
    cr_assert(eq(
        str,
        (char *)json_string_value(json_object_get(json_array_get(records, 0), "value")),
        (char *)value));
    json_decref(j);

    /* the same record as a server-sent event, on a stream that stays open */
    snprintf(path, sizeof(path), "/topics/%s/partitions/0/stream?offset=earliest", topic);
    url_for(url, sizeof(url), path);
    snprintf(want, sizeof(want), "\"value\":\"%s\"", value);
    cr_assert(eq(int, http_get_until(url, h, want, 20, &r), 0), "%s: %s", url, r.error);
    cr_assert(eq(long, r.status, 200));
    cr_assert(
        eq(str, (char *)http_response_header(&r, "Content-Type"), "text/event-stream"));
    cr_assert(not(eq(ptr, strstr(r.body, "event: record\n"), NULL)), "%s", r.body);
    cr_assert(not(eq(ptr, strstr(r.body, want), NULL)), "%s", r.body);
    http_response_release(&r);
}

/* Arrays, not pointers: criterion copies parameters into a new process image. */
struct key_kind {
    char name[8];
    char algorithm[8];
    char keygen_opt[40];
};

ParameterizedTestParameters(tls, a_verified_https_round_trip_then_sigterm_exits_0)
{
    static struct key_kind kinds[] = {
        {"ec", "ec", "ec_paramgen_curve:prime256v1"},
        {"rsa", "rsa", "rsa_keygen_bits:2048"},
    };

    return cr_make_param_array(struct key_kind, kinds, sizeof(kinds) / sizeof(kinds[0]));
}

ParameterizedTest(struct key_kind *kind, tls,
                  a_verified_https_round_trip_then_sigterm_exits_0)
{
    struct pair p;
    char want[200];

    make_pair_with(&p, kind->name, kind->algorithm, kind->keygen_opt);
    start_tls(&p);
    ac_expect_healthy(&srv);
    ac_create_topic(&srv, "orders", 1, NULL);
    expect_round_trip("orders", "over tls");
    snprintf(want, sizeof(want), "listening on https://%s ", srv.proc.addr);
    cr_assert(ac_server_log_shows(&srv, want), "the log does not say https");
    ac_server_stop_clean(&srv);
}

Test(tls, the_curl_command_line_talks_https_with_cacert)
{
    char url[256], code_url[256], *out;
    struct pair p;
    int ret;

    make_pair(&p, "ec");
    start_tls(&p);
    url_for(url, sizeof(url), "/healthz");
    {
        const char *argv[] = {"curl", "-sS", "--cacert", p.cert, url, NULL};

        ret = run_tool(argv, &out);
        cr_assert(eq(int, ret, 0), "curl: exit %d: %s", ret, out);
        cr_assert(eq(str, out, "{\"status\":\"ok\"}"));
        free(out);
    }
    /* with the token, as in the README's tour */
    url_for(code_url, sizeof(code_url), "/topics");
    {
        const char *argv[] = {"curl",     "-sS",
                              "--cacert", p.cert,
                              "-H",       srv.auth,
                              "-H",       "Content-Type: application/json",
                              "-d",       "{\"name\":\"t\",\"partitions\":1}",
                              "-o",       "/dev/null",
                              "-w",       "%{http_code}",
                              code_url,   NULL};

        ret = run_tool(argv, &out);
        cr_assert(eq(int, ret, 0), "curl: exit %d: %s", ret, out);
        cr_assert(eq(str, out, "201"));
        free(out);
    }
    ac_server_stop_clean(&srv);
}

Test(tls, a_client_that_does_not_trust_the_certificate_fails_verification)
{
    struct http_response r;
    struct pair p, other;
    char url[256], *out;
    int ret;

    make_pair(&p, "ec");
    make_pair(&other, "other");
    start_tls(&p);
    url_for(url, sizeof(url), "/healthz");

    http_client_set_ca_file(NULL); /* the system's CAs */
    cr_assert(eq(int, http_get(url, &r), -EIO), "answered %ld", r.status);
    cr_assert(eq(long, r.status, 0));
    cr_assert(not(eq(ptr, strstr(r.error, "certificate"), NULL)), "%s", r.error);
    http_response_release(&r);

    http_client_set_ca_file(other.cert); /* another self-signed certificate */
    cr_assert(eq(int, http_get(url, &r), -EIO), "answered %ld", r.status);
    cr_assert(eq(long, r.status, 0));
    http_response_release(&r);

    {
        const char *argv[] = {"curl", "-sS", url, NULL};

        ret = run_tool(argv, &out);
        cr_assert(eq(int, ret, 60),
                  "curl: exit %d (want 60, peer failed verification): %s", ret, out);
        cr_assert(eq(ptr, strstr(out, "\"status\""), NULL), "%s", out);
        free(out);
    }
    cr_assert(ac_server_log_shows(&srv, "a TLS handshake failed"));

    http_client_set_ca_file(p.cert); /* the server is unharmed */
    ac_expect_healthy(&srv);
    ac_server_stop_clean(&srv);
}

Test(tls, plain_http_to_the_tls_port_gets_no_http_answer)
{
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
    struct http_response r;
    char url[256], *resp;
    struct pair p;

    make_pair(&p, "ec");
    start_tls(&p);

    resp = ac_raw_exchange(&srv, req, sizeof(req) - 1); /* until the server closes */
    cr_assert(not(eq(int, strncmp(resp, "HTTP/", 5), 0)), "%s", resp);
    cr_assert(eq(ptr, strstr(resp, "\"status\""), NULL), "%s", resp);
    free(resp);

    snprintf(url, sizeof(url), "http://%s/healthz", srv.proc.addr);
    cr_assert(not(eq(int, http_get(url, &r), 0)), "answered %ld", r.status);
    cr_assert(eq(long, r.status, 0));
    http_response_release(&r);

    ac_expect_healthy(&srv); /* still serving HTTPS */
    ac_create_topic(&srv, "after", 1, NULL);
    expect_round_trip("after", "still here");
    ac_server_stop_clean(&srv);
}

Test(tls, a_restart_serves_https_and_the_records_from_before)
{
    struct pair p;
    json_t *j;

    make_pair(&p, "ec");
    start_tls(&p);
    ac_create_topic(&srv, "kept", 1, NULL);
    json_decref(ac_produce(&srv, "kept", "{\"records\":[{\"value\":\"before\"}]}"));
    ac_server_stop_clean(&srv);

    ac_server_restart(&srv);
    cr_assert(eq(int, strncmp(srv.proc.url, "https://", 8), 0), "%s", srv.proc.url);
    ac_expect_healthy(&srv);
    j = ac_fetch(&srv, "kept", 0, "offset=earliest");
    cr_assert(eq(sz, json_array_size(json_object_get(j, "records")), 1));
    cr_assert(eq(str,
                 (char *)json_string_value(json_object_get(
                     json_array_get(json_object_get(j, "records"), 0), "value")),
                 "before"));
    json_decref(j);
    ac_server_stop_clean(&srv);
}

Test(tls, a_curl_event_stream_gets_live_records_and_ends_at_sigterm)
{
    char url[256];
    struct tool curl;
    struct pair p;
    int ret;

    make_pair(&p, "ec");
    start_tls(&p);
    ac_create_topic(&srv, "live", 1, NULL);
    /* offset 0 of an empty partition: nothing to send until a record is produced */
    url_for(url, sizeof(url), "/topics/live/partitions/0/stream?offset=0");
    {
        const char *argv[] = {"curl", "-sSN",   "--cacert", p.cert,
                              "-H",   srv.auth, url,        NULL};

        tool_start(&curl, argv);
    }
    tool_read(&curl, "retry: 2000\n"); /* the stream's first line: it is open */
    cr_assert(eq(ptr, strstr(curl.out.data, "event: record"), NULL), "%s", curl.out.data);
    json_decref(ac_produce(&srv, "live", "{\"records\":[{\"value\":\"later\"}]}"));
    tool_read(&curl, "\"value\":\"later\"");

    /* SIGTERM with the stream open: the server ends it cleanly and exits 0 */
    ac_server_stop_clean(&srv);
    ret = tool_wait(&curl);
    cr_assert(eq(int, ret, 0), "curl: exit %d:\n%s", ret, curl.out.data);
    ac_text_release(&curl.out);
}

/* ---- unusable TLS files: a bad flag, exit 2 ---- */

struct bad_tls {
    const char *cert; /* NULL: no --tls-cert */
    const char *key;  /* NULL: no --tls-key */
    const char *mentions[2];
};

Test(tls, unusable_tls_files_exit_2_with_one_line_on_stderr)
{
    char data[128], missing[128], junk[128], empty[128], encrypted[128], *out;
    struct pair ec, rsa;

    make_pair(&ec, "ec");
    make_pair_with(&rsa, "rsa", "rsa", "rsa_keygen_bits:2048");
    snprintf(data, sizeof(data), "%s/never-created", certs);
    snprintf(missing, sizeof(missing), "%s/missing.pem", certs);
    snprintf(junk, sizeof(junk), "%s/junk.pem", certs);
    snprintf(empty, sizeof(empty), "%s/empty.pem", certs);
    snprintf(encrypted, sizeof(encrypted), "%s/encrypted-key.pem", certs);
    write_text(junk, "this is not PEM\n");
    write_text(empty, "");
    {
        const char *argv[] = {"openssl",  "pkey",        "-in",  ec.key,    "-aes256",
                              "-passout", "pass:secret", "-out", encrypted, NULL};
        int ret = run_tool(argv, &out);

        cr_assert(eq(int, ret, 0), "openssl pkey: exit %d: %s", ret, out);
        free(out);
    }

    struct bad_tls cases[] = {
        {missing, ec.key, {"--tls-cert", missing}},
        {ec.cert, missing, {"--tls-key", missing}},
        {junk, ec.key, {"--tls-cert", junk}},
        {empty, ec.key, {"--tls-cert", empty}},
        {ec.cert, junk, {"--tls-key", junk}},
        {ec.cert, empty, {"--tls-key", empty}},
        {ec.key, ec.cert, {"--tls-cert", ec.key}},    /* the two swapped */
        {certs, ec.key, {"--tls-cert", certs}},       /* a directory */
        {ec.cert, rsa.key, {"not the key", rsa.key}}, /* another certificate's key */
        {rsa.cert, ec.key, {"not the key", rsa.cert}},
        {ec.cert, encrypted, {"encrypted", encrypted}},
        {ec.cert, NULL, {"--tls-key", "together"}},
        {NULL, ec.key, {"--tls-cert", "together"}},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *args[12] = {"serve", "--listen", "127.0.0.1:0", "--data", data};
        size_t n = 5;
        char *err;
        int ret;

        if (cases[i].cert) {
            args[n++] = "--tls-cert";
            args[n++] = cases[i].cert;
        }
        if (cases[i].key) {
            args[n++] = "--tls-key";
            args[n++] = cases[i].key;
        }
        args[n] = NULL;
        ret = rillproc_run(args, &out, &err);
        cr_assert(eq(int, ret, 2), "case %zu: exit %d, stderr: %s", i, ret, err);
        cr_assert(eq(str, out, ""), "case %zu: stdout: %s", i, out);
        cr_assert(eq(sz, count_char(err, '\n'), 1), "case %zu: not one line: %s", i, err);
        cr_assert(eq(int, strncmp(err, "rill: ", 6), 0), "case %zu: %s", i, err);
        for (size_t m = 0; m < 2; m++)
            cr_assert(not(eq(ptr, strstr(err, cases[i].mentions[m]), NULL)),
                      "case %zu: no '%s' in: %s", i, cases[i].mentions[m], err);
        free(out);
        free(err);
    }
    cr_assert(eq(int, access(data, F_OK), -1), "a rejected start created the data dir");
}
