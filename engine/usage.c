/*
 * usage.c - where a database's space goes (sop_db_usage, sop du).
 *
 * Two views of the same bytes:
 *  - per segment file, its size and the live bytes the registry counts in
 *    it (registry.h: every version a snapshot may read, headers included;
 *    for log segments a lower bound, since the older records of a node's
 *    delta chain are not named by any version), and whether the cleaner's
 *    rule (reclaim.c, reclaim_judge) takes it now;
 *  - per store, what its data takes: its nodes as full images (both copies
 *    of a critical node) and its values' chunks, split by where they are.
 *    Node bytes are counted as images because that is what compaction and
 *    the cleaner write when they copy a node, whatever chain of deltas it
 *    is read from now.
 * From both: what the cleaner would give back (size - live of the segments
 * it takes) and what sop_db_compact would (compact.c: every log segment
 * goes; the stores' log-resident records come back as images, with one
 * commit record naming them; value segments stay).
 *
 * Calls db.h (catalog, registry, log), blob.h (segment files), btree.h
 * (bt_visit, the walk that goes on past damage), reclaim.h (the cleaner's
 * rule), os.h (memory).  Reads only: it changes nothing.
 */
#include "btree.h"
#include "db.h"
#include "os.h"
#include "reclaim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The size of compaction's commit record for n registry changes
 * (db_commit_encode): header, u8 format, u64 seq, u64 time, u32+u64 synced
 * position, u64 batch start, u32 n, n x {16 id, u64 index, u8 kind, u32 seg,
 * u64 off, u32 len}, u32 stores. */
#define COMMIT_FIXED (REC_HDR + 1u + 8u + 8u + 4u + 8u + 8u + 4u + 4u)
#define COMMIT_PER_REG (16u + 8u + 1u + 4u + 8u + 4u)

struct seg_ent {
    uint32_t id;
    bool vseg;
};

static int seg_ent_cmp(const void *a, const void *b)
{
    const struct seg_ent *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Every segment file, ascending: *out malloc'd. */
static int list_segments(sop_db *db, struct seg_ent **out, size_t *n)
{
    uint32_t *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    *out = NULL;
    *n = 0;
    int rc = blob_list_segments(db->os, db->path, &a, &na);
    if (rc == 0)
        rc = blob_list_vsegs(db->os, db->path, &b, &nb);
    if (rc == 0 && !(*out = os_malloc((na + nb + 1) * sizeof(**out))))
        rc = SOP_ENOMEM;
    if (rc == 0) {
        for (size_t i = 0; i < na; i++)
            (*out)[i] = (struct seg_ent){.id = a[i], .vseg = false};
        for (size_t i = 0; i < nb; i++)
            (*out)[na + i] = (struct seg_ent){.id = b[i], .vseg = true};
        *n = na + nb;
        qsort(*out, *n, sizeof(**out), seg_ent_cmp);
    } else {
        db_seterr(db, "usage: list the segment files of %s: %s", db->path, sop_strerror(rc));
    }
    os_free(a);
    os_free(b);
    return rc;
}

static int segments(sop_db *db, const sop_usage_ops *ops, void *arg, sop_usage *u)
{
    struct seg_ent *v;
    size_t n;
    int rc = list_segments(db, &v, &n);
    if (rc)
        return rc;
    pthread_mutex_lock(&db->log.mu);
    uint32_t cur = db->log.cur;
    pthread_mutex_unlock(&db->log.mu);
    for (size_t i = 0; i < n && rc == 0; i++) {
        sop_segment_usage s = {.id = v[i].id,
                               .kind = v[i].vseg ? SOP_SEGMENT_VALUE : SOP_SEGMENT_LOG,
                               .current = !v[i].vseg && v[i].id == cur};
        if (blob_seg_size(&db->log, s.id, &s.size) != 0)
            continue; /* removed since the listing (a value segment whose last chunk died) */
        pthread_rwlock_rdlock(&db->lock);
        s.live = reg_seg_live(&db->reg, s.id);
        pthread_rwlock_unlock(&db->lock);
        s.reclaimable =
            reclaim_judge(db, s.id, v[i].vseg, cur, s.size, s.live, false) != RECLAIM_KEEP;
        uint64_t dead = s.size > s.live ? s.size - s.live : 0;
        if (s.reclaimable)
            u->cleaner_bytes += dead;
        if (v[i].vseg) {
            u->value_segments++;
            u->value_bytes += s.size;
            u->value_live += s.live;
        } else {
            u->log_segments++;
            u->log_bytes += s.size;
            u->log_live += s.live;
        }
        if (ops->segment)
            rc = ops->segment(arg, &s);
    }
    os_free(v);
    return rc;
}

/* ------------------------------------------------------------ the stores */

struct walk {
    sop_db *db;
    sop_store_usage su;
    int damage; /* the first failure a subtree or a chunk read gave */
};

static uint64_t varint_len(uint64_t v)
{
    uint64_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* The record of n's full image, to the byte (node_encode; n->bytes is an
 * upper bound, counting every varint at its longest). */
static uint64_t image_bytes(const struct node *n)
{
    uint64_t b = REC_HDR + 1 + 1 + 4;
    for (uint32_t i = 0; i < n->n; i++) {
        const struct item *it = &n->it[i];
        b += varint_len(it->kl) + it->kl;
        if (!n->leaf)
            b += 16;
        else
            b += 1 + (it->ext ? 8 + 4 + 16 : varint_len(it->vl) + it->vl);
    }
    return b;
}

static void walk_node(void *arg, sop_store *s, const struct lid *id, const struct node *n)
{
    struct walk *w = arg;
    struct rkey k = {.id = *id, .idx = 1};
    struct loc l;
    uint64_t image = image_bytes(n);
    w->su.nodes++;
    w->su.node_bytes += image;
    pthread_rwlock_rdlock(&w->db->lock);
    int g = reg_get(&w->db->reg, &k, s->snap, &l);
    pthread_rwlock_unlock(&w->db->lock);
    if (g == 0) { /* its second copy (txn.c write_mirror): the same image again */
        w->su.nodes++;
        w->su.node_bytes += image;
    }
}

/* Count the chunk records of an external value (a chunk absent from the
 * registry is a hole: zeros, no record). */
static int walk_item(void *arg, sop_store *s, const struct item *it)
{
    struct walk *w = arg;
    sop_db *db = w->db;
    if (!it->ext || !it->csize)
        return 0;
    uint64_t end = it->vsize / it->csize + (it->vsize % it->csize != 0);
    struct reg_idx v = {0};
    int rc = 0;
    pthread_rwlock_rdlock(&db->lock);
    bool dense = end <= db->reg.count;
    if (!dense)
        rc = reg_foreach_id(&db->reg, &it->vid, 0, s->snap, reg_idx_add, &v);
    pthread_rwlock_unlock(&db->lock);
    for (uint64_t i = 0; rc == 0 && (dense ? i < end : i < v.n); i++) {
        struct rkey key = {.id = it->vid, .idx = dense ? i : v.v[i]};
        struct loc loc;
        pthread_rwlock_rdlock(&db->lock);
        int g = reg_get(&db->reg, &key, s->snap, &loc);
        pthread_rwlock_unlock(&db->lock);
        if (g)
            continue;
        if (blob_is_vseg(&db->log, loc.seg))
            w->su.vseg_bytes += loc.len + REC_HDR;
        else
            w->su.value_bytes += loc.len + REC_HDR;
    }
    os_free(v.v);
    return rc;
}

static void walk_damaged(void *arg, sop_store *s, const struct item *lo, const struct item *hi,
                         int rc, const char *why)
{
    struct walk *w = arg;
    (void)lo;
    (void)hi;
    if (!w->damage) {
        w->damage = rc;
        db_seterr(w->db,
                  "usage: store %s: part of its tree does not read: %s (%s); sop check says "
                  "more",
                  s->info.name, sop_strerror(rc), why && *why ? why : "");
    }
}

static void walk_invalid(void *arg, sop_store *s, const char *what)
{
    (void)arg; /* the shape of the tree is sop_db_check's business */
    (void)s;
    (void)what;
}

/* The catalog's store names now, hidden ones too, in name order. */
static int store_names(sop_db *db, char ***out, size_t *n)
{
    pthread_rwlock_rdlock(&db->lock);
    char **v = os_calloc(db->cat.n + 1, sizeof(*v));
    size_t k = 0;
    int rc = v ? 0 : SOP_ENOMEM;
    for (size_t i = 0; rc == 0 && i < db->cat.n; i++)
        if (cat_get(&db->cat, db->cat.v[i].name, db->seq)) {
            if (!(v[k] = os_strdup(db->cat.v[i].name)))
                rc = SOP_ENOMEM;
            else
                k++;
        }
    pthread_rwlock_unlock(&db->lock);
    *out = v;
    *n = k;
    return rc;
}

/* The registry keys whose newest version is in a log segment: the records
 * compaction would copy (value segments stay). */
struct logkeys {
    struct seglog *log;
    uint64_t n;
};

static int count_logkey(const struct rkey *k, const struct loc *l, void *arg)
{
    struct logkeys *c = arg;
    (void)k;
    if (!blob_is_vseg(c->log, l->seg))
        c->n++;
    return 0;
}

static int stores(sop_db *db, const sop_usage_ops *ops, void *arg, sop_usage *u,
                  uint64_t *log_records)
{
    char **names = NULL;
    size_t n = 0;
    sop_txn *t = NULL;
    int rc, damage = 0;
    if ((rc = store_names(db, &names, &n)) != 0) {
        db_seterr(db, "usage: list the stores: %s", sop_strerror(rc));
        goto out;
    }
    /* no maximum age: a walk over a big database may take long */
    if ((rc = sop_txn_begin(db, SOP_TXN_READ | SOP_TXN_NOAGE, &t)) != 0)
        goto out;
    struct logkeys lk = {.log = &db->log};
    pthread_rwlock_rdlock(&db->lock);
    rc = reg_foreach(&db->reg, count_logkey, &lk);
    pthread_rwlock_unlock(&db->lock);
    *log_records = lk.n;
    for (size_t i = 0; i < n && rc == 0; i++) {
        sop_store *s;
        int r = sop_store_open(t, names[i], &s);
        if (r == SOP_ENOTFOUND)
            continue; /* dropped since the listing */
        if (r) {
            db_seterr(db, "usage: open store %s: %s (%s)", names[i], sop_strerror(r),
                      sop_txn_errmsg(t));
            rc = r;
            break;
        }
        struct walk w = {.db = db, .su = {.name = names[i]}};
        struct bt_visit v = {.item = walk_item,
                             .node = walk_node,
                             .damaged = walk_damaged,
                             .invalid = walk_invalid,
                             .arg = &w};
        if ((rc = bt_visit(s, &v)) != 0) {
            db_seterr(db, "usage: walk store %s: %s (%s)", names[i], sop_strerror(rc),
                      sop_txn_errmsg(t));
            break;
        }
        w.su.items = v.items;
        if (w.damage && !damage)
            damage = w.damage;
        u->store_bytes += w.su.node_bytes + w.su.value_bytes + w.su.vseg_bytes;
        u->compact_bytes += w.su.node_bytes + w.su.value_bytes; /* the log after compaction */
        if (ops->store)
            rc = ops->store(arg, &w.su);
    }
out:
    if (t)
        sop_txn_rollback(t);
    for (size_t i = 0; i < n; i++)
        os_free(names[i]);
    os_free(names);
    return rc ? rc : damage;
}

/* The size of file `name` in the database's folder, or 0 if it has none. */
static uint64_t file_bytes(sop_db *db, const char *name)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", db->path, name);
    return os_file_size(db->os, path);
}

SOP_API int sop_db_usage(sop_db *db, const sop_usage_ops *ops, void *arg, sop_usage *out)
{
    sop_usage u;
    uint64_t log_records = 0;
    if (!db || !ops)
        return SOP_EINVAL;
    memset(&u, 0, sizeof(u));
    int rc = segments(db, ops, arg, &u);
    if (rc == 0)
        rc = stores(db, ops, arg, &u, &log_records);
    if (rc == 0 || rc == SOP_ECORRUPT) {
        /* compact_bytes holds, so far, the stores' log records as images */
        uint64_t after = u.compact_bytes + COMMIT_FIXED + COMMIT_PER_REG * log_records;
        /* compaction writes a checkpoint and keeps the one before it as
         * checkpoint.prev: a folder with one checkpoint ends with two */
        if (file_bytes(db, "checkpoint.prev") == 0)
            after += file_bytes(db, "checkpoint");
        u.compact_bytes = u.log_bytes > after ? u.log_bytes - after : 0;
        if (out)
            *out = u;
    }
    return rc;
}
