/*
 * test_txn.c - transactions through the public API: commit, rollback,
 * snapshots, conflicts judged per key and range, stores, big values.
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
#include <unistd.h>

static sop_store *mk(sop_txn *t, const char *name, uint32_t slot, bool unique, bool vin)
{
    sop_store *s;
    sop_store_options o = {.slot_length = slot, .unique = unique, .value_in_node = vin};
    assert_int_equal(sop_store_create(t, name, &o, &s), 0);
    return s;
}

static void expect(sop_store *s, const char *k, const char *v)
{
    const void *got;
    size_t gl;
    int rc = sop_get(s, k, strlen(k), &got, &gl);
    if (!v) {
        assert_int_equal(rc, SOP_ENOTFOUND);
        return;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(gl, strlen(v));
    assert_memory_equal(got, v, gl);
}

static void crud_commit_and_reopen(void **st)
{
    (void)st;
    sop_db *db = tl_open_db();
    sop_txn *t;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    sop_store *s = mk(t, "users", 4, true, true);
    char k[32], v[64];
    for (int i = 0; i < 500; i++) {
        snprintf(k, sizeof(k), "user_%04d", i);
        snprintf(v, sizeof(v), "profile %d", i);
        assert_int_equal(sop_add(s, k, strlen(k), v, strlen(v)), 0);
    }
    assert_int_equal(sop_add(s, "user_0001", 9, "x", 1), SOP_EEXIST);
    assert_int_equal(sop_update(s, "user_0002", 9, "two", 3), 0);
    assert_int_equal(sop_remove(s, "user_0003", 9), 0);
    assert_int_equal(sop_remove(s, "user_0003", 9), SOP_ENOTFOUND);
    assert_int_equal(sop_update(s, "nope", 4, "x", 1), SOP_ENOTFOUND);
    expect(s, "user_0002", "two");
    assert_int_equal(sop_txn_commit(t), 0);
    sop_db_close(db);

    db = tl_open_db();
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_open(t, "users", &s), 0);
    uint64_t n;
    assert_int_equal(sop_store_count(s, &n), 0);
    assert_int_equal(n, 499);
    expect(s, "user_0002", "two");
    expect(s, "user_0003", NULL);
    expect(s, "user_0499", "profile 499");
    sop_cursor *c;
    assert_int_equal(sop_cursor_open(s, &c), 0);
    int cnt = 0;
    char prev[32] = "";
    for (int rc = sop_cursor_first(c); rc == 0; rc = sop_cursor_next(c)) {
        const void *kk;
        size_t kl;
        assert_int_equal(sop_cursor_key(c, &kk, &kl), 0);
        char cur[32];
        snprintf(cur, sizeof(cur), "%.*s", (int)kl, (const char *)kk);
        assert_true(strcmp(prev, cur) < 0);
        strcpy(prev, cur);
        cnt++;
    }
    assert_int_equal(cnt, 499);
    cnt = 0;
    for (int rc = sop_cursor_last(c); rc == 0; rc = sop_cursor_prev(c))
        cnt++;
    assert_int_equal(cnt, 499);
    assert_int_equal(sop_cursor_seek(c, "user_0003", 9), 0);
    const void *kk;
    size_t kl;
    assert_int_equal(sop_cursor_key(c, &kk, &kl), 0);
    assert_memory_equal(kk, "user_0004", 9);
    sop_cursor_close(c);
    assert_int_equal(sop_txn_commit(t), 0);
    sop_db_close(db);
}

static void rollback_leaves_nothing(void **st)
{
    (void)st;
    sop_db *db = tl_open_db();
    sop_txn *t;
    sop_store *s;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    s = mk(t, "rb", 5, true, false);
    assert_int_equal(sop_add(s, "a", 1, "1", 1), 0);
    assert_int_equal(sop_txn_commit(t), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    assert_int_equal(sop_store_open(t, "rb", &s), 0);
    for (int i = 0; i < 100; i++) {
        char k[16];
        snprintf(k, sizeof(k), "k%03d", i);
        assert_int_equal(sop_add(s, k, strlen(k), k, strlen(k)), 0);
    }
    assert_int_equal(sop_remove(s, "a", 1), 0);
    sop_txn_rollback(t);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_open(t, "rb", &s), 0);
    expect(s, "a", "1");
    expect(s, "k000", NULL);
    sop_txn_rollback(t);
    sop_db_close(db);
}

static void same_key_conflicts_disjoint_keys_commit(void **st)
{
    (void)st;
    sop_db *db = tl_open_db();
    sop_txn *t, *a, *b;
    sop_store *s, *sa, *sb;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    s = mk(t, "c", 1000, true, true);
    assert_int_equal(sop_add(s, "x", 1, "0", 1), 0);
    assert_int_equal(sop_add(s, "y", 1, "0", 1), 0);
    assert_int_equal(sop_txn_commit(t), 0);
    /* disjoint keys of one leaf: both commit, both changes kept */
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &a), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &b), 0);
    assert_int_equal(sop_store_open(a, "c", &sa), 0);
    assert_int_equal(sop_store_open(b, "c", &sb), 0);
    assert_int_equal(sop_update(sa, "x", 1, "a", 1), 0);
    assert_int_equal(sop_update(sb, "y", 1, "b", 1), 0);
    assert_int_equal(sop_add(sb, "z", 1, "b", 1), 0);
    assert_int_equal(sop_txn_commit(a), 0);
    assert_int_equal(sop_txn_commit(b), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_open(t, "c", &s), 0);
    expect(s, "x", "a");
    expect(s, "y", "b");
    expect(s, "z", "b");
    uint64_t n;
    assert_int_equal(sop_store_count(s, &n), 0);
    assert_int_equal(n, 3);
    sop_txn_rollback(t);
    /* same key: the later commit fails and changes nothing */
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &a), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &b), 0);
    assert_int_equal(sop_store_open(a, "c", &sa), 0);
    assert_int_equal(sop_store_open(b, "c", &sb), 0);
    assert_int_equal(sop_update(sa, "x", 1, "A", 1), 0);
    assert_int_equal(sop_update(sb, "x", 1, "B", 1), 0);
    assert_int_equal(sop_add(sb, "w", 1, "B", 1), 0);
    assert_int_equal(sop_txn_commit(a), 0);
    assert_int_equal(sop_txn_commit(b), SOP_ECONFLICT);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_open(t, "c", &s), 0);
    expect(s, "x", "A");
    expect(s, "w", NULL);
    sop_txn_rollback(t);
    sop_db_close(db);
}

static void reads_and_ranges_are_validated(void **st)
{
    (void)st;
    sop_db *db = tl_open_db();
    sop_txn *t, *a, *b;
    sop_store *s, *sa, *sb;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    s = mk(t, "r", 8, true, true);
    for (char c = 'a'; c <= 'z'; c += 2)
        assert_int_equal(sop_add(s, &c, 1, "v", 1), 0);
    assert_int_equal(sop_txn_commit(t), 0);
    /* a key found absent, then added by another: conflict */
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &a), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &b), 0);
    assert_int_equal(sop_store_open(a, "r", &sa), 0);
    assert_int_equal(sop_store_open(b, "r", &sb), 0);
    expect(sa, "b", NULL);
    assert_int_equal(sop_add(sa, "zz", 2, "1", 1), 0);
    assert_int_equal(sop_add(sb, "b", 1, "1", 1), 0);
    assert_int_equal(sop_txn_commit(b), 0);
    assert_int_equal(sop_txn_commit(a), SOP_ECONFLICT);
    /* a walked range gets a phantom: conflict; another range: fine */
    for (int round = 0; round < 2; round++) {
        sop_cursor *c;
        assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &a), 0);
        assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &b), 0);
        assert_int_equal(sop_store_open(a, "r", &sa), 0);
        assert_int_equal(sop_store_open(b, "r", &sb), 0);
        assert_int_equal(sop_cursor_open(sa, &c), 0);
        assert_int_equal(sop_cursor_seek(c, "e", 1), 0);
        assert_int_equal(sop_cursor_next(c), 0);
        assert_int_equal(sop_cursor_next(c), 0); /* walked e..i */
        const char *ins = round == 0 ? "f" : "x";
        assert_int_equal(sop_add(sb, ins, 1, "1", 1), 0);
        assert_int_equal(sop_txn_commit(b), 0);
        assert_int_equal(sop_txn_commit(a), round == 0 ? SOP_ECONFLICT : 0);
    }
    sop_db_close(db);
}

static void snapshot_isolation(void **st)
{
    (void)st;
    sop_db *db = tl_open_db();
    sop_txn *t, *r;
    sop_store *s, *sr;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    s = mk(t, "snap", 4, true, true);
    for (int i = 0; i < 50; i++) {
        char k[8];
        snprintf(k, sizeof(k), "%03d", i);
        assert_int_equal(sop_add(s, k, 3, "old", 3), 0);
    }
    assert_int_equal(sop_txn_commit(t), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &r), 0);
    assert_int_equal(sop_store_open(r, "snap", &sr), 0);
    expect(sr, "010", "old");
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    assert_int_equal(sop_store_open(t, "snap", &s), 0);
    for (int i = 0; i < 50; i++) {
        char k[8];
        snprintf(k, sizeof(k), "%03d", i);
        if (i % 2)
            assert_int_equal(sop_remove(s, k, 3), 0);
        else
            assert_int_equal(sop_update(s, k, 3, "new", 3), 0);
    }
    assert_int_equal(sop_txn_commit(t), 0);
    /* the reader still sees its snapshot, whole */
    expect(sr, "011", "old");
    expect(sr, "012", "old");
    uint64_t n;
    assert_int_equal(sop_store_count(sr, &n), 0);
    assert_int_equal(n, 50);
    sop_txn_rollback(r);
    sop_db_close(db);
}

static void big_values_stream(void **st)
{
    (void)st;
    sop_db *db = tl_open_db();
    sop_txn *t;
    sop_store *s;
    sop_store_options o = {.chunk_size = 4096, .unique = true};
    size_t n = 100000;
    uint8_t *buf = malloc(n), *got = malloc(n);
    for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)(i * 7 + 3);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    assert_int_equal(sop_store_create(t, "videos", &o, &s), 0);
    for (size_t off = 0; off < n; off += 1000)
        assert_int_equal(sop_value_write(s, "m", 1, off, buf + off, 1000), 0);
    assert_int_equal(sop_txn_commit(t), 0);
    sop_db_close(db);
    db = tl_open_db();
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    assert_int_equal(sop_store_open(t, "videos", &s), 0);
    uint64_t size;
    assert_int_equal(sop_value_size(s, "m", 1, &size), 0);
    assert_int_equal(size, n);
    size_t g;
    assert_int_equal(sop_value_read(s, "m", 1, 0, got, n, &g), 0);
    assert_int_equal(g, n);
    assert_memory_equal(got, buf, n);
    memset(buf + 50000, 0xAB, 10000);
    assert_int_equal(sop_value_write(s, "m", 1, 50000, buf + 50000, 10000), 0);
    assert_int_equal(sop_value_truncate(s, "m", 1, 90000), 0);
    assert_int_equal(sop_txn_commit(t), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_open(t, "videos", &s), 0);
    assert_int_equal(sop_value_read(s, "m", 1, 0, got, n, &g), 0);
    assert_int_equal(g, 90000);
    assert_memory_equal(got, buf, 90000);
    const void *v;
    size_t vl;
    assert_int_equal(sop_get(s, "m", 1, &v, &vl), 0);
    assert_int_equal(vl, 90000);
    assert_memory_equal(v, buf, 90000);
    sop_txn_rollback(t);
    sop_db_close(db);
    free(buf);
    free(got);
}

/* A sparse value of a petabyte (a billion chunk indices, three chunks
 * stored): truncating it down and removing it cost what is stored, not the
 * logical size (the old walk over every index took minutes and 24 GiB). */
static void huge_sparse_values_cost_what_they_store(void **st)
{
    (void)st;
    sop_db *db = tl_open_db();
    sop_txn *t;
    const uint64_t huge = 999999999999999ull;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    sop_store *s = mk(t, "files", 100, true, true);
    assert_int_equal(sop_upsert(s, "f", 1, "", 0), 0);
    assert_int_equal(sop_value_truncate(s, "f", 1, huge), 0);
    assert_int_equal(sop_value_write(s, "f", 1, 5000000000000ull, "abc", 3), 0);
    assert_int_equal(sop_value_write(s, "f", 1, huge - 2, "yz", 2), 0);
    assert_int_equal(sop_value_write(s, "g", 1, 0, "keep", 4), 0);
    assert_int_equal(sop_txn_commit(t), 0);

    uint64_t t0 = tl_now_ns();
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    s = tl_open_store(t, "files");
    /* down past the last chunk but above the middle one */
    assert_int_equal(sop_value_truncate(s, "f", 1, 6000000000000ull), 0);
    char buf[3];
    size_t got;
    assert_int_equal(sop_value_read(s, "f", 1, 5000000000000ull, buf, 3, &got), 0);
    assert_int_equal(got, 3);
    assert_memory_equal(buf, "abc", 3);
    assert_int_equal(sop_value_truncate(s, "f", 1, huge), 0); /* and up: zeros again */
    assert_int_equal(sop_value_read(s, "f", 1, huge - 2, buf, 2, &got), 0);
    assert_int_equal(got, 2);
    assert_memory_equal(buf, "\0\0", 2);
    assert_int_equal(sop_txn_commit(t), 0);

    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    s = tl_open_store(t, "files");
    assert_int_equal(sop_remove(s, "f", 1), 0);
    assert_int_equal(sop_txn_commit(t), 0);
    uint64_t secs = (tl_now_ns() - t0) / 1000000000ull;
    assert_true(secs < 10); /* milliseconds in fact: the walk took minutes */

    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    s = tl_open_store(t, "files");
    uint64_t size;
    assert_int_equal(sop_value_size(s, "f", 1, &size), SOP_ENOTFOUND);
    assert_int_equal(sop_value_read(s, "g", 1, 0, buf, 3, &got), 0);
    assert_memory_equal(buf, "kee", 3);
    sop_txn_rollback(t);
    sop_db_close(db);
}

/* sop_merge with a sum of little-endian u64 counters (absent: 0). */
static int merge_add(const void *cur, size_t cl, const void *upd, size_t ul, void *out, size_t cap,
                     size_t *ol, void *arg)
{
    uint64_t a = 0, b = 0;
    (void)arg;
    if (ul != 8 || cap < 8 || (cur && cl != 8))
        return SOP_EINVAL;
    if (cur)
        memcpy(&a, cur, 8);
    memcpy(&b, upd, 8);
    a += b;
    memcpy(out, &a, 8);
    *ol = 8;
    return 0;
}

static void merge_n(sop_store *s, const char *k, uint64_t n)
{
    assert_int_equal(sop_merge(s, k, strlen(k), &n, 8, merge_add, NULL), 0);
}

static uint64_t counter(sop_store *s, const char *k)
{
    const void *v;
    size_t vl;
    uint64_t n;
    assert_int_equal(sop_get(s, k, strlen(k), &v, &vl), 0);
    assert_int_equal(vl, 8);
    memcpy(&n, v, 8);
    return n;
}

/* Merges commute: two transactions merging into one key both commit (the
 * later applied again onto the newest value), a reader of the key does not
 * conflict with them, a plain writer does, and a merge that makes its key
 * is a new key for a range walked meanwhile. */
static void merges_commute_and_pass_readers(void **st)
{
    (void)st;
    sop_db *db = tl_open_db();
    sop_txn *t, *a, *b, *r;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    sop_store *s = mk(t, "c", 16, true, true);
    merge_n(s, "n", 5); /* onto nothing */
    assert_int_equal(counter(s, "n"), 5);
    merge_n(s, "n", 1); /* twice in one transaction */
    assert_int_equal(counter(s, "n"), 6);
    assert_int_equal(sop_txn_commit(t), 0);

    /* two merging transactions and a reader, all from the same snapshot */
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &a), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &b), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &r), 0);
    sop_store *sa = tl_open_store(a, "c"), *sb = tl_open_store(b, "c"), *sr = tl_open_store(r, "c");
    merge_n(sa, "n", 10);
    merge_n(sb, "n", 100);
    assert_int_equal(counter(sb, "n"), 106); /* its own view */
    assert_int_equal(counter(sr, "n"), 6);
    assert_int_equal(sop_upsert(sr, "other", 5, "x", 1), 0);
    assert_int_equal(sop_txn_commit(a), 0);
    assert_int_equal(sop_txn_commit(b), 0);
    assert_int_equal(sop_txn_commit(r), 0); /* it read n: merges do not conflict with it */
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(counter(tl_open_store(t, "c"), "n"), 116);
    sop_txn_rollback(t);

    /* a plain write and a merge of one key: the later of the two conflicts
     * when it is the plain write; a merge after a plain write applies onto it */
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &a), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &b), 0);
    merge_n(tl_open_store(a, "c"), "n", 1);
    uint64_t zero = 0;
    assert_int_equal(sop_upsert(tl_open_store(b, "c"), "n", 1, &zero, 8), 0);
    assert_int_equal(sop_txn_commit(a), 0);
    assert_int_equal(sop_txn_commit(b), SOP_ECONFLICT);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &a), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &b), 0);
    merge_n(tl_open_store(a, "c"), "n", 1);
    assert_int_equal(sop_upsert(tl_open_store(b, "c"), "n", 1, &zero, 8), 0);
    assert_int_equal(sop_txn_commit(b), 0);
    assert_int_equal(sop_txn_commit(a), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(counter(tl_open_store(t, "c"), "n"), 1);
    sop_txn_rollback(t);

    /* a merge that makes a key: a cursor that walked the range conflicts */
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &a), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &r), 0);
    sop_cursor *c;
    assert_int_equal(sop_cursor_open(tl_open_store(r, "c"), &c), 0);
    int n = 0;
    for (int rc = sop_cursor_first(c); rc == 0; rc = sop_cursor_next(c))
        n++;
    assert_int_equal(n, 2);
    sop_cursor_close(c);
    assert_int_equal(sop_upsert(tl_open_store(r, "c"), "zz", 2, "x", 1), 0);
    merge_n(tl_open_store(a, "c"), "m", 7);
    assert_int_equal(sop_txn_commit(a), 0);
    assert_int_equal(sop_txn_commit(r), SOP_ECONFLICT);

    /* a rollback leaves nothing; bad calls change nothing */
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    s = tl_open_store(t, "c");
    merge_n(s, "n", 1000);
    assert_int_equal(sop_merge(s, "n", 1, "x", 1, merge_add, NULL), SOP_EINVAL);
    assert_int_equal(sop_merge(s, "n", 1, &zero, 8, NULL, NULL), SOP_EINVAL);
    sop_txn_rollback(t);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(counter(tl_open_store(t, "c"), "n"), 1);
    assert_int_equal(counter(tl_open_store(t, "c"), "m"), 7);
    sop_txn_rollback(t);
    sop_db_close(db);

    /* and after a reopen (replay) */
    db = tl_open_db();
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(counter(tl_open_store(t, "c"), "n"), 1);
    sop_txn_rollback(t);
    sop_db_close(db);
}

/* The value segments (DATA/N.val) in the test's folder. */
static int count_vsegs(void)
{
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "ls '%s' | grep -c '\\.val$'", tl_dir);
    FILE *f = popen(cmd, "r");
    int n = -1;
    if (f && fscanf(f, "%d", &n) != 1)
        n = -1;
    if (f)
        pclose(f);
    return n;
}

static void put_big(sop_db *db, const char *k, size_t size, bool commit)
{
    sop_txn *t;
    static uint8_t buf[1 << 20];
    memset(buf, k[0], sizeof(buf));
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    sop_store *s = tl_open_store(t, "v");
    assert_int_equal(
        sop_value_truncate(s, k, strlen(k), 0) == 0 ? 0 : sop_upsert(s, k, strlen(k), "", 0), 0);
    for (size_t off = 0; off < size; off += sizeof(buf))
        assert_int_equal(sop_value_write(s, k, strlen(k), off, buf, sizeof(buf)), 0);
    if (commit)
        assert_int_equal(sop_txn_commit(t), 0);
    else
        sop_txn_rollback(t);
}

/* Whole chunks of big values go to a value segment of their transaction,
 * which goes away whole: at a rollback, once its value is replaced or
 * removed (durably), and at an open after a crash before the commit. */
static void value_segments_come_and_go_whole(void **st)
{
    (void)st;
    sop_db *db = tl_open_db();
    sop_txn *t;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    mk(t, "v", 100, true, false);
    assert_int_equal(sop_txn_commit(t), 0);
    assert_int_equal(count_vsegs(), 0);
    put_big(db, "a", 5 << 20, false);
    assert_int_equal(count_vsegs(), 0); /* rolled back: gone */
    put_big(db, "a", 5 << 20, true);
    assert_int_equal(count_vsegs(), 1);
    put_big(db, "b", 3 << 20, true);
    assert_int_equal(count_vsegs(), 2);
    put_big(db, "a", 5 << 20, true); /* a replaced whole: its old segment goes */
    assert_int_equal(count_vsegs(), 2);
    sop_db_space sp;
    assert_int_equal(sop_db_get_space(db, &sp), 0);
    assert_int_equal(sp.value_segments, 2);
    assert_true(sp.reserve >= (16u << 20));
    /* a reader keeps the old one while it reads */
    sop_txn *r;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &r), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    assert_int_equal(sop_remove(tl_open_store(t, "v"), "b", 1), 0);
    assert_int_equal(sop_txn_commit(t), 0);
    uint8_t buf[4];
    size_t got;
    assert_int_equal(sop_value_read(tl_open_store(r, "v"), "b", 1, (2 << 20) + 5, buf, 4, &got), 0);
    assert_int_equal(got, 4);
    assert_memory_equal(buf, "bbbb", 4);
    sop_txn_rollback(r);
    sop_db_close(db); /* the close's checkpoint prunes what no snapshot needs */
    db = tl_open_db();
    assert_int_equal(count_vsegs(), 1);
    /* a transaction that never commits (the process dies): its segment is
     * removed at the next open */
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    static uint8_t big[1 << 20];
    assert_int_equal(sop_value_write(tl_open_store(t, "v"), "c", 1, 0, big, sizeof(big)), 0);
    assert_int_equal(count_vsegs(), 2);
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s.crash'", tl_dir, tl_dir);
    assert_int_equal(system(cmd), 0); /* the folder as a crash would leave it */
    sop_txn_rollback(t);
    sop_db_close(db);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mv '%s.crash' '%s' && rm -f '%s/lock'", tl_dir,
             tl_dir, tl_dir, tl_dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(count_vsegs(), 2);
    db = tl_open_db();
    assert_int_equal(count_vsegs(), 1);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_value_read(tl_open_store(t, "v"), "a", 1, 4 << 20, buf, 4, &got), 0);
    assert_memory_equal(buf, "aaaa", 4);
    sop_txn_rollback(t);
    sop_db_close(db);
}

static void move_keeps_big_values_without_copying(void **st)
{
    (void)st;
    sop_db *db = tl_open_db();
    sop_txn *t;
    sop_store *a, *b;
    sop_store_options o = {.chunk_size = 4096, .unique = true};
    size_t n = 50000;
    uint8_t *buf = malloc(n), *got = malloc(n);
    for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)(i * 13);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    assert_int_equal(sop_store_create(t, "a", &o, &a), 0);
    assert_int_equal(sop_store_create(t, "b", &o, &b), 0);
    assert_int_equal(sop_value_write(a, "f", 1, 0, buf, n), 0);
    assert_int_equal(sop_upsert(b, "g", 1, "old", 3), 0);
    /* moved before commit, while its chunks are still this transaction's */
    assert_int_equal(sop_move(a, "f", 1, b, "g", 1), 0);
    size_t g;
    assert_int_equal(sop_value_read(b, "g", 1, 0, got, n, &g), 0);
    assert_int_equal(g, n);
    assert_memory_equal(got, buf, n);
    assert_int_equal(sop_move(a, "f", 1, b, "h", 1), SOP_ENOTFOUND);
    assert_int_equal(sop_txn_commit(t), 0);
    /* and after: within one store, then back */
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    assert_int_equal(sop_store_open(t, "a", &a), 0);
    assert_int_equal(sop_store_open(t, "b", &b), 0);
    assert_int_equal(sop_move(b, "g", 1, b, "h", 1), 0);
    assert_int_equal(sop_move(b, "h", 1, a, "f", 1), 0);
    assert_int_equal(sop_txn_commit(t), 0);
    sop_db_close(db);
    db = tl_open_db();
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_open(t, "a", &a), 0);
    assert_int_equal(sop_store_open(t, "b", &b), 0);
    assert_int_equal(sop_value_read(a, "f", 1, 0, got, n, &g), 0);
    assert_int_equal(g, n);
    assert_memory_equal(got, buf, n);
    uint64_t cnt;
    assert_int_equal(sop_store_count(b, &cnt), 0);
    assert_int_equal(cnt, 0);
    sop_txn_rollback(t);
    sop_db_close(db);
    free(buf);
    free(got);
}

/* Past txn_max_age_ms a transaction fails with SOP_ETIMEDOUT and commits
 * nothing; one begun with SOP_TXN_NOAGE goes on, and its snapshot is kept
 * while newer commits prune the versions others no longer need. */
static void max_age_rolls_back_unless_noage(void **st)
{
    (void)st;
    sop_db *db;
    sop_db_options o = {.txn_max_age_ms = 100};
    sop_txn *t, *w, *r, *n;
    sop_store *s, *ws, *rs, *ns;
    assert_int_equal(sop_db_open(tl_dir, &o, &db), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE | 32, &t), SOP_EINVAL);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    s = mk(t, "age", 4, true, true);
    assert_int_equal(sop_add(s, "a", 1, "old", 3), 0);
    assert_int_equal(sop_txn_commit(t), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &w), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ | SOP_TXN_NOAGE, &r), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE | SOP_TXN_NOAGE, &n), 0);
    assert_int_equal(sop_store_open(w, "age", &ws), 0);
    assert_int_equal(sop_store_open(r, "age", &rs), 0);
    assert_int_equal(sop_store_open(n, "age", &ns), 0);
    usleep(300 * 1000);
    for (int i = 0; i < 5; i++) { /* newer versions, each commit pruning */
        char v[8];
        snprintf(v, sizeof(v), "new%d", i);
        assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
        assert_int_equal(sop_store_open(t, "age", &s), 0);
        assert_int_equal(sop_upsert(s, "a", 1, v, strlen(v)), 0);
        assert_int_equal(sop_txn_commit(t), 0);
    }
    assert_int_equal(sop_upsert(ws, "w", 1, "w", 1), SOP_ETIMEDOUT);
    assert_int_equal(sop_txn_commit(w), SOP_ETIMEDOUT);
    expect(rs, "a", "old"); /* the aged NOAGE reader keeps its snapshot */
    assert_int_equal(sop_upsert(ns, "n", 1, "n", 1), 0);
    assert_int_equal(sop_txn_commit(n), 0);
    /* what it read changed meanwhile: a read transaction is validated too */
    assert_int_equal(sop_txn_commit(r), SOP_ECONFLICT);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_open(t, "age", &s), 0);
    expect(s, "a", "new4");
    expect(s, "n", "n");
    expect(s, "w", NULL);
    sop_txn_rollback(t);
    sop_db_close(db);
}

/* sop_db_get_stats: the cache counts hits, the log grows with commits, the
 * sequence number follows them. */
static void stats_count_what_happens(void **st)
{
    (void)st;
    sop_db *db = tl_open_db();
    sop_db_stats a, b;
    sop_txn *t;
    sop_store *s;
    assert_int_equal(sop_db_get_stats(NULL, &a), SOP_EINVAL);
    assert_int_equal(sop_db_get_stats(db, NULL), SOP_EINVAL);
    assert_int_equal(sop_db_get_stats(db, &a), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    s = mk(t, "stats", 8, true, true);
    for (int i = 0; i < 100; i++) {
        char k[8];
        snprintf(k, sizeof(k), "%03d", i);
        assert_int_equal(sop_add(s, k, 3, k, 3), 0);
    }
    assert_int_equal(sop_txn_commit(t), 0);
    for (int r = 0; r < 3; r++) {
        assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
        assert_int_equal(sop_store_open(t, "stats", &s), 0);
        expect(s, "042", "042");
        sop_txn_rollback(t);
    }
    assert_int_equal(sop_db_get_stats(db, &b), 0);
    assert_true(b.seq == a.seq + 1);
    assert_true(b.log_bytes > a.log_bytes);
    assert_true(b.cache_hits > a.cache_hits);
    assert_true(b.cache_nodes > 0 && b.cache_bytes > 0 && b.cache_bytes <= b.cache_budget);
    sop_db_close(db);
}

static int collect(const char *name, void *arg)
{
    strcat((char *)arg, name);
    strcat((char *)arg, ",");
    return 0;
}

static void stores_create_drop_list(void **st)
{
    (void)st;
    sop_db *db = tl_open_db();
    sop_txn *t;
    sop_store *s;
    char names[256] = "";
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    s = mk(t, "b", 4, false, true);
    assert_int_equal(sop_add(s, "k", 1, "1", 1), 0);
    assert_int_equal(sop_add(s, "k", 1, "2", 1), 0);
    mk(t, "a", 4, true, true);
    assert_int_equal(sop_store_create(t, "a", NULL, &s), SOP_EEXIST);
    assert_int_equal(sop_store_create(t, "x/y", NULL, &s), SOP_EINVAL);
    assert_int_equal(sop_txn_commit(t), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    assert_int_equal(sop_store_list(t, collect, names), 0);
    assert_string_equal(names, "a,b,");
    assert_int_equal(sop_store_open(t, "b", &s), 0);
    expect(s, "k", "1");
    assert_int_equal(sop_store_drop(t, "a"), 0);
    assert_int_equal(sop_txn_commit(t), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_open(t, "a", &s), SOP_ENOTFOUND);
    sop_txn_rollback(t);
    sop_db_close(db);
    sop_db *db2;
    db = tl_open_db();
    assert_int_equal(sop_db_open(tl_dir, NULL, &db2), SOP_EBUSY);
    assert_non_null(strstr(sop_open_errmsg(), "in use by another process"));
    sop_db_close(db);
}

/* A cursor walking a store while its own transaction changes the tree
 * around it: each step removes a key behind it and adds one right after it
 * (splitting and merging the leaves it walks, clean ones and the
 * transaction's own) or replaces the item it is on, and the walk still
 * meets every key once, in order.
 * With duplicates, its rank among equal keys survives the changes too. */
static void cursor_walk_survives_its_own_changes(void **st)
{
    (void)st;
    sop_db *db = tl_open_db();
    for (int unique = 1; unique >= 0; unique--) {
        const char *name = unique ? "u" : "d";
        sop_txn *t;
        assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
        sop_store *s = mk(t, name, 8, unique, true);
        char k[32];
        for (int i = 0; i < 600; i += 2) {
            snprintf(k, sizeof(k), "k%05d", i);
            assert_int_equal(sop_add(s, k, strlen(k), k, strlen(k)), 0);
            if (!unique) /* a second item under the same key */
                assert_int_equal(sop_add(s, k, strlen(k), "dup", 3), 0);
        }
        assert_int_equal(sop_txn_commit(t), 0);

        assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
        assert_int_equal(sop_store_open(t, name, &s), 0);
        sop_cursor *c;
        assert_int_equal(sop_cursor_open(s, &c), 0);
        int want = 0, dup = 0, seen = 0;
        for (int rc = sop_cursor_first(c); rc == 0; rc = sop_cursor_next(c)) {
            const void *kk, *vv;
            size_t kl, vl;
            char cur[32];
            snprintf(k, sizeof(k), "k%05d", want);
            assert_int_equal(sop_cursor_key(c, &kk, &kl), 0);
            snprintf(cur, sizeof(cur), "%.*s", (int)kl, (const char *)kk);
            assert_string_equal(cur, k);
            assert_int_equal(sop_cursor_value(c, &vv, &vl), 0);
            if (dup == 1)
                assert_memory_equal(vv, "dup", 3);
            else
                assert_memory_equal(vv, k, strlen(k));
            seen++;
            if (!unique && want % 2 == 0 && dup == 0) {
                dup = 1; /* the same key's second item comes next */
                continue;
            }
            dup = 0;
            if (want % 2 == 0 && want >= 4) { /* remove a key behind */
                snprintf(k, sizeof(k), "k%05d", want - 4);
                assert_int_equal(sop_remove(s, k, strlen(k)), 0);
            }
            if (want % 2 == 0) { /* and add the odd one right after */
                snprintf(k, sizeof(k), "k%05d", want + 1);
                assert_int_equal(sop_add(s, k, strlen(k), k, strlen(k)), 0);
            } else { /* the cursor's own item, in a leaf this transaction changed */
                assert_int_equal(sop_update(s, k, strlen(k), "a longer value than the key", 27),
                                 0);
            }
            want++;
        }
        assert_int_equal(want, 600);
        assert_int_equal(seen, unique ? 600 : 900);
        sop_cursor_close(c);
        assert_int_equal(sop_txn_commit(t), 0);
    }
    sop_db_close(db);
}

/* SOP_TXN_NOPIN: a reader of the whole tree keeps no node alive for the
 * pointers it was handed once it reads on, so the cache stays within its
 * budget; without the flag every node read stays until the end (sop.h). */
static uint64_t read_all(sop_db *db, int mode, bool cursor)
{
    sop_txn *t;
    sop_db_stats st;
    uint64_t peak = 0;
    char k[32], v[200];
    assert_int_equal(sop_txn_begin(db, mode, &t), 0);
    sop_store *s = tl_open_store(t, "big");
    sop_cursor *c = NULL;
    if (cursor) {
        assert_int_equal(sop_cursor_open(s, &c), 0);
        assert_int_equal(sop_cursor_first(c), 0);
    }
    const void *pk = NULL, *pv = NULL;
    size_t pkl = 0, pvl = 0;
    for (int i = 0; i < 20000; i++) {
        int j = cursor ? i : (int)((i * 7919u) % 20000u);
        snprintf(k, sizeof(k), "key%06d", j);
        memset(v, 'a' + j % 26, sizeof(v));
        if (cursor) {
            if (i)
                assert_int_equal(sop_cursor_next(c), 0);
            assert_int_equal(sop_cursor_key(c, &pk, &pkl), 0);
            assert_int_equal(sop_cursor_value(c, &pv, &pvl), 0);
            /* both of the current item's pointers hold together */
            assert_int_equal(pkl, strlen(k));
            assert_memory_equal(pk, k, pkl);
        } else {
            assert_int_equal(sop_get(s, k, strlen(k), &pv, &pvl), 0);
        }
        assert_int_equal(pvl, sizeof(v));
        assert_memory_equal(pv, v, pvl);
        if (i % 500 == 0) {
            assert_int_equal(sop_db_get_stats(db, &st), 0);
            if (st.cache_bytes > peak)
                peak = st.cache_bytes;
        }
    }
    if (c)
        sop_cursor_close(c);
    assert_int_equal(sop_txn_commit(t), 0);
    return peak;
}

static void nopin_readers_stay_within_the_cache(void **st)
{
    (void)st;
    sop_db_options o = {.cache_bytes = 512u << 10};
    sop_db *db = NULL;
    assert_int_equal(sop_db_open(tl_dir, &o, &db), 0);
    sop_txn *t;
    char k[32], v[200];
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    sop_store *s = mk(t, "big", 0, true, true);
    for (int i = 0; i < 20000; i++) {
        snprintf(k, sizeof(k), "key%06d", i);
        memset(v, 'a' + i % 26, sizeof(v));
        assert_int_equal(sop_add(s, k, strlen(k), v, sizeof(v)), 0);
    }
    assert_int_equal(sop_txn_commit(t), 0);
    /* about 4.4 MB of items against a cache of 512 KiB */
    uint64_t budget = o.cache_bytes, slack = 128u << 10; /* a leaf or two */
    uint64_t pinned = read_all(db, SOP_TXN_READ, false);
    assert_true(pinned > 2 * budget);
    uint64_t got = read_all(db, SOP_TXN_READ | SOP_TXN_NOPIN, false);
    assert_true(got <= budget + slack);
    pinned = read_all(db, SOP_TXN_READ, true);
    assert_true(pinned > 2 * budget);
    got = read_all(db, SOP_TXN_READ | SOP_TXN_NOPIN, true);
    assert_true(got <= budget + slack);
    /* a writer may use it too, and its pointers still live to the next read */
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE | SOP_TXN_NOPIN, &t), 0);
    s = tl_open_store(t, "big");
    const void *p;
    size_t pl;
    assert_int_equal(sop_get(s, "key000001", 9, &p, &pl), 0);
    assert_int_equal(sop_update(s, "key000002", 9, "two", 3), 0);
    expect(s, "key000002", "two");
    assert_int_equal(sop_txn_commit(t), 0);
    sop_db_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(crud_commit_and_reopen, tl_dir_setup, tl_dir_teardown),
        cmocka_unit_test_setup_teardown(rollback_leaves_nothing, tl_dir_setup, tl_dir_teardown),
        cmocka_unit_test_setup_teardown(same_key_conflicts_disjoint_keys_commit, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(reads_and_ranges_are_validated, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(snapshot_isolation, tl_dir_setup, tl_dir_teardown),
        cmocka_unit_test_setup_teardown(max_age_rolls_back_unless_noage, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(stats_count_what_happens, tl_dir_setup, tl_dir_teardown),
        cmocka_unit_test_setup_teardown(big_values_stream, tl_dir_setup, tl_dir_teardown),
        cmocka_unit_test_setup_teardown(stores_create_drop_list, tl_dir_setup, tl_dir_teardown),
        cmocka_unit_test_setup_teardown(huge_sparse_values_cost_what_they_store, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(merges_commute_and_pass_readers, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(value_segments_come_and_go_whole, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(cursor_walk_survives_its_own_changes, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(move_keeps_big_values_without_copying, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(nopin_readers_stay_within_the_cache, tl_dir_setup,
                                        tl_dir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
