/*
 * loop.c - the request loop: one thread answers, workers take what blocks.
 *
 * libfuse's multi-threaded loop has every thread read /dev/fuse, and the
 * kernel wakes the longest waiting one for each request.  A program that
 * creates, stats or reads small files sends one request at a time, so each
 * of its requests went to another thread and usually another CPU: on small
 * VMs, where a wake-up across CPUs costs tens of microseconds, creates ran
 * three times slower than with the single-threaded loop (BENCHMARKS.md).
 *
 * So one thread (the caller's) reads every request and answers the quick
 * ones itself, and hands those that may take long (may_block below) to a
 * pool of worker threads, created as needed up to a maximum.  A request
 * handed off keeps its buffer: the reader takes a spare one.
 *
 * Between requests the reader polls the device for up to spin_us before it
 * sleeps: a synchronous caller's next request usually comes within a few
 * microseconds of the answer, and a sleep and a wake-up cost more than
 * that.  The budget halves each time the poll finds nothing (an idle mount
 * costs next to nothing) and comes back once requests follow each other
 * closely again.  With one CPU it never polls: the caller could not run.
 */
#include "loop.h"
#include "inode.h"
#include "log.h"
#include "types.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

/* The parts of the kernel's request layout (linux/fuse.h, a stable ABI)
 * that the choice needs: the header and the start of READ and WRITE. */
struct req_head {
    uint32_t len, opcode;
    uint64_t unique, nodeid;
    uint32_t uid, gid, pid;
    uint16_t total_extlen, padding;
};
struct req_rw { /* fuse_read_in, fuse_write_in */
    uint64_t fh, offset;
    uint32_t size;
};
enum {
    OP_SETATTR = 4,
    OP_SYMLINK = 6,
    OP_MKNOD = 8,
    OP_MKDIR = 9,
    OP_UNLINK = 10,
    OP_RMDIR = 11,
    OP_RENAME = 12,
    OP_LINK = 13,
    OP_READ = 15,
    OP_WRITE = 16,
    OP_RELEASE = 18,
    OP_FSYNC = 20,
    OP_SETXATTR = 21,
    OP_REMOVEXATTR = 24,
    OP_FLUSH = 25,
    OP_FSYNCDIR = 30,
    OP_CREATE = 35,
    OP_FALLOCATE = 43,
    OP_RENAME2 = 45,
    OP_COPY_FILE_RANGE = 47,
};

#define BIG_IO (64u << 10) /* reads and writes from this size go to a worker */

struct job {
    struct job *next;
    struct fuse_buf buf;
};

struct loop {
    struct fs *fs;
    struct fuse_session *se;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct job *head, *tail; /* handed off, not yet taken (mu) */
    struct job *spare;       /* buffers to reuse (mu)          */
    pthread_t *threads;
    unsigned nthreads, nidle, max;
    bool stop;
};

static bool is_ctl_ino(struct fs *fs, uint64_t ino)
{
    struct fs_node *n = fs_node_get(fs, (fuse_ino_t)ino);
    bool ctl = n && fs_kind_ctl(n->kind);
    if (n)
        fs_node_put(fs, n);
    return ctl;
}

/*
 * Whether a request may keep its thread long: a sync, a big read or write,
 * a control-file write (a scope's commit, a search), a rename (a directory
 * moves all its keys), and with -o sync everything that commits (each
 * commit waits for the disk).  What is not listed takes microseconds.
 */
static bool may_block(struct fs *fs, const struct fuse_buf *b)
{
    const struct req_head *h = b->mem;
    const struct req_rw *rw = (const void *)(h + 1);
    bool rw_args = b->size >= sizeof(*h) + sizeof(*rw);
    switch (h->opcode) {
    case OP_FSYNC:
    case OP_FSYNCDIR:
    case OP_RENAME:
    case OP_RENAME2:
    case OP_FALLOCATE:
    case OP_COPY_FILE_RANGE:
        return true;
    case OP_READ:
        return rw_args && rw->size >= BIG_IO;
    case OP_WRITE:
        return fs->cfg.sync || (rw_args && rw->size >= BIG_IO) || is_ctl_ino(fs, h->nodeid);
    case OP_SETATTR:
    case OP_UNLINK:
    case OP_RMDIR:
    case OP_RELEASE:
    case OP_SETXATTR:
    case OP_REMOVEXATTR:
    case OP_FLUSH:
    case OP_CREATE:
    case OP_MKNOD:
    case OP_MKDIR:
    case OP_SYMLINK:
    case OP_LINK:
        return fs->cfg.sync;
    default:
        return false;
    }
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *worker_main(void *arg)
{
    struct loop *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->head && !l->stop) {
            l->nidle++;
            pthread_cond_wait(&l->cv, &l->mu);
            l->nidle--;
        }
        struct job *j = l->head;
        if (!j)
            break; /* stopping, and nothing left */
        if (!(l->head = j->next))
            l->tail = NULL;
        pthread_mutex_unlock(&l->mu);
        fuse_session_process_buf(l->se, &j->buf);
        pthread_mutex_lock(&l->mu);
        j->next = l->spare;
        l->spare = j;
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* Give j to a worker; start one if none is idle and the pool may grow.
 * Returns false when no worker can take it (the caller runs it). */
static bool hand_off(struct loop *l, struct job *j)
{
    pthread_mutex_lock(&l->mu);
    if (l->nidle == 0 && l->nthreads < l->max) {
        int rc = pthread_create(&l->threads[l->nthreads], NULL, worker_main, l);
        if (rc == 0)
            l->nthreads++;
        else if (l->nthreads == 0) {
            pthread_mutex_unlock(&l->mu);
            fs_log(LOG_WARNING, "cannot start a worker thread: %s; answering inline", strerror(rc));
            return false;
        }
    }
    j->next = NULL;
    if (l->tail)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    return true;
}

static struct job *take_job(struct loop *l)
{
    pthread_mutex_lock(&l->mu);
    struct job *j = l->spare;
    if (j) {
        l->spare = j->next;
        j->next = NULL;
    }
    pthread_mutex_unlock(&l->mu);
    if (!j)
        j = calloc(1, sizeof(*j)); /* libfuse allocates its buffer at the first read */
    return j;
}

static void free_jobs(struct job *j)
{
    while (j) {
        struct job *next = j->next;
        free(j->buf.mem);
        free(j);
        j = next;
    }
}

int fs_loop(struct fs *fs, struct fuse_session *se, unsigned workers, unsigned spin_us)
{
    struct loop l = {.fs = fs, .se = se, .max = workers};
    /* with one CPU, polling would keep the caller from running */
    const uint64_t spin_max = sysconf(_SC_NPROCESSORS_ONLN) > 1 ? (uint64_t)spin_us * 1000u : 0;
    uint64_t budget = spin_max, last = 0;
    int fd = fuse_session_fd(se), rc = 0;
    struct job *cur;

    if (workers && !(l.threads = calloc(workers, sizeof(*l.threads))))
        return -ENOMEM;
    if (!(cur = calloc(1, sizeof(*cur)))) {
        free(l.threads);
        return -ENOMEM;
    }
    pthread_mutex_init(&l.mu, NULL);
    pthread_cond_init(&l.cv, NULL);
    if (spin_max) { /* the reader is the only one to read the device */
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
            fs_log(LOG_WARNING, "cannot poll /dev/fuse without blocking: %s; not spinning",
                   strerror(errno));
            budget = 0;
        }
    }
    bool spun = false;
    while (!fuse_session_exited(se)) {
        int res = fuse_session_receive_buf(se, &cur->buf);
        if (res == -EAGAIN) {
            if (now_ns() - last < budget) {
                spun = true; /* the next request is likely microseconds away */
                continue;
            }
            spun = false;
            if (budget > spin_max / 16)
                budget /= 2;
            struct pollfd p = {.fd = fd, .events = POLLIN};
            /* a signal meant to stop us may land in another thread: look
             * at fuse_session_exited() at least once a second */
            if (poll(&p, 1, 1000) > 0 && now_ns() - last < 2 * spin_max)
                budget = spin_max; /* requests follow each other closely again */
            continue;
        }
        if (res == -EINTR)
            continue;
        if (res <= 0) { /* 0: unmounted or told to exit */
            rc = res;
            break;
        }
        if (spun)
            budget = spin_max;
        spun = false;
        if (l.max && may_block(fs, &cur->buf)) {
            struct job *next = take_job(&l);
            if (next && hand_off(&l, cur)) {
                cur = next;
            } else {
                free_jobs(next); /* unused: fresh, or a spare taken off the list */
                fuse_session_process_buf(se, &cur->buf);
            }
        } else {
            fuse_session_process_buf(se, &cur->buf);
        }
        last = now_ns();
    }
    pthread_mutex_lock(&l.mu);
    l.stop = true;
    pthread_cond_broadcast(&l.cv);
    pthread_mutex_unlock(&l.mu);
    for (unsigned i = 0; i < l.nthreads; i++)
        pthread_join(l.threads[i], NULL);
    free_jobs(l.spare);
    free_jobs(cur);
    free(l.threads);
    pthread_cond_destroy(&l.cv);
    pthread_mutex_destroy(&l.mu);
    fuse_session_reset(se);
    return rc;
}
