/*
 * bench_fs.c - `sop bench fs`: the sopfs FUSE daemon against a plain folder
 * on the same filesystem, doing the same file work, in one run.
 *
 * A temporary folder holds data/ (sopfs's database), mnt/ (its mount point),
 * native/ (the plain folder) and src/ (the tree copied by the cp phase).
 * sopfs runs as a child (`sopfs -f DATA MNT`, in a process group of its own
 * so a ^C reaches only us); the mount and the daemon are always taken down
 * (fusermount3 -u, SIGTERM, wait), on failure and on SIGINT/SIGTERM too.
 *
 * The phases below run RUNS times (default 3) on each side, alternating
 * (sopfs, native, sopfs, ...), each run in a fresh MNT/benchN (a store) and
 * native/benchN after a sync(), so neither side pays for the other's
 * writeback; the table shows each side's median and their ratio, and the
 * lowest and highest ratio of the runs (shared machines are noisy).
 *
 * Phases:
 *   seq write   one file of SIZE MiB in 1 MiB write()s, fsync, close;
 *   seq read    it back in 1 MiB read()s, every byte checked;
 *   create      FILES files of 4 KiB, open(O_CREAT)+write+close each;
 *   stat        stat() each, size checked;
 *   read        open+read+close each, every byte checked;
 *   delete      unlink each;
 *   cp -r       `cp -r SRC DEST/tree` of TREE files of 1 KiB in 50 folders,
 *               then (untimed) every copied file checked.
 * Contents come from a pattern of (tag, offset), so nothing is kept to check
 * against.  Uses plain POSIX calls only: no sopfs or FUSE header.
 */
#define _GNU_SOURCE
#include "config.h"

#include "bench.h"
#include "bench_cluster.h"
#include "bench_fs.h"
#include "cli.h"
#include "progress.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024u * 1024u)
#define SMALL_LEN 4096u
#define TREE_LEN 1024u
#define TREE_DIRS 50u
#define MOUNT_WAIT_SECS 10.0
#define STORE "bench"
#define MAX_RUNS 9u

const char bench_fs_help[] =
    "`sop bench fs` runs the same file work on a sopfs mount and on a plain folder\n"
    "of the same filesystem, and prints MB/s or ops/s per phase, the ratio\n"
    "sopfs/native (above 1: sopfs is faster), the range of that ratio over the\n"
    "runs, and the daemon's peak RSS:\n"
    "  seq write   one file of SIZE MiB, 1 MiB write()s, fsync\n"
    "  seq read    it back, 1 MiB read()s (page caches are not dropped)\n"
    "  create      FILES files of 4 KiB: open(O_CREAT)+write+close\n"
    "  stat        stat() each\n"
    "  read        open+read+close each\n"
    "  delete      unlink each\n"
    "  cp -r       `cp -r` of a tree of TREE files of 1 KiB in 50 folders\n"
    "Every byte read (and every file cp copied) is checked: a wrong answer or a\n"
    "failed call fails the run (exit 1).  sopfs runs as `sopfs -f DATA MNT` and\n"
    "is unmounted (fusermount3 -u) and stopped at the end, also on ^C.\n"
    "\n"
    "Options:\n"
    "  --sopfs PATH      the daemon (default: ../src/sopfs next to the tools folder\n"
    "                    of this sop, else sopfs in PATH)\n"
    "  --dir D           where the temporary folder goes (default $TMPDIR or /tmp);\n"
    "                    it is removed at the end\n"
    "  --size-mib N      size of the sequential file, MiB (default 1024)\n"
    "  --files N         small files (default 10000)\n"
    "  --tree N          files in the copied tree (default 5000)\n"
    "  --runs N          runs of every phase on each side, alternating (default 3,\n"
    "                    at most 9); the table shows medians\n"
    "  --single-thread   run sopfs with -s (its single-threaded loop)\n";

enum phase { P_SEQ_WRITE, P_SEQ_READ, P_CREATE, P_STAT, P_READ, P_DELETE, P_CP, NPHASES };

static const char *const phase_names[NPHASES] = {
    "seq write", "seq read", "create", "stat", "read", "delete", "cp -r",
};

static const char *const phase_units[NPHASES] = {
    "MB/s", "MB/s", "ops/s", "ops/s", "ops/s", "ops/s", "files/s",
};

struct fs_cfg {
    uint64_t size_mib, files, tree;
    const char *src; /* the tree to copy */
};

/* The pattern: 8-byte words, each a mix of `tag` and its file offset. */
static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

/* Fill buf (len a multiple of 8) with the content at offset `off` (a multiple
 * of 8) of the file tagged `tag`. */
static void fill(uint8_t *buf, size_t len, uint64_t tag, uint64_t off)
{
    size_t i;

    for (i = 0; i < len; i += 8) {
        uint64_t w = mix(tag * 0x9e3779b97f4a7c15ull + off + i);

        memcpy(buf + i, &w, 8);
    }
}

static double elapsed(double t0)
{
    double s = cli_now() - t0;

    return s > 1e-9 ? s : 1e-9;
}

static bool write_all(int fd, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            if (n == 0) {
                errno = EIO;
            }
            return false;
        }
        buf += n;
        len -= (size_t)n;
    }
    return true;
}

/* Read up to len bytes; returns the count, short only at the end, -1 on
 * error. */
static ssize_t read_full(int fd, uint8_t *buf, size_t len)
{
    size_t got = 0;

    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -1;
        }
        if (n == 0) {
            break;
        }
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/* Write a whole small file of `len` bytes tagged `tag`. */
static bool make_file(const char *path, uint8_t *buf, size_t len, uint64_t tag)
{
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);

    if (fd < 0) {
        cli_err("bench fs: create %s: %s", path, strerror(errno));
        return false;
    }
    fill(buf, len, tag, 0);
    if (!write_all(fd, buf, len)) {
        cli_err("bench fs: write %s: %s", path, strerror(errno));
        close(fd);
        return false;
    }
    if (close(fd) != 0) {
        cli_err("bench fs: close %s: %s", path, strerror(errno));
        return false;
    }
    return true;
}

/* Read a whole small file and check it holds `len` bytes tagged `tag`. */
static bool check_file(const char *path, uint8_t *buf, uint8_t *want, size_t len, uint64_t tag)
{
    int fd = open(path, O_RDONLY);
    ssize_t n;

    if (fd < 0) {
        cli_err("bench fs: open %s: %s", path, strerror(errno));
        return false;
    }
    n = read_full(fd, buf, len + 1);
    if (n < 0) {
        cli_err("bench fs: read %s: %s", path, strerror(errno));
        close(fd);
        return false;
    }
    close(fd);
    fill(want, len, tag, 0);
    if ((size_t)n != len || memcmp(buf, want, len) != 0) {
        cli_err("bench fs: %s: WRONG CONTENT (%zd bytes read, %zu expected%s)", path, n, len,
                (size_t)n == len ? ", bytes differ" : "");
        return false;
    }
    return true;
}

/* fork/exec argv (PATH searched); returns true if it exited 0.  `quiet`
 * sends its stdout and stderr to /dev/null. */
static bool run_cmd(char *const argv[], bool quiet)
{
    pid_t pid = fork();
    int status;

    if (pid < 0) {
        cli_err("bench fs: fork: %s", strerror(errno));
        return false;
    }
    if (pid == 0) {
        if (quiet) {
            int fd = open("/dev/null", O_WRONLY);

            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
            }
        }
        execvp(argv[0], argv);
        if (!quiet) {
            cli_err("bench fs: run %s: %s", argv[0], strerror(errno));
        }
        _exit(127);
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            cli_err("bench fs: waitpid: %s", strerror(errno));
            return false;
        }
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        if (!quiet) {
            if (WIFEXITED(status)) {
                cli_err("bench fs: %s failed (exit status %d)", argv[0], WEXITSTATUS(status));
            } else {
                cli_err("bench fs: %s killed by signal %d", argv[0], WTERMSIG(status));
            }
        }
        return false;
    }
    return true;
}

#define PATH_FMT(buf, ...)                                                                         \
    (snprintf((buf), sizeof(buf), __VA_ARGS__) < (int)sizeof(buf) ? true : path_too_long())

static bool path_too_long(void)
{
    cli_err("bench fs: path too long");
    return false;
}

/* Check every file of the tree copied into `dir`. */
static bool check_tree(const char *dir, const struct fs_cfg *cfg, uint8_t *buf, uint8_t *want)
{
    char path[PATH_MAX];
    uint64_t i;

    for (i = 0; i < cfg->tree && !cli_signal; i++) {
        if (!PATH_FMT(path, "%s/d%02u/f%06" PRIu64, dir, (unsigned)(i % TREE_DIRS), i) ||
            !check_file(path, buf, want, TREE_LEN, 0x7ee0000000ull + i)) {
            return false;
        }
    }
    return true;
}

/*
 * Run every phase in folder `dir`; out[p] gets MB/s or ops/s.  Returns false
 * on any failure (reported).  buf and want hold 1 MiB each.
 */
/* The progress line of the phase running (progress.h): `side` is sopfs or
 * native, r the run. */
static struct progress fs_pg;
static const char *fs_side;
static unsigned fs_run;

static void fs_phase(enum phase p, const char *unit, uint64_t total_items, uint64_t total_bytes)
{
    progress_end(&fs_pg);
    progress_start(&fs_pg, 0, unit, "bench fs run %u, %s: %s", fs_run + 1, fs_side, phase_names[p]);
    progress_total(&fs_pg, total_items, total_bytes);
    progress_update(&fs_pg, 0, 0);
}

static bool run_phases(const char *dir, const struct fs_cfg *cfg, uint8_t *buf, uint8_t *want,
                       double out[NPHASES])
{
    char path[PATH_MAX];
    uint64_t i, off, total = cfg->size_mib * MIB;
    double t0;
    struct stat st;
    int fd;

    /* seq write */
    if (!PATH_FMT(path, "%s/big", dir)) {
        return false;
    }
    fs_phase(P_SEQ_WRITE, NULL, 0, total);
    t0 = cli_now();
    fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    if (fd < 0) {
        cli_err("bench fs: create %s: %s", path, strerror(errno));
        return false;
    }
    for (off = 0; off < total && !cli_signal; off += MIB) {
        progress_update(&fs_pg, 0, off);
        fill(buf, MIB, 1, off);
        if (!write_all(fd, buf, MIB)) {
            cli_err("bench fs: write %s at %" PRIu64 ": %s", path, off, strerror(errno));
            close(fd);
            return false;
        }
    }
    if (fsync(fd) != 0) {
        cli_err("bench fs: fsync %s: %s", path, strerror(errno));
        close(fd);
        return false;
    }
    if (close(fd) != 0) {
        cli_err("bench fs: close %s: %s", path, strerror(errno));
        return false;
    }
    out[P_SEQ_WRITE] = (double)total / 1e6 / elapsed(t0);

    /* seq read */
    fs_phase(P_SEQ_READ, NULL, 0, total);
    t0 = cli_now();
    fd = open(path, O_RDONLY);
    if (fd < 0) {
        cli_err("bench fs: open %s: %s", path, strerror(errno));
        return false;
    }
    for (off = 0; !cli_signal; off += MIB) {
        progress_update(&fs_pg, 0, off);
        ssize_t n = read_full(fd, buf, MIB);

        if (n < 0) {
            cli_err("bench fs: read %s at %" PRIu64 ": %s", path, off, strerror(errno));
            close(fd);
            return false;
        }
        if (n == 0) {
            break;
        }
        fill(want, MIB, 1, off);
        if (off + (uint64_t)n > total || memcmp(buf, want, (size_t)n) != 0) {
            cli_err("bench fs: %s: WRONG CONTENT in the MiB at %" PRIu64, path, off);
            close(fd);
            return false;
        }
    }
    close(fd);
    if (!cli_signal && off != total) {
        cli_err("bench fs: %s: read %" PRIu64 " bytes, wrote %" PRIu64, path, off, total);
        return false;
    }
    out[P_SEQ_READ] = (double)total / 1e6 / elapsed(t0);
    if (unlink(path) != 0) {
        cli_err("bench fs: unlink %s: %s", path, strerror(errno));
        return false;
    }

    /* create */
    fs_phase(P_CREATE, "files", cfg->files, 0);
    t0 = cli_now();
    for (i = 0; i < cfg->files && !cli_signal; i++) {
        progress_update(&fs_pg, i, 0);
        if (!PATH_FMT(path, "%s/s%07" PRIu64, dir, i) || !make_file(path, buf, SMALL_LEN, 2 + i)) {
            return false;
        }
    }
    out[P_CREATE] = (double)cfg->files / elapsed(t0);

    /* stat */
    fs_phase(P_STAT, "files", cfg->files, 0);
    t0 = cli_now();
    for (i = 0; i < cfg->files && !cli_signal; i++) {
        progress_update(&fs_pg, i, 0);
        if (!PATH_FMT(path, "%s/s%07" PRIu64, dir, i)) {
            return false;
        }
        if (stat(path, &st) != 0) {
            cli_err("bench fs: stat %s: %s", path, strerror(errno));
            return false;
        }
        if (!S_ISREG(st.st_mode) || st.st_size != SMALL_LEN) {
            cli_err("bench fs: stat %s: WRONG: mode %o, size %jd (expected a file of %u bytes)",
                    path, (unsigned)st.st_mode, (intmax_t)st.st_size, SMALL_LEN);
            return false;
        }
    }
    out[P_STAT] = (double)cfg->files / elapsed(t0);

    /* read */
    fs_phase(P_READ, "files", cfg->files, 0);
    t0 = cli_now();
    for (i = 0; i < cfg->files && !cli_signal; i++) {
        progress_update(&fs_pg, i, 0);
        if (!PATH_FMT(path, "%s/s%07" PRIu64, dir, i) ||
            !check_file(path, buf, want, SMALL_LEN, 2 + i)) {
            return false;
        }
    }
    out[P_READ] = (double)cfg->files / elapsed(t0);

    /* delete */
    fs_phase(P_DELETE, "files", cfg->files, 0);
    t0 = cli_now();
    for (i = 0; i < cfg->files && !cli_signal; i++) {
        progress_update(&fs_pg, i, 0);
        if (!PATH_FMT(path, "%s/s%07" PRIu64, dir, i)) {
            return false;
        }
        if (unlink(path) != 0) {
            cli_err("bench fs: unlink %s: %s", path, strerror(errno));
            return false;
        }
    }
    out[P_DELETE] = (double)cfg->files / elapsed(t0);
    if (cli_signal) {
        return false;
    }

    /* cp -r */
    if (!PATH_FMT(path, "%s/tree", dir)) {
        return false;
    }
    {
        char *argv[] = {"cp", "-r", (char *)cfg->src, path, NULL};

        fs_phase(P_CP, NULL, 0, 0);
        t0 = cli_now();
        if (!run_cmd(argv, false)) {
            cli_err("bench fs: cp -r %s %s failed", cfg->src, path);
            return false;
        }
        out[P_CP] = (double)cfg->tree / elapsed(t0);
    }
    progress_end(&fs_pg);
    return check_tree(path, cfg, buf, want);
}

/* Build the source tree of the cp phase: TREE files in TREE_DIRS folders. */
static bool make_tree(const char *src, const struct fs_cfg *cfg, uint8_t *buf)
{
    char path[PATH_MAX];
    uint64_t i;
    unsigned d;

    if (mkdir(src, 0755) != 0) {
        cli_err("bench fs: mkdir %s: %s", src, strerror(errno));
        return false;
    }
    for (d = 0; d < TREE_DIRS; d++) {
        if (!PATH_FMT(path, "%s/d%02u", src, d)) {
            return false;
        }
        if (mkdir(path, 0755) != 0) {
            cli_err("bench fs: mkdir %s: %s", path, strerror(errno));
            return false;
        }
    }
    for (i = 0; i < cfg->tree && !cli_signal; i++) {
        if (!PATH_FMT(path, "%s/d%02u/f%06" PRIu64, src, (unsigned)(i % TREE_DIRS), i) ||
            !make_file(path, buf, TREE_LEN, 0x7ee0000000ull + i)) {
            return false;
        }
    }
    return true;
}

/* The default daemon: ../src/sopfs next to the folder of this binary (a
 * trailing /.libs stripped, for libtool's real binaries), else "sopfs". */
static void default_sopfs(char *out, size_t size)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    char *slash;
    size_t len;

    snprintf(out, size, "sopfs");
    if (n <= 0) {
        return;
    }
    exe[n] = '\0';
    slash = strrchr(exe, '/');
    if (!slash) {
        return;
    }
    *slash = '\0';
    len = strlen(exe);
    if (len >= 6 && strcmp(exe + len - 6, "/.libs") == 0) {
        exe[len - 6] = '\0';
    }
    if (snprintf(exe + strlen(exe), sizeof(exe) - strlen(exe), "/../src/sopfs") <
            (int)(sizeof(exe) - strlen(exe)) &&
        access(exe, X_OK) == 0 && strlen(exe) < size) {
        snprintf(out, size, "%s", exe);
    }
}

/* Start `sopfs -f data mnt` in a process group of its own; returns its pid
 * or -1 (reported). */
static pid_t start_sopfs(const char *sopfs, const char *data, const char *mnt, bool single)
{
    pid_t pid = fork();

    if (pid < 0) {
        cli_err("bench fs: fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        int fd = open("/dev/null", O_RDWR);

        setpgid(0, 0);
        if (fd >= 0) {
            dup2(fd, 0);
            dup2(fd, 1);
        }
        if (single) {
            execlp(sopfs, sopfs, "-f", "-s", data, mnt, (char *)NULL);
        } else {
            execlp(sopfs, sopfs, "-f", data, mnt, (char *)NULL);
        }
        cli_err("bench fs: run %s: %s", sopfs, strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);
    return pid;
}

/* Wait (at most MOUNT_WAIT_SECS) until mnt is a mount point other than its
 * parent's filesystem.  Returns false (reported) if the daemon died or the
 * time ran out. */
static bool wait_mounted(pid_t pid, const char *root, const char *mnt, int *daemon_status,
                         bool *reaped)
{
    struct stat parent, st;
    double t0 = cli_now();
    struct timespec ts = {0, 10 * 1000 * 1000};

    if (stat(root, &parent) != 0) {
        cli_err("bench fs: stat %s: %s", root, strerror(errno));
        return false;
    }
    while (!cli_signal) {
        if (stat(mnt, &st) == 0 && st.st_dev != parent.st_dev) {
            return true;
        }
        if (waitpid(pid, daemon_status, WNOHANG) == pid) {
            *reaped = true;
            cli_err("bench fs: sopfs exited before mounting (%s %d): see its message above",
                    WIFEXITED(*daemon_status) ? "exit status" : "signal",
                    WIFEXITED(*daemon_status) ? WEXITSTATUS(*daemon_status)
                                              : WTERMSIG(*daemon_status));
            return false;
        }
        if (cli_now() - t0 > MOUNT_WAIT_SECS) {
            cli_err("bench fs: %s not mounted after %.0f s", mnt, MOUNT_WAIT_SECS);
            return false;
        }
        nanosleep(&ts, NULL);
    }
    return false;
}

/* VmHWM of process pid, KiB, or -1. */
static long peak_rss_kib(pid_t pid)
{
    char path[64], line[256];
    long kib = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
    f = fopen(path, "r");
    if (!f) {
        return -1;
    }
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "VmHWM:", 6) == 0) {
            kib = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kib;
}

/* Unmount mnt (when mounted) and stop the daemon.  Returns false if the
 * mount point is still mounted afterwards (reported). */
static bool stop_sopfs(pid_t pid, const char *root, const char *mnt, bool reaped)
{
    char *umount[] = {"fusermount3", "-u", (char *)mnt, NULL};
    char *lazy[] = {"fusermount3", "-u", "-z", (char *)mnt, NULL};
    struct stat parent, st;
    struct timespec ts = {0, 10 * 1000 * 1000};
    bool mounted;
    int i, status;

    mounted = stat(root, &parent) == 0 && stat(mnt, &st) == 0 && st.st_dev != parent.st_dev;
    if (mounted && !run_cmd(umount, false)) {
        cli_err("bench fs: fusermount3 -u %s failed; trying a lazy unmount", mnt);
        run_cmd(lazy, false);
    }
    if (pid > 0 && !reaped) {
        kill(pid, SIGTERM);
        for (i = 0; i < 500; i++) { /* 5 s */
            pid_t r = waitpid(pid, &status, WNOHANG);

            if (r == pid || (r < 0 && errno != EINTR)) {
                reaped = true;
                break;
            }
            nanosleep(&ts, NULL);
        }
        if (!reaped) {
            cli_err("bench fs: sopfs (pid %ld) did not stop on SIGTERM; killing it", (long)pid);
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
        }
    }
    mounted = stat(root, &parent) == 0 && stat(mnt, &st) == 0 && st.st_dev != parent.st_dev;
    if (mounted) {
        cli_err("bench fs: %s is still mounted: run `fusermount3 -u %s`", mnt, mnt);
        return false;
    }
    return true;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, unsigned n)
{
    double tmp[MAX_RUNS];
    memcpy(tmp, v, n * sizeof(*v));
    qsort(tmp, n, sizeof(*tmp), cmp_double);
    return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

/* res[run][side][phase]; side 0 is sopfs, 1 native. */
static void print_table(const struct fs_cfg *cfg, unsigned runs, double res[][2][NPHASES],
                        long rss_kib)
{
    int p;

    printf("\n%-10s %14s %14s %8s %13s  %s\n", "phase", "sopfs", "native", "ratio", "ratio range",
           "unit");
    for (p = 0; p < NPHASES; p++) {
        double v[2][MAX_RUNS], lo = 0, hi = 0;
        for (unsigned r = 0; r < runs; r++) {
            v[0][r] = res[r][0][p];
            v[1][r] = res[r][1][p];
            double q = v[1][r] > 0 ? v[0][r] / v[1][r] : 0.0;
            lo = r == 0 || q < lo ? q : lo;
            hi = r == 0 || q > hi ? q : hi;
        }
        double a = median(v[0], runs), b = median(v[1], runs);
        printf("%-10s %14.1f %14.1f %8.2f %6.2f..%-5.2f  %s\n", phase_names[p], a, b,
               b > 0 ? a / b : 0.0, lo, hi, phase_units[p]);
    }
    printf(
        "\nratio: sopfs/native (above 1: sopfs is faster), medians of %u runs each.  seq: %" PRIu64
        " MiB file; small files: %" PRIu64 " x %u B; tree: %" PRIu64 " x %u B\n",
        runs, cfg->size_mib, cfg->files, SMALL_LEN, cfg->tree, TREE_LEN);
    if (rss_kib >= 0) {
        printf("sopfs peak RSS (VmHWM): %.1f MiB\n", (double)rss_kib / 1024);
    } else {
        printf("sopfs peak RSS (VmHWM): unknown\n");
    }
}

/* One side's run r: a fresh folder benchR under top, after a sync(). */
static bool run_side(const char *top, const char *side, unsigned r, const struct fs_cfg *cfg,
                     uint8_t *buf, uint8_t *want, double out[NPHASES])
{
    char dir[PATH_MAX];
    if (!PATH_FMT(dir, "%s/%s%u", top, STORE, r + 1)) {
        return false;
    }
    if (mkdir(dir, 0755) != 0) {
        cli_err("bench fs: mkdir %s: %s", dir, strerror(errno));
        return false;
    }
    sync();
    fs_side = side;
    fs_run = r;
    bool ok = run_phases(dir, cfg, buf, want, out);
    progress_end(&fs_pg);
    return ok;
}

enum { O_SOPFS = 256, O_DIR, O_SIZE, O_FILES, O_TREE, O_SINGLE, O_RUNS };

static int bench_fs(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"sopfs", required_argument, NULL, O_SOPFS},
        {"dir", required_argument, NULL, O_DIR},
        {"size-mib", required_argument, NULL, O_SIZE},
        {"files", required_argument, NULL, O_FILES},
        {"tree", required_argument, NULL, O_TREE},
        {"single-thread", no_argument, NULL, O_SINGLE},
        {"runs", required_argument, NULL, O_RUNS},
        {NULL, 0, NULL, 0},
    };
    struct fs_cfg cfg = {.size_mib = 1024, .files = 10000, .tree = 5000};
    const char *base = getenv("TMPDIR");
    char sopfs[PATH_MAX], root[PATH_MAX - 64], data[PATH_MAX], mnt[PATH_MAX], native[PATH_MAX],
        src[PATH_MAX];
    double res[MAX_RUNS][2][NPHASES];
    uint64_t runs = 3;
    struct sigaction old_int, old_term;
    uint8_t *buf = NULL, *want = NULL;
    pid_t pid = -1;
    bool reaped = false, ok = false;
    long rss = -1;
    int c, status = 0, ret = CLI_FAIL;

    if (!base || !base[0]) {
        base = "/tmp";
    }
    bool single = false;
    default_sopfs(sopfs, sizeof(sopfs));
    optind = 1;
    while ((c = cli_getopt("bench", argc, argv, "", longopts)) != -1) {
        switch (c) {
        case O_SOPFS:
            if (snprintf(sopfs, sizeof(sopfs), "%s", optarg) >= (int)sizeof(sopfs)) {
                return cli_usage("bench", "bench fs: --sopfs path too long");
            }
            break;
        case O_DIR:
            base = optarg;
            break;
        case O_SIZE:
            if (!cli_parse_u64(optarg, 1, 1u << 20, false, &cfg.size_mib)) {
                return cli_usage("bench", "bench fs: --size-mib takes 1..1048576, not '%s'",
                                 optarg);
            }
            break;
        case O_FILES:
            if (!cli_parse_u64(optarg, 1, 9999999, true, &cfg.files)) {
                return cli_usage("bench", "bench fs: --files takes 1..9999999, not '%s'", optarg);
            }
            break;
        case O_TREE:
            if (!cli_parse_u64(optarg, 1, 999999, true, &cfg.tree)) {
                return cli_usage("bench", "bench fs: --tree takes 1..999999, not '%s'", optarg);
            }
            break;
        case O_SINGLE:
            single = true;
            break;
        case O_RUNS:
            if (!cli_parse_u64(optarg, 1, MAX_RUNS, false, &runs)) {
                return cli_usage("bench", "bench fs: --runs takes 1..%u, not '%s'", MAX_RUNS,
                                 optarg);
            }
            break;
        default:
            return CLI_USAGE;
        }
    }
    if (optind != argc) {
        return cli_usage("bench", "bench fs: unexpected argument '%s'", argv[optind]);
    }
    buf = malloc(MIB);
    want = malloc(MIB);
    if (!buf || !want) {
        cli_err("bench fs: out of memory");
        free(buf);
        free(want);
        return CLI_FAIL;
    }
    memset(res, 0, sizeof(res));
    if (snprintf(root, sizeof(root), "%s/sop-benchfs-XXXXXX", base) >= (int)sizeof(root)) {
        cli_err("bench fs: --dir path too long");
        goto out_free;
    }
    if (!mkdtemp(root)) {
        cli_err("bench fs: create a temporary folder in %s: %s", base, strerror(errno));
        goto out_free;
    }
    snprintf(data, sizeof(data), "%s/data", root);
    snprintf(mnt, sizeof(mnt), "%s/mnt", root);
    snprintf(native, sizeof(native), "%s/native", root);
    snprintf(src, sizeof(src), "%s/src", root);
    cfg.src = src;
    cli_catch_signals(&old_int, &old_term);

    printf("sop bench fs: seq file %" PRIu64 " MiB, %" PRIu64 " files of %u B, tree of %" PRIu64
           " files of %u B in %u folders; %ld cpus\n",
           cfg.size_mib, cfg.files, SMALL_LEN, cfg.tree, TREE_LEN, TREE_DIRS,
           sysconf(_SC_NPROCESSORS_ONLN));
    printf("  daemon %s, folder %s\n", sopfs, root);
    fflush(stdout);

    if (mkdir(data, 0755) != 0 || mkdir(mnt, 0755) != 0 || mkdir(native, 0755) != 0) {
        cli_err("bench fs: make folders in %s: %s", root, strerror(errno));
        goto out;
    }
    if (!make_tree(src, &cfg, buf)) {
        goto out;
    }
    pid = start_sopfs(sopfs, data, mnt, single);
    if (pid < 0 || !wait_mounted(pid, root, mnt, &status, &reaped)) {
        goto out;
    }
    for (unsigned r = 0; r < runs; r++) {
        if (!run_side(mnt, "sopfs", r, &cfg, buf, want, res[r][0]) ||
            !run_side(native, "native", r, &cfg, buf, want, res[r][1])) {
            goto out;
        }
    }
    rss = peak_rss_kib(pid);
    ok = true;

out:
    if (!stop_sopfs(pid, root, mnt, reaped)) {
        ok = false;
    }
    if (cli_signal) {
        cli_err("bench fs: interrupted (signal %d); removing %s", (int)cli_signal, root);
        ret = 128 + cli_signal;
    } else if (ok) {
        print_table(&cfg, (unsigned)runs, res, rss);
        ret = CLI_OK;
    } else {
        cli_err("bench fs: FAILED: see above");
    }
    cli_rm_tree(root);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
out_free:
    free(buf);
    free(want);
    return ret;
}

int bench_dispatch(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "fs") == 0) {
        return bench_fs(argc - 1, argv + 1);
    }
    if (argc >= 2 && strcmp(argv[1], "cluster") == 0) {
        return bench_cluster(argc - 1, argv + 1);
    }
    if (argc < 2) {
        return cli_usage("bench", "bench: which benchmark? (engine, fs or cluster)");
    }
    if (strcmp(argv[1], "engine") != 0) {
        return cli_usage("bench", "bench: no benchmark '%s' (there is: engine, fs, cluster)",
                         argv[1]);
    }
    return bench_main(argc, argv);
}
