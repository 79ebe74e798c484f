/*
 * test_btree.c - the B+tree under random adds and removes with tiny slot
 * lengths, its invariants checked after every operation (bt_check: sizes,
 * order, separators, equal leaf depth, count), across commits and reopens.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "btree.h"
#include "sop.h"
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NKEYS 300

static void run(uint32_t slot, bool unique, int ops, uint64_t seed)
{
    char *dir = tl_tmpdir("btree");
    sop_db *db;
    sop_txn *t;
    sop_store *s;
    int count[NKEYS] = {0}; /* items per key (duplicates in non-unique stores) */
    uint64_t total = 0;
    assert_int_equal(sop_db_open(dir, NULL, &db), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    sop_store_options o = {.slot_length = slot, .unique = unique, .value_in_node = true};
    assert_int_equal(sop_store_create(t, "s", &o, &s), 0);
    for (int i = 0; i < ops; i++) {
        int k = (int)(tl_rand(&seed) % NKEYS);
        char key[8];
        snprintf(key, sizeof(key), "%03d", k);
        int op = (int)(tl_rand(&seed) % 5);
        if (op < 3) {
            int rc = sop_add(s, key, 3, key, 3);
            if (unique && count[k]) {
                assert_int_equal(rc, SOP_EEXIST);
            } else {
                assert_int_equal(rc, 0);
                count[k]++;
                total++;
            }
        } else {
            int rc = sop_remove(s, key, 3);
            assert_int_equal(rc, count[k] ? 0 : SOP_ENOTFOUND);
            if (count[k]) {
                count[k]--;
                total--;
            }
        }
        if (bt_check(s) != 0)
            fail_msg("tree invariants broken after operation %d", i);
        if (i % 97 == 96) {
            assert_int_equal(sop_txn_commit(t), 0);
            if (i % 3 == 0) {
                sop_db_close(db);
                assert_int_equal(sop_db_open(dir, NULL, &db), 0);
            }
            assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
            assert_int_equal(sop_store_open(t, "s", &s), 0);
        }
    }
    /* a full walk both ways agrees with the counts */
    sop_cursor *c;
    uint64_t n = 0;
    assert_int_equal(sop_cursor_open(s, &c), 0);
    for (int rc = sop_cursor_first(c); rc == 0; rc = sop_cursor_next(c))
        n++;
    assert_int_equal(n, total);
    n = 0;
    for (int rc = sop_cursor_last(c); rc == 0; rc = sop_cursor_prev(c))
        n++;
    assert_int_equal(n, total);
    sop_cursor_close(c);
    assert_int_equal(sop_txn_commit(t), 0);
    sop_db_close(db);
    tl_rmrf(dir);
    free(dir);
}

static void unique_slot4_stays_balanced(void **st)
{
    (void)st;
    run(4, true, (int)(20000 * tl_scale()), tl_seed("unique_slot4"));
}

static void unique_slot5_stays_balanced(void **st)
{
    (void)st;
    run(5, true, (int)(20000 * tl_scale()), tl_seed("unique_slot5"));
}

static void duplicates_slot8_stay_balanced(void **st)
{
    (void)st;
    run(8, false, (int)(20000 * tl_scale()), tl_seed("dups_slot8"));
}

static void duplicates_keep_insertion_order(void **st)
{
    (void)st;
    char *dir = tl_tmpdir("btree");
    sop_db *db;
    sop_txn *t;
    sop_store *s;
    assert_int_equal(sop_db_open(dir, NULL, &db), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    sop_store_options o = {.slot_length = 4, .value_in_node = true};
    assert_int_equal(sop_store_create(t, "d", &o, &s), 0);
    for (int i = 0; i < 50; i++) {
        char v[8];
        snprintf(v, sizeof(v), "%02d", i);
        assert_int_equal(sop_add(s, "k", 1, v, 2), 0);
        assert_int_equal(sop_add(s, i % 2 ? "a" : "z", 1, v, 2), 0);
    }
    assert_int_equal(sop_txn_commit(t), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_open(t, "d", &s), 0);
    sop_cursor *c;
    assert_int_equal(sop_cursor_open(s, &c), 0);
    assert_int_equal(sop_cursor_seek(c, "k", 1), 0);
    for (int i = 0; i < 50; i++) {
        const void *k, *v;
        size_t kl, vl;
        assert_int_equal(sop_cursor_key(c, &k, &kl), 0);
        assert_int_equal(sop_cursor_value(c, &v, &vl), 0);
        char want[8];
        snprintf(want, sizeof(want), "%02d", i);
        assert_int_equal(kl, 1);
        assert_memory_equal(k, "k", 1);
        assert_memory_equal(v, want, 2);
        assert_int_equal(sop_cursor_next(c), 0);
    }
    const void *k;
    size_t kl;
    assert_int_equal(sop_cursor_key(c, &k, &kl), 0);
    assert_memory_equal(k, "z", 1);
    sop_txn_rollback(t);
    sop_db_close(db);
    tl_rmrf(dir);
    free(dir);
}

struct fill {
    uint64_t leaves, items;
    size_t max_bytes; /* of the nodes holding more than one item */
};

static int count_leaf(sop_store *s, const struct lid *id, struct node *n, void *arg)
{
    (void)s;
    (void)id;
    struct fill *f = arg;
    if (n->leaf) {
        f->leaves++;
        f->items += n->n;
    }
    if (n->n > (n->leaf ? 1u : 3u) && n->bytes > f->max_bytes)
        f->max_bytes = n->bytes;
    return 0;
}

/* Keys in ascending order (a log, a bulk load in order) leave the leaves
 * three quarters full, not half (an overflow by the last item splits off
 * only the minimum); descending and ascending loads keep every invariant. */
static void ordered_loads_fill_and_balance(void **st)
{
    (void)st;
    const uint32_t slots[] = {4, 5, 8, 100};
    for (size_t si = 0; si < sizeof(slots) / sizeof(slots[0]); si++) {
        char *dir = tl_tmpdir("btree-ordered");
        sop_db *db;
        sop_txn *t;
        sop_store *up, *down;
        const int n = 3000;
        assert_int_equal(sop_db_open(dir, NULL, &db), 0);
        assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
        sop_store_options o = {.slot_length = slots[si], .unique = true, .value_in_node = true};
        assert_int_equal(sop_store_create(t, "up", &o, &up), 0);
        assert_int_equal(sop_store_create(t, "down", &o, &down), 0);
        for (int i = 0; i < n; i++) {
            char k[16];
            snprintf(k, sizeof(k), "%06d", i);
            assert_int_equal(sop_add(up, k, 6, "v", 1), 0);
            snprintf(k, sizeof(k), "%06d", n - i);
            assert_int_equal(sop_add(down, k, 6, "v", 1), 0);
            if (i % 53 == 0 || i == n - 1) {
                if (bt_check(up) != 0 || bt_check(down) != 0)
                    fail_msg("slot %u: invariants broken after %d ordered adds", slots[si], i);
            }
            if (i % 500 == 499) {
                assert_int_equal(sop_txn_commit(t), 0);
                assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
                assert_int_equal(sop_store_open(t, "up", &up), 0);
                assert_int_equal(sop_store_open(t, "down", &down), 0);
            }
        }
        struct fill f = {0};
        assert_int_equal(bt_walk(up, count_leaf, &f), 0);
        assert_int_equal(f.items, (uint64_t)n);
        /* even splits: about n / (slot / 2) leaves; these: n / (3 slot / 4) */
        double fill = (double)f.items / ((double)f.leaves * slots[si]);
        if (fill < 0.7)
            fail_msg("slot %u: ascending load left leaves %.2f full", slots[si], fill);
        assert_int_equal(sop_txn_commit(t), 0);
        sop_db_close(db);
        tl_rmrf(dir);
        free(dir);
    }
}

/* Items of every size in 1000-slot nodes: nodes split by bytes and stay
 * within BT_NODE_BYTES (unless one item), rebalance by bytes, and nodes
 * written under a looser bound (as before the bound existed) split at
 * their next insert and keep the invariants. */
static void nodes_are_bounded_by_bytes(void **st)
{
    (void)st;
    char *dir = tl_tmpdir("btree-bytes");
    sop_db *db;
    sop_txn *t;
    sop_store *s;
    enum { N = 3000 };
    static uint16_t len[N];
    static bool in[N];
    uint64_t seed = tl_seed("nodes_are_bounded_by_bytes");
    static char v[4096];
    memset(v, 'v', sizeof(v));
    assert_int_equal(sop_db_open(dir, NULL, &db), 0);
    sop_store_options o = {.slot_length = 1000, .unique = true, .value_in_node = true};
    /* first 1000 items of 100 bytes under a 1 MiB bound: 130 KB leaves */
    bt_set_node_bytes(1u << 20);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    assert_int_equal(sop_store_create(t, "s", &o, &s), 0);
    for (int i = 0; i < N; i += 3) {
        char k[16];
        snprintf(k, sizeof(k), "%06d", i);
        len[i] = 100;
        in[i] = true;
        assert_int_equal(sop_add(s, k, 6, v, len[i]), 0);
    }
    assert_int_equal(sop_txn_commit(t), 0);
    bt_set_node_bytes(0);
    for (int round = 0; round < 30; round++) {
        assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
        assert_int_equal(sop_store_open(t, "s", &s), 0);
        for (int op = 0; op < 200; op++) {
            int i = (int)(tl_rand(&seed) % N);
            char k[16];
            snprintf(k, sizeof(k), "%06d", i);
            if (in[i] && tl_rand(&seed) % 3 == 0) {
                assert_int_equal(sop_remove(s, k, 6), 0);
                in[i] = false;
            } else {
                len[i] = (uint16_t)(1 + tl_rand(&seed) % (tl_rand(&seed) % 8 ? 200 : 500));
                assert_int_equal(sop_upsert(s, k, 6, v, len[i]), 0);
                in[i] = true;
            }
        }
        if (bt_check(s) != 0)
            fail_msg("round %d: tree invariants broken", round);
        assert_int_equal(sop_txn_commit(t), 0);
    }
    /* every node but the first ones' leftovers is within the bound */
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_open(t, "s", &s), 0);
    struct fill f = {0};
    assert_int_equal(bt_walk(s, count_leaf, &f), 0);
    uint64_t want = 0;
    for (int i = 0; i < N; i++)
        want += in[i];
    assert_int_equal(f.items, want);
    print_message("# %llu leaves for %llu items, the biggest node %zu bytes\n",
                  (unsigned long long)f.leaves, (unsigned long long)f.items, f.max_bytes);
    assert_true(f.max_bytes <= BT_NODE_BYTES);
    assert_true(f.leaves > 1);
    for (int i = 0; i < N; i++) {
        char k[16];
        const void *got;
        size_t gl;
        snprintf(k, sizeof(k), "%06d", i);
        int rc = sop_get(s, k, 6, &got, &gl);
        assert_int_equal(rc, in[i] ? 0 : SOP_ENOTFOUND);
        if (in[i])
            assert_int_equal(gl, len[i]);
    }
    assert_int_equal(sop_txn_commit(t), 0);
    sop_db_close(db);
    tl_rmrf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unique_slot4_stays_balanced),
        cmocka_unit_test(unique_slot5_stays_balanced),
        cmocka_unit_test(duplicates_slot8_stay_balanced),
        cmocka_unit_test(duplicates_keep_insertion_order),
        cmocka_unit_test(ordered_loads_fill_and_balance),
        cmocka_unit_test(nodes_are_bounded_by_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
