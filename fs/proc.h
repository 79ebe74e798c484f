/*
 * proc.h - who closes a file: the process behind a request and the
 * descriptors it still holds (proc.c).
 */
#ifndef SOPFS_PROC_H
#define SOPFS_PROC_H

#include "types.h"

#include <stdbool.h>
#include <sys/types.h>

/* The process (thread group) of thread pid; 0 when unknown. */
pid_t fs_proc_tgid(pid_t pid);
/* Does process tgid hold a descriptor of inode ino of this mount (one open
 * for writing, with write_only)?  1 yes, 0 no, -1 unknown. */
int fs_proc_holds(struct fs *fs, pid_t tgid, fuse_ino_t ino, bool write_only);

/* Does process tgid map inode ino of this mount?  1, 0, -1 unknown. */
int fs_proc_maps(struct fs *fs, pid_t tgid, fuse_ino_t ino);
/* May the handle that thread pid opened on ino still be read: does its
 * process still hold a descriptor of the file or a mapping of it?  1, 0
 * (closed: its release is on its way), -1 unknown. */
int fs_proc_reading(struct fs *fs, pid_t pid, fuse_ino_t ino);

#endif /* SOPFS_PROC_H */
