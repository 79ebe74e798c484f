/*
 * loop.h - the request loop (loop.c).
 */
#ifndef SOPFS_LOOP_H
#define SOPFS_LOOP_H

#include "options.h"

/* The daemon includes this header: struct fs stays opaque to it (types.h). */
struct fs;

/* Run the request loop (fs/loop.c) until unmounted or told to exit: the
 * calling thread answers quick requests itself and hands those that may
 * block to up to `workers` threads (0: it answers everything); between
 * requests it polls the device for up to spin_us microseconds before
 * sleeping (0: never).  Returns 0 or -errno. */
int fs_loop(struct fs *fs, struct fuse_session *se, unsigned workers, unsigned spin_us);

#endif /* SOPFS_LOOP_H */
