/*
 * cursor.c - cursors (sop.h): a position in a store's tree as the
 * transaction sees it (struct tpos, btree.c), re-found by key after the
 * transaction changed the tree (its generation moved).  A cursor records
 * the key range it walked in the read set as one range per walk, not a key
 * per step: the range's bounds are copied only when the walk jumps, turns,
 * or the commit validates (cursor_flush_span).
 */
#include "cursor.h"

#include "btree.h"
#include "item.h"
#include "os.h"
#include "rwset.h"
#include "store.h"

#include <stdlib.h>
#include <string.h>

static void span_clear(struct krange *r)
{
    item_free_own(&r->lo);
    item_free_own(&r->hi);
    memset(r, 0, sizeof(*r));
}

static int span_set(struct item *dst, const void *k, size_t kl)
{
    struct item src = {.k = k, .kl = (uint32_t)kl};
    item_free_own(dst);
    return item_copy_own(dst, &src);
}

/* Copy the current key into the bound(s) that follow it. */
static int span_fix(struct sop_cursor *c)
{
    int rc = 0;
    if (c->hi_cur && !c->span.hi_inf)
        rc = span_set(&c->span.hi, c->kp, c->kl);
    if (!rc && c->lo_cur && !c->span.lo_inf)
        rc = span_set(&c->span.lo, c->kp, c->kl);
    c->hi_cur = c->lo_cur = false;
    return rc;
}

/* Record the range walked since the last jump in the store's read set. */
int cursor_flush_span(struct sop_cursor *c)
{
    int rc = span_fix(c);
    if (!rc && c->span_on)
        rc = rw_range_add(c->s, &c->span);
    span_clear(&c->span);
    c->span_on = false;
    return rc;
}

void cursor_free(struct sop_cursor *c)
{
    bt_tp_release(&c->tp);
    span_clear(&c->span);
    node_unref(c->kleaf);
    os_free(c->key);
    os_free(c);
}

SOP_API int sop_cursor_open(sop_store *s, sop_cursor **out)
{
    int rc = store_usable(s, false);
    if (rc || !out)
        return rc ? rc : SOP_EINVAL;
    struct sop_cursor *c = os_calloc(1, sizeof(*c));
    if (!c)
        return SOP_ENOMEM;
    c->s = s;
    c->tp.depth = -1;
    c->next = s->cursors;
    s->cursors = c;
    *out = c;
    return 0;
}

SOP_API void sop_cursor_close(sop_cursor *c)
{
    if (!c)
        return;
    sop_store *s = c->s;
    cursor_flush_span(c);
    for (struct sop_cursor **pp = &s->cursors; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    cursor_free(c);
}

static int cur_item(struct sop_cursor *c, struct item **it)
{
    if (c->tp.depth < 0)
        return SOP_ENOTFOUND;
    struct node *leaf = c->tp.nd[c->tp.depth];
    *it = &leaf->it[c->tp.ix[c->tp.depth]];
    return 0;
}

/* Remember the current key (to re-find it after changes): a pointer into
 * the leaf when the leaf is a node nothing changes (one read from the
 * cache or the log; the transaction's changes go to clones of it), else a
 * copy. */
static int cur_save(struct sop_cursor *c)
{
    struct item *it = NULL;
    if (cur_item(c, &it) != 0)
        return 0;
    struct node *leaf = c->tp.nd[c->tp.depth];
    struct dnode *d;
    if (leaf == c->kleaf ||
        !((d = bt_dirty(c->s, &c->tp.id[c->tp.depth])) != NULL && d->n == leaf)) {
        if (leaf != c->kleaf) {
            node_ref(leaf);
            node_unref(c->kleaf);
            c->kleaf = leaf;
        }
        c->kp = it->kl ? it->k : (const uint8_t *)"";
        c->kl = it->kl;
        c->gen = c->s->t->b.gen;
        return 0;
    }
    if (it->kl + 1 > c->keycap) {
        uint8_t *k = os_realloc(c->key, it->kl + 1);
        if (!k)
            return SOP_ENOMEM;
        c->key = k;
        c->keycap = it->kl + 1;
    }
    if (it->kl)
        memcpy(c->key, it->k, it->kl);
    c->kp = c->key;
    c->kl = it->kl;
    c->gen = c->s->t->b.gen;
    return 0;
}

/* The transaction changed the tree since the cursor moved: find its item
 * again (the same key, the same rank among equal keys). */
static int cur_refind(struct sop_cursor *c)
{
    sop_store *s = c->s;
    if (c->tp.depth < 0 || c->gen == s->t->b.gen)
        return 0;
    bt_tp_release(&c->tp);
    int rc = bt_tp_seek(s, c->kp, c->kl, &c->tp);
    if (rc)
        return rc;
    for (uint32_t i = 0; i < c->dup; i++) {
        struct item *it = NULL;
        if ((rc = bt_tp_step(s, &c->tp, 1)) != 0)
            return rc;
        cur_item(c, &it);
        if (key_cmp(it->k, it->kl, c->kp, c->kl) != 0)
            break;
    }
    c->gen = s->t->b.gen;
    return 0;
}

/* A jump (first/last/seek) landed on rc: start a new walked range. */
static int cur_jump(struct sop_cursor *c, int rc, bool lo_inf, const void *k, size_t kl,
                    bool towards_hi)
{
    int r2 = cursor_flush_span(c);
    if (r2)
        return r2;
    struct item *it = NULL;
    c->span_on = true;
    c->dup = 0;
    if (rc == SOP_ENOTFOUND) {
        /* the whole side walked is empty: that emptiness was read */
        c->span.lo_inf = lo_inf;
        c->span.hi_inf = true;
        if (!lo_inf && (r2 = span_set(&c->span.lo, k, kl)) != 0)
            return r2;
        if (!towards_hi) {
            c->span.lo_inf = true;
            c->span.hi_inf = true;
        }
        c->tp.depth = -1;
        return rc;
    }
    if (rc)
        return rc;
    cur_item(c, &it);
    if (towards_hi) {
        c->span.lo_inf = lo_inf;
        if (!lo_inf && (r2 = span_set(&c->span.lo, k, kl)) != 0)
            return r2;
        if ((r2 = span_set(&c->span.hi, it->k, it->kl)) != 0)
            return r2;
    } else {
        c->span.hi_inf = true;
        if ((r2 = span_set(&c->span.lo, it->k, it->kl)) != 0)
            return r2;
    }
    return cur_save(c);
}

SOP_API int sop_cursor_first(sop_cursor *c)
{
    if (!c)
        return SOP_EINVAL;
    int rc = store_usable(c->s, false);
    if (rc)
        return rc;
    txn_next_read(c->s->t);
    bt_tp_release(&c->tp);
    rc = bt_tp_first(c->s, &c->tp, false);
    return cur_jump(c, rc, true, NULL, 0, true);
}

SOP_API int sop_cursor_last(sop_cursor *c)
{
    if (!c)
        return SOP_EINVAL;
    int rc = store_usable(c->s, false);
    if (rc)
        return rc;
    txn_next_read(c->s->t);
    bt_tp_release(&c->tp);
    rc = bt_tp_first(c->s, &c->tp, true);
    if (rc == 0) {
        /* the last key's rank among its duplicates is unknown; count them */
        struct item *it = NULL;
        cur_item(c, &it);
    }
    rc = cur_jump(c, rc, true, NULL, 0, false);
    c->dup = UINT32_MAX;
    return rc;
}

SOP_API int sop_cursor_seek(sop_cursor *c, const void *k, size_t kl)
{
    if (!c)
        return SOP_EINVAL;
    int rc = store_usable(c->s, false);
    if (rc || (rc = item_check_key(c->s, k, kl)) != 0)
        return rc;
    txn_next_read(c->s->t);
    bt_tp_release(&c->tp);
    rc = bt_tp_seek(c->s, k, kl, &c->tp);
    return cur_jump(c, rc, false, k, kl, true);
}

static int cur_step(struct sop_cursor *c, int dir)
{
    struct item *it = NULL;
    int rc = store_usable(c->s, false);
    if (rc)
        return rc;
    txn_next_read(c->s->t);
    if (c->tp.depth < 0)
        return SOP_ENOTFOUND;
    if ((rc = cur_refind(c)) != 0) {
        if (rc == SOP_ENOTFOUND)
            bt_tp_release(&c->tp);
        return rc;
    }
    /* turning back: the far bound reached so far must stay */
    if ((dir > 0 && c->lo_cur) || (dir < 0 && c->hi_cur)) {
        if ((rc = span_fix(c)) != 0)
            return rc;
    }
    rc = bt_tp_step(c->s, &c->tp, dir);
    if (rc == SOP_ENOTFOUND) {
        bt_tp_release(&c->tp);
        if ((rc = span_fix(c)) != 0)
            return rc;
        if (dir > 0)
            c->span.hi_inf = true;
        else
            c->span.lo_inf = true;
        return SOP_ENOTFOUND;
    }
    if (rc)
        return rc;
    cur_item(c, &it);
    bool same = !c->s->info.unique && key_cmp(it->k, it->kl, c->kp, c->kl) == 0;
    if (dir > 0)
        c->dup = same ? c->dup + 1 : 0;
    else
        c->dup = same && c->dup != UINT32_MAX && c->dup > 0 ? c->dup - 1 : UINT32_MAX;
    if (dir > 0 && !c->span.hi_inf)
        c->hi_cur = true;
    else if (dir < 0 && !c->span.lo_inf)
        c->lo_cur = true;
    return cur_save(c);
}

SOP_API int sop_cursor_next(sop_cursor *c)
{
    return c ? cur_step(c, 1) : SOP_EINVAL;
}

SOP_API int sop_cursor_prev(sop_cursor *c)
{
    return c ? cur_step(c, -1) : SOP_EINVAL;
}

SOP_API int sop_cursor_key(sop_cursor *c, const void **k, size_t *kl)
{
    struct item *it = NULL;
    if (!c || !k || !kl)
        return SOP_EINVAL;
    int rc = store_usable(c->s, false);
    if (rc || (rc = cur_refind(c)) != 0 || (rc = cur_item(c, &it)) != 0)
        return rc;
    if ((rc = txn_pin(c->s->t, c->tp.nd[c->tp.depth])) != 0)
        return rc;
    *k = it->kl ? it->k : (const void *)"";
    *kl = it->kl;
    return 0;
}

SOP_API int sop_cursor_value(sop_cursor *c, const void **v, size_t *vl)
{
    struct item *it = NULL;
    if (!c || !v || !vl)
        return SOP_EINVAL;
    int rc = store_usable(c->s, false);
    if (rc || (rc = cur_refind(c)) != 0 || (rc = cur_item(c, &it)) != 0)
        return rc;
    return item_hand_out(c->s, c->tp.nd[c->tp.depth], it, v, vl);
}

SOP_API int sop_cursor_value_size(sop_cursor *c, uint64_t *size)
{
    struct item *it = NULL;
    if (!c || !size)
        return SOP_EINVAL;
    int rc = store_usable(c->s, false);
    if (rc || (rc = cur_refind(c)) != 0 || (rc = cur_item(c, &it)) != 0)
        return rc;
    *size = it->ext ? it->vsize : it->vl;
    return 0;
}
