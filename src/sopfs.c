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
 * Messages go to stderr in the foreground and to syslog otherwise; under
 * systemd, stderr lines carry "<N>" priority prefixes (fs/log.c) and
 * $NOTIFY_SOCKET hears READY=1 and STOPPING=1 (notify_systemd()).
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

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0.1.0"
#endif

struct options {
    int foreground, fuse_debug, single_thread, debug, sync, help, version, nonempty;
    char *entry_timeout, *attr_timeout, *flush_interval, *txn_max_age, *cache_size;
    char *redis, *max_threads, *spin;
    char *data_dir, *mountpoint;
    int extra_args;
};

#define OPT(t, field, v)                                                                           \
    {                                                                                              \
        t, offsetof(struct options, field), v                                                      \
    }

/* A line on stderr about why sopfs stops, before or instead of its log: with
 * the "<3>" (error) prefix when stderr is the journal (fs_log_to_journal),
 * as every line of the log has its own there. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    if (fs_log_to_journal())
        fputs("<3>", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

static const struct fuse_opt spec[] = {
    OPT("-f", foreground, 1),
    OPT("-d", fuse_debug, 1),
    OPT("-s", single_thread, 1),
    OPT("debug", debug, 1),
    OPT("sync", sync, 1),
    OPT("nonempty", nonempty, 1),
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

/*
 * sd_notify(3) without libsystemd: one datagram to the unix socket named by
 * $NOTIFY_SOCKET (a name starting with '@' is in the abstract namespace).
 * READY=1 once the mount is up, STOPPING=1 when the request loop ends.
 * Nothing to do, and no error, when the variable is not set.
 */
static void notify_systemd(const char *msg)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len;
    int fd;

    if (!path || (path[0] != '/' && path[0] != '@') || (len = strlen(path)) >= sizeof(sa.sun_path))
        return;
    memcpy(sa.sun_path, path, len);
    if (path[0] == '@')
        sa.sun_path[0] = '\0';
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fs_log(LOG_WARNING, "NOTIFY_SOCKET: socket: %s", strerror(errno));
        return;
    }
    if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa,
               (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
        fs_log(LOG_WARNING, "NOTIFY_SOCKET %s: %s", path, strerror(errno));
    close(fd);
}

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
               "  -o nonempty            mount over a folder that is not empty (its files are\n"
               "                         hidden while mounted; without it sopfs refuses)\n"
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
        say("sopfs: -o %s=%s: not a number of seconds\n", name, s);
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
        say("sopfs: -o %s=%s: not a valid number\n", name, s);
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

/* ------------------------------------------------------------ before mounting
 *
 * What a mount needs is checked before the database is opened (which makes
 * the data folder when it is absent), so that a failure changes nothing and
 * says what is missing in words: libfuse's own messages ("fuse: device not
 * found, try 'modprobe fuse' first") name neither the package nor what to do
 * in a container, and libfuse 3 mounts over a folder that is not empty
 * without a word (its -o nonempty is gone), hiding the files in it.
 */

/* A field of /proc/self/mountinfo, octal escapes (\040: a space) undone. */
static void unescape_octal(char *s)
{
    char *o = s;
    for (; *s; s++) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
            s[3] >= '0' && s[3] <= '7') {
            *o++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
            s += 3;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
}

/* Is `path` a mount point?  Its type and source then go to type, source
 * (the last mount there: the one on top). */
static bool mounted_at(const char *path, char *type, size_t tl, char *source, size_t sl)
{
    FILE *f = fopen("/proc/self/mountinfo", "r");
    char line[8192];
    bool found = false;
    if (!f)
        return false;
    while (fgets(line, sizeof(line), f)) {
        /* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER */
        char *save = NULL, *field[5], *tok;
        int i;
        for (i = 0; i < 5 && (tok = strtok_r(i ? NULL : line, " ", &save)); i++)
            field[i] = tok;
        if (i < 5)
            continue;
        unescape_octal(field[4]);
        if (strcmp(field[4], path) != 0)
            continue;
        while ((tok = strtok_r(NULL, " ", &save)) && strcmp(tok, "-") != 0) {
        }
        char *t = tok ? strtok_r(NULL, " ", &save) : NULL,
             *src = t ? strtok_r(NULL, " ", &save) : NULL;
        snprintf(type, tl, "%s", t ? t : "?");
        if (src)
            unescape_octal(src);
        snprintf(source, sl, "%s", src ? src : "?");
        found = true;
    }
    fclose(f);
    return found;
}

/* The mountpoint where sopfs has data folder `dir` mounted, if it has. */
static bool sopfs_mount_of(const char *dir, char *mnt, size_t cap)
{
    FILE *f = fopen("/proc/self/mounts", "r");
    char line[8192];
    bool found = false;
    if (!f)
        return false;
    while (!found && fgets(line, sizeof(line), f)) {
        char *save = NULL, *src = strtok_r(line, " ", &save), *at = strtok_r(NULL, " ", &save);
        char *type = strtok_r(NULL, " ", &save);
        if (!src || !at || !type || strcmp(type, "fuse.sopfs") != 0)
            continue;
        unescape_octal(src);
        unescape_octal(at);
        if (strcmp(src, dir) == 0) {
            snprintf(mnt, cap, "%s", at);
            found = true;
        }
    }
    fclose(f);
    return found;
}

/* The mountpoint: a folder, not mounted already, empty unless nonempty. */
static int check_mountpoint(const char *mnt, bool nonempty)
{
    char type[256], source[4096];
    struct stat st;
    if (stat(mnt, &st) != 0) {
        int e = errno;
        if (e == ENOTCONN)
            say("sopfs: mountpoint %s: a FUSE mount whose daemon has gone is still there (%s): "
                "unmount it first (fusermount3 -u %s)\n",
                mnt, strerror(e), mnt);
        else
            say("sopfs: mountpoint %s: %s%s\n", mnt, strerror(e),
                e == ENOENT ? " (make it first: mkdir -p it)" : "");
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        say("sopfs: mountpoint %s: not a directory\n", mnt);
        return -1;
    }
    if (mounted_at(mnt, type, sizeof(type), source, sizeof(source))) {
        struct statvfs sv;
        if (!strncmp(type, "fuse", 4) && statvfs(mnt, &sv) != 0 && errno == ENOTCONN) {
            /* stat may still answer from the kernel's cache; statfs asks */
            say("sopfs: mountpoint %s: a FUSE mount whose daemon has gone is still there (%s): "
                "unmount it first (fusermount3 -u %s)\n",
                mnt, strerror(ENOTCONN), mnt);
            return -1;
        }
        if (!strncmp(type, "fuse", 4)) {
            say("sopfs: %s is mounted already (%s of %s): unmount it first "
                "(fusermount3 -u %s)\n",
                mnt, type, source, mnt);
            return -1;
        }
        if (!nonempty) {
            say("sopfs: %s is a mount point already (%s of %s): the mount would hide it; "
                "choose another folder, or add -o nonempty to mount over it anyway\n",
                mnt, type, source);
            return -1;
        }
    }
    if (nonempty)
        return 0;
    DIR *d = opendir(mnt);
    if (!d) {
        say("sopfs: mountpoint %s: %s\n", mnt, strerror(errno));
        return -1;
    }
    struct dirent *e;
    char first[256] = "";
    unsigned n = 0;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 && n++ == 0)
            snprintf(first, sizeof(first), "%s", e->d_name);
    closedir(d);
    if (n) {
        say("sopfs: mountpoint %s is not empty (%u entr%s, '%s' among them): the mount "
            "would hide %s; choose an empty folder, or add -o nonempty to mount over it "
            "anyway\n",
            mnt, n, n == 1 ? "y" : "ies", first, n == 1 ? "it" : "them");
        return -1;
    }
    return 0;
}

#define FUSE_HOWTO                                                                                 \
    "load the kernel's FUSE module (modprobe fuse) and install the package fuse3 "                 \
    "(apt-get install fuse3); in a container, pass the device in (docker run --device "            \
    "/dev/fuse --cap-add SYS_ADMIN)"

/* The FUSE device: there, the real one, and ours to open. */
static int check_fuse_device(void)
{
    struct stat st;
    if (stat("/dev/fuse", &st) != 0) {
        say("sopfs: /dev/fuse: %s: FUSE is not available here; " FUSE_HOWTO "\n", strerror(errno));
        return -1;
    }
    /* the kernel's FUSE device is the misc character device 10:229 */
    if (!S_ISCHR(st.st_mode) || major(st.st_rdev) != 10 || minor(st.st_rdev) != 229) {
        say("sopfs: /dev/fuse is not the FUSE device (a character device 10:229; this is "
            "%s %u:%u): " FUSE_HOWTO "\n",
            S_ISCHR(st.st_mode) ? "a character device" : "not a character device",
            major(st.st_rdev), minor(st.st_rdev));
        return -1;
    }
    int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == EACCES || e == EPERM)
            say("sopfs: /dev/fuse: %s (sopfs runs as uid %u; the device is mode %03o): run "
                "sopfs as root, or let users open it (chmod 666 /dev/fuse, as the fuse3 "
                "package's udev rule does)\n",
                strerror(e), (unsigned)geteuid(), (unsigned)(st.st_mode & 0777));
        else
            say("sopfs: /dev/fuse: %s: " FUSE_HOWTO "\n", strerror(e));
        return -1;
    }
    close(fd);
    return 0;
}

/* As a user other than root, libfuse mounts through the set-user-ID helper
 * fusermount3 (looked for in /usr/bin, then in PATH): it must be there. */
static int check_fusermount(void)
{
    if (geteuid() == 0 || access("/usr/bin/fusermount3", X_OK) == 0)
        return 0;
    const char *path = getenv("PATH");
    char buf[PATH_MAX];
    for (const char *p = path ? path : ""; *p;) {
        const char *c = strchr(p, ':');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        if (n && n + 13 < sizeof(buf)) {
            snprintf(buf, sizeof(buf), "%.*s/fusermount3", (int)n, p);
            if (access(buf, X_OK) == 0)
                return 0;
        }
        p += n + (c != NULL);
    }
    say("sopfs: fusermount3 is not installed (not in /usr/bin nor in PATH), and a user "
        "other than root mounts through it: install the package fuse3 (apt-get install "
        "fuse3), or run sopfs as root\n");
    return -1;
}

/* Detach: the parent waits on a pipe for the child's verdict. */
static int daemonize(int *report_fd)
{
    int pfd[2];
    if (pipe(pfd) != 0) {
        say("sopfs: pipe: %s\n", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        say("sopfs: fork: %s\n", strerror(errno));
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
        say("sopfs: setsid: %s\n", strerror(errno));
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
        say("sopfs: bad arguments; try sopfs --help\n");
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
        say(o.extra_args ? "sopfs: too many arguments\n"
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
    if (parse_size("max_threads", o.max_threads, 1000, &threads))
        goto out;
    if (threads == 0) {
        say("sopfs: -o max_threads=0: at least 1 (-s answers every request in one "
            "thread)\n");
        goto out;
    }
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
        say("sopfs: out of memory\n");
        goto out;
    }
    /* the database must not be reached through the mount itself: its files
     * would be opened through the daemon that is opening them */
    size_t ml = strlen(mnt);
    if (!strncmp(data_dir, mnt, ml) && (data_dir[ml] == '\0' || data_dir[ml] == '/' || ml == 1)) {
        say("sopfs: the data folder %s is %s the mountpoint %s: choose a data folder "
            "outside it\n",
            data_dir, data_dir[ml] ? "inside" : "the same as", mnt);
        goto out;
    }
    if (check_mountpoint(mnt, o.nonempty) != 0 || check_fuse_device() != 0 ||
        check_fusermount() != 0)
        goto out;
    cfg.data_dir = data_dir;
    cfg.mountpoint = mnt;

    /* mount options: always default_permissions (the kernel checks modes) */
    size_t fl = strlen(data_dir) + 8;
    if (!(fsname = malloc(fl))) {
        say("sopfs: out of memory\n");
        goto out;
    }
    snprintf(fsname, fl, "fsname=%s", data_dir);
    if (fuse_opt_add_opt(&mount_opts, "default_permissions") ||
        fuse_opt_add_opt(&mount_opts, "subtype=sopfs") ||
        fuse_opt_add_opt_escaped(&mount_opts, fsname) || fuse_opt_add_arg(&args, "-o") ||
        fuse_opt_add_arg(&args, mount_opts) || (o.fuse_debug && fuse_opt_add_arg(&args, "-d"))) {
        say("sopfs: out of memory\n");
        goto out;
    }

    fs_log_init(false, o.debug);
    if (!o.foreground && daemonize(&report_fd) != 0)
        goto out;
    int orc = fs_open(&cfg, &fs, err, sizeof(err));
    if (orc != 0) {
        char other[4096];
        if (orc == -EBUSY && sopfs_mount_of(data_dir, other, sizeof(other)))
            say("sopfs: %s; sopfs has it mounted on %s already\n", err, other);
        else
            say("sopfs: %s\n", err);
        goto out;
    }
    se = fuse_session_new(&args, fs_ops(), sizeof(*fs_ops()), fs);
    if (!se) {
        say("sopfs: bad mount options (see sopfs --help)\n");
        goto out;
    }
    if (fuse_set_signal_handlers(se) != 0) {
        say("sopfs: cannot install signal handlers\n");
        goto out;
    }
    if (fuse_session_mount(se, mnt) != 0) {
        /* libfuse said why on the line before ("fuse: ...") */
        say("sopfs: cannot mount on %s (libfuse's reason is above)\n", mnt);
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
    notify_systemd("READY=1");
    rc = fs_loop(fs, se, o.single_thread ? 0 : (unsigned)threads, (unsigned)spin);
    if (rc != 0)
        fs_log(LOG_ERR, "the request loop ended: %s", strerror(-rc));
    rc = rc ? 1 : 0;
    notify_systemd("STOPPING=1");
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
