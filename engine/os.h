/*
 * os.h - the OS seam: every system call that touches data goes through a
 * struct os_ops held by the database.  The default table calls the kernel;
 * tests swap in tables that fail the Nth call (tests/lib/fault_os.c) or
 * forget unsynced writes at a simulated power loss (tests/lib/crash_os.c).
 *
 * Every function returns >= 0 on success and -errno on failure; partial
 * reads and writes are finished by os_pread_full/os_pwrite_full.
 *
 * Memory is the seam's other half: the engine allocates only through
 * os_malloc, os_calloc, os_realloc, os_strdup and frees through os_free,
 * which call the process-wide struct os_mem (the C library's by default).
 * A test's table fails the Nth allocation (tests/lib/fault_os.c) as
 * fault_os fails the Nth write, so the same fault loop checks that an
 * allocation failure anywhere leaves every transaction before or after,
 * and leaks nothing.  A table may fail or count calls but must hand out
 * the C library's memory: callers of sop.h free some of it with free(3).
 */
#ifndef SOP_OS_H
#define SOP_OS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct os_ops {
    int (*open)(const struct os_ops *os, const char *path, int flags, int mode);
    int (*close)(const struct os_ops *os, int fd);
    ssize_t (*pread)(const struct os_ops *os, int fd, void *buf, size_t n, uint64_t off);
    ssize_t (*pwrite)(const struct os_ops *os, int fd, const void *buf, size_t n, uint64_t off);
    int (*fsync)(const struct os_ops *os, int fd); /* data and size (fdatasync) */
    int (*ftruncate)(const struct os_ops *os, int fd, uint64_t size);
    int (*fsize)(const struct os_ops *os, int fd, uint64_t *size);
    int (*rename)(const struct os_ops *os, const char *from, const char *to);
    int (*unlink)(const struct os_ops *os, const char *path);
    int (*mkdir)(const struct os_ops *os, const char *path, int mode);
    int (*fsync_dir)(const struct os_ops *os, const char *path);
    int (*flock)(const struct os_ops *os, int fd, int op);
    /* names in a folder: calls fn for each entry but . and .. */
    int (*list)(const struct os_ops *os, const char *dir, int (*fn)(const char *name, void *arg),
                void *arg);
    void *ctx; /* the shim's own state */
    /* bytes free for an unprivileged writer, and in all, on the filesystem
     * holding path (NULL in a shim: os_space asks the kernel) */
    int (*space)(const struct os_ops *os, const char *path, uint64_t *avail, uint64_t *total);
    /* a second name for a file: -EEXIST when `to` exists (atomic and
     * exclusive, on NFS too: what clustered mode's claims rest on) */
    int (*link)(const struct os_ops *os, const char *from, const char *to);
    /* a symbolic link at `to` holding `text`, made whole at once: -EEXIST
     * when `to` exists (atomic and exclusive on NFS too, and one operation:
     * clustered mode's claims); readlink reads it back: its length, or
     * -errno (-EINVAL: not a symbolic link) */
    int (*symlink)(const struct os_ops *os, const char *text, const char *to);
    ssize_t (*readlink)(const struct os_ops *os, const char *path, char *buf, size_t n);
};

/* The kernel. */
extern const struct os_ops os_default;

struct os_mem {
    void *(*malloc)(size_t n);
    void *(*calloc)(size_t n, size_t size);
    void *(*realloc)(void *p, size_t n);
    void (*free)(void *p);
};
/* The C library's. */
extern const struct os_mem os_mem_default;
/* Use table m from now on (NULL: the default); tests only, with no
 * database open.  Returns the previous table. */
const struct os_mem *os_mem_set(const struct os_mem *m);

void *os_malloc(size_t n);
void *os_calloc(size_t n, size_t size);
void *os_realloc(void *p, size_t n);
char *os_strdup(const char *s);
void os_free(void *p);

/* Loop until all n bytes are read (-EIO on a short file) or written. */
int os_pread_full(const struct os_ops *os, int fd, void *buf, size_t n, uint64_t off);
int os_pwrite_full(const struct os_ops *os, int fd, const void *buf, size_t n, uint64_t off);

/* The size of file `path` through os (open, fsize, close), or 0 when it
 * cannot be opened or sized: for figures that count what is there. */
uint64_t os_file_size(const struct os_ops *os, const char *path);

/* Make file dir/name holding text, whole, unless one is there already:
 * written to dir/name.tmp-<tag> (tag: the writer's own), synced, linked to
 * its name (link fails when the name exists: writers at once agree on the
 * first), the folder synced.  0 (made, or there), or -errno. */
int os_make_once(const struct os_ops *os, const char *dir, const char *name, const char *text,
                 const char *tag);

/* os->space, or the kernel's answer for a shim without one. */
int os_space(const struct os_ops *os, const char *path, uint64_t *avail, uint64_t *total);

/* An errno (positive) as a SOP_E* code. */
int os_err(int neg_errno);

#endif
