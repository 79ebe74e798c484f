/*
 * item.h - items of a transaction's stores (item.c): what the cursors and
 * the commit use of them.
 */
#ifndef SOP_ITEM_H
#define SOP_ITEM_H

#include "overlay.h"

/* 0 if k may be a key of store s (length), else SOP_EINVAL with the transaction's message. */
int item_check_key(sop_store *s, const void *k, size_t kl);
/* Apply merge m to its key now, in this transaction (item.c says what a
 * merge is); commit applies it again onto newer values (txn.c C4). */
int item_merge_apply(sop_store *s, struct merge *m);
/* Hand out the value of item `it` in leaf `leaf`: inline bytes are pinned
 * in place, external ones read into a scratch buffer. */
int item_hand_out(sop_store *s, struct node *leaf, const struct item *it, const void **v,
                  size_t *vl);

#endif
