/*
 * wgroup.c - writer groups as records that hang on their node.
 *
 * writer.c makes, joins, commits and frees the groups of auto-commit
 * writers (struct fs_wgroup); what is here is what the inode table needs
 * when a node goes with groups still on it, at unmount (a file still open
 * then was never committed): their transactions rolled back and their
 * memory freed.  It is apart from writer.c so that the inode table, which
 * writer.c asks for a node's path, does not depend on writer.c.
 *
 * Calls the engine only (sop_txn_rollback).  Takes no lock: the node is
 * being freed and nothing else reaches it.
 */
#include "wgroup.h"
#include "sop.h"
#include "types.h"

#include <stdlib.h>

void fs_wgroup_free_all(struct fs_node *n)
{
    while (n->wgroups) {
        struct fs_wgroup *g = n->wgroups;
        n->wgroups = g->next;
        if (g->t)
            sop_txn_rollback(g->t);
        free(g);
    }
}
