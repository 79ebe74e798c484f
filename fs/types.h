/*
 * types.h - the types every module of the FUSE layer shares: what an entry
 * is (its type, its metadata record, its attributes), the nodes of the
 * inode table (struct fs_node, inode.c), the counters of .sop-stats, and
 * the layer itself (struct fs).  The types of one module (a scope, a
 * handle, a writer group, a path) are in that module's header.
 *
 * Lock order: scope->mu, then a handle's mu, then node->mu, then fs->mu (a
 * leaf, held briefly); fs->scope_mu and fs->note_mu are leaves too.  Engine
 * calls are made with at most a scope's or a node's mutex held (one thread
 * per transaction).
 */
#ifndef SOPFS_TYPES_H
#define SOPFS_TYPES_H

#include "options.h"
#include "sop.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

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
    /* notes queued since the start, and of those the ones sent (or dropped
     * at the stop): fs_notify_flush waits for the second to reach the
     * first; note_sent_cv (CLOCK_MONOTONIC) says it moved */
    uint64_t note_queued, note_sent;
    pthread_cond_t note_sent_cv;

    struct fs_stats stats;
    struct fs_handle *handles; /* every open handle (fs->mu), for unmount */
    unsigned open_files;
};

#endif /* SOPFS_TYPES_H */
