/*
 * entry.c - entries: the names in a directory, looked up and forgotten,
 * made (mknod, mkdir, symlink, and create's file), linked, removed and
 * renamed.
 *
 * Each change runs in one transaction of its own, retried on conflict, or
 * in the transaction of the scope it is in (fs_run, tx.c); the layout of
 * entries in stores is names.c's, the nodes the kernel holds inode.c's,
 * and what the kernel is told of an entry attr.c's.  Also calls writer.c
 * (open writers settle before a rename or link), scope.c (a rename or
 * rmdir may not take an open scope's directory away), query.c (which
 * stores have .sop-search), and errors.c, clock.c, log.c.
 *
 * Invariants:
 *  - a reply that hands the kernel an entry (lookup, mknod, mkdir, symlink,
 *    link, create) counts one lookup on its node, and the lookup is taken
 *    back when the reply does not reach the kernel (interrupted);
 *  - the inode table follows the store, never goes ahead of it: a name is
 *    detached, unnamed or moved only once fs_run has made the change;
 *  - a directory's mtime and ctime move with its entries (create, link,
 *    unlink, rename, mkdir, rmdir) by a merge (sop_merge: the newest time
 *    wins, at commit), not a read and a write of its record, so parallel
 *    creates in one directory do not conflict (names.c, fs_ns_dir_touch);
 *  - renaming a file (or a directory above it) open for writing commits
 *    what it wrote so far first, so the rename moves it, and so does a
 *    link; unlinking it discards what it writes (its close commits nothing:
 *    writer.c), as the data of an unlinked file vanishes with its last
 *    close;
 *  - reserved names (names.c) are never made, removed or renamed; of them,
 *    lookup finds only the control files (.sop-txn, .sop-stats, and
 *    .sop-search in search and vector stores).
 */
#include "entry.h"
#include "attr.h"
#include "clock.h"
#include "errors.h"
#include "inode.h"
#include "log.h"
#include "names.h"
#include "path.h"
#include "query.h"
#include "scope.h"
#include "sop.h"
#include "tx.h"
#include "types.h"
#include "writer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

/* ------------------------------------------------------------ lookup */

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
    if (fs_kind_ctl(pn->kind) || pn->type != FS_T_DIR) {
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
        if ((rc = fs_attr_resolve(fs, &dp, &da)) != 0)
            goto out;
        int kind = txnctl ? K_CTL_TXN : stats ? K_CTL_STATS : K_CTL_SEARCH;
        n = fs_node_lookup(fs, pn, name, kind, FS_T_FILE, NULL);
        if (!n) {
            rc = -ENOMEM;
            goto out;
        }
        fs_attr_ctl(fs, n, &da, &a);
    } else {
        if (fs_name_reserved(name, strlen(name), pn->kind == K_ROOT)) {
            rc = -ENOENT;
            goto out;
        }
        if ((rc = fs_path_child(&dp, name, &cp)) != 0 || (rc = fs_attr_resolve(fs, &cp, &a)) != 0)
            goto out;
        n = fs_node_lookup(fs, pn, name, pn->kind == K_ROOT ? K_STORE : K_ENTRY, a.m.type,
                           a.m.linked ? a.m.link : NULL);
        if (!n) {
            rc = -ENOMEM;
            goto out;
        }
    }
    double timeout = fs_kind_ctl(n->kind) ? 0 : fs->cfg.attr_timeout;
    bool sole = false;
    int w = fs_attr_writer_view(fs, n, NULL, pid, &cp, &a, &sole, &timeout);
    if (w < 0) {
        fs_node_forget(fs, n->ino, 1);
        rc = w;
        goto out;
    }
    fs_attr_remember(fs, n, &a, w > 0 && sole);
    fs_attr_entry(fs, n, &a, e);
    e->attr_timeout = timeout;
out:
    fs_path_free(&dp);
    fs_path_free(&cp);
    fs_node_put(fs, pn);
    return rc;
}

void fs_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
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

void fs_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    struct fs *fs = fuse_req_userdata(req);
    fs_node_forget(fs, ino, nlookup);
    fuse_reply_none(req);
}

void fs_op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
    struct fs *fs = fuse_req_userdata(req);
    for (size_t i = 0; i < count; i++)
        fs_node_forget(fs, forgets[i].ino, forgets[i].nlookup);
    fuse_reply_none(req);
}

/* ------------------------------------------------------------ making entries */

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

int fs_entry_make(fuse_req_t req, fuse_ino_t parent, const char *name, uint8_t type, mode_t mode,
                  const char *target, uint64_t rdev, int flags, struct fuse_entry_param *e,
                  bool *existed)
{
    struct fs *fs = fuse_req_userdata(req);
    const struct fuse_ctx *ctx = fuse_req_ctx(req);
    struct fs_path dp = {0}, cp = {0};
    int rc;

    memset(e, 0, sizeof(*e));
    struct fs_node *pn = fs_node_get(fs, parent);
    if (!pn)
        return -ENOENT;
    if (fs_kind_ctl(pn->kind) || pn->type != FS_T_DIR) {
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
    fs_attr_remember(fs, n, &m.a, false); /* fstat after unlink answers these */
    fs_attr_entry(fs, n, &m.a, e);
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

void fs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
    struct fuse_entry_param e;
    /* a FIFO, socket or device is an empty item with a record saying what it
     * is (names.c); the kernel opens them itself, never through us */
    uint8_t type = fs_ifmt_type(mode);
    int rc =
        type == FS_T_NONE || type == FS_T_DIR || type == FS_T_LINK
            ? -EINVAL
            : fs_entry_make(req, parent, name, type, mode, NULL,
                            type == FS_T_CHR || type == FS_T_BLK ? (uint64_t)rdev : 0, 0, &e, NULL);
    if (rc == 0)
        FS_STAT_ADD((struct fs *)fuse_req_userdata(req), creates, 1);
    reply_entry(req, "mknod", parent, name, rc, &e);
}

void fs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    struct fuse_entry_param e;
    int rc = fs_entry_make(req, parent, name, FS_T_DIR, mode, NULL, 0, 0, &e, NULL);
    if (rc == 0)
        FS_STAT_ADD((struct fs *)fuse_req_userdata(req), mkdirs, 1);
    reply_entry(req, "mkdir", parent, name, rc, &e);
}

void fs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
    struct fuse_entry_param e;
    int rc = strlen(link) > 4096
                 ? -ENAMETOOLONG
                 : fs_entry_make(req, parent, name, FS_T_LINK, 0777, link, 0, 0, &e, NULL);
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
    if (fs_kind_ctl(pn->kind) || pn->type != FS_T_DIR) {
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
    fs_attr_remember(fs, n, &l.a, false);
    fs_attr_entry(fs, n, &l.a, e);
out:
    fs_path_free(&src);
    fs_path_free(&dir);
    fs_path_free(&dst);
    fs_node_put(fs, n);
    fs_node_put(fs, pn);
    return rc;
}

void fs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
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
    if (fs_kind_ctl(pn->kind) || pn->type != FS_T_DIR) {
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

void fs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct fs *fs = fuse_req_userdata(req);
    int rc = fs_do_remove(fs, parent, name, false);
    FS_STAT_ADD(fs, unlinks, rc == 0);
    fs_log(LOG_DEBUG, "unlink %llu/%s: %s", (unsigned long long)parent, name,
           rc ? strerror(-rc) : "ok");
    fuse_reply_err(req, -rc);
}

void fs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
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
    if (fs_kind_ctl(pn->kind) || fs_kind_ctl(npn->kind)) {
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

void fs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                  const char *newname, unsigned int flags)
{
    struct fs *fs = fuse_req_userdata(req);
    int rc = fs_do_rename(fs, parent, name, newparent, newname, flags);
    FS_STAT_ADD(fs, renames, rc == 0);
    fs_log(LOG_DEBUG, "rename %llu/%s -> %llu/%s: %s", (unsigned long long)parent, name,
           (unsigned long long)newparent, newname, rc ? strerror(-rc) : "ok");
    fuse_reply_err(req, -rc);
}
