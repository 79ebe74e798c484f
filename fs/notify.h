/*
 * notify.h - telling the kernel to drop what it cached (notify.c).
 */
#ifndef SOPFS_NOTIFY_H
#define SOPFS_NOTIFY_H

#include "options.h"

/* The daemon includes this header: struct fs stays opaque to it (types.h). */
struct fs;

/* The session the notifications (cache invalidations) go to; NULL stops them. */
void fs_set_session(struct fs *fs, struct fuse_session *se);
/* Start and stop the thread that sends the queued invalidations. */
int fs_notify_start(struct fs *fs);
void fs_notify_stop(struct fs *fs);
/* Drop the kernel's attributes and pages of ino. */
void fs_notify_inode(struct fs *fs, fuse_ino_t ino);
/* Drop the kernel's attributes of ino now, before the caller replies. */
void fs_notify_attr_now(struct fs *fs, fuse_ino_t ino);
/* Drop the kernel's entry name in parent. */
void fs_notify_entry(struct fs *fs, fuse_ino_t parent, const char *name);
/* Wait until every invalidation queued before the call has been sent (the
 * kernel has acted on it), at most timeout_ms: 0, or -ETIMEDOUT when some
 * are still queued or being sent then.  Only from a request on an inode
 * whose invalidations are not among them, with no lock of the layer held
 * (notify.c says why). */
int fs_notify_flush(struct fs *fs, unsigned timeout_ms);

#endif /* SOPFS_NOTIFY_H */
