/*
 * overlay.h - a transaction's private view of the database: the
 * transaction (sop_txn: txnbase.h's part, its stores, the catalog names it
 * depends on, what it handed out) and, per store it opened (sop_store), the
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
 * btree.c and value.c include this (through btree.h and value.h) for the
 * store's overlay, and reach the transaction only through s->tb
 * (txnbase.h); db.c sees txnbase.h alone.
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
    sop_txn *t;             /* its transaction (btree.c, value.c use tb)     */
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

struct scratch {
    struct scratch *next;
    uint8_t data[];
};

struct sop_txn {
    struct txn_base b; /* first: what the layers below see (txnbase.h) */
    sop_store *stores;
    /* catalog names this transaction depends on; `all_names` after a list */
    char **names;
    size_t nnames, capnames;
    bool all_names;
    struct scratch *scratch; /* buffers handed out, freed at the next change */
    struct node **pins;      /* nodes whose bytes were handed out, likewise */
    size_t npins, cappins;
    struct node *last_pin;   /* the one pinned last: a walk pins one leaf many times */
};

void txn_seterr(sop_txn *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Check a transaction can go on; returns poison/timeout codes. */
int txn_check(sop_txn *t, bool write);
/* Fail the transaction for good (write-path failure): tb_poison. */
static inline int txn_poison(sop_txn *t, int rc)
{
    return tb_poison(&t->b, rc);
}
/* Free what was handed out (scratch buffers, pins): at each change. */
void txn_free_scratch(sop_txn *t);
/* A read that hands out pointers begins (sop_get, a cursor move): in a
 * SOP_TXN_NOPIN transaction, what the previous ones handed out goes. */
static inline void txn_next_read(sop_txn *t)
{
    if (t->b.mode & SOP_TXN_NOPIN)
        txn_free_scratch(t);
}
/* A scratch buffer of n bytes, valid until t's next change; NULL on ENOMEM. */
void *txn_scratch(sop_txn *t, size_t n);
/* Keep node n alive until t's next change: pointers into it were handed
 * out (a node is pinned once however many values of it are). */
int txn_pin(sop_txn *t, struct node *n);
/* Note that t depends on catalog name `name` (validated at commit). */
int txn_note_name(sop_txn *t, const char *name);
/* Append a copy of str to a growable array of strings. */
int strv_push(char ***v, size_t *n, size_t *cap, const char *str);

#endif
