/*
 * db.c - opening, recovering, checkpointing and closing a database, and the
 * catalog of stores.
 *
 * Recovery at open (every step idempotent, so a crash during recovery is
 * recovered by the next open):
 *  R1. take the folder's flock (SOP_EBUSY if another process has it);
 *  R2. load DATA/checkpoint if present: the registry and catalog as of
 *      commit `seq`, and the log position replay starts from; a checkpoint
 *      whose crc fails is SOP_ECORRUPT (it is written to a temporary name,
 *      fsynced and renamed, so a crash never leaves a torn one);
 *  R3. scan the segments from that position; every valid commit record
 *      with seq = last + 1 is applied (registry entries, store infos).  A
 *      segment's scan stops at its first invalid record: a torn tail,
 *      never acknowledged.  A commit whose seq jumps (a gap) means lost
 *      data in the middle of the log: SOP_ECORRUPT, nothing is guessed;
 *  R4. the last segment is cut at the end of its valid part (ftruncate +
 *      fsync), so later appends never follow garbage; what is cut is kept
 *      in DATA/torn-*.bin unless it is all zeros (written ahead by blob.c).
 *
 * Checkpoint file (little-endian):
 *   "SOPCKPT1", u32 format (1), u64 seq, u32 log seg, u64 log offset,
 *   u32 floor (segments below it are garbage: compact.c),
 *   u64 n, n x {16 lid, u64 idx, u32 seg, u64 off, u32 len},
 *   u32 m, m x store info (info_encode), u32 crc32 of all the above.
 */
#define _GNU_SOURCE
#include "db.h"

#include "corrupt.h"

#include "codec.h"
#include "dbid.h"
#include "os.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>

#define CKPT_MAGIC "SOPCKPT1"
/* 1: entries {id, index, segment, offset, length}; 2: and the segment
 * where the entry's delta chain begins (registry.h, rver.base) */
#define CKPT_FORMAT 2
#define MARKER "sop database format 1\n"

uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t coarse_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void db_seterr(sop_db *db, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(db->errmsg, sizeof(db->errmsg), fmt, ap);
    va_end(ap);
}

void db_report(sop_db *db, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    char *r = os_realloc(db->report, db->report_len + (size_t)n + 1);
    if (!r)
        return;
    memcpy(r + db->report_len, line, (size_t)n);
    db->report = r;
    db->report_len += (size_t)n;
    r[db->report_len] = '\0';
}

SOP_API const char *sop_db_recovery_report(sop_db *db)
{
    return db && db->report ? db->report : "";
}

SOP_API const char *sop_db_id(sop_db *db)
{
    return db ? db->id : "";
}

static _Thread_local char open_err[512];

SOP_API const char *sop_open_errmsg(void)
{
    return open_err;
}

SOP_API const char *sop_db_errmsg(sop_db *db)
{
    return db ? db->errmsg : "no database";
}

/* ------------------------------------------------------------ store info */

void info_free(struct store_info *i)
{
    os_free(i->name);
    os_free(i->description);
    os_free(i->relations);
    os_free(i->kind);
    memset(i, 0, sizeof(*i));
}

static int sdup(char **dst, const char *src)
{
    *dst = os_strdup(src ? src : "");
    return *dst ? 0 : SOP_ENOMEM;
}

int info_copy(struct store_info *dst, const struct store_info *src)
{
    *dst = *src;
    dst->name = dst->description = dst->relations = dst->kind = NULL;
    if (sdup(&dst->name, src->name) || sdup(&dst->description, src->description) ||
        sdup(&dst->relations, src->relations) || sdup(&dst->kind, src->kind)) {
        info_free(dst);
        return SOP_ENOMEM;
    }
    return 0;
}

void info_encode(const struct store_info *i, struct wbuf *w)
{
    wb_bytes(w, i->id.b, 16);
    wb_blob(w, i->name, strlen(i->name));
    wb_u32(w, i->slot_length);
    wb_u32(w, i->chunk_size);
    wb_u8(w, (uint8_t)((i->unique ? 1 : 0) | (i->value_in_node ? 2 : 0)));
    wb_blob(w, i->description, strlen(i->description));
    wb_blob(w, i->relations, strlen(i->relations));
    wb_blob(w, i->kind, strlen(i->kind));
    wb_bytes(w, i->root.b, 16);
    wb_u64(w, i->count);
    wb_u64(w, i->created_ns);
    wb_u64(w, i->modified_ns);
}

static int rb_str(struct rbuf *r, char **out)
{
    size_t n;
    const uint8_t *p = rb_blob(r, &n);
    if ((!p && n) || r->err)
        return SOP_CORRUPT("store info: a name does not decode");
    *out = os_malloc(n + 1);
    if (!*out)
        return SOP_ENOMEM;
    if (n)
        memcpy(*out, p, n);
    (*out)[n] = 0;
    return 0;
}

int info_decode(struct rbuf *r, struct store_info *i)
{
    int rc;
    memset(i, 0, sizeof(*i));
    const uint8_t *p = rb_bytes(r, 16);
    if (p)
        memcpy(i->id.b, p, 16);
    if ((rc = rb_str(r, &i->name)) != 0)
        goto bad;
    i->slot_length = rb_u32(r);
    i->chunk_size = rb_u32(r);
    uint8_t f = rb_u8(r);
    i->unique = f & 1;
    i->value_in_node = (f & 2) != 0;
    if ((rc = rb_str(r, &i->description)) || (rc = rb_str(r, &i->relations)) ||
        (rc = rb_str(r, &i->kind)))
        goto bad;
    p = rb_bytes(r, 16);
    if (p)
        memcpy(i->root.b, p, 16);
    i->count = rb_u64(r);
    i->created_ns = rb_u64(r);
    i->modified_ns = rb_u64(r);
    if (r->err || i->slot_length < 4 || i->chunk_size == 0) {
        rc = SOP_CORRUPT("store info: does not decode, or its options are out of range");
        goto bad;
    }
    return 0;
bad:
    info_free(i);
    return rc;
}

/* ------------------------------------------------------------ catalog */

static size_t cat_pos(const struct catalog *c, const char *name, bool *found)
{
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int r = strcmp(c->v[mid].name, name);
        if (r == 0) {
            *found = true;
            return mid;
        }
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

const struct sver *cat_get(const struct catalog *c, const char *name, uint64_t snap)
{
    bool found;
    size_t i = cat_pos(c, name, &found);
    if (!found)
        return NULL;
    for (const struct sver *v = c->v[i].ver; v; v = v->older)
        if (v->seq <= snap)
            return v->dead ? NULL : v;
    return NULL;
}

static void sver_free_chain(struct sver *v)
{
    while (v) {
        struct sver *o = v->older;
        info_free(&v->info);
        os_free(v);
        v = o;
    }
}

int cat_reserve(struct catalog *c, size_t extra)
{
    if (c->n + extra <= c->cap)
        return 0;
    size_t cap = c->cap ? c->cap * 2 : 16;
    while (cap < c->n + extra)
        cap *= 2;
    struct sent *p = os_realloc(c->v, cap * sizeof(*p));
    if (!p)
        return SOP_ENOMEM;
    c->v = p;
    c->cap = cap;
    return 0;
}

void cat_link(struct catalog *c, const char *name, struct sver *v, char **spare, uint64_t keep_from)
{
    bool found;
    size_t i = cat_pos(c, name, &found);
    if (!found) {
        assert(c->n < c->cap && spare && *spare && !strcmp(*spare, name));
        memmove(&c->v[i + 1], &c->v[i], (c->n - i) * sizeof(*c->v));
        c->v[i].name = *spare;
        c->v[i].ver = NULL;
        *spare = NULL;
        c->n++;
    }
    v->older = c->v[i].ver;
    c->v[i].ver = v;
    for (struct sver *p = v; p; p = p->older)
        if (p->seq <= keep_from) {
            sver_free_chain(p->older);
            p->older = NULL;
            break;
        }
}

int cat_set(struct catalog *c, const char *name, uint64_t seq, const struct store_info *info,
            bool dead, uint64_t keep_from)
{
    bool found;
    cat_pos(c, name, &found);
    struct sver *v = os_calloc(1, sizeof(*v));
    char *spare = found ? NULL : os_strdup(name);
    if (!v || (!found && !spare) || (info && info_copy(&v->info, info) != 0) ||
        (!found && cat_reserve(c, 1) != 0)) {
        if (v)
            info_free(&v->info);
        os_free(v);
        os_free(spare);
        return SOP_ENOMEM;
    }
    v->seq = seq;
    v->dead = dead;
    cat_link(c, name, v, &spare, keep_from);
    return 0;
}

static void cat_free(struct catalog *c)
{
    for (size_t i = 0; i < c->n; i++) {
        os_free(c->v[i].name);
        sver_free_chain(c->v[i].ver);
    }
    os_free(c->v);
    memset(c, 0, sizeof(*c));
}

/* ------------------------------------------------------------ snapshots */

bool db_txn_holds_snapshot(const sop_db *db, const struct txn_base *t, uint64_t now)
{
    /* a transaction past its maximum age (with a margin for a call already
     * under way: a minute, or the maximum age when shorter) can read no
     * more: it holds nothing back, unless it has no maximum age */
    uint64_t age = db->opts.txn_max_age_ms;
    uint64_t limit = (age + (age < 60000 ? age : 60000)) * 1000000ull;
    return (t->mode & SOP_TXN_NOAGE) || now - t->begin_ns <= limit;
}

uint64_t db_oldest_locked(sop_db *db, uint64_t upto)
{
    uint64_t now = coarse_ns();
    for (const struct txn_base *t = db->active; t; t = t->next)
        if (t->snap < upto && db_txn_holds_snapshot(db, t, now))
            upto = t->snap;
    return upto;
}

uint64_t db_oldest_snapshot(sop_db *db)
{
    pthread_mutex_lock(&db->txn_mu);
    uint64_t m = db_oldest_locked(db, db->seq);
    pthread_mutex_unlock(&db->txn_mu);
    return m;
}

/* ------------------------------------------------------------ checkpoint */

struct ckw {
    struct wbuf *w;
    uint64_t n;
};

static int ck_one(const struct rkey *k, const struct rver *v, void *arg)
{
    struct ckw *c = arg;
    wb_bytes(c->w, k->id.b, 16);
    wb_u64(c->w, k->idx);
    wb_u32(c->w, v->loc.seg);
    wb_u64(c->w, v->loc.off);
    wb_u32(c->w, v->loc.len);
    wb_u32(c->w, v->base);
    c->n++;
    return c->w->err ? SOP_ENOMEM : 0;
}

int db_checkpoint(sop_db *db)
{
    struct wbuf w;
    char tmp[4096], fin[4096];
    int rc, fd = -1;
    /* everything the checkpoint points at must be durable first */
    if ((rc = db_sync(db)) != 0) {
        db_seterr(db, "checkpoint: %s", db->log.err);
        return rc;
    }
    wb_init(&w);
    pthread_rwlock_rdlock(&db->lock);
    wb_bytes(&w, CKPT_MAGIC, 8);
    wb_u32(&w, CKPT_FORMAT);
    wb_u64(&w, db->seq);
    pthread_mutex_lock(&db->log.mu);
    wb_u32(&w, db->log.cur);
    wb_u64(&w, db->log.cur_off);
    uint32_t ckpt_seg = db->log.cur;
    uint64_t appended = db->log.appended;
    wb_u32(&w, db->floor_seg);
    pthread_mutex_unlock(&db->log.mu);
    size_t npos = w.len;
    wb_u64(&w, 0);
    struct ckw c = {.w = &w, .n = 0};
    rc = reg_foreach_ver(&db->reg, ck_one, &c);
    if (!w.err)
        put_u64(w.p + npos, c.n);
    uint32_t nst = 0;
    size_t spos = w.len;
    wb_u32(&w, 0);
    for (size_t i = 0; i < db->cat.n; i++) {
        const struct sver *v = db->cat.v[i].ver;
        if (v && !v->dead) {
            info_encode(&v->info, &w);
            nst++;
        }
    }
    pthread_rwlock_unlock(&db->lock);
    if (w.err || rc) {
        rc = rc ? rc : SOP_ENOMEM;
        goto out;
    }
    put_u32(w.p + spos, nst);
    wb_u32(&w, codec_crc32(0, w.p, w.len));
    if (w.err) {
        rc = SOP_ENOMEM;
        goto out;
    }
    snprintf(tmp, sizeof(tmp), "%s/checkpoint.tmp", db->path);
    snprintf(fin, sizeof(fin), "%s/checkpoint", db->path);
    fd = db->os->open(db->os, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        db_seterr(db, "checkpoint: create %s: %s", tmp, strerror(-fd));
        rc = os_err(fd);
        goto out;
    }
    int r = os_pwrite_full(db->os, fd, w.p, w.len, 0);
    if (r == 0)
        r = db->os->fsync(db->os, fd);
    db->os->close(db->os, fd);
    /* the previous checkpoint stays as checkpoint.prev: if the new one is
     * ever damaged, recovery starts from it and replays the log since */
    char prev[4200];
    snprintf(prev, sizeof(prev), "%s/checkpoint.prev", db->path);
    if (r == 0) {
        r = db->os->rename(db->os, fin, prev);
        if (r == -ENOENT)
            r = 0;
    }
    if (r == 0)
        r = db->os->rename(db->os, tmp, fin);
    if (r == 0)
        r = db->os->fsync_dir(db->os, db->path);
    if (r < 0) {
        db_seterr(db, "checkpoint: write %s: %s", fin, strerror(-r));
        db->os->unlink(db->os, tmp);
        rc = os_err(r);
        goto out;
    }
    db->ckpt_at = appended;
    db->ckpt_seg[1] = db->ckpt_seg[0];
    db->ckpt_seg[0] = ckpt_seg;
out:
    wb_free(&w);
    return rc;
}

/* Load checkpoint file `name`: 0, SOP_ENOTFOUND when there is none,
 * SOP_ECORRUPT when it does not check (nothing loaded then), or an error. */
static int load_one(sop_db *db, const char *name, uint32_t *seg, uint64_t *off)
{
    char p[4096];
    uint64_t size;
    uint8_t *buf = NULL;
    int rc = 0;
    snprintf(p, sizeof(p), "%s/%s", db->path, name);
    int fd = db->os->open(db->os, p, O_RDONLY, 0);
    if (fd == -ENOENT)
        return SOP_ENOTFOUND;
    if (fd < 0) {
        db_seterr(db, "open: read %s: %s", p, strerror(-fd));
        return os_err(fd);
    }
    if ((rc = db->os->fsize(db->os, fd, &size)) < 0) {
        rc = os_err(rc);
        goto out;
    }
    if (size < 40 || !(buf = os_malloc(size))) {
        rc = size < 40 ? SOP_CORRUPT("checkpoint: shorter than its header") : SOP_ENOMEM;
        goto bad;
    }
    if ((rc = os_pread_full(db->os, fd, buf, size, 0)) < 0) {
        rc = os_err(rc);
        goto bad;
    }
    if (memcmp(buf, CKPT_MAGIC, 8) || codec_crc32(0, buf, size - 4) != get_u32(buf + size - 4)) {
        rc = SOP_CORRUPT(memcmp(buf, CKPT_MAGIC, 8) ? "checkpoint: not a checkpoint"
                                                    : "checkpoint: crc mismatch");
        goto bad;
    }
    struct rbuf r;
    rb_init(&r, buf + 8, size - 12);
    uint32_t format = rb_u32(&r);
    if (format > CKPT_FORMAT && format < 1024) {
        /* whole (its crc holds) but newer than this build: not damage */
        db_seterr(db,
                  "open: %s was written by a newer sop (checkpoint format %u; this build reads "
                  "formats 1 to %u): open it with that version",
                  p, format, CKPT_FORMAT);
        rc = SOP_EINVAL;
        goto out;
    }
    if (format < 1 || format > CKPT_FORMAT) {
        rc = SOP_CORRUPT("checkpoint: unknown format");
        goto bad;
    }
    db->seq = rb_u64(&r);
    *seg = rb_u32(&r);
    *off = rb_u64(&r);
    db->floor_seg = rb_u32(&r);
    uint64_t n = rb_u64(&r);
    for (uint64_t i = 0; i < n && !r.err; i++) {
        struct rkey k;
        struct loc l;
        const uint8_t *id = rb_bytes(&r, 16);
        if (!id)
            break;
        memcpy(k.id.b, id, 16);
        k.idx = rb_u64(&r);
        l.seg = rb_u32(&r);
        l.off = rb_u64(&r);
        l.len = rb_u32(&r);
        /* format 1 did not say where delta chains begin: anywhere */
        uint32_t base = format >= 2 ? rb_u32(&r) : 0;
        if ((rc = reg_set(&db->reg, &k, db->seq, &l, base, false, db->seq)) != 0)
            goto out;
    }
    uint32_t m = rb_u32(&r);
    for (uint32_t i = 0; i < m && !r.err; i++) {
        struct store_info si;
        if ((rc = info_decode(&r, &si)) != 0)
            goto bad;
        rc = cat_set(&db->cat, si.name, db->seq, &si, false, db->seq);
        info_free(&si);
        if (rc)
            goto out;
    }
    if (r.err || r.pos != r.len) {
        rc = SOP_CORRUPT("checkpoint: its tables do not decode");
        goto bad;
    }
    goto out;
bad:
    if (rc == SOP_ECORRUPT)
        db_seterr(db, "open: checkpoint %s is damaged (checksum or format mismatch)", p);
    else
        db_seterr(db, "open: read checkpoint %s: %s", p, sop_strerror(rc));
out:
    os_free(buf);
    db->os->close(db->os, fd);
    return rc;
}

/* The segment where checkpoint file `name` starts replay, read from its
 * header without checking the rest; 0 when it cannot be read (reclaim.c
 * then removes no segment it might need). */
static uint32_t ckpt_start(sop_db *db, const char *name)
{
    char p[4096];
    uint8_t h[24];
    snprintf(p, sizeof(p), "%s/%s", db->path, name);
    int fd = db->os->open(db->os, p, O_RDONLY, 0);
    if (fd < 0)
        return 0;
    int r = os_pread_full(db->os, fd, h, sizeof(h), 0);
    db->os->close(db->os, fd);
    if (r < 0 || memcmp(h, CKPT_MAGIC, 8))
        return 0;
    return get_u32(h + 20);
}

/* Forget what a checkpoint that failed half-way loaded. */
static int clear_loaded(sop_db *db)
{
    reg_free(&db->reg);
    cat_free(&db->cat);
    memset(&db->cat, 0, sizeof(db->cat));
    db->seq = 0;
    db->floor_seg = 0;
    return reg_init(&db->reg);
}

/* R2: the newest checkpoint, else the one before it (the log replayed
 * from there loses nothing); a salvage open goes on from the log's start
 * when both are damaged. */
static int load_checkpoint(sop_db *db, uint32_t *seg, uint64_t *off)
{
    *seg = 1;
    *off = 0;
    int rc = load_one(db, "checkpoint", seg, off);
    if (rc == 0) {
        db->ckpt_seg[0] = *seg;
        db->ckpt_seg[1] = ckpt_start(db, "checkpoint.prev");
        return 0;
    }
    int first = rc;
    char why[512];
    snprintf(why, sizeof(why), "%s", db->errmsg);
    if (rc != SOP_ENOTFOUND && rc != SOP_ECORRUPT)
        return rc;
    if ((rc = clear_loaded(db)) != 0)
        return rc;
    /* whatever is used instead, the close writes a good checkpoint again */
    db->ckpt_heal = first == SOP_ECORRUPT;
    rc = load_one(db, "checkpoint.prev", seg, off);
    if (rc == 0) {
        /* "checkpoint" is damaged or absent: no replay start to trust there */
        db->ckpt_seg[0] = 0;
        db->ckpt_seg[1] = *seg;
        if (first == SOP_ECORRUPT) {
            db->report_problems++;
            db_report(db,
                      "checkpoint: %s; the previous checkpoint was used and the log replayed "
                      "from it",
                      why);
        }
        return 0;
    }
    if (rc == SOP_ENOTFOUND && first == SOP_ENOTFOUND) {
        db->errmsg[0] = '\0';
        *seg = 1;
        *off = 0;
        return 0; /* a new database */
    }
    if (rc != SOP_ECORRUPT && rc != SOP_ENOTFOUND)
        return rc;
    /* no usable checkpoint: the log holds everything if it still starts at
     * its first segment (no compaction removed any), so it is replayed from
     * there and nothing is lost */
    uint32_t *segs = NULL;
    size_t ns = 0;
    bool whole = blob_list_segments(db->os, db->path, &segs, &ns) == 0 && ns && segs[0] == 1;
    os_free(segs);
    if (whole) {
        db->report_problems++;
        db_report(db,
                  "checkpoint: %s, with no usable previous one: the log was replayed from "
                  "its first segment, which it still holds (nothing lost)",
                  why);
        *seg = 1;
        *off = 0;
        return clear_loaded(db);
    }
    if (!db->salvage) {
        if (first == SOP_ECORRUPT)
            snprintf(db->errmsg, sizeof(db->errmsg),
                     "%s (and no usable previous checkpoint; sop check --repair salvages what "
                     "the log still holds)",
                     why);
        return first == SOP_ECORRUPT ? first : rc;
    }
    db->report_problems++;
    db_report(db,
              "checkpoint: %s, and so is the previous one: the log is replayed from its "
              "first segment (what segments removed by compaction held is lost)",
              why);
    *seg = 1;
    *off = 0;
    return clear_loaded(db);
}

/* ------------------------------------------------------------ replay */

size_t db_commit_encode(sop_db *db, struct wbuf *w, uint64_t seq, const struct commit_reg *e,
                        size_t n, const struct wbuf *stores, uint32_t nst)
{
    return db_commit_encode_keys(db, w, seq, e, n, stores, nst, NULL);
}

void db_keys_encode(struct wbuf *w, const struct wset *ws)
{
    wb_u32(w, (uint32_t)ws->nnames);
    for (size_t i = 0; i < ws->nnames; i++) {
        size_t l = strlen(ws->names[i]);
        wb_u32(w, (uint32_t)l);
        wb_bytes(w, ws->names[i], l);
    }
    wb_u32(w, (uint32_t)ws->nstores);
    for (size_t i = 0; i < ws->nstores; i++) {
        const struct wset_store *st = &ws->stores[i];
        wb_bytes(w, st->store_id.b, 16);
        wb_u8(w, st->structural);
        wb_u32(w, (uint32_t)st->nkeys);
        for (size_t k = 0; k < st->nkeys; k++) {
            wb_u8(w, st->keys[k].merge);
            wb_u32(w, st->keys[k].kl);
            wb_bytes(w, st->keys[k].k, st->keys[k].kl);
        }
    }
}

/* Read the keys section at r into w (allocated; on failure w holds what
 * was read, for wset_free).  0, SOP_ECORRUPT, SOP_ENOMEM. */
static int keys_read(struct rbuf *r, struct wset *w)
{
    uint32_t nn = rb_u32(r);
    if (r->err || nn > r->len - r->pos)
        return SOP_CORRUPT("commit record: its keys do not decode");
    if (nn && !(w->names = os_calloc(nn, sizeof(*w->names))))
        return SOP_ENOMEM;
    for (uint32_t i = 0; i < nn; i++) {
        uint32_t l = rb_u32(r);
        const uint8_t *b = rb_bytes(r, l);
        if (r->err || !b || l > SOP_MAX_STORE_NAME)
            return SOP_CORRUPT("commit record: a store name of its keys does not decode");
        if (!(w->names[i] = os_malloc(l + 1)))
            return SOP_ENOMEM;
        memcpy(w->names[i], b, l);
        w->names[i][l] = 0;
        w->nnames++;
    }
    uint32_t ns = rb_u32(r);
    if (r->err || ns > r->len - r->pos)
        return SOP_CORRUPT("commit record: its keys do not decode");
    if (ns && !(w->stores = os_calloc(ns, sizeof(*w->stores))))
        return SOP_ENOMEM;
    for (uint32_t i = 0; i < ns; i++) {
        struct wset_store *st = &w->stores[w->nstores++];
        const uint8_t *id = rb_bytes(r, 16);
        st->structural = rb_u8(r) != 0;
        uint32_t nk = rb_u32(r);
        if (r->err || !id || nk > r->len - r->pos)
            return SOP_CORRUPT("commit record: a store of its keys does not decode");
        memcpy(st->store_id.b, id, 16);
        if (nk && !(st->keys = os_calloc(nk, sizeof(*st->keys))))
            return SOP_ENOMEM;
        for (uint32_t k = 0; k < nk; k++) {
            uint8_t merge = rb_u8(r);
            uint32_t kl = rb_u32(r);
            const uint8_t *kb = rb_bytes(r, kl);
            if (r->err || !kb || kl > SOP_MAX_KEY)
                return SOP_CORRUPT("commit record: a key does not decode");
            struct item src = {.k = kb, .kl = kl, .merge = merge, .pfx = key_prefix(kb, kl)};
            if (item_copy_own(&st->keys[k], &src) != 0)
                return SOP_ENOMEM;
            st->keys[k].merge = merge;
            st->nkeys++;
        }
    }
    return 0;
}

/* Past the registry changes and store infos of a payload: r at the keys
 * section (format 3) or the end.  0, SOP_ECORRUPT. */
static int skip_to_keys(struct rbuf *r, size_t len)
{
    rb_u8(r);
    rb_u64(r); /* seq */
    rb_u64(r); /* time */
    rb_u32(r);
    rb_u64(r); /* durable up to */
    rb_u64(r); /* offset in the batch */
    uint32_t nreg = rb_u32(r);
    if (r->err || nreg > len / 41 || !rb_bytes(r, (size_t)nreg * 41))
        return SOP_CORRUPT("commit record: its registry changes do not decode");
    uint32_t nst = rb_u32(r);
    if (r->err || nst > len)
        return SOP_CORRUPT("commit record: its store infos do not decode");
    for (uint32_t i = 0; i < nst; i++) {
        struct store_info info;
        memset(&info, 0, sizeof(info));
        rb_u8(r);
        int rc = info_decode(r, &info);
        info_free(&info);
        if (rc)
            return rc;
    }
    return r->err ? SOP_CORRUPT("commit record: its store infos do not decode") : 0;
}

int db_keys_decode(const uint8_t *p, size_t len, struct wset **out)
{
    struct rbuf r;
    *out = NULL;
    if (len < 9)
        return SOP_CORRUPT("commit record: shorter than its header");
    if (p[0] < COMMIT_FORMAT)
        return SOP_ENOTFOUND;
    if (p[0] > COMMIT_FORMAT)
        return SOP_CORRUPT("commit record: unknown format");
    rb_init(&r, p, len);
    int rc = skip_to_keys(&r, len);
    if (rc)
        return rc;
    struct wset *w = os_calloc(1, sizeof(*w));
    if (!w)
        return SOP_ENOMEM;
    w->seq = get_u64(p + 1);
    rc = keys_read(&r, w);
    if (rc == 0 && r.pos != r.len)
        rc = SOP_CORRUPT("commit record: bytes after its keys");
    if (rc) {
        wset_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

size_t db_commit_encode_keys(sop_db *db, struct wbuf *w, uint64_t seq,
                             const struct commit_reg *e, size_t n, const struct wbuf *stores,
                             uint32_t nst, const struct wbuf *keys)
{
    size_t start = blob_rec_begin(w, REC_COMMIT, NULL);
    wb_u8(w, keys ? COMMIT_FORMAT : COMMIT_FORMAT_NOKEYS);
    wb_u64(w, seq);
    wb_u64(w, now_ns());
    pthread_mutex_lock(&db->log.mu);
    wb_u32(w, db->log.synced_seg);
    wb_u64(w, db->log.synced_off);
    pthread_mutex_unlock(&db->log.mu);
    wb_u64(w, start);
    wb_u32(w, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        wb_bytes(w, e[i].key.id.b, 16);
        wb_u64(w, e[i].key.idx);
        wb_u8(w, e[i].kind);
        wb_u32(w, e[i].loc.seg);
        wb_u64(w, e[i].loc.off);
        wb_u32(w, e[i].loc.len);
    }
    wb_u32(w, nst);
    if (stores)
        wb_bytes(w, stores->p, stores->len);
    if (keys)
        wb_bytes(w, keys->p, keys->len);
    blob_rec_end(w, start);
    return start;
}

/* Apply one commit record (also used by txn.c after a commit); its
 * batch-relative locations are resolved from the record's own place. */
void db_apply_free(struct db_apply *a)
{
    for (uint32_t i = 0; i < a->nreg; i++) {
        os_free(a->reg[i].v);
        os_free(a->reg[i].e);
    }
    for (uint32_t i = 0; i < a->nst; i++) {
        sver_free_chain(a->st[i].v);
        os_free(a->st[i].name);
        os_free(a->st[i].spare);
    }
    os_free(a->reg);
    os_free(a->st);
    memset(a, 0, sizeof(*a));
}

int db_apply_prepare(sop_db *db, const uint8_t *p, size_t len, struct db_apply *a)
{
    struct rbuf r;
    int rc = SOP_ENOMEM;
    (void)db;
    memset(a, 0, sizeof(*a));
    rb_init(&r, p, len);
    uint8_t format = rb_u8(&r);
    if (format < 1 || format > COMMIT_FORMAT)
        return SOP_CORRUPT("commit record: unknown format");
    a->seq = rb_u64(&r);
    rb_u64(&r); /* time */
    rb_u32(&r); /* where the log was durable when this was written (blob.c) */
    rb_u64(&r);
    a->rel = rb_u64(&r); /* this record's offset within its batch */
    uint32_t nreg = rb_u32(&r);
    if (r.err || nreg > len / 41) /* 41 bytes a registry change */
        return SOP_CORRUPT("commit record: its registry changes do not decode");
    if (nreg && !(a->reg = os_calloc(nreg, sizeof(*a->reg))))
        goto fail;
    for (uint32_t i = 0; i < nreg; i++) {
        struct db_apply_reg *g = &a->reg[a->nreg++]; /* freed by db_apply_free from now on */
        const uint8_t *id = rb_bytes(&r, 16);
        if (!id) {
            rc = SOP_CORRUPT("commit record: a registry change does not decode");
            goto fail;
        }
        memcpy(g->key.id.b, id, 16);
        g->key.idx = rb_u64(&r);
        g->kind = rb_u8(&r);
        g->loc.seg = rb_u32(&r);
        g->loc.off = rb_u64(&r);
        g->loc.len = rb_u32(&r);
        if (r.err || g->kind > COMMIT_DELTA || (format < 2 && g->kind == COMMIT_DELTA)) {
            rc = SOP_CORRUPT("commit record: a registry change does not decode");
            goto fail;
        }
        /* format 1 did not tell deltas from images: any record in the
         * batch may be a delta (registry.h, rver.base) */
        if (format < 2 && g->kind == COMMIT_BATCH)
            g->kind = COMMIT_DELTA;
        /* a version, and an entry in case the key is new by then (a prune
         * may remove the entry before the commit applies) */
        if (!(g->v = os_malloc(sizeof(*g->v))) ||
            (g->kind != COMMIT_REMOVED && !(g->e = os_malloc(sizeof(*g->e)))))
            goto fail;
    }
    uint32_t nst = rb_u32(&r);
    if (r.err || nst > len)
        return SOP_CORRUPT("commit record: its store infos do not decode");
    if (nst && !(a->st = os_calloc(nst, sizeof(*a->st))))
        goto fail;
    for (uint32_t i = 0; i < nst; i++) {
        struct db_apply_store *g = &a->st[a->nst++];
        uint8_t dead = rb_u8(&r);
        if (!(g->v = os_calloc(1, sizeof(*g->v))))
            goto fail;
        if ((rc = info_decode(&r, &g->v->info)) != 0)
            goto fail;
        rc = SOP_ENOMEM;
        g->v->seq = a->seq;
        g->v->dead = dead != 0;
        if (!(g->name = os_strdup(g->v->info.name)) || !(g->spare = os_strdup(g->v->info.name)))
            goto fail;
        if (dead)
            info_free(&g->v->info); /* a removal carries no info */
    }
    if (!r.err && format >= 3) { /* the keys: for other members' validation, checked here */
        struct wset *ks = os_calloc(1, sizeof(*ks));
        int kr = ks ? keys_read(&r, ks) : SOP_ENOMEM;
        if (ks)
            wset_free(ks);
        if (kr) {
            rc = kr;
            goto fail;
        }
    }
    if (r.err || r.pos != r.len) {
        rc = SOP_CORRUPT("commit record: its store infos do not decode");
        goto fail;
    }
    return 0;
fail:
    db_apply_free(a);
    return rc;
}

void db_apply_finish(sop_db *db, struct db_apply *a, uint32_t seg, uint64_t base,
                     uint64_t keep_from)
{
    assert(a->seq > db->seq);
    assert(db->cat.cap - db->cat.n >= a->nst);
    for (uint32_t i = 0; i < a->nreg; i++) {
        struct db_apply_reg *g = &a->reg[i];
        struct rver *v = g->v;
        v->seq = a->seq;
        v->dead = g->kind == COMMIT_REMOVED;
        v->loc = g->loc;
        if (g->kind == COMMIT_BATCH || g->kind == COMMIT_DELTA) { /* in this batch */
            v->loc.seg = seg;
            v->loc.off += base;
        } else if (g->kind == COMMIT_REMOVED) {
            memset(&v->loc, 0, sizeof(v->loc));
        }
        v->base = g->kind == COMMIT_DELTA ? REG_BASE_CHAIN : v->loc.seg;
        g->v = NULL;
        reg_link(&db->reg, &g->key, v, &g->e, keep_from);
    }
    for (uint32_t i = 0; i < a->nst; i++) {
        struct db_apply_store *g = &a->st[i];
        cat_link(&db->cat, g->name, g->v, &g->spare, keep_from);
        g->v = NULL;
    }
    db->seq = a->seq;
    db_apply_free(a);
}

int db_apply_commit(sop_db *db, const uint8_t *p, size_t len, const struct loc *self,
                    uint64_t keep_from)
{
    struct db_apply a;
    int rc = db_apply_prepare(db, p, len, &a);
    if (rc)
        return rc;
    if (a.rel > self->off) {
        db_apply_free(&a);
        return SOP_CORRUPT_REC(self->seg, self->off,
                               "commit record: its batch starts before the segment");
    }
    if ((rc = cat_reserve(&db->cat, a.nst)) != 0) {
        db_apply_free(&a);
        return rc;
    }
    db_apply_finish(db, &a, self->seg, self->off - a.rel, keep_from);
    return 0;
}

struct replay {
    sop_db *db;
    int rc;
};

static int replay_one(int type, const struct rkey *key, const struct loc *loc,
                      const uint8_t *payload, void *arg)
{
    struct replay *rp = arg;
    (void)key;
    if (type == REC_DAMAGED) {
        rp->db->report_problems++;
        db_report(rp->db,
                  "damaged: %u bytes at segment %08u offset %llu do not check (crc); they "
                  "were skipped, the commits after them were kept, and reads of what they "
                  "held answer SOP_ECORRUPT",
                  loc->len, loc->seg, (unsigned long long)loc->off);
        return 0;
    }
    if (type != REC_COMMIT)
        return 0;
    if (loc->len < 9)
        return SOP_CORRUPT_REC(loc->seg, loc->off, "commit record: shorter than its header");
    uint64_t seq = get_u64(payload + 1);
    if (seq <= rp->db->seq)
        return 0; /* already in the checkpoint */
    if (payload[0] > COMMIT_FORMAT && payload[0] < 128) {
        /* whole (its crc holds) but newer than this build: not damage, and
         * replaying around it would lose that commit */
        db_seterr(rp->db,
                  "open: commit %llu in segment %08u was written by a newer sop (commit record "
                  "format %u; this build reads formats 1 to %u): open the folder with that version",
                  (unsigned long long)seq, loc->seg, payload[0], COMMIT_FORMAT);
        return SOP_EINVAL;
    }
    if (seq != rp->db->seq + 1) {
        db_seterr(rp->db,
                  "open: commit %llu follows commit %llu in segment %08u: the log lost "
                  "committed data in between",
                  (unsigned long long)seq, (unsigned long long)rp->db->seq, loc->seg);
        if (!rp->db->salvage)
            return SOP_CORRUPT_REC(loc->seg, loc->off, "log: a commit is missing before this one");
        rp->db->report_problems++;
        db_report(rp->db, "%s: commits %llu to %llu are missing, their changes lost",
                  rp->db->errmsg, (unsigned long long)rp->db->seq + 1, (unsigned long long)seq - 1);
        rp->db->errmsg[0] = '\0';
    }
    int rc = db_apply_commit(rp->db, payload, loc->len, loc, seq);
    if (rc)
        db_seterr(rp->db, "open: commit record %llu in segment %08u is malformed: %s",
                  (unsigned long long)seq, loc->seg, sop_strerror(rc));
    if (rc && rp->db->salvage) {
        rp->db->report_problems++;
        db_report(rp->db, "%s: skipped", rp->db->errmsg);
        rp->db->errmsg[0] = '\0';
        rp->db->seq = seq;
        return 0;
    }
    return rc;
}

/* Before cutting a torn tail, keep its bytes aside (DATA/torn-SEG-OFF):
 * a torn write and damage to the last commit look alike, and what cannot be
 * told apart is never destroyed. */
/* What the cut bytes held, for the recovery report: the valid records
 * among them, the commits (acknowledged, perhaps) first. */
static void report_torn(sop_db *db, const uint8_t *buf, size_t n, uint32_t seg, uint64_t from,
                        const char *kept)
{
    uint64_t commits = 0, others = 0, lo = 0, hi = 0;
    for (size_t i = 0; i + REC_HDR <= n; i++) {
        int type;
        uint32_t plen;
        if (get_u32(buf + i) != REC_MAGIC || blob_check(buf + i, n - i, &type, NULL, &plen))
            continue;
        if (type == REC_COMMIT && plen >= 9) {
            uint64_t s = get_u64(buf + i + REC_HDR + 1);
            lo = commits++ ? (s < lo ? s : lo) : s;
            hi = s > hi ? s : hi;
        } else {
            others++;
        }
        i += REC_HDR + plen - 1;
    }
    if (commits)
        db->report_problems++;
    if (commits)
        db_report(db,
                  "cut: %zu bytes at the end of segment %08u from offset %llu did not check, "
                  "and %llu commit records after them were cut with them (commits %llu to %llu: "
                  "their changes are lost unless restored from %s), with %llu other records",
                  n, seg, (unsigned long long)from, (unsigned long long)commits,
                  (unsigned long long)lo, (unsigned long long)hi, kept, (unsigned long long)others);
    else
        db_report(db,
                  "cut: %zu torn bytes at the end of segment %08u from offset %llu (%llu whole "
                  "records of no commit: nothing acknowledged was lost); kept in %s",
                  n, seg, (unsigned long long)from, (unsigned long long)others, kept);
}

static int keep_torn(sop_db *db, int fd, uint32_t seg, uint64_t from, uint64_t size)
{
    char p[4096];
    size_t n = (size_t)(size - from);
    uint8_t *buf = os_malloc(n);
    int r;
    if (!buf)
        return -ENOMEM;
    snprintf(p, sizeof(p), "%s/torn-%08u-%llu.bin", db->path, seg, (unsigned long long)from);
    r = os_pread_full(db->os, fd, buf, n, from);
    if (r == 0)
        report_torn(db, buf, n, seg, from, p);
    int out = r == 0 ? db->os->open(db->os, p, O_WRONLY | O_CREAT | O_TRUNC, 0644) : r;
    if (out >= 0) {
        r = os_pwrite_full(db->os, out, buf, n, 0);
        if (r == 0)
            r = db->os->fsync(db->os, out);
        db->os->close(db->os, out);
        if (r == 0)
            r = db->os->fsync_dir(db->os, db->path);
    } else {
        r = out;
    }
    os_free(buf);
    return r;
}

/* Is [from, size) of fd all zeros (the log's zeros ahead of its end, blob.h)?
 * 1 yes, 0 no, < 0 -errno. */
static int tail_is_zero(sop_db *db, int fd, uint64_t from, uint64_t size)
{
    uint8_t buf[64 << 10];
    while (from < size) {
        size_t n = size - from < sizeof(buf) ? (size_t)(size - from) : sizeof(buf);
        int r = os_pread_full(db->os, fd, buf, n, from);
        if (r < 0)
            return r;
        for (size_t i = 0; i < n; i++)
            if (buf[i])
                return 0;
        from += n;
    }
    return 1;
}

int db_load_checkpoint(sop_db *db)
{
    uint32_t seg;
    uint64_t off;
    return load_checkpoint(db, &seg, &off);
}

int db_recover_standalone(sop_db *db)
{
    uint32_t seg = 1, last_seg;
    uint64_t off = 0, last_end;
    char p[4096];
    int rc = load_checkpoint(db, &seg, &off);
    if (rc)
        return rc;
    struct replay rp = {.db = db, .rc = 0};
    if ((rc = blob_scan(db->os, db->path, seg, off, replay_one, &rp, &last_seg, &last_end)) != 0) {
        if (!db->errmsg[0])
            db_seterr(db, "open: scan the log: %s", sop_strerror(rc));
        return rc;
    }
    /* R4: cut a torn tail so new records never follow garbage (a salvage
     * open changes nothing) */
    snprintf(p, sizeof(p), "%s/%08u.seg", db->path, last_seg);
    int fd = db->salvage ? -1 : db->os->open(db->os, p, O_RDWR, 0);
    if (fd >= 0) {
        uint64_t size = 0;
        int r = db->os->fsize(db->os, fd, &size);
        if (r == 0 && size > last_end) {
            r = tail_is_zero(db, fd, last_end, size);
            if (r == 0)
                r = keep_torn(db, fd, last_seg, last_end, size);
            else if (r == 1)
                r = 0; /* zeros written ahead of the end: nothing to keep */
            if (r == 0)
                r = db->os->ftruncate(db->os, fd, last_end);
            if (r == 0)
                r = db->os->fsync(db->os, fd);
        }
        db->os->close(db->os, fd);
        if (r < 0) {
            db_seterr(db, "open: cut the torn end of %s: %s", p, strerror(-r));
            return os_err(r);
        }
    }
    if ((rc = blob_open(&db->log, db->os, db->path, last_seg, last_end)) != 0) {
        db_seterr(db, "open: %s", db->log.err);
        return rc;
    }
    db->ckpt_at = 0;
    db->ckpt_stale = last_seg != seg || last_end - off > (1u << 20) || db->ckpt_heal;
    return 0;
}

int db_drop_below_floor(sop_db *db)
{
    uint32_t *segs = NULL;
    size_t n = 0;
    int rc = blob_list_segments(db->os, db->path, &segs, &n);
    for (size_t i = 0; i < n && rc == 0; i++)
        if (segs[i] < db->floor_seg && segs[i] < db->log.cur)
            rc = blob_drop_segment(&db->log, segs[i]);
    os_free(segs);
    if (rc == 0 && n)
        rc = os_err(db->os->fsync_dir(db->os, db->path));
    if (rc)
        db_seterr(db, "remove old segments: %s", db->log.err[0] ? db->log.err : sop_strerror(rc));
    return rc;
}

/* ------------------------------------------------------------ open/close */

static int drop_dead_at_open(sop_db *db);

static void *flusher_main(void *arg)
{
    sop_db *db = arg;
    pthread_mutex_lock(&db->flush_mu);
    while (!db->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)db->opts.flush_interval_ms * 1000000ull;
        ts.tv_sec += (time_t)(ns / 1000000000ull);
        ts.tv_nsec = (long)(ns % 1000000000ull);
        pthread_cond_timedwait(&db->flush_cv, &db->flush_mu, &ts);
        if (db->unsynced && !db->stopping) {
            db->unsynced = false;
            pthread_mutex_unlock(&db->flush_mu);
            if (db_sync(db) != 0)
                db_seterr(db, "group flush: %s", db->log.err);
            pthread_mutex_lock(&db->flush_mu);
        }
    }
    pthread_mutex_unlock(&db->flush_mu);
    return NULL;
}

static int write_marker_once(sop_db *db, const char *p);

static int write_marker(sop_db *db)
{
    char p[4096];
    snprintf(p, sizeof(p), "%s/SOP", db->path);
    for (int tries = 0;; tries++) {
        /* made meanwhile by another member (-EEXIST), or being written by
         * it (empty: -EAGAIN): read it again, for a second at most */
        int rc = write_marker_once(db, p);
        if ((rc != -EEXIST && rc != -EAGAIN) || tries == 50) {
            if (rc == -EEXIST || rc == -EAGAIN) {
                db_seterr(db,
                          "open: %s stays empty: another process is making the database, or a "
                          "crash cut its making short (then remove the file)",
                          p);
                return SOP_EBUSY;
            }
            return rc;
        }
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static int write_marker_once(sop_db *db, const char *p)
{
    int fd = db->os->open(db->os, p, O_RDONLY, 0);
    if (fd >= 0) {
        char buf[64] = {0};
        ssize_t n = db->os->pread(db->os, fd, buf, sizeof(buf) - 1, 0);
        db->os->close(db->os, fd);
        if (n == 0)
            return -EAGAIN; /* another member is writing it now */
        if (n < 0 || strcmp(buf, MARKER) != 0) {
            db_seterr(db, "open: %s does not hold a sop database of format 1", db->path);
            return SOP_CORRUPT("open: the SOP marker file is not format 1's");
        }
        return 0;
    }
    fd = db->os->open(db->os, p, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd == -EEXIST)
        return -EEXIST;
    if (fd < 0) {
        db_seterr(db, "open: create %s: %s", p, strerror(-fd));
        return os_err(fd);
    }
    int r = os_pwrite_full(db->os, fd, MARKER, strlen(MARKER), 0);
    if (r == 0)
        r = db->os->fsync(db->os, fd);
    db->os->close(db->os, fd);
    if (r == 0)
        r = db->os->fsync_dir(db->os, db->path);
    if (r < 0) {
        db_seterr(db, "open: write %s: %s", p, strerror(-r));
        db->os->unlink(db->os, p);
        return os_err(r);
    }
    return 0;
}

/* DATA/id: made at a writable open when missing.  A database that cannot
 * have one (a full disk, a damaged file) still opens, standalone: the id
 * names it only to clustered mode, which refuses a database without one. */
static void load_id(sop_db *db)
{
    char why[512];
    int rc = dbid_load(db->os, db->path, !db->salvage, db->id, why, sizeof(why));
    if (rc == 0)
        return;
    db->id[0] = 0;
    if (rc == SOP_ENOTFOUND)
        return; /* a read-only open of a folder made before ids */
    if (rc == SOP_ECORRUPT)
        db_report(db, "database id: %s; it has none until the file is removed (the next open "
                      "makes a new one)",
                  why);
    else
        db_report(db, "database id: %s; it has none (the next open tries again)", why);
}

static sop_db *db_alloc(const char *path, const sop_db_options *opts, const struct os_ops *os)
{
    sop_db *db = os_calloc(1, sizeof(*db));
    if (!db)
        return NULL;
    db->os = os;
    db->lock_fd = -1;
    if (opts)
        db->opts = *opts;
    db->opts.redis_url = NULL;
    if (!db->opts.cache_bytes)
        db->opts.cache_bytes = 64u << 20;
    if (!db->opts.txn_max_age_ms)
        db->opts.txn_max_age_ms = 15 * 60 * 1000;
    if (!db->opts.flush_interval_ms)
        db->opts.flush_interval_ms = 1000;
    if (!db->opts.checkpoint_bytes)
        db->opts.checkpoint_bytes = 256ull << 20;
    db->path = os_strdup(path);
    pthread_mutex_init(&db->commit_mu, NULL);
    pthread_rwlock_init(&db->lock, NULL);
    pthread_mutex_init(&db->txn_mu, NULL);
    pthread_mutex_init(&db->flush_mu, NULL);
    pthread_mutex_init(&db->vdead_mu, NULL);
    pthread_cond_init(&db->flush_cv, NULL);
    pthread_mutex_init(&db->reclaim_mu, NULL);
    pthread_mutex_init(&db->reclaim_wmu, NULL);
    pthread_cond_init(&db->reclaim_cv, NULL);
    if (!db->path || reg_init(&db->reg) != 0 || cache_init(&db->cache, db->opts.cache_bytes)) {
        reg_free(&db->reg);
        os_free(db->path);
        os_free(db);
        return NULL;
    }
    return db;
}

static void db_free(sop_db *db)
{
    if (db->log.dir)
        blob_close(&db->log);
    wb_free(&db->commit_buf);
    cache_free(&db->cache);
    reg_free(&db->reg);
    cat_free(&db->cat);
    while (db->recent_old) {
        struct wset *w = db->recent_old;
        db->recent_old = w->next;
        wset_free(w);
    }
    if (db->lock_fd >= 0)
        db->os->close(db->os, db->lock_fd);
    pthread_mutex_destroy(&db->commit_mu);
    pthread_rwlock_destroy(&db->lock);
    pthread_mutex_destroy(&db->txn_mu);
    pthread_mutex_destroy(&db->flush_mu);
    pthread_mutex_destroy(&db->vdead_mu);
    pthread_cond_destroy(&db->flush_cv);
    pthread_mutex_destroy(&db->reclaim_mu);
    pthread_mutex_destroy(&db->reclaim_wmu);
    pthread_cond_destroy(&db->reclaim_cv);
    os_free(db->rpend);
    os_free(db->vdead);
    os_free(db->report);
    os_free(db->path);
    os_free(db);
}

bool db_marked_clustered(sop_db *db)
{
    char p[4200];
    snprintf(p, sizeof(p), "%s/cluster", db->path);
    int fd = db->os->open(db->os, p, O_RDONLY, 0);
    if (fd >= 0)
        db->os->close(db->os, fd);
    return fd >= 0;
}

int db_open_any(const char *path, const sop_db_options *opts, const struct os_ops *os,
                bool salvage, int (*settle)(sop_db *), const struct db_member_ops *member,
                sop_db **out)
{
    char p[4096];
    int rc, r;
    open_err[0] = 0;
    if (!path || !*path || !out || strlen(path) > 4000) {
        snprintf(open_err, sizeof(open_err), "open: a database folder path is needed");
        return SOP_EINVAL;
    }
    if (!salvage && (opts && opts->redis_url) != (member != NULL)) {
        snprintf(open_err, sizeof(open_err), "open %s: a member's open needs a redis_url", path);
        return SOP_EINVAL;
    }
    if (member && !salvage &&
        (rc = member->probe(opts->redis_url, open_err, sizeof(open_err))) != 0) {
        char why[sizeof(open_err)];
        snprintf(why, sizeof(why), "%s", open_err);
        snprintf(open_err, sizeof(open_err), "open %s in clustered mode: %s", path, why);
        return rc;
    }
    sop_db *db = db_alloc(path, opts, os);
    if (!db)
        return SOP_ENOMEM;
    db->salvage = salvage;
    db->member = salvage ? NULL : member;
    if (salvage) { /* it changes nothing: the folder must hold a database */
        snprintf(p, sizeof(p), "%s/SOP", path);
        int m = os->open(os, p, O_RDONLY, 0);
        if (m < 0) {
            db_seterr(db, "open %s: not a sop database (%s: %s)", path, p, strerror(-m));
            rc = os_err(m);
            goto fail;
        }
        os->close(os, m);
    }
    r = salvage ? 0 : os->mkdir(os, path, 0755);
    if (r < 0 && r != -EEXIST) {
        db_seterr(db, "open: create folder %s: %s", path, strerror(-r));
        rc = os_err(r);
        goto fail;
    }
    snprintf(p, sizeof(p), "%s/lock", path);
    db->lock_fd = os->open(os, p, O_RDWR | O_CREAT, 0644);
    if (db->lock_fd < 0) {
        db_seterr(db, "open: %s: %s", p, strerror(-db->lock_fd));
        rc = os_err(db->lock_fd);
        goto fail;
    }
    /* a read-only open of a clustered folder reads along its claims, as a
     * member (member is then what it reads with: cluster.c), beside them */
    if (salvage && member && db_marked_clustered(db))
        db->member = member;
    /* members share the flock, standalone takes it alone: on one host
     * neither opens while the other has the folder (over NFS, DATA/cluster
     * says it, as flock may not) */
    r = os->flock(os, db->lock_fd, (db->member ? LOCK_SH : LOCK_EX) | LOCK_NB);
    if (r < 0) {
        if (r == -EWOULDBLOCK && db->member && !salvage)
            db_seterr(db,
                      "open %s in clustered mode: the database is in use by a standalone process "
                      "(it holds %s); close it, then open every member with the same redis_url",
                      path, p);
        else if (r == -EWOULDBLOCK && db_marked_clustered(db))
            db_seterr(db,
                      "open %s: the database is in clustered mode (%s/cluster) and members have it "
                      "open: open it with the redis_url of its members (sopfs --redis URL), not "
                      "standalone",
                      path, path);
        else if (r == -EWOULDBLOCK)
            db_seterr(db, "open %s: the database is in use by another process (it holds %s)", path,
                      p);
        else
            db_seterr(db, "open: lock %s: %s", p, strerror(-r));
        rc = r == -EWOULDBLOCK ? SOP_EBUSY : os_err(r);
        goto fail;
    }
    if (!db->member && db_marked_clustered(db)) {
        db_seterr(db,
                  "open %s: the database is in clustered mode (%s/cluster): open it with the "
                  "redis_url of its members (sopfs --redis URL), not standalone",
                  path, path);
        rc = SOP_EBUSY;
        goto fail;
    }
    if (!salvage && (rc = write_marker(db)) != 0)
        goto fail;
    load_id(db);
    if (db->member && !salvage && !db->id[0]) {
        db_seterr(db, "open %s in clustered mode: the database has no id (%s/id): %s", path, path,
                  db->report ? db->report : "it could not be made");
        rc = SOP_EIO;
        goto fail;
    }
    if (db->member && !salvage && (rc = member->join(db, opts->redis_url)) != 0)
        goto fail;
    if (db->member)
        rc = salvage ? member->recover_readonly(db) : member->recover(db);
    else
        rc = db_recover_standalone(db);
    if (rc)
        goto fail;
    if (!salvage && !db->member && db->floor_seg && (rc = db_drop_below_floor(db)) != 0)
        goto fail;
    if (!salvage && !db->member && (rc = drop_dead_at_open(db)) != 0)
        goto fail;
    if (settle && !db->member && (rc = settle(db)) != 0)
        goto fail;
    os_free(db->reg.zeroed); /* what recovery's replay killed is gone now */
    db->reg.zeroed = NULL;
    db->reg.nzeroed = db->reg.capzeroed = 0;
    if (pthread_create(&db->flusher, NULL, flusher_main, db) == 0)
        db->flusher_on = true;
    *out = db;
    return 0;
fail:
    snprintf(open_err, sizeof(open_err), "%s", db->errmsg[0] ? db->errmsg : sop_strerror(rc));
    if (db->member)
        db->member->abandon(db);
    db_free(db);
    return rc;
}

/* ------------------------------------------------------------ space */

#define RESERVE_MIN (16ull << 20)
#define RESERVE_MAX (1ull << 30)
/* A transaction that added no key may write this much more than it freed
 * and still count as giving space back (its node deltas, the commit). */
#define SHRINK_SLACK (64u << 10)

uint64_t db_reserve(const sop_db *db, uint64_t total)
{
    if (db->reserve_opt)
        return db->reserve_opt;
    uint64_t r = total / 32;
    return r < RESERVE_MIN ? RESERVE_MIN : r > RESERVE_MAX ? RESERVE_MAX : r;
}

/* The disk's free space, asked at most every SPACE_EVERY_NS unless the
 * bytes appended since may have brought it near the reserve (a statvfs per
 * commit was a tenth of a small file's create). */
#define SPACE_EVERY_NS 100000000ull

static uint64_t appended(sop_db *db)
{
    pthread_mutex_lock(&db->log.mu);
    uint64_t a = db->log.appended;
    pthread_mutex_unlock(&db->log.mu);
    return a;
}

static int space_now(sop_db *db, uint64_t *avail, uint64_t *total, uint64_t keep, bool fresh)
{
    uint64_t now = coarse_ns(), app = appended(db);
    pthread_mutex_lock(&db->vdead_mu);
    uint64_t spent = app - db->space_appended;
    bool ok = !fresh && db->space_at && now - db->space_at < SPACE_EVERY_NS &&
              db->space_avail > keep && spent < (db->space_avail - keep) / 2;
    if (ok) {
        *avail = db->space_avail > spent ? db->space_avail - spent : 0;
        *total = db->space_total;
    }
    pthread_mutex_unlock(&db->vdead_mu);
    if (ok)
        return 0;
    int r = os_space(db->os, db->path, avail, total);
    if (r)
        return r;
    pthread_mutex_lock(&db->vdead_mu);
    db->space_avail = *avail;
    db->space_total = *total;
    db->space_at = now;
    db->space_appended = app;
    pthread_mutex_unlock(&db->vdead_mu);
    return 0;
}

int db_space_check(sop_db *db, struct txn_base *t, uint64_t need)
{
    uint64_t avail, total;
    if (!t)
        return 0; /* reclamation may use every byte */
    pthread_mutex_lock(&db->vdead_mu);
    uint64_t reserve = db_reserve(db, db->space_total), keep = reserve;
    pthread_mutex_unlock(&db->vdead_mu);
    if (space_now(db, &avail, &total, reserve + need, false) != 0)
        return 0; /* a disk that cannot be asked: the write itself may fail */
    reserve = db_reserve(db, total);
    bool shrinks = !t->grew && t->wrote_bytes + need <= t->freed_bytes + SHRINK_SLACK;
    keep = shrinks ? reserve / 4 : reserve;
    if (avail >= need && avail - need >= keep)
        return 0;
    if (space_now(db, &avail, &total, keep, true) == 0 && avail >= need && avail - need >= keep)
        return 0; /* the estimate was short: the disk says there is room */
    /* value segments that died wait for the log to be durable: make it so,
     * and their space comes back at once */
    pthread_mutex_lock(&db->vdead_mu);
    size_t dead = db->nvdead;
    pthread_mutex_unlock(&db->vdead_mu);
    if (dead && db_sync(db) == 0 && space_now(db, &avail, &total, keep, true) == 0 &&
        avail >= need && avail - need >= keep)
        return 0;
    tb_seterr(t,
              "the disk holding %s has %llu bytes free, and %llu of them are kept for "
              "deletes and reclamation (the reserve); remove something to make room",
              db->path, (unsigned long long)avail, (unsigned long long)keep);
    return SOP_ENOSPC;
}

size_t db_note_dead(sop_db *db)
{
    uint32_t *z;
    size_t n, dead;
    reg_take_zeroed(&db->reg, &z, &n);
    if (db->member) { /* another member's snapshot may read it still */
        os_free(z);
        return 0;
    }
    pthread_mutex_lock(&db->vdead_mu);
    for (size_t i = 0; i < n; i++) {
        if (!blob_is_vseg(&db->log, z[i]) || reg_seg_live(&db->reg, z[i]))
            continue;
        if (db->nvdead == db->capvdead) {
            size_t c = db->capvdead ? db->capvdead * 2 : 16;
            struct vdead *v = os_realloc(db->vdead, c * sizeof(*v));
            if (!v)
                break; /* removed at the next open instead */
            db->vdead = v;
            db->capvdead = c;
        }
        db->vdead[db->nvdead++] = (struct vdead){.seg = z[i], .seq = db->seq};
    }
    dead = db->nvdead;
    pthread_mutex_unlock(&db->vdead_mu);
    os_free(z);
    return dead;
}

void db_drop_dead(sop_db *db, uint64_t seq)
{
    pthread_mutex_lock(&db->vdead_mu);
    size_t j = 0;
    for (size_t i = 0; i < db->nvdead; i++) {
        if (db->vdead[i].seq <= seq) {
            if (blob_vseg_drop(&db->log, db->vdead[i].seg) == 0)
                continue;
            db_seterr(db, "remove a dead value segment: %s", db->log.err);
        }
        db->vdead[j++] = db->vdead[i];
    }
    db->nvdead = j;
    pthread_mutex_unlock(&db->vdead_mu);
}

int db_sync(sop_db *db)
{
    uint64_t seq = __atomic_load_n(&db->seq, __ATOMIC_ACQUIRE);
    int rc = blob_sync(&db->log);
    if (rc)
        db_seterr(db, "sync: %s", db->log.err);
    else
        db_drop_dead(db, seq);
    return rc;
}

/* At open: the value segments nothing live is in (a transaction that never
 * committed, or one that died before its removal). */
static int drop_dead_at_open(sop_db *db)
{
    uint32_t *v = NULL;
    size_t n = 0;
    int rc = blob_list_vsegs(db->os, db->path, &v, &n);
    for (size_t i = 0; i < n && rc == 0; i++)
        if (!reg_seg_live(&db->reg, v[i]) && (rc = blob_vseg_drop(&db->log, v[i])) != 0)
            db_seterr(db, "open: %s", db->log.err);
    os_free(v);
    return rc;
}

SOP_API int sop_db_set_reserve(sop_db *db, uint64_t bytes)
{
    if (!db)
        return SOP_EINVAL;
    __atomic_store_n(&db->reserve_opt, bytes, __ATOMIC_RELEASE);
    return 0;
}

SOP_API int sop_db_get_space(sop_db *db, sop_db_space *out)
{
    uint32_t *v = NULL;
    size_t n = 0;
    if (!db || !out)
        return SOP_EINVAL;
    memset(out, 0, sizeof(*out));
    int r = os_space(db->os, db->path, &out->disk_free, &out->disk_total);
    if (r < 0) {
        db_seterr(db, "space: statvfs %s: %s", db->path, strerror(-r));
        return SOP_EIO;
    }
    out->reserve = db_reserve(db, out->disk_total);
    if (blob_list_vsegs(db->os, db->path, &v, &n) == 0)
        out->value_segments = n;
    os_free(v);
    return 0;
}

SOP_API int sop_db_sync(sop_db *db)
{
    if (!db)
        return SOP_EINVAL;
    return db_sync(db);
}

SOP_API int sop_db_get_stats(sop_db *db, sop_db_stats *out)
{
    if (!db || !out)
        return SOP_EINVAL;
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&db->cache.mu);
    out->cache_hits = db->cache.hits;
    out->cache_misses = db->cache.misses;
    out->cache_nodes = db->cache.count;
    out->cache_bytes = db->cache.bytes;
    out->cache_budget = db->cache.budget;
    pthread_mutex_unlock(&db->cache.mu);
    pthread_mutex_lock(&db->log.mu);
    out->log_bytes = db->log.appended;
    pthread_mutex_unlock(&db->log.mu);
    pthread_rwlock_rdlock(&db->lock);
    out->seq = db->seq;
    pthread_rwlock_unlock(&db->lock);
    return 0;
}

void db_close(sop_db *db)
{
    if (db->flusher_on) {
        pthread_mutex_lock(&db->flush_mu);
        db->stopping = true;
        pthread_cond_signal(&db->flush_cv);
        pthread_mutex_unlock(&db->flush_mu);
        pthread_join(db->flusher, NULL);
    }
    /* a checkpoint at close, so that the next open does not replay the
     * log written since the last one (a million-item load replayed 170 MB
     * for 8 s); it fails only at the cost of that replay */
    if (db->salvage && db->member)
        db->member->abandon(db); /* it wrote nothing */
    else if (db->salvage)
        ; /* it wrote nothing */
    else if (db->member)
        db->member->leave(db); /* its checkpoint is taken under the commit lock */
    else if ((db->log.appended != db->ckpt_at || db->ckpt_stale) && !db->broken && !db->log.broken)
        db_checkpoint(db);
    else
        db_sync(db);
    db_free(db);
}

void db_recent_add_locked(sop_db *db, struct wset *w)
{
    if (db->recent_new)
        db->recent_new->next = w;
    else
        db->recent_old = w;
    db->recent_new = w;
}

void wset_free(struct wset *w)
{
    for (size_t i = 0; i < w->nnames; i++)
        os_free(w->names[i]);
    os_free(w->names);
    for (size_t i = 0; i < w->nstores; i++)
        items_free(w->stores[i].keys, w->stores[i].nkeys);
    os_free(w->stores);
    os_free(w);
}
