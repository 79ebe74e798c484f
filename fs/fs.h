/*
 * fs.h - what the daemon (src/sopfs.c) sees of the FUSE layer.
 *
 * The layer is a set of low-level FUSE operations over one open sop
 * database.  The daemon parses options into a struct fs_config, opens the
 * layer with fs_open(), hands fs_ops() to fuse_session_new() with the fs as
 * userdata, tells the layer its session (fs_set_session) so it can send
 * cache invalidations, runs the loop and finally calls fs_close().
 *
 * Ownership: fs_open() copies what it needs of the config; fs_close() ends
 * every transaction still open (rolled back: a file never closed was never
 * committed) and closes the database.
 */
#ifndef SOPFS_FS_H
#define SOPFS_FS_H

#define FUSE_USE_VERSION FUSE_MAKE_VERSION(3, 14)
#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fs;

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

/* Open the database and build the layer.  Returns 0 or -errno, with a
 * sentence in err. */
int fs_open(const struct fs_config *cfg, struct fs **out, char *err, size_t errlen);
/* The operations table; pass the struct fs as userdata. */
const struct fuse_lowlevel_ops *fs_ops(void);
/* The session the notifications (cache invalidations) go to; NULL stops them. */
void fs_set_session(struct fs *fs, struct fuse_session *se);
/* Run the request loop (fs/loop.c) until unmounted or told to exit: the
 * calling thread answers quick requests itself and hands those that may
 * block to up to `workers` threads (0: it answers everything); between
 * requests it polls the device for up to spin_us microseconds before
 * sleeping (0: never).  Returns 0 or -errno. */
int fs_loop(struct fs *fs, struct fuse_session *se, unsigned workers, unsigned spin_us);
/* End everything and close the database.  NULL is a no-op. */
void fs_close(struct fs *fs);

/* Logging (fs/log.c): stderr when foreground, syslog otherwise; LOG_DEBUG
 * lines only with -o debug.  Priorities are syslog's. */
void fs_log_init(bool use_syslog, bool debug);
bool fs_log_debug_enabled(void);
void fs_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif /* SOPFS_FS_H */
