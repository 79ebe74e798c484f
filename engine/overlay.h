/*
 * overlay.h - one transaction's view of one store (sop_store): the
 * copy-on-write overlay of the store's B+tree that btree.c reads through and
 * writes into, and the read and write sets that commit validates (txn.c).
 *
 *  - Nodes it changed are clones in `dn`, keyed by logical ID (a changed
 *    leaf keeps its ID, so its parents are untouched); clean nodes are read
 *    at `snap` through the registry and the cache.
 *  - What it read (keys, key ranges walked by cursors), the keys it wrote,
 *    and its merges (sop_merge), which commit checks against the
 *    transactions that committed since the snapshot, and re-applies.
 *
 * Below txn.h: btree.c and value.c include this, never txn.h, and reach the
 * transaction only through s->tb (txnbase.h).
 */
#ifndef SOP_OVERLAY_H
#define SOP_OVERLAY_H

#include "db.h"
#include "node.h"
#include "txnbase.h"

#include <stdbool.h>
#include <stdint.h>

struct dnode {
    struct lid id;
    struct node *n;
    bool fresh;           /* created by this transaction */
    bool full;            /* structure changed: write a full image, not a delta */
    bool freed;           /* removed from the tree (merge, collapse) */
    struct item *changed; /* keys changed in this leaf (own copies) */
    size_t nchanged, capchanged;
};

struct krange {
    struct item lo, hi; /* own copies; lo_inf/hi_inf: unbounded */
    bool lo_inf, hi_inf;
};

/* A set of keys recorded cheaply: the key bytes are copied into big blocks
 * (no allocation per key), the array is sorted and deduplicated only when a
 * commit has to validate against it. */
struct kref {
    const uint8_t *k;
    uint32_t kl;
};
struct kblock;
struct keyset {
    struct kref *v;
    size_t n, cap;
    size_t sorted; /* v[0, sorted) is sorted and unique */
    struct kblock *blocks;
};

/* A merge into a key (sop_merge), kept so commit can apply it again onto
 * whatever value is committed by then. */
struct merge {
    struct item key; /* own copy of the key */
    sop_merge_fn fn;
    void *arg;
    uint8_t *upd;
    size_t ul;
    bool created; /* the key was absent when it was last applied */
};

struct sop_store {
    sop_txn *t;             /* its transaction (opaque below txn.h)          */
    struct txn_base *tb;    /* the part of it the layers below see: &t->b    */
    struct store_info info; /* working copy: root and count change here */
    uint64_t base_seq;      /* catalog version this started from (0: created here) */
    bool created, dropped, altered, gone;
    uint64_t snap; /* where clean nodes are read from */
    /* dirty nodes: open hash by logical ID */
    struct dnode **dn;
    size_t ndn, capdn;
    /* old external values to delete at commit: {vid, chunks} */
    struct item *deadv;
    size_t ndeadv, capdeadv;
    /* read and write sets */
    struct keyset rkeys;
    struct item *wkeys;
    size_t nwkeys, capwkeys;
    struct krange *ranges;
    size_t nranges, capranges;
    struct merge *merges; /* in the order they were made */
    size_t nmerges, capmerges;
    struct sop_cursor *cursors;
    struct sop_store *next;
};

#define MAX_DEPTH 32
/* A position in a tree: the path from the root to a leaf item, nodes
 * referenced. */
struct tpos {
    struct node *nd[MAX_DEPTH];
    struct lid id[MAX_DEPTH];
    uint32_t ix[MAX_DEPTH];
    int depth; /* leaf level; -1 when not positioned */
};

#endif
