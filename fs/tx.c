/*
 * tx.c - which transaction an operation runs in.
 *
 * An operation on paths inside an open directory scope (.sop-txn) joins the
 * scope's transaction: it holds the scope's mutex for its duration (one
 * thread per transaction) and commits nothing.  Two paths in different
 * scopes, or one inside and one outside, answer EXDEV (DESIGN.md section 3),
 * so mv falls back to copy and delete.  A failed scope (its commit failed;
 * it waits for a rollback) refuses changes with the commit's error, and
 * reads see the committed state.
 *
 * Otherwise the operation runs in a transaction of its own: a read one,
 * rolled back (nothing to validate: the answer is given already), or a
 * write one committed at the end - SOP_TXN_NOSYNC unless -o sync, made
 * durable by the engine's group flush, fsync or syncfs.  fs_run() tries a
 * write operation again, a few times with a growing pause, when its commit
 * conflicts; the operation must therefore do all its work inside fn.
 */
#include "tx.h"
#include "errors.h"
#include "path.h"
#include "scope.h"
#include "sop.h"
#include "types.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

int fs_txn_mode(const struct fs *fs)
{
    return SOP_TXN_WRITE | (fs->cfg.sync ? 0 : SOP_TXN_NOSYNC);
}

int fs_tx_begin(struct fs *fs, const struct fs_path *a, const struct fs_path *b, bool write,
                struct fs_tx *tx)
{
    tx->t = NULL;
    tx->scope = NULL;
    tx->own = false;
    tx->write = write;
    while (__atomic_load_n(&fs->nopen_scopes, __ATOMIC_ACQUIRE) > 0) {
        struct fs_scope *sa = a ? fs_scope_find(fs, a) : NULL;
        struct fs_scope *sb = b ? fs_scope_find(fs, b) : sa ? (fs_scope_ref(fs, sa), sa) : NULL;
        if (sa != sb) {
            fs_scope_put(fs, sa);
            fs_scope_put(fs, sb);
            return -EXDEV;
        }
        fs_scope_put(fs, sb);
        if (!sa)
            break;
        pthread_mutex_lock(&sa->mu);
        if (sa->state == SC_ACTIVE) {
            tx->t = sa->t;
            tx->scope = sa;
            return 0;
        }
        int state = sa->state, err = sa->fail_err;
        pthread_mutex_unlock(&sa->mu);
        fs_scope_put(fs, sa);
        if (state == SC_FAILED) {
            if (write)
                return -err;
            break;
        }
        /* it ended meanwhile: look again */
    }
    int rc = sop_txn_begin(fs->db, write ? fs_txn_mode(fs) : SOP_TXN_READ, &tx->t);
    if (rc)
        return fs_sop_err(fs, NULL, rc, "begin transaction");
    tx->own = true;
    return 0;
}

int fs_tx_end(struct fs *fs, struct fs_tx *tx, int rc)
{
    if (tx->scope) {
        if (rc == 0 && tx->write)
            tx->scope->changes++;
        pthread_mutex_unlock(&tx->scope->mu);
        fs_scope_put(fs, tx->scope);
        tx->scope = NULL;
        return rc;
    }
    if (!tx->own || !tx->t)
        return rc;
    sop_txn *t = tx->t;
    tx->t = NULL;
    if (!tx->write || rc) {
        sop_txn_rollback(t);
        if (tx->write)
            FS_STAT_ADD(fs, rollbacks, 1);
        return rc;
    }
    int c = sop_txn_commit(t);
    if (c == 0) {
        FS_STAT_ADD(fs, commits, 1);
        return 0;
    }
    FS_STAT_FAIL(fs, c);
    return fs_sop_err(fs, NULL, c, "commit");
}

int fs_run(struct fs *fs, const struct fs_path *a, const struct fs_path *b, bool write, fs_txfn fn,
           void *arg)
{
    for (int attempt = 1;; attempt++) {
        struct fs_tx tx;
        int rc = fs_tx_begin(fs, a, b, write, &tx);
        if (rc)
            return rc;
        bool own = tx.own;
        rc = fn(fs, &tx, arg);
        rc = fs_tx_end(fs, &tx, rc);
        if (rc != -EAGAIN || !own || !write || attempt >= FS_RETRIES)
            return rc;
        FS_STAT_ADD(fs, retries, 1);
        /* 0.5 ms, 1 ms, 2 ms ... with jitter, so two retrying writers part */
        struct timespec ts = {0, (long)(500000L << (attempt - 1)) + (rand() % 500000L)};
        nanosleep(&ts, NULL);
    }
}
