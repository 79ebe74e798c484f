/*
 * node.c - B+tree nodes: memory layout, search, edits, and the image/delta
 * encodings described in node.h.  Pure data structure code: no I/O.
 */
#include "node.h"

#include "corrupt.h"
#include "os.h"
#include "sop.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define NODE_FORMAT 1

struct raw *raw_new(size_t len)
{
    struct raw *r = os_malloc(sizeof(*r) + len);
    if (!r)
        return NULL;
    atomic_init(&r->refs, 1);
    r->len = len;
    return r;
}

void raw_unref(struct raw *r)
{
    if (r && atomic_fetch_sub(&r->refs, 1) == 1)
        os_free(r);
}

struct node *node_new(bool leaf)
{
    struct node *n = os_calloc(1, sizeof(*n));
    if (!n)
        return NULL;
    atomic_init(&n->refs, 1);
    n->leaf = leaf;
    n->bytes = 6;
    return n;
}

void node_ref(struct node *n)
{
    int old = atomic_fetch_add(&n->refs, 1);
    assert(old > 0); /* a reference is taken from a live one */
    (void)old;
}

static void node_free(struct node *n)
{
    for (uint32_t i = 0; i < n->n && n->nown; i++)
        if (n->it[i].own) {
            os_free((void *)n->it[i].k);
            n->nown--;
        }
    for (uint32_t i = 0; i < n->nraws; i++)
        raw_unref(n->raws[i]);
    os_free(n->raws);
    os_free(n->it);
    os_free(n);
}

void node_unref(struct node *n)
{
    if (!n)
        return;
    int old = atomic_fetch_sub(&n->refs, 1);
    assert(old > 0);
    if (old == 1)
        node_free(n);
}

static int reserve(struct node *n, uint32_t want)
{
    if (want <= n->cap)
        return 0;
    uint32_t cap = n->cap ? n->cap : 8;
    while (cap < want)
        cap *= 2;
    struct item *it = os_realloc(n->it, cap * sizeof(*it));
    if (!it)
        return SOP_ENOMEM;
    n->it = it;
    n->cap = cap;
    return 0;
}

static int add_raw(struct node *n, struct raw *r)
{
    struct raw **v = os_realloc(n->raws, (n->nraws + 1) * sizeof(*v));
    if (!v)
        return SOP_ENOMEM;
    n->raws = v;
    n->raws[n->nraws++] = r;
    return 0;
}

uint64_t key_prefix(const void *k, size_t kl)
{
    const uint8_t *p = k;
    uint64_t v = 0;
    for (size_t i = 0; i < 8; i++)
        v = (v << 8) | (i < kl ? p[i] : 0);
    return v;
}

/* item_copy_own, with the key's prefix worked out (src may not have it). */
static int dup_item(struct item *dst, const struct item *src)
{
    int rc = item_copy_own(dst, src);
    if (rc == 0)
        dst->pfx = key_prefix(src->k, src->kl);
    return rc;
}

struct node *node_clone(const struct node *src)
{
    struct node *n = node_new(src->leaf);
    if (!n)
        return NULL;
    if (reserve(n, src->n ? src->n : 1) != 0)
        goto fail;
    n->raws = os_malloc((src->nraws ? src->nraws : 1) * sizeof(*n->raws));
    if (!n->raws)
        goto fail;
    for (uint32_t i = 0; i < src->nraws; i++) {
        n->raws[i] = src->raws[i];
        atomic_fetch_add(&src->raws[i]->refs, 1);
    }
    n->nraws = src->nraws;
    if (!src->nown && src->n) {
        memcpy(n->it, src->it, src->n * sizeof(*n->it));
    } else {
        for (uint32_t i = 0; i < src->n; i++) {
            if (src->it[i].own) {
                if (dup_item(&n->it[i], &src->it[i]) != 0) {
                    n->n = i;
                    goto fail;
                }
                n->nown++;
            } else {
                n->it[i] = src->it[i];
            }
        }
    }
    n->n = src->n;
    n->bytes = src->bytes;
    n->at = src->at;
    n->chain = src->chain;
    n->chain_bytes = src->chain_bytes;
    return n;
fail:
    node_free(n);
    return NULL;
}

size_t item_size(const struct node *n, const struct item *it)
{
    size_t s = 5 + it->kl; /* varint kl <= 5 for SOP_MAX_KEY */
    if (!n->leaf)
        return s + 16;
    s += 1;
    return it->ext ? s + 28 : s + 5 + it->vl;
}

/* Do item it's bytes lie in raw r? */
static bool in_raw(const struct raw *r, const struct item *it)
{
    const uint8_t *lo = r->data, *hi = r->data + r->len;
    if (!it->kl || it->k < lo || it->k >= hi)
        return false;
    return it->ext || !it->vl || (it->v >= lo && it->v + it->vl <= hi);
}

int node_seal(struct node *n)
{
    size_t total = 0;
    uint32_t own = 0;
    for (uint32_t i = 0; i < n->n && own < n->nown; i++)
        if (n->it[i].own) {
            own++;
            total += n->it[i].kl + (n->it[i].ext ? 0 : n->it[i].vl);
        }
    /* many small raws (after many deltas) are folded into one as well; the
     * biggest one (the image the deltas apply to, usually) is kept, and
     * only the items outside it are copied */
    bool fold = n->nraws > 8;
    struct raw *keep = NULL;
    if (!own && !fold)
        return 0;
    if (fold) {
        for (uint32_t i = 0; i < n->nraws; i++)
            if (!keep || n->raws[i]->len > keep->len)
                keep = n->raws[i];
        total = 0;
        for (uint32_t i = 0; i < n->n; i++)
            if (n->it[i].own || !in_raw(keep, &n->it[i]))
                total += n->it[i].kl + (n->it[i].ext ? 0 : n->it[i].vl);
    }
    struct raw *r = raw_new(total);
    if (!r)
        return SOP_ENOMEM;
    if (!fold) { /* room for r first: once items point into it, nothing may fail */
        struct raw **v = os_realloc(n->raws, (n->nraws + 1) * sizeof(*v));
        if (!v) {
            raw_unref(r);
            return SOP_ENOMEM;
        }
        n->raws = v;
    }
    size_t off = 0;
    for (uint32_t i = 0; i < n->n && (fold || n->nown); i++) {
        struct item *it = &n->it[i];
        if (!fold && !it->own)
            continue;
        if (fold && !it->own && in_raw(keep, it))
            continue;
        n->nown -= it->own;
        size_t vl = it->ext ? 0 : it->vl;
        uint8_t *k = r->data + off;
        if (it->kl)
            memcpy(k, it->k, it->kl);
        if (vl)
            memcpy(k + it->kl, it->v, vl);
        if (it->own)
            os_free((void *)it->k);
        it->k = k;
        it->v = vl ? k + it->kl : NULL;
        it->own = 0;
        off += it->kl + vl;
    }
    assert(off == total);
    if (fold) {
        /* the array holds more than 8: two fit without growing it */
        for (uint32_t i = 0; i < n->nraws; i++)
            if (n->raws[i] != keep)
                raw_unref(n->raws[i]);
        n->raws[0] = keep;
        n->raws[1] = r;
        n->nraws = 2;
        return 0;
    }
    n->raws[n->nraws++] = r;
    return 0;
}

size_t node_mem(const struct node *n)
{
    size_t m = sizeof(*n) + n->cap * sizeof(struct item);
    for (uint32_t i = 0; i < n->nraws; i++)
        m += n->raws[i]->len + sizeof(struct raw);
    return m;
}

int key_cmp(const void *a, size_t al, const void *b, size_t bl)
{
    size_t m = al < bl ? al : bl;
    int c = m ? memcmp(a, b, m) : 0;
    if (c)
        return c;
    return al < bl ? -1 : al > bl;
}

/* compare item it with key (k, kl) whose prefix is p */
static inline int icmp(const struct item *it, uint64_t p, const void *k, size_t kl)
{
    if (it->pfx != p)
        return it->pfx < p ? -1 : 1;
    return key_cmp(it->k, it->kl, k, kl);
}

/* Binary search over items [from, n): the first item > k (upper) or >= k. */
static uint32_t search(const struct node *n, uint32_t from, const void *k, size_t kl, bool upper)
{
    uint32_t lo = from, hi = n->n;
    uint64_t p = key_prefix(k, kl);
    int stop = upper ? 0 : -1; /* go right while cmp <= stop */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (icmp(&n->it[mid], p, k, kl) <= stop)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

uint32_t node_lower(const struct node *n, const void *k, size_t kl)
{
    return search(n, 0, k, kl, false);
}

uint32_t node_upper(const struct node *n, const void *k, size_t kl)
{
    return search(n, 0, k, kl, true);
}

/* separators are items 1..n-1: count those < k (lower) or <= k (upper) */
uint32_t node_child_lower(const struct node *n, const void *k, size_t kl)
{
    return search(n, 1, k, kl, false) - 1;
}

uint32_t node_child_upper(const struct node *n, const void *k, size_t kl)
{
    return search(n, 1, k, kl, true) - 1;
}

int node_insert(struct node *n, uint32_t pos, const struct item *src)
{
    struct item it;
    assert(pos <= n->n);
    int rc = reserve(n, n->n + 1);
    if (rc)
        return rc;
    if ((rc = dup_item(&it, src)) != 0)
        return rc;
    memmove(&n->it[pos + 1], &n->it[pos], (n->n - pos) * sizeof(*n->it));
    n->it[pos] = it;
    n->n++;
    n->nown++;
    n->bytes += item_size(n, &it);
    return 0;
}

int node_replace(struct node *n, uint32_t pos, const struct item *src)
{
    struct item it;
    assert(pos < n->n);
    int rc = dup_item(&it, src);
    if (rc)
        return rc;
    n->bytes -= item_size(n, &n->it[pos]);
    if (n->it[pos].own)
        os_free((void *)n->it[pos].k);
    else
        n->nown++;
    n->it[pos] = it;
    n->bytes += item_size(n, &it);
    return 0;
}

void node_delete(struct node *n, uint32_t pos)
{
    assert(pos < n->n);
    n->bytes -= item_size(n, &n->it[pos]);
    if (n->it[pos].own) {
        os_free((void *)n->it[pos].k);
        n->nown--;
    }
    memmove(&n->it[pos], &n->it[pos + 1], (n->n - pos - 1) * sizeof(*n->it));
    n->n--;
}

/* b shares a's raw blocks after a move */
static int share_raws(const struct node *a, struct node *b)
{
    for (uint32_t i = 0; i < a->nraws; i++) {
        bool have = false;
        for (uint32_t j = 0; j < b->nraws; j++)
            if (b->raws[j] == a->raws[i])
                have = true;
        if (have)
            continue;
        if (add_raw(b, a->raws[i]) != 0)
            return SOP_ENOMEM;
        atomic_fetch_add(&a->raws[i]->refs, 1);
    }
    return 0;
}

int node_move_tail(struct node *a, uint32_t from, struct node *b)
{
    assert(from <= a->n);
    uint32_t m = a->n - from;
    int rc = reserve(b, b->n + m);
    if (rc || (rc = share_raws(a, b)) != 0)
        return rc;
    for (uint32_t i = 0; i < m; i++) {
        size_t s = item_size(a, &a->it[from + i]);
        a->bytes -= s;
        b->bytes += s;
        a->nown -= a->it[from + i].own;
        b->nown += a->it[from + i].own;
    }
    memcpy(&b->it[b->n], &a->it[from], m * sizeof(*a->it));
    b->n += m;
    a->n = from;
    return 0;
}

int node_move_head(struct node *b, uint32_t m, struct node *a)
{
    assert(m <= b->n);
    int rc = reserve(a, a->n + m);
    if (rc || (rc = share_raws(b, a)) != 0)
        return rc;
    for (uint32_t i = 0; i < m; i++) {
        size_t s = item_size(b, &b->it[i]);
        b->bytes -= s;
        a->bytes += s;
        b->nown -= b->it[i].own;
        a->nown += b->it[i].own;
    }
    memcpy(&a->it[a->n], b->it, m * sizeof(*b->it));
    a->n += m;
    memmove(b->it, &b->it[m], (b->n - m) * sizeof(*b->it));
    b->n -= m;
    return 0;
}

static void enc_item_body(const struct node *n, const struct item *it, struct wbuf *w)
{
    if (!n->leaf) {
        wb_bytes(w, it->vid.b, 16);
        return;
    }
    wb_u8(w, it->ext);
    if (it->ext) {
        wb_u64(w, it->vsize);
        wb_u32(w, it->csize);
        wb_bytes(w, it->vid.b, 16);
    } else {
        wb_blob(w, it->v, it->vl);
    }
}

int node_encode(const struct node *n, struct wbuf *w)
{
    wb_reserve(w, n->bytes + 16);
    wb_u8(w, NODE_FORMAT);
    wb_u8(w, n->leaf);
    wb_u32(w, n->n);
    for (uint32_t i = 0; i < n->n; i++) {
        wb_blob(w, n->it[i].k, n->it[i].kl);
        enc_item_body(n, &n->it[i], w);
    }
    return w->err ? SOP_ENOMEM : 0;
}

/* Decode one item's body (after the key) from r into it. */
static bool dec_item_body(bool leaf, struct rbuf *r, struct item *it)
{
    it->own = 0;
    it->v = NULL;
    it->vl = 0;
    it->ext = 0;
    it->vsize = 0;
    it->csize = 0;
    memset(&it->vid, 0, sizeof(it->vid));
    if (!leaf) {
        const uint8_t *p = rb_bytes(r, 16);
        if (p)
            memcpy(it->vid.b, p, 16);
        return !r->err;
    }
    it->ext = rb_u8(r);
    if (it->ext > 1)
        return false;
    if (it->ext) {
        it->vsize = rb_u64(r);
        it->csize = rb_u32(r);
        const uint8_t *p = rb_bytes(r, 16);
        if (p)
            memcpy(it->vid.b, p, 16);
        if (it->csize == 0)
            return false;
    } else {
        size_t vl;
        it->v = rb_blob(r, &vl);
        it->vl = (uint32_t)vl;
        if (vl > UINT32_MAX)
            return false;
    }
    return !r->err;
}

int node_decode(struct raw *raw, struct node **out)
{
    struct rbuf r;
    struct node *n = NULL;
    rb_init(&r, raw->data, raw->len);
    if (rb_u8(&r) != NODE_FORMAT)
        goto bad;
    uint8_t leaf = rb_u8(&r);
    uint32_t cnt = rb_u32(&r);
    if (r.err || leaf > 1 || cnt > raw->len)
        goto bad;
    n = node_new(leaf);
    if (!n || reserve(n, cnt ? cnt : 1) != 0 || add_raw(n, raw) != 0) {
        node_unref(n);
        raw_unref(raw);
        return SOP_ENOMEM;
    }
    raw = NULL; /* owned by n now */
    for (uint32_t i = 0; i < cnt; i++) {
        struct item *it = &n->it[i];
        size_t kl;
        it->k = rb_blob(&r, &kl);
        it->kl = (uint32_t)kl;
        if (r.err || kl > SOP_MAX_KEY || !dec_item_body(leaf, &r, it))
            goto bad;
        it->pfx = key_prefix(it->k, kl);
        n->n++;
        n->bytes += item_size(n, it);
    }
    if (r.pos != r.len)
        goto bad;
    *out = n;
    return 0;
bad:
    node_unref(n);
    raw_unref(raw);
    return SOP_CORRUPT("node image: its items do not decode");
}

int node_encode_delta(const struct node *n, const struct item *keys, size_t nkeys,
                      const struct loc *prev, uint16_t chain, struct wbuf *w)
{
    wb_u8(w, NODE_FORMAT);
    wb_u32(w, prev->seg);
    wb_u64(w, prev->off);
    wb_u32(w, prev->len);
    wb_u16(w, chain);
    wb_u32(w, (uint32_t)nkeys);
    for (size_t g = 0; g < nkeys; g++) {
        uint32_t lo = node_lower(n, keys[g].k, keys[g].kl);
        uint32_t hi = node_upper(n, keys[g].k, keys[g].kl);
        wb_blob(w, keys[g].k, keys[g].kl);
        wb_varint(w, hi - lo);
        for (uint32_t i = lo; i < hi; i++)
            enc_item_body(n, &n->it[i], w);
    }
    return w->err ? SOP_ENOMEM : 0;
}

int node_delta_prev(const struct raw *raw, struct loc *prev, uint16_t *chain)
{
    struct rbuf r;
    rb_init(&r, raw->data, raw->len);
    if (rb_u8(&r) != NODE_FORMAT)
        return SOP_CORRUPT("node delta: unknown format");
    prev->seg = rb_u32(&r);
    prev->off = rb_u64(&r);
    prev->len = rb_u32(&r);
    *chain = rb_u16(&r);
    return r.err || prev->seg == 0 ? SOP_CORRUPT("node delta: no previous record") : 0;
}

int node_apply_delta(struct node *n, struct raw *raw)
{
    struct rbuf r;
    int rc = SOP_ECORRUPT;
    rb_init(&r, raw->data, raw->len);
    rb_bytes(&r, 1 + 4 + 8 + 4 + 2);
    uint32_t groups = rb_u32(&r);
    if (r.err || !n->leaf) {
        rc = SOP_CORRUPT(r.err ? "node delta: its header does not decode"
                               : "node delta: onto a node that is not a leaf");
        goto out;
    }
    if (add_raw(n, raw) != 0) {
        rc = SOP_ENOMEM;
        goto out;
    }
    raw = NULL;
    for (uint32_t g = 0; g < groups; g++) {
        size_t kl;
        const uint8_t *k = rb_blob(&r, &kl);
        uint64_t m = rb_varint(&r);
        if (r.err || kl > SOP_MAX_KEY || m > r.len)
            return SOP_CORRUPT("node delta: a group does not decode");
        uint32_t lo = node_lower(n, k, kl);
        uint32_t hi = node_upper(n, k, kl);
        while (hi > lo)
            node_delete(n, --hi);
        if ((rc = reserve(n, n->n + (uint32_t)m)) != 0)
            return rc;
        memmove(&n->it[lo + m], &n->it[lo], (n->n - lo) * sizeof(*n->it));
        for (uint64_t i = 0; i < m; i++) {
            struct item *it = &n->it[lo + i];
            it->k = k;
            it->kl = (uint32_t)kl;
            it->pfx = key_prefix(k, kl);
            if (!dec_item_body(true, &r, it)) {
                /* leave the node consistent before failing */
                memmove(&n->it[lo + i], &n->it[lo + m], (n->n - lo) * sizeof(*n->it));
                n->n += (uint32_t)i;
                return SOP_CORRUPT("node delta: an item does not decode");
            }
            n->bytes += item_size(n, it);
        }
        n->n += (uint32_t)m;
    }
    rc = r.pos == r.len ? 0 : SOP_CORRUPT("node delta: bytes past its last group");
out:
    raw_unref(raw);
    return rc;
}

int node_take(struct node *dst, uint32_t dpos, struct node *src, uint32_t spos)
{
    assert(spos < src->n && dpos <= dst->n && dst != src);
    int rc = reserve(dst, dst->n + 1);
    if (rc || (rc = share_raws(src, dst)) != 0)
        return rc;
    struct item it = src->it[spos];
    size_t s = item_size(src, &it);
    memmove(&src->it[spos], &src->it[spos + 1], (src->n - spos - 1) * sizeof(*src->it));
    src->n--;
    src->bytes -= s;
    src->nown -= it.own;
    dst->nown += it.own;
    memmove(&dst->it[dpos + 1], &dst->it[dpos], (dst->n - dpos) * sizeof(*dst->it));
    dst->it[dpos] = it;
    dst->n++;
    dst->bytes += item_size(dst, &it);
    return 0;
}

/* ------------------------------------------------------------ own items */

void item_free_own(struct item *it)
{
    if (it->own)
        os_free((void *)it->k);
    it->k = NULL;
    it->v = NULL;
    it->own = 0;
}

int item_copy_own(struct item *dst, const struct item *src)
{
    size_t vl = src->ext ? 0 : src->vl;
    uint8_t *m = os_malloc(src->kl + vl + 1);
    if (!m)
        return SOP_ENOMEM;
    *dst = *src;
    if (src->kl)
        memcpy(m, src->k, src->kl);
    if (vl)
        memcpy(m + src->kl, src->v, vl);
    dst->k = m;
    dst->v = vl ? m + src->kl : NULL;
    dst->own = 1;
    return 0;
}

int set_add_key(struct item **v, size_t *n, size_t *cap, const void *k, size_t kl)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 8;
        struct item *p = os_realloc(*v, c * sizeof(*p));
        if (!p)
            return SOP_ENOMEM;
        *v = p;
        *cap = c;
    }
    struct item src = {.k = k, .kl = (uint32_t)kl};
    int rc = item_copy_own(&(*v)[*n], &src);
    if (rc == 0)
        (*n)++;
    return rc;
}

void items_free(struct item *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        item_free_own(&v[i]);
    os_free(v);
}
