/*
 * bench_engine.c - `sop bench engine`: libsop against LMDB and SQLite on the
 * same key-value workload, each engine in a child process of its own so its
 * peak RSS (wait4's ru_maxrss) is its own.
 *
 * The workload (N keys of 16 bytes, 100-byte values, batches of B):
 *   1. insert seq      N adds in ascending key order into a fresh database
 *                      "seq", B per write transaction;
 *   2. scan seq        one read transaction walking "seq" with a cursor;
 *   3. insert random   N adds in a random order into a fresh database "rand";
 *   4. read random     N point gets in another random order, one read
 *                      transaction;
 *   5. read random short  N point gets in yet another random order, in
 *                      read transactions of READ_TXN (1,000) gets each;
 *   6. remove random   N removes in a third random order, B per transaction;
 *   7. commit 1        C write transactions of one upsert each into "seq"
 *                      (reopened), every one durable before the next begins.
 * Everything read is checked against what was written (each value encodes
 * its key and version), counts are checked after every phase, and any
 * mismatch fails the run loudly.  At the end of every phase (outside its
 * time) the disk use of the database it worked on is taken (st_blocks).
 *
 * Keys: 8 bytes big-endian index + 8 bytes of a hash of it, so index order is
 * memcmp order.  Random orders come from a keyed Feistel permutation of
 * [0, N) (cycle walking), so no order array is held: the harness itself
 * uses a few KiB, and RSS is the engine's.  The seed is printed and taken
 * back with --seed.
 *
 * Engines behind one small table of operations (struct kv_ops); the peers
 * exist only when configure found them (HAVE_LMDB, HAVE_SQLITE3).
 *
 * Scale mode (--scale, --sizes) runs the whole workload at several N, each
 * engine in a fresh child at every size (its folder removed when it ends),
 * and keeps only each child's last report (struct size_run, a few hundred
 * bytes a size): it prints the cost per operation of every phase at every
 * size, its growth from the smallest N to the largest, the ratios to the
 * peers, sop's disk use over LMDB's and peak RSS beside the node cache.
 */
#define _GNU_SOURCE /* nftw, wait4, strsignal, getloadavg */
#include "config.h"

#include "bench.h"
#include "cli.h"
#include "progress.h"

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <mntent.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_LMDB
#include <lmdb.h>
#endif
#ifdef HAVE_SQLITE3
#include <sqlite3.h>
#endif

#define KEY_LEN 16
#define VAL_LEN 100
#define SOP_STORE "bench"
#define READ_TXN 1000 /* gets per read transaction in "read random short" */

const char bench_help[] =
    "Runs one workload on libsop, LMDB and SQLite, each in a child process, and\n"
    "prints ops/s per phase, the ratios sop/lmdb and sop/sqlite (above 1: sop is\n"
    "faster), peak RSS, and disk use at the end of every phase:\n"
    "  insert seq     N adds in ascending key order into a fresh database,\n"
    "                 BATCH per write transaction\n"
    "  scan seq       a cursor over all of it, one read transaction\n"
    "  insert random  N adds in random order into another fresh database\n"
    "  read random    N point gets in random order, one read transaction\n"
    "  read random short  the same in another random order, 1000 gets per read\n"
    "                 transaction\n"
    "  remove random  N removes in random order, BATCH per transaction\n"
    "  commit 1       COMMITS transactions of one upsert each, each durable\n"
    "Keys are 16 bytes (ascending index = memcmp order), values 100 bytes.  Every\n"
    "value read is checked and counts are checked after each phase: a wrong\n"
    "answer fails the run (exit 1).  Above the table, what it ran on (cpus, RAM,\n"
    "system, kernel, build, the file system of --dir), when, how long it took and\n"
    "the load average, to paste with it.\n"
    "\n"
    "Durability: sop commits with SOP_TXN_WRITE (durable when commit returns);\n"
    "LMDB with default flags (fsync at every commit); SQLite in WAL mode with\n"
    "synchronous=FULL.  sop stores are unique and value_in_node.\n"
    "\n"
    "Options:\n"
    "  --keys N          keys (default 1000000)\n"
    "  --batch N         items per write transaction (default 1000)\n"
    "  --commits N       single-upsert durable commits (default 10000)\n"
    "  --dir D           where the temporary folder goes (default $TMPDIR or /tmp);\n"
    "                    it is removed at the end\n"
    "  --only LIST       engines to run, comma-separated: sop,lmdb,sqlite\n"
    "  --slot-length N   sop's items per node (default 1000)\n"
    "  --seed S          seed of the random orders (default 1; printed)\n"
    "  --cache-mib N     sop's node cache and SQLite's page cache, MiB (default 64,\n"
    "                    sop's default); LMDB has none of its own (the OS page cache)\n"
    "  --nopin           sop's read transactions begin SOP_TXN_NOPIN: the pointers\n"
    "                    they hand out live to their next read, so they keep no\n"
    "                    node once they read on and stay within the cache (by\n"
    "                    default they keep every node they read to their end)\n"
    "  --scale           scale mode: the whole workload at 100000, 1000000 and\n"
    "                    10000000 keys (an hour or more; 10M keys of sop may take\n"
    "                    tens of GiB of disk)\n"
    "  --sizes LIST      scale mode at these sizes: ascending key counts, plain\n"
    "                    decimals, comma-separated (e.g. 100000,300000); not with --keys\n"
    "\n"
    "Scale mode runs every engine, one after the other, at each size (each in a\n"
    "fresh child, its databases removed before the next starts) and prints each\n"
    "size's table as it ends; then, per phase, the cost per operation (us/op) at\n"
    "every size with the speed ratios, its growth from the smallest size to the\n"
    "largest (cost at the largest over cost at the smallest), sop's disk use over\n"
    "LMDB's at the end of every phase, and peak RSS at every size beside sop's node\n"
    "cache.  COMMITS is the same at every size.  An engine that fails at one size is\n"
    "skipped at the larger ones.\n";

enum phase {
    P_INSERT_SEQ,
    P_SCAN,
    P_INSERT_RAND,
    P_READ_RAND,
    P_READ_SHORT,
    P_REMOVE_RAND,
    P_COMMIT1,
    NPHASES
};

static const char *const phase_names[NPHASES] = {
    "insert seq",        "scan seq",      "insert random", "read random",
    "read random short", "remove random", "commit 1",
};

struct bench_cfg {
    uint64_t keys, batch, commits, seed;
    uint32_t slot_length;
    uint32_t cache_mib; /* sop's node cache and SQLite's page cache */
    bool nopin;         /* sop's readers begin SOP_TXN_NOPIN */
    const char *root;   /* the temporary folder */
};

/* What a child sends back through its pipe, whole, after every phase: a
 * child that dies (the OOM killer) leaves the phases it finished. */
struct bench_result {
    unsigned done; /* bit p: phase p finished and checked */
    double secs[NPHASES];
    uint64_t ops[NPHASES];
    uint64_t disk[NPHASES]; /* bytes on disk of its database when phase p ended */
};
/* written whole, so that a report is never torn */
_Static_assert(sizeof(struct bench_result) <= PIPE_BUF, "a report fits one pipe write");

/* ------------------------------------------------- keys, values, orders */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    int i;

    for (i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static void make_key(uint8_t *k, uint64_t i)
{
    put_be64(k, i);
    put_be64(k + 8, mix64(i ^ 0x5eed5eed5eed5eedull));
}

/* The value of key i at version ver: derived from both, so a read proves
 * which write it sees. */
static void make_value(uint8_t *v, uint64_t i, uint64_t ver)
{
    uint64_t s = mix64(i * 0x9e3779b97f4a7c15ull + ver + 1);
    size_t off;

    for (off = 0; off < VAL_LEN; off += 8) {
        uint64_t x = mix64(s += 0x9e3779b97f4a7c15ull);
        size_t n = VAL_LEN - off < 8 ? VAL_LEN - off : 8;

        memcpy(v + off, &x, n);
    }
}

/* A pseudo-random permutation of [0, n): a 4-round Feistel network over
 * the smallest even power of 2 covering n, walked until it lands in range. */
struct perm {
    uint64_t n, mask;
    unsigned half;
    uint64_t k[4];
};

static void perm_init(struct perm *p, uint64_t n, uint64_t seed)
{
    unsigned bits = 2;
    int r;

    while (bits < 64 && (1ull << bits) < n) {
        bits++;
    }
    bits += bits & 1;
    p->n = n;
    p->half = bits / 2;
    p->mask = (1ull << p->half) - 1;
    for (r = 0; r < 4; r++) {
        p->k[r] = mix64(seed * 4 + (uint64_t)r + 0x1234567ull);
    }
}

static uint64_t perm_at(const struct perm *p, uint64_t x)
{
    do {
        uint64_t l = x >> p->half, r = x & p->mask;
        int round;

        for (round = 0; round < 4; round++) {
            uint64_t nl = r;

            r = l ^ (mix64(r ^ p->k[round]) & p->mask);
            l = nl;
        }
        x = l << p->half | r;
    } while (x >= p->n);
    return x;
}

/* --------------------------------------------------------- engine table */

struct kv;
typedef int (*kv_scan_fn)(void *arg, const void *k, size_t kl, const void *v, size_t vl);

struct kv_ops {
    const char *name;
    const char *durability; /* in words, for the report */
    int (*open)(struct kv *kv, const char *dir);
    void (*close)(struct kv *kv);
    int (*begin)(struct kv *kv, bool write);
    int (*commit)(struct kv *kv);
    int (*add)(struct kv *kv, const uint8_t *k, const uint8_t *v); /* fails if present */
    int (*upsert)(struct kv *kv, const uint8_t *k, const uint8_t *v);
    int (*get)(struct kv *kv, const uint8_t *k, const void **v, size_t *vl); /* 1: absent */
    int (*del)(struct kv *kv, const uint8_t *k);                             /* fails if absent */
    int (*scan)(struct kv *kv, kv_scan_fn fn, void *arg); /* fn != 0 stops and is returned */
    int (*count)(struct kv *kv, uint64_t *n);
};

/* One open database of one engine; the ops return 0, or -1 with err set. */
struct kv {
    const struct kv_ops *ops;
    const struct bench_cfg *cfg;
    struct bench_result *res;
    int report_fd; /* the pipe to the parent */
    char err[600];
    sop_db *db;
    sop_txn *t;
    sop_store *s;
#ifdef HAVE_LMDB
    MDB_env *env;
    MDB_txn *mt;
    MDB_dbi dbi;
#endif
#ifdef HAVE_SQLITE3
    sqlite3 *sq;
    sqlite3_stmt *st_begin_r, *st_begin_w, *st_commit, *st_ins, *st_ups, *st_get, *st_del, *st_scan,
        *st_count;
#endif
};

static int kv_fail(struct kv *kv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int kv_fail(struct kv *kv, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(kv->err, sizeof(kv->err), fmt, ap);
    va_end(ap);
    return -1;
}

/* ---------------------------------------------------------------- sop */

static int sop_fail(struct kv *kv, const char *what, int rc)
{
    const char *msg = kv->t ? sop_txn_errmsg(kv->t) : "";

    if (!msg[0] && kv->db) {
        msg = sop_db_errmsg(kv->db);
    }
    return kv_fail(kv, "%s: %s%s%s%s", what, sop_strerror(rc), msg[0] ? " (" : "", msg,
                   msg[0] ? ")" : "");
}

static int sopkv_begin(struct kv *kv, bool write)
{
    int mode = write ? SOP_TXN_WRITE : SOP_TXN_READ | (kv->cfg->nopin ? SOP_TXN_NOPIN : 0);
    int rc = sop_txn_begin(kv->db, mode, &kv->t);

    if (rc != SOP_OK) {
        kv->t = NULL;
        return sop_fail(kv, "sop_txn_begin", rc);
    }
    rc = sop_store_open(kv->t, SOP_STORE, &kv->s);
    if (rc != SOP_OK) {
        return sop_fail(kv, "sop_store_open", rc);
    }
    return 0;
}

static int sopkv_commit(struct kv *kv)
{
    sop_txn *t = kv->t;
    int rc;

    kv->t = NULL;
    kv->s = NULL;
    rc = sop_txn_commit(t);
    if (rc != SOP_OK) {
        return sop_fail(kv, "sop_txn_commit", rc);
    }
    return 0;
}

static void sopkv_close(struct kv *kv)
{
    sop_txn_rollback(kv->t);
    kv->t = NULL;
    kv->s = NULL;
    sop_db_close(kv->db);
    kv->db = NULL;
}

static int sopkv_open(struct kv *kv, const char *dir)
{
    sop_store_options o = {.slot_length = kv->cfg->slot_length,
                           .unique = true,
                           .value_in_node = true,
                           .description = "sop bench engine"};
    sop_db_options dbo = {.cache_bytes = (size_t)kv->cfg->cache_mib << 20};
    int rc = sop_db_open(dir, &dbo, &kv->db);

    if (rc != SOP_OK) {
        kv->db = NULL;
        return sop_fail(kv, "sop_db_open", rc);
    }
    rc = sop_txn_begin(kv->db, SOP_TXN_WRITE, &kv->t);
    if (rc != SOP_OK) {
        kv->t = NULL;
        return sop_fail(kv, "sop_txn_begin", rc);
    }
    rc = sop_store_open(kv->t, SOP_STORE, &kv->s);
    if (rc == SOP_ENOTFOUND) {
        rc = sop_store_create(kv->t, SOP_STORE, &o, &kv->s);
    }
    if (rc != SOP_OK) {
        return sop_fail(kv, "sop_store_create", rc);
    }
    return sopkv_commit(kv);
}

static int sopkv_add(struct kv *kv, const uint8_t *k, const uint8_t *v)
{
    int rc = sop_add(kv->s, k, KEY_LEN, v, VAL_LEN);

    return rc == SOP_OK ? 0 : sop_fail(kv, "sop_add", rc);
}

static int sopkv_upsert(struct kv *kv, const uint8_t *k, const uint8_t *v)
{
    int rc = sop_upsert(kv->s, k, KEY_LEN, v, VAL_LEN);

    return rc == SOP_OK ? 0 : sop_fail(kv, "sop_upsert", rc);
}

static int sopkv_get(struct kv *kv, const uint8_t *k, const void **v, size_t *vl)
{
    int rc = sop_get(kv->s, k, KEY_LEN, v, vl);

    if (rc == SOP_ENOTFOUND) {
        return 1;
    }
    return rc == SOP_OK ? 0 : sop_fail(kv, "sop_get", rc);
}

static int sopkv_del(struct kv *kv, const uint8_t *k)
{
    int rc = sop_remove(kv->s, k, KEY_LEN);

    return rc == SOP_OK ? 0 : sop_fail(kv, "sop_remove", rc);
}

static int sopkv_scan(struct kv *kv, kv_scan_fn fn, void *arg)
{
    sop_cursor *c = NULL;
    int rc, ret = 0;

    rc = sop_cursor_open(kv->s, &c);
    if (rc != SOP_OK) {
        return sop_fail(kv, "sop_cursor_open", rc);
    }
    for (rc = sop_cursor_first(c); rc == SOP_OK; rc = sop_cursor_next(c)) {
        const void *k, *v;
        size_t kl, vl;

        rc = sop_cursor_key(c, &k, &kl);
        if (rc == SOP_OK) {
            rc = sop_cursor_value(c, &v, &vl);
        }
        if (rc != SOP_OK) {
            ret = sop_fail(kv, "sop_cursor_key/value", rc);
            goto out;
        }
        ret = fn(arg, k, kl, v, vl);
        if (ret != 0) {
            goto out;
        }
    }
    if (rc != SOP_ENOTFOUND) {
        ret = sop_fail(kv, "sop_cursor_next", rc);
    }
out:
    sop_cursor_close(c);
    return ret;
}

static int sopkv_count(struct kv *kv, uint64_t *n)
{
    int rc = sop_store_count(kv->s, n);

    return rc == SOP_OK ? 0 : sop_fail(kv, "sop_store_count", rc);
}

static const struct kv_ops sop_ops = {
    "sop",
    "every commit durable (SOP_TXN_WRITE, no SOP_TXN_NOSYNC), store unique + value_in_node",
    sopkv_open,
    sopkv_close,
    sopkv_begin,
    sopkv_commit,
    sopkv_add,
    sopkv_upsert,
    sopkv_get,
    sopkv_del,
    sopkv_scan,
    sopkv_count,
};

/* --------------------------------------------------------------- LMDB */

#ifdef HAVE_LMDB
static int lmdb_fail(struct kv *kv, const char *what, int rc)
{
    return kv_fail(kv, "%s: %s", what, mdb_strerror(rc));
}

static size_t lmdb_map_size(const struct bench_cfg *cfg)
{
    uint64_t want = cfg->keys * 1024;

    return want < (1ull << 30) ? (size_t)1 << 30 : (size_t)want;
}

static int lmdbkv_begin(struct kv *kv, bool write)
{
    int rc = mdb_txn_begin(kv->env, NULL, write ? 0 : MDB_RDONLY, &kv->mt);

    if (rc != 0) {
        kv->mt = NULL;
        return lmdb_fail(kv, "mdb_txn_begin", rc);
    }
    return 0;
}

static int lmdbkv_commit(struct kv *kv)
{
    MDB_txn *t = kv->mt;
    int rc;

    kv->mt = NULL;
    rc = mdb_txn_commit(t);
    return rc == 0 ? 0 : lmdb_fail(kv, "mdb_txn_commit", rc);
}

static void lmdbkv_close(struct kv *kv)
{
    if (kv->mt) {
        mdb_txn_abort(kv->mt);
        kv->mt = NULL;
    }
    if (kv->env) {
        mdb_env_close(kv->env);
        kv->env = NULL;
    }
}

static int lmdbkv_open(struct kv *kv, const char *dir)
{
    int rc = mdb_env_create(&kv->env);

    if (rc != 0) {
        kv->env = NULL;
        return lmdb_fail(kv, "mdb_env_create", rc);
    }
    rc = mdb_env_set_mapsize(kv->env, lmdb_map_size(kv->cfg));
    if (rc != 0) {
        return lmdb_fail(kv, "mdb_env_set_mapsize", rc);
    }
    rc = mdb_env_open(kv->env, dir, 0, 0644);
    if (rc != 0) {
        return lmdb_fail(kv, "mdb_env_open", rc);
    }
    if (lmdbkv_begin(kv, true) != 0) {
        return -1;
    }
    rc = mdb_dbi_open(kv->mt, NULL, 0, &kv->dbi);
    if (rc != 0) {
        return lmdb_fail(kv, "mdb_dbi_open", rc);
    }
    return lmdbkv_commit(kv);
}

static int lmdbkv_put(struct kv *kv, const uint8_t *k, const uint8_t *v, unsigned flags)
{
    MDB_val mk = {KEY_LEN, (void *)k}, mv = {VAL_LEN, (void *)v};
    int rc = mdb_put(kv->mt, kv->dbi, &mk, &mv, flags);

    return rc == 0 ? 0 : lmdb_fail(kv, "mdb_put", rc);
}

static int lmdbkv_add(struct kv *kv, const uint8_t *k, const uint8_t *v)
{
    return lmdbkv_put(kv, k, v, MDB_NOOVERWRITE);
}

static int lmdbkv_upsert(struct kv *kv, const uint8_t *k, const uint8_t *v)
{
    return lmdbkv_put(kv, k, v, 0);
}

static int lmdbkv_get(struct kv *kv, const uint8_t *k, const void **v, size_t *vl)
{
    MDB_val mk = {KEY_LEN, (void *)k}, mv;
    int rc = mdb_get(kv->mt, kv->dbi, &mk, &mv);

    if (rc == MDB_NOTFOUND) {
        return 1;
    }
    if (rc != 0) {
        return lmdb_fail(kv, "mdb_get", rc);
    }
    *v = mv.mv_data;
    *vl = mv.mv_size;
    return 0;
}

static int lmdbkv_del(struct kv *kv, const uint8_t *k)
{
    MDB_val mk = {KEY_LEN, (void *)k};
    int rc = mdb_del(kv->mt, kv->dbi, &mk, NULL);

    return rc == 0 ? 0 : lmdb_fail(kv, "mdb_del", rc);
}

static int lmdbkv_scan(struct kv *kv, kv_scan_fn fn, void *arg)
{
    MDB_cursor *c = NULL;
    MDB_val mk, mv;
    int rc, ret = 0;

    rc = mdb_cursor_open(kv->mt, kv->dbi, &c);
    if (rc != 0) {
        return lmdb_fail(kv, "mdb_cursor_open", rc);
    }
    for (rc = mdb_cursor_get(c, &mk, &mv, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &mk, &mv, MDB_NEXT)) {
        ret = fn(arg, mk.mv_data, mk.mv_size, mv.mv_data, mv.mv_size);
        if (ret != 0) {
            goto out;
        }
    }
    if (rc != MDB_NOTFOUND) {
        ret = lmdb_fail(kv, "mdb_cursor_get", rc);
    }
out:
    mdb_cursor_close(c);
    return ret;
}

static int lmdbkv_count(struct kv *kv, uint64_t *n)
{
    MDB_stat st;
    int rc = mdb_stat(kv->mt, kv->dbi, &st);

    if (rc != 0) {
        return lmdb_fail(kv, "mdb_stat", rc);
    }
    *n = st.ms_entries;
    return 0;
}

static const struct kv_ops lmdb_ops = {
    "lmdb",
    "default flags (no MDB_NOSYNC/NOMETASYNC): data and meta page fsynced at every "
    "commit; MDB_NOOVERWRITE for adds",
    lmdbkv_open,
    lmdbkv_close,
    lmdbkv_begin,
    lmdbkv_commit,
    lmdbkv_add,
    lmdbkv_upsert,
    lmdbkv_get,
    lmdbkv_del,
    lmdbkv_scan,
    lmdbkv_count,
};
#endif /* HAVE_LMDB */

/* ------------------------------------------------------------- SQLite */

#ifdef HAVE_SQLITE3
static int sqlite_fail(struct kv *kv, const char *what)
{
    return kv_fail(kv, "%s: %s", what, kv->sq ? sqlite3_errmsg(kv->sq) : "out of memory");
}

/* Run a statement that returns no rows. */
static int sqlite_run(struct kv *kv, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : sqlite_fail(kv, what);
}

static void sqlitekv_close(struct kv *kv)
{
    sqlite3_stmt **sts[] = {&kv->st_begin_r, &kv->st_begin_w, &kv->st_commit,
                            &kv->st_ins,     &kv->st_ups,     &kv->st_get,
                            &kv->st_del,     &kv->st_scan,    &kv->st_count};
    size_t i;

    for (i = 0; i < sizeof(sts) / sizeof(sts[0]); i++) {
        sqlite3_finalize(*sts[i]);
        *sts[i] = NULL;
    }
    sqlite3_close(kv->sq);
    kv->sq = NULL;
}

static int sqlitekv_open(struct kv *kv, const char *dir)
{
    static const struct {
        size_t off;
        const char *sql;
    } stmts[] = {
        {offsetof(struct kv, st_begin_r), "BEGIN"},
        {offsetof(struct kv, st_begin_w), "BEGIN IMMEDIATE"},
        {offsetof(struct kv, st_commit), "COMMIT"},
        {offsetof(struct kv, st_ins), "INSERT INTO kv(k, v) VALUES (?1, ?2)"},
        {offsetof(struct kv, st_ups),
         "INSERT INTO kv(k, v) VALUES (?1, ?2) ON CONFLICT(k) DO UPDATE SET v = excluded.v"},
        {offsetof(struct kv, st_get), "SELECT v FROM kv WHERE k = ?1"},
        {offsetof(struct kv, st_del), "DELETE FROM kv WHERE k = ?1"},
        {offsetof(struct kv, st_scan), "SELECT k, v FROM kv ORDER BY k"},
        {offsetof(struct kv, st_count), "SELECT count(*) FROM kv"},
    };
    char path[4096], sql[256], *errmsg = NULL;
    sqlite3_stmt *st = NULL;
    size_t i;
    int rc;

    snprintf(path, sizeof(path), "%s/bench.db", dir);
    rc = sqlite3_open_v2(path, &kv->sq, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        return sqlite_fail(kv, "sqlite3_open_v2");
    }
    /* journal_mode answers with the mode it got: make sure it is WAL */
    rc = sqlite3_prepare_v2(kv->sq, "PRAGMA journal_mode=WAL", -1, &st, NULL);
    if (rc != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW ||
        strcmp((const char *)sqlite3_column_text(st, 0), "wal") != 0) {
        sqlite3_finalize(st);
        return kv_fail(kv, "PRAGMA journal_mode=WAL: not in WAL mode (%s)", sqlite3_errmsg(kv->sq));
    }
    sqlite3_finalize(st);
    snprintf(sql, sizeof(sql),
             "PRAGMA synchronous=FULL;"
             "PRAGMA cache_size=-%" PRIu64 ";" /* negative: KiB */
             "CREATE TABLE IF NOT EXISTS kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID;",
             (uint64_t)kv->cfg->cache_mib * 1024);
    rc = sqlite3_exec(kv->sq, sql, NULL, NULL, &errmsg);
    if (rc != SQLITE_OK) {
        kv_fail(kv, "sqlite setup: %s", errmsg ? errmsg : sqlite3_errstr(rc));
        sqlite3_free(errmsg);
        return -1;
    }
    for (i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++) {
        sqlite3_stmt **slot = (sqlite3_stmt **)(void *)((char *)kv + stmts[i].off);

        if (sqlite3_prepare_v2(kv->sq, stmts[i].sql, -1, slot, NULL) != SQLITE_OK) {
            return kv_fail(kv, "prepare \"%s\": %s", stmts[i].sql, sqlite3_errmsg(kv->sq));
        }
    }
    return 0;
}

static int sqlitekv_begin(struct kv *kv, bool write)
{
    return sqlite_run(kv, write ? kv->st_begin_w : kv->st_begin_r, "BEGIN");
}

static int sqlitekv_commit(struct kv *kv)
{
    sqlite3_reset(kv->st_get); /* no statement left running */
    return sqlite_run(kv, kv->st_commit, "COMMIT");
}

static int sqlitekv_write(struct kv *kv, sqlite3_stmt *st, const uint8_t *k, const uint8_t *v,
                          const char *what)
{
    if (sqlite3_bind_blob(st, 1, k, KEY_LEN, SQLITE_STATIC) != SQLITE_OK ||
        (v && sqlite3_bind_blob(st, 2, v, VAL_LEN, SQLITE_STATIC) != SQLITE_OK)) {
        return sqlite_fail(kv, what);
    }
    if (sqlite_run(kv, st, what) != 0) {
        return -1;
    }
    if (sqlite3_changes(kv->sq) != 1) {
        return kv_fail(kv, "%s: %d rows changed, not 1", what, sqlite3_changes(kv->sq));
    }
    return 0;
}

static int sqlitekv_add(struct kv *kv, const uint8_t *k, const uint8_t *v)
{
    return sqlitekv_write(kv, kv->st_ins, k, v, "INSERT");
}

static int sqlitekv_upsert(struct kv *kv, const uint8_t *k, const uint8_t *v)
{
    return sqlitekv_write(kv, kv->st_ups, k, v, "INSERT ... ON CONFLICT DO UPDATE");
}

static int sqlitekv_del(struct kv *kv, const uint8_t *k)
{
    return sqlitekv_write(kv, kv->st_del, k, NULL, "DELETE");
}

static int sqlitekv_get(struct kv *kv, const uint8_t *k, const void **v, size_t *vl)
{
    int rc;

    sqlite3_reset(kv->st_get);
    if (sqlite3_bind_blob(kv->st_get, 1, k, KEY_LEN, SQLITE_STATIC) != SQLITE_OK) {
        return sqlite_fail(kv, "SELECT bind");
    }
    rc = sqlite3_step(kv->st_get);
    if (rc == SQLITE_DONE) {
        return 1;
    }
    if (rc != SQLITE_ROW) {
        return sqlite_fail(kv, "SELECT");
    }
    /* valid until the next reset: the caller checks it before the next get */
    *v = sqlite3_column_blob(kv->st_get, 0);
    *vl = (size_t)sqlite3_column_bytes(kv->st_get, 0);
    return 0;
}

static int sqlitekv_scan(struct kv *kv, kv_scan_fn fn, void *arg)
{
    sqlite3_stmt *st = kv->st_scan;
    int rc, ret = 0;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ret = fn(arg, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0),
                 sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1));
        if (ret != 0) {
            break;
        }
    }
    if (ret == 0 && rc != SQLITE_DONE) {
        ret = sqlite_fail(kv, "SELECT ... ORDER BY k");
    }
    sqlite3_reset(st);
    return ret;
}

static int sqlitekv_count(struct kv *kv, uint64_t *n)
{
    int rc = sqlite3_step(kv->st_count);

    if (rc != SQLITE_ROW) {
        sqlite3_reset(kv->st_count);
        return sqlite_fail(kv, "SELECT count(*)");
    }
    *n = (uint64_t)sqlite3_column_int64(kv->st_count, 0);
    sqlite3_reset(kv->st_count);
    return 0;
}

static const struct kv_ops sqlite_ops = {
    "sqlite",
    "journal_mode=WAL, synchronous=FULL (WAL fsynced at every commit), WITHOUT ROWID "
    "table, prepared statements",
    sqlitekv_open,
    sqlitekv_close,
    sqlitekv_begin,
    sqlitekv_commit,
    sqlitekv_add,
    sqlitekv_upsert,
    sqlitekv_get,
    sqlitekv_del,
    sqlitekv_scan,
    sqlitekv_count,
};
#endif /* HAVE_SQLITE3 */

/* ------------------------------------------------------------ workload */

/* The progress line of the phase running in this child (progress.h). */
static struct progress phase_pg;

/* Report a failure of engine `kv` in a phase, in the child. */
static int phase_fail(struct kv *kv, const char *phase, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int phase_fail(struct kv *kv, const char *phase, const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    progress_end(&phase_pg);
    fprintf(stderr, "sop: bench: %s: %s: ", kv->ops->name, phase);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return -1;
}

static int du_total_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw);
static uint64_t du_total;

static int du_total_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)path;
    (void)ftw;
    if (flag == FTW_F) {
        du_total += (uint64_t)st->st_blocks * 512;
    }
    return 0;
}

/* Bytes allocated on disk under `dir`. */
static uint64_t disk_usage(const char *dir)
{
    du_total = 0;
    nftw(dir, du_total_cb, 16, FTW_PHYS);
    return du_total;
}

static int check_count(struct kv *kv, const char *phase, uint64_t want)
{
    uint64_t n = 0;

    if (kv->ops->begin(kv, false) != 0 || kv->ops->count(kv, &n) != 0 || kv->ops->commit(kv) != 0) {
        return phase_fail(kv, phase, "count: %s", kv->err);
    }
    if (n != want) {
        return phase_fail(kv, phase, "count is %" PRIu64 ", expected %" PRIu64, n, want);
    }
    return 0;
}

/* Send the results so far to the parent (a write under PIPE_BUF is atomic). */
static void report(struct kv *kv)
{
    if (write(kv->report_fd, kv->res, sizeof(*kv->res)) != (ssize_t)sizeof(*kv->res)) {
        fprintf(stderr, "sop: bench: %s: write to the parent: %s\n", kv->ops->name,
                strerror(errno));
    }
}

static void phase_begin(const struct kv *kv, enum phase p, uint64_t total)
{
    progress_start(&phase_pg, 0, "ops", "bench %s: %s", kv->ops->name, phase_names[p]);
    progress_total(&phase_pg, total, 0);
    progress_update(&phase_pg, 0, 0);
}

/* Op j of the phase is done: the line is looked at every 1024 ops, so the
 * clock costs the phase nothing measurable. */
static void phase_tick(uint64_t j)
{
    if ((j & 1023) == 0)
        progress_update(&phase_pg, j, 0);
}

/* Phase p ended, checked: keep and report its time, and the disk use of
 * the database in `dir` it worked on. */
static void phase_done(struct kv *kv, enum phase p, uint64_t ops, double t0, const char *dir)
{
    struct bench_result *res = kv->res;
    double secs = cli_now() - t0;

    progress_end(&phase_pg);
    res->secs[p] = secs;
    res->ops[p] = ops;
    res->disk[p] = disk_usage(dir);
    res->done |= 1u << p;
    report(kv);
    printf("  %-7s %-17s %10" PRIu64 " ops %9.3f s %12.0f ops/s\n", kv->ops->name, phase_names[p],
           ops, secs, secs > 0 ? (double)ops / secs : 0.0);
    fflush(stdout);
}

/* Insert all keys in batches, in index order or in the order of `perm`. */
static int insert_all(struct kv *kv, const struct perm *perm, const char *phase)
{
    const struct bench_cfg *cfg = kv->cfg;
    uint8_t k[KEY_LEN], v[VAL_LEN];
    uint64_t j;

    for (j = 0; j < cfg->keys; j++) {
        uint64_t i = perm ? perm_at(perm, j) : j;

        phase_tick(j);
        if (j % cfg->batch == 0 && kv->ops->begin(kv, true) != 0) {
            return phase_fail(kv, phase, "begin: %s", kv->err);
        }
        make_key(k, i);
        make_value(v, i, 0);
        if (kv->ops->add(kv, k, v) != 0) {
            return phase_fail(kv, phase, "add key #%" PRIu64 " (op %" PRIu64 "): %s", i, j,
                              kv->err);
        }
        if ((j + 1) % cfg->batch == 0 || j + 1 == cfg->keys) {
            if (kv->ops->commit(kv) != 0) {
                return phase_fail(kv, phase, "commit after op %" PRIu64 ": %s", j, kv->err);
            }
        }
    }
    return 0;
}

/* Check the value read for key i at version ver. */
static int check_value(struct kv *kv, const char *phase, uint64_t i, uint64_t ver, const void *v,
                       size_t vl)
{
    uint8_t want[VAL_LEN];

    make_value(want, i, ver);
    if (vl != VAL_LEN || memcmp(v, want, VAL_LEN) != 0) {
        return phase_fail(kv, phase,
                          "key #%" PRIu64 ": wrong value (%zu bytes, expected %d bytes of "
                          "version %" PRIu64 ")",
                          i, vl, VAL_LEN, ver);
    }
    return 0;
}

/* Get and check all keys, in the order of `perm`, per_txn gets per read
 * transaction. */
static int read_all(struct kv *kv, const struct perm *perm, uint64_t per_txn, const char *phase)
{
    const struct bench_cfg *cfg = kv->cfg;
    uint8_t k[KEY_LEN];
    uint64_t j;

    for (j = 0; j < cfg->keys; j++) {
        uint64_t i = perm_at(perm, j);
        const void *got;
        size_t gl;
        int rc;

        phase_tick(j);
        if (j % per_txn == 0 && kv->ops->begin(kv, false) != 0) {
            return phase_fail(kv, phase, "begin: %s", kv->err);
        }
        make_key(k, i);
        rc = kv->ops->get(kv, k, &got, &gl);
        if (rc != 0) {
            return phase_fail(kv, phase, "get key #%" PRIu64 ": %s", i,
                              rc > 0 ? "not found" : kv->err);
        }
        if (check_value(kv, phase, i, 0, got, gl) != 0) {
            return -1;
        }
        if ((j + 1) % per_txn == 0 || j + 1 == cfg->keys) {
            if (kv->ops->commit(kv) != 0) {
                return phase_fail(kv, phase, "commit after op %" PRIu64 ": %s", j, kv->err);
            }
        }
    }
    return 0;
}

struct scan_state {
    struct kv *kv;
    uint64_t next;
};

static int scan_check(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
    struct scan_state *ss = arg;
    uint8_t want[KEY_LEN];

    make_key(want, ss->next);
    if (kl != KEY_LEN || memcmp(k, want, KEY_LEN) != 0) {
        return phase_fail(ss->kv, phase_names[P_SCAN],
                          "item %" PRIu64 ": wrong key (%zu bytes; missing, extra or out of "
                          "order)",
                          ss->next, kl);
    }
    if (check_value(ss->kv, phase_names[P_SCAN], ss->next, 0, v, vl) != 0) {
        return -1;
    }
    ss->next++;
    phase_tick(ss->next);
    return 0;
}

/* The whole workload on one engine, in a child; res gets the timings. */
static int run_engine(const struct kv_ops *ops, const struct bench_cfg *cfg, const char *dir,
                      struct bench_result *res, int report_fd)
{
    struct kv kv = {.ops = ops, .cfg = cfg, .res = res, .report_fd = report_fd};
    char seq[4200], rnd[4200]; /* dir is shorter than 4096 */
    uint8_t k[KEY_LEN], v[VAL_LEN];
    struct perm p_ins, p_read, p_short, p_del, p_commit;
    struct scan_state sc = {&kv, 0};
    uint64_t j, first;
    double t0;
    int ret = -1;

    perm_init(&p_ins, cfg->keys, cfg->seed);
    perm_init(&p_read, cfg->keys, cfg->seed + 1);
    perm_init(&p_del, cfg->keys, cfg->seed + 2);
    perm_init(&p_commit, cfg->keys, cfg->seed + 3);
    perm_init(&p_short, cfg->keys, cfg->seed + 4);
    snprintf(seq, sizeof(seq), "%s/seq", dir);
    snprintf(rnd, sizeof(rnd), "%s/rand", dir);
    if (mkdir(dir, 0755) != 0 || mkdir(seq, 0755) != 0 || mkdir(rnd, 0755) != 0) {
        return phase_fail(&kv, "setup", "mkdir under %s: %s", dir, strerror(errno));
    }

    /* 1, 2: sequential inserts, then a scan checking every item */
    if (ops->open(&kv, seq) != 0) {
        phase_fail(&kv, "setup", "open %s: %s", seq, kv.err);
        goto out;
    }
    phase_begin(&kv, P_INSERT_SEQ, cfg->keys);
    t0 = cli_now();
    if (insert_all(&kv, NULL, phase_names[P_INSERT_SEQ]) != 0) {
        goto out;
    }
    phase_done(&kv, P_INSERT_SEQ, cfg->keys, t0, seq);
    if (check_count(&kv, phase_names[P_INSERT_SEQ], cfg->keys) != 0) {
        goto out;
    }
    phase_begin(&kv, P_SCAN, cfg->keys);
    t0 = cli_now();
    if (ops->begin(&kv, false) != 0) {
        phase_fail(&kv, phase_names[P_SCAN], "begin: %s", kv.err);
        goto out;
    }
    if (ops->scan(&kv, scan_check, &sc) != 0) {
        if (kv.err[0]) {
            phase_fail(&kv, phase_names[P_SCAN], "%s", kv.err);
        }
        goto out;
    }
    if (ops->commit(&kv) != 0) {
        phase_fail(&kv, phase_names[P_SCAN], "commit: %s", kv.err);
        goto out;
    }
    if (sc.next != cfg->keys) {
        phase_fail(&kv, phase_names[P_SCAN], "walked %" PRIu64 " items, expected %" PRIu64, sc.next,
                   cfg->keys);
        goto out;
    }
    phase_done(&kv, P_SCAN, cfg->keys, t0, seq);
    ops->close(&kv);

    /* 3, 4, 5: random inserts, random reads, random removes */
    if (ops->open(&kv, rnd) != 0) {
        phase_fail(&kv, "setup", "open %s: %s", rnd, kv.err);
        goto out;
    }
    phase_begin(&kv, P_INSERT_RAND, cfg->keys);
    t0 = cli_now();
    if (insert_all(&kv, &p_ins, phase_names[P_INSERT_RAND]) != 0) {
        goto out;
    }
    phase_done(&kv, P_INSERT_RAND, cfg->keys, t0, rnd);
    if (check_count(&kv, phase_names[P_INSERT_RAND], cfg->keys) != 0) {
        goto out;
    }
    phase_begin(&kv, P_READ_RAND, cfg->keys);
    t0 = cli_now();
    if (read_all(&kv, &p_read, cfg->keys, phase_names[P_READ_RAND]) != 0) {
        goto out;
    }
    phase_done(&kv, P_READ_RAND, cfg->keys, t0, rnd);
    phase_begin(&kv, P_READ_SHORT, cfg->keys);
    t0 = cli_now();
    if (read_all(&kv, &p_short, READ_TXN, phase_names[P_READ_SHORT]) != 0) {
        goto out;
    }
    phase_done(&kv, P_READ_SHORT, cfg->keys, t0, rnd);
    phase_begin(&kv, P_REMOVE_RAND, cfg->keys);
    t0 = cli_now();
    for (j = 0; j < cfg->keys; j++) {
        uint64_t i = perm_at(&p_del, j);

        phase_tick(j);
        if (j % cfg->batch == 0 && ops->begin(&kv, true) != 0) {
            phase_fail(&kv, phase_names[P_REMOVE_RAND], "begin: %s", kv.err);
            goto out;
        }
        make_key(k, i);
        if (ops->del(&kv, k) != 0) {
            phase_fail(&kv, phase_names[P_REMOVE_RAND], "remove key #%" PRIu64 ": %s", i, kv.err);
            goto out;
        }
        if ((j + 1) % cfg->batch == 0 || j + 1 == cfg->keys) {
            if (ops->commit(&kv) != 0) {
                phase_fail(&kv, phase_names[P_REMOVE_RAND], "commit after op %" PRIu64 ": %s", j,
                           kv.err);
                goto out;
            }
        }
    }
    phase_done(&kv, P_REMOVE_RAND, cfg->keys, t0, rnd);
    if (check_count(&kv, phase_names[P_REMOVE_RAND], 0) != 0) {
        goto out;
    }
    ops->close(&kv);

    /* 6: single-upsert durable commits into the reopened sequential database */
    if (cfg->commits > 0) {
        if (ops->open(&kv, seq) != 0) {
            phase_fail(&kv, "setup", "reopen %s: %s", seq, kv.err);
            goto out;
        }
        phase_begin(&kv, P_COMMIT1, cfg->commits);
        t0 = cli_now();
        for (j = 0; j < cfg->commits; j++) {
            uint64_t i = perm_at(&p_commit, j % cfg->keys);

            phase_tick(j);
            make_key(k, i);
            make_value(v, i, j + 1);
            if (ops->begin(&kv, true) != 0 || ops->upsert(&kv, k, v) != 0 ||
                ops->commit(&kv) != 0) {
                phase_fail(&kv, phase_names[P_COMMIT1], "commit %" PRIu64 " (key #%" PRIu64 "): %s",
                           j, i, kv.err);
                goto out;
            }
        }
        phase_done(&kv, P_COMMIT1, cfg->commits, t0, seq);
        /* the last write of each key touched is what a read finds */
        first = cfg->commits > cfg->keys ? cfg->commits - cfg->keys : 0;
        if (ops->begin(&kv, false) != 0) {
            phase_fail(&kv, phase_names[P_COMMIT1], "begin: %s", kv.err);
            goto out;
        }
        for (j = first; j < cfg->commits; j++) {
            uint64_t i = perm_at(&p_commit, j % cfg->keys);
            const void *got;
            size_t gl;
            int rc;

            make_key(k, i);
            rc = ops->get(&kv, k, &got, &gl);
            if (rc != 0) {
                phase_fail(&kv, phase_names[P_COMMIT1], "check key #%" PRIu64 ": %s", i,
                           rc > 0 ? "not found" : kv.err);
                goto out;
            }
            if (check_value(&kv, phase_names[P_COMMIT1], i, j + 1, got, gl) != 0) {
                goto out;
            }
        }
        if (ops->commit(&kv) != 0) {
            phase_fail(&kv, phase_names[P_COMMIT1], "commit: %s", kv.err);
            goto out;
        }
        if (check_count(&kv, phase_names[P_COMMIT1], cfg->keys) != 0) {
            goto out;
        }
    }
    ret = 0;
out:
    ops->close(&kv);
    return ret;
}

/* -------------------------------------------------------------- parent */

/* The value of the first line of `path` that starts with `key` (then
 * spaces or tabs, then ':' or '='), trimmed and unquoted, into buf; false
 * when there is none. */
static bool file_field(const char *path, const char *key, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    size_t kl = strlen(key);
    bool found = false;

    if (!f) {
        return false;
    }
    while (!found && fgets(line, sizeof(line), f)) {
        char *v = line + kl, *end;

        if (strncmp(line, key, kl) != 0) {
            continue;
        }
        v += strspn(v, " \t");
        if (*v != ':' && *v != '=') {
            continue;
        }
        v++;
        v += strspn(v, " \t\"");
        end = v + strlen(v);
        while (end > v && (end[-1] == '\n' || end[-1] == '"' || end[-1] == ' ')) {
            end--;
        }
        *end = 0;
        snprintf(buf, size, "%s", v);
        found = true;
    }
    fclose(f);
    return found;
}

/* "ext4 (/dev/vda, 80.1 GiB free)": the file system holding `dir`, from the
 * mount table entry with the longest mount point above it. */
static void describe_fs(const char *dir, char *buf, size_t size)
{
    char real[PATH_MAX], type[64] = "?", dev[256] = "?";
    size_t best = 0;
    struct statvfs vfs;
    struct mntent *m;
    FILE *f;

    if (!realpath(dir, real)) {
        snprintf(real, sizeof(real), "%s", dir);
    }
    f = setmntent("/proc/self/mounts", "r");
    while (f && (m = getmntent(f)) != NULL) {
        size_t n = strlen(m->mnt_dir);

        if (strncmp(real, m->mnt_dir, n) == 0 && (n == 1 || real[n] == '/' || real[n] == 0) &&
            n >= best) {
            best = n;
            snprintf(type, sizeof(type), "%s", m->mnt_type);
            snprintf(dev, sizeof(dev), "%s", m->mnt_fsname);
        }
    }
    if (f) {
        endmntent(f);
    }
    if (statvfs(dir, &vfs) == 0) {
        snprintf(buf, size, "%s (%s, %.1f GiB free)", type, dev,
                 (double)vfs.f_bavail * (double)vfs.f_frsize / (1u << 30));
    } else {
        snprintf(buf, size, "%s (%s)", type, dev);
    }
}

/* One line saying what the figures were measured on: cpus, memory, system,
 * kernel and the build, for pasting with the table. */
static void describe_machine(char *buf, size_t size)
{
    char model[256] = "", flags[4096] = "", os[256] = "";
    const char *build;
    struct utsname u;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    bool vm;

    if (!file_field("/proc/cpuinfo", "model name", model, sizeof(model))) {
        file_field("/proc/cpuinfo", "Model", model, sizeof(model));
    }
    /* "hypervisor" is one of x86's cpu flags under a hypervisor */
    vm = file_field("/proc/cpuinfo", "flags", flags, sizeof(flags)) &&
         strstr(flags, " hypervisor") != NULL;
    if (!file_field("/etc/os-release", "PRETTY_NAME", os, sizeof(os))) {
        snprintf(os, sizeof(os), "?");
    }
    if (uname(&u) != 0) {
        memset(&u, 0, sizeof(u));
    }
#if defined(__SANITIZE_ADDRESS__)
    build = "built with sanitizers: not for measuring";
#elif defined(__OPTIMIZE__)
    build = "optimized build";
#else
    build = "unoptimized build: not for measuring";
#endif
    snprintf(buf, size, "%ld cpus (%s%s%s), %.1f GiB RAM, %s, %s %s %s, %s",
             sysconf(_SC_NPROCESSORS_ONLN), model[0] ? model : "?", vm ? ", " : "",
             vm ? "virtual machine" : "", (double)pages * (double)page / (1u << 30), os, u.sysname,
             u.release, u.machine, build);
}

/* The load average over the last minute, or -1. */
static double load1(void)
{
    double l[1];

    return getloadavg(l, 1) == 1 ? l[0] : -1;
}

enum { E_SOP, E_LMDB, E_SQLITE, NENGINES };

static const char *const engine_names[NENGINES] = {"sop", "lmdb", "sqlite"};

static const struct kv_ops *engine_ops(int e)
{
    switch (e) {
    case E_SOP:
        return &sop_ops;
#ifdef HAVE_LMDB
    case E_LMDB:
        return &lmdb_ops;
#endif
#ifdef HAVE_SQLITE3
    case E_SQLITE:
        return &sqlite_ops;
#endif
    default:
        return NULL;
    }
}

static bool parse_only(const char *s, bool *on)
{
    char buf[256], *tok, *save = NULL;
    int e;

    if (strlen(s) >= sizeof(buf)) {
        return false;
    }
    strcpy(buf, s);
    for (e = 0; e < NENGINES; e++) {
        on[e] = false;
    }
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        for (e = 0; e < NENGINES; e++) {
            if (strcmp(tok, engine_names[e]) == 0) {
                on[e] = true;
                break;
            }
        }
        if (e == NENGINES) {
            return false;
        }
    }
    return true;
}

enum status { NOT_RUN, RAN_OK, RAN_FAILED, SKIPPED /* failed at a smaller size */ };

/* The runs of the engines at one size. */
#define MAX_SIZES 16
struct size_run {
    uint64_t keys;
    enum status st[NENGINES];
    struct bench_result res[NENGINES];
    long rss[NENGINES]; /* peak RSS, KiB */
};

/* Run one engine in a child.  Returns its status; *res gets what it
 * reported (the phases it finished, even when it died) and *rss_kib its
 * peak RSS. */
static enum status run_child(const struct kv_ops *ops, const struct bench_cfg *cfg,
                             struct bench_result *res, long *rss_kib)
{
    struct bench_result msg;
    char dir[4096];
    struct rusage ru;
    size_t got = 0;
    int fds[2], status = 0;
    pid_t pid;

    snprintf(dir, sizeof(dir), "%s/%s", cfg->root, ops->name);
    if (pipe(fds) != 0) {
        cli_err("bench: pipe: %s", strerror(errno));
        return RAN_FAILED;
    }
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0) {
        cli_err("bench: fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return RAN_FAILED;
    }
    if (pid == 0) {
        struct bench_result r;
        int rc;

        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        close(fds[0]);
        memset(&r, 0, sizeof(r));
        rc = run_engine(ops, cfg, dir, &r, fds[1]);
        close(fds[1]);
        fflush(stdout);
        exit(rc == 0 ? 0 : 1);
    }
    close(fds[1]);
    for (;;) {
        ssize_t n = read(fds[0], (char *)&msg + got, sizeof(msg) - got);

        if (n < 0 && errno == EINTR) {
            if (cli_signal) {
                kill(pid, SIGTERM); /* a signal sent to this process only */
            }
            continue;
        }
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
        if (got == sizeof(msg)) {
            *res = msg; /* the latest whole report */
            got = 0;
        }
    }
    close(fds[0]);
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) {
            cli_err("bench: wait4: %s", strerror(errno));
            cli_rm_tree(dir);
            return RAN_FAILED;
        }
    }
    cli_rm_tree(dir);
    *rss_kib = ru.ru_maxrss;
    if (WIFSIGNALED(status)) {
        cli_err("bench: %s: FAILED: killed by signal %d (%s)%s; peak RSS %.0f MiB", ops->name,
                WTERMSIG(status), strsignal(WTERMSIG(status)),
                WTERMSIG(status) == SIGKILL ? ", likely the kernel's OOM killer" : "",
                (double)ru.ru_maxrss / 1024);
        return RAN_FAILED;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        cli_err("bench: %s: FAILED (exit status %d): see the message above", ops->name,
                WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return RAN_FAILED;
    }
    return RAN_OK;
}

/* One table row: a value per engine, or a text when have[e] is false, and
 * the ratios sop/lmdb, sop/sqlite when both values are there: of the
 * values, or with `inverse` of their inverses (costs as speeds). */
static void print_row(const char *label, const char *ops, const double *val, const bool *have,
                      const char *const *text, int decimals, bool inverse)
{
    int e;

    printf("%-19s %9s", label, ops);
    for (e = 0; e < NENGINES; e++) {
        if (have[e]) {
            printf(" %12.*f", decimals, val[e]);
        } else {
            printf(" %12s", text[e]);
        }
    }
    for (e = E_LMDB; e <= E_SQLITE; e++) {
        if (have[E_SOP] && have[e] && val[e] > 0 && val[E_SOP] > 0) {
            printf(" %10.2f", inverse ? val[e] / val[E_SOP] : val[E_SOP] / val[e]);
        } else {
            printf(" %10s", "-");
        }
    }
    putchar('\n');
}

/* What a table cell says of engine e in phase p when it has no figure. */
static const char *no_figure(enum status st, const struct bench_result *r, int p)
{
    unsigned before = (1u << p) - 1;

    if (st == NOT_RUN) {
        return "n/a";
    }
    if (st == SKIPPED) {
        return "skipped";
    }
    /* the first phase not done is where it failed */
    return !(r->done >> p & 1) && (r->done & before) == before ? "FAILED" : "-";
}

static bool have_phase(const struct bench_result *r, int p)
{
    return (r->done >> p & 1) && r->secs[p] > 0;
}

static bool phase_shown(const struct bench_cfg *cfg, int p)
{
    return p != P_COMMIT1 || cfg->commits > 0;
}

/* The table of one run at cfg->keys keys. */
static void print_table(const struct bench_cfg *cfg, const struct size_run *run)
{
    double val[NENGINES];
    bool have[NENGINES];
    const char *text[NENGINES];
    char ops[32], label[64];
    int p, e;

    printf("%-19s %9s %12s %12s %12s %10s %10s\n", "phase", "ops", "sop ops/s", "lmdb ops/s",
           "sqlite ops/s", "sop/lmdb", "sop/sqlite");
    for (p = 0; p < NPHASES; p++) {
        if (!phase_shown(cfg, p)) {
            continue;
        }
        snprintf(ops, sizeof(ops), "%" PRIu64, p == P_COMMIT1 ? cfg->commits : cfg->keys);
        for (e = 0; e < NENGINES; e++) {
            const struct bench_result *r = &run->res[e];

            have[e] = have_phase(r, p);
            val[e] = have[e] ? (double)r->ops[p] / r->secs[p] : 0;
            text[e] = no_figure(run->st[e], r, p);
        }
        print_row(phase_names[p], ops, val, have, text, 0, false);
    }
    for (e = 0; e < NENGINES; e++) {
        have[e] = run->st[e] == RAN_OK || run->st[e] == RAN_FAILED;
        val[e] = (double)run->rss[e] / 1024;
        text[e] = run->st[e] == SKIPPED ? "skipped" : "n/a";
    }
    print_row("peak RSS MiB", "", val, have, text, 1, false);
    printf("disk MiB at the end of\n");
    for (p = 0; p < NPHASES; p++) {
        if (!phase_shown(cfg, p)) {
            continue;
        }
        for (e = 0; e < NENGINES; e++) {
            have[e] = run->res[e].done >> p & 1;
            val[e] = (double)run->res[e].disk[p] / 1048576.0;
            text[e] = run->st[e] == NOT_RUN ? "n/a" : run->st[e] == SKIPPED ? "skipped" : "-";
        }
        snprintf(label, sizeof(label), "  %s", phase_names[p]);
        print_row(label, "", val, have, text, 1, false);
    }
    printf("(ops/s: higher is better, a ratio above 1 means sop is faster; RSS and disk: lower\n"
           " is better.  LMDB's RSS counts the pages of its memory map it touched.  Disk: the\n"
           " database the phase used, \"seq\" for insert seq, scan seq and commit 1.)\n");
}

/* The scale summary: per phase the cost per operation at every size, its
 * growth from the smallest size to the largest, and the speed ratios; then
 * sop's disk use against LMDB's at the end of every phase, and peak RSS. */
static void print_scale(const struct bench_cfg *cfg, const struct size_run *runs, int nsizes)
{
    const struct size_run *lo = &runs[0], *hi = &runs[nsizes - 1];
    double val[NENGINES];
    bool have[NENGINES];
    const char *text[NENGINES];
    char keys[32];
    int p, e, z;

    printf("\ncost per operation in microseconds (lower is better)\n"
           "  sop/lmdb, sop/sqlite: their cost over sop's = sop's ops/s over theirs (above 1: "
           "sop is faster)\n");
    if (nsizes > 1) {
        printf("  growth: the cost at %" PRIu64 " keys over the cost at %" PRIu64
               " (lower is better)\n",
               hi->keys, lo->keys);
    }
    if (cfg->commits > 0) {
        printf("  commit 1: %" PRIu64 " commits at every size\n", cfg->commits);
    }
    printf("%-19s %9s %12s %12s %12s %10s %10s\n", "phase", "keys", "sop us/op", "lmdb us/op",
           "sqlite us/op", "sop/lmdb", "sop/sqlite");
    for (p = 0; p < NPHASES; p++) {
        if (!phase_shown(cfg, p)) {
            continue;
        }
        for (z = 0; z < nsizes; z++) {
            snprintf(keys, sizeof(keys), "%" PRIu64, runs[z].keys);
            for (e = 0; e < NENGINES; e++) {
                const struct bench_result *r = &runs[z].res[e];

                have[e] = have_phase(r, p) && r->ops[p] > 0;
                val[e] = have[e] ? r->secs[p] * 1e6 / (double)r->ops[p] : 0;
                text[e] = no_figure(runs[z].st[e], r, p);
            }
            print_row(z == 0 ? phase_names[p] : "", keys, val, have, text, 3, true);
        }
        if (nsizes < 2) {
            continue;
        }
        printf("%-19s %9s", "", "growth");
        for (e = 0; e < NENGINES; e++) {
            const struct bench_result *a = &lo->res[e], *b = &hi->res[e];

            if (have_phase(a, p) && have_phase(b, p) && a->ops[p] > 0 && b->ops[p] > 0) {
                double ca = a->secs[p] / (double)a->ops[p], cb = b->secs[p] / (double)b->ops[p];

                printf(" %11.2fx", cb / ca);
            } else {
                printf(" %12s", "-");
            }
        }
        putchar('\n');
    }

    printf("\nsop's disk use over LMDB's at the end of each phase (lower is better)\n");
    printf("%-19s", "keys");
    for (z = 0; z < nsizes; z++) {
        printf(" %10" PRIu64, runs[z].keys);
    }
    putchar('\n');
    for (p = 0; p < NPHASES; p++) {
        if (!phase_shown(cfg, p)) {
            continue;
        }
        printf("%-19s", phase_names[p]);
        for (z = 0; z < nsizes; z++) {
            const struct bench_result *s = &runs[z].res[E_SOP], *l = &runs[z].res[E_LMDB];

            if ((s->done >> p & 1) && (l->done >> p & 1) && l->disk[p] > 0) {
                printf(" %10.2f", (double)s->disk[p] / (double)l->disk[p]);
            } else {
                printf(" %10s", "-");
            }
        }
        putchar('\n');
    }

    printf("\npeak RSS in MiB; sop-cache: sop's less its node cache (%" PRIu32
           " MiB, --cache-mib)\n",
           cfg->cache_mib);
    printf("%-19s %9s %12s %12s %12s %10s\n", "", "keys", "sop", "lmdb", "sqlite", "sop-cache");
    for (z = 0; z < nsizes; z++) {
        const struct size_run *r = &runs[z];

        printf("%-19s %9" PRIu64, z == 0 ? "peak RSS MiB" : "", r->keys);
        for (e = 0; e < NENGINES; e++) {
            if (r->st[e] == RAN_OK || r->st[e] == RAN_FAILED) {
                printf(" %12.1f", (double)r->rss[e] / 1024);
            } else {
                printf(" %12s", r->st[e] == SKIPPED ? "skipped" : "n/a");
            }
        }
        if (r->st[E_SOP] == RAN_OK || r->st[E_SOP] == RAN_FAILED) {
            printf(" %10.1f", (double)r->rss[E_SOP] / 1024 - cfg->cache_mib);
        } else {
            printf(" %10s", "-");
        }
        putchar('\n');
    }
}

/* --sizes: ascending key counts, comma-separated, plain decimals. */
static bool parse_sizes(const char *s, uint64_t *sizes, int *n)
{
    char buf[512], *tok, *save = NULL;

    if (strlen(s) >= sizeof(buf)) {
        return false;
    }
    strcpy(buf, s);
    *n = 0;
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (*n == MAX_SIZES || !cli_parse_u64(tok, 1, 1ull << 40, false, &sizes[*n]) ||
            (*n > 0 && sizes[*n] <= sizes[*n - 1])) {
            return false;
        }
        (*n)++;
    }
    return *n > 0;
}

static int bench_engine(int argc, char **argv)
{
    enum {
        O_KEYS = 256,
        O_BATCH,
        O_COMMITS,
        O_DIR,
        O_ONLY,
        O_SLOT,
        O_SEED,
        O_CACHE,
        O_SCALE,
        O_SIZES,
        O_NOPIN
    };
    static const struct option longopts[] = {
        {"keys", required_argument, NULL, O_KEYS},
        {"batch", required_argument, NULL, O_BATCH},
        {"commits", required_argument, NULL, O_COMMITS},
        {"dir", required_argument, NULL, O_DIR},
        {"only", required_argument, NULL, O_ONLY},
        {"slot-length", required_argument, NULL, O_SLOT},
        {"seed", required_argument, NULL, O_SEED},
        {"cache-mib", required_argument, NULL, O_CACHE},
        {"scale", no_argument, NULL, O_SCALE},
        {"sizes", required_argument, NULL, O_SIZES},
        {"nopin", no_argument, NULL, O_NOPIN},
        {NULL, 0, NULL, 0},
    };
    static const uint64_t scale_sizes[] = {100000, 1000000, 10000000};
    struct bench_cfg cfg = {.keys = 1000000,
                            .batch = 1000,
                            .commits = 10000,
                            .seed = 1,
                            .slot_length = 1000,
                            .cache_mib = 64};
    static struct size_run runs[MAX_SIZES];
    uint64_t sizes[MAX_SIZES];
    bool on[NENGINES] = {true, true, true}, failed[NENGINES] = {false, false, false};
    const char *base = getenv("TMPDIR");
    char root[4096], machine[1024], fs[512], started[64];
    struct sigaction old_int, old_term;
    bool root_made = false, any_failed = false, scale = false, keys_given = false;
    time_t started_at;
    struct tm tm;
    double t0 = cli_now(), load0;
    uint64_t n;
    int c, e, z, nsizes = 0, ret = CLI_OK;

    if (!base || !base[0]) {
        base = "/tmp";
    }
    optind = 1;
    while ((c = cli_getopt("bench", argc, argv, "", longopts)) != -1) {
        switch (c) {
        case O_KEYS:
            if (!cli_parse_u64(optarg, 1, 1ull << 40, true, &cfg.keys)) {
                return cli_usage("bench", "bench engine: bad --keys '%s'", optarg);
            }
            keys_given = true;
            break;
        case O_BATCH:
            if (!cli_parse_u64(optarg, 1, 1ull << 32, true, &cfg.batch)) {
                return cli_usage("bench", "bench engine: bad --batch '%s'", optarg);
            }
            break;
        case O_COMMITS:
            if (!cli_parse_u64(optarg, 0, 1ull << 32, true, &cfg.commits)) {
                return cli_usage("bench", "bench engine: bad --commits '%s'", optarg);
            }
            break;
        case O_DIR:
            base = optarg;
            break;
        case O_ONLY:
            if (!parse_only(optarg, on)) {
                return cli_usage("bench", "bench engine: --only takes sop,lmdb,sqlite, not '%s'",
                                 optarg);
            }
            break;
        case O_SLOT:
            if (!cli_parse_u64(optarg, 4, 65535, false, &n)) {
                return cli_usage("bench", "bench engine: --slot-length takes 4..65535, not '%s'",
                                 optarg);
            }
            cfg.slot_length = (uint32_t)n;
            break;
        case O_CACHE:
            if (!cli_parse_u64(optarg, 1, 1u << 20, false, &n)) {
                return cli_usage("bench", "bench engine: --cache-mib takes 1..1048576, not '%s'",
                                 optarg);
            }
            cfg.cache_mib = (uint32_t)n;
            break;
        case O_SEED:
            if (!cli_parse_u64(optarg, 0, UINT64_MAX, false, &cfg.seed)) {
                return cli_usage("bench", "bench engine: bad --seed '%s'", optarg);
            }
            break;
        case O_SCALE:
            scale = true;
            break;
        case O_NOPIN:
            cfg.nopin = true;
            break;
        case O_SIZES:
            if (!parse_sizes(optarg, sizes, &nsizes)) {
                return cli_usage("bench",
                                 "bench engine: --sizes takes up to %d ascending key counts "
                                 "(plain decimals, 1..2^40), comma-separated, not '%s'",
                                 MAX_SIZES, optarg);
            }
            scale = true;
            break;
        default:
            return CLI_USAGE;
        }
    }
    if (optind != argc) {
        return cli_usage("bench", "bench engine: unexpected argument '%s'", argv[optind]);
    }
    if (scale && keys_given) {
        return cli_usage("bench", "bench engine: --keys is one size; --scale and --sizes set "
                                  "theirs: give one or the other");
    }
    if (scale && nsizes == 0) {
        for (z = 0; z < (int)(sizeof(scale_sizes) / sizeof(scale_sizes[0])); z++) {
            sizes[nsizes++] = scale_sizes[z];
        }
    }
    if (!scale) {
        sizes[nsizes++] = cfg.keys;
    }
    memset(runs, 0, sizeof(runs));
    if (snprintf(root, sizeof(root), "%s/sop-bench-XXXXXX", base) >= (int)sizeof(root) - 64) {
        cli_err("bench: --dir path too long");
        return CLI_FAIL;
    }
    if (!mkdtemp(root)) {
        cli_err("bench: create a temporary folder in %s: %s", base, strerror(errno));
        return CLI_FAIL;
    }
    root_made = true;
    cfg.root = root;
    cli_catch_signals(&old_int, &old_term);

    if (scale) {
        printf("sop bench engine, scale mode: the phases at");
        for (z = 0; z < nsizes; z++) {
            printf("%s%" PRIu64, z == 0 ? " " : z + 1 == nsizes ? " and " : ", ", sizes[z]);
        }
        printf(" keys\n  of %d bytes, values of %d bytes, batches of %" PRIu64 ", %" PRIu64
               " single-upsert commits at every size\n",
               KEY_LEN, VAL_LEN, cfg.batch, cfg.commits);
    } else {
        printf("sop bench engine: %" PRIu64 " keys of %d bytes, values of %d bytes, batches of "
               "%" PRIu64 ", %" PRIu64 " single-upsert commits\n",
               cfg.keys, KEY_LEN, VAL_LEN, cfg.batch, cfg.commits);
    }
    describe_machine(machine, sizeof(machine));
    describe_fs(root, fs, sizeof(fs));
    started_at = time(NULL);
    gmtime_r(&started_at, &tm);
    strftime(started, sizeof(started), "%Y-%m-%d %H:%M UTC", &tm);
    printf("  machine: %s\n", machine);
    load0 = load1();
    printf("  started %s, load average %.2f; folder %s on %s\n", started, load0, root, fs);
    printf("  seed %" PRIu64 " (--seed)\n", cfg.seed);
    if (on[E_SOP]) {
        printf("  sop: slot_length %" PRIu32 ", node cache %" PRIu32 " MiB; %s; %s\n",
               cfg.slot_length, cfg.cache_mib, sop_ops.durability,
               cfg.nopin ? "readers SOP_TXN_NOPIN (--nopin: memory within the cache)"
                         : "readers keep every node they read to their end (sop.h's default)");
    }
#ifdef HAVE_LMDB
    if (on[E_LMDB]) {
        int major, minor, patch;

        mdb_version(&major, &minor, &patch);
        cfg.keys = sizes[nsizes - 1];
        printf("  lmdb %d.%d.%d: map size %zu MiB%s; %s\n", major, minor, patch,
               lmdb_map_size(&cfg) >> 20, scale ? " (1 KiB a key, at least 1 GiB)" : "",
               lmdb_ops.durability);
    }
#else
    printf("  lmdb: not built (configure found no liblmdb-dev); skipped\n");
#endif
#ifdef HAVE_SQLITE3
    if (on[E_SQLITE]) {
        printf("  sqlite %s: cache_size %" PRIu32 " MiB; %s\n", sqlite3_libversion(), cfg.cache_mib,
               sqlite_ops.durability);
    }
#else
    printf("  sqlite: not built (configure found no libsqlite3-dev); skipped\n");
#endif
    fflush(stdout);

    for (z = 0; z < nsizes && !cli_signal; z++) {
        struct size_run *run = &runs[z];
        double tz = cli_now();

        cfg.keys = run->keys = sizes[z];
        if (scale) {
            printf("\n%" PRIu64 " keys:\n", run->keys);
        }
        for (e = 0; e < NENGINES && !cli_signal; e++) {
            const struct kv_ops *ops = engine_ops(e);

            if (!on[e] || !ops) {
                continue;
            }
            if (failed[e]) {
                run->st[e] = SKIPPED; /* it failed at a smaller size */
                continue;
            }
            /* its folder is removed when it ends: the next starts on a clean disk */
            run->st[e] = run_child(ops, &cfg, &run->res[e], &run->rss[e]);
            failed[e] = run->st[e] == RAN_FAILED;
            any_failed |= failed[e];
        }
        if (scale && !cli_signal) {
            printf("\n%" PRIu64 " keys, took %.1f s:\n", run->keys, cli_now() - tz);
            print_table(&cfg, run);
            fflush(stdout);
        }
    }
    if (cli_signal) {
        cli_err("bench: interrupted (signal %d); removing %s", (int)cli_signal, root);
        ret = 128 + cli_signal;
        goto out;
    }
    printf("\nmachine: %s\n", machine);
    printf("run: %s, took %.1f s, load average %.2f before, %.2f after (the bench's own "
           "included); folder on %s\n",
           started, cli_now() - t0, load0, load1(), fs);
    if (scale) {
        print_scale(&cfg, runs, nsizes);
    } else {
        print_table(&cfg, &runs[0]);
    }
    if (any_failed) {
        cli_err("bench: an engine failed: see above%s",
                scale ? " (not run at the sizes above the one it failed at)" : "");
        ret = CLI_FAIL;
    }
out:
    if (root_made) {
        cli_rm_tree(root);
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    return ret;
}

int bench_main(int argc, char **argv)
{
    if (argc < 2) {
        return cli_usage("bench", "bench: which benchmark? (engine)");
    }
    if (strcmp(argv[1], "engine") == 0) {
        return bench_engine(argc - 1, argv + 1);
    }
    return cli_usage("bench", "bench: no benchmark '%s' (there is: engine)", argv[1]);
}
