/*
 * item.c - items and their values in a transaction: add, upsert, update,
 * remove, move, merge and get (sop.h), and the big-value calls (size, read,
 * write, truncate at an offset).  Each change goes through the store's tree
 * (btree.c) and is noted in the write set; each read in the read set
 * (rwset.c).  A value bigger than what a leaf may hold is external: chunk
 * records of its own (value.c), the item keeping its size and value ID.
 */
#include "item.h"

#include "btree.h"
#include "os.h"
#include "rwset.h"
#include "store.h"
#include "value.h"

#include <stdlib.h>
#include <string.h>

/* Values kept inside a leaf are at most INLINE_MAX bytes, and at most
 * LEAF_INLINE_BUDGET / slot_length (never under INLINE_MIN), so that a full
 * leaf stays a few hundred KiB: a leaf is rewritten whole when its delta chain
 * is consolidated, and 1000 inline 4 KiB files made every consolidation a 4 MiB
 * write.  Bigger values get chunk records of their own.  Each item says where
 * its value is, so the limit can change without touching stored data. */
#define INLINE_MAX 4096u
#define INLINE_MIN 128u
#define LEAF_INLINE_BUDGET (512u << 10)

int item_check_key(sop_store *s, const void *k, size_t kl)
{
    if (!k && kl)
        return SOP_EINVAL;
    if (kl > SOP_MAX_KEY) {
        txn_seterr(s->t, "key: %zu bytes is over the limit of %u", kl, SOP_MAX_KEY);
        return SOP_ENAMETOOLONG;
    }
    return 0;
}

/* The largest value store s keeps inside its leaves (0: none). */
static uint32_t inline_max(const sop_store *s)
{
    if (!s->info.value_in_node)
        return 0;
    uint32_t m = LEAF_INLINE_BUDGET / (s->info.slot_length ? s->info.slot_length : 1);
    m = m < INLINE_MIN ? INLINE_MIN : m > INLINE_MAX ? INLINE_MAX : m;
    return s->info.chunk_size < m ? s->info.chunk_size : m;
}

/* An item for key k holding value v, placed in the node or in chunks. */
static int make_item(sop_store *s, const void *k, size_t kl, const void *v, size_t vl,
                     struct item *it)
{
    memset(it, 0, sizeof(*it));
    it->k = k;
    it->kl = (uint32_t)kl;
    if (vl <= inline_max(s)) {
        it->v = v;
        it->vl = (uint32_t)vl;
        return 0;
    }
    it->ext = 1;
    it->csize = s->info.chunk_size;
    codec_uuid4(it->vid.b);
    return vl ? ch_write(s, it, 0, v, vl) : 0;
}

static int get_first(sop_store *s, const void *k, size_t kl, struct item *copy)
{
    struct node *leaf;
    uint32_t pos;
    int rc = bt_find(s, k, kl, &leaf, &pos);
    if (rc)
        return rc;
    rc = item_copy_own(copy, &leaf->it[pos]);
    node_unref(leaf);
    return rc;
}

static int forget_value(sop_store *s, const struct item *old)
{
    return old->ext ? ch_forget(s, old) : 0;
}

SOP_API int sop_add(sop_store *s, const void *k, size_t kl, const void *v, size_t vl)
{
    struct item it, old;
    int rc = store_usable(s, true);
    if (rc || (rc = item_check_key(s, k, kl)) != 0 || (!v && vl))
        return rc ? rc : SOP_EINVAL;
    if ((rc = rw_note_write(s, k, kl)) != 0)
        return rc;
    if (s->info.unique) {
        rc = get_first(s, k, kl, &old);
        if (rc == 0) {
            item_free_own(&old);
            return SOP_EEXIST;
        }
        if (rc != SOP_ENOTFOUND)
            return rc;
    }
    if ((rc = make_item(s, k, kl, v, vl, &it)) != 0)
        return rc;
    s->t->b.grew = true;
    return bt_insert(s, &it);
}

/* Add or replace the first item with key k, once the write is noted. */
static int put_noted(sop_store *s, const void *k, size_t kl, const void *v, size_t vl, bool insert)
{
    struct item it, old;
    int rc = get_first(s, k, kl, &old);
    if (rc == SOP_ENOTFOUND) {
        if (!insert) {
            txn_seterr(s->t, "update: key not found in store %s", s->info.name);
            return rc;
        }
        if ((rc = make_item(s, k, kl, v, vl, &it)) != 0)
            return rc;
        s->t->b.grew = true;
        return bt_insert(s, &it);
    }
    if (rc)
        return rc;
    rc = forget_value(s, &old);
    item_free_own(&old);
    if (rc || (rc = make_item(s, k, kl, v, vl, &it)) != 0)
        return rc;
    return bt_replace_first(s, &it);
}

static int put(sop_store *s, const void *k, size_t kl, const void *v, size_t vl, bool insert)
{
    int rc = store_usable(s, true);
    if (rc || (rc = item_check_key(s, k, kl)) != 0 || (!v && vl))
        return rc ? rc : SOP_EINVAL;
    if ((rc = rw_note_write(s, k, kl)) != 0)
        return rc;
    return put_noted(s, k, kl, v, vl, insert);
}

/*
 * Merges.  A merge is a blind update: m->fn combines the value the key has
 * now (in this transaction) with m->upd, and the result replaces it.  It
 * reads nothing that commit validates, and commit (C3) lets it pass over
 * other transactions' merges and plain writes of the key, then (C4) applies
 * it again onto the newest value; another transaction's read of the key
 * does not conflict with a merge either.  Directory times (the maximum) and
 * counts (a sum) kept this way let parallel creates in one directory commit.
 */
int item_merge_apply(sop_store *s, struct merge *m)
{
    struct item cur;
    uint8_t out[INLINE_MAX];
    size_t cap = inline_max(s), ol = 0;
    int rc = get_first(s, m->key.k, m->key.kl, &cur);
    if (rc && rc != SOP_ENOTFOUND)
        return rc;
    bool absent = rc == SOP_ENOTFOUND;
    if (!absent && cur.ext) {
        item_free_own(&cur);
        txn_seterr(s->t, "merge: the value of the key is too big to merge into");
        return SOP_EINVAL;
    }
    rc = m->fn(absent ? NULL : cur.v, absent ? 0 : cur.vl, m->upd, m->ul, out,
               cap < sizeof(out) ? cap : sizeof(out), &ol, m->arg);
    if (!absent)
        item_free_own(&cur);
    if (rc == 0 && ol > cap) {
        txn_seterr(s->t, "merge: the merged value is over %zu bytes", cap);
        rc = SOP_EINVAL;
    }
    bool grew = s->t->b.grew; /* a record made by a merge is not growth for the reserve */
    if (rc == 0)
        rc = put_noted(s, m->key.k, m->key.kl, out, ol, true);
    s->t->b.grew = grew;
    if (rc == 0)
        m->created = absent;
    return rc;
}

SOP_API int sop_merge(sop_store *s, const void *k, size_t kl, const void *upd, size_t ul,
                      sop_merge_fn fn, void *arg)
{
    int rc = store_usable(s, true);
    if (rc || (rc = item_check_key(s, k, kl)) != 0)
        return rc;
    if (!fn || (!upd && ul) || !s->info.unique) {
        txn_seterr(s->t, "merge: %s", !s->info.unique ? "the store is not unique" : "no function");
        return SOP_EINVAL;
    }
    if (s->nmerges == s->capmerges) {
        size_t c = s->capmerges ? s->capmerges * 2 : 8;
        struct merge *v = os_realloc(s->merges, c * sizeof(*v));
        if (!v)
            return SOP_ENOMEM;
        s->merges = v;
        s->capmerges = c;
    }
    struct merge *m = &s->merges[s->nmerges];
    memset(m, 0, sizeof(*m));
    struct item key = {.k = k, .kl = (uint32_t)kl};
    if ((rc = item_copy_own(&m->key, &key)) != 0)
        return rc;
    if (ul && !(m->upd = os_malloc(ul))) {
        item_free_own(&m->key);
        return SOP_ENOMEM;
    }
    if (ul)
        memcpy(m->upd, upd, ul);
    m->ul = ul;
    m->fn = fn;
    m->arg = arg;
    s->nmerges++;
    if ((rc = rw_note_merge(s, k, kl)) != 0)
        return rc;
    return item_merge_apply(s, m);
}

SOP_API int sop_upsert(sop_store *s, const void *k, size_t kl, const void *v, size_t vl)
{
    return put(s, k, kl, v, vl, true);
}

SOP_API int sop_update(sop_store *s, const void *k, size_t kl, const void *v, size_t vl)
{
    return put(s, k, kl, v, vl, false);
}

SOP_API int sop_remove(sop_store *s, const void *k, size_t kl)
{
    struct item old;
    int rc = store_usable(s, true);
    if (rc || (rc = item_check_key(s, k, kl)) != 0)
        return rc;
    if ((rc = rw_note_write(s, k, kl)) != 0)
        return rc;
    if ((rc = bt_remove_first(s, k, kl, &old)) != 0)
        return rc;
    rc = forget_value(s, &old);
    item_free_own(&old);
    return rc;
}

SOP_API int sop_move(sop_store *s, const void *k, size_t kl, sop_store *d, const void *k2,
                     size_t k2l)
{
    struct item old, cur;
    int rc = store_usable(s, true);
    if (rc || (rc = store_usable(d, true)) != 0)
        return rc;
    if (s->t != d->t)
        return SOP_EINVAL;
    if ((rc = item_check_key(s, k, kl)) != 0 || (rc = item_check_key(d, k2, k2l)) != 0)
        return rc;
    if ((rc = rw_note_write(s, k, kl)) != 0 || (rc = rw_note_write(d, k2, k2l)) != 0)
        return rc;
    if (s == d && !key_cmp(k, kl, k2, k2l))
        return get_first(s, k, kl, &old) == 0 ? (item_free_own(&old), 0) : SOP_ENOTFOUND;
    if ((rc = bt_remove_first(s, k, kl, &old)) != 0)
        return rc;
    struct item moved = old;
    moved.k = k2;
    moved.kl = (uint32_t)k2l;
    moved.own = 0;
    if (d->info.unique && (rc = get_first(d, k2, k2l, &cur)) == 0) {
        rc = forget_value(d, &cur);
        item_free_own(&cur);
        if (rc == 0)
            rc = bt_replace_first(d, &moved);
    } else if (rc == 0 || rc == SOP_ENOTFOUND) {
        rc = bt_insert(d, &moved);
    }
    item_free_own(&old);
    return rc;
}

/* Hand out the value of item `it` in leaf `leaf`: inline bytes are pinned
 * in place, external ones read into a scratch buffer. */
int item_hand_out(sop_store *s, struct node *leaf, const struct item *it, const void **v,
                  size_t *vl)
{
    int rc;
    if (!it->ext) {
        if ((rc = txn_pin(s->t, leaf)) != 0)
            return rc;
        *v = it->vl ? it->v : (const void *)"";
        *vl = it->vl;
        return 0;
    }
    if (it->vsize > SOP_MAX_WHOLE_VALUE) {
        txn_seterr(s->t, "get: the value is %llu bytes; read it with sop_value_read",
                   (unsigned long long)it->vsize);
        return SOP_ETOOBIG;
    }
    uint8_t *buf = txn_scratch(s->t, (size_t)it->vsize);
    if (!buf)
        return SOP_ENOMEM;
    struct item copy = *it;
    if ((rc = ch_read(s, &copy, 0, buf, (size_t)it->vsize)) != 0)
        return rc;
    *v = buf;
    *vl = (size_t)it->vsize;
    return 0;
}

SOP_API int sop_get(sop_store *s, const void *k, size_t kl, const void **v, size_t *vl)
{
    struct node *leaf;
    uint32_t pos;
    int rc = store_usable(s, false);
    if (rc || (rc = item_check_key(s, k, kl)) != 0 || !v || !vl)
        return rc ? rc : SOP_EINVAL;
    txn_next_read(s->t);
    if ((rc = rw_note_read(s, k, kl)) != 0)
        return rc;
    if ((rc = bt_find(s, k, kl, &leaf, &pos)) != 0)
        return rc;
    rc = item_hand_out(s, leaf, &leaf->it[pos], v, vl);
    node_unref(leaf);
    return rc;
}

/* ------------------------------------------------------------ big values */

SOP_API int sop_value_size(sop_store *s, const void *k, size_t kl, uint64_t *size)
{
    struct item it;
    int rc = store_usable(s, false);
    if (rc || (rc = item_check_key(s, k, kl)) != 0 || !size)
        return rc ? rc : SOP_EINVAL;
    if ((rc = rw_note_read(s, k, kl)) != 0 || (rc = get_first(s, k, kl, &it)) != 0)
        return rc;
    *size = it.ext ? it.vsize : it.vl;
    item_free_own(&it);
    return 0;
}

SOP_API int sop_value_read(sop_store *s, const void *k, size_t kl, uint64_t off, void *buf,
                           size_t len, size_t *got)
{
    struct item it;
    int rc = store_usable(s, false);
    if (rc || (rc = item_check_key(s, k, kl)) != 0 || !got || (!buf && len))
        return rc ? rc : SOP_EINVAL;
    if ((rc = rw_note_read(s, k, kl)) != 0 || (rc = get_first(s, k, kl, &it)) != 0)
        return rc;
    uint64_t size = it.ext ? it.vsize : it.vl;
    size_t n = off >= size ? 0 : (size - off < len ? (size_t)(size - off) : len);
    if (n) {
        if (it.ext)
            rc = ch_read(s, &it, off, buf, n);
        else
            memcpy(buf, it.v + off, n); /* n > 0: the value has bytes */
    }
    item_free_own(&it);
    if (rc == 0)
        *got = n;
    return rc;
}

/* Make `it` (an own copy) external, moving its inline bytes to chunks. */
static int to_external(sop_store *s, struct item *it)
{
    struct item ext = *it;
    ext.ext = 1;
    ext.v = NULL;
    ext.vl = 0;
    ext.vsize = 0;
    ext.csize = s->info.chunk_size;
    codec_uuid4(ext.vid.b);
    int rc = it->vl ? ch_write(s, &ext, 0, it->v, it->vl) : 0;
    if (rc)
        return rc;
    it->ext = 1;
    it->v = NULL;
    it->vl = 0;
    it->vsize = ext.vsize;
    it->csize = ext.csize;
    it->vid = ext.vid;
    return 0;
}

/* Find the first item with key k for a value edit, creating an empty one. */
static int value_item(sop_store *s, const void *k, size_t kl, bool create, struct item *it)
{
    int rc;
    if ((rc = rw_note_write(s, k, kl)) != 0)
        return rc;
    rc = get_first(s, k, kl, it);
    if (rc != SOP_ENOTFOUND || !create)
        return rc;
    struct item e;
    if ((rc = make_item(s, k, kl, "", 0, &e)) != 0 || (rc = bt_insert(s, &e)) != 0)
        return rc;
    s->t->b.grew = true;
    return get_first(s, k, kl, it);
}

SOP_API int sop_value_write(sop_store *s, const void *k, size_t kl, uint64_t off, const void *buf,
                            size_t len)
{
    struct item it;
    int rc = store_usable(s, true);
    if (rc || (rc = item_check_key(s, k, kl)) != 0 || (!buf && len))
        return rc ? rc : SOP_EINVAL;
    if (off + len < off || off + len > (1ull << 62))
        return SOP_EINVAL;
    if ((rc = value_item(s, k, kl, true, &it)) != 0)
        return rc;
    s->t->b.gen++;
    if (len)
        s->t->b.grew = true;
    if (!it.ext) {
        uint64_t nsize = off + len > it.vl ? off + len : it.vl;
        if (nsize <= inline_max(s)) {
            uint8_t tmp[INLINE_MAX];
            memset(tmp, 0, sizeof(tmp));
            if (it.vl)
                memcpy(tmp, it.v, it.vl);
            if (len)
                memcpy(tmp + off, buf, len);
            struct item n = it;
            n.v = tmp;
            n.vl = (uint32_t)nsize;
            rc = bt_replace_first(s, &n);
            goto out;
        }
        if ((rc = to_external(s, &it)) != 0)
            goto out;
    }
    /* the item is replaced even when its size stayed: it may have just
     * become external */
    if ((rc = ch_write(s, &it, off, buf, len)) == 0)
        rc = bt_replace_first(s, &it);
out:
    item_free_own(&it);
    return rc;
}

SOP_API int sop_value_truncate(sop_store *s, const void *k, size_t kl, uint64_t size)
{
    struct item it;
    int rc = store_usable(s, true);
    if (rc || (rc = item_check_key(s, k, kl)) != 0)
        return rc;
    if (size > (1ull << 62))
        return SOP_EINVAL;
    if ((rc = value_item(s, k, kl, false, &it)) != 0)
        return rc;
    s->t->b.gen++;
    if (!it.ext) {
        if (size <= inline_max(s)) {
            uint8_t tmp[INLINE_MAX];
            memset(tmp, 0, sizeof(tmp));
            if (it.vl && size)
                memcpy(tmp, it.v, it.vl < size ? it.vl : size);
            struct item n = it;
            n.v = tmp;
            n.vl = (uint32_t)size;
            rc = bt_replace_first(s, &n);
            goto out;
        }
        if ((rc = to_external(s, &it)) != 0)
            goto out;
    }
    if ((rc = ch_truncate(s, &it, size)) == 0)
        rc = bt_replace_first(s, &it);
out:
    item_free_own(&it);
    return rc;
}
