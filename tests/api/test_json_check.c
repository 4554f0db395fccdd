/* tests/api/test_json_check.c: tests for api/json_check.c
 *
 * Three kinds of evidence: tables of documents with a known verdict (RFC 8259 and the
 * usual JSONTestSuite traps), the depth limit at its edge, and agreement with jansson on
 * random byte strings, generated documents and mutations of both.
 *
 * jansson as the oracle, and where it is not one (RFC 8259 says yes, jansson says no or
 * differs): it is called with JSON_DECODE_ANY | JSON_ALLOW_NUL, since without
 * JSON_ALLOW_NUL it rejects the valid escape \u0000; duplicate keys are valid JSON and
 * jansson accepts them by default. Remaining differences, handled in json_oracle_verdict():
 *   - depth: jansson accepts up to 2048 levels, we up to 64, so for a document jansson
 *     accepts the expected verdict is "it nests at most 64 deep";
 *   - numbers: jansson fails with json_error_numeric_overflow on integers outside int64
 *     and reals beyond double; such inputs get no verdict and are skipped (the tables
 *     check that big numbers are accepted);
 *   - keys: jansson rejects "\u0000" inside an object key even with JSON_ALLOW_NUL
 *     (json_error_null_byte_in_key); skipped too;
 *   - raw NUL bytes: jansson 2.14 drops a 0x00 byte that directly follows a number or a
 *     literal (its one-character lookahead cannot hold a NUL), so it accepts "0\0" and
 *     "[true\0]". A raw NUL can never be in JSON (not whitespace, and a control
 *     character in strings), so for input holding one the expected verdict is "invalid"
 *     whatever jansson says.
 * Every input is handed over in a heap buffer of exactly its size, so ASan reports any
 * read past the end. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/json_check.h"
#include "tests/support/json_oracle.h"

TestSuite(json_check, .timeout = 60);

/* The tables below are looped over inside one test each, not ParameterizedTest: one
 * process instead of ~230 (a forked sanitizer process costs ~90 ms), and cr_expect()
 * still names every failing entry. */
struct doc {
    const char *text;
    size_t len;
};

#define DOC(s) {s, sizeof(s) - 1}

/* s as C-ish text for failure messages; 'out' needs 4 * len + 1 bytes at most. */
static const char *show(const char *s, size_t len, char *out, size_t size)
{
    size_t o = 0;

    for (size_t i = 0; i < len && o + 5 < size; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c >= 0x20 && c < 0x7f && c != '\\')
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, size - o, "\\x%02x", c);
    }
    out[o] = '\0';
    return out;
}

/* json_check() on an exact-size heap copy of s. */
static bool check(const char *s, size_t len)
{
    char *copy = malloc(len ? len : 1);
    bool ok;

    cr_assert(copy != NULL);
    memcpy(copy, s, len);
    ok = json_check(copy, len);
    free(copy);
    return ok;
}

static bool check_utf8(const char *s, size_t len)
{
    char *copy = malloc(len ? len : 1);
    bool ok;

    cr_assert(copy != NULL);
    memcpy(copy, s, len);
    ok = utf8_check(copy, len);
    free(copy);
    return ok;
}

static const struct doc valid_docs[] = {
    DOC("0"), DOC("-0"), DOC("1"), DOC("-1"), DOC("123"), DOC("1.5"),
    DOC("-1.5e10"), DOC("1E+2"), DOC("1e-2"), DOC("0.0"), DOC("0e0"), DOC("0E-0"),
    DOC("-0.0e+00"),
    /* numbers have no size limit in the grammar */
    DOC("1E400"), DOC("-1e-400"), DOC("123456789012345678901234567890"),
    DOC("-123456789012345678901234567890.123456789e123456789"),
    DOC("true"), DOC("false"), DOC("null"), DOC(" \t\r\n true \n\t\r "),
    DOC("\"\""), DOC("\"abc\""), DOC("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\""),
    DOC("\"\\u0000\""), DOC("\"\\u00e9\\u00E9\""), DOC("\"\\uD834\\uDD1E\""),
    DOC("\"\\udbff\\udfff\""), DOC("\"\\uFFFF\""), DOC("\"\\u20ac\""),
    DOC("\"\xc3\xa9\""),           /* U+00E9 */
    DOC("\"\xc2\x80\""),           /* U+0080, shortest 2-byte */
    DOC("\"\xe2\x82\xac\""),       /* U+20AC */
    DOC("\"\xe0\xa0\x80\""),       /* U+0800, shortest 3-byte */
    DOC("\"\xed\x9f\xbf\""),       /* U+D7FF, just below the surrogates */
    DOC("\"\xee\x80\x80\""),       /* U+E000, just above them */
    DOC("\"\xef\xbf\xbf\""),       /* U+FFFF, a noncharacter but valid */
    DOC("\"\xf0\x90\x80\x80\""),   /* U+10000, shortest 4-byte */
    DOC("\"\xf0\x9f\x98\x80\""),   /* U+1F600 */
    DOC("\"\xf4\x8f\xbf\xbf\""),   /* U+10FFFF, the last one */
    DOC("\"\x7f\""),               /* DEL is not a control character in JSON */
    DOC("\"0123456789abcdef0123456789\""),
    DOC("\"01234567\\n89abcdef\\\"0123\xc3\xa9xyzxyzxyz\""),
    DOC("[]"), DOC("{}"), DOC("[ ]"), DOC("{ }"), DOC("[1,2,3]"),
    DOC("{\"a\":1}"), DOC("{\"a\":1,\"a\":2}"), DOC("{\"\":\"\"}"),
    DOC("[[[]]]"), DOC("[{}]"), DOC("{\"a\":[{\"b\":null}]}"),
    DOC(" [ 1 , \"a\" , true , false , null , { } , [ ] , -0.5e-5 ] "),
    DOC("{ \"k\" : { \"k\" : [ 1 , { } ] } , \"z\" : \"\xc3\xa9\" }"),
    DOC("{\"\\u0041\\ud83d\\ude00\":[0,-0,1e1]}"),
};

Test(json_check, valid_documents_are_accepted)
{
    char text[400];

    for (size_t i = 0; i < sizeof(valid_docs) / sizeof(valid_docs[0]); i++) {
        const struct doc *d = &valid_docs[i];

        cr_expect(check(d->text, d->len), "rejected: %s",
                  show(d->text, d->len, text, sizeof(text)));
    }
}

static const struct doc invalid_docs[] = {
    /* nothing, or more than one value */
    DOC(""), DOC(" "), DOC(" \t\r\n"), DOC("true false"), DOC("1 2"), DOC("{}{}"),
    DOC("[1]x"), DOC("1\0"), DOC("\"a\"\"b\""), DOC("{\"a\":1}}"), DOC("[1]]"),
    /* whitespace is only space, tab, CR, LF; no BOM, no comments */
    DOC("\xef\xbb\xbf{}"), DOC("\x0b" "1"), DOC("\f1"), DOC("\xc2\xa0" "1"),
    DOC("/* */ 1"), DOC("1 // x"),
    /* structure */
    DOC("["), DOC("]"), DOC("{"), DOC("}"), DOC("[1,]"), DOC("{\"a\":1,}"),
    DOC("[,]"), DOC("[,1]"), DOC("[1,,2]"), DOC("{,}"), DOC("[1 2]"), DOC("{\"a\" 1}"),
    DOC("{\"a\":}"), DOC("{\"a\"}"), DOC("{a:1}"), DOC("{'a':1}"), DOC("['a']"),
    DOC("{\"a\":1 \"b\":2}"), DOC("{\"a\":1,,\"b\":2}"), DOC("{\"a\"::1}"),
    DOC("[1}"), DOC("{\"a\":1]"), DOC("{1:1}"), DOC("{null:1}"), DOC("{\"a\""),
    DOC("{\"a\":1"), DOC("[1"), DOC("[\"a\",{}"), DOC(":"), DOC(","),
    /* numbers */
    DOC("01"), DOC("-01"), DOC("00"), DOC("-"), DOC("--1"), DOC("+1"), DOC("1e"),
    DOC("1e+"), DOC("1E-"), DOC("1."), DOC(".5"), DOC("1.e5"), DOC("-.5"),
    DOC("1.5."), DOC("1e1.5"), DOC("1ee5"), DOC("1E--5"), DOC("0x10"), DOC("1_000"),
    DOC("[-]"), DOC("[-a]"), DOC("NaN"), DOC("Infinity"), DOC("-Infinity"),
    DOC("[.1]"), DOC("2."), DOC("\xd9\xa1"),
    /* literals */
    DOC("nul"), DOC("nulll"), DOC("tru"), DOC("True"), DOC("NULL"), DOC("fals"),
    DOC("truefalse"), DOC("undefined"),
    /* strings: termination, escapes, control characters */
    DOC("\""), DOC("\"abc"), DOC("\"\\\""), DOC("'a'"), DOC("\"\\u00\""),
    DOC("\"\\u00G0\""), DOC("\"\\u\""), DOC("\"\\x41\""), DOC("\"\\'\""),
    DOC("\"\\U0041\""), DOC("\"\\a\""), DOC("\"\\0\""), DOC("\"\\ \""),
    DOC("\"\t\""), DOC("\"\n\""), DOC("\"\r\""), DOC("\"\0\""), DOC("\"\x1f\""),
    DOC("\"0123456789\tabcdef\""),
    /* lone or broken surrogate escapes */
    DOC("\"\\ud800\""), DOC("\"\\ud800\\u0041\""), DOC("\"\\ud800x\""),
    DOC("\"\\ud800\\ud800\""), DOC("\"\\udc00\""), DOC("\"\\udc00\\ud800\""),
    DOC("\"\\udbff\""), DOC("\"\\udfff\""), DOC("\"\\ud800\\\""),
    DOC("\"\\ud800\\u\""), DOC("\"\\ud800\\udc0\""), DOC("\"\\ud800\\n\""),
    /* bad UTF-8 in strings */
    DOC("\"\xc0\x80\""),           /* overlong NUL */
    DOC("\"\xc1\xbf\""),           /* overlong DEL */
    DOC("\"\xe0\x80\x80\""),       /* overlong 3-byte */
    DOC("\"\xe0\x9f\xbf\""),       /* overlong U+07FF */
    DOC("\"\xf0\x80\x80\x80\""),   /* overlong 4-byte */
    DOC("\"\xf0\x8f\xbf\xbf\""),   /* overlong U+FFFF */
    DOC("\"\xed\xa0\x80\""),       /* U+D800 */
    DOC("\"\xed\xbf\xbf\""),       /* U+DFFF */
    DOC("\"\xed\xa0\xbd\xed\xb8\x80\""), /* CESU-8 pair */
    DOC("\"\xf4\x90\x80\x80\""),   /* U+110000 */
    DOC("\"\xf5\x80\x80\x80\""), DOC("\"\xf8\x88\x80\x80\x80\""), DOC("\"\xff\""),
    DOC("\"\xfe\""), DOC("\"\x80\""), DOC("\"\xbf\""), DOC("\"a\x80\""),
    DOC("\"\xc3\""), DOC("\"\xe2\x82\""), DOC("\"\xf0\x9f\x98\""),
    DOC("\"\xc3\x28\""), DOC("\"\xe2\x28\xa1\""), DOC("\"\xf0\x9f\x98\x28\""),
    DOC("\"0123456789abcdef\xc3\""),
    /* bytes outside strings */
    DOC("\xc3\xa9"), DOC("[\x80]"), DOC("\x00"),
};

Test(json_check, invalid_documents_are_rejected)
{
    char text[400];

    for (size_t i = 0; i < sizeof(invalid_docs) / sizeof(invalid_docs[0]); i++) {
        const struct doc *d = &invalid_docs[i];

        cr_expect(not(check(d->text, d->len)), "accepted: %s",
                  show(d->text, d->len, text, sizeof(text)));
    }
}

/* Writes 'depth' nested containers around "1" (or nothing) into out. */
static size_t nest(char *out, int depth, bool objects, bool empty_core)
{
    size_t n = 0;

    for (int i = 0; i < depth; i++)
        n += (size_t)sprintf(out + n, objects ? "{\"k\":" : "[");
    if (objects && empty_core)
        n -= 4; /* the innermost becomes {} */
    if (!empty_core)
        out[n++] = '1';
    for (int i = 0; i < depth; i++)
        out[n++] = objects ? '}' : ']';
    out[n] = '\0';
    return n;
}

Test(json_check, nesting_of_64_is_accepted_and_65_rejected)
{
    char buf[1024];
    size_t n;

    for (int objects = 0; objects <= 1; objects++) {
        for (int empty = 0; empty <= 1; empty++) {
            n = nest(buf, JSON_CHECK_MAX_DEPTH, objects, empty);
            cr_assert(check(buf, n), "64 deep rejected: %s", buf);
            n = nest(buf, JSON_CHECK_MAX_DEPTH + 1, objects, empty);
            cr_assert(not(check(buf, n)), "65 deep accepted: %s", buf);
        }
    }
    /* mixed: 32 times [{"a": around [] is 65 deep, around 1 it is 64 deep */
    for (int core = 0; core <= 1; core++) {
        n = 0;
        for (int i = 0; i < 32; i++)
            n += (size_t)sprintf(buf + n, "[{\"a\":");
        n += (size_t)sprintf(buf + n, core ? "1" : "[]");
        for (int i = 0; i < 32; i++)
            n += (size_t)sprintf(buf + n, "}]");
        cr_assert(eq(int, check(buf, n), core), "%s", buf);
    }
    /* depth is a maximum, not a total: two 64-deep siblings */
    n = (size_t)sprintf(buf, "[");
    for (int sibling = 0; sibling < 2; sibling++) {
        if (sibling)
            buf[n++] = ',';
        for (int i = 0; i < 63; i++)
            buf[n++] = '[';
        for (int i = 0; i < 63; i++)
            buf[n++] = ']';
    }
    buf[n++] = ']';
    cr_assert(check(buf, n), "two 64-deep siblings rejected");
}

Test(json_check, deep_unclosed_input_is_rejected_without_overflow)
{
    static char buf[100000];

    memset(buf, '[', sizeof(buf));
    cr_assert(not(check(buf, sizeof(buf))));
    memset(buf, '{', sizeof(buf));
    cr_assert(not(check(buf, sizeof(buf))));
}

Test(json_check, a_null_pointer_with_zero_length_is_empty)
{
    cr_assert(not(json_check(NULL, 0)));
    cr_assert(utf8_check(NULL, 0));
}

Test(json_check, a_large_document_is_accepted)
{
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);

    cr_assert(buf != NULL);
    n += (size_t)sprintf(buf + n, "[");
    for (int i = 0; n + 200 < cap; i++)
        n += (size_t)sprintf(buf + n, "%s{\"id\":%d,\"name\":\"user %d \xc3\xa9\\n\","
                             "\"score\":%d.%de-3,\"tags\":[\"a\",\"bc\"],\"ok\":true}",
                             i ? "," : "", i, i, i, i % 97);
    n += (size_t)sprintf(buf + n, "]");
    cr_assert(check(buf, n));
    buf[n / 2] = '\x01'; /* lands in a string or between tokens: either way invalid */
    cr_assert(not(check(buf, n)));
    free(buf);
}

/* UTF-8 on its own. */

static const struct doc utf8_good[] = {
    DOC(""), DOC("a"), DOC("\0"), DOC("\x7f"), DOC("\xc2\x80"), DOC("\xdf\xbf"),
    DOC("\xe0\xa0\x80"), DOC("\xed\x9f\xbf"), DOC("\xee\x80\x80"), DOC("\xef\xbf\xbf"),
    DOC("\xf0\x90\x80\x80"), DOC("\xf4\x8f\xbf\xbf"),
    DOC("0123456789abcdef\xc3\xa9" "0123456789abcdef"),
};

Test(json_check, utf8_check_accepts_well_formed_utf8)
{
    char text[400];

    for (size_t i = 0; i < sizeof(utf8_good) / sizeof(utf8_good[0]); i++) {
        const struct doc *d = &utf8_good[i];

        cr_expect(check_utf8(d->text, d->len), "rejected: %s",
                  show(d->text, d->len, text, sizeof(text)));
    }
}

static const struct doc utf8_bad[] = {
    DOC("\x80"), DOC("\xbf"), DOC("\xc0\x80"), DOC("\xc1\xbf"), DOC("\xc2"),
    DOC("\xc2\x7f"), DOC("\xc2\xc0"), DOC("\xe0\x80\x80"), DOC("\xe0\x9f\xbf"),
    DOC("\xed\xa0\x80"), DOC("\xed\xbf\xbf"), DOC("\xe1\x80"), DOC("\xf0\x80\x80\x80"),
    DOC("\xf0\x8f\xbf\xbf"), DOC("\xf4\x90\x80\x80"), DOC("\xf5\x80\x80\x80"),
    DOC("\xf0\x90\x80"), DOC("\xff"), DOC("\xfe"),
    DOC("0123456789abcdef\xc3"), DOC("01234567\x80"),
};

Test(json_check, utf8_check_rejects_ill_formed_utf8)
{
    char text[400];

    for (size_t i = 0; i < sizeof(utf8_bad) / sizeof(utf8_bad[0]); i++) {
        const struct doc *d = &utf8_bad[i];

        cr_expect(not(check_utf8(d->text, d->len)), "accepted: %s",
                  show(d->text, d->len, text, sizeof(text)));
    }
}

/* Agreement with jansson. */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static size_t below(uint64_t *s, size_t n)
{
    return (size_t)(rng_next(s) % n);
}

struct tally {
    long compared, valid, skipped;
};

static void agree(const char *s, size_t len, struct tally *t)
{
    int want = json_oracle_verdict(s, len);
    char text[4 * 600 + 1];

    if (want < 0) {
        t->skipped++;
        return;
    }
    t->compared++;
    t->valid += want;
    if (check(s, len) != (bool)want)
        cr_fail("json_check says %s, jansson %s: '%s'", want ? "invalid" : "valid",
                want ? "valid" : "invalid", show(s, len, text, sizeof(text)));
}

Test(json_check, the_tables_agree_with_jansson_where_it_decides)
{
    char text[400];
    int want;

    for (size_t i = 0; i < sizeof(valid_docs) / sizeof(valid_docs[0]); i++) {
        const struct doc *d = &valid_docs[i];

        want = json_oracle_verdict(d->text, d->len);
        cr_expect(want != 0, "jansson rejects %s",
                  show(d->text, d->len, text, sizeof(text)));
    }
    for (size_t i = 0; i < sizeof(invalid_docs) / sizeof(invalid_docs[0]); i++) {
        const struct doc *d = &invalid_docs[i];

        want = json_oracle_verdict(d->text, d->len);
        cr_expect(want != 1, "jansson accepts %s",
                  show(d->text, d->len, text, sizeof(text)));
    }
}

Test(json_check, agrees_with_jansson_on_random_short_strings)
{
    static const char alphabet[] = "{}[]\":,,  01-9.eE+tfnrulasx\\/u\tdD8bBcC"
                                   "\xc3\xa9\xed\xf4";
    uint64_t seed = 1;
    struct tally t = {0};
    char s[16];

    for (int i = 0; i < 300000; i++) {
        size_t len = below(&seed, sizeof(s) + 1);

        for (size_t k = 0; k < len; k++)
            s[k] = i % 8 == 0 ? (char)rng_next(&seed)
                              : alphabet[below(&seed, sizeof(alphabet) - 1)];
        agree(s, len, &t);
    }
    cr_log_info("random short strings: %ld compared, %ld valid, %ld skipped", t.compared,
                t.valid, t.skipped);
    cr_assert(ge(long, t.valid, (1000) + 1), "too few valid inputs to mean much");
}

/* A generator of mostly valid documents; 'b' is bounded, so deep or long output is cut
 * short, which makes an invalid document: both are useful. */
struct gen {
    char s[600];
    size_t n;
    uint64_t seed;
};

static void put(struct gen *g, const char *s, size_t len)
{
    for (size_t i = 0; i < len && g->n < sizeof(g->s); i++)
        g->s[g->n++] = s[i];
}

static void puts_(struct gen *g, const char *s)
{
    put(g, s, strlen(s));
}

static void gen_ws(struct gen *g)
{
    static const char *const ws[] = {"", "", "", " ", "\n", "\t", "\r\n  "};

    puts_(g, ws[below(&g->seed, 7)]);
}

static void gen_string(struct gen *g)
{
    static const char *const parts[] = {
        "a", "Z", "0", " ", "~", "\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t",
        "\\u0000", "\\u001f", "\\u00e9", "\\uFFFF", "\\ud83d\\ude00", "\\uDBFF\\uDFFF",
        "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf", "\x7f",
        "abcdefgh", "0123456789abcdef",
    };
    size_t n = below(&g->seed, 6);

    puts_(g, "\"");
    for (size_t i = 0; i < n; i++)
        puts_(g, parts[below(&g->seed, sizeof(parts) / sizeof(parts[0]))]);
    puts_(g, "\"");
}

static void gen_number(struct gen *g)
{
    static const char *const nums[] = {
        "0", "-0", "1", "-12", "3.25", "1e5", "-2.5E-3", "0.000", "1E+2",
        "9007199254740993", "-9223372036854775808", "1e308", "4.9e-324",
    };

    puts_(g, nums[below(&g->seed, sizeof(nums) / sizeof(nums[0]))]);
}

static void gen_value(struct gen *g, int depth)
{
    size_t n, kind = below(&g->seed, depth > 6 ? 5 : 7);

    gen_ws(g);
    switch (kind) {
    case 0: gen_string(g); break;
    case 1: gen_number(g); break;
    case 2: puts_(g, "true"); break;
    case 3: puts_(g, "false"); break;
    case 4: puts_(g, "null"); break;
    case 5:
        puts_(g, "[");
        n = below(&g->seed, 4);
        for (size_t i = 0; i < n; i++) {
            if (i)
                puts_(g, ",");
            gen_value(g, depth + 1);
        }
        gen_ws(g);
        puts_(g, "]");
        break;
    default:
        puts_(g, "{");
        n = below(&g->seed, 4);
        for (size_t i = 0; i < n; i++) {
            if (i)
                puts_(g, ",");
            gen_ws(g);
            gen_string(g);
            gen_ws(g);
            puts_(g, ":");
            gen_value(g, depth + 1);
        }
        gen_ws(g);
        puts_(g, "}");
    }
    gen_ws(g);
}

/* A document, sometimes wrapped in 60..70 arrays to straddle the depth limit. */
static void gen_doc(struct gen *g)
{
    size_t wrap = below(&g->seed, 8) == 0 ? 60 + below(&g->seed, 11) : 0;

    g->n = 0;
    for (size_t i = 0; i < wrap; i++)
        puts_(g, "[");
    gen_value(g, 0);
    for (size_t i = 0; i < wrap; i++)
        puts_(g, "]");
}

static void mutate(struct gen *g)
{
    static const char interesting[] = "\"\\,:[]{}0-.eE+u 9\x00\x1f\x7f\x80\xbf\xc0\xc3"
                                      "\xe0\xed\xf0\xf4\xff";
    size_t pos = g->n ? below(&g->seed, g->n) : 0;
    char c = below(&g->seed, 4) ? interesting[below(&g->seed, sizeof(interesting) - 1)]
                                : (char)rng_next(&g->seed);

    switch (below(&g->seed, 5)) {
    case 0: /* overwrite */
        if (g->n)
            g->s[pos] = c;
        break;
    case 1: /* insert */
        if (g->n < sizeof(g->s)) {
            memmove(g->s + pos + 1, g->s + pos, g->n - pos);
            g->s[pos] = c;
            g->n++;
        }
        break;
    case 2: /* delete */
        if (g->n) {
            memmove(g->s + pos, g->s + pos + 1, g->n - pos - 1);
            g->n--;
        }
        break;
    case 3: /* truncate */
        g->n = pos;
        break;
    default: /* flip a bit */
        if (g->n)
            g->s[pos] ^= (char)(1 << below(&g->seed, 8));
    }
}

Test(json_check, agrees_with_jansson_on_generated_documents_and_mutations)
{
    struct gen g = {.seed = 42};
    struct tally docs = {0}, mutants = {0};
    size_t deep_valid = 0, deep_invalid = 0;

    for (int i = 0; i < 20000; i++) {
        gen_doc(&g);
        agree(g.s, g.n, &docs);
        if (g.n > 60 && g.s[0] == '[' && g.s[59] == '[') {
            if (check(g.s, g.n))
                deep_valid++;
            else
                deep_invalid++;
        }
        for (int m = 0; m < 4; m++) {
            mutate(&g);
            agree(g.s, g.n, &mutants);
        }
    }
    cr_log_info("generated: %ld compared, %ld valid, %ld skipped; mutants: %ld compared, "
                "%ld valid, %ld skipped", docs.compared, docs.valid, docs.skipped,
                mutants.compared, mutants.valid, mutants.skipped);
    cr_assert(ge(long, docs.valid, (10000) + 1), "the generator should mostly make valid JSON");
    cr_assert(ge(long, mutants.valid, (3000) + 1));
    cr_assert(lt(long, mutants.compared - mutants.valid, mutants.compared),
              "mutants should include invalid JSON");
    cr_assert(ge(sz, deep_valid, (100) + 1), "documents just under the depth limit");
    cr_assert(ge(sz, deep_invalid, (100) + 1), "documents just over the depth limit");
}

Test(json_check, every_prefix_of_a_document_agrees_with_jansson)
{
    static const char doc[] =
        " {\"a\" : [1, -2.5e+3, true, false, null, \"x\\u00e9\\ud83d\\ude00\xc3\xa9\"],"
        " \"\" : {\"b\":{}} , \"n\":0.5E-1}\n";
    struct tally t = {0};

    for (size_t n = 0; n <= sizeof(doc) - 1; n++)
        agree(doc, n, &t);
    cr_assert(eq(long, t.compared, (long)sizeof(doc)));
    cr_assert(check(doc, sizeof(doc) - 1));
}

/* utf8_check() against jansson's json_stringn(), which validates UTF-8 the same way. */

static bool jansson_utf8(const char *s, size_t len)
{
    json_t *v = json_stringn(s, len);

    json_decref(v);
    return v != NULL;
}

Test(json_check, utf8_agrees_with_jansson_on_all_two_byte_strings)
{
    char s[2];

    for (int a = 0; a < 256; a++) {
        for (int b = 0; b < 256; b++) {
            s[0] = (char)a;
            s[1] = (char)b;
            cr_assert(eq(int, check_utf8(s, 2), jansson_utf8(s, 2)), "%02x %02x", a, b);
        }
    }
}

Test(json_check, utf8_agrees_with_jansson_on_all_three_byte_strings_led_by_e0_to_ef)
{
    char s[3];

    for (int a = 0xe0; a <= 0xef; a++) {
        for (int b = 0; b < 256; b++) {
            for (int c = 0; c < 256; c++) {
                s[0] = (char)a;
                s[1] = (char)b;
                s[2] = (char)c;
                if (utf8_check(s, 3) != jansson_utf8(s, 3))
                    cr_fail("%02x %02x %02x", a, b, c);
            }
        }
    }
}

Test(json_check, utf8_agrees_with_jansson_on_four_byte_strings_led_by_f0_to_f7)
{
    static const unsigned char edges[] = {0x00, 0x7f, 0x80, 0x8f, 0x90, 0xbf, 0xc0, 0xff};
    char s[4];

    for (int a = 0xf0; a <= 0xf7; a++) {
        for (int b = 0; b < 256; b++) {
            for (size_t c = 0; c < sizeof(edges); c++) {
                for (size_t d = 0; d < sizeof(edges); d++) {
                    s[0] = (char)a;
                    s[1] = (char)b;
                    s[2] = (char)edges[c];
                    s[3] = (char)edges[d];
                    if (utf8_check(s, 4) != jansson_utf8(s, 4))
                        cr_fail("%02x %02x %02x %02x", a, b, edges[c], edges[d]);
                }
            }
        }
    }
}

Test(json_check, utf8_agrees_with_jansson_on_random_strings)
{
    static const unsigned char bytes[] = {
        0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2,
        0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff,
    };
    uint64_t seed = 7;
    long valid = 0;
    char s[24];

    for (int i = 0; i < 300000; i++) {
        size_t len = below(&seed, sizeof(s) + 1);
        bool want;

        for (size_t k = 0; k < len; k++)
            s[k] = (char)bytes[below(&seed, sizeof(bytes))];
        want = jansson_utf8(s, len);
        valid += want;
        if (check_utf8(s, len) != want) {
            char text[4 * sizeof(s) + 1];

            cr_fail("utf8_check disagrees with jansson (%d): %s", want,
                    show(s, len, text, sizeof(text)));
        }
    }
    cr_assert(ge(long, valid, (10000) + 1));
}

Test(json_check, a_string_is_valid_json_iff_its_body_is_utf8)
{
    uint64_t seed = 9;
    char s[40];

    for (int i = 0; i < 100000; i++) {
        size_t len = 2 + below(&seed, sizeof(s) - 1);

        s[0] = '"';
        for (size_t k = 1; k + 1 < len; k++) {
            s[k] = (char)(0x80 | rng_next(&seed)); /* never '"', '\\' or control */
            if (below(&seed, 3) == 0)
                s[k] = 'a';
        }
        s[len - 1] = '"';
        cr_assert(eq(int, check(s, len), check_utf8(s + 1, len - 2)));
    }
}
