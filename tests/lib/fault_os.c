/*
 * fault_os.c - an OS layer that fails the Nth call of chosen kinds with a
 * chosen errno (a failing write first writes half its bytes: a torn write).
 * Used by the fault loop: fail call 1, 2, 3, ... of an operation until it
 * completes without reaching N, checking "before or after, never between".
 */
#define _GNU_SOURCE
#include "faultlib.h"

#include <errno.h>
#include <string.h>

static struct fault_os *F(const struct os_ops *os)
{
    return os->ctx;
}

static int hit(const struct os_ops *os, int kind)
{
    struct fault_os *f = F(os);
    if (!(f->kinds & kind) || f->fail_at <= 0)
        return 0;
    f->count++;
    if (f->count == f->fail_at || (f->sticky && f->count > f->fail_at)) {
        f->fired++;
        return f->err;
    }
    return 0;
}

static int w_open(const struct os_ops *os, const char *path, int flags, int mode)
{
    int e = hit(os, FK_OPEN);
    return e ? -e : os_default.open(&os_default, path, flags, mode);
}
static int w_close(const struct os_ops *os, int fd)
{
    (void)os;
    return os_default.close(&os_default, fd);
}
static ssize_t w_pread(const struct os_ops *os, int fd, void *b, size_t n, uint64_t off)
{
    int e = hit(os, FK_READ);
    return e ? -e : os_default.pread(&os_default, fd, b, n, off);
}
static ssize_t w_pwrite(const struct os_ops *os, int fd, const void *b, size_t n, uint64_t off)
{
    int e = hit(os, FK_WRITE);
    if (e) {
        if (n > 1)
            os_default.pwrite(&os_default, fd, b, n / 2, off);
        return -e;
    }
    return os_default.pwrite(&os_default, fd, b, n, off);
}
static int w_fsync(const struct os_ops *os, int fd)
{
    int e = hit(os, FK_FSYNC);
    return e ? -e : os_default.fsync(&os_default, fd);
}
static int w_ftruncate(const struct os_ops *os, int fd, uint64_t size)
{
    int e = hit(os, FK_TRUNC);
    return e ? -e : os_default.ftruncate(&os_default, fd, size);
}
static int w_fsize(const struct os_ops *os, int fd, uint64_t *size)
{
    (void)os;
    return os_default.fsize(&os_default, fd, size);
}
static int w_rename(const struct os_ops *os, const char *a, const char *b)
{
    int e = hit(os, FK_RENAME);
    return e ? -e : os_default.rename(&os_default, a, b);
}
static int w_unlink(const struct os_ops *os, const char *p)
{
    (void)os;
    return os_default.unlink(&os_default, p);
}
static int w_mkdir(const struct os_ops *os, const char *p, int mode)
{
    (void)os;
    return os_default.mkdir(&os_default, p, mode);
}
static int w_fsync_dir(const struct os_ops *os, const char *p)
{
    int e = hit(os, FK_FSYNC);
    return e ? -e : os_default.fsync_dir(&os_default, p);
}
static int w_flock(const struct os_ops *os, int fd, int op)
{
    (void)os;
    return os_default.flock(&os_default, fd, op);
}
static int w_list(const struct os_ops *os, const char *d, int (*fn)(const char *, void *), void *a)
{
    (void)os;
    return os_default.list(&os_default, d, fn, a);
}

static int w_space(const struct os_ops *os, const char *p, uint64_t *avail, uint64_t *total)
{
    struct fault_os *f = F(os);
    if (f->space_set) {
        *avail = f->space_avail;
        *total = f->space_total;
        return 0;
    }
    return os_space(&os_default, p, avail, total);
}

void fault_os_init(struct fault_os *f)
{
    memset(f, 0, sizeof(*f));
    f->ops = (struct os_ops){w_open,      w_close, w_pread,  w_pwrite, w_fsync,
                             w_ftruncate, w_fsize, w_rename, w_unlink, w_mkdir,
                             w_fsync_dir, w_flock, w_list,   f,        w_space};
}

void fault_os_arm(struct fault_os *f, int kinds, long nth, int err, int sticky)
{
    f->kinds = kinds;
    f->fail_at = nth;
    f->count = 0;
    f->err = err;
    f->fired = 0;
    f->sticky = sticky;
}
