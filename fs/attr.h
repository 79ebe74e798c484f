/*
 * attr.h - attributes: what the kernel is told of an entry (attr.c).
 */
#ifndef SOPFS_ATTR_H
#define SOPFS_ATTR_H

#include "path.h"
#include "types.h"
#include "wgroup.h"

#include <stdbool.h>
#include <sys/types.h>

/* The entry the kernel is told of node n with attributes a (what lookup,
 * readdirplus and the calls that make a node answer); a control file's
 * attributes are never cached. */
void fs_attr_entry(struct fs *fs, const struct fs_node *n, const struct fs_attr *a,
                   struct fuse_entry_param *e);
/* The attributes of control file n in its directory, whose attributes are
 * dir (NULL: the mount's owner owns it): a file owned as its directory,
 * dated now. */
void fs_attr_ctl(struct fs *fs, const struct fs_node *n, const struct fs_attr *dir,
                 struct fs_attr *a);
/* Resolve p in a read transaction of its own, or in its scope's (tx.c). */
int fs_attr_resolve(struct fs *fs, const struct fs_path *p, struct fs_attr *a);
/* What the kernel is told of n: sole_view when it is the view of n's only
 * writer group with a transaction, which its commit makes the committed one
 * (fs_writer_commit). */
void fs_attr_remember(struct fs *fs, struct fs_node *n, const struct fs_attr *a, bool sole_view);
/* The attributes of file n as the caller (thread pid, or a write handle's
 * group g) is told them while writers are open (writer.c): 1 with *a
 * filled and *sole set, 0 to tell the committed state, or -errno.  While a
 * writer is open, *timeout becomes 0. */
int fs_attr_writer_view(struct fs *fs, struct fs_node *n, struct fs_wgroup *g, pid_t pid,
                        const struct fs_path *p, struct fs_attr *a, bool *sole, double *timeout);

void fs_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                   struct fuse_file_info *fi);
void fs_op_readlink(fuse_req_t req, fuse_ino_t ino);

#endif /* SOPFS_ATTR_H */
