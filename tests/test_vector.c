/*
 * test_vector.c - vector stores: the value format (parse and put), the k
 * nearest by cosine and L2 on known points, items of another dimension or
 * unparsable skipped and counted, big payloads never read by a query.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sop.h"
#include "testlib.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sop_store *mk_vector(sop_txn *t, const char *name)
{
    sop_store *s;
    sop_store_options o = {.unique = true, .kind = "vector"};
    assert_int_equal(sop_store_create(t, name, &o, &s), 0);
    return s;
}

static void put(sop_store *s, const char *k, const char *v)
{
    assert_int_equal(sop_upsert(s, k, strlen(k), v, strlen(v)), 0);
}

static void parse_accepts_the_documented_forms(void **st)
{
    (void)st;
    float v[8];
    uint32_t dim;
    size_t off;
    const char *ok[] = {"1 2 3", "1,2,3\n", "[1, 2, 3]\npayload", "  [ 1\t2 ,3 ]  \r\nx",
                        "1e0 2.0 +3", "1,,2,3"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(*ok); i++) {
        memset(v, 0, sizeof(v));
        assert_int_equal(sop_vector_parse(ok[i], strlen(ok[i]), v, 8, &dim, &off), 0);
        assert_int_equal(dim, 3);
        assert_true(v[0] == 1 && v[1] == 2 && v[2] == 3);
        const char *nl = strchr(ok[i], '\n');
        assert_int_equal(off, nl ? (size_t)(nl - ok[i]) + 1 : strlen(ok[i]));
    }
    const char *bad[] = {"", "\npayload", "[]", "1 2 x", "1 2 3]", "[1 2 3", "1;2", "nan 1",
                         "inf", "1e999", "0x", "[1 2] 3"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
        assert_int_equal(sop_vector_parse(bad[i], strlen(bad[i]), v, 8, &dim, &off), SOP_EINVAL);
    /* more numbers than room */
    assert_int_equal(sop_vector_parse("1 2 3", 5, v, 2, &dim, &off), SOP_EINVAL);
    /* the payload starts after the first newline, whatever it holds */
    const char bin[] = "0.5 -0.25\n\0\n1 2";
    assert_int_equal(sop_vector_parse(bin, sizeof(bin) - 1, v, 8, &dim, &off), 0);
    assert_int_equal(dim, 2);
    assert_true(v[0] == 0.5f && v[1] == -0.25f);
    assert_int_equal(off, 10);
}

static char *query(sop_store *s, const float *q, uint32_t dim, size_t k, sop_vector_metric m,
                   uint64_t *skipped)
{
    sop_vector_hit *h;
    size_t n;
    assert_int_equal(sop_vector_query(s, q, dim, k, m, &h, &n, skipped), 0);
    char *out = calloc(1, 4096);
    assert_non_null(out);
    for (size_t i = 0; i < n; i++)
        snprintf(out + strlen(out), 4096 - strlen(out), "%s=%.4f;", (const char *)h[i].key,
                 h[i].distance);
    sop_vector_free(h);
    return out;
}

static void expect(sop_store *s, const float *q, uint32_t dim, size_t k, sop_vector_metric m,
                   const char *want)
{
    char *got = query(s, q, dim, k, m, NULL);
    assert_string_equal(got, want);
    free(got);
}

static void nearest_by_cosine_and_l2(void **st)
{
    (void)st;
    sop_db *db = tl_open_db();
    sop_txn *t;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    sop_store *s = mk_vector(t, "points");
    put(s, "east", "1 0\nE");
    put(s, "far-east", "10 0\nfar");
    put(s, "north", "[0, 1]\nN");
    put(s, "west", "-1 0");
    put(s, "northeast", "1,1\n");
    assert_int_equal(sop_txn_commit(t), 0);

    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_open(t, "points", &s), 0);
    float q[2] = {2, 0};
    /* L2 from (2,0): east 1, northeast sqrt(2), north sqrt(5), west 3, far-east 8 */
    expect(s, q, 2, 10, SOP_VECTOR_L2,
           "east=1.0000;northeast=1.4142;north=2.2361;west=3.0000;far-east=8.0000;");
    expect(s, q, 2, 2, SOP_VECTOR_L2, "east=1.0000;northeast=1.4142;");
    /* cosine: east and far-east point the same way (0, ties by key), then
     * northeast 1 - 1/sqrt(2), north 1, west 2 */
    expect(s, q, 2, 10, SOP_VECTOR_COSINE,
           "east=0.0000;far-east=0.0000;northeast=0.2929;north=1.0000;west=2.0000;");
    expect(s, q, 2, 1, SOP_VECTOR_COSINE, "east=0.0000;");
    /* bad queries */
    sop_vector_hit *h;
    size_t n;
    float zero[2] = {0, 0};
    assert_int_equal(sop_vector_query(s, zero, 2, 1, SOP_VECTOR_COSINE, &h, &n, NULL), SOP_EINVAL);
    assert_int_equal(sop_vector_query(s, q, 2, 0, SOP_VECTOR_L2, &h, &n, NULL), SOP_EINVAL);
    assert_int_equal(sop_vector_query(s, q, 0, 1, SOP_VECTOR_L2, &h, &n, NULL), SOP_EINVAL);
    assert_int_equal(sop_vector_query(s, q, 2, 1, (sop_vector_metric)7, &h, &n, NULL), SOP_EINVAL);
    sop_txn_rollback(t);

    /* other kinds of store are refused */
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    sop_store *r;
    assert_int_equal(sop_store_create(t, "plain", NULL, &r), 0);
    assert_int_equal(sop_vector_query(r, q, 2, 1, SOP_VECTOR_L2, &h, &n, NULL), SOP_EINVAL);
    assert_non_null(strstr(sop_txn_errmsg(t), "not vector"));
    assert_int_equal(sop_vector_put(r, "a", 1, q, 2, NULL, 0), SOP_EINVAL);
    sop_txn_rollback(t);
    sop_db_close(db);
}

static void other_dimensions_and_junk_are_skipped_and_counted(void **st)
{
    (void)st;
    sop_db *db = tl_open_db();
    sop_txn *t;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    sop_store *s = mk_vector(t, "v");
    put(s, "a", "1 2 3\n");
    put(s, "b", "1 2\n");       /* dimension 2 */
    put(s, "c", "one two\n");   /* junk */
    put(s, "d", "");            /* empty */
    put(s, "e", "1 2 3 4\nx");  /* dimension 4 */
    put(s, "f", "0 0 0\n");     /* no direction: skipped by cosine only */
    put(s, "g", "3 2 1");
    float q[3] = {1, 2, 3};
    uint64_t skipped = 99;
    /* the transaction's own items count */
    char *got = query(s, q, 3, 10, SOP_VECTOR_L2, &skipped);
    assert_string_equal(got, "a=0.0000;g=2.8284;f=3.7417;");
    free(got);
    assert_int_equal(skipped, 4);
    got = query(s, q, 3, 10, SOP_VECTOR_COSINE, &skipped);
    assert_string_equal(got, "a=0.0000;g=0.2857;");
    free(got);
    assert_int_equal(skipped, 5);
    assert_int_equal(sop_txn_commit(t), 0);
    sop_db_close(db);
}

static void put_and_big_payloads(void **st)
{
    (void)st;
    sop_db *db = tl_open_db();
    sop_txn *t;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    sop_store *s = mk_vector(t, "docs");
    size_t big = (5u << 20) + 17;
    uint8_t *payload = malloc(big);
    assert_non_null(payload);
    for (size_t i = 0; i < big; i++)
        payload[i] = (uint8_t)(i * 7 + (i >> 12));
    float v1[3] = {0.1f, 0.2f, 0.3f}, v2[3] = {-0.3f, 1e-7f, 12345.678f};
    assert_int_equal(sop_vector_put(s, "item1", 5, v1, 3, "{\"content\":\"hello world\"}", 25), 0);
    assert_int_equal(sop_vector_put(s, "item2", 5, v2, 3, payload, big), 0);
    float bad[1] = {NAN};
    assert_int_equal(sop_vector_put(s, "x", 1, bad, 1, NULL, 0), SOP_EINVAL);
    assert_int_equal(sop_vector_put(s, "x", 1, v1, 0, NULL, 0), SOP_EINVAL);
    assert_int_equal(sop_txn_commit(t), 0);

    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_open(t, "docs", &s), 0);
    /* the floats read back exactly; the payload follows the first line */
    uint8_t head[256];
    size_t got, off;
    float v[3];
    uint32_t dim;
    uint64_t size;
    assert_int_equal(sop_value_read(s, "item2", 5, 0, head, sizeof(head), &got), 0);
    assert_int_equal(sop_vector_parse(head, got, v, 3, &dim, &off), 0);
    assert_int_equal(dim, 3);
    assert_memory_equal(v, v2, sizeof(v2));
    assert_int_equal(sop_value_size(s, "item2", 5, &size), 0);
    assert_int_equal(size, off + big);
    uint8_t *back = malloc(big);
    assert_non_null(back);
    assert_int_equal(sop_value_read(s, "item2", 5, off, back, big, &got), 0);
    assert_int_equal(got, big);
    assert_memory_equal(back, payload, big);
    free(back);
    const void *val;
    size_t vl;
    assert_int_equal(sop_get(s, "item1", 5, &val, &vl), 0);
    assert_int_equal(sop_vector_parse(val, vl, v, 3, &dim, &off), 0);
    assert_memory_equal(v, v1, sizeof(v1));
    assert_int_equal(vl - off, 25);
    assert_memory_equal((const char *)val + off, "{\"content\":\"hello world\"}", 25);

    float q[3] = {0.1f, 0.2f, 0.3f};
    uint64_t skipped;
    char *ans = query(s, q, 3, 1, SOP_VECTOR_COSINE, &skipped);
    assert_string_equal(ans, "item1=0.0000;");
    assert_int_equal(skipped, 0);
    free(ans);
    sop_txn_rollback(t);
    free(payload);
    sop_db_close(db);
}

static void many_items_keep_the_k_best(void **st)
{
    (void)st;
    sop_db *db = tl_open_db();
    sop_txn *t;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    sop_store *s = mk_vector(t, "line");
    char k[32];
    /* points x = i on a line, inserted in a scrambled order */
    for (int j = 0; j < 2000; j++) {
        int i = (j * 7919) % 2000;
        float p[2] = {(float)i, 0};
        snprintf(k, sizeof(k), "p%04d", i);
        assert_int_equal(sop_vector_put(s, k, strlen(k), p, 2, NULL, 0), 0);
    }
    assert_int_equal(sop_txn_commit(t), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_open(t, "line", &s), 0);
    float q[2] = {1000.4f, 0};
    sop_vector_hit *h;
    size_t n;
    assert_int_equal(sop_vector_query(s, q, 2, 5, SOP_VECTOR_L2, &h, &n, NULL), 0);
    assert_int_equal(n, 5);
    const char *want[] = {"p1000", "p1001", "p0999", "p1002", "p0998"};
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(h[i].key, want[i]);
    sop_vector_free(h);
    sop_txn_rollback(t);
    sop_db_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_accepts_the_documented_forms),
        cmocka_unit_test_setup_teardown(nearest_by_cosine_and_l2, tl_dir_setup, tl_dir_teardown),
        cmocka_unit_test_setup_teardown(other_dimensions_and_junk_are_skipped_and_counted,
                                        tl_dir_setup, tl_dir_teardown),
        cmocka_unit_test_setup_teardown(put_and_big_payloads, tl_dir_setup, tl_dir_teardown),
        cmocka_unit_test_setup_teardown(many_items_keep_the_k_best, tl_dir_setup,
                                        tl_dir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
