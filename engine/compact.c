/*
 * compact.c - offline space reclamation (sop compact; the cleaner in
 * reclaim.c is the online one, and shares its copy step).  Records are never overwritten, so every
 * commit leaves superseded node images, deltas and chunks behind.  Compaction
 * copies every live record of the log (the newest version of each registry
 * key; nodes as full images, so no delta chain reaches back into old
 * segments) into new segments, commits the new locations with one commit
 * record, writes a checkpoint whose `floor` says every log segment below it
 * is garbage, and removes those segments.  Chunks in value segments (blob.h)
 * stay where they are: such a segment goes whole once nothing in it lives.
 *
 * Crash safety: before its commit record is durable, the copies are
 * unreferenced records at the log's tail and recovery ignores them; after
 * it, recovery replays the old segments and then the compaction commit; after
 * the checkpoint, segments below the floor are removed at the next open if
 * the removal here did not finish.
 *
 * It runs with no transaction open (SOP_EBUSY otherwise) and holds the
 * database's write lock while it copies, so new transactions wait for it:
 * no snapshot can need an old version it removes.
 */
#include "db.h"
#include "os.h"
#include "reclaim.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

struct collect_arg {
    struct moves *m;
    struct seglog *log;
};

/* A live record to copy: value chunks in value segments stay where they are
 * (their segment goes whole when they all die; copying a big file to free
 * nothing would need its size again in free space). */
static int collect(const struct rkey *k, const struct loc *l, void *arg)
{
    struct collect_arg *a = arg;
    if (blob_is_vseg(a->log, l->seg))
        return 0;
    return moves_add(a->m, k, l);
}

static int commit_moves(sop_db *db, struct moves *m)
{
    struct wbuf w;
    uint32_t seg;
    uint64_t base;
    int rc;
    struct commit_reg *e = os_malloc((m->n ? m->n : 1) * sizeof(*e));
    if (!e)
        return SOP_ENOMEM;
    for (size_t i = 0; i < m->n; i++)
        assert(!m->v[i].gone); /* nothing commits during a compaction */
    for (size_t i = 0; i < m->n; i++)
        e[i] = (struct commit_reg){.key = m->v[i].key, .kind = COMMIT_ABSOLUTE, .loc = m->v[i].to};
    wb_init(&w);
    struct db_apply ap = {0};
    db_commit_encode(db, &w, db->seq + 1, e, m->n, NULL, 0);
    if (w.err) {
        rc = SOP_ENOMEM;
        goto out;
    }
    /* allocated before the commit point, applied after it without fail */
    if ((rc = db_apply_prepare(db, w.p + REC_HDR, w.len - REC_HDR, &ap)) != 0)
        goto out;
    if ((rc = blob_append(&db->log, w.p, w.len, &seg, &base)) != 0 ||
        (rc = blob_sync(&db->log)) != 0) {
        db_seterr(db, "compact: %s", db->log.err);
        goto out;
    }
    db_apply_finish(db, &ap, seg, base, db->seq + 1);
out:
    db_apply_free(&ap);
    wb_free(&w);
    os_free(e);
    return rc;
}

/* Copy the moves in groups of RECLAIM_GROUP bytes, telling progress. */
static int copy_all(sop_db *db, struct moves *m, sop_progress_fn progress, void *arg)
{
    uint64_t total = 0, done = 0;
    for (size_t i = 0; i < m->n; i++)
        total += m->v[i].from.len + REC_HDR;
    if (progress)
        progress(arg, 0, total);
    for (size_t i = 0; i < m->n;) {
        size_t j = i;
        uint64_t bytes = 0;
        while (j < m->n && bytes < RECLAIM_GROUP)
            bytes += m->v[j++].from.len + REC_HDR;
        int rc = reclaim_copy(db, m, i, j);
        if (rc)
            return rc;
        done += bytes;
        if (progress)
            progress(arg, done, total);
        i = j;
    }
    return 0;
}

SOP_API int sop_db_compact(sop_db *db)
{
    return sop_db_compact_progress(db, NULL, NULL);
}

SOP_API int sop_db_compact_progress(sop_db *db, sop_progress_fn progress, void *arg)
{
    struct moves m = {0};
    int rc;
    if (!db)
        return SOP_EINVAL;
    if (db->salvage) { /* a salvage open changes nothing in the folder */
        db_seterr(db, "compact: the database is open for salvage (read-only)");
        return SOP_EREADONLY;
    }
    pthread_mutex_lock(&db->reclaim_mu); /* no cleaning round meanwhile */
    pthread_mutex_lock(&db->commit_mu);
    pthread_rwlock_wrlock(&db->lock);
    pthread_mutex_lock(&db->txn_mu);
    bool busy = db->active != NULL;
    pthread_mutex_unlock(&db->txn_mu);
    if (busy) {
        db_seterr(db, "compact: transactions are open; compaction runs when none is");
        rc = SOP_EBUSY;
        goto unlock;
    }
    if (db->log.broken) {
        db_seterr(db, "compact: the log failed earlier (%s); reopen the database", db->log.err);
        rc = SOP_EIO;
        goto unlock;
    }
    reg_prune(&db->reg, db->seq);
    if ((rc = blob_sync(&db->log)) != 0 || (rc = blob_roll(&db->log)) != 0) {
        db_seterr(db, "compact: %s", db->log.err);
        goto unlock;
    }
    uint32_t floor = db->log.cur;
    struct collect_arg ca = {.m = &m, .log = &db->log};
    if ((rc = reg_foreach(&db->reg, collect, &ca)) != 0 ||
        (rc = copy_all(db, &m, progress, arg)) != 0 || (rc = commit_moves(db, &m)) != 0)
        goto unlock;
    pthread_rwlock_unlock(&db->lock);
    /* new transactions see only the new locations from here on */
    db->floor_seg = floor;
    /* twice: checkpoint.prev must not point below the floor either */
    if ((rc = db_checkpoint(db)) != 0 || (rc = db_checkpoint(db)) != 0)
        goto out; /* the old segments stay; the next compaction retries */
    rc = db_drop_below_floor(db);
    goto out;
unlock:
    pthread_rwlock_unlock(&db->lock);
out:
    pthread_mutex_unlock(&db->commit_mu);
    pthread_mutex_unlock(&db->reclaim_mu);
    moves_free(&m);
    return rc;
}
