/*
 * handle.h - open handles, listed for the unmount (handle.c).
 */
#ifndef SOPFS_HANDLE_H
#define SOPFS_HANDLE_H

#include "internal.h"

/* Put h on fs->handles (fs->open_files counts it): from its open ... */
void fs_handle_track(struct fs *fs, struct fs_handle *h);
/* ... to its release. */
void fs_handle_untrack(struct fs *fs, struct fs_handle *h);
/* Free h, not or no longer tracked: its snapshot rolled back, its references on its node
 * and scope given back. */
void fs_handle_free(struct fs *fs, struct fs_handle *h);
/* At unmount, free every handle still open (the kernel will send no release
 * any more): snapshots rolled back, nodes and scopes left to their own
 * teardown. */
void fs_handles_free(struct fs *fs);

#endif /* SOPFS_HANDLE_H */
