/*
 * cluster.h - a member of a clustered database: several processes, on one
 * host or several, open one data folder with the same Redis
 * (sop_db_options.redis_url, sopfs --redis), and commit as if they were
 * one (ARCHITECTURE.md, "Clustered mode").
 *
 * What a member does differently from a standalone database:
 *  - at open (cluster_member_ops, which db.c calls through db_member_ops):
 *    a shared flock instead of an exclusive one, the folder's id made or
 *    read, the coordination opened (coord.h), DATA/cluster marked, and
 *    recovery from the checkpoint along the claims of DATA/order (order.h)
 *    instead of a scan of the log; its appends go to segments of its own
 *    (blob_open_member);
 *  - at each transaction's begin (cluster_catch_up): the commits other
 *    members claimed since are applied, so the snapshot holds them;
 *  - at commit (txn.c, steps K1-K7): the commit lock is taken in Redis
 *    (cluster_lock), the others' commits applied and their keys kept for
 *    validation, the batch made durable, commit S claimed on disk
 *    (cluster_claim), then applied and the lock let go (cluster_unlock).
 * The cleaner, compaction and the removal of dead value segments do not
 * run in a member: another member's snapshot may still read what they
 * would remove (loose end, ARCHITECTURE.md).
 */
#ifndef SOP_CLUSTER_H
#define SOP_CLUSTER_H

#include "coord.h"
#include "db.h"

extern const struct db_member_ops cluster_member_ops;

/* How long the commit lock lives unless its keeper extends it, and how
 * long a commit waits for another member's. */
#define CLUSTER_LOCK_TTL_MS 10000u
#define CLUSTER_LOCK_WAIT_MS 30000u

/* Apply the commits other members claimed after db->seq (one caller at a
 * time: a mutex of the member's): their registry changes and store infos, and their write
 * sets for the validation of transactions older than them.  0, SOP_EIO,
 * SOP_ECORRUPT (a claim or the record it names does not check), SOP_ENOMEM;
 * db_seterr says why. */
int cluster_catch_up(sop_db *db);

/* K1: take the commit lock for a commit of db (caller holds commit_mu),
 * then catch up.  0 and *l held and kept; SOP_ECONFLICT (another member
 * held it for CLUSTER_LOCK_WAIT_MS), SOP_EIO (Redis cannot be reached, or
 * catching up failed); why says which. */
int cluster_lock(sop_db *db, struct coord_lock *l, char *why, size_t whylen);
/* K5: claim commit seq, whose record is at (seg, off) with a payload of
 * len bytes and is durable.  0; SOP_ECONFLICT (the lock was lost, or
 * another member claimed seq first: the commit did not happen); SOP_EIO
 * (the claim may be made but not durable: the log is broken). */
int cluster_claim(sop_db *db, const struct coord_lock *l, uint64_t seq, uint32_t seg,
                  uint64_t off, uint32_t len, char *why, size_t whylen);
/* After a claim returned 0, once the commit is applied (C6): until then a
 * catching up waits, so that it does not apply the claimed commit too. */
void cluster_applied(sop_db *db);
/* K7: let the lock go. */
void cluster_unlock(sop_db *db, struct coord_lock *l);

#endif
