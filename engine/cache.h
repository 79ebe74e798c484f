/*
 * cache.h - the L1 node cache: decoded, immutable nodes keyed by the
 * physical location of the record they were read from.  Physical records
 * are never overwritten, so an entry can never be stale: a reader first
 * resolves logical -> physical through the registry, then asks the cache.
 * Bounded in bytes, least recently used first out; entries are refcounted
 * so an evicted node stays alive while a transaction still uses it.
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
    struct centry *mru, *lru; /* doubly linked, most recent first */
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

#endif
