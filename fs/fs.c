/*
 * fs.c - the FUSE operations of sopfs: paths and file operations onto sop.
 *
 * Why the low-level API (fuse_lowlevel.h): the inode numbers are ours
 * (inode.c), so a rename is one change in our table and open handles follow
 * it; lookup counts and forget tell us when a name may be dropped; every
 * open handle carries its own state (the transaction a writer holds until
 * close, the snapshot a reader reads); and replies may come from any thread
 * of the loop (loop.c).  The high-level API would hand us a path per
 * call and hide the handles' lifetimes across renames.
 *
 * Each operation is fs_do_<op>(), which does the work and returns 0 or
 * -errno, and op_<op>(), which replies to the kernel exactly once.
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
 *    Metadata changes made while a file is open for writing (chmod,
 *    utimes, truncate) join the writer's transaction, so they never
 *    conflict with it.  Renaming a file (or a directory above it) open for
 *    writing commits what it wrote so far first; unlinking it discards what
 *    it writes (its close commits nothing), as the data of an unlinked file
 *    vanishes with its last close.
 *  - create commits the empty file at once (others see it, as on any
 *    filesystem), then opens it as above.
 *  - a reader handle reads one snapshot, taken at open, renewed once it
 *    read to the end of a file that grew by appends since (tail -f).
 *    Readers and writers have no maximum age (SOP_TXN_NOAGE): a copy or a
 *    stream ends them at close, however long it takes; only .sop-txn
 *    scopes have one.
 *  - every other change (mkdir, rmdir, unlink, rename, setattr, symlink,
 *    setxattr) is one transaction, retried on conflict (tx.c).
 *  - inside an open directory scope (.sop-txn) everything joins the scope's
 *    transaction instead (tx.c, scope.c).
 *  - a directory's mtime and ctime move with its entries (create, unlink,
 *    rename, mkdir, rmdir) by a merge (sop_merge: the newest time wins, at
 *    commit), not a read and a write of its record, so parallel creates in
 *    one directory do not conflict (names.c, fs_ns_dir_touch).
 *
 * Kernel caching.  Entries and attributes are cached for entry_timeout and
 * attr_timeout (1 s by default); the attributes of a file open for writing
 * are not cached at all, and every process is told a writer's size
 * (writer.c says why).  The page cache is shared by every handle
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
 */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <syslog.h>
#include <unistd.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

#define UNKNOWN_INO 0xffffffffu
/* The largest read or write the kernel sends in one request (max_write). */
#define MAX_IO (1u << 20)
/* st_blksize, the I/O size cp, dd and stdio pick: max_write.
 * Each request is a round trip, and the kernel precedes each write with a
 * getxattr of security.capability: 1 MiB writes copy 15-25% faster than the
 * 128 KiB ones a smaller st_blksize makes cp use. */
#define BLKSIZE MAX_IO

/* ------------------------------------------------------------ helpers */

static void fill_stat(fuse_ino_t ino, const struct fs_attr *a, struct stat *st)
{
    memset(st, 0, sizeof(*st));
    st->st_ino = ino;
    st->st_mode = fs_type_ifmt(a->m.type) | (a->m.mode & 07777);
    /* a directory counts its subdirectories when sopfs made it (names.c);
     * otherwise 1, "unknown", as btrfs: find must not guess leaves */
    st->st_nlink = !a->m.counted           ? 1
                   : a->m.type == FS_T_DIR ? (nlink_t)(2 + a->m.subdirs)
                                           : (nlink_t)a->m.subdirs; /* a hard-linked file's names */
    if (a->m.type == FS_T_CHR || a->m.type == FS_T_BLK)
        st->st_rdev = (dev_t)a->m.rdev;
    st->st_uid = a->m.uid;
    st->st_gid = a->m.gid;
    st->st_size = (off_t)a->size;
    st->st_blksize = BLKSIZE;
    st->st_blocks = (blkcnt_t)((a->size + 511) / 512);
    fs_ns_to_timespec(a->m.atime_ns, &st->st_atim);
    fs_ns_to_timespec(a->m.mtime_ns, &st->st_mtim);
    fs_ns_to_timespec(a->m.ctime_ns, &st->st_ctim);
}

static bool is_ctl(const struct fs_node *n)
{
    return fs_kind_ctl(n->kind);
}

/* The entry the kernel is told of node n with attributes a (what lookup,
 * readdirplus and the calls that make a node answer); a control file's
 * attributes are never cached. */
static void fill_entry(struct fs *fs, const struct fs_node *n, const struct fs_attr *a,
                       struct fuse_entry_param *e)
{
    memset(e, 0, sizeof(*e));
    e->ino = n->ino;
    e->generation = 1;
    e->attr_timeout = is_ctl(n) ? 0 : fs->cfg.attr_timeout;
    e->entry_timeout = fs->cfg.entry_timeout;
    fill_stat(n->ino, a, &e->attr);
}

static void ctl_attr(struct fs *fs, const struct fs_node *n, const struct fs_attr *dir,
                     struct fs_attr *a)
{
    memset(a, 0, sizeof(*a));
    a->m.type = FS_T_FILE;
    /* .sop-search: everyone may ask (the answer belongs to the descriptor) */
    a->m.mode = n->kind == K_CTL_STATS ? 0444 : n->kind == K_CTL_SEARCH ? 0666 : 0644;
    a->m.uid = dir ? dir->m.uid : (uint32_t)fs->uid;
    a->m.gid = dir ? dir->m.gid : (uint32_t)fs->gid;
    a->m.atime_ns = a->m.mtime_ns = a->m.ctime_ns = fs_now_ns();
}

/* ------------------------------------------------------------ resolving */

struct resolve_arg {
    const struct fs_path *p;
    struct fs_attr a;
};

static int resolve_fn(struct fs *fs, struct fs_tx *tx, void *arg)
{
    struct resolve_arg *r = arg;
    return fs_ns_resolve(fs, tx->t, r->p, &r->a);
}

static int resolve(struct fs *fs, const struct fs_path *p, struct fs_attr *a)
{
    struct resolve_arg r = {.p = p};
    int rc = fs_run(fs, p, NULL, false, resolve_fn, &r);
    if (rc == 0)
        *a = r.a;
    return rc;
}

/* ------------------------------------------------------------ lookup */

/* What the kernel is told of n: sole_view when it is the view of n's only
 * writer group with a transaction, which its commit makes the committed one
 * (fs_writer_commit). */
static void remember_attr(struct fs *fs, struct fs_node *n, const struct fs_attr *a, bool sole_view)
{
    pthread_mutex_lock(&fs->mu);
    n->last_attr = *a;
    n->has_last_attr = true;
    if (!sole_view)
        n->attr_told++;
    pthread_mutex_unlock(&fs->mu);
}

/* The attributes of file n as the caller (thread pid, or a write handle's
 * group g) is told them while writers are open (writer.c): 1 with *a
 * filled and *sole set, 0 to tell the committed state, or -errno.  While a
 * writer is open, *timeout becomes 0. */
static int writer_view(struct fs *fs, struct fs_node *n, struct fs_wgroup *g, pid_t pid,
                       const struct fs_path *p, struct fs_attr *a, bool *sole, double *timeout)
{
    int rc = 0;
    struct fs_path np = {0};
    if (n->kind != K_ENTRY)
        return 0;
    if (n->linked && n->wgroups) { /* a name's path is not where the bytes are */
        if ((rc = fs_node_path(fs, n, &np)) != 0)
            return rc;
        p = &np;
    }
    pthread_mutex_lock(&n->mu);
    if (n->wgroups) {
        if (timeout)
            *timeout = 0;
        bool only = false;
        struct fs_wgroup *v = fs_writer_view(n, pid, &only);
        if (g && g->t)
            v = g;
        if (v && (rc = fs_writer_attr(fs, n, v, p, a)) == 0) {
            rc = 1;
            *sole = only;
        }
    }
    pthread_mutex_unlock(&n->mu);
    fs_path_free(&np);
    return rc;
}

static int fs_do_lookup(struct fs *fs, fuse_ino_t parent, const char *name, pid_t pid,
                        struct fuse_entry_param *e)
{
    struct fs_path dp = {0}, cp = {0};
    struct fs_attr a;
    struct fs_node *n = NULL;
    int rc;

    memset(e, 0, sizeof(*e));
    struct fs_node *pn = fs_node_get(fs, parent);
    if (!pn)
        return -ENOENT;
    FS_STAT_ADD(fs, lookups, 1);
    if (is_ctl(pn) || pn->type != FS_T_DIR) {
        rc = -ENOTDIR;
        goto out;
    }
    if (strlen(name) > FS_MAX_NAME) {
        rc = -ENAMETOOLONG;
        goto out;
    }
    if ((rc = fs_node_path(fs, pn, &dp)) != 0)
        goto out;
    bool txnctl = !strcmp(name, ".sop-txn");
    bool stats = pn->kind == K_ROOT && !strcmp(name, ".sop-stats");
    bool query = pn->kind == K_STORE && !strcmp(name, ".sop-search");
    int qkind = 0;
    if (query && ((rc = fs_query_kind(fs, &dp, &qkind)) != 0 || !qkind)) {
        rc = rc ? rc : -ENOENT; /* only search and vector stores have one */
        goto out;
    }
    if (txnctl || stats || query) {
        struct fs_attr da;
        if ((rc = resolve(fs, &dp, &da)) != 0)
            goto out;
        int kind = txnctl ? K_CTL_TXN : stats ? K_CTL_STATS : K_CTL_SEARCH;
        n = fs_node_lookup(fs, pn, name, kind, FS_T_FILE, NULL);
        if (!n) {
            rc = -ENOMEM;
            goto out;
        }
        ctl_attr(fs, n, &da, &a);
    } else {
        if (fs_name_reserved(name, strlen(name), pn->kind == K_ROOT)) {
            rc = -ENOENT;
            goto out;
        }
        if ((rc = fs_path_child(&dp, name, &cp)) != 0 || (rc = resolve(fs, &cp, &a)) != 0)
            goto out;
        n = fs_node_lookup(fs, pn, name, pn->kind == K_ROOT ? K_STORE : K_ENTRY, a.m.type,
                           a.m.linked ? a.m.link : NULL);
        if (!n) {
            rc = -ENOMEM;
            goto out;
        }
    }
    double timeout = is_ctl(n) ? 0 : fs->cfg.attr_timeout;
    bool sole = false;
    int w = writer_view(fs, n, NULL, pid, &cp, &a, &sole, &timeout);
    if (w < 0) {
        fs_node_forget(fs, n->ino, 1);
        rc = w;
        goto out;
    }
    remember_attr(fs, n, &a, w > 0 && sole);
    fill_entry(fs, n, &a, e);
    e->attr_timeout = timeout;
out:
    fs_path_free(&dp);
    fs_path_free(&cp);
    fs_node_put(fs, pn);
    return rc;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct fs *fs = fuse_req_userdata(req);
    struct fuse_entry_param e;
    int rc = fs_do_lookup(fs, parent, name, fuse_req_ctx(req)->pid, &e);
    fs_log(LOG_DEBUG, "lookup %llu/%s: %s", (unsigned long long)parent, name,
           rc ? strerror(-rc) : "ok");
    if (rc)
        fuse_reply_err(req, -rc);
    else if (fuse_reply_entry(req, &e) == -ENOENT) /* interrupted: the kernel keeps no count */
        fs_node_forget(fs, e.ino, 1);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    struct fs *fs = fuse_req_userdata(req);
    fs_node_forget(fs, ino, nlookup);
    fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
    struct fs *fs = fuse_req_userdata(req);
    for (size_t i = 0; i < count; i++)
        fs_node_forget(fs, forgets[i].ino, forgets[i].nlookup);
    fuse_reply_none(req);
}

/* ------------------------------------------------------------ getattr */

static int count_one(const char *name, void *arg)
{
    if (!fs_name_reserved(name, strlen(name), true))
        ++*(unsigned *)arg;
    return 0;
}

/* The stores the root lists: its subdirectories, for its st_nlink. */
static unsigned count_stores(struct fs *fs)
{
    sop_txn *t;
    unsigned n = 0;
    if (sop_txn_begin(fs->db, SOP_TXN_READ, &t) == 0) {
        sop_store_list(t, count_one, &n);
        sop_txn_rollback(t);
    }
    return n;
}

/*
 * The kernel keeps one size per inode for all its open files, cuts cached
 * reads at it, and faults mappings only below it.  While a writer is open,
 * the caller is told a writer's view (writer_view, writer.c says whose);
 * otherwise, asked through a reader's handle (the size check of a read),
 * we answer from that reader's snapshot, so a writer's O_TRUNC never cuts
 * short a page-cache reader that opened before; otherwise (stat, fstat,
 * which carry no handle) with the committed state.
 */
static int fs_do_getattr(struct fs *fs, fuse_ino_t ino, struct fs_handle *h, pid_t pid,
                         struct stat *st, double *timeout)
{
    struct fs_path p = {0};
    struct fs_attr a;
    bool done = false, sole = false;
    struct fs_node *n = fs_node_get(fs, ino);
    if (!n)
        return -ENOENT;
    int rc = fs_node_path(fs, n, &p);
    if (rc)
        goto out;
    *timeout = is_ctl(n) ? 0 : fs->cfg.attr_timeout;
    if (h && (h->node != n || h->kind != H_FILE || h->scope))
        h = NULL;
    if (is_ctl(n)) {
        struct fs_attr da;
        if ((rc = resolve(fs, &p, &da)) == 0)
            ctl_attr(fs, n, &da, &a);
        done = true;
    } else {
        rc = writer_view(fs, n, h ? h->wg : NULL, pid, &p, &a, &sole, timeout);
        done = rc != 0;
        rc = rc < 0 ? rc : 0;
        if (!done && h && !h->writer) {
            pthread_mutex_lock(&h->mu);
            if (h->rtxn) {
                rc = fs_ns_resolve(fs, h->rtxn, &h->rpath, &a);
                done = rc != -ETIMEDOUT && rc != -EIO; /* an aged snapshot: ask anew */
                if (!done)
                    rc = 0;
            }
            pthread_mutex_unlock(&h->mu);
        }
    }
    pthread_mutex_lock(&fs->mu);
    bool detached = n->detached, known = n->has_last_attr;
    struct fs_attr last = n->last_attr;
    pthread_mutex_unlock(&fs->mu);
    if (!done && detached) {
        /* an open file whose name is gone (fstat after unlink): its path
         * names another file now, or none; it stays as last seen */
        if (known)
            a = last;
        else
            rc = -ENOENT;
        if (rc == 0) {
            fill_stat(ino, &a, st);
            st->st_nlink = 0;
        }
        goto out;
    }
    if (!done)
        rc = resolve(fs, &p, &a);
    if (rc == 0) {
        remember_attr(fs, n, &a, sole);
        fill_stat(ino, &a, st);
        if (detached)
            st->st_nlink = 0;
        else if (n->kind == K_ROOT)
            st->st_nlink = 2 + count_stores(fs);
    }
out:
    fs_path_free(&p);
    fs_node_put(fs, n);
    return rc;
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct fs *fs = fuse_req_userdata(req);
    struct stat st;
    double timeout;
    struct fs_handle *h = fi ? (struct fs_handle *)(uintptr_t)fi->fh : NULL;
    int rc = fs_do_getattr(fs, ino, h, fuse_req_ctx(req)->pid, &st, &timeout);
    fs_log(LOG_DEBUG, "getattr %llu%s: %s %lld", (unsigned long long)ino, h ? " (handle)" : "",
           rc ? strerror(-rc) : "ok", rc ? 0LL : (long long)st.st_size);
    if (rc)
        fuse_reply_err(req, -rc);
    else
        fuse_reply_attr(req, &st, timeout);
}

/* ------------------------------------------------------------ setattr */

struct setattr_arg {
    const struct fs_path *p;
    const struct stat *attr;
    int to_set;
    uint32_t uid;     /* caller */
    struct fs_attr a; /* out */
};

/* Apply the metadata part of a setattr to m. */
static void apply_attr(struct fs_meta *m, const struct stat *attr, int to_set, int64_t now)
{
    if (to_set & FUSE_SET_ATTR_MODE)
        m->mode = attr->st_mode & 07777;
    if (to_set & FUSE_SET_ATTR_UID)
        m->uid = attr->st_uid;
    if (to_set & FUSE_SET_ATTR_GID)
        m->gid = attr->st_gid;
    if (to_set & FUSE_SET_ATTR_ATIME_NOW)
        m->atime_ns = now;
    else if (to_set & FUSE_SET_ATTR_ATIME)
        m->atime_ns = fs_timespec_to_ns(&attr->st_atim);
    if (to_set & FUSE_SET_ATTR_MTIME_NOW)
        m->mtime_ns = now;
    else if (to_set & FUSE_SET_ATTR_MTIME)
        m->mtime_ns = fs_timespec_to_ns(&attr->st_mtim);
    if (to_set & FUSE_SET_ATTR_SIZE)
        m->mtime_ns =
            (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)) ? m->mtime_ns : now;
    m->ctime_ns = now;
    if ((to_set & FUSE_SET_ATTR_CTIME) && !(to_set & ~(FUSE_SET_ATTR_CTIME)))
        m->ctime_ns = fs_timespec_to_ns(&attr->st_ctim);
}

static int setattr_fn(struct fs *fs, struct fs_tx *tx, void *arg)
{
    struct setattr_arg *s = arg;
    sop_store *ds;
    int rc = fs_ns_resolve(fs, tx->t, s->p, &s->a);
    if (rc)
        return rc;
    if (s->to_set & FUSE_SET_ATTR_SIZE) {
        if (s->a.m.type == FS_T_DIR)
            return -EISDIR;
        if (s->a.m.type == FS_T_LINK)
            return -EINVAL;
        if ((rc = fs_ns_open_store(fs, tx->t, s->p->store, &ds)) != 0)
            return rc;
        rc = sop_value_truncate(ds, s->p->key, s->p->klen, (uint64_t)s->attr->st_size);
        if (rc)
            return fs_sop_err(fs, tx->t, rc, "truncate");
        s->a.size = (uint64_t)s->attr->st_size;
    }
    apply_attr(&s->a.m, s->attr, s->to_set, fs_now_ns());
    return fs_ns_meta_put(fs, tx->t, s->p, &s->a.m);
}

static int fs_do_setattr(struct fs *fs, fuse_ino_t ino, struct fs_handle *h, pid_t pid,
                         const struct stat *attr, int to_set, struct stat *st, double *timeout)
{
    struct fs_path p = {0};
    struct fs_attr a;
    sop_store *ds;
    bool done = false;
    struct fs_node *n = fs_node_get(fs, ino);
    if (!n)
        return -ENOENT;
    FS_STAT_ADD(fs, setattrs, 1);
    *timeout = is_ctl(n) ? 0 : fs->cfg.attr_timeout;
    int rc = fs_node_path(fs, n, &p);
    if (rc)
        goto out;
    if (is_ctl(n)) { /* `echo cmd > .sop-txn` may truncate it: nothing to do */
        if (to_set & ~(FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
                       FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME))
            rc = -EPERM;
        else if ((rc = resolve(fs, &p, &a)) == 0)
            ctl_attr(fs, n, &a, &a);
        done = true;
    } else if (n->kind == K_ENTRY) {
        /* the file is open for writing: join the writer's transaction (the
         * handle's group, the caller's, else the oldest one writing) */
        pthread_mutex_lock(&n->mu);
        struct fs_wgroup *g = h && h->node == n && h->writer ? h->wg : NULL;
        if (!g)
            g = fs_writer_for(n, pid);
        if (g && !g->t)
            rc = fs_writer_begin(fs, n, g, &p);
        if (g && rc == 0) {
            done = true;
            *timeout = 0;
            if (to_set & FUSE_SET_ATTR_SIZE) {
                rc = fs_ns_open_store(fs, g->t, p.store, &ds);
                if (rc == 0 &&
                    (rc = sop_value_truncate(ds, p.key, p.klen, (uint64_t)attr->st_size)) != 0)
                    rc = fs_sop_err(fs, g->t, rc, "truncate");
            }
            if (rc == 0) {
                apply_attr(&g->meta, attr, to_set, fs_now_ns());
                g->meta_dirty = true;
                g->changed = true;
                g->appends_only = false;
                if (to_set & FUSE_SET_ATTR_SIZE)
                    g->rewrote = true;
                rc = fs_writer_attr(fs, n, g, &p, &a);
            }
        } else if (g) {
            done = true;
        }
        pthread_mutex_unlock(&n->mu);
    }
    if (!done) {
        struct setattr_arg s = {.p = &p, .attr = attr, .to_set = to_set};
        rc = fs_run(fs, &p, NULL, true, setattr_fn, &s);
        a = s.a;
        if (rc == 0 && (to_set & FUSE_SET_ATTR_SIZE)) {
            pthread_mutex_lock(&fs->mu);
            n->gen++;
            n->rgen++;
            pthread_mutex_unlock(&fs->mu);
        }
    }
    if (rc == 0)
        fill_stat(ino, &a, st);
out:
    fs_path_free(&p);
    fs_node_put(fs, n);
    return rc;
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                       struct fuse_file_info *fi)
{
    struct fs *fs = fuse_req_userdata(req);
    struct stat st;
    double timeout;
    struct fs_handle *h = fi ? (struct fs_handle *)(uintptr_t)fi->fh : NULL;
    int rc = fs_do_setattr(fs, ino, h, fuse_req_ctx(req)->pid, attr, to_set, &st, &timeout);
    fs_log(LOG_DEBUG, "setattr %llu (0x%x): %s", (unsigned long long)ino, to_set,
           rc ? strerror(-rc) : "ok");
    if (rc)
        fuse_reply_err(req, -rc);
    else
        fuse_reply_attr(req, &st, timeout);
}

/* ------------------------------------------------------------ readlink */

struct readlink_arg {
    const struct fs_path *p;
    char buf[4097];
};

static int readlink_fn(struct fs *fs, struct fs_tx *tx, void *arg)
{
    struct readlink_arg *r = arg;
    sop_store *ds;
    size_t got = 0;
    int rc = fs_ns_open_store(fs, tx->t, r->p->store, &ds);
    if (rc)
        return rc;
    rc = sop_value_read(ds, r->p->key, r->p->klen, 0, r->buf, sizeof(r->buf) - 1, &got);
    if (rc)
        return fs_sop_err(fs, tx->t, rc, "readlink");
    r->buf[got] = '\0';
    return 0;
}

static int fs_do_readlink(struct fs *fs, fuse_ino_t ino, struct readlink_arg *r)
{
    struct fs_path p = {0};
    struct fs_node *n = fs_node_get(fs, ino);
    if (!n)
        return -ENOENT;
    int rc = n->type != FS_T_LINK ? -EINVAL : fs_node_path(fs, n, &p);
    if (rc == 0) {
        r->p = &p;
        rc = fs_run(fs, &p, NULL, false, readlink_fn, r);
    }
    fs_path_free(&p);
    fs_node_put(fs, n);
    return rc;
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
    struct fs *fs = fuse_req_userdata(req);
    struct readlink_arg *r = malloc(sizeof(*r));
    int rc = r ? fs_do_readlink(fs, ino, r) : -ENOMEM;
    if (rc)
        fuse_reply_err(req, -rc);
    else
        fuse_reply_readlink(req, r->buf);
    free(r);
}

/* ------------------------------------------------------------ creating entries */

struct make_arg {
    const struct fs_path *dir, *p;
    uint8_t type;
    mode_t mode;
    uint32_t uid, gid;
    const char *target; /* symlink */
    uint64_t rdev;      /* devices */
    int flags;          /* create: open flags */
    bool existed;       /* create without O_EXCL found a file */
    struct fs_attr a;   /* out */
};

static int make_fn(struct fs *fs, struct fs_tx *tx, void *arg)
{
    struct make_arg *m = arg;
    sop_store *ds;
    struct fs_attr pa;
    int rc;

    m->existed = false;
    memset(&m->a, 0, sizeof(m->a));
    m->a.m.type = m->type;
    m->a.m.mode = m->mode & 07777;
    m->a.m.uid = m->uid;
    m->a.m.gid = m->gid;
    int64_t now = fs_now_ns();
    m->a.m.atime_ns = m->a.m.mtime_ns = m->a.m.ctime_ns = now;
    m->a.m.rdev = m->rdev;
    m->a.m.counted = m->type == FS_T_DIR; /* a new directory counts its subdirectories */
    m->a.has_meta = true;
    if (!m->dir->store) { /* mkdir at the root: a store */
        sop_store_options o = {.unique = true, .value_in_node = true};
        rc = sop_store_create(tx->t, m->p->store, &o, &ds);
        if (rc)
            return fs_sop_err(fs, tx->t, rc, "create store");
        if ((rc = fs_ns_meta_put(fs, tx->t, m->p, &m->a.m)) != 0)
            return rc;
        return fs_ns_dir_touch(fs, tx->t, m->dir, now, 0); /* the root counts stores itself */
    }
    if ((rc = fs_ns_resolve(fs, tx->t, m->dir, &pa)) != 0)
        return rc;
    if (pa.m.type != FS_T_DIR)
        return -ENOTDIR;
    struct fs_attr old;
    rc = fs_ns_resolve(fs, tx->t, m->p, &old);
    if (rc == 0) {
        if (m->type != FS_T_FILE || (m->flags & O_EXCL) || !m->flags)
            return -EEXIST;
        if (old.m.type == FS_T_DIR)
            return -EISDIR;
        m->existed = true;
        m->a = old;
        return 0;
    }
    if (rc != -ENOENT)
        return rc;
    if (m->type != FS_T_DIR) {
        if ((rc = fs_ns_open_store(fs, tx->t, m->p->store, &ds)) != 0)
            return rc;
        size_t tl = m->target ? strlen(m->target) : 0;
        rc = sop_upsert(ds, m->p->key, m->p->klen, m->target ? m->target : "", tl);
        if (rc)
            return fs_sop_err(fs, tx->t, rc, "create");
        m->a.size = tl;
    }
    rc = m->type == FS_T_DIR ? fs_ns_mkdir(fs, tx->t, m->p, &m->a.m)
                             : fs_ns_meta_put(fs, tx->t, m->p, &m->a.m);
    if (rc)
        return rc;
    return fs_ns_dir_touch(fs, tx->t, m->dir, now, m->type == FS_T_DIR);
}

/* Make a file, directory or symlink named name in parent; e receives it. */
static int make_entry(fuse_req_t req, fuse_ino_t parent, const char *name, uint8_t type,
                      mode_t mode, const char *target, uint64_t rdev, int flags,
                      struct fuse_entry_param *e, bool *existed)
{
    struct fs *fs = fuse_req_userdata(req);
    const struct fuse_ctx *ctx = fuse_req_ctx(req);
    struct fs_path dp = {0}, cp = {0};
    int rc;

    memset(e, 0, sizeof(*e));
    struct fs_node *pn = fs_node_get(fs, parent);
    if (!pn)
        return -ENOENT;
    if (is_ctl(pn) || pn->type != FS_T_DIR) {
        rc = -ENOTDIR;
        goto out;
    }
    if (!strcmp(name, ".sop-txn") || (pn->kind == K_ROOT && !strcmp(name, ".sop-stats"))) {
        rc = -EEXIST;
        goto out;
    }
    if ((rc = fs_name_check(name, pn->kind == K_ROOT)) != 0)
        goto out;
    if (pn->kind == K_ROOT && type != FS_T_DIR) { /* the root holds stores only */
        rc = -EPERM;
        goto out;
    }
    if ((rc = fs_node_path(fs, pn, &dp)) != 0 || (rc = fs_path_child(&dp, name, &cp)) != 0)
        goto out;
    struct make_arg m = {.dir = &dp,
                         .p = &cp,
                         .type = type,
                         .mode = mode,
                         .uid = ctx->uid,
                         .gid = ctx->gid,
                         .target = target,
                         .rdev = rdev,
                         .flags = flags};
    if ((rc = fs_run(fs, &cp, NULL, true, make_fn, &m)) != 0)
        goto out;
    if (existed)
        *existed = m.existed;
    struct fs_node *n = fs_node_lookup(fs, pn, name, pn->kind == K_ROOT ? K_STORE : K_ENTRY,
                                       m.a.m.type, m.a.m.linked ? m.a.m.link : NULL);
    if (!n) {
        rc = -ENOMEM;
        goto out;
    }
    remember_attr(fs, n, &m.a, false); /* fstat after unlink answers these */
    fill_entry(fs, n, &m.a, e);
out:
    fs_path_free(&dp);
    fs_path_free(&cp);
    fs_node_put(fs, pn);
    return rc;
}

static void reply_entry(fuse_req_t req, const char *op, fuse_ino_t parent, const char *name, int rc,
                        const struct fuse_entry_param *e)
{
    struct fs *fs = fuse_req_userdata(req);
    fs_log(LOG_DEBUG, "%s %llu/%s: %s", op, (unsigned long long)parent, name,
           rc ? strerror(-rc) : "ok");
    if (rc)
        fuse_reply_err(req, -rc);
    else if (fuse_reply_entry(req, e) == -ENOENT)
        fs_node_forget(fs, e->ino, 1);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
    struct fuse_entry_param e;
    /* a FIFO, socket or device is an empty item with a record saying what it
     * is (names.c); the kernel opens them itself, never through us */
    uint8_t type = fs_ifmt_type(mode);
    int rc =
        type == FS_T_NONE || type == FS_T_DIR || type == FS_T_LINK
            ? -EINVAL
            : make_entry(req, parent, name, type, mode, NULL,
                         type == FS_T_CHR || type == FS_T_BLK ? (uint64_t)rdev : 0, 0, &e, NULL);
    if (rc == 0)
        FS_STAT_ADD((struct fs *)fuse_req_userdata(req), creates, 1);
    reply_entry(req, "mknod", parent, name, rc, &e);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    struct fuse_entry_param e;
    int rc = make_entry(req, parent, name, FS_T_DIR, mode, NULL, 0, 0, &e, NULL);
    if (rc == 0)
        FS_STAT_ADD((struct fs *)fuse_req_userdata(req), mkdirs, 1);
    reply_entry(req, "mkdir", parent, name, rc, &e);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
    struct fuse_entry_param e;
    int rc = strlen(link) > 4096
                 ? -ENAMETOOLONG
                 : make_entry(req, parent, name, FS_T_LINK, 0777, link, 0, 0, &e, NULL);
    reply_entry(req, "symlink", parent, name, rc, &e);
}

struct link_arg {
    const struct fs_path *src, *dir, *dst;
    struct fs_attr a; /* out: the file's, after */
};

static int link_fn(struct fs *fs, struct fs_tx *tx, void *arg)
{
    struct link_arg *l = arg;
    struct fs_attr pa;
    int rc = fs_ns_resolve(fs, tx->t, l->dir, &pa);
    if (rc)
        return rc;
    if (pa.m.type != FS_T_DIR)
        return -ENOTDIR;
    if ((rc = fs_ns_link(fs, tx->t, l->src, l->dst, &l->a)) != 0)
        return rc;
    return fs_ns_dir_touch(fs, tx->t, l->dir, fs_now_ns(), 0);
}

/* A new name for the file of node ino (names.c has the layout): the kernel
 * is told the same inode, one lookup more. */
static int fs_do_link(struct fs *fs, fuse_ino_t ino, fuse_ino_t newparent, const char *newname,
                      struct fuse_entry_param *e)
{
    struct fs_path src = {0}, dir = {0}, dst = {0};
    struct fs_node *n = fs_node_get(fs, ino), *pn = fs_node_get(fs, newparent);
    int rc;
    memset(e, 0, sizeof(*e));
    if (!n || !pn) {
        rc = -ENOENT;
        goto out;
    }
    if (n->kind != K_ENTRY || n->type == FS_T_DIR) {
        rc = -EPERM; /* directories, stores, control files */
        goto out;
    }
    if (is_ctl(pn) || pn->type != FS_T_DIR) {
        rc = -ENOTDIR;
        goto out;
    }
    if ((rc = fs_name_check(newname, pn->kind == K_ROOT)) != 0)
        goto out;
    if (pn->kind == K_ROOT) { /* the root holds stores only */
        rc = -EPERM;
        goto out;
    }
    pthread_mutex_lock(&fs->mu);
    bool gone = n->detached;
    pthread_mutex_unlock(&fs->mu);
    if (gone) {
        rc = -ENOENT;
        goto out;
    }
    /* what writers wrote so far moves with the file to its inode */
    pthread_mutex_lock(&n->mu);
    fs_writer_settle(fs, n);
    pthread_mutex_unlock(&n->mu);
    if ((rc = fs_node_path(fs, n, &src)) != 0 || (rc = fs_node_path(fs, pn, &dir)) != 0 ||
        (rc = fs_path_child(&dir, newname, &dst)) != 0)
        goto out;
    struct link_arg l = {.src = &src, .dir = &dir, .dst = &dst};
    if ((rc = fs_run(fs, &src, &dst, true, link_fn, &l)) != 0)
        goto out;
    fs_node_set_link(fs, n, l.a.m.link);
    pthread_mutex_lock(&fs->mu);
    n->nlookup++; /* the reply is an entry: the kernel counts a lookup */
    pthread_mutex_unlock(&fs->mu);
    remember_attr(fs, n, &l.a, false);
    fill_entry(fs, n, &l.a, e);
out:
    fs_path_free(&src);
    fs_path_free(&dir);
    fs_path_free(&dst);
    fs_node_put(fs, n);
    fs_node_put(fs, pn);
    return rc;
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
    struct fuse_entry_param e;
    int rc = fs_do_link(fuse_req_userdata(req), ino, newparent, newname, &e);
    reply_entry(req, "link", newparent, newname, rc, &e);
}

/* ------------------------------------------------------------ removing entries */

struct remove_arg {
    const struct fs_path *parent, *p;
    bool dir;
    bool linked;      /* out: it was a name of a hard-linked file ... */
    uint8_t link[16]; /* ... this one */
    uint64_t left;    /* ... which has this many names left           */
};

static int remove_fn(struct fs *fs, struct fs_tx *tx, void *arg)
{
    struct remove_arg *r = arg;
    struct fs_attr a;
    int rc;
    if (r->dir && !r->p->klen) { /* rmdir at the root: drop the store */
        sop_store *s;
        if ((rc = fs_ns_open_store(fs, tx->t, r->p->store, &s)) != 0 ||
            (rc = fs_ns_empty(fs, tx->t, r->p)) != 0)
            return rc;
        if ((rc = sop_store_drop(tx->t, r->p->store)) != 0)
            return fs_sop_err(fs, tx->t, rc, "drop store");
        rc = fs_ns_meta_del(fs, tx->t, r->p, FS_T_DIR);
        if (rc && rc != -ENOENT)
            return rc;
        return fs_ns_dir_touch(fs, tx->t, r->parent, fs_now_ns(), 0);
    }
    if ((rc = fs_ns_resolve(fs, tx->t, r->p, &a)) != 0)
        return rc;
    if (r->dir) {
        struct fs_path cp;
        if (a.m.type != FS_T_DIR)
            return -ENOTDIR;
        if ((rc = fs_ns_dir_path(r->p, &a, &cp)) != 0)
            return rc;
        rc = fs_ns_empty(fs, tx->t, &cp);
        fs_path_free(&cp);
        if (rc)
            return rc;
    } else if (a.m.type == FS_T_DIR) {
        return -EISDIR;
    }
    r->linked = a.m.linked && a.m.type != FS_T_DIR;
    memcpy(r->link, a.m.link, sizeof(r->link));
    if ((rc = fs_ns_remove(fs, tx->t, r->p, a.m.type, &r->left)) != 0)
        return rc;
    return fs_ns_dir_touch(fs, tx->t, r->parent, fs_now_ns(), r->dir ? -1 : 0);
}

/* A name went: its node goes with it, unless it is a hard-linked file that
 * other names still reach. */
static void name_gone(struct fs *fs, struct fs_node *pn, const char *name, bool linked,
                      const uint8_t *link, uint64_t left)
{
    if (!linked) {
        fs_node_detach(fs, pn, name);
    } else if (left > 0) {
        fs_node_unname(fs, pn, name);
    } else {
        fs_node_detach(fs, pn, name);
        fs_node_detach_link(fs, link);
    }
}

static int fs_do_remove(struct fs *fs, fuse_ino_t parent, const char *name, bool dir)
{
    struct fs_path dp = {0}, cp = {0};
    int rc;
    struct fs_node *pn = fs_node_get(fs, parent);
    if (!pn)
        return -ENOENT;
    if (is_ctl(pn) || pn->type != FS_T_DIR) {
        rc = -ENOTDIR;
        goto out;
    }
    if (fs_name_reserved(name, strlen(name), pn->kind == K_ROOT)) {
        rc = !strcmp(name, ".sop-txn") || !strcmp(name, ".sop-stats") ? -EPERM : -ENOENT;
        goto out;
    }
    if (pn->kind == K_ROOT && !dir) {
        rc = -EISDIR;
        goto out;
    }
    if ((rc = fs_node_path(fs, pn, &dp)) != 0 || (rc = fs_path_child(&dp, name, &cp)) != 0)
        goto out;
    if (dir && fs_scope_below(fs, &cp)) { /* a directory with an open .sop-txn */
        rc = -EBUSY;
        goto out;
    }
    struct remove_arg r = {.parent = &dp, .p = &cp, .dir = dir};
    if ((rc = fs_run(fs, &cp, NULL, true, remove_fn, &r)) == 0)
        name_gone(fs, pn, name, r.linked, r.link, r.left);
out:
    fs_path_free(&dp);
    fs_path_free(&cp);
    fs_node_put(fs, pn);
    return rc;
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct fs *fs = fuse_req_userdata(req);
    int rc = fs_do_remove(fs, parent, name, false);
    FS_STAT_ADD(fs, unlinks, rc == 0);
    fs_log(LOG_DEBUG, "unlink %llu/%s: %s", (unsigned long long)parent, name,
           rc ? strerror(-rc) : "ok");
    fuse_reply_err(req, -rc);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct fs *fs = fuse_req_userdata(req);
    int rc = fs_do_remove(fs, parent, name, true);
    FS_STAT_ADD(fs, rmdirs, rc == 0);
    fs_log(LOG_DEBUG, "rmdir %llu/%s: %s", (unsigned long long)parent, name,
           rc ? strerror(-rc) : "ok");
    fuse_reply_err(req, -rc);
}

/* ------------------------------------------------------------ rename */

struct rename_arg {
    const struct fs_path *sdir, *ddir; /* their directories */
    const struct fs_path *src, *dst;
    bool dst_linked;      /* out: the target replaced was a name of a hard-linked */
    uint8_t dst_link[16]; /* file, this one, with dst_left names left            */
    uint64_t dst_left;
    bool noop;
    unsigned flags;
};

static int rename_fn(struct fs *fs, struct fs_tx *tx, void *arg)
{
    struct rename_arg *r = arg;
    struct fs_attr sa, da;
    sop_store *s;
    int rc;

    if (!r->src->klen) { /* a store */
        if ((rc = fs_ns_open_store(fs, tx->t, r->src->store, &s)) != 0)
            return rc;
        rc = fs_ns_open_store(fs, tx->t, r->dst->store, &s);
        if (rc == 0) {
            if (r->flags & RENAME_NOREPLACE)
                return -EEXIST;
            if ((rc = fs_ns_empty(fs, tx->t, r->dst)) != 0)
                return rc;
            if ((rc = sop_store_drop(tx->t, r->dst->store)) != 0)
                return fs_sop_err(fs, tx->t, rc, "rename: drop target store");
            rc = fs_ns_meta_del(fs, tx->t, r->dst, FS_T_DIR);
            if (rc && rc != -ENOENT)
                return rc;
        } else if (rc != -ENOENT) {
            return rc;
        }
        if ((rc = fs_ns_move_store(fs, tx->t, r->src->store, r->dst->store)) != 0)
            return rc;
        return fs_ns_dir_touch(fs, tx->t, r->sdir, fs_now_ns(), 0);
    }
    if ((rc = fs_ns_resolve(fs, tx->t, r->src, &sa)) != 0)
        return rc;
    if (sa.m.type == FS_T_DIR && fs_path_under(r->dst, r->src))
        return -EINVAL; /* into its own subtree */
    if (sa.m.linked && strcmp(r->src->store, r->dst->store))
        return -EXDEV; /* hard-linked files and bases stay in their store (names.c) */
    rc = fs_ns_resolve(fs, tx->t, r->dst, &da);
    bool replaced = rc == 0 && da.m.type == FS_T_DIR;
    if (rc == 0) {
        if (r->flags & RENAME_NOREPLACE)
            return -EEXIST;
        if (sa.m.type != FS_T_DIR && sa.m.linked && da.m.linked &&
            !memcmp(sa.m.link, da.m.link, 16)) {
            r->noop = true; /* two names of one file: POSIX says nothing happens */
            return 0;
        }
        r->dst_linked = da.m.linked && da.m.type != FS_T_DIR;
        memcpy(r->dst_link, da.m.link, 16);
        if (sa.m.type == FS_T_DIR && da.m.type != FS_T_DIR)
            return -ENOTDIR;
        if (sa.m.type != FS_T_DIR && da.m.type == FS_T_DIR)
            return -EISDIR;
        if (da.m.type == FS_T_DIR) {
            struct fs_path cp;
            if ((rc = fs_ns_dir_path(r->dst, &da, &cp)) != 0)
                return rc;
            rc = fs_ns_empty(fs, tx->t, &cp);
            fs_path_free(&cp);
            if (rc)
                return rc;
        }
        if ((rc = fs_ns_remove(fs, tx->t, r->dst, da.m.type, &r->dst_left)) != 0)
            return rc;
    } else if (rc != -ENOENT) {
        return rc;
    }
    if ((rc = fs_ns_move(fs, tx->t, r->src, sa.m.type, r->dst)) != 0)
        return rc;
    /* both directories change (POSIX); a directory moving between them moves
     * a subdirectory from one count to the other, one it replaced leaves */
    int64_t now = fs_now_ns();
    bool dir = sa.m.type == FS_T_DIR;
    bool same = fs_path_equal(r->sdir, r->ddir);
    if (!same && (rc = fs_ns_dir_touch(fs, tx->t, r->sdir, now, dir ? -1 : 0)) != 0)
        return rc;
    return fs_ns_dir_touch(fs, tx->t, r->ddir, now, (dir && !same) - (replaced ? 1 : 0));
}

/* Commit what an open writer of node (parent, name) wrote so far, so the
 * rename moves it and the writer goes on in a new transaction. */
static void settle_writer(struct fs *fs, struct fs_node *parent, const char *name)
{
    struct fs_node *n = fs_node_child(fs, parent, name);
    if (!n)
        return;
    pthread_mutex_lock(&n->mu);
    fs_writer_settle(fs, n);
    pthread_mutex_unlock(&n->mu);
    fs_node_put(fs, n);
}

struct collect {
    struct fs_node **v;
    size_t n, cap;
};

/* Under fs->mu: keep (referenced) the file nodes below a moved directory. */
static void collect_file(struct fs *fs, struct fs_node *n, void *arg)
{
    struct collect *c = arg;
    (void)fs;
    if (n->kind != K_ENTRY || n->type != FS_T_FILE)
        return;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        struct fs_node **v = realloc(c->v, cap * sizeof(*v));
        if (!v)
            return;
        c->v = v;
        c->cap = cap;
    }
    n->refs++;
    c->v[c->n++] = n;
}

/* The same for every file below directory p (a scan of the inode table:
 * directory renames only). */
static void settle_writers_below(struct fs *fs, const struct fs_path *p)
{
    struct collect c = {.v = NULL};
    fs_nodes_under(fs, p, collect_file, &c);
    for (size_t i = 0; i < c.n; i++) {
        struct fs_node *n = c.v[i];
        pthread_mutex_lock(&n->mu);
        fs_writer_settle(fs, n);
        pthread_mutex_unlock(&n->mu);
        fs_node_put(fs, n);
    }
    free(c.v);
}

static int fs_do_rename(struct fs *fs, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                        const char *newname, unsigned flags)
{
    struct fs_path sdp = {0}, ddp = {0}, sp = {0}, dp = {0};
    struct fs_node *pn = fs_node_get(fs, parent), *npn = fs_node_get(fs, newparent);
    int rc;

    if (!pn || !npn) {
        rc = -ENOENT;
        goto out;
    }
    if (flags & ~RENAME_NOREPLACE) {
        rc = -EINVAL; /* RENAME_EXCHANGE, RENAME_WHITEOUT */
        goto out;
    }
    if (is_ctl(pn) || is_ctl(npn)) {
        rc = -ENOTDIR;
        goto out;
    }
    if (fs_name_reserved(name, strlen(name), pn->kind == K_ROOT)) {
        rc = !strcmp(name, ".sop-txn") || !strcmp(name, ".sop-stats") ? -EPERM : -ENOENT;
        goto out;
    }
    if ((rc = fs_name_check(newname, npn->kind == K_ROOT)) != 0)
        goto out;
    if ((pn->kind == K_ROOT) != (npn->kind == K_ROOT)) {
        rc = -EXDEV; /* a store into a store, or a directory out to the root */
        goto out;
    }
    if ((rc = fs_node_path(fs, pn, &sdp)) != 0 || (rc = fs_node_path(fs, npn, &ddp)) != 0 ||
        (rc = fs_path_child(&sdp, name, &sp)) != 0 || (rc = fs_path_child(&ddp, newname, &dp)) != 0)
        goto out;
    if (fs_path_equal(&sp, &dp))
        goto out;
    /* a scope rooted at or below either path would be moved or replaced:
     * the scope's own root leaving it is EXDEV, anything else EBUSY */
    if (fs_scope_below(fs, &sp) || fs_scope_below(fs, &dp)) {
        struct fs_scope *s = fs_scope_find(fs, &sp);
        rc = s ? -EXDEV : -EBUSY;
        fs_scope_put(fs, s);
        goto out;
    }
    settle_writer(fs, pn, name);
    struct fs_node *sn = fs_node_child(fs, pn, name);
    if (sn) {
        if (sn->type == FS_T_DIR)
            settle_writers_below(fs, &sp);
        fs_node_put(fs, sn);
    }
    struct rename_arg r = {.sdir = &sdp, .ddir = &ddp, .src = &sp, .dst = &dp, .flags = flags};
    if ((rc = fs_run(fs, &sp, &dp, true, rename_fn, &r)) == 0 && !r.noop) {
        rc = fs_node_move(fs, pn, name, npn, newname);
        if (r.dst_linked && r.dst_left == 0)
            fs_node_detach_link(fs, r.dst_link); /* the file it replaced had no other name */
    }
out:
    fs_path_free(&sdp);
    fs_path_free(&ddp);
    fs_path_free(&sp);
    fs_path_free(&dp);
    fs_node_put(fs, pn);
    fs_node_put(fs, npn);
    return rc;
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags)
{
    struct fs *fs = fuse_req_userdata(req);
    int rc = fs_do_rename(fs, parent, name, newparent, newname, flags);
    FS_STAT_ADD(fs, renames, rc == 0);
    fs_log(LOG_DEBUG, "rename %llu/%s -> %llu/%s: %s", (unsigned long long)parent, name,
           (unsigned long long)newparent, newname, rc ? strerror(-rc) : "ok");
    fuse_reply_err(req, -rc);
}

/* ------------------------------------------------------------ open files */

static void handle_track(struct fs *fs, struct fs_handle *h)
{
    pthread_mutex_lock(&fs->mu);
    h->prev = NULL;
    h->next = fs->handles;
    if (fs->handles)
        fs->handles->prev = h;
    fs->handles = h;
    fs->open_files++;
    pthread_mutex_unlock(&fs->mu);
}

static void handle_untrack(struct fs *fs, struct fs_handle *h)
{
    pthread_mutex_lock(&fs->mu);
    if (h->prev)
        h->prev->next = h->next;
    else
        fs->handles = h->next;
    if (h->next)
        h->next->prev = h->prev;
    fs->open_files--;
    pthread_mutex_unlock(&fs->mu);
}

static void handle_free(struct fs *fs, struct fs_handle *h)
{
    if (h->rtxn)
        sop_txn_rollback(h->rtxn);
    fs_path_free(&h->rpath);
    fs_scope_put(fs, h->scope);
    fs_node_put(fs, h->node);
    pthread_mutex_destroy(&h->mu);
    free(h->resume);
    free(h->text);
    free(h);
}

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
    if (is_ctl(n)) {
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
        handle_free(fs, h);
    } else {
        handle_track(fs, h);
    }
    return rc;
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
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

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                      struct fuse_file_info *fi)
{
    struct fs *fs = fuse_req_userdata(req);
    struct fuse_entry_param e;
    bool existed = false;
    int rc =
        make_entry(req, parent, name, FS_T_FILE, mode, NULL, 0, fi->flags | O_CREAT, &e, &existed);
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

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
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

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
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

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
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
    handle_untrack(fs, h);
    handle_free(fs, h);
    return rc;
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct fs *fs = fuse_req_userdata(req);
    int rc = fs_do_release(fs, (struct fs_handle *)(uintptr_t)fi->fh);
    fs_log(rc ? LOG_WARNING : LOG_DEBUG, "release %llu: %s", (unsigned long long)ino,
           rc ? strerror(-rc) : "ok");
    fuse_reply_err(req, -rc);
}

static int fs_do_fsync(struct fs *fs, struct fs_handle *h)
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

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    struct fs *fs = fuse_req_userdata(req);
    (void)datasync;
    int rc = fs_do_fsync(fs, (struct fs_handle *)(uintptr_t)fi->fh);
    fs_log(LOG_DEBUG, "fsync %llu: %s", (unsigned long long)ino, rc ? strerror(-rc) : "ok");
    fuse_reply_err(req, -rc);
}

/* ------------------------------------------------------------ directories */

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct fs *fs = fuse_req_userdata(req);
    struct fs_node *n = fs_node_get(fs, ino);
    if (!n) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    if (n->type != FS_T_DIR || is_ctl(n)) {
        fs_node_put(fs, n);
        fuse_reply_err(req, ENOTDIR);
        return;
    }
    struct fs_handle *h = calloc(1, sizeof(*h));
    if (!h) {
        fs_node_put(fs, n);
        fuse_reply_err(req, ENOMEM);
        return;
    }
    pthread_mutex_init(&h->mu, NULL);
    h->kind = H_DIR;
    h->node = n;
    fi->fh = (uint64_t)(uintptr_t)h;
    handle_track(fs, h);
    if (fuse_reply_open(req, fi) == -ENOENT) {
        handle_untrack(fs, h);
        handle_free(fs, h);
    }
}

struct readdir_arg {
    struct fs *fs;
    fuse_req_t req;
    struct fs_handle *h;
    char *buf;
    size_t size, used;
    uint64_t skip; /* entries to pass over (a seekdir back) */
    /* readdirplus: each entry with its attributes, read in the listing's
     * transaction t; each counts as a lookup (the inodes are kept in ino[]
     * so that a reply the kernel never took can be taken back) */
    bool plus;
    sop_txn *t;
    const struct fs_path *dir;
    fuse_ino_t *ino;
    size_t nino, cap;
};

static int remember(struct fs_handle *h, const char *sk, size_t sklen)
{
    char *r = realloc(h->resume, sklen + 1);
    if (!r)
        return -ENOMEM;
    memcpy(r, sk, sklen);
    r[sklen] = '\0';
    h->resume = r;
    h->resume_len = sklen;
    return 0;
}

static int add_dirent(struct readdir_arg *r, const char *name, unsigned dtype, fuse_ino_t ino)
{
    struct stat st;
    memset(&st, 0, sizeof(st));
    st.st_ino = ino;
    st.st_mode = dtype << 12;
    size_t need;
    if (r->plus) { /* no lookup: ".", "..", or an entry without attributes */
        struct fuse_entry_param e;
        memset(&e, 0, sizeof(e));
        e.attr = st;
        need = fuse_add_direntry_plus(r->req, r->buf + r->used, r->size - r->used, name, &e,
                                      (off_t)(r->h->next_off + 1));
    } else {
        need = fuse_add_direntry(r->req, r->buf + r->used, r->size - r->used, name, &st,
                                 (off_t)(r->h->next_off + 1));
    }
    if (need > r->size - r->used)
        return 1; /* full */
    r->used += need;
    r->h->next_off++;
    return 0;
}

/* A readdirplus entry: its attributes as a lookup would give them, and one
 * lookup counted.  Returns 0 (added or, without attributes, added plain),
 * 1 when the buffer is full, or -errno. */
static int add_dirent_plus(struct readdir_arg *r, const char *name, unsigned dtype)
{
    struct fs *fs = r->fs;
    struct fs_node *dir = r->h->node, *n = NULL;
    struct fs_path cp = {0};
    struct fs_attr a;
    /* a scope's changes are seen through its own transaction (lookup);
     * while any scope is open, entries carry no attributes */
    if (__atomic_load_n(&fs->nopen_scopes, __ATOMIC_ACQUIRE) > 0 ||
        fs_path_child(r->dir, name, &cp) != 0 || fs_ns_resolve(fs, r->t, &cp, &a) != 0) {
        fs_path_free(&cp);
        return add_dirent(r, name, dtype, UNKNOWN_INO);
    }
    if (r->nino == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 64;
        fuse_ino_t *v = realloc(r->ino, cap * sizeof(*v));
        if (!v) {
            fs_path_free(&cp);
            return -ENOMEM;
        }
        r->ino = v;
        r->cap = cap;
    }
    n = fs_node_lookup(fs, dir, name, dir->kind == K_ROOT ? K_STORE : K_ENTRY, a.m.type,
                       a.m.linked ? a.m.link : NULL);
    if (!n) {
        fs_path_free(&cp);
        return -ENOMEM;
    }
    double timeout = fs->cfg.attr_timeout;
    bool sole = false;
    int w = writer_view(fs, n, NULL, fuse_req_ctx(r->req)->pid, &cp, &a, &sole, &timeout);
    fs_path_free(&cp);
    if (w < 0) {
        fs_node_forget(fs, n->ino, 1);
        return add_dirent(r, name, dtype, UNKNOWN_INO);
    }
    struct fuse_entry_param e;
    fill_entry(fs, n, &a, &e);
    e.attr_timeout = timeout;
    size_t need = fuse_add_direntry_plus(r->req, r->buf + r->used, r->size - r->used, name, &e,
                                         (off_t)(r->h->next_off + 1));
    if (need > r->size - r->used) {
        fs_node_forget(fs, n->ino, 1);
        return 1; /* full */
    }
    remember_attr(fs, n, &a, w > 0 && sole);
    r->ino[r->nino++] = n->ino;
    r->used += need;
    r->h->next_off++;
    return 0;
}

static int readdir_cb(const char *name, size_t nlen, unsigned dtype, const char *sortkey,
                      size_t sklen, void *arg)
{
    struct readdir_arg *r = arg;
    (void)nlen;
    if (r->skip) {
        r->skip--;
        r->h->next_off++;
        return remember(r->h, sortkey, sklen) ? -ENOMEM : 0;
    }
    int rc;
    if (r->plus) {
        rc = add_dirent_plus(r, name, dtype);
    } else {
        fuse_ino_t ino = UNKNOWN_INO;
        struct fs_node *c = fs_node_child(r->fs, r->h->node, name);
        if (c) {
            ino = c->ino;
            fs_node_put(r->fs, c);
        }
        rc = add_dirent(r, name, dtype, ino);
    }
    if (rc)
        return rc;
    return remember(r->h, sortkey, sklen) ? -ENOMEM : 0;
}

struct list_arg {
    const struct fs_path *p;
    struct readdir_arg *r;
};

static int list_fn(struct fs *fs, struct fs_tx *tx, void *arg)
{
    struct list_arg *l = arg;
    struct fs_handle *h = l->r->h;
    l->r->t = tx->t;
    l->r->dir = l->p;
    int rc =
        fs_ns_list(fs, tx->t, l->p, h->resume ? h->resume : "", h->resume_len, readdir_cb, l->r);
    if (rc == 0)
        h->at_end = true;
    return rc > 0 ? 0 : rc;
}

/* List into buf; with plus, *ino gets the inodes whose lookup the entries
 * counted (*nino of them, to forget if the reply does not reach the kernel). */
static int fs_do_readdir(struct fs *fs, fuse_req_t req, struct fs_handle *h, size_t size, off_t off,
                         char *buf, size_t *used, bool plus, fuse_ino_t **ino, size_t *nino)
{
    struct fs_path p = {0};
    struct readdir_arg r = {.fs = fs, .req = req, .h = h, .buf = buf, .size = size, .plus = plus};
    int rc = 0;

    pthread_mutex_lock(&h->mu);
    if (off == 0 || (uint64_t)off != h->next_off) { /* from the start (rewinddir, seekdir) */
        free(h->resume);
        h->resume = NULL;
        h->resume_len = 0;
        h->next_off = 0;
        h->at_end = false;
        r.skip = off > 2 ? (uint64_t)off - 2 : 0;
    }
    if (h->next_off < (uint64_t)off && h->next_off < 2)
        h->next_off = (uint64_t)off < 2 ? (uint64_t)off : 2;
    if (h->next_off == 0 && add_dirent(&r, ".", DT_DIR, h->node->ino))
        goto out;
    if (h->next_off == 1) {
        fuse_ino_t up = h->node->parent ? h->node->parent->ino : h->node->ino;
        if (add_dirent(&r, "..", DT_DIR, up))
            goto out;
    }
    if (h->at_end)
        goto out;
    if ((rc = fs_node_path(fs, h->node, &p)) != 0)
        goto out;
    struct list_arg l = {.p = &p, .r = &r};
    rc = fs_run(fs, &p, NULL, false, list_fn, &l);
out:
    pthread_mutex_unlock(&h->mu);
    fs_path_free(&p);
    *used = r.used;
    *ino = r.ino;
    *nino = r.nino;
    /* entries already placed are returned; an error with none is reported */
    return r.used ? 0 : rc;
}

static void reply_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                          struct fuse_file_info *fi, bool plus)
{
    struct fs *fs = fuse_req_userdata(req);
    struct fs_handle *h = (struct fs_handle *)(uintptr_t)fi->fh;
    size_t used = 0, nino = 0;
    fuse_ino_t *inos = NULL;
    char *buf = malloc(size ? size : 1);
    int rc = buf ? fs_do_readdir(fs, req, h, size, off, buf, &used, plus, &inos, &nino) : -ENOMEM;
    fs_log(LOG_DEBUG, "readdir%s %llu @%lld: %s %zu bytes", plus ? "plus" : "",
           (unsigned long long)ino, (long long)off, rc ? strerror(-rc) : "ok", used);
    if (rc) {
        fuse_reply_err(req, -rc);
    } else if (fuse_reply_buf(req, buf, used) == -ENOENT) {
        for (size_t i = 0; i < nino; i++) /* interrupted: the kernel counted none */
            fs_node_forget(fs, inos[i], 1);
    }
    free(inos);
    free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
    reply_readdir(req, ino, size, off, fi, false);
}

/* ls -l, find -size, rsync and du read every entry's attributes: one request
 * per buffer of entries instead of one lookup each. */
static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                           struct fuse_file_info *fi)
{
    reply_readdir(req, ino, size, off, fi, true);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct fs *fs = fuse_req_userdata(req);
    struct fs_handle *h = (struct fs_handle *)(uintptr_t)fi->fh;
    (void)ino;
    handle_untrack(fs, h);
    handle_free(fs, h);
    fuse_reply_err(req, 0);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    struct fs *fs = fuse_req_userdata(req);
    (void)ino;
    (void)datasync;
    (void)fi;
    fuse_reply_err(req, -fs_do_fsync(fs, NULL));
}

/* ------------------------------------------------------------ statfs */

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
    struct fs *fs = fuse_req_userdata(req);
    struct statvfs sv;
    (void)ino;
    if (statvfs(fs->data_dir, &sv) != 0) {
        int e = errno;
        fs_log(LOG_ERR, "statfs %s: %s", fs->data_dir, strerror(e));
        fuse_reply_err(req, e);
        return;
    }
    sv.f_namemax = FS_MAX_NAME;
    /* the engine's reserve (kept for deletes and reclamation) is not free
     * for writers: df shows it as used, as ext4's reserved blocks */
    sop_db_space sp;
    if (sop_db_get_space(fs->db, &sp) == 0 && sv.f_frsize) {
        fsblkcnt_t keep = (fsblkcnt_t)(sp.reserve / sv.f_frsize);
        sv.f_bavail = sv.f_bavail > keep ? sv.f_bavail - keep : 0;
    }
    fuse_reply_statfs(req, &sv);
}

/* ------------------------------------------------------------ xattrs */

static int node_path_of(struct fs *fs, fuse_ino_t ino, struct fs_path *p)
{
    struct fs_node *n = fs_node_get(fs, ino);
    if (!n)
        return -ENOENT;
    int rc = is_ctl(n) ? -ENODATA : fs_node_path(fs, n, p);
    fs_node_put(fs, n);
    return rc;
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                        size_t size, int flags)
{
    struct fs *fs = fuse_req_userdata(req);
    struct fs_path p = {0};
    int rc = node_path_of(fs, ino, &p);
    if (rc == -ENODATA)
        rc = -ENOTSUP;
    if (rc == 0)
        rc = fs_xattr_set(fs, &p, name, value, size, flags);
    fs_log(LOG_DEBUG, "setxattr %llu %s: %s", (unsigned long long)ino, name,
           rc ? strerror(-rc) : "ok");
    fs_path_free(&p);
    fuse_reply_err(req, -rc);
}

static void reply_xattr(fuse_req_t req, int rc, const char *val, size_t len, size_t size)
{
    if (rc)
        fuse_reply_err(req, -rc);
    else if (size == 0)
        fuse_reply_xattr(req, len);
    else if (len > size)
        fuse_reply_err(req, ERANGE);
    else
        fuse_reply_buf(req, val, len);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
    struct fs *fs = fuse_req_userdata(req);
    struct fs_path p = {0};
    char *val = NULL;
    size_t len = 0;
    int rc = node_path_of(fs, ino, &p);
    if (rc == 0)
        rc = fs_xattr_get(fs, &p, name, &val, &len);
    reply_xattr(req, rc, val, len, size);
    free(val);
    fs_path_free(&p);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
    struct fs *fs = fuse_req_userdata(req);
    struct fs_path p = {0};
    char *val = NULL;
    size_t len = 0;
    int rc = node_path_of(fs, ino, &p);
    if (rc == -ENODATA)
        rc = 0;
    else if (rc == 0)
        rc = fs_xattr_list(fs, &p, &val, &len);
    reply_xattr(req, rc, val, len, size);
    free(val);
    fs_path_free(&p);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
    struct fs *fs = fuse_req_userdata(req);
    struct fs_path p = {0};
    int rc = node_path_of(fs, ino, &p);
    if (rc == 0)
        rc = fs_xattr_remove(fs, &p, name);
    fs_path_free(&p);
    fuse_reply_err(req, -rc);
}

/* ------------------------------------------------------------ session */

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
    (void)userdata;
    if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
        conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;         /* O_TRUNC inside the writer's transaction */
    conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE; /* writes must reach us at once */
    /* the page cache is kept or dropped at open by generation (top); with
     * auto_inval_data the kernel would also drop it whenever an attribute
     * refresh shows a new mtime, which every commit makes */
    conn->want &= ~(unsigned)FUSE_CAP_AUTO_INVAL_DATA;
    if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
        conn->want |= FUSE_CAP_PARALLEL_DIROPS;
    conn->max_write = MAX_IO; /* libfuse caps it at its buffer size */
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
    .lookup = op_lookup,
    .forget = op_forget,
    .forget_multi = op_forget_multi,
    .getattr = op_getattr,
    .setattr = op_setattr,
    .readlink = op_readlink,
    .mknod = op_mknod,
    .mkdir = op_mkdir,
    .unlink = op_unlink,
    .rmdir = op_rmdir,
    .symlink = op_symlink,
    .rename = op_rename,
    .link = op_link,
    .open = op_open,
    .read = op_read,
    .write = op_write,
    .flush = op_flush,
    .release = op_release,
    .fsync = op_fsync,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .readdirplus = op_readdirplus,
    .releasedir = op_releasedir,
    .fsyncdir = op_fsyncdir,
    .statfs = op_statfs,
    .setxattr = op_setxattr,
    .getxattr = op_getxattr,
    .listxattr = op_listxattr,
    .removexattr = op_removexattr,
    .create = op_create,
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
        if (rc == SOP_EBUSY)
            snprintf(err, errlen, "%s is in use by another process (locked)", fs->data_dir);
        else
            snprintf(err, errlen, "open the database in %s: %s%s%s", fs->data_dir, sop_strerror(rc),
                     why && *why ? ": " : "", why ? why : "");
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
    while (fs->handles) { /* the kernel will send no release any more */
        struct fs_handle *h = fs->handles;
        fs->handles = h->next;
        if (h->rtxn)
            sop_txn_rollback(h->rtxn);
        pthread_mutex_destroy(&h->mu);
        free(h->resume);
        free(h->text);
        free(h);
    }
    fs_scopes_free(fs);
    fs_nodes_free(fs);
    sop_db_close(fs->db);
    pthread_mutex_destroy(&fs->mu);
    pthread_mutex_destroy(&fs->scope_mu);
    pthread_mutex_destroy(&fs->note_mu);
    pthread_cond_destroy(&fs->note_cv);
    free(fs->data_dir);
    free(fs->mountpoint);
    free(fs);
}
