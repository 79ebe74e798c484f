/*
 * coord.h - the coordination seam: what the daemons sharing one database
 * agree on outside the data folder.  Standalone, one process has the folder
 * (its flock) and coord_local answers in memory; clustered, every daemon
 * opens coord_redis on the same Redis (ARCHITECTURE.md, "Clustered mode").
 * The two sides fill one table of operations (struct coord_ops), as
 * JuiceFS's meta engines fill one interface; what is the same for both
 * (waiting for a lock, keeping it while it is used, the messages) is here
 * in coord.c, once.
 *
 * Locks.  A lock is a name under the database's id with an owner's token, a
 * time to live and a fence.  Taking it succeeds only when nobody holds it
 * (SET NX PX on Redis); extending and releasing it succeed only for the
 * token that took it (a script on Redis compares the token before it
 * touches the key), so an owner whose lock expired and passed on can
 * neither extend nor release the next owner's.  The fence is a number that
 * grows with every lock taken on the database, over every daemon, and never
 * goes back, not even when Redis restarts empty: a caller passes the
 * highest fence it has seen on disk, and a fence is always above it.  The
 * storage side compares fences: a holder paused past its time to live
 * carries a smaller fence than the one who took the lock after it.
 *
 * Lost state.  coord_epoch() is a number that changes when the service
 * forgot what it held (Redis restarted empty or was flushed): whatever a
 * daemon learnt from it before must be learnt again from the disk.
 *
 * Errors.  Every call is bounded in time: on Redis, each command waits at
 * most the URL's timeout_ms (default 2000) and a broken connection is made
 * again at the next call.  SOP_EIO: the service cannot be reached or
 * answered nonsense (coord_errmsg says which, in words); SOP_EBUSY: the lock
 * is held by another owner; SOP_ECONFLICT: the lock is no longer this
 * owner's (it expired, and may have passed on); SOP_EINVAL: a bad URL or
 * name; SOP_ENOMEM.
 *
 * Threads: a struct coord serialises its calls (one connection); any
 * thread may call it.
 */
#ifndef SOP_COORD_H
#define SOP_COORD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define COORD_NAME_MAX 64
#define COORD_TOKEN_MAX 96

struct coord;

/* A lock as its owner knows it.  Owned by the caller; coord_keep puts it
 * on a list coord_unkeep (or coord_unlock) takes it off again. */
struct coord_lock {
    char name[COORD_NAME_MAX];
    char token[COORD_TOKEN_MAX];
    uint64_t fence;          /* above every fence taken before, and above the floor */
    uint32_t ttl_ms;         /* what it is taken and extended for                 */
    uint64_t until_ms;       /* monotonic ms: held at least until then, if kept   */
    atomic_bool lost;        /* a keeper found it no longer ours, or could not extend */
    struct coord_lock *next; /* the keeper's list */
};

struct coord_ops {
    const char *kind; /* "local" or "redis" */
    /* Take `name` for ttl_ms if free: 0 and *fence, or SOP_EBUSY with
     * *left_ms (how long the holder's lock still lives, 0 if unknown). */
    int (*take)(struct coord *c, const char *name, const char *token, uint32_t ttl_ms,
                uint64_t floor, uint64_t *fence, uint64_t *left_ms);
    /* Extend or release: 0, or SOP_ECONFLICT when the token does not hold it. */
    int (*extend)(struct coord *c, const char *name, const char *token, uint32_t ttl_ms);
    int (*release)(struct coord *c, const char *name, const char *token);
    /* The service's state generation: changes when it lost what it held. */
    int (*epoch)(struct coord *c, uint64_t *out);
    /* The next value of counter `name`, above floor (and above every value
     * it gave before, unless it lost its state: hence the floor). */
    int (*next)(struct coord *c, const char *name, uint64_t floor, uint64_t *out);
    void (*free)(struct coord *c);
};

struct coord {
    const struct coord_ops *ops;
    void *side;     /* the side's own state */
    char dbid[40];  /* the database's id (dbid.h): every key is under it */
    char owner[64]; /* "host:pid": how every token this coord makes begins */
    uint32_t timeout_ms;
    uint32_t lock_ttl_ms; /* the URL's lock_ttl_ms: what callers take locks for (0: theirs) */
    pthread_mutex_t mu; /* one call of ops at a time */
    /* the keeper: a thread extending kept locks every third of their ttl */
    pthread_mutex_t kmu;
    pthread_cond_t kcv;
    pthread_t keeper;
    bool keeper_on, stopping;
    struct coord_lock *kept;
};

/* Open the coordination of database `dbid`: url NULL is the local side, a
 * "redis://[[user]:password@]host[:port][/db][?timeout_ms=N&lock_ttl_ms=N]"
 * or "unix:///path/to/socket[?db=N&...]" URL is Redis (connected at
 * once, to say now if it cannot be).  Errors: SOP_EINVAL (a bad URL, or
 * Redis asked of a build without hiredis), SOP_EIO (Redis cannot be
 * reached: the connection is tried again at each call of a coord that
 * opened, but not at an open), SOP_ENOMEM; coord_errmsg says why. */
int coord_open(const char *url, const char *dbid, struct coord **out);
void coord_close(struct coord *c);

/* Take lock `name` for l->ttl_ms (ttl_ms argument), waiting at most wait_ms
 * for its holder to let go or its ttl to run out: 0 and *l filled (token,
 * fence > floor, until_ms), or SOP_EBUSY (still held after wait_ms),
 * SOP_EIO, SOP_EINVAL (a name over COORD_NAME_MAX - 1 bytes or a ttl of 0). */
int coord_lock(struct coord *c, const char *name, uint32_t ttl_ms, uint64_t floor,
               uint32_t wait_ms, struct coord_lock *l);
/* Extend l by its ttl: 0, SOP_ECONFLICT (it is not ours any more: l->lost
 * is set), SOP_EIO. */
int coord_extend(struct coord *c, struct coord_lock *l);
/* Let go of l (off the keeper's list first): 0, SOP_ECONFLICT (it was not
 * ours any more: somebody else's lock is left alone), SOP_EIO (it expires
 * by itself then). */
int coord_unlock(struct coord *c, struct coord_lock *l);
/* Have the keeper extend l every third of its ttl until coord_unlock: a
 * lock held across a long commit does not run out.  A keeper that finds it
 * gone, or cannot reach the service before until_ms, sets l->lost. */
int coord_keep(struct coord *c, struct coord_lock *l);
/* Is l still ours for at least margin_ms, as far as this process knows? */
bool coord_held(const struct coord_lock *l, uint32_t margin_ms);
/* A number no other caller of counter `name` of this database ever got
 * (segment numbers), above floor: the highest one the caller knows is
 * taken, so that a forgetful service still gives a free one.  0, SOP_EIO. */
int coord_next(struct coord *c, const char *name, uint64_t floor, uint64_t *out);
/* The service's state generation (see above): 0 and *out, or SOP_EIO. */
int coord_epoch(struct coord *c, uint64_t *out);
/* "local" or "redis". */
const char *coord_kind(const struct coord *c);

/* Why this thread's last failed coord call failed, in words; "" if none.
 * Valid until the thread's next coord call. */
const char *coord_errmsg(void);

/* For the sides: say why a call failed (coord_errmsg). */
void coord_seterr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Monotonic milliseconds. */
uint64_t coord_now_ms(void);

/* The sides.  coord_redis_open is absent from builds without hiredis. */
int coord_local_open(struct coord *c);
int coord_redis_open(struct coord *c, const char *url);

#endif
