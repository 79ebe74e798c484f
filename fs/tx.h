/*
 * tx.h - which transaction an operation runs in (tx.c).
 */
#ifndef SOPFS_TX_H
#define SOPFS_TX_H

#include "path.h"
#include "sop.h"
#include "types.h"

#include <stdbool.h>

/* Times an auto-commit metadata operation is tried when it conflicts. */
#define FS_RETRIES 8

struct fs_tx {
    sop_txn *t;
    struct fs_scope *scope; /* borrowed, its mu held                      */
    bool own;               /* began here: commit or roll back at the end */
    bool write;
};
/* The transaction for an operation on paths a and b (b may be NULL). */
int fs_tx_begin(struct fs *fs, const struct fs_path *a, const struct fs_path *b, bool write,
                struct fs_tx *tx);
/* End it: an own write transaction commits when rc is 0.  Returns rc or
 * the commit's error. */
int fs_tx_end(struct fs *fs, struct fs_tx *tx, int rc);
typedef int (*fs_txfn)(struct fs *fs, struct fs_tx *tx, void *arg);
/* Run fn in fs_tx_begin's transaction, retried on conflict when own. */
int fs_run(struct fs *fs, const struct fs_path *a, const struct fs_path *b, bool write, fs_txfn fn,
           void *arg);
int fs_txn_mode(const struct fs *fs);

#endif /* SOPFS_TX_H */
