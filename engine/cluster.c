/*
 * cluster.c - a member of a clustered database (cluster.h): joining at
 * open, recovering and catching up along the claims of the commit order,
 * the commit lock and the claim of each commit, and leaving at close.
 */
#define _GNU_SOURCE
#include "cluster.h"

#include "codec.h"
#include "corrupt.h"
#include "order.h"
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

struct cluster {
    struct coord *coord;
    uint8_t member[16]; /* this open's own id: its claims and tmp files say it */
    /* one catching up at a time, and none between a commit's claim and
     * its apply (C6), which would find the claim and apply it twice: a
     * begin waits for that much of a commit, not for its lock */
    pthread_mutex_t catch_mu;
    uint64_t fence_floor; /* the highest fence of a claim applied or made (catch_mu) */
};

#define CLUSTER_MARK "sop clustered database: its members open it with a redis_url\n"

/* The commit lock's time to live: the URL's lock_ttl_ms, or the default. */
static uint32_t lock_ttl(const sop_db *db)
{
    return db->cl->coord->lock_ttl_ms ? db->cl->coord->lock_ttl_ms : CLUSTER_LOCK_TTL_MS;
}

/* blob.h's number(): segment numbers from the counter all members share */
static int segment_number(void *arg, uint64_t floor, uint64_t *out, char *why, size_t whylen)
{
    sop_db *db = arg;
    int rc = coord_next(db->cl->coord, "segment", floor, out);
    if (rc)
        snprintf(why, whylen, "%s", coord_errmsg());
    return rc;
}

static int probe(const char *url, char *why, size_t whylen)
{
    struct coord *c = NULL;
    int rc = coord_open(url, "probe", &c);
    if (rc)
        snprintf(why, whylen, "%s", coord_errmsg());
    coord_close(c);
    return rc;
}

static int join(sop_db *db, const char *url)
{
    struct cluster *c = os_calloc(1, sizeof(*c));
    if (!c)
        return SOP_ENOMEM;
    db->cl = c;
    pthread_mutex_init(&c->catch_mu, NULL);
    codec_uuid4(c->member);
    int rc = coord_open(url, db->id, &c->coord);
    if (rc) {
        db_seterr(db, "open %s in clustered mode: %s", db->path, coord_errmsg());
        return rc;
    }
    char why[512] = "";
    if ((rc = order_init(db->os, db->path, why, sizeof(why))) != 0) {
        db_seterr(db, "open %s in clustered mode: %s", db->path, why);
        return rc;
    }
    db->keys_in_commits = true;
    return 0;
}

static void free_cluster(sop_db *db)
{
    if (!db->cl)
        return;
    coord_close(db->cl->coord);
    pthread_mutex_destroy(&db->cl->catch_mu);
    os_free(db->cl);
    db->cl = NULL;
}

/* A new commit's write set joins the recent list while a transaction
 * older than it lives (as txn.c's remember does for its own). */
static void keep_wset(sop_db *db, struct wset *w)
{
    pthread_mutex_lock(&db->txn_mu);
    if (db->active) {
        db_recent_add_locked(db, w);
        w = NULL;
    }
    pthread_mutex_unlock(&db->txn_mu);
    if (w)
        wset_free(w);
}

/* Apply claim c's commit (the next one, c->seq == db->seq + 1). */
static int apply_claim(sop_db *db, const struct order_claim *c)
{
    struct loc at = {.seg = c->seg, .off = c->off, .len = c->len};
    uint8_t *buf = os_malloc(c->len ? c->len : 1);
    if (!buf)
        return SOP_ENOMEM;
    int type = REC_COMMIT;
    int rc = blob_read(&db->log, &at, &type, NULL, buf);
    if (rc) {
        db_seterr(db, "commit %llu (segment %08u offset %llu, claimed by another member): %s",
                  (unsigned long long)c->seq, c->seg, (unsigned long long)c->off,
                  rc == SOP_ECORRUPT ? sop_corruption_note() : db->log.err);
        os_free(buf);
        return rc;
    }
    struct db_apply a;
    if ((rc = db_apply_prepare(db, buf, c->len, &a)) != 0 || a.seq != c->seq ||
        a.rel > at.off) {
        if (rc == 0) {
            db_apply_free(&a);
            rc = SOP_CORRUPT_REC(at.seg, at.off, "commit record: not the one its claim names");
        }
        db_seterr(db, "commit %llu (segment %08u offset %llu): the record does not check",
                  (unsigned long long)c->seq, c->seg, (unsigned long long)c->off);
        os_free(buf);
        return rc;
    }
    struct wset *w = NULL;
    int kr = db_keys_decode(buf, c->len, &w);
    os_free(buf);
    if (kr == SOP_ENOMEM) {
        db_apply_free(&a);
        return kr;
    }
    pthread_rwlock_wrlock(&db->lock);
    rc = cat_reserve(&db->cat, a.nst);
    if (rc == 0) {
        pthread_mutex_lock(&db->txn_mu);
        uint64_t keep = db_oldest_locked(db, a.seq);
        pthread_mutex_unlock(&db->txn_mu);
        db_apply_finish(db, &a, at.seg, at.off - a.rel, keep);
    } else {
        db_apply_free(&a);
    }
    pthread_rwlock_unlock(&db->lock);
    if (rc) {
        if (w)
            wset_free(w);
        return rc;
    }
    if (c->fence > db->cl->fence_floor)
        db->cl->fence_floor = c->fence;
    if (w)
        keep_wset(db, w);
    else {
        /* a record without keys (cannot come from a member, which writes
         * format 3): every transaction older than it conflicts */
        pthread_mutex_lock(&db->txn_mu);
        for (struct txn_base *t = db->active; t; t = t->next)
            if (!t->poison)
                t->poison = SOP_ECONFLICT;
        pthread_mutex_unlock(&db->txn_mu);
    }
    return 0;
}

int cluster_catch_up(sop_db *db)
{
    char why[512] = "";
    int rc;
    pthread_mutex_lock(&db->cl->catch_mu);
    for (;;) {
        struct order_claim c;
        rc = order_read(db->os, db->path, db->seq + 1, &c, why, sizeof(why));
        if (rc == SOP_ENOTFOUND) {
            rc = 0;
            break;
        }
        if (rc) {
            db_seterr(db, "catch up with the other members: %s", why);
            break;
        }
        if ((rc = apply_claim(db, &c)) != 0)
            break;
    }
    pthread_mutex_unlock(&db->cl->catch_mu);
    return rc;
}

static int write_mark(sop_db *db)
{
    char tag[9];
    snprintf(tag, sizeof(tag), "%02x%02x%02x%02x", db->cl->member[0], db->cl->member[1],
             db->cl->member[2], db->cl->member[3]);
    int r = os_make_once(db->os, db->path, "cluster", CLUSTER_MARK, tag);
    if (r < 0) {
        db_seterr(db, "open %s in clustered mode: write %s/cluster: %s", db->path, db->path,
                  strerror(-r));
        return os_err(r);
    }
    return 0;
}

/* Recovery of a member: the checkpoint, then every claimed commit after
 * it.  The first member of a folder that was standalone converts it: under
 * the commit lock, so that no other member claims a commit before, it
 * recovers the standalone log as standalone does and marks the folder. */
static int recover(sop_db *db)
{
    int rc;
    struct coord_lock l;
    bool locked = false;
    if (!db_marked_clustered(db)) {
        if ((rc = coord_lock(db->cl->coord, "commit", lock_ttl(db), 0,
                             CLUSTER_LOCK_WAIT_MS, &l)) != 0) {
            db_seterr(db, "open %s in clustered mode: %s", db->path, coord_errmsg());
            return rc == SOP_EBUSY ? SOP_EBUSY : rc;
        }
        locked = true;
        coord_keep(db->cl->coord, &l);
    }
    if (locked && !db_marked_clustered(db)) {
        if ((rc = db_recover_standalone(db)) != 0)
            goto out;
        blob_close(&db->log);
        memset(&db->log, 0, sizeof(db->log));
        if ((rc = write_mark(db)) != 0)
            goto out;
    } else if ((rc = db_load_checkpoint(db)) != 0) {
        goto out;
    }
    if ((rc = blob_open_member(&db->log, db->os, db->path, segment_number, db)) != 0) {
        db_seterr(db, "open %s in clustered mode: %s", db->path, db->log.err);
        goto out;
    }
    if ((rc = cluster_catch_up(db)) != 0)
        goto out;
    db->ckpt_at = 0;
out:
    if (locked)
        coord_unlock(db->cl->coord, &l);
    return rc;
}

static int no_number(void *arg, uint64_t floor, uint64_t *out, char *why, size_t whylen)
{
    (void)arg;
    (void)floor;
    (void)out;
    snprintf(why, whylen, "a read-only open makes no segment");
    return SOP_EREADONLY;
}

/* A read-only open (sop stats, sop du, sop check) of a clustered folder:
 * the checkpoint, then the claims after it, and each transaction's begin
 * catches up as a member's does; no Redis, nothing written, beside the
 * members (their flock is shared). */
static int recover_readonly(sop_db *db)
{
    struct cluster *c = os_calloc(1, sizeof(*c));
    if (!c)
        return SOP_ENOMEM;
    db->cl = c;
    pthread_mutex_init(&c->catch_mu, NULL);
    int rc = db_load_checkpoint(db);
    if (rc == 0 && (rc = blob_open_member(&db->log, db->os, db->path, no_number, db)) != 0)
        db_seterr(db, "open %s: %s", db->path, db->log.err);
    if (rc == 0)
        rc = cluster_catch_up(db);
    return rc;
}

int cluster_lock(sop_db *db, struct coord_lock *l, char *why, size_t whylen)
{
    struct cluster *c = db->cl;
    int rc = coord_lock(c->coord, "commit", lock_ttl(db), c->fence_floor,
                        CLUSTER_LOCK_WAIT_MS, l);
    if (rc) {
        snprintf(why, whylen, "commit: %s", coord_errmsg());
        return rc == SOP_EBUSY ? SOP_ECONFLICT : rc;
    }
    if ((rc = coord_keep(c->coord, l)) != 0 || (rc = cluster_catch_up(db)) != 0) {
        snprintf(why, whylen, "commit: %s", rc == SOP_ENOMEM ? coord_errmsg() : db->errmsg);
        coord_unlock(c->coord, l);
        return rc;
    }
    return 0;
}

int cluster_claim(sop_db *db, const struct coord_lock *l, uint64_t seq, uint32_t seg,
                  uint64_t off, uint32_t len, char *why, size_t whylen)
{
    struct cluster *c = db->cl;
    pthread_mutex_lock(&c->catch_mu); /* till cluster_applied, or a failure here */
    /* fencing: a lock older than a commit already applied, or one this
     * process can no longer vouch for, claims nothing */
    bool older = l->fence < c->fence_floor, held = coord_held(l, 500);
    if (older)
        db_seterr(db,
                  "commit: the commit lock is no longer this member's (fence %llu, and a commit "
                  "of fence %llu came after it): nothing was committed",
                  (unsigned long long)l->fence, (unsigned long long)c->fence_floor);
    else if (!held)
        db_seterr(db,
                  "commit: the commit lock is no longer this member's (fence %llu: its time to "
                  "live ran out, this process was paused or cut off from Redis for longer): "
                  "nothing was committed",
                  (unsigned long long)l->fence);
    if (older || !held) {
        snprintf(why, whylen, "%s", db->errmsg);
        pthread_mutex_unlock(&c->catch_mu);
        return SOP_ECONFLICT;
    }
    struct order_claim cl = {.seq = seq, .fence = l->fence, .seg = seg, .off = off, .len = len};
    memcpy(cl.member, c->member, 16);
    int rc = order_claim(db->os, db->path, &cl, why, whylen);
    if (rc == 0) {
        c->fence_floor = l->fence;
        return 0; /* catch_mu held: cluster_applied lets it go */
    }
    /* sop_db_errmsg says it, conflict or not (sop_txn_commit leaves conflicts alone) */
    db_seterr(db, "commit: %s: nothing was committed", why);
    pthread_mutex_unlock(&c->catch_mu);
    return rc;
}

void cluster_applied(sop_db *db)
{
    pthread_mutex_unlock(&db->cl->catch_mu);
}

void cluster_unlock(sop_db *db, struct coord_lock *l)
{
    coord_unlock(db->cl->coord, l); /* a lock lost by now harms nobody: the claim is made */
}

/* At close: a checkpoint as of the newest commit, under the commit lock so
 * that no two members write one at once; without Redis, none (the next
 * open replays the claims since the last). */
static void leave(sop_db *db)
{
    struct coord_lock l;
    pthread_mutex_lock(&db->commit_mu);
    bool wrote = db->log.appended != db->ckpt_at;
    if (db->cl && db->cl->coord && wrote && !db->broken && !db->log.broken &&
        coord_lock(db->cl->coord, "commit", lock_ttl(db), db->cl->fence_floor, 5000,
                   &l) == 0) {
        coord_keep(db->cl->coord, &l);
        if (cluster_catch_up(db) == 0)
            db_checkpoint(db);
        coord_unlock(db->cl->coord, &l);
    } else {
        db_sync(db);
    }
    pthread_mutex_unlock(&db->commit_mu);
    free_cluster(db);
}

const struct db_member_ops cluster_member_ops = {
    .probe = probe,
    .join = join,
    .recover = recover,
    .leave = leave,
    .abandon = free_cluster,
    .recover_readonly = recover_readonly,
};
