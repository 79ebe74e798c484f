/*
 * test_concurrency.c - transactions side by side, in one thread and from
 * several: no lost update, disjoint writes both commit, the same key
 * conflicts, what a transaction read (a key, a key found absent, a range a
 * cursor walked) is validated at commit, and a bank of accounts keeps its
 * total under concurrent transfers while readers sum it.
 *
 * Threads never call cmocka's assertions (they longjmp); they record the
 * first failure in `bad`, which the main thread checks after joining.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sop.h"
#include "testlib.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ thread failures */

static struct {
    pthread_mutex_t mu;
    bool failed;
    char msg[512];
} bad = {PTHREAD_MUTEX_INITIALIZER, false, ""};

static void tfail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void tfail(const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&bad.mu);
    if (!bad.failed) {
        va_start(ap, fmt);
        vsnprintf(bad.msg, sizeof(bad.msg), fmt, ap);
        va_end(ap);
        bad.failed = true;
    }
    pthread_mutex_unlock(&bad.mu);
}

static bool any_failed(void)
{
    pthread_mutex_lock(&bad.mu);
    bool f = bad.failed;
    pthread_mutex_unlock(&bad.mu);
    return f;
}

static void check_threads(void)
{
    if (bad.failed)
        fail_msg("%s", bad.msg);
}

static void reset_threads(void)
{
    bad.failed = false;
    bad.msg[0] = 0;
}

/* In a thread: record and leave through `out`. */
#define TCHECK(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            tfail(__VA_ARGS__);                                                                    \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

/* ------------------------------------------------------------ helpers */

static void put_u64(uint8_t *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const void *p)
{
    const uint8_t *b = p;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

static void expect_str(sop_store *s, const char *k, const char *v)
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

static sop_store *create(sop_txn *t, const char *name, uint32_t slot)
{
    sop_store *s;
    sop_store_options o = {.slot_length = slot, .unique = true, .value_in_node = true};
    assert_int_equal(sop_store_create(t, name, &o, &s), 0);
    return s;
}

static void put_str(sop_store *s, const char *k, const char *v)
{
    assert_int_equal(sop_upsert(s, k, strlen(k), v, strlen(v)), 0);
}

/* ------------------------------------------------------------ (a) counter */

struct counter_arg {
    sop_db *db;
    int id;
    uint64_t want;     /* successful increments to make */
    uint64_t deadline; /* tl_now_ns() bound */
    uint64_t ok, conflicts;
    uint64_t *wrote; /* the value each successful commit wrote */
};

static void *counter_thread(void *p)
{
    struct counter_arg *a = p;
    sop_txn *t = NULL;
    while (a->ok < a->want && !any_failed()) {
        TCHECK(tl_now_ns() < a->deadline, "counter thread %d: out of time after %llu commits",
               a->id, (unsigned long long)a->ok);
        sop_store *s;
        const void *v;
        size_t vl;
        uint8_t nb[8];
        int mode = SOP_TXN_WRITE | ((a->ok + a->conflicts) % 2 ? SOP_TXN_NOSYNC : 0);
        int rc = sop_txn_begin(a->db, mode, &t);
        TCHECK(rc == 0, "begin: %s", sop_strerror(rc));
        rc = sop_store_open(t, "ctr", &s);
        TCHECK(rc == 0, "store_open: %s", sop_strerror(rc));
        rc = sop_get(s, "counter", 7, &v, &vl);
        TCHECK(rc == 0 && vl == 8, "get counter: %s, %zu bytes", sop_strerror(rc), vl);
        uint64_t next = get_u64(v) + 1;
        put_u64(nb, next);
        rc = sop_update(s, "counter", 7, nb, 8);
        TCHECK(rc == 0, "update counter: %s", sop_strerror(rc));
        rc = sop_txn_commit(t);
        t = NULL;
        if (rc == SOP_ECONFLICT) {
            a->conflicts++;
            continue;
        }
        TCHECK(rc == 0, "commit: %s", sop_strerror(rc));
        a->wrote[a->ok++] = next;
    }
out:
    sop_txn_rollback(t);
    return NULL;
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

static void counter_increments_lose_no_update(void **state)
{
    (void)state;
    enum { NT = 4 };
    uint64_t per = (uint64_t)(250 * tl_scale());
    sop_db *db = tl_open_db();
    sop_txn *t;
    sop_store *s;
    uint8_t zero[8] = {0};
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    s = create(t, "ctr", 0);
    assert_int_equal(sop_add(s, "counter", 7, zero, 8), 0);
    assert_int_equal(sop_txn_commit(t), 0);

    reset_threads();
    struct counter_arg a[NT];
    pthread_t th[NT];
    uint64_t deadline = tl_now_ns() + (uint64_t)(120e9 * tl_scale());
    for (int i = 0; i < NT; i++) {
        a[i] = (struct counter_arg){.db = db, .id = i, .want = per, .deadline = deadline};
        a[i].wrote = calloc(per, sizeof(uint64_t));
        assert_non_null(a[i].wrote);
        assert_int_equal(pthread_create(&th[i], NULL, counter_thread, &a[i]), 0);
    }
    for (int i = 0; i < NT; i++)
        pthread_join(th[i], NULL);
    check_threads();

    uint64_t total = 0, conflicts = 0;
    for (int i = 0; i < NT; i++) {
        total += a[i].ok;
        conflicts += a[i].conflicts;
    }
    print_message("# counter: %llu commits, %llu conflicts retried\n", (unsigned long long)total,
                  (unsigned long long)conflicts);
    /* every successful commit wrote a different value: 1..total */
    uint64_t *all = calloc(total, sizeof(uint64_t)), n = 0;
    assert_non_null(all);
    for (int i = 0; i < NT; i++) {
        memcpy(all + n, a[i].wrote, a[i].ok * sizeof(uint64_t));
        n += a[i].ok;
        free(a[i].wrote);
    }
    qsort(all, n, sizeof(uint64_t), cmp_u64);
    for (uint64_t i = 0; i < n; i++)
        if (all[i] != i + 1)
            fail_msg("commit %llu of %llu wrote %llu: two commits saw the same counter",
                     (unsigned long long)i, (unsigned long long)n, (unsigned long long)all[i]);
    free(all);

    const void *v;
    size_t vl;
    sop_db_close(db);
    db = tl_open_db();
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    s = tl_open_store(t, "ctr");
    assert_int_equal(sop_get(s, "counter", 7, &v, &vl), 0);
    assert_int_equal(vl, 8);
    assert_int_equal(get_u64(v), total);
    assert_int_equal(total, NT * per);
    assert_int_equal(sop_txn_commit(t), 0);
    sop_db_close(db);
}

/* ------------------------------------------------------------ (b) disjoint keys */

static void disjoint_keys_of_one_leaf_both_commit(void **state)
{
    (void)state;
    sop_db *db = tl_open_db();
    sop_txn *t, *a, *b;
    sop_store *s, *sa, *sb;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    s = create(t, "small", 0);
    for (char c = 'a'; c <= 'e'; c++) {
        char k[2] = {c, 0};
        put_str(s, k, "0");
    }
    s = create(t, "tiny", 4);
    put_str(s, "k10", "0");
    put_str(s, "k20", "0");
    put_str(s, "k30", "0");
    assert_int_equal(sop_txn_commit(t), 0);

    /* updates, an add and a remove of different keys in one leaf */
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &a), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &b), 0);
    sa = tl_open_store(a, "small");
    sb = tl_open_store(b, "small");
    assert_int_equal(sop_update(sa, "a", 1, "A", 1), 0);
    assert_int_equal(sop_add(sa, "f", 1, "F", 1), 0);
    assert_int_equal(sop_update(sb, "b", 1, "B", 1), 0);
    assert_int_equal(sop_remove(sb, "c", 1), 0);
    assert_int_equal(sop_add(sb, "g", 1, "G", 1), 0);
    assert_int_equal(sop_txn_commit(a), 0);
    assert_int_equal(sop_txn_commit(b), 0);

    /* both split the same slot-4 leaf with different keys */
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &a), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &b), 0);
    sa = tl_open_store(a, "tiny");
    sb = tl_open_store(b, "tiny");
    put_str(sa, "k11", "a");
    put_str(sa, "k12", "a");
    put_str(sa, "k13", "a");
    put_str(sb, "k21", "b");
    put_str(sb, "k22", "b");
    put_str(sb, "k23", "b");
    put_str(sb, "k31", "b");
    assert_int_equal(sop_txn_commit(b), 0);
    assert_int_equal(sop_txn_commit(a), 0);

    sop_db_close(db);
    db = tl_open_db();
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    s = tl_open_store(t, "small");
    expect_str(s, "a", "A");
    expect_str(s, "b", "B");
    expect_str(s, "c", NULL);
    expect_str(s, "d", "0");
    expect_str(s, "f", "F");
    expect_str(s, "g", "G");
    s = tl_open_store(t, "tiny");
    static const char *const order[] = {"k10", "k11", "k12", "k13", "k20",
                                        "k21", "k22", "k23", "k30", "k31"};
    sop_cursor *c;
    assert_int_equal(sop_cursor_open(s, &c), 0);
    int rc = sop_cursor_first(c);
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        const void *k;
        size_t kl;
        assert_int_equal(rc, 0);
        assert_int_equal(sop_cursor_key(c, &k, &kl), 0);
        assert_int_equal(kl, 3);
        assert_memory_equal(k, order[i], 3);
        rc = sop_cursor_next(c);
    }
    assert_int_equal(rc, SOP_ENOTFOUND);
    sop_cursor_close(c);
    uint64_t n;
    assert_int_equal(sop_store_count(s, &n), 0);
    assert_int_equal(n, 10);
    assert_int_equal(sop_txn_commit(t), 0);
    sop_db_close(db);
}

struct own_arg {
    sop_db *db;
    int id, rounds;
    int ok;
};

/* Blind writes to this thread's own keys only: nothing to conflict with. */
static void *own_keys_thread(void *p)
{
    struct own_arg *a = p;
    sop_txn *t = NULL;
    for (int r = 0; r < a->rounds && !any_failed(); r++) {
        sop_store *s;
        char k[32], v[32];
        int rc = sop_txn_begin(a->db, SOP_TXN_WRITE | SOP_TXN_NOSYNC, &t);
        TCHECK(rc == 0, "begin: %s", sop_strerror(rc));
        rc = sop_store_open(t, "shared", &s);
        TCHECK(rc == 0, "store_open: %s", sop_strerror(rc));
        for (int j = 0; j < 3; j++) {
            snprintf(k, sizeof(k), "t%d-%d", a->id, (r * 3 + j) % 7);
            snprintf(v, sizeof(v), "%d", r);
            rc = sop_upsert(s, k, strlen(k), v, strlen(v));
            TCHECK(rc == 0, "upsert: %s", sop_strerror(rc));
        }
        rc = sop_txn_commit(t);
        t = NULL;
        TCHECK(rc == 0, "thread %d round %d: commit of its own keys: %s", a->id, r,
               sop_strerror(rc));
        a->ok++;
    }
out:
    sop_txn_rollback(t);
    return NULL;
}

static void threads_writing_own_keys_never_conflict(void **state)
{
    (void)state;
    enum { NT = 4 };
    sop_db *db = tl_open_db();
    sop_txn *t;
    sop_store *s;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    create(t, "shared", 8);
    assert_int_equal(sop_txn_commit(t), 0);
    reset_threads();
    struct own_arg a[NT];
    pthread_t th[NT];
    for (int i = 0; i < NT; i++) {
        a[i] = (struct own_arg){.db = db, .id = i, .rounds = (int)(100 * tl_scale())};
        assert_int_equal(pthread_create(&th[i], NULL, own_keys_thread, &a[i]), 0);
    }
    for (int i = 0; i < NT; i++)
        pthread_join(th[i], NULL);
    check_threads();
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    s = tl_open_store(t, "shared");
    uint64_t n;
    assert_int_equal(sop_store_count(s, &n), 0);
    assert_int_equal(n, NT * 7);
    assert_int_equal(sop_txn_commit(t), 0);
    sop_db_close(db);
}

/* ------------------------------------------------------------ (c) same key */

static void same_key_later_commit_conflicts(void **state)
{
    (void)state;
    sop_db *db = tl_open_db();
    sop_txn *t, *a, *b;
    sop_store *s, *sa, *sb, *ob;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    s = create(t, "main", 0);
    put_str(s, "x", "0");
    put_str(s, "y", "0");
    create(t, "other", 0);
    assert_int_equal(sop_txn_commit(t), 0);

    /* read-modify-write of x in both; b also writes another store */
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &a), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &b), 0);
    sa = tl_open_store(a, "main");
    sb = tl_open_store(b, "main");
    ob = tl_open_store(b, "other");
    expect_str(sa, "x", "0");
    expect_str(sb, "x", "0");
    assert_int_equal(sop_update(sa, "x", 1, "a", 1), 0);
    assert_int_equal(sop_update(sb, "x", 1, "b", 1), 0);
    put_str(sb, "y", "b");
    put_str(ob, "note", "b was here");
    assert_int_equal(sop_txn_commit(a), 0);
    assert_int_equal(sop_txn_commit(b), SOP_ECONFLICT);

    /* blind writes of the same key: still the later one fails */
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &a), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &b), 0);
    sa = tl_open_store(a, "main");
    sb = tl_open_store(b, "main");
    put_str(sb, "x", "B2");
    put_str(sb, "z", "B2");
    put_str(sa, "x", "A2");
    assert_int_equal(sop_txn_commit(a), 0);
    assert_int_equal(sop_txn_commit(b), SOP_ECONFLICT);

    /* both add the same new key */
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &a), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &b), 0);
    sa = tl_open_store(a, "main");
    sb = tl_open_store(b, "main");
    assert_int_equal(sop_add(sa, "new", 3, "a", 1), 0);
    assert_int_equal(sop_add(sb, "new", 3, "b", 1), 0);
    assert_int_equal(sop_txn_commit(b), 0);
    assert_int_equal(sop_txn_commit(a), SOP_ECONFLICT);

    /* one removes what the other updates */
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &a), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &b), 0);
    sa = tl_open_store(a, "main");
    sb = tl_open_store(b, "main");
    assert_int_equal(sop_remove(sa, "y", 1), 0);
    assert_int_equal(sop_update(sb, "y", 1, "b", 1), 0);
    assert_int_equal(sop_txn_commit(a), 0);
    assert_int_equal(sop_txn_commit(b), SOP_ECONFLICT);

    sop_db_close(db);
    db = tl_open_db();
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    s = tl_open_store(t, "main");
    expect_str(s, "x", "A2");
    expect_str(s, "y", NULL);
    expect_str(s, "z", NULL);
    expect_str(s, "new", "b");
    s = tl_open_store(t, "other");
    expect_str(s, "note", NULL);
    uint64_t n;
    assert_int_equal(sop_store_count(s, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(sop_txn_commit(t), 0);
    sop_db_close(db);
}

/* ------------------------------------------------------------ (d) read sets */

enum { R_GET, R_ABSENT, R_VSIZE, R_WALK, R_SEEK_GAP, R_WALK_END, R_WALK_BACK, R_COUNT };

/* What transaction `a` reads in store r (keys k1..k9). */
static void do_read(sop_store *s, int how)
{
    const void *v;
    size_t vl;
    uint64_t n;
    sop_cursor *c;
    switch (how) {
    case R_GET:
        assert_int_equal(sop_get(s, "k5", 2, &v, &vl), 0);
        break;
    case R_ABSENT:
        assert_int_equal(sop_get(s, "k55", 3, &v, &vl), SOP_ENOTFOUND);
        break;
    case R_VSIZE:
        assert_int_equal(sop_value_size(s, "k5", 2, &n), 0);
        break;
    case R_WALK: /* k3, k4, k5, k6 */
        assert_int_equal(sop_cursor_open(s, &c), 0);
        assert_int_equal(sop_cursor_seek(c, "k3", 2), 0);
        for (int i = 0; i < 3; i++)
            assert_int_equal(sop_cursor_next(c), 0);
        sop_cursor_close(c);
        break;
    case R_SEEK_GAP: /* seek k25 lands on k3: nothing in [k25, k3) */
        assert_int_equal(sop_cursor_open(s, &c), 0);
        assert_int_equal(sop_cursor_seek(c, "k25", 3), 0);
        sop_cursor_close(c);
        break;
    case R_WALK_END: /* k7 to past the end */
        assert_int_equal(sop_cursor_open(s, &c), 0);
        assert_int_equal(sop_cursor_seek(c, "k7", 2), 0);
        assert_int_equal(sop_cursor_next(c), 0);
        assert_int_equal(sop_cursor_next(c), 0);
        assert_int_equal(sop_cursor_next(c), SOP_ENOTFOUND);
        sop_cursor_close(c);
        break;
    default: /* R_WALK_BACK: last, k9, k8, k7 */
        assert_int_equal(sop_cursor_open(s, &c), 0);
        assert_int_equal(sop_cursor_last(c), 0);
        assert_int_equal(sop_cursor_prev(c), 0);
        assert_int_equal(sop_cursor_prev(c), 0);
        sop_cursor_close(c);
        break;
    }
}

/* One case: `a` reads (how), `b` writes (op on key) and commits, then a
 * commits, expecting `want`.  `a` also writes a key of another store when
 * `a_writes`, which must be absent after a conflict. */
static void read_case(sop_db *db, int how, bool a_writes, char op, const char *key, int want)
{
    sop_txn *a, *b, *t;
    sop_store *sa, *sb, *s;
    /* fresh contents: k1..k9 and nothing else */
    static const char *const extra[] = {"k0",  "k27", "k45", "k51", "k55",
                                        "k56", "k65", "k75", "k85", "zz"};
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    s = tl_open_store(t, "r");
    for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
        int rc = sop_remove(s, extra[i], strlen(extra[i]));
        assert_true(rc == 0 || rc == SOP_ENOTFOUND);
    }
    for (int i = 1; i <= 9; i++) {
        char k[4];
        snprintf(k, sizeof(k), "k%d", i);
        put_str(s, k, "v");
    }
    assert_int_equal(sop_txn_commit(t), 0);

    assert_int_equal(sop_txn_begin(db, a_writes ? SOP_TXN_WRITE : SOP_TXN_READ, &a), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &b), 0);
    sa = tl_open_store(a, "r");
    sb = tl_open_store(b, "r");
    do_read(sa, how);
    if (a_writes)
        put_str(tl_open_store(a, "side"), "from_a", "1");
    if (op == '+')
        assert_int_equal(sop_add(sb, key, strlen(key), "new", 3), 0);
    else if (op == '-')
        assert_int_equal(sop_remove(sb, key, strlen(key)), 0);
    else
        assert_int_equal(sop_update(sb, key, strlen(key), "changed", 7), 0);
    assert_int_equal(sop_txn_commit(b), 0);
    int rc = sop_txn_commit(a);
    if (rc != want)
        fail_msg("read %d, then another commits %c%s: commit gave %d (%s), want %d (%s)", how, op,
                 key, rc, sop_strerror(rc), want, sop_strerror(want));
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    s = tl_open_store(t, "side");
    if (a_writes && want == 0)
        expect_str(s, "from_a", "1");
    else
        expect_str(s, "from_a", NULL);
    sop_remove(s, "from_a", 6);
    assert_int_equal(sop_txn_commit(t), 0);
}

static void reads_and_walked_ranges_are_validated(void **state)
{
    (void)state;
    sop_db *db = tl_open_db();
    sop_txn *t;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    create(t, "r", 4);
    create(t, "side", 0);
    assert_int_equal(sop_txn_commit(t), 0);
    for (int w = 0; w < 2; w++) {
        bool aw = w == 1; /* a read transaction, then a write one */
        /* a key read, then changed or removed by another */
        read_case(db, R_GET, aw, '=', "k5", SOP_ECONFLICT);
        read_case(db, R_GET, aw, '-', "k5", SOP_ECONFLICT);
        read_case(db, R_VSIZE, aw, '=', "k5", SOP_ECONFLICT);
        /* a key read, another key changed: fine */
        read_case(db, R_GET, aw, '=', "k6", 0);
        read_case(db, R_GET, aw, '+', "k51", 0);
        /* a key found absent, then added */
        read_case(db, R_ABSENT, aw, '+', "k55", SOP_ECONFLICT);
        read_case(db, R_ABSENT, aw, '+', "k56", 0);
        /* a walked range: phantoms, removals and changes inside it conflict */
        read_case(db, R_WALK, aw, '+', "k45", SOP_ECONFLICT);
        read_case(db, R_WALK, aw, '-', "k4", SOP_ECONFLICT);
        read_case(db, R_WALK, aw, '=', "k6", SOP_ECONFLICT);
        /* outside it: fine */
        read_case(db, R_WALK, aw, '+', "k0", 0);
        read_case(db, R_WALK, aw, '+', "k85", 0);
        read_case(db, R_WALK, aw, '=', "k9", 0);
        /* a seek saw nothing between its key and where it landed */
        read_case(db, R_SEEK_GAP, aw, '+', "k27", SOP_ECONFLICT);
        read_case(db, R_SEEK_GAP, aw, '+', "k0", 0);
        /* a walk to the end covers everything after the last key */
        read_case(db, R_WALK_END, aw, '+', "zz", SOP_ECONFLICT);
        read_case(db, R_WALK_END, aw, '+', "k0", 0);
        /* a walk backwards from the last key */
        read_case(db, R_WALK_BACK, aw, '+', "k75", SOP_ECONFLICT);
        read_case(db, R_WALK_BACK, aw, '+', "k65", 0);
    }
    sop_db_close(db);
}

/* ------------------------------------------------------------ (e) bank */

#define NACC 16
#define START 1000

struct bank {
    sop_db *db;
    volatile int stop;
    pthread_mutex_t mu;
    int running;
};

struct xfer_arg {
    struct bank *b;
    int id;
    uint64_t want, ok, conflicts, declined;
    uint64_t rng, deadline;
};

static void acct_key(char *k, int i)
{
    snprintf(k, 16, "acct%03d", i);
}

static void *transfer_thread(void *p)
{
    struct xfer_arg *a = p;
    sop_txn *t = NULL;
    while (a->ok < a->want && !any_failed()) {
        TCHECK(tl_now_ns() < a->deadline, "transfer thread %d: out of time after %llu transfers",
               a->id, (unsigned long long)a->ok);
        sop_store *acc, *logs;
        char kf[16], kt[16], lk[32], lv[64];
        const void *v;
        size_t vl;
        uint8_t nb[8];
        int from = (int)(tl_rand(&a->rng) % NACC), to = (int)(tl_rand(&a->rng) % (NACC - 1));
        if (to >= from)
            to++;
        int64_t amount = 1 + (int64_t)(tl_rand(&a->rng) % 100);
        acct_key(kf, from);
        acct_key(kt, to);
        int rc = sop_txn_begin(a->b->db, SOP_TXN_WRITE | (a->ok % 3 ? SOP_TXN_NOSYNC : 0), &t);
        TCHECK(rc == 0, "begin: %s", sop_strerror(rc));
        rc = sop_store_open(t, "accounts", &acc);
        TCHECK(rc == 0, "open accounts: %s", sop_strerror(rc));
        rc = sop_store_open(t, "logs", &logs);
        TCHECK(rc == 0, "open logs: %s", sop_strerror(rc));
        rc = sop_get(acc, kf, strlen(kf), &v, &vl);
        TCHECK(rc == 0 && vl == 8, "get %s: %s", kf, sop_strerror(rc));
        int64_t fb = (int64_t)get_u64(v);
        if (fb < amount) { /* not enough: nothing happens */
            sop_txn_rollback(t);
            t = NULL;
            a->declined++;
            continue;
        }
        put_u64(nb, (uint64_t)(fb - amount));
        rc = sop_update(acc, kf, strlen(kf), nb, 8);
        TCHECK(rc == 0, "update %s: %s", kf, sop_strerror(rc));
        rc = sop_get(acc, kt, strlen(kt), &v, &vl);
        TCHECK(rc == 0 && vl == 8, "get %s: %s", kt, sop_strerror(rc));
        put_u64(nb, get_u64(v) + (uint64_t)amount);
        rc = sop_update(acc, kt, strlen(kt), nb, 8);
        TCHECK(rc == 0, "update %s: %s", kt, sop_strerror(rc));
        snprintf(lk, sizeof(lk), "t%d-%08llu", a->id, (unsigned long long)a->ok);
        snprintf(lv, sizeof(lv), "%s->%s %lld", kf, kt, (long long)amount);
        rc = sop_upsert(logs, lk, strlen(lk), lv, strlen(lv));
        TCHECK(rc == 0, "log: %s", sop_strerror(rc));
        rc = sop_txn_commit(t);
        t = NULL;
        if (rc == SOP_ECONFLICT) {
            a->conflicts++;
            continue;
        }
        TCHECK(rc == 0, "transfer commit: %s", sop_strerror(rc));
        a->ok++;
    }
out:
    sop_txn_rollback(t);
    pthread_mutex_lock(&a->b->mu);
    a->b->running--;
    pthread_mutex_unlock(&a->b->mu);
    return NULL;
}

struct reader_arg {
    struct bank *b;
    uint64_t committed, conflicted, torn;
    uint64_t rng;
};

/* Sum every balance in one read transaction, by a cursor walk or by point
 * reads.  Returns the commit's result; *sum the total seen. */
static int sum_once(struct reader_arg *r, int64_t *sum, int *n)
{
    sop_txn *t = NULL;
    sop_store *acc;
    sop_cursor *c = NULL;
    const void *v;
    size_t vl;
    int rc = sop_txn_begin(r->b->db, SOP_TXN_READ, &t);
    *sum = 0;
    *n = 0;
    TCHECK(rc == 0, "reader begin: %s", sop_strerror(rc));
    rc = sop_store_open(t, "accounts", &acc);
    TCHECK(rc == 0, "reader open: %s", sop_strerror(rc));
    if (tl_rand(&r->rng) % 2) {
        rc = sop_cursor_open(acc, &c);
        TCHECK(rc == 0, "cursor open: %s", sop_strerror(rc));
        for (rc = sop_cursor_first(c); rc == 0; rc = sop_cursor_next(c)) {
            rc = sop_cursor_value(c, &v, &vl);
            TCHECK(rc == 0 && vl == 8, "cursor value: %s", sop_strerror(rc));
            *sum += (int64_t)get_u64(v);
            ++*n;
        }
        TCHECK(rc == SOP_ENOTFOUND, "walk: %s", sop_strerror(rc));
        sop_cursor_close(c);
    } else {
        for (int i = 0; i < NACC; i++) {
            char k[16];
            acct_key(k, i);
            rc = sop_get(acc, k, strlen(k), &v, &vl);
            TCHECK(rc == 0 && vl == 8, "reader get %s: %s", k, sop_strerror(rc));
            *sum += (int64_t)get_u64(v);
            ++*n;
        }
    }
    rc = sop_txn_commit(t);
    return rc;
out:
    sop_txn_rollback(t);
    return SOP_EINVAL;
}

static void *reader_thread(void *p)
{
    struct reader_arg *r = p;
    for (;;) {
        pthread_mutex_lock(&r->b->mu);
        int running = r->b->running;
        pthread_mutex_unlock(&r->b->mu);
        if (!running || any_failed())
            break;
        int64_t sum;
        int n;
        int rc = sum_once(r, &sum, &n);
        if (rc == 0) {
            r->committed++;
            TCHECK(sum == (int64_t)NACC * START && n == NACC,
                   "a committed read transaction saw %d accounts summing to %lld, want %d and %lld",
                   n, (long long)sum, NACC, (long long)NACC * START);
        } else {
            TCHECK(rc == SOP_ECONFLICT, "reader commit: %s", sop_strerror(rc));
            r->conflicted++;
            /* a snapshot is whole even when its validation fails later */
            if (sum != (int64_t)NACC * START || n != NACC)
                r->torn++;
        }
    }
out:
    return NULL;
}

static void bank_transfers_keep_the_total(void **state)
{
    (void)state;
    enum { NT = 4, NR = 2 };
    uint64_t seed = tl_seed("bank_transfers_keep_the_total");
    sop_db *db = tl_open_db();
    sop_txn *t;
    sop_store *s;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    s = create(t, "accounts", 4);
    for (int i = 0; i < NACC; i++) {
        char k[16];
        uint8_t b[8];
        acct_key(k, i);
        put_u64(b, START);
        assert_int_equal(sop_add(s, k, strlen(k), b, 8), 0);
    }
    sop_store_options lo = {.slot_length = 16, .unique = true, .value_in_node = true};
    assert_int_equal(sop_store_create(t, "logs", &lo, &s), 0);
    assert_int_equal(sop_txn_commit(t), 0);

    reset_threads();
    struct bank b = {.db = db, .running = NT};
    pthread_mutex_init(&b.mu, NULL);
    struct xfer_arg xa[NT];
    struct reader_arg ra[NR];
    pthread_t th[NT], rt[NR];
    uint64_t deadline = tl_now_ns() + (uint64_t)(120e9 * tl_scale());
    for (int i = 0; i < NT; i++) {
        xa[i] = (struct xfer_arg){.b = &b,
                                  .id = i,
                                  .want = (uint64_t)(300 * tl_scale()),
                                  .rng = seed * 31 + (uint64_t)i + 1,
                                  .deadline = deadline};
        assert_int_equal(pthread_create(&th[i], NULL, transfer_thread, &xa[i]), 0);
    }
    for (int i = 0; i < NR; i++) {
        ra[i] = (struct reader_arg){.b = &b, .rng = seed + 7 * (uint64_t)i + 1};
        assert_int_equal(pthread_create(&rt[i], NULL, reader_thread, &ra[i]), 0);
    }
    for (int i = 0; i < NT; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < NR; i++)
        pthread_join(rt[i], NULL);
    check_threads();

    uint64_t ok = 0, conflicts = 0, declined = 0, reads = 0, rconf = 0, torn = 0;
    for (int i = 0; i < NT; i++) {
        ok += xa[i].ok;
        conflicts += xa[i].conflicts;
        declined += xa[i].declined;
    }
    for (int i = 0; i < NR; i++) {
        reads += ra[i].committed;
        rconf += ra[i].conflicted;
        torn += ra[i].torn;
    }
    print_message("# bank: %llu transfers (%llu conflicts retried, %llu declined); readers: %llu "
                  "committed sums, %llu conflicted, %llu torn snapshots\n",
                  (unsigned long long)ok, (unsigned long long)conflicts,
                  (unsigned long long)declined, (unsigned long long)reads,
                  (unsigned long long)rconf, (unsigned long long)torn);
    assert_int_equal(torn, 0);

    /* at rest: the total, and one log per transfer */
    sop_db_close(db);
    db = tl_open_db();
    b.db = db;
    struct reader_arg fin = {.b = &b, .rng = 1};
    for (int i = 0; i < 2; i++) {
        int64_t sum;
        int n;
        assert_int_equal(sum_once(&fin, &sum, &n), 0);
        check_threads();
        assert_int_equal(n, NACC);
        assert_int_equal(sum, (int64_t)NACC * START);
    }
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    s = tl_open_store(t, "logs");
    uint64_t n;
    assert_int_equal(sop_store_count(s, &n), 0);
    assert_int_equal(n, ok);
    assert_int_equal(sop_txn_commit(t), 0);
    pthread_mutex_destroy(&b.mu);
    sop_db_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(counter_increments_lose_no_update, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(disjoint_keys_of_one_leaf_both_commit, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(threads_writing_own_keys_never_conflict, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(same_key_later_commit_conflicts, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(reads_and_walked_ranges_are_validated, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(bank_transfers_keep_the_total, tl_dir_setup,
                                        tl_dir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
