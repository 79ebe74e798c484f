/*
 * test_crash.c - kill -9 in the middle of committing, many times over.
 *
 * A child process opens the database and commits bank transfers in a loop:
 * each transaction moves money between two of NACC accounts (store
 * `accounts`), adds a log record keyed by the new counter (store `logs`) and
 * advances the counter (store `meta`).  After each commit that returned 0
 * it tells the parent the counter through a pipe.  The parent kills it with
 * SIGKILL at a random point (after a random number of acknowledgements plus
 * a random delay, drawn from the seed), reopens the database (recovery) and
 * checks: the counter is the last acknowledged one or one more (a commit may
 * finish without being acknowledged), the balances still sum to the total,
 * there is exactly one log per counter value, and cursors walk both ways.
 * Odd rounds commit with SOP_TXN_NOSYNC, which must also survive the death
 * of the process.
 *
 * Other rounds kill a child that is writing a big value (several MiB,
 * chunk_size 64 KiB) it never commits: after reopen it is absent; or one
 * that is committing a big value: after reopen it is there whole, or (if
 * never acknowledged) absent, never torn.
 *
 * SOP_SEED=N repeats the kill points; SOP_TEST_SCALE=x scales the rounds.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sop.h"
#include "testlib.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NACC 20
#define START 1000
#define CHUNK (64u * 1024u)
#define BIG (6u * 1024u * 1024u) /* an uncommitted value */
#define PIECE (256u * 1024u)
#define CBIG (3u * 1024u * 1024u + 12345u) /* a committed one */

/* A record from child to parent: a counter, or an error when the top bit is
 * set (stage in the low byte, -rc above it). */
#define ERRBIT (1ull << 63)

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

/* Log keys sort by counter: big-endian. */
static void be64(uint8_t *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (56 - 8 * i));
}

static void acct_key(char *k, int i)
{
    snprintf(k, 16, "acct%02d", i);
}

/* The byte at offset i of big value `tag`. */
static uint8_t pattern(uint64_t tag, uint64_t i)
{
    uint64_t x = (i / 8 + 1) * 0x9E3779B97F4A7C15ull ^ tag * 0xC2B2AE3D27D4EB4Full;
    return (uint8_t)(x >> (8 * (i % 8)));
}

static void fill_pattern(uint8_t *b, uint64_t tag, uint64_t off, size_t n)
{
    for (size_t i = 0; i < n; i++)
        b[i] = pattern(tag, off + i);
}

/* ------------------------------------------------------------ the child */

static void tell(int fd, uint64_t v)
{
    uint8_t b[8];
    put_u64(b, v);
    ssize_t n = write(fd, b, 8);
    if (n != 8)
        _exit(5);
}

static void die(int fd, int stage, int rc)
{
    tell(fd, ERRBIT | ((uint64_t)(uint32_t)-rc << 8) | (uint64_t)stage);
    _exit(4);
}

#define CHILD_CHECK(fd, stage, expr)                                                               \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_)                                                                                   \
            die(fd, stage, rc_);                                                                   \
    } while (0)

/* Commit transfers until killed. */
static void child_bank(int fd, uint64_t seed, bool nosync)
{
    sop_db *db;
    uint64_t rng = seed;
    uint64_t t0 = tl_now_ns();
    CHILD_CHECK(fd, 1, sop_db_open(tl_dir, NULL, &db));
    for (int n = 0; n < 1000000 && tl_now_ns() - t0 < 120000000000ull; n++) {
        sop_txn *t;
        sop_store *acc, *logs, *meta;
        const void *v;
        size_t vl;
        uint8_t b[8], lk[8];
        char kf[16], kt[16];
        static uint8_t logv[6000];
        CHILD_CHECK(fd, 2, sop_txn_begin(db, SOP_TXN_WRITE | (nosync ? SOP_TXN_NOSYNC : 0), &t));
        CHILD_CHECK(fd, 3, sop_store_open(t, "accounts", &acc));
        CHILD_CHECK(fd, 4, sop_store_open(t, "logs", &logs));
        CHILD_CHECK(fd, 5, sop_store_open(t, "meta", &meta));
        CHILD_CHECK(fd, 6, sop_get(meta, "counter", 7, &v, &vl));
        uint64_t c = get_u64(v) + 1;
        int from = (int)(tl_rand(&rng) % NACC), to = (int)(tl_rand(&rng) % (NACC - 1));
        if (to >= from)
            to++;
        int64_t amount = (int64_t)(tl_rand(&rng) % 500);
        acct_key(kf, from);
        acct_key(kt, to);
        CHILD_CHECK(fd, 7, sop_get(acc, kf, strlen(kf), &v, &vl));
        put_u64(b, get_u64(v) - (uint64_t)amount);
        CHILD_CHECK(fd, 8, sop_update(acc, kf, strlen(kf), b, 8));
        CHILD_CHECK(fd, 9, sop_get(acc, kt, strlen(kt), &v, &vl));
        put_u64(b, get_u64(v) + (uint64_t)amount);
        CHILD_CHECK(fd, 10, sop_update(acc, kt, strlen(kt), b, 8));
        /* log values of many sizes, some outside the node */
        size_t ll = 16 + (size_t)(tl_rand(&rng) % (tl_rand(&rng) % 8 ? 200 : sizeof(logv) - 16));
        put_u64(logv, c);
        put_u64(logv + 8, (uint64_t)amount);
        memset(logv + 16, (int)(c & 0xff), ll - 16);
        be64(lk, c);
        CHILD_CHECK(fd, 11, sop_add(logs, lk, 8, logv, ll));
        put_u64(b, c);
        CHILD_CHECK(fd, 12, sop_update(meta, "counter", 7, b, 8));
        CHILD_CHECK(fd, 13, sop_txn_commit(t));
        tell(fd, c);
    }
    sop_db_close(db);
    _exit(0);
}

/* Write a big value piece by piece and never commit: report each piece. */
static void child_uncommitted(int fd)
{
    sop_db *db;
    sop_txn *t;
    sop_store *s;
    uint8_t *buf = malloc(PIECE);
    if (!buf)
        _exit(6);
    CHILD_CHECK(fd, 20, sop_db_open(tl_dir, NULL, &db));
    CHILD_CHECK(fd, 21, sop_txn_begin(db, SOP_TXN_WRITE, &t));
    CHILD_CHECK(fd, 22, sop_store_open(t, "media", &s));
    for (uint64_t off = 0; off < BIG; off += PIECE) {
        fill_pattern(buf, 99, off, PIECE);
        CHILD_CHECK(fd, 23, sop_value_write(s, "uncommitted", 11, off, buf, PIECE));
        tell(fd, off / PIECE + 1);
    }
    /* and rewrite it from the start, until killed */
    for (uint64_t off = 0;; off = (off + PIECE) % BIG) {
        fill_pattern(buf, 98, off, PIECE);
        CHILD_CHECK(fd, 24, sop_value_write(s, "uncommitted", 11, off, buf, PIECE));
        tell(fd, BIG / PIECE + 1 + off / PIECE);
    }
}

/* Write big value `tag` and commit it; report each piece, then the commit. */
static void child_big_commit(int fd, uint64_t tag)
{
    sop_db *db;
    sop_txn *t;
    sop_store *s;
    char k[32];
    uint8_t *buf = malloc(PIECE);
    if (!buf)
        _exit(6);
    snprintf(k, sizeof(k), "video%llu", (unsigned long long)tag);
    CHILD_CHECK(fd, 30, sop_db_open(tl_dir, NULL, &db));
    CHILD_CHECK(fd, 31, sop_txn_begin(db, SOP_TXN_WRITE, &t));
    CHILD_CHECK(fd, 32, sop_store_open(t, "media", &s));
    for (uint64_t off = 0; off < CBIG; off += PIECE) {
        size_t n = CBIG - off < PIECE ? (size_t)(CBIG - off) : PIECE;
        fill_pattern(buf, tag, off, n);
        CHILD_CHECK(fd, 33, sop_value_write(s, k, strlen(k), off, buf, n));
        tell(fd, 1);
    }
    CHILD_CHECK(fd, 34, sop_txn_commit(t));
    tell(fd, 2);
    sop_db_close(db);
    pause();
    _exit(0);
}

/* ------------------------------------------------------------ the parent */

struct feed {
    int fd;
    uint8_t part[8];
    size_t have;
    uint64_t n, last;
    bool eof;
};

/* Read what the child sent, waiting at most ms; fail on a child error. */
static void pump(struct feed *f, int ms)
{
    struct pollfd p = {.fd = f->fd, .events = POLLIN};
    int pr = poll(&p, 1, ms);
    if (pr < 0 && errno == EINTR)
        return;
    assert_true(pr >= 0);
    if (pr == 0)
        return;
    uint8_t buf[4096];
    ssize_t r = read(f->fd, buf, sizeof(buf));
    if (r < 0 && errno == EINTR)
        return;
    assert_true(r >= 0);
    if (r == 0) {
        f->eof = true;
        return;
    }
    for (ssize_t i = 0; i < r; i++) {
        f->part[f->have++] = buf[i];
        if (f->have < 8)
            continue;
        f->have = 0;
        uint64_t v = get_u64(f->part);
        if (v & ERRBIT)
            fail_msg("the child failed at stage %d: %s", (int)(v & 0xff),
                     sop_strerror(-(int)((v >> 8) & 0xffffffffu)));
        f->n++;
        f->last = v;
    }
}

typedef void (*child_fn)(int fd, uint64_t arg, bool flag);

static void run_bank(int fd, uint64_t arg, bool flag)
{
    child_bank(fd, arg, flag);
}

static void run_uncommitted(int fd, uint64_t arg, bool flag)
{
    (void)arg;
    (void)flag;
    child_uncommitted(fd);
}

static void run_big_commit(int fd, uint64_t arg, bool flag)
{
    (void)flag;
    child_big_commit(fd, arg);
}

/* Start a child, let it send `kill_after` records, wait `delay_us` more and
 * kill it; returns what it sent.  Fails if it ends on its own first. */
static struct feed fork_and_kill(child_fn fn, uint64_t arg, bool flag, uint64_t kill_after,
                                 uint64_t delay_us)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        fn(p[1], arg, flag);
        _exit(7);
    }
    close(p[1]);
    struct feed f = {.fd = p[0]};
    uint64_t deadline = tl_now_ns() + 60000000000ull;
    while (f.n < kill_after && !f.eof) {
        if (tl_now_ns() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            fail_msg("the child sent %llu of %llu records in 60 s", (unsigned long long)f.n,
                     (unsigned long long)kill_after);
        }
        pump(&f, 100);
    }
    if (!f.eof && delay_us) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)(delay_us * 1000)};
        nanosleep(&ts, NULL); /* the random kill point, not a wait for state */
    }
    kill(pid, SIGKILL);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    while (!f.eof)
        pump(&f, 1000);
    close(p[0]);
    if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
        fail_msg("the child ended by itself (status 0x%x) after %llu records", status,
                 (unsigned long long)f.n);
    return f;
}

static sop_db *reopen(void)
{
    sop_db *db = NULL;
    int rc = SOP_EBUSY;
    /* the dead child's lock is gone once it is reaped; allow the kernel a
     * bounded moment anyway */
    for (int i = 0; i < 1000 && rc == SOP_EBUSY; i++) {
        rc = sop_db_open(tl_dir, NULL, &db);
        if (rc == SOP_EBUSY) {
            struct timespec ts = {.tv_sec = 0, .tv_nsec = 1000000};
            nanosleep(&ts, NULL);
        }
    }
    if (rc)
        fail_msg("reopen after the kill: %s", sop_strerror(rc));
    return db;
}

static void create_all(void)
{
    sop_db *db;
    sop_txn *t;
    sop_store *s;
    uint8_t b[8];
    assert_int_equal(sop_db_open(tl_dir, NULL, &db), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    sop_store_options ao = {.slot_length = 8, .unique = true, .value_in_node = true};
    assert_int_equal(sop_store_create(t, "accounts", &ao, &s), 0);
    for (int i = 0; i < NACC; i++) {
        char k[16];
        acct_key(k, i);
        put_u64(b, START);
        assert_int_equal(sop_add(s, k, strlen(k), b, 8), 0);
    }
    sop_store_options lo = {.slot_length = 16, .unique = true, .value_in_node = true};
    assert_int_equal(sop_store_create(t, "logs", &lo, &s), 0);
    assert_int_equal(sop_store_create(t, "meta", &ao, &s), 0);
    put_u64(b, 0);
    assert_int_equal(sop_add(s, "counter", 7, b, 8), 0);
    sop_store_options mo = {.slot_length = 4, .unique = true, .chunk_size = CHUNK};
    assert_int_equal(sop_store_create(t, "media", &mo, &s), 0);
    /* a committed big value that every round must find intact */
    uint8_t *buf = malloc(CBIG);
    assert_non_null(buf);
    fill_pattern(buf, 7, 0, CBIG);
    assert_int_equal(sop_value_write(s, "base", 4, 0, buf, CBIG), 0);
    free(buf);
    assert_int_equal(sop_txn_commit(t), 0);
    sop_db_close(db);
}

static void check_big(sop_store *s, const char *k, uint64_t tag)
{
    uint64_t size;
    size_t got;
    assert_int_equal(sop_value_size(s, k, strlen(k), &size), 0);
    assert_int_equal(size, CBIG);
    uint8_t *buf = malloc(CBIG), *want = malloc(CBIG);
    assert_true(buf && want);
    assert_int_equal(sop_value_read(s, k, strlen(k), 0, buf, CBIG, &got), 0);
    assert_int_equal(got, CBIG);
    fill_pattern(want, tag, 0, CBIG);
    assert_memory_equal(buf, want, CBIG);
    free(buf);
    free(want);
}

/* Everything the bank promises, after a crash; returns the counter. */
static uint64_t check_bank(sop_db *db, uint64_t acked)
{
    sop_txn *t;
    sop_store *acc, *logs, *meta, *media;
    sop_cursor *c;
    const void *v, *k;
    size_t vl, kl;
    uint64_t n;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_open(t, "accounts", &acc), 0);
    assert_int_equal(sop_store_open(t, "logs", &logs), 0);
    assert_int_equal(sop_store_open(t, "meta", &meta), 0);
    assert_int_equal(sop_store_open(t, "media", &media), 0);
    assert_int_equal(sop_get(meta, "counter", 7, &v, &vl), 0);
    assert_int_equal(vl, 8);
    uint64_t ctr = get_u64(v);
    if (ctr < acked || ctr > acked + 1)
        fail_msg("counter %llu after the crash; the last acknowledged was %llu",
                 (unsigned long long)ctr, (unsigned long long)acked);
    /* balances: a walk forwards sums to the total, a walk backwards too */
    int64_t sum = 0, rsum = 0;
    int cnt = 0, rcnt = 0;
    assert_int_equal(sop_cursor_open(acc, &c), 0);
    int rc;
    for (rc = sop_cursor_first(c); rc == 0; rc = sop_cursor_next(c)) {
        assert_int_equal(sop_cursor_value(c, &v, &vl), 0);
        assert_int_equal(vl, 8);
        sum += (int64_t)get_u64(v);
        cnt++;
    }
    assert_int_equal(rc, SOP_ENOTFOUND);
    for (rc = sop_cursor_last(c); rc == 0; rc = sop_cursor_prev(c)) {
        assert_int_equal(sop_cursor_value(c, &v, &vl), 0);
        rsum += (int64_t)get_u64(v);
        rcnt++;
    }
    assert_int_equal(rc, SOP_ENOTFOUND);
    sop_cursor_close(c);
    assert_int_equal(cnt, NACC);
    assert_int_equal(rcnt, NACC);
    assert_int_equal(sum, (int64_t)NACC * START);
    assert_int_equal(rsum, (int64_t)NACC * START);
    /* one log per counter value, in order, each naming its counter */
    assert_int_equal(sop_store_count(logs, &n), 0);
    assert_int_equal(n, ctr);
    assert_int_equal(sop_cursor_open(logs, &c), 0);
    uint64_t want = 1;
    for (rc = sop_cursor_first(c); rc == 0; rc = sop_cursor_next(c), want++) {
        uint8_t wk[8];
        be64(wk, want);
        assert_int_equal(sop_cursor_key(c, &k, &kl), 0);
        assert_int_equal(kl, 8);
        assert_memory_equal(k, wk, 8);
        assert_int_equal(sop_cursor_value(c, &v, &vl), 0);
        assert_true(vl >= 16);
        assert_int_equal(get_u64(v), want);
    }
    assert_int_equal(rc, SOP_ENOTFOUND);
    assert_int_equal(want, ctr + 1);
    want = ctr;
    for (rc = sop_cursor_last(c); rc == 0; rc = sop_cursor_prev(c), want--) {
        uint8_t wk[8];
        be64(wk, want);
        assert_int_equal(sop_cursor_key(c, &k, &kl), 0);
        assert_memory_equal(k, wk, 8);
    }
    assert_int_equal(rc, SOP_ENOTFOUND);
    assert_int_equal(want, 0);
    sop_cursor_close(c);
    /* the big value committed at the start, and no uncommitted one */
    check_big(media, "base", 7);
    assert_int_equal(sop_value_size(media, "uncommitted", 11, &n), SOP_ENOTFOUND);
    assert_int_equal(sop_get(media, "uncommitted", 11, &v, &vl), SOP_ENOTFOUND);
    assert_int_equal(sop_txn_commit(t), 0);
    return ctr;
}

static void killed_committer_loses_no_acknowledged_commit(void **state)
{
    (void)state;
    uint64_t seed = tl_seed("killed_committer_loses_no_acknowledged_commit"), rng = seed;
    int rounds = (int)(30 * tl_scale());
    uint64_t ctr = 0, maxgap = 0, t0 = tl_now_ns();
    create_all();
    for (int r = 0; r < rounds; r++) {
        uint64_t after = 1 + tl_rand(&rng) % 40, delay = tl_rand(&rng) % 3000;
        bool nosync = r % 2 == 1;
        struct feed f = fork_and_kill(run_bank, seed + (uint64_t)r, nosync, after, delay);
        if (f.n)
            assert_int_equal(f.last, ctr + f.n); /* acks are consecutive */
        uint64_t acked = f.n ? f.last : ctr;
        sop_db *db = reopen();
        uint64_t now = check_bank(db, acked);
        if (now > acked)
            maxgap++;
        sop_db_close(db);
        ctr = now;
    }
    print_message("# crash: %d rounds, %llu commits; %llu rounds found one unacknowledged commit "
                  "applied; %.1f s\n",
                  rounds, (unsigned long long)ctr, (unsigned long long)maxgap,
                  (double)(tl_now_ns() - t0) / 1e9);
    assert_true(ctr > 0);
}

static void killed_big_writes_leave_nothing_torn(void **state)
{
    (void)state;
    uint64_t seed = tl_seed("killed_big_writes_leave_nothing_torn"), rng = seed;
    int rounds = (int)(6 * tl_scale());
    uint64_t ctr = 0;
    create_all();
    for (int r = 0; r < rounds; r++) {
        /* an uncommitted value, killed while it is being written */
        uint64_t after = 1 + tl_rand(&rng) % (BIG / PIECE + 8);
        fork_and_kill(run_uncommitted, 0, false, after, tl_rand(&rng) % 2000);
        sop_db *db = reopen();
        ctr = check_bank(db, ctr);
        sop_db_close(db);

        /* a committed value, killed anywhere from its first piece to after
         * the commit */
        uint64_t tag = 100 + (uint64_t)r, pieces = (CBIG + PIECE - 1) / PIECE;
        after = 1 + tl_rand(&rng) % (pieces + 1);
        struct feed f = fork_and_kill(run_big_commit, tag, false, after,
                                      tl_rand(&rng) % 2 ? tl_rand(&rng) % 3000 : 0);
        bool acked = f.n == pieces + 1;
        db = reopen();
        sop_txn *t;
        sop_store *s;
        char k[32];
        uint64_t size;
        snprintf(k, sizeof(k), "video%llu", (unsigned long long)tag);
        assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
        assert_int_equal(sop_store_open(t, "media", &s), 0);
        int rc = sop_value_size(s, k, strlen(k), &size);
        if (acked)
            assert_int_equal(rc, 0);
        else
            assert_true(rc == 0 || rc == SOP_ENOTFOUND);
        if (rc == 0)
            check_big(s, k, tag); /* whole, never torn */
        print_message("# round %d: big value killed after %llu of %llu records: %s\n", r,
                      (unsigned long long)f.n, (unsigned long long)pieces + 1,
                      rc == 0 ? "present" : "absent");
        assert_int_equal(sop_txn_commit(t), 0);
        ctr = check_bank(db, ctr);
        sop_db_close(db);

        /* and the bank still works on top of it */
        f = fork_and_kill(run_bank, seed + 1000 + (uint64_t)r, r % 2, 1 + tl_rand(&rng) % 10,
                          tl_rand(&rng) % 1000);
        uint64_t ack = f.n ? f.last : ctr;
        db = reopen();
        ctr = check_bank(db, ack);
        sop_db_close(db);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(killed_committer_loses_no_acknowledged_commit, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(killed_big_writes_leave_nothing_torn, tl_dir_setup,
                                        tl_dir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
