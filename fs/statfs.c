/*
 * statfs.c - statfs: the size and free space of the data folder's file
 * system, less the engine's reserve.
 *
 * The numbers are those of the file system holding the database folder
 * (statvfs); names are at most FS_MAX_NAME bytes.  The reserve the engine
 * keeps for deletes and reclamation (sop_db_get_space) is not free for
 * writers, so df shows it as used, as ext4's reserved blocks.  Calls the
 * engine and log.c.
 */
#include "statfs.h"
#include "log.h"
#include "names.h"
#include "sop.h"
#include "types.h"

#include <errno.h>
#include <string.h>
#include <sys/statvfs.h>
#include <syslog.h>

void fs_op_statfs(fuse_req_t req, fuse_ino_t ino)
{
    struct fs *fs = fuse_req_userdata(req);
    struct statvfs sv;
    (void)ino;
    if (statvfs(fs->data_dir, &sv) != 0) {
        int e = errno;
        fs_log(LOG_ERR, "statfs %s: %s", fs->data_dir, strerror(e));
        fuse_reply_err(req, e);
        return;
    }
    sv.f_namemax = FS_MAX_NAME;
    /* the engine's reserve (kept for deletes and reclamation) is not free
     * for writers: df shows it as used, as ext4's reserved blocks */
    sop_db_space sp;
    if (sop_db_get_space(fs->db, &sp) == 0 && sv.f_frsize) {
        fsblkcnt_t keep = (fsblkcnt_t)(sp.reserve / sv.f_frsize);
        sv.f_bavail = sv.f_bavail > keep ? sv.f_bavail - keep : 0;
    }
    fuse_reply_statfs(req, &sv);
}
