/*
 * handle.c - open handles (struct fs_handle, the fh of fuse_file_info).
 *
 * Files and directories get a handle at open (file.c, dir.c).  Every handle
 * is on fs->handles from then until its release, so that the unmount can
 * end the ones the kernel will never release (fs_close).  A handle holds a
 * reference on its node and, when opened inside a scope, on the scope; a
 * reader's snapshot is its own.
 *
 * Calls inode.c and scope.c to give references back, path.c to free the
 * reader's path.  fs->mu guards the list and fs->open_files, which counts
 * what is on it (.sop-stats shows it).
 */
#include "handle.h"
#include "inode.h"
#include "path.h"
#include "scope.h"
#include "sop.h"
#include "types.h"

#include <stdlib.h>

void fs_handle_track(struct fs *fs, struct fs_handle *h)
{
    pthread_mutex_lock(&fs->mu);
    h->prev = NULL;
    h->next = fs->handles;
    if (fs->handles)
        fs->handles->prev = h;
    fs->handles = h;
    fs->open_files++;
    pthread_mutex_unlock(&fs->mu);
}

void fs_handle_untrack(struct fs *fs, struct fs_handle *h)
{
    pthread_mutex_lock(&fs->mu);
    if (h->prev)
        h->prev->next = h->next;
    else
        fs->handles = h->next;
    if (h->next)
        h->next->prev = h->prev;
    fs->open_files--;
    pthread_mutex_unlock(&fs->mu);
}

/* What the handle owns itself: its snapshot, its reader's path, its buffers. */
static void handle_free_own(struct fs_handle *h)
{
    if (h->rtxn)
        sop_txn_rollback(h->rtxn);
    fs_path_free(&h->rpath);
    pthread_mutex_destroy(&h->mu);
    free(h->resume);
    free(h->text);
    free(h);
}

void fs_handle_free(struct fs *fs, struct fs_handle *h)
{
    struct fs_scope *scope = h->scope;
    struct fs_node *node = h->node;
    handle_free_own(h);
    fs_scope_put(fs, scope);
    fs_node_put(fs, node);
}

/* At unmount: the nodes and scopes go wholesale after this (fs_close), so
 * their references are not given back one by one. */
void fs_handles_free(struct fs *fs)
{
    while (fs->handles) {
        struct fs_handle *h = fs->handles;
        fs->handles = h->next;
        handle_free_own(h);
    }
}
