/*
 * internal.h - what the modules of the FUSE layer share.
 *
 *   fs.c      the FUSE operations: fs_do_<op>() does the work and returns 0
 *             or -errno, op_<op>() replies exactly once
 *   node.c    the inode table: numbers the kernel knows, lookup counts,
 *             the name tree that turns an inode into a (store, key) path
 *   names.c   the namespace on top of sop: how files, directories, symlinks
 *             and their metadata are laid out in stores (the layout is
 *             described at the top of names.c)
 *   tx.c      which transaction an operation runs in (a directory scope's,
 *             an open file's, or its own, retried on conflict)
 *   scope.c   directory-scoped transactions (.sop-txn) and .sop-stats
 *   xattr.c   store options as extended attributes
 *   notify.c  kernel cache invalidations, sent from a thread of their own
 *   log.c     logging
 *
 * Lock order: scope->mu, then node->mu, then fs->mu (a leaf, held briefly),
 * fs->scope_mu and fs->note_mu are leaves too.  Engine calls are made with
 * at most a scope's or a node's mutex held (one thread per transaction).
 *
 * Every fs-internal function returns 0 or -errno; engine codes are turned
 * into errno (and their reason logged) once, by fs_sop_err().
 */
#ifndef SOPFS_INTERNAL_H
#define SOPFS_INTERNAL_H

#include "fs.h"
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
/* Longest key below a store: the metadata key adds "store/" and a '/'. */
#define FS_MAX_KEY (SOP_MAX_KEY - SOP_MAX_STORE_NAME - 2u)
/* Bytes moved per step when a value is copied (rename across keys). */
#define FS_PIECE (1u << 20)
/* Times an auto-commit metadata operation is tried when it conflicts. */
#define FS_RETRIES 8

enum fs_type { FS_T_NONE = 0, FS_T_FILE = 1, FS_T_DIR = 2, FS_T_LINK = 3 };

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
};

/* What getattr needs of an entry. */
struct fs_attr {
    struct fs_meta m;
    uint64_t size;
    bool has_meta; /* false: defaults (a record written through the C API) */
};

/* Where a node lives: store NULL is the root; key "" is the store itself. */
struct fs_path {
    char *store;
    char *key;
    size_t klen;
};

struct fs_node {
    fuse_ino_t ino;
    struct fs_node *parent; /* holds a reference on it; NULL for the root  */
    char *name;
    int kind;                             /* enum fs_kind                                    */
    uint8_t type;                         /* FS_T_*: what the kernel was told                */
    uint64_t nlookup;                     /* the kernel's lookup count (forget)              */
    unsigned refs;                        /* handles, in-flight operations, children         */
    bool detached;                        /* unlinked or replaced: its name maps elsewhere   */
    struct fs_node *next_ino, *next_name; /* hash chains (fs->mu)          */

    /* the attributes last told the kernel (fs->mu): what fstat of an open
     * file answers once its name is gone (unlinked or replaced) */
    struct fs_attr last_attr;
    bool has_last_attr;
    /* attribute replies other than a writer's view of its own transaction
     * (fs->mu); see writer_commit */
    uint64_t attr_told, wattr_told;

    /* page-cache bookkeeping (fs->mu) */
    uint64_t gen;       /* bumped by every commit that changed the content  */
    uint64_t rgen;      /* bumped by those that changed more than its end:  */
                        /* a rewrite or a truncation, not an append         */
    uint64_t cache_gen; /* generation the kernel's pages hold               */
    unsigned ncached;   /* open handles using the page cache                */

    /* auto-commit writer state (mu) */
    pthread_mutex_t mu;
    sop_txn *wtxn;        /* shared by the write handles, committed at the last close */
    unsigned nwriters;    /* open auto-commit write handles                 */
    struct fs_meta wmeta; /* metadata as the writer's transaction has it    */
    struct fs_meta wmeta0; /* ... and as it began                            */
    bool wmeta_loaded, wmeta_dirty;
    bool wchanged; /* written or set since open/commit (an O_TRUNC alone is not) */
    bool wcached;  /* the writers write through the page cache (no cached reader was open) */
    bool wrewrote; /* the writers changed bytes below wbase or truncated (not an append) */
    uint64_t wbase; /* the committed size when the writer's transaction began */
    bool wcache_bad; /* a write failed, or a reader that may mmap(2) opened: the pages */
                     /* may not be the transaction's bytes                             */
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
    bool writer;            /* counted in node->nwriters                 */
    bool cached;            /* counted in node->ncached                  */
    bool wrote;             /* a write was counted in the scope's changes */
    struct fs_scope *scope; /* opened inside a scope (holds a reference) */
    sop_txn *rtxn;          /* a reader's snapshot                       */
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
    uid_t uid;
    gid_t gid;
    int64_t start_ns;
    bool clustered; /* other mounts commit too: never keep the page cache */

    pthread_mutex_t mu; /* the inode table */
    struct fs_node *root;
    struct fs_node **by_ino, **by_name;
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

/* ------------------------------------------------------------------ fs.c */
int fs_sop_err(struct fs *fs, sop_txn *t, int rc, const char *what);
int64_t fs_now_ns(void);

/* ---------------------------------------------------------------- node.c */
int fs_nodes_init(struct fs *fs);
void fs_nodes_free(struct fs *fs);
/* The node numbered ino, with one reference more; NULL if unknown. */
struct fs_node *fs_node_get(struct fs *fs, fuse_ino_t ino);
void fs_node_ref(struct fs *fs, struct fs_node *n);
void fs_node_put(struct fs *fs, struct fs_node *n);
/* Find or make the node of (parent, name) and count one kernel lookup.
 * A node of another kind or type under that name is detached first. */
struct fs_node *fs_node_lookup(struct fs *fs, struct fs_node *parent, const char *name, int kind,
                               uint8_t type);
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
void fs_path_free(struct fs_path *p);
int fs_path_child(const struct fs_path *dir, const char *name, struct fs_path *out);
int fs_path_copy(const struct fs_path *p, struct fs_path *out);
bool fs_path_equal(const struct fs_path *a, const struct fs_path *b);
/* Is p at or below dir? */
bool fs_path_under(const struct fs_path *p, const struct fs_path *dir);
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
int fs_ns_open_store(struct fs *fs, sop_txn *t, const char *name, sop_store **s);
/* Is the directory p empty?  0 yes, -ENOTEMPTY, or -errno. */
int fs_ns_empty(struct fs *fs, sop_txn *t, const struct fs_path *p);
/* Remove an entry (file, symlink, directory record) and its metadata. */
int fs_ns_remove(struct fs *fs, sop_txn *t, const struct fs_path *p, uint8_t type);
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

/* -------------------------------------------------------------- notify.c */
int fs_notify_start(struct fs *fs);
void fs_notify_stop(struct fs *fs);
/* Drop the kernel's attributes and pages of ino. */
void fs_notify_inode(struct fs *fs, fuse_ino_t ino);
/* Drop the kernel's entry name in parent. */
void fs_notify_entry(struct fs *fs, fuse_ino_t parent, const char *name);

#endif /* SOPFS_INTERNAL_H */
