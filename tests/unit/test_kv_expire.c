/* test_kv_expire.c - deadlines in the state machine: EXPIRE's relative
 * time counts from the entry's stamped time; NX XX GT LT as Redis 7.0; a
 * deadline not after the entry's time deletes; TTL and EXPIRETIME at the
 * read's time; PERSIST; the count of keys with a deadline; the active
 * expiry's sample and its re-check at the entry's own time. */
#include "kv_test_util.h"

#define IN KV_EXPIRE_IN

static int64_t ttl(struct kv_store *s, const char *k, int64_t at)
{
    return kt_r(s, kt_cmd(KV_TTL, k, NULL, 0, 0), at);
}

Test(kv_expire, a_relative_time_counts_from_the_entry_time)
{
    struct kv_store *s = kv_store_new();
    kt_set(s, "k", "v", 1000);
    cr_assert_eq(kt_w(s, kt_cmd(KV_EXPIRE, "k", NULL, IN, 500), 1000), 1);
    cr_assert_eq(ttl(s, "k", 1200), 300);
    cr_assert_eq(kt_r(s, kt_cmd(KV_TTL, "k", NULL, KV_TTL_AT, 0), 1200), 1500);
    cr_assert_eq(ttl(s, "k", 1499), 1);
    cr_assert_eq(ttl(s, "k", 1500), -2);
    cr_assert_eq(kt_r(s, kt_cmd(KV_EXISTS, "k", NULL, 0, 0), 1500), 0);
    cr_assert_eq(ttl(s, "nokey", 0), -2);
    kt_set(s, "p", "v", 1000);
    cr_assert_eq(ttl(s, "p", 1000), -1);
    /* absolute */
    cr_assert_eq(kt_w(s, kt_cmd(KV_EXPIRE, "p", NULL, 0, 7000), 1000), 1);
    cr_assert_eq(ttl(s, "p", 2000), 5000);
    /* absent key */
    cr_assert_eq(kt_w(s, kt_cmd(KV_EXPIRE, "nokey", NULL, IN, 500), 1000), 0);
    kv_store_free(s);
}

Test(kv_expire, a_deadline_not_after_the_entry_time_deletes)
{
    struct kv_store *s = kv_store_new();
    kt_set(s, "a", "v", 1000);
    kt_set(s, "b", "v", 1000);
    kt_set(s, "c", "v", 1000);
    cr_assert_eq(kt_w(s, kt_cmd(KV_EXPIRE, "a", NULL, IN, 0), 1000), 1);
    cr_assert_eq(kt_w(s, kt_cmd(KV_EXPIRE, "b", NULL, IN, -5), 1000), 1);
    cr_assert_eq(kt_w(s, kt_cmd(KV_EXPIRE, "c", NULL, 0, 1000), 1000), 1);
    cr_assert_eq(kv_store_size(s), 0);
    kv_store_free(s);
}

Test(kv_expire, nx_xx_gt_lt_as_redis)
{
    struct kv_store *s = kv_store_new();
    kt_set(s, "k", "v", 1000);
    /* no deadline: XX and GT refuse, NX and LT set */
    cr_assert_eq(kt_w(s, kt_cmd(KV_EXPIRE, "k", NULL, KV_EXPIRE_XX, 9000), 1000), 0);
    cr_assert_eq(kt_w(s, kt_cmd(KV_EXPIRE, "k", NULL, KV_EXPIRE_GT, 9000), 1000), 0);
    cr_assert_eq(ttl(s, "k", 1000), -1);
    cr_assert_eq(kt_w(s, kt_cmd(KV_EXPIRE, "k", NULL, KV_EXPIRE_LT, 9000), 1000), 1);
    cr_assert_eq(ttl(s, "k", 1000), 8000);
    /* with one: NX refuses, XX sets, GT only later, LT only earlier */
    cr_assert_eq(kt_w(s, kt_cmd(KV_EXPIRE, "k", NULL, KV_EXPIRE_NX, 5000), 1000), 0);
    cr_assert_eq(kt_w(s, kt_cmd(KV_EXPIRE, "k", NULL, KV_EXPIRE_GT, 9000), 1000), 0);
    cr_assert_eq(kt_w(s, kt_cmd(KV_EXPIRE, "k", NULL, KV_EXPIRE_GT, 9001), 1000), 1);
    cr_assert_eq(kt_w(s, kt_cmd(KV_EXPIRE, "k", NULL, KV_EXPIRE_LT, 9001), 1000), 0);
    cr_assert_eq(kt_w(s, kt_cmd(KV_EXPIRE, "k", NULL, KV_EXPIRE_LT, 4000), 1000), 1);
    cr_assert_eq(kt_w(s, kt_cmd(KV_EXPIRE, "k", NULL, KV_EXPIRE_XX, 6000), 1000), 1);
    cr_assert_eq(ttl(s, "k", 1000), 5000);
    kv_store_free(s);
}

Test(kv_expire, persist_and_the_count_of_keys_with_a_deadline)
{
    struct kv_store *s = kv_store_new();
    kt_set(s, "a", "v", 1000);
    kt_set(s, "b", "v", 1000);
    cr_assert_eq(kv_store_expiring(s), 0);
    kt_w(s, kt_cmd(KV_EXPIRE, "a", NULL, 0, 5000), 1000);
    kt_w(s, kt_cmd(KV_EXPIRE, "b", NULL, 0, 5000), 1000);
    kt_w(s, kt_cmd(KV_EXPIRE, "b", NULL, 0, 6000), 1000);
    cr_assert_eq(kv_store_expiring(s), 2);
    cr_assert_eq(kt_w(s, kt_cmd(KV_PERSIST, "a", NULL, 0, 0), 1000), 1);
    cr_assert_eq(kt_w(s, kt_cmd(KV_PERSIST, "a", NULL, 0, 0), 1000), 0);
    cr_assert_eq(kt_w(s, kt_cmd(KV_PERSIST, "nokey", NULL, 0, 0), 1000), 0);
    cr_assert_eq(ttl(s, "a", 1000), -1);
    cr_assert_eq(kv_store_expiring(s), 1);
    kt_set(s, "b", "new", 1000); /* a plain SET drops the deadline */
    cr_assert_eq(kv_store_expiring(s), 0);
    kt_w(s, kt_cmd(KV_EXPIRE, "b", NULL, 0, 5000), 1000);
    struct kv_command rn = kt_cmd(KV_RENAME, "b", "c", 0, 0);
    cr_assert_eq(kt_w(s, rn, 1000), 1);
    cr_assert_eq(ttl(s, "c", 1000), 4000);
    cr_assert_eq(kv_store_expiring(s), 1);
    cr_assert_eq(kt_w(s, kt_cmd(KV_DEL, "c", NULL, 0, 0), 1000), 1);
    cr_assert_eq(kv_store_expiring(s), 0);
    kv_store_free(s);
}

Test(kv_expire, a_snapshot_keeps_deadlines_and_their_count)
{
    struct kv_store *s = kv_store_new();
    kt_set(s, "a", "v", 1000);
    kt_set(s, "b", "v", 1000);
    kt_w(s, kt_cmd(KV_EXPIRE, "a", NULL, 0, 5000), 1000);
    uint8_t *data;
    size_t len;
    cr_assert_eq(kv_snapshot(s, 7, 1, &data, &len), 0);
    struct kv_store *t = kv_store_new();
    cr_assert_eq(kv_restore(t, data, len, NULL, NULL), 0);
    free(data);
    cr_assert_eq(kv_store_expiring(t), 1);
    cr_assert_eq(ttl(t, "a", 2000), 3000);
    cr_assert(kv_store_equal(s, t));
    kv_store_free(s);
    kv_store_free(t);
}

Test(kv_expire, the_active_sample_finds_expired_keys_and_the_apply_rechecks)
{
    struct kv_store *s = kv_store_new();
    char k[16];
    for (int i = 0; i < 100; i++) {
        snprintf(k, sizeof k, "k%d", i);
        kt_set(s, k, "v", 1000);
        if (i % 2 == 0) /* 50 keys: deadlines 2000 (even i < 50) or 9000 */
            kt_w(s, kt_cmd(KV_EXPIRE, k, NULL, 0, i < 50 ? 2000 : 9000), 1000);
    }
    cr_assert_eq(kv_store_expiring(s), 50);
    /* In bounded turns: 3 keys at most a turn. */
    size_t pos = 0, found = 0;
    bool early_done = false;
    struct kv_command c;
    for (int turn = 0; turn < 100; turn++) {
        cr_assert_eq(kv_expired_sample(s, 3000, &pos, 64, 3, &c), 0);
        cr_assert(c.n_sub <= 3);
        for (size_t i = 0; i < c.n_sub; i++) {
            cr_assert_eq(c.sub[i].op, KV_EXPIRED);
            cr_assert_eq(c.sub[i].skey.p[0], 'k');
        }
        found += c.n_sub;
        if (c.n_sub == 0) {
            kv_command_release(&c);
            continue;
        }
        if (!early_done) {
            early_done = true;
            /* Applied at a time before the deadlines: nothing goes. */
            struct kv_command early;
            cr_assert_eq(kv_command_copy(&early, &c), 0);
            struct kv_result r = kt_logged(s, early, 1999);
            cr_assert_eq(r.code, 0);
            for (size_t i = 0; i < r.n_sub; i++)
                cr_assert_eq(r.sub[i].num, 0);
            kv_result_release(&r);
            cr_assert_eq(kv_store_size(s), 100);
        }
        struct kv_result r = kt_logged(s, c, 3000);
        cr_assert_eq(r.code, 0);
        kv_result_release(&r);
    }
    cr_assert_eq(found, 25);
    cr_assert_eq(kv_store_size(s), 75);
    cr_assert_eq(kv_store_expiring(s), 25);
    kv_store_free(s);
}

Test(kv_expire, a_key_given_a_new_deadline_after_the_sample_stays)
{
    struct kv_store *s = kv_store_new();
    kt_set(s, "k", "v", 1000);
    kt_w(s, kt_cmd(KV_EXPIRE, "k", NULL, 0, 2000), 1000);
    size_t pos = 0;
    struct kv_command c;
    cr_assert_eq(kv_expired_sample(s, 2500, &pos, 1024, 8, &c), 0);
    cr_assert_eq(c.n_sub, 1);
    /* Before the sample's entry applies, the key is written again (the
     * write sees it expired, and creates it anew). */
    kt_set(s, "k", "new", 2400);
    struct kv_result r = kt_logged(s, c, 2500);
    cr_assert_eq(r.sub[0].num, 0);
    kv_result_release(&r);
    cr_assert_eq(kt_r(s, kt_cmd(KV_EXISTS, "k", NULL, 0, 0), 2500), 1);
    kv_store_free(s);
}
