/*
 * writer.h - auto-commit writers: one transaction per writing process,
 * committed at the opener's own last close (writer.c).
 */
#ifndef SOPFS_WRITER_H
#define SOPFS_WRITER_H

#include "path.h"
#include "types.h"
#include "wgroup.h"

#include <stdbool.h>
#include <sys/types.h>

/* The group a new write handle of n opened by thread pid joins: that
 * process's open group, else a new one (its transaction begun, the file's
 * committed state loaded; -EISDIR for a directory).  n->mu held. */
int fs_writer_join(struct fs *fs, struct fs_node *n, const struct fs_path *p, pid_t pid,
                   struct fs_wgroup **out);
/* A write handle of g closes for good (release): the group's last handle
 * commits what is left and frees g.  Returns the commit's -errno.  n->mu held. */
int fs_writer_leave(struct fs *fs, struct fs_node *n, struct fs_wgroup *g);
/* Begin g's transaction if it has none (a write after a commit).  n->mu held. */
int fs_writer_begin(struct fs *fs, struct fs_node *n, struct fs_wgroup *g, const struct fs_path *p);
/* Commit g's transaction (its metadata written last), or roll it back
 * when the file was unlinked meanwhile, nothing was changed, or a write
 * failed (its error is returned).  n->mu held. */
int fs_writer_commit(struct fs *fs, struct fs_node *n, struct fs_wgroup *g);
/* Commit every group of n (a rename moves the file).  n->mu held. */
void fs_writer_settle(struct fs *fs, struct fs_node *n);
/* Is this flush, by thread pid, the last close of g's opener (1), or of
 * whoever holds the file once the opener is gone?  0 no (a forked child's
 * close, a dup(2) of the opener's), -1 unknown (no /proc). n->mu held. */
int fs_writer_last_close(struct fs *fs, struct fs_node *n, struct fs_wgroup *g, pid_t pid);
/* The group whose view of n a request by thread pid is told: the caller's
 * own group, else the oldest group with a transaction if it writes through
 * the page cache (its view is everyone's), else NULL (the committed state).
 * *sole (may be NULL): that is the only group with a transaction.  n->mu held. */
struct fs_wgroup *fs_writer_view(struct fs_node *n, pid_t pid, bool *sole);
/* The group a metadata change of n by thread pid joins: the caller's own,
 * else the oldest with a transaction; NULL when none.  n->mu held. */
struct fs_wgroup *fs_writer_for(struct fs_node *n, pid_t pid);
/* The attributes of n as g's transaction has them.  n->mu held. */
int fs_writer_attr(struct fs *fs, struct fs_node *n, struct fs_wgroup *g, const struct fs_path *p,
                   struct fs_attr *a);

#endif /* SOPFS_WRITER_H */
