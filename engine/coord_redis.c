/*
 * coord_redis.c - the coordination seam's Redis side (coord.h), the only
 * file of sop that includes hiredis.
 *
 * Keys, all under the database's id in a hash tag, so that a Redis Cluster
 * keeps one database's keys in one slot and a script may touch them all:
 *   sop:{ID}:lock:NAME  the lock NAME: its owner's token, with a PX ttl
 *   sop:{ID}:fence      the fence counter (INCR), never below a floor
 *   sop:{ID}:epoch      a random number set when missing: it changes when
 *                       Redis restarted empty or was flushed
 *   sop:{ID}:counter:NAME  a counter (segment numbers), never below a floor
 * Taking a lock is one script: SET NX PX, and on success INCR of the
 * fence, raised above the caller's floor when Redis forgot it (a fence
 * never goes back).  Extending and releasing are scripts that compare the
 * token first (a plain DEL or PEXPIRE would touch a lock that expired and
 * passed to somebody else).  Scripts are loaded at connect and again after
 * a NOSCRIPT answer (Redis restarted, or SCRIPT FLUSH).
 *
 * Bounds: the connection is made with the URL's timeout_ms and every
 * command reads and writes with it; a failed connection is dropped and made
 * again at the next call, so calls fail within the bound while Redis is
 * away and work again once it is back, with no reopen.
 */
#define _GNU_SOURCE
#include "coord.h"

#include "codec.h"
#include "os.h"
#include "sop.h"

#include <hiredis.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

enum { S_TAKE, S_EXTEND, S_RELEASE, S_EPOCH, S_NEXT, S_N };

/* KEYS: lock, fence, epoch; ARGV: token, ttl, floor, an epoch if missing */
static const char *const scripts[S_N] = {
    [S_TAKE] = "local e = redis.call('get', KEYS[3])\n"
               "if not e then redis.call('set', KEYS[3], ARGV[4]); e = ARGV[4] end\n"
               "if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then\n"
               "  local f = redis.call('incr', KEYS[2])\n"
               "  local floor = tonumber(ARGV[3])\n"
               "  if f <= floor then f = floor + 1; redis.call('set', KEYS[2], f) end\n"
               "  return {1, f, e}\n"
               "end\n"
               "return {0, redis.call('pttl', KEYS[1]), e}\n",
    /* KEYS: lock; ARGV: token, ttl */
    [S_EXTEND] = "if redis.call('get', KEYS[1]) == ARGV[1] then\n"
                 "  return redis.call('pexpire', KEYS[1], ARGV[2])\n"
                 "end\n"
                 "return 0\n",
    /* KEYS: lock; ARGV: token */
    [S_RELEASE] = "if redis.call('get', KEYS[1]) == ARGV[1] then\n"
                  "  return redis.call('del', KEYS[1])\n"
                  "end\n"
                  "return 0\n",
    /* KEYS: epoch; ARGV: an epoch if missing */
    [S_EPOCH] = "local e = redis.call('get', KEYS[1])\n"
                "if not e then redis.call('set', KEYS[1], ARGV[1]); e = ARGV[1] end\n"
                "return e\n",
    /* KEYS: counter; ARGV: floor */
    [S_NEXT] = "local n = redis.call('incr', KEYS[1])\n"
               "local floor = tonumber(ARGV[1])\n"
               "if n <= floor then n = floor + 1; redis.call('set', KEYS[1], n) end\n"
               "return n\n",
};

struct rside {
    redisContext *rc;
    char where[300]; /* "redis 127.0.0.1:6379" or "redis unix:/path", for messages */
    char host[256];
    char *sock; /* a unix socket's path, or NULL */
    int port, db;
    char *user, *pass;
    char sha[S_N][48];
};

static void drop(struct rside *r)
{
    if (r->rc)
        redisFree(r->rc);
    r->rc = NULL;
}

static struct timeval tv_of(uint32_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    return tv;
}

/* One command on the connection, made first if needed.  NULL: the
 * connection failed (dropped, coord_errmsg says why).  An error reply is
 * returned as such. */
static redisReply *run(struct coord *c, int argc, const char **argv, const size_t *lens);

static int fail_reply(struct coord *c, const char *what, redisReply *rep)
{
    struct rside *r = c->side;
    if (rep && rep->type == REDIS_REPLY_ERROR)
        coord_seterr("%s: %s: Redis answered: %.*s", r->where, what, (int)rep->len, rep->str);
    else if (rep)
        coord_seterr("%s: %s: an answer of an unexpected type (%d)", r->where, what, rep->type);
    if (rep)
        freeReplyObject(rep);
    return SOP_EIO;
}

static int load_scripts(struct coord *c)
{
    struct rside *r = c->side;
    for (int i = 0; i < S_N; i++) {
        const char *argv[] = {"SCRIPT", "LOAD", scripts[i]};
        size_t lens[] = {6, 4, strlen(scripts[i])};
        redisReply *rep = run(c, 3, argv, lens);
        if (!rep)
            return SOP_EIO;
        if (rep->type != REDIS_REPLY_STRING || rep->len >= sizeof(r->sha[i]))
            return fail_reply(c, "load a script", rep);
        memcpy(r->sha[i], rep->str, rep->len);
        r->sha[i][rep->len] = 0;
        freeReplyObject(rep);
    }
    return 0;
}

static int connect_now(struct coord *c)
{
    struct rside *r = c->side;
    struct timeval tv = tv_of(c->timeout_ms);
    r->rc = r->sock ? redisConnectUnixWithTimeout(r->sock, tv)
                    : redisConnectWithTimeout(r->host, r->port, tv);
    if (!r->rc || r->rc->err) {
        coord_seterr("%s: connect: %s (within %u ms)", r->where,
                     r->rc ? r->rc->errstr : "out of memory", c->timeout_ms);
        drop(r);
        return SOP_EIO;
    }
    if (redisSetTimeout(r->rc, tv) != REDIS_OK) {
        coord_seterr("%s: cannot set the connection's timeout", r->where);
        drop(r);
        return SOP_EIO;
    }
    if (!r->sock)
        redisEnableKeepAlive(r->rc);
    redisReply *rep = NULL;
    if (r->pass) {
        rep = r->user ? redisCommand(r->rc, "AUTH %s %s", r->user, r->pass)
                      : redisCommand(r->rc, "AUTH %s", r->pass);
        if (!rep || rep->type == REDIS_REPLY_ERROR) {
            if (rep)
                coord_seterr("%s: AUTH refused: %.*s", r->where, (int)rep->len, rep->str);
            else
                coord_seterr("%s: AUTH: %s", r->where, r->rc->errstr);
            goto fail;
        }
        freeReplyObject(rep);
    }
    if (r->db) {
        rep = redisCommand(r->rc, "SELECT %d", r->db);
        if (!rep || rep->type == REDIS_REPLY_ERROR) {
            if (rep)
                coord_seterr("%s: SELECT %d refused: %.*s", r->where, r->db, (int)rep->len,
                             rep->str);
            else
                coord_seterr("%s: SELECT: %s", r->where, r->rc->errstr);
            goto fail;
        }
        freeReplyObject(rep);
    }
    return load_scripts(c);
fail:
    if (rep)
        freeReplyObject(rep);
    drop(r);
    return SOP_EIO;
}

static redisReply *run(struct coord *c, int argc, const char **argv, const size_t *lens)
{
    struct rside *r = c->side;
    bool fresh = !r->rc;
    if (!r->rc && connect_now(c) != 0)
        return NULL;
    redisReply *rep = redisCommandArgv(r->rc, argc, argv, lens);
    if (!rep && !fresh &&
        (r->rc->err == REDIS_ERR_EOF ||
         (r->rc->err == REDIS_ERR_IO && (errno == ECONNRESET || errno == EPIPE)))) {
        /* a connection that died while idle (Redis restarted): the command
         * never ran there, so once on a new one is safe; a timeout is not
         * retried (the command may have run) */
        drop(r);
        if (connect_now(c) != 0)
            return NULL;
        rep = redisCommandArgv(r->rc, argc, argv, lens);
    }
    if (!rep) {
        coord_seterr("%s: %s: %s (within %u ms)", r->where, argv[0],
                     r->rc->errstr[0] ? r->rc->errstr : "no answer", c->timeout_ms);
        drop(r); /* a late answer must not be taken for the next command's */
    }
    return rep;
}

static void key(const struct coord *c, char *out, size_t cap, const char *what, const char *name)
{
    snprintf(out, cap, "sop:{%s}:%s%s", c->dbid, what, name ? name : "");
}

/* EVALSHA script i, loading the scripts again after NOSCRIPT. */
static redisReply *eval(struct coord *c, int i, int nkeys, const char **keys, int nargs,
                        const char **args)
{
    struct rside *r = c->side;
    const char *argv[12];
    size_t lens[12];
    char nk[8];
    snprintf(nk, sizeof(nk), "%d", nkeys);
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!r->rc && connect_now(c) != 0)
            return NULL;
        int n = 0;
        argv[n++] = "EVALSHA";
        argv[n++] = r->sha[i];
        argv[n++] = nk;
        for (int k = 0; k < nkeys; k++)
            argv[n++] = keys[k];
        for (int k = 0; k < nargs; k++)
            argv[n++] = args[k];
        for (int k = 0; k < n; k++)
            lens[k] = strlen(argv[k]);
        redisReply *rep = run(c, n, argv, lens);
        if (!rep || rep->type != REDIS_REPLY_ERROR || strncmp(rep->str, "NOSCRIPT", 8) != 0 ||
            attempt)
            return rep;
        freeReplyObject(rep);
        if (load_scripts(c) != 0)
            return NULL;
    }
    return NULL;
}

static void new_epoch(char *out, size_t cap)
{
    uint8_t b[16];
    uint64_t e;
    codec_uuid4(b);
    memcpy(&e, b, sizeof(e));
    snprintf(out, cap, "%llu", (unsigned long long)(e >> 1) + 1);
}

static int r_take(struct coord *c, const char *name, const char *token, uint32_t ttl_ms,
                  uint64_t floor, uint64_t *fence, uint64_t *left_ms)
{
    char kl[200], kf[200], ke[200], ttl[16], fl[24], ep[24];
    key(c, kl, sizeof(kl), "lock:", name);
    key(c, kf, sizeof(kf), "fence", NULL);
    key(c, ke, sizeof(ke), "epoch", NULL);
    snprintf(ttl, sizeof(ttl), "%u", ttl_ms);
    snprintf(fl, sizeof(fl), "%llu", (unsigned long long)floor);
    new_epoch(ep, sizeof(ep));
    const char *keys[] = {kl, kf, ke}, *args[] = {token, ttl, fl, ep};
    redisReply *rep = eval(c, S_TAKE, 3, keys, 4, args);
    if (!rep)
        return SOP_EIO;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 3 ||
        rep->element[0]->type != REDIS_REPLY_INTEGER ||
        rep->element[1]->type != REDIS_REPLY_INTEGER)
        return fail_reply(c, "take a lock", rep);
    bool got = rep->element[0]->integer == 1;
    long long v = rep->element[1]->integer;
    freeReplyObject(rep);
    if (got) {
        *fence = (uint64_t)v;
        return 0;
    }
    *left_ms = v > 0 ? (uint64_t)v : 0;
    return SOP_EBUSY;
}

static int token_script(struct coord *c, int which, const char *name, const char *token,
                        uint32_t ttl_ms)
{
    char kl[200], ttl[16];
    key(c, kl, sizeof(kl), "lock:", name);
    snprintf(ttl, sizeof(ttl), "%u", ttl_ms);
    const char *keys[] = {kl}, *args[] = {token, ttl};
    redisReply *rep = eval(c, which, 1, keys, which == S_EXTEND ? 2 : 1, args);
    if (!rep)
        return SOP_EIO;
    if (rep->type != REDIS_REPLY_INTEGER)
        return fail_reply(c, which == S_EXTEND ? "extend a lock" : "release a lock", rep);
    long long v = rep->integer;
    freeReplyObject(rep);
    return v == 1 ? 0 : SOP_ECONFLICT;
}

static int r_extend(struct coord *c, const char *name, const char *token, uint32_t ttl_ms)
{
    return token_script(c, S_EXTEND, name, token, ttl_ms);
}

static int r_release(struct coord *c, const char *name, const char *token)
{
    return token_script(c, S_RELEASE, name, token, 0);
}

static int r_epoch(struct coord *c, uint64_t *out)
{
    char ke[200], ep[24];
    key(c, ke, sizeof(ke), "epoch", NULL);
    new_epoch(ep, sizeof(ep));
    const char *keys[] = {ke}, *args[] = {ep};
    redisReply *rep = eval(c, S_EPOCH, 1, keys, 1, args);
    if (!rep)
        return SOP_EIO;
    if (rep->type != REDIS_REPLY_STRING)
        return fail_reply(c, "read the epoch", rep);
    *out = strtoull(rep->str, NULL, 10);
    freeReplyObject(rep);
    return 0;
}

static int r_next(struct coord *c, const char *name, uint64_t floor, uint64_t *out)
{
    char kc[200], fl[24];
    key(c, kc, sizeof(kc), "counter:", name);
    snprintf(fl, sizeof(fl), "%llu", (unsigned long long)floor);
    const char *keys[] = {kc}, *args[] = {fl};
    redisReply *rep = eval(c, S_NEXT, 1, keys, 1, args);
    if (!rep)
        return SOP_EIO;
    if (rep->type != REDIS_REPLY_INTEGER || rep->integer < 0)
        return fail_reply(c, "draw from a counter", rep);
    *out = (uint64_t)rep->integer;
    freeReplyObject(rep);
    return 0;
}

static void r_free(struct coord *c)
{
    struct rside *r = c->side;
    drop(r);
    os_free(r->sock);
    os_free(r->user);
    os_free(r->pass);
    os_free(r);
}

static const struct coord_ops redis_ops = {
    .kind = "redis",
    .take = r_take,
    .extend = r_extend,
    .release = r_release,
    .epoch = r_epoch,
    .next = r_next,
    .free = r_free,
};

/* The query's parameters: db=N (unix sockets), timeout_ms=N. */
static int parse_query(struct coord *c, struct rside *r, const char *url, const char *q)
{
    while (q && *q) {
        const char *amp = strchr(q, '&');
        size_t n = amp ? (size_t)(amp - q) : strlen(q);
        char kv[64];
        if (n >= sizeof(kv))
            goto bad;
        memcpy(kv, q, n);
        kv[n] = 0;
        char *eq = strchr(kv, '='), *end;
        if (!eq)
            goto bad;
        *eq++ = 0;
        errno = 0;
        unsigned long v = strtoul(eq, &end, 10);
        if (!*eq || *end || errno)
            goto bad;
        if (strcmp(kv, "timeout_ms") == 0 && v >= 1 && v <= 600000)
            c->timeout_ms = (uint32_t)v;
        else if (strcmp(kv, "lock_ttl_ms") == 0 && v >= 100 && v <= 600000)
            c->lock_ttl_ms = (uint32_t)v;
        else if (strcmp(kv, "db") == 0 && v < 100000)
            r->db = (int)v;
        else
            goto bad;
        q = amp ? amp + 1 : NULL;
    }
    return 0;
bad:
    coord_seterr("%s: the URL's parameters are db=N, timeout_ms=N (1 to 600000) and "
                 "lock_ttl_ms=N (100 to 600000)",
                 url);
    return SOP_EINVAL;
}

/* redis://[[user]:password@]host[:port][/db][?query] or unix:///path[?query] */
static int parse_url(struct coord *c, struct rside *r, const char *url)
{
    char buf[1024];
    if (strlen(url) >= sizeof(buf)) {
        coord_seterr("a Redis URL of over %zu bytes", sizeof(buf) - 1);
        return SOP_EINVAL;
    }
    snprintf(buf, sizeof(buf), "%s", url);
    char *q = strchr(buf, '?');
    if (q)
        *q++ = 0;
    r->port = 6379;
    if (strncmp(buf, "unix://", 7) == 0) {
        if (buf[7] != '/' || !buf[8]) {
            coord_seterr("%s: a unix socket URL is unix:///PATH", url);
            return SOP_EINVAL;
        }
        if (!(r->sock = os_strdup(buf + 7)))
            return SOP_ENOMEM;
        snprintf(r->where, sizeof(r->where), "redis unix:%s", r->sock);
        return parse_query(c, r, url, q);
    }
    char *h = buf + 8, *at = strrchr(h, '@');
    if (at) {
        *at = 0;
        char *colon = strchr(h, ':');
        if (!colon) {
            coord_seterr("%s: credentials are [user]:password@", url);
            return SOP_EINVAL;
        }
        *colon = 0;
        if (*h && !(r->user = os_strdup(h)))
            return SOP_ENOMEM;
        if (!(r->pass = os_strdup(colon + 1)))
            return SOP_ENOMEM;
        h = at + 1;
    }
    char *slash = strchr(h, '/');
    if (slash) {
        *slash++ = 0;
        char *end;
        errno = 0;
        long db = strtol(slash, &end, 10);
        if (*slash && (*end || errno || db < 0 || db > 99999)) {
            coord_seterr("%s: the database after the host is a number", url);
            return SOP_EINVAL;
        }
        r->db = (int)db;
    }
    char *port = NULL;
    if (*h == '[') { /* [IPv6]:port */
        char *close = strchr(h, ']');
        if (!close) {
            coord_seterr("%s: an IPv6 host is written [ADDRESS]", url);
            return SOP_EINVAL;
        }
        *close = 0;
        h++;
        if (close[1] == ':')
            port = close + 2;
        else if (close[1]) {
            coord_seterr("%s: after [ADDRESS] comes :PORT", url);
            return SOP_EINVAL;
        }
    } else if ((port = strchr(h, ':')))
        *port++ = 0;
    if (!*h || strlen(h) >= sizeof(r->host)) {
        coord_seterr("%s: no host (redis://HOST[:PORT][/DB])", url);
        return SOP_EINVAL;
    }
    snprintf(r->host, sizeof(r->host), "%s", h);
    if (port) {
        char *end;
        errno = 0;
        long p = strtol(port, &end, 10);
        if (!*port || *end || errno || p < 1 || p > 65535) {
            coord_seterr("%s: the port is a number from 1 to 65535", url);
            return SOP_EINVAL;
        }
        r->port = (int)p;
    }
    snprintf(r->where, sizeof(r->where), "redis %s:%d", r->host, r->port);
    return parse_query(c, r, url, q);
}

int coord_redis_open(struct coord *c, const char *url)
{
    struct rside *r = os_calloc(1, sizeof(*r));
    if (!r)
        return SOP_ENOMEM;
    c->side = r;
    c->ops = &redis_ops;
    int rc = parse_url(c, r, url);
    if (rc == 0)
        rc = connect_now(c);
    if (rc != 0) {
        r_free(c);
        c->side = NULL;
    }
    return rc;
}
