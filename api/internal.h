/* internal.h: what the files of api/ share: the API's state and a handler's context. */
#ifndef API_INTERNAL_H
#define API_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "api/api.h"
#include "api/auth.h"
#include "api/call.h"
#include "api/idempotency.h"
#include "api/reply.h"
#include "api/stream_hub.h"
#include "common/timer.h"
#include "storage/backend.h"

#define API_MAX_PARAMS 4

struct api {
    struct store *store;
    struct api_config config;
    struct auth_store *auth; /* bearer tokens (auth.h) */
    struct timer_wheel *timers;
    struct idem_table *idem;  /* Idempotency-Key answers */
    _Atomic uint32_t sticky; /* spreads keyless records over partitions */
    pthread_mutex_t calls_lock;
    struct api_call *calls;  /* suspended calls, for shutdown */
    atomic_bool shutting_down; /* set under calls_lock */
    struct hub_list hubs;    /* shared tails of streamed partitions (stream_hub.h) */
    struct group_offsets *groups; /* consumer groups' committed offsets */
    struct group_members *members; /* consumer groups' live members */
};

/* What a handler gets: the request, the answer to fill, the decoded path parameters. */
struct api_ctx {
    struct api *api;
    const struct api_request *req;
    struct api_response *resp;
    char *params[API_MAX_PARAMS];
    size_t nparams;
    struct api_call **call; /* set by a handler that suspends */
    struct auth_token *token; /* the request's token; NULL: auth off, or a public route */
    bool admit_only;          /* api_admit(): routing and access checks, no handler */
};

typedef enum api_status (*api_handler)(struct api_ctx *ctx);

/* The value of query parameter 'name', or NULL. */
const char *api_query(const struct api_ctx *ctx, const char *name);
/* The value of header 'name' (case-insensitive), or NULL. */
const char *api_header(const struct api_ctx *ctx, const char *name);
/* The request's Content-Type, by media type (parameters like charset ignored). */
enum api_media { MEDIA_NONE, MEDIA_JSON, MEDIA_FORM, MEDIA_OTHER };
enum api_media api_media_type(const struct api_ctx *ctx);

/* Checks the bearer token and its rate limits; answers 401, 400 or 429 (and returns
 * false) if it does not pass. */
bool api_authenticate(struct api_ctx *ctx);
/* Whether the request's token may do 'action' (an enum auth_action bit, or AUTH_ANY)
 * on 'topic' (NULL: on every topic). Always with auth off. */
bool api_may(const struct api_ctx *ctx, unsigned action, const char *topic);
/* 403 forbidden, with WWW-Authenticate error="insufficient_scope". */
void api_reply_forbidden(struct api_response *resp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* As api_may(), answering 403 forbidden when not. */
bool api_require(struct api_ctx *ctx, unsigned action, const char *topic);
/* Whether the token covers a group: it may consume every topic the group reads (its
 * committed offsets' and its members' subscriptions). */
bool api_covers_group(const struct api_ctx *ctx, const char *group);
/* As api_covers_group(), answering 403 forbidden when not. */
bool api_require_group(struct api_ctx *ctx, const char *group);
/* Whether the token of a call still holds (it may have been revoked or have expired
 * while the call waited); if not, and 'resp' is not NULL, answers 401 there. */
bool api_call_token_valid(struct api_call *c, struct api_response *resp);
/* Ends a stream or wait of a token revoked just now: wakes its calls (api_call). */
void api_wake_token(struct api *a, const struct auth_token *t);
/* Lists a suspended call so api_shutdown() can find it (call.c). */
void api_track_call(struct api *a, struct api_call *c);
/* Whether api_shutdown() has begun. */
bool api_is_shutting_down(struct api *a);
/* Wakes the suspended calls that follow topic 't' (streams: it has new partitions). */
void api_wake_followers(struct api *a, const void *t);

/* Copies s[0..len) into out[0..size) (cut to fit, NUL-terminated) with every byte
 * that is not printable ASCII as '?': a problem's detail is JSON, request bytes may
 * not be. */
void api_printable_copy(char *out, size_t size, const char *s, size_t len);
/* Parses a decimal int64 (optional '-', digits only). Returns 0 or -EINVAL. */
int api_parse_i64(const char *s, int64_t *out);
/* Looks up the topic named by path parameter 0 (a reference: topic_put() it), or
 * answers 400/404 and returns NULL. */
struct topic *api_topic_param(struct api_ctx *ctx);
/* Parses the body as one JSON object (a json_t *, to json_decref()); answers 400 and
 * returns NULL if it is not. */
struct json_t *api_parse_body_object(struct api_ctx *ctx);
/* Whether 'word' is one of the words of 'list', separated by spaces or ", ". */
bool api_word_listed(const char *list, const char *word);
/* Whether every member of object 'obj' is one of 'fields' ("name, partitions"); else
 * answers 400 unknown_field, the detail led by 'where' (e.g. "offsets[2]") if not
 * NULL. */
bool api_known_fields(struct api_ctx *ctx, struct json_t *obj, const char *fields,
                      const char *where);
/* Appends a record as the JSON object a fetch returns, led by "partition" when
 * 'partition' >= 0 (as a stream sends it). */
void api_record_json(struct buf *b, const struct record *r, int32_t partition,
                     bool value_base64);
/* Resolves the topic (a reference: topic_put() it) and partition of the path; answers
 * 400/404 and returns false on failure (*t may then still need topic_put()). */
bool api_partition_param(struct api_ctx *ctx, struct topic **t, int32_t *id,
                         struct partition **p);
/* Where a read starts, from ?offset= (a number, earliest, latest; absent: latest if
 * 'default_latest', else earliest) or ?timestamp=; answers 400 or 416 on failure. */
bool api_start_offset(struct api_ctx *ctx, struct partition *p, bool default_latest,
                      int64_t *out);
/* 416 offset_out_of_range with the partition's earliest and latest; the detail names
 * partition 'id' unless it is -1 (the path named it). */
void api_reply_out_of_range(struct api_response *resp, struct partition *p, int32_t id,
                            int64_t offset);

/* The handlers, one file per resource (names follow openapi.yaml's operationIds). */
enum api_status api_get_health(struct api_ctx *ctx);
enum api_status api_get_openapi(struct api_ctx *ctx);
enum api_status api_get_metrics(struct api_ctx *ctx);
enum api_status api_list_topics(struct api_ctx *ctx);
enum api_status api_create_topic(struct api_ctx *ctx);
enum api_status api_get_topic(struct api_ctx *ctx);
enum api_status api_update_topic(struct api_ctx *ctx);
enum api_status api_delete_topic(struct api_ctx *ctx);
enum api_status api_produce_records(struct api_ctx *ctx);
enum api_status api_produce_webhook(struct api_ctx *ctx);
enum api_status api_fetch_records(struct api_ctx *ctx);
enum api_status api_get_offsets(struct api_ctx *ctx);
enum api_status api_stream_partition(struct api_ctx *ctx);
enum api_status api_stream_topic(struct api_ctx *ctx);
/* The group name of path parameter 0, if valid (else 400 invalid_group_name) and covered
 * by the token (else 403: api_require_group). */
bool api_group_param(struct api_ctx *ctx, const char **name);
/* Whether 'name' is a valid group name; answers 400 invalid_group_name if not. */
bool api_group_name_ok(struct api_ctx *ctx, const char *name);
/* 409 unknown_member: the member must join again. */
void api_reply_unknown_member(struct api_response *resp);
/* Every group's name (committed offsets or live members), sorted; free each and the
 * array. */
char **api_group_names(struct api *a, size_t *n);
enum api_status api_list_groups(struct api_ctx *ctx);
enum api_status api_join_group(struct api_ctx *ctx);
enum api_status api_heartbeat_member(struct api_ctx *ctx);
enum api_status api_leave_group(struct api_ctx *ctx);
enum api_status api_read_member_records(struct api_ctx *ctx);
enum api_status api_commit_group_offsets(struct api_ctx *ctx);
enum api_status api_get_group_offsets(struct api_ctx *ctx);
enum api_status api_delete_group(struct api_ctx *ctx);
enum api_status api_create_token(struct api_ctx *ctx);
enum api_status api_list_tokens(struct api_ctx *ctx);
enum api_status api_get_token(struct api_ctx *ctx);
enum api_status api_delete_token(struct api_ctx *ctx);

/* CORS (cors.c): the headers every answer to an allowed Origin carries; and the answer
 * to an OPTIONS request on a path whose routes take 'methods' ("GET, HEAD, POST"). */
void cors_headers(struct api_ctx *ctx);
void cors_preflight(struct api_ctx *ctx, const char *methods);

/* The router: finds the handler for a request, answering 404/405 itself. */
enum api_status router_dispatch(struct api *a, struct api_ctx *ctx);
/* Route i of the table, for tests that walk it: its method, its pattern ('{}' for a
 * path parameter) and whether it is public (no token). False past the last route. */
bool router_route(size_t i, const char **method, const char **pattern, bool *is_public);

#endif
