/*
 * registry.c - see registry.h.  A chained hash table; logical IDs are random
 * UUIDs, so their first bytes hash well enough.
 */
#include "registry.h"

#include "os.h"
#include "sop.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

static size_t rk_hash(const struct rkey *k)
{
    uint64_t h;
    memcpy(&h, k->id.b, 8);
    uint64_t h2;
    memcpy(&h2, k->id.b + 8, 8);
    h ^= h2 * 0x9E3779B97F4A7C15ull;
    h ^= k->idx * 0xC2B2AE3D27D4EB4Full;
    h ^= h >> 29;
    return (size_t)h;
}

static bool rk_eq(const struct rkey *a, const struct rkey *b)
{
    return a->idx == b->idx && memcmp(a->id.b, b->id.b, 16) == 0;
}

int reg_init(struct registry *r)
{
    memset(r, 0, sizeof(*r));
    r->nb = 1024;
    r->count = 0;
    r->b = os_calloc(r->nb, sizeof(*r->b));
    return r->b ? 0 : SOP_ENOMEM;
}

#define REC_HEADER 40 /* blob.h's REC_HDR: live bytes count whole records */

static void live_add(struct registry *r, const struct rver *v, int sign)
{
    if (v->dead || !v->loc.seg)
        return;
    if (v->loc.seg >= r->nseglive) {
        if (sign < 0)
            return;
        uint32_t n = r->nseglive ? r->nseglive : 64;
        while (n <= v->loc.seg)
            n *= 2;
        uint64_t *p = os_realloc(r->seglive, n * sizeof(*p));
        if (!p)
            return; /* uncounted: the segment looks dead only if nothing else counts */
        memset(p + r->nseglive, 0, (n - r->nseglive) * sizeof(*p));
        r->seglive = p;
        r->nseglive = n;
    }
    uint64_t b = (uint64_t)v->loc.len + REC_HEADER, *live = &r->seglive[v->loc.seg];
    if (sign > 0) {
        *live += b;
        return;
    }
    if (!*live)
        return;
    *live -= *live < b ? *live : b;
    if (*live)
        return;
    if (r->nzeroed == r->capzeroed) {
        size_t c = r->capzeroed ? r->capzeroed * 2 : 16;
        uint32_t *z = os_realloc(r->zeroed, c * sizeof(*z));
        if (!z)
            return; /* found again at the next open, when all dead value segments go */
        r->zeroed = z;
        r->capzeroed = c;
    }
    r->zeroed[r->nzeroed++] = v->loc.seg;
}

void reg_take_zeroed(struct registry *r, uint32_t **out, size_t *n)
{
    *out = r->zeroed;
    *n = r->nzeroed;
    r->zeroed = NULL;
    r->nzeroed = r->capzeroed = 0;
}

uint64_t reg_seg_live(const struct registry *r, uint32_t seg)
{
    return seg < r->nseglive ? r->seglive[seg] : 0;
}

static void free_chain(struct registry *r, struct rver *v)
{
    while (v) {
        struct rver *o = v->older;
        if (r)
            live_add(r, v, -1);
        os_free(v);
        v = o;
    }
}

void reg_free(struct registry *r)
{
    if (!r->b)
        return;
    for (size_t i = 0; i < r->nb; i++) {
        struct rent *e = r->b[i];
        while (e) {
            struct rent *n = e->next;
            free_chain(NULL, e->ver);
            os_free(e);
            e = n;
        }
    }
    os_free(r->b);
    r->b = NULL;
    os_free(r->seglive);
    r->seglive = NULL;
    r->nseglive = 0;
    os_free(r->zeroed);
    r->zeroed = NULL;
    r->nzeroed = r->capzeroed = 0;
}

static struct rent *find(const struct registry *r, const struct rkey *key)
{
    for (struct rent *e = r->b[rk_hash(key) & (r->nb - 1)]; e; e = e->next)
        if (rk_eq(&e->key, key))
            return e;
    return NULL;
}

int reg_get(const struct registry *r, const struct rkey *key, uint64_t snap, struct loc *out)
{
    const struct rent *e = find(r, key);
    if (!e)
        return SOP_ENOTFOUND;
    for (const struct rver *v = e->ver; v; v = v->older) {
        if (v->seq <= snap) {
            if (v->dead)
                return SOP_ENOTFOUND;
            *out = v->loc;
            return 0;
        }
    }
    return SOP_ENOTFOUND;
}

static void grow(struct registry *r)
{
    size_t nb = r->nb * 2;
    struct rent **b = os_calloc(nb, sizeof(*b));
    if (!b)
        return; /* keep the smaller table: slower, still correct */
    for (size_t i = 0; i < r->nb; i++) {
        struct rent *e = r->b[i];
        while (e) {
            struct rent *n = e->next;
            size_t h = rk_hash(&e->key) & (nb - 1);
            e->next = b[h];
            b[h] = e;
            e = n;
        }
    }
    os_free(r->b);
    r->b = b;
    r->nb = nb;
}

/* Keep what snapshot keep_from and newer ones can see: every version newer
 * than keep_from and the newest one at or before it. */
static void prune_chain(struct registry *r, struct rver *v, uint64_t keep_from)
{
    for (; v; v = v->older) {
        if (v->seq <= keep_from) {
            free_chain(r, v->older);
            v->older = NULL;
            return;
        }
    }
}

void reg_link(struct registry *r, const struct rkey *key, struct rver *v, struct rent **spare,
              uint64_t keep_from)
{
    struct rent *e = find(r, key);
    if (!e) {
        if (v->dead) { /* nothing to remove: no snapshot saw it */
            os_free(v);
            return;
        }
        assert(spare && *spare);
        e = *spare;
        *spare = NULL;
        e->key = *key;
        e->ver = NULL;
        size_t h = rk_hash(key) & (r->nb - 1);
        e->next = r->b[h];
        r->b[h] = e;
        r->count++;
        if (r->count > r->nb * 2)
            grow(r);
    }
    if (v->base == REG_BASE_CHAIN) {
        const struct rver *o = e->ver;
        v->base = o && !o->dead && o->base < v->loc.seg ? o->base : v->loc.seg;
    }
    v->older = e->ver;
    e->ver = v;
    live_add(r, v, 1);
    prune_chain(r, e->ver, keep_from);
}

int reg_set(struct registry *r, const struct rkey *key, uint64_t seq, const struct loc *loc,
            uint32_t base, bool dead, uint64_t keep_from)
{
    struct rver *v = os_malloc(sizeof(*v));
    struct rent *e = NULL; /* for a new key */
    if (v && !dead && !find(r, key) && !(e = os_malloc(sizeof(*e)))) {
        os_free(v);
        v = NULL;
    }
    if (!v)
        return SOP_ENOMEM;
    v->seq = seq;
    v->dead = dead;
    v->base = base;
    if (loc)
        v->loc = *loc;
    else
        memset(&v->loc, 0, sizeof(v->loc));
    reg_link(r, key, v, &e, keep_from);
    os_free(e); /* not needed after all */
    return 0;
}

void reg_prune(struct registry *r, uint64_t keep_from)
{
    for (size_t i = 0; i < r->nb; i++) {
        struct rent **pp = &r->b[i];
        while (*pp) {
            struct rent *e = *pp;
            prune_chain(r, e->ver, keep_from);
            if (e->ver && e->ver->dead && e->ver->seq <= keep_from && !e->ver->older) {
                *pp = e->next;
                free_chain(r, e->ver);
                os_free(e);
                r->count--;
                continue;
            }
            pp = &e->next;
        }
    }
}

int reg_foreach(const struct registry *r,
                int (*fn)(const struct rkey *, const struct loc *, void *), void *arg)
{
    for (size_t i = 0; i < r->nb; i++)
        for (const struct rent *e = r->b[i]; e; e = e->next)
            if (e->ver && !e->ver->dead) {
                int rc = fn(&e->key, &e->ver->loc, arg);
                if (rc)
                    return rc;
            }
    return 0;
}

int reg_foreach_ver(const struct registry *r,
                    int (*fn)(const struct rkey *, const struct rver *, void *), void *arg)
{
    for (size_t i = 0; i < r->nb; i++)
        for (const struct rent *e = r->b[i]; e; e = e->next)
            if (e->ver && !e->ver->dead) {
                int rc = fn(&e->key, e->ver, arg);
                if (rc)
                    return rc;
            }
    return 0;
}

const struct rver *reg_newest(const struct registry *r, const struct rkey *key)
{
    const struct rent *e = find(r, key);
    return e ? e->ver : NULL;
}

/* The version of chain v that snapshot snap sees (NULL: none). */
static const struct rver *visible(const struct rver *v, uint64_t snap)
{
    while (v && v->seq > snap)
        v = v->older;
    return v;
}

int reg_idx_add(uint64_t idx, void *arg)
{
    struct reg_idx *x = arg;
    if (x->n == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 64;
        uint64_t *v = os_realloc(x->v, cap * sizeof(*v));
        if (!v)
            return SOP_ENOMEM;
        x->v = v;
        x->cap = cap;
    }
    x->v[x->n++] = idx;
    return 0;
}

int reg_foreach_id(const struct registry *r, const struct lid *id, uint64_t from, uint64_t snap,
                   int (*fn)(uint64_t idx, void *), void *arg)
{
    for (size_t i = 0; i < r->nb; i++)
        for (const struct rent *e = r->b[i]; e; e = e->next) {
            if (e->key.idx < from || memcmp(e->key.id.b, id->b, 16))
                continue;
            const struct rver *v = visible(e->ver, snap);
            if (v && !v->dead) {
                int rc = fn(e->key.idx, arg);
                if (rc)
                    return rc;
            }
        }
    return 0;
}
