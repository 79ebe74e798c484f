/*
 * wgroup.h - a writer group as a record on its node (wgroup.c; writer.c
 * makes, joins and commits them).
 */
#ifndef SOPFS_WGROUP_H
#define SOPFS_WGROUP_H

#include "sop.h"
#include "types.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

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

/* Roll back and free every writer group of n, a node being freed (unmount). */
void fs_wgroup_free_all(struct fs_node *n);

#endif /* SOPFS_WGROUP_H */
