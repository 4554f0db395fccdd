/* fuzz_config.c: libFuzzer target for config_parse() (server/config.c): the config
 * file's `key = value` lines, RILL_* environment variables and --flags, and every
 * value parser behind them (numbers and ranges, on/off, log levels, HOST:PORT).
 *
 * Input: the config file, then optionally "\0\0" and a NUL-separated list of items;
 * an item "RILL_NAME=value" is set in the environment, any other is an argv word
 * (after argv[0] "rill"). The file goes into a memfd passed as --config (only when it
 * is not empty); items naming the config file themselves (--config, RILL_CONFIG) are
 * dropped, so that the target never reads another file. getaddrinfo() is replaced
 * below: "localhost" and "ip6-localhost" resolve, nothing else does, and no lookup
 * leaves the process. Argv words are heap copies of exactly their length + 1; file
 * lines are read by getline(), so ASan sees over-reads only past its buffer.
 *
 * Properties, else abort():
 *  - the same input parses the same way twice (the settings or the error text), the
 *    second time into an error buffer of exactly 8 heap bytes, whose text is then a
 *    prefix of the first;
 *  - a failure says why (a non-empty error) and leaves every field zero;
 *  - what parses, written back as a config file (every key but 'config'), parses
 *    from that file alone to the same settings, unless a string value starts or ends
 *    with a space (a file value is trimmed: only a flag or a variable can carry one);
 *  - the listen address, formatted by config_format_addr(), parses back to itself.
 * Seeds: fuzz/corpus/fuzz_config/. */
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/xalloc.h"
#include "server/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ARGS 32
#define MAX_ENV 16
#define ERR_SIZE 256
#define SMALL_ERR_SIZE 8

/* ---- name resolution without the network ---- */

struct fake_addrinfo {
    struct addrinfo ai;
    struct sockaddr_storage addr;
};

int getaddrinfo(const char *restrict node, const char *restrict service,
                const struct addrinfo *restrict hints, struct addrinfo **restrict res)
{
    struct fake_addrinfo *f;

    (void)service;
    (void)hints;
    if (!node || (strcmp(node, "localhost") && strcmp(node, "ip6-localhost")))
        return EAI_NONAME;
    f = xcalloc(1, sizeof(*f));
    f->ai.ai_socktype = SOCK_STREAM;
    f->ai.ai_addr = (struct sockaddr *)&f->addr;
    if (!strcmp(node, "localhost")) {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&f->addr;

        a4->sin_family = AF_INET;
        a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        f->ai.ai_family = AF_INET;
        f->ai.ai_addrlen = sizeof(*a4);
    } else {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&f->addr;

        a6->sin6_family = AF_INET6;
        a6->sin6_addr = in6addr_loopback;
        f->ai.ai_family = AF_INET6;
        f->ai.ai_addrlen = sizeof(*a6);
    }
    *res = &f->ai;
    return 0;
}

void freeaddrinfo(struct addrinfo *res)
{
    free(res); /* the first member of a struct fake_addrinfo */
}

/* ---- the input ---- */

static int file_fd = -1;
static char file_flag[64]; /* "--config=/proc/self/fd/N" */

static void setup(void)
{
    size_t i = 0;

    file_fd = memfd_create("rill-fuzz-config", MFD_CLOEXEC);
    if (file_fd < 0)
        abort();
    snprintf(file_flag, sizeof(file_flag), "--config=/proc/self/fd/%d", file_fd);
    while (environ[i]) { /* the caller's RILL_* would make results depend on it */
        if (!strncmp(environ[i], "RILL_", 5)) {
            char *name = xstrndup(environ[i], strcspn(environ[i], "="));

            unsetenv(name);
            free(name);
            i = 0;
        } else {
            i++;
        }
    }
}

static void write_file(const char *text, size_t len)
{
    if (ftruncate(file_fd, 0) || (len && pwrite(file_fd, text, len, 0) != (ssize_t)len))
        abort();
}

struct input {
    char *argv[MAX_ARGS + 2];
    int argc;
    char *env_names[MAX_ENV];
    size_t nenv;
};

static bool names_config_file(const char *item)
{
    return !strncmp(item, "--config", 8) && (!item[8] || item[8] == '=');
}

/* Splits the items after the file into argv words and environment variables. */
static void input_parse(struct input *in, const char *p, const char *end, bool file)
{
    memset(in, 0, sizeof(*in));
    in->argv[in->argc++] = xstrdup("rill");
    if (file)
        in->argv[in->argc++] = xstrdup(file_flag);
    while (p < end) {
        const char *nul = memchr(p, '\0', (size_t)(end - p));
        size_t len = nul ? (size_t)(nul - p) : (size_t)(end - p);
        const char *eq = memchr(p, '=', len);

        if (len > 5 && !strncmp(p, "RILL_", 5) && eq) {
            bool is_config = eq - p == 11 && !strncmp(p, "RILL_CONFIG", 11);

            if (in->nenv < MAX_ENV && !is_config) {
                char *value = xstrndup(eq + 1, len - (size_t)(eq + 1 - p));

                in->env_names[in->nenv] = xstrndup(p, (size_t)(eq - p));
                setenv(in->env_names[in->nenv++], value, 1);
                free(value);
            }
        } else if (in->argc < MAX_ARGS + 2) {
            char *word = xstrndup(p, len); /* exactly len + 1 bytes */

            if (names_config_file(word))
                free(word);
            else
                in->argv[in->argc++] = word;
        }
        p = nul ? nul + 1 : end;
    }
}

static void input_release(struct input *in)
{
    for (int i = 0; i < in->argc; i++)
        free(in->argv[i]);
    for (size_t i = 0; i < in->nenv; i++) {
        unsetenv(in->env_names[i]);
        free(in->env_names[i]);
    }
}

/* ---- comparing and writing back ---- */

static bool same_string(const char *a, const char *b)
{
    return !a ? !b : b && !strcmp(a, b);
}

static bool same_config(const struct server_config *a, const struct server_config *b,
                        bool with_file)
{
    return same_string(a->data_dir, b->data_dir) && same_string(a->listen, b->listen) &&
           a->listen_addr_len == b->listen_addr_len &&
           !memcmp(&a->listen_addr, &b->listen_addr, a->listen_addr_len) &&
           (!with_file || same_string(a->config_file, b->config_file)) &&
           a->threads == b->threads && same_string(a->tls_cert, b->tls_cert) &&
           same_string(a->tls_key, b->tls_key) && a->backend == b->backend &&
           same_string(a->kafka_brokers, b->kafka_brokers) && a->auth == b->auth &&
           same_string(a->cors_origin, b->cors_origin) && a->log_level == b->log_level &&
           a->retention_check_ms == b->retention_check_ms &&
           a->max_body_bytes == b->max_body_bytes &&
           a->max_connections == b->max_connections &&
           a->max_connections_per_ip == b->max_connections_per_ip &&
           a->request_timeout_s == b->request_timeout_s &&
           a->max_records == b->max_records;
}

static bool is_zero(const struct server_config *c)
{
    static const struct server_config zero;

    return !memcmp(c, &zero, sizeof(zero));
}

/* Adds "key = value\n"; false if a file cannot say 'value' (edge spaces are trimmed). */
static bool add_key(struct buf *b, const char *key, const char *value)
{
    size_t n;

    if (!value)
        return true;
    n = strlen(value);
    if (!n || value[0] == ' ' || value[n - 1] == ' ')
        return false;
    buf_printf(b, "%s = %s\n", key, value);
    return true;
}

static bool write_back(const struct server_config *c, struct buf *b)
{
    static const char *const levels[] = {"debug", "info", "warn", "error"};
    bool ok = add_key(b, "data", c->data_dir) && add_key(b, "listen", c->listen) &&
              add_key(b, "tls-cert", c->tls_cert) && add_key(b, "tls-key", c->tls_key) &&
              add_key(b, "kafka-brokers", c->kafka_brokers) &&
              add_key(b, "cors-origin", c->cors_origin);

    if ((unsigned)c->log_level >= sizeof(levels) / sizeof(levels[0]))
        abort();
    buf_printf(b, "threads = %u\n", c->threads);
    buf_printf(b, "backend = %s\n", c->backend == CONFIG_BACKEND_KAFKA ? "kafka" : "log");
    buf_printf(b, "auth = %s\n", c->auth ? "on" : "off");
    buf_printf(b, "log-level = %s\n", levels[c->log_level]);
    buf_printf(b, "retention-check-ms = %u\n", c->retention_check_ms);
    buf_printf(b, "max-body-bytes = %zu\n", c->max_body_bytes);
    buf_printf(b, "max-connections = %u\n", c->max_connections);
    buf_printf(b, "max-connections-per-ip = %u\n", c->max_connections_per_ip);
    buf_printf(b, "request-timeout-s = %u\n", c->request_timeout_s);
    buf_printf(b, "max-records = %u\n", c->max_records);
    return ok;
}

/* ---- the checks ---- */

static void check_round_trip(const struct server_config *c)
{
    char rill[] = "rill", *argv[] = {rill, file_flag, NULL};
    struct server_config back;
    struct buf text = BUF_INIT;
    char err[ERR_SIZE];

    if (write_back(c, &text)) {
        write_file(text.data, text.len);
        if (config_parse(&back, 2, argv, err, sizeof(err)) ||
            !same_config(c, &back, false))
            abort();
        config_release(&back);
    }
    buf_release(&text);
}

static void check_listen_addr(const struct server_config *c)
{
    char addr[80], flag[96], err[ERR_SIZE], rill[] = "rill";
    char *argv[] = {rill, flag, NULL};
    struct server_config back;

    if (config_format_addr((const struct sockaddr *)&c->listen_addr, addr, sizeof(addr)))
        abort();
    snprintf(flag, sizeof(flag), "--listen=%s", addr);
    if (config_parse(&back, 2, argv, err, sizeof(err)) ||
        back.listen_addr_len != c->listen_addr_len ||
        memcmp(&back.listen_addr, &c->listen_addr, c->listen_addr_len))
        abort();
    config_release(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data, *end = text + size, *items = end;
    size_t file_len = size;
    struct server_config c, again;
    char *err = xmalloc(ERR_SIZE), *small = xmalloc(SMALL_ERR_SIZE);
    struct input in;
    int ret;

    if (file_fd < 0)
        setup();
    for (size_t i = 0; i + 1 < size; i++) {
        if (!data[i] && !data[i + 1]) {
            file_len = i;
            items = text + i + 2;
            break;
        }
    }
    write_file(text, file_len);
    input_parse(&in, items, end, file_len > 0);

    err[0] = small[0] = '\0';
    ret = config_parse(&c, in.argc, in.argv, err, ERR_SIZE);
    if (config_parse(&again, in.argc, in.argv, small, SMALL_ERR_SIZE) != ret)
        abort();
    input_release(&in); /* the checks below run with a clean environment */
    if (ret) {
        size_t n = strlen(err);

        if (!n || !is_zero(&c) || !is_zero(&again) ||
            strlen(small) != (n < SMALL_ERR_SIZE ? n : SMALL_ERR_SIZE - 1) ||
            strncmp(err, small, strlen(small)))
            abort();
    } else {
        if (!same_config(&c, &again, true))
            abort();
        check_round_trip(&c);
        check_listen_addr(&c);
    }
    config_release(&c);
    config_release(&again);
    free(err);
    free(small);
    return 0;
}
