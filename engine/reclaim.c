/*
 * reclaim.c - the segment cleaner (design in reclaim.h).
 *
 * A round:
 *   1. segments emptied by earlier rounds go, if no live snapshot is older
 *      than the last commit that moved something out of them;
 *   2. pick the closed log segments whose live bytes are under
 *      RECLAIM_LIVE_SHARE of their size (every one holding garbage when
 *      forced), fewest live bytes first, up to RECLAIM_ROUND live bytes
 *      and what the disk has free beyond half the reserve;
 *   3. collect, under the read lock, every registry key whose newest
 *      version is in one of them or whose delta chain reaches one
 *      (rver.base);
 *   4. copy them in groups of RECLAIM_GROUP bytes (reclaim_copy, no lock
 *      held), and commit each group under commit_mu: a key that a commit
 *      changed meanwhile is left out (its new version is elsewhere, or its
 *      chain still reaches back and the next pass takes it);
 *   5. collect again, up to RECLAIM_PASSES times, until nothing references
 *      the picked segments;
 *   6. two checkpoints, so that neither the newest nor the previous one
 *      replays from below them (db.c), then step 1 for them.
 * Background rounds run when the picked segments hold at least
 * RECLAIM_MIN_GAIN of garbage and at least twice a checkpoint's size, so
 * the checkpoints never cost more than the space they give back.
 */
#include "reclaim.h"

#include "btree.h"
#include "corrupt.h"
#include "os.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RECLAIM_LIVE_SHARE 2           /* live under 1/2 of the segment */
#define RECLAIM_ROUND (256ull << 20)   /* live bytes copied by one round, at most */
#define RECLAIM_MIN_GAIN (32ull << 20) /* garbage a background round must free */
#define RECLAIM_PASSES 4
#define RECLAIM_WAKE_MS 1000 /* how often the thread looks */

int moves_add(struct moves *m, const struct rkey *key, const struct loc *from)
{
    if (m->n == m->cap) {
        size_t c = m->cap ? m->cap * 2 : 256;
        struct move *v = os_realloc(m->v, c * sizeof(*v));
        if (!v)
            return SOP_ENOMEM;
        m->v = v;
        m->cap = c;
    }
    m->v[m->n++] = (struct move){.key = *key, .from = *from};
    return 0;
}

void moves_free(struct moves *m)
{
    os_free(m->v);
    memset(m, 0, sizeof(*m));
}

/* Append the batch; the moves in [from, to) whose `to` holds a batch
 * offset get absolute locations. */
static int flush(sop_db *db, struct wbuf *w, struct moves *m, size_t from, size_t to)
{
    uint32_t seg;
    uint64_t base;
    if (!w->len)
        return 0;
    int rc = blob_append(&db->log, w->p, w->len, &seg, &base);
    if (rc) {
        db_seterr(db, "reclaim: %s", db->log.err);
        return rc;
    }
    for (size_t i = from; i < to; i++) {
        if (m->v[i].gone)
            continue;
        m->v[i].to.seg = seg;
        m->v[i].to.off += base;
    }
    w->len = 0;
    return 0;
}

static bool loc_eq(const struct loc *a, const struct loc *b)
{
    return a->seg == b->seg && a->off == b->off && a->len == b->len;
}

/* Is the move's record no longer its key's newest version?  The cleaner
 * holds no snapshot while it copies, so what a commit superseded may be
 * removed under it (a value segment whose last chunk died, db.c). */
static bool superseded(sop_db *db, const struct move *mv)
{
    pthread_rwlock_rdlock(&db->lock);
    const struct rver *v = reg_newest(&db->reg, &mv->key);
    bool gone = !v || v->dead || !loc_eq(&v->loc, &mv->from);
    pthread_rwlock_unlock(&db->lock);
    return gone;
}

int reclaim_copy(sop_db *db, struct moves *m, size_t from, size_t to)
{
    struct wbuf w;
    size_t first = from;
    uint8_t *buf = NULL;
    size_t cap = 0;
    int rc = 0;
    wb_init(&w);
    for (size_t i = from; i < to && !rc; i++) {
        struct move *mv = &m->v[i];
        int type = -1;
        if (mv->from.len + 1 > cap) {
            uint8_t *b = os_realloc(buf, mv->from.len + 1);
            if (!b) {
                rc = SOP_ENOMEM;
                break;
            }
            buf = b;
            cap = mv->from.len + 1;
        }
        if ((rc = blob_read(&db->log, &mv->from, &type, &mv->key, buf)) != 0) {
            if (superseded(db, mv)) {
                /* a chunk whose value was rewritten after the collection:
                 * its value segment may have gone with its last chunk */
                mv->gone = true;
                mv->to = (struct loc){0};
                rc = 0;
                continue;
            }
            db_seterr(db, "reclaim: read segment %08u offset %llu: %s%s%s", mv->from.seg,
                      (unsigned long long)mv->from.off, sop_strerror(rc), FOUND_BY(rc));
            break;
        }
        size_t start;
        if (type == REC_CHUNK || type == REC_NODE) {
            /* checked by blob_read, and nothing in them names where they are */
            start = blob_rec_begin(&w, type, &mv->key);
            wb_bytes(&w, buf, mv->from.len);
        } else if (type == REC_DELTA) {
            struct node *n;
            if ((rc = bt_load_uncached(db, &mv->key.id, mv->key.idx, &mv->from, &n)) != 0)
                break;
            start = blob_rec_begin(&w, REC_NODE, &mv->key);
            rc = node_encode(n, &w);
            node_unref(n);
            if (rc)
                break;
        } else {
            rc = SOP_CORRUPT_REC(mv->from.seg, mv->from.off,
                                 "reclaim: a live record of no copyable type");
            db_seterr(db, "reclaim: segment %08u offset %llu: a live record of no copyable type",
                      mv->from.seg, (unsigned long long)mv->from.off);
            break;
        }
        blob_rec_end(&w, start);
        if (w.err) {
            rc = SOP_ENOMEM;
            break;
        }
        mv->to.seg = 0;
        mv->to.off = start;
        mv->to.len = (uint32_t)(w.len - start - REC_HDR);
        if (w.len >= RECLAIM_GROUP) {
            rc = flush(db, &w, m, first, i + 1);
            first = i + 1;
        }
    }
    if (!rc)
        rc = flush(db, &w, m, first, to);
    os_free(buf);
    wb_free(&w);
    return rc;
}

/* ------------------------------------------------------------ a round */

/* Commit the moves [i, j) that still name the newest version of their key;
 * *seq gets the commit's number (unchanged when none did). */
static int commit_group(sop_db *db, struct moves *m, size_t i, size_t j, uint64_t *seq,
                        uint64_t *copied)
{
    struct commit_reg *e = os_malloc((j - i) * sizeof(*e));
    struct wbuf w;
    struct db_apply ap = {0};
    uint32_t seg;
    uint64_t base;
    size_t n = 0;
    int rc = 0;
    if (!e)
        return SOP_ENOMEM;
    wb_init(&w);
    pthread_mutex_lock(&db->commit_mu);
    if (db->log.broken) {
        db_seterr(db, "reclaim: the log failed earlier (%s)", db->log.err);
        rc = SOP_EIO;
        goto out;
    }
    pthread_rwlock_rdlock(&db->lock);
    for (size_t k = i; k < j; k++) {
        const struct rver *v = reg_newest(&db->reg, &m->v[k].key);
        if (!v || v->dead || !loc_eq(&v->loc, &m->v[k].from)) {
            m->v[k].to.seg = 0; /* changed meanwhile: the copy is garbage */
            continue;
        }
        e[n++] = (struct commit_reg){.key = m->v[k].key, .kind = COMMIT_ABSOLUTE,
                                     .loc = m->v[k].to};
    }
    pthread_rwlock_unlock(&db->lock);
    if (!n)
        goto out;
    uint64_t s = db->seq + 1;
    db_commit_encode(db, &w, s, e, n, NULL, 0);
    if (w.err) {
        rc = SOP_ENOMEM;
        goto out;
    }
    /* allocated before the commit point, applied after it without fail */
    if ((rc = db_apply_prepare(db, w.p + REC_HDR, w.len - REC_HDR, &ap)) != 0)
        goto out;
    if ((rc = blob_append(&db->log, w.p, w.len, &seg, &base)) != 0) {
        db_seterr(db, "reclaim: %s", db->log.err);
        goto out;
    }
    /* durable with the next sync: the flusher's, a commit's, or the
     * checkpoint's at the end of the round (nothing is lost meanwhile: the
     * old records stay until then) */
    pthread_rwlock_wrlock(&db->lock);
    pthread_mutex_lock(&db->txn_mu);
    uint64_t keep = db_oldest_locked(db, s);
    pthread_mutex_unlock(&db->txn_mu);
    db_apply_finish(db, &ap, seg, base, keep);
    size_t dead = db_note_dead(db);
    pthread_rwlock_unlock(&db->lock);
    pthread_mutex_lock(&db->flush_mu);
    db->unsynced = true;
    if (dead)
        pthread_cond_signal(&db->flush_cv);
    pthread_mutex_unlock(&db->flush_mu);
    /* a cached node is cached again under its copy (now a full image);
     * what the cache did not hold stays out of it */
    for (size_t k = i; k < j; k++) {
        struct move *mv = &m->v[k];
        if (!mv->to.seg)
            continue;
        *copied += mv->to.len + REC_HDR;
        struct node *old = cache_take(&db->cache, &mv->from);
        if (!old)
            continue;
        struct node *c = node_clone(old);
        node_unref(old);
        if (c) {
            c->at = mv->to;
            c->chain = 0;
            c->chain_bytes = 0;
            if (node_seal(c) == 0)
                cache_put(&db->cache, &mv->to, c);
            node_unref(c);
        }
    }
    *seq = s;
out:
    pthread_mutex_unlock(&db->commit_mu);
    db_apply_free(&ap);
    wb_free(&w);
    os_free(e);
    return rc;
}

static int seg_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

struct collect {
    const uint32_t *sel; /* picked segments, ascending */
    size_t nsel;
    struct moves *m; /* the keys referencing them; or, NULL: */
    uint8_t *ref;    /* flag each picked segment that is referenced */
};

/* The first picked segment >= lo. */
static size_t picked_from(const struct collect *c, uint32_t lo)
{
    size_t a = 0, b = c->nsel;
    while (a < b) {
        size_t mid = (a + b) / 2;
        if (c->sel[mid] < lo)
            a = mid + 1;
        else
            b = mid;
    }
    return a;
}

static int collect_one(const struct rkey *k, const struct rver *v, void *arg)
{
    struct collect *c = arg;
    uint32_t lo = v->base < v->loc.seg ? v->base : v->loc.seg;
    size_t i = picked_from(c, lo);
    if (i == c->nsel || c->sel[i] > v->loc.seg)
        return 0;
    if (c->m)
        return moves_add(c->m, k, &v->loc);
    for (; i < c->nsel && c->sel[i] <= v->loc.seg; i++)
        c->ref[i] = 1;
    return 0;
}

static int collect(sop_db *db, const uint32_t *sel, size_t nsel, struct moves *m, uint8_t *ref)
{
    struct collect c = {.sel = sel, .nsel = nsel, .m = m, .ref = ref};
    pthread_rwlock_rdlock(&db->lock);
    int rc = reg_foreach_ver(&db->reg, collect_one, &c);
    pthread_rwlock_unlock(&db->lock);
    return rc;
}

/* Keep in sel the picked segments nothing references any more. */
static int unreferenced(sop_db *db, uint32_t *sel, size_t *nsel)
{
    uint8_t *ref = os_calloc(*nsel, 1);
    if (!ref)
        return SOP_ENOMEM;
    int rc = collect(db, sel, *nsel, NULL, ref);
    size_t k = 0;
    for (size_t i = 0; i < *nsel && !rc; i++)
        if (!ref[i])
            sel[k++] = sel[i];
    *nsel = rc ? 0 : k;
    os_free(ref);
    return rc;
}

static int pend_add(sop_db *db, uint32_t seg, uint64_t seq)
{
    pthread_mutex_lock(&db->reclaim_wmu);
    int rc = 0;
    if (db->nrpend == db->caprpend) {
        size_t c = db->caprpend ? db->caprpend * 2 : 16;
        struct rpend *v = os_realloc(db->rpend, c * sizeof(*v));
        if (!v)
            rc = SOP_ENOMEM; /* it stays, and the next open removes it */
        else {
            db->rpend = v;
            db->caprpend = c;
        }
    }
    if (!rc)
        db->rpend[db->nrpend++] = (struct rpend){.seg = seg, .seq = seq};
    pthread_mutex_unlock(&db->reclaim_wmu);
    return rc;
}

static bool pending(sop_db *db, uint32_t seg)
{
    bool p = false;
    pthread_mutex_lock(&db->reclaim_wmu);
    for (size_t i = 0; i < db->nrpend && !p; i++)
        p = db->rpend[i].seg == seg;
    pthread_mutex_unlock(&db->reclaim_wmu);
    return p;
}

/*
 * Step 1: remove the emptied segments no live snapshot can read, and that
 * nothing references.  The second condition is checked again here because
 * a transaction appends a chunk leaving its buffers (value.c) before it
 * commits, into whatever segment is current then: one that began before the
 * move may commit a record in the emptied segment afterwards.  Once every
 * live snapshot is at or past the move, every transaction that could have
 * done so has ended, so nothing can add a reference after this check.
 */
static int drop_ready(sop_db *db)
{
    uint64_t oldest = db_oldest_snapshot(db);
    uint32_t *segs = NULL;
    size_t n = 0;
    int rc = 0;
    pthread_mutex_lock(&db->reclaim_wmu);
    if (db->nrpend && !(segs = os_malloc(db->nrpend * sizeof(*segs))))
        rc = SOP_ENOMEM;
    for (size_t i = 0; i < db->nrpend && !rc;)
        if (db->rpend[i].seq <= oldest) {
            segs[n++] = db->rpend[i].seg;
            db->rpend[i] = db->rpend[--db->nrpend];
        } else {
            i++;
        }
    pthread_mutex_unlock(&db->reclaim_wmu);
    if (rc || !n) {
        os_free(segs);
        return rc;
    }
    /* versions only older snapshots saw, pointing there, go first */
    pthread_rwlock_wrlock(&db->lock);
    reg_prune(&db->reg, oldest);
    pthread_rwlock_unlock(&db->lock);
    qsort(segs, n, sizeof(*segs), seg_cmp);
    /* a referenced one is forgotten: a later round picks it again */
    if ((rc = unreferenced(db, segs, &n)) != 0) {
        os_free(segs);
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t size = 0;
        blob_seg_size(&db->log, segs[i], &size);
        int r;
        pthread_mutex_lock(&db->log.mu);
        bool gone = segs[i] >= db->log.cur; /* a value segment that went by itself */
        pthread_mutex_unlock(&db->log.mu);
        if (!blob_is_vseg(&db->log, segs[i]) && gone)
            continue;
        if (!blob_is_vseg(&db->log, segs[i]))
            r = blob_drop_segment(&db->log, segs[i]);
        else if ((r = blob_vseg_drop(&db->log, segs[i])) == SOP_EINVAL)
            r = 0; /* it went by itself meanwhile (db.c, its last chunk died) */
        if (r) {
            db_seterr(db, "reclaim: %s", db->log.err);
            rc = rc ? rc : r;
            continue;
        }
        pthread_mutex_lock(&db->reclaim_wmu);
        db->rc_removed++;
        db->rc_freed += size;
        pthread_mutex_unlock(&db->reclaim_wmu);
    }
    os_free(segs);
    return rc;
}

struct cand {
    uint32_t seg;
    uint64_t size, live;
};

static int cand_by_live(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    return x->live < y->live ? -1 : x->live > y->live;
}

int reclaim_judge(sop_db *db, uint32_t seg, bool vseg, uint32_t cur, uint64_t size, uint64_t live,
                  bool force)
{
    if (!vseg && seg >= cur)
        return RECLAIM_KEEP; /* the log's end: appends go on there */
    if (pending(db, seg) || (!vseg && seg < db->floor_seg))
        return RECLAIM_GOES; /* emptied already, or below the compaction floor */
    if (live >= size && size)
        return RECLAIM_KEEP;
    /* a value segment with nothing live goes by itself (db.c), and one
     * being written belongs to a transaction not yet committed: its
     * chunks are not in the registry, so it looks empty */
    if (vseg && !live)
        return RECLAIM_GOES;
    if (!force && live * RECLAIM_LIVE_SHARE >= size)
        return RECLAIM_KEEP;
    return RECLAIM_PICK;
}

/* Step 2: the segments worth cleaning, ascending, into *sel (malloc'd). */
static int pick(sop_db *db, bool force, uint32_t **sel, size_t *nsel)
{
    uint32_t *segs = NULL;
    size_t n = 0;
    struct cand *c = NULL;
    size_t nc = 0;
    *sel = NULL;
    *nsel = 0;
    uint32_t *vsegs = NULL;
    size_t nv = 0;
    int rc = blob_list_segments(db->os, db->path, &segs, &n);
    if (!rc && (rc = blob_list_vsegs(db->os, db->path, &vsegs, &nv)) == 0 && n + nv) {
        uint32_t *all = os_realloc(segs, (n + nv) * sizeof(*all));
        if (all) {
            if (nv)
                memcpy(all + n, vsegs, nv * sizeof(*all));
            segs = all;
        }
        if (!all || !(c = os_malloc((n + nv) * sizeof(*c))))
            rc = SOP_ENOMEM;
    }
    os_free(vsegs);
    if (rc) {
        os_free(segs);
        return rc;
    }
    pthread_mutex_lock(&db->log.mu);
    uint32_t cur = db->log.cur;
    pthread_mutex_unlock(&db->log.mu);
    for (size_t i = 0; i < n + nv; i++) {
        uint64_t size;
        if (blob_seg_size(&db->log, segs[i], &size) != 0)
            continue;
        pthread_rwlock_rdlock(&db->lock);
        uint64_t live = reg_seg_live(&db->reg, segs[i]);
        pthread_rwlock_unlock(&db->lock);
        if (reclaim_judge(db, segs[i], i >= n, cur, size, live, force) == RECLAIM_PICK)
            c[nc++] = (struct cand){.seg = segs[i], .size = size, .live = live};
    }
    os_free(segs);
    qsort(c, nc, sizeof(*c), cand_by_live);
    /* the copies come before the space they free: a round leaves at least
     * half the reserve free (db.c), which deletes need on a full disk */
    uint64_t avail, total, budget = force ? UINT64_MAX : RECLAIM_ROUND;
    if (os_space(db->os, db->path, &avail, &total) == 0) {
        uint64_t keep = db_reserve(db, total) / 2;
        uint64_t room = avail > keep ? avail - keep : 0;
        budget = budget < room ? budget : room;
    }
    uint64_t live = 0, gain = 0;
    size_t k = 0;
    while (k < nc && live + c[k].live <= budget) {
        live += c[k].live;
        gain += c[k].size - (c[k].live < c[k].size ? c[k].live : c[k].size);
        k++;
    }
    if (!force) {
        pthread_rwlock_rdlock(&db->lock);
        uint64_t ckpt = (uint64_t)db->reg.count * 48; /* a checkpoint's entries */
        pthread_rwlock_unlock(&db->lock);
        if (gain < RECLAIM_MIN_GAIN || gain < 2 * ckpt)
            k = 0;
    }
    if (k) {
        uint32_t *s = os_malloc(k * sizeof(*s));
        if (!s) {
            os_free(c);
            return SOP_ENOMEM;
        }
        for (size_t i = 0; i < k; i++)
            s[i] = c[i].seg;
        qsort(s, k, sizeof(*s), seg_cmp);
        *sel = s;
        *nsel = k;
    }
    os_free(c);
    return 0;
}

static int round_locked(sop_db *db, bool force)
{
    uint32_t *sel = NULL;
    size_t nsel = 0;
    uint64_t last = 0, copied = 0;
    int rc;
    if ((rc = drop_ready(db)) != 0 || (rc = pick(db, force, &sel, &nsel)) != 0 || !nsel)
        goto out;
    for (int pass = 0; pass < RECLAIM_PASSES && !rc; pass++) {
        struct moves m = {0};
        if ((rc = collect(db, sel, nsel, &m, NULL)) != 0 || !m.n) {
            moves_free(&m);
            break;
        }
        for (size_t i = 0; i < m.n && !rc;) {
            size_t j = i;
            uint64_t bytes = 0;
            while (j < m.n && bytes < RECLAIM_GROUP)
                bytes += m.v[j++].from.len + REC_HDR;
            if ((rc = db_space_check(db, NULL, bytes)) == 0 &&
                (rc = reclaim_copy(db, &m, i, j)) == 0)
                rc = commit_group(db, &m, i, j, &last, &copied);
            i = j;
        }
        moves_free(&m);
    }
    if (rc || (rc = unreferenced(db, sel, &nsel)) != 0 || !nsel)
        goto out;
    /* two checkpoints: neither the newest nor the previous one replays
     * from below the emptied segments any more */
    pthread_mutex_lock(&db->commit_mu);
    rc = db_checkpoint(db);
    if (!rc)
        rc = db_checkpoint(db);
    uint32_t below = db->ckpt_seg[0] < db->ckpt_seg[1] ? db->ckpt_seg[0] : db->ckpt_seg[1];
    pthread_mutex_unlock(&db->commit_mu);
    if (rc)
        goto out;
    if (!last) { /* nothing moved: no snapshot needs to end first */
        pthread_rwlock_rdlock(&db->lock);
        last = db->seq;
        pthread_rwlock_unlock(&db->lock);
    }
    for (size_t i = 0; i < nsel && !rc; i++) /* recovery never reads value segments */
        if (sel[i] < below || blob_is_vseg(&db->log, sel[i]))
            rc = pend_add(db, sel[i], last);
    if (!rc)
        rc = drop_ready(db);
out:
    pthread_mutex_lock(&db->reclaim_wmu);
    db->rc_rounds++;
    db->rc_copied += copied;
    if (rc)
        snprintf(db->rc_err, sizeof(db->rc_err), "%s", db->errmsg);
    else
        db->rc_err[0] = 0;
    pthread_mutex_unlock(&db->reclaim_wmu);
    os_free(sel);
    return rc;
}

static int reclaim_round(sop_db *db, bool force)
{
    pthread_mutex_lock(&db->reclaim_mu);
    int rc = round_locked(db, force);
    pthread_mutex_unlock(&db->reclaim_mu);
    return rc;
}

/* ------------------------------------------------------------ the thread */

static void *reclaimer_main(void *arg)
{
    sop_db *db = arg;
    pthread_mutex_lock(&db->reclaim_wmu);
    while (!db->reclaim_quit) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + RECLAIM_WAKE_MS * 1000000ull;
        ts.tv_sec += (time_t)(ns / 1000000000ull);
        ts.tv_nsec = (long)(ns % 1000000000ull);
        pthread_cond_timedwait(&db->reclaim_cv, &db->reclaim_wmu, &ts);
        if (db->reclaim_quit)
            break;
        bool waiting = db->nrpend > 0, off = db->reclaim_off;
        uint64_t at = db->rc_appended_at;
        pthread_mutex_unlock(&db->reclaim_wmu);
        pthread_mutex_lock(&db->log.mu);
        uint64_t appended = db->log.appended;
        bool broken = db->log.broken;
        pthread_mutex_unlock(&db->log.mu);
        /* nothing new to look at: no round (a round lists the folder) */
        if (!broken && !off && (waiting || appended - at >= RECLAIM_MIN_GAIN / 4)) {
            pthread_mutex_lock(&db->reclaim_wmu);
            db->rc_appended_at = appended;
            pthread_mutex_unlock(&db->reclaim_wmu);
            reclaim_round(db, false); /* a failure is kept in rc_err; the next round retries */
        }
        pthread_mutex_lock(&db->reclaim_wmu);
    }
    pthread_mutex_unlock(&db->reclaim_wmu);
    return NULL;
}

int reclaim_start(sop_db *db)
{
    if (pthread_create(&db->reclaimer, NULL, reclaimer_main, db) != 0)
        return 0; /* no thread: space comes back through sop_db_reclaim and compaction */
    db->reclaimer_on = true;
    return 0;
}

void reclaim_stop(sop_db *db)
{
    if (!db->reclaimer_on)
        return;
    pthread_mutex_lock(&db->reclaim_wmu);
    db->reclaim_quit = true;
    pthread_cond_signal(&db->reclaim_cv);
    pthread_mutex_unlock(&db->reclaim_wmu);
    pthread_join(db->reclaimer, NULL);
    db->reclaimer_on = false;
}

/* ------------------------------------------------------------ at open */

struct sweep {
    uint32_t lo, hi; /* the segments looked at: [lo, hi) */
    int64_t *d;      /* hi - lo + 1 differences: references begin and end */
};

static int sweep_one(const struct rkey *k, const struct rver *v, void *arg)
{
    struct sweep *s = arg;
    (void)k;
    uint32_t a = v->base < v->loc.seg ? v->base : v->loc.seg, b = v->loc.seg;
    if (b < s->lo || a >= s->hi)
        return 0;
    s->d[(a < s->lo ? s->lo : a) - s->lo]++;
    s->d[(b + 1 < s->hi ? b + 1 : s->hi) - s->lo]--;
    return 0;
}

int reclaim_sweep(sop_db *db)
{
    uint32_t *segs = NULL;
    size_t n = 0;
    uint32_t hi = db->ckpt_seg[0] < db->ckpt_seg[1] ? db->ckpt_seg[0] : db->ckpt_seg[1];
    int rc = blob_list_segments(db->os, db->path, &segs, &n);
    if (rc || !n || segs[0] >= hi) {
        os_free(segs);
        return rc;
    }
    struct sweep s = {.lo = segs[0], .hi = hi};
    if (!(s.d = os_calloc((size_t)(hi - s.lo) + 1, sizeof(*s.d)))) {
        os_free(segs);
        return 0; /* they stay till a later open or round */
    }
    rc = reg_foreach_ver(&db->reg, sweep_one, &s);
    for (uint32_t g = 1; g <= hi - s.lo; g++)
        s.d[g] += s.d[g - 1]; /* now: references to segment lo + g */
    size_t dropped = 0;
    for (size_t i = 0; i < n && !rc && segs[i] < hi; i++) {
        if (s.d[segs[i] - s.lo] || segs[i] >= db->log.cur || segs[i] < db->floor_seg)
            continue;
        if ((rc = blob_drop_segment(&db->log, segs[i])) != 0)
            db_seterr(db, "open: remove emptied segment %08u: %s", segs[i], db->log.err);
        else
            dropped++;
    }
    if (dropped)
        db_report(db, "reclaim: removed %zu emptied log segment%s a crash had left", dropped,
                  dropped == 1 ? "" : "s");
    os_free(s.d);
    os_free(segs);
    return rc;
}

/* ------------------------------------------------------------ the API */

SOP_API int sop_db_reclaim(sop_db *db)
{
    if (!db)
        return SOP_EINVAL;
    if (db->salvage) {
        db_seterr(db, "reclaim: the database is open for salvage (read-only)");
        return SOP_EINVAL;
    }
    return reclaim_round(db, true);
}

SOP_API int sop_db_set_reclaim(sop_db *db, int on)
{
    if (!db)
        return SOP_EINVAL;
    pthread_mutex_lock(&db->reclaim_wmu);
    db->reclaim_off = !on;
    pthread_mutex_unlock(&db->reclaim_wmu);
    return 0;
}

SOP_API int sop_db_reclaim_info(sop_db *db, sop_reclaim_info *out)
{
    uint32_t *segs = NULL;
    size_t n = 0;
    if (!db || !out)
        return SOP_EINVAL;
    memset(out, 0, sizeof(*out));
    int rc = blob_list_segments(db->os, db->path, &segs, &n);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        uint64_t size;
        if (blob_seg_size(&db->log, segs[i], &size) != 0)
            continue;
        out->log_segments++;
        out->log_bytes += size;
        pthread_rwlock_rdlock(&db->lock);
        out->live_bytes += reg_seg_live(&db->reg, segs[i]);
        pthread_rwlock_unlock(&db->lock);
    }
    os_free(segs);
    pthread_mutex_lock(&db->reclaim_wmu);
    out->waiting = (uint32_t)db->nrpend;
    out->rounds = db->rc_rounds;
    out->segments_removed = db->rc_removed;
    out->bytes_copied = db->rc_copied;
    out->bytes_freed = db->rc_freed;
    out->on = !db->reclaim_off;
    pthread_mutex_unlock(&db->reclaim_wmu);
    return 0;
}
