/*
 * rwset.c - a transaction's read and write sets per store (overlay.h): the
 * keys it read, the keys it wrote (and which of them were only merges), and
 * the key ranges its cursors walked.  Commit (txn.c C3) checks them against
 * the write sets of the transactions that committed since the snapshot.
 *
 * Reads are the common case and are recorded cheaply: the key bytes are
 * copied into 64 KiB blocks, no allocation per key, and the array is sorted
 * and deduplicated only when a commit has to validate against it.  Writes
 * are own copies (items, sorted at commit: they are also what commit
 * re-applies, C4, and what it keeps for younger transactions, C7).
 */
#include "rwset.h"

#include "btree.h"
#include "os.h"

#include <stdlib.h>
#include <string.h>

struct kblock {
    struct kblock *next;
    size_t used, cap;
    uint8_t data[];
};

#define KBLOCK_BYTES (64u << 10)

static int keyset_add(struct keyset *ks, const void *k, size_t kl)
{
    struct kblock *b = ks->blocks;
    if (ks->n == ks->cap) {
        size_t c = ks->cap ? ks->cap * 2 : 64;
        struct kref *v = os_realloc(ks->v, c * sizeof(*v));
        if (!v)
            return SOP_ENOMEM;
        ks->v = v;
        ks->cap = c;
    }
    if (!b || b->cap - b->used < kl) {
        size_t cap = kl > KBLOCK_BYTES ? kl : KBLOCK_BYTES;
        if (!(b = os_malloc(sizeof(*b) + cap)))
            return SOP_ENOMEM;
        b->used = 0;
        b->cap = cap;
        b->next = ks->blocks;
        ks->blocks = b;
    }
    uint8_t *p = b->data + b->used;
    if (kl)
        memcpy(p, k, kl);
    b->used += kl;
    ks->v[ks->n].k = p;
    ks->v[ks->n].kl = (uint32_t)kl;
    ks->n++;
    return 0;
}

void keyset_free(struct keyset *ks)
{
    while (ks->blocks) {
        struct kblock *b = ks->blocks;
        ks->blocks = b->next;
        os_free(b);
    }
    os_free(ks->v);
    memset(ks, 0, sizeof(*ks));
}

static int kref_cmp(const void *a, const void *b)
{
    const struct kref *x = a, *y = b;
    return key_cmp(x->k, x->kl, y->k, y->kl);
}

/* Sort and deduplicate (the key bytes stay where they are). */
void keyset_settle(struct keyset *ks)
{
    if (ks->sorted == ks->n)
        return;
    qsort(ks->v, ks->n, sizeof(*ks->v), kref_cmp);
    size_t j = 0;
    for (size_t i = 0; i < ks->n; i++)
        if (!j || kref_cmp(&ks->v[j - 1], &ks->v[i]))
            ks->v[j++] = ks->v[i];
    ks->n = ks->sorted = j;
}

/* After keyset_settle. */
bool keyset_holds(const struct keyset *ks, const struct item *k)
{
    size_t lo = 0, hi = ks->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = key_cmp(ks->v[mid].k, ks->v[mid].kl, k->k, k->kl);
        if (!c)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

int rw_note_read(sop_store *s, const void *k, size_t kl)
{
    return keyset_add(&s->rkeys, k, kl);
}

int rw_note_write(sop_store *s, const void *k, size_t kl)
{
    return set_add_key(&s->wkeys, &s->nwkeys, &s->capwkeys, k, kl);
}

/* A write that was only a merge (sop_merge): flagged in the write set, so
 * that other transactions' reads of the key do not conflict with it. */
int rw_note_merge(sop_store *s, const void *k, size_t kl)
{
    int rc = set_add_key(&s->wkeys, &s->nwkeys, &s->capwkeys, k, kl);
    if (rc == 0)
        s->wkeys[s->nwkeys - 1].merge = 1;
    return rc;
}

int rw_range_add(sop_store *s, const struct krange *r)
{
    if (s->nranges == s->capranges) {
        size_t c = s->capranges ? s->capranges * 2 : 8;
        struct krange *v = os_realloc(s->ranges, c * sizeof(*v));
        if (!v)
            return SOP_ENOMEM;
        s->ranges = v;
        s->capranges = c;
    }
    struct krange *d = &s->ranges[s->nranges];
    memset(d, 0, sizeof(*d));
    d->lo_inf = r->lo_inf;
    d->hi_inf = r->hi_inf;
    if ((!r->lo_inf && item_copy_own(&d->lo, &r->lo) != 0) ||
        (!r->hi_inf && item_copy_own(&d->hi, &r->hi) != 0)) {
        item_free_own(&d->lo);
        return SOP_ENOMEM;
    }
    s->nranges++;
    return 0;
}

int rw_range_all(sop_store *s)
{
    struct krange r = {.lo_inf = true, .hi_inf = true};
    return rw_range_add(s, &r);
}

int rw_key_cmp(const void *a, const void *b)
{
    const struct item *x = a, *y = b;
    return key_cmp(x->k, x->kl, y->k, y->kl);
}

void rw_items_sort(struct item *v, size_t *n)
{
    if (*n < 2)
        return;
    qsort(v, *n, sizeof(*v), rw_key_cmp);
    size_t j = 0;
    for (size_t i = 0; i < *n; i++) {
        if (j && !rw_key_cmp(&v[j - 1], &v[i])) {
            v[j - 1].merge &= v[i].merge; /* merged only if every write was a merge */
            item_free_own(&v[i]);
            continue;
        }
        v[j++] = v[i];
    }
    *n = j;
}

/* The entry of sorted set v equal to k, or NULL. */
struct item *rw_items_find(struct item *v, size_t n, const struct item *k)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = rw_key_cmp(&v[mid], k);
        if (!c)
            return &v[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

bool rw_in_range(const struct krange *r, const struct item *k)
{
    if (!r->lo_inf && rw_key_cmp(k, &r->lo) < 0)
        return false;
    if (!r->hi_inf && rw_key_cmp(k, &r->hi) > 0)
        return false;
    return true;
}
