/*
 * test_cache.c - the node cache (engine/cache.c): the budget holds for what
 * nobody uses, entries in use are held aside (findable, still counted)
 * instead of evicted or stepped over, and go back when let go; a random
 * model run checks the byte and entry counts after every operation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cache.h"

#include <stdlib.h>
#include <string.h>

static struct loc at(uint32_t i)
{
    return (struct loc){.seg = 1 + i / 100, .off = 4096ull * (i % 100), .len = 100};
}

/* A node as the engine caches it: at its location, the cache's reference
 * only (the caller's goes). */
static struct node *put(struct cache *c, uint32_t i)
{
    struct node *n = node_new(true);
    assert_non_null(n);
    n->at = at(i);
    cache_put(c, &n->at, n);
    return n;
}

static void put_free(struct cache *c, uint32_t i)
{
    node_unref(put(c, i));
}

static bool cached(struct cache *c, uint32_t i)
{
    struct loc l = at(i);
    struct node *n = cache_get(c, &l);
    node_unref(n);
    return n != NULL;
}

static size_t one(void)
{
    struct node *n = node_new(true);
    size_t m = node_mem(n);
    node_unref(n);
    return m;
}

static void the_budget_holds_least_recently_used_first_out(void **state)
{
    (void)state;
    struct cache c;
    assert_int_equal(cache_init(&c, 10 * one()), 0);
    for (uint32_t i = 0; i < 10; i++)
        put_free(&c, i);
    assert_int_equal(c.count, 10);
    assert_true(cached(&c, 0)); /* 0 is the most recent now */
    put_free(&c, 10);
    assert_int_equal(c.count, 10);
    assert_false(cached(&c, 1)); /* the least recently used went */
    assert_true(cached(&c, 0));
    assert_true(c.bytes <= c.budget);
    assert_int_equal(cache_verify(&c), 0);
    cache_free(&c);
}

static void entries_in_use_are_held_aside_and_come_back(void **state)
{
    (void)state;
    struct cache c;
    assert_int_equal(cache_init(&c, 4 * one()), 0);
    struct node *pinned[8];
    for (uint32_t i = 0; i < 8; i++) /* a long reader pins all it reads */
        pinned[i] = put(&c, i);
    /* none could go: all but the newest are held aside, and each is
     * still found */
    assert_int_equal(c.count, 8);
    assert_true(c.held_bytes >= 7 * one());
    for (uint32_t i = 0; i < 8; i++) {
        struct loc l = at(i);
        struct node *n = cache_get(&c, &l);
        assert_ptr_equal(n, pinned[i]); /* no second copy */
        node_unref(n);
    }
    /* while they hold the budget, unused nodes beside them get a quarter
     * of it */
    for (uint32_t i = 100; i < 120; i++)
        put_free(&c, i);
    assert_true(c.bytes - c.held_bytes <= c.budget / 4 + one());
    assert_true(c.bytes <= 8 * one() + c.budget / 4 + one());
    assert_true(cached(&c, 119));
    /* the reader ends: what it held goes back to the LRU list */
    cache_unpin(&c, pinned, 8);
    for (uint32_t i = 0; i < 8; i++)
        assert_null(pinned[i]);
    cache_trim(&c);
    assert_int_equal(c.held_bytes, 0);
    assert_null(c.hold);
    assert_true(c.bytes <= c.budget);
    put_free(&c, 200);
    assert_true(cached(&c, 200));
    assert_true(c.bytes <= c.budget);
    assert_int_equal(cache_verify(&c), 0);
    cache_free(&c);
}

static void a_held_entry_let_go_elsewhere_returns_through_eviction(void **state)
{
    (void)state;
    struct cache c;
    assert_int_equal(cache_init(&c, 2 * one()), 0);
    struct node *n = put(&c, 0);
    put_free(&c, 1);
    put_free(&c, 2); /* eviction meets 0 in use: held */
    assert_true(c.held_bytes > 0);
    node_unref(n); /* a cursor lets go: no cache_unpin tells the cache */
    put_free(&c, 3); /* the next eviction looks at the held list's first */
    assert_int_equal(c.held_bytes, 0);
    put_free(&c, 4);
    assert_false(cached(&c, 0));
    assert_true(c.bytes <= c.budget);
    assert_int_equal(cache_verify(&c), 0);
    cache_free(&c);
}

static void a_held_entry_can_be_taken_and_dropped(void **state)
{
    (void)state;
    struct cache c;
    assert_int_equal(cache_init(&c, 1 * one()), 0);
    struct node *a = put(&c, 0), *b = put(&c, 1);
    put_free(&c, 2);
    assert_true(c.held_bytes >= 2 * one());
    struct loc l = at(0);
    struct node *t = cache_take(&c, &l);
    assert_ptr_equal(t, a);
    node_unref(t);
    l = at(1);
    cache_drop(&c, &l);
    assert_int_equal(c.held_bytes, 0);
    assert_int_equal(c.count, 1);
    assert_false(cached(&c, 0));
    assert_false(cached(&c, 1));
    node_unref(a);
    node_unref(b);
    assert_int_equal(cache_verify(&c), 0);
    cache_free(&c);
}

/* Random puts, gets, pins, unpins, takes and trims against a model of which
 * locations are cached; after each: the counts add up, nothing unused is
 * over the budget after a put, and what the model says is pinned is found. */
static void random_operations_keep_the_counts_true(void **state)
{
    (void)state;
    enum { LOCS = 300, PINS = 64 };
    struct cache c;
    size_t m = one();
    assert_int_equal(cache_init(&c, 20 * m), 0);
    struct node *pins[PINS] = {0};
    uint32_t pin_loc[PINS];
    unsigned seed = 12345;
    for (int step = 0; step < 20000; step++) {
        uint32_t i = (uint32_t)(rand_r(&seed) % LOCS);
        int op = rand_r(&seed) % 10;
        if (op < 4) {
            struct loc l = at(i);
            struct node *n = cache_get(&c, &l);
            if (!n) {
                n = node_new(true);
                assert_non_null(n);
                n->at = l;
                cache_put(&c, &l, n);
                assert_true(c.bytes - c.held_bytes <= c.budget + m);
            }
            int p = rand_r(&seed) % PINS;
            if (!pins[p] && op < 2) {
                pins[p] = n; /* keep the reference: pinned */
                pin_loc[p] = i;
            } else {
                node_unref(n);
            }
        } else if (op < 6) {
            struct loc l = at(i);
            bool pinned_here = false;
            for (int p = 0; p < PINS; p++)
                pinned_here |= pins[p] && pin_loc[p] == i;
            if (!pinned_here)
                cache_drop(&c, &l);
        } else if (op < 7) {
            cache_unpin(&c, pins, PINS);
        } else {
            cache_trim(&c);
        }
        assert_int_equal(cache_verify(&c), 0);
        for (int p = 0; p < PINS; p++)
            if (pins[p]) {
                struct loc l = at(pin_loc[p]);
                struct node *n = cache_get(&c, &l);
                assert_ptr_equal(n, pins[p]); /* a pinned node is never lost */
                node_unref(n);
            }
    }
    cache_unpin(&c, pins, PINS);
    cache_trim(&c);
    assert_true(c.bytes <= c.budget);
    assert_int_equal(cache_verify(&c), 0);
    cache_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_budget_holds_least_recently_used_first_out),
        cmocka_unit_test(entries_in_use_are_held_aside_and_come_back),
        cmocka_unit_test(a_held_entry_let_go_elsewhere_returns_through_eviction),
        cmocka_unit_test(a_held_entry_can_be_taken_and_dropped),
        cmocka_unit_test(random_operations_keep_the_counts_true),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
