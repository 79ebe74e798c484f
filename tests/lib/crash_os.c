/*
 * crash_os.c - simulated power loss (after SQLite's test6.c): every write
 * goes to the real file, and an undo record (the bytes it replaced and the
 * old size) is kept until the file is fsynced.  At the "crash" the undo
 * records are applied newest first - all of them, or a random subset with
 * the newest surviving write possibly torn - and the shim then fails every
 * call, as a dead machine would, so the database handle can be let go.
 */
#define _GNU_SOURCE
#include "faultlib.h"
#include "testlib.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct crash_undo {
    char *path;
    uint64_t off, old_size;
    uint8_t *old;
    size_t n;
    struct crash_undo *next;
};

static struct crash_os *C(const struct os_ops *os)
{
    return os->ctx;
}

static int c_open(const struct os_ops *os, const char *path, int flags, int mode)
{
    struct crash_os *c = C(os);
    if (c->dead)
        return -EIO;
    int fd = os_default.open(&os_default, path, flags, mode);
    if (fd >= 0 && fd < 1024) {
        free(c->paths[fd]);
        c->paths[fd] = strdup(path);
    }
    return fd;
}
static int c_close(const struct os_ops *os, int fd)
{
    struct crash_os *c = C(os);
    if (fd >= 0 && fd < 1024) {
        free(c->paths[fd]);
        c->paths[fd] = NULL;
    }
    return os_default.close(&os_default, fd);
}
static ssize_t c_pread(const struct os_ops *os, int fd, void *b, size_t n, uint64_t off)
{
    if (C(os)->dead)
        return -EIO;
    return os_default.pread(&os_default, fd, b, n, off);
}
static int remember(struct crash_os *c, int fd, uint64_t off, size_t n)
{
    uint64_t size = 0;
    if (fd < 0 || fd >= 1024 || !c->paths[fd])
        return 0;
    os_default.fsize(&os_default, fd, &size);
    struct crash_undo *u = calloc(1, sizeof(*u));
    if (!u)
        return -ENOMEM;
    u->path = strdup(c->paths[fd]);
    u->off = off;
    u->old_size = size;
    if (off < size) {
        u->n = (size_t)(size - off < n ? size - off : n);
        u->old = malloc(u->n);
        if (u->old)
            os_default.pread(&os_default, fd, u->old, u->n, off);
    }
    u->next = c->undo;
    c->undo = u;
    return 0;
}
static ssize_t c_pwrite(const struct os_ops *os, int fd, const void *b, size_t n, uint64_t off)
{
    struct crash_os *c = C(os);
    if (c->dead)
        return -EIO;
    remember(c, fd, off, n);
    c->writes++;
    if (c->die_at && c->writes >= c->die_at) {
        c->dead = true; /* power goes during this write: part of it lands */
        os_default.pwrite(&os_default, fd, b, n / 2, off);
        return -EIO;
    }
    return os_default.pwrite(&os_default, fd, b, n, off);
}
static void forget_path(struct crash_os *c, const char *path)
{
    struct crash_undo **pp = &c->undo;
    while (*pp) {
        struct crash_undo *u = *pp;
        if (!strcmp(u->path, path)) {
            *pp = u->next;
            free(u->path);
            free(u->old);
            free(u);
        } else {
            pp = &u->next;
        }
    }
}
static int c_fsync(const struct os_ops *os, int fd)
{
    struct crash_os *c = C(os);
    if (c->dead)
        return -EIO;
    int r = os_default.fsync(&os_default, fd);
    if (r == 0 && fd >= 0 && fd < 1024 && c->paths[fd])
        forget_path(c, c->paths[fd]);
    return r;
}
static int c_ftruncate(const struct os_ops *os, int fd, uint64_t size)
{
    struct crash_os *c = C(os);
    if (c->dead)
        return -EIO;
    uint64_t old = 0;
    os_default.fsize(&os_default, fd, &old);
    if (old > size)
        remember(c, fd, size, (size_t)(old - size));
    else
        remember(c, fd, old, 0);
    return os_default.ftruncate(&os_default, fd, size);
}
static int c_fsize(const struct os_ops *os, int fd, uint64_t *size)
{
    if (C(os)->dead)
        return -EIO;
    return os_default.fsize(&os_default, fd, size);
}
static int c_rename(const struct os_ops *os, const char *a, const char *b)
{
    struct crash_os *c = C(os);
    if (c->dead)
        return -EIO;
    /* unsynced bytes of a renamed file: keep the simple model, the engine
     * fsyncs a file before renaming it */
    return os_default.rename(&os_default, a, b);
}
static int c_link(const struct os_ops *os, const char *a, const char *b)
{
    if (C(os)->dead)
        return -EIO;
    /* as rename: the engine fsyncs a file before it gives it a name */
    return os_default.link(&os_default, a, b);
}
static int c_symlink(const struct os_ops *os, const char *text, const char *to)
{
    if (C(os)->dead)
        return -EIO;
    return os_default.symlink(&os_default, text, to);
}
static ssize_t c_readlink(const struct os_ops *os, const char *p, char *buf, size_t n)
{
    if (C(os)->dead)
        return -EIO;
    return os_default.readlink(&os_default, p, buf, n);
}
static int c_unlink(const struct os_ops *os, const char *p)
{
    if (C(os)->dead)
        return -EIO;
    forget_path(C(os), p);
    return os_default.unlink(&os_default, p);
}
static int c_mkdir(const struct os_ops *os, const char *p, int mode)
{
    if (C(os)->dead)
        return -EIO;
    return os_default.mkdir(&os_default, p, mode);
}
static int c_fsync_dir(const struct os_ops *os, const char *p)
{
    if (C(os)->dead)
        return -EIO;
    return os_default.fsync_dir(&os_default, p);
}
static int c_flock(const struct os_ops *os, int fd, int op)
{
    (void)os;
    return os_default.flock(&os_default, fd, op);
}
static int c_list(const struct os_ops *os, const char *d, int (*fn)(const char *, void *), void *a)
{
    if (C(os)->dead)
        return -EIO;
    return os_default.list(&os_default, d, fn, a);
}

void crash_os_init(struct crash_os *c)
{
    memset(c, 0, sizeof(*c));
    c->ops = (struct os_ops){c_open,      c_close, c_pread,  c_pwrite, c_fsync,
                             c_ftruncate, c_fsize, c_rename, c_unlink, c_mkdir,
                             c_fsync_dir, c_flock, c_list,   c,        NULL,    c_link, c_symlink, c_readlink};
}

static void apply_undo(struct crash_undo *u, size_t keep_prefix)
{
    int fd = open(u->path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return;
    if (u->old && u->n > keep_prefix &&
        pwrite(fd, u->old + keep_prefix, u->n - keep_prefix, (off_t)(u->off + keep_prefix)) < 0)
        abort();
    off_t end = lseek(fd, 0, SEEK_END);
    uint64_t cut = u->old_size > u->off + keep_prefix ? u->old_size : u->off + keep_prefix;
    if ((uint64_t)end > cut && ftruncate(fd, (off_t)cut) < 0)
        abort();
    close(fd);
}

void crash_os_crash(struct crash_os *c, uint64_t keep_seed)
{
    uint64_t st = keep_seed;
    for (struct crash_undo *u = c->undo; u; u = u->next) {
        uint64_t r = keep_seed ? tl_rand(&st) : 0;
        if (keep_seed && r % 3 == 0)
            continue; /* this write reached the disk */
        if (keep_seed && r % 3 == 1)
            apply_undo(u, (size_t)((r >> 8) % (u->n + 1))); /* torn */
        else
            apply_undo(u, 0);
    }
    while (c->undo) {
        struct crash_undo *u = c->undo;
        c->undo = u->next;
        free(u->path);
        free(u->old);
        free(u);
    }
    c->dead = true;
}

void crash_os_free(struct crash_os *c)
{
    for (int i = 0; i < 1024; i++)
        free(c->paths[i]);
    while (c->undo) {
        struct crash_undo *u = c->undo;
        c->undo = u->next;
        free(u->path);
        free(u->old);
        free(u);
    }
}
