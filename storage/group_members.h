/* group_members.h: consumer group membership for the embedded log: who is in a group,
 * which partitions each member reads, and the generation that fences the members of
 * an older arrangement. Over HTTP nothing ties a member to a connection: a member
 * joins, heartbeats within its session timeout, and leaves (or expires).
 *
 * Every change of the arrangement (a member joins, leaves or expires, a subscribed
 * topic gains partitions) starts a new generation, numbered from 1 up. A commit or read
 * that names a member no longer in the group, or an older generation, is refused, so
 * a consumer fenced out by a rebalance cannot move offsets over a newer one's.
 *
 * Assignment (documented for users): the partitions of each topic are dealt to the
 * members subscribed to that topic, ordered by member id: partition p goes to member
 * p mod k of the k. Every partition of a subscribed topic has exactly one member.
 *
 * Membership is kept in memory: after a restart every member hears that it is unknown
 * and joins again (Kafka's consumers do the same after a coordinator moves); committed
 * offsets are in the log (group_offsets.h) and survive. Expiry is checked whenever a
 * group is looked at, so no thread is needed. Knows no HTTP and no JSON. */
#ifndef STORAGE_GROUP_MEMBERS_H
#define STORAGE_GROUP_MEMBERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MEMBER_ID_LEN 34          /* "m-" + 32 hex digits */
#define MEMBER_MAX_TOPICS 100     /* topics one member subscribes to */

struct assignment {
    char *topic;
    int32_t partition;
};

/* What a member is told: its id, the generation and its partitions. */
struct member_view {
    char member_id[MEMBER_ID_LEN + 1];
    int64_t generation;
    struct assignment *assigned; /* sorted by topic, partition */
    size_t nassigned;
    bool earliest;               /* auto_offset_reset earliest (else latest) */
};

/* How many partitions a topic has now (0 if it does not exist). */
typedef int32_t (*member_partitions_fn)(void *arg, const char *topic);

struct group_members;

struct group_members *group_members_new(member_partitions_fn partitions, void *arg);
void group_members_free(struct group_members *m);

/* Adds a member subscribed to topics[0..ntopics) (a new generation). Returns 0. */
int group_members_join(struct group_members *m, const char *group, const char *const *topics,
                       size_t ntopics, int64_t session_timeout_ms, bool earliest,
                       int64_t now_ms, struct member_view *out);
/* The member's view now, and its session renewed. Returns 0, or -ENOENT if the member
 * is not in the group (never joined, left, expired, or the server restarted). */
int group_members_heartbeat(struct group_members *m, const char *group, const char *member_id,
                            int64_t now_ms, struct member_view *out);
/* The member's view without renewing its session (for reads). -ENOENT as above. */
int group_members_view(struct group_members *m, const char *group, const char *member_id,
                       int64_t now_ms, struct member_view *out);
/* Removes a member (a new generation). Returns 0 or -ENOENT. */
int group_members_leave(struct group_members *m, const char *group, const char *member_id,
                        int64_t now_ms);
/* May the member commit as of 'generation'? 0; -ENOENT (not a member); -ESTALE (an
 * older generation than the group's). */
int group_members_check(struct group_members *m, const char *group, const char *member_id,
                        int64_t generation, int64_t now_ms);
/* The names of the groups with live members, sorted (free each and the array). */
char **group_members_groups(struct group_members *m, int64_t now_ms, size_t *n);
/* Live members of a group (0 for none). */
size_t group_members_count(struct group_members *m, const char *group, int64_t now_ms);
/* The topics the live members of 'group' subscribe to, sorted, each once (free each
 * and the array; NULL when none). */
char **group_members_topics(struct group_members *m, const char *group, int64_t now_ms,
                            size_t *n);
void member_view_release(struct member_view *v);

#endif
