/*
 * rwset.h - a transaction's read and write sets per store (rwset.c).
 */
#ifndef SOP_RWSET_H
#define SOP_RWSET_H

#include "overlay.h"

void keyset_free(struct keyset *ks);
/* Sort and deduplicate (the key bytes stay where they are). */
void keyset_settle(struct keyset *ks);
/* After keyset_settle. */
bool keyset_holds(const struct keyset *ks, const struct item *k);
int rw_note_read(sop_store *s, const void *k, size_t kl);
int rw_note_write(sop_store *s, const void *k, size_t kl);
/* A write that was only a merge (sop_merge): flagged in the write set, so
 * that other transactions' reads of the key do not conflict with it. */
int rw_note_merge(sop_store *s, const void *k, size_t kl);
int rw_range_add(sop_store *s, const struct krange *r);
int rw_range_all(sop_store *s);
int rw_key_cmp(const void *a, const void *b);
void rw_items_sort(struct item *v, size_t *n);
/* The entry of sorted set v equal to k, or NULL. */
struct item *rw_items_find(struct item *v, size_t n, const struct item *k);
bool rw_in_range(const struct krange *r, const struct item *k);

#endif
