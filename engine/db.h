/*
 * db.h - the database: its folder, lock, registry, catalog of stores,
 * segment log, node cache, and the bookkeeping transactions need (the last
 * committed sequence number, the live snapshots, the write sets of recent
 * commits for validation).
 *
 * Folder layout:
 *   DATA/SOP          marker: "sop database format 1"
 *   DATA/lock         flock'd by the process that has the database open
 *   DATA/NNNNNNNN.seg segment log (blob.h)
 *   DATA/checkpoint   registry + catalog as of a commit, and where in the log
 *                     replay starts (format in db.c)
 *
 * Locks, in order: commit_mu (one commit at a time) -> lock (rwlock over
 * registry, catalog, seq; readers resolve under it) -> txn_mu (active
 * transactions, recent write sets).  Never held across waiting on a user.
 */
#ifndef SOP_DB_H
#define SOP_DB_H

#include "blob.h"
#include "cache.h"
#include "dbid.h"
#include "registry.h"
#include "sop.h"
#include "txnbase.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct os_ops;

struct store_info {
    struct lid id; /* identity: a drop and re-create makes a new store */
    char *name;
    uint32_t slot_length, chunk_size;
    bool unique, value_in_node;
    char *description, *relations, *kind;
    struct lid root; /* zero: empty tree */
    uint64_t count;
    uint64_t created_ns, modified_ns;
};

struct sver {
    uint64_t seq;
    bool dead;
    struct store_info info;
    struct sver *older;
};

struct sent {
    char *name;
    struct sver *ver;
};

struct catalog {
    struct sent *v; /* sorted by name */
    size_t n, cap;
};

/* What one commit changed, kept while a live snapshot predates it. */
struct wset_store {
    struct lid store_id;
    bool structural;   /* created, dropped or options changed */
    struct item *keys; /* sorted, unique; k owned (own=1) */
    size_t nkeys;
};
struct wset {
    uint64_t seq;
    char **names; /* catalog names created/dropped/altered */
    size_t nnames;
    struct wset_store *stores;
    size_t nstores;
    struct wset *next; /* newer */
};

/* What a member of a clustered database does differently at open and
 * close (cluster.c fills it; db.c only calls through it, so it includes
 * nothing of clustered mode).  Each returns 0 or an error with db_seterr. */
struct db_member_ops {
    /* before anything is made: can the coordination be reached at url?
     * (a refused redis_url makes no folder) 0, or an error and why */
    int (*probe)(const char *url, char *why, size_t whylen);
    /* after the flock (shared), the marker and the id, before recovery */
    int (*join)(sop_db *db, const char *url);
    /* recovery: instead of the scan of the log from the checkpoint and the
     * log's blob_open (db_recover_standalone) */
    int (*recover)(sop_db *db);
    /* at close, before anything is torn down (the checkpoint is its own) */
    void (*leave)(sop_db *db);
    /* an open that failed after join, or the close of a read-only one */
    void (*abandon)(sop_db *db);
    /* a read-only open (sop_db_open_salvage) of a clustered folder: the
     * checkpoint and the claims, no Redis, nothing written */
    int (*recover_readonly)(sop_db *db);
};
struct cluster;

struct sop_db {
    const struct os_ops *os;
    char *path;
    char id[DBID_LEN + 1]; /* DATA/id (dbid.h); "" when it has none */
    int lock_fd;
    sop_db_options opts;
    pthread_mutex_t commit_mu;
    pthread_rwlock_t lock;
    pthread_mutex_t txn_mu;
    struct registry reg;
    struct catalog cat;
    struct seglog log;
    struct cache cache;
    uint64_t seq;            /* last committed */
    uint64_t ckpt_at;        /* log bytes appended at the last checkpoint */
    bool ckpt_stale;         /* open replayed much of the log: checkpoint at close */
    bool ckpt_heal;          /* the newest checkpoint was damaged: write a good one  */
    uint32_t floor_seg;      /* segments below it are garbage (compaction) */
    struct txn_base *active; /* live transactions (txn_mu) */
    struct wset *recent_old, *recent_new;
    bool keys_in_commits; /* commit records carry their keys (format 3): clustered mode */
    const struct db_member_ops *member; /* clustered mode: cluster.c; NULL standalone */
    struct cluster *cl;                 /* its state */
    struct wbuf commit_buf; /* a commit's batch, kept for the next (commit_mu) */
    bool broken;
    char errmsg[512];
    /* group flush of SOP_TXN_NOSYNC commits */
    pthread_t flusher;
    bool flusher_on, stopping, unsynced;
    pthread_cond_t flush_cv;
    pthread_mutex_t flush_mu;
    /* counters */
    uint64_t n_commits, n_conflicts, n_rollbacks;
    uint64_t n_second_copies; /* nodes read from their second copy (damage) */
    /* space: the reserve asked for (0: the default), value segments that
     * died, removed once the log is durable past the commit that killed
     * them (vdead_mu) */
    uint64_t reserve_opt;
    /* the disk's free space as last asked (vdead_mu; db_space_check) */
    uint64_t space_avail, space_total, space_at, space_appended;
    /* what recovery at open found and did (sop_db_recovery_report) */
    char *report;
    size_t report_len;
    unsigned report_problems; /* lines of it that say data was damaged or lost */
    bool salvage;             /* opened by sop_db_open_salvage: read-only, tolerant */
    /* where the newest checkpoint and the one before it start replay
     * (0: unknown); a log segment below both is read by no replay */
    uint32_t ckpt_seg[2];
    /* the segment cleaner (reclaim.c).  Lock order: reclaim_mu (one round
     * at a time; compaction takes it too) before commit_mu. */
    pthread_mutex_t reclaim_mu;
    pthread_t reclaimer;
    bool reclaimer_on;
    pthread_mutex_t reclaim_wmu; /* the fields below, and waking the thread */
    pthread_cond_t reclaim_cv;
    bool reclaim_quit, reclaim_off;
    struct rpend { /* emptied segments waiting for older snapshots to end */
        uint32_t seg;
        uint64_t seq; /* the last commit that moved something out of it */
    } * rpend;
    size_t nrpend, caprpend;
    uint64_t rc_rounds, rc_removed, rc_copied, rc_freed, rc_appended_at;
    char rc_err[256]; /* why the last round failed ("" when it did not) */
    pthread_mutex_t vdead_mu;
    struct vdead {
        uint32_t seg;
        uint64_t seq;
    } * vdead;
    size_t nvdead, capvdead;
};

/* Open with an explicit OS layer (tests inject faults through it). */
int db_open_os(const char *path, const sop_db_options *opts, const struct os_ops *os, sop_db **out);
/* The open itself (open.c calls it and starts what runs above the
 * database): lock, recover, then settle(db) when not NULL (the cleaner's
 * sweep), then the flusher.  Errors as sop_db_open; sop_open_errmsg says why. */
int db_open_any(const char *path, const sop_db_options *opts, const struct os_ops *os,
                bool salvage, int (*settle)(sop_db *), const struct db_member_ops *member,
                sop_db **out);
/* Recovery as standalone does it (R2-R4 and the log's blob_open), and the
 * checkpoint's load alone (R2): for a member converting a folder, and
 * recovering along the claims. */
int db_recover_standalone(sop_db *db);
int db_load_checkpoint(sop_db *db);
/* The close (sop_db_close, once what runs above the database stopped). */
void db_close(sop_db *db);

/* The reserve for a disk of `total` bytes (see sop.h, sop_db_space). */
uint64_t db_reserve(const sop_db *db, uint64_t total);
/* May transaction t (NULL: reclamation) append `need` more bytes without
 * eating the reserve it may not use?  0, or SOP_ENOSPC with t's message. */
int db_space_check(sop_db *db, struct txn_base *t, uint64_t need);
/* After a commit or a prune (db->lock held for writing): the value segments
 * whose last live record went are removed once the log is durable.
 * Returns how many wait for that. */
size_t db_note_dead(sop_db *db);
/* Remove the dead value segments whose killing commit is at or before seq
 * (durable now). */
void db_drop_dead(sop_db *db, uint64_t seq);
/* Make the log durable (blob_sync), then remove the value segments that
 * died before it. */
int db_sync(sop_db *db);

/* Add a line to the recovery report. */
void db_report(sop_db *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Format a "what: why (object)" message into db->errmsg. */
void db_seterr(sop_db *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Catalog (callers hold db->lock). The store version snapshot `snap` sees. */
const struct sver *cat_get(const struct catalog *c, const char *name, uint64_t snap);
int cat_set(struct catalog *c, const char *name, uint64_t seq, const struct store_info *info,
            bool dead, uint64_t keep_from);
/* Room for `extra` more names (SOP_ENOMEM), so cat_link need not allocate. */
int cat_reserve(struct catalog *c, size_t extra);
/* cat_set without allocating: version v (seq, dead, info set) is taken, and
 * *spare (a copy of name) when the name is new (set NULL then). */
void cat_link(struct catalog *c, const char *name, struct sver *v, char **spare,
              uint64_t keep_from);
int info_copy(struct store_info *dst, const struct store_info *src);
void info_free(struct store_info *i);
void info_encode(const struct store_info *i, struct wbuf *w);
int info_decode(struct rbuf *r, struct store_info *i);

/* The oldest snapshot a live transaction reads at, or `upto` (caller holds
 * txn_mu); transactions past their maximum age do not count. */
uint64_t db_oldest_locked(sop_db *db, uint64_t upto);
bool db_txn_holds_snapshot(const sop_db *db, const struct txn_base *t, uint64_t now);
/* The oldest snapshot a live transaction reads at (txn_mu taken inside). */
uint64_t db_oldest_snapshot(sop_db *db);
/* Write a checkpoint (callers hold commit_mu). */
int db_checkpoint(sop_db *db);
/* Remove the segments below the compaction floor. */
int db_drop_below_floor(sop_db *db);
uint64_t now_ns(void);
/* A cheap monotonic clock (a few ms of resolution) for transaction ages. */
uint64_t coarse_ns(void);
void wset_free(struct wset *w);
/* Append w, a newer commit's write set, to the recent list (caller holds
 * txn_mu, and keeps it only while a transaction older than it lives). */
void db_recent_add_locked(sop_db *db, struct wset *w);
/* Is DATA/cluster there (the folder belongs to clustered members)? */
bool db_marked_clustered(sop_db *db);
/* One registry change of a commit record. */
struct commit_reg {
    struct rkey key;
    uint8_t kind; /* COMMIT_* */
    struct loc loc;
};
/* Commit record format 2 (1: kind 1 meant any record of the batch, a
 * delta or not, and kind 3 did not exist); format 3 is format 2 followed
 * by the keys the commit wrote (db_keys_encode), which clustered mode
 * writes so that other members can validate against them per key.  A
 * registry change's kind: */
#define COMMIT_FORMAT 3
#define COMMIT_FORMAT_NOKEYS 2
enum {
    COMMIT_ABSOLUTE = 0, /* a record that stands alone, at loc */
    COMMIT_BATCH = 1,    /* one that stands alone, at loc within this batch */
    COMMIT_REMOVED = 2,  /* the key is gone */
    COMMIT_DELTA = 3     /* a node delta onto the key's newest version, in this batch */
};
/* Append a commit record to w (its batch starts at offset 0 of w), for
 * commit `seq`: the registry changes, then `nst` store infos already
 * encoded in `stores`.  Returns the record's offset in w; w->err on ENOMEM.
 * Its payload is what db_apply_commit reads. */
size_t db_commit_encode(sop_db *db, struct wbuf *w, uint64_t seq, const struct commit_reg *e,
                        size_t n, const struct wbuf *stores, uint32_t nst);
/* db_commit_encode with `keys` (db_keys_encode's bytes) after the store
 * infos, as format 3; keys NULL is format 2, db_commit_encode itself. */
size_t db_commit_encode_keys(sop_db *db, struct wbuf *w, uint64_t seq,
                             const struct commit_reg *e, size_t n, const struct wbuf *stores,
                             uint32_t nst, const struct wbuf *keys);
/* The keys section of format 3: w's names (catalog names created, dropped
 * or altered), then per store its id, whether it was structural, and its
 * keys (sorted) with their merge flags. */
void db_keys_encode(struct wbuf *w, const struct wset *ws);
/* The write set of a commit record's payload (p, len): 0 and *out (a new
 * wset, seq set; wset_free it), SOP_ENOTFOUND (a record of format 1 or 2:
 * it carries no keys), SOP_ECORRUPT, SOP_ENOMEM. */
int db_keys_decode(const uint8_t *p, size_t len, struct wset **out);
/* Apply a commit record's payload (replay and commit share it), in two
 * steps: prepare decodes it and allocates everything the apply needs
 * (SOP_ECORRUPT, SOP_ENOMEM; nothing changes), finish applies it to the
 * registry and catalog and cannot fail.  A commit prepares before its
 * commit point and finishes after it (txn.c C5, C6), so a commit that is
 * durable is always applied.  finish needs db->lock held for writing, the
 * catalog reserved for a->nst names (cat_reserve), the record's segment,
 * and the offset where its batch starts; it frees a. */
struct db_apply_reg {
    struct rkey key;
    uint8_t kind; /* COMMIT_* */
    struct loc loc;
    struct rver *v;
    struct rent *e;
};
struct db_apply_store {
    char *name, *spare;
    struct sver *v;
};
struct db_apply {
    uint64_t seq;
    uint64_t rel; /* the record's offset in its batch */
    uint32_t nreg, nst;
    struct db_apply_reg *reg;
    struct db_apply_store *st;
};
int db_apply_prepare(sop_db *db, const uint8_t *p, size_t len, struct db_apply *a);
void db_apply_finish(sop_db *db, struct db_apply *a, uint32_t seg, uint64_t base,
                     uint64_t keep_from);
void db_apply_free(struct db_apply *a);
/* Both steps at once (replay, compaction): the record at self. */
int db_apply_commit(sop_db *db, const uint8_t *p, size_t len, const struct loc *self,
                    uint64_t keep_from);

#endif
