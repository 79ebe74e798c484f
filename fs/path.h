/*
 * path.h - where an entry lives in sop: a store and a key inside it.
 *
 * A path is the pair the namespace (names.c) maps a name to: the store, and
 * the key of the entry inside it.  The inode table (inode.c) builds a
 * node's path from the names on its way up; scopes (scope.c) compare paths
 * to find which scope covers an operation.  This module knows nothing of
 * nodes, transactions or metadata: it copies, extends and compares.
 *
 * Ownership: a path owns its strings (malloc'd); fs_path_free() frees them
 * and leaves an empty path (the root), so it may be called again.  The
 * functions that fill *out leave it empty on error.
 */
#ifndef SOPFS_PATH_H
#define SOPFS_PATH_H

#include "sop.h"

#include <stdbool.h>
#include <stddef.h>

/* Longest key below a store: the metadata key adds "store/" and a '/'. */
#define FS_MAX_KEY (SOP_MAX_KEY - SOP_MAX_STORE_NAME - 2u)

/* Where a node lives: store NULL is the root; key "" is the store itself. */
struct fs_path {
    char *store;
    char *key;
    size_t klen;
};

void fs_path_free(struct fs_path *p);
/* dir's child `name`: a store when dir is the root.  -ENAMETOOLONG past
 * SOP_MAX_STORE_NAME (a store) or FS_MAX_KEY (a key). */
int fs_path_child(const struct fs_path *dir, const char *name, struct fs_path *out);
int fs_path_copy(const struct fs_path *p, struct fs_path *out);
bool fs_path_equal(const struct fs_path *a, const struct fs_path *b);
/* Is p at or below dir? */
bool fs_path_under(const struct fs_path *p, const struct fs_path *dir);

#endif /* SOPFS_PATH_H */
