/* tests/server/test_config.c: tests for server/config.c */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/config.h"
#include "tests/support/tmpdir.h"

extern char **environ;

static char dir[64];
static char err[512];
static struct server_config cfg;

/* Criterion runs each test in its own process, so environment changes stay there;
 * start each from no RILL_* variables at all. */
static void clear_rill_env(void)
{
    char name[128];

    for (;;) {
        char **e = environ;

        while (*e && strncmp(*e, "RILL_", 5))
            e++;
        if (!*e)
            return;
        snprintf(name, sizeof(name), "%.*s", (int)strcspn(*e, "="), *e);
        unsetenv(name);
    }
}

static void setup(void)
{
    clear_rill_env();
    cr_assert(eq(int, tmpdir_make(dir, sizeof(dir)), 0));
    err[0] = '\0';
}

static void teardown(void)
{
    config_release(&cfg);
    tmpdir_remove(dir);
}

TestSuite(config, .init = setup, .fini = teardown, .timeout = 10);

/* config_parse() over a NULL-terminated list of flags (argv[0] is added). */
#define PARSE(...) parse((const char *[]){"serve", __VA_ARGS__, NULL})

static int parse(const char **args)
{
    int argc = 0;

    while (args[argc])
        argc++;
    config_release(&cfg);
    return config_parse(&cfg, argc, (char **)args, err, sizeof(err));
}

static int parse_none(void) { return parse((const char *[]){"serve", NULL}); }

/* Writes 'text' to <dir>/<name> and returns the path (static buffer). */
static char *write_file(const char *name, const char *text)
{
    static char path[128];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    cr_assert(not(eq(ptr, f, NULL)));
    fputs(text, f);
    fclose(f);
    return path;
}

static bool has(const char *hay, const char *needle)
{
    return strstr(hay, needle) != NULL;
}

static unsigned port_of(const struct server_config *c)
{
    if (c->listen_addr.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&c->listen_addr)->sin6_port);
    return ntohs(((const struct sockaddr_in *)&c->listen_addr)->sin_port);
}

Test(config, defaults_apply_when_nothing_is_set)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    const struct sockaddr_in *a4 = (const struct sockaddr_in *)&cfg.listen_addr;

    cr_assert(eq(int, parse_none(), 0), "%s", err);
    cr_assert(eq(str, cfg.data_dir, "./data"));
    cr_assert(eq(str, cfg.listen, "127.0.0.1:8080"));
    cr_assert(eq(int, cfg.listen_addr.ss_family, AF_INET));
    cr_assert(eq(u32, ntohl(a4->sin_addr.s_addr), INADDR_LOOPBACK));
    cr_assert(eq(uint, port_of(&cfg), 8080));
    cr_assert(eq(uint, cfg.threads,
                 (unsigned)(cpus < 1      ? 1
                            : cpus > 1024 ? 1024
                                          : cpus)));
    cr_assert(eq(ptr, cfg.config_file, NULL));
    cr_assert(eq(ptr, cfg.tls_cert, NULL));
    cr_assert(eq(ptr, cfg.tls_key, NULL));
    cr_assert(eq(int, cfg.backend, CONFIG_BACKEND_LOG));
    cr_assert(eq(ptr, cfg.kafka_brokers, NULL));
    cr_assert(cfg.auth);
    cr_assert(eq(ptr, cfg.cors_origin, NULL));
    cr_assert(eq(int, cfg.log_level, LOG_INFO));
    cr_assert(eq(uint, cfg.retention_check_ms, 30000));
    cr_assert(eq(sz, cfg.max_body_bytes, 8388608));
    cr_assert(eq(uint, cfg.max_connections, 1024));
    cr_assert(eq(uint, cfg.max_connections_per_ip, 256));
    cr_assert(eq(uint, cfg.request_timeout_s, 30));
}

Test(config, every_flag_is_accepted_with_a_space_or_an_equals_sign)
{
    cr_assert(
        eq(int,
           PARSE("--data", "/tmp/d", "--listen=0.0.0.0:9000", "--threads", "3",
                 "--tls-cert=c.pem", "--tls-key", "k.pem", "--backend=kafka",
                 "--kafka-brokers", "b1:9092,b2:9092", "--auth=off", "--cors-origin",
                 "https://example.com", "--log-level=debug", "--retention-check-ms",
                 "500", "--max-body-bytes=1024", "--max-connections", "10",
                 "--max-connections-per-ip=2", "--request-timeout-s", "5"),
           0),
        "%s", err);
    cr_assert(eq(str, cfg.data_dir, "/tmp/d"));
    cr_assert(eq(str, cfg.listen, "0.0.0.0:9000"));
    cr_assert(eq(uint, port_of(&cfg), 9000));
    cr_assert(eq(uint, cfg.threads, 3));
    cr_assert(eq(str, cfg.tls_cert, "c.pem"));
    cr_assert(eq(str, cfg.tls_key, "k.pem"));
    cr_assert(eq(int, cfg.backend, CONFIG_BACKEND_KAFKA));
    cr_assert(eq(str, cfg.kafka_brokers, "b1:9092,b2:9092"));
    cr_assert(not(cfg.auth));
    cr_assert(eq(str, cfg.cors_origin, "https://example.com"));
    cr_assert(eq(int, cfg.log_level, LOG_DEBUG));
    cr_assert(eq(uint, cfg.retention_check_ms, 500));
    cr_assert(eq(sz, cfg.max_body_bytes, 1024));
    cr_assert(eq(uint, cfg.max_connections, 10));
    cr_assert(eq(uint, cfg.max_connections_per_ip, 2));
    cr_assert(eq(uint, cfg.request_timeout_s, 5));
}

Test(config, the_last_of_a_repeated_flag_wins)
{
    cr_assert(eq(int, PARSE("--threads", "2", "--threads=7"), 0), "%s", err);
    cr_assert(eq(uint, cfg.threads, 7));
}

Test(config, an_equals_sign_may_be_part_of_the_value)
{
    cr_assert(eq(int, PARSE("--data=a=b"), 0), "%s", err);
    cr_assert(eq(str, cfg.data_dir, "a=b"));
}

Test(config, environment_sets_what_no_flag_sets)
{
    setenv("RILL_DATA", "/env/data", 1);
    setenv("RILL_LISTEN", "127.0.0.1:0", 1);
    setenv("RILL_MAX_CONNECTIONS_PER_IP", "9", 1);
    setenv("RILL_AUTH", "off", 1);
    cr_assert(eq(int, parse_none(), 0), "%s", err);
    cr_assert(eq(str, cfg.data_dir, "/env/data"));
    cr_assert(eq(uint, port_of(&cfg), 0));
    cr_assert(eq(uint, cfg.max_connections_per_ip, 9));
    cr_assert(not(cfg.auth));
}

Test(config, a_flag_beats_the_environment)
{
    setenv("RILL_LOG_LEVEL", "debug", 1);
    setenv("RILL_THREADS", "4", 1);
    cr_assert(eq(int, PARSE("--log-level", "error"), 0), "%s", err);
    cr_assert(eq(int, cfg.log_level, LOG_ERROR));
    cr_assert(eq(uint, cfg.threads, 4));
}

Test(config, an_empty_environment_variable_counts_as_unset)
{
    setenv("RILL_DATA", "", 1);
    cr_assert(eq(int, parse_none(), 0), "%s", err);
    cr_assert(eq(str, cfg.data_dir, "./data"));
}

Test(config, a_bad_environment_value_is_an_error_naming_the_variable)
{
    setenv("RILL_MAX_BODY_BYTES", "8MiB", 1);
    cr_assert(eq(int, parse_none(), -EINVAL));
    cr_assert(has(err, "RILL_MAX_BODY_BYTES"), "%s", err);
    cr_assert(has(err, "8MiB"), "%s", err);
}

Test(config, the_config_file_sets_keys_and_skips_comments_and_blank_lines)
{
    char *path = write_file("rill.conf", "# rill settings\n"
                                         "\n"
                                         "   # indented comment\n"
                                         "log-level = debug\n"
                                         "threads=5\r\n"
                                         "  cors-origin   =   https://a.example  \n"
                                         "auth = off");
    cr_assert(eq(int, PARSE("--config", path), 0), "%s", err);
    cr_assert(eq(str, cfg.config_file, path));
    cr_assert(eq(int, cfg.log_level, LOG_DEBUG));
    cr_assert(eq(uint, cfg.threads, 5));
    cr_assert(eq(str, cfg.cors_origin, "https://a.example"));
    cr_assert(not(cfg.auth));
}

Test(config, precedence_is_flag_then_environment_then_file_then_default)
{
    char *path = write_file("rill.conf", "threads = 2\n"
                                         "request-timeout-s = 11\n"
                                         "max-connections = 12\n");
    setenv("RILL_REQUEST_TIMEOUT_S", "21", 1);
    setenv("RILL_MAX_CONNECTIONS", "22", 1);
    cr_assert(eq(int, PARSE("--config", path, "--max-connections", "32"), 0), "%s", err);
    cr_assert(eq(uint, cfg.threads, 2));                  /* file */
    cr_assert(eq(uint, cfg.request_timeout_s, 21));       /* env over file */
    cr_assert(eq(uint, cfg.max_connections, 32));         /* flag over env and file */
    cr_assert(eq(uint, cfg.max_connections_per_ip, 256)); /* default */
}

Test(config, rill_config_names_the_file_and_the_flag_beats_it)
{
    char *a = write_file("a.conf", "threads = 3\n");
    char a_path[128];

    snprintf(a_path, sizeof(a_path), "%s", a);
    setenv("RILL_CONFIG", a_path, 1);
    cr_assert(eq(int, parse_none(), 0), "%s", err);
    cr_assert(eq(uint, cfg.threads, 3));
    cr_assert(eq(str, cfg.config_file, a_path));

    char *b = write_file("b.conf", "threads = 4\n");
    cr_assert(eq(int, PARSE("--config", b), 0), "%s", err);
    cr_assert(eq(uint, cfg.threads, 4));
    cr_assert(eq(str, cfg.config_file, b));
}

Test(config, an_unknown_file_key_is_an_error_naming_file_and_line)
{
    char *path = write_file("rill.conf", "# ok\nthreads = 2\nthreadz = 3\n");
    char want[200];

    cr_assert(eq(int, PARSE("--config", path), -EINVAL));
    snprintf(want, sizeof(want), "%s:3: unknown key 'threadz'", path);
    cr_assert(eq(str, err, want));
    cr_assert(eq(ptr, cfg.data_dir, NULL), "a failed parse leaves nothing allocated");
}

Test(config, a_bad_file_value_is_an_error_naming_file_line_and_key)
{
    char *path = write_file("rill.conf", "\n\nthreads = 0\n");
    char want[200];

    cr_assert(eq(int, PARSE("--config", path), -EINVAL));
    snprintf(want, sizeof(want), "%s:3: threads: '0' is out of range (1..1024)", path);
    cr_assert(eq(str, err, want));
}

Test(config, a_file_line_without_equals_is_an_error)
{
    char *path = write_file("rill.conf", "log-level debug\n");

    cr_assert(eq(int, PARSE("--config", path), -EINVAL));
    cr_assert(has(err, ":1: expected 'key = value'"), "%s", err);
}

Test(config, a_file_cannot_name_another_config_file)
{
    char *path = write_file("rill.conf", "config = other.conf\n");

    cr_assert(eq(int, PARSE("--config", path), -EINVAL));
    cr_assert(has(err, ":1:"), "%s", err);
    cr_assert(has(err, "config"), "%s", err);
}

Test(config, a_file_value_cannot_be_empty)
{
    char *path = write_file("rill.conf", "data =\n");

    cr_assert(eq(int, PARSE("--config", path), -EINVAL));
    cr_assert(has(err, ":1: data: empty value"), "%s", err);
}

Test(config, a_missing_config_file_is_an_error_naming_it)
{
    char path[128];

    snprintf(path, sizeof(path), "%s/nope.conf", dir);
    cr_assert(eq(int, PARSE("--config", path), -EINVAL));
    cr_assert(has(err, path), "%s", err);
    cr_assert(has(err, "No such file"), "%s", err);
}

Test(config, an_unknown_flag_is_an_error_naming_it)
{
    cr_assert(eq(int, PARSE("--threads", "2", "--bogus=1"), -EINVAL));
    cr_assert(has(err, "unknown flag '--bogus'"), "%s", err);
}

Test(config, a_flag_without_a_value_is_an_error)
{
    cr_assert(eq(int, PARSE("--data"), -EINVAL));
    cr_assert(has(err, "'--data' needs a value"), "%s", err);
    cr_assert(eq(int, PARSE("--data", "--threads", "2"), -EINVAL));
    cr_assert(has(err, "'--data' needs a value"), "%s", err);
}

Test(config, a_positional_argument_is_an_error)
{
    cr_assert(eq(int, PARSE("stray"), -EINVAL));
    cr_assert(has(err, "unexpected argument 'stray'"), "%s", err);
    cr_assert(eq(int, PARSE("-t", "2"), -EINVAL));
    cr_assert(eq(int, PARSE("--"), -EINVAL));
}

Test(config, an_empty_or_control_character_value_is_an_error)
{
    cr_assert(eq(int, PARSE("--data="), -EINVAL));
    cr_assert(has(err, "--data: empty value"), "%s", err);
    cr_assert(eq(int, PARSE("--cors-origin", "https://a\r\nX-Evil: 1"), -EINVAL));
    cr_assert(has(err, "control character"), "%s", err);
}

/* Arrays, not pointers: criterion copies parameters into a new process image. */
struct int_case {
    char flag[32];
    char value[32];
    bool ok;
};

ParameterizedTestParameters(config, integers_are_strict_and_range_checked)
{
    static struct int_case cases[] = {
        {"--threads", "1", true},
        {"--threads", "1024", true},
        {"--threads", "0", false},
        {"--threads", "1025", false},
        {"--threads", "-1", false},
        {"--threads", "+1", false},
        {"--threads", " 1", false},
        {"--threads", "1 ", false},
        {"--threads", "1x", false},
        {"--threads", "0x10", false},
        {"--threads", "1.5", false},
        {"--threads", "99999999999999999999999", false},
        {"--retention-check-ms", "10", true},
        {"--retention-check-ms", "9", false},
        {"--retention-check-ms", "86400000", true},
        {"--retention-check-ms", "86400001", false},
        {"--max-body-bytes", "1", true},
        {"--max-body-bytes", "0", false},
        {"--max-body-bytes", "1073741824", true},
        {"--max-body-bytes", "1073741825", false},
        {"--max-body-bytes", "8M", false},
        {"--max-connections", "1000000", true},
        {"--max-connections", "1000001", false},
        {"--max-connections-per-ip", "0", false},
        {"--max-connections-per-ip", "1", true},
        {"--request-timeout-s", "86400", true},
        {"--request-timeout-s", "0", false},
        {"--request-timeout-s", "86401", false},
    };
    return cr_make_param_array(struct int_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct int_case *c, config, integers_are_strict_and_range_checked)
{
    int ret = PARSE(c->flag, c->value);

    if (c->ok) {
        cr_assert(eq(int, ret, 0), "%s %s: %s", c->flag, c->value, err);
    } else {
        cr_assert(eq(int, ret, -EINVAL), "%s '%s' was accepted", c->flag, c->value);
        cr_assert(has(err, c->flag), "%s", err);
    }
}

Test(config, out_of_range_names_the_range)
{
    cr_assert(eq(int, PARSE("--threads", "0"), -EINVAL));
    cr_assert(eq(str, err, "--threads: '0' is out of range (1..1024)"));
}

Test(config, listen_accepts_ipv6_in_brackets)
{
    const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&cfg.listen_addr;

    cr_assert(eq(int, PARSE("--listen", "[::1]:8081"), 0), "%s", err);
    cr_assert(eq(int, cfg.listen_addr.ss_family, AF_INET6));
    cr_assert(eq(int, cfg.listen_addr_len, (int)sizeof(struct sockaddr_in6)));
    bool loopback = IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr);

    cr_assert(loopback);
    cr_assert(eq(uint, port_of(&cfg), 8081));
}

Test(config, listen_accepts_port_0_and_a_host_name)
{
    const struct sockaddr_in *a4 = (const struct sockaddr_in *)&cfg.listen_addr;

    cr_assert(eq(int, PARSE("--listen", "127.0.0.1:0"), 0), "%s", err);
    cr_assert(eq(uint, port_of(&cfg), 0));
    cr_assert(eq(int, PARSE("--listen", "localhost:65535"), 0), "%s", err);
    cr_assert(eq(uint, port_of(&cfg), 65535));
    if (cfg.listen_addr.ss_family == AF_INET)
        cr_assert(eq(u32, ntohl(a4->sin_addr.s_addr), INADDR_LOOPBACK));
}

struct listen_case {
    char addr[32];
};

ParameterizedTestParameters(config, bad_listen_addresses_are_rejected)
{
    static struct listen_case cases[] = {
        {"127.0.0.1"}, {"127.0.0.1:"}, {"127.0.0.1:65536"}, {"127.0.0.1:-1"},
        {":8080"},     {"::1:8080"},   {"[::1]8080"},       {"[::1"},
        {"[::1]:"},    {"[zz::q]:80"}, {"[127.0.0.1]:80"},  {"127.0.0.1:80x"},
    };
    return cr_make_param_array(struct listen_case, cases,
                               sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct listen_case *c, config, bad_listen_addresses_are_rejected)
{
    cr_assert(eq(int, PARSE("--listen", c->addr), -EINVAL), "'%s' was accepted", c->addr);
    cr_assert(has(err, "--listen: "), "%s", err);
}

Test(config, a_malformed_listen_address_is_quoted_whole)
{
    cr_assert(eq(int, PARSE("--listen", "[::1"), -EINVAL));
    cr_assert(
        eq(str, err,
           "--listen: '[::1' is not HOST:PORT (e.g. 127.0.0.1:8080 or [::1]:8080)"));
    cr_assert(eq(int, PARSE("--listen", "::1:80"), -EINVAL));
    cr_assert(has(err, "needs brackets"), "%s", err);
}

Test(config, enumerated_values_are_checked)
{
    cr_assert(eq(int, PARSE("--auth", "yes"), -EINVAL));
    cr_assert(has(err, "on or off"), "%s", err);
    cr_assert(eq(int, PARSE("--backend", "sqlite"), -EINVAL));
    cr_assert(has(err, "log or kafka"), "%s", err);
    cr_assert(eq(int, PARSE("--log-level", "verbose"), -EINVAL));
    cr_assert(has(err, "debug, info, warn or error"), "%s", err);
    cr_assert(eq(int, PARSE("--log-level", "warn"), 0), "%s", err);
    cr_assert(eq(int, cfg.log_level, LOG_WARN));
}

Test(config, tls_cert_and_key_go_together)
{
    cr_assert(eq(int, PARSE("--tls-cert", "c.pem"), -EINVAL));
    cr_assert(has(err, "--tls-cert and --tls-key"), "%s", err);
    cr_assert(eq(int, PARSE("--tls-key", "k.pem"), -EINVAL));
}

Test(config, the_kafka_backend_needs_brokers)
{
    cr_assert(eq(int, PARSE("--backend", "kafka"), -EINVAL));
    cr_assert(has(err, "--kafka-brokers"), "%s", err);
    setenv("RILL_KAFKA_BROKERS", "k:9092", 1);
    cr_assert(eq(int, PARSE("--backend", "kafka"), 0), "%s", err);
}

Test(config, release_is_idempotent_and_zeroes)
{
    cr_assert(
        eq(int, PARSE("--cors-origin", "*", "--tls-cert", "c", "--tls-key", "k"), 0),
        "%s", err);
    config_release(&cfg);
    cr_assert(eq(ptr, cfg.data_dir, NULL));
    cr_assert(eq(ptr, cfg.cors_origin, NULL));
    config_release(&cfg);
}

Test(config, addresses_format_as_host_port)
{
    struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons(41234)};
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(80)};
    char out[64], tiny[8];

    a4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a6.sin6_addr = in6addr_loopback;
    cr_assert(eq(int, config_format_addr((struct sockaddr *)&a4, out, sizeof(out)), 0));
    cr_assert(eq(str, out, "127.0.0.1:41234"));
    cr_assert(eq(int, config_format_addr((struct sockaddr *)&a6, out, sizeof(out)), 0));
    cr_assert(eq(str, out, "[::1]:80"));
    cr_assert(
        eq(int, config_format_addr((struct sockaddr *)&a4, tiny, sizeof(tiny)), -ENOSPC));
}
