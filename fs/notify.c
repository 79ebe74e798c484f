/*
 * notify.c - telling the kernel to drop what it cached.
 *
 * libfuse forbids sending an invalidation from the path of an operation on
 * the same inode (the kernel may hold the lock the invalidation needs while
 * it waits for that operation's reply), so invalidations are queued and
 * sent by a thread of their own.  Losing one costs staleness for at most
 * the attribute or entry timeout, never data.  Attributes alone are the
 * exception (fs_notify_attr_now): they need no lock and go out at once.
 *
 * A request whose effect the caller must see as soon as it returns (a
 * scope's rollback: the names it made are gone) waits for the notes it
 * queued with fs_notify_flush: every note has a number (note_queued at its
 * push), the thread counts the ones it has sent (note_sent), and the wait
 * ends when the count reaches the number of the last note queued before
 * it.  An entry invalidation takes the lock of its directory in the
 * kernel, an inode one (attributes only, here) none; so a request may wait
 * only when it holds no directory lock its notes need and no lock of ours,
 * and only for a bounded time (scope.c says why both hold for .sop-txn).
 */
#include "notify.h"
#include "log.h"
#include "types.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

struct fs_note {
    struct fs_note *next;
    fuse_ino_t ino; /* inode, or the parent of name */
    char *name;     /* NULL: an inode invalidation  */
};

static void *note_main(void *arg)
{
    struct fs *fs = arg;
    pthread_mutex_lock(&fs->note_mu);
    for (;;) {
        while (!fs->notes && !fs->note_stop)
            pthread_cond_wait(&fs->note_cv, &fs->note_mu);
        if (!fs->notes)
            break;
        struct fs_note *n = fs->notes;
        fs->notes = n->next;
        if (!fs->notes)
            fs->notes_tail = NULL;
        struct fuse_session *se = fs->se;
        pthread_mutex_unlock(&fs->note_mu);
        if (se && !fs->note_stop) {
            int rc;
            if (n->name)
                rc = fuse_lowlevel_notify_inval_entry(se, n->ino, n->name, strlen(n->name));
            else /* attributes only: open readers keep their pages (file.c) */
                rc = fuse_lowlevel_notify_inval_inode(se, n->ino, -1, 0);
            if (rc && rc != -ENOENT)
                fs_log(LOG_DEBUG, "invalidate %llu%s%s: %s", (unsigned long long)n->ino,
                       n->name ? "/" : "", n->name ? n->name : "", strerror(-rc));
        }
        free(n->name);
        free(n);
        pthread_mutex_lock(&fs->note_mu);
        fs->note_sent++;
        pthread_cond_broadcast(&fs->note_sent_cv);
    }
    pthread_mutex_unlock(&fs->note_mu);
    return NULL;
}

int fs_notify_start(struct fs *fs)
{
    int rc = pthread_create(&fs->note_thread, NULL, note_main, fs);
    if (rc)
        return -rc;
    fs->note_started = true;
    return 0;
}

void fs_notify_stop(struct fs *fs)
{
    if (!fs->note_started)
        return;
    pthread_mutex_lock(&fs->note_mu);
    fs->note_stop = true;
    pthread_cond_signal(&fs->note_cv);
    pthread_mutex_unlock(&fs->note_mu);
    pthread_join(fs->note_thread, NULL);
    pthread_mutex_lock(&fs->note_mu);
    fs->note_started = false;
    while (fs->notes) {
        struct fs_note *n = fs->notes;
        fs->notes = n->next;
        free(n->name);
        free(n);
    }
    fs->notes_tail = NULL;
    fs->note_sent = fs->note_queued; /* dropped: nobody waits for them */
    pthread_cond_broadcast(&fs->note_sent_cv);
    pthread_mutex_unlock(&fs->note_mu);
}

static void push(struct fs *fs, fuse_ino_t ino, const char *name)
{
    struct fs_note *n = calloc(1, sizeof(*n));
    if (!n)
        return;
    n->ino = ino;
    if (name && !(n->name = strdup(name))) {
        free(n);
        return;
    }
    pthread_mutex_lock(&fs->note_mu);
    if (!fs->se || fs->note_stop) {
        pthread_mutex_unlock(&fs->note_mu);
        free(n->name);
        free(n);
        return;
    }
    if (fs->notes_tail)
        fs->notes_tail->next = n;
    else
        fs->notes = n;
    fs->notes_tail = n;
    fs->note_queued++;
    pthread_cond_signal(&fs->note_cv);
    pthread_mutex_unlock(&fs->note_mu);
}

void fs_notify_inode(struct fs *fs, fuse_ino_t ino)
{
    push(fs, ino, NULL);
}

/* Attributes only take no lock in the kernel (fuse_reverse_inval_inode with
 * a negative offset touches no page), so this one is sent at once, from the
 * operation's own thread: a close(2) must not return while the kernel
 * still holds attributes its commit made wrong. */
void fs_notify_attr_now(struct fs *fs, fuse_ino_t ino)
{
    pthread_mutex_lock(&fs->note_mu);
    struct fuse_session *se = fs->note_stop ? NULL : fs->se;
    pthread_mutex_unlock(&fs->note_mu);
    if (!se)
        return;
    int rc = fuse_lowlevel_notify_inval_inode(se, ino, -1, 0);
    if (rc && rc != -ENOENT)
        fs_log(LOG_DEBUG, "invalidate %llu: %s", (unsigned long long)ino, strerror(-rc));
}

void fs_notify_entry(struct fs *fs, fuse_ino_t parent, const char *name)
{
    push(fs, parent, name);
}

int fs_notify_flush(struct fs *fs, unsigned timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    uint64_t ns = (uint64_t)until.tv_nsec + (uint64_t)timeout_ms * 1000000u;
    until.tv_sec += (time_t)(ns / 1000000000u);
    until.tv_nsec = (long)(ns % 1000000000u);
    int rc = 0;
    pthread_mutex_lock(&fs->note_mu);
    const uint64_t last = fs->note_queued;
    while (fs->note_started && fs->note_sent < last && rc == 0)
        if (pthread_cond_timedwait(&fs->note_sent_cv, &fs->note_mu, &until) == ETIMEDOUT)
            rc = fs->note_sent < last ? -ETIMEDOUT : 0;
    pthread_mutex_unlock(&fs->note_mu);
    return rc;
}

void fs_set_session(struct fs *fs, struct fuse_session *se)
{
    if (!fs)
        return;
    if (!se) { /* the session ends: no notification may use it any more */
        fs_notify_stop(fs);
        pthread_mutex_lock(&fs->note_mu);
        fs->se = NULL;
        pthread_mutex_unlock(&fs->note_mu);
        return;
    }
    pthread_mutex_lock(&fs->note_mu);
    fs->se = se;
    pthread_mutex_unlock(&fs->note_mu);
}
