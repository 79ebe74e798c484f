/*
 * errors.h - engine codes turned into errno, once.
 *
 * Every function of the layer returns 0 or -errno.  An engine call's code
 * (0 or a negative SOP_E*) becomes -errno where the call is made, through
 * fs_sop_err(), which also logs the engine's reason; nothing above it sees
 * an engine code.
 */
#ifndef SOPFS_ERRORS_H
#define SOPFS_ERRORS_H

#include "sop.h"
#include "types.h"

/* The errno of engine code rc, by the one error table (SOP_ERRNO_MAP in
 * sop.h): 0 for 0, EIO for a code not in it. */
int fs_errno_of(int rc);
/* -errno of engine code rc, returned by a call made in t (NULL: outside a
 * transaction) to do `what`.  Not found and already exists are answers and
 * are not logged; a conflict is logged at debug level (it is retried);
 * anything else is counted in the errors of .sop-stats and logged with the
 * engine's message of t or of the database (LOG_INFO for EINVAL, EBUSY and
 * ENAMETOOLONG, LOG_ERR otherwise). */
int fs_sop_err(struct fs *fs, sop_txn *t, int rc, const char *what);

#endif /* SOPFS_ERRORS_H */
