/*
 * dir.c - open directories and their listings: opendir, readdir,
 * readdirplus, releasedir, fsyncdir.
 *
 * A listing is read one buffer per request, each in a read transaction of
 * its own or in its scope's (tx.c).  The handle remembers the sort key of
 * the last entry returned, after which names.c lists the next ones, and
 * the offset the kernel will ask for next; a request at another offset
 * (rewinddir, seekdir) lists again from the start and passes over the
 * entries before it.  "." and ".." are offsets 0 and 1.
 *
 * readdirplus gives each entry with its attributes, read in the listing's
 * transaction, as lookup tells them (attr.c); each such entry counts a
 * lookup, taken back if the reply does not reach the kernel.  While any
 * scope is open, entries carry no attributes (a scope's changes are seen
 * through its own transaction, which lookup uses).
 *
 * fsyncdir makes the database durable (file.c's fsync, without a handle).
 * Calls names.c (fs_ns_list), inode.c, tx.c, attr.c, handle.c, file.c and
 * log.c.
 */
#include "dir.h"
#include "attr.h"
#include "file.h"
#include "handle.h"
#include "inode.h"
#include "log.h"
#include "names.h"
#include "path.h"
#include "sop.h"
#include "tx.h"
#include "types.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#define UNKNOWN_INO 0xffffffffu

void fs_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct fs *fs = fuse_req_userdata(req);
    struct fs_node *n = fs_node_get(fs, ino);
    if (!n) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    if (n->type != FS_T_DIR || fs_kind_ctl(n->kind)) {
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
    fs_handle_track(fs, h);
    if (fuse_reply_open(req, fi) == -ENOENT) {
        fs_handle_untrack(fs, h);
        fs_handle_free(fs, h);
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
    int w = fs_attr_writer_view(fs, n, NULL, fuse_req_ctx(r->req)->pid, &cp, &a, &sole, &timeout);
    fs_path_free(&cp);
    if (w < 0) {
        fs_node_forget(fs, n->ino, 1);
        return add_dirent(r, name, dtype, UNKNOWN_INO);
    }
    struct fuse_entry_param e;
    fs_attr_entry(fs, n, &a, &e);
    e.attr_timeout = timeout;
    size_t need = fuse_add_direntry_plus(r->req, r->buf + r->used, r->size - r->used, name, &e,
                                         (off_t)(r->h->next_off + 1));
    if (need > r->size - r->used) {
        fs_node_forget(fs, n->ino, 1);
        return 1; /* full */
    }
    fs_attr_remember(fs, n, &a, w > 0 && sole);
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

void fs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                   struct fuse_file_info *fi)
{
    reply_readdir(req, ino, size, off, fi, false);
}

/* ls -l, find -size, rsync and du read every entry's attributes: one request
 * per buffer of entries instead of one lookup each. */
void fs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
    reply_readdir(req, ino, size, off, fi, true);
}

void fs_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct fs *fs = fuse_req_userdata(req);
    struct fs_handle *h = (struct fs_handle *)(uintptr_t)fi->fh;
    (void)ino;
    fs_handle_untrack(fs, h);
    fs_handle_free(fs, h);
    fuse_reply_err(req, 0);
}

void fs_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    struct fs *fs = fuse_req_userdata(req);
    (void)ino;
    (void)datasync;
    (void)fi;
    fuse_reply_err(req, -fs_do_fsync(fs, NULL));
}
