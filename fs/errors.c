/*
 * errors.c - engine codes as errno, and their reasons in the log.
 *
 * The map is generated from the engine's error table (SOP_ERRNO_MAP, an
 * X-macro in sop.h), so a new engine code needs no change here.  Calls
 * the engine for its messages (sop_strerror, sop_txn_errmsg, sop_db_errmsg)
 * and log.c; counts in fs->stats.
 */
#include "errors.h"
#include "log.h"
#include "sop.h"
#include "types.h"

#include <errno.h>
#include <syslog.h>

int fs_errno_of(int rc)
{
    switch (rc) {
#define SOP_XX_ERRNO(name, code, errno_name, msg)                                                  \
    case code:                                                                                     \
        return errno_name;
        SOP_ERRNO_MAP(SOP_XX_ERRNO)
#undef SOP_XX_ERRNO
    }
    return EIO;
}

int fs_sop_err(struct fs *fs, sop_txn *t, int rc, const char *what)
{
    int e = fs_errno_of(rc);
    if (e == 0)
        return 0;
    if (rc == SOP_ENOTFOUND || rc == SOP_EEXIST) {
        return -e;
    }
    const char *why = t ? sop_txn_errmsg(t) : sop_db_errmsg(fs->db);
    if (rc == SOP_ECONFLICT) {
        fs_log(LOG_DEBUG, "%s: %s", what, sop_strerror(rc));
        return -e;
    }
    FS_STAT_ADD(fs, errors, 1);
    fs_log(rc == SOP_EINVAL || rc == SOP_EBUSY || rc == SOP_ENAMETOOLONG ? LOG_INFO : LOG_ERR,
           "%s: %s%s%s", what, sop_strerror(rc), why && *why ? ": " : "", why ? why : "");
    return -e;
}
