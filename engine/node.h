/*
 * node.h - B+tree nodes in memory, and their two on-disk encodings: a full
 * image (REC_NODE) and a delta (REC_DELTA) that lists only the keys a
 * commit changed, on top of the node's previous record.
 *
 * A leaf holds items (key, value) sorted by key, duplicates in insertion
 * order.  A value is inline (bytes in the node) or external: `vsize` bytes in
 * chunks of `csize` bytes stored as REC_CHUNK records under registry keys
 * {vid, chunk number}.  An internal node holds n children: item i's `vid` is
 * child i, item i's key (i >= 1) the separator before it, so child i holds
 * keys in [key[i], key[i+1]] (equal keys may sit on both sides of a
 * separator when duplicates straddle it).
 *
 * Full image payload:            Delta payload:
 *   u8  format (1)                 u8  format (1)
 *   u8  leaf                       u32 prev seg, u64 prev off, u32 prev len
 *   u32 n                          u16 chain length (deltas since the image)
 *   n x item                       u32 groups
 *                                  groups x { varint kl, key, varint m,
 *                                             m x item-without-key }
 * item (leaf):  varint kl, key, u8 ext, ext ? (u64 vsize, u32 csize, 16 vid)
 *                                           : (varint vl, value)
 * item (inner): varint kl, key, 16 child
 * A delta group says: the items with this key are now exactly these m.
 *
 * Memory: item bytes live in refcounted `raw` blocks shared between a node
 * and its copies (copy-on-write costs the items array, not the bytes);
 * items added since the last seal own their bytes (`own`).  A node handed
 * out by the cache is immutable; a transaction modifies its own clone.
 */
#ifndef SOP_NODE_H
#define SOP_NODE_H

#include "codec.h"
#include "registry.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest delta chain a reader follows: commits consolidate long
 * before this (txn.c DELTA_CHAIN_MAX); a longer one is corruption. */
#define DELTA_CHAIN_LIMIT 4096

struct raw {
    atomic_int refs;
    size_t len;
    uint8_t data[];
};

struct item {
    uint64_t pfx; /* the key's first 8 bytes, big-endian, zero-padded: most
                     comparisons end here without touching the key bytes */
    const uint8_t *k;
    const uint8_t *v; /* inline value */
    uint32_t kl, vl;
    uint8_t ext;   /* leaf: value in chunks */
    uint8_t own;   /* k (then v) live in one malloc block at k */
    uint8_t merge; /* write sets only: the key was only merged into (sop_merge) */
    uint32_t csize;
    uint64_t vsize;
    struct lid vid; /* external value id, or child (inner nodes) */
};

struct node {
    atomic_int refs;
    uint8_t leaf;
    uint32_t n, cap;
    struct item *it;
    struct raw **raws;
    uint32_t nraws;
    uint32_t nown; /* items that own their bytes (0: freeing and cloning need
                      not look at every item) */
    size_t bytes;  /* encoded size of a full image, kept up to date */
    /* the record this version was read from or written to */
    struct loc at;
    uint16_t chain;       /* deltas on top of the last full image */
    uint32_t chain_bytes; /* their total size */
};

struct node *node_new(bool leaf);
void node_ref(struct node *n);
void node_unref(struct node *n);
/* A mutable copy sharing the item bytes. */
struct node *node_clone(const struct node *n);
/* Move items added since the last seal into one shared raw block, so the
 * node can be shared (cache) and cloned cheaply.  SOP_ENOMEM. */
int node_seal(struct node *n);
/* Memory the node holds, for the cache budget. */
size_t node_mem(const struct node *n);

int key_cmp(const void *a, size_t al, const void *b, size_t bl);
uint64_t key_prefix(const void *k, size_t kl);
/* first index with key >= k / > k */
uint32_t node_lower(const struct node *n, const void *k, size_t kl);
uint32_t node_upper(const struct node *n, const void *k, size_t kl);
/* inner nodes: the child to descend into for the first key >= k (lower) or
 * to insert after equal keys (upper) */
uint32_t node_child_lower(const struct node *n, const void *k, size_t kl);
uint32_t node_child_upper(const struct node *n, const void *k, size_t kl);

/* Insert a copy of item `src` (its bytes are copied) at position pos. */
int node_insert(struct node *n, uint32_t pos, const struct item *src);
/* Replace item pos by a copy of src (bytes copied). */
int node_replace(struct node *n, uint32_t pos, const struct item *src);
void node_delete(struct node *n, uint32_t pos);
/* Move items [from, n) of a to the end of b (bytes stay shared). */
int node_move_tail(struct node *a, uint32_t from, struct node *b);
/* Move the first m items of b to the end of a. */
int node_move_head(struct node *b, uint32_t m, struct node *a);
size_t item_size(const struct node *n, const struct item *it);

int node_encode(const struct node *n, struct wbuf *w);
/* Decode a full image; takes ownership of `r` (one reference). */
int node_decode(struct raw *r, struct node **out);
/* Changed keys -> delta payload. keys: array of (ptr,len) pairs. */
int node_encode_delta(const struct node *n, const struct item *keys, size_t nkeys,
                      const struct loc *prev, uint16_t chain, struct wbuf *w);
/* Read a delta's header (its predecessor). */
int node_delta_prev(const struct raw *r, struct loc *prev, uint16_t *chain);
/* Apply a delta on mutable node n; takes ownership of `r`. */
int node_apply_delta(struct node *n, struct raw *r);

struct raw *raw_new(size_t len);
void raw_unref(struct raw *r);

/* Move item spos of src to position dpos of dst (bytes shared/ownership
 * moved). */
int node_take(struct node *dst, uint32_t dpos, struct node *src, uint32_t spos);
/* Items that own their bytes (own = 1): free one (its bytes; the item is
 * zeroed), copy one (key and inline value into one block), free an array
 * of them, and append an own copy of key k to an array (*n used, *cap
 * allocated; SOP_ENOMEM). */
void item_free_own(struct item *it);
int item_copy_own(struct item *dst, const struct item *src);
void items_free(struct item *v, size_t n);
int set_add_key(struct item **v, size_t *n, size_t *cap, const void *k, size_t kl);

#endif
