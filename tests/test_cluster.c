/*
 * test_cluster.c - clustered mode through the C API (engine/cluster.h):
 * several members (sop_db handles with one redis_url, in this process or
 * in child processes) over one folder, on a redis-server of the test's
 * own.  What one member commits the others see at their next transaction;
 * conflicts are per key, as standalone; a commit waiting for the lock
 * holds up no reader; a standalone process and members
 * refuse each other; a bank-transfer workload from three processes keeps
 * its sum and every acknowledged transfer, also when one of them is
 * killed at a random moment; a member paused past its lock's time to
 * live has its stale commit refused; Redis killed and restarted empty
 * fails commits within the bound and loses nothing; two databases in one
 * program on two Redis servers.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config.h"
#include "coord.h"
#include "db.h"
#include "redis_server.h"
#include "sop.h"
#include "testlib.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_HIREDIS
static struct tl_redis srv;
static char url[256];

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static sop_db *member(const char *dir)
{
    sop_db *db = NULL;
    sop_db_options o = {.redis_url = url};
    int rc = sop_db_open(dir, &o, &db);
    if (rc)
        fail_msg("open a member: %s: %s", sop_strerror(rc), sop_open_errmsg());
    return db;
}

static int put(sop_db *db, const char *store, const char *k, const char *v)
{
    sop_txn *t;
    sop_store *s;
    int rc = sop_txn_begin(db, SOP_TXN_WRITE, &t);
    if (rc)
        return rc;
    rc = sop_store_open(t, store, &s);
    if (rc == SOP_ENOTFOUND) {
        sop_store_options o = {0};
        rc = sop_store_create(t, store, &o, &s);
    }
    if (rc == 0)
        rc = sop_upsert(s, k, strlen(k), v, strlen(v));
    if (rc) {
        sop_txn_rollback(t);
        return rc;
    }
    return sop_txn_commit(t);
}

/* the value of k in store, into buf ("" when absent) */
static int get(sop_db *db, const char *store, const char *k, char *buf, size_t cap)
{
    sop_txn *t;
    sop_store *s;
    const void *v;
    size_t vl;
    buf[0] = 0;
    int rc = sop_txn_begin(db, SOP_TXN_READ, &t);
    if (rc)
        return rc;
    rc = sop_store_open(t, store, &s);
    if (rc == 0)
        rc = sop_get(s, k, strlen(k), &v, &vl);
    if (rc == 0)
        snprintf(buf, cap, "%.*s", (int)vl, (const char *)v);
    sop_txn_rollback(t);
    return rc;
}

static int group_setup(void **state)
{
    (void)state;
    if (!tl_redis_available()) {
        printf("# redis-server is not installed (scripts/install-deps.sh installs it)\n");
        return -1;
    }
    if (tl_redis_start(&srv) != 0)
        return -1;
    snprintf(url, sizeof(url), "%s?timeout_ms=1000&lock_ttl_ms=1000", srv.url);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    tl_redis_stop(&srv);
    return 0;
}

static int count_segments(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    assert_non_null(d);
    while ((e = readdir(d)))
        if (strlen(e->d_name) == 12 && !strcmp(e->d_name + 8, ".seg"))
            n++;
    closedir(d);
    return n;
}

static void members_see_each_others_commits(void **state)
{
    (void)state;
    char v[64];
    sop_db *a = member(tl_dir), *b = member(tl_dir);
    assert_string_equal(sop_db_id(a), sop_db_id(b));
    assert_int_equal(put(a, "s", "k1", "from a"), 0);
    assert_int_equal(get(b, "s", "k1", v, sizeof(v)), 0);
    assert_string_equal(v, "from a");
    assert_int_equal(put(b, "s", "k2", "from b"), 0);
    assert_int_equal(put(b, "s", "k1", "b again"), 0);
    assert_int_equal(get(a, "s", "k2", v, sizeof(v)), 0);
    assert_string_equal(v, "from b");
    assert_int_equal(get(a, "s", "k1", v, sizeof(v)), 0);
    assert_string_equal(v, "b again");
    sop_db_close(a);
    assert_int_equal(put(b, "s", "k3", "after a left"), 0);
    sop_db_close(b);
    /* a new member recovers it all along the claims; reading only, it
     * leaves no segment file of its own */
    int segs = count_segments(tl_dir);
    sop_db *c = member(tl_dir);
    assert_int_equal(get(c, "s", "k3", v, sizeof(v)), 0);
    assert_string_equal(v, "after a left");
    assert_int_equal(get(c, "s", "k1", v, sizeof(v)), 0);
    assert_string_equal(v, "b again");
    sop_db_close(c);
    assert_int_equal(count_segments(tl_dir), segs);
}

/* Members opening a folder that does not exist yet, all at once: one of
 * them makes it (marker, id, conversion), every one opens it. */
static void members_making_a_new_folder_at_once_all_open_it(void **state)
{
    (void)state;
    enum { KIDS = 4 };
    char dir[4200], v[32];
    snprintf(dir, sizeof(dir), "%s/new", tl_dir);
    pid_t pids[KIDS];
    for (int k = 0; k < KIDS; k++) {
        if ((pids[k] = fork()) == 0) {
            sop_db *db = NULL;
            sop_db_options o = {.redis_url = url};
            if (sop_db_open(dir, &o, &db) != 0) {
                fprintf(stderr, "# member %d: %s\n", k, sop_open_errmsg());
                _exit(2);
            }
            char key[16];
            snprintf(key, sizeof(key), "k%d", k);
            int rc;
            while ((rc = put(db, "s", key, "v")) == SOP_ECONFLICT)
                ; /* the store's creation may meet another's */
            sop_db_close(db);
            _exit(rc ? 3 : 0);
        }
    }
    for (int k = 0; k < KIDS; k++) {
        int st;
        assert_int_equal(waitpid(pids[k], &st, 0), pids[k]);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fail_msg("member %d ended with status %d", k, st);
    }
    sop_db *db = member(dir);
    for (int k = 0; k < KIDS; k++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", k);
        assert_int_equal(get(db, "s", key, v, sizeof(v)), 0);
    }
    sop_db_close(db);
}

/* A read-only open (sop stats, sop du, sop check) reads a clustered
 * folder along its claims, beside running members and without them. */
static void read_only_opens_read_along_the_claims(void **state)
{
    (void)state;
    char v[32];
    sop_db *a = member(tl_dir), *r = NULL;
    assert_int_equal(put(a, "s", "k", "1"), 0);
    assert_int_equal(put(a, "s", "k", "2"), 0);
    assert_int_equal(sop_db_open_salvage(tl_dir, &r), 0); /* beside a member */
    assert_int_equal(get(r, "s", "k", v, sizeof(v)), 0);
    assert_string_equal(v, "2");
    assert_int_equal(put(a, "s", "k", "3"), 0);
    assert_int_equal(get(r, "s", "k", v, sizeof(v)), 0); /* catches up too */
    assert_string_equal(v, "3");
    sop_txn *t;
    assert_int_equal(sop_txn_begin(r, SOP_TXN_WRITE, &t), SOP_EREADONLY);
    sop_db_close(r);
    sop_db_close(a);
    int segs = count_segments(tl_dir);
    assert_int_equal(sop_db_open_salvage(tl_dir, &r), 0); /* and with none */
    assert_int_equal(get(r, "s", "k", v, sizeof(v)), 0);
    assert_string_equal(v, "3");
    sop_db_close(r);
    assert_int_equal(count_segments(tl_dir), segs); /* it wrote nothing */
    const char *cmds[] = {"stats", "du", "check"}; /* the command line's read-only opens */
    for (int i = 0; i < 3; i++) {
        char cmd[4400];
        snprintf(cmd, sizeof(cmd), "%s/tools/sop %s '%s' >/dev/null 2>&1",
                 getenv("SOP_BUILDDIR") ? getenv("SOP_BUILDDIR") : ".", cmds[i], tl_dir);
        if (system(cmd) != 0)
            fail_msg("sop %s of a clustered folder failed", cmds[i]);
    }
}

static void conflicts_are_per_key(void **state)
{
    (void)state;
    sop_db *a = member(tl_dir), *b = member(tl_dir);
    assert_int_equal(put(a, "s", "x", "0"), 0);
    assert_int_equal(put(a, "s", "y", "0"), 0);
    sop_txn *ta, *tb;
    sop_store *sa, *sb;
    const void *v;
    size_t vl;
    /* the same key read and written by both: the second commit conflicts */
    assert_int_equal(sop_txn_begin(a, SOP_TXN_WRITE, &ta), 0);
    assert_int_equal(sop_txn_begin(b, SOP_TXN_WRITE, &tb), 0);
    assert_int_equal(sop_store_open(ta, "s", &sa), 0);
    assert_int_equal(sop_store_open(tb, "s", &sb), 0);
    assert_int_equal(sop_get(sa, "x", 1, &v, &vl), 0);
    assert_int_equal(sop_get(sb, "x", 1, &v, &vl), 0);
    assert_int_equal(sop_upsert(sa, "x", 1, "a", 1), 0);
    assert_int_equal(sop_upsert(sb, "x", 1, "b", 1), 0);
    assert_int_equal(sop_txn_commit(ta), 0);
    assert_int_equal(sop_txn_commit(tb), SOP_ECONFLICT);
    char got[16];
    assert_int_equal(get(b, "s", "x", got, sizeof(got)), 0);
    assert_string_equal(got, "a");
    /* different keys of the same store: both commit */
    assert_int_equal(sop_txn_begin(a, SOP_TXN_WRITE, &ta), 0);
    assert_int_equal(sop_txn_begin(b, SOP_TXN_WRITE, &tb), 0);
    assert_int_equal(sop_store_open(ta, "s", &sa), 0);
    assert_int_equal(sop_store_open(tb, "s", &sb), 0);
    assert_int_equal(sop_get(sa, "x", 1, &v, &vl), 0);
    assert_int_equal(sop_get(sb, "y", 1, &v, &vl), 0);
    assert_int_equal(sop_upsert(sa, "x", 1, "a2", 2), 0);
    assert_int_equal(sop_upsert(sb, "y", 1, "b2", 2), 0);
    assert_int_equal(sop_txn_commit(ta), 0);
    assert_int_equal(sop_txn_commit(tb), 0);
    assert_int_equal(get(a, "s", "y", got, sizeof(got)), 0);
    assert_string_equal(got, "b2");
    assert_int_equal(get(b, "s", "x", got, sizeof(got)), 0);
    assert_string_equal(got, "a2");
    sop_db_close(a);
    sop_db_close(b);
}

static void standalone_and_members_refuse_each_other(void **state)
{
    (void)state;
    sop_db *s = NULL, *m = NULL;
    char v[64];
    assert_int_equal(sop_db_open(tl_dir, NULL, &s), 0);
    assert_int_equal(put(s, "s", "old", "from standalone days"), 0);
    sop_db_options o = {.redis_url = url};
    assert_int_equal(sop_db_open(tl_dir, &o, &m), SOP_EBUSY);
    if (!strstr(sop_open_errmsg(), "in use by a standalone process"))
        fail_msg("the reason: %s", sop_open_errmsg());
    sop_db_close(s);
    m = member(tl_dir); /* the first member converts the folder */
    assert_int_equal(get(m, "s", "old", v, sizeof(v)), 0);
    assert_string_equal(v, "from standalone days");
    assert_int_equal(sop_db_open(tl_dir, NULL, &s), SOP_EBUSY);
    if (!strstr(sop_open_errmsg(), "is in clustered mode") ||
        !strstr(sop_open_errmsg(), "members have it open"))
        fail_msg("the reason: %s", sop_open_errmsg());
    sop_db_close(m);
    /* no member open: the folder still says it is clustered */
    assert_int_equal(sop_db_open(tl_dir, NULL, &s), SOP_EBUSY);
    if (!strstr(sop_open_errmsg(), "is in clustered mode"))
        fail_msg("the reason: %s", sop_open_errmsg());
}

/* A commit waiting for the commit lock holds up its own member's commits,
 * not its readers: a transaction's begin waits for no lock. */
struct waiting {
    sop_db *db;
    int rc;
};

static void *commit_in_thread(void *arg)
{
    struct waiting *w = arg;
    w->rc = put(w->db, "s", "late", "1");
    return NULL;
}

static void a_commit_waiting_for_the_lock_holds_up_no_reader(void **state)
{
    (void)state;
    char v[32];
    sop_db *db = member(tl_dir);
    assert_int_equal(put(db, "s", "k", "v"), 0);
    /* another member's lock, held for 1.5 s */
    struct coord *c = NULL;
    struct coord_lock l;
    assert_int_equal(coord_open(url, sop_db_id(db), &c), 0);
    assert_int_equal(coord_lock(c, "commit", 1500, 0, 0, &l), 0);
    struct waiting w = {.db = db, .rc = -1};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, commit_in_thread, &w), 0);
    sleep_ms(200); /* the commit is waiting for the lock now */
    uint64_t t0 = tl_now_ns();
    for (int i = 0; i < 20; i++)
        assert_int_equal(get(db, "s", "k", v, sizeof(v)), 0);
    double ms = (double)(tl_now_ns() - t0) / 1e6;
    if (ms > 500)
        fail_msg("20 reads took %.0f ms beside a commit waiting for the lock", ms);
    assert_int_equal(w.rc, -1); /* still waiting */
    assert_int_equal(coord_unlock(c, &l), 0);
    pthread_join(th, NULL);
    assert_int_equal(w.rc, 0);
    assert_int_equal(get(db, "s", "late", v, sizeof(v)), 0);
    coord_close(c);
    sop_db_close(db);
}

/* ------------------------------------------------------------ the bank */

enum { ACCOUNTS = 20, START = 1000 };

static void bank_open(const char *dir)
{
    sop_db *db = member(dir);
    sop_txn *t;
    sop_store *acc, *log;
    sop_store_options o = {0};
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    assert_int_equal(sop_store_create(t, "acc", &o, &acc), 0);
    assert_int_equal(sop_store_create(t, "log", &o, &log), 0);
    for (int i = 0; i < ACCOUNTS; i++) {
        char k[16], v[16];
        snprintf(k, sizeof(k), "a%02d", i);
        snprintf(v, sizeof(v), "%d", START);
        assert_int_equal(sop_add(acc, k, strlen(k), v, strlen(v)), 0);
    }
    assert_int_equal(sop_txn_commit(t), 0);
    sop_db_close(db);
}

static long num(const void *v, size_t vl)
{
    char b[32];
    snprintf(b, sizeof(b), "%.*s", (int)vl, (const char *)v);
    return strtol(b, NULL, 10);
}

/* One transfer, id `id`: 0, or the commit's error (ECONFLICT: retry). */
static int transfer(sop_db *db, const char *id, uint64_t *rng)
{
    sop_txn *t;
    sop_store *acc, *log;
    const void *v;
    size_t vl;
    int from = (int)(tl_rand(rng) % ACCOUNTS), to = (int)(tl_rand(rng) % ACCOUNTS);
    long amount = 1 + (long)(tl_rand(rng) % 10);
    if (to == from)
        to = (to + 1) % ACCOUNTS;
    int rc = sop_txn_begin(db, SOP_TXN_WRITE, &t);
    if (rc)
        return rc;
    if ((rc = sop_store_open(t, "acc", &acc)) || (rc = sop_store_open(t, "log", &log)))
        goto fail;
    char kf[16], kt[16], b[32];
    snprintf(kf, sizeof(kf), "a%02d", from);
    snprintf(kt, sizeof(kt), "a%02d", to);
    if ((rc = sop_get(acc, kf, 3, &v, &vl)) != 0)
        goto fail;
    long f = num(v, vl);
    if ((rc = sop_get(acc, kt, 3, &v, &vl)) != 0)
        goto fail;
    long g = num(v, vl);
    snprintf(b, sizeof(b), "%ld", f - amount);
    if ((rc = sop_upsert(acc, kf, 3, b, strlen(b))) != 0)
        goto fail;
    snprintf(b, sizeof(b), "%ld", g + amount);
    if ((rc = sop_upsert(acc, kt, 3, b, strlen(b))) != 0)
        goto fail;
    snprintf(b, sizeof(b), "%s>%s:%ld", kf, kt, amount);
    if ((rc = sop_add(log, id, strlen(id), b, strlen(b))) != 0)
        goto fail;
    return sop_txn_commit(t);
fail:
    sop_txn_rollback(t);
    return rc;
}

/* A child: `n` transfers (retrying conflicts), each acknowledged id written
 * to fd as a line once its commit returned 0.  Exits 0, or 2 on an error
 * other than a conflict. */
static void bank_child(const char *dir, int who, int n, int fd)
{
    sop_db *db = NULL;
    sop_db_options o = {.redis_url = url};
    if (sop_db_open(dir, &o, &db) != 0) {
        fprintf(stderr, "child %d: open: %s\n", who, sop_open_errmsg());
        _exit(2);
    }
    uint64_t rng = 0x9e3779b9u * (uint64_t)(who + 1) + (uint64_t)getpid();
    long conflicts = 0;
    for (int i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof(id), "t%d-%05d", who, i);
        int rc;
        while ((rc = transfer(db, id, &rng)) == SOP_ECONFLICT)
            conflicts++;
        if (rc) {
            fprintf(stderr, "child %d: transfer %s: %s: %s\n", who, id, sop_strerror(rc),
                    sop_db_errmsg(db));
            _exit(2);
        }
        char line[40];
        int k = snprintf(line, sizeof(line), "%s\n", id);
        if (write(fd, line, (size_t)k) != k)
            _exit(3);
    }
    char line[40];
    int k = snprintf(line, sizeof(line), "#conflicts %ld\n", conflicts);
    if (write(fd, line, (size_t)k) != k)
        _exit(3);
    sop_db_close(db);
    _exit(0);
}

struct acks {
    char (*id)[16];
    size_t n, cap;
    long conflicts;
};

static void read_acks(int fd, struct acks *a)
{
    FILE *f = fdopen(fd, "r");
    char line[64];
    assert_non_null(f);
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = 0;
        if (line[0] == '#') {
            a->conflicts += strtol(line + 11, NULL, 10);
            continue;
        }
        if (a->n == a->cap) {
            a->cap = a->cap ? a->cap * 2 : 1024;
            a->id = realloc(a->id, a->cap * sizeof(*a->id));
            assert_non_null(a->id);
        }
        snprintf(a->id[a->n++], sizeof(a->id[0]), "%s", line);
    }
    fclose(f);
}

/* The sum is what it was, and every acknowledged transfer is in the log;
 * returns how many transfers the log holds. */
static size_t bank_check(const char *dir, const struct acks *a)
{
    sop_db *db = member(dir);
    sop_txn *t;
    sop_store *acc, *log;
    const void *v;
    size_t vl;
    long sum = 0;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_open(t, "acc", &acc), 0);
    assert_int_equal(sop_store_open(t, "log", &log), 0);
    for (int i = 0; i < ACCOUNTS; i++) {
        char k[16];
        snprintf(k, sizeof(k), "a%02d", i);
        assert_int_equal(sop_get(acc, k, 3, &v, &vl), 0);
        sum += num(v, vl);
    }
    if (sum != (long)ACCOUNTS * START)
        fail_msg("the sum is %ld, not %ld", sum, (long)ACCOUNTS * START);
    for (size_t i = 0; i < a->n; i++)
        if (sop_get(log, a->id[i], strlen(a->id[i]), &v, &vl) != 0)
            fail_msg("acknowledged transfer %s is not in the log", a->id[i]);
    uint64_t n = 0;
    assert_int_equal(sop_store_count(log, &n), 0);
    sop_txn_rollback(t);
    sop_db_close(db);
    return (size_t)n;
}

static void three_members_keep_the_bank_whole(void **state)
{
    (void)state;
    enum { KIDS = 3 };
    int n = (int)(3334 * tl_scale()); /* 10,002 transfers in all */
    bank_open(tl_dir);
    int fds[KIDS][2];
    pid_t pids[KIDS];
    uint64_t t0 = tl_now_ns();
    for (int k = 0; k < KIDS; k++) {
        assert_int_equal(pipe(fds[k]), 0);
        if ((pids[k] = fork()) == 0) {
            close(fds[k][0]);
            bank_child(tl_dir, k, n, fds[k][1]);
        }
        close(fds[k][1]);
    }
    struct acks a = {0};
    for (int k = 0; k < KIDS; k++)
        read_acks(fds[k][0], &a);
    for (int k = 0; k < KIDS; k++) {
        int st;
        assert_int_equal(waitpid(pids[k], &st, 0), pids[k]);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fail_msg("child %d ended with status %d", k, st);
    }
    double secs = (double)(tl_now_ns() - t0) / 1e9;
    assert_int_equal(a.n, (size_t)KIDS * (size_t)n);
    assert_int_equal(bank_check(tl_dir, &a), a.n); /* nothing unacknowledged either */
    printf("# %zu transfers from %d members in %.1f s (%.0f/s), %ld conflicts retried\n", a.n,
           KIDS, secs, (double)a.n / secs, a.conflicts);
    assert_true(a.conflicts > 0); /* 20 accounts: they did meet */
    free(a.id);
}

/* kill -9 of one member at a random moment of the workload, ten rounds:
 * the others go on (its lock runs out after lock_ttl_ms), and the bank is
 * whole after each round, at a new member's open. */
static void a_member_killed_mid_workload_stops_nobody(void **state)
{
    (void)state;
    enum { KIDS = 3, ROUNDS = 10 };
    uint64_t seed = tl_seed("kill -9 rounds"), rng = seed;
    bank_open(tl_dir);
    struct acks a = {0};
    for (int round = 0; round < ROUNDS; round++) {
        int fds[KIDS][2];
        pid_t pids[KIDS];
        char sub[16];
        for (int k = 0; k < KIDS; k++) {
            assert_int_equal(pipe(fds[k]), 0);
            if ((pids[k] = fork()) == 0) {
                close(fds[k][0]);
                bank_child(tl_dir, round * KIDS + k, 150, fds[k][1]);
            }
            close(fds[k][1]);
        }
        (void)sub;
        int victim = (int)(tl_rand(&rng) % KIDS);
        sleep_ms(50 + (unsigned)(tl_rand(&rng) % 250));
        kill(pids[victim], SIGKILL);
        for (int k = 0; k < KIDS; k++)
            read_acks(fds[k][0], &a);
        for (int k = 0; k < KIDS; k++) {
            int st;
            assert_int_equal(waitpid(pids[k], &st, 0), pids[k]);
            if (k == victim)
                continue; /* killed, or done before the kill */
            if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                fail_msg("round %d: survivor %d ended with status %d", round, k, st);
        }
        size_t logged = bank_check(tl_dir, &a);
        /* the victim's last commit may have landed without its ack */
        assert_true(logged >= a.n && logged <= a.n + 1 + (size_t)round);
    }
    printf("# %zu acknowledged transfers over %d rounds, one member killed in each\n", a.n,
           ROUNDS);
    free(a.id);
}

/* A member stopped (SIGSTOP) inside its commit, past its lock's time to
 * live, while another member commits: once it goes on, its stale commit is
 * refused, not applied.  It stops where the os seam says (stop_at): at the
 * fsync of its batch (then the lock it lost refuses the claim) or at the
 * symlink of its claim (then the claim another member made refuses it). */
static int stop_at; /* 1: the batch's fsync, 2: the claim's symlink */
static struct os_ops stop_os;
static bool stop_armed;

static int stop_fsync(const struct os_ops *os, int fd)
{
    (void)os;
    if (stop_armed && stop_at == 1) {
        stop_armed = false;
        raise(SIGSTOP);
    }
    return os_default.fsync(&os_default, fd);
}

static int stop_symlink(const struct os_ops *os, const char *a, const char *b)
{
    (void)os;
    if (stop_armed && stop_at == 2) {
        stop_armed = false;
        raise(SIGSTOP);
    }
    return os_default.symlink(&os_default, a, b);
}

static void paused_commit(int where)
{
    bank_open(tl_dir);
    pid_t pid = fork();
    if (pid == 0) {
        stop_os = os_default;
        stop_os.fsync = stop_fsync;
        stop_os.symlink = stop_symlink;
        stop_at = where;
        sop_db *db = NULL;
        sop_db_options o = {.redis_url = url};
        if (db_open_os(tl_dir, &o, &stop_os, &db) != 0)
            _exit(10);
        sop_txn *t;
        sop_store *acc;
        if (sop_txn_begin(db, SOP_TXN_WRITE, &t) || sop_store_open(t, "acc", &acc) ||
            sop_upsert(acc, "a00", 3, "999999", 6))
            _exit(11);
        stop_armed = true;
        int rc = sop_txn_commit(t);
        const char *want = where == 1 ? "the commit lock is no longer this member's"
                                      : "was claimed by another member first";
        bool said = strstr(sop_db_errmsg(db), want) != NULL;
        fprintf(stderr, "# the stale commit: %s: %s\n", sop_strerror(rc), sop_db_errmsg(db));
        sop_db_close(db);
        _exit(rc == SOP_ECONFLICT && said ? 0 : 12);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, WUNTRACED), pid);
    assert_true(WIFSTOPPED(st));
    sleep_ms(1300); /* past lock_ttl_ms (1000): its keeper is stopped too */
    sop_db *b = member(tl_dir);
    assert_int_equal(put(b, "acc", "a01", "1000"), 0); /* takes the lock, claims the number */
    kill(pid, SIGCONT);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("the stopped member ended with status %d (0: its commit was refused)", st);
    char v[32];
    assert_int_equal(get(b, "acc", "a00", v, sizeof(v)), 0);
    assert_string_equal(v, "1000"); /* not applied */
    assert_int_equal(put(b, "acc", "a02", "1000"), 0); /* and nothing is stuck */
    sop_db_close(b);
    sop_db *c = member(tl_dir); /* nor after a reopen */
    assert_int_equal(get(c, "acc", "a00", v, sizeof(v)), 0);
    assert_string_equal(v, "1000");
    sop_db_close(c);
}

static void a_member_paused_before_its_claim_is_refused_by_its_lost_lock(void **state)
{
    (void)state;
    paused_commit(1);
}

static void a_member_paused_at_its_claim_is_refused_by_the_claim_made_first(void **state)
{
    (void)state;
    paused_commit(2);
}

/* Redis killed, then started again empty: commits fail within the bound
 * with the reason, reads go on, and once it is back everything works with
 * no reopen and nothing committed is lost. */
static void redis_lost_and_back_empty_loses_nothing(void **state)
{
    (void)state;
    char v[64];
    sop_db *a = member(tl_dir), *b = member(tl_dir);
    assert_int_equal(put(a, "s", "before", "1"), 0);
    tl_redis_kill(&srv);
    uint64_t t0 = tl_now_ns();
    assert_int_equal(put(a, "s", "during", "1"), SOP_EIO);
    double took = (double)(tl_now_ns() - t0) / 1e6;
    if (took > 3000)
        fail_msg("a commit without Redis took %.0f ms to fail (timeout_ms=1000)", took);
    char want[64];
    snprintf(want, sizeof(want), "redis 127.0.0.1:%d", srv.port);
    if (!strstr(sop_db_errmsg(a), want))
        fail_msg("the reason: %s", sop_db_errmsg(a));
    assert_int_equal(get(b, "s", "before", v, sizeof(v)), 0); /* reads need no Redis */
    assert_int_equal(get(b, "s", "during", v, sizeof(v)), SOP_ENOTFOUND);
    assert_int_equal(tl_redis_start(&srv), 0); /* the same port, empty */
    int prc = put(a, "s", "after", "1");
    if (prc)
        fail_msg("after Redis came back: %s: %s", sop_strerror(prc), sop_db_errmsg(a));
    assert_int_equal(put(b, "s", "after b", "1"), 0);
    assert_int_equal(put(a, "s", "after a", "1"), 0);
    assert_int_equal(get(b, "s", "after a", v, sizeof(v)), 0);
    sop_db_close(a);
    sop_db_close(b);
    sop_db *c = member(tl_dir);
    assert_int_equal(get(c, "s", "before", v, sizeof(v)), 0);
    assert_int_equal(get(c, "s", "after b", v, sizeof(v)), 0);
    sop_db_close(c);
}

/* Two databases in one program, each on its own Redis (the cookbook's two
 * clusters), each with two members. */
static void two_databases_on_two_redis_servers(void **state)
{
    (void)state;
    static struct tl_redis other;
    char d1[4200], d2[4200], u2[256], v[32];
    assert_int_equal(tl_redis_start(&other), 0);
    snprintf(u2, sizeof(u2), "%s?timeout_ms=1000", other.url);
    snprintf(d1, sizeof(d1), "%s/one", tl_dir);
    snprintf(d2, sizeof(d2), "%s/two", tl_dir);
    sop_db *a1 = member(d1), *b1 = member(d1), *a2 = NULL, *b2 = NULL;
    sop_db_options o = {.redis_url = u2};
    assert_int_equal(sop_db_open(d2, &o, &a2), 0);
    assert_int_equal(sop_db_open(d2, &o, &b2), 0);
    assert_string_not_equal(sop_db_id(a1), sop_db_id(a2));
    assert_int_equal(put(a1, "s", "k", "one"), 0);
    assert_int_equal(put(a2, "s", "k", "two"), 0);
    assert_int_equal(get(b1, "s", "k", v, sizeof(v)), 0);
    assert_string_equal(v, "one");
    assert_int_equal(get(b2, "s", "k", v, sizeof(v)), 0);
    assert_string_equal(v, "two");
    /* each Redis holds its own database's keys only */
    char cmd[128], ans[64];
    snprintf(cmd, sizeof(cmd), "EXISTS sop:{%s}:fence", sop_db_id(a2));
    assert_int_equal(tl_redis_cmd(&srv, cmd, ans, sizeof(ans)), 0);
    assert_string_equal(ans, ":0");
    assert_int_equal(tl_redis_cmd(&other, cmd, ans, sizeof(ans)), 0);
    assert_string_equal(ans, ":1");
    sop_db_close(a1);
    sop_db_close(b1);
    sop_db_close(a2);
    sop_db_close(b2);
    tl_redis_stop(&other);
}

#endif /* HAVE_HIREDIS */

int main(void)
{
#ifndef HAVE_HIREDIS
    printf("1..0 # SKIP this build has no hiredis: clustered mode is not built\n");
    return 0;
#else
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(members_see_each_others_commits, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(members_making_a_new_folder_at_once_all_open_it,
                                        tl_dir_setup, tl_dir_teardown),
        cmocka_unit_test_setup_teardown(conflicts_are_per_key, tl_dir_setup, tl_dir_teardown),
        cmocka_unit_test_setup_teardown(read_only_opens_read_along_the_claims, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(standalone_and_members_refuse_each_other, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(a_commit_waiting_for_the_lock_holds_up_no_reader,
                                        tl_dir_setup, tl_dir_teardown),
        cmocka_unit_test_setup_teardown(three_members_keep_the_bank_whole, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(a_member_killed_mid_workload_stops_nobody, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(
            a_member_paused_before_its_claim_is_refused_by_its_lost_lock, tl_dir_setup,
            tl_dir_teardown),
        cmocka_unit_test_setup_teardown(
            a_member_paused_at_its_claim_is_refused_by_the_claim_made_first, tl_dir_setup,
            tl_dir_teardown),
        cmocka_unit_test_setup_teardown(redis_lost_and_back_empty_loses_nothing, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(two_databases_on_two_redis_servers, tl_dir_setup,
                                        tl_dir_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
#endif
}
