/*
 * coord_local.c - the coordination seam's local side (coord.h): locks,
 * fences and the epoch of one process, in memory.  Standalone, the folder's
 * flock already keeps other processes out, so this is all the coordination
 * there is; it also answers the same tests as the Redis side, so the
 * protocol above the seam can be tested without a server.
 *
 * State is process-wide, keyed by the database's id: two coords of one
 * database in one process see each other's locks, as two daemons on one
 * Redis do.  Lock expiry is checked lazily, on the monotonic clock.
 */
#include "coord.h"

#include "os.h"
#include "sop.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

struct lentry {
    char dbid[40];
    char name[COORD_NAME_MAX + 2]; /* "" the fence counter, "#NAME" counter NAME */
    char token[COORD_TOKEN_MAX];
    uint64_t expires_ms; /* 0: free */
    uint64_t fence;      /* the counter's value (name "") */
    struct lentry *next;
};

static pthread_mutex_t local_mu = PTHREAD_MUTEX_INITIALIZER;
static struct lentry *local_all;

static struct lentry *find(const char *dbid, const char *name, bool make)
{
    for (struct lentry *e = local_all; e; e = e->next)
        if (strcmp(e->dbid, dbid) == 0 && strcmp(e->name, name) == 0)
            return e;
    if (!make)
        return NULL;
    struct lentry *e = os_calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    memcpy(e->dbid, dbid, sizeof(e->dbid));
    memcpy(e->name, name, strlen(name) + 1);
    e->next = local_all;
    local_all = e;
    return e;
}

static int local_take(struct coord *c, const char *name, const char *token, uint32_t ttl_ms,
                      uint64_t floor, uint64_t *fence, uint64_t *left_ms)
{
    pthread_mutex_lock(&local_mu);
    uint64_t now = coord_now_ms();
    struct lentry *e = find(c->dbid, name, true), *f = find(c->dbid, "", true);
    if (!e || !f) {
        pthread_mutex_unlock(&local_mu);
        return SOP_ENOMEM;
    }
    if (e->expires_ms > now) {
        *left_ms = e->expires_ms - now;
        pthread_mutex_unlock(&local_mu);
        return SOP_EBUSY;
    }
    snprintf(e->token, sizeof(e->token), "%s", token);
    e->expires_ms = now + ttl_ms;
    f->fence = (f->fence > floor ? f->fence : floor) + 1;
    *fence = f->fence;
    pthread_mutex_unlock(&local_mu);
    return 0;
}

/* 0 when token holds name now (local_mu held) */
static struct lentry *held(struct coord *c, const char *name, const char *token)
{
    struct lentry *e = find(c->dbid, name, false);
    return e && e->expires_ms > coord_now_ms() && strcmp(e->token, token) == 0 ? e : NULL;
}

static int local_extend(struct coord *c, const char *name, const char *token, uint32_t ttl_ms)
{
    pthread_mutex_lock(&local_mu);
    struct lentry *e = held(c, name, token);
    if (e)
        e->expires_ms = coord_now_ms() + ttl_ms;
    pthread_mutex_unlock(&local_mu);
    return e ? 0 : SOP_ECONFLICT;
}

static int local_release(struct coord *c, const char *name, const char *token)
{
    pthread_mutex_lock(&local_mu);
    struct lentry *e = held(c, name, token);
    if (e)
        e->expires_ms = 0;
    pthread_mutex_unlock(&local_mu);
    return e ? 0 : SOP_ECONFLICT;
}

static int local_epoch(struct coord *c, uint64_t *out)
{
    (void)c;
    *out = 1; /* a process never forgets its own memory */
    return 0;
}

static int local_next(struct coord *c, const char *name, uint64_t floor, uint64_t *out)
{
    char key[COORD_NAME_MAX + 2];
    snprintf(key, sizeof(key), "#%s", name); /* counters and locks apart */
    pthread_mutex_lock(&local_mu);
    struct lentry *e = find(c->dbid, key, true);
    if (e) {
        e->fence = (e->fence > floor ? e->fence : floor) + 1;
        *out = e->fence;
    }
    pthread_mutex_unlock(&local_mu);
    return e ? 0 : SOP_ENOMEM;
}

static void local_free(struct coord *c)
{
    (void)c; /* the table outlives a coord: another of the database may come */
}

static const struct coord_ops local_ops = {
    .kind = "local",
    .take = local_take,
    .extend = local_extend,
    .release = local_release,
    .epoch = local_epoch,
    .next = local_next,
    .free = local_free,
};

int coord_local_open(struct coord *c)
{
    c->ops = &local_ops;
    return 0;
}
