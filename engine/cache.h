/*
 * cache.h - the L1 node cache: decoded, immutable nodes keyed by the
 * physical location of the record they were read from.  Physical records
 * are never overwritten, so an entry can never be stale: a reader first
 * resolves logical -> physical through the registry, then asks the cache.
 * Bounded in bytes, least recently used first out; entries are refcounted
 * so an evicted node stays alive while a transaction still uses it, and an
 * entry in use when eviction meets it is held aside (still findable, still
 * counted) until it is let go (cache.c).
 */
#ifndef SOP_CACHE_H
#define SOP_CACHE_H

#include "node.h"
#include "registry.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct centry;

struct cache {
    pthread_mutex_t mu;
    struct centry **b;
    size_t nb, count;
    size_t bytes, budget;
    size_t held_bytes;               /* of those, on the held list (cache.c) */
    struct centry *mru, *lru;        /* doubly linked, most recent first */
    struct centry *hold, *hold_last; /* entries met in use by eviction */
    uint64_t hits, misses;
};

int cache_init(struct cache *c, size_t budget);
void cache_free(struct cache *c);
/* A referenced node for loc, or NULL. */
struct node *cache_get(struct cache *c, const struct loc *loc);
/* Insert (takes no reference from the caller: adds its own). */
void cache_put(struct cache *c, const struct loc *loc, struct node *n);
/* Forget the node at loc, if cached: a commit replaced it, and only an older
 * snapshot could still ask for it (it reloads it then). */
void cache_drop(struct cache *c, const struct loc *loc);
/* Remove the node at loc and hand over the cache's reference (NULL: none). */
struct node *cache_take(struct cache *c, const struct loc *loc);
/* Evict down to the budget now (nodes in use stay): after a transaction let
 * go of what it held, which nothing else would evict until the next miss. */
void cache_trim(struct cache *c);
/* Drop the references in v[0..n) (NULL slots skipped, each set to NULL):
 * a transaction's pinned nodes.  Held entries nobody else uses go back to
 * the LRU list's front (they were read lately). */
void cache_unpin(struct cache *c, struct node **v, size_t n);
/* Check the cache's own structure (tests): 0, or SOP_ECORRUPT. */
int cache_verify(struct cache *c);

#endif
