/*
 * internal.h - what the modules of the FUSE layer share.
 *
 *   fs.c      the FUSE session: the operations table, init, fs_open, fs_close;
 *             each operation is fs_do_<op>(), which does the work and returns
 *             0 or -errno, and fs_op_<op>(), which replies exactly once, in
 *   entry.c   entries: lookup, mknod, mkdir, symlink, link, unlink, rmdir, rename
 *   attr.c    attributes: getattr, setattr, readlink
 *   file.c    open files and their I/O: open, create, read, write, flush,
 *             release, fsync
 *   dir.c     open directories: opendir, readdir(plus), releasedir, fsyncdir
 *   statfs.c  statfs
 *   handle.c  open handles, listed for the unmount
 *   inode.c   the inode table: numbers the kernel knows, lookup counts,
 *             the name tree that turns an inode into a (store, key) path
 *   names.c   the namespace on top of sop: how files, directories, symlinks
 *             and their metadata are laid out in stores (the layout is
 *             described at the top of names.c)
 *   path.c    paths (store, key): copied, extended by a name, compared
 *   tx.c      which transaction an operation runs in (a directory scope's,
 *             an open file's, or its own, retried on conflict)
 *   writer.c  auto-commit writers: one transaction per writing process,
 *             committed at the opener's own last close
 *   wgroup.c  a node's writer groups dropped with it (unmount)
 *   proc.c    who closes a file: the process behind a request and the
 *             descriptors it still holds (/proc)
 *   scope.c   directory-scoped transactions (.sop-txn) and .sop-stats
 *   xattr.c   store options as extended attributes, and the xattr operations
 *   notify.c  kernel cache invalidations, sent from a thread of their own
 *   log.c     logging
 *   clock.c   the time of day, in nanoseconds and as a timespec
 *   errors.c  engine codes as errno, their reasons logged
 *
 * Lock order: scope->mu, then a handle's mu, then node->mu, then fs->mu (a
 * leaf, held briefly),
 * fs->scope_mu and fs->note_mu are leaves too.  Engine calls are made with
 * at most a scope's or a node's mutex held (one thread per transaction).
 *
 * Every fs-internal function returns 0 or -errno; engine codes are turned
 * into errno (and their reason logged) once, by fs_sop_err() (errors.c).
 */
#ifndef SOPFS_INTERNAL_H
#define SOPFS_INTERNAL_H

#include "clock.h"
#include "errors.h"
#include "fs.h"
#include "path.h"
#include "sop.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <syslog.h>

/* The store holding the metadata records (names.c). */
#define FS_META_STORE ".sopfs"
/* Longest name of a file, directory or store. */
#define FS_MAX_NAME 255u
/* Bytes moved per step when a value is copied (rename across keys). */
#define FS_PIECE (1u << 20)
/* Times an auto-commit metadata operation is tried when it conflicts. */
#define FS_RETRIES 8
/* The largest read or write the kernel sends in one request: max_write
 * (fs.c's init), told as st_blksize (attr.c). */
#define FS_MAX_IO (1u << 20)

/* What an entry is.  Special files (FIFOs, sockets, devices) are records
 * like files: an empty item and a metadata record saying what it is. */
enum fs_type {
    FS_T_NONE = 0,
    FS_T_FILE = 1,
    FS_T_DIR = 2,
    FS_T_LINK = 3,
    FS_T_FIFO = 4,
    FS_T_SOCK = 5,
    FS_T_CHR = 6,
    FS_T_BLK = 7,
    FS_T_MAX = 7
};

/* The S_IF* bits of a type, and the type of S_IF* bits (FS_T_NONE: none). */
static inline unsigned fs_type_ifmt(uint8_t type)
{
    static const unsigned ifmt[] = {0,       0100000, 0040000, 0120000,
                                    0010000, 0140000, 0020000, 0060000};
    return type <= FS_T_MAX ? ifmt[type] : 0100000;
}

static inline uint8_t fs_ifmt_type(unsigned mode)
{
    for (uint8_t t = FS_T_FILE; t <= FS_T_MAX; t++)
        if ((mode & 0170000) == fs_type_ifmt(t))
            return t;
    return FS_T_NONE;
}

/* Is an entry of this type stored as an item of its own (not a directory)? */
static inline bool fs_type_special(uint8_t type)
{
    return type >= FS_T_FIFO && type <= FS_T_MAX;
}

/* What a node is. */
enum fs_kind { K_ROOT, K_STORE, K_ENTRY, K_CTL_TXN, K_CTL_STATS, K_CTL_SEARCH };

/* Is a node of this kind a control file (.sop-txn, .sop-stats, .sop-search)? */
static inline bool fs_kind_ctl(int kind)
{
    return kind == K_CTL_TXN || kind == K_CTL_STATS || kind == K_CTL_SEARCH;
}

/* One metadata record, decoded (names.c has the encoding). */
struct fs_meta {
    uint8_t type;  /* FS_T_*                        */
    uint32_t mode; /* permission bits only (07777)  */
    uint32_t uid, gid;
    int64_t atime_ns, mtime_ns, ctime_ns;
    uint64_t rdev;   /* device number (FS_T_CHR, FS_T_BLK)          */
    int64_t subdirs; /* directories: subdirectories, when counted;  */
                     /* a hard-linked file's inode record: its names */
    bool counted;    /* ... which is so for directories sopfs made  */
    bool linked;     /* a name of a hard-linked file: link is its inode; */
                     /* a directory's: it is at its base ".sop-d/LINK"   */
    uint8_t link[16];
};

/* What getattr needs of an entry.  For a name of a hard-linked file, m is
 * its inode's record (m.linked set, m.link its identity, m.subdirs its
 * names) and size the inode's. */
struct fs_attr {
    struct fs_meta m;
    uint64_t size;
    bool has_meta; /* false: defaults (a record written through the C API) */
};

/* The most names a file may have (EMLINK beyond). */
#define FS_LINK_MAX 65000
/* A directory made where its key would be longer is made at a base of its
 * own, with a short key (names.c: the depth of a tree is not bounded). */
#define FS_REBASE_AT 2048u

/*
 * The auto-commit writers of one file in one process (writer.c): the write
 * handles that process opened share one transaction, committed at the
 * process's own last close of the file.  Two processes writing one file at
 * once have a group each; the later commit of the two conflicts.
 */
struct fs_wgroup {
    struct fs_wgroup *next; /* node->wgroups                                  */
    pid_t pid, tgid;        /* the opening thread and its process (0: unknown) */
    unsigned handles;       /* open write handles in the group               */
    bool opener_gone;       /* the opener holds the file no more: a last     */
                            /* close by whoever still holds it commits        */
    sop_txn *t;             /* NULL between a commit and the next write       */
    struct fs_meta meta;    /* metadata as t has it                           */
    struct fs_meta meta0;   /* ... and as t began                             */
    bool meta_dirty;        /* written, truncated or set: the commit writes meta */
    bool changed;           /* written or set since t began (an O_TRUNC alone is not) */
    bool cached;            /* the group writes through the page cache        */
    bool cache_bad;         /* a write failed, or a reader that may mmap(2)   */
                            /* opened: the pages may not be t's bytes          */
    bool rewrote;           /* changed bytes below base or truncated          */
    bool appends_only;      /* every change was an O_APPEND write: on conflict */
                            /* the bytes are appended again to the new end     */
    uint64_t gen0;          /* node->gen when t began                         */
    uint64_t base;          /* the committed size when t began                */
    uint64_t attr_told0;    /* node->attr_told when t began                   */
    int err;                /* -errno of a write that failed in t: the group's */
                            /* commit fails with it, and t is rolled back      */
};

struct fs_node {
    fuse_ino_t ino;
    struct fs_node *parent; /* holds a reference on it; NULL for the root  */
    char *name;
    int kind;                  /* enum fs_kind                                    */
    uint8_t type;              /* FS_T_*: what the kernel was told                */
    uint64_t nlookup;          /* the kernel's lookup count (forget)              */
    unsigned refs;             /* handles, in-flight operations, children         */
    bool detached;             /* unlinked or replaced: its name maps elsewhere   */
    bool unnamed;              /* out of the name hash (its name was removed or replaced)       */
    bool linked;               /* a hard-linked file: its path is its inode's (fs_node_path), and */
    uint8_t link[16];          /* every name of it maps to this node (fs_node_lookup)             */
    struct fs_node *next_link; /* hash chain by link (fs->mu)                            */
    struct fs_node *next_ino, *next_name; /* hash chains (fs->mu)          */

    /* the attributes last told the kernel (fs->mu): what fstat of an open
     * file answers once its name is gone (unlinked or replaced) */
    struct fs_attr last_attr;
    bool has_last_attr;
    /* attribute replies other than the view of a writer group that was
     * open when its transaction began (fs->mu); see fs_writer_commit */
    uint64_t attr_told;

    /* page-cache bookkeeping (fs->mu) */
    uint64_t gen;       /* bumped by every commit that changed the content  */
    uint64_t rgen;      /* bumped by those that changed more than its end:  */
                        /* a rewrite or a truncation, not an append         */
    uint64_t cache_gen; /* generation the kernel's pages hold               */
    unsigned ncached;   /* open handles using the page cache                */

    /* auto-commit writers (mu) */
    pthread_mutex_t mu;
    struct fs_wgroup *wgroups; /* one per writing process, oldest first       */
    unsigned nwriters;         /* open auto-commit write handles, all groups  */
};

enum { SC_ACTIVE, SC_FAILED, SC_COMMITTED, SC_ROLLEDBACK };

/* A directory-scoped transaction (scope.c). */
struct fs_scope {
    struct fs_scope *next; /* fs->scopes (fs->scope_mu)                     */
    unsigned refs;         /* fs->scope_mu                                  */
    char *store;           /* NULL: the whole database                      */
    char *prefix;          /* key of the directory, "" for a store          */
    size_t plen;
    pthread_mutex_t mu; /* one thread in t at a time; guards what follows   */
    sop_txn *t;         /* NULL once ended or failed                        */
    int state;
    int fail_err; /* errno of the failed commit (SC_FAILED)                 */
    uint64_t id, begin_ns, end_ns;
    uint64_t changes, bytes;
    char err[512];
};

enum { H_FILE, H_DIR, H_CTL };

/* An open file or directory (fuse_file_info.fh). */
struct fs_handle {
    struct fs_handle *prev, *next; /* fs->handles (fs->mu) */
    int kind;
    struct fs_node *node; /* holds a reference                            */
    pthread_mutex_t mu;   /* guards what follows                          */
    int flags;
    pid_t pid;              /* the thread that opened it                 */
    bool writer;            /* counted in node->nwriters                 */
    struct fs_wgroup *wg;   /* the writer's group (node->mu)             */
    bool cached;            /* counted in node->ncached                  */
    bool wrote;             /* a write was counted in the scope's changes */
    struct fs_scope *scope; /* opened inside a scope (holds a reference) */
    sop_txn *rtxn;          /* a reader's snapshot                       */
    struct fs_path rpath;   /* ... and where its file is in it           */
    uint64_t snap_gen;      /* node->gen when it was taken               */
    uint64_t snap_rgen;     /* node->rgen then                           */
    uint64_t snap_gen_all;  /* fs->gen_all then                          */
    bool eof;               /* a read reached the snapshot's end ...     */
    uint64_t eof_at;        /* ... at this offset                        */
    /* directories: where the next readdir resumes */
    uint64_t next_off;
    char *resume; /* sort key of the last entry returned (names.c)        */
    size_t resume_len;
    bool started, at_end;
    /* control files */
    char *text;
    size_t text_len;
    size_t text_pos; /* .sop-search: where the next read of the answer starts */
};

struct fs_stats {
    uint64_t commits, conflicts, retries, rollbacks, commit_errors, errors;
    uint64_t bytes_read, bytes_written, reads, writes;
    uint64_t lookups, creates, unlinks, renames, mkdirs, rmdirs, setattrs;
    uint64_t opens, scopes_begun, scopes_committed, scopes_rolled_back;
};
#define FS_STAT_ADD(fs, field, n) __atomic_fetch_add(&(fs)->stats.field, (n), __ATOMIC_RELAXED)
/* A failed commit counts as a conflict or as an error. */
#define FS_STAT_FAIL(fs, c)                                                                        \
    do {                                                                                           \
        if ((c) == SOP_ECONFLICT)                                                                  \
            FS_STAT_ADD(fs, conflicts, 1);                                                         \
        else                                                                                       \
            FS_STAT_ADD(fs, commit_errors, 1);                                                     \
    } while (0)

struct fs_note;

struct fs {
    sop_db *db;
    struct fs_config cfg;
    char *data_dir;
    char *mountpoint; /* cfg.mountpoint's own copy */
    uid_t uid;
    gid_t gid;
    int64_t start_ns;
    bool clustered;   /* other mounts commit too: never keep the page cache */
    long long mnt_id; /* the mount's id in our mount namespace, 0 until known (proc.c) */
    char mnt_dev[32]; /* ... and its device, "00:2d" (set before mnt_id)     */

    pthread_mutex_t mu; /* the inode table */
    struct fs_node *root;
    struct fs_node **by_ino, **by_name, **by_link;
    size_t nbuckets, nnodes;
    fuse_ino_t next_ino;
    uint64_t gen_all; /* bumped when a scope ends: page caches are suspect */

    pthread_mutex_t scope_mu;
    struct fs_scope *scopes; /* open ones first, then the recently ended  */
    unsigned nopen_scopes;   /* read without the lock as a hint           */
    uint64_t next_scope_id;

    pthread_mutex_t note_mu;
    pthread_cond_t note_cv;
    struct fs_note *notes, *notes_tail;
    struct fuse_session *se;
    pthread_t note_thread;
    bool note_started, note_stop;

    struct fs_stats stats;
    struct fs_handle *handles; /* every open handle (fs->mu), for unmount */
    unsigned open_files;
};

/* --------------------------------------------------------------- inode.c */
int fs_nodes_init(struct fs *fs);
void fs_nodes_free(struct fs *fs);
/* The node numbered ino, with one reference more; NULL if unknown. */
struct fs_node *fs_node_get(struct fs *fs, fuse_ino_t ino);
void fs_node_ref(struct fs *fs, struct fs_node *n);
void fs_node_put(struct fs *fs, struct fs_node *n);
/* Find or make the node of (parent, name) and count one kernel lookup.
 * A node of another kind, type or link under that name is detached first.
 * link (NULL: not hard-linked): every name of one hard-linked file maps to
 * one node, found by its link. */
struct fs_node *fs_node_lookup(struct fs *fs, struct fs_node *parent, const char *name, int kind,
                               uint8_t type, const uint8_t *link);
/* The node of hard-linked file `link`, referenced, or NULL. */
struct fs_node *fs_node_by_link(struct fs *fs, const uint8_t link[16]);
/* Node n became hard-linked (a first link(2)): its path is its inode's. */
void fs_node_set_link(struct fs *fs, struct fs_node *n, const uint8_t link[16]);
/* The last name of hard-linked file `link` is gone: its node is detached. */
void fs_node_detach_link(struct fs *fs, const uint8_t link[16]);
/* Name (parent, name) of a hard-linked file is gone while others remain:
 * it maps to nothing, the file's node stays. */
void fs_node_unname(struct fs *fs, struct fs_node *parent, const char *name);
void fs_node_forget(struct fs *fs, fuse_ino_t ino, uint64_t nlookup);
/* The node named (parent, name), referenced, or NULL. */
struct fs_node *fs_node_child(struct fs *fs, struct fs_node *parent, const char *name);
/* The name no longer maps to its node (unlink, rmdir, replaced by rename). */
void fs_node_detach(struct fs *fs, struct fs_node *parent, const char *name);
/* Rename in the table: (parent, name) becomes (np, nname). */
int fs_node_move(struct fs *fs, struct fs_node *parent, const char *name, struct fs_node *np,
                 const char *nname);
/* The path of a node (for control files, of their directory). */
int fs_node_path(struct fs *fs, struct fs_node *n, struct fs_path *p);
/* Call fn for every node at or below path p (scope ends), under fs->mu. */
void fs_nodes_under(struct fs *fs, const struct fs_path *p,
                    void (*fn)(struct fs *, struct fs_node *, void *), void *arg);

/* --------------------------------------------------------------- names.c */
/*
 * Reserved names (DESIGN.md section 3 reserves ".sop*"): at the root every
 * name starting with ".sop" (the engine's own stores, such as ".sopfs");
 * below it ".sop" and ".sop-" followed by lowercase letters, digits and '-'
 * only: the control files, present (.sop-txn, .sop-stats) and future.
 * Narrower than ".sop*" on purpose: rsync writes "sop.h" through a temporary
 * ".sop.h.XXXXXX", and such names (with a second '.') must stay possible.
 */
bool fs_name_reserved(const char *name, size_t len, bool root);
/* 0 if name may be created in a directory (root: at the mount root). */
int fs_name_check(const char *name, bool root);
void fs_meta_default(const struct fs *fs, uint8_t type, struct fs_meta *m);
int fs_ns_resolve(struct fs *fs, sop_txn *t, const struct fs_path *p, struct fs_attr *a);
int fs_ns_meta_put(struct fs *fs, sop_txn *t, const struct fs_path *p, const struct fs_meta *m);
int fs_ns_meta_del(struct fs *fs, sop_txn *t, const struct fs_path *p, uint8_t type);
/* An entry of directory dir was made (dsub +1 for a directory), removed
 * (dsub -1 for one) or renamed: its mtime and ctime become now (or stay,
 * if later), its count of subdirectories moves by dsub.  A merge
 * (sop_merge): parallel changes in one directory do not conflict. */
int fs_ns_dir_touch(struct fs *fs, sop_txn *t, const struct fs_path *dir, int64_t now, int dsub);
int fs_ns_open_store(struct fs *fs, sop_txn *t, const char *name, sop_store **s);
/* Is the directory p empty?  0 yes, -ENOTEMPTY, or -errno. */
int fs_ns_empty(struct fs *fs, sop_txn *t, const struct fs_path *p);
/* Remove an entry (file, symlink, directory record) and its metadata.  A
 * name of a hard-linked file takes one from its inode's count, and the
 * inode goes with the last; *left (may be NULL) gets the names left (0 for
 * an entry that was not linked). */
int fs_ns_remove(struct fs *fs, sop_txn *t, const struct fs_path *p, uint8_t type, uint64_t *left);
/* Hard links (names.c): make dst a new name of the file named src (not a
 * directory), in the same store.  The first link moves the file's value and
 * record to its inode (".sop-inodes/ID" of the store, hidden) and makes
 * src a name of it; *a gets the inode's attributes after. */
int fs_ns_link(struct fs *fs, sop_txn *t, const struct fs_path *src, const struct fs_path *dst,
               struct fs_attr *a);
/* The path of the inode of a hard-linked file in store `store`. */
int fs_ns_inode_path(const char *store, const uint8_t link[16], struct fs_path *out);
/* The path of the base of a directory made deep (FS_REBASE_AT). */
int fs_ns_base_path(const char *store, const uint8_t link[16], struct fs_path *out);
/* Make directory p (record m): at a base of its own when its key is longer
 * than FS_REBASE_AT; m->linked and m->link say so after. */
int fs_ns_mkdir(struct fs *fs, sop_txn *t, const struct fs_path *p, struct fs_meta *m);
/* The path whose children are directory p's (a, resolved): its base for a
 * directory made deep, else p. */
int fs_ns_dir_path(const struct fs_path *p, const struct fs_attr *a, struct fs_path *out);
/* Move an entry (a whole subtree for a directory) to an absent dst. */
int fs_ns_move(struct fs *fs, sop_txn *t, const struct fs_path *src, uint8_t type,
               const struct fs_path *dst);
/* Rename a store: a new store with the same options and content. */
int fs_ns_move_store(struct fs *fs, sop_txn *t, const char *src, const char *dst);
/* List the children of directory p after sort key `after` (len 0: from the
 * start).  fn returns non-zero to stop before taking the entry; that value
 * is returned. */
typedef int (*fs_list_fn)(const char *name, size_t nlen, unsigned dtype, const char *sortkey,
                          size_t sklen, void *arg);
int fs_ns_list(struct fs *fs, sop_txn *t, const struct fs_path *p, const char *after,
               size_t after_len, fs_list_fn fn, void *arg);

/* ------------------------------------------------------------------ tx.c */
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

/* -------------------------------------------------------------- writer.c */
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

/* -------------------------------------------------------------- wgroup.c */
/* Roll back and free every writer group of n, a node being freed (unmount). */
void fs_wgroup_free_all(struct fs_node *n);

/* ---------------------------------------------------------------- proc.c */
/* The process (thread group) of thread pid; 0 when unknown. */
pid_t fs_proc_tgid(pid_t pid);
/* Does process tgid hold a descriptor of inode ino of this mount (one open
 * for writing, with write_only)?  1 yes, 0 no, -1 unknown. */
int fs_proc_holds(struct fs *fs, pid_t tgid, fuse_ino_t ino, bool write_only);

/* Does process tgid map inode ino of this mount?  1, 0, -1 unknown. */
int fs_proc_maps(struct fs *fs, pid_t tgid, fuse_ino_t ino);
/* May the handle that thread pid opened on ino still be read: does its
 * process still hold a descriptor of the file or a mapping of it?  1, 0
 * (closed: its release is on its way), -1 unknown. */
int fs_proc_reading(struct fs *fs, pid_t pid, fuse_ino_t ino);

/* --------------------------------------------------------------- query.c */
enum { FS_Q_SEARCH = 1, FS_Q_VECTOR = 2 };
/* The query kind of store `store` (FS_Q_*), 0 for records. */
int fs_query_kind(struct fs *fs, const struct fs_path *store, int *kind);
/* Run the query written in buf (see query.c) on store `store`, in its kind;
 * the answer (malloc'd) in *text.  -EINVAL for a query that does not parse
 * or a store of neither kind. */
int fs_query_run(struct fs *fs, const struct fs_path *store, const char *buf, size_t len,
                 char **text, size_t *text_len);

/* --------------------------------------------------------------- scope.c */
/* The open (or failed) scope covering p, referenced; NULL when none. */
struct fs_scope *fs_scope_find(struct fs *fs, const struct fs_path *p);
void fs_scope_ref(struct fs *fs, struct fs_scope *s);
void fs_scope_put(struct fs *fs, struct fs_scope *s);
/* Is an open scope rooted strictly below p (p is moved by a rename)? */
bool fs_scope_below(struct fs *fs, const struct fs_path *p);
/* Run a command written to dir/.sop-txn. */
int fs_scope_command(struct fs *fs, const struct fs_path *dir, const char *cmd, size_t len);
/* The text of dir/.sop-txn and of .sop-stats (malloc'd). */
int fs_scope_text(struct fs *fs, const struct fs_path *dir, char **text, size_t *len);
int fs_stats_text(struct fs *fs, char **text, size_t *len);
void fs_scopes_free(struct fs *fs);

/* --------------------------------------------------------------- xattr.c */
int fs_xattr_get(struct fs *fs, const struct fs_path *p, const char *name, char **val, size_t *len);
int fs_xattr_set(struct fs *fs, const struct fs_path *p, const char *name, const char *val,
                 size_t len, int flags);
int fs_xattr_list(struct fs *fs, const struct fs_path *p, char **list, size_t *len);
int fs_xattr_remove(struct fs *fs, const struct fs_path *p, const char *name);
void fs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                    size_t size, int flags);
void fs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void fs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void fs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

/* -------------------------------------------------------------- notify.c */
int fs_notify_start(struct fs *fs);
void fs_notify_stop(struct fs *fs);
/* Drop the kernel's attributes and pages of ino. */
void fs_notify_inode(struct fs *fs, fuse_ino_t ino);
/* Drop the kernel's attributes of ino now, before the caller replies. */
void fs_notify_attr_now(struct fs *fs, fuse_ino_t ino);
/* Drop the kernel's entry name in parent. */
void fs_notify_entry(struct fs *fs, fuse_ino_t parent, const char *name);

#endif /* SOPFS_INTERNAL_H */
