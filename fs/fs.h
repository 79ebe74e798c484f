/*
 * fs.h - the FUSE layer as the daemon (src/sopfs.c) opens and closes it
 * (fs.c).
 *
 * The layer is a set of low-level FUSE operations over one open sop
 * database.  The daemon parses options into a struct fs_config
 * (options.h), opens the layer with fs_open(), hands fs_ops() to
 * fuse_session_new() with the fs as userdata, tells the layer its session
 * (fs_set_session, notify.h) so it can send cache invalidations, runs the
 * loop (fs_loop, loop.h) and finally calls fs_close(); it logs through
 * log.h.  struct fs stays opaque to it.
 *
 * Ownership: fs_open() copies what it needs of the config; fs_close() ends
 * every transaction still open (rolled back: a file never closed was never
 * committed) and closes the database.
 */
#ifndef SOPFS_FS_H
#define SOPFS_FS_H

#include "options.h"

#include <stddef.h>

struct fs;

/* Open the database and build the layer.  Returns 0 or -errno, with a
 * sentence in err. */
int fs_open(const struct fs_config *cfg, struct fs **out, char *err, size_t errlen);
/* The operations table; pass the struct fs as userdata. */
const struct fuse_lowlevel_ops *fs_ops(void);
/* End everything and close the database.  NULL is a no-op. */
void fs_close(struct fs *fs);

#endif /* SOPFS_FS_H */
