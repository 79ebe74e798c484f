/*
 * file.c - open files and their I/O: open, create, read, write, flush,
 * release, fsync.
 *
 * Transactions (DESIGN.md section 3):
 *  - a file opened for writing holds a write transaction from open to the
 *    opener's own last close (writer.c: per process, fork- and dup-safe):
 *    that flush commits it and returns the commit's error, EAGAIN on
 *    conflict, EIO, ENOSPC, or the error of a write that failed in it;
 *    release commits what was written after that (through a mapping, or a
 *    child that held the descriptor on); fsync commits and syncs the
 *    database.  open(O_TRUNC) truncates inside that transaction
 *    (atomic_o_trunc), so readers see the old content until close.
 *  - create commits the empty file at once (others see it, as on any
 *    filesystem: entry.c makes it), then opens it as above.
 *  - a reader handle reads one snapshot, taken at open, renewed once it
 *    read to the end of a file that grew by appends since (tail -f).
 *    Readers and writers have no maximum age (SOP_TXN_NOAGE): a copy or a
 *    stream ends them at close, however long it takes; only .sop-txn
 *    scopes have one.
 *  - a handle opened inside an open directory scope (.sop-txn) reads and
 *    writes in the scope's transaction; once the scope has ended it is an
 *    ordinary handle (in a failed scope, its writes fail with the commit's
 *    error).
 *
 * Kernel caching.  The page cache is shared by every handle
 * of an inode, so uncommitted bytes may be in it only while no other handle
 * reads from it.  A writer group writes through it (no writeback cache:
 * every write still reaches us at once) when no reader using it and no
 * other writer was open when the group began (fs_wgroup.cached); readers
 * opened while a writer is open are direct_io; at the commit, the pages
 * the group left are the committed content, which the next readers keep,
 * and after a failed commit or write they are dropped at the next open.
 * Otherwise a writer's handle is direct_io.  A reader uses the page cache
 * only when no writer has the file open and the cached pages come from
 * its own generation of the content (node->gen, bumped by each commit):
 * keep_cache then (never in clustered mode, where other mounts commit
 * too), direct_io otherwise; an open without keep_cache makes the kernel
 * drop the inode's pages.  Handles inside a scope are direct_io.
 *
 * The control files are opened, read and written here too: a read gives
 * the handle's text (.sop-txn's state, .sop-stats, a query's answer), a
 * write runs a scope command (scope.c) or a query (query.c).
 *
 * Calls writer.c (groups), handle.c, inode.c, names.c, tx.c, scope.c,
 * query.c, entry.c (create makes the file), and errors.c, clock.c, log.c.
 */
#include "file.h"
#include "clock.h"
#include "entry.h"
#include "errors.h"
#include "handle.h"
#include "inode.h"
#include "log.h"
#include "names.h"
#include "path.h"
#include "query.h"
#include "scope.h"
#include "sop.h"
#include "tx.h"
#include "types.h"
#include "wgroup.h"
#include "writer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>

/* ------------------------------------------------------------ open */

/* A reader's snapshot, and the path of its file in it: a file renamed
 * meanwhile is still read where the snapshot has it (a reader of a log
 * that logrotate renames reads on to its end).  The path is taken after
 * the snapshot, so it is never older than it; h->mu held or h unshared. */
static int reader_snapshot(struct fs *fs, struct fs_handle *h)
{
    struct fs_path p;
    int rc = sop_txn_begin(fs->db, SOP_TXN_READ | SOP_TXN_NOAGE, &h->rtxn);
    if (rc)
        return fs_sop_err(fs, NULL, rc, "begin read");
    if ((rc = fs_node_path(fs, h->node, &p)) != 0) {
        sop_txn_rollback(h->rtxn);
        h->rtxn = NULL;
        return rc;
    }
    fs_path_free(&h->rpath);
    h->rpath = p;
    return 0;
}

/* Truncate to zero in t for open(O_TRUNC); m gets the new times. */
static int trunc_in(struct fs *fs, sop_txn *t, const struct fs_path *p, struct fs_meta *m)
{
    sop_store *ds;
    int rc = fs_ns_open_store(fs, t, p->store, &ds);
    if (rc == 0 && (rc = sop_value_truncate(ds, p->key, p->klen, 0)) != 0)
        rc = fs_sop_err(fs, t, rc, "truncate on open");
    if (rc == 0 && m)
        m->mtime_ns = m->ctime_ns = fs_now_ns();
    return rc;
}

struct otrunc_arg {
    const struct fs_path *p;
};

static int otrunc_fn(struct fs *fs, struct fs_tx *tx, void *arg)
{
    struct otrunc_arg *o = arg;
    struct fs_attr a;
    int rc = fs_ns_resolve(fs, tx->t, o->p, &a);
    if (rc == 0)
        rc = trunc_in(fs, tx->t, o->p, &a.m);
    if (rc == 0)
        rc = fs_ns_meta_put(fs, tx->t, o->p, &a.m);
    return rc;
}

static int open_ctl(struct fs *fs, struct fs_node *n, struct fs_handle *h,
                    struct fuse_file_info *fi)
{
    struct fs_path p = {0};
    int rc = 0;
    h->kind = H_CTL;
    fi->direct_io = 1;
    if (n->kind == K_CTL_SEARCH) {
        fi->nonseekable = 1; /* the answer is read from its start (query.c) */
        return 0;
    }
    if ((fi->flags & O_ACCMODE) != O_WRONLY) {
        if (n->kind == K_CTL_STATS)
            rc = fs_stats_text(fs, &h->text, &h->text_len);
        else if ((rc = fs_node_path(fs, n, &p)) == 0)
            rc = fs_scope_text(fs, &p, &h->text, &h->text_len);
    }
    fs_path_free(&p);
    return rc;
}

static int fs_do_release(struct fs *fs, struct fs_handle *h);

static int fs_do_open(struct fs *fs, fuse_ino_t ino, pid_t pid, struct fuse_file_info *fi)
{
    struct fs_path p = {0};
    struct fs_handle *h = NULL;
    struct fs_node *n = fs_node_get(fs, ino);
    int rc = 0;
    if (!n)
        return -ENOENT;
    FS_STAT_ADD(fs, opens, 1);
    if (!(h = calloc(1, sizeof(*h)))) {
        fs_node_put(fs, n);
        return -ENOMEM;
    }
    pthread_mutex_init(&h->mu, NULL);
    h->node = n; /* the reference from fs_node_get now belongs to h */
    h->flags = fi->flags;
    h->pid = pid;
    h->kind = H_FILE;
    fi->fh = (uint64_t)(uintptr_t)h;
    if (fs_kind_ctl(n->kind)) {
        rc = open_ctl(fs, n, h, fi);
        goto out;
    }
    if (n->type == FS_T_DIR) {
        rc = -EISDIR;
        goto out;
    }
    if ((rc = fs_node_path(fs, n, &p)) != 0)
        goto out;
    bool write = (fi->flags & O_ACCMODE) != O_RDONLY;
    struct fs_scope *s = NULL;
    if (__atomic_load_n(&fs->nopen_scopes, __ATOMIC_ACQUIRE) > 0)
        s = fs_scope_find(fs, &p);
    if (s) {
        pthread_mutex_lock(&s->mu);
        if (s->state == SC_ACTIVE) {
            if (write && (fi->flags & O_TRUNC)) {
                struct fs_tx tx = {.t = s->t};
                struct otrunc_arg o = {.p = &p};
                if ((rc = otrunc_fn(fs, &tx, &o)) == 0)
                    s->changes++;
            }
            pthread_mutex_unlock(&s->mu);
            if (rc) {
                fs_scope_put(fs, s);
                goto out;
            }
            h->scope = s;
            fi->direct_io = 1;
            goto out;
        }
        int state = s->state, err = s->fail_err;
        pthread_mutex_unlock(&s->mu);
        fs_scope_put(fs, s);
        if (state == SC_FAILED && write) {
            rc = -err;
            goto out;
        }
    }
    if (write) {
        struct fs_wgroup *g = NULL;
        pthread_mutex_lock(&n->mu);
        rc = fs_writer_join(fs, n, &p, pid, &g);
        if (rc == 0 && (fi->flags & O_TRUNC)) {
            g->meta_dirty = true;
            g->rewrote = true;
            g->appends_only = false;
            if ((rc = trunc_in(fs, g->t, &p, &g->meta)) != 0) {
                g->err = rc; /* the transaction may hold part of it */
                fs_writer_leave(fs, n, g);
            }
        }
        if (rc == 0) {
            h->writer = true;
            h->wg = g;
            if (!g->cached)
                fi->direct_io = 1;
        }
        pthread_mutex_unlock(&n->mu);
        goto out;
    }
    /* a reader: its snapshot now; the page cache when it is safe (top) */
    pthread_mutex_lock(&fs->mu);
    h->snap_gen = n->gen; /* before the snapshot: never newer than it */
    h->snap_rgen = n->rgen;
    h->snap_gen_all = fs->gen_all;
    pthread_mutex_unlock(&fs->mu);
    if ((rc = reader_snapshot(fs, h)) != 0)
        goto out;
    pthread_mutex_lock(&n->mu);
    bool writer = n->nwriters > 0;
    pthread_mutex_lock(&fs->mu);
    if (!writer && (n->ncached == 0 || n->cache_gen == n->gen + (fs->gen_all << 32))) {
        uint64_t g = n->gen + (fs->gen_all << 32);
        fi->keep_cache = n->cache_gen == g && !fs->clustered;
        n->cache_gen = g;
        n->ncached++;
        h->cached = true;
    } else {
        fi->direct_io = 1;
        /* a private mmap(2) through this handle faults pages into the
         * shared cache from this reader's snapshot: the writers' pages are
         * then not the committed content (fuse_file_mmap also drops them) */
        for (struct fs_wgroup *g = n->wgroups; g; g = g->next)
            if (g->cached)
                g->cache_bad = true;
    }
    pthread_mutex_unlock(&fs->mu);
    pthread_mutex_unlock(&n->mu);
out:
    fs_path_free(&p);
    /* only an auto-commit writer's close does anything (it commits): the
     * others' close(2) need not wait for a round trip (FOPEN_NOFLUSH) */
    fi->noflush = !h->writer;
    if (rc) {
        fi->fh = 0;
        fs_handle_free(fs, h);
    } else {
        fs_handle_track(fs, h);
    }
    return rc;
}

void fs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct fs *fs = fuse_req_userdata(req);
    int rc = fs_do_open(fs, ino, fuse_req_ctx(req)->pid, fi);
    fs_log(LOG_DEBUG, "open %llu (0%o): %s", (unsigned long long)ino, fi->flags,
           rc ? strerror(-rc) : "ok");
    if (rc)
        fuse_reply_err(req, -rc);
    else if (fuse_reply_open(req, fi) == -ENOENT) /* interrupted: no release will come */
        fs_do_release(fs, (struct fs_handle *)(uintptr_t)fi->fh);
}

void fs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                  struct fuse_file_info *fi)
{
    struct fs *fs = fuse_req_userdata(req);
    struct fuse_entry_param e;
    bool existed = false;
    int rc = fs_entry_make(req, parent, name, FS_T_FILE, mode, NULL, 0, fi->flags | O_CREAT, &e,
                           &existed);
    if (rc == 0) {
        if (!existed)
            fi->flags &= ~O_TRUNC; /* nothing to truncate */
        rc = fs_do_open(fs, e.ino, fuse_req_ctx(req)->pid, fi);
        if (rc)
            fs_node_forget(fs, e.ino, 1);
        else
            FS_STAT_ADD(fs, creates, 1);
    }
    fs_log(LOG_DEBUG, "create %llu/%s: %s", (unsigned long long)parent, name,
           rc ? strerror(-rc) : "ok");
    if (rc) {
        fuse_reply_err(req, -rc);
    } else if (fuse_reply_create(req, &e, fi) == -ENOENT) { /* interrupted */
        fs_do_release(fs, (struct fs_handle *)(uintptr_t)fi->fh);
        fs_node_forget(fs, e.ino, 1);
    }
}

/* ------------------------------------------------------------ read */

/* Read through the scope of h; -EAGAIN in *done=false when it ended. */
static int read_at(struct fs *fs, sop_txn *t, const struct fs_path *p, char *buf, size_t size,
                   off_t off, size_t *got)
{
    sop_store *ds;
    int rc = fs_ns_open_store(fs, t, p->store, &ds);
    if (rc)
        return rc;
    rc = sop_value_read(ds, p->key, p->klen, (uint64_t)off, buf, size, got);
    if (rc == SOP_ENOTFOUND) { /* gone meanwhile: end of file */
        *got = 0;
        return 0;
    }
    return rc ? fs_sop_err(fs, t, rc, "read") : 0;
}

/* Drop an ended scope from h, which becomes an ordinary handle (a write
 * handle joins its process's writer group at its next read or write). */
static void leave_scope(struct fs *fs, struct fs_handle *h)
{
    pthread_mutex_lock(&h->mu);
    if (h->scope) {
        fs_scope_put(fs, h->scope);
        h->scope = NULL;
    }
    pthread_mutex_unlock(&h->mu);
}

/* The writer group of write handle h, with a transaction: begun after a
 * commit, joined for a handle that was opened in a scope.  NULL for a
 * read-only handle.  n->mu held. */
static int handle_group(struct fs *fs, struct fs_handle *h, const struct fs_path *p,
                        struct fs_wgroup **out)
{
    struct fs_node *n = h->node;
    int rc = 0;
    *out = NULL;
    if (h->wg)
        rc = fs_writer_begin(fs, n, h->wg, p);
    else if ((h->flags & O_ACCMODE) != O_RDONLY && !h->writer &&
             (rc = fs_writer_join(fs, n, p, h->pid, &h->wg)) == 0)
        h->writer = true;
    if (rc == 0)
        *out = h->wg;
    return rc;
}

static int fs_do_read(struct fs *fs, struct fs_handle *h, char *buf, size_t size, off_t off,
                      size_t *got)
{
    struct fs_path p = {0};
    struct fs_node *n = h->node;
    int rc;

    *got = 0;
    if (h->kind == H_CTL) {
        pthread_mutex_lock(&h->mu);
        size_t at = n->kind == K_CTL_SEARCH ? h->text_pos : (size_t)off;
        if (at < h->text_len) {
            *got = h->text_len - at < size ? h->text_len - at : size;
            memcpy(buf, h->text + at, *got);
        }
        if (n->kind == K_CTL_SEARCH)
            h->text_pos = at + *got;
        pthread_mutex_unlock(&h->mu);
        return 0;
    }
    if ((rc = fs_node_path(fs, n, &p)) != 0)
        return rc;
    struct fs_scope *s = h->scope;
    if (s) {
        pthread_mutex_lock(&s->mu);
        if (s->state == SC_ACTIVE) {
            rc = read_at(fs, s->t, &p, buf, size, off, got);
            pthread_mutex_unlock(&s->mu);
            goto out;
        }
        pthread_mutex_unlock(&s->mu);
        leave_scope(fs, h);
    }
    if ((h->flags & O_ACCMODE) != O_RDONLY) { /* a writer reads its own transaction */
        struct fs_wgroup *g = h->wg;
        pthread_mutex_lock(&n->mu);
        if (g && !g->t && g->opener_gone) {
            /* committed at its opener's last close: a late read (readahead)
             * reads what was committed, and wakes no transaction that would
             * keep the next opener off the page cache */
            sop_txn *t;
            if ((rc = sop_txn_begin(fs->db, SOP_TXN_READ, &t)) != 0) {
                rc = fs_sop_err(fs, NULL, rc, "begin read");
            } else {
                rc = read_at(fs, t, &p, buf, size, off, got);
                sop_txn_rollback(t);
            }
        } else if ((rc = handle_group(fs, h, &p, &g)) == 0) {
            rc = read_at(fs, g->t, &p, buf, size, off, got);
        }
        pthread_mutex_unlock(&n->mu);
        goto out;
    }
    /* A reader keeps one snapshot, so a file replaced meanwhile never reads
     * half old, half new; but once it read to the end and then asks for
     * bytes past it while the file only grew by appends since (tail -f), it
     * moves to a new snapshot.  A file rewritten, truncated or replaced
     * meanwhile (node->rgen, a scope's end, a detached node) keeps the
     * reader on its snapshot: the kernel's page cache may have been dropped
     * and be read again from offset 0, which must not show new bytes.  Only
     * a read reaching past that end renews (page-cache reads start at a
     * page boundary, so "past" is the request's end, not its start): the
     * kernel's readahead reaches the end early, and a later read inside the
     * snapshot's bytes must stay on the old snapshot. */
    pthread_mutex_lock(&h->mu);
    pthread_mutex_lock(&fs->mu);
    uint64_t gen = n->gen, rgen = n->rgen, gen_all = fs->gen_all;
    bool appended = rgen == h->snap_rgen && gen_all == h->snap_gen_all && !n->detached;
    pthread_mutex_unlock(&fs->mu);
    if (h->rtxn && h->eof && (uint64_t)off + size > h->eof_at &&
        ((gen != h->snap_gen && appended) || fs->clustered)) {
        sop_txn_rollback(h->rtxn);
        h->rtxn = NULL;
        h->eof = false;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!h->rtxn) {
            h->snap_gen = gen;
            h->snap_rgen = rgen;
            h->snap_gen_all = gen_all;
            if ((rc = reader_snapshot(fs, h)) != 0)
                break;
        }
        sop_store *ds;
        rc = sop_store_open(h->rtxn, h->rpath.store, &ds);
        if (rc == 0)
            rc = sop_value_read(ds, h->rpath.key, h->rpath.klen, (uint64_t)off, buf, size, got);
        if ((rc == SOP_ETIMEDOUT || rc == SOP_EABORTED || rc == SOP_ENOTFOUND) && attempt == 0) {
            /* the snapshot failed earlier, or its path was renamed just before
             * it was taken: read a newer one */
            sop_txn_rollback(h->rtxn);
            h->rtxn = NULL;
            continue;
        }
        if (rc == SOP_ENOTFOUND) {
            *got = 0;
            rc = 0;
        }
        if (rc)
            rc = fs_sop_err(fs, h->rtxn, rc, "read");
        else if (*got < size) {
            h->eof = true;
            h->eof_at = (uint64_t)off + *got;
        }
        break;
    }
    pthread_mutex_unlock(&h->mu);
out:
    fs_path_free(&p);
    if (rc == 0) {
        FS_STAT_ADD(fs, reads, 1);
        FS_STAT_ADD(fs, bytes_read, *got);
    }
    return rc;
}

void fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    struct fs *fs = fuse_req_userdata(req);
    struct fs_handle *h = (struct fs_handle *)(uintptr_t)fi->fh;
    size_t got = 0;
    char *buf = malloc(size ? size : 1);
    int rc = buf ? fs_do_read(fs, h, buf, size, off, &got) : -ENOMEM;
    fs_log(LOG_DEBUG, "read %llu [%lld+%zu]: %s %zu", (unsigned long long)ino, (long long)off, size,
           rc ? strerror(-rc) : "ok", got);
    if (rc)
        fuse_reply_err(req, -rc);
    else
        fuse_reply_buf(req, buf, got);
    free(buf);
}

/* ------------------------------------------------------------ write */

static int write_in(struct fs *fs, sop_txn *t, const struct fs_path *p, const char *buf,
                    size_t size, off_t off, bool append)
{
    sop_store *ds;
    uint64_t at = (uint64_t)off;
    int rc = fs_ns_open_store(fs, t, p->store, &ds);
    if (rc)
        return rc;
    if (append) {
        rc = sop_value_size(ds, p->key, p->klen, &at);
        if (rc == SOP_ENOTFOUND) {
            at = 0;
            rc = 0;
        }
        if (rc)
            return fs_sop_err(fs, t, rc, "append");
    }
    rc = sop_value_write(ds, p->key, p->klen, at, buf, size);
    return rc ? fs_sop_err(fs, t, rc, "write") : 0;
}

/* A write changes mtime and ctime and, by a caller without privilege,
 * drops set-user-ID (and set-group-ID with group execute), as Linux's
 * file_remove_privs does: the kernel does it for page-cache writes, not for
 * direct_io ones. */
static void written_meta(struct fs_meta *m, uid_t uid)
{
    m->mtime_ns = m->ctime_ns = fs_now_ns();
    if (uid != 0) {
        mode_t kill = S_ISUID | ((m->mode & S_IXGRP) ? S_ISGID : 0);
        m->mode &= ~kill;
    }
}

static int fs_do_write(struct fs *fs, struct fs_handle *h, uid_t uid, const char *buf, size_t size,
                       off_t off)
{
    struct fs_path p = {0};
    struct fs_node *n = h->node;
    bool append = (h->flags & O_APPEND) != 0;
    int rc;

    if (h->kind == H_CTL) {
        if (n->kind != K_CTL_TXN && n->kind != K_CTL_SEARCH)
            return -EACCES;
        if ((rc = fs_node_path(fs, n, &p)) == 0 && n->kind == K_CTL_TXN)
            rc = fs_scope_command(fs, &p, buf, size);
        if (rc == 0 && n->kind == K_CTL_SEARCH) {
            char *text = NULL;
            size_t len = 0;
            if ((rc = fs_query_run(fs, &p, buf, size, &text, &len)) == 0) {
                pthread_mutex_lock(&h->mu);
                free(h->text);
                h->text = text;
                h->text_len = len;
                h->text_pos = 0;
                pthread_mutex_unlock(&h->mu);
            }
        }
        fs_path_free(&p);
        return rc;
    }
    if ((h->flags & O_ACCMODE) == O_RDONLY)
        return -EBADF;
    if ((rc = fs_node_path(fs, n, &p)) != 0)
        return rc;
    struct fs_scope *s = h->scope;
    if (s) {
        pthread_mutex_lock(&s->mu);
        if (s->state == SC_ACTIVE) {
            rc = write_in(fs, s->t, &p, buf, size, off, append);
            struct fs_attr a;
            if (rc == 0 && (rc = fs_ns_resolve(fs, s->t, &p, &a)) == 0) {
                written_meta(&a.m, uid);
                rc = fs_ns_meta_put(fs, s->t, &p, &a.m);
            }
            if (rc == 0) {
                s->bytes += size;
                if (!h->wrote)
                    s->changes++;
                h->wrote = true;
            }
            pthread_mutex_unlock(&s->mu);
            goto out;
        }
        int state = s->state, err = s->fail_err;
        pthread_mutex_unlock(&s->mu);
        if (state == SC_FAILED) {
            rc = -err;
            goto out;
        }
        leave_scope(fs, h);
    }
    struct fs_wgroup *g;
    pthread_mutex_lock(&n->mu);
    if ((rc = handle_group(fs, h, &p, &g)) == 0 && (rc = g->err) == 0) {
        if ((rc = write_in(fs, g->t, &p, buf, size, off, append)) == 0) {
            if (!append && (uint64_t)off < g->base)
                g->rewrote = true;
            if (!append)
                g->appends_only = false;
            written_meta(&g->meta, uid);
            g->meta_dirty = true;
            g->changed = true;
        } else {
            /* the transaction no longer holds what was written: its commit
             * fails with this error, and the kernel may have copied the
             * bytes into its pages */
            g->err = rc;
            g->cache_bad = true;
        }
    }
    pthread_mutex_unlock(&n->mu);
out:
    fs_path_free(&p);
    if (rc == 0) {
        FS_STAT_ADD(fs, writes, 1);
        FS_STAT_ADD(fs, bytes_written, size);
    }
    return rc;
}

void fs_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                 struct fuse_file_info *fi)
{
    struct fs *fs = fuse_req_userdata(req);
    struct fs_handle *h = (struct fs_handle *)(uintptr_t)fi->fh;
    int rc = fs_do_write(fs, h, fuse_req_ctx(req)->uid, buf, size, off);
    fs_log(LOG_DEBUG, "write %llu [%lld+%zu]: %s", (unsigned long long)ino, (long long)off, size,
           rc ? strerror(-rc) : "ok");
    if (rc)
        fuse_reply_err(req, -rc);
    else
        fuse_reply_write(req, size);
}

/* ------------------------------------------------------------ close and fsync */

static int fs_do_flush(struct fs *fs, struct fs_handle *h, pid_t pid)
{
    struct fs_node *n = h->node;
    int rc = 0;
    if (h->kind != H_FILE || !h->writer)
        return 0;
    /* Commit at the opener's own last close (writer.c): not at the close
     * of a forked child that inherited the descriptor, nor of a dup(2)
     * while the opener holds another.  Where that cannot be known, a flush
     * commits once something was written: an O_TRUNC alone waits for the
     * data (a shell's dup2(2) and close(2) of the first descriptor). */
    pthread_mutex_lock(&n->mu);
    struct fs_wgroup *g = h->wg;
    if (g && g->t) {
        int last = fs_writer_last_close(fs, n, g, pid);
        if (last > 0 || (last < 0 && (g->changed || g->err)))
            rc = fs_writer_commit(fs, n, g);
    }
    pthread_mutex_unlock(&n->mu);
    return rc;
}

void fs_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct fs *fs = fuse_req_userdata(req);
    int rc = fs_do_flush(fs, (struct fs_handle *)(uintptr_t)fi->fh, fuse_req_ctx(req)->pid);
    fs_log(LOG_DEBUG, "flush %llu (pid %d): %s", (unsigned long long)ino,
           (int)fuse_req_ctx(req)->pid, rc ? strerror(-rc) : "ok");
    fuse_reply_err(req, -rc);
}

static int fs_do_release(struct fs *fs, struct fs_handle *h)
{
    struct fs_node *n = h->node;
    int rc = 0;
    if (h->wg) {
        pthread_mutex_lock(&n->mu);
        rc = fs_writer_leave(fs, n, h->wg);
        h->wg = NULL;
        pthread_mutex_unlock(&n->mu);
    }
    if (h->cached) {
        pthread_mutex_lock(&fs->mu);
        n->ncached--;
        pthread_mutex_unlock(&fs->mu);
    }
    fs_handle_untrack(fs, h);
    fs_handle_free(fs, h);
    return rc;
}

void fs_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct fs *fs = fuse_req_userdata(req);
    int rc = fs_do_release(fs, (struct fs_handle *)(uintptr_t)fi->fh);
    fs_log(rc ? LOG_WARNING : LOG_DEBUG, "release %llu: %s", (unsigned long long)ino,
           rc ? strerror(-rc) : "ok");
    fuse_reply_err(req, -rc);
}

int fs_do_fsync(struct fs *fs, struct fs_handle *h)
{
    int rc = 0;
    if (h && h->kind == H_FILE && h->wg) {
        struct fs_node *n = h->node;
        pthread_mutex_lock(&n->mu);
        rc = fs_writer_commit(fs, n, h->wg);
        pthread_mutex_unlock(&n->mu);
    }
    if (rc == 0) {
        int s = sop_db_sync(fs->db);
        if (s)
            rc = fs_sop_err(fs, NULL, s, "fsync");
    }
    return rc;
}

void fs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    struct fs *fs = fuse_req_userdata(req);
    (void)datasync;
    int rc = fs_do_fsync(fs, (struct fs_handle *)(uintptr_t)fi->fh);
    fs_log(LOG_DEBUG, "fsync %llu: %s", (unsigned long long)ino, rc ? strerror(-rc) : "ok");
    fuse_reply_err(req, -rc);
}
