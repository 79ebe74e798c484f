/*
 * test_recovery.c - commits under injected faults and simulated power loss.
 *
 * The fault loop: for N = 1, 2, 3, ..., fail the Nth write/fsync/rename/
 * truncate of a commit (a failing write is torn: half its bytes land); the
 * commit must report the error or succeed, and after reopening (with the
 * real OS layer) the database must be exactly as before the commit or
 * exactly as after it.  The loop ends when N is past the commit's last call.
 * The power-loss loop does the same with crash_os: at the Nth write the
 * machine "dies", every unsynced write is undone (or a random subset kept,
 * the newest maybe torn), and recovery must give before or after - after
 * for sure if the commit had returned 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "blob.h"
#include "codec.h"
#include "db.h"
#include "faultlib.h"
#include "sop.h"
#include "testlib.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* State: store "acc" with keys a000..a0NN, value = round number as text;
 * "log" store count = number of committed rounds. */
static void seed_db(const char *path, int keys)
{
    sop_db *db;
    sop_txn *t;
    sop_store *s, *l;
    sop_store_options o = {.slot_length = 4, .unique = true, .value_in_node = true};
    assert_int_equal(sop_db_open(path, NULL, &db), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    assert_int_equal(sop_store_create(t, "acc", &o, &s), 0);
    assert_int_equal(sop_store_create(t, "log", &o, &l), 0);
    for (int i = 0; i < keys; i++) {
        char k[16];
        snprintf(k, sizeof(k), "a%03d", i);
        assert_int_equal(sop_add(s, k, strlen(k), "0", 1), 0);
    }
    assert_int_equal(sop_txn_commit(t), 0);
    sop_db_close(db);
}

/* One round: every key gets value `round`, a log entry is added, a big
 * value is rewritten; 0 or the commit's error. */
static int do_round(sop_db *db, int round, int keys)
{
    sop_txn *t;
    sop_store *s, *l;
    char v[16], k[16];
    int rc = sop_txn_begin(db, SOP_TXN_WRITE, &t);
    if (rc)
        return rc;
    if ((rc = sop_store_open(t, "acc", &s)) || (rc = sop_store_open(t, "log", &l)))
        goto fail;
    snprintf(v, sizeof(v), "%d", round);
    for (int i = 0; i < keys; i++) {
        snprintf(k, sizeof(k), "a%03d", i);
        if ((rc = sop_update(s, k, strlen(k), v, strlen(v))) != 0)
            goto fail;
    }
    /* remove and add keys so nodes split and merge inside the commit */
    for (int i = 0; i < keys; i += 3) {
        snprintf(k, sizeof(k), "r%03d", i);
        if (round % 2)
            rc = sop_add(s, k, strlen(k), v, strlen(v));
        else
            rc = sop_remove(s, k, strlen(k));
        if (rc && rc != SOP_ENOTFOUND)
            goto fail;
    }
    snprintf(k, sizeof(k), "log%05d", round);
    if ((rc = sop_add(l, k, strlen(k), v, strlen(v))) != 0)
        goto fail;
    uint8_t big[10000];
    memset(big, round & 0xff, sizeof(big));
    if ((rc = sop_value_write(l, "big", 3, 0, big, sizeof(big))) != 0)
        goto fail;
    return sop_txn_commit(t);
fail:
    sop_txn_rollback(t);
    return rc;
}

/* The committed round seen in the database, checking every invariant:
 * all keys agree on the round, the log holds exactly that many rounds. */
static int observed_round(const char *path, int keys)
{
    sop_db *db;
    sop_txn *t;
    sop_store *s, *l;
    int rc = sop_db_open(path, NULL, &db);
    if (rc)
        fail_msg("reopen after fault: %s (%s)", sop_strerror(rc), sop_open_errmsg());
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_open(t, "acc", &s), 0);
    assert_int_equal(sop_store_open(t, "log", &l), 0);
    int round = -1;
    for (int i = 0; i < keys; i++) {
        char k[16];
        const void *v;
        size_t vl;
        snprintf(k, sizeof(k), "a%03d", i);
        assert_int_equal(sop_get(s, k, strlen(k), &v, &vl), 0);
        char num[16];
        snprintf(num, sizeof(num), "%.*s", (int)vl, (const char *)v);
        int r = atoi(num);
        if (round < 0)
            round = r;
        assert_int_equal(r, round); /* never between */
    }
    uint64_t n;
    assert_int_equal(sop_store_count(l, &n), 0);
    if (round == 0)
        assert_int_equal(n, 0);
    else {
        assert_int_equal(n, round + 1); /* log entries + "big" */
        uint8_t big[10000];
        size_t got;
        assert_int_equal(sop_value_read(l, "big", 3, 0, big, sizeof(big), &got), 0);
        assert_int_equal(got, sizeof(big));
        for (size_t i = 0; i < sizeof(big); i++)
            assert_int_equal(big[i], round & 0xff);
    }
    sop_txn_rollback(t);
    sop_db_close(db);
    return round;
}

static void commit_is_before_or_after_under_every_fault(void **st)
{
    (void)st;
    const int keys = 40;
    static const struct {
        int kinds, err;
    } modes[] = {{FK_WRITE, EIO}, {FK_WRITE, ENOSPC}, {FK_FSYNC, EIO}, {FK_TRUNC | FK_WRITE, EIO}};
    seed_db(tl_dir, keys);
    int round = 0;
    for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
        for (long nth = 1;; nth++) {
            struct fault_os f;
            sop_db *db;
            fault_os_init(&f);
            assert_int_equal(db_open_os(tl_dir, NULL, &f.ops, &db), 0);
            fault_os_arm(&f, modes[m].kinds, nth, modes[m].err, 0);
            int rc = do_round(db, round + 1, keys);
            int fired = f.fired;
            sop_db_close(db);
            if (getenv("SOP_DEBUG"))
                printf("# mode %zu nth %ld rc %d fired %d round %d\n", m, nth, rc, fired, round);
            int seen = observed_round(tl_dir, keys);
            if (rc == 0) {
                assert_int_equal(seen, round + 1);
            } else {
                assert_true(rc == SOP_EIO || rc == SOP_ENOSPC);
                assert_true(seen == round || seen == round + 1);
            }
            round = seen;
            if (!fired)
                break; /* the commit ran past its last call of that kind */
        }
    }
    /* and the database keeps working */
    sop_db *db;
    assert_int_equal(sop_db_open(tl_dir, NULL, &db), 0);
    assert_int_equal(do_round(db, round + 1, keys), 0);
    sop_db_close(db);
    assert_int_equal(observed_round(tl_dir, keys), round + 1);
}

/* The same round with the Nth allocation of the engine failing, for every N
 * until the round needs fewer: the commit answers SOP_ENOMEM and the
 * database stays before it, or it commits whole; nothing leaks (ASan). */
static void commit_is_before_or_after_under_every_allocation_failure(void **st)
{
    (void)st;
    const int keys = 40;
    seed_db(tl_dir, keys);
    int round = 0;
    for (long nth = 1;; nth++) {
        sop_db *db;
        assert_int_equal(sop_db_open(tl_dir, NULL, &db), 0);
        fault_mem_arm(nth, 0);
        int rc = do_round(db, round + 1, keys);
        int fired = fault_mem_disarm();
        sop_db_close(db);
        if (getenv("SOP_DEBUG"))
            printf("# nth %ld rc %d fired %d round %d\n", nth, rc, fired, round);
        int seen = observed_round(tl_dir, keys);
        if (rc == 0) {
            assert_int_equal(seen, round + 1);
        } else {
            if (rc != SOP_ENOMEM)
                fail_msg("allocation %ld failed: %s, not SOP_ENOMEM", nth, sop_strerror(rc));
            assert_int_equal(seen, round);
        }
        round = seen;
        if (!fired)
            break; /* the round made fewer allocations than nth */
    }
    /* opening under every allocation failure: refused with SOP_ENOMEM, or open */
    for (long nth = 1;; nth++) {
        sop_db *db = NULL;
        fault_mem_arm(nth, 0);
        int rc = sop_db_open(tl_dir, NULL, &db);
        int fired = fault_mem_disarm();
        if (rc == 0)
            sop_db_close(db);
        else if (rc != SOP_ENOMEM)
            fail_msg("open with allocation %ld failing: %s (%s)", nth, sop_strerror(rc),
                     sop_open_errmsg());
        if (!fired)
            break;
    }
    assert_int_equal(observed_round(tl_dir, keys), round);
}

static void power_loss_at_every_write(void **st)
{
    (void)st;
    const int keys = 30;
    uint64_t seed = tl_seed("power_loss");
    seed_db(tl_dir, keys);
    int round = 0;
    for (long nth = 1;; nth++) {
        struct crash_os c;
        sop_db *db;
        crash_os_init(&c);
        assert_int_equal(db_open_os(tl_dir, NULL, &c.ops, &db), 0);
        /* a round that commits, then one that loses power at its nth write */
        assert_int_equal(do_round(db, round + 1, keys), 0);
        c.die_at = c.writes + nth;
        int rc = do_round(db, round + 2, keys);
        bool died = c.dead;
        /* unsynced writes: all undone, or (odd nth) a random subset kept */
        crash_os_crash(&c, (nth % 2) ? seed + (uint64_t)nth : 0);
        sop_db_close(db);
        crash_os_free(&c);
        int seen = observed_round(tl_dir, keys);
        if (rc == 0 && !died)
            assert_int_equal(seen, round + 2);
        else
            assert_true(seen == round + 1 || seen == round + 2);
        round = seen;
        if (!died)
            break;
    }
}

static void crash_between_writes_of_a_commit(void **st)
{
    (void)st;
    const int keys = 30;
    seed_db(tl_dir, keys);
    int round = 0;
    /* kill the machine at the nth write of one commit: the crash shim makes
     * every call after the nth fail, as if power went at that instant */
    for (long nth = 1;; nth++) {
        struct fault_os f;
        sop_db *db;
        fault_os_init(&f);
        assert_int_equal(db_open_os(tl_dir, NULL, &f.ops, &db), 0);
        fault_os_arm(&f, FK_WRITE | FK_FSYNC | FK_TRUNC | FK_RENAME, nth, EIO, 1);
        int rc = do_round(db, round + 1, keys);
        int fired = f.fired;
        sop_db_close(db);
        int seen = observed_round(tl_dir, keys);
        if (rc == 0)
            assert_int_equal(seen, round + 1);
        else
            assert_true(seen == round || seen == round + 1);
        round = seen;
        if (!fired)
            break;
    }
}

static void flipped_bytes_are_reported_not_returned(void **st)
{
    (void)st;
    sop_db *db;
    sop_txn *t;
    sop_store *s;
    sop_store_options o = {.slot_length = 16, .unique = true, .value_in_node = true};
    assert_int_equal(sop_db_open(tl_dir, NULL, &db), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    assert_int_equal(sop_store_create(t, "s", &o, &s), 0);
    for (int i = 0; i < 200; i++) {
        char k[16];
        snprintf(k, sizeof(k), "key%04d", i);
        assert_int_equal(sop_add(s, k, strlen(k), "value-value-value", 17), 0);
    }
    uint8_t big[20000];
    memset(big, 0x5A, sizeof(big));
    assert_int_equal(sop_value_write(s, "big", 3, 0, big, sizeof(big)), 0);
    assert_int_equal(sop_txn_commit(t), 0);
    char p[4096];
    snprintf(p, sizeof(p), "%s/00000001.seg", tl_dir);
    int fd = open(p, O_RDWR);
    assert_true(fd >= 0);
    off_t size = lseek(fd, 0, SEEK_END);
    /* the log keeps zeros written ahead of its end while open (blob.h): the
     * records end before them */
    for (uint8_t z = 0; size > 0 && pread(fd, &z, 1, size - 1) == 1 && z == 0;)
        size--;
    /* a later commit: it records that the first one was durable, so damage
     * to the first one cannot pass for a torn write */
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    assert_int_equal(sop_store_create(t, "later", NULL, &s), 0);
    assert_int_equal(sop_txn_commit(t), 0);
    sop_db_close(db);
    int corrupt_seen = 0;
    for (off_t at = 100; at < size - 200; at += size / 7) {
        uint8_t b;
        assert_int_equal(pread(fd, &b, 1, at), 1);
        b ^= 0x40;
        assert_int_equal(pwrite(fd, &b, 1, at), 1);
        int rc = sop_db_open(tl_dir, NULL, &db);
        if (rc == 0) {
            assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
            rc = sop_store_open(t, "s", &s);
            int bad = 0;
            for (int i = 0; i < 200 && rc == 0; i++) {
                char k[16];
                const void *v;
                size_t vl;
                snprintf(k, sizeof(k), "key%04d", i);
                int g = sop_get(s, k, strlen(k), &v, &vl);
                if (g == SOP_ECORRUPT) {
                    bad++;
                    continue;
                }
                /* whatever is returned is the right data */
                assert_int_equal(g, 0);
                assert_int_equal(vl, 17);
                assert_memory_equal(v, "value-value-value", 17);
            }
            size_t got;
            uint8_t rb[20000];
            int g = rc ? rc : sop_value_read(s, "big", 3, 0, rb, sizeof(rb), &got);
            if (g == SOP_ECORRUPT)
                bad++;
            else if (g == 0)
                for (size_t i = 0; i < got; i++)
                    assert_int_equal(rb[i], 0x5A);
            if (bad)
                corrupt_seen++;
            sop_txn_rollback(t);
            sop_db_close(db);
        } else {
            assert_int_equal(rc, SOP_ECORRUPT);
            corrupt_seen++;
        }
        b ^= 0x40; /* repair for the next probe */
        assert_int_equal(pwrite(fd, &b, 1, at), 1);
    }
    close(fd);
    assert_true(corrupt_seen > 0);
}

static void checkpoint_then_replay(void **st)
{
    (void)st;
    sop_db *db;
    sop_db_options o = {.checkpoint_bytes = 4096};
    const int keys = 20;
    seed_db(tl_dir, keys);
    assert_int_equal(sop_db_open(tl_dir, &o, &db), 0);
    for (int r = 1; r <= 30; r++)
        assert_int_equal(do_round(db, r, keys), 0);
    /* a copy taken while open (close checkpoints): the copy replays the
     * commits after the last checkpoint taken on the way */
    char p[4096], cmd[8192];
    snprintf(p, sizeof(p), "%s/copy", tl_dir);
    snprintf(cmd, sizeof(cmd), "mkdir '%s' && cp '%s'/checkpoint '%s'/*.seg '%s'/SOP '%s'", p,
             tl_dir, tl_dir, tl_dir, p);
    assert_int_equal(system(cmd), 0);
    sop_db_close(db);
    assert_int_equal(observed_round(p, keys), 30);
    snprintf(p, sizeof(p), "%s/checkpoint", tl_dir);
    assert_int_equal(access(p, F_OK), 0);
    assert_int_equal(observed_round(tl_dir, keys), 30);
}

/* A clean close leaves a checkpoint that covers the whole log: the next open
 * replays nothing. */
static void close_checkpoints_the_whole_log(void **st)
{
    (void)st;
    sop_db *db;
    const int keys = 20;
    seed_db(tl_dir, keys);
    assert_int_equal(sop_db_open(tl_dir, NULL, &db), 0);
    for (int r = 1; r <= 5; r++)
        assert_int_equal(do_round(db, r, keys), 0);
    sop_db_close(db);
    char p[4096];
    uint8_t h[32];
    snprintf(p, sizeof(p), "%s/checkpoint", tl_dir);
    int fd = open(p, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(read(fd, h, sizeof(h)), (ssize_t)sizeof(h));
    close(fd);
    /* magic[8], u32 version, u64 seq, u32 segment, u64 offset (LE) */
    uint32_t seg = 0;
    uint64_t off = 0;
    for (int i = 3; i >= 0; i--)
        seg = seg << 8 | h[20 + i];
    for (int i = 7; i >= 0; i--)
        off = off << 8 | h[24 + i];
    struct stat sb;
    snprintf(p, sizeof(p), "%s/%08u.seg", tl_dir, seg);
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(off, (uint64_t)sb.st_size);
    assert_int_equal(observed_round(tl_dir, keys), 5);
}

static void flip_at(const char *name, off_t at)
{
    char p[4096];
    snprintf(p, sizeof(p), "%s/%s", tl_dir, name);
    int fd = open(p, O_RDWR);
    assert_true(fd >= 0);
    uint8_t b;
    assert_int_equal(pread(fd, &b, 1, at), 1);
    b ^= 1;
    assert_int_equal(pwrite(fd, &b, 1, at), 1);
    close(fd);
}

/* A damaged checkpoint loses nothing while the log still holds what it
 * summed up: the previous checkpoint and the log since are used, else the
 * whole log from its first segment; once compaction removed segments, both
 * damaged is refused with the cause, and a salvage open says what is lost. */
static void damaged_checkpoint_falls_back(void **st)
{
    (void)st;
    sop_db *db;
    sop_db_options o = {.checkpoint_bytes = 1024};
    seed_db(tl_dir, 10);
    assert_int_equal(sop_db_open(tl_dir, &o, &db), 0);
    for (int r = 1; r <= 5; r++)
        assert_int_equal(do_round(db, r, 10), 0);
    sop_db_close(db);
    flip_at("checkpoint", 40);
    assert_int_equal(sop_db_open(tl_dir, NULL, &db), 0);
    assert_non_null(strstr(sop_db_recovery_report(db), "previous checkpoint was used"));
    sop_db_close(db); /* writes a good one (and keeps the bad one as .prev) */
    assert_int_equal(observed_round(tl_dir, 10), 5);
    flip_at("checkpoint", 40);
    assert_int_equal(sop_db_open(tl_dir, NULL, &db), 0);
    assert_non_null(strstr(sop_db_recovery_report(db), "first segment"));
    assert_int_equal(sop_db_compact(db), 0); /* removes the old segments */
    sop_db_close(db);
    assert_int_equal(observed_round(tl_dir, 10), 5);
    flip_at("checkpoint", 40);
    flip_at("checkpoint.prev", 40);
    assert_int_equal(sop_db_open(tl_dir, NULL, &db), SOP_ECORRUPT);
    assert_non_null(strstr(sop_open_errmsg(), "checkpoint"));
    assert_int_equal(sop_db_open_salvage(tl_dir, &db), 0);
    assert_non_null(strstr(sop_db_recovery_report(db), "is lost"));
    sop_txn *t;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), SOP_EREADONLY);
    sop_db_close(db);
}

static uint64_t folder_bytes(const char *path)
{
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "du -sb '%s'", path);
    FILE *p = popen(cmd, "r");
    unsigned long long n = 0;
    if (!p || fscanf(p, "%llu", &n) != 1)
        n = 0;
    if (p)
        pclose(p);
    return n;
}

/* Small commits leave zeros written ahead of the log's end (blob.h); a
 * process that dies with them there leaves no torn tail: recovery cuts them
 * without keeping a torn-* file, and every commit is there. */
static void zeros_ahead_of_the_log_are_cut_not_kept(void **st)
{
    (void)st;
    sop_store_options o = {.slot_length = 16, .unique = true, .value_in_node = true};
    char p[4096];
    struct stat sb;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* commit, then die without closing */
        sop_db *db;
        sop_txn *t;
        sop_store *s;
        int bad = sop_db_open(tl_dir, NULL, &db);
        for (int i = 0; i < 50 && !bad; i++) {
            char k[16];
            snprintf(k, sizeof(k), "key%04d", i);
            bad = sop_txn_begin(db, SOP_TXN_WRITE, &t) ||
                  (i ? sop_store_open(t, "s", &s) : sop_store_create(t, "s", &o, &s)) ||
                  sop_add(s, k, strlen(k), "v", 1) || sop_txn_commit(t);
        }
        snprintf(p, sizeof(p), "%s/00000001.seg", tl_dir);
        /* the zeros are there */
        _exit(bad || stat(p, &sb) != 0 || sb.st_size < (off_t)BLOB_PREZERO ? 1 : 0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    sop_db *db;
    sop_txn *t;
    sop_store *s;
    uint64_t n = 0;
    assert_int_equal(sop_db_open(tl_dir, NULL, &db), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_open(t, "s", &s), 0);
    assert_int_equal(sop_store_count(s, &n), 0);
    assert_int_equal(n, 50);
    assert_int_equal(sop_txn_commit(t), 0);
    /* commits after recovery land after the last record, readable */
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    assert_int_equal(sop_store_open(t, "s", &s), 0);
    assert_int_equal(sop_add(s, "zz", 2, "w", 1), 0);
    assert_int_equal(sop_txn_commit(t), 0);
    sop_db_close(db);
    DIR *d = opendir(tl_dir);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        assert_true(strncmp(e->d_name, "torn-", 5) != 0);
    closedir(d);
    /* a clean close leaves no zeros behind */
    snprintf(p, sizeof(p), "%s/00000001.seg", tl_dir);
    assert_int_equal(stat(p, &sb), 0);
    assert_true(sb.st_size < (off_t)BLOB_PREZERO);
    assert_int_equal(sop_db_open(tl_dir, NULL, &db), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_open(t, "s", &s), 0);
    assert_int_equal(sop_store_count(s, &n), 0);
    assert_int_equal(n, 51);
    assert_int_equal(sop_txn_commit(t), 0);
    sop_db_close(db);
}

static void compaction_reclaims_space_and_keeps_data(void **st)
{
    (void)st;
    const int keys = 40;
    sop_db *db;
    seed_db(tl_dir, keys);
    assert_int_equal(sop_db_open(tl_dir, NULL, &db), 0);
    for (int r = 1; r <= 60; r++)
        assert_int_equal(do_round(db, r, keys), 0);
    sop_txn *t;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_db_compact(db), SOP_EBUSY);
    sop_txn_rollback(t);
    uint64_t before = folder_bytes(tl_dir);
    assert_int_equal(sop_db_compact(db), 0);
    uint64_t after = folder_bytes(tl_dir);
    print_message("# compaction: %llu -> %llu bytes\n", (unsigned long long)before,
                  (unsigned long long)after);
    assert_true(after * 2 < before);
    assert_int_equal(do_round(db, 61, keys), 0);
    sop_db_close(db);
    assert_int_equal(observed_round(tl_dir, keys), 61);
    /* every failure point of a compaction: the data stays whole */
    for (long nth = 1;; nth++) {
        struct fault_os f;
        fault_os_init(&f);
        assert_int_equal(db_open_os(tl_dir, NULL, &f.ops, &db), 0);
        assert_int_equal(do_round(db, 61 + (int)nth, keys), 0);
        fault_os_arm(&f, FK_WRITE | FK_FSYNC | FK_RENAME, 1 + (nth - 1) % 40, EIO, 0);
        int rc = sop_db_compact(db);
        int fired = f.fired;
        sop_db_close(db);
        assert_true(rc == 0 || rc == SOP_EIO);
        assert_int_equal(observed_round(tl_dir, keys), 61 + (int)nth);
        if (!fired || nth > 40)
            break;
    }
}

/* A checkpoint of a format newer than this build's is refused with the
 * reason, not taken for damage (which would replay the log and heal it). */
static void a_newer_checkpoint_format_is_refused_with_its_reason(void **state)
{
    (void)state;
    sop_db *db;
    char p[4096];
    seed_db(tl_dir, 3);
    snprintf(p, sizeof(p), "%s/checkpoint", tl_dir);
    FILE *f = fopen(p, "r+b");
    assert_non_null(f);
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof(buf), f);
    assert_true(n > 16 && n < sizeof(buf));
    uint8_t keep[4];
    memcpy(keep, buf + 8, 4);
    buf[8] = 3, buf[9] = buf[10] = buf[11] = 0;
    uint32_t crc = codec_crc32(0, buf, n - 4);
    for (int i = 0; i < 4; i++)
        buf[n - 4 + i] = (uint8_t)(crc >> (8 * i));
    rewind(f);
    assert_int_equal(fwrite(buf, 1, n, f), n);
    fclose(f);
    assert_int_equal(sop_db_open(tl_dir, NULL, &db), SOP_EINVAL);
    assert_non_null(strstr(sop_open_errmsg(), "newer sop"));
    print_message("# %s\n", sop_open_errmsg());
    /* nothing was changed: put the format back and it opens */
    f = fopen(p, "r+b");
    memcpy(buf + 8, keep, 4);
    crc = codec_crc32(0, buf, n - 4);
    for (int i = 0; i < 4; i++)
        buf[n - 4 + i] = (uint8_t)(crc >> (8 * i));
    assert_int_equal(fwrite(buf, 1, n, f), n);
    fclose(f);
    assert_int_equal(sop_db_open(tl_dir, NULL, &db), 0);
    sop_db_close(db);
}

/* The same for a commit record in the log past the checkpoint: a newer
 * format is refused with the reason, in a salvage too, and nothing changes. */
static void a_newer_commit_record_format_is_refused_with_its_reason(void **state)
{
    (void)state;
    sop_db *db;
    struct crash_os c;
    seed_db(tl_dir, 3);
    crash_os_init(&c);
    assert_int_equal(db_open_os(tl_dir, NULL, &c.ops, &db), 0);
    assert_int_equal(do_round(db, 1, 3), 0); /* durable, and no checkpoint after it */
    crash_os_crash(&c, 0);
    sop_db_close(db);
    crash_os_free(&c);
    /* the last commit record of the log's segments */
    char p[4096], best[4096] = "";
    long best_off = -1;
    uint64_t best_seq = 0;
    static uint8_t buf[64 << 20];
    DIR *d = opendir(tl_dir);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        snprintf(p, sizeof(p), "%s/%s", tl_dir, e->d_name);
        FILE *f = fopen(p, "rb");
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        for (size_t i = 0; i + REC_HDR + 9 <= n; i++) {
            int type;
            uint32_t plen;
            if (get_u32(buf + i) != REC_MAGIC || blob_check(buf + i, n - i, &type, NULL, &plen) ||
                type != REC_COMMIT)
                continue;
            uint64_t seq = get_u64(buf + i + REC_HDR + 1);
            if (seq > best_seq) {
                best_seq = seq;
                best_off = (long)i;
                snprintf(best, sizeof(best), "%s", p);
            }
        }
    }
    closedir(d);
    assert_true(best_off >= 0);
    FILE *f = fopen(best, "r+b");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof(buf), f);
    uint8_t *rec = buf + best_off;
    uint32_t plen = get_u32(rec + 8);
    uint8_t keep[REC_HDR + 1];
    memcpy(keep, rec, REC_HDR + 1);
    struct rkey key;
    memcpy(key.id.b, rec + 16, 16);
    key.idx = get_u64(rec + 32);
    rec[REC_HDR] = COMMIT_FORMAT + 1;
    blob_rec_head(rec, REC_COMMIT, &key, rec + REC_HDR, plen);
    rewind(f);
    assert_int_equal(fwrite(buf, 1, n, f), n);
    fflush(f);
    assert_int_equal(sop_db_open(tl_dir, NULL, &db), SOP_EINVAL);
    assert_non_null(strstr(sop_open_errmsg(), "newer sop"));
    print_message("# %s\n", sop_open_errmsg());
    assert_int_equal(sop_db_open_salvage(tl_dir, &db), SOP_EINVAL);
    /* nothing was changed: put the format back and the round is there */
    memcpy(rec, keep, REC_HDR + 1);
    rewind(f);
    assert_int_equal(fwrite(buf, 1, n, f), n);
    fclose(f);
    assert_int_equal(observed_round(tl_dir, 3), 1);
}

struct seen_keys {
    struct wset *w[8];
    int n, nokeys;
};

static int collect_keys(int type, const struct rkey *key, const struct loc *loc,
                        const uint8_t *payload, void *arg)
{
    struct seen_keys *sk = arg;
    (void)key;
    if (type != REC_COMMIT)
        return 0;
    struct wset *w = NULL;
    int rc = db_keys_decode(payload, loc->len, &w);
    if (rc == SOP_ENOTFOUND) {
        sk->nokeys++;
        return 0;
    }
    assert_int_equal(rc, 0);
    assert_true(sk->n < 8);
    sk->w[sk->n++] = w;
    /* any cut of the payload does not decode, and says so */
    for (size_t cut = 9; cut < loc->len; cut += 7) {
        struct wset *x = NULL;
        int r = db_keys_decode(payload, cut, &x);
        assert_true(r == SOP_ECORRUPT);
        assert_null(x);
    }
    return 0;
}

static bool has_key(const struct wset_store *st, const char *k, bool merge)
{
    for (size_t i = 0; i < st->nkeys; i++)
        if (st->keys[i].kl == strlen(k) && !memcmp(st->keys[i].k, k, st->keys[i].kl))
            return st->keys[i].merge == merge;
    return false;
}

/* Clustered mode's commit records (format 3) carry the keys they wrote:
 * they decode to the commit's write set, replay as format 2 ones do, and
 * records without keys say so. */
static void commit_records_can_carry_their_keys(void **state)
{
    (void)state;
    sop_db *db;
    sop_txn *t;
    sop_store *s;
    sop_store_options o = {.slot_length = 8, .unique = true, .value_in_node = true};
    assert_int_equal(sop_db_open(tl_dir, NULL, &db), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0); /* format 2 */
    assert_int_equal(sop_store_create(t, "plain", &o, &s), 0);
    assert_int_equal(sop_txn_commit(t), 0);
    db->keys_in_commits = true;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    assert_int_equal(sop_store_create(t, "acc", &o, &s), 0);
    assert_int_equal(sop_add(s, "k1", 2, "one", 3), 0);
    assert_int_equal(sop_add(s, "k2", 2, "two", 3), 0);
    assert_int_equal(sop_txn_commit(t), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    assert_int_equal(sop_store_open(t, "acc", &s), 0);
    assert_int_equal(sop_remove(s, "k1", 2), 0);
    assert_int_equal(sop_add(s, "k3", 2, "three", 5), 0);
    assert_int_equal(sop_txn_commit(t), 0);
    /* a crash: the next open replays them (no checkpoint at close) */
    char p[4200];
    snprintf(p, sizeof(p), "%s/copy", tl_dir);
    char cmd[9000];
    snprintf(cmd, sizeof(cmd), "mkdir '%s' && cp '%s'/*.seg '%s'/SOP '%s'", p, tl_dir, tl_dir, p);
    assert_int_equal(system(cmd), 0);
    sop_db_close(db);

    struct seen_keys sk = {.n = 0};
    uint32_t ls;
    uint64_t le;
    assert_int_equal(blob_scan(&os_default, p, 1, 0, collect_keys, &sk, &ls, &le), 0);
    assert_int_equal(sk.nokeys, 1);
    assert_int_equal(sk.n, 2);
    struct wset *w1 = sk.w[0], *w2 = sk.w[1];
    assert_true(w2->seq == w1->seq + 1);
    assert_int_equal(w1->nnames, 1);
    assert_string_equal(w1->names[0], "acc");
    assert_int_equal(w1->nstores, 1);
    assert_true(w1->stores[0].structural);
    assert_int_equal(w1->stores[0].nkeys, 2);
    assert_true(has_key(&w1->stores[0], "k1", false) && has_key(&w1->stores[0], "k2", false));
    assert_int_equal(w2->nnames, 0);
    assert_false(w2->stores[0].structural);
    assert_memory_equal(w2->stores[0].store_id.b, w1->stores[0].store_id.b, 16);
    assert_int_equal(w2->stores[0].nkeys, 2);
    assert_true(has_key(&w2->stores[0], "k1", false) && has_key(&w2->stores[0], "k3", false));
    wset_free(w1);
    wset_free(w2);

    assert_int_equal(sop_db_open(p, NULL, &db), 0); /* replays format 3 */
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_open(t, "acc", &s), 0);
    const void *v;
    size_t vl;
    assert_int_equal(sop_get(s, "k1", 2, &v, &vl), SOP_ENOTFOUND);
    assert_int_equal(sop_get(s, "k3", 2, &v, &vl), 0);
    assert_memory_equal(v, "three", 5);
    sop_txn_rollback(t);
    sop_db_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(commit_is_before_or_after_under_every_fault, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(commit_is_before_or_after_under_every_allocation_failure,
                                        tl_dir_setup, tl_dir_teardown),
        cmocka_unit_test_setup_teardown(crash_between_writes_of_a_commit, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(power_loss_at_every_write, tl_dir_setup, tl_dir_teardown),
        cmocka_unit_test_setup_teardown(flipped_bytes_are_reported_not_returned, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(checkpoint_then_replay, tl_dir_setup, tl_dir_teardown),
        cmocka_unit_test_setup_teardown(close_checkpoints_the_whole_log, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(damaged_checkpoint_falls_back, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(compaction_reclaims_space_and_keeps_data, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(zeros_ahead_of_the_log_are_cut_not_kept, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(a_newer_commit_record_format_is_refused_with_its_reason,
                                        tl_dir_setup, tl_dir_teardown),
        cmocka_unit_test_setup_teardown(commit_records_can_carry_their_keys, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(a_newer_checkpoint_format_is_refused_with_its_reason,
                                        tl_dir_setup, tl_dir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
