/*
 * query.h - the query file of search and vector stores (query.c).
 */
#ifndef SOPFS_QUERY_H
#define SOPFS_QUERY_H

#include "path.h"
#include "types.h"

#include <stddef.h>

enum { FS_Q_SEARCH = 1, FS_Q_VECTOR = 2 };
/* The query kind of store `store` (FS_Q_*), 0 for records. */
int fs_query_kind(struct fs *fs, const struct fs_path *store, int *kind);
/* Run the query written in buf (see query.c) on store `store`, in its kind;
 * the answer (malloc'd) in *text.  -EINVAL for a query that does not parse
 * or a store of neither kind. */
int fs_query_run(struct fs *fs, const struct fs_path *store, const char *buf, size_t len,
                 char **text, size_t *text_len);

#endif /* SOPFS_QUERY_H */
