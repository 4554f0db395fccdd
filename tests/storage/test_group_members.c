/* tests/storage/test_group_members.c: storage/group_members.c: joins, heartbeats,
 * leaves and expiry move the generation and deal every partition of the subscribed
 * topics to exactly one member; fencing of old generations and unknown members. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <string.h>

#include "storage/group_members.h"

static int32_t parts_orders = 6, parts_audit = 2;

static int32_t partitions(void *arg, const char *topic)
{
    (void)arg;
    if (!strcmp(topic, "orders"))
        return parts_orders;
    if (!strcmp(topic, "audit"))
        return parts_audit;
    return 0;
}

static struct group_members *m;

static void setup(void)
{
    parts_orders = 6;
    parts_audit = 2;
    m = group_members_new(partitions, NULL);
}

static void teardown(void) { group_members_free(m); }

static inline bool holds(bool c) { return c; }

TestSuite(group_members, .init = setup, .fini = teardown, .timeout = 10);

static void join(const char *topic, int64_t timeout, int64_t now, struct member_view *v)
{
    const char *topics[] = {topic};

    cr_assert(eq(int, group_members_join(m, "g", topics, 1, timeout, false, now, v), 0));
}

/* Asserts that views[0..n) together hold each partition of 'topic' exactly once. */
static void expect_dealt(struct member_view *views, size_t n, const char *topic, int32_t parts)
{
    int seen[64] = {0};

    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < views[i].nassigned; k++)
            if (!strcmp(views[i].assigned[k].topic, topic))
                seen[views[i].assigned[k].partition]++;
    for (int32_t p = 0; p < parts; p++)
        cr_assert(eq(int, seen[p], 1), "%s partition %d dealt %d times", topic, p, seen[p]);
}

Test(group_members, members_split_the_partitions_without_overlap_and_cover_them_all)
{
    struct member_view v[3], now[3];

    join("orders", 30000, 0, &v[0]);
    cr_assert(eq(i64, v[0].generation, 1));
    cr_assert(eq(sz, v[0].nassigned, 6), "alone, it reads everything");
    join("orders", 30000, 10, &v[1]);
    join("orders", 30000, 20, &v[2]);
    cr_assert(eq(i64, v[2].generation, 3));
    for (int i = 0; i < 3; i++) {
        cr_assert(eq(int, group_members_heartbeat(m, "g", v[i].member_id, 30, &now[i]), 0));
        cr_assert(eq(i64, now[i].generation, 3));
        cr_assert(eq(sz, now[i].nassigned, 2), "6 partitions over 3 members");
    }
    expect_dealt(now, 3, "orders", 6);
    for (int i = 0; i < 3; i++) {
        member_view_release(&v[i]);
        member_view_release(&now[i]);
    }
}

Test(group_members, heartbeat_keeps_a_member_and_expiry_removes_it)
{
    struct member_view a, b, now;
    char aid[MEMBER_ID_LEN + 1], bid[MEMBER_ID_LEN + 1];

    join("orders", 1000, 0, &a);
    memcpy(aid, a.member_id, sizeof(aid));
    join("orders", 30000, 100, &b);
    memcpy(bid, b.member_id, sizeof(bid));
    cr_assert(eq(i64, b.generation, 2));
    cr_assert(eq(int, group_members_heartbeat(m, "g", aid, 900, &now), 0), "a is alive");
    cr_assert(eq(i64, now.generation, 2));
    {
        struct member_view both[2] = {now, b};
        expect_dealt(both, 2, "orders", 6);
    }
    member_view_release(&now);
    cr_assert(eq(int, group_members_heartbeat(m, "g", aid, 1800, &now), 0), "renewed at 900");
    member_view_release(&now);
    cr_assert(eq(int, group_members_heartbeat(m, "g", aid, 2801, &now), -ENOENT), "expired");
    cr_assert(eq(int, group_members_heartbeat(m, "g", bid, 2802, &now), 0));
    cr_assert(eq(i64, now.generation, 3), "the expiry started a new generation");
    cr_assert(eq(sz, now.nassigned, 6), "b took over a's partitions");
    member_view_release(&now);
    member_view_release(&a);
    member_view_release(&b);
}

Test(group_members, leave_and_fencing)
{
    struct member_view a, b, now;
    char aid[MEMBER_ID_LEN + 1];

    join("orders", 30000, 0, &a);
    memcpy(aid, a.member_id, sizeof(aid));
    cr_assert(eq(int, group_members_check(m, "g", aid, 1, 1), 0));
    join("orders", 30000, 5, &b);
    cr_assert(eq(int, group_members_check(m, "g", aid, 1, 6), -ESTALE), "generation 1 is over");
    cr_assert(eq(int, group_members_check(m, "g", aid, 2, 6), 0));
    cr_assert(eq(int, group_members_check(m, "g", "m-nobody", 2, 6), -ENOENT));
    cr_assert(eq(int, group_members_check(m, "other", aid, 2, 6), -ENOENT));
    cr_assert(eq(sz, group_members_count(m, "g", 7), 2));
    cr_assert(eq(int, group_members_leave(m, "g", b.member_id, 8), 0));
    cr_assert(eq(int, group_members_leave(m, "g", b.member_id, 8), -ENOENT));
    cr_assert(eq(int, group_members_heartbeat(m, "g", aid, 9, &now), 0));
    cr_assert(eq(i64, now.generation, 3));
    cr_assert(eq(sz, now.nassigned, 6));
    member_view_release(&now);
    cr_assert(eq(int, group_members_leave(m, "g", aid, 10), 0));
    cr_assert(eq(sz, group_members_count(m, "g", 11), 0));
    member_view_release(&a);
    member_view_release(&b);
}

Test(group_members, new_partitions_start_a_generation_and_are_dealt)
{
    struct member_view a, b, now[2];
    char aid[MEMBER_ID_LEN + 1], bid[MEMBER_ID_LEN + 1];

    join("orders", 30000, 0, &a);
    join("orders", 30000, 1, &b);
    memcpy(aid, a.member_id, sizeof(aid));
    memcpy(bid, b.member_id, sizeof(bid));
    parts_orders = 9;
    cr_assert(eq(int, group_members_heartbeat(m, "g", aid, 2, &now[0]), 0));
    cr_assert(eq(int, group_members_heartbeat(m, "g", bid, 3, &now[1]), 0));
    cr_assert(eq(i64, now[0].generation, 3));
    cr_assert(eq(i64, now[1].generation, 3));
    expect_dealt(now, 2, "orders", 9);
    member_view_release(&now[0]);
    member_view_release(&now[1]);
    member_view_release(&a);
    member_view_release(&b);
}

Test(group_members, different_subscriptions_are_dealt_per_topic)
{
    struct member_view a, b, now[2];
    const char *both[] = {"orders", "audit", "orders"};
    char aid[MEMBER_ID_LEN + 1], bid[MEMBER_ID_LEN + 1];

    cr_assert(eq(int, group_members_join(m, "g", both, 3, 30000, true, 0, &a), 0));
    cr_assert(holds(a.earliest));
    join("orders", 30000, 1, &b);
    memcpy(aid, a.member_id, sizeof(aid));
    memcpy(bid, b.member_id, sizeof(bid));
    cr_assert(eq(int, group_members_heartbeat(m, "g", aid, 2, &now[0]), 0));
    cr_assert(eq(int, group_members_heartbeat(m, "g", bid, 3, &now[1]), 0));
    expect_dealt(now, 2, "orders", 6);
    expect_dealt(now, 2, "audit", 2);
    for (size_t k = 0; k < now[1].nassigned; k++)
        cr_assert(eq(str, now[1].assigned[k].topic, "orders"), "b reads only what it asked");
    member_view_release(&now[0]);
    member_view_release(&now[1]);
    member_view_release(&a);
    member_view_release(&b);
}
