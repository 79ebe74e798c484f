/*
 * options.h - what the daemon configures the FUSE layer with, and the FUSE
 * API the layer is built against.
 *
 * Every file of the layer reaches <fuse_lowlevel.h> through this header
 * (types.h includes it), so FUSE_USE_VERSION is set in one place: the API
 * of libfuse 3.14, Debian 12's.  The daemon (src/sopfs.c) fills a struct
 * fs_config from its command line; fs_open() copies what it keeps.
 */
#ifndef SOPFS_OPTIONS_H
#define SOPFS_OPTIONS_H

#define FUSE_USE_VERSION FUSE_MAKE_VERSION(3, 14)
#include <fuse_lowlevel.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fs_config {
    const char *data_dir;       /* absolute path of the database folder            */
    const char *redis_url;      /* NULL: standalone                                */
    const char *mountpoint;     /* absolute path of the mountpoint (proc.c)        */
    double entry_timeout;       /* seconds the kernel may cache a name             */
    double attr_timeout;        /* seconds the kernel may cache attributes         */
    bool sync;                  /* every close commits durably (fsync at commit)   */
    size_t cache_bytes;         /* engine node cache; 0: default                   */
    uint32_t flush_interval_ms; /* group flush of close-commits; 0: default (1 s)  */
    uint32_t txn_max_age_ms;    /* 0: default (15 min)                             */
};

#endif /* SOPFS_OPTIONS_H */
