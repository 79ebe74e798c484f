/*
 * ex_vector.c - the cookbook's vector store in C: an item with an ID, the
 * embedding {0.1, 0.2, 0.3} and the payload {"content": "hello world"}
 * upserted into `vector_store` and committed; then the nearest item to a
 * query vector is found, and its payload read back.
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
#include <uuid/uuid.h>

static void vector_item_upserted_and_found(void **state)
{
    (void)state;
    sop_db *db;
    sop_txn *t;
    sop_store *store;
    char id[37];
    uuid_t u;
    uuid_generate(u);
    uuid_unparse_lower(u, id);

    /* 2. the database; 3. a transaction; 4. the vector store */
    assert_int_equal(sop_db_open(tl_dir, NULL, &db), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    sop_store_options o = {.unique = true, .kind = "vector"};
    assert_int_equal(sop_store_create(t, "vector_store", &o, &store), 0);
    /* 5. insert: the vector, then the payload */
    const float embedding[3] = {0.1f, 0.2f, 0.3f};
    const char *payload = "{\"content\":\"hello world\"}";
    assert_int_equal(sop_vector_put(store, id, strlen(id), embedding, 3, payload, strlen(payload)),
                     0);
    const float other[3] = {-0.3f, 0.2f, -0.1f};
    assert_int_equal(sop_vector_put(store, "other", 5, other, 3, "{}", 2), 0);
    /* 6. commit */
    assert_int_equal(sop_txn_commit(t), 0);

    /* the nearest item to a query, and its payload */
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_open(t, "vector_store", &store), 0);
    const float q[3] = {0.1f, 0.25f, 0.3f};
    sop_vector_hit *h;
    size_t n;
    uint64_t skipped;
    assert_int_equal(sop_vector_query(store, q, 3, 1, SOP_VECTOR_COSINE, &h, &n, &skipped), 0);
    assert_int_equal(n, 1);
    assert_int_equal(skipped, 0);
    assert_string_equal(h[0].key, id);
    printf("# nearest: %s, cosine distance %f\n", id, h[0].distance);
    const void *v;
    size_t vl, off;
    float vec[3];
    uint32_t dim;
    assert_int_equal(sop_get(store, h[0].key, h[0].key_len, &v, &vl), 0);
    assert_int_equal(sop_vector_parse(v, vl, vec, 3, &dim, &off), 0);
    assert_int_equal(vl - off, strlen(payload));
    assert_memory_equal((const char *)v + off, payload, vl - off);
    sop_vector_free(h);
    assert_int_equal(sop_txn_commit(t), 0);
    sop_db_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(vector_item_upserted_and_found, tl_dir_setup,
                                        tl_dir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
