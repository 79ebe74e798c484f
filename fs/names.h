/*
 * names.h - the namespace: how a tree of files is laid out in sop stores
 * (names.c has the layout and the record format).
 */
#ifndef SOPFS_NAMES_H
#define SOPFS_NAMES_H

#include "path.h"
#include "sop.h"
#include "types.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The store holding the metadata records. */
#define FS_META_STORE ".sopfs"
/* Longest name of a file, directory or store. */
#define FS_MAX_NAME 255u
/* Bytes moved per step when a value is copied (rename across keys); also
 * the most an appending writer replays after a conflict (writer.c). */
#define FS_PIECE (1u << 20)
/* The most names a file may have (EMLINK beyond). */
#define FS_LINK_MAX 65000
/* A directory made where its key would be longer is made at a base of its
 * own, with a short key (the depth of a tree is not bounded). */
#define FS_REBASE_AT 2048u

/*
 * Reserved names (DESIGN.md section 3 reserves ".sop*"): at the root every
 * name starting with ".sop" (the engine's own stores, such as ".sopfs");
 * below it ".sop" and ".sop-" followed by lowercase letters, digits and '-'
 * only: the control files, present (.sop-txn, .sop-stats) and future.
 * Narrower than ".sop*" on purpose: rsync writes "sop.h" through a temporary
 * ".sop.h.XXXXXX", and such names (with a second '.') must stay possible.
 */
bool fs_name_reserved(const char *name, size_t len, bool root);
/* 0 if name may be created in a directory (root: at the mount root). */
int fs_name_check(const char *name, bool root);
void fs_meta_default(const struct fs *fs, uint8_t type, struct fs_meta *m);
int fs_ns_resolve(struct fs *fs, sop_txn *t, const struct fs_path *p, struct fs_attr *a);
int fs_ns_meta_put(struct fs *fs, sop_txn *t, const struct fs_path *p, const struct fs_meta *m);
int fs_ns_meta_del(struct fs *fs, sop_txn *t, const struct fs_path *p, uint8_t type);
/* An entry of directory dir was made (dsub +1 for a directory), removed
 * (dsub -1 for one) or renamed: its mtime and ctime become now (or stay,
 * if later), its count of subdirectories moves by dsub.  A merge
 * (sop_merge): parallel changes in one directory do not conflict. */
int fs_ns_dir_touch(struct fs *fs, sop_txn *t, const struct fs_path *dir, int64_t now, int dsub);
int fs_ns_open_store(struct fs *fs, sop_txn *t, const char *name, sop_store **s);
/* Is the directory p empty?  0 yes, -ENOTEMPTY, or -errno. */
int fs_ns_empty(struct fs *fs, sop_txn *t, const struct fs_path *p);
/* Remove an entry (file, symlink, directory record) and its metadata.  A
 * name of a hard-linked file takes one from its inode's count, and the
 * inode goes with the last; *left (may be NULL) gets the names left (0 for
 * an entry that was not linked). */
int fs_ns_remove(struct fs *fs, sop_txn *t, const struct fs_path *p, uint8_t type, uint64_t *left);
/* Hard links: make dst a new name of the file named src (not a
 * directory), in the same store.  The first link moves the file's value and
 * record to its inode (".sop-inodes/ID" of the store, hidden) and makes
 * src a name of it; *a gets the inode's attributes after. */
int fs_ns_link(struct fs *fs, sop_txn *t, const struct fs_path *src, const struct fs_path *dst,
               struct fs_attr *a);
/* The path of the inode of a hard-linked file in store `store`. */
int fs_ns_inode_path(const char *store, const uint8_t link[16], struct fs_path *out);
/* The path of the base of a directory made deep (FS_REBASE_AT). */
int fs_ns_base_path(const char *store, const uint8_t link[16], struct fs_path *out);
/* Make directory p (record m): at a base of its own when its key is longer
 * than FS_REBASE_AT; m->linked and m->link say so after. */
int fs_ns_mkdir(struct fs *fs, sop_txn *t, const struct fs_path *p, struct fs_meta *m);
/* The path whose children are directory p's (a, resolved): its base for a
 * directory made deep, else p. */
int fs_ns_dir_path(const struct fs_path *p, const struct fs_attr *a, struct fs_path *out);
/* Move an entry (a whole subtree for a directory) to an absent dst. */
int fs_ns_move(struct fs *fs, sop_txn *t, const struct fs_path *src, uint8_t type,
               const struct fs_path *dst);
/* Rename a store: a new store with the same options and content. */
int fs_ns_move_store(struct fs *fs, sop_txn *t, const char *src, const char *dst);
/* List the children of directory p after sort key `after` (len 0: from the
 * start).  fn returns non-zero to stop before taking the entry; that value
 * is returned. */
typedef int (*fs_list_fn)(const char *name, size_t nlen, unsigned dtype, const char *sortkey,
                          size_t sklen, void *arg);
int fs_ns_list(struct fs *fs, sop_txn *t, const struct fs_path *p, const char *after,
               size_t after_len, fs_list_fn fn, void *arg);

#endif /* SOPFS_NAMES_H */
