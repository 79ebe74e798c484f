/* test_registry.c - versions by commit sequence, snapshots, pruning. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "registry.h"
#include "sop.h"

#include <string.h>

static struct rkey key(int i)
{
    struct rkey k;
    memset(&k, 0, sizeof(k));
    k.id.b[0] = (uint8_t)i;
    k.id.b[5] = (uint8_t)(i >> 8);
    k.idx = (uint64_t)i % 3;
    return k;
}

static void snapshots_see_their_own_version(void **st)
{
    (void)st;
    struct registry r;
    struct loc l, a = {.seg = 1, .off = 100, .len = 10}, b = {.seg = 2, .off = 5, .len = 20};
    assert_int_equal(reg_init(&r), 0);
    struct rkey k = key(7);
    assert_int_equal(reg_set(&r, &k, 5, &a, a.seg, false, 0), 0);
    assert_int_equal(reg_set(&r, &k, 9, &b, b.seg, false, 0), 0);
    assert_int_equal(reg_get(&r, &k, 4, &l), SOP_ENOTFOUND);
    assert_int_equal(reg_get(&r, &k, 5, &l), 0);
    assert_int_equal(l.off, 100);
    assert_int_equal(reg_get(&r, &k, 8, &l), 0);
    assert_int_equal(l.off, 100);
    assert_int_equal(reg_get(&r, &k, 9, &l), 0);
    assert_int_equal(l.seg, 2);
    assert_int_equal(reg_set(&r, &k, 12, NULL, 0, true, 0), 0);
    assert_int_equal(reg_get(&r, &k, 12, &l), SOP_ENOTFOUND);
    assert_int_equal(reg_get(&r, &k, 11, &l), 0);
    /* nobody reads before 12 any more: the entry goes */
    reg_prune(&r, 12);
    assert_int_equal(r.count, 0);
    reg_free(&r);
}

/* A delta's chain starts where the version it follows starts; an image
 * starts a chain of its own (rver.base, what the cleaner must rewrite). */
static void delta_chains_remember_where_they_begin(void **st)
{
    (void)st;
    struct registry r;
    assert_int_equal(reg_init(&r), 0);
    struct rkey k = key(3), fresh = key(4);
    struct loc at[] = {{.seg = 3, .off = 1, .len = 9}, {.seg = 5, .off = 1, .len = 9},
                       {.seg = 7, .off = 1, .len = 9}, {.seg = 9, .off = 1, .len = 9}};
    uint32_t base[] = {3, REG_BASE_CHAIN, 7, REG_BASE_CHAIN}, want[] = {3, 3, 7, 7};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(reg_set(&r, &k, (uint64_t)i + 1, &at[i], base[i], false, 0), 0);
        assert_int_equal(reg_newest(&r, &k)->base, want[i]);
    }
    /* a delta onto nothing known (a new key): its own segment */
    assert_int_equal(reg_set(&r, &fresh, 9, &at[1], REG_BASE_CHAIN, false, 0), 0);
    assert_int_equal(reg_newest(&r, &fresh)->base, 5);
    assert_null(reg_newest(&r, &(struct rkey){.idx = 77}));
    reg_free(&r);
}

static void many_keys_survive_growth(void **st)
{
    (void)st;
    struct registry r;
    assert_int_equal(reg_init(&r), 0);
    for (int i = 0; i < 20000; i++) {
        struct rkey k = key(i);
        k.id.b[9] = (uint8_t)(i >> 16);
        memcpy(k.id.b + 10, &i, sizeof(i));
        struct loc l = {.seg = 1, .off = (uint64_t)i, .len = 1};
        assert_int_equal(reg_set(&r, &k, 1, &l, l.seg, false, 1), 0);
    }
    for (int i = 0; i < 20000; i++) {
        struct rkey k = key(i);
        k.id.b[9] = (uint8_t)(i >> 16);
        memcpy(k.id.b + 10, &i, sizeof(i));
        struct loc l;
        assert_int_equal(reg_get(&r, &k, 1, &l), 0);
        assert_int_equal(l.off, (uint64_t)i);
    }
    assert_int_equal(r.count, 20000);
    reg_free(&r);
}

static void pruning_keeps_what_live_snapshots_need(void **st)
{
    (void)st;
    struct registry r;
    struct loc l;
    assert_int_equal(reg_init(&r), 0);
    struct rkey k = key(1);
    for (uint64_t s = 1; s <= 10; s++) {
        struct loc v = {.seg = 1, .off = s, .len = 1};
        assert_int_equal(reg_set(&r, &k, s, &v, v.seg, false, 4), 0); /* a reader at 4 */
    }
    assert_int_equal(reg_get(&r, &k, 4, &l), 0);
    assert_int_equal(l.off, 4);
    assert_int_equal(reg_get(&r, &k, 3, &l), SOP_ENOTFOUND); /* pruned: nobody reads at 3 */
    reg_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(snapshots_see_their_own_version),
        cmocka_unit_test(delta_chains_remember_where_they_begin),
        cmocka_unit_test(many_keys_survive_growth),
        cmocka_unit_test(pruning_keeps_what_live_snapshots_need),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
