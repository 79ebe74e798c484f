/*
 * xattr.h - store options as extended attributes, and the xattr
 * operations (xattr.c).
 */
#ifndef SOPFS_XATTR_H
#define SOPFS_XATTR_H

#include "path.h"
#include "types.h"

#include <stddef.h>

int fs_xattr_get(struct fs *fs, const struct fs_path *p, const char *name, char **val, size_t *len);
int fs_xattr_set(struct fs *fs, const struct fs_path *p, const char *name, const char *val,
                 size_t len, int flags);
int fs_xattr_list(struct fs *fs, const struct fs_path *p, char **list, size_t *len);
int fs_xattr_remove(struct fs *fs, const struct fs_path *p, const char *name);

void fs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                    size_t size, int flags);
void fs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void fs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void fs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

#endif /* SOPFS_XATTR_H */
