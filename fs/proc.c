/*
 * proc.c - who is closing a file: the process behind a request, and the
 * descriptors it still holds.
 *
 * The kernel sends FLUSH at every close(2) of a descriptor, by whichever
 * process closes it: the opener, a forked child that inherited it, or the
 * opener closing one of its dup(2)s.  An auto-commit writer commits at the
 * opener's own last close (writer.c), so a flush must tell who closes and
 * whether that process still holds the file.  The request carries the
 * closing thread's id; /proc tells its thread group (the process) and its
 * descriptors.
 *
 * /proc/PID/fdinfo/N gives a descriptor's flags, mount id and inode number:
 * a descriptor holds our file when the inode is ours and the mount is ours
 * (the mount id is compared only for processes in our mount namespace,
 * whose ids we know; elsewhere the inode alone decides).  Descriptors that
 * are not files at all (pipes, sockets: their link does not start with
 * '/'), and for a process in our mount namespace those whose link is not
 * below our mountpoint, are skipped with one readlink each.
 *
 * Everything here may fail (another pid namespace: pid 0; a process of
 * another user: /proc/PID/fd unreadable without privilege; a process gone):
 * callers get "unknown" and fall back to committing at the flush, as before
 * this existed.
 */
#include "proc.h"
#include "types.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Read a small /proc file into buf (NUL-terminated); bytes read or -1. */
static ssize_t read_small(int dirfd, const char *path, char *buf, size_t cap)
{
    int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return n;
}

/* The value of "name:\t<number>" in text, or -1. */
static long long field(const char *text, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (!strncmp(p, name, nl) && p[nl] == ':')
            return strtoll(p + nl + 1, NULL, 0);
    }
    return -1;
}

pid_t fs_proc_tgid(pid_t pid)
{
    char path[64], buf[2048];
    if (pid <= 0)
        return 0;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    if (read_small(AT_FDCWD, path, buf, sizeof(buf)) < 0)
        return 0;
    long long tgid = field(buf, "Tgid");
    return tgid > 0 ? (pid_t)tgid : 0;
}

/* The mount id of our mountpoint in our namespace and its device
 * ("major:minor", as /proc/PID/maps shows it), found once; -1 unknown. */
static long long our_mnt_id(struct fs *fs)
{
    long long id = __atomic_load_n(&fs->mnt_id, __ATOMIC_ACQUIRE);
    if (id != 0 || !fs->cfg.mountpoint)
        return id ? id : -1;
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return -1;
    char line[4096], dev[32] = "";
    id = -1;
    while (fgets(line, sizeof(line), f)) {
        long long mid;
        unsigned maj, min;
        char mp[4096];
        /* "36 35 0:45 / /mnt/point rw,... - fuse.sopfs ...": the last match wins */
        if (sscanf(line, "%lld %*d %u:%u %*s %4095s", &mid, &maj, &min, mp) == 4 &&
            !strcmp(mp, fs->cfg.mountpoint) && strstr(line, " - fuse")) {
            id = mid;
            snprintf(dev, sizeof(dev), "%02x:%02x", maj, min);
        }
    }
    fclose(f);
    if (id > 0) {
        memcpy(fs->mnt_dev, dev, sizeof(fs->mnt_dev));
        __atomic_store_n(&fs->mnt_id, id, __ATOMIC_RELEASE);
    }
    return id;
}

static bool same_mnt_ns(pid_t tgid)
{
    static char mine[128];
    static ssize_t mlen = -1;
    char path[64], a[128];
    if (__atomic_load_n(&mlen, __ATOMIC_ACQUIRE) < 0) { /* ours does not change */
        ssize_t l = readlink("/proc/self/ns/mnt", mine, sizeof(mine) - 1);
        __atomic_store_n(&mlen, l, __ATOMIC_RELEASE);
    }
    snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)tgid);
    ssize_t la = readlink(path, a, sizeof(a) - 1);
    return la > 0 && la == mlen && !memcmp(a, mine, (size_t)la);
}

int fs_proc_holds(struct fs *fs, pid_t tgid, fuse_ino_t ino, bool write_only)
{
    char path[64], link[4096], info[512];
    if (tgid <= 0)
        return -1;
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)tgid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    /* in our mount namespace a descriptor's link names its file as we see
     * it: one outside our mountpoint is not ours, and needs no fdinfo */
    const char *mp = fs->cfg.mountpoint;
    size_t ml = mp ? strlen(mp) : 0;
    bool ours_only = mp && same_mnt_ns(tgid);
    int infofd = -1;
    long long mnt = -2; /* not yet known */
    int found = 0;
    struct dirent *de;
    while (!found && (de = readdir(d)) != NULL) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        ssize_t ll = readlinkat(dirfd(d), de->d_name, link, sizeof(link) - 1);
        if (ll <= 0 || link[0] != '/')
            continue; /* pipe:[...], socket:[...], anon_inode:... */
        link[ll] = '\0';
        if (ours_only && (strncmp(link, mp, ml) || (link[ml] != '/' && link[ml] != '\0')))
            continue;
        if (infofd < 0) {
            snprintf(path, sizeof(path), "/proc/%d/fdinfo", (int)tgid);
            infofd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        }
        if (infofd < 0 || read_small(infofd, de->d_name, info, sizeof(info)) < 0)
            continue; /* closed meanwhile */
        if (field(info, "ino") != (long long)ino)
            continue;
        long long flags = field(info, "flags");
        if (write_only && (flags < 0 || (flags & O_ACCMODE) == O_RDONLY))
            continue;
        if (mnt == -2)
            mnt = ours_only ? our_mnt_id(fs) : -1;
        if (mnt > 0 && field(info, "mnt_id") != mnt)
            continue;
        found = 1;
    }
    if (infofd >= 0)
        close(infofd);
    closedir(d);
    return found;
}

int fs_proc_maps(struct fs *fs, pid_t tgid, fuse_ino_t ino)
{
    char path[64], line[512], want[64];
    if (tgid <= 0 || our_mnt_id(fs) < 0)
        return -1;
    /* "7f12-7f34 r--s 00000000 00:2d 15   /mnt/s/f": device, then inode */
    snprintf(want, sizeof(want), " %s %llu ", fs->mnt_dev, (unsigned long long)ino);
    snprintf(path, sizeof(path), "/proc/%d/maps", (int)tgid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    int found = 0;
    while (!found && fgets(line, sizeof(line), f))
        found = strstr(line, want) != NULL;
    fclose(f);
    return found;
}

int fs_proc_reading(struct fs *fs, pid_t pid, fuse_ino_t ino)
{
    pid_t tgid = fs_proc_tgid(pid);
    if (tgid <= 0) /* the opening thread is gone (taken as its process) or unknown */
        return pid > 0 && kill(pid, 0) != 0 && errno == ESRCH ? 0 : -1;
    int fd = fs_proc_holds(fs, tgid, ino, false);
    if (fd != 0)
        return fd;
    return fs_proc_maps(fs, tgid, ino);
}
