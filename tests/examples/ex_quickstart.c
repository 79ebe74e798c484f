/*
 * ex_quickstart.c - the cookbook's quick start in C: 100,000 user profiles
 * added to a `users` store, committing every 1,000 and beginning a new
 * transaction (and reopening the store in it) each time; then the whole
 * store read back and counted after closing and reopening the database.
 *
 * SOP_TEST_SCALE=x scales the number of profiles.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sop.h"
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* UserProfile{ID, Name, Email}, as the JSON the Go cookbook would store. */
static int profile(char *out, size_t cap, int i)
{
    return snprintf(out, cap,
                    "{\"ID\":\"user_%d\",\"Name\":\"John Doe\",\"Email\":\"john%d@example.com\"}",
                    i, i);
}

static void quickstart_adds_profiles_and_reads_them_back(void **state)
{
    (void)state;
    int n = (int)(100000 * tl_scale());
    uint64_t t0 = tl_now_ns();
    sop_db *db;
    sop_txn *t;
    sop_store *users;
    char k[32], v[128];

    /* 1. the database; 2. a transaction; 3. the store */
    assert_int_equal(sop_db_open(tl_dir, NULL, &db), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    sop_store_options o = {.slot_length = 1000,
                           .unique = true,
                           .value_in_node = true, /* medium-sized data */
                           .description = "User Profiles"};
    assert_int_equal(sop_store_create(t, "users", &o, &users), 0);

    /* 4. the data, committed every 1,000 */
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof(k), "user_%d", i);
        int vl = profile(v, sizeof(v), i);
        assert_int_equal(sop_add(users, k, strlen(k), v, (size_t)vl), 0);
        if ((i + 1) % 1000 == 0) {
            assert_int_equal(sop_txn_commit(t), 0);
            assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
            assert_int_equal(sop_store_open(t, "users", &users), 0);
        }
    }
    assert_int_equal(sop_txn_commit(t), 0);
    sop_db_close(db);
    uint64_t t1 = tl_now_ns();

    /* read back: the count, a full walk in key order, every value */
    assert_int_equal(sop_db_open(tl_dir, NULL, &db), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_open(t, "users", &users), 0);
    uint64_t count;
    assert_int_equal(sop_store_count(users, &count), 0);
    assert_int_equal(count, n);
    sop_store_info info;
    assert_int_equal(sop_store_get_info(users, &info), 0);
    assert_string_equal(info.name, "users");
    assert_string_equal(info.options.description, "User Profiles");
    assert_int_equal(info.count, n);

    char *seen = calloc((size_t)n + 1, 1);
    assert_non_null(seen);
    sop_cursor *c;
    char prev[32] = "";
    int walked = 0, rc;
    assert_int_equal(sop_cursor_open(users, &c), 0);
    for (rc = sop_cursor_first(c); rc == 0; rc = sop_cursor_next(c)) {
        const void *kk, *vv;
        size_t kl, vl;
        assert_int_equal(sop_cursor_key(c, &kk, &kl), 0);
        assert_true(kl < sizeof(k));
        memcpy(k, kk, kl);
        k[kl] = 0;
        assert_true(strcmp(prev, k) < 0); /* byte order, each key once */
        strcpy(prev, k);
        int i = atoi(k + 5);
        assert_true(i >= 0 && i < n);
        assert_false(seen[i]);
        seen[i] = 1;
        assert_int_equal(sop_cursor_value(c, &vv, &vl), 0);
        int wl = profile(v, sizeof(v), i);
        assert_int_equal(vl, (size_t)wl);
        assert_memory_equal(vv, v, vl);
        walked++;
    }
    assert_int_equal(rc, SOP_ENOTFOUND);
    sop_cursor_close(c);
    assert_int_equal(walked, n);
    free(seen);

    /* point reads of a sample, and one that is not there */
    uint64_t rng = 12345;
    for (int j = 0; j < 1000; j++) {
        int i = (int)(tl_rand(&rng) % (uint64_t)n);
        const void *vv;
        size_t vl;
        snprintf(k, sizeof(k), "user_%d", i);
        assert_int_equal(sop_get(users, k, strlen(k), &vv, &vl), 0);
        int wl = profile(v, sizeof(v), i);
        assert_int_equal(vl, (size_t)wl);
        assert_memory_equal(vv, v, vl);
    }
    const void *vv;
    size_t vl;
    snprintf(k, sizeof(k), "user_%d", n);
    assert_int_equal(sop_get(users, k, strlen(k), &vv, &vl), SOP_ENOTFOUND);
    assert_int_equal(sop_txn_commit(t), 0);

    /* the store is unique: adding a profile again is refused */
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    assert_int_equal(sop_store_open(t, "users", &users), 0);
    assert_int_equal(sop_add(users, "user_0", 6, "dup", 3), SOP_EEXIST);
    sop_txn_rollback(t);
    sop_db_close(db);
    print_message("# quickstart: %d profiles added in %.2f s, read back in %.2f s\n", n,
                  (double)(t1 - t0) / 1e9, (double)(tl_now_ns() - t1) / 1e9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(quickstart_adds_profiles_and_reads_them_back, tl_dir_setup,
                                        tl_dir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
