/*
 * ex_search.c - the cookbook's text search in C: documents "doc1" and "doc2"
 * indexed in a search store `articles` in one transaction, then a search
 * for "fox" in a read transaction prints "Doc: doc1, Score: ...".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sop.h"
#include "testlib.h"

#include <stdio.h>
#include <string.h>

static void search_finds_the_fox(void **state)
{
    (void)state;
    sop_db *db;
    sop_txn *t;
    sop_store *idx;

    assert_int_equal(sop_db_open(tl_dir, NULL, &db), 0);
    /* 1. index documents */
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    sop_store_options o = {.unique = true, .value_in_node = true, .kind = "search"};
    assert_int_equal(sop_store_create(t, "articles", &o, &idx), 0);
    const char *d1 = "The quick brown fox", *d2 = "jumps over the lazy dog";
    assert_int_equal(sop_add(idx, "doc1", 4, d1, strlen(d1)), 0);
    assert_int_equal(sop_add(idx, "doc2", 4, d2, strlen(d2)), 0);
    assert_int_equal(sop_txn_commit(t), 0);

    /* 2. search */
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_open(t, "articles", &idx), 0);
    sop_search_hit *r;
    size_t n;
    assert_int_equal(sop_search_query(idx, "fox", 10, &r, &n), 0);
    for (size_t i = 0; i < n; i++)
        printf("# Doc: %s, Score: %f\n", (const char *)r[i].key, r[i].score);
    assert_int_equal(n, 1);
    assert_string_equal(r[0].key, "doc1");
    assert_true(r[0].score > 0);
    sop_search_free(r);
    assert_int_equal(sop_txn_commit(t), 0);
    sop_db_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(search_finds_the_fox, tl_dir_setup, tl_dir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
