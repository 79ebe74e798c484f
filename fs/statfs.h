/*
 * statfs.h - the mount's size and free space (statfs.c).
 */
#ifndef SOPFS_STATFS_H
#define SOPFS_STATFS_H

#include "options.h"

void fs_op_statfs(fuse_req_t req, fuse_ino_t ino);

#endif /* SOPFS_STATFS_H */
