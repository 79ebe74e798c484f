/*
 * test_reclaim.c - the segment cleaner (engine/reclaim.c): space comes back
 * while nothing committed changes, beside running transactions, long
 * readers, kill -9, failing I/O and failing allocations.
 *
 * The databases here roll their log over at 256 KiB (instead of 64 MiB), so
 * a few hundred small commits fill many segments.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "db.h"
#include "faultlib.h"
#include "reclaim.h"
#include "sop.h"
#include "testlib.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define KEYS 600
#define SEG (256u << 10)

static struct moves tl_moves;

static void small_segments(sop_db *db)
{
    pthread_mutex_lock(&db->log.mu);
    db->log.seg_max = SEG;
    pthread_mutex_unlock(&db->log.mu);
}

static sop_db *open_at(const char *dir, const struct os_ops *os)
{
    sop_db *db;
    int rc = os ? db_open_os(dir, NULL, os, &db) : sop_db_open(dir, NULL, &db);
    if (rc)
        fail_msg("open %s: %s (%s)", dir, sop_strerror(rc), sop_open_errmsg());
    small_segments(db);
    return db;
}

/* Value of key i after round r: 150 bytes (inline), or 9000 (external:
 * two whole chunks of 4 KiB in a value segment, the tail in the log) for
 * every 10th key. */
static size_t value_of(int i, int r, char *v)
{
    size_t n = i % 10 == 0 ? 9000 : 150;
    for (size_t j = 0; j < n; j++)
        v[j] = (char)('a' + (i * 7 + r * 3 + (int)j) % 26);
    snprintf(v, n, "%d/%d:", i, r); /* tells every round apart */
    v[strlen(v)] = '.';
    return n;
}

static void key_of(int i, char *k)
{
    snprintf(k, 16, "k%05d", i);
}

static void seed(sop_db *db)
{
    sop_txn *t;
    sop_store *s;
    sop_store_options o = {.slot_length = 16, .unique = true, .chunk_size = 4096, .value_in_node = true};
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    assert_int_equal(sop_store_create(t, "s", &o, &s), 0);
    assert_int_equal(sop_txn_commit(t), 0);
}

/* Round r: every key whose index is r mod `every` gets its round-r value,
 * `per` keys a transaction. */
static int rewrite(sop_db *db, int r, int every, int per)
{
    char k[16], v[10000];
    for (int i = 0; i < KEYS;) {
        sop_txn *t;
        sop_store *s;
        int rc = sop_txn_begin(db, SOP_TXN_WRITE | SOP_TXN_NOSYNC, &t);
        if (rc)
            return rc;
        if ((rc = sop_store_open(t, "s", &s)) != 0) {
            sop_txn_rollback(t);
            return rc;
        }
        for (int n = 0; n < per && i < KEYS; i++) {
            if (i % every != r % every)
                continue;
            key_of(i, k);
            size_t vl = value_of(i, r, v);
            if ((rc = sop_upsert(s, k, strlen(k), v, vl)) != 0) {
                sop_txn_rollback(t);
                return rc;
            }
            n++;
        }
        if ((rc = sop_txn_commit(t)) != 0)
            return rc;
    }
    return 0;
}

/* Every key of store s (of transaction t) holds the value of the round in
 * want[i]; fails otherwise. */
static void verify_in(sop_txn *t, sop_store *s, const int *want)
{
    char k[16], v[10000];
    for (int i = 0; i < KEYS; i++) {
        const void *got;
        size_t gl;
        key_of(i, k);
        int rc = sop_get(s, k, strlen(k), &got, &gl);
        if (rc)
            fail_msg("key %s: %s (%s)", k, sop_strerror(rc), sop_txn_errmsg(t));
        size_t vl = value_of(i, want[i], v);
        if (gl != vl || memcmp(got, v, vl))
            fail_msg("key %s: not the value of round %d", k, want[i]);
    }
}

/* The same in a read transaction of its own. */
static void verify(sop_db *db, const int *want)
{
    sop_txn *t;
    sop_store *s;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_open(t, "s", &s), 0);
    verify_in(t, s, want);
    assert_int_equal(sop_txn_commit(t), 0);
}

static void check_clean(sop_db *db)
{
    sop_check_ops ops = {0};
    uint64_t problems = 0;
    int rc = sop_db_check(db, &ops, NULL, &problems);
    if (rc)
        fail_msg("sop_db_check: %s, %llu problems (%s)", sop_strerror(rc),
                 (unsigned long long)problems, sop_db_errmsg(db));
}

/* The data is as want says, and still is, clean, after a reopen; closes db. */
static void verify_across_reopen(sop_db *db, const int *want)
{
    verify(db, want);
    sop_db_close(db);
    db = open_at(tl_dir, NULL);
    verify(db, want);
    check_clean(db);
    sop_db_close(db);
}

/* Load, rewrite everything many times over: garbage in many segments. */
static void churn(sop_db *db, int *want, int rounds)
{
    for (int r = 1; r <= rounds; r++) {
        assert_int_equal(rewrite(db, r, 1, 50), 0);
        for (int i = 0; i < KEYS; i++)
            want[i] = r;
    }
    assert_int_equal(sop_db_sync(db), 0);
}

static void reclaim_gives_space_back_and_changes_nothing(void **state)
{
    (void)state;
    int want[KEYS] = {0};
    sop_db *db = open_at(tl_dir, NULL);
    sop_db_set_reclaim(db, 0);
    seed(db);
    churn(db, want, 12);
    sop_reclaim_info a, b;
    assert_int_equal(sop_db_reclaim_info(db, &a), 0);
    print_message("# before: %llu bytes in %u segments\n", (unsigned long long)a.log_bytes,
                  a.log_segments);
    assert_true(a.log_segments >= 6);
    assert_int_equal(sop_db_reclaim(db), 0);
    assert_int_equal(sop_db_reclaim_info(db, &b), 0);
    print_message("# log %llu bytes in %u segments -> %llu in %u (live %llu); copied %llu\n",
                  (unsigned long long)a.log_bytes, a.log_segments,
                  (unsigned long long)b.log_bytes, b.log_segments,
                  (unsigned long long)b.live_bytes, (unsigned long long)b.bytes_copied);
    assert_true(b.segments_removed > 0);
    assert_int_equal(b.waiting, 0);
    assert_true(b.log_bytes * 2 < a.log_bytes);
    verify(db, want);
    check_clean(db);
    /* the cleaned database goes on: more churn, another round, a reopen */
    churn(db, want, 3);
    assert_int_equal(sop_db_reclaim(db), 0);
    verify_across_reopen(db, want);
}

/* A transaction that changed a node before the cleaner moved that node
 * commits after it: its delta must not follow the moved-away record. */
static void a_writer_older_than_the_move_commits_after_it(void **state)
{
    (void)state;
    int want[KEYS] = {0};
    char k[16], v[10000];
    sop_db *db = open_at(tl_dir, NULL);
    sop_db_set_reclaim(db, 0);
    seed(db);
    churn(db, want, 10);
    sop_txn *t;
    sop_store *s;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    assert_int_equal(sop_store_open(t, "s", &s), 0);
    for (int i = 0; i < KEYS; i += 7) {
        key_of(i, k);
        size_t vl = value_of(i, 99, v);
        assert_int_equal(sop_upsert(s, k, strlen(k), v, vl), 0);
    }
    /* a long reader too: what it reads must stay until it ends */
    sop_txn *r;
    sop_store *rs;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &r), 0);
    assert_int_equal(sop_store_open(r, "s", &rs), 0);
    assert_int_equal(sop_db_reclaim(db), 0);
    sop_reclaim_info info;
    assert_int_equal(sop_db_reclaim_info(db, &info), 0);
    assert_true(info.waiting > 0); /* the reader holds them */
    int rc = sop_txn_commit(t);
    if (rc)
        fail_msg("commit: %s (%s)", sop_strerror(rc), sop_db_errmsg(db));
    for (int i = 0; i < KEYS; i += 7)
        want[i] = 99;
    /* the reader still sees round 10 everywhere, from the old segments */
    int ten[KEYS];
    for (int i = 0; i < KEYS; i++)
        ten[i] = 10;
    verify_in(r, rs, ten);
    sop_txn_rollback(r); /* (its commit would conflict: t changed what it read) */
    assert_int_equal(sop_db_reclaim(db), 0);
    assert_int_equal(sop_db_reclaim_info(db, &info), 0);
    assert_int_equal(info.waiting, 0);
    verify_across_reopen(db, want);
}

/* The copies come before the space they free: on a disk whose free space
 * is under half the reserve, a round copies nothing; with room, it cleans. */
static void a_nearly_full_disk_keeps_half_the_reserve(void **state)
{
    (void)state;
    int want[KEYS] = {0};
    struct fault_os f;
    fault_os_init(&f);
    sop_db *db = open_at(tl_dir, &f.ops);
    sop_db_set_reclaim(db, 0);
    seed(db);
    churn(db, want, 10);
    sop_reclaim_info a, b;
    assert_int_equal(sop_db_reclaim_info(db, &a), 0);
    f.space_set = true;
    f.space_total = 1ull << 30; /* a reserve of 32 MiB: half of it is 16 */
    f.space_avail = 15ull << 20;
    assert_int_equal(sop_db_reclaim(db), 0);
    assert_int_equal(sop_db_reclaim_info(db, &b), 0);
    /* segments with nothing live went (that needs no room), nothing was copied */
    assert_int_equal(b.bytes_copied, a.bytes_copied);
    assert_true(b.log_segments <= a.log_segments);
    f.space_avail = 600ull << 20;
    sop_reclaim_info c;
    assert_int_equal(sop_db_reclaim(db), 0);
    assert_int_equal(sop_db_reclaim_info(db, &c), 0);
    print_message("# segments %u, %u with 15 MiB free, %u with 600 MiB\n", a.log_segments,
                  b.log_segments, c.log_segments);
    assert_true(c.bytes_copied > b.bytes_copied);
    assert_true(c.log_segments < b.log_segments);
    verify(db, want);
    sop_db_close(db);
}

/* Big values rewritten in part: the value segment of their first write
 * stays a quarter live; the cleaner moves that quarter and removes it. */
static void partly_rewritten_values_give_their_segments_back(void **state)
{
    (void)state;
    enum { NV = 8, CH = 4096, NCH = 16 };
    static uint8_t want[NV][NCH * CH], got[NCH * CH];
    sop_db *db = open_at(tl_dir, NULL);
    sop_db_set_reclaim(db, 0);
    sop_txn *t;
    sop_store *s;
    sop_store_options o = {.slot_length = 16, .unique = true, .chunk_size = CH};
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    assert_int_equal(sop_store_create(t, "big", &o, &s), 0);
    for (int v = 0; v < NV; v++) {
        char k[16];
        snprintf(k, sizeof(k), "v%d", v);
        memset(want[v], 'A' + v, sizeof(want[v]));
        assert_int_equal(sop_value_write(s, k, strlen(k), 0, want[v], sizeof(want[v])), 0);
    }
    assert_int_equal(sop_txn_commit(t), 0);
    sop_db_space sp0, sp1, sp2;
    assert_int_equal(sop_db_get_space(db, &sp0), 0);
    /* each later transaction rewrites whole chunks 0..11 of every value */
    for (int r = 0; r < 3; r++) {
        assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
        assert_int_equal(sop_store_open(t, "big", &s), 0);
        for (int v = 0; v < NV; v++) {
            char k[16];
            snprintf(k, sizeof(k), "v%d", v);
            memset(want[v], 'a' + r, 12 * CH);
            assert_int_equal(sop_value_write(s, k, strlen(k), 0, want[v], 12 * CH), 0);
        }
        assert_int_equal(sop_txn_commit(t), 0);
    }
    assert_int_equal(sop_db_sync(db), 0);
    assert_int_equal(sop_db_get_space(db, &sp1), 0);
    assert_int_equal(sop_db_reclaim(db), 0);
    assert_int_equal(sop_db_get_space(db, &sp2), 0);
    print_message("# value segments: %llu after the first write, %llu after the rewrites, "
                  "%llu after a round\n",
                  (unsigned long long)sp0.value_segments, (unsigned long long)sp1.value_segments,
                  (unsigned long long)sp2.value_segments);
    assert_true(sp2.value_segments < sp1.value_segments);
    for (int pass = 0; pass < 2; pass++) {
        assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
        assert_int_equal(sop_store_open(t, "big", &s), 0);
        for (int v = 0; v < NV; v++) {
            char k[16];
            size_t n;
            snprintf(k, sizeof(k), "v%d", v);
            assert_int_equal(sop_value_read(s, k, strlen(k), 0, got, sizeof(got), &n), 0);
            assert_int_equal(n, sizeof(got));
            assert_memory_equal(got, want[v], sizeof(got));
        }
        assert_int_equal(sop_txn_commit(t), 0);
        sop_db_close(db);
        db = open_at(tl_dir, NULL);
    }
    check_clean(db);
    sop_db_close(db);
}

/* The records of value segments, for the moves of a reclaim round. */
static int collect_chunks(const struct rkey *k, const struct rver *v, void *arg)
{
    sop_db *db = arg;
    if (v->dead || !blob_is_vseg(&db->log, v->loc.seg))
        return 0;
    return moves_add(&tl_moves, k, &v->loc);
}

static void collect_value_moves(sop_db *db)
{
    moves_free(&tl_moves);
    pthread_rwlock_rdlock(&db->lock);
    assert_int_equal(reg_foreach_ver(&db->reg, collect_chunks, db), 0);
    pthread_rwlock_unlock(&db->lock);
}

static void write_value(sop_db *db, const char *k, int fill, size_t n)
{
    static uint8_t v[16 << 10];
    sop_txn *t;
    sop_store *s;
    assert_true(n <= sizeof(v));
    memset(v, fill, n);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    assert_int_equal(sop_store_open(t, "big", &s), 0);
    assert_int_equal(sop_value_write(s, k, strlen(k), 0, v, n), 0);
    assert_int_equal(sop_txn_commit(t), 0);
}

/* The cleaner holds no snapshot while it copies: a value rewritten after
 * the round collected its chunks may lose its segment (it goes with its
 * last chunk) before they are read.  Such a chunk is skipped; a chunk still
 * live whose segment is missing is corruption. */
static void a_chunk_superseded_before_its_copy_is_skipped(void **state)
{
    (void)state;
    sop_db *db = open_at(tl_dir, NULL);
    sop_db_set_reclaim(db, 0);
    sop_txn *t;
    sop_store *s;
    sop_store_options o = {.slot_length = 16, .unique = true, .chunk_size = 4096};
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    assert_int_equal(sop_store_create(t, "big", &o, &s), 0);
    assert_int_equal(sop_txn_commit(t), 0);
    write_value(db, "v", 'a', 16 << 10);
    collect_value_moves(db);
    assert_true(tl_moves.n >= 4);
    uint32_t old_seg = tl_moves.v[0].from.seg;
    write_value(db, "v", 'b', 16 << 10); /* every chunk of the old value dies */
    assert_false(blob_is_vseg(&db->log, old_seg));
    assert_int_equal(reclaim_copy(db, &tl_moves, 0, tl_moves.n), 0);
    for (size_t i = 0; i < tl_moves.n; i++) {
        assert_true(tl_moves.v[i].gone);
        assert_int_equal(tl_moves.v[i].to.seg, 0);
    }
    /* the same chunks, still live, in a segment that went: corruption */
    collect_value_moves(db);
    assert_true(tl_moves.n >= 4);
    assert_int_equal(blob_vseg_drop(&db->log, tl_moves.v[0].from.seg), 0);
    assert_int_equal(reclaim_copy(db, &tl_moves, 0, tl_moves.n), SOP_ECORRUPT);
    assert_non_null(strstr(sop_db_errmsg(db), "segment is missing"));
    moves_free(&tl_moves);
    sop_db_close(db);
}

struct cleaner {
    sop_db *db;
    volatile int stop;
    int rounds, err;
};

static void *cleaner_main(void *arg)
{
    struct cleaner *c = arg;
    while (!c->stop) {
        int rc = sop_db_reclaim(c->db);
        if (rc && rc != SOP_ECONFLICT) {
            print_message("# cleaner: %s\n", sop_db_errmsg(c->db));
            c->err = rc;
            break;
        }
        c->rounds++;
        usleep(2000);
    }
    return NULL;
}

static void writers_and_the_cleaner_run_together(void **state)
{
    (void)state;
    int want[KEYS] = {0};
    sop_db *db = open_at(tl_dir, NULL);
    seed(db);
    churn(db, want, 2);
    struct cleaner c = {.db = db};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, cleaner_main, &c), 0);
    for (int r = 3; r < 40; r++) {
        int rc = rewrite(db, r, 3, 20);
        if (rc)
            print_message("# round %d: %s\n", r, sop_db_errmsg(db));
        assert_int_equal(rc, 0);
        for (int i = 0; i < KEYS; i++)
            if (i % 3 == r % 3)
                want[i] = r;
        if (r % 5 == 0)
            verify(db, want);
    }
    c.stop = 1;
    pthread_join(th, NULL);
    assert_int_equal(c.err, 0);
    print_message("# %d cleaning rounds beside 37 rewrite rounds\n", c.rounds);
    assert_true(c.rounds > 0);
    verify(db, want);
    check_clean(db);
    sop_db_close(db);
    db = open_at(tl_dir, NULL);
    verify(db, want);
    check_clean(db);
    sop_db_close(db);
}

/* The data as it is now, as a model: the round of each key. */
static void read_model(sop_db *db, int *want, int max_round)
{
    sop_txn *t;
    sop_store *s;
    char k[16], v[10000];
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_open(t, "s", &s), 0);
    for (int i = 0; i < KEYS; i++) {
        const void *got;
        size_t gl;
        key_of(i, k);
        assert_int_equal(sop_get(s, k, strlen(k), &got, &gl), 0);
        want[i] = -1;
        for (int r = 0; r <= max_round && want[i] < 0; r++) {
            size_t vl = value_of(i, r, v);
            if (gl == vl && !memcmp(got, v, vl))
                want[i] = r;
        }
        if (want[i] < 0)
            fail_msg("key %s holds no round's value", k);
    }
    assert_int_equal(sop_txn_commit(t), 0);
}

/* kill -9 while the cleaner copies, commits, checkpoints and removes:
 * every round the child reported durable is there, nothing else changed. */
static void kill_during_reclaim_loses_nothing(void **state)
{
    (void)state;
    uint64_t rs = tl_seed("kill_during_reclaim");
    int want[KEYS] = {0};
    sop_db *db = open_at(tl_dir, NULL);
    seed(db);
    churn(db, want, 4);
    sop_db_close(db);
    int base = 4;
    for (int round = 0; round < 10; round++) {
        int fd[2];
        assert_int_equal(pipe(fd), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(fd[0]);
            sop_db *cdb = open_at(tl_dir, NULL);
            for (int r = base + 1;; r++) {
                if (rewrite(cdb, r, 1, 60) || sop_db_sync(cdb))
                    _exit(2);
                if (write(fd[1], &r, sizeof(r)) != sizeof(r))
                    _exit(3);
                if (r % 2 == 0 && sop_db_reclaim(cdb))
                    _exit(4);
            }
        }
        close(fd[1]);
        int acked = base, r;
        /* let it get some rounds and cleanings in, then kill it anywhere */
        int target = 2 + (int)(tl_rand(&rs) % 4);
        for (int n = 0; n < target && read(fd[0], &r, sizeof(r)) == sizeof(r); n++)
            acked = r;
        usleep((useconds_t)(tl_rand(&rs) % 40000));
        kill(pid, SIGKILL);
        while (read(fd[0], &r, sizeof(r)) == sizeof(r))
            acked = r;
        int st;
        waitpid(pid, &st, 0);
        close(fd[0]);
        assert_true(WIFSIGNALED(st));
        db = open_at(tl_dir, NULL);
        int got[KEYS];
        read_model(db, got, acked + 1);
        /* every key holds the last acknowledged round, or the one after it
         * if that one's transactions were partly durable */
        for (int i = 0; i < KEYS; i++)
            if (got[i] != acked && got[i] != acked + 1)
                fail_msg("round %d: key %d holds round %d, acknowledged %d", round, i, got[i],
                         acked);
        check_clean(db);
        /* the next child starts from the data as it is: round acked+1 may
         * be partly there, so it rewrites from acked+2 */
        base = acked + 1;
        sop_db_close(db);
    }
}

/* Fail the nth I/O of a cleaning round, for n = 1, 2, ...: the data never
 * changes, and a later round (after a reopen) still cleans. */
static void failed_io_during_reclaim_changes_nothing(void **state)
{
    (void)state;
    int want[KEYS] = {0};
    sop_db *db = open_at(tl_dir, NULL);
    sop_db_set_reclaim(db, 0);
    seed(db);
    churn(db, want, 6);
    sop_db_close(db);
    int fired = 1, nth;
    for (nth = 1; fired && nth < 400; nth += nth < 40 ? 1 : 7) {
        struct fault_os f;
        fault_os_init(&f);
        db = open_at(tl_dir, &f.ops);
        sop_db_set_reclaim(db, 0);
        assert_int_equal(rewrite(db, 100 + nth, 5, 60), 0);
        for (int i = 0; i < KEYS; i++)
            if (i % 5 == (100 + nth) % 5)
                want[i] = 100 + nth;
        assert_int_equal(sop_db_sync(db), 0);
        fault_os_arm(&f, FK_WRITE | FK_FSYNC | FK_RENAME | FK_TRUNC | FK_READ, nth, EIO, 0);
        int rc = sop_db_reclaim(db);
        fired = f.fired;
        fault_os_arm(&f, 0, 0, 0, 0);
        assert_true(rc == 0 || fired);
        sop_db_close(db);
        db = open_at(tl_dir, NULL);
        sop_db_set_reclaim(db, 0);
        verify(db, want);
        sop_db_close(db);
    }
    print_message("# %d failure points\n", nth);
    db = open_at(tl_dir, NULL);
    sop_db_set_reclaim(db, 0);
    assert_int_equal(sop_db_reclaim(db), 0);
    verify(db, want);
    check_clean(db);
    sop_db_close(db);
}

/* Fail the nth allocation of a cleaning round: an error or a success, the
 * data unchanged, nothing leaked (ASan). */
static void failed_allocation_during_reclaim_changes_nothing(void **state)
{
    (void)state;
    int want[KEYS] = {0};
    sop_db *db = open_at(tl_dir, NULL);
    sop_db_set_reclaim(db, 0);
    seed(db);
    churn(db, want, 4);
    int fired = 1;
    long nth;
    for (nth = 1; fired && nth < 5000; nth += nth < 100 ? 1 : 37) {
        assert_int_equal(rewrite(db, 200 + (int)nth, 7, 60), 0);
        for (int i = 0; i < KEYS; i++)
            if (i % 7 == (200 + nth) % 7)
                want[i] = 200 + (int)nth;
        fault_mem_arm(nth, 0);
        int rc = sop_db_reclaim(db);
        fired = fault_mem_disarm();
        assert_true(rc == 0 || fired);
        verify(db, want);
    }
    print_message("# %ld allocation failure points\n", nth);
    sop_db_close(db);
    db = open_at(tl_dir, NULL);
    verify(db, want);
    check_clean(db);
    sop_db_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(reclaim_gives_space_back_and_changes_nothing,
                                        tl_dir_setup, tl_dir_teardown),
        cmocka_unit_test_setup_teardown(a_writer_older_than_the_move_commits_after_it,
                                        tl_dir_setup, tl_dir_teardown),
        cmocka_unit_test_setup_teardown(a_nearly_full_disk_keeps_half_the_reserve, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(partly_rewritten_values_give_their_segments_back,
                                        tl_dir_setup, tl_dir_teardown),
        cmocka_unit_test_setup_teardown(a_chunk_superseded_before_its_copy_is_skipped,
                                        tl_dir_setup, tl_dir_teardown),
        cmocka_unit_test_setup_teardown(writers_and_the_cleaner_run_together, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(kill_during_reclaim_loses_nothing, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(failed_io_during_reclaim_changes_nothing, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(failed_allocation_during_reclaim_changes_nothing,
                                        tl_dir_setup, tl_dir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
