/*
 * dbid.h - the database's own identity: a random UUID kept in DATA/id,
 * made when the folder is created (or at the first writable open of a
 * folder made by a build that had none) and never changed after.
 *
 * It names the database wherever a path cannot: two hosts may mount one
 * shared folder at different paths, so clustered mode keys everything it
 * keeps in Redis by this id (ARCHITECTURE.md, "Clustered mode").  A copy of
 * the folder (cp -a, rsync) keeps the id: such a copy must not share a
 * Redis with its original (sop load into a new folder makes a new id).
 *
 * File: "sop database id " + 36-character UUID + "\n", written to a
 * file of the writer's own, fsynced, linked to DATA/id (link fails when the
 * name exists: two writers at once agree on the first), folder fsynced: a
 * crash leaves either no id or a whole one, never a torn one.
 */
#ifndef SOP_DBID_H
#define SOP_DBID_H

#include "os.h"

#include <stdbool.h>
#include <stddef.h>

#define DBID_LEN 36 /* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" */

/* Read DATA/id of folder `dir` into out (DBID_LEN + 1 bytes).  With `make`
 * and no id there, make one first.  Returns 0; SOP_ENOTFOUND (no id and not
 * `make`), SOP_ECORRUPT (the file holds something else), SOP_EIO or
 * SOP_ENOSPC (it cannot be read or written), with the reason in why. */
int dbid_load(const struct os_ops *os, const char *dir, bool make, char out[DBID_LEN + 1],
              char *why, size_t whylen);

#endif
