/*
 * ex_stores.c - the cookbook's store management in C: create a store, use
 * it, open it again in a read transaction, remove it (then opening it says
 * SOP_ENOTFOUND); explicit schema setup with options; listing stores and
 * reading what a store knows about itself (sop_store_get_info), before and
 * after a restart; changing options (sop_store_alter).
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

static sop_db *db;

static void reopen(void)
{
    sop_db_close(db);
    db = NULL;
    assert_int_equal(sop_db_open(tl_dir, NULL, &db), 0);
}

/* The shared folder fixture, with the database open in `db`. */
static int setup(void **state)
{
    tl_dir_setup(state);
    return sop_db_open(tl_dir, NULL, &db) ? -1 : 0;
}

static int teardown(void **state)
{
    sop_db_close(db);
    db = NULL;
    return tl_dir_teardown(state);
}

static void expect_get(sop_store *s, const char *k, const char *v)
{
    const void *g;
    size_t gl;
    int rc = sop_get(s, k, strlen(k), &g, &gl);
    if (!v) {
        assert_int_equal(rc, SOP_ENOTFOUND);
        return;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(gl, strlen(v));
    assert_memory_equal(g, v, gl);
}

struct names {
    char buf[512];
    int n;
};

static int collect(const char *name, void *arg)
{
    struct names *l = arg;
    strcat(l->buf, name);
    strcat(l->buf, ",");
    l->n++;
    return 0;
}

static const char *list(void)
{
    static struct names l;
    sop_txn *t;
    memset(&l, 0, sizeof(l));
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_list(t, collect, &l), 0);
    assert_int_equal(sop_txn_commit(t), 0);
    return l.buf;
}

static void manage_stores_create_open_remove(void **state)
{
    (void)state;
    sop_txn *t;
    sop_store *s;
    /* 1. create a store and add to it */
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    assert_int_equal(sop_store_create(t, "my_store", NULL, &s), 0);
    assert_int_equal(sop_add(s, "foo", 3, "bar", 3), 0);
    assert_int_equal(sop_txn_commit(t), 0);
    /* 2. open it in a read transaction */
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_open(t, "my_store", &s), 0);
    expect_get(s, "foo", "bar");
    /* a read transaction creates and removes nothing */
    assert_int_equal(sop_store_create(t, "other", NULL, &s), SOP_EREADONLY);
    assert_int_equal(sop_store_drop(t, "my_store"), SOP_EREADONLY);
    assert_int_equal(sop_txn_commit(t), 0);
    /* 3. remove it: rolled back, nothing happens; committed, it is gone */
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    assert_int_equal(sop_store_drop(t, "my_store"), 0);
    sop_txn_rollback(t);
    assert_string_equal(list(), "my_store,");
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    assert_int_equal(sop_store_open(t, "my_store", &s), 0);
    assert_int_equal(sop_store_drop(t, "my_store"), 0);
    /* the handle opened before the drop is unusable */
    const void *v;
    size_t vl;
    assert_int_equal(sop_get(s, "foo", 3, &v, &vl), SOP_ENOTFOUND);
    assert_int_equal(sop_store_open(t, "my_store", &s), SOP_ENOTFOUND);
    assert_int_equal(sop_txn_commit(t), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_open(t, "my_store", &s), SOP_ENOTFOUND);
    sop_txn_rollback(t);
    assert_string_equal(list(), "");
    reopen();
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    assert_int_equal(sop_store_open(t, "my_store", &s), SOP_ENOTFOUND);
    assert_int_equal(sop_store_drop(t, "my_store"), SOP_ENOTFOUND);
    /* the name is free again: a new, empty store */
    assert_int_equal(sop_store_create(t, "my_store", NULL, &s), 0);
    expect_get(s, "foo", NULL);
    uint64_t n;
    assert_int_equal(sop_store_count(s, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(sop_txn_commit(t), 0);
    assert_string_equal(list(), "my_store,");
}

static void schema_setup_list_and_info(void **state)
{
    (void)state;
    sop_txn *t;
    sop_store *users, *orders, *products;
    sop_store_info info;
    /* SetupSchema: users with defaults, orders, products with a slot length */
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    assert_int_equal(sop_store_create(t, "users", NULL, &users), 0);
    sop_store_options oo = {.unique = true, .value_in_node = true, .description = "Orders"};
    assert_int_equal(sop_store_create(t, "orders", &oo, &orders), 0);
    sop_store_options po = {.slot_length = 500,
                            .unique = true,
                            .chunk_size = 64 * 1024,
                            .description = "Product catalogue"};
    assert_int_equal(sop_store_create(t, "products", &po, &products), 0);
    /* names are checked */
    sop_store *s;
    char longname[300];
    memset(longname, 'n', sizeof(longname));
    longname[256] = 0;
    assert_int_equal(sop_store_create(t, longname, NULL, &s), SOP_ENAMETOOLONG);
    longname[255] = 0;
    assert_int_equal(sop_store_create(t, longname, NULL, &s), 0);
    assert_int_equal(sop_store_create(t, "", NULL, &s), SOP_EINVAL);
    assert_int_equal(sop_store_create(t, "a/b", NULL, &s), SOP_EINVAL);
    assert_int_equal(sop_store_create(t, "users", NULL, &s), SOP_EEXIST);
    assert_int_equal(sop_store_get_info(products, &info), 0);
    assert_string_equal(info.name, "products");
    assert_int_equal(info.count, 0);
    assert_int_equal(sop_txn_commit(t), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    assert_int_equal(sop_store_drop(t, longname), 0);
    assert_int_equal(sop_txn_commit(t), 0);
    assert_string_equal(list(), "orders,products,users,");

    uint64_t created = 0, modified = 0;
    for (int round = 0; round < 2; round++) {
        if (round == 1)
            reopen();
        assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
        assert_int_equal(sop_store_open(t, "products", &products), 0);
        assert_int_equal(sop_store_get_info(products, &info), 0);
        assert_string_equal(info.name, "products");
        assert_int_equal(info.options.slot_length, 500);
        assert_true(info.options.unique);
        assert_false(info.options.value_in_node);
        assert_int_equal(info.options.chunk_size, 64 * 1024);
        assert_string_equal(info.options.description, "Product catalogue");
        assert_string_equal(info.options.relations, "");
        assert_int_equal(info.count, 0);
        assert_true(info.created_ns > 0);
        assert_true(info.modified_ns >= info.created_ns);
        if (round == 0) {
            created = info.created_ns;
            modified = info.modified_ns;
        } else {
            assert_int_equal(info.created_ns, created);
            assert_int_equal(info.modified_ns, modified);
        }
        /* defaults are reported as what they are */
        assert_int_equal(sop_store_open(t, "users", &users), 0);
        assert_int_equal(sop_store_get_info(users, &info), 0);
        assert_int_equal(info.options.slot_length, 1000);
        assert_false(info.options.unique);
        assert_false(info.options.value_in_node);
        assert_int_equal(info.options.chunk_size, 1024 * 1024);
        assert_string_equal(info.options.description, "");
        assert_int_equal(sop_txn_commit(t), 0);
    }

    /* the count and the modification time follow the data */
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    assert_int_equal(sop_store_open(t, "products", &products), 0);
    assert_int_equal(sop_add(products, "p1", 2, "lamp", 4), 0);
    assert_int_equal(sop_add(products, "p2", 2, "desk", 4), 0);
    assert_int_equal(sop_add(products, "p3", 2, "chair", 5), 0);
    assert_int_equal(sop_store_get_info(products, &info), 0);
    assert_int_equal(info.count, 3); /* as this transaction sees it */
    assert_int_equal(sop_txn_commit(t), 0);
    reopen();
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_open(t, "products", &products), 0);
    assert_int_equal(sop_store_get_info(products, &info), 0);
    assert_int_equal(info.count, 3);
    assert_int_equal(info.created_ns, created);
    assert_true(info.modified_ns >= modified);
    assert_int_equal(sop_txn_commit(t), 0);
}

static void alter_options(void **state)
{
    (void)state;
    sop_txn *t;
    sop_store *s, *e;
    sop_store_info info;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    sop_store_options o = {.slot_length = 100, .unique = true};
    assert_int_equal(sop_store_create(t, "full", &o, &s), 0);
    assert_int_equal(sop_store_create(t, "empty", &o, &e), 0);
    assert_int_equal(sop_add(s, "k", 1, "v", 1), 0);
    assert_int_equal(sop_txn_commit(t), 0);

    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    assert_int_equal(sop_store_open(t, "full", &s), 0);
    assert_int_equal(sop_store_open(t, "empty", &e), 0);
    /* the description can always change; the shape only while empty */
    sop_store_options d = {.description = "now described"};
    assert_int_equal(sop_store_alter(s, &d), 0);
    sop_store_options shape = {.slot_length = 8};
    assert_int_equal(sop_store_alter(s, &shape), SOP_EBUSY);
    assert_int_equal(sop_store_alter(e, &shape), 0);
    assert_int_equal(sop_txn_commit(t), 0);
    reopen();
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_open(t, "full", &s), 0);
    assert_int_equal(sop_store_open(t, "empty", &e), 0);
    assert_int_equal(sop_store_get_info(s, &info), 0);
    assert_string_equal(info.options.description, "now described");
    assert_int_equal(info.options.slot_length, 100); /* unchanged */
    assert_true(info.options.unique);
    assert_int_equal(info.count, 1);
    assert_int_equal(sop_store_get_info(e, &info), 0);
    assert_int_equal(info.options.slot_length, 8);
    assert_true(info.options.unique); /* fields left zero keep their value */
    assert_int_equal(sop_txn_commit(t), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(manage_stores_create_open_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(schema_setup_list_and_info, setup, teardown),
        cmocka_unit_test_setup_teardown(alter_options, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
