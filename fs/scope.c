/*
 * scope.c - directory-scoped transactions (DIR/.sop-txn) and .sop-stats.
 *
 * `echo begin > DIR/.sop-txn` opens one write transaction over DIR's
 * subtree (the mount root's covers every store).  From then on every
 * operation on a path in the subtree, from any process, runs in it (tx.c):
 * its changes are visible in the subtree at once and nowhere else until
 * `commit`, which applies them atomically and durably, or `rollback`, which
 * discards them.  Scopes may not overlap (EBUSY); unknown commands answer
 * EINVAL and change nothing.
 *
 * The engine frees a transaction whatever its commit returns, so a failed
 * commit cannot leave the transaction open for a retry.  The scope stays
 * open instead, in state "failed": changes in the subtree are refused with
 * the commit's error, reads see the committed state, `cat` shows the
 * reason, and `rollback` closes it.  A second `commit` answers the same
 * error again.
 *
 * A scope older than the maximum age of a transaction (-o txn_max_age) is
 * rolled back by the daemon the next time it is looked up, shown or
 * committed (expire_locked): its changes are discarded at once, the reason
 * is logged, and it stays open in state "failed" with the error ETIMEDOUT,
 * exactly as a failed commit, so that later changes in the subtree are
 * refused (not committed one by one behind the user's back) and `commit`
 * answers ETIMEDOUT until `rollback` closes it.  Without this, every
 * operation in the subtree, the control file's lookup included, would fail
 * with the engine's ETIMEDOUT and the scope could not even be rolled back.
 *
 * Scopes live in fs->scopes (under fs->scope_mu): open and failed ones, and
 * the last few ended ones so `cat` can say how the last transaction of a
 * directory ended.  A scope's mutex is held by the one operation using its
 * transaction.
 */
#include "scope.h"
#include "clock.h"
#include "errors.h"
#include "inode.h"
#include "log.h"
#include "notify.h"
#include "path.h"
#include "sop.h"
#include "types.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#define ENDED_KEPT 16
/* The engine's default maximum age of a transaction (sop_db_options). */
#define DEFAULT_MAX_AGE_MS (15u * 60u * 1000u)

static void expire_try(struct fs *fs, struct fs_scope *s);

static struct fs_path scope_path(const struct fs_scope *s)
{
    struct fs_path p = {.store = s->store, .key = s->prefix, .klen = s->plen};
    return p;
}

static bool is_open(const struct fs_scope *s)
{
    return s->state == SC_ACTIVE || s->state == SC_FAILED;
}

void fs_scope_ref(struct fs *fs, struct fs_scope *s)
{
    pthread_mutex_lock(&fs->scope_mu);
    s->refs++;
    pthread_mutex_unlock(&fs->scope_mu);
}

static void scope_free(struct fs_scope *s)
{
    if (s->t)
        sop_txn_rollback(s->t);
    pthread_mutex_destroy(&s->mu);
    free(s->store);
    free(s->prefix);
    free(s);
}

/* Free ended scopes past the newest ENDED_KEPT that nobody holds. */
static void trim_ended(struct fs *fs)
{
    unsigned kept = 0;
    for (struct fs_scope **pp = &fs->scopes; *pp;) {
        struct fs_scope *s = *pp;
        if (!is_open(s) && ++kept > ENDED_KEPT && s->refs == 0) {
            *pp = s->next;
            scope_free(s);
            continue;
        }
        pp = &s->next;
    }
}

void fs_scope_put(struct fs *fs, struct fs_scope *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&fs->scope_mu);
    s->refs--;
    pthread_mutex_unlock(&fs->scope_mu);
}

struct fs_scope *fs_scope_find(struct fs *fs, const struct fs_path *p)
{
    struct fs_scope *found = NULL;
    pthread_mutex_lock(&fs->scope_mu);
    for (struct fs_scope *s = fs->scopes; s; s = s->next) {
        struct fs_path sp = scope_path(s);
        if (is_open(s) && fs_path_under(p, &sp)) {
            s->refs++;
            found = s;
            break;
        }
    }
    pthread_mutex_unlock(&fs->scope_mu);
    if (found)
        expire_try(fs, found);
    return found;
}

bool fs_scope_below(struct fs *fs, const struct fs_path *p)
{
    bool found = false;
    pthread_mutex_lock(&fs->scope_mu);
    for (struct fs_scope *s = fs->scopes; s && !found; s = s->next) {
        struct fs_path sp = scope_path(s);
        found = is_open(s) && fs_path_under(&sp, p);
    }
    pthread_mutex_unlock(&fs->scope_mu);
    return found;
}

/* The scope rooted exactly at dir: open ones first, else the newest ended. */
static struct fs_scope *find_at(struct fs *fs, const struct fs_path *dir, bool open_only)
{
    struct fs_scope *found = NULL;
    pthread_mutex_lock(&fs->scope_mu);
    for (struct fs_scope *s = fs->scopes; s; s = s->next) {
        struct fs_path sp = scope_path(s);
        if (!fs_path_equal(&sp, dir) || (open_only && !is_open(s)))
            continue;
        if (!found || (is_open(s) && !is_open(found)) ||
            (is_open(s) == is_open(found) && s->id > found->id))
            found = s;
    }
    if (found)
        found->refs++;
    pthread_mutex_unlock(&fs->scope_mu);
    return found;
}

static void inval_one(struct fs *fs, struct fs_node *n, void *arg)
{
    bool entries = *(const bool *)arg;
    n->gen++;
    n->rgen++;
    fs_notify_inode(fs, n->ino);
    if (entries && n->parent && !n->detached)
        fs_notify_entry(fs, n->parent->ino, n->name);
}

/*
 * After a scope ended, what the kernel cached of its subtree may be wrong:
 * attributes told through readers' snapshots, and after a rollback every
 * name made or removed in the scope.  After a commit the names the kernel
 * holds are the scope's, now committed, so only attributes are dropped:
 * an entry invalidation waits for the directory's lock in the kernel, and
 * a daemon killed (kill -9) while one waits for a lock held by a caller
 * whose request it will never answer cannot finish dying.
 */
static void invalidate(struct fs *fs, const struct fs_scope *s, bool entries)
{
    struct fs_path sp = scope_path(s);
    fs_nodes_under(fs, &sp, inval_one, &entries);
    pthread_mutex_lock(&fs->mu);
    fs->gen_all++;
    pthread_mutex_unlock(&fs->mu);
}

static void set_err(struct fs_scope *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(struct fs_scope *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof(s->err), fmt, ap);
    va_end(ap);
}

static const char *path_text(const struct fs_path *p, char *buf, size_t len)
{
    if (!p->store)
        snprintf(buf, len, "/");
    else
        snprintf(buf, len, "/%s%s%.*s", p->store, p->klen ? "/" : "", (int)p->klen, p->key);
    return buf;
}

static uint64_t max_age_ms(const struct fs *fs)
{
    return fs->cfg.txn_max_age_ms ? fs->cfg.txn_max_age_ms : DEFAULT_MAX_AGE_MS;
}

/* s->mu held: an active scope past the maximum age is rolled back and
 * fails with ETIMEDOUT (see the top).  begin_ns is taken before the
 * engine's transaction begins, so this never comes later than the engine
 * refusing the transaction (up to its coarse clock's tick). */
static void expire_locked(struct fs *fs, struct fs_scope *s)
{
    char where[512];
    uint64_t max_ms = max_age_ms(fs);
    int64_t age = fs_now_ns() - (int64_t)s->begin_ns; /* < 0: the clock went back */
    if (s->state != SC_ACTIVE || age <= (int64_t)(max_ms * 1000000ull))
        return;
    if (s->t) {
        sop_txn_rollback(s->t);
        s->t = NULL;
        FS_STAT_ADD(fs, rollbacks, 1);
    }
    s->state = SC_FAILED;
    s->fail_err = ETIMEDOUT;
    set_err(s, "%s: older than the maximum age of %.3f s", sop_strerror(SOP_ETIMEDOUT),
            (double)max_ms / 1e3);
    struct fs_path sp = scope_path(s);
    fs_log(LOG_WARNING,
           "transaction %llu of %s: older than the maximum age of %.3f s: rolled back, its "
           "%llu changes discarded; changes below it answer ETIMEDOUT until "
           "`echo rollback > .sop-txn`",
           (unsigned long long)s->id, path_text(&sp, where, sizeof(where)), (double)max_ms / 1e3,
           (unsigned long long)s->changes);
    invalidate(fs, s, true);
}

/* The same for a referenced scope whose mutex the caller does not hold.
 * Only tried: a thread using the scope's transaction holds its mutex and
 * will meet the engine's ETIMEDOUT; the next look expires it. */
static void expire_try(struct fs *fs, struct fs_scope *s)
{
    if (pthread_mutex_trylock(&s->mu) != 0)
        return;
    expire_locked(fs, s);
    pthread_mutex_unlock(&s->mu);
}

static int scope_begin(struct fs *fs, const struct fs_path *dir)
{
    char where[512];
    struct fs_scope *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    pthread_mutex_init(&s->mu, NULL);
    if (dir->store) {
        s->store = strdup(dir->store);
        s->prefix = malloc(dir->klen + 1);
        if (!s->store || !s->prefix) {
            scope_free(s);
            return -ENOMEM;
        }
        memcpy(s->prefix, dir->key, dir->klen + 1);
        s->plen = dir->klen;
    }
    /* changes commit durably at `commit`: no SOP_TXN_NOSYNC; the age counts
     * from before the engine's transaction begins (expire_locked) */
    s->begin_ns = (uint64_t)fs_now_ns();
    int rc = sop_txn_begin(fs->db, SOP_TXN_WRITE, &s->t);
    if (rc) {
        scope_free(s);
        return fs_sop_err(fs, NULL, rc, "begin scope");
    }
    s->state = SC_ACTIVE;
    pthread_mutex_lock(&fs->scope_mu);
    for (struct fs_scope *o = fs->scopes; o; o = o->next) {
        struct fs_path op = scope_path(o);
        if (is_open(o) && (fs_path_under(dir, &op) || fs_path_under(&op, dir))) {
            pthread_mutex_unlock(&fs->scope_mu);
            char other[512];
            fs_log(LOG_INFO, "begin %s: overlaps the open transaction %llu of %s",
                   path_text(dir, where, sizeof(where)), (unsigned long long)o->id,
                   path_text(&op, other, sizeof(other)));
            scope_free(s);
            return -EBUSY;
        }
    }
    s->id = ++fs->next_scope_id;
    s->next = fs->scopes;
    fs->scopes = s;
    __atomic_fetch_add(&fs->nopen_scopes, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&fs->scope_mu);
    FS_STAT_ADD(fs, scopes_begun, 1);
    fs_log(LOG_DEBUG, "transaction %llu begun on %s", (unsigned long long)s->id,
           path_text(dir, where, sizeof(where)));
    return 0;
}

/* s is referenced and its mu held; it leaves the open ones. */
static void scope_close(struct fs *fs, struct fs_scope *s, int state)
{
    s->state = state;
    s->end_ns = (uint64_t)fs_now_ns();
    pthread_mutex_lock(&fs->scope_mu);
    __atomic_fetch_sub(&fs->nopen_scopes, 1, __ATOMIC_RELEASE);
    trim_ended(fs);
    pthread_mutex_unlock(&fs->scope_mu);
}

static int scope_commit(struct fs *fs, const struct fs_path *dir)
{
    char where[512];
    struct fs_scope *s = find_at(fs, dir, true);
    if (!s)
        return -EINVAL;
    pthread_mutex_lock(&s->mu);
    expire_locked(fs, s);
    int rc = 0;
    if (s->state == SC_FAILED) {
        rc = -s->fail_err;
    } else if (s->state != SC_ACTIVE) {
        rc = -EINVAL;
    } else {
        sop_txn *t = s->t;
        s->t = NULL;
        int c = sop_txn_commit(t);
        if (c == 0) {
            FS_STAT_ADD(fs, commits, 1);
            FS_STAT_ADD(fs, scopes_committed, 1);
            set_err(s, "none");
            scope_close(fs, s, SC_COMMITTED);
            invalidate(fs, s, false);
        } else {
            FS_STAT_FAIL(fs, c);
            rc = fs_sop_err(fs, NULL, c, "commit scope");
            if (c == SOP_ECONFLICT)
                set_err(s, "%s", sop_strerror(c));
            else
                set_err(s, "%s: %s", sop_strerror(c), sop_db_errmsg(fs->db));
            s->state = SC_FAILED;
            s->fail_err = -rc;
            invalidate(fs, s, true);
        }
        fs_log(LOG_DEBUG, "transaction %llu of %s: commit: %s", (unsigned long long)s->id,
               path_text(dir, where, sizeof(where)), rc ? s->err : "ok");
    }
    pthread_mutex_unlock(&s->mu);
    fs_scope_put(fs, s);
    return rc;
}

static int scope_rollback(struct fs *fs, const struct fs_path *dir)
{
    struct fs_scope *s = find_at(fs, dir, true);
    if (!s)
        return -EINVAL;
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    if (!is_open(s)) {
        rc = -EINVAL;
    } else {
        if (s->t) {
            sop_txn_rollback(s->t);
            s->t = NULL;
            FS_STAT_ADD(fs, rollbacks, 1);
        }
        FS_STAT_ADD(fs, scopes_rolled_back, 1);
        if (s->state == SC_ACTIVE)
            set_err(s, "none");
        scope_close(fs, s, SC_ROLLEDBACK);
        invalidate(fs, s, true);
    }
    pthread_mutex_unlock(&s->mu);
    fs_scope_put(fs, s);
    return rc;
}

/*
 * A scope's end queued invalidations of what the kernel cached of its
 * subtree (invalidate): after a rollback, the names the scope made must be
 * gone when `echo rollback > DIR/.sop-txn` returns, not some moments later
 * when the notification thread gets to them (a `test -e` right after would
 * still find them in the kernel's dentry cache, for up to the entry
 * timeout).  So the command waits until they are sent (fs_notify_flush).
 *
 * Why it cannot deadlock: an entry invalidation takes, in the kernel, the
 * lock of the directory the entry is in; an attribute invalidation takes
 * none.  This request is a write to the .sop-txn file, for which the kernel
 * holds that file's inode lock and no directory's, and it waits here with
 * no lock of ours held (the scope's mutex was let go), so every other
 * request, one inside the subtree included, is answered meanwhile and lets
 * go of its directory.  The wait is bounded all the same (SETTLE_MS): a
 * note may be stuck behind a caller that holds a directory's lock while its
 * request waits for a worker (all busy) or for the reading thread (-s), and
 * then the command returns, its names stale until the entry timeout.
 */
#define SETTLE_MS 2000

static void settle(struct fs *fs, const char *cmd)
{
    if (fs_notify_flush(fs, SETTLE_MS) == -ETIMEDOUT)
        fs_log(LOG_INFO,
               ".sop-txn %s: the kernel's cache was not invalidated within %u ms; "
               "names may look stale for up to the entry timeout",
               cmd, SETTLE_MS);
}

int fs_scope_command(struct fs *fs, const struct fs_path *dir, const char *cmd, size_t len)
{
    int rc;
    while (len && isspace((unsigned char)*cmd)) {
        cmd++;
        len--;
    }
    while (len && (isspace((unsigned char)cmd[len - 1]) || cmd[len - 1] == '\0'))
        len--;
    if (len == 5 && !memcmp(cmd, "begin", 5))
        return scope_begin(fs, dir);
    if (len == 6 && !memcmp(cmd, "commit", 6)) {
        rc = scope_commit(fs, dir);
        settle(fs, "commit");
        return rc;
    }
    if (len == 8 && !memcmp(cmd, "rollback", 8)) {
        rc = scope_rollback(fs, dir);
        settle(fs, "rollback");
        return rc;
    }
    fs_log(LOG_DEBUG, ".sop-txn: unknown command '%.*s'", (int)(len > 64 ? 64 : len), cmd);
    return -EINVAL;
}

static const char *state_name(int state)
{
    switch (state) {
    case SC_ACTIVE:
        return "active";
    case SC_FAILED:
        return "failed";
    case SC_COMMITTED:
        return "committed";
    default:
        return "rolled back";
    }
}

int fs_scope_text(struct fs *fs, const struct fs_path *dir, char **text, size_t *len)
{
    char where[512];
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f)
        return -ENOMEM;
    struct fs_scope *s = find_at(fs, dir, false);
    if (!s || !is_open(s)) { /* maybe an open scope of an ancestor covers dir */
        struct fs_scope *cover = fs_scope_find(fs, dir);
        if (cover) {
            fs_scope_put(fs, s);
            s = cover;
        }
    }
    if (!s) {
        fprintf(f, "state: none\n");
    } else {
        pthread_mutex_lock(&s->mu);
        expire_locked(fs, s);
        struct fs_path sp = scope_path(s);
        uint64_t end = is_open(s) ? (uint64_t)fs_now_ns() : s->end_ns;
        fprintf(f, "state: %s\n", state_name(s->state));
        fprintf(f, "id: %llu\n", (unsigned long long)s->id);
        fprintf(f, "scope: %s\n", path_text(&sp, where, sizeof(where)));
        fprintf(f, "age: %.3f s\n", (double)(end - s->begin_ns) / 1e9);
        fprintf(f, "changes: %llu\n", (unsigned long long)s->changes);
        fprintf(f, "bytes: %llu\n", (unsigned long long)s->bytes);
        fprintf(f, "error: %s\n", s->err[0] ? s->err : "none");
        pthread_mutex_unlock(&s->mu);
        fs_scope_put(fs, s);
    }
    if (fclose(f) != 0) {
        free(buf);
        return -ENOMEM;
    }
    *text = buf;
    *len = size;
    return 0;
}

int fs_stats_text(struct fs *fs, char **text, size_t *len)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f)
        return -ENOMEM;
    struct fs_stats st;
#define LOAD(x) st.x = __atomic_load_n(&fs->stats.x, __ATOMIC_RELAXED)
    LOAD(commits);
    LOAD(conflicts);
    LOAD(retries);
    LOAD(rollbacks);
    LOAD(commit_errors);
    LOAD(errors);
    LOAD(bytes_read);
    LOAD(bytes_written);
    LOAD(reads);
    LOAD(writes);
    LOAD(lookups);
    LOAD(creates);
    LOAD(unlinks);
    LOAD(renames);
    LOAD(mkdirs);
    LOAD(rmdirs);
    LOAD(setattrs);
    LOAD(opens);
    LOAD(scopes_begun);
    LOAD(scopes_committed);
    LOAD(scopes_rolled_back);
#undef LOAD
    pthread_mutex_lock(&fs->mu);
    size_t nodes = fs->nnodes;
    unsigned open_files = fs->open_files;
    pthread_mutex_unlock(&fs->mu);
#define OUT(name, v) fprintf(f, "%s: %llu\n", name, (unsigned long long)(v))
    OUT("commits", st.commits);
    OUT("conflicts", st.conflicts);
    OUT("retries", st.retries);
    OUT("rollbacks", st.rollbacks);
    OUT("commit_errors", st.commit_errors);
    OUT("errors", st.errors);
    OUT("reads", st.reads);
    OUT("bytes_read", st.bytes_read);
    OUT("writes", st.writes);
    OUT("bytes_written", st.bytes_written);
    OUT("lookups", st.lookups);
    OUT("opens", st.opens);
    OUT("creates", st.creates);
    OUT("unlinks", st.unlinks);
    OUT("renames", st.renames);
    OUT("mkdirs", st.mkdirs);
    OUT("rmdirs", st.rmdirs);
    OUT("setattrs", st.setattrs);
    OUT("scopes_begun", st.scopes_begun);
    OUT("scopes_committed", st.scopes_committed);
    OUT("scopes_rolled_back", st.scopes_rolled_back);
    OUT("scopes_open", __atomic_load_n(&fs->nopen_scopes, __ATOMIC_RELAXED));
    OUT("open_files", open_files);
    OUT("inodes", nodes);
    sop_db_stats ds;
    if (sop_db_get_stats(fs->db, &ds) == 0) {
        OUT("cache_hits", ds.cache_hits);
        OUT("cache_misses", ds.cache_misses);
        OUT("cache_nodes", ds.cache_nodes);
        OUT("cache_bytes", ds.cache_bytes);
        OUT("cache_budget", ds.cache_budget);
        OUT("log_bytes", ds.log_bytes);
        OUT("last_commit_seq", ds.seq);
    }
    sop_db_space sp;
    if (sop_db_get_space(fs->db, &sp) == 0) {
        OUT("disk_free", sp.disk_free);
        OUT("disk_reserve", sp.reserve);
        OUT("value_segments", sp.value_segments);
    }
    sop_reclaim_info ri;
    if (sop_db_reclaim_info(fs->db, &ri) == 0) {
        OUT("log_segment_bytes", ri.log_bytes);
        OUT("log_live_bytes", ri.live_bytes);
        OUT("log_segments", ri.log_segments);
        OUT("reclaim_rounds", ri.rounds);
        OUT("reclaim_segments_removed", ri.segments_removed);
        OUT("reclaim_bytes_copied", ri.bytes_copied);
        OUT("reclaim_bytes_freed", ri.bytes_freed);
        OUT("reclaim_waiting", ri.waiting);
    }
    OUT("uptime_s", (uint64_t)((fs_now_ns() - fs->start_ns) / 1000000000));
#undef OUT
    /* what recovery found at mount: one "recovery:" line each (damage
     * skipped, torn tails cut and what was in them) */
    const char *rep = sop_db_recovery_report(fs->db);
    for (const char *l = rep; *l;) {
        const char *e = strchr(l, '\n');
        size_t n = e ? (size_t)(e - l) : strlen(l);
        fprintf(f, "recovery: %.*s\n", (int)n, l);
        l += n + (e != NULL);
    }
    if (fclose(f) != 0) {
        free(buf);
        return -ENOMEM;
    }
    *text = buf;
    *len = size;
    return 0;
}

void fs_scopes_free(struct fs *fs)
{
    while (fs->scopes) {
        struct fs_scope *s = fs->scopes;
        fs->scopes = s->next;
        if (s->t)
            fs_log(LOG_WARNING, "transaction %llu still open at unmount: rolled back",
                   (unsigned long long)s->id);
        scope_free(s);
    }
    fs->nopen_scopes = 0;
}
