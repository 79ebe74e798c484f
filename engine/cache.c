/*
 * cache.c - see cache.h.  A chained hash table plus an LRU list, under one
 * mutex (held for a few pointer moves, never across I/O).
 */
#include "cache.h"

#include "os.h"
#include "sop.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

struct centry {
    struct loc loc;
    struct node *n;
    size_t mem;
    struct centry *hnext, *prev, *next;
};

static size_t loc_hash(const struct loc *l)
{
    uint64_t h = ((uint64_t)l->seg << 40) ^ l->off;
    h *= 0x9E3779B97F4A7C15ull;
    return (size_t)(h ^ (h >> 31));
}

int cache_init(struct cache *c, size_t budget)
{
    memset(c, 0, sizeof(*c));
    c->nb = 4096;
    c->b = os_calloc(c->nb, sizeof(*c->b));
    c->budget = budget;
    pthread_mutex_init(&c->mu, NULL);
    return c->b ? 0 : SOP_ENOMEM;
}

void cache_free(struct cache *c)
{
    struct centry *e = c->mru;
    while (e) {
        struct centry *n = e->next;
        node_unref(e->n);
        os_free(e);
        e = n;
    }
    os_free(c->b);
    pthread_mutex_destroy(&c->mu);
    memset(c, 0, sizeof(*c));
}

static void unlink_lru(struct cache *c, struct centry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->mru = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->lru = e->prev;
    e->prev = e->next = NULL;
}

static void push_mru(struct cache *c, struct centry *e)
{
    e->prev = NULL;
    e->next = c->mru;
    if (c->mru)
        c->mru->prev = e;
    c->mru = e;
    if (!c->lru)
        c->lru = e;
}

static struct centry **slot(struct cache *c, const struct loc *loc)
{
    struct centry **pp = &c->b[loc_hash(loc) & (c->nb - 1)];
    while (*pp && !((*pp)->loc.seg == loc->seg && (*pp)->loc.off == loc->off))
        pp = &(*pp)->hnext;
    return pp;
}

struct node *cache_get(struct cache *c, const struct loc *loc)
{
    struct node *n = NULL;
    pthread_mutex_lock(&c->mu);
    struct centry *e = *slot(c, loc);
    if (e) {
        if (c->mru != e) {
            unlink_lru(c, e);
            push_mru(c, e);
        }
        n = e->n;
        node_ref(n);
        c->hits++;
    } else {
        c->misses++;
    }
    pthread_mutex_unlock(&c->mu);
    return n;
}

/* Evict least recently used entries until the budget holds.  An entry
 * someone still references (a transaction pinned it: pointers into it were
 * handed out) stays, so a reload finds it instead of making a second copy:
 * it goes back to the front, as it is in use, so that the next eviction
 * does not step over it again (a long reader pins every node it reads); a
 * bounded number of those is moved per call. */
static void evict(struct cache *c)
{
    struct centry *e = c->lru;
    int skipped = 0;
    while (c->bytes > c->budget && e && skipped < 64) {
        struct centry *prev = e->prev;
        if (e == c->mru)
            break;
        if (atomic_load(&e->n->refs) > 1) {
            skipped++;
            unlink_lru(c, e);
            push_mru(c, e);
            e = prev;
            continue;
        }
        unlink_lru(c, e);
        struct centry **pp = slot(c, &e->loc);
        assert(*pp == e); /* one entry per location */
        assert(c->bytes >= e->mem && c->count > 0);
        *pp = e->hnext;
        c->bytes -= e->mem;
        c->count--;
        node_unref(e->n);
        os_free(e);
        e = prev;
    }
}

void cache_trim(struct cache *c)
{
    pthread_mutex_lock(&c->mu);
    if (c->bytes > c->budget)
        evict(c);
    pthread_mutex_unlock(&c->mu);
}

static void grow(struct cache *c)
{
    size_t nb = c->nb * 2;
    struct centry **b = os_calloc(nb, sizeof(*b));
    if (!b)
        return;
    for (size_t i = 0; i < c->nb; i++) {
        struct centry *e = c->b[i];
        while (e) {
            struct centry *n = e->hnext;
            size_t h = loc_hash(&e->loc) & (nb - 1);
            e->hnext = b[h];
            b[h] = e;
            e = n;
        }
    }
    os_free(c->b);
    c->b = b;
    c->nb = nb;
}

void cache_put(struct cache *c, const struct loc *loc, struct node *n)
{
    struct centry *e = os_malloc(sizeof(*e));
    if (!e)
        return; /* a cache that cannot grow is still correct */
    pthread_mutex_lock(&c->mu);
    struct centry **pp = slot(c, loc);
    if (*pp) { /* raced with another reader: keep the first */
        pthread_mutex_unlock(&c->mu);
        os_free(e);
        return;
    }
    e->loc = *loc;
    e->n = n;
    node_ref(n);
    e->mem = node_mem(n);
    e->hnext = NULL;
    *pp = e;
    push_mru(c, e);
    c->bytes += e->mem;
    c->count++;
    if (c->count > c->nb * 2)
        grow(c);
    evict(c);
    pthread_mutex_unlock(&c->mu);
}

struct node *cache_take(struct cache *c, const struct loc *loc)
{
    struct node *n = NULL;
    pthread_mutex_lock(&c->mu);
    struct centry **pp = slot(c, loc);
    struct centry *e = *pp;
    if (e) {
        assert(c->bytes >= e->mem && c->count > 0);
        *pp = e->hnext;
        unlink_lru(c, e);
        c->bytes -= e->mem;
        c->count--;
        n = e->n; /* the entry's reference passes to the caller */
    }
    pthread_mutex_unlock(&c->mu);
    os_free(e);
    return n;
}

void cache_drop(struct cache *c, const struct loc *loc)
{
    node_unref(cache_take(c, loc)); /* outside the lock: freeing a node takes a while */
}

