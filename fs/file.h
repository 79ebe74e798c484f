/*
 * file.h - open files and their I/O (file.c).
 */
#ifndef SOPFS_FILE_H
#define SOPFS_FILE_H

#include "handle.h"
#include "types.h"

/* fsync: commit the writer group of h (NULL: none, as for a directory)
 * and make the database durable. */
int fs_do_fsync(struct fs *fs, struct fs_handle *h);

void fs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                  struct fuse_file_info *fi);
void fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void fs_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                 struct fuse_file_info *fi);
void fs_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);

#endif /* SOPFS_FILE_H */
