/*
 * kind.h - the kinds of store ("records", "search", "vector") and what each
 * adds to the transaction core: a table the kinds register into by defining
 * their entry (kind_search in search.c, kind_vector in vector.c), which
 * store.c, txn.c and check.c consult without knowing any kind by name.
 *
 * A kind may keep stores of its own beside the user's (search keeps an
 * inverted index per search store): their names start with the kind's
 * hidden prefix, and sop_store_list and sop check leave them out.  A kind
 * may also need to act in every write transaction before it commits (search
 * brings its indexes up to date inside the transaction, so they commit or
 * fail with the documents): its commit hook, run in table order, first thing
 * in sop_txn_commit.
 */
#ifndef SOP_KIND_H
#define SOP_KIND_H

#include "sop.h"

#include <stdbool.h>

struct store_kind {
    const char *name;          /* as in sop_store_options.kind */
    const char *hidden_prefix; /* names of the kind's own stores, or NULL */
    /* Before t commits (write transactions only): 0, or a SOP_E* code with
     * t's message set (the commit then fails with it).  NULL: nothing. */
    int (*commit)(sop_txn *t);
};

extern const struct store_kind kind_records, kind_search, kind_vector;

/* The kind named `name` (NULL or "": records), or NULL if none is. */
const struct store_kind *kind_find(const char *name);
/* The kinds' names for a message: "records, search or vector". */
const char *kind_names(void);
/* Is `name` one of a kind's own stores (hidden from listings)? */
bool kind_hidden_name(const char *name);
/* Every kind's commit hook for t, in table order; the first failure. */
int kind_commit_all(sop_txn *t);

#endif
