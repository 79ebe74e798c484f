/*
 * sopfs.c - the daemon: mounts a sop database as a filesystem.
 *
 *   sopfs [-f] [-d] [-s] [-o OPT[,OPT...]] DATA_DIR MOUNTPOINT
 *
 * Also usable as `mount -t fuse.sopfs DATA_DIR MOUNTPOINT -o OPTS` (mount
 * helpers call it with that argument order).  It parses options, opens the
 * database (fs/fs.c), mounts, and serves requests (fs/loop.c: one thread
 * answers, workers take what may block) until unmounted or sent
 * SIGTERM/SIGINT/SIGHUP, which
 * unmount cleanly.  Without -f it detaches only once the database is open
 * and the mount is in place, so a failure (a folder in use by another daemon,
 * a missing mountpoint) is reported by the command itself, with status 1.
 * Messages go to stderr in the foreground and to syslog otherwise.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
/* the FUSE layer's interface (fs/fs.h and the three headers it names,
 * found through -I fs) */
#include <fs.h>
#include <log.h>
#include <loop.h>
#include <notify.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0.1.0"
#endif

struct options {
    int foreground, fuse_debug, single_thread, debug, sync, help, version;
    char *entry_timeout, *attr_timeout, *flush_interval, *txn_max_age, *cache_size;
    char *redis, *max_threads, *spin;
    char *data_dir, *mountpoint;
    int extra_args;
};

#define OPT(t, field, v)                                                                           \
    {                                                                                              \
        t, offsetof(struct options, field), v                                                      \
    }

static const struct fuse_opt spec[] = {
    OPT("-f", foreground, 1),
    OPT("-d", fuse_debug, 1),
    OPT("-s", single_thread, 1),
    OPT("debug", debug, 1),
    OPT("sync", sync, 1),
    OPT("entry_timeout=%s", entry_timeout, 0),
    OPT("attr_timeout=%s", attr_timeout, 0),
    OPT("flush_interval=%s", flush_interval, 0),
    OPT("txn_max_age=%s", txn_max_age, 0),
    OPT("cache_size=%s", cache_size, 0),
    OPT("max_threads=%s", max_threads, 0),
    OPT("spin=%s", spin, 0),
    OPT("redis=%s", redis, 0),
    OPT("--redis=%s", redis, 0),
    OPT("--redis %s", redis, 0),
    OPT("-h", help, 1),
    OPT("--help", help, 1),
    OPT("-V", version, 1),
    OPT("--version", version, 1),
    FUSE_OPT_END,
};

static void usage(FILE *f)
{
    fprintf(f, "usage: sopfs [-f] [-d] [-s] [-o OPT[,OPT...]] DATA_DIR MOUNTPOINT\n"
               "\n"
               "Mount the sop database in DATA_DIR (created if absent) on MOUNTPOINT: each\n"
               "directory at the root is a store, each file in it a record (key = path,\n"
               "value = content).\n"
               "\n"
               "  -f                     stay in the foreground, log to stderr\n"
               "  -d                     libfuse debugging (every request; implies -f)\n"
               "  -s                     single-threaded: no worker threads\n"
               "  -h, --help             this text\n"
               "  -V, --version          the version\n"
               "  --redis URL            clustered mode: coordinate through Redis\n"
               "\n"
               "  -o debug               log every operation (LOG_DEBUG)\n"
               "  -o sync                commit every close durably (fsync), not within the\n"
               "                         flush interval\n"
               "  -o flush_interval=MS   group flush of close-commits (default 1000)\n"
               "  -o txn_max_age=S       longest .sop-txn scope, in seconds (default 900): an\n"
               "                         older one is rolled back and fails with ETIMEDOUT\n"
               "                         until rolled back (files open for reading or\n"
               "                         writing have no maximum age: their close ends them)\n"
               "  -o cache_size=BYTES    engine node cache (k/m/g suffixes; default 64m)\n"
               "  -o entry_timeout=S     kernel name cache (default 1)\n"
               "  -o attr_timeout=S      kernel attribute cache (default 1)\n"
               "  -o max_threads=N       worker threads for requests that may block\n"
               "                         (fsync, big reads and writes, renames; default 10)\n"
               "  -o spin=US             poll for the next request this long before\n"
               "                         sleeping (default 25; 0: never)\n"
               "  -o redis=URL           as --redis\n"
               "  -o allow_other         let other users in (default_permissions is always on)\n"
               "  other -o options are mount options handed to libfuse (ro, noatime, ...)\n");
}

static int nonopt(void *data, const char *arg, int key, struct fuse_args *outargs)
{
    struct options *o = data;
    (void)outargs;
    if (key != FUSE_OPT_KEY_NONOPT)
        return 1; /* keep: a mount option for libfuse */
    if (!o->data_dir)
        return (o->data_dir = strdup(arg)) ? 0 : -1;
    if (!o->mountpoint)
        return (o->mountpoint = strdup(arg)) ? 0 : -1;
    o->extra_args++;
    return 0;
}

static int parse_double(const char *name, const char *s, double *out)
{
    char *end;
    if (!s)
        return 0;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v < 0) {
        fprintf(stderr, "sopfs: -o %s=%s: not a number of seconds\n", name, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_size(const char *name, const char *s, unsigned long long max,
                      unsigned long long *out)
{
    char *end;
    if (!s)
        return 0;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!errno && end != s) {
        switch (*end) {
        case 'k':
        case 'K':
            v <<= 10;
            end++;
            break;
        case 'm':
        case 'M':
            v <<= 20;
            end++;
            break;
        case 'g':
        case 'G':
            v <<= 30;
            end++;
            break;
        default:
            break;
        }
    }
    if (errno || end == s || *end || *s == '-' || v > max) {
        fprintf(stderr, "sopfs: -o %s=%s: not a valid number\n", name, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* An absolute path for p: the daemon changes to "/" once detached. */
static char *absolute(const char *p)
{
    char cwd[PATH_MAX];
    char *r = realpath(p, NULL);
    if (r)
        return r;
    if (p[0] == '/')
        return strdup(p);
    if (!getcwd(cwd, sizeof(cwd)))
        return NULL;
    size_t n = strlen(cwd) + strlen(p) + 2;
    if (!(r = malloc(n)))
        return NULL;
    snprintf(r, n, "%s/%s", cwd, p);
    return r;
}

/* Detach: the parent waits on a pipe for the child's verdict. */
static int daemonize(int *report_fd)
{
    int pfd[2];
    if (pipe(pfd) != 0) {
        fprintf(stderr, "sopfs: pipe: %s\n", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "sopfs: fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid > 0) {
        char status = 1;
        close(pfd[1]);
        if (read(pfd[0], &status, 1) != 1)
            status = 1;
        _exit(status ? 1 : 0);
    }
    close(pfd[0]);
    if (setsid() < 0)
        fprintf(stderr, "sopfs: setsid: %s\n", strerror(errno));
    *report_fd = pfd[1];
    return 0;
}

static void report(int *fd, char status)
{
    if (*fd < 0)
        return;
    if (write(*fd, &status, 1) != 1) {
        /* the parent is gone: nothing to tell */
    }
    close(*fd);
    *fd = -1;
}

static void detach_stdio(void)
{
    int fd = open("/dev/null", O_RDWR);
    if (fd < 0)
        return;
    dup2(fd, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    if (fd > 2)
        close(fd);
}

int main(int argc, char *argv[])
{
    struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
    struct options o;
    struct fs_config cfg;
    struct fs *fs = NULL;
    struct fuse_session *se = NULL;
    char err[1024], *mount_opts = NULL, *fsname = NULL;
    unsigned long long n;
    int report_fd = -1, rc = 1;
    bool mounted = false;

    memset(&o, 0, sizeof(o));
    memset(&cfg, 0, sizeof(cfg));
    cfg.entry_timeout = 1.0;
    cfg.attr_timeout = 1.0;
    if (fuse_opt_parse(&args, &o, spec, nonopt) != 0) {
        fprintf(stderr, "sopfs: bad arguments; try sopfs --help\n");
        goto out;
    }
    if (o.help) {
        usage(stdout);
        printf("\nlibfuse options:\n");
        fflush(stdout);
        fuse_lowlevel_help();
        rc = 0;
        goto out;
    }
    if (o.version) {
        printf("sopfs %s (libfuse %s)\n", PACKAGE_VERSION, fuse_pkgversion());
        rc = 0;
        goto out;
    }
    if (!o.data_dir || !o.mountpoint || o.extra_args) {
        fprintf(stderr, o.extra_args ? "sopfs: too many arguments\n"
                                     : "sopfs: DATA_DIR and MOUNTPOINT are both needed\n");
        usage(stderr);
        goto out;
    }
    if (o.fuse_debug)
        o.foreground = 1;
    if (parse_double("entry_timeout", o.entry_timeout, &cfg.entry_timeout) ||
        parse_double("attr_timeout", o.attr_timeout, &cfg.attr_timeout))
        goto out;
    if (parse_size("flush_interval", o.flush_interval, UINT32_MAX, &n))
        goto out;
    cfg.flush_interval_ms = o.flush_interval ? (uint32_t)n : 0;
    if (parse_size("txn_max_age", o.txn_max_age, UINT32_MAX / 1000, &n))
        goto out;
    cfg.txn_max_age_ms = o.txn_max_age ? (uint32_t)n * 1000 : 0;
    if (parse_size("cache_size", o.cache_size, SIZE_MAX, &n))
        goto out;
    cfg.cache_bytes = o.cache_size ? (size_t)n : 0;
    unsigned long long threads = 10;
    if (parse_size("max_threads", o.max_threads, 1000, &threads) || threads == 0)
        goto out;
    unsigned long long spin = 25;
    if (parse_size("spin", o.spin, 1000000, &spin))
        goto out;
    cfg.sync = o.sync;
    cfg.redis_url = o.redis;

    char *data_dir = absolute(o.data_dir), *mnt = absolute(o.mountpoint);
    free(o.data_dir);
    free(o.mountpoint);
    o.data_dir = data_dir;
    o.mountpoint = mnt;
    if (!data_dir || !mnt) {
        fprintf(stderr, "sopfs: out of memory\n");
        goto out;
    }
    /* the database must not be reached through the mount itself: its files
     * would be opened through the daemon that is opening them */
    size_t ml = strlen(mnt);
    if (!strncmp(data_dir, mnt, ml) && (data_dir[ml] == '\0' || data_dir[ml] == '/' || ml == 1)) {
        fprintf(stderr,
                "sopfs: the data folder %s is %s the mountpoint %s: choose a data folder "
                "outside it\n",
                data_dir, data_dir[ml] ? "inside" : "the same as", mnt);
        goto out;
    }
    struct stat st;
    if (stat(mnt, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "sopfs: mountpoint %s: %s\n", mnt,
                errno && !S_ISDIR(st.st_mode) ? strerror(errno) : "not a directory");
        goto out;
    }
    cfg.data_dir = data_dir;
    cfg.mountpoint = mnt;

    /* mount options: always default_permissions (the kernel checks modes) */
    size_t fl = strlen(data_dir) + 8;
    if (!(fsname = malloc(fl)))
        goto out;
    snprintf(fsname, fl, "fsname=%s", data_dir);
    if (fuse_opt_add_opt(&mount_opts, "default_permissions") ||
        fuse_opt_add_opt(&mount_opts, "subtype=sopfs") ||
        fuse_opt_add_opt_escaped(&mount_opts, fsname) || fuse_opt_add_arg(&args, "-o") ||
        fuse_opt_add_arg(&args, mount_opts) || (o.fuse_debug && fuse_opt_add_arg(&args, "-d"))) {
        fprintf(stderr, "sopfs: out of memory\n");
        goto out;
    }

    fs_log_init(false, o.debug);
    if (!o.foreground && daemonize(&report_fd) != 0)
        goto out;
    if (fs_open(&cfg, &fs, err, sizeof(err)) != 0) {
        fprintf(stderr, "sopfs: %s\n", err);
        goto out;
    }
    se = fuse_session_new(&args, fs_ops(), sizeof(*fs_ops()), fs);
    if (!se) {
        fprintf(stderr, "sopfs: bad mount options (see sopfs --help)\n");
        goto out;
    }
    if (fuse_set_signal_handlers(se) != 0) {
        fprintf(stderr, "sopfs: cannot install signal handlers\n");
        goto out;
    }
    if (fuse_session_mount(se, mnt) != 0) {
        fprintf(stderr, "sopfs: cannot mount on %s\n", mnt);
        goto out;
    }
    mounted = true;
    fs_set_session(fs, se);
    if (!o.foreground) {
        if (chdir("/") != 0) {
            /* nothing depends on the working folder */
        }
        fs_log_init(true, o.debug);
        detach_stdio();
        report(&report_fd, 0);
    }
    fs_log(LOG_INFO, "%s mounted on %s", data_dir, mnt);
    rc = fs_loop(fs, se, o.single_thread ? 0 : (unsigned)threads, (unsigned)spin);
    if (rc != 0)
        fs_log(LOG_ERR, "the request loop ended: %s", strerror(-rc));
    rc = rc ? 1 : 0;
    fs_log(LOG_INFO, "unmounting %s", mnt);
out:
    if (se) {
        fs_set_session(fs, NULL);
        if (mounted)
            fuse_session_unmount(se);
        fuse_remove_signal_handlers(se);
        fuse_session_destroy(se);
    }
    fs_close(fs);
    report(&report_fd, 1);
    fuse_opt_free_args(&args);
    free(mount_opts);
    free(fsname);
    free(o.data_dir);
    free(o.mountpoint);
    free(o.entry_timeout);
    free(o.attr_timeout);
    free(o.flush_interval);
    free(o.txn_max_age);
    free(o.cache_size);
    free(o.max_threads);
    free(o.spin);
    free(o.redis);
    return rc;
}
