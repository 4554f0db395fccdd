/* fuzz_partition_files.c: libFuzzer target for the readers of the small files in a
 * partition directory (storage/partition.c), all of which decide how much of the log
 * recovery trusts after a restart:
 *
 *   partition_read_recovery_point()  'recovery-point': "rill-recovery-point 1\n<offset>\n"
 *   partition_read_clean_point()     'clean-point': "rill-clean-point 1\n<offset>\n"
 *   partition_checkpoint_matches()   'recovery-checkpoint':
 *                          "rill-checkpoint 1\n<log_end> <active base> <active size>\n"
 *   partition_parse_segment_name()   "<20 digits>.<ext>", the names of the segment files
 *
 * Input: arbitrary bytes, written as all three files (one file and symlinks to it) into a
 * directory whose one segment is 00000000000000001200.log of 37 bytes, and read up to
 * its first NUL as a file name. The name is a heap copy of exactly its length + 1;
 * the files are read by io.c.
 *
 * Properties, else abort():
 *  - partition_read_recovery_point() gives what the format says: the offset when the file (at
 *    most 64 bytes) is the magic line, decimal digits without sign or spaces that fit
 *    an int64, and a newline ending the text (a C string: a NUL ends it); else 0;
 *  - partition_read_clean_point() accepts by the same rule with its own magic line,
 *    giving the offset, and is -EBADMSG for anything else (a malformed clean point
 *    changes how recovery reads the log, so it is never taken for 0);
 *  - partition_checkpoint_matches() is true exactly when its sscanf() pattern converts all
 *    three numbers (as sscanf reads them: spaces skipped, optional sign) from a file
 *    of at most 256 bytes, the base is 1200 and the size 37; never for a base whose
 *    segment does not exist; numbers beyond 64 bits get no verdict (sscanf's
 *    behaviour there is undefined);
 *  - partition_parse_segment_name() accepts exactly 20 digits, '.', the extension, with the
 *    number at most INT64_MAX, and gives that number.
 * Seeds: fuzz/corpus/fuzz_partition_files/. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "storage/io.h"
#include "storage/partition.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ACTIVE_BASE 1200
#define ACTIVE_SIZE 37

static char dir[4096];
static int file_fd = -1; /* 'recovery-point'; 'recovery-checkpoint' and 'clean-point'
                            link to it */

static void teardown(void)
{
    close(file_fd);
    io_remove_tree(dir);
}

/* Rewrites the file in place: no O_TRUNC, which makes ext4 flush the file at close. */
static void write_input(const void *data, size_t len)
{
    if ((len && pwrite(file_fd, data, len, 0) != (ssize_t)len) ||
        ftruncate(file_fd, (off_t)len))
        abort();
}

static void setup(void)
{
    const char *base = getenv("TMPDIR");
    char path[4200], segment[ACTIVE_SIZE] = {0};
    int fd;

    log_set_level(LOG_ERROR); /* every malformed recovery-point is logged */
    snprintf(dir, sizeof(dir), "%s/rill-fuzz-partition-XXXXXX",
             base && *base ? base : "/tmp");
    if (!mkdtemp(dir))
        abort();
    snprintf(path, sizeof(path), "%s/%020d.log", dir, ACTIVE_BASE);
    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, segment, sizeof(segment)) != (ssize_t)sizeof(segment) ||
        close(fd))
        abort();
    snprintf(path, sizeof(path), "%s/recovery-point", dir);
    file_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    snprintf(path, sizeof(path), "%s/recovery-checkpoint", dir);
    if (file_fd < 0 || symlink("recovery-point", path))
        abort();
    snprintf(path, sizeof(path), "%s/clean-point", dir);
    if (symlink("recovery-point", path))
        abort();
    atexit(teardown);
}

/* ---- the model ---- */

/* Appends decimal digit d to *v; false if the result would pass INT64_MAX. */
static bool add_digit(uint64_t *v, int d)
{
    if (*v > ((uint64_t)INT64_MAX - (uint64_t)d) / 10)
        return false;
    *v = *v * 10 + (uint64_t)d;
    return true;
}

/* True, with the offset in *out, if 'text' is 'magic', digits and a newline. */
static bool want_point(const char *text, size_t size, const char *magic, int64_t *out)
{
    const char *p = text;
    uint64_t v = 0;

    if (size > 64 || strncmp(text, magic, strlen(magic)))
        return false;
    p += strlen(magic);
    if (!isdigit((unsigned char)*p))
        return false;
    for (; isdigit((unsigned char)*p); p++)
        if (!add_digit(&v, *p - '0'))
            return false;
    if (strcmp(p, "\n"))
        return false;
    *out = (int64_t)v;
    return true;
}

static int64_t want_recovery_point(const char *text, size_t size)
{
    int64_t v;

    return want_point(text, size, "rill-recovery-point 1\n", &v) ? v : 0;
}

static void check_clean_point(const char *text, size_t size)
{
    int64_t want = -1, got = -2;
    bool ok = want_point(text, size, "rill-clean-point 1\n", &want);
    int ret = partition_read_clean_point(dir, &got);

    if (ok ? ret != 0 || got != want : ret != -EBADMSG)
        abort();
}

static const char *skip_space(const char *p)
{
    while (isspace((unsigned char)*p))
        p++;
    return p;
}

/* What "%lld" reads at p: spaces, an optional sign, digits. Returns the end, or NULL
 * if nothing converts; *big if the digits pass 64 bits. */
static const char *scan_lld(const char *p, long long *out, bool *big)
{
    bool neg;
    uint64_t v = 0;

    p = skip_space(p);
    neg = *p == '-';
    if (*p == '-' || *p == '+')
        p++;
    if (!isdigit((unsigned char)*p))
        return NULL;
    for (; isdigit((unsigned char)*p); p++)
        if (!add_digit(&v, *p - '0'))
            *big = true;
    *out = neg ? -(long long)v : (long long)v;
    return p;
}

/* 1 or 0: does "rill-checkpoint 1\n%lld %lld %lld" read base 1200 and size 37 from
 * 'text'; -1: no verdict. In a scanf format a space or newline skips any spaces. */
static int want_checkpoint(const char *text, size_t size)
{
    static const char magic[] = "rill-checkpoint";
    long long n[3];
    const char *p = text;
    bool big = false;

    if (size > 256 || strncmp(p, magic, strlen(magic)))
        return 0;
    p = skip_space(p + strlen(magic));
    if (*p++ != '1')
        return 0;
    for (int i = 0; i < 3; i++) {
        p = scan_lld(p, &n[i], &big);
        if (!p)
            return big ? -1 : 0;
    }
    if (big)
        return -1;
    return n[1] == ACTIVE_BASE && n[2] == ACTIVE_SIZE;
}

static bool want_segment_name(const char *name, const char *ext, int64_t *base)
{
    size_t n = strlen(name);
    uint64_t v = 0;

    if (n != 21 + strlen(ext) || name[20] != '.' || strcmp(name + 21, ext))
        return false;
    for (int i = 0; i < 20; i++)
        if (!isdigit((unsigned char)name[i]) || !add_digit(&v, name[i] - '0'))
            return false;
    *base = (int64_t)v;
    return true;
}

/* ---- the checks ---- */

static void check_segment_name(const char *name, const char *ext)
{
    int64_t got = -1, want = -2;
    bool ok = partition_parse_segment_name(name, ext, &got);

    if (ok != want_segment_name(name, ext, &want) || (ok && got != want))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t len = strnlen((const char *)data, size);
    char *text = xmalloc(len + 1);
    int want;

    if (!dir[0])
        setup();
    memcpy(text, data, len);
    text[len] = '\0';

    write_input(data, size); /* all three files */
    if (partition_read_recovery_point(dir) != want_recovery_point(text, size))
        abort();
    check_clean_point(text, size);

    want = want_checkpoint(text, size);
    if ((want >= 0 && partition_checkpoint_matches(dir, ACTIVE_BASE) != (want == 1)) ||
        partition_checkpoint_matches(dir, 0) || partition_checkpoint_matches(dir, ACTIVE_BASE + 1))
        abort();

    check_segment_name(text, "log");
    check_segment_name(text, "index");
    check_segment_name(text, "");
    free(text);
    return 0;
}
