/*
 * handle.h - open handles, listed for the unmount (handle.c).
 */
#ifndef SOPFS_HANDLE_H
#define SOPFS_HANDLE_H

#include "path.h"
#include "sop.h"
#include "types.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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

/* Put h on fs->handles (fs->open_files counts it): from its open ... */
void fs_handle_track(struct fs *fs, struct fs_handle *h);
/* ... to its release. */
void fs_handle_untrack(struct fs *fs, struct fs_handle *h);
/* Free h, not or no longer tracked: its snapshot rolled back, its references on its node
 * and scope given back. */
void fs_handle_free(struct fs *fs, struct fs_handle *h);
/* At unmount, free every handle still open (the kernel will send no release
 * any more): snapshots rolled back, nodes and scopes left to their own
 * teardown. */
void fs_handles_free(struct fs *fs);

#endif /* SOPFS_HANDLE_H */
