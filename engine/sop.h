/*
 * sop.h - the public interface of libsop, Scalable Objects Persistence in C.
 *
 * A database is one data folder holding many stores; a store is a B+tree of
 * byte-string keys and byte-string values of any size.  Every read and write
 * happens inside a transaction; transactions are optimistic (conflicts are
 * detected at commit, per key and per key range read) and durable (a commit
 * that returned 0 survives kill -9 and power loss, unless SOP_TXN_NOSYNC was
 * asked for).
 *
 * Conventions (as LMDB and libuv):
 *  - every function returns 0 (SOP_OK) or a negative SOP_E* code; no positive
 *    errno ever crosses this header.  sop_strerror() names a code;
 *    sop_db_errmsg()/sop_txn_errmsg() say what failed and why, in words.
 *  - outputs are written through the last pointer arguments, and only on
 *    success.
 *  - pointers handed out (sop_get, sop_cursor_key/value, sop_store_info
 *    strings) stay valid until the next call that changes the same
 *    transaction, or the transaction's end.  The nodes they point into are
 *    kept alive until then: a long read-only transaction holds as much
 *    memory as the nodes it read from (at most the database's size); a new
 *    transaction lets them go.
 *  - several transactions may be open at once, from several threads, one
 *    thread per transaction at a time.
 *
 * Errors, as each call below lists them.  Some come from every call of a
 * kind, and are named once here:
 *  - "the transaction's errors": every call on a transaction, or on a store
 *    or cursor of one, first returns SOP_ETIMEDOUT once the transaction is
 *    older than its maximum age (unless SOP_TXN_NOAGE), and, once a write
 *    failed inside the transaction (the transaction is then poisoned), that
 *    write's own code again (SOP_EIO, SOP_ENOSPC, SOP_ENOMEM, SOP_ETIMEDOUT,
 *    or what a search index update returned) until it is rolled back.
 *    SOP_EABORTED is in the table for that case but this version returns the
 *    first failure's code instead.
 *  - "read errors": a call that reads nodes or value chunks may return
 *    SOP_ECORRUPT (a record does not check: sop_corruption_note says where),
 *    SOP_EIO and SOP_ENOMEM.
 *  - "write errors": a call that changes items may return SOP_EREADONLY (a
 *    read transaction), SOP_ENAMETOOLONG (a key over SOP_MAX_KEY), and, when
 *    it writes value chunks, SOP_ENOSPC (the disk's reserve would be eaten)
 *    and SOP_EIO, which poison the transaction.
 *  - SOP_EINVAL for a NULL handle or a NULL output pointer, always.
 * sop_txn_errmsg (or sop_db_errmsg for calls on a database) says which and
 * why.
 *
 * How long what is handed out lives:
 *  - strings of messages (sop_strerror: forever; sop_db_errmsg,
 *    sop_txn_errmsg, sop_open_errmsg, sop_corruption_note: see each);
 *  - keys and values (sop_get, sop_cursor_key, sop_cursor_value) and
 *    sop_store_info's strings: until the next call that changes the same
 *    transaction (add, upsert, update, remove, merge, move, value writes,
 *    store create/alter/drop) or its end;
 *  - what a callback is given (sop_store_walk, sop_db_check, sop_db_usage,
 *    sop_store_list): during the callback only;
 *  - search and vector hits: until the caller frees them.
 *
 * This surface is a contract: it may grow, nothing in it is renamed or changed.
 */
#ifndef SOP_H
#define SOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(SOP_BUILDING) && defined(__GNUC__)
#define SOP_API __attribute__((visibility("default")))
#else
#define SOP_API
#endif

typedef struct sop_db sop_db;         /* one data folder            */
typedef struct sop_txn sop_txn;       /* one transaction            */
typedef struct sop_store sop_store;   /* a store opened in a txn    */
typedef struct sop_cursor sop_cursor; /* a position in a store      */

/*
 * The error table.  XX(name, code, errno_name, message): `code` is the value
 * of SOP_<name>, `errno_name` the errno a filesystem front end answers for it
 * (expand the map after including <errno.h>), `message` what sop_strerror()
 * returns.  A new code is one new row.
 */
#define SOP_ERRNO_MAP(XX)                                                                          \
    XX(OK, 0, 0, "success")                                                                        \
    XX(ENOTFOUND, -1, ENOENT, "not found")                                                         \
    XX(EEXIST, -2, EEXIST, "already exists")                                                       \
    XX(ECONFLICT, -3, EAGAIN,                                                                      \
       "transaction conflict: another transaction changed what this one read or wrote")            \
    XX(ECORRUPT, -4, EIO, "data corruption detected (checksum or format mismatch)")                \
    XX(EIO, -5, EIO, "input/output error")                                                         \
    XX(ENOSPC, -6, ENOSPC, "no space left on device")                                              \
    XX(EINVAL, -7, EINVAL, "invalid argument")                                                     \
    XX(EBUSY, -8, EBUSY, "resource busy")                                                          \
    XX(ENOMEM, -9, ENOMEM, "out of memory")                                                        \
    XX(ETIMEDOUT, -10, ETIMEDOUT, "transaction exceeded its maximum age and was rolled back")      \
    XX(ETOOBIG, -11, EFBIG, "value too large to hand out whole; read it with sop_value_read")      \
    XX(EREADONLY, -12, EROFS, "transaction is read-only")                                          \
    XX(EABORTED, -13, EIO, "transaction failed earlier and must be rolled back")                   \
    XX(ENAMETOOLONG, -14, ENAMETOOLONG, "name or key too long")

enum {
#define SOP_XX_ENUM(name, code, errno_name, msg) SOP_##name = code,
    SOP_ERRNO_MAP(SOP_XX_ENUM)
#undef SOP_XX_ENUM
};

/* A static string naming `code`, valid forever; never NULL, also for
 * unknown codes.  No error. */
SOP_API const char *sop_strerror(int code);

/* Limits. */
#define SOP_MAX_KEY 4096u              /* longest key, in bytes                        */
#define SOP_MAX_STORE_NAME 255u        /* longest store name                           */
#define SOP_MAX_WHOLE_VALUE (1u << 30) /* largest value sop_get/cursor_value hand out */

/* ---------------------------------------------------------------- databases */

typedef struct sop_db_options {
    const char *redis_url;      /* NULL: standalone                                            */
    size_t cache_bytes;         /* node cache budget; 0: default (64 MiB)                       */
    uint32_t txn_max_age_ms;    /* 0: default (15 minutes)                                 */
    uint32_t flush_interval_ms; /* group flush of SOP_TXN_NOSYNC commits; 0: default (1 s) */
    uint64_t checkpoint_bytes;  /* log bytes between registry checkpoints; 0: 256 MiB      */
} sop_db_options;               /* zero-initialised options are the defaults */

/*
 * Open the database in folder `path`, creating the folder and an empty
 * database if absent, and recovering what a crash left half-done.
 * Standalone, the folder is locked (flock): a second process opening it gets
 * SOP_EBUSY.  With redis_url ("redis://HOST[:PORT][/DB][?timeout_ms=N&
 * lock_ttl_ms=N]", or "unix:///PATH"), the handle is a member of a
 * clustered database: every process, on this host or another sharing the
 * folder, that opens it with a URL of the same Redis is one too, and they
 * commit as one database (the first member marks the folder DATA/cluster:
 * from then on a standalone open is refused, as a member's is while a
 * standalone process has it).  A member's commits wait for the others' (a
 * lock in Redis), always sync, and fail with SOP_EIO within timeout_ms
 * (default 2000) while Redis cannot be reached; its reads need no Redis.
 * A member runs no cleaner and removes no segment (see ARCHITECTURE.md,
 * "Clustered mode"). On success *out owns the handle; close it with sop_db_close().
 * On failure nothing was made (a refused redis_url or path makes no folder)
 * and sop_open_errmsg() says why.
 * Errors: SOP_EBUSY (another process, or another handle of this one, has it
 * open; standalone, a folder in clustered mode; a member, a folder a
 * standalone process has, or the commit lock held past 30 s while the
 * member converts a standalone folder), SOP_ECORRUPT (a checkpoint or the log does not check, or commits
 * are missing: sop check and sop_db_open_salvage read what can be read),
 * SOP_EIO (a file cannot be read, written or created, permissions
 * included), SOP_ENOSPC (the marker or a recovery step could not be
 * written), SOP_ENOTFOUND (a folder above path is missing), SOP_ENOMEM,
 * SOP_ENAMETOOLONG, SOP_EINVAL (NULL arguments, a path over 4000 bytes, a
 * redis_url that is not a Redis URL or a build without Redis support, or a
 * database written by a newer sop); with redis_url also SOP_EIO (Redis
 * cannot be reached: nothing is made).
 */
SOP_API int sop_db_open(const char *path, const sop_db_options *opts, sop_db **out);

/* Why the last sop_db_open or sop_db_open_salvage of this thread failed,
 * in words ("" after a success): they have no handle to hang a message on.
 * A buffer of the thread's: valid until that thread's next open.  No error. */
SOP_API const char *sop_open_errmsg(void);

/* Where this thread last found damaged data, when a call returned
 * SOP_ECORRUPT: the engine's file and line that detected it, what was wrong
 * and in what ("blob.c:236: record crc mismatch (segment 00000003 offset
 * 4096)"); "" if it found none.  For bug reports: the call's own message
 * (sop_txn_errmsg, sop_db_errmsg) says what it was doing.  Valid until the
 * thread's next call into the library. */
SOP_API const char *sop_corruption_note(void);

/* Close the database: waits for nothing; open transactions must be ended
 * before (their handles, and every pointer the database handed out, are
 * invalid after it).  Stops the cleaner, flushes lazily committed
 * transactions to disk and writes a checkpoint when the log grew.  NULL is
 * a no-op.  A failure to flush is not returned: call sop_db_sync first to
 * hear of it. */
SOP_API void sop_db_close(sop_db *db);

/* Make every committed transaction (SOP_TXN_NOSYNC ones included) durable
 * against power loss, and remove the value segments that died before.
 * Errors: SOP_EINVAL, SOP_EIO (an fsync failed: the log is broken until the
 * database is reopened), SOP_ENOSPC. */
SOP_API int sop_db_sync(sop_db *db);

/* Counters of an open database, since it was opened. */
typedef struct sop_db_stats {
    uint64_t cache_hits, cache_misses; /* node cache lookups that found a decoded node, or not */
    uint64_t cache_nodes, cache_bytes; /* decoded nodes it holds, and their bytes            */
    uint64_t cache_budget;             /* its bound in bytes (sop_db_options.cache_bytes)    */
    uint64_t log_bytes;                /* bytes appended to the log since the open           */
    uint64_t seq;                      /* the last committed transaction's sequence number   */
} sop_db_stats;

/* Fill *out.  Errors: SOP_EINVAL (a NULL argument). */
SOP_API int sop_db_get_stats(sop_db *db, sop_db_stats *out);

/*
 * Space reclamation.  Records are never overwritten: a change
 * appends, and what it replaced becomes garbage in the log.  A thread of the
 * database (the cleaner) copies what is still live out of log segments that
 * are mostly garbage and removes them, while transactions run: a commit
 * waits for it at most while one group of copies (8 MiB) is committed.  A
 * segment is removed once no live snapshot can read it, so a long read
 * transaction delays (never loses) the space.  It runs by itself; these
 * calls are for tools and tests.
 */
typedef struct sop_reclaim_info {
    uint64_t log_bytes;        /* bytes of log segment files now (value segments apart)      */
    uint64_t live_bytes;       /* what the newest versions in them hold (a lower bound: a
                                  node's older deltas count only where the node is read)     */
    uint32_t log_segments;     /* log segment files now                                      */
    uint32_t waiting;          /* emptied segments waiting for older snapshots to end        */
    uint64_t rounds;           /* cleaning rounds since the open                             */
    uint64_t segments_removed; /* log segments removed by them                               */
    uint64_t bytes_copied;     /* live bytes they copied                                     */
    uint64_t bytes_freed;      /* segment bytes they gave back                               */
    int on;                    /* the cleaner runs by itself (sop_db_set_reclaim)            */
} sop_reclaim_info;

/* Clean now, whatever the share of garbage: copy the live records out of
 * every closed log segment that holds any garbage, write the checkpoints
 * that let them go, and remove those no live snapshot reads (the others go
 * when the snapshots end).  Runs beside transactions.  Errors: SOP_EIO,
 * SOP_ENOSPC (nothing is lost: the segments stay), SOP_ECORRUPT (a live
 * record does not check; sop_db_errmsg says which), SOP_ENOMEM, SOP_EINVAL
 * (NULL, or a database opened with sop_db_open_salvage). */
SOP_API int sop_db_reclaim(sop_db *db);
/* Fill *out.  Errors: SOP_EINVAL (a NULL argument), SOP_EIO and
 * SOP_ENOMEM (the folder cannot be listed). */
SOP_API int sop_db_reclaim_info(sop_db *db, sop_reclaim_info *out);
/* Let the cleaner run by itself (on, the default) or only when asked
 * (sop_db_reclaim).  Errors: SOP_EINVAL (db NULL). */
SOP_API int sop_db_set_reclaim(sop_db *db, int on);

/*
 * Checking and salvaging (sop check).  sop_db_check reads every
 * live record once: what recovery found at this open, the registry against
 * the segment files, and every store (hidden ones too) walked in key order
 * past damage: each node's record and crc, the tree's invariants (key order,
 * fill, separators, leaf depth), the item count, and every chunk of every
 * value with its crc.  ops->problem hears each problem in words (the store,
 * the key, the segment and offset), ops->note what is worth knowing but
 * wrong with nothing, ops->progress how many of *total records were
 * checked; any may be NULL.  Returns 0 when clean, SOP_ECORRUPT when
 * problems were found (*problems of them; problems may be NULL), or what
 * kept the check itself from running: SOP_EINVAL (db NULL), SOP_ENOMEM,
 * SOP_EIO (the folder cannot be listed).  Callbacks run in the calling
 * thread, in a read transaction of the check's own; the text is valid
 * during the callback only.
 */
typedef struct sop_check_ops {
    void (*problem)(void *arg, const char *text);
    void (*note)(void *arg, const char *text);
    void (*progress)(void *arg, uint64_t done, uint64_t total);
} sop_check_ops;
SOP_API int sop_db_check(sop_db *db, const sop_check_ops *ops, void *arg, uint64_t *problems);
/* Open a damaged database to read what can be read: recovery
 * goes on where sop_db_open refuses (commits missing from the log, a
 * malformed commit record, both checkpoints damaged: each said in
 * sop_db_recovery_report), and nothing in the folder is changed: no torn
 * end cut, no checkpoint, and write transactions answer SOP_EREADONLY.  For
 * sop_db_check and sop_db_salvage, and for tools that only look (sop stats, sop du).
 * A clustered folder is read along its members' commits, beside running
 * members and without Redis (each transaction's begin catches up).
 * *out as sop_db_open's.  Errors as sop_db_open's, and SOP_ENOTFOUND when
 * the folder holds no database (no SOP marker): a salvage open makes
 * nothing. */
SOP_API int sop_db_open_salvage(const char *path, sop_db **out);
/* Copy every item of db whose node and value still read into dst, a new
 * empty database: each store with its options, in key order (search
 * indexes are built anew by dst's commits).  What cannot be copied is said
 * through ops->problem; *saved and *lost count items (a subtree that does not
 * read is said as a range of keys; either may be NULL).  Errors: SOP_EINVAL
 * (NULL, or dst is db), SOP_EEXIST (dst has a store of that name),
 * SOP_ENOSPC, SOP_EIO, SOP_ENOMEM, and what dst's commits return.  The text
 * given to ops is valid during the callback only. */
SOP_API int sop_db_salvage(sop_db *db, sop_db *dst, const sop_check_ops *ops, void *arg,
                           uint64_t *saved, uint64_t *lost);
/* Walk store s in key order past damage: fn(arg, it) for each item whose
 * node reads (non-zero stops the walk and is returned), damaged(arg, text)
 * for each range of keys that does not read, in words.  Duplicates come in
 * their order.  0, SOP_ECORRUPT when something did not read (the rest was
 * walked), SOP_EINVAL (s or fn NULL), SOP_ENOMEM, or what fn returned.
 * Everything in *it, and the text given to damaged, is valid during the
 * call only. */
typedef struct sop_walk_item {
    const void *key;
    size_t kl;
    uint64_t size;     /* the value's size                                */
    const void *value; /* the value when it is kept in the node, else NULL */
    const void *priv;  /* the engine's                                    */
} sop_walk_item;
typedef int (*sop_walk_fn)(void *arg, const sop_walk_item *it);
SOP_API int sop_store_walk(sop_store *s, sop_walk_fn fn,
                           void (*damaged)(void *arg, const char *text), void *arg);
/* Read len bytes of the walked item's value from off (*got < len at its
 * end), during fn's call for it.  Errors: SOP_EINVAL (it, got NULL, or buf
 * NULL with len), SOP_ECORRUPT (a chunk does not read), SOP_EIO,
 * SOP_ENOMEM. */
SOP_API int sop_walk_read(const sop_walk_item *it, uint64_t off, void *buf, size_t len,
                          size_t *got);

/* What recovery at open found and did, one line each: damaged
 * records it skipped (their commits kept; reads of what they held answer
 * SOP_ECORRUPT), torn tails it cut (how many bytes, whether commit records
 * were among them, and the DATA/torn-*.bin file that keeps them).  "" when
 * the log was whole (or db NULL).  Valid until sop_db_close; never NULL.
 * No error. */
SOP_API const char *sop_db_recovery_report(sop_db *db);

/* The database's own id: a random UUID in lowercase text (36 characters),
 * kept in DATA/id, made when the folder is made (or at the first writable
 * open of a folder made before ids) and never changed after; a copy of the
 * folder keeps it.  "" when the database has none: a read-only open of a
 * folder that never had a writable one, or a DATA/id that is damaged or could
 * not be written (the recovery report says which).  Clustered mode keys
 * what it keeps in Redis by it.  Valid until sop_db_close; never NULL.  No
 * error. */
SOP_API const char *sop_db_id(sop_db *db);

/*
 * Space.  The database keeps a reserve of the disk holding it
 * free for what gives space back: a transaction that added keys or wrote
 * data fails with SOP_ENOSPC once its appends would leave less than the
 * reserve free; one that only removed, truncated or renamed (added no key
 * and wrote at most 64 KiB more than it dropped) may use three quarters of
 * it, and reclamation all of it, so deletes always work on a full disk.
 * The default reserve is 1/32 of the disk, at least 16 MiB and at most
 * 1 GiB.  sop_db_set_reserve(db, 0) restores the default.
 */
typedef struct sop_db_space {
    uint64_t disk_total;     /* bytes of the filesystem holding the database */
    uint64_t disk_free;      /* bytes free on it (for an unprivileged writer) */
    uint64_t reserve;        /* bytes of those kept for deletes and reclamation */
    uint64_t value_segments; /* files of big values' chunks (DATA/N.val) */
} sop_db_space;
/* Set the reserve, in bytes (0: the default).  Errors: SOP_EINVAL (db
 * NULL). */
SOP_API int sop_db_set_reserve(sop_db *db, uint64_t bytes);
/* Fill *out.  Errors: SOP_EINVAL (a NULL argument), SOP_EIO (the disk
 * cannot be asked: statvfs failed). */
SOP_API int sop_db_get_space(sop_db *db, sop_db_space *out);

/*
 * Where the space goes: sop du.  Records are never overwritten, so a data
 * folder holds live records (what some snapshot may read) and dead ones
 * (superseded, waiting for the cleaner or sop_db_compact).  sop_db_usage
 * tells, per segment file, its size and live bytes, and per store the bytes
 * its data takes, and adds up what reclamation would give back now.
 */
enum { SOP_SEGMENT_LOG = 1, SOP_SEGMENT_VALUE = 2 };
typedef struct sop_segment_usage {
    uint32_t id;      /* the file DATA/<id as %08u>.seg (log) or .val (value segment) */
    int kind;         /* SOP_SEGMENT_LOG or SOP_SEGMENT_VALUE                         */
    bool current;     /* the log segment being appended to                            */
    bool reclaimable; /* the cleaner's rule takes it now: a closed log segment or a
                         value segment with live under half its size (its live records
                         are copied out, then it is removed), or one that goes without
                         a copy (nothing live in a value segment, emptied by a round)   */
    uint64_t size;    /* bytes of the file (the current one: up to its end)           */
    uint64_t live;    /* bytes of the records in it that the registry names, headers
                         included: the count the cleaner goes by.  For log segments a
                         lower bound (the older deltas of a node's chain are not
                         counted); size - live is dead                                */
} sop_segment_usage;

typedef struct sop_store_usage {
    const char *name;     /* the store's name (hidden stores too: .sopfs, .sopsearch-*) */
    uint64_t items;       /* items its tree holds                                     */
    uint64_t nodes;       /* nodes of its tree; a node's second copy counts once more */
    uint64_t node_bytes;  /* what its nodes take as full images, headers included:
                             what compaction leaves of them                           */
    uint64_t value_bytes; /* chunk records of its external values in log segments     */
    uint64_t vseg_bytes;  /* chunk records of its external values in value segments   */
} sop_store_usage;

typedef struct sop_usage {
    uint64_t log_bytes, log_live;     /* log segments: sum of size and of live       */
    uint64_t value_bytes, value_live; /* value segments: the same                    */
    uint32_t log_segments, value_segments;
    uint64_t store_bytes;   /* the stores' node_bytes + value_bytes + vseg_bytes       */
    uint64_t cleaner_bytes; /* size - live of the reclaimable segments: what the cleaner
                               would give back (a background round waits until that is
                               at least 32 MiB; sop_db_reclaim takes every closed segment
                               with any garbage)                                      */
    uint64_t compact_bytes; /* what sop_db_compact would give back now: the log less
                               the stores' log records as full images, the commit
                               record that relocates them and, in a folder with one
                               checkpoint, the second one compaction leaves
                               (checkpoint.prev; value segments stay)                 */
} sop_usage;

typedef struct sop_usage_ops {
    int (*segment)(void *arg, const sop_segment_usage *u); /* may be NULL */
    int (*store)(void *arg, const sop_store_usage *u);     /* may be NULL */
} sop_usage_ops;

/*
 * Measure the space of db: ops->segment(arg, u) for each segment
 * file in ascending id order (log and value segments interleaved as
 * numbered), then ops->store(arg, u) for each store in name order, hidden
 * ones included; a non-zero return from either stops the walk and is
 * returned.  *out (may be NULL) gets the totals when the call returns 0 or
 * SOP_ECORRUPT.  Every store's tree is walked and each node read (as
 * sop_db_check does, without reading the chunks), in a read transaction of
 * its own with no maximum age: store figures are those of one snapshot,
 * segment figures are read beside running transactions (a value segment
 * being written by an uncommitted transaction shows nothing live).  Nothing
 * is changed; a database opened with sop_db_open_salvage works too.
 * Everything *u points to is valid during the callback only.
 * Errors: SOP_EINVAL (db or ops NULL), SOP_ENOMEM, SOP_EIO (the folder
 * cannot be listed), SOP_ECORRUPT (part of a tree does not read: the rest
 * was counted and reported, sop_db_errmsg names the store; sop_db_check says
 * more), or what a callback returned.
 */
SOP_API int sop_db_usage(sop_db *db, const sop_usage_ops *ops, void *arg, sop_usage *out);

/* Reclaim the space of superseded records: every live record is
 * copied into new segments and the old segments are removed.  Crash-safe at
 * every step.  Runs only while no transaction is open (SOP_EBUSY otherwise);
 * transactions begun meanwhile wait for it.  Errors: SOP_EINVAL (db NULL),
 * SOP_EBUSY (a transaction is open), SOP_EREADONLY (a database opened with
 * sop_db_open_salvage), SOP_EIO (the log failed, now or earlier),
 * SOP_ENOSPC (nothing changed), SOP_ECORRUPT (a live record is damaged:
 * sop_db_errmsg says which; nothing changed), SOP_ENOMEM. */
SOP_API int sop_db_compact(sop_db *db);
/* sop_db_compact telling how far it got: progress(arg, done,
 * total) once the live records are collected, then after each group of
 * copies (8 MiB) and at the end of the copying, with the bytes of live
 * records copied and to copy (the checkpoints and removals that follow take
 * moments).  It is called in the calling thread while the database is held
 * for the compaction: it must call nothing of this database.  progress NULL
 * is sop_db_compact.  Errors as sop_db_compact's. */
typedef void (*sop_progress_fn)(void *arg, uint64_t done, uint64_t total);
SOP_API int sop_db_compact_progress(sop_db *db, sop_progress_fn progress, void *arg);

/* The last error message of the database, "what: why (object)", or "" when
 * none ("no database" for NULL).  A buffer of db's, valid until
 * sop_db_close; its text is replaced by the next call on db that fails, from
 * any thread.  No error. */
SOP_API const char *sop_db_errmsg(sop_db *db);

/* ------------------------------------------------------------ transactions */

enum {
    SOP_TXN_READ = 1,
    SOP_TXN_WRITE = 2,
    /* OR with SOP_TXN_WRITE; the commit survives a process crash at
     * once and power loss after the flush interval or sop_db_sync(). */
    SOP_TXN_NOSYNC = 4,
    /* OR with either mode; the transaction has no maximum age (see
     * sop_db_options.txn_max_age_ms): for transactions the application
     * bounds itself, such as a file held open for writing or a reader
     * streaming one.  Its snapshot keeps old versions alive meanwhile. */
    SOP_TXN_NOAGE = 8,
    /* OR with either mode; the pointers sop_get, sop_cursor_key and
     * sop_cursor_value hand out stay valid only until the transaction's
     * next sop_get or cursor move (first, last, seek, next, prev of any of
     * its cursors), a change, or its end, instead of until the next change
     * or the end.  The transaction then keeps alive no node it read from
     * once it read on, so a long reader (a scan of the whole database, a
     * million point reads) holds no more memory than the node cache and
     * its read set, instead of every node it touched. */
    SOP_TXN_NOPIN = 16,
};

/*
 * Begin a transaction that sees the database as of now (a snapshot).
 * A read transaction is validated at commit like a write one: it fails with
 * SOP_ECONFLICT if something it read changed meanwhile.  *out belongs to
 * the caller until sop_txn_commit or sop_txn_rollback frees it, which must
 * come before sop_db_close.  It waits while sop_db_compact runs.
 * A member of a clustered database first applies what the other members
 * committed (read from the folder; Redis is not needed).
 * Errors: SOP_EINVAL (db or out NULL, no mode, an unknown flag),
 * SOP_EREADONLY (a write transaction on a database opened with
 * sop_db_open_salvage), SOP_ENOMEM; a member also SOP_EIO and SOP_ECORRUPT
 * (another member's commit cannot be read, or does not check).
 */
SOP_API int sop_txn_begin(sop_db *db, int mode, sop_txn **out);

/*
 * Commit: validate what the transaction read and wrote against the
 * transactions that committed since it began, then make its writes durable
 * and visible at once.  Frees t, whatever it returns (with every pointer it
 * handed out); on any error nothing was changed.
 * Errors: SOP_EINVAL (t NULL), SOP_ECONFLICT (another transaction changed
 * a key or a range this one read or wrote, or a store it used was created,
 * dropped or altered meanwhile: retry it), SOP_ETIMEDOUT (older than the
 * maximum age), the transaction's poison (an earlier failed write's code:
 * SOP_EIO, SOP_ENOSPC, SOP_ENOMEM), SOP_EIO (the append or its fsync
 * failed), SOP_ENOSPC (the disk's reserve), SOP_ENOMEM, SOP_ECORRUPT (a node
 * re-read to apply this transaction's changes onto newer commits does not
 * check), SOP_ENAMETOOLONG (a search store's document key over
 * SOP_SEARCH_MAX_DOC_KEY), what a merge function returned again at commit.
 * A member of a clustered database also: SOP_ECONFLICT when the commit lock
 * stayed another member's for 30 s, or was lost (this process paused past
 * its time to live: nothing was committed); SOP_EIO when Redis cannot be
 * reached within the URL's timeout_ms, or when the claim of the commit
 * may not be durable (then the log is broken until a reopen).
 * SOP_EABORTED is not returned by this version (the poison's own code is).
 * sop_db_errmsg says why (t is gone).
 */
SOP_API int sop_txn_commit(sop_txn *t);

/* Discard the transaction and everything it did, its stores, cursors and
 * every pointer it handed out.  Frees t; NULL is a no-op.  No error. */
SOP_API void sop_txn_rollback(sop_txn *t);

/* The last error message of the transaction, or "" ("no transaction" for
 * NULL).  A buffer of t's: valid until t ends, its text replaced by the next
 * call on t that fails.  No error. */
SOP_API const char *sop_txn_errmsg(sop_txn *t);

/* -------------------------------------------------------------------- stores */

typedef struct sop_store_options {
    uint32_t slot_length; /* items per node; 0: default (1000); 4..65535               */
    bool unique;          /* unique keys                                             */
    bool value_in_node;   /* small values kept inside leaf nodes                     */
    uint32_t chunk_size;  /* 0: default (1 MiB) for big values; 4 KiB..64 MiB         */
    const char *description;
    const char *relations; /* foreign-key metadata as JSON text; NULL: none          */
    const char *kind;      /* "records" (NULL), "search" or "vector"                 */
    uint32_t alter_flags;  /* sop_store_alter only: SOP_ALTER_* bits                  */
} sop_store_options;

/* sop_store_alter applies `unique` / `value_in_node` when true, or when false
 * with its bit here (a bool has no "unset"). */
enum { SOP_ALTER_UNIQUE = 1, SOP_ALTER_VALUE_IN_NODE = 2 };

/*
 * Create store `name` (1..255 bytes, no '/' or NUL) in a write transaction
 * and open it.  *out belongs to t and ends with it.  NULL options are the
 * defaults.  The store exists for others once t commits.  Errors:
 * SOP_EEXIST (the name is taken, as t sees it), SOP_EINVAL (NULL t, name or
 * out; an empty name or one with '/'; options out of range, an unknown
 * kind), SOP_ENAMETOOLONG (a name over SOP_MAX_STORE_NAME), SOP_EREADONLY,
 * SOP_ENOMEM, and the transaction's errors.
 */
SOP_API int sop_store_create(sop_txn *t, const char *name, const sop_store_options *o,
                             sop_store **out);
/* Open an existing store as t sees it; *out belongs to t and ends with it
 * (opening one name twice gives the same handle).  Errors: SOP_ENOTFOUND
 * (no such store, or dropped in t), SOP_EINVAL (NULL arguments, an empty
 * name or one with '/'), SOP_ENAMETOOLONG, SOP_ENOMEM, and the transaction's
 * errors. */
SOP_API int sop_store_open(sop_txn *t, const char *name, sop_store **out);
/* Remove a store and all its items, at commit.  Handles to it opened in t
 * become unusable (SOP_ENOTFOUND).  Errors: SOP_ENOTFOUND, SOP_EREADONLY,
 * SOP_EINVAL, SOP_ENAMETOOLONG, SOP_ENOMEM, and the transaction's errors. */
SOP_API int sop_store_drop(sop_txn *t, const char *name);
/* The number of items in the store, as this transaction sees it (the
 * whole store joins the read set: a commit elsewhere that changes any item
 * of it makes this transaction's commit conflict).  Errors: SOP_EINVAL,
 * SOP_ENOTFOUND (dropped in t), SOP_ENOMEM, and the transaction's errors. */
SOP_API int sop_store_count(sop_store *s, uint64_t *n);

/* Everything a store knows about itself. Strings belong to the
 * transaction (see the pointer rule above). */
typedef struct sop_store_info {
    const char *name;
    sop_store_options options; /* description/relations/kind never NULL ("" if unset) */
    uint64_t count;
    uint64_t created_ns; /* CLOCK_REALTIME, nanoseconds */
    uint64_t modified_ns;
} sop_store_info;
/* Fill *out with what t sees (its own changes included).  Errors:
 * SOP_EINVAL, SOP_ENOTFOUND (dropped in t), SOP_ENOMEM, and the
 * transaction's errors. */
SOP_API int sop_store_get_info(sop_store *s, sop_store_info *out);

/* Change options of an existing store.  Fields left zero/NULL
 * keep their value; `unique` and `value_in_node` change when set true, or
 * when false with their SOP_ALTER_* bit in alter_flags.  slot_length, unique,
 * value_in_node and chunk_size can change only while the store is empty:
 * SOP_EBUSY when one of them would change on a store with items.  Applied
 * at commit; a kind that changes builds or drops the search index then.
 * Errors: SOP_EBUSY, SOP_EINVAL (NULL, options out of range, an unknown
 * kind), SOP_EREADONLY, SOP_ENOTFOUND (dropped in t), SOP_ENOMEM, and the
 * transaction's errors. */
SOP_API int sop_store_alter(sop_store *s, const sop_store_options *o);

/* Call fn(name, arg) for each store t sees, in name order, its own
 * creations and drops included, the hidden companions of search stores
 * left out (.sopfs and other names are listed).  name is valid during the
 * call.  A non-zero return from fn stops the walk and is returned.  Errors:
 * SOP_EINVAL (t or fn NULL), SOP_ENOMEM, the transaction's errors, what fn
 * returned. */
typedef int (*sop_store_list_fn)(const char *name, void *arg);
SOP_API int sop_store_list(sop_txn *t, sop_store_list_fn fn, void *arg);

/* --------------------------------------------------------------------- items */

/* Add an item (v, vl copied; v may be NULL when vl is 0).  Unique stores:
 * SOP_EEXIST if the key is there.  Non-unique stores keep duplicates in
 * insertion order.  Errors: SOP_EEXIST, SOP_EINVAL (s NULL, k NULL with kl,
 * v NULL with vl), SOP_ENOTFOUND (the store was dropped in this
 * transaction), the write errors, the read errors, and the transaction's
 * errors. */
SOP_API int sop_add(sop_store *s, const void *k, size_t kl, const void *v, size_t vl);
/* Add, or replace the value of the first item with that key.  Errors as
 * sop_add's, but SOP_EEXIST. */
SOP_API int sop_upsert(sop_store *s, const void *k, size_t kl, const void *v, size_t vl);
/* Replace the value of the first item with key k.  Errors: SOP_ENOTFOUND
 * (no such key, or the store was dropped), and sop_add's but SOP_EEXIST. */
SOP_API int sop_update(sop_store *s, const void *k, size_t kl, const void *v, size_t vl);
/* Remove the first item with key k (its value's chunks go at commit).
 * Errors: SOP_ENOTFOUND (no such key, or the store was dropped),
 * SOP_EINVAL, SOP_EREADONLY, SOP_ENAMETOOLONG, the read errors, and the
 * transaction's errors. */
SOP_API int sop_remove(sop_store *s, const void *k, size_t kl);
/*
 * Merge functions (sop_merge).  Given the value the key has now (cur, cl;
 * cur is NULL when the key is absent) and an update (upd, ul), write the
 * merged value into out (at most cap bytes, at least 128) and its length
 * into *ol; return 0 or a negative SOP_E* code, which sop_merge or the
 * commit returns.  Called by sop_merge and again at commit, onto whatever
 * value is committed by then, so it must depend on its arguments only
 * (arg is the caller's, passed through), be quick, and call nothing of sop.
 */
typedef int (*sop_merge_fn)(const void *cur, size_t cl, const void *upd, size_t ul, void *out,
                            size_t cap, size_t *ol, void *arg);
/*
 * A blind update of key k: the value becomes fn(current, upd)
 * now, in this transaction, and again at commit onto the value committed
 * by then.  Unlike a write, a merge does not conflict with other
 * transactions' merges or writes of the key, and another transaction that
 * read the key does not conflict with it: for values whose updates
 * commute, such as a maximum of times or a sum of counts (sopfs keeps a
 * directory's mtime and number of subdirectories so, and parallel creates
 * in one directory commit).  A transaction that also wrote k plainly
 * conflicts as a write does.  Only in unique stores, for values that stay
 * inside the node (the store's inline limit, at least 128 bytes).
 * upd is copied.  Errors: SOP_EINVAL (no function, a store that is not
 * unique, a value too big to merge into or out of, NULL arguments),
 * SOP_EREADONLY, SOP_ENAMETOOLONG, SOP_ENOTFOUND (the store was dropped),
 * SOP_ENOMEM, what fn returns, the read errors, and the transaction's errors.
 */
SOP_API int sop_merge(sop_store *s, const void *k, size_t kl, const void *upd, size_t ul,
                      sop_merge_fn fn, void *arg);
/* Move the first item with key k of store s to key k2 of store d (s itself
 * or another store opened in the same transaction), keeping its value as it
 * is: a 10 GiB value moves without a byte copied.  In a unique
 * store d an item at k2 is replaced; otherwise the item is added after any
 * equal keys.  Errors: SOP_ENOTFOUND (k absent, or a store dropped),
 * SOP_EINVAL (stores of two transactions, NULL arguments), SOP_EREADONLY,
 * SOP_ENAMETOOLONG, the read errors, and the transaction's errors. */
SOP_API int sop_move(sop_store *s, const void *k, size_t kl, sop_store *d, const void *k2,
                     size_t k2l);
/* The value of the first item with key k: *v points to *vl bytes (never
 * NULL, "" when empty) that stay valid until the next call that changes the
 * transaction, or its end (a value kept in chunks is read whole into a
 * buffer of the transaction's).  Errors: SOP_ENOTFOUND (no such key, or the
 * store was dropped), SOP_ETOOBIG (a value over SOP_MAX_WHOLE_VALUE: read
 * it with sop_value_read), SOP_EINVAL, SOP_ENAMETOOLONG, the read errors,
 * and the transaction's errors. */
SOP_API int sop_get(sop_store *s, const void *k, size_t kl, const void **v, size_t *vl);

/*
 * Big values, read and written in place; chunking is the engine's business.
 * sop_value_write creates the item (empty value) when the key is absent and
 * extends the value with zeros when off is past its end.  Only the chunks a
 * call touches are read or written; memory stays bounded by a few chunks.
 * sop_value_read sets *got < len only at the end of the value (0 at or past
 * it).  Offsets and sizes go up to 2^62.
 * Errors of all four: SOP_ENOTFOUND (no such key, except for
 * sop_value_write; or the store was dropped), SOP_EINVAL (NULL arguments,
 * buf NULL with len, an offset or size past 2^62), SOP_ENAMETOOLONG, the
 * read errors, and the transaction's errors; sop_value_write and
 * sop_value_truncate also the write errors (SOP_EREADONLY, SOP_ENOSPC,
 * SOP_EIO: a failed chunk write poisons the transaction).
 */
SOP_API int sop_value_size(sop_store *s, const void *k, size_t kl, uint64_t *size);
SOP_API int sop_value_read(sop_store *s, const void *k, size_t kl, uint64_t off, void *buf,
                           size_t len, size_t *got);
SOP_API int sop_value_write(sop_store *s, const void *k, size_t kl, uint64_t off, const void *buf,
                            size_t len);
SOP_API int sop_value_truncate(sop_store *s, const void *k, size_t kl, uint64_t size);

/* ------------------------------------------------------------------- cursors */

/* A cursor belongs to its store's transaction; close it before the end of
 * the transaction or let the transaction's end free it (the handle is then
 * invalid).  A walk records the range it covered: another transaction
 * changing a key in it meanwhile makes this one's commit fail (no
 * phantoms).  A cursor stays on its item across the transaction's own
 * changes (it finds it again by key).
 * Every call on a cursor may return SOP_EINVAL (NULL arguments),
 * SOP_ENOTFOUND (the store was dropped in the transaction), SOP_ENOMEM and
 * the transaction's errors; those that move or read also the read errors
 * (SOP_ECORRUPT, SOP_EIO). */
/* A new cursor on s, positioned nowhere.  Errors: SOP_EINVAL, SOP_ENOTFOUND,
 * SOP_ENOMEM, the transaction's errors. */
SOP_API int sop_cursor_open(sop_store *s, sop_cursor **out);
/* To the first item.  SOP_ENOTFOUND when the store is empty. */
SOP_API int sop_cursor_first(sop_cursor *c);
/* To the last item.  SOP_ENOTFOUND when the store is empty. */
SOP_API int sop_cursor_last(sop_cursor *c);
/* To the first item with a key >= k.  SOP_ENOTFOUND when there is none;
 * SOP_ENAMETOOLONG for a k over SOP_MAX_KEY. */
SOP_API int sop_cursor_seek(sop_cursor *c, const void *k, size_t kl);
/* One item on.  SOP_ENOTFOUND past the end (the cursor is then nowhere) or
 * when it was nowhere. */
SOP_API int sop_cursor_next(sop_cursor *c);
/* One item back.  SOP_ENOTFOUND before the start, or when it was nowhere. */
SOP_API int sop_cursor_prev(sop_cursor *c);
/* The current item's key: *k (*kl bytes, never NULL) valid until the next
 * call that changes the transaction, or its end.  SOP_ENOTFOUND when the
 * cursor is nowhere, or its item was removed by the transaction and no key
 * follows it. */
SOP_API int sop_cursor_key(sop_cursor *c, const void **k, size_t *kl);
/* The current item's value, as sop_get hands it out (same lifetime; a value
 * over SOP_MAX_WHOLE_VALUE answers SOP_ETOOBIG).  SOP_ENOTFOUND as
 * sop_cursor_key's. */
SOP_API int sop_cursor_value(sop_cursor *c, const void **v, size_t *vl);
/* Size of the current item's value without reading it.  SOP_ENOTFOUND as
 * sop_cursor_key's. */
SOP_API int sop_cursor_value_size(sop_cursor *c, uint64_t *size);
/* Close the cursor (its walked range stays in the read set).  NULL is a
 * no-op.  No error. */
SOP_API void sop_cursor_close(sop_cursor *c);

/* ------------------------------------------------------------ search stores */

/*
 * Search stores: a store created with kind "search" holds one
 * document per item, key = document ID, value = its text (any size).  The
 * engine keeps an inverted index of it inside the same transactions that
 * change the documents (a hidden store named ".sopsearch-<hex id>", dropped
 * with its store), so a search sees exactly what its transaction sees and a
 * rollback leaves no trace.  Words are runs of ASCII letters and digits and
 * bytes >= 0x80 (UTF-8 words stay whole), ASCII case-folded, cut to
 * SOP_SEARCH_MAX_WORD bytes.  Document keys are at most
 * SOP_SEARCH_MAX_DOC_KEY bytes (a longer one fails the commit with
 * SOP_ENAMETOOLONG).  In a non-unique store the first item of a key is the
 * document.  Two transactions that change documents of the same search store
 * conflict (the index's statistics are one record): the later commit fails
 * with SOP_ECONFLICT and succeeds when retried.
 */
#define SOP_SEARCH_MAX_WORD 64u
#define SOP_SEARCH_MAX_DOC_KEY (SOP_MAX_KEY - SOP_SEARCH_MAX_WORD - 2u)

typedef struct sop_search_hit {
    const void *key; /* document key, NUL-terminated for convenience (keys may hold NULs) */
    size_t key_len;  /* its length in bytes                                               */
    uint64_t words;  /* the document's length in words                                    */
    double score;    /* BM25                                                              */
} sop_search_hit;

/*
 * Rank the documents of search store s for `query` (a NUL-terminated text,
 * split into words as documents are) by BM25 with k1 = 1.2, b = 0.75 and
 * idf = ln(1 + (N - df + 0.5) / (df + 0.5)) (N documents, df of them holding
 * the word), each distinct query word counted once.  Returns the best `k`
 * (0: all) documents holding at least one query word, best first, equal
 * scores by key order: *hits is one allocation owned by the caller (free it
 * with sop_search_free; keys point inside it), *n their count (0 and a
 * non-NULL or NULL *hits when nothing matches).  In a write transaction the
 * transaction's own pending document changes are indexed first.  The walk
 * over each word's postings joins the read set, so a read transaction whose
 * words gained or lost documents meanwhile fails its commit (no phantoms).
 * Errors: SOP_EINVAL (NULL arguments, or s is not of kind "search"),
 * SOP_ENOTFOUND (s dropped), SOP_ECORRUPT, SOP_ENOMEM, SOP_EIO, and the codes
 * of a failed index update (the transaction is then poisoned).
 */
SOP_API int sop_search_query(sop_store *s, const char *query, size_t k, sop_search_hit **hits,
                             size_t *n);
/* Free what sop_search_query returned; NULL is a no-op. */
SOP_API void sop_search_free(sop_search_hit *hits);

/* ------------------------------------------------------------ vector stores */

/*
 * Vector stores: in a store of kind "vector" each item's value is
 * a vector, then a payload:
 *
 *     first line:  decimal floats separated by spaces, tabs or commas,
 *                  optionally inside '[' ']', ended by '\n' (or the value's end)
 *     the rest:    the payload bytes, anything, any size
 *
 * e.g. `echo '0.1 0.2 0.3' > MOUNT/vectors/item1` writes a 3-dimension
 * vector with an empty payload.  Numbers must be finite; parsing uses the C
 * locale whatever the program's locale.  Queries are exact: every item is
 * read (O(N) per query).
 */
#define SOP_VECTOR_MAX_DIM 65536u
#define SOP_VECTOR_MAX_LINE (4u << 20) /* longest first line, in bytes */

typedef enum sop_vector_metric {
    SOP_VECTOR_COSINE = 1, /* 1 - cos(angle): 0 same direction .. 2 opposite */
    SOP_VECTOR_L2 = 2,     /* Euclidean distance                            */
} sop_vector_metric;

typedef struct sop_vector_hit {
    const void *key; /* item key, NUL-terminated for convenience */
    size_t key_len;
    double distance;
} sop_vector_hit;

/*
 * Parse a vector value (`v`, `vl` bytes: the whole value, or at least its
 * first line).  Writes the numbers to vec[0..*dim-1] (vec has room for cap
 * floats) and the offset of the payload (after the '\n', or vl when there is
 * none) to *payload_off.  Errors: SOP_EINVAL (no number, junk, a number that
 * is not finite, more than cap numbers, a first line over
 * SOP_VECTOR_MAX_LINE bytes; nothing written).
 */
SOP_API int sop_vector_parse(const void *v, size_t vl, float *vec, uint32_t cap, uint32_t *dim,
                             size_t *payload_off);

/*
 * Add or replace (sop_upsert) item k of vector store s: the vector's first
 * line ("%.9g" numbers, so floats read back exactly) then the payload, which
 * is written in place with sop_value_write (never copied whole).  Errors:
 * SOP_EINVAL (s not of kind "vector", dim 0 or over SOP_VECTOR_MAX_DIM, a
 * number not finite), and those of sop_upsert / sop_value_write.
 */
SOP_API int sop_vector_put(sop_store *s, const void *k, size_t kl, const float *vec, uint32_t dim,
                           const void *payload, size_t payload_len);

/*
 * The k (>= 1) items of vector store s nearest to vector q (dim numbers) by
 * `metric`, nearest first, equal distances by key order, as the transaction
 * sees the store.  Exact: every item's first line is read with a cursor
 * (the walk joins the read set).  Items whose vector has another dimension,
 * does not parse, or (cosine) is all zeros are skipped; their number goes to
 * *skipped when skipped is not NULL.  *hits is one allocation owned by the
 * caller (sop_vector_free), *n its count.  Errors: SOP_EINVAL (NULL
 * arguments, k 0, dim 0 or over SOP_VECTOR_MAX_DIM, a bad metric, a
 * non-finite number, a zero query vector with cosine, s not of kind
 * "vector"), SOP_ENOTFOUND (s dropped), SOP_ENOMEM, SOP_EIO, SOP_ECORRUPT.
 */
SOP_API int sop_vector_query(sop_store *s, const float *q, uint32_t dim, size_t k,
                             sop_vector_metric metric, sop_vector_hit **hits, size_t *n,
                             uint64_t *skipped);
/* Free what sop_vector_query returned; NULL is a no-op. */
SOP_API void sop_vector_free(sop_vector_hit *hits);

#ifdef __cplusplus
}
#endif
#endif /* SOP_H */
