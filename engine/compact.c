/*
 * compact.c - space reclamation.  Records are never overwritten, so every
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
#include "btree.h"
#include "corrupt.h"
#include "db.h"
#include "os.h"

#include <stdlib.h>
#include <string.h>

/* Every live registry key, with its location: old, then new (absolute). */
struct centry_list {
    struct commit_reg *e;
    size_t n, cap;
};

struct collect_arg {
    struct centry_list *c;
    struct seglog *log;
};

/* A live record to copy: value chunks in value segments stay where they are
 * (their segment goes whole when they all die; copying a big file to free
 * nothing would need its size again in free space). */
static int collect(const struct rkey *k, const struct loc *l, void *arg)
{
    struct collect_arg *a = arg;
    struct centry_list *c = a->c;
    if (blob_is_vseg(a->log, l->seg))
        return 0;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 1024;
        struct commit_reg *ne = os_realloc(c->e, cap * sizeof(*ne));
        if (!ne)
            return SOP_ENOMEM;
        c->e = ne;
        c->cap = cap;
    }
    c->e[c->n++] = (struct commit_reg){.key = *k, .kind = 0, .loc = *l};
    return 0;
}

/* Append the batch; the records' batch offsets in e[from..to) become
 * absolute locations. */
static int flush(sop_db *db, struct wbuf *w, struct commit_reg *e, size_t from, size_t to)
{
    uint32_t seg;
    uint64_t base;
    if (!w->len)
        return 0;
    int rc = blob_append(&db->log, w->p, w->len, &seg, &base);
    if (rc)
        return rc;
    for (size_t i = from; i < to; i++) {
        e[i].loc.seg = seg;
        e[i].loc.off += base;
    }
    w->len = 0;
    return 0;
}

static int copy_all(sop_db *db, struct centry_list *c)
{
    struct wbuf w;
    size_t first = 0;
    uint8_t *buf = NULL;
    size_t cap = 0;
    int rc = 0;
    wb_init(&w);
    for (size_t i = 0; i < c->n && !rc; i++) {
        struct loc old = c->e[i].loc;
        int type = -1;
        if (old.len + 1 > cap) {
            uint8_t *b = os_realloc(buf, old.len + 1);
            if (!b) {
                rc = SOP_ENOMEM;
                break;
            }
            buf = b;
            cap = old.len + 1;
        }
        if ((rc = blob_read(&db->log, &old, &type, &c->e[i].key, buf)) != 0) {
            db_seterr(db, "compact: read segment %08u offset %llu: %s%s%s", old.seg,
                      (unsigned long long)old.off, sop_strerror(rc), FOUND_BY(rc));
            break;
        }
        size_t start;
        if (type == REC_CHUNK) {
            start = blob_rec_begin(&w, REC_CHUNK, &c->e[i].key);
            wb_bytes(&w, buf, old.len);
        } else if (type == REC_NODE || type == REC_DELTA) {
            struct node *n;
            if ((rc = bt_load_copy(db, &c->e[i].key.id, c->e[i].key.idx, &old, &n)) != 0)
                break;
            start = blob_rec_begin(&w, REC_NODE, &c->e[i].key);
            rc = node_encode(n, &w);
            node_unref(n);
            if (rc)
                break;
        } else {
            rc = SOP_CORRUPT_REC(old.seg, old.off, "compact: a live record of no copyable type");
            break;
        }
        blob_rec_end(&w, start);
        if (w.err) {
            rc = SOP_ENOMEM;
            break;
        }
        c->e[i].loc.seg = 0;
        c->e[i].loc.off = start;
        c->e[i].loc.len = (uint32_t)(w.len - start - REC_HDR);
        if (w.len >= (8u << 20)) {
            rc = flush(db, &w, c->e, first, i + 1);
            first = i + 1;
        }
    }
    if (!rc)
        rc = flush(db, &w, c->e, first, c->n);
    os_free(buf);
    wb_free(&w);
    return rc;
}

static int commit_moves(sop_db *db, struct centry_list *c)
{
    struct wbuf w;
    uint32_t seg;
    uint64_t base;
    int rc;
    wb_init(&w);
    struct db_apply ap = {0};
    db_commit_encode(db, &w, db->seq + 1, c->e, c->n, NULL, 0);
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
    return rc;
}

SOP_API int sop_db_compact(sop_db *db)
{
    struct centry_list c = {0};
    int rc;
    if (!db)
        return SOP_EINVAL;
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
    struct collect_arg ca = {.c = &c, .log = &db->log};
    if ((rc = reg_foreach(&db->reg, collect, &ca)) != 0 || (rc = copy_all(db, &c)) != 0 ||
        (rc = commit_moves(db, &c)) != 0)
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
    os_free(c.e);
    return rc;
}
