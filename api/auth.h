/* auth.h: bearer tokens and what they may do.
 *
 * A token is 32 random bytes shown once as "rill_" + unpadded base64url (48 chars).
 * The server keeps only its keyed BLAKE2b hash (key: DATA/auth.key, 32 random bytes,
 * 0600), so neither the token store nor a copy of it lets anyone sign in. The store is
 * DATA/tokens.json (0600), replaced atomically on every change:
 *
 *   {"version":1,"tokens":[{"id":"3f2a9c0d1e4b5a67","name":"ci",
 *     "hash":"<64 hex digits>","scopes":[{"topics":"orders.*",
 *     "actions":["produce","consume"]}],"created_at":1764000000000,
 *     "expires_at":null,"revoked_at":null,"rate_limit":null}]}
 *
 * A scope is a topic pattern (an exact name, a prefix followed by '*', or '*' alone)
 * and the actions it allows there. First start with no token at all (auth on): an
 * admin token (every action on '*') is made and written to DATA/admin.token (0600),
 * before the store, so a crash in between leaves a token the next start imports.
 *
 * Tokens are never freed while the store is open (a revoked one stays, marked), so a
 * request or an open stream may keep a pointer to its token. Revoked and expired
 * tokens are dropped from the store when it is loaded a week after their end. */
#ifndef API_AUTH_H
#define API_AUTH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>

struct buf;

#define AUTH_TOKEN_PREFIX "rill_"
#define AUTH_TOKEN_LEN 48 /* "rill_" + 43 base64url characters */
#define AUTH_ID_LEN 16    /* hex digits */
#define AUTH_NAME_MAX 128 /* bytes */
#define AUTH_MAX_SCOPES 100
#define AUTH_MAX_TOKENS 10000 /* live ones */
#define AUTH_MAX_EXPIRES_S (10LL * 365 * 24 * 3600)
#define AUTH_KEEP_ENDED_MS (7LL * 24 * 3600 * 1000)
#define AUTH_STORE_MAX (64U << 20) /* tokens.json */

enum auth_action {
    AUTH_PRODUCE = 1 << 0,
    AUTH_CONSUME = 1 << 1,
    AUTH_ADMIN = 1 << 2,
    AUTH_ANY = AUTH_PRODUCE | AUTH_CONSUME | AUTH_ADMIN,
};

struct auth_scope {
    char *pattern;    /* "orders", "orders.*", "*" */
    unsigned actions; /* enum auth_action bits */
};

struct auth_token {
    char id[AUTH_ID_LEN + 1];
    char *name;
    uint8_t hash[32];
    struct auth_scope *scopes;
    size_t nscopes;
    int64_t created_ms;
    int64_t expires_ms;           /* wall clock; 0: never */
    _Atomic int64_t revoked_ms;   /* 0: not revoked */
    int64_t requests_per_s;       /* 0: no limit */
    int64_t bytes_per_s;          /* 0: no limit */
    pthread_mutex_t rate_lock;    /* guards the buckets below */
    double request_credit;        /* token buckets, refilled at the rates above */
    double byte_credit;           /* may go below 0: bytes already taken */
    int64_t rate_at_ms;           /* when the buckets were last refilled */
};

/* What a new token is made of (auth_create). */
struct auth_spec {
    const char *name;
    const struct auth_scope *scopes;
    size_t nscopes;
    int64_t expires_in_s; /* 0: never */
    int64_t requests_per_s, bytes_per_s;
};

enum auth_state { AUTH_VALID, AUTH_UNKNOWN, AUTH_EXPIRED, AUTH_REVOKED };

struct auth_store;

/* Opens the store in 'dir', making auth.key and tokens.json if neither exists; with
 * 'bootstrap', a store without tokens gets an admin token (DATA/admin.token, imported
 * from there if the file exists). Returns 0; -EBADMSG for a damaged store or key (*why
 * says what); another -errno for I/O. */
int auth_open(struct auth_store **out, const char *dir, bool bootstrap, const char **why);
void auth_close(struct auth_store *s);

/* Finds the token 'text' (len bytes); its state now, and in *out the token (when
 * not AUTH_UNKNOWN), valid while the store is open. */
enum auth_state auth_lookup(struct auth_store *s, const char *text, size_t len,
                            int64_t now_ms, struct auth_token **out);
/* The state of a token found before: revocation and expiry since. */
enum auth_state auth_token_state(const struct auth_token *t, int64_t now_ms);

/* Whether 't' may do 'action' (any bit of it) on 'topic'. topic NULL: on every topic
 * (a scope with the pattern '*'). A NULL token may do nothing. */
bool auth_allows(const struct auth_token *t, unsigned action, const char *topic);
/* Whether 'pattern' is a valid topic pattern. */
bool auth_pattern_is_valid(const char *pattern);
/* Whether topic 'name' matches 'pattern'. */
bool auth_pattern_matches(const char *pattern, const char *name);
/* "produce" -> AUTH_PRODUCE, ...; 0 for anything else. */
unsigned auth_action_of(const char *word);

/* Makes a token from 'spec' (checked by the caller) and stores it durably. Writes the
 * secret, shown once, to token_out. Returns 0, -EDQUOT (AUTH_MAX_TOKENS live tokens)
 * or -errno of the write (then nothing changed). */
int auth_create(struct auth_store *s, const struct auth_spec *spec, int64_t now_ms,
                char token_out[AUTH_TOKEN_LEN + 1], struct auth_token **out);
/* Revokes token 'id' durably. Returns 0 (also if it was revoked before), -ENOENT, or
 * -errno of the write (then it is not revoked). *out: the token, for waking streams. */
int auth_revoke(struct auth_store *s, const char *id, int64_t now_ms,
                struct auth_token **out);
/* The token with this id, or NULL. */
struct auth_token *auth_find(struct auth_store *s, const char *id);
/* Appends {"tokens":[...]} (no secrets, no hashes), newest first. */
void auth_list_json(struct auth_store *s, struct buf *b, int64_t now_ms);
/* Appends a token as the API shows it (no secret, no hash); 'secret', when not NULL,
 * is added as "token". */
void auth_token_json(struct buf *b, const struct auth_token *t, int64_t now_ms,
                     const char *secret);

/* Rate limits: admits one request with 'bytes' of body. Returns 0, or how many ms to
 * wait before the next request can pass. Without limits always 0. */
int64_t auth_rate_admit(struct auth_token *t, size_t bytes, int64_t now_ms);
/* Takes 'bytes' more (an answer's body) from the byte bucket. */
void auth_rate_charge(struct auth_token *t, size_t bytes, int64_t now_ms);

/* Parses a store's text into 's' (exposed for tests and fuzzing): 0 or -EBADMSG. */
int auth_parse_store(struct auth_store *s, const char *text, size_t len, int64_t now_ms,
                     const char **why);
/* The store's text, as tokens.json holds it (tests and fuzzing). */
void auth_store_text(struct auth_store *s, struct buf *b);
/* An empty store with 'key', not backed by files (tests and fuzzing). */
struct auth_store *auth_new_in_memory(const uint8_t key[32]);

#endif
