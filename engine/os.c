/*
 * os.c - the default OS layer: thin wrappers over the system calls, each
 * returning -errno.  This is the only file of the engine that calls open,
 * pread, pwrite, fsync, rename, link, symlink, readlink, unlink, mkdir, opendir,
 * flock or statvfs,
 * and malloc, realloc or free (os_mem: the seam's memory half, os.h).
 */
#define _GNU_SOURCE
#include "os.h"

#include "sop.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

static int k_open(const struct os_ops *os, const char *path, int flags, int mode)
{
    (void)os;
    int fd = open(path, flags | O_CLOEXEC, mode);
    return fd < 0 ? -errno : fd;
}

static int k_close(const struct os_ops *os, int fd)
{
    (void)os;
    return close(fd) < 0 ? -errno : 0;
}

static ssize_t k_pread(const struct os_ops *os, int fd, void *buf, size_t n, uint64_t off)
{
    (void)os;
    ssize_t r = pread(fd, buf, n, (off_t)off);
    return r < 0 ? -errno : r;
}

static ssize_t k_pwrite(const struct os_ops *os, int fd, const void *buf, size_t n, uint64_t off)
{
    (void)os;
    ssize_t r = pwrite(fd, buf, n, (off_t)off);
    return r < 0 ? -errno : r;
}

static int k_fsync(const struct os_ops *os, int fd)
{
    (void)os;
    return fdatasync(fd) < 0 ? -errno : 0;
}

static int k_ftruncate(const struct os_ops *os, int fd, uint64_t size)
{
    (void)os;
    return ftruncate(fd, (off_t)size) < 0 ? -errno : 0;
}

static int k_fsize(const struct os_ops *os, int fd, uint64_t *size)
{
    (void)os;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    *size = (uint64_t)st.st_size;
    return 0;
}

static int k_rename(const struct os_ops *os, const char *from, const char *to)
{
    (void)os;
    return rename(from, to) < 0 ? -errno : 0;
}

static int k_link(const struct os_ops *os, const char *from, const char *to)
{
    (void)os;
    return link(from, to) < 0 ? -errno : 0;
}

static int k_symlink(const struct os_ops *os, const char *text, const char *to)
{
    (void)os;
    return symlink(text, to) < 0 ? -errno : 0;
}

static ssize_t k_readlink(const struct os_ops *os, const char *path, char *buf, size_t n)
{
    (void)os;
    ssize_t r = readlink(path, buf, n);
    return r < 0 ? -errno : r;
}

static int k_unlink(const struct os_ops *os, const char *path)
{
    (void)os;
    return unlink(path) < 0 ? -errno : 0;
}

static int k_mkdir(const struct os_ops *os, const char *path, int mode)
{
    (void)os;
    return mkdir(path, (mode_t)mode) < 0 ? -errno : 0;
}

static int k_fsync_dir(const struct os_ops *os, const char *path)
{
    (void)os;
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int r = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return r;
}

static int k_flock(const struct os_ops *os, int fd, int op)
{
    (void)os;
    return flock(fd, op) < 0 ? -errno : 0;
}

static int k_list(const struct os_ops *os, const char *dir, int (*fn)(const char *, void *),
                  void *arg)
{
    (void)os;
    DIR *d = opendir(dir);
    struct dirent *e;
    int r = 0;
    if (!d)
        return -errno;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if ((r = fn(e->d_name, arg)) != 0)
            break;
    }
    closedir(d);
    return r;
}

static int k_space(const struct os_ops *os, const char *path, uint64_t *avail, uint64_t *total)
{
    struct statvfs sv;
    (void)os;
    if (statvfs(path, &sv) != 0)
        return -errno;
    *avail = (uint64_t)sv.f_bavail * sv.f_frsize;
    *total = (uint64_t)sv.f_blocks * sv.f_frsize;
    return 0;
}

const struct os_ops os_default = {
    .open = k_open,
    .close = k_close,
    .pread = k_pread,
    .pwrite = k_pwrite,
    .fsync = k_fsync,
    .ftruncate = k_ftruncate,
    .fsize = k_fsize,
    .rename = k_rename,
    .unlink = k_unlink,
    .mkdir = k_mkdir,
    .fsync_dir = k_fsync_dir,
    .flock = k_flock,
    .list = k_list,
    .ctx = NULL,
    .space = k_space,
    .link = k_link,
    .symlink = k_symlink,
    .readlink = k_readlink,
};

int os_make_once(const struct os_ops *os, const char *dir, const char *name, const char *text,
                 const char *tag)
{
    char p[4200], tmp[4300];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    snprintf(tmp, sizeof(tmp), "%s.tmp-%s", p, tag);
    int fd = os->open(os, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int r = fd < 0 ? fd : os_pwrite_full(os, fd, text, strlen(text), 0);
    if (r == 0)
        r = os->fsync(os, fd);
    if (fd >= 0)
        os->close(os, fd);
    if (r == 0 && (r = os->link(os, tmp, p)) == -EEXIST)
        r = 0; /* somebody else's came first: it is the one */
    if (fd >= 0)
        os->unlink(os, tmp);
    if (r == 0)
        r = os->fsync_dir(os, dir);
    return r;
}

uint64_t os_file_size(const struct os_ops *os, const char *path)
{
    uint64_t size = 0;
    int fd = os->open(os, path, O_RDONLY, 0);
    if (fd < 0)
        return 0;
    if (os->fsize(os, fd, &size) != 0)
        size = 0;
    os->close(os, fd);
    return size;
}

int os_space(const struct os_ops *os, const char *path, uint64_t *avail, uint64_t *total)
{
    return (os->space ? os->space : k_space)(os, path, avail, total);
}

int os_pread_full(const struct os_ops *os, int fd, void *buf, size_t n, uint64_t off)
{
    char *p = buf;
    while (n > 0) {
        ssize_t r = os->pread(os, fd, p, n, off);
        if (r == -EINTR)
            continue;
        if (r < 0)
            return (int)r;
        if (r == 0)
            return -EIO; /* short file: the caller asked for bytes that are not there */
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

int os_pwrite_full(const struct os_ops *os, int fd, const void *buf, size_t n, uint64_t off)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t r = os->pwrite(os, fd, p, n, off);
        if (r == -EINTR)
            continue;
        if (r < 0)
            return (int)r;
        if (r == 0)
            return -EIO;
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

int os_err(int neg_errno)
{
    switch (-neg_errno) {
    case 0:
        return SOP_OK;
    case ENOSPC:
    case EDQUOT:
        return SOP_ENOSPC;
    case ENOMEM:
        return SOP_ENOMEM;
    case ENOENT:
        return SOP_ENOTFOUND;
    case EEXIST:
        return SOP_EEXIST;
    case EWOULDBLOCK:
        return SOP_EBUSY;
    case EINVAL:
        return SOP_EINVAL;
    case ENAMETOOLONG:
        return SOP_ENAMETOOLONG;
    default:
        return SOP_EIO;
    }
}

/* ------------------------------------------------------------ memory */

const struct os_mem os_mem_default = {
    .malloc = malloc, .calloc = calloc, .realloc = realloc, .free = free};

static const struct os_mem *_Atomic mem = &os_mem_default;

const struct os_mem *os_mem_set(const struct os_mem *m)
{
    return atomic_exchange(&mem, m ? m : &os_mem_default);
}

void *os_malloc(size_t n)
{
    return atomic_load_explicit(&mem, memory_order_relaxed)->malloc(n);
}

void *os_calloc(size_t n, size_t size)
{
    return atomic_load_explicit(&mem, memory_order_relaxed)->calloc(n, size);
}

void *os_realloc(void *p, size_t n)
{
    return atomic_load_explicit(&mem, memory_order_relaxed)->realloc(p, n);
}

char *os_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = os_malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

void os_free(void *p)
{
    atomic_load_explicit(&mem, memory_order_relaxed)->free(p);
}
