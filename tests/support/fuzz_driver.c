/* fuzz_driver.c: runs a libFuzzer target without libFuzzer, so `make test` exercises it.
 *
 *   fuzz_record CORPUS_DIR N [SEED]
 *
 * feeds LLVMFuzzerTestOneInput() every regular file in CORPUS_DIR (in name order),
 * then N inputs made from them by a deterministic generator (SEED, default 1): bit
 * flips, byte sets, interesting values, insertions, deletions, duplications,
 * truncations, splices of two corpus files and, now and then, pure random buffers of
 * up to 4 KiB. Each input is handed over in a buffer of exactly its size, so that the
 * sanitizers see any read past its end. A crash or a failed check aborts the process;
 * otherwise one summary line is printed and the exit status is 0:
 *
 *   fuzz_record: 20017 inputs, 0 crashes
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FILE_BYTES (1 << 20) /* corpus files beyond this are skipped */
#define MAX_INPUT_BYTES (1 << 16)
#define RANDOM_INPUT_BYTES 4096

struct input {
    uint8_t *data;
    size_t len;
};

struct corpus {
    struct input *files;
    size_t n;
};

static void *must_alloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (!p) {
        fprintf(stderr, "fuzz_driver: out of memory\n");
        abort();
    }
    return p;
}

/* splitmix64 */
static uint64_t rng_state;

static uint64_t rng(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static size_t below(size_t n)
{
    return n ? (size_t)(rng() % n) : 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int read_file(const char *path, struct input *in)
{
    struct stat st;
    FILE *f = fopen(path, "rb");
    int ret = 0;

    if (!f)
        return -errno;
    if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode) || st.st_size > MAX_FILE_BYTES) {
        ret = -EINVAL;
        goto out_close;
    }
    in->len = (size_t)st.st_size;
    in->data = must_alloc(in->len);
    if (fread(in->data, 1, in->len, f) != in->len) {
        free(in->data);
        ret = -EIO;
    }
out_close:
    fclose(f);
    return ret;
}

/* Loads every regular file of 'dir'; a missing directory leaves the corpus empty. */
static void corpus_load(struct corpus *c, const char *dir)
{
    char **names = NULL, path[4096];
    size_t n = 0, cap = 0;
    struct dirent *e;
    DIR *d = opendir(dir);

    c->files = NULL;
    c->n = 0;
    if (!d) {
        fprintf(stderr, "fuzz_driver: cannot open corpus '%s': %s\n", dir,
                strerror(errno));
        return;
    }
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            names = realloc(names, cap * sizeof(*names));
            if (!names)
                abort();
        }
        names[n] = strdup(e->d_name);
        if (!names[n])
            abort();
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof(*names), cmp_names);
    c->files = must_alloc(n * sizeof(*c->files));
    for (size_t i = 0; i < n; i++) {
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, names[i]) < sizeof(path) &&
            read_file(path, &c->files[c->n]) == 0)
            c->n++;
        free(names[i]);
    }
    free(names);
}

static void corpus_free(struct corpus *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->files[i].data);
    free(c->files);
}

/* Runs the target on a copy of exactly 'len' bytes. */
static void run(const uint8_t *data, size_t len)
{
    uint8_t *copy = must_alloc(len);

    if (len)
        memcpy(copy, data, len);
    LLVMFuzzerTestOneInput(copy, len);
    free(copy);
}

/* The working input: a buffer with room to grow up to MAX_INPUT_BYTES. */
struct work {
    uint8_t data[MAX_INPUT_BYTES];
    size_t len;
};

static void insert_bytes(struct work *w, size_t at, const uint8_t *src, size_t n)
{
    if (n > MAX_INPUT_BYTES - w->len)
        n = MAX_INPUT_BYTES - w->len;
    memmove(w->data + at + n, w->data + at, w->len - at);
    if (src)
        memmove(w->data + at, src, n);
    else
        for (size_t i = 0; i < n; i++)
            w->data[at + i] = (uint8_t)rng();
    w->len += n;
}

static void mutate_once(struct work *w, const struct corpus *c)
{
    static const uint8_t bytes[] = {0x00, 0x01, 0x02, 0x7f, 0x80, 0x81, 0xfe, 0xff};
    static const uint32_t words[] = {0, 1, 48, 49, 0x7fffffff, 0x80000000, 0xffffffff};
    size_t at = below(w->len + 1), n;
    const struct input *other;
    uint8_t tmp[16];

    switch (below(10)) {
    case 0: /* flip a bit */
        if (w->len)
            w->data[below(w->len)] ^= (uint8_t)(1u << below(8));
        break;
    case 1: /* set a byte */
        if (w->len)
            w->data[below(w->len)] = (uint8_t)rng();
        break;
    case 2: /* an interesting byte */
        if (w->len)
            w->data[below(w->len)] = bytes[below(sizeof(bytes))];
        break;
    case 3: /* an interesting big-endian int32 */
        if (w->len >= 4) {
            uint32_t v = words[below(sizeof(words) / sizeof(words[0]))];

            at = below(w->len - 3);
            w->data[at] = (uint8_t)(v >> 24);
            w->data[at + 1] = (uint8_t)(v >> 16);
            w->data[at + 2] = (uint8_t)(v >> 8);
            w->data[at + 3] = (uint8_t)v;
        }
        break;
    case 4: /* insert random bytes */
        insert_bytes(w, at, NULL, 1 + below(16));
        break;
    case 5: /* delete a range */
        n = below(w->len - at + 1);
        if (n > 64)
            n = 1 + below(64);
        memmove(w->data + at, w->data + at + n, w->len - at - n);
        w->len -= n;
        break;
    case 6: /* truncate */
        w->len = below(w->len + 1);
        break;
    case 7: /* duplicate a range */
        n = below(w->len - at + 1);
        if (n > sizeof(tmp))
            n = sizeof(tmp);
        memcpy(tmp, w->data + at, n);
        insert_bytes(w, below(w->len + 1), tmp, n);
        break;
    case 8: /* splice: our head, another file's tail */
        if (c->n) {
            other = &c->files[below(c->n)];
            n = below(other->len + 1);
            w->len = at;
            insert_bytes(w, at, other->data + n, other->len - n);
        }
        break;
    default: /* append another whole file */
        if (c->n) {
            other = &c->files[below(c->n)];
            insert_bytes(w, w->len, other->data, other->len);
        }
        break;
    }
}

static void make_input(struct work *w, const struct corpus *c)
{
    const struct input *base;
    size_t rounds;

    if (!c->n || below(16) == 0) {
        w->len = below(RANDOM_INPUT_BYTES + 1);
        for (size_t i = 0; i < w->len; i++)
            w->data[i] = (uint8_t)rng();
        return;
    }
    base = &c->files[below(c->n)];
    w->len = base->len < MAX_INPUT_BYTES ? base->len : MAX_INPUT_BYTES;
    memcpy(w->data, base->data, w->len);
    rounds = 1 + below(4);
    for (size_t i = 0; i < rounds; i++)
        mutate_once(w, c);
}

int main(int argc, char **argv)
{
    static struct work w;
    const char *name;
    struct corpus c;
    unsigned long long count, total = 0;
    char *end;

    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: %s CORPUS_DIR N [SEED]\n", argv[0]);
        return 2;
    }
    count = strtoull(argv[2], &end, 10);
    if (*end) {
        fprintf(stderr, "%s: bad count '%s'\n", argv[0], argv[2]);
        return 2;
    }
    rng_state = argc == 4 ? strtoull(argv[3], NULL, 10) : 1;
    name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];

    corpus_load(&c, argv[1]);
    for (size_t i = 0; i < c.n; i++, total++)
        run(c.files[i].data, c.files[i].len);
    for (unsigned long long i = 0; i < count; i++, total++) {
        make_input(&w, &c);
        run(w.data, w.len);
    }
    corpus_free(&c);
    printf("%s: %llu inputs, 0 crashes\n", name, total);
    return 0;
}
