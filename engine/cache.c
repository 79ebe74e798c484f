/*
 * cache.c - see cache.h.  A chained hash table plus two lists, under one
 * mutex (held for a few pointer moves, never across I/O): the LRU list of
 * entries eviction may free, and the held list of entries it met in use
 * (a transaction pinned them: pointers into them were handed out).  Held
 * entries stay findable, so a reload does not make a second copy, and still
 * count against the budget (the memory is used either way: while they are
 * held the cache keeps only a quarter of its budget of other nodes), but
 * eviction no longer steps over them
 * again at every miss: a long reader pins every node it reads, and each of
 * its misses walked past the nodes it had pinned (9% of a scan's time).  They go back to the LRU
 * list when their holder lets go (cache_unpin), when a reader finds them,
 * or when eviction, which looks at one held entry per call, finds them
 * unused.
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
    bool held; /* on the held list, not the LRU list */
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

static void free_list(struct centry *e)
{
    while (e) {
        struct centry *n = e->next;
        node_unref(e->n);
        os_free(e);
        e = n;
    }
}

void cache_free(struct cache *c)
{
    free_list(c->mru);
    free_list(c->hold);
    os_free(c->b);
    pthread_mutex_destroy(&c->mu);
    memset(c, 0, sizeof(*c));
}

/* Doubly linked lists given by their first and last entries. */
static void list_unlink(struct centry **first, struct centry **last, struct centry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        *first = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        *last = e->prev;
    e->prev = e->next = NULL;
}

static void list_push_front(struct centry **first, struct centry **last, struct centry *e)
{
    e->prev = NULL;
    e->next = *first;
    if (*first)
        (*first)->prev = e;
    *first = e;
    if (!*last)
        *last = e;
}

static void list_push_back(struct centry **first, struct centry **last, struct centry *e)
{
    e->next = NULL;
    e->prev = *last;
    if (*last)
        (*last)->next = e;
    *last = e;
    if (!*first)
        *first = e;
}

static void unlink_lru(struct cache *c, struct centry *e)
{
    list_unlink(&c->mru, &c->lru, e);
}

static void push_mru(struct cache *c, struct centry *e)
{
    list_push_front(&c->mru, &c->lru, e);
}

/* From the LRU list to the held list. */
static void hold(struct cache *c, struct centry *e)
{
    assert(!e->held);
    unlink_lru(c, e);
    list_push_back(&c->hold, &c->hold_last, e);
    e->held = true;
    c->held_bytes += e->mem;
}

/* From the held list to the LRU list: its front (in use again) or its back
 * (let go: the first to be evicted). */
static void unhold(struct cache *c, struct centry *e, bool in_use)
{
    assert(e->held && c->held_bytes >= e->mem);
    list_unlink(&c->hold, &c->hold_last, e);
    e->held = false;
    c->held_bytes -= e->mem;
    if (in_use)
        push_mru(c, e);
    else
        list_push_back(&c->mru, &c->lru, e);
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
        if (e->held) {
            unhold(c, e, true);
        } else if (c->mru != e) {
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

/* Over the budget, counting held entries; but a quarter of it stays for
 * unused nodes whatever is held: a long reader pins the leaves it reads,
 * and the inner nodes above them, which nobody pins, must stay cached or
 * every read of its would load the path again (3x slower random reads). */
static bool over(const struct cache *c)
{
    return c->bytes > c->budget && c->bytes - c->held_bytes > c->budget / 4;
}

/* Evict least recently used entries until the budget holds (or nothing
 * unused is left).  An entry someone still references goes to the held list (it
 * stays findable, see the top of the file).  One held entry is looked at
 * per call: unused, it returns to the LRU list's back; else it goes to the
 * held list's back. */
static void evict(struct cache *c)
{
    struct centry *h = c->hold;
    if (h && atomic_load(&h->n->refs) == 1) {
        unhold(c, h, false);
    } else if (h && h != c->hold_last) {
        list_unlink(&c->hold, &c->hold_last, h);
        list_push_back(&c->hold, &c->hold_last, h);
    }
    struct centry *e = c->lru;
    while (over(c) && e && e != c->mru) {
        struct centry *prev = e->prev;
        if (atomic_load(&e->n->refs) > 1) {
            hold(c, e);
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
    if (over(c) || c->hold)
        evict(c);
    pthread_mutex_unlock(&c->mu);
}

void cache_unpin(struct cache *c, struct node **v, size_t n)
{
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < n; i++) {
        if (!v[i] || !v[i]->at.seg)
            continue;
        struct centry *e = *slot(c, &v[i]->at);
        /* the cache's reference and this one: nobody else's */
        if (e && e->n == v[i] && e->held && atomic_load(&e->n->refs) == 2)
            unhold(c, e, true); /* read lately: the front */
    }
    pthread_mutex_unlock(&c->mu);
    for (size_t i = 0; i < n; i++) /* outside the lock: freeing a node takes a while */
        if (v[i]) {
            node_unref(v[i]);
            v[i] = NULL;
        }
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
    e->held = false;
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
        if (e->held) {
            list_unlink(&c->hold, &c->hold_last, e);
            c->held_bytes -= e->mem;
        } else {
            unlink_lru(c, e);
        }
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


/* The lists hold every entry once, on the list its flag says, each entry is
 * found at its location, and the counts add up. */
static int verify_list(struct cache *c, const struct centry *e, bool held, size_t *n, size_t *b)
{
    for (const struct centry *prev = NULL; e; prev = e, e = e->next) {
        if (e->held != held || e->prev != prev || *slot(c, &e->loc) != e)
            return SOP_ECORRUPT;
        ++*n;
        *b += e->mem;
    }
    return 0;
}

int cache_verify(struct cache *c)
{
    size_t n = 0, bytes = 0, hn = 0, hbytes = 0, chained = 0;
    pthread_mutex_lock(&c->mu);
    int rc = verify_list(c, c->mru, false, &n, &bytes);
    if (!rc)
        rc = verify_list(c, c->hold, true, &hn, &hbytes);
    for (size_t i = 0; i < c->nb; i++)
        for (const struct centry *e = c->b[i]; e; e = e->hnext)
            chained++;
    if (!rc && (n + hn != c->count || chained != c->count || hbytes != c->held_bytes ||
                bytes + hbytes != c->bytes))
        rc = SOP_ECORRUPT;
    pthread_mutex_unlock(&c->mu);
    return rc;
}
