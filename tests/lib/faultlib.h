/*
 * faultlib.h - the OS-layer shims of the tests (engine-private: includes
 * os.h).  fault_os fails chosen calls; crash_os simulates power loss by
 * undoing every write not yet fsynced.
 */
#ifndef SOP_FAULTLIB_H
#define SOP_FAULTLIB_H

#include "os.h"

#include <stdbool.h>
#include <stdint.h>

enum { FK_WRITE = 1, FK_FSYNC = 2, FK_RENAME = 4, FK_OPEN = 8, FK_TRUNC = 16, FK_READ = 32 };

struct fault_os {
    struct os_ops ops;
    int kinds;
    long fail_at, count;
    int err, fired, sticky;
    /* when set: the free space the disk reports (a disk about to fill) */
    bool space_set;
    uint64_t space_avail, space_total;
};
void fault_os_init(struct fault_os *f);
/* Fail the nth call of `kinds` with errno err (and every later one if sticky). */
void fault_os_arm(struct fault_os *f, int kinds, long nth, int err, int sticky);

/* Allocations (the seam's memory half, os.h): fail the nth allocation of
 * the engine from now on (every later one too if sticky); disarm returns
 * whether it fired.  Process-wide: arm with no other test running. */
void fault_mem_arm(long nth, int sticky);
int fault_mem_disarm(void);

struct crash_undo;
struct crash_os {
    struct os_ops ops;
    char *paths[1024];       /* by fd */
    struct crash_undo *undo; /* newest first */
    long writes;
    long die_at; /* the machine dies at this write (0: never) */
    bool dead;
};
void crash_os_init(struct crash_os *c);
/* Power loss: every write not fsynced is undone; with keep_seed != 0 a
 * random subset survives (the newest maybe torn).  Then every call fails. */
void crash_os_crash(struct crash_os *c, uint64_t keep_seed);
void crash_os_free(struct crash_os *c);

#endif
