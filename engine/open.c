/*
 * open.c - opening and closing a database: db.c opens and recovers it, then
 * the cleaner (reclaim.c) sweeps what a cut round left and starts; at close
 * the cleaner stops before db.c tears down what it uses.  A redis_url makes
 * the database a member of a clustered one (cluster.c), with no cleaner.
 * The file sits above all three, so none includes another.
 */
#include "cluster.h"
#include "db.h"
#include "os.h"
#include "reclaim.h"

int db_open_os(const char *path, const sop_db_options *opts, const struct os_ops *os, sop_db **out)
{
    if (opts && opts->redis_url) /* a member: no cleaner (cluster.h) */
        return db_open_any(path, opts, os, false, NULL, &cluster_member_ops, out);
    int rc = db_open_any(path, opts, os, false, reclaim_sweep, NULL, out);
    if (rc == 0)
        reclaim_start(*out);
    return rc;
}

SOP_API int sop_db_open(const char *path, const sop_db_options *opts, sop_db **out)
{
    return db_open_os(path, opts, &os_default, out);
}

/* Read-only: no sweep and no cleaner. */
SOP_API int sop_db_open_salvage(const char *path, sop_db **out)
{
    /* a clustered folder is read along its claims (cluster.c) */
    return db_open_any(path, NULL, &os_default, true, NULL, &cluster_member_ops, out);
}

SOP_API void sop_db_close(sop_db *db)
{
    if (!db)
        return;
    reclaim_stop(db);
    db_close(db);
}
