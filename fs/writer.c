/*
 * writer.c - auto-commit writers: a file's writes from open to close are
 * one transaction (DESIGN.md section 3).
 *
 * Who shares a transaction.  The write handles that one process opened on a
 * file form a group with one transaction (threads of a process are one
 * process).  Another process opening the same file for writing gets a group
 * of its own: both write, each in its own transaction, and the later of the
 * two commits conflicts (EAGAIN at its close, its changes discarded), as two
 * transactions writing one record do.
 *
 * When it commits.  At the opener's own last close: the FLUSH of a close(2)
 * by the opening process when it holds no other descriptor of the file open
 * for writing (proc.c reads its descriptors).  So
 *   - a forked child that inherited the descriptor (system(), a shell running
 *     a command while `>&3` is open, make, git) commits nothing when it
 *     closes or exits: its writes belong to the opener's transaction;
 *   - a dup(2) of the descriptor in the opener (a shell's `echo x >&3`
 *     dup2s fd 3 onto 1 and closes it again) commits nothing either while
 *     the opener still holds another;
 *   - once the opener has closed its last one, the file belongs to whoever
 *     still holds it (a child that lives on): the last close of such a
 *     process commits what was written since.
 * RELEASE, when the kernel drops the last reference to the open file (every
 * descriptor closed, every mapping gone), commits whatever is left (a
 * mapping written after the close); its error can only be logged.
 * fsync(2) commits the group at once and makes it durable.  Where /proc
 * cannot tell (another pid namespace, a process of another user without
 * privilege), a flush commits as long as something was written: an
 * O_TRUNC alone waits for data, since shells and dd dup2 and close the
 * first descriptor right after open.
 *
 * What the kernel is told.  The kernel keeps one size per inode for every
 * process: the writer's lseek(SEEK_END), its mmap (a fault past that size
 * is SIGBUS), copy_file_range and page-cache writes depend on it, and an
 * attribute reply with another size truncates the inode's pages (a shared
 * mapping's dirty pages with them).  So a writer process is always told
 * its own group's view (fstat carries no handle: the caller's pid tells),
 * and while a group that writes through the page cache has a transaction,
 * every other process is told that view too (stat, lookup, readdirplus):
 * readers opened meanwhile still read the committed bytes (their own
 * snapshot, direct_io); only the size and times in stat are the writer's,
 * as on any filesystem.  A direct_io writer (one opened while page-cache
 * readers were open, which need their snapshot's size, or a second
 * process's) can have no shared mapping, so the others are told the
 * committed state.  While any writer is open the attributes are given
 * with no timeout, so each caller asks again.  A successful commit makes
 * the writer's view the committed one; a failed one, or a view the kernel
 * may hold from elsewhere, is invalidated before the close returns.
 */
#include "writer.h"
#include "errors.h"
#include "handle.h"
#include "inode.h"
#include "log.h"
#include "names.h"
#include "notify.h"
#include "path.h"
#include "proc.h"
#include "sop.h"
#include "tx.h"
#include "types.h"
#include "wgroup.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

static void group_unlink(struct fs_node *n, struct fs_wgroup *g)
{
    for (struct fs_wgroup **pp = &n->wgroups; *pp; pp = &(*pp)->next)
        if (*pp == g) {
            *pp = g->next;
            return;
        }
}

int fs_writer_begin(struct fs *fs, struct fs_node *n, struct fs_wgroup *g, const struct fs_path *p)
{
    sop_txn *t;
    struct fs_attr a;
    if (g->t)
        return 0;
    /* no maximum age: the writer's close ends it, however long a copy takes */
    int rc = sop_txn_begin(fs->db, fs_txn_mode(fs) | SOP_TXN_NOAGE, &t);
    if (rc)
        return fs_sop_err(fs, NULL, rc, "begin transaction");
    rc = fs_ns_resolve(fs, t, p, &a);
    if (rc == 0 && a.m.type == FS_T_DIR)
        rc = -EISDIR;
    if (rc) {
        sop_txn_rollback(t);
        return rc;
    }
    /* two transactions at once share the page cache: whatever a cached
     * group left there may be the other's bytes */
    for (struct fs_wgroup *x = n->wgroups; x; x = x->next)
        if (x != g && x->t)
            x->cache_bad = g->cache_bad = true;
    g->t = t;
    g->base = a.size;
    g->rewrote = false;
    g->meta = g->meta0 = a.m;
    g->meta_dirty = false;
    g->changed = false;
    g->appends_only = true;
    g->err = 0;
    pthread_mutex_lock(&fs->mu);
    g->attr_told0 = n->attr_told;
    g->gen0 = n->gen;
    pthread_mutex_unlock(&fs->mu);
    return 0;
}

/*
 * Appends again.  Two processes appending to one file (two shells' `>>`,
 * logs) each commit their own transaction; the later one conflicts.  A
 * group that only appended (O_APPEND writes, nothing else) is then
 * replayed: its bytes go to the end of the file as the other commit left
 * it, in a new transaction, as O_APPEND writes on any filesystem land at
 * the end at the time they are made.  The bytes are read out of the
 * transaction before its commit, only when another commit of the file
 * happened since it began (a conflict is likely) and only up to
 * FS_PIECE bytes; otherwise a conflict stays a conflict.
 */
static int append_again(struct fs *fs, const struct fs_path *p, const uint8_t *tail, size_t len,
                        const struct fs_meta *m)
{
    int c = SOP_ECONFLICT;
    for (int attempt = 0; attempt < FS_RETRIES && c == SOP_ECONFLICT; attempt++) {
        sop_txn *t;
        sop_store *s;
        struct fs_attr a;
        uint64_t end = 0;
        if ((c = sop_txn_begin(fs->db, fs_txn_mode(fs), &t)) != 0)
            break;
        int rc = fs_ns_resolve(fs, t, p, &a);
        if (rc == 0 && a.m.type != FS_T_FILE)
            rc = -EISDIR;
        if (rc == 0)
            rc = fs_ns_open_store(fs, t, p->store, &s);
        if (rc == 0 && (c = sop_value_size(s, p->key, p->klen, &end)) == SOP_ENOTFOUND)
            end = 0, c = 0;
        if (rc == 0 && c == 0)
            c = sop_value_write(s, p->key, p->klen, end, tail, len);
        if (rc == 0 && c == 0) {
            a.m.mtime_ns = m->mtime_ns;
            a.m.ctime_ns = m->ctime_ns;
            a.m.mode &= m->mode | ~(07000u); /* a write dropped set-user-ID */
            rc = fs_ns_meta_put(fs, t, p, &a.m);
        }
        if (rc || c) {
            sop_txn_rollback(t);
            return rc ? rc : fs_sop_err(fs, NULL, c, "append again");
        }
        c = sop_txn_commit(t);
    }
    return c ? fs_sop_err(fs, NULL, c, "append again") : 0;
}

/* The bytes g appended, read out of its transaction (NULL when it is not
 * worth it or not possible: see append_again). */
static uint8_t *appended(struct fs *fs, struct fs_node *n, struct fs_wgroup *g, sop_txn *t,
                         const struct fs_path *p, size_t *len)
{
    sop_store *s;
    uint64_t size;
    size_t got;
    pthread_mutex_lock(&fs->mu);
    bool others = n->gen != g->gen0;
    pthread_mutex_unlock(&fs->mu);
    if (!g->appends_only || !others || fs_ns_open_store(fs, t, p->store, &s) != 0 ||
        sop_value_size(s, p->key, p->klen, &size) != 0 || size <= g->base ||
        size - g->base > FS_PIECE)
        return NULL;
    uint8_t *b = malloc(size - g->base);
    if (b && sop_value_read(s, p->key, p->klen, g->base, b, size - g->base, &got) == 0 &&
        got == size - g->base) {
        *len = got;
        return b;
    }
    free(b);
    return NULL;
}

/*
 * Are page-cache readers of n open?  A reader's close(2) sends nothing
 * (FOPEN_NOFLUSH) and its release may come late (an async readahead holds
 * the file meanwhile), so a reader counted in n->ncached is taken as
 * closed when its opener holds neither a descriptor nor a mapping of the
 * file any more (proc.c).  Otherwise a writer opened right after a reader
 * closed would be direct_io, and its mmap(MAP_SHARED) would fail.
 */
#define READERS_CHECKED 16

static bool cached_readers(struct fs *fs, struct fs_node *n)
{
    pid_t pids[READERS_CHECKED];
    unsigned np = 0;
    pthread_mutex_lock(&fs->mu);
    unsigned count = n->ncached;
    for (struct fs_handle *h = fs->handles; h && count && np < READERS_CHECKED; h = h->next)
        if (h->node == n && h->cached)
            pids[np++] = h->pid;
    pthread_mutex_unlock(&fs->mu);
    if (count == 0)
        return false;
    if (np < count) /* more than we look at, or not tracked yet */
        return true;
    for (unsigned i = 0; i < np; i++)
        if (fs_proc_reading(fs, pids[i], n->ino) != 0)
            return true;
    return false;
}

int fs_writer_join(struct fs *fs, struct fs_node *n, const struct fs_path *p, pid_t pid,
                   struct fs_wgroup **out)
{
    pid_t tgid = -1; /* not looked up yet */
    struct fs_wgroup *g = NULL, *last = NULL;
    for (struct fs_wgroup *x = n->wgroups; x; x = x->next) {
        last = x;
        if (g || x->opener_gone)
            continue;
        if (pid > 0 && x->pid == pid) {
            g = x;
            continue;
        }
        if (tgid < 0)
            tgid = fs_proc_tgid(pid);
        if (tgid > 0 && x->tgid == tgid)
            g = x;
    }
    bool made = false;
    if (!g) {
        if (!(g = calloc(1, sizeof(*g))))
            return -ENOMEM;
        g->pid = pid > 0 ? pid : 0;
        g->tgid = tgid >= 0 ? tgid : fs_proc_tgid(pid);
        made = true;
    }
    int rc = fs_writer_begin(fs, n, g, p);
    if (rc) {
        if (made)
            free(g);
        return rc;
    }
    if (made) {
        /* a group writes through the page cache when nothing else shares
         * it: no reader using it is open (readers opened meanwhile are
         * direct_io), no other writer with a transaction (a group whose
         * opener closed and committed may wait for its release: an async
         * readahead holds the file), and no other mount commits */
        bool others = false;
        for (struct fs_wgroup *x = n->wgroups; x; x = x->next)
            others |= x != g && x->t;
        g->cached = !others && !fs->clustered && !cached_readers(fs, n);
        if (last)
            last->next = g;
        else
            n->wgroups = g;
    }
    g->handles++;
    n->nwriters++;
    *out = g;
    return 0;
}

int fs_writer_commit(struct fs *fs, struct fs_node *n, struct fs_wgroup *g)
{
    struct fs_path p;
    sop_txn *t = g->t;
    int rc = 0;
    if (!t)
        return 0;
    g->t = NULL;
    bool dirty = g->meta_dirty;
    int err = g->err;
    g->meta_dirty = false;
    g->changed = false;
    g->err = 0;
    pthread_mutex_lock(&fs->mu);
    bool detached = n->detached;
    pthread_mutex_unlock(&fs->mu);
    if (detached) { /* its writes went to a file that no longer exists */
        sop_txn_rollback(t);
        FS_STAT_ADD(fs, rollbacks, 1);
        return 0;
    }
    if (err) { /* a write failed: the transaction is not what was written */
        sop_txn_rollback(t);
        FS_STAT_ADD(fs, rollbacks, 1);
        rc = err;
        fs_log(LOG_WARNING,
               "inode %llu: a write failed (%s): the changes since the file was opened "
               "are discarded",
               (unsigned long long)n->ino, strerror(-err));
        goto out;
    }
    if (!dirty) { /* opened for writing; nothing written, truncated or set */
        sop_txn_rollback(t);
        return 0;
    }
    /* every change touched the metadata (mtime at least): write it last */
    if ((rc = fs_node_path(fs, n, &p)) != 0) {
        sop_txn_rollback(t);
        FS_STAT_ADD(fs, rollbacks, 1);
        goto out;
    }
    size_t tail_len = 0;
    uint8_t *tail = appended(fs, n, g, t, &p, &tail_len);
    if ((rc = fs_ns_meta_put(fs, t, &p, &g->meta)) != 0) {
        sop_txn_rollback(t);
        FS_STAT_ADD(fs, rollbacks, 1);
        free(tail);
        fs_path_free(&p);
        goto out;
    }
    int c = sop_txn_commit(t);
    if (c == SOP_ECONFLICT && tail) {
        FS_STAT_ADD(fs, retries, 1);
        rc = append_again(fs, &p, tail, tail_len, &g->meta);
        c = rc ? SOP_ECONFLICT : 0;
        g->cache_bad = true; /* its pages hold the bytes where they were first written */
        g->rewrote = true;
    }
    free(tail);
    fs_path_free(&p);
    if (c == 0 && rc == 0) {
        FS_STAT_ADD(fs, commits, 1);
    } else if (rc) {
        FS_STAT_FAIL(fs, c);
    } else {
        FS_STAT_FAIL(fs, c);
        rc = fs_sop_err(fs, NULL, c, "commit on close");
        if (c == SOP_ECONFLICT)
            fs_log(LOG_WARNING,
                   "inode %llu: commit on close: another transaction changed the "
                   "file meanwhile; this writer's changes were discarded",
                   (unsigned long long)n->ino);
    }
out:
    pthread_mutex_lock(&fs->mu);
    n->gen++;
    if (g->rewrote || rc != 0)
        n->rgen++;
    /* the group's pages are the committed content: the next reader keeps
     * them; after a failure they are unknown, and the next opener drops them */
    if (g->cached)
        n->cache_gen = rc == 0 && !g->cache_bad ? n->gen + (fs->gen_all << 32) : 0;
    g->cache_bad = false;
    /* Every attribute reply while the transaction was open carried this
     * view, which is now the committed one, unless the kernel was told
     * something else meanwhile (node->attr_told: another group's view, or
     * the committed state read as the group began), the mode or owner
     * changed (the kernel drops size and times at each write itself, but
     * may still hold the mode from before: a write drops set-user-ID) or
     * the commit failed: then it is told to forget, before the close
     * returns. */
    bool stale = rc != 0 || n->attr_told != g->attr_told0 || g->meta.mode != g->meta0.mode ||
                 g->meta.uid != g->meta0.uid || g->meta.gid != g->meta0.gid;
    pthread_mutex_unlock(&fs->mu);
    if (stale)
        fs_notify_attr_now(fs, n->ino);
    return rc;
}

void fs_writer_settle(struct fs *fs, struct fs_node *n)
{
    for (struct fs_wgroup *g = n->wgroups; g; g = g->next)
        if (g->t)
            fs_writer_commit(fs, n, g);
}

int fs_writer_leave(struct fs *fs, struct fs_node *n, struct fs_wgroup *g)
{
    int rc = 0;
    n->nwriters--;
    if (--g->handles > 0)
        return 0;
    if (g->t)
        rc = fs_writer_commit(fs, n, g);
    group_unlink(n, g);
    free(g);
    return rc;
}

int fs_writer_last_close(struct fs *fs, struct fs_node *n, struct fs_wgroup *g, pid_t pid)
{
    pid_t tgid = pid > 0 && pid == g->pid ? g->tgid : fs_proc_tgid(pid);
    if (tgid <= 0 || g->tgid <= 0)
        return -1;
    if (tgid != g->tgid && !g->opener_gone)
        return 0; /* a process that inherited the descriptor */
    int h = fs_proc_holds(fs, tgid, n->ino, true);
    if (h < 0)
        return -1;
    if (h)
        return 0; /* it holds another descriptor of the file */
    if (tgid == g->tgid)
        g->opener_gone = true;
    return 1;
}

struct fs_wgroup *fs_writer_view(struct fs_node *n, pid_t pid, bool *sole)
{
    struct fs_wgroup *first = NULL, *mine = NULL;
    unsigned with_t = 0;
    for (struct fs_wgroup *g = n->wgroups; g; g = g->next) {
        if (!g->t)
            continue;
        with_t++;
        if (!first)
            first = g;
        if (pid > 0 && g->pid == pid)
            mine = g;
    }
    if (sole)
        *sole = with_t == 1;
    if (!first || mine || (with_t == 1 && first->cached))
        return mine ? mine : first;
    pid_t tgid = fs_proc_tgid(pid);
    for (struct fs_wgroup *g = n->wgroups; g && tgid > 0; g = g->next)
        if (g->t && g->tgid == tgid)
            return g;
    return first->cached ? first : NULL;
}

struct fs_wgroup *fs_writer_for(struct fs_node *n, pid_t pid)
{
    struct fs_wgroup *first = NULL;
    pid_t tgid = -1;
    for (struct fs_wgroup *g = n->wgroups; g; g = g->next) {
        if (!g->opener_gone && pid > 0 && g->pid == pid)
            return g;
        if (!first && g->t)
            first = g;
    }
    for (struct fs_wgroup *g = n->wgroups; g && n->wgroups->next; g = g->next) {
        if (tgid < 0)
            tgid = fs_proc_tgid(pid);
        if (!g->opener_gone && tgid > 0 && g->tgid == tgid)
            return g;
    }
    return first;
}

int fs_writer_attr(struct fs *fs, struct fs_node *n, struct fs_wgroup *g, const struct fs_path *p,
                   struct fs_attr *a)
{
    sop_store *s;
    (void)n;
    int rc = fs_ns_open_store(fs, g->t, p->store, &s);
    if (rc)
        return rc;
    memset(a, 0, sizeof(*a));
    a->m = g->meta;
    a->has_meta = true;
    rc = sop_value_size(s, p->key, p->klen, &a->size);
    if (rc == SOP_ENOTFOUND) {
        a->size = 0;
        rc = 0;
    }
    return rc ? fs_sop_err(fs, g->t, rc, "value size") : 0;
}
