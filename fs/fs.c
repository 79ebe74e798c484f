/*
 * fs.c - the FUSE session of sopfs: the operations table, init and
 * destroy, and opening and closing the layer (fs.h).
 *
 * Why the low-level API (fuse_lowlevel.h): the inode numbers are ours
 * (inode.c), so a rename is one change in our table and open handles follow
 * it; lookup counts and forget tell us when a name may be dropped; every
 * open handle carries its own state (the transaction a writer holds until
 * close, the snapshot a reader reads); and replies may come from any thread
 * of the loop (loop.c).  The high-level API would hand us a path per
 * call and hide the handles' lifetimes across renames.
 *
 * The operations live in the modules named for what they hold.  Each is
 * fs_do_<op>(), which does the work and returns 0 or -errno, and
 * fs_op_<op>(), which replies to the kernel exactly once and is what the
 * table below names:
 *   entry.c   lookup, forget, mknod, mkdir, symlink, link, unlink, rmdir,
 *             rename
 *   attr.c    getattr, setattr, readlink
 *   file.c    open, create, read, write, flush, release, fsync
 *   dir.c     opendir, readdir, readdirplus, releasedir, fsyncdir
 *   xattr.c   setxattr, getxattr, listxattr, removexattr
 *   statfs.c  statfs
 *
 * Transactions (DESIGN.md section 3): a file open for writing holds a write
 * transaction until its opener's own last close, a reader reads a snapshot
 * taken at open (file.c, writer.c); every other change (mkdir, rmdir,
 * unlink, rename, setattr, symlink, setxattr) is one transaction, retried
 * on conflict (tx.c); inside an open directory scope (.sop-txn) everything
 * joins the scope's transaction instead (tx.c, scope.c).
 *
 * fs_open opens the database, says what its recovery cut or skipped, makes
 * the metadata store (names.c) when it is missing and starts the
 * notification thread (notify.c); fs_close rolls back what is still open
 * (a file never closed was never committed) and closes the database.
 * They call inode.c, scope.c, handle.c, notify.c, names.c (FS_META_STORE),
 * errors.c, clock.c and log.c.
 */
#include "fs.h"
#include "attr.h"
#include "clock.h"
#include "dir.h"
#include "entry.h"
#include "errors.h"
#include "file.h"
#include "handle.h"
#include "inode.h"
#include "log.h"
#include "names.h"
#include "notify.h"
#include "scope.h"
#include "sop.h"
#include "statfs.h"
#include "types.h"
#include "xattr.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

/* ------------------------------------------------------------ session */

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
    (void)userdata;
    if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
        conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;         /* O_TRUNC inside the writer's transaction */
    conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE; /* writes must reach us at once */
    /* the page cache is kept or dropped at open by generation (file.c); with
     * auto_inval_data the kernel would also drop it whenever an attribute
     * refresh shows a new mtime, which every commit makes */
    conn->want &= ~(unsigned)FUSE_CAP_AUTO_INVAL_DATA;
    if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
        conn->want |= FUSE_CAP_PARALLEL_DIROPS;
    conn->max_write = FS_MAX_IO; /* libfuse caps it at its buffer size */
    /* requests are read into memory, never spliced into a pipe: the loop
     * (loop.c) looks at each request's header and may hand the buffer to
     * another thread, and libfuse's pipes belong to the reading thread */
    conn->want &= ~(unsigned)FUSE_CAP_SPLICE_READ;
}

static void op_destroy(void *userdata)
{
    struct fs *fs = userdata;
    fs_set_session(fs, NULL);
}

static const struct fuse_lowlevel_ops ops = {
    .init = op_init,
    .destroy = op_destroy,
    .lookup = fs_op_lookup,
    .forget = fs_op_forget,
    .forget_multi = fs_op_forget_multi,
    .getattr = fs_op_getattr,
    .setattr = fs_op_setattr,
    .readlink = fs_op_readlink,
    .mknod = fs_op_mknod,
    .mkdir = fs_op_mkdir,
    .unlink = fs_op_unlink,
    .rmdir = fs_op_rmdir,
    .symlink = fs_op_symlink,
    .rename = fs_op_rename,
    .link = fs_op_link,
    .open = fs_op_open,
    .read = fs_op_read,
    .write = fs_op_write,
    .flush = fs_op_flush,
    .release = fs_op_release,
    .fsync = fs_op_fsync,
    .opendir = fs_op_opendir,
    .readdir = fs_op_readdir,
    .readdirplus = fs_op_readdirplus,
    .releasedir = fs_op_releasedir,
    .fsyncdir = fs_op_fsyncdir,
    .statfs = fs_op_statfs,
    .setxattr = fs_op_setxattr,
    .getxattr = fs_op_getxattr,
    .listxattr = fs_op_listxattr,
    .removexattr = fs_op_removexattr,
    .create = fs_op_create,
};

const struct fuse_lowlevel_ops *fs_ops(void)
{
    return &ops;
}

/* ------------------------------------------------------------ life */

static int ensure_meta_store(struct fs *fs, char *err, size_t errlen)
{
    sop_txn *t;
    sop_store *s;
    int rc = sop_txn_begin(fs->db, SOP_TXN_WRITE, &t);
    if (rc) {
        snprintf(err, errlen, "begin: %s", sop_strerror(rc));
        return -fs_errno_of(rc);
    }
    rc = sop_store_open(t, FS_META_STORE, &s);
    if (rc == 0) {
        sop_txn_rollback(t);
        return 0;
    }
    if (rc == SOP_ENOTFOUND) {
        sop_store_options o = {
            .unique = true,
            .value_in_node = true,
            .description = "sopfs: metadata (type, mode, owner, times) of the files of every "
                           "store; maintained by sopfs",
        };
        rc = sop_store_create(t, FS_META_STORE, &o, &s);
        if (rc == 0) {
            rc = sop_txn_commit(t);
            if (rc)
                snprintf(err, errlen, "create the metadata store: %s: %s", sop_strerror(rc),
                         sop_db_errmsg(fs->db));
            return rc ? -fs_errno_of(rc) : 0;
        }
    }
    snprintf(err, errlen, "open the metadata store: %s: %s", sop_strerror(rc), sop_txn_errmsg(t));
    sop_txn_rollback(t);
    return -fs_errno_of(rc);
}

int fs_open(const struct fs_config *cfg, struct fs **out, char *err, size_t errlen)
{
    struct fs *fs = calloc(1, sizeof(*fs));
    int rc;
    if (!fs) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    fs->cfg = *cfg;
    fs->cfg.data_dir = NULL;
    fs->cfg.redis_url = NULL;
    fs->data_dir = strdup(cfg->data_dir);
    fs->cfg.mountpoint = cfg->mountpoint ? (fs->mountpoint = strdup(cfg->mountpoint)) : NULL;
    fs->clustered = cfg->redis_url != NULL;
    fs->uid = geteuid();
    fs->gid = getegid();
    fs->start_ns = fs_now_ns();
    pthread_mutex_init(&fs->mu, NULL);
    pthread_mutex_init(&fs->scope_mu, NULL);
    pthread_mutex_init(&fs->note_mu, NULL);
    pthread_cond_init(&fs->note_cv, NULL);
    pthread_condattr_t ca; /* fs_notify_flush waits by the monotonic clock */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&fs->note_sent_cv, &ca);
    pthread_condattr_destroy(&ca);
    if (!fs->data_dir || (rc = fs_nodes_init(fs)) != 0) {
        snprintf(err, errlen, "out of memory");
        rc = -ENOMEM;
        goto fail;
    }
    sop_db_options o = {
        .redis_url = cfg->redis_url,
        .cache_bytes = cfg->cache_bytes,
        .txn_max_age_ms = cfg->txn_max_age_ms,
        .flush_interval_ms = cfg->flush_interval_ms,
    };
    rc = sop_db_open(fs->data_dir, &o, &fs->db);
    if (rc) {
        /* the library's own reason: "checkpoint ... is damaged", "commit 220
         * follows commit 218", "in use by another process (it holds ...)" */
        const char *why = sop_open_errmsg();
        if (why && *why) /* "open DIR: the database is in use by another process (it holds ...)" */
            snprintf(err, errlen, "%s (%s)", why, sop_strerror(rc));
        else
            snprintf(err, errlen, "open the database in %s: %s", fs->data_dir, sop_strerror(rc));
        rc = -fs_errno_of(rc);
        fs->db = NULL;
        goto fail;
    }
    /* what recovery cut or skipped is said loudly, once, at mount */
    const char *rep = sop_db_recovery_report(fs->db);
    for (const char *l = rep; *l;) {
        const char *e = strchr(l, '\n');
        size_t n = e ? (size_t)(e - l) : strlen(l);
        fs_log(LOG_WARNING, "recovery of %s: %.*s", fs->data_dir, (int)n, l);
        l += n + (e != NULL);
    }
    if ((rc = ensure_meta_store(fs, err, errlen)) != 0)
        goto fail;
    if ((rc = fs_notify_start(fs)) != 0) {
        snprintf(err, errlen, "start the notification thread: %s", strerror(-rc));
        goto fail;
    }
    *out = fs;
    return 0;
fail:
    fs_close(fs);
    return rc;
}

void fs_close(struct fs *fs)
{
    if (!fs)
        return;
    fs_notify_stop(fs);
    if (fs->open_files)
        fs_log(LOG_WARNING,
               "%u files still open at unmount: their uncommitted changes are "
               "discarded",
               fs->open_files);
    fs_handles_free(fs); /* the kernel will send no release any more */
    fs_scopes_free(fs);
    fs_nodes_free(fs);
    sop_db_close(fs->db);
    pthread_mutex_destroy(&fs->mu);
    pthread_mutex_destroy(&fs->scope_mu);
    pthread_mutex_destroy(&fs->note_mu);
    pthread_cond_destroy(&fs->note_cv);
    pthread_cond_destroy(&fs->note_sent_cv);
    free(fs->data_dir);
    free(fs->mountpoint);
    free(fs);
}
