/*
 * attr.c - attributes: what the kernel is told of an entry (getattr,
 * setattr, readlink), and the helpers the other operations tell it with.
 *
 * Entries and attributes are cached by the kernel for entry_timeout and
 * attr_timeout (1 s by default); a control file's attributes never are,
 * and while a file is open for writing its attributes are given with no
 * timeout and a writer's view is told (fs_attr_writer_view; writer.c says
 * whose and why).  Metadata changes made while a file is open for writing
 * (chmod, utimes, truncate) join the writer's transaction, so they never
 * conflict with it; any other setattr runs in a transaction of its own,
 * retried on conflict, or in its scope's (tx.c).
 *
 * What lookup, getattr, readdirplus and the calls that make or link an
 * entry tell the kernel is remembered on its node (fs_attr_remember): an
 * open file whose name is gone (fstat after unlink) is answered with what
 * was last told, and a writer's commit learns whether anything but its
 * own view was told meanwhile (node->attr_told).
 *
 * Calls names.c (records), inode.c (nodes and their paths), tx.c, writer.c
 * (a group's view), and errors.c, clock.c, log.c; reads a handle's snapshot
 * (handle.h); a readlink reads the link's value.
 */
#include "attr.h"
#include "clock.h"
#include "errors.h"
#include "handle.h"
#include "inode.h"
#include "log.h"
#include "names.h"
#include "path.h"
#include "sop.h"
#include "tx.h"
#include "types.h"
#include "wgroup.h"
#include "writer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>

/* st_blksize, the I/O size cp, dd and stdio pick: max_write.
 * Each request is a round trip, and the kernel precedes each write with a
 * getxattr of security.capability: 1 MiB writes copy 15-25% faster than the
 * 128 KiB ones a smaller st_blksize makes cp use. */
#define BLKSIZE FS_MAX_IO

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

void fs_attr_entry(struct fs *fs, const struct fs_node *n, const struct fs_attr *a,
                   struct fuse_entry_param *e)
{
    memset(e, 0, sizeof(*e));
    e->ino = n->ino;
    e->generation = 1;
    e->attr_timeout = fs_kind_ctl(n->kind) ? 0 : fs->cfg.attr_timeout;
    e->entry_timeout = fs->cfg.entry_timeout;
    fill_stat(n->ino, a, &e->attr);
}

void fs_attr_ctl(struct fs *fs, const struct fs_node *n, const struct fs_attr *dir,
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

struct resolve_arg {
    const struct fs_path *p;
    struct fs_attr a;
};

static int resolve_fn(struct fs *fs, struct fs_tx *tx, void *arg)
{
    struct resolve_arg *r = arg;
    return fs_ns_resolve(fs, tx->t, r->p, &r->a);
}

int fs_attr_resolve(struct fs *fs, const struct fs_path *p, struct fs_attr *a)
{
    struct resolve_arg r = {.p = p};
    int rc = fs_run(fs, p, NULL, false, resolve_fn, &r);
    if (rc == 0)
        *a = r.a;
    return rc;
}

void fs_attr_remember(struct fs *fs, struct fs_node *n, const struct fs_attr *a, bool sole_view)
{
    pthread_mutex_lock(&fs->mu);
    n->last_attr = *a;
    n->has_last_attr = true;
    if (!sole_view)
        n->attr_told++;
    pthread_mutex_unlock(&fs->mu);
}

int fs_attr_writer_view(struct fs *fs, struct fs_node *n, struct fs_wgroup *g, pid_t pid,
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
 * the caller is told a writer's view (fs_attr_writer_view, writer.c says whose);
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
    *timeout = fs_kind_ctl(n->kind) ? 0 : fs->cfg.attr_timeout;
    if (h && (h->node != n || h->kind != H_FILE || h->scope))
        h = NULL;
    if (fs_kind_ctl(n->kind)) {
        struct fs_attr da;
        if ((rc = fs_attr_resolve(fs, &p, &da)) == 0)
            fs_attr_ctl(fs, n, &da, &a);
        done = true;
    } else {
        rc = fs_attr_writer_view(fs, n, h ? h->wg : NULL, pid, &p, &a, &sole, timeout);
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
        rc = fs_attr_resolve(fs, &p, &a);
    if (rc == 0) {
        fs_attr_remember(fs, n, &a, sole);
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

void fs_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
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
    *timeout = fs_kind_ctl(n->kind) ? 0 : fs->cfg.attr_timeout;
    int rc = fs_node_path(fs, n, &p);
    if (rc)
        goto out;
    if (fs_kind_ctl(n->kind)) { /* `echo cmd > .sop-txn` may truncate it: nothing to do */
        if (to_set & ~(FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
                       FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME))
            rc = -EPERM;
        else if ((rc = fs_attr_resolve(fs, &p, &a)) == 0)
            fs_attr_ctl(fs, n, &a, &a);
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

void fs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
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

void fs_op_readlink(fuse_req_t req, fuse_ino_t ino)
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
