/* config.c: the server's settings. One table lists every option once; flags, environment
 * variables and config-file keys are all spellings of its name, so they cannot drift.
 *
 * config_parse() first reads the flags without applying them (to find --config and to
 * reject unknown flags early), then applies the layers lowest first: defaults, config
 * file, environment, flags. Every value is validated in whichever layer sets it, so a
 * bad value is an error even when a higher layer would override it. */
#include "server/config.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/xalloc.h"

#define CONFIG_DEFAULT_DATA "./data"
#define CONFIG_DEFAULT_LISTEN "127.0.0.1:8080"
#define CONFIG_MAX_THREADS 1024U

enum opt_kind {
    OPT_STRING,    /* char *, non-empty, no control characters */
    OPT_UINT,      /* unsigned, decimal within [min, max] */
    OPT_SIZE,      /* size_t, decimal within [min, max] */
    OPT_ONOFF,     /* bool from "on" or "off" */
    OPT_BACKEND,   /* enum config_backend from "log" or "kafka" */
    OPT_LOG_LEVEL, /* enum log_level from "debug", "info", "warn", "error" */
    OPT_LISTEN,    /* HOST:PORT, also fills listen_addr */
    OPT_CONFIG,    /* the config file itself: a flag or variable, never a file key */
};

struct config_option {
    const char *name; /* flag without "--", file key; RILL_ + upper snake for env */
    enum opt_kind kind;
    size_t offset; /* of the field in struct server_config */
    unsigned long long min, max;
};

#define FIELD(f) offsetof(struct server_config, f)

static const struct config_option options[] = {
    {"data", OPT_STRING, FIELD(data_dir), 0, 0},
    {"listen", OPT_LISTEN, FIELD(listen), 0, 0},
    {"config", OPT_CONFIG, FIELD(config_file), 0, 0},
    {"threads", OPT_UINT, FIELD(threads), 1, CONFIG_MAX_THREADS},
    {"tls-cert", OPT_STRING, FIELD(tls_cert), 0, 0},
    {"tls-key", OPT_STRING, FIELD(tls_key), 0, 0},
    {"backend", OPT_BACKEND, FIELD(backend), 0, 0},
    {"kafka-brokers", OPT_STRING, FIELD(kafka_brokers), 0, 0},
    {"auth", OPT_ONOFF, FIELD(auth), 0, 0},
    {"cors-origin", OPT_STRING, FIELD(cors_origin), 0, 0},
    {"log-level", OPT_LOG_LEVEL, FIELD(log_level), 0, 0},
    {"retention-check-ms", OPT_UINT, FIELD(retention_check_ms), 10, 86400000},
    {"max-body-bytes", OPT_SIZE, FIELD(max_body_bytes), 1, 1ULL << 30},
    {"max-connections", OPT_UINT, FIELD(max_connections), 1, 1000000},
    {"max-connections-per-ip", OPT_UINT, FIELD(max_connections_per_ip), 1, 1000000},
    {"request-timeout-s", OPT_UINT, FIELD(request_timeout_s), 1, 86400},
    {"max-records", OPT_UINT, FIELD(max_records), 1, 1000000},
    {"heartbeat-ms", OPT_UINT, FIELD(heartbeat_ms), 10, 3600000},
    {"offsets-segment-bytes", OPT_SIZE, FIELD(offsets_segment_bytes), 1024, 1ULL << 30},
    {"stream-buffer-bytes", OPT_SIZE, FIELD(stream_buffer_bytes), 65536, 1ULL << 30},
};

#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

/* A flag seen on the command line, applied after the file and the environment. */
struct flag_value {
    const struct config_option *opt;
    const char *value; /* borrowed from argv */
};

static const struct config_option *find_option(const char *name, size_t len)
{
    for (size_t i = 0; i < N_OPTIONS; i++) {
        if (strlen(options[i].name) == len && !memcmp(options[i].name, name, len))
            return &options[i];
    }
    return NULL;
}

static void env_name(const struct config_option *o, char *out, size_t size)
{
    size_t n = (size_t)snprintf(out, size, "RILL_");

    for (const char *p = o->name; *p && n + 1 < size; p++)
        out[n++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    out[n] = '\0';
}

/* Strict decimal: digits only, no sign, no spaces, no overflow, within [min, max]. */
static int parse_uint(const char *s, unsigned long long min, unsigned long long max,
                      unsigned long long *out, char *why, size_t whylen)
{
    unsigned long long v = 0;
    const char *p;

    if (!*s)
        goto bad;
    for (p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            goto bad;
        if (v > (ULLONG_MAX - (unsigned)(*p - '0')) / 10)
            goto range;
        v = v * 10 + (unsigned)(*p - '0');
    }
    if (v < min || v > max)
        goto range;
    *out = v;
    return 0;
bad:
    snprintf(why, whylen, "'%s' is not a non-negative integer", s);
    return -EINVAL;
range:
    snprintf(why, whylen, "'%s' is out of range (%llu..%llu)", s, min, max);
    return -EINVAL;
}

static int check_text(const char *s, char *why, size_t whylen)
{
    if (!*s) {
        snprintf(why, whylen, "empty value");
        return -EINVAL;
    }
    for (const char *p = s; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            snprintf(why, whylen, "value contains a control character");
            return -EINVAL;
        }
    }
    return 0;
}

static int parse_port(const char *s, uint16_t *port, char *why, size_t whylen)
{
    unsigned long long v;

    if (parse_uint(s, 0, 65535, &v, why, whylen))
        return -EINVAL;
    *port = (uint16_t)v;
    return 0;
}

/* Resolves a host name (not a literal), preferring IPv4 as the default listen does. */
static int resolve_host(const char *host, struct sockaddr_storage *ss, socklen_t *len,
                        char *why, size_t whylen)
{
    /* no AI_ADDRCONFIG: it ignores loopback, so "localhost" would fail on a host
     * whose only interface is lo */
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res, *ai, *pick = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &res);

    if (rc) {
        snprintf(why, whylen, "cannot resolve host '%.100s': %s", host, gai_strerror(rc));
        return -EINVAL;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET) {
            pick = ai;
            break;
        }
        if (ai->ai_family == AF_INET6 && !pick)
            pick = ai;
    }
    if (!pick) {
        freeaddrinfo(res);
        snprintf(why, whylen, "host '%.100s' has no IPv4 or IPv6 address", host);
        return -EINVAL;
    }
    memcpy(ss, pick->ai_addr, pick->ai_addrlen);
    *len = pick->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* "127.0.0.1:8080", "localhost:0", "[::1]:8080" -> a socket address. */
static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len,
                        char *why, size_t whylen)
{
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    const char *given = s, *colon, *end;
    char host[256];
    uint16_t port;
    bool v6 = s[0] == '[';

    if (v6) {
        end = strchr(s, ']');
        if (!end || end[1] != ':')
            goto syntax;
        colon = end + 1;
        s++;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            goto syntax;
        end = colon;
        if (memchr(s, ':', (size_t)(end - s))) {
            snprintf(why, whylen, "an IPv6 address needs brackets, e.g. '[::1]:8080'");
            return -EINVAL;
        }
    }
    if (end == s || (size_t)(end - s) >= sizeof(host))
        goto syntax;
    memcpy(host, s, (size_t)(end - s));
    host[end - s] = '\0';
    if (parse_port(colon + 1, &port, why, whylen))
        return -EINVAL;

    memset(ss, 0, sizeof(*ss));
    if (v6) {
        if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1) {
            snprintf(why, whylen, "'%.100s' is not an IPv6 address", host);
            return -EINVAL;
        }
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(port);
        *len = sizeof(*a6);
        return 0;
    }
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        *len = sizeof(*a4);
    } else if (resolve_host(host, ss, len, why, whylen)) {
        return -EINVAL;
    }
    /* sin_port and sin6_port sit at the same offset, but say which one we mean */
    if (ss->ss_family == AF_INET)
        a4->sin_port = htons(port);
    else
        a6->sin6_port = htons(port);
    return 0;
syntax:
    snprintf(why, whylen, "'%s' is not HOST:PORT (e.g. 127.0.0.1:8080 or [::1]:8080)",
             given);
    return -EINVAL;
}

static void set_string(struct server_config *c, size_t offset, const char *value)
{
    char **field = (char **)((char *)c + offset);

    free(*field);
    *field = xstrdup(value);
}

/* Validates 'value' for option 'o' and stores it in 'c'. */
static int apply(struct server_config *c, const struct config_option *o,
                 const char *value, char *why, size_t whylen)
{
    void *field = (char *)c + o->offset;
    unsigned long long v;
    enum log_level level;

    if (check_text(value, why, whylen))
        return -EINVAL;
    switch (o->kind) {
    case OPT_STRING:
    case OPT_CONFIG:
        set_string(c, o->offset, value);
        return 0;
    case OPT_UINT:
        if (parse_uint(value, o->min, o->max, &v, why, whylen))
            return -EINVAL;
        *(unsigned *)field = (unsigned)v;
        return 0;
    case OPT_SIZE:
        if (parse_uint(value, o->min, o->max, &v, why, whylen))
            return -EINVAL;
        *(size_t *)field = (size_t)v;
        return 0;
    case OPT_ONOFF:
        if (strcmp(value, "on") && strcmp(value, "off"))
            break;
        *(bool *)field = !strcmp(value, "on");
        return 0;
    case OPT_BACKEND:
        if (!strcmp(value, "log"))
            *(enum config_backend *)field = CONFIG_BACKEND_LOG;
        else if (!strcmp(value, "kafka"))
            *(enum config_backend *)field = CONFIG_BACKEND_KAFKA;
        else
            break;
        return 0;
    case OPT_LOG_LEVEL:
        if (log_parse_level(value, &level))
            break;
        *(enum log_level *)field = level;
        return 0;
    case OPT_LISTEN:
        if (parse_listen(value, &c->listen_addr, &c->listen_addr_len, why, whylen))
            return -EINVAL;
        set_string(c, o->offset, value);
        return 0;
    }
    static const char *const expected[] = {
        [OPT_ONOFF] = "on or off",
        [OPT_BACKEND] = "log or kafka",
        [OPT_LOG_LEVEL] = "debug, info, warn or error",
    };
    snprintf(why, whylen, "'%s' is not one of %s", value, expected[o->kind]);
    return -EINVAL;
}

static unsigned online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    if (n < 1)
        return 1;
    return n > (long)CONFIG_MAX_THREADS ? CONFIG_MAX_THREADS : (unsigned)n;
}

static void set_defaults(struct server_config *c)
{
    char why[128];
    int ret;

    memset(c, 0, sizeof(*c));
    c->data_dir = xstrdup(CONFIG_DEFAULT_DATA);
    c->listen = xstrdup(CONFIG_DEFAULT_LISTEN);
    ret = parse_listen(c->listen, &c->listen_addr, &c->listen_addr_len, why, sizeof(why));
    assert(ret == 0); /* a literal address */
    (void)ret;
    c->threads = online_cpus();
    c->backend = CONFIG_BACKEND_LOG;
    c->auth = true;
    c->log_level = LOG_INFO;
    c->retention_check_ms = 30000;
    c->max_body_bytes = 8U << 20;
    c->max_connections = 1024;
    c->max_connections_per_ip = 256;
    c->request_timeout_s = 30;
    c->max_records = 10000;
    c->heartbeat_ms = 15000;
    c->offsets_segment_bytes = 16 << 20;
    c->stream_buffer_bytes = 4 << 20;
}

/* Reads argv into 'flags' without applying anything; returns the count or -EINVAL. */
static int collect_flags(int argc, char **argv, struct flag_value *flags, char *err,
                         size_t errlen)
{
    int n = 0;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *name, *eq;
        const struct config_option *o;

        if (strncmp(arg, "--", 2) || !arg[2]) {
            snprintf(err, errlen, "unexpected argument '%s' (see 'rill help')", arg);
            return -EINVAL;
        }
        name = arg + 2;
        eq = strchr(name, '=');
        o = find_option(name, eq ? (size_t)(eq - name) : strlen(name));
        if (!o) {
            snprintf(err, errlen, "unknown flag '--%.*s' (see 'rill help')",
                     eq ? (int)(eq - name) : (int)strlen(name), name);
            return -EINVAL;
        }
        if (eq) {
            flags[n].value = eq + 1;
        } else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2)) {
            flags[n].value = argv[++i];
        } else {
            snprintf(err, errlen, "flag '--%s' needs a value", o->name);
            return -EINVAL;
        }
        flags[n++].opt = o;
    }
    return n;
}

static char *trim(char *s)
{
    char *end;

    while (isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

static int apply_file_line(struct server_config *c, char *line, char *why, size_t whylen)
{
    const struct config_option *o;
    char *eq, *key, *value, reason[160];

    line = trim(line);
    if (!*line || *line == '#')
        return 0;
    eq = strchr(line, '=');
    if (!eq) {
        snprintf(why, whylen, "expected 'key = value'");
        return -EINVAL;
    }
    *eq = '\0';
    key = trim(line);
    value = trim(eq + 1);
    o = find_option(key, strlen(key));
    if (!o) {
        snprintf(why, whylen, "unknown key '%s'", key);
        return -EINVAL;
    }
    if (o->kind == OPT_CONFIG) {
        snprintf(why, whylen, "key 'config' cannot be used inside a config file");
        return -EINVAL;
    }
    if (apply(c, o, value, reason, sizeof(reason))) {
        snprintf(why, whylen, "%s: %s", o->name, reason);
        return -EINVAL;
    }
    return 0;
}

static int apply_file(struct server_config *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    char *line = NULL, why[256];
    size_t cap = 0;
    unsigned lineno = 0;
    int ret = 0;

    if (!f) {
        ret = -errno;
        snprintf(err, errlen, "cannot read config file '%s': %s", path, strerror(-ret));
        return -EINVAL;
    }
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        if (apply_file_line(c, line, why, sizeof(why))) {
            snprintf(err, errlen, "%s:%u: %s", path, lineno, why);
            ret = -EINVAL;
            goto out_close;
        }
    }
    if (ferror(f)) {
        snprintf(err, errlen, "cannot read config file '%s': %s", path, strerror(errno));
        ret = -EINVAL;
    }
out_close:
    free(line);
    fclose(f);
    return ret;
}

static int apply_env(struct server_config *c, char *err, size_t errlen)
{
    char name[64], why[256];

    for (size_t i = 0; i < N_OPTIONS; i++) {
        const char *value;

        env_name(&options[i], name, sizeof(name));
        value = getenv(name);
        if (!value || !*value)
            continue;
        if (apply(c, &options[i], value, why, sizeof(why))) {
            snprintf(err, errlen, "%s: %s", name, why);
            return -EINVAL;
        }
    }
    return 0;
}

static int check_combination(const struct server_config *c, char *err, size_t errlen)
{
    if (!c->tls_cert != !c->tls_key) {
        snprintf(err, errlen, "--tls-cert and --tls-key must be given together");
        return -EINVAL;
    }
    if (c->backend == CONFIG_BACKEND_KAFKA && !c->kafka_brokers) {
        snprintf(err, errlen, "--backend kafka needs --kafka-brokers");
        return -EINVAL;
    }
    return 0;
}

int config_parse(struct server_config *c, int argc, char **argv, char *err, size_t errlen)
{
    struct flag_value *flags = xcalloc(argc > 0 ? (size_t)argc : 1, sizeof(*flags));
    const char *file = NULL;
    char why[256];
    int nflags, ret = -EINVAL;

    set_defaults(c);
    nflags = collect_flags(argc, argv, flags, err, errlen);
    if (nflags < 0)
        goto out_fail;

    for (int i = 0; i < nflags; i++) {
        if (flags[i].opt->kind == OPT_CONFIG)
            file = flags[i].value;
    }
    if (!file && getenv("RILL_CONFIG") && *getenv("RILL_CONFIG"))
        file = getenv("RILL_CONFIG");
    if (file && apply_file(c, file, err, errlen))
        goto out_fail;
    if (apply_env(c, err, errlen))
        goto out_fail;
    for (int i = 0; i < nflags; i++) {
        if (apply(c, flags[i].opt, flags[i].value, why, sizeof(why))) {
            snprintf(err, errlen, "--%s: %s", flags[i].opt->name, why);
            goto out_fail;
        }
    }
    if (check_combination(c, err, errlen))
        goto out_fail;
    ret = 0;
    goto out_free_flags;
out_fail:
    config_release(c);
out_free_flags:
    free(flags);
    return ret;
}

void config_release(struct server_config *c)
{
    for (size_t i = 0; i < N_OPTIONS; i++) {
        enum opt_kind k = options[i].kind;

        if (k == OPT_STRING || k == OPT_CONFIG || k == OPT_LISTEN)
            free(*(char **)((char *)c + options[i].offset));
    }
    memset(c, 0, sizeof(*c));
}

int config_format_addr(const struct sockaddr *sa, char *out, size_t size)
{
    char host[INET6_ADDRSTRLEN];
    int n;

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a4 = (const struct sockaddr_in *)sa;

        inet_ntop(AF_INET, &a4->sin_addr, host, sizeof(host));
        n = snprintf(out, size, "%s:%u", host, ntohs(a4->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)sa;

        inet_ntop(AF_INET6, &a6->sin6_addr, host, sizeof(host));
        n = snprintf(out, size, "[%s]:%u", host, ntohs(a6->sin6_port));
    } else {
        return -EAFNOSUPPORT;
    }
    return n < 0 || (size_t)n >= size ? -ENOSPC : 0;
}
