/* tests/api/test_auth.c: api/auth.c, the token store: patterns and scopes, secrets and
 * their keyed hashes, revocation and expiry, the store's file and its damage, the
 * first admin token, rate limits. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "api/auth.h"
#include "common/buf.h"
#include "storage/io.h"
#include "tests/support/tmpdir.h"

#define NOW 1764000000000LL

static const uint8_t key[32] = {7, 7, 7};

static void init(void)
{
    cr_assert(ge(int, sodium_init(), 0));
}

TestSuite(auth, .init = init, .timeout = 20);

static bool holds(bool b)
{
    return b;
}

Test(auth, patterns_are_names_prefixes_or_star)
{
    static const char *const valid[] = {"orders", "orders.*", "*", "a-b_c.D9", "o*",
                                        "__consumer_offsets", "__*"};
    static const char *const invalid[] = {"", "a*b", "**", "*a", "orders/x", ".", "..",
                                          "a b", "caf\xc3\xa9", "orders.*.eu"};

    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
        cr_assert(holds(auth_pattern_is_valid(valid[i])), "'%s' should be valid", valid[i]);
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
        cr_assert(not(holds(auth_pattern_is_valid(invalid[i]))), "'%s' should not be",
                  invalid[i]);
}

Test(auth, patterns_match_exactly_or_by_prefix)
{
    cr_assert(holds(auth_pattern_matches("orders", "orders")));
    cr_assert(not(holds(auth_pattern_matches("orders", "orders.eu"))));
    cr_assert(not(holds(auth_pattern_matches("orders", "order"))));
    cr_assert(holds(auth_pattern_matches("orders.*", "orders.eu")));
    cr_assert(holds(auth_pattern_matches("orders.*", "orders.")));
    cr_assert(not(holds(auth_pattern_matches("orders.*", "orders"))));
    cr_assert(not(holds(auth_pattern_matches("orders.*", "ordersX"))));
    cr_assert(holds(auth_pattern_matches("*", "anything")));
    cr_assert(holds(auth_pattern_matches("*", "__consumer_offsets")));
}

static struct auth_token *make(struct auth_store *s, const char *pattern, unsigned actions,
                               int64_t expires_in_s, char secret[AUTH_TOKEN_LEN + 1])
{
    char p[256];
    struct auth_scope scope = {p, actions};
    struct auth_spec spec = {.name = "t", .scopes = &scope, .nscopes = 1,
                             .expires_in_s = expires_in_s};
    struct auth_token *t = NULL;

    snprintf(p, sizeof(p), "%s", pattern);
    cr_assert(eq(int, auth_create(s, &spec, NOW, secret, &t), 0));
    cr_assert(not(eq(ptr, t, NULL)));
    return t;
}

Test(auth, scopes_allow_their_actions_on_their_topics_only)
{
    struct auth_store *s = auth_new_in_memory(key);
    char secret[AUTH_TOKEN_LEN + 1];
    struct auth_token *orders = make(s, "orders.*", AUTH_PRODUCE | AUTH_CONSUME, 0, secret);
    struct auth_token *admin = make(s, "*", AUTH_ADMIN, 0, secret);

    cr_assert(holds(auth_allows(orders, AUTH_PRODUCE, "orders.eu")));
    cr_assert(holds(auth_allows(orders, AUTH_CONSUME, "orders.eu")));
    cr_assert(holds(auth_allows(orders, AUTH_ANY, "orders.eu")));
    cr_assert(not(holds(auth_allows(orders, AUTH_ADMIN, "orders.eu"))));
    cr_assert(not(holds(auth_allows(orders, AUTH_PRODUCE, "billing"))));
    cr_assert(not(holds(auth_allows(orders, AUTH_CONSUME, NULL)))); /* not every topic */
    cr_assert(holds(auth_allows(admin, AUTH_ADMIN, NULL)));
    cr_assert(holds(auth_allows(admin, AUTH_ADMIN, "billing")));
    cr_assert(not(holds(auth_allows(admin, AUTH_PRODUCE, "billing"))));
    cr_assert(not(holds(auth_allows(NULL, AUTH_ANY, "billing"))));
    auth_close(s);
}

Test(auth, a_secret_is_rill_and_43_base64url_characters_found_only_whole)
{
    struct auth_store *s = auth_new_in_memory(key);
    char secret[AUTH_TOKEN_LEN + 1], other[AUTH_TOKEN_LEN + 1];
    struct auth_token *t = make(s, "*", AUTH_ANY, 0, secret), *found;

    cr_assert(eq(sz, strlen(secret), (size_t)AUTH_TOKEN_LEN));
    cr_assert(eq(int, strncmp(secret, "rill_", 5), 0));
    cr_assert(eq(sz, strspn(secret + 5, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                        "0123456789-_"),
                 (size_t)43));
    make(s, "*", AUTH_ANY, 0, other);
    cr_assert(not(eq(str, secret, other)));
    cr_assert(eq(int, auth_lookup(s, secret, strlen(secret), NOW, &found), AUTH_VALID));
    cr_assert(eq(ptr, found, t));
    cr_assert(eq(int, auth_lookup(s, secret, strlen(secret) - 1, NOW, &found), AUTH_UNKNOWN));
    secret[10] ^= 1;
    cr_assert(eq(int, auth_lookup(s, secret, strlen(secret), NOW, &found), AUTH_UNKNOWN));
    cr_assert(eq(int, auth_lookup(s, "", 0, NOW, &found), AUTH_UNKNOWN));
    auth_close(s);
}

Test(auth, revoked_and_expired_tokens_are_told_apart)
{
    struct auth_store *s = auth_new_in_memory(key);
    char a[AUTH_TOKEN_LEN + 1], b[AUTH_TOKEN_LEN + 1];
    struct auth_token *ta = make(s, "*", AUTH_ANY, 0, a), *tb = make(s, "*", AUTH_ANY, 60, b);
    struct auth_token *found, *revoked;

    cr_assert(eq(int, auth_revoke(s, ta->id, NOW + 1, &revoked), 0));
    cr_assert(eq(ptr, revoked, ta));
    cr_assert(eq(int, auth_revoke(s, ta->id, NOW + 2, &revoked), 0)); /* again: fine */
    cr_assert(eq(i64, atomic_load(&ta->revoked_ms), NOW + 1));
    cr_assert(eq(int, auth_revoke(s, "0000000000000000", NOW, &revoked), -ENOENT));
    cr_assert(eq(int, auth_lookup(s, a, strlen(a), NOW + 5, &found), AUTH_REVOKED));
    cr_assert(eq(int, auth_lookup(s, b, strlen(b), NOW + 59999, &found), AUTH_VALID));
    cr_assert(eq(int, auth_lookup(s, b, strlen(b), NOW + 60000, &found), AUTH_EXPIRED));
    cr_assert(eq(int, auth_token_state(tb, NOW), AUTH_VALID));
    cr_assert(eq(ptr, auth_find(s, tb->id), tb));
    auth_close(s);
}

Test(auth, the_store_text_reads_back_and_hashes_need_the_key)
{
    struct auth_store *s = auth_new_in_memory(key), *back = auth_new_in_memory(key);
    uint8_t other_key[32] = {8};
    struct auth_store *stranger = auth_new_in_memory(other_key);
    char a[AUTH_TOKEN_LEN + 1], b[AUTH_TOKEN_LEN + 1];
    struct auth_token *found, *revoked, *ta = make(s, "orders.*", AUTH_CONSUME, 3600, a);
    struct buf text = BUF_INIT, again = BUF_INIT;
    const char *why;

    make(s, "*", AUTH_ADMIN, 0, b);
    cr_assert(eq(int, auth_revoke(s, ta->id, NOW + 10, &revoked), 0));
    auth_store_text(s, &text);
    cr_assert(eq(ptr, strstr(text.data, a), NULL)); /* hashes only */
    cr_assert(eq(ptr, strstr(text.data, b), NULL));
    cr_assert(eq(ptr, strstr(text.data, b + 5), NULL));
    cr_assert(eq(int, auth_parse_store(back, text.data, text.len, NOW + 20, &why), 0));
    auth_store_text(back, &again);
    cr_assert(eq(str, again.data, text.data));
    cr_assert(eq(int, auth_lookup(back, a, strlen(a), NOW + 20, &found), AUTH_REVOKED));
    cr_assert(eq(int, auth_lookup(back, b, strlen(b), NOW + 20, &found), AUTH_VALID));
    cr_assert(holds(auth_allows(found, AUTH_ADMIN, NULL)));
    cr_assert(eq(int, auth_parse_store(stranger, text.data, text.len, NOW, &why), 0));
    cr_assert(eq(int, auth_lookup(stranger, b, strlen(b), NOW, &found), AUTH_UNKNOWN));
    buf_release(&text);
    buf_release(&again);
    auth_close(s);
    auth_close(back);
    auth_close(stranger);
}

Test(auth, long_ended_tokens_are_forgotten_at_load)
{
    struct auth_store *s = auth_new_in_memory(key), *back = auth_new_in_memory(key);
    char a[AUTH_TOKEN_LEN + 1], b[AUTH_TOKEN_LEN + 1], c[AUTH_TOKEN_LEN + 1];
    struct auth_token *ta = make(s, "*", AUTH_ANY, 0, a), *found, *revoked;
    struct buf text = BUF_INIT;
    const char *why;

    make(s, "*", AUTH_ANY, 1, b); /* expires at NOW + 1 s */
    make(s, "*", AUTH_ANY, 0, c);
    cr_assert(eq(int, auth_revoke(s, ta->id, NOW, &revoked), 0));
    auth_store_text(s, &text);
    cr_assert(eq(int,
                 auth_parse_store(back, text.data, text.len, NOW + AUTH_KEEP_ENDED_MS + 2000,
                                  &why),
                 0));
    cr_assert(eq(int, auth_lookup(back, a, strlen(a), NOW, &found), AUTH_UNKNOWN));
    cr_assert(eq(int, auth_lookup(back, b, strlen(b), NOW, &found), AUTH_UNKNOWN));
    cr_assert(eq(int, auth_lookup(back, c, strlen(c), NOW, &found), AUTH_VALID));
    buf_release(&text);
    auth_close(s);
    auth_close(back);
}

Test(auth, damaged_store_text_is_refused)
{
    static const char *const bad[] = {
        "",
        "[]",
        "{\"tokens\":[]}",
        "{\"version\":2,\"tokens\":[]}",
        "{\"version\":1,\"tokens\":{}}",
        "{\"version\":1,\"tokens\":[1]}",
        "{\"version\":1,\"tokens\":[{}]}",
        "{\"version\":1,\"tokens\":[{\"id\":\"0123456789abcdef\",\"name\":\"x\",\"hash\":\"00\","
        "\"scopes\":[]}]}",
        "{\"version\":1,\"tokens\":[{\"id\":\"0123456789ABCDEF\",\"name\":\"x\",\"hash\":"
        "\"0000000000000000000000000000000000000000000000000000000000000000\",\"scopes\":[]}]}",
        "{\"version\":1,\"tokens\":[{\"id\":\"0123456789abcdef\",\"name\":\"x\",\"hash\":"
        "\"000000000000000000000000000000000000000000000000000000000000000g\",\"scopes\":[]}]}",
        "{\"version\":1,\"tokens\":[{\"id\":\"0123456789abcdef\",\"name\":\"x\",\"hash\":"
        "\"0000000000000000000000000000000000000000000000000000000000000000\",\"scopes\":"
        "[{\"topics\":\"*\",\"actions\":[\"write\"]}]}]}",
        "{\"version\":1,\"tokens\":[{\"id\":\"0123456789abcdef\",\"name\":\"x\",\"hash\":"
        "\"0000000000000000000000000000000000000000000000000000000000000000\",\"scopes\":"
        "[{\"topics\":\"a*b\",\"actions\":[\"admin\"]}]}]}",
        "{\"version\":1,\"tokens\":[{\"id\":\"0123456789abcdef\",\"name\":\"x\",\"hash\":"
        "\"0000000000000000000000000000000000000000000000000000000000000000\",\"scopes\":[],"
        "\"expires_at\":-5}]}",
        /* two tokens with one id */
        "{\"version\":1,\"tokens\":[{\"id\":\"0123456789abcdef\",\"name\":\"x\",\"hash\":"
        "\"0000000000000000000000000000000000000000000000000000000000000000\",\"scopes\":[]},"
        "{\"id\":\"0123456789abcdef\",\"name\":\"y\",\"hash\":"
        "\"1111111111111111111111111111111111111111111111111111111111111111\",\"scopes\":[]}]}",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct auth_store *s = auth_new_in_memory(key);
        const char *why = NULL;

        cr_assert(eq(int, auth_parse_store(s, bad[i], strlen(bad[i]), NOW, &why), -EBADMSG),
                  "case %zu parsed", i);
        cr_assert(not(eq(ptr, (void *)why, NULL)));
        auth_close(s);
    }
}

Test(auth, rate_limits_are_one_second_buckets)
{
    struct auth_store *s = auth_new_in_memory(key);
    char p[] = "*";
    struct auth_scope scope = {p, AUTH_ANY};
    struct auth_spec spec = {.name = "r", .scopes = &scope, .nscopes = 1,
                             .requests_per_s = 2, .bytes_per_s = 1000};
    char secret[AUTH_TOKEN_LEN + 1];
    struct auth_token *t;
    int64_t now = 5000;

    cr_assert(eq(int, auth_create(s, &spec, NOW, secret, &t), 0));
    cr_assert(eq(i64, auth_rate_admit(t, 10, now), 0));
    cr_assert(eq(i64, auth_rate_admit(t, 10, now), 0));
    cr_assert(eq(i64, auth_rate_admit(t, 10, now), 500)); /* half a second to one more */
    cr_assert(eq(i64, auth_rate_admit(t, 10, now + 500), 0));
    /* bytes: a request passes while there is credit, then the debt is waited out */
    now += 10000;
    cr_assert(eq(i64, auth_rate_admit(t, 3000, now), 0));
    cr_assert(eq(i64, auth_rate_admit(t, 0, now), 2000));
    cr_assert(eq(i64, auth_rate_admit(t, 0, now + 2000), 0));
    auth_rate_charge(t, 500, now + 2000); /* an answer's bytes */
    cr_assert(eq(i64, auth_rate_admit(t, 0, now + 2000), 500));
    /* without limits, nothing is ever refused */
    cr_assert(eq(i64, auth_rate_admit(make(s, "*", AUTH_ANY, 0, secret), 1 << 30, now), 0));
    cr_assert(eq(i64, auth_rate_admit(NULL, 1 << 30, now), 0));
    auth_close(s);
}

static void read_admin_token(const char *dir, char *out, size_t size)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/admin.token", dir);
    f = fopen(path, "r");
    cr_assert(not(eq(ptr, f, NULL)));
    cr_assert(not(eq(ptr, fgets(out, (int)size, f), NULL)));
    fclose(f);
    out[strcspn(out, "\n")] = '\0';
}

static mode_t mode_of(const char *dir, const char *name)
{
    char path[512];
    struct stat st;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    cr_assert(eq(int, stat(path, &st), 0), "%s", path);
    return st.st_mode & 0777;
}

Test(auth, the_first_start_writes_an_admin_token_and_later_ones_read_it)
{
    char dir[256], token[128], again[128];
    struct auth_store *s;
    struct auth_token *t;
    const char *why;

    cr_assert(eq(int, tmpdir_make(dir, sizeof(dir)), 0));
    cr_assert(eq(int, auth_open(&s, dir, true, &why), 0));
    read_admin_token(dir, token, sizeof(token));
    cr_assert(eq(int, auth_lookup(s, token, strlen(token), NOW, &t), AUTH_VALID));
    cr_assert(holds(auth_allows(t, AUTH_ADMIN, NULL)));
    cr_assert(holds(auth_allows(t, AUTH_PRODUCE | AUTH_CONSUME, "any")));
    auth_close(s);
    cr_assert(eq(u32, mode_of(dir, "admin.token"), 0600));
    cr_assert(eq(u32, mode_of(dir, "auth.key"), 0600));
    cr_assert(eq(u32, mode_of(dir, "tokens.json"), 0600));
    cr_assert(eq(int, auth_open(&s, dir, true, &why), 0));
    read_admin_token(dir, again, sizeof(again));
    cr_assert(eq(str, again, token));
    cr_assert(eq(int, auth_lookup(s, token, strlen(token), NOW, &t), AUTH_VALID));
    auth_close(s);
    tmpdir_remove(dir);
}

Test(auth, an_admin_token_without_a_store_is_imported)
{
    char dir[256];
    struct auth_store *s;
    struct auth_token *t;
    const char *why;
    static const char old[] = "rill_made-by-an-older-rill\n";

    cr_assert(eq(int, tmpdir_make(dir, sizeof(dir)), 0));
    cr_assert(eq(int, io_replace_file(dir, "admin.token", old, strlen(old), 0600), 0));
    cr_assert(eq(int, auth_open(&s, dir, true, &why), 0));
    cr_assert(eq(int, auth_lookup(s, old, strlen(old) - 1, NOW, &t), AUTH_VALID));
    auth_close(s);
    tmpdir_remove(dir);
}

Test(auth, an_empty_store_gets_a_new_admin_token_not_the_old_file)
{
    char dir[256], token[128];
    struct auth_store *s;
    struct auth_token *t;
    const char *why;
    static const char revoked[] = "rill_revoked-long-ago\n";
    static const char empty[] = "{\"version\":1,\"tokens\":[]}";

    cr_assert(eq(int, tmpdir_make(dir, sizeof(dir)), 0));
    cr_assert(eq(int, auth_open(&s, dir, false, &why), 0)); /* auth off: no token made */
    auth_close(s);
    cr_assert(eq(int, io_replace_file(dir, "tokens.json", empty, strlen(empty), 0600), 0));
    cr_assert(eq(int, io_replace_file(dir, "admin.token", revoked, strlen(revoked), 0600), 0));
    cr_assert(eq(int, auth_open(&s, dir, true, &why), 0));
    read_admin_token(dir, token, sizeof(token));
    cr_assert(not(eq(str, token, "rill_revoked-long-ago")));
    cr_assert(eq(int, auth_lookup(s, token, strlen(token), NOW, &t), AUTH_VALID));
    cr_assert(eq(int, auth_lookup(s, revoked, strlen(revoked) - 1, NOW, &t), AUTH_UNKNOWN));
    auth_close(s);
    tmpdir_remove(dir);
}

Test(auth, a_store_without_its_key_or_damaged_does_not_open)
{
    char dir[256], path[512];
    struct auth_store *s;
    const char *why = NULL;

    cr_assert(eq(int, tmpdir_make(dir, sizeof(dir)), 0));
    cr_assert(eq(int, auth_open(&s, dir, true, &why), 0));
    auth_close(s);
    snprintf(path, sizeof(path), "%s/auth.key", dir);
    cr_assert(eq(int, io_replace_file(dir, "auth.key", "short", 5, 0600), 0));
    cr_assert(eq(int, auth_open(&s, dir, true, &why), -EBADMSG));
    cr_assert(not(eq(ptr, strstr(why, "auth.key"), NULL)));
    cr_assert(eq(int, io_unlink(path), 0));
    cr_assert(eq(int, auth_open(&s, dir, true, &why), -EBADMSG));
    cr_assert(not(eq(ptr, strstr(why, "auth.key"), NULL)));
    cr_assert(eq(int, io_replace_file(dir, "auth.key", key, sizeof(key), 0600), 0));
    cr_assert(eq(int, io_replace_file(dir, "tokens.json", "{\"version\":1,", 13, 0600), 0));
    cr_assert(eq(int, auth_open(&s, dir, true, &why), -EBADMSG));
    tmpdir_remove(dir);
}
