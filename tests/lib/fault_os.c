/*
 * fault_os.c - an OS layer that fails the Nth call of chosen kinds with a
 * chosen errno (a failing write first writes half its bytes: a torn write).
 * Used by the fault loop: fail call 1, 2, 3, ... of an operation until it
 * completes without reaching N, checking "before or after, never between".
 */
#define _GNU_SOURCE
#include "faultlib.h"

#include <errno.h>
#include <execinfo.h>
#include <stdatomic.h>
#include <stdlib.h>
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
static int w_link(const struct os_ops *os, const char *a, const char *b)
{
    int e = hit(os, FK_RENAME); /* a change of names, as rename */
    return e ? -e : os_default.link(&os_default, a, b);
}
static int w_symlink(const struct os_ops *os, const char *text, const char *to)
{
    int e = hit(os, FK_RENAME); /* a change of names, as rename */
    return e ? -e : os_default.symlink(&os_default, text, to);
}
static ssize_t w_readlink(const struct os_ops *os, const char *p, char *buf, size_t n)
{
    int e = hit(os, FK_READ);
    return e ? -e : os_default.readlink(&os_default, p, buf, n);
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
                             w_fsync_dir, w_flock, w_list,   f,        w_space, w_link, w_symlink, w_readlink};
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

/* ------------------------------------------------------------ memory */

static atomic_long mem_at, mem_count;
static atomic_int mem_fired, mem_sticky;

static bool mem_fails(void)
{
    long at = atomic_load(&mem_at);
    if (!at)
        return false;
    long n = atomic_fetch_add(&mem_count, 1) + 1;
    if (n == at || (atomic_load(&mem_sticky) && n > at)) {
        atomic_store(&mem_fired, 1);
        if (getenv("SOP_FAULT_BT")) { /* where the failing allocation was made */
            void *bt[16];
            backtrace_symbols_fd(bt, backtrace(bt, 16), 2);
        }
        return true;
    }
    return false;
}
static void *m_malloc(size_t n)
{
    return mem_fails() ? NULL : malloc(n);
}
static void *m_calloc(size_t n, size_t size)
{
    return mem_fails() ? NULL : calloc(n, size);
}
static void *m_realloc(void *p, size_t n)
{
    return mem_fails() ? NULL : realloc(p, n);
}

static const struct os_mem fault_mem = {
    .malloc = m_malloc, .calloc = m_calloc, .realloc = m_realloc, .free = free};

void fault_mem_arm(long nth, int sticky)
{
    atomic_store(&mem_at, 0);
    atomic_store(&mem_count, 0);
    atomic_store(&mem_fired, 0);
    atomic_store(&mem_sticky, sticky);
    os_mem_set(&fault_mem);
    atomic_store(&mem_at, nth);
}

int fault_mem_disarm(void)
{
    atomic_store(&mem_at, 0);
    os_mem_set(NULL);
    return atomic_load(&mem_fired);
}
