/*
 * scope.h - directory-scoped transactions (.sop-txn) and .sop-stats
 * (scope.c).
 */
#ifndef SOPFS_SCOPE_H
#define SOPFS_SCOPE_H

#include "path.h"
#include "sop.h"
#include "types.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

#endif /* SOPFS_SCOPE_H */
