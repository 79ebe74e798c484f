/*
 * coord.c - what both sides of the coordination seam share (coord.h):
 * opening by URL, tokens, waiting for a lock, the keeper thread that
 * extends held locks, and the messages.  The sides (coord_local.c,
 * coord_redis.c) only take, extend and release a lock and tell the epoch.
 */
#define _GNU_SOURCE
#include "coord.h"

#include "config.h"
#include "codec.h"
#include "os.h"
#include "sop.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Thread_local char coord_err[512];

const char *coord_errmsg(void)
{
    return coord_err;
}

void coord_seterr(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(coord_err, sizeof(coord_err), fmt, ap);
    va_end(ap);
}

uint64_t coord_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

const char *coord_kind(const struct coord *c)
{
    return c->ops->kind;
}

int coord_open(const char *url, const char *dbid, struct coord **out)
{
    coord_err[0] = 0;
    *out = NULL;
    if (!dbid || !*dbid || strlen(dbid) >= sizeof(((struct coord *)0)->dbid)) {
        coord_seterr("coordination needs the database's id (DATA/id)");
        return SOP_EINVAL;
    }
    struct coord *c = os_calloc(1, sizeof(*c));
    if (!c)
        return SOP_ENOMEM;
    snprintf(c->dbid, sizeof(c->dbid), "%s", dbid);
    char host[40] = "";
    gethostname(host, sizeof(host) - 1);
    snprintf(c->owner, sizeof(c->owner), "%s:%ld", host, (long)getpid());
    c->timeout_ms = 2000;
    pthread_mutex_init(&c->mu, NULL);
    pthread_mutex_init(&c->kmu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->kcv, &ca);
    pthread_condattr_destroy(&ca);
    int rc;
    if (!url)
        rc = coord_local_open(c);
    else if (strncmp(url, "redis://", 8) == 0 || strncmp(url, "unix://", 7) == 0) {
#ifdef HAVE_HIREDIS
        rc = coord_redis_open(c, url);
#else
        coord_seterr("clustered mode (%s) needs Redis support, and this build of sop has none: "
                     "configure found no hiredis (install libhiredis-dev and build again)",
                     url);
        rc = SOP_EINVAL;
#endif
    } else {
        coord_seterr("%s is not a Redis URL (redis://HOST[:PORT][/DB] or unix:///PATH)", url);
        rc = SOP_EINVAL;
    }
    if (rc != 0) {
        pthread_mutex_destroy(&c->mu);
        pthread_mutex_destroy(&c->kmu);
        pthread_cond_destroy(&c->kcv);
        os_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void coord_close(struct coord *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->kmu);
    c->stopping = true;
    pthread_cond_broadcast(&c->kcv);
    pthread_mutex_unlock(&c->kmu);
    if (c->keeper_on)
        pthread_join(c->keeper, NULL);
    c->ops->free(c);
    pthread_mutex_destroy(&c->mu);
    pthread_mutex_destroy(&c->kmu);
    pthread_cond_destroy(&c->kcv);
    os_free(c);
}

static void make_token(const struct coord *c, char *out, size_t cap)
{
    uint8_t r[16];
    codec_uuid4(r);
    int n = snprintf(out, cap, "%s:", c->owner);
    for (int i = 0; i < 8 && n + 2 < (int)cap; i++)
        n += snprintf(out + n, cap - (size_t)n, "%02x", r[i]);
}

int coord_lock(struct coord *c, const char *name, uint32_t ttl_ms, uint64_t floor,
               uint32_t wait_ms, struct coord_lock *l)
{
    coord_err[0] = 0;
    if (!name || !*name || strlen(name) >= COORD_NAME_MAX || !ttl_ms) {
        coord_seterr("lock: a name of 1 to %d bytes and a time to live are needed",
                     COORD_NAME_MAX - 1);
        return SOP_EINVAL;
    }
    memset(l, 0, sizeof(*l));
    snprintf(l->name, sizeof(l->name), "%s", name);
    make_token(c, l->token, sizeof(l->token));
    l->ttl_ms = ttl_ms;
    atomic_init(&l->lost, false);
    uint64_t deadline = coord_now_ms() + wait_ms, pause = 1;
    for (;;) {
        uint64_t fence = 0, left = 0, t0 = coord_now_ms();
        pthread_mutex_lock(&c->mu);
        int rc = c->ops->take(c, name, l->token, ttl_ms, floor, &fence, &left);
        pthread_mutex_unlock(&c->mu);
        if (rc == 0 && fence <= floor) { /* the service's answer, not our invariant */
            pthread_mutex_lock(&c->mu);
            c->ops->release(c, name, l->token);
            pthread_mutex_unlock(&c->mu);
            coord_seterr("lock %s: the %s side gave fence %llu, not above %llu: refused", name,
                         c->ops->kind, (unsigned long long)fence, (unsigned long long)floor);
            return SOP_EIO;
        }
        if (rc == 0) {
            l->fence = fence;
            l->until_ms = t0 + ttl_ms; /* counted from before the request left */
            return 0;
        }
        uint64_t now = coord_now_ms();
        if (rc != SOP_EBUSY)
            return rc;
        if (now >= deadline) {
            coord_seterr("lock %s: held by another owner for %llu ms more (waited %u ms)", name,
                         (unsigned long long)left, wait_ms);
            return SOP_EBUSY;
        }
        uint64_t nap = pause;
        if (left && left < nap)
            nap = left;
        if (now + nap > deadline)
            nap = deadline - now;
        struct timespec ts = {(time_t)(nap / 1000), (long)(nap % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        if (pause < 50)
            pause *= 2;
    }
}

int coord_extend(struct coord *c, struct coord_lock *l)
{
    coord_err[0] = 0;
    uint64_t t0 = coord_now_ms();
    pthread_mutex_lock(&c->mu);
    int rc = c->ops->extend(c, l->name, l->token, l->ttl_ms);
    pthread_mutex_unlock(&c->mu);
    if (rc == 0)
        l->until_ms = t0 + l->ttl_ms;
    else if (rc == SOP_ECONFLICT) {
        atomic_store(&l->lost, true);
        coord_seterr("lock %s: no longer ours (its time to live ran out, and it may have "
                     "passed to another owner)",
                     l->name);
    }
    return rc;
}

static void unkeep(struct coord *c, struct coord_lock *l)
{
    pthread_mutex_lock(&c->kmu);
    for (struct coord_lock **p = &c->kept; *p; p = &(*p)->next)
        if (*p == l) {
            *p = l->next;
            break;
        }
    l->next = NULL;
    pthread_mutex_unlock(&c->kmu);
}

int coord_unlock(struct coord *c, struct coord_lock *l)
{
    coord_err[0] = 0;
    unkeep(c, l);
    pthread_mutex_lock(&c->mu);
    int rc = c->ops->release(c, l->name, l->token);
    pthread_mutex_unlock(&c->mu);
    if (rc == SOP_ECONFLICT) {
        atomic_store(&l->lost, true);
        coord_seterr("unlock %s: it was no longer ours (its time to live ran out); the new "
                     "owner's lock is left alone",
                     l->name);
    }
    return rc;
}

bool coord_held(const struct coord_lock *l, uint32_t margin_ms)
{
    return !atomic_load(&l->lost) && coord_now_ms() + margin_ms < l->until_ms;
}

int coord_next(struct coord *c, const char *name, uint64_t floor, uint64_t *out)
{
    coord_err[0] = 0;
    if (!name || !*name || strlen(name) >= COORD_NAME_MAX) {
        coord_seterr("counter: a name of 1 to %d bytes is needed", COORD_NAME_MAX - 1);
        return SOP_EINVAL;
    }
    pthread_mutex_lock(&c->mu);
    int rc = c->ops->next(c, name, floor, out);
    pthread_mutex_unlock(&c->mu);
    if (rc == 0 && *out <= floor) {
        coord_seterr("counter %s: the %s side gave %llu, not above %llu", name, c->ops->kind,
                     (unsigned long long)*out, (unsigned long long)floor);
        return SOP_EIO;
    }
    return rc;
}

int coord_epoch(struct coord *c, uint64_t *out)
{
    coord_err[0] = 0;
    pthread_mutex_lock(&c->mu);
    int rc = c->ops->epoch(c, out);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

/* The keeper: every pass extends each kept lock whose next third of its
 * ttl has come; a lock it finds gone, or cannot extend before it runs
 * out, is marked lost (its holder checks coord_held before it relies on
 * it).  The pass itself runs without kmu held over a call to the service,
 * so coord_unlock never waits for a slow Redis behind the keeper. */
static void *keeper_main(void *arg)
{
    struct coord *c = arg;
    pthread_mutex_lock(&c->kmu);
    while (!c->stopping) {
        uint64_t now = coord_now_ms(), next = now + 1000;
        for (struct coord_lock *l = c->kept; l; l = l->next) {
            if (atomic_load(&l->lost))
                continue;
            uint64_t due = l->until_ms - (l->ttl_ms * 2) / 3;
            if (due <= now) {
                char name[COORD_NAME_MAX], token[COORD_TOKEN_MAX];
                uint32_t ttl = l->ttl_ms;
                memcpy(name, l->name, sizeof(name));
                memcpy(token, l->token, sizeof(token));
                pthread_mutex_unlock(&c->kmu);
                uint64_t t0 = coord_now_ms();
                pthread_mutex_lock(&c->mu);
                int rc = c->ops->extend(c, name, token, ttl);
                pthread_mutex_unlock(&c->mu);
                pthread_mutex_lock(&c->kmu);
                /* l may have been unkept meanwhile: find it again */
                struct coord_lock *k = c->kept;
                while (k && k != l)
                    k = k->next;
                if (!k) {
                    next = 0; /* the list changed: start the pass again at once */
                    break;
                }
                if (rc == 0)
                    l->until_ms = t0 + ttl;
                else if (rc == SOP_ECONFLICT || coord_now_ms() >= l->until_ms)
                    atomic_store(&l->lost, true);
                due = rc == 0 ? l->until_ms - (ttl * 2) / 3 : coord_now_ms() + ttl / 10 + 1;
                now = coord_now_ms();
            }
            if (due < next)
                next = due;
        }
        if (next && next > coord_now_ms() && !c->stopping) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            uint64_t wait = next - coord_now_ms();
            ts.tv_sec += (time_t)(wait / 1000);
            ts.tv_nsec += (long)(wait % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&c->kcv, &c->kmu, &ts);
        }
    }
    pthread_mutex_unlock(&c->kmu);
    return NULL;
}

int coord_keep(struct coord *c, struct coord_lock *l)
{
    pthread_mutex_lock(&c->kmu);
    if (!c->keeper_on) {
        if (pthread_create(&c->keeper, NULL, keeper_main, c) != 0) {
            pthread_mutex_unlock(&c->kmu);
            coord_seterr("keep %s: cannot start the keeper thread", l->name);
            return SOP_ENOMEM;
        }
        c->keeper_on = true;
    }
    l->next = c->kept;
    c->kept = l;
    pthread_cond_broadcast(&c->kcv);
    pthread_mutex_unlock(&c->kmu);
    return 0;
}
