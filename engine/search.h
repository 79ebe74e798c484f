/*
 * search.h - search stores (search.c) and vector stores (vector.c): the
 * engine-internal side.  The public calls are in sop.h.
 */
#ifndef SOP_SEARCH_H
#define SOP_SEARCH_H

#include "overlay.h"

/* The name of store s's index ("." "sopsearch-" + 32 hex digits of its
 * identity); `out` has room for SEARCH_NAME_MAX bytes. */
#define SEARCH_NAME_PREFIX ".sopsearch-"
#define SEARCH_NAME_MAX 48
void search_index_name(const sop_store *s, char *out);

#endif
