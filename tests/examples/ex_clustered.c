/*
 * ex_clustered.c - the cookbook's "different Redis clusters in one
 * application" in C: two databases, each on its own Redis (two servers of
 * the example's own on loopback ports), used one after the other in one
 * program; and its "Standalone uses in-memory caching; Clustered uses
 * Redis": the same database opened clustered by two handles (as two hosts
 * would) sees one commit from the other.  Only sop.h calls; the servers
 * come from tests/lib/redis_server.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config.h"
#include "redis_server.h"
#include "sop.h"
#include "testlib.h"

#include <stdio.h>
#include <string.h>

#ifdef HAVE_HIREDIS
static struct tl_redis cluster_a, cluster_b;

static void use(sop_db *db, const char *key, const char *value)
{
    sop_txn *t;
    sop_store *s;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    if (sop_store_open(t, "my_store", &s) == SOP_ENOTFOUND) {
        sop_store_options o = {.slot_length = 1000, .unique = true, .value_in_node = true};
        assert_int_equal(sop_store_create(t, "my_store", &o, &s), 0);
    }
    assert_int_equal(sop_upsert(s, key, strlen(key), value, strlen(value)), 0);
    assert_int_equal(sop_txn_commit(t), 0);
}

static void read_back(sop_db *db, const char *key, const char *want)
{
    sop_txn *t;
    sop_store *s;
    const void *v;
    size_t vl;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_open(t, "my_store", &s), 0);
    assert_int_equal(sop_get(s, key, strlen(key), &v, &vl), 0);
    assert_int_equal(vl, strlen(want));
    assert_memory_equal(v, want, vl);
    assert_int_equal(sop_txn_commit(t), 0);
}

static void two_databases_on_two_redis_clusters(void **state)
{
    (void)state;
    char d1[4200], d2[4200];
    snprintf(d1, sizeof(d1), "%s/db1", tl_dir);
    snprintf(d2, sizeof(d2), "%s/db2", tl_dir);
    /* Database 1: Redis instance A; database 2: Redis instance B */
    sop_db_options o1 = {.redis_url = cluster_a.url}, o2 = {.redis_url = cluster_b.url};
    sop_db *db1, *db2;
    assert_int_equal(sop_db_open(d1, &o1, &db1), 0);
    assert_int_equal(sop_db_open(d2, &o2, &db2), 0);
    use(db1, "k", "in database 1"); /* use db1 */
    use(db2, "k", "in database 2"); /* use db2 */
    read_back(db1, "k", "in database 1");
    read_back(db2, "k", "in database 2");
    /* another member of database 1 (another host, in production) */
    sop_db *other;
    assert_int_equal(sop_db_open(d1, &o1, &other), 0);
    read_back(other, "k", "in database 1");
    use(other, "k", "changed by the other member");
    read_back(db1, "k", "changed by the other member");
    sop_db_close(other);
    sop_db_close(db1);
    sop_db_close(db2);
}

static int start(void **state)
{
    (void)state;
    if (!tl_redis_available()) {
        printf("# redis-server is not installed (scripts/install-deps.sh installs it)\n");
        return -1;
    }
    return tl_redis_start(&cluster_a) || tl_redis_start(&cluster_b) ? -1 : 0;
}

static int stop(void **state)
{
    (void)state;
    tl_redis_stop(&cluster_a);
    tl_redis_stop(&cluster_b);
    return 0;
}
#endif

int main(void)
{
#ifdef HAVE_HIREDIS
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(two_databases_on_two_redis_clusters, tl_dir_setup,
                                        tl_dir_teardown),
    };
    return cmocka_run_group_tests(tests, start, stop);
#else
    printf("1..0 # SKIP this build has no hiredis: clustered mode is not built\n");
    return 0;
#endif
}
