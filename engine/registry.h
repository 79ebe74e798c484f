/*
 * registry.h - the map from logical IDs to physical locations.
 *
 * Every node and every value chunk is named by a registry key: a logical
 * UUID plus an index (0 for nodes; the chunk number for value chunks).  A
 * write never overwrites a live record: it appends a new one and the commit
 * repoints the key.  Each key keeps a short chain of versions, newest first,
 * tagged with the commit sequence number that made them, so a transaction
 * reading at snapshot S resolves the newest version with seq <= S (snapshot
 * isolation without copying anything).  Versions no live snapshot can see are
 * pruned.  The caller (db.c) serialises access with the database's rwlock.
 */
#ifndef SOP_REGISTRY_H
#define SOP_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lid {
    uint8_t b[16];
};
struct rkey {
    struct lid id;
    uint64_t idx;
};
/* A record in a segment file: segment number, offset of its header, payload
 * length.  seg 0 is never used, so a zero loc means "none". */
struct loc {
    uint32_t seg;
    uint32_t len;
    uint64_t off;
};

struct rver {
    uint64_t seq;
    struct loc loc;
    bool dead; /* removed at seq */
    /* the lowest segment a read of this version touches: loc.seg for a
     * record that stands alone (node image, chunk), the chain's oldest
     * record's for a node delta (reclaim.c must rewrite a node whose chain
     * reaches a segment it empties).  Never above the truth; 0: unknown,
     * any segment. */
    uint32_t base;
    struct rver *older;
};
/* What a caller of reg_link puts in v->base for a node delta: the version
 * it follows (the key's newest) gives the chain's base. */
#define REG_BASE_CHAIN UINT32_MAX

struct rent {
    struct rkey key;
    struct rver *ver;
    struct rent *next;
};

struct registry {
    struct rent **b;
    size_t nb;    /* buckets, a power of two */
    size_t count; /* entries */
    /* bytes (records with their headers) that the versions kept point to,
     * per segment number: a segment of value chunks (blob.h) at zero holds
     * nothing any snapshot can read.  Node delta chains reach back to
     * records no registry version names, so for log segments this is a
     * lower bound only. */
    uint64_t *seglive;
    uint32_t nseglive;
    /* segments whose live bytes fell to zero since the caller last took
     * them (reg_take_zeroed): value segments among them can be removed */
    uint32_t *zeroed;
    size_t nzeroed, capzeroed;
};

int reg_init(struct registry *r);
void reg_free(struct registry *r);
/* The location of `key` as snapshot `snap` sees it: 0 or SOP_ENOTFOUND. */
int reg_get(const struct registry *r, const struct rkey *key, uint64_t snap, struct loc *out);
/* reg_set without allocating (a commit's in-memory apply, after its commit
 * point, must not fail): v is filled (seq, loc, dead) and is taken; *spare
 * is taken (set NULL) when the key is new, else left to the caller. */
void reg_link(struct registry *r, const struct rkey *key, struct rver *v, struct rent **spare,
              uint64_t keep_from);
/* Record a new version made by commit `seq` (dead: a removal), pruning
 * versions older than what snapshot `keep_from` needs.  SOP_ENOMEM. */
int reg_set(struct registry *r, const struct rkey *key, uint64_t seq, const struct loc *loc,
            uint32_t base, bool dead, uint64_t keep_from);
/* Prune every chain for snapshots >= keep_from; drops entries whose only
 * visible version is a removal. */
void reg_prune(struct registry *r, uint64_t keep_from);
/* Call fn for the newest live version of each key (checkpoints). */
int reg_foreach(const struct registry *r,
                int (*fn)(const struct rkey *, const struct loc *, void *), void *arg);
/* The same, with the whole version (its base too). */
int reg_foreach_ver(const struct registry *r,
                    int (*fn)(const struct rkey *, const struct rver *, void *), void *arg);
/* The newest version of key (dead or not), or NULL. */
const struct rver *reg_newest(const struct registry *r, const struct rkey *key);

/* Call fn for the index of every key of `id` with index >= from that
 * snapshot snap sees (live): a scan of the whole table, for the callers
 * whose alternative is a walk over more indices than the table holds. */
int reg_foreach_id(const struct registry *r, const struct lid *id, uint64_t from, uint64_t snap,
                   int (*fn)(uint64_t idx, void *), void *arg);
/* A list of indices, and the fn for reg_foreach_id that appends to it (arg:
 * the list; SOP_ENOMEM).  The caller frees v. */
struct reg_idx {
    uint64_t *v;
    size_t n, cap;
};
int reg_idx_add(uint64_t idx, void *arg);

/* The live bytes of segment seg (see struct registry). */
uint64_t reg_seg_live(const struct registry *r, uint32_t seg);
/* The segments whose live bytes fell to zero since the last call (*n of
 * them, malloc'd into *out; the caller frees it). */
void reg_take_zeroed(struct registry *r, uint32_t **out, size_t *n);

static inline bool lid_is_zero(const struct lid *l)
{
    for (int i = 0; i < 16; i++)
        if (l->b[i])
            return false;
    return true;
}

#endif
