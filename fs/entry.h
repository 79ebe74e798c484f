/*
 * entry.h - entries: names in directories, looked up, made, linked,
 * removed, renamed (entry.c).
 */
#ifndef SOPFS_ENTRY_H
#define SOPFS_ENTRY_H

#include "options.h"

#include <stdbool.h>
#include <stdint.h>

/* Make an entry of `type` named name in parent: a file, a directory (a
 * store at the root), a symbolic link to target, or a special file (device
 * number rdev), in a transaction of its own (or the scope's).  flags: the
 * open flags of create, 0 otherwise; create without O_EXCL takes a file
 * that exists (*existed, may be NULL, says so).  e receives the entry, with
 * one lookup counted. */
int fs_entry_make(fuse_req_t req, fuse_ino_t parent, const char *name, uint8_t type, mode_t mode,
                  const char *target, uint64_t rdev, int flags, struct fuse_entry_param *e,
                  bool *existed);

void fs_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void fs_op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets);
void fs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev);
void fs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void fs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name);
void fs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname);
void fs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                  const char *newname, unsigned int flags);

#endif /* SOPFS_ENTRY_H */
