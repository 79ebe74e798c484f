/*
 * btree.c - the B+tree of a store inside a transaction (see btree.h); the
 * chunks of external values are value.c's.
 *
 * Invariants kept here:
 *  - every node but the root holds at most slot items, and at most
 *    BT_NODE_BYTES bytes unless it holds a single item (three children);
 *    and at least a quarter of slot items or a quarter of BT_NODE_BYTES,
 *    and 1 item (2 children) whatever their size; an internal node's item 0
 *    key is unused, item i >= 1 keys separate children; keys of child i lie
 *    in [key[i], key[i+1]];
 *  - a changed node is a clone owned by the transaction (dirty set); the
 *    clean version stays shared and immutable;
 *  - a node that changed only by item edits records the keys it changed, so
 *    commit can write a delta; a split/merge/borrow marks it `full`.
 */
#define _GNU_SOURCE
#include "btree.h"

#include "corrupt.h"

#include "os.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ dirty set */

static size_t lid_hash(const struct lid *l)
{
    uint64_t h;
    memcpy(&h, l->b, 8);
    return (size_t)(h * 0x9E3779B97F4A7C15ull >> 7);
}

struct dnode *bt_dirty(sop_store *s, const struct lid *id)
{
    if (!s->capdn)
        return NULL;
    for (size_t i = lid_hash(id) & (s->capdn - 1);; i = (i + 1) & (s->capdn - 1)) {
        struct dnode *d = s->dn[i];
        if (!d)
            return NULL;
        if (!memcmp(d->id.b, id->b, 16))
            return d;
    }
}

static int dirty_put(sop_store *s, struct dnode *d)
{
    if ((s->ndn + 1) * 2 > s->capdn) {
        size_t cap = s->capdn ? s->capdn * 2 : 64;
        struct dnode **v = os_calloc(cap, sizeof(*v));
        if (!v)
            return SOP_ENOMEM;
        for (size_t i = 0; i < s->capdn; i++) {
            struct dnode *e = s->dn[i];
            if (!e)
                continue;
            size_t j = lid_hash(&e->id) & (cap - 1);
            while (v[j])
                j = (j + 1) & (cap - 1);
            v[j] = e;
        }
        os_free(s->dn);
        s->dn = v;
        s->capdn = cap;
    }
    size_t j = lid_hash(&d->id) & (s->capdn - 1);
    while (s->dn[j])
        j = (j + 1) & (s->capdn - 1);
    s->dn[j] = d;
    s->ndn++;
    return 0;
}

static void dnode_free(struct dnode *d)
{
    for (size_t i = 0; i < d->nchanged; i++)
        item_free_own(&d->changed[i]);
    os_free(d->changed);
    node_unref(d->n);
    os_free(d);
}

void bt_reset(sop_store *s)
{
    for (size_t i = 0; i < s->capdn; i++)
        if (s->dn[i])
            dnode_free(s->dn[i]);
    os_free(s->dn);
    s->dn = NULL;
    s->ndn = s->capdn = 0;
    s->tb->gen++;
}

static int changed(struct dnode *d, const void *k, size_t kl)
{
    if (d->full || d->fresh)
        return 0;
    /* the last few are the likeliest repeats */
    for (size_t i = d->nchanged; i > 0 && i + 4 > d->nchanged; i--)
        if (!key_cmp(d->changed[i - 1].k, d->changed[i - 1].kl, k, kl))
            return 0;
    return set_add_key(&d->changed, &d->nchanged, &d->capchanged, k, kl);
}

/* ------------------------------------------------------------ node access */

/* Read the record at loc into a new raw block; *type is REC_NODE or REC_DELTA. */
static int load_raw(sop_db *db, const struct lid *id, uint64_t idx, const struct loc *loc,
                    int *type, struct raw **out)
{
    struct raw *raw = raw_new(loc->len);
    int rc;
    if (!raw)
        return SOP_ENOMEM;
    struct rkey key = {.id = *id, .idx = idx};
    *type = 0;
    if ((rc = blob_read(&db->log, loc, type, &key, raw->data)) != 0) {
        raw_unref(raw);
        db_seterr(db, "read node: %s (segment %08u offset %llu)%s%s", sop_strerror(rc), loc->seg,
                  (unsigned long long)loc->off, FOUND_BY(rc));
        return rc;
    }
    *out = raw;
    return 0;
}

/* A node's newest record is an image or a delta on top of an earlier
 * record.  The chain is followed back to an image (or to a version still in
 * the cache), then the deltas are applied oldest first onto one mutable
 * copy: only the newest version enters the cache (the registry never points
 * at the others, so caching them would only crowd out live nodes). */
int bt_load(sop_db *db, const struct lid *id, const struct loc *loc, struct node **out)
{
    return bt_load_copy(db, id, 0, loc, out);
}

static int load(sop_db *db, const struct lid *id, uint64_t idx, const struct loc *loc, bool keep,
                struct node **out);

int bt_load_copy(sop_db *db, const struct lid *id, uint64_t idx, const struct loc *loc,
                 struct node **out)
{
    return load(db, id, idx, loc, true, out);
}

int bt_load_uncached(sop_db *db, const struct lid *id, uint64_t idx, const struct loc *loc,
                     struct node **out)
{
    return load(db, id, idx, loc, false, out);
}

/* keep: the node enters the cache (a reader's load); the cleaner's loads
 * do not, or every node it moves would push a hot one out. */
static int load(sop_db *db, const struct lid *id, uint64_t idx, const struct loc *loc, bool keep,
                struct node **out)
{
    struct node *n = cache_get(&db->cache, loc), *base = NULL;
    struct raw **deltas = NULL;
    size_t nd = 0, capd = 0;
    struct loc cur = *loc;
    uint16_t chain = 0, ignored;
    uint32_t delta_bytes = 0;
    int rc = 0, type;
    if (n) {
        *out = n;
        return 0;
    }
    for (;;) {
        struct raw *raw;
        if ((rc = load_raw(db, id, idx, &cur, &type, &raw)) != 0)
            goto out;
        if (type == REC_NODE) {
            if ((rc = node_decode(raw, &n)) != 0) {
                db_seterr(db, "decode node: %s (segment %08u offset %llu)%s%s", sop_strerror(rc),
                          cur.seg, (unsigned long long)cur.off, FOUND_BY(rc));
                goto out;
            }
            n->chain = 0;
            n->chain_bytes = 0;
            break;
        }
        if (nd == capd) {
            size_t c = capd ? capd * 2 : 16;
            struct raw **v = nd < DELTA_CHAIN_LIMIT ? os_realloc(deltas, c * sizeof(*v)) : NULL;
            if (!v) {
                raw_unref(raw);
                rc = nd < DELTA_CHAIN_LIMIT ? SOP_ENOMEM : SOP_ECORRUPT;
                goto out;
            }
            deltas = v;
            capd = c;
        }
        deltas[nd++] = raw;
        delta_bytes += cur.len + REC_HDR;
        if ((rc = node_delta_prev(raw, &cur, nd == 1 ? &chain : &ignored)) != 0)
            goto out;
        if ((base = cache_get(&db->cache, &cur)) != NULL)
            break;
    }
    if (base) {
        n = node_clone(base);
        if (!n) {
            rc = SOP_ENOMEM;
            goto out;
        }
        n->chain_bytes = base->chain_bytes;
    }
    while (nd > 0) /* node_apply_delta takes the raw block, even when it fails */
        if ((rc = node_apply_delta(n, deltas[--nd])) != 0)
            goto bad_delta;
    if ((rc = node_seal(n)) != 0)
        goto bad_delta;
    if (delta_bytes) {
        n->chain = chain;
        n->chain_bytes += delta_bytes;
    }
    n->at = *loc;
    if (keep)
        cache_put(&db->cache, loc, n);
    *out = n;
    n = NULL;
    goto out;
bad_delta:
    db_seterr(db, "apply node delta: %s (segment %08u offset %llu)%s%s", sop_strerror(rc), loc->seg,
              (unsigned long long)loc->off, FOUND_BY(rc));
out:
    for (size_t i = 0; i < nd; i++)
        raw_unref(deltas[i]);
    os_free(deltas);
    node_unref(base);
    node_unref(n);
    return rc;
}

int bt_node(sop_store *s, const struct lid *id, struct node **out)
{
    struct dnode *d = bt_dirty(s, id);
    struct loc loc;
    sop_db *db = s->tb->db;
    if (d) {
        node_ref(d->n);
        *out = d->n;
        return 0;
    }
    struct rkey key = {.id = *id, .idx = 0};
    pthread_rwlock_rdlock(&db->lock);
    int rc = reg_get(&db->reg, &key, s->snap, &loc);
    pthread_rwlock_unlock(&db->lock);
    if (rc) {
        tb_seterr(s->tb, "read node: the registry has no node the tree refers to (store %s)",
                  s->info.name);
        return SOP_ECORRUPT;
    }
    rc = bt_load(db, id, &loc, out);
    if (rc == SOP_ECORRUPT) {
        /* the first copy does not check: a critical node has a second one
         * (txn.c, write_mirror) */
        struct loc ml;
        char why[512];
        snprintf(why, sizeof(why), "%s", db->errmsg);
        key.idx = 1;
        pthread_rwlock_rdlock(&db->lock);
        int m = reg_get(&db->reg, &key, s->snap, &ml);
        pthread_rwlock_unlock(&db->lock);
        if (m == 0 && bt_load_copy(db, id, 1, &ml, out) == 0) {
            /* the next write of it must be whole: no delta may chain onto
             * the damaged record */
            memset(&(*out)->at, 0, sizeof((*out)->at));
            __atomic_fetch_add(&db->n_second_copies, 1, __ATOMIC_RELAXED);
            db_seterr(db, "%s; read its second copy instead", why);
            return 0;
        }
        snprintf(db->errmsg, sizeof(db->errmsg), "%s", why);
    }
    if (rc)
        tb_seterr(s->tb, "%s", db->errmsg);
    return rc;
}

static int bt_mut(sop_store *s, const struct lid *id, struct dnode **out)
{
    struct dnode *d = bt_dirty(s, id);
    struct node *n;
    int rc;
    if (d) {
        *out = d;
        return 0;
    }
    if ((rc = bt_node(s, id, &n)) != 0)
        return rc;
    d = os_calloc(1, sizeof(*d));
    struct node *c = d ? node_clone(n) : NULL;
    node_unref(n);
    if (d)
        d->id = *id;
    if (!c || (rc = dirty_put(s, d)) != 0) {
        if (c)
            node_unref(c);
        os_free(d);
        return SOP_ENOMEM;
    }
    d->n = c;
    *out = d;
    return 0;
}

static int bt_new(sop_store *s, bool leaf, struct dnode **out)
{
    struct dnode *d = os_calloc(1, sizeof(*d));
    if (!d)
        return SOP_ENOMEM;
    d->n = node_new(leaf);
    if (!d->n) {
        os_free(d);
        return SOP_ENOMEM;
    }
    codec_uuid4(d->id.b);
    d->fresh = d->full = true;
    int rc = dirty_put(s, d);
    if (rc) {
        dnode_free(d);
        return rc;
    }
    *out = d;
    return 0;
}

/* ------------------------------------------------------------ positions */

static void tp_release(struct tpos *tp)
{
    assert(tp->depth < MAX_DEPTH);
    for (int i = 0; i <= tp->depth; i++)
        node_unref(tp->nd[i]);
    tp->depth = -1;
}

/* Descend to key k: lower (first >= k) or upper (after equal keys).  The
 * leaf index may equal its size: the position is then in a later leaf. */
static int tp_descend(sop_store *s, const void *k, size_t kl, bool upper, struct tpos *tp)
{
    tp->depth = -1;
    struct lid id = s->info.root;
    if (lid_is_zero(&id))
        return SOP_ENOTFOUND;
    for (int d = 0;; d++) {
        struct node *n;
        int rc;
        if (d >= MAX_DEPTH) {
            tp_release(tp);
            return SOP_CORRUPT_NODE(&id, "tree: deeper than any tree can grow (a cycle?)");
        }
        if ((rc = bt_node(s, &id, &n)) != 0) {
            tp_release(tp);
            return rc;
        }
        tp->nd[d] = n;
        tp->id[d] = id;
        tp->depth = d;
        if (n->n == 0 && !n->leaf) {
            tp_release(tp);
            return SOP_CORRUPT_NODE(&id, "tree: an internal node without children");
        }
        if (n->leaf) {
            tp->ix[d] = upper ? node_upper(n, k, kl) : node_lower(n, k, kl);
            return 0;
        }
        uint32_t ci = upper ? node_child_upper(n, k, kl) : node_child_lower(n, k, kl);
        tp->ix[d] = ci;
        id = n->it[ci].vid;
    }
}

/* Leftmost (first) or rightmost (last) path from level `from`'s chosen child down. */
static int tp_edge(sop_store *s, struct tpos *tp, int from, bool last)
{
    for (int d = from;;) {
        struct node *n = tp->nd[d];
        if (n->leaf) {
            tp->ix[d] = last ? (n->n ? n->n - 1 : 0) : 0;
            return 0;
        }
        struct lid id = n->it[tp->ix[d]].vid;
        struct node *c;
        int rc;
        if (d + 1 >= MAX_DEPTH)
            return SOP_CORRUPT_NODE(&id, "tree: deeper than any tree can grow (a cycle?)");
        if ((rc = bt_node(s, &id, &c)) != 0)
            return rc;
        d++;
        tp->nd[d] = c;
        tp->id[d] = id;
        tp->depth = d;
        if (!c->leaf && c->n == 0)
            return SOP_CORRUPT_NODE(&id, "tree: an internal node without children");
        tp->ix[d] = last ? c->n - 1 : 0;
    }
}

static int tp_first(sop_store *s, struct tpos *tp, bool last)
{
    tp->depth = -1;
    struct lid id = s->info.root;
    struct node *n;
    int rc;
    if (lid_is_zero(&id))
        return SOP_ENOTFOUND;
    if ((rc = bt_node(s, &id, &n)) != 0)
        return rc;
    tp->nd[0] = n;
    tp->id[0] = id;
    tp->depth = 0;
    tp->ix[0] = last && n->n ? n->n - 1 : 0;
    if ((rc = tp_edge(s, tp, 0, last)) != 0) {
        tp_release(tp);
        return rc;
    }
    if (tp->nd[tp->depth]->n == 0) {
        tp_release(tp);
        return SOP_ENOTFOUND;
    }
    return 0;
}

/* Move to the next leaf's first item (dir > 0) or the previous leaf's last. */
static int tp_step_leaf(sop_store *s, struct tpos *tp, int dir)
{
    int d = tp->depth - 1;
    while (d >= 0) {
        struct node *n = tp->nd[d];
        if (dir > 0 ? tp->ix[d] + 1 < n->n : tp->ix[d] > 0)
            break;
        d--;
    }
    if (d < 0)
        return SOP_ENOTFOUND;
    for (int i = d + 1; i <= tp->depth; i++)
        node_unref(tp->nd[i]);
    tp->depth = d;
    tp->ix[d] = dir > 0 ? tp->ix[d] + 1 : tp->ix[d] - 1;
    int rc = tp_edge(s, tp, d, dir < 0);
    if (rc)
        return rc;
    if (tp->nd[tp->depth]->n == 0)
        return SOP_CORRUPT_NODE(&tp->id[tp->depth], "tree: an empty leaf that is not the root");
    return 0;
}

/* After tp_descend: make the position point at an item (or ENOTFOUND). */
static int tp_settle(sop_store *s, struct tpos *tp)
{
    struct node *leaf = tp->nd[tp->depth];
    if (tp->ix[tp->depth] < leaf->n)
        return 0;
    return tp_step_leaf(s, tp, 1);
}

int bt_find(sop_store *s, const void *k, size_t kl, struct node **leaf, uint32_t *pos)
{
    struct tpos tp;
    int rc = tp_descend(s, k, kl, false, &tp);
    if (rc)
        return rc;
    if ((rc = tp_settle(s, &tp)) != 0) {
        tp_release(&tp);
        return rc;
    }
    struct node *n = tp.nd[tp.depth];
    struct item *it = &n->it[tp.ix[tp.depth]];
    if (key_cmp(it->k, it->kl, k, kl) != 0) {
        tp_release(&tp);
        return SOP_ENOTFOUND;
    }
    node_ref(n);
    *leaf = n;
    *pos = tp.ix[tp.depth];
    tp_release(&tp);
    return 0;
}

/* ------------------------------------------------------------ insert */

/*
 * How full a node may be.  A node holds at most slot_length items and, once
 * it holds more than one item (three children), at most BT_NODE_BYTES bytes
 * of full image: a node not in the cache costs a read, a crc and a decode of
 * its whole image, so the bytes bound what a cache miss costs whatever the
 * item size (1000 items of 100 bytes made a 130 KB leaf, and a random read
 * past the cache cost 80 us).  Nodes written before the bound may be bigger;
 * they split at their next insert.
 */
static size_t bt_node_bytes = BT_NODE_BYTES;

static size_t bytes_max(void)
{
    return __atomic_load_n(&bt_node_bytes, __ATOMIC_RELAXED);
}

void bt_set_node_bytes(size_t bytes)
{
    __atomic_store_n(&bt_node_bytes, bytes ? bytes : BT_NODE_BYTES, __ATOMIC_RELAXED);
}

/* The fewest items a node but the root must hold: 1 (a leaf) or 2 (an
 * internal node) always; and a quarter of slot_length unless it holds a
 * quarter of BT_NODE_BYTES (see rebalance). */
static uint32_t min_items(const sop_store *s, const struct node *n)
{
    uint32_t m = s->info.slot_length / 4;
    uint32_t floor = n->leaf ? 1 : 2;
    return m > floor ? m : floor;
}

static bool underfull(const sop_store *s, const struct node *n)
{
    if (n->n < (n->leaf ? 1u : 2u))
        return true;
    return n->n < min_items(s, n) && n->bytes < bytes_max() / 4;
}

static bool overfull(const sop_store *s, const struct node *n)
{
    return n->n > s->info.slot_length || (n->n > (n->leaf ? 1u : 3u) && n->bytes > bytes_max());
}

/* Would a and b fit in one node? */
static bool fit_together(const sop_store *s, const struct node *a, const struct node *b)
{
    return a->n + b->n <= s->info.slot_length && a->bytes + b->bytes <= bytes_max();
}

/*
 * Where to cut node n, which overflows: items [at, n) move to a new right
 * sibling.  The left part takes half of what there is, or as much as half a
 * node holds when there is more than two nodes' worth (a node written before
 * the byte bound): what is left on the right is split again.  An overflow by
 * an item that went last (ascending keys: logs, sequence numbers, bulk loads
 * in order) leaves the right node with only the minimum and the left one
 * nearly full: even splits would leave every leaf of an ascending load half
 * empty and rewrite each twice as often.
 */
static uint32_t split_at(const sop_store *s, const struct node *n, bool last)
{
    uint32_t floor = n->leaf ? 1 : 2, cnt = n->n;
    size_t bytes = n->bytes;
    if (last) {
        /* the fewest items from the end that make a node of the minimum */
        uint32_t k = 0;
        size_t b = 0;
        while (k < cnt - floor && (k < floor || (k < min_items(s, n) && b < bytes_max() / 4)))
            b += item_size(n, &n->it[cnt - 1 - k++]);
        if (cnt - k <= s->info.slot_length && bytes - b <= bytes_max())
            return cnt - k;
    }
    if (cnt > s->info.slot_length) /* too many items: half of them, or half a node */
        return cnt <= 2 * s->info.slot_length ? cnt / 2 : s->info.slot_length / 2;
    /* too many bytes: half of them, or half a node's */
    size_t bmax = bytes <= 2 * bytes_max() ? bytes / 2 : bytes_max() / 2;
    uint32_t at = 0;
    size_t b = 6;
    while (at < cnt - floor) {
        size_t sz = item_size(n, &n->it[at]);
        if (at >= floor && b + sz > bmax)
            break;
        b += sz;
        at++;
    }
    return at;
}

/*
 * Split d (and its ancestors, as they overflow) after an insert at position
 * pos of d.  A node may need more than one cut (one written before the byte
 * bound): the left part of each cut is cut again while it overflows, then
 * the right part is; each new node goes into the parent right after the
 * node it was cut from.
 */
static int split_up(sop_store *s, struct tpos *tp, int depth, struct dnode *d, uint32_t pos)
{
    int rc;
    assert(depth >= 0 && depth <= tp->depth);
    bool last = pos == d->n->n - 1;
    while (overfull(s, d->n)) {
        struct dnode *p;
        uint32_t cpos;
        if (depth == 0) { /* a new root above d */
            struct item left = {.k = (const uint8_t *)"", .kl = 0, .vid = d->id};
            if ((rc = bt_new(s, false, &p)) != 0 || (rc = node_insert(p->n, 0, &left)) != 0)
                return rc;
            s->info.root = p->id;
            cpos = 0;
        } else {
            if ((rc = bt_mut(s, &tp->id[depth - 1], &p)) != 0)
                return rc;
            cpos = tp->ix[depth - 1];
        }
        struct dnode *cur = d;
        while (overfull(s, cur->n)) {
            struct dnode *nd;
            uint32_t at = split_at(s, cur->n, last && cur == d);
            if ((rc = bt_new(s, cur->n->leaf, &nd)) != 0 ||
                (rc = node_move_tail(cur->n, at, nd->n)) != 0)
                return rc;
            assert(!underfull(s, cur->n) && !underfull(s, nd->n));
            cur->full = true;
            struct item sep = {.k = nd->n->it[0].k, .kl = nd->n->it[0].kl, .vid = nd->id};
            if ((rc = node_insert(p->n, cpos + 1, &sep)) != 0)
                return rc;
            p->full = true;
            if (!overfull(s, cur->n)) { /* the right part may hold more than a node yet */
                cur = nd;
                cpos++;
            }
        }
        if (depth == 0)
            return 0;
        last = cpos == p->n->n - 1;
        d = p;
        depth--;
    }
    return 0;
}

int bt_insert(sop_store *s, const struct item *it)
{
    struct tpos tp;
    struct dnode *d;
    int rc;
    s->tb->gen++;
    if (lid_is_zero(&s->info.root)) {
        if ((rc = bt_new(s, true, &d)) != 0 || (rc = node_insert(d->n, 0, it)) != 0)
            return rc;
        s->info.root = d->id;
        s->info.count++;
        return 0;
    }
    if ((rc = tp_descend(s, it->k, it->kl, true, &tp)) != 0)
        return rc;
    int depth = tp.depth;
    uint32_t pos = tp.ix[depth];
    for (int i = 0; i <= tp.depth; i++) { /* keep ids and indices, drop refs */
        node_unref(tp.nd[i]);
        tp.nd[i] = NULL;
    }
    if ((rc = bt_mut(s, &tp.id[depth], &d)) != 0)
        return rc;
    if ((rc = node_insert(d->n, pos, it)) != 0 || (rc = changed(d, it->k, it->kl)) != 0)
        return rc;
    s->info.count++;
    return split_up(s, &tp, depth, d, pos);
}

/* ------------------------------------------------------------ remove */

static int replace_key(struct node *n, uint32_t pos, const uint8_t *k, uint32_t kl)
{
    struct item it = n->it[pos];
    uint8_t *copy = os_malloc(kl + 1);
    if (!copy)
        return SOP_ENOMEM;
    if (kl)
        memcpy(copy, k, kl);
    it.k = copy;
    it.kl = kl;
    it.own = 0;
    int rc = node_replace(n, pos, &it);
    os_free(copy);
    return rc;
}

static void free_node(struct dnode *d)
{
    d->freed = true;
    d->full = true;
}

/* Move one item from the left sibling L (child ci-1 of p) to the front of n
 * (child ci), rotating the separator through the parent. */
static int borrow_left(struct node *p, uint32_t ci, struct node *n, struct node *L)
{
    int rc;
    if (n->leaf) {
        if ((rc = node_take(n, 0, L, L->n - 1)) != 0)
            return rc;
        return replace_key(p, ci, n->it[0].k, n->it[0].kl);
    }
    if ((rc = replace_key(n, 0, p->it[ci].k, p->it[ci].kl)) != 0 ||
        (rc = node_take(n, 0, L, L->n - 1)) != 0)
        return rc;
    return replace_key(p, ci, n->it[0].k, n->it[0].kl);
}

/* Move one item from the right sibling R (child ci+1 of p) to the end of n. */
static int borrow_right(struct node *p, uint32_t ci, struct node *n, struct node *R)
{
    int rc;
    if (n->leaf) {
        if ((rc = node_take(n, n->n, R, 0)) != 0)
            return rc;
        return replace_key(p, ci + 1, R->it[0].k, R->it[0].kl);
    }
    if ((rc = replace_key(R, 0, p->it[ci + 1].k, p->it[ci + 1].kl)) != 0 ||
        (rc = node_take(n, n->n, R, 0)) != 0)
        return rc;
    return replace_key(p, ci + 1, R->it[0].k, R->it[0].kl);
}

/* After a removal left node d (at `depth` on path tp) below the minimum:
 * merge it with a sibling when both fit in one node, else even them out.
 * The minimum is a quarter of slot_length, and an uneven pair is split
 * half and half, so a node that was just fixed takes many removals to
 * need fixing again: under copy-on-write every fix rewrites whole nodes. */
static int rebalance(sop_store *s, struct tpos *tp, int depth, struct dnode *d)
{
    int rc;
    for (;;) {
        struct node *n = d->n;
        if (depth == 0) {
            if (!n->leaf && n->n == 1) {
                s->info.root = n->it[0].vid;
                free_node(d);
            } else if (n->leaf && n->n == 0) {
                memset(&s->info.root, 0, sizeof(s->info.root));
                free_node(d);
            }
            return 0;
        }
        if (!underfull(s, n))
            return 0;
        struct dnode *p, *sib;
        if ((rc = bt_mut(s, &tp->id[depth - 1], &p)) != 0)
            return rc;
        uint32_t ci = tp->ix[depth - 1];
        bool left = ci > 0;
        if (!left && ci + 1 >= p->n->n)
            return SOP_CORRUPT_NODE(&p->id, "tree: an internal node with one child below the root");
        struct lid sid = p->n->it[left ? ci - 1 : ci + 1].vid;
        struct node *peek;
        if ((rc = bt_node(s, &sid, &peek)) != 0)
            return rc;
        node_unref(peek);
        if ((rc = bt_mut(s, &sid, &sib)) != 0)
            return rc;
        if (!fit_together(s, n, sib->n)) {
            /* even them out: by items when the count is what does not
             * fit, else by bytes */
            bool by_count = n->n + sib->n->n > s->info.slot_length;
            uint32_t k = by_count ? (sib->n->n - n->n) / 2 : 0;
            for (uint32_t i = 0;; i++) {
                struct node *sb = sib->n;
                size_t next = item_size(sb, &sb->it[left ? sb->n - 1 : 0]);
                if (by_count ? i >= (k ? k : 1)
                             : i > 0 && (sb->n <= 1 ||
                                         2 * (n->bytes + next) > n->bytes + sb->bytes))
                    break;
                rc = left ? borrow_left(p->n, ci, n, sb) : borrow_right(p->n, ci, n, sb);
                if (rc)
                    return rc;
            }
            d->full = sib->full = p->full = true;
            return 0;
        }
        /* merge: the right node into the left one */
        struct dnode *L = left ? sib : d, *R = left ? d : sib;
        uint32_t rpos = left ? ci : ci + 1;
        if (!R->n->leaf && R->n->n > 0 &&
            (rc = replace_key(R->n, 0, p->n->it[rpos].k, p->n->it[rpos].kl)) != 0)
            return rc;
        if ((rc = node_move_tail(R->n, 0, L->n)) != 0)
            return rc;
        node_delete(p->n, rpos);
        L->full = p->full = true;
        free_node(R);
        d = p;
        depth--;
    }
}

int bt_remove_first(sop_store *s, const void *k, size_t kl, struct item *old)
{
    struct tpos tp;
    struct dnode *d;
    int rc = tp_descend(s, k, kl, false, &tp);
    if (rc)
        return rc;
    if ((rc = tp_settle(s, &tp)) != 0) {
        tp_release(&tp);
        return rc;
    }
    int depth = tp.depth;
    struct node *leaf = tp.nd[depth];
    uint32_t pos = tp.ix[depth];
    if (key_cmp(leaf->it[pos].k, leaf->it[pos].kl, k, kl) != 0) {
        tp_release(&tp);
        return SOP_ENOTFOUND;
    }
    for (int i = 0; i <= tp.depth; i++) {
        node_unref(tp.nd[i]);
        tp.nd[i] = NULL;
    }
    s->tb->gen++;
    if ((rc = bt_mut(s, &tp.id[depth], &d)) != 0)
        return rc;
    if (old && (rc = item_copy_own(old, &d->n->it[pos])) != 0)
        return rc;
    if ((rc = changed(d, k, kl)) != 0)
        goto fail;
    node_delete(d->n, pos);
    s->info.count--;
    if ((rc = rebalance(s, &tp, depth, d)) != 0)
        goto fail;
    return 0;
fail:
    if (old)
        item_free_own(old);
    return rc;
}

int bt_replace_first(sop_store *s, const struct item *it)
{
    struct tpos tp;
    struct dnode *d;
    int rc = tp_descend(s, it->k, it->kl, false, &tp);
    if (rc)
        return rc;
    if ((rc = tp_settle(s, &tp)) != 0) {
        tp_release(&tp);
        return rc;
    }
    int depth = tp.depth;
    uint32_t pos = tp.ix[depth];
    struct node *leaf = tp.nd[depth];
    if (key_cmp(leaf->it[pos].k, leaf->it[pos].kl, it->k, it->kl) != 0) {
        tp_release(&tp);
        return SOP_ENOTFOUND;
    }
    for (int i = 0; i <= tp.depth; i++) { /* keep ids and indices, drop refs */
        node_unref(tp.nd[i]);
        tp.nd[i] = NULL;
    }
    s->tb->gen++;
    if ((rc = bt_mut(s, &tp.id[depth], &d)) != 0 || (rc = changed(d, it->k, it->kl)) != 0 ||
        (rc = node_replace(d->n, pos, it)) != 0)
        return rc;
    /* a value of another size may take the node past its bytes, or under
     * its minimum */
    if (overfull(s, d->n))
        return split_up(s, &tp, depth, d, pos);
    if (underfull(s, d->n))
        return rebalance(s, &tp, depth, d);
    return 0;
}

int bt_group(sop_store *s, const void *k, size_t kl, struct item **out, size_t *n)
{
    struct tpos tp;
    struct item *v = NULL;
    size_t cnt = 0, cap = 0;
    *out = NULL;
    *n = 0;
    int rc = tp_descend(s, k, kl, false, &tp);
    if (rc)
        return rc == SOP_ENOTFOUND ? 0 : rc;
    rc = tp_settle(s, &tp);
    while (rc == 0) {
        struct node *leaf = tp.nd[tp.depth];
        struct item *it = &leaf->it[tp.ix[tp.depth]];
        if (key_cmp(it->k, it->kl, k, kl) != 0)
            break;
        if (cnt == cap) {
            size_t c = cap ? cap * 2 : 4;
            struct item *p = os_realloc(v, c * sizeof(*p));
            if (!p) {
                rc = SOP_ENOMEM;
                break;
            }
            v = p;
            cap = c;
        }
        if ((rc = item_copy_own(&v[cnt], it)) != 0)
            break;
        cnt++;
        if (++tp.ix[tp.depth] >= leaf->n)
            rc = tp_step_leaf(s, &tp, 1);
    }
    tp_release(&tp);
    if (rc && rc != SOP_ENOTFOUND) {
        for (size_t i = 0; i < cnt; i++)
            item_free_own(&v[i]);
        os_free(v);
        return rc;
    }
    *out = v;
    *n = cnt;
    return 0;
}

static int walk(sop_store *s, const struct lid *id, int depth,
                int (*fn)(sop_store *, const struct lid *, struct node *, void *), void *arg)
{
    struct node *n;
    int rc;
    if (depth > MAX_DEPTH)
        return SOP_CORRUPT_NODE(id, "tree: deeper than any tree can grow (a cycle?)");
    if ((rc = bt_node(s, id, &n)) != 0)
        /* a node that does not read: fn hears of it without one (a drop
         * still removes it; what it referred to is left unreachable) */
        return rc == SOP_ECORRUPT ? fn(s, id, NULL, arg) : rc;
    if (!n->leaf)
        for (uint32_t i = 0; i < n->n && rc == 0; i++)
            rc = walk(s, &n->it[i].vid, depth + 1, fn, arg);
    if (rc == 0)
        rc = fn(s, id, n, arg);
    node_unref(n);
    return rc;
}

int bt_walk(sop_store *s, int (*fn)(sop_store *, const struct lid *, struct node *, void *),
            void *arg)
{
    if (lid_is_zero(&s->info.root))
        return 0;
    return walk(s, &s->info.root, 0, fn, arg);
}

/* ------------------------------------------------------------ cursors */

int bt_tp_first(sop_store *s, struct tpos *tp, bool last)
{
    return tp_first(s, tp, last);
}

int bt_tp_seek(sop_store *s, const void *k, size_t kl, struct tpos *tp)
{
    int rc = tp_descend(s, k, kl, false, tp);
    if (rc)
        return rc;
    if ((rc = tp_settle(s, tp)) != 0)
        tp_release(tp);
    return rc;
}

int bt_tp_step(sop_store *s, struct tpos *tp, int dir)
{
    assert(tp->depth >= 0 && tp->nd[tp->depth]->leaf);
    struct node *leaf = tp->nd[tp->depth];
    if (dir > 0 && tp->ix[tp->depth] + 1 < leaf->n) {
        tp->ix[tp->depth]++;
        return 0;
    }
    if (dir < 0 && tp->ix[tp->depth] > 0) {
        tp->ix[tp->depth]--;
        return 0;
    }
    return tp_step_leaf(s, tp, dir);
}

void bt_tp_release(struct tpos *tp)
{
    tp_release(tp);
}

/* ------------------------------------------------------------ checks */

struct chk {
    uint64_t items;
    int leaf_depth;
};

static int check_node(sop_store *s, const struct lid *id, int depth, const struct item *lo,
                      const struct item *hi, struct chk *c)
{
    struct node *n;
    int rc;
    if (depth >= MAX_DEPTH)
        return SOP_CORRUPT_NODE(id, "tree: deeper than any tree can grow (a cycle?)");
    if ((rc = bt_node(s, id, &n)) != 0)
        return rc;
    bool below = false; /* a failure is a child's, already noted */
    rc = SOP_ECORRUPT;  /* until the checks of this node pass */
    if (n->n > s->info.slot_length)
        goto out;
    if (depth > 0 && underfull(s, n))
        goto out;
    for (uint32_t i = n->leaf ? 1 : 2; i < n->n; i++)
        if (key_cmp(n->it[i - 1].k, n->it[i - 1].kl, n->it[i].k, n->it[i].kl) > 0)
            goto out;
    if (n->leaf) {
        if (c->leaf_depth >= 0 && c->leaf_depth != depth)
            goto out;
        c->leaf_depth = depth;
        c->items += n->n;
        for (uint32_t i = 0; i < n->n; i++) {
            if (lo && key_cmp(n->it[i].k, n->it[i].kl, lo->k, lo->kl) < 0)
                goto out;
            if (hi && key_cmp(n->it[i].k, n->it[i].kl, hi->k, hi->kl) > 0)
                goto out;
        }
        rc = 0;
        goto out;
    }
    if (n->n < 2 && depth > 0)
        goto out;
    for (uint32_t i = 0; i < n->n; i++) {
        const struct item *clo = i ? &n->it[i] : lo;
        const struct item *chi = i + 1 < n->n ? &n->it[i + 1] : hi;
        if ((rc = check_node(s, &n->it[i].vid, depth + 1, clo, chi, c)) != 0) {
            below = true;
            goto out;
        }
    }
    rc = 0;
out:
    node_unref(n);
    if (rc == SOP_ECORRUPT && !below)
        rc = SOP_CORRUPT_NODE(id, "tree: a node breaks the tree's invariants");
    return rc;
}

int bt_check(sop_store *s)
{
    struct chk c = {.items = 0, .leaf_depth = -1};
    if (lid_is_zero(&s->info.root))
        return s->info.count == 0 ? 0 : SOP_CORRUPT("tree: empty, yet its count is not 0");
    int rc = check_node(s, &s->info.root, 0, NULL, NULL, &c);
    if (rc == 0 && c.items != s->info.count)
        rc = SOP_CORRUPT("tree: its items are not as many as its count says");
    return rc;
}

/* ------------------------------------------------------------ damage-tolerant walk */

static void visit_bad(struct bt_visit *v, sop_store *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void visit_bad(struct bt_visit *v, sop_store *s, const char *fmt, ...)
{
    char why[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    v->invalid(v->arg, s, why);
}

static int visit_node(sop_store *s, const struct lid *id, int depth, const struct item *lo,
                      const struct item *hi, struct bt_visit *v)
{
    struct node *n;
    int rc;
    if (depth >= MAX_DEPTH) {
        visit_bad(v, s, "the tree is deeper than %d levels", MAX_DEPTH);
        return 0;
    }
    if ((rc = bt_node(s, id, &n)) != 0) {
        if (rc == SOP_ENOMEM)
            return rc;
        v->damaged(v->arg, s, lo, hi, rc, s->tb->errmsg);
        return 0;
    }
    v->nodes++;
    if (v->node)
        v->node(v->arg, s, id, n);
    if (n->n > s->info.slot_length)
        visit_bad(v, s, "a node holds %u items, over the slot length %u", n->n,
                  s->info.slot_length);
    if (depth > 0 && underfull(s, n))
        visit_bad(v, s, "a node holds %u items of %zu bytes, under the minimum %u items or %zu bytes",
                  n->n, n->bytes, min_items(s, n), bytes_max() / 4);
    for (uint32_t i = n->leaf ? 1 : 2; i < n->n; i++)
        if (key_cmp(n->it[i - 1].k, n->it[i - 1].kl, n->it[i].k, n->it[i].kl) > 0)
            visit_bad(v, s, "a node's keys are out of order (at item %u)", i);
    if (n->leaf) {
        if (v->leaf_depth >= 0 && v->leaf_depth != depth)
            visit_bad(v, s, "leaves at depths %d and %d", v->leaf_depth, depth);
        v->leaf_depth = depth;
        for (uint32_t i = 0; i < n->n && rc == 0; i++) {
            if ((lo && key_cmp(n->it[i].k, n->it[i].kl, lo->k, lo->kl) < 0) ||
                (hi && key_cmp(n->it[i].k, n->it[i].kl, hi->k, hi->kl) > 0))
                visit_bad(v, s, "a leaf key lies outside its parent's separators");
            v->items++;
            rc = v->item(v->arg, s, &n->it[i]);
        }
        node_unref(n);
        return rc;
    }
    for (uint32_t i = 0; i < n->n && rc == 0; i++) {
        const struct item *clo = i ? &n->it[i] : lo;
        const struct item *chi = i + 1 < n->n ? &n->it[i + 1] : hi;
        rc = visit_node(s, &n->it[i].vid, depth + 1, clo, chi, v);
    }
    node_unref(n);
    return rc;
}

int bt_visit(sop_store *s, struct bt_visit *v)
{
    v->items = v->nodes = 0;
    v->leaf_depth = -1;
    if (lid_is_zero(&s->info.root))
        return 0;
    return visit_node(s, &s->info.root, 0, NULL, NULL, v);
}
