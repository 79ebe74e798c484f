/*
 * txn.h - transactions, the stores opened in them, and cursors.
 *
 * A transaction reads at a snapshot (the commit sequence number current when
 * it began) and keeps its changes private until commit:
 *  - a copy-on-write overlay of the B+tree per store: nodes it changed are
 *    clones in `dirty`, keyed by logical ID (a changed leaf keeps its ID, so
 *    its parents are untouched);
 *  - value chunks it wrote, appended to the log already (unsynced) and
 *    listed in `chunks`, plus a few chunk buffers still being filled;
 *  - what it read (keys, key ranges walked by cursors) and the keys it wrote,
 *    which commit validates against the transactions that committed since
 *    the snapshot (see txn.c for the protocol).
 */
#ifndef SOP_TXN_H
#define SOP_TXN_H

#include "db.h"
#include "node.h"

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

struct chunk_ent {
    struct rkey key;
    struct loc loc;
    bool dead;
};

struct cbuf { /* a chunk being filled, not yet appended, or one read (clean) */
    struct rkey key;
    uint32_t cs; /* the value's chunk size */
    uint8_t *data;
    uint32_t cap; /* bytes allocated (the chunk size); zeros past len */
    uint32_t len; /* valid bytes */
    bool dirty;
    uint64_t used; /* LRU tick */
};

struct krange {
    struct item lo, hi; /* own copies; lo_inf/hi_inf: unbounded */
    bool lo_inf, hi_inf;
};

#define TXN_CBUFS 4

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
    sop_txn *t;
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

struct sop_cursor {
    sop_store *s;
    struct tpos tp;
    uint64_t gen;
    /* current key copy and its rank among equal keys, to re-find it after
     * the transaction changed the tree */
    uint8_t *key;
    size_t kl, keycap;
    uint32_t dup;
    /* range walked since the last jump */
    struct krange span;
    bool span_on;
    /* the span's hi (lo) bound is the cursor's current key, copied only when
     * the span is recorded or the walk turns: no copy per step */
    bool hi_cur, lo_cur;
    void *vbuf; /* value of an external item, handed out */
    struct sop_cursor *next;
};

struct scratch {
    struct scratch *next;
    uint8_t data[];
};

struct sop_txn {
    sop_db *db;
    int mode;
    uint64_t snap;
    uint64_t begin_ns;
    uint64_t gen; /* bumped by every change: cursors re-find their place */
    int poison;   /* a write-path failure: returned until rollback */
    sop_store *stores;
    /* catalog names this transaction depends on; `all_names` after a list */
    char **names;
    size_t nnames, capnames;
    bool all_names;
    /* value chunks written (any store: values can move between stores):
     * open hash by registry key, and the buffers still being filled */
    struct chunk_ent *ch;
    size_t nch, capch;
    struct cbuf cb[TXN_CBUFS];
    uint64_t tick;
    /* the value segment this transaction writes whole chunks to (blob.h; 0:
     * none yet), its end, and whether a commit record names it (else it is
     * removed with the transaction) */
    uint32_t vseg;
    uint64_t vseg_end;
    bool vseg_kept;
    /* space (the disk's reserve, db.c): bytes this transaction appended,
     * bytes of records it dropped, and whether it added a key */
    uint64_t wrote_bytes, freed_bytes;
    bool grew;
    struct scratch *scratch; /* buffers handed out, freed at the next change */
    struct node **pins;      /* nodes whose bytes were handed out, likewise */
    size_t npins, cappins;
    char errmsg[512];
    struct sop_txn *prev, *next; /* db->active */
};

void txn_seterr(sop_txn *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Check a transaction can go on; returns poison/timeout codes. */
int txn_check(sop_txn *t, bool write);
/* Fail the transaction for good (write-path failure). */
int txn_poison(sop_txn *t, int rc);
void txn_free_scratch(sop_txn *t);
void *txn_scratch(sop_txn *t, size_t n);
int set_add_key(struct item **v, size_t *n, size_t *cap, const void *k, size_t kl);
int txn_note_name(sop_txn *t, const char *name);
/* search.c: index the search stores t wrote, first thing in commit. */
int search_commit_hook(sop_txn *t);

#endif
