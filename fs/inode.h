/*
 * inode.h - the inode table: the nodes the kernel knows (inode.c).
 */
#ifndef SOPFS_INODE_H
#define SOPFS_INODE_H

#include "path.h"
#include "types.h"

int fs_nodes_init(struct fs *fs);
void fs_nodes_free(struct fs *fs);
/* The node numbered ino, with one reference more; NULL if unknown. */
struct fs_node *fs_node_get(struct fs *fs, fuse_ino_t ino);
void fs_node_ref(struct fs *fs, struct fs_node *n);
void fs_node_put(struct fs *fs, struct fs_node *n);
/* Find or make the node of (parent, name) and count one kernel lookup.
 * A node of another kind, type or link under that name is detached first.
 * link (NULL: not hard-linked): every name of one hard-linked file maps to
 * one node, found by its link. */
struct fs_node *fs_node_lookup(struct fs *fs, struct fs_node *parent, const char *name, int kind,
                               uint8_t type, const uint8_t *link);
/* The node of hard-linked file `link`, referenced, or NULL. */
struct fs_node *fs_node_by_link(struct fs *fs, const uint8_t link[16]);
/* Node n became hard-linked (a first link(2)): its path is its inode's. */
void fs_node_set_link(struct fs *fs, struct fs_node *n, const uint8_t link[16]);
/* The last name of hard-linked file `link` is gone: its node is detached. */
void fs_node_detach_link(struct fs *fs, const uint8_t link[16]);
/* Name (parent, name) of a hard-linked file is gone while others remain:
 * it maps to nothing, the file's node stays. */
void fs_node_unname(struct fs *fs, struct fs_node *parent, const char *name);
void fs_node_forget(struct fs *fs, fuse_ino_t ino, uint64_t nlookup);
/* The node named (parent, name), referenced, or NULL. */
struct fs_node *fs_node_child(struct fs *fs, struct fs_node *parent, const char *name);
/* The name no longer maps to its node (unlink, rmdir, replaced by rename). */
void fs_node_detach(struct fs *fs, struct fs_node *parent, const char *name);
/* Rename in the table: (parent, name) becomes (np, nname). */
int fs_node_move(struct fs *fs, struct fs_node *parent, const char *name, struct fs_node *np,
                 const char *nname);
/* The path of a node (for control files, of their directory). */
int fs_node_path(struct fs *fs, struct fs_node *n, struct fs_path *p);
/* Call fn for every node at or below path p (scope ends), under fs->mu. */
void fs_nodes_under(struct fs *fs, const struct fs_path *p,
                    void (*fn)(struct fs *, struct fs_node *, void *), void *arg);

#endif /* SOPFS_INODE_H */
