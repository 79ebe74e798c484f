/*
 * ex_relations.c - the cookbook's relations in C.
 *
 * One-to-many: `orders` is created with relations metadata saying that its
 * `user_id` field points to `id` in `users`; the metadata (and the store's
 * kind) survive a restart and are what a join uses to find the user of an
 * order.  Many-to-many: a link store `student_classes` keyed
 * "student:class" (and its mirror `class_students` keyed "class:student")
 * walked with a seek on a prefix, both kept in step in one transaction.
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

static const char *const RELATIONS =
    "[{\"source_fields\":[\"user_id\"],\"target_store\":\"users\",\"target_fields\":[\"id\"]}]";

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

static void reopen(void)
{
    sop_db_close(db);
    db = NULL;
    assert_int_equal(sop_db_open(tl_dir, NULL, &db), 0);
}

/* The string value of "field":"..." in a flat JSON object, into out. */
static bool json_str(const char *json, size_t len, const char *field, char *out, size_t cap)
{
    char pat[64], buf[512];
    if (len >= sizeof(buf))
        return false;
    memcpy(buf, json, len);
    buf[len] = 0;
    snprintf(pat, sizeof(pat), "\"%s\":\"", field);
    const char *p = strstr(buf, pat);
    if (!p)
        return false;
    p += strlen(pat);
    const char *e = strchr(p, '"');
    if (!e || (size_t)(e - p) >= cap)
        return false;
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = 0;
    return true;
}

static void put(sop_store *s, const char *k, const char *v)
{
    assert_int_equal(sop_add(s, k, strlen(k), v, strlen(v)), 0);
}

static void orders_relation_metadata_drives_a_join(void **state)
{
    (void)state;
    sop_txn *t;
    sop_store *users, *orders, *articles;
    sop_store_info info;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    sop_store_options uo = {.unique = true, .value_in_node = true};
    assert_int_equal(sop_store_create(t, "users", &uo, &users), 0);
    sop_store_options oo = {.unique = true,
                            .value_in_node = true,
                            .description = "Orders",
                            .relations = RELATIONS,
                            .kind = "records"};
    assert_int_equal(sop_store_create(t, "orders", &oo, &orders), 0);
    sop_store_options so = {.unique = true, .kind = "search"};
    assert_int_equal(sop_store_create(t, "articles", &so, &articles), 0);
    put(users, "u1", "{\"id\":\"u1\",\"name\":\"Ada\"}");
    put(users, "u2", "{\"id\":\"u2\",\"name\":\"Grace\"}");
    put(orders, "o1", "{\"id\":\"o1\",\"user_id\":\"u1\",\"total\":\"12\"}");
    put(orders, "o2", "{\"id\":\"o2\",\"user_id\":\"u2\",\"total\":\"30\"}");
    put(orders, "o3", "{\"id\":\"o3\",\"user_id\":\"u1\",\"total\":\"7\"}");
    assert_int_equal(sop_txn_commit(t), 0);
    reopen();

    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_open(t, "orders", &orders), 0);
    assert_int_equal(sop_store_get_info(orders, &info), 0);
    assert_string_equal(info.name, "orders");
    assert_string_equal(info.options.relations, RELATIONS);
    assert_string_equal(info.options.kind, "records");
    assert_string_equal(info.options.description, "Orders");
    assert_int_equal(info.count, 3);
    assert_int_equal(sop_store_open(t, "articles", &articles), 0);
    assert_int_equal(sop_store_get_info(articles, &info), 0);
    assert_string_equal(info.options.kind, "search");
    assert_string_equal(info.options.relations, "");
    assert_int_equal(sop_store_open(t, "users", &users), 0);
    assert_int_equal(sop_store_get_info(users, &info), 0);
    assert_string_equal(info.options.relations, "");
    assert_true(strcmp(info.options.kind, "") == 0 || strcmp(info.options.kind, "records") == 0);

    /* the join: the target store named by the metadata, then each order's
     * user through its source field */
    assert_int_equal(sop_store_get_info(orders, &info), 0);
    char target[64], names[128] = "";
    const char *p = strstr(info.options.relations, "\"target_store\":\"");
    assert_non_null(p);
    p += 16;
    size_t tl = strcspn(p, "\"");
    memcpy(target, p, tl);
    target[tl] = 0;
    assert_string_equal(target, "users");
    sop_store *tgt;
    assert_int_equal(sop_store_open(t, target, &tgt), 0);
    sop_cursor *c;
    assert_int_equal(sop_cursor_open(orders, &c), 0);
    int rc;
    for (rc = sop_cursor_first(c); rc == 0; rc = sop_cursor_next(c)) {
        const void *v, *uv;
        size_t vl, uvl;
        char uid[32], name[32];
        assert_int_equal(sop_cursor_value(c, &v, &vl), 0);
        assert_true(json_str(v, vl, "user_id", uid, sizeof(uid)));
        assert_int_equal(sop_get(tgt, uid, strlen(uid), &uv, &uvl), 0);
        assert_true(json_str(uv, uvl, "name", name, sizeof(name)));
        strcat(names, name);
        strcat(names, ",");
    }
    assert_int_equal(rc, SOP_ENOTFOUND);
    sop_cursor_close(c);
    assert_string_equal(names, "Ada,Grace,Ada,");
    assert_int_equal(sop_txn_commit(t), 0);

    /* the metadata can be changed afterwards, and that persists too */
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    assert_int_equal(sop_store_open(t, "orders", &orders), 0);
    sop_store_options none = {.relations = "[]"};
    assert_int_equal(sop_store_alter(orders, &none), 0);
    assert_int_equal(sop_txn_commit(t), 0);
    reopen();
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_open(t, "orders", &orders), 0);
    assert_int_equal(sop_store_get_info(orders, &info), 0);
    assert_string_equal(info.options.relations, "[]");
    assert_string_equal(info.options.kind, "records");
    assert_int_equal(sop_txn_commit(t), 0);
}

/* The second halves of the keys that start with prefix, joined by ','. */
static void walk_prefix(sop_store *s, const char *prefix, char *out, size_t cap)
{
    sop_cursor *c;
    size_t pl = strlen(prefix);
    out[0] = 0;
    assert_int_equal(sop_cursor_open(s, &c), 0);
    int rc;
    for (rc = sop_cursor_seek(c, prefix, pl); rc == 0; rc = sop_cursor_next(c)) {
        const void *k;
        size_t kl;
        assert_int_equal(sop_cursor_key(c, &k, &kl), 0);
        if (kl < pl || memcmp(k, prefix, pl))
            break;
        assert_true(strlen(out) + kl - pl + 2 < cap);
        strncat(out, (const char *)k + pl, kl - pl);
        strcat(out, ",");
    }
    assert_true(rc == 0 || rc == SOP_ENOTFOUND);
    sop_cursor_close(c);
}

static void add_link(sop_store *sc, sop_store *cs, const char *student, const char *cls)
{
    char k[64];
    snprintf(k, sizeof(k), "%s:%s", student, cls);
    put(sc, k, "");
    snprintf(k, sizeof(k), "%s:%s", cls, student);
    put(cs, k, "");
}

static void many_to_many_link_store_walked_by_prefix(void **state)
{
    (void)state;
    sop_txn *t;
    sop_store *students, *classes, *sc, *cs;
    char out[256];
    static const struct {
        const char *student, *cls;
    } links[] = {{"s1", "math"},    {"s1", "art"},      {"s2", "math"}, {"s2", "physics"},
                 {"s2", "music"},   {"s20", "history"}, {"s3", "art"},  {"s10", "math"},
                 {"s3", "physics"}, {"s1", "physics"}};
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    sop_store_options o = {.slot_length = 4, .unique = true, .value_in_node = true};
    assert_int_equal(sop_store_create(t, "students", &o, &students), 0);
    assert_int_equal(sop_store_create(t, "classes", &o, &classes), 0);
    assert_int_equal(sop_store_create(t, "student_classes", &o, &sc), 0);
    assert_int_equal(sop_store_create(t, "class_students", &o, &cs), 0);
    put(students, "s1", "{\"name\":\"Ann\"}");
    put(students, "s2", "{\"name\":\"Ben\"}");
    put(students, "s3", "{\"name\":\"Cy\"}");
    put(students, "s10", "{\"name\":\"Di\"}");
    put(students, "s20", "{\"name\":\"Ed\"}");
    put(classes, "art", "{}");
    put(classes, "history", "{}");
    put(classes, "math", "{}");
    put(classes, "music", "{}");
    put(classes, "physics", "{}");
    for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++)
        add_link(sc, cs, links[i].student, links[i].cls);
    assert_int_equal(sop_txn_commit(t), 0);
    reopen();

    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_open(t, "student_classes", &sc), 0);
    assert_int_equal(sop_store_open(t, "class_students", &cs), 0);
    /* "s2:" does not take in "s20:" */
    walk_prefix(sc, "s2:", out, sizeof(out));
    assert_string_equal(out, "math,music,physics,");
    walk_prefix(sc, "s1:", out, sizeof(out));
    assert_string_equal(out, "art,math,physics,");
    walk_prefix(sc, "s20:", out, sizeof(out));
    assert_string_equal(out, "history,");
    walk_prefix(sc, "s4:", out, sizeof(out));
    assert_string_equal(out, "");
    walk_prefix(cs, "math:", out, sizeof(out));
    assert_string_equal(out, "s1,s10,s2,");
    walk_prefix(cs, "physics:", out, sizeof(out));
    assert_string_equal(out, "s1,s2,s3,");
    walk_prefix(cs, "zoology:", out, sizeof(out));
    assert_string_equal(out, "");
    assert_int_equal(sop_txn_commit(t), 0);

    /* s2 leaves physics: both directions in one transaction */
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    assert_int_equal(sop_store_open(t, "student_classes", &sc), 0);
    assert_int_equal(sop_store_open(t, "class_students", &cs), 0);
    assert_int_equal(sop_remove(sc, "s2:physics", 10), 0);
    assert_int_equal(sop_remove(cs, "physics:s2", 10), 0);
    assert_int_equal(sop_remove(cs, "physics:s2", 10), SOP_ENOTFOUND);
    assert_int_equal(sop_txn_commit(t), 0);
    /* a half-done unlink that is rolled back leaves both as they were */
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    assert_int_equal(sop_store_open(t, "student_classes", &sc), 0);
    assert_int_equal(sop_remove(sc, "s1:art", 6), 0);
    sop_txn_rollback(t);

    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_open(t, "student_classes", &sc), 0);
    assert_int_equal(sop_store_open(t, "class_students", &cs), 0);
    walk_prefix(sc, "s2:", out, sizeof(out));
    assert_string_equal(out, "math,music,");
    walk_prefix(cs, "physics:", out, sizeof(out));
    assert_string_equal(out, "s1,s3,");
    walk_prefix(sc, "s1:", out, sizeof(out));
    assert_string_equal(out, "art,math,physics,");
    walk_prefix(cs, "art:", out, sizeof(out));
    assert_string_equal(out, "s1,s3,");
    assert_int_equal(sop_txn_commit(t), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(orders_relation_metadata_drives_a_join, setup, teardown),
        cmocka_unit_test_setup_teardown(many_to_many_link_store_walked_by_prefix, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
