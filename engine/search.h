/*
 * search.h - search stores (search.c) and vector stores (vector.c): the
 * engine-internal side.  The public calls are in sop.h.
 */
#ifndef SOP_SEARCH_H
#define SOP_SEARCH_H

#include "txn.h"

/*
 * The commit hook (txn.c calls it first thing in sop_txn_commit): bring the
 * inverted index of every search store the transaction wrote up to date,
 * inside the transaction, so the index commits or fails with the documents.
 * Also drops the index of a dropped store and of a store whose kind changed
 * away from "search".  Returns 0 or a SOP_E* code (the transaction is then
 * poisoned, its message says why).  Read transactions: nothing to do.
 */
int search_commit_hook(sop_txn *t);

/* The name of store s's index ("." "sopsearch-" + 32 hex digits of its
 * identity); `out` has room for SEARCH_NAME_MAX bytes. */
#define SEARCH_NAME_PREFIX ".sopsearch-"
#define SEARCH_NAME_MAX 48
void search_index_name(const sop_store *s, char *out);

#endif
