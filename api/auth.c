/* auth.c: the token store and scope checks (format and rules in auth.h). */
#include "api/auth.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/reply.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "storage/io.h"
#include "storage/topic_name.h"

#define KEY_FILE "auth.key"
#define STORE_FILE "tokens.json"
#define ADMIN_TOKEN_FILE "admin.token"
#define HASH_LEN 32
#define BUCKET_PREFIX 8 /* hash bytes the sorted search compares */

struct auth_store {
    char *dir; /* NULL: in memory only */
    uint8_t key[crypto_generichash_KEYBYTES];
    pthread_rwlock_t lock;
    struct auth_token **tokens; /* sorted by hash */
    size_t n, cap;
};

static const char *const action_names[] = {"produce", "consume", "admin"};
#define NACTIONS (sizeof(action_names) / sizeof(action_names[0]))

unsigned auth_action_of(const char *word)
{
    for (size_t i = 0; i < NACTIONS; i++)
        if (!strcmp(word, action_names[i]))
            return 1U << i;
    return 0;
}

/* ---- patterns ---- */

bool auth_pattern_is_valid(const char *pattern)
{
    size_t len = strlen(pattern);

    if (!len || pattern[len - 1] != '*')
        return topic_name_is_valid(pattern, len);
    if (--len > TOPIC_NAME_MAX) /* a prefix, maybe empty ('*' alone) */
        return false;
    for (size_t i = 0; i < len; i++)
        if (!topic_name_char_ok(pattern[i]))
            return false;
    return true;
}

bool auth_pattern_matches(const char *pattern, const char *name)
{
    size_t len = strlen(pattern);

    if (len && pattern[len - 1] == '*')
        return !strncmp(pattern, name, len - 1);
    return !strcmp(pattern, name);
}

bool auth_allows(const struct auth_token *t, unsigned action, const char *topic)
{
    if (!t)
        return false;
    for (size_t i = 0; i < t->nscopes; i++) {
        const struct auth_scope *sc = &t->scopes[i];

        if (!(sc->actions & action))
            continue;
        if (topic ? auth_pattern_matches(sc->pattern, topic) : !strcmp(sc->pattern, "*"))
            return true;
    }
    return false;
}

/* ---- tokens in memory ---- */

static void token_hash(const struct auth_store *s, const char *text, size_t len,
                       uint8_t out[HASH_LEN])
{
    crypto_generichash(out, HASH_LEN, (const unsigned char *)text, len, s->key,
                       sizeof(s->key));
}

static void token_free(struct auth_token *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nscopes; i++)
        free(t->scopes[i].pattern);
    free(t->scopes);
    free(t->name);
    pthread_mutex_destroy(&t->rate_lock);
    free(t);
}

static struct auth_token *token_new(const char *name, const struct auth_scope *scopes,
                                    size_t nscopes)
{
    struct auth_token *t = xcalloc(1, sizeof(*t));

    t->name = xstrdup(name);
    t->scopes = xcalloc(nscopes ? nscopes : 1, sizeof(*t->scopes));
    for (size_t i = 0; i < nscopes; i++) {
        t->scopes[i].pattern = xstrdup(scopes[i].pattern);
        t->scopes[i].actions = scopes[i].actions;
    }
    t->nscopes = nscopes;
    atomic_init(&t->revoked_ms, 0);
    pthread_mutex_init(&t->rate_lock, NULL);
    return t;
}

/* Where a token with 'hash' is or would go in the sorted array. The hash is keyed
 * with a secret, so the time this search takes says nothing about any token. */
static size_t find_slot(const struct auth_store *s, const uint8_t hash[HASH_LEN])
{
    size_t lo = 0, hi = s->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (memcmp(s->tokens[mid]->hash, hash, BUCKET_PREFIX) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void insert_token(struct auth_store *s, struct auth_token *t)
{
    size_t at = find_slot(s, t->hash);

    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 16;
        s->tokens = xrealloc(s->tokens, s->cap * sizeof(*s->tokens));
    }
    memmove(&s->tokens[at + 1], &s->tokens[at], (s->n - at) * sizeof(*s->tokens));
    s->tokens[at] = t;
    s->n++;
}

static struct auth_token *find_locked(struct auth_store *s, const uint8_t hash[HASH_LEN])
{
    for (size_t i = find_slot(s, hash);
         i < s->n && !memcmp(s->tokens[i]->hash, hash, BUCKET_PREFIX); i++)
        if (!sodium_memcmp(s->tokens[i]->hash, hash, HASH_LEN))
            return s->tokens[i];
    return NULL;
}

static struct auth_token *find_id_locked(struct auth_store *s, const char *id)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->tokens[i]->id, id))
            return s->tokens[i];
    return NULL;
}

enum auth_state auth_token_state(const struct auth_token *t, int64_t now_ms)
{
    if (atomic_load(&((struct auth_token *)t)->revoked_ms))
        return AUTH_REVOKED;
    if (t->expires_ms && now_ms >= t->expires_ms)
        return AUTH_EXPIRED;
    return AUTH_VALID;
}

enum auth_state auth_lookup(struct auth_store *s, const char *text, size_t len,
                            int64_t now_ms, struct auth_token **out)
{
    uint8_t hash[HASH_LEN];
    struct auth_token *t;

    token_hash(s, text, len, hash);
    pthread_rwlock_rdlock(&s->lock);
    t = find_locked(s, hash);
    pthread_rwlock_unlock(&s->lock);
    *out = t;
    return t ? auth_token_state(t, now_ms) : AUTH_UNKNOWN;
}

struct auth_token *auth_find(struct auth_store *s, const char *id)
{
    struct auth_token *t;

    pthread_rwlock_rdlock(&s->lock);
    t = find_id_locked(s, id);
    pthread_rwlock_unlock(&s->lock);
    return t;
}

/* ---- JSON ---- */

static void add_ms_or_null(struct buf *b, const char *name, int64_t ms)
{
    if (ms)
        buf_printf(b, ",\"%s\":%" PRId64, name, ms);
    else
        buf_printf(b, ",\"%s\":null", name);
}

/* The fields both the store and the API show, after "id". */
static void token_fields_json(struct buf *b, const struct auth_token *t)
{
    buf_addstr(b, ",\"name\":");
    json_add_cstr(b, t->name);
    buf_addstr(b, ",\"scopes\":[");
    for (size_t i = 0; i < t->nscopes; i++) {
        bool first = true;

        buf_addstr(b, i ? ",{\"topics\":" : "{\"topics\":");
        json_add_cstr(b, t->scopes[i].pattern);
        buf_addstr(b, ",\"actions\":[");
        for (size_t a = 0; a < NACTIONS; a++) {
            if (!(t->scopes[i].actions & (1U << a)))
                continue;
            buf_printf(b, "%s\"%s\"", first ? "" : ",", action_names[a]);
            first = false;
        }
        buf_addstr(b, "]}");
    }
    buf_addch(b, ']');
    add_ms_or_null(b, "created_at", t->created_ms);
    add_ms_or_null(b, "expires_at", t->expires_ms);
    add_ms_or_null(b, "revoked_at", atomic_load(&((struct auth_token *)t)->revoked_ms));
    if (t->requests_per_s || t->bytes_per_s) {
        buf_addstr(b, ",\"rate_limit\":{");
        if (t->requests_per_s)
            buf_printf(b, "\"requests_per_s\":%" PRId64 "%s", t->requests_per_s,
                       t->bytes_per_s ? "," : "");
        if (t->bytes_per_s)
            buf_printf(b, "\"bytes_per_s\":%" PRId64, t->bytes_per_s);
        buf_addch(b, '}');
    } else {
        buf_addstr(b, ",\"rate_limit\":null");
    }
}

void auth_token_json(struct buf *b, const struct auth_token *t, int64_t now_ms,
                     const char *secret)
{
    static const char *const states[] = {"active", "active", "expired", "revoked"};

    buf_printf(b, "{\"id\":\"%s\"", t->id);
    if (secret)
        buf_printf(b, ",\"token\":\"%s\"", secret);
    token_fields_json(b, t);
    buf_printf(b, ",\"status\":\"%s\"}", states[auth_token_state(t, now_ms)]);
}

static int compare_newest_first(const void *a, const void *b)
{
    const struct auth_token *x = *(const struct auth_token *const *)a;
    const struct auth_token *y = *(const struct auth_token *const *)b;

    if (x->created_ms != y->created_ms)
        return x->created_ms > y->created_ms ? -1 : 1;
    return strcmp(x->id, y->id);
}

void auth_list_json(struct auth_store *s, struct buf *b, int64_t now_ms)
{
    struct auth_token **sorted;
    size_t n;

    pthread_rwlock_rdlock(&s->lock);
    n = s->n;
    sorted = xmalloc((n ? n : 1) * sizeof(*sorted));
    memcpy(sorted, s->tokens, n * sizeof(*sorted));
    pthread_rwlock_unlock(&s->lock);
    qsort(sorted, n, sizeof(*sorted), compare_newest_first);
    buf_addstr(b, "{\"tokens\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_addch(b, ',');
        auth_token_json(b, sorted[i], now_ms, NULL);
    }
    buf_addstr(b, "]}");
    free(sorted);
}

/* ---- the store's file ---- */

void auth_store_text(struct auth_store *s, struct buf *b)
{
    char hex[2 * HASH_LEN + 1];

    buf_addstr(b, "{\"version\":1,\"tokens\":[");
    for (size_t i = 0; i < s->n; i++) {
        const struct auth_token *t = s->tokens[i];

        sodium_bin2hex(hex, sizeof(hex), t->hash, HASH_LEN);
        buf_printf(b, "%s\n{\"id\":\"%s\"", i ? "," : "", t->id);
        token_fields_json(b, t);
        buf_printf(b, ",\"hash\":\"%s\"}", hex);
    }
    buf_addstr(b, "\n]}\n");
}

/* Writes tokens.json with the store as it is now (under the write lock). */
static int save_locked(struct auth_store *s)
{
    struct buf b = BUF_INIT;
    int ret;

    if (!s->dir)
        return 0;
    auth_store_text(s, &b);
    ret = io_replace_file(s->dir, STORE_FILE, b.data, b.len, 0600);
    buf_release(&b);
    if (ret)
        log_error("cannot write '%s/" STORE_FILE "': %s", s->dir, strerror(-ret));
    return ret;
}

/* An integer member that is absent, null (0) or a non-negative integer in *out. */
static bool get_ms(json_t *o, const char *name, int64_t *out)
{
    json_t *v = json_object_get(o, name);

    *out = 0;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return false;
    *out = json_integer_value(v);
    return true;
}

/* One scope of the store; false if malformed. */
static bool parse_scope(json_t *o, struct auth_scope *out)
{
    json_t *topics = json_object_get(o, "topics"), *actions = json_object_get(o, "actions");
    json_t *a;
    size_t i;

    if (!json_is_string(topics) ||
        strlen(json_string_value(topics)) != json_string_length(topics) ||
        !auth_pattern_is_valid(json_string_value(topics)) || !json_is_array(actions))
        return false;
    out->actions = 0;
    json_array_foreach(actions, i, a)
    {
        unsigned bit = json_is_string(a) ? auth_action_of(json_string_value(a)) : 0;

        if (!bit)
            return false;
        out->actions |= bit;
    }
    out->pattern = (char *)json_string_value(topics); /* borrowed until copied */
    return out->actions != 0;
}

/* One token of the store, or NULL if malformed (*why says what). */
static struct auth_token *parse_token(json_t *o, const char **why)
{
    json_t *id = json_object_get(o, "id"), *name = json_object_get(o, "name");
    json_t *hash = json_object_get(o, "hash"), *scopes = json_object_get(o, "scopes");
    json_t *rate = json_object_get(o, "rate_limit"), *v;
    struct auth_scope sc[AUTH_MAX_SCOPES];
    struct auth_token *t;
    int64_t revoked;
    size_t i;

    *why = "tokens.json: a token lacks id, name, hash or scopes";
    if (!json_is_string(id) || strlen(json_string_value(id)) != AUTH_ID_LEN ||
        !json_is_string(name) ||
        strlen(json_string_value(name)) != json_string_length(name) ||
        !json_is_string(hash) ||
        json_string_length(hash) != 2 * HASH_LEN || !json_is_array(scopes) ||
        json_array_size(scopes) > AUTH_MAX_SCOPES)
        return NULL;
    *why = "tokens.json: a token has a malformed scope";
    json_array_foreach(scopes, i, v)
    {
        if (!parse_scope(v, &sc[i]))
            return NULL;
    }
    *why = "tokens.json: a token's id is not 16 hex digits";
    if (strspn(json_string_value(id), "0123456789abcdef") != AUTH_ID_LEN)
        return NULL;
    t = token_new(json_string_value(name), sc, json_array_size(scopes));
    memcpy(t->id, json_string_value(id), AUTH_ID_LEN + 1);
    *why = "tokens.json: a token has a malformed hash, time or rate limit";
    if (sodium_hex2bin(t->hash, HASH_LEN, json_string_value(hash), 2 * HASH_LEN, NULL,
                       NULL, NULL) ||
        !get_ms(o, "created_at", &t->created_ms) || !get_ms(o, "expires_at", &t->expires_ms) ||
        !get_ms(o, "revoked_at", &revoked))
        goto fail;
    atomic_store(&t->revoked_ms, revoked);
    if (rate && !json_is_null(rate) &&
        (!json_is_object(rate) || !get_ms(rate, "requests_per_s", &t->requests_per_s) ||
         !get_ms(rate, "bytes_per_s", &t->bytes_per_s)))
        goto fail;
    return t;
fail:
    token_free(t);
    return NULL;
}

int auth_parse_store(struct auth_store *s, const char *text, size_t len, int64_t now_ms,
                     const char **why)
{
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL), *list, *o;
    size_t i;
    int ret = -EBADMSG;

    *why = "tokens.json is not a JSON object with \"version\":1 and \"tokens\":[...]";
    list = json_object_get(root, "tokens");
    if (!json_is_object(root) || json_integer_value(json_object_get(root, "version")) != 1 ||
        !json_is_array(list))
        goto out;
    json_array_foreach(list, i, o)
    {
        struct auth_token *t = json_is_object(o) ? parse_token(o, why) : NULL;
        int64_t ended = t ? atomic_load(&t->revoked_ms) : 0;

        if (!t)
            goto out;
        if (!ended)
            ended = t->expires_ms;
        if (ended && now_ms - ended > AUTH_KEEP_ENDED_MS) {
            token_free(t); /* long gone: the store forgets it */
            continue;
        }
        if (find_locked(s, t->hash) || find_id_locked(s, t->id)) {
            *why = "tokens.json: two tokens share an id or a hash";
            token_free(t);
            goto out;
        }
        insert_token(s, t);
    }
    ret = 0;
out:
    json_decref(root);
    return ret;
}

struct auth_store *auth_new_in_memory(const uint8_t key[32])
{
    struct auth_store *s = xcalloc(1, sizeof(*s));

    memcpy(s->key, key, sizeof(s->key));
    pthread_rwlock_init(&s->lock, NULL);
    return s;
}

void auth_close(struct auth_store *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        token_free(s->tokens[i]);
    free(s->tokens);
    free(s->dir);
    sodium_memzero(s->key, sizeof(s->key));
    pthread_rwlock_destroy(&s->lock);
    free(s);
}

/* ---- making and revoking ---- */

static void new_secret(char out[AUTH_TOKEN_LEN + 1])
{
    unsigned char raw[32];

    randombytes_buf(raw, sizeof(raw));
    memcpy(out, AUTH_TOKEN_PREFIX, strlen(AUTH_TOKEN_PREFIX));
    sodium_bin2base64(out + strlen(AUTH_TOKEN_PREFIX),
                      AUTH_TOKEN_LEN + 1 - strlen(AUTH_TOKEN_PREFIX), raw, sizeof(raw),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof(raw));
}

/* Adds a token with the hash of 'secret' (under the write lock), not yet saved. */
static struct auth_token *add_locked(struct auth_store *s, const struct auth_spec *spec,
                                     const char *secret, size_t secret_len, int64_t now_ms)
{
    struct auth_token *t = token_new(spec->name, spec->scopes, spec->nscopes);
    unsigned char id[AUTH_ID_LEN / 2];

    do {
        randombytes_buf(id, sizeof(id));
        sodium_bin2hex(t->id, sizeof(t->id), id, sizeof(id));
    } while (find_id_locked(s, t->id));
    token_hash(s, secret, secret_len, t->hash);
    t->created_ms = now_ms;
    t->expires_ms = spec->expires_in_s ? now_ms + spec->expires_in_s * 1000 : 0;
    t->requests_per_s = spec->requests_per_s;
    t->bytes_per_s = spec->bytes_per_s;
    insert_token(s, t);
    return t;
}

static void remove_locked(struct auth_store *s, struct auth_token *t)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->tokens[i] != t)
            continue;
        memmove(&s->tokens[i], &s->tokens[i + 1], (s->n - i - 1) * sizeof(*s->tokens));
        s->n--;
        token_free(t);
        return;
    }
}

static size_t live_locked(struct auth_store *s, int64_t now_ms)
{
    size_t live = 0;

    for (size_t i = 0; i < s->n; i++)
        live += auth_token_state(s->tokens[i], now_ms) == AUTH_VALID;
    return live;
}

int auth_create(struct auth_store *s, const struct auth_spec *spec, int64_t now_ms,
                char token_out[AUTH_TOKEN_LEN + 1], struct auth_token **out)
{
    struct auth_token *t;
    int ret = -EDQUOT;

    pthread_rwlock_wrlock(&s->lock);
    if (live_locked(s, now_ms) >= AUTH_MAX_TOKENS)
        goto out;
    new_secret(token_out);
    t = add_locked(s, spec, token_out, AUTH_TOKEN_LEN, now_ms);
    ret = save_locked(s);
    if (ret) {
        remove_locked(s, t);
        sodium_memzero(token_out, AUTH_TOKEN_LEN + 1);
        t = NULL;
    }
    *out = t;
out:
    pthread_rwlock_unlock(&s->lock);
    return ret;
}

int auth_revoke(struct auth_store *s, const char *id, int64_t now_ms,
                struct auth_token **out)
{
    struct auth_token *t;
    int ret = 0;

    pthread_rwlock_wrlock(&s->lock);
    *out = t = find_id_locked(s, id);
    if (!t) {
        ret = -ENOENT;
    } else if (!atomic_load(&t->revoked_ms)) {
        atomic_store(&t->revoked_ms, now_ms ? now_ms : 1);
        ret = save_locked(s);
        if (ret)
            atomic_store(&t->revoked_ms, 0);
    }
    pthread_rwlock_unlock(&s->lock);
    return ret;
}

/* ---- rate limits: token buckets holding one second's worth ---- */

static double at_most(double x, double cap)
{
    return x < cap ? x : cap;
}

/* Milliseconds until 'missing' units come in at 'rate' per second, rounded up. */
static int64_t ms_until(double missing, int64_t rate)
{
    double ms = missing * 1000.0 / (double)rate;
    int64_t whole = (int64_t)ms;

    return whole + (ms > (double)whole);
}

/* Buckets start empty at time 0, so the first refill fills them. */
static void refill(struct auth_token *t, int64_t now_ms)
{
    double dt = now_ms > t->rate_at_ms ? (double)(now_ms - t->rate_at_ms) / 1000.0 : 0;

    if (!t->rate_at_ms)
        dt = 1.0; /* a full second's worth */
    t->rate_at_ms = now_ms > t->rate_at_ms ? now_ms : t->rate_at_ms;
    t->request_credit = at_most(t->request_credit + dt * (double)t->requests_per_s,
                                (double)t->requests_per_s);
    t->byte_credit =
        at_most(t->byte_credit + dt * (double)t->bytes_per_s, (double)t->bytes_per_s);
}

int64_t auth_rate_admit(struct auth_token *t, size_t bytes, int64_t now_ms)
{
    int64_t wait_ms = 0;

    if (!t || (!t->requests_per_s && !t->bytes_per_s))
        return 0;
    pthread_mutex_lock(&t->rate_lock);
    refill(t, now_ms);
    if (t->requests_per_s && t->request_credit < 1.0)
        wait_ms = ms_until(1.0 - t->request_credit, t->requests_per_s);
    if (t->bytes_per_s && t->byte_credit < 0) {
        int64_t w = ms_until(-t->byte_credit, t->bytes_per_s);

        wait_ms = w > wait_ms ? w : wait_ms;
    }
    if (!wait_ms) {
        if (t->requests_per_s)
            t->request_credit -= 1.0;
        if (t->bytes_per_s)
            t->byte_credit -= (double)bytes;
    }
    pthread_mutex_unlock(&t->rate_lock);
    return wait_ms;
}

void auth_rate_charge(struct auth_token *t, size_t bytes, int64_t now_ms)
{
    if (!t || !t->bytes_per_s)
        return;
    pthread_mutex_lock(&t->rate_lock);
    refill(t, now_ms);
    t->byte_credit -= (double)bytes;
    pthread_mutex_unlock(&t->rate_lock);
}

/* ---- opening ---- */

/* DATA/auth.key: read, or made when 'may_create'. */
static int load_key(struct auth_store *s, bool may_create, const char **why)
{
    struct buf path = BUF_INIT;
    char *data = NULL;
    size_t len = 0;
    int ret;

    buf_printf(&path, "%s/" KEY_FILE, s->dir);
    ret = io_read_file(path.data, 4096, &data, &len);
    if (ret == -ENOENT && may_create) {
        randombytes_buf(s->key, sizeof(s->key));
        ret = io_replace_file(s->dir, KEY_FILE, s->key, sizeof(s->key), 0600);
    } else if (ret == -ENOENT) {
        *why = "tokens.json exists but auth.key, the key of its hashes, is missing";
        ret = -EBADMSG;
    } else if (!ret && len != sizeof(s->key)) {
        *why = "auth.key is not 32 bytes";
        ret = -EBADMSG;
    } else if (!ret) {
        memcpy(s->key, data, sizeof(s->key));
    }
    if (data)
        sodium_memzero(data, len);
    free(data);
    buf_release(&path);
    return ret;
}

/* The first admin token. With no store yet, DATA/admin.token is imported if it exists
 * (made by an older rill, or by a start that crashed before saving the store); else,
 * or when the store is there but empty (its admin.token may be a revoked token), a
 * new token is written there. */
static int bootstrap_admin(struct auth_store *s, bool may_import, int64_t now_ms)
{
    char star[] = "*";
    const struct auth_scope all = {star, AUTH_ANY};
    const struct auth_spec spec = {.name = "admin", .scopes = &all, .nscopes = 1};
    struct buf path = BUF_INIT, text = BUF_INIT;
    char secret[AUTH_TOKEN_LEN + 1];
    char *data = NULL;
    size_t len = 0;
    int ret;

    buf_printf(&path, "%s/" ADMIN_TOKEN_FILE, s->dir);
    ret = may_import ? io_read_file(path.data, 4096, &data, &len) : -ENOENT;
    if (ret == -ENOENT) {
        new_secret(secret);
        buf_printf(&text, "%s\n", secret);
        ret = io_replace_file(s->dir, ADMIN_TOKEN_FILE, text.data, text.len, 0600);
        if (ret)
            goto out;
        add_locked(s, &spec, secret, AUTH_TOKEN_LEN, now_ms);
        log_info("admin token written to '%s' (mode 0600)", path.data);
    } else if (!ret) {
        while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'))
            len--;
        add_locked(s, &spec, data, len, now_ms);
        log_info("admin token read from '%s'", path.data);
    } else {
        goto out;
    }
    ret = save_locked(s);
out:
    if (data)
        sodium_memzero(data, len);
    free(data);
    sodium_memzero(text.data, text.len);
    sodium_memzero(secret, sizeof(secret));
    buf_release(&text);
    buf_release(&path);
    return ret;
}

int auth_open(struct auth_store **out, const char *dir, bool bootstrap, const char **why)
{
    uint8_t zero[32] = {0};
    struct auth_store *s = auth_new_in_memory(zero);
    struct buf path = BUF_INIT;
    char *text = NULL;
    size_t len = 0;
    int64_t now = clock_wall_ms();
    int ret;

    *why = NULL;
    s->dir = xstrdup(dir);
    buf_printf(&path, "%s/" STORE_FILE, dir);
    ret = io_read_file(path.data, AUTH_STORE_MAX, &text, &len);
    if (ret && ret != -ENOENT)
        goto fail;
    ret = load_key(s, ret == -ENOENT, why);
    if (ret)
        goto fail;
    if (text) {
        ret = auth_parse_store(s, text, len, now, why);
        if (ret)
            goto fail;
    }
    if (bootstrap && !s->n) {
        ret = bootstrap_admin(s, !text, now);
        if (ret)
            goto fail;
    }
    free(text);
    buf_release(&path);
    *out = s;
    return 0;
fail:
    free(text);
    buf_release(&path);
    auth_close(s);
    return ret;
}
