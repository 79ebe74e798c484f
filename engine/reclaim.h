/*
 * reclaim.h - online space reclamation: the segment cleaner.
 *
 * Records are never overwritten, so every commit leaves superseded node
 * images, deltas and chunks behind in the log.  The cleaner, a thread of
 * the database's own, picks closed log segments whose live bytes (registry.h
 * counts them) are a small share of their size, copies what is live in them
 * to the log's end (nodes as full images: no delta chain may reach back into
 * a segment that goes), commits the new locations, and removes the segments
 * once no snapshot can read them and two checkpoints (db.c) start replay
 * past them.  Transactions run meanwhile: a commit waits for the cleaner
 * only while one group of copies (at most RECLAIM_GROUP bytes) is checked
 * and committed, never while records are read or copied.
 *
 * Crash safety: copies not yet committed are unreferenced records that
 * recovery ignores; a relocation commit is an ordinary commit record (it
 * changes locations, no key), replayed like any other; a segment is removed
 * only after two checkpoints written after its last relocation, so neither
 * checkpoint's replay reads it; a segment emptied before a crash but not yet
 * removed is found and removed at the next open (reclaim_sweep).
 *
 * sop_db_compact (compact.c) shares the copy step (reclaim_copy).
 */
#ifndef SOP_RECLAIM_H
#define SOP_RECLAIM_H

#include "db.h"
#include "node.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes of copies committed in one step: what a commit may wait for. */
#define RECLAIM_GROUP (8u << 20)

/* A live record to move: its key, where it is, and where its copy went
 * (absolute, filled by reclaim_copy). */
struct move {
    struct rkey key;
    struct loc from, to;
    bool gone; /* superseded before it was copied: no copy made (to is 0) */
};
struct moves {
    struct move *v;
    size_t n, cap;
};
int moves_add(struct moves *m, const struct rkey *key, const struct loc *from);
void moves_free(struct moves *m);

/* Copy the records of m->v[from..to) to the log's end (unsynced), filling
 * each `to`: chunks and node images as they are (no decode), a delta chain
 * as one full image (loaded past the cache: the cleaner's reads must not
 * push out what the cache holds).  Appends in
 * batches of at most RECLAIM_GROUP bytes.  A record that fails to read
 * because a commit superseded it meanwhile (its value segment went by
 * itself, db.c) is no failure: it is marked gone.  SOP_EIO, SOP_ENOSPC,
 * SOP_ECORRUPT (a record does not check), SOP_ENOMEM; db->errmsg says which
 * record. */
int reclaim_copy(sop_db *db, struct moves *m, size_t from, size_t to);

/* What the cleaner does with segment seg (a value segment when vseg; cur is
 * the log segment being appended to) of size bytes, live of them live:
 * RECLAIM_PICK, a round copies what is live out of it and removes it (a
 * closed log segment or a value segment with live under 1/2 of its size;
 * with force, any garbage at all); RECLAIM_GOES, it goes without a copy (a
 * value segment with nothing live, db.c; one a round emptied, waiting for
 * older snapshots; a log segment below the compaction floor); RECLAIM_KEEP,
 * it stays.  Shared by the rounds and sop_db_usage (usage.c). */
enum { RECLAIM_KEEP = 0, RECLAIM_PICK = 1, RECLAIM_GOES = 2 };
int reclaim_judge(sop_db *db, uint32_t seg, bool vseg, uint32_t cur, uint64_t size, uint64_t live,
                  bool force);

/* The background cleaner: started at open (unless the database is opened
 * for salvage), stopped at close, before anything it uses goes. */
int reclaim_start(sop_db *db);
void reclaim_stop(sop_db *db);

/* At open, after recovery: remove the log segments below both checkpoints'
 * replay start that nothing references (a cleaner's work cut by a crash). */
int reclaim_sweep(sop_db *db);

#endif
