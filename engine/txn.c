/*
 * txn.c - a transaction's life: begin, rollback and commit.  The calls on
 * its stores, items and cursors are store.c's, item.c's and cursor.c's;
 * their reads and writes are recorded in rwset.c, and commit is here.
 *
 * The commit protocol (each step below cites its number):
 *  C1. Leftover chunk buffers are appended to the log (unsynced), outside
 *      any lock: a big value's bytes are already on disk before commit.
 *  C2. Take db->commit_mu: one commit at a time.  Leave the active list.
 *  C3. Validate: for every commit newer than this transaction's snapshot
 *      (db->recent_*), a key it wrote that this one read, wrote, or that
 *      lies in a range this one walked, or a store this one used that it
 *      created, dropped or altered, is a conflict: SOP_ECONFLICT, nothing
 *      written.  Read-only transactions stop here.
 *  C4. A store someone else committed to since the snapshot (without
 *      conflict: other keys) is rebuilt: this transaction's final items for
 *      each key it wrote are re-applied onto the newest tree.
 *  C5. One batch is built: every dirty node as a full image or a delta,
 *      then the commit record listing every registry change (batch-relative
 *      or absolute locations, removals) and every store info.  It is
 *      appended with one write and made durable with one fsync (none for
 *      SOP_TXN_NOSYNC: the group flusher or sop_db_sync does it).  The
 *      commit record's crc is the commit point: recovery applies it whole or
 *      not at all.  A failure here changes nothing in memory; a failed fsync
 *      breaks the log until reopen (the kernel may have dropped pages).
 *  C6. Under db->lock (write), the commit record is applied to the registry
 *      and catalog with the same code recovery uses, and seq advances:
 *      the commit is visible at once to every new snapshot.
 *  C7. The new node versions enter the cache under their new locations
 *      (the versions they replace leave it);
 *      this commit's write set is kept while an older snapshot is live.
 *  C8. A checkpoint is written when the log has grown enough since the last.
 *
 * A member of a clustered database (cluster.h) adds: K1 after C2, the
 * commit lock in Redis and the other members' commits applied (their keys
 * join the write sets C3 checks); C5 always syncs; K5 before C6, the claim
 * of commit seq on disk (lost to another member: SOP_ECONFLICT, nothing
 * applied); K7 after C8, the lock let go.  A transaction's begin catches
 * up with the other members first.
 */
#define _GNU_SOURCE
#include "btree.h"
#include "cluster.h"
#include "cursor.h"
#include "item.h"
#include "kind.h"
#include "os.h"
#include "overlay.h"
#include "rwset.h"
#include "value.h"

#include <stdlib.h>
#include <string.h>

/* A changed leaf is written as a delta of its changed keys while its chain of
 * deltas is shorter than DELTA_CHAIN_MAX records and their bytes stay under
 * 1/DELTA_CHAIN_SHARE of the node's; then a full image is written.  Each
 * image costs a whole node of log bytes, each delta on a chain costs one more
 * record to read when the node is loaded cold (bt_load); recovery reads
 * neither. */
#ifndef DELTA_CHAIN_MAX
#define DELTA_CHAIN_MAX 16
#endif
#ifndef DELTA_CHAIN_SHARE
#define DELTA_CHAIN_SHARE 2
#endif

/* The biggest commit batch buffer kept for the next commit. */
#define COMMIT_BUF_KEEP (16u << 20)

/* ------------------------------------------------------------ txn life */

SOP_API int sop_txn_begin(sop_db *db, int mode, sop_txn **out)
{
    if (!db || !out || !(mode & (SOP_TXN_READ | SOP_TXN_WRITE)) ||
        (mode & ~(SOP_TXN_READ | SOP_TXN_WRITE | SOP_TXN_NOSYNC | SOP_TXN_NOAGE | SOP_TXN_NOPIN)))
        return SOP_EINVAL;
    if ((mode & SOP_TXN_WRITE) && db->salvage) {
        db_seterr(db, "begin: the database was opened to salvage it, read-only");
        return SOP_EREADONLY;
    }
    if (db->member) { /* the snapshot holds what other members committed before it */
        int rc = cluster_catch_up(db); /* not behind a commit waiting for its lock */
        if (rc)
            return rc;
    }
    sop_txn *t = os_calloc(1, sizeof(*t));
    if (!t)
        return SOP_ENOMEM;
    t->b.db = db;
    t->b.mode = mode;
    t->b.begin_ns = coarse_ns();
    /* snapshot and registration together, so a committer computing the
     * oldest live snapshot under db->lock sees this one (txn.c C6) */
    pthread_rwlock_rdlock(&db->lock);
    pthread_mutex_lock(&db->txn_mu);
    t->b.snap = db->seq;
    t->b.next = db->active;
    if (db->active)
        db->active->prev = &t->b;
    db->active = &t->b;
    pthread_mutex_unlock(&db->txn_mu);
    pthread_rwlock_unlock(&db->lock);
    *out = t;
    return 0;
}

static void store_free(sop_store *s)
{
    while (s->cursors) {
        struct sop_cursor *c = s->cursors;
        s->cursors = c->next;
        cursor_free(c);
    }
    bt_reset(s);
    keyset_free(&s->rkeys);
    items_free(s->wkeys, s->nwkeys);
    items_free(s->deadv, s->ndeadv);
    for (size_t i = 0; i < s->nmerges; i++) {
        item_free_own(&s->merges[i].key);
        os_free(s->merges[i].upd);
    }
    os_free(s->merges);
    for (size_t i = 0; i < s->nranges; i++) {
        item_free_own(&s->ranges[i].lo);
        item_free_own(&s->ranges[i].hi);
    }
    os_free(s->ranges);
    info_free(&s->info);
    os_free(s);
}

static void txn_unlink(sop_txn *t)
{
    sop_db *db = t->b.db;
    pthread_mutex_lock(&db->txn_mu);
    if (t->b.prev)
        t->b.prev->next = t->b.next;
    else if (db->active == &t->b)
        db->active = t->b.next;
    if (t->b.next)
        t->b.next->prev = t->b.prev;
    t->b.prev = t->b.next = NULL;
    pthread_mutex_unlock(&db->txn_mu);
}

static void txn_free(sop_txn *t)
{
    txn_unlink(t);
    if (t->b.vseg && !t->b.vseg_kept) /* rolled back or failed: its chunks are nobody's */
        blob_vseg_drop(&t->b.db->log, t->b.vseg);
    txn_free_scratch(t);
    os_free(t->pins);
    for (int i = 0; i < TXN_CBUFS; i++)
        os_free(t->b.cb[i].data);
    os_free(t->b.ch);
    while (t->stores) {
        sop_store *s = t->stores;
        t->stores = s->next;
        store_free(s);
    }
    for (size_t i = 0; i < t->nnames; i++)
        os_free(t->names[i]);
    os_free(t->names);
    struct cache *c = &t->b.db->cache;
    os_free(t);
    /* what the transaction held (the nodes it pinned, those its commit put
     * in the cache) may go now: back to the budget */
    cache_trim(c);
}

SOP_API void sop_txn_rollback(sop_txn *t)
{
    if (!t)
        return;
    __atomic_fetch_add(&t->b.db->n_rollbacks, 1, __ATOMIC_RELAXED);
    txn_free(t);
}

/* ------------------------------------------------------------ commit */

static bool store_has_writes(const sop_store *s)
{
    if (s->gone)
        return false;
    return s->created || s->dropped || s->altered || s->nwkeys;
}

static bool name_noted(const sop_txn *t, const char *name)
{
    if (t->all_names)
        return true;
    for (size_t i = 0; i < t->nnames; i++)
        if (!strcmp(t->names[i], name))
            return true;
    return false;
}

/* C3 */
static int validate(sop_txn *t)
{
    sop_db *db = t->b.db;
    for (sop_store *s = t->stores; s; s = s->next)
        rw_items_sort(s->wkeys, &s->nwkeys);
    pthread_mutex_lock(&db->txn_mu);
    struct wset *w = db->recent_old;
    pthread_mutex_unlock(&db->txn_mu);
    bool settled = false; /* read sets are sorted only when a newer commit exists */
    for (; w; w = w->next) {
        if (w->seq > t->b.snap && !settled) {
            for (sop_store *s = t->stores; s; s = s->next)
                keyset_settle(&s->rkeys);
            settled = true;
        }
        if (w->seq <= t->b.snap)
            continue;
        for (size_t i = 0; i < w->nnames; i++)
            if (name_noted(t, w->names[i])) {
                txn_seterr(t,
                           "commit: conflict: store %s was created, dropped or altered by "
                           "commit %llu",
                           w->names[i], (unsigned long long)w->seq);
                return SOP_ECONFLICT;
            }
        for (size_t i = 0; i < w->nstores; i++) {
            const struct wset_store *ws = &w->stores[i];
            for (sop_store *s = t->stores; s; s = s->next) {
                if (s->created || memcmp(s->info.id.b, ws->store_id.b, 16))
                    continue;
                bool hit = ws->structural;
                for (size_t k = 0; k < ws->nkeys && !hit; k++) {
                    const struct item *key = &ws->keys[k];
                    const struct item *mine = rw_items_find(s->wkeys, s->nwkeys, key);
                    /* merges pass over merges, plain writes and reads (see
                     * item_merge_apply); a plain write of ours conflicts with any */
                    hit = mine && !mine->merge;
                    if (key->merge)
                        continue;
                    hit = hit || keyset_holds(&s->rkeys, key);
                    for (size_t r = 0; r < s->nranges && !hit; r++)
                        hit = rw_in_range(&s->ranges[r], key);
                }
                if (hit) {
                    txn_seterr(t,
                               "commit: conflict: commit %llu changed a key of store %s "
                               "that this transaction read or wrote",
                               (unsigned long long)w->seq, s->info.name);
                    return SOP_ECONFLICT;
                }
            }
        }
    }
    return 0;
}

/* C4: re-apply this transaction's final items onto the newest tree. */
static int reapply(sop_store *s)
{
    sop_db *db = s->t->b.db;
    struct item **groups = os_calloc(s->nwkeys ? s->nwkeys : 1, sizeof(*groups));
    size_t *ng = os_calloc(s->nwkeys ? s->nwkeys : 1, sizeof(*ng));
    int rc = 0;
    if (!groups || !ng) {
        rc = SOP_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < s->nwkeys && !rc; i++)
        if (!s->wkeys[i].merge)
            rc = bt_group(s, s->wkeys[i].k, s->wkeys[i].kl, &groups[i], &ng[i]);
    if (rc)
        goto out;
    bt_reset(s);
    pthread_rwlock_rdlock(&db->lock);
    const struct sver *v = cat_get(&db->cat, s->info.name, db->seq);
    if (v) {
        s->info.root = v->info.root;
        s->info.count = v->info.count;
        s->base_seq = v->seq;
    }
    s->snap = db->seq;
    pthread_rwlock_unlock(&db->lock);
    if (!v) {
        rc = SOP_ECONFLICT;
        goto out;
    }
    for (size_t i = 0; i < s->nwkeys && !rc; i++) {
        const struct item *k = &s->wkeys[i];
        if (k->merge)
            continue; /* below, onto the newest value */
        while ((rc = bt_remove_first(s, k->k, k->kl, NULL)) == 0)
            ;
        if (rc != SOP_ENOTFOUND)
            break;
        rc = 0;
        for (size_t j = 0; j < ng[i] && !rc; j++)
            rc = bt_insert(s, &groups[i][j]);
    }
    for (size_t i = 0; i < s->nmerges && !rc; i++) {
        struct merge *m = &s->merges[i];
        const struct item *k = rw_items_find(s->wkeys, s->nwkeys, &m->key);
        if (k && k->merge)
            rc = item_merge_apply(s, m);
    }
out:
    if (groups)
        for (size_t i = 0; i < s->nwkeys; i++)
            items_free(groups[i], ng[i]);
    os_free(groups);
    os_free(ng);
    return rc;
}

struct batch {
    struct wbuf w;
    struct commit_reg *e;
    size_t n, cap;
    struct dnode **written; /* nodes written, to cache after the commit */
    size_t *wstart;         /* their record offsets in the batch */
    size_t nwritten, capwritten;
};

static int batch_reg(struct batch *b, const struct rkey *k, uint8_t kind, const struct loc *l)
{
    if (b->n == b->cap) {
        size_t c = b->cap ? b->cap * 2 : 64;
        struct commit_reg *v = os_realloc(b->e, c * sizeof(*v));
        if (!v)
            return SOP_ENOMEM;
        b->e = v;
        b->cap = c;
    }
    struct commit_reg *e = &b->e[b->n++];
    e->key = *k;
    e->kind = kind;
    if (l)
        e->loc = *l;
    else
        memset(&e->loc, 0, sizeof(e->loc));
    return 0;
}

static int drop_keys(sop_store *s, struct batch *b, const struct lid *id);

static int drop_node(sop_store *s, const struct lid *id, struct node *n, void *arg)
{
    struct batch *b = arg;
    int rc = drop_keys(s, b, id);
    if (n && n->leaf)
        for (uint32_t i = 0; i < n->n && !rc; i++)
            if (n->it[i].ext)
                rc = ch_forget(s, &n->it[i]);
    return rc;
}

/*
 * Second copies (ZFS's ditto blocks): a node whose loss would take many
 * items with it, an internal node or a store's root (a small store is its
 * root alone), is written twice, the second copy under registry key
 * {id, 1} in a chain of its own (a delta onto the previous second copy, or
 * an image), so one damaged record never makes a whole store unreadable:
 * bt_node reads the second copy when the first does not check.  Both are
 * written in the same commit, so they always hold the same version; a node
 * that stops being critical loses its second copy in the commit that
 * writes it without one.
 */
static bool has_mirror(sop_db *db, const struct lid *id, struct loc *loc)
{
    struct rkey mk = {.id = *id, .idx = 1};
    pthread_rwlock_rdlock(&db->lock);
    bool has = reg_get(&db->reg, &mk, db->seq, loc) == 0;
    pthread_rwlock_unlock(&db->lock);
    return has;
}

static int write_mirror(sop_store *s, struct batch *b, struct dnode *d, bool full)
{
    struct node *n = d->n;
    struct rkey mk = {.id = d->id, .idx = 1};
    struct loc prev;
    bool critical = !n->leaf || !memcmp(d->id.b, s->info.root.b, 16);
    bool had = has_mirror(s->t->b.db, &d->id, &prev);
    if (!critical)
        return had ? batch_reg(b, &mk, COMMIT_REMOVED, NULL) : 0;
    size_t start;
    int rc;
    bool delta = !full && had;
    if (delta) {
        start = blob_rec_begin(&b->w, REC_DELTA, &mk);
        rc = node_encode_delta(n, d->changed, d->nchanged, &prev, (uint16_t)(n->chain + 1), &b->w);
    } else {
        start = blob_rec_begin(&b->w, REC_NODE, &mk);
        rc = node_encode(n, &b->w);
    }
    if (rc)
        return rc;
    blob_rec_end(&b->w, start);
    struct loc rel = {.seg = 0, .off = start, .len = (uint32_t)(b->w.len - start - REC_HDR)};
    return batch_reg(b, &mk, delta ? COMMIT_DELTA : COMMIT_BATCH, &rel);
}

/* A node removed from the tree: its registry keys go, the second copy's too. */
static int drop_keys(sop_store *s, struct batch *b, const struct lid *id)
{
    struct rkey k = {.id = *id, .idx = 0};
    struct loc ml;
    int rc = batch_reg(b, &k, COMMIT_REMOVED, NULL);
    if (rc == 0 && has_mirror(s->t->b.db, id, &ml)) {
        k.idx = 1;
        rc = batch_reg(b, &k, COMMIT_REMOVED, NULL);
    }
    return rc;
}

/* Was the node's record at `at` moved since it was read?  Reclamation
 * (reclaim.c) copies a live node to a new place without changing it, so a
 * store's catalog version (C4) does not tell: a delta must follow the
 * newest record, not one in a segment about to go.  Under commit_mu, so
 * nothing moves it meanwhile. */
static bool moved_away(sop_db *db, const struct lid *id, const struct loc *at)
{
    struct rkey k = {.id = *id, .idx = 0};
    struct loc now;
    pthread_rwlock_rdlock(&db->lock);
    bool moved = reg_get(&db->reg, &k, db->seq, &now) != 0 || now.seg != at->seg ||
                 now.off != at->off;
    pthread_rwlock_unlock(&db->lock);
    return moved;
}

static int write_node(sop_store *s, struct batch *b, struct dnode *d)
{
    struct node *n = d->n;
    int rc = node_seal(n);
    if (rc)
        return rc;
    bool full = d->fresh || d->full || !n->at.seg || n->chain + 1 >= DELTA_CHAIN_MAX ||
                !d->nchanged || moved_away(s->t->b.db, &d->id, &n->at);
    struct rkey k = {.id = d->id, .idx = 0};
    size_t start;
    if (!full) {
        rw_items_sort(d->changed, &d->nchanged);
        start = blob_rec_begin(&b->w, REC_DELTA, &k);
        rc = node_encode_delta(n, d->changed, d->nchanged, &n->at, (uint16_t)(n->chain + 1), &b->w);
        size_t dlen = b->w.len - start - REC_HDR;
        if (!rc && (n->chain_bytes + dlen) * DELTA_CHAIN_SHARE > n->bytes) {
            /* the deltas add up to a good part of the node: consolidate */
            b->w.len = start;
            full = true;
        }
    }
    if (full) {
        start = blob_rec_begin(&b->w, REC_NODE, &k);
        rc = node_encode(n, &b->w);
    }
    if (rc)
        return rc;
    blob_rec_end(&b->w, start);
    struct loc rel = {.seg = 0, .off = start, .len = (uint32_t)(b->w.len - start - REC_HDR)};
    if ((rc = batch_reg(b, &k, full ? COMMIT_BATCH : COMMIT_DELTA, &rel)) != 0 ||
        (rc = write_mirror(s, b, d, full)) != 0)
        return rc;
    if (b->nwritten == b->capwritten) {
        size_t c = b->capwritten ? b->capwritten * 2 : 64;
        struct dnode **v = os_realloc(b->written, c * sizeof(*v));
        size_t *st = v ? os_realloc(b->wstart, c * sizeof(*st)) : NULL;
        if (v)
            b->written = v;
        if (!st)
            return SOP_ENOMEM;
        b->wstart = st;
        b->capwritten = c;
    }
    if (full)
        d->full = true; /* remembered for the chain bookkeeping after the commit */
    b->written[b->nwritten] = d;
    b->wstart[b->nwritten++] = start;
    return 0;
}

static int build_store(sop_store *s, struct batch *b, struct wbuf *stores, uint32_t *nst)
{
    int rc = 0;
    if (s->dropped) {
        if (!s->created && (rc = bt_walk(s, drop_node, b)) != 0)
            return rc;
    } else {
        for (size_t i = 0; i < s->capdn && !rc; i++) {
            struct dnode *d = s->dn[i];
            if (!d)
                continue;
            if (d->freed) {
                if (!d->fresh)
                    rc = drop_keys(s, b, &d->id);
                continue;
            }
            rc = write_node(s, b, d);
        }
    }
    if (rc)
        return rc;
    if (s->created && s->dropped)
        return 0;
    s->info.modified_ns = now_ns();
    wb_u8(stores, s->dropped ? 1 : 0);
    info_encode(&s->info, stores);
    (*nst)++;
    return stores->err ? SOP_ENOMEM : 0;
}

static void batch_free(struct batch *b)
{
    wb_free(&b->w);
    os_free(b->e);
    os_free(b->written);
    os_free(b->wstart);
}

/* A merge that made its key is a plain write for others: a range they
 * walked has one key more.  Before the write set leaves the transaction. */
static void settle_merges(sop_store *s)
{
    for (size_t i = 0; i < s->nmerges; i++) {
        struct item *k = rw_items_find(s->wkeys, s->nwkeys, &s->merges[i].key);
        if (k && s->merges[i].created && k->merge) {
            bool first = true; /* the first merge into the key decides */
            for (size_t j = 0; j < i && first; j++)
                first = rw_key_cmp(&s->merges[j].key, k) != 0;
            if (first)
                k->merge = 0;
        }
    }
}

/* C7: keep this commit's write set while an older snapshot lives. */
static void remember(sop_txn *t, uint64_t seq)
{
    sop_db *db = t->b.db;
    struct wset *w = os_calloc(1, sizeof(*w));
    if (!w)
        goto prune; /* cannot happen often; validation would then miss nothing only if
                       no older snapshot exists, so poison those instead */
    w->seq = seq;
    size_t n = 0;
    for (sop_store *s = t->stores; s; s = s->next)
        if (store_has_writes(s))
            n++;
    w->stores = os_calloc(n ? n : 1, sizeof(*w->stores));
    w->names = os_calloc(n ? n : 1, sizeof(*w->names));
    if (!w->stores || !w->names) {
        wset_free(w);
        w = NULL;
        goto prune;
    }
    for (sop_store *s = t->stores; s; s = s->next) {
        if (!store_has_writes(s))
            continue;
        struct wset_store *ws = &w->stores[w->nstores++];
        ws->store_id = s->info.id;
        ws->structural = s->created || s->dropped || s->altered;
        settle_merges(s);
        ws->keys = s->wkeys; /* moved */
        ws->nkeys = s->nwkeys;
        s->wkeys = NULL;
        s->nwkeys = s->capwkeys = 0;
        if (ws->structural && (w->names[w->nnames] = os_strdup(s->info.name)) != NULL)
            w->nnames++;
    }
prune:
    pthread_mutex_lock(&db->txn_mu);
    uint64_t oldest = db_oldest_locked(db, db->seq);
    if (w && db->active) {
        db_recent_add_locked(db, w);
        w = NULL;
    } else if (!w && db->active) {
        /* out of memory: the live transactions could miss this commit's
         * changes, so they must not commit */
        for (struct txn_base *a = db->active; a; a = a->next)
            if (!a->poison)
                a->poison = SOP_ECONFLICT;
    }
    while (db->recent_old && db->recent_old->seq <= oldest) {
        struct wset *o = db->recent_old;
        db->recent_old = o->next;
        if (!db->recent_old)
            db->recent_new = NULL;
        wset_free(o);
    }
    pthread_mutex_unlock(&db->txn_mu);
    if (w)
        wset_free(w);
}

/* C5 in clustered mode: the keys this commit wrote, per store, for the
 * commit record (format 3), which other members validate against (the
 * write sets are sorted by C3's validate). */
static int encode_keys(sop_txn *t, struct wbuf *w)
{
    size_t n = 0, nn = 0;
    for (sop_store *s = t->stores; s; s = s->next)
        if (store_has_writes(s))
            n++;
    struct wset ws;
    memset(&ws, 0, sizeof(ws));
    ws.stores = os_calloc(n ? n : 1, sizeof(*ws.stores));
    ws.names = os_calloc(n ? n : 1, sizeof(*ws.names));
    if (!ws.stores || !ws.names) {
        os_free(ws.stores);
        os_free(ws.names);
        return SOP_ENOMEM;
    }
    for (sop_store *s = t->stores; s; s = s->next) {
        if (!store_has_writes(s))
            continue;
        settle_merges(s);
        struct wset_store *st = &ws.stores[ws.nstores++];
        st->store_id = s->info.id;
        st->structural = s->created || s->dropped || s->altered;
        st->keys = s->wkeys; /* borrowed */
        st->nkeys = s->nwkeys;
        if (st->structural)
            ws.names[nn++] = s->info.name; /* borrowed */
    }
    ws.nnames = nn;
    db_keys_encode(w, &ws);
    os_free(ws.stores);
    os_free(ws.names);
    return w->err ? SOP_ENOMEM : 0;
}

static int do_commit(sop_txn *t)
{
    sop_db *db = t->b.db;
    struct batch b;
    struct wbuf stores;
    uint32_t nst = 0, seg;
    uint64_t base;
    bool writes = false;
    int rc = 0;
    struct db_apply ap = {0};
    struct coord_lock clock;
    bool locked = false;
    struct wbuf keys;
    memset(&b, 0, sizeof(b));
    wb_init(&b.w);
    wb_init(&stores);
    wb_init(&keys);
    /* cursors' walked ranges join the read set */
    for (sop_store *s = t->stores; s; s = s->next) {
        for (struct sop_cursor *c = s->cursors; c && !rc; c = c->next)
            rc = cursor_flush_span(c);
        if (store_has_writes(s))
            writes = true;
    }
    if (rc)
        goto out_nolock;
    /* C1 */
    if (t->stores && (rc = ch_flush(t->stores)) != 0)
        goto out_nolock;
    pthread_mutex_lock(&db->commit_mu); /* C2 */
    /* the batch buffer of the last commit is reused: no fresh pages to fault in */
    b.w = db->commit_buf;
    b.w.len = 0;
    b.w.err = false;
    wb_init(&db->commit_buf);
    if (writes && db->log.broken) {
        txn_seterr(t, "commit: the log failed earlier (%s); reopen the database", db->log.err);
        rc = SOP_EIO;
        goto out;
    }
    if (db->member) { /* K1: the commit lock, and what other members committed */
        char why[512] = "";
        rc = writes ? cluster_lock(db, &clock, why, sizeof(why)) : cluster_catch_up(db);
        if (rc) {
            txn_seterr(t, "%s", writes ? why : db->errmsg);
            if (rc == SOP_ECONFLICT)
                __atomic_fetch_add(&db->n_conflicts, 1, __ATOMIC_RELAXED);
            goto out;
        }
        locked = writes;
    }
    if ((rc = validate(t)) != 0) { /* C3 */
        __atomic_fetch_add(&db->n_conflicts, 1, __ATOMIC_RELAXED);
        goto out;
    }
    txn_unlink(t); /* after validation: the write sets it needed are kept till here */
    if (!writes)
        goto out;
    /* C4 */
    for (sop_store *s = t->stores; s && !rc; s = s->next) {
        if (!store_has_writes(s) || s->created || s->dropped)
            continue;
        pthread_rwlock_rdlock(&db->lock);
        const struct sver *v = cat_get(&db->cat, s->info.name, db->seq);
        bool moved = !v || v->seq != s->base_seq;
        pthread_rwlock_unlock(&db->lock);
        if (moved)
            rc = reapply(s);
    }
    if (rc) {
        txn_seterr(t, "commit: re-apply on the newest tree: %s", sop_strerror(rc));
        goto out;
    }
    /* C5 */
    for (sop_store *s = t->stores; s && !rc; s = s->next)
        if (store_has_writes(s))
            rc = build_store(s, &b, &stores, &nst);
    for (size_t i = 0; i < t->b.capch && !rc; i++) {
        struct chunk_ent *e = &t->b.ch[i];
        if (e->loc.seg == 0 && !e->dead)
            continue;
        rc = batch_reg(&b, &e->key, e->dead ? COMMIT_REMOVED : COMMIT_ABSOLUTE,
                       e->dead ? NULL : &e->loc);
    }
    if (rc)
        goto out;
    uint64_t seq = db->seq + 1;
    if (db->keys_in_commits && (rc = encode_keys(t, &keys)) != 0)
        goto out;
    size_t cstart = db_commit_encode_keys(db, &b.w, seq, b.e, b.n, &stores, nst,
                                          db->keys_in_commits ? &keys : NULL);
    if (b.w.err) {
        rc = SOP_ENOMEM;
        goto out;
    }
    /* everything C6 needs is allocated now, before the commit point: a
     * commit that is durable is applied */
    size_t clen = b.w.len - cstart - REC_HDR;
    if ((rc = db_apply_prepare(db, b.w.p + cstart + REC_HDR, clen, &ap)) != 0)
        goto out;
    pthread_rwlock_wrlock(&db->lock);
    rc = cat_reserve(&db->cat, ap.nst);
    pthread_rwlock_unlock(&db->lock);
    if (rc)
        goto out;
    /* a commit that only gives space back may use most of the reserve */
    if ((rc = db_space_check(db, &t->b, b.w.len)) != 0)
        goto out;
    if ((rc = blob_append(&db->log, b.w.p, b.w.len, &seg, &base)) != 0) {
        txn_seterr(t, "commit: %s", db->log.err);
        goto out;
    }
    t->b.vseg_kept = true; /* the commit record may be durable: it names the chunks there */
    if (!(t->b.mode & SOP_TXN_NOSYNC) || db->member) { /* a claim names only durable records */
        if ((rc = db_sync(db)) != 0) {
            txn_seterr(t, "commit: %s", db->log.err);
            goto out;
        }
    } else {
        pthread_mutex_lock(&db->flush_mu);
        db->unsynced = true;
        pthread_mutex_unlock(&db->flush_mu);
    }
    if (db->member) { /* K5: commit seq is this member's, or it did not happen */
        char why[512] = "";
        rc = cluster_claim(db, &clock, seq, seg, base + cstart, (uint32_t)clen, why, sizeof(why));
        if (rc) {
            txn_seterr(t, "%s", why);
            if (rc == SOP_ECONFLICT)
                __atomic_fetch_add(&db->n_conflicts, 1, __ATOMIC_RELAXED);
            else
                db->log.broken = true; /* made but perhaps not durable: in doubt */
            goto out;
        }
    }
    /* C6 */
    pthread_rwlock_wrlock(&db->lock);
    pthread_mutex_lock(&db->txn_mu);
    uint64_t keep = db_oldest_locked(db, seq);
    pthread_mutex_unlock(&db->txn_mu);
    db_apply_finish(db, &ap, seg, base, keep);
    size_t dead = db_note_dead(db);
    pthread_rwlock_unlock(&db->lock);
    if (db->member)
        cluster_applied(db);
    if (dead && !(t->b.mode & SOP_TXN_NOSYNC)) {
        db_drop_dead(db, seq); /* durable: what it killed can go now */
    } else if (dead) {         /* the flusher makes it durable now, not in a second */
        pthread_mutex_lock(&db->flush_mu);
        pthread_cond_signal(&db->flush_cv);
        pthread_mutex_unlock(&db->flush_mu);
    }
    /* C7: the replaced versions leave the cache (only an older snapshot could
     * still read them, and it reloads them), the new ones enter it */
    for (sop_store *s = t->stores; s; s = s->next)
        for (size_t i = 0; i < s->capdn; i++)
            if (s->dn[i] && s->dn[i]->freed && s->dn[i]->n->at.seg)
                cache_drop(&db->cache, &s->dn[i]->n->at);
    for (size_t i = 0; i < b.nwritten; i++) {
        struct dnode *d = b.written[i];
        struct node *n = d->n;
        struct loc at = {.seg = seg, .off = base + b.wstart[i]};
        at.len = (uint32_t)get_u32(b.w.p + b.wstart[i] + 8);
        if (n->at.seg)
            cache_drop(&db->cache, &n->at);
        if (d->full) {
            n->chain = 0;
            n->chain_bytes = 0;
        } else {
            n->chain++;
            n->chain_bytes += at.len + REC_HDR;
        }
        n->at = at;
        cache_put(&db->cache, &at, n);
    }
    __atomic_fetch_add(&db->n_commits, 1, __ATOMIC_RELAXED);
    remember(t, seq);
    /* C8 */
    if (db->log.appended - db->ckpt_at > db->opts.checkpoint_bytes)
        db_checkpoint(db); /* a failed checkpoint costs replay time, not data */
out:
    if (locked) /* K7 */
        cluster_unlock(db, &clock);
    if (b.w.cap <= COMMIT_BUF_KEEP) {
        db->commit_buf = b.w;
        wb_init(&b.w);
    }
    pthread_mutex_unlock(&db->commit_mu);
out_nolock:
    db_apply_free(&ap); /* what a failed commit prepared */
    batch_free(&b);
    wb_free(&stores);
    wb_free(&keys);
    return rc;
}

SOP_API int sop_txn_commit(sop_txn *t)
{
    if (!t)
        return SOP_EINVAL;
    int rc = kind_commit_all(t); /* kind.h: search indexes what t wrote, inside t */
    if (rc == 0)
        rc = txn_check(t, false);
    if (rc == 0)
        rc = do_commit(t);
    if (rc && rc != SOP_ECONFLICT)
        db_seterr(t->b.db, "%s", t->b.errmsg);
    txn_free(t);
    return rc;
}
