/*
 * btree.h - the B+tree of one store, as one transaction sees it: clean nodes
 * resolved through the registry at the store's snapshot (and the cache),
 * changed nodes cloned into the transaction's dirty set (copy-on-write by
 * logical ID).  Splits keep every node at most slot_length items; a node a
 * removal leaves below a quarter of slot_length merges with a sibling when
 * both fit in one node, else the pair is split evenly, so the tree stays
 * balanced under any mix of operations.  External values' chunks are
 * value.h's.
 */
#ifndef SOP_BTREE_H
#define SOP_BTREE_H

#include "overlay.h"

/* Read node `id` (referenced; node_unref when done). */
int bt_node(sop_store *s, const struct lid *id, struct node **out);
/* Load the record at loc (node image or delta chain), via the cache. */
int bt_load(sop_db *db, const struct lid *id, const struct loc *loc, struct node **out);
/* The same for registry key {id, idx}: idx 1 is a node's second copy. */
int bt_load_copy(sop_db *db, const struct lid *id, uint64_t idx, const struct loc *loc,
                 struct node **out);
/* The same, leaving the cache as it was (what it holds is still used). */
int bt_load_uncached(sop_db *db, const struct lid *id, uint64_t idx, const struct loc *loc,
                     struct node **out);

/* Find the first item with key k: *leaf referenced, *pos its index.
 * SOP_ENOTFOUND when absent (no reference then). */
int bt_find(sop_store *s, const void *k, size_t kl, struct node **leaf, uint32_t *pos);
/* Insert it after any equal keys. */
int bt_insert(sop_store *s, const struct item *it);
/* Replace the first item with key it->k (must exist). */
int bt_replace_first(sop_store *s, const struct item *it);
/* Remove the first item with key k; *old gets a copy of what was removed
 * (own bytes) when old is not NULL.  SOP_ENOTFOUND. */
int bt_remove_first(sop_store *s, const void *k, size_t kl, struct item *old);
/* Items with key k, in order, as own copies (commit re-application). */
int bt_group(sop_store *s, const void *k, size_t kl, struct item **out, size_t *n);
/* Drop the store's dirty state (before re-applying on a newer snapshot). */
void bt_reset(sop_store *s);
struct dnode *bt_dirty(sop_store *s, const struct lid *id);
/* Walk every node of the tree (drop): fn(id, node), node NULL for one that
 * does not read (damage: what is below it is not visited). */
int bt_walk(sop_store *s, int (*fn)(sop_store *, const struct lid *, struct node *, void *),
            void *arg);

/* Cursor positions: first/last item, first item >= k, one step. */
int bt_tp_first(sop_store *s, struct tpos *tp, bool last);
int bt_tp_seek(sop_store *s, const void *k, size_t kl, struct tpos *tp);
int bt_tp_step(sop_store *s, struct tpos *tp, int dir);
void bt_tp_release(struct tpos *tp);

/* A walk of the whole tree in key order that goes on past damage (check.c):
 * item() for each leaf item (its bytes valid during the call; non-zero
 * stops the walk and is returned), damaged() for each subtree that does not
 * read (between the separators lo and hi; NULL at the tree's edges), and
 * invalid() for each broken invariant, in words.  Counts what it saw. */
struct bt_visit {
    int (*item)(void *arg, sop_store *s, const struct item *it);
    void (*node)(void *arg, sop_store *s, const struct lid *id,
                 const struct node *n); /* may be NULL */
    void (*damaged)(void *arg, sop_store *s, const struct item *lo, const struct item *hi, int rc,
                    const char *why);
    void (*invalid)(void *arg, sop_store *s, const char *what);
    void *arg;
    uint64_t items, nodes;
    int leaf_depth;
};
int bt_visit(sop_store *s, struct bt_visit *v);

/* Check the tree invariants (tests): 0 or SOP_ECORRUPT. */
int bt_check(sop_store *s);

/* The byte bound of a node's image (btree.c): BT_NODE_BYTES, 32 KiB.  Tests
 * change it (0: back to the default) to make nodes of another bound. */
#ifndef BT_NODE_BYTES
#define BT_NODE_BYTES (32u << 10)
#endif
void bt_set_node_bytes(size_t bytes);

#endif
