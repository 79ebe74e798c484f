/*
 * blob.c - the segment log (see blob.h for the record format).  Every I/O
 * goes through the OS seam (os.h); damage is said through corrupt.h.
 */
#define _GNU_SOURCE
#include "blob.h"

#include "corrupt.h"

#include "os.h"
#include "sop.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>

static void seg_path(char *buf, size_t n, const char *dir, uint32_t seg)
{
    snprintf(buf, n, "%s/%08u.seg", dir, seg);
}

static void vseg_path(char *buf, size_t n, const char *dir, uint32_t seg)
{
    snprintf(buf, n, "%s/%08u.val", dir, seg);
}

static bool is_vseg(const struct seglog *l, uint32_t seg)
{
    return seg < l->nfds && l->vkind[seg] != VSEG_NO;
}

/* The file of segment seg, a log or a value segment. */
static void any_path(const struct seglog *l, char *buf, size_t n, uint32_t seg)
{
    if (is_vseg(l, seg))
        vseg_path(buf, n, l->dir, seg);
    else
        seg_path(buf, n, l->dir, seg);
}

static int grow_fds(struct seglog *l, uint32_t seg)
{
    if (seg < l->nfds)
        return 0;
    uint32_t n = l->nfds ? l->nfds : 16;
    while (n <= seg)
        n *= 2;
    int *f = os_realloc(l->fds, n * sizeof(*f));
    if (!f)
        return SOP_ENOMEM;
    for (uint32_t i = l->nfds; i < n; i++)
        f[i] = -1;
    l->fds = f;
    uint8_t *k = os_realloc(l->vkind, n);
    if (!k)
        return SOP_ENOMEM; /* fds grew, vkind did not: nfds stays, retried later */
    memset(k + l->nfds, 0, n - l->nfds);
    l->vkind = k;
    l->nfds = n;
    return 0;
}

/* A segment number no file has: the log's next segment or a value
 * segment.  Shared, from number() (SOP_EIO when it fails, l->err says). */
static int take_number(struct seglog *l, uint32_t *out)
{
    uint32_t n = l->next_seg > l->cur ? l->next_seg : l->cur + 1;
    if (l->number) {
        uint64_t got = 0;
        char why[200] = "";
        if (l->number(l->number_arg, n - 1, &got, why, sizeof(why)) != 0 || got > UINT32_MAX) {
            snprintf(l->err, sizeof(l->err), "a new segment number: %s",
                     why[0] ? why : "out of numbers");
            return SOP_EIO;
        }
        n = (uint32_t)got;
    }
    l->next_seg = n + 1;
    *out = n;
    return 0;
}

/* fd of segment `seg`, opening it when needed; caller holds l->mu. */
static int seg_fd(struct seglog *l, uint32_t seg, bool create, int *fd)
{
    char p[4096];
    int rc = grow_fds(l, seg);
    if (rc)
        return rc;
    if (l->fds[seg] >= 0) {
        *fd = l->fds[seg];
        return 0;
    }
    any_path(l, p, sizeof(p), seg);
    int r = l->os->open(l->os, p, O_RDWR | (create ? O_CREAT : 0), 0644);
    if (r == -ENOENT && !create && l->number && !is_vseg(l, seg)) {
        /* shared: another member's value segment, made after we listed */
        vseg_path(p, sizeof(p), l->dir, seg);
        r = l->os->open(l->os, p, O_RDWR, 0);
        if (r >= 0)
            l->vkind[seg] = VSEG_YES;
    }
    if (r < 0) {
        snprintf(l->err, sizeof(l->err), "open segment %s: %s", p, strerror(-r));
        return os_err(r);
    }
    if (create) {
        /* the new name must be durable before any commit in it is */
        int s = l->os->fsync_dir(l->os, l->dir);
        if (s < 0) {
            snprintf(l->err, sizeof(l->err), "fsync folder %s: %s", l->dir, strerror(-s));
            l->os->close(l->os, r);
            return os_err(s);
        }
    }
    l->fds[seg] = r;
    *fd = r;
    return 0;
}

/* A number no file has, with its file made (a value segment's or a log
 * segment's) by O_EXCL: a number some file has anyway is skipped, and,
 * shared, one the other kind's name has too (another member's).  0 and
 * *n, *fd; a SOP code, l->err says why.  Caller holds l->mu. */
static int take_free_file(struct seglog *l, bool value, uint32_t *n, int *fd)
{
    char p[4096];
    for (int tries = 0; tries < 64; tries++) {
        int rc = take_number(l, n);
        if (rc || (rc = grow_fds(l, *n)) != 0)
            return rc;
        if (l->number) {
            if (value)
                seg_path(p, sizeof(p), l->dir, *n);
            else
                vseg_path(p, sizeof(p), l->dir, *n);
            int other = l->os->open(l->os, p, O_RDONLY, 0);
            if (other >= 0) {
                l->os->close(l->os, other);
                continue;
            }
        }
        if (value)
            vseg_path(p, sizeof(p), l->dir, *n);
        else
            seg_path(p, sizeof(p), l->dir, *n);
        int r = l->os->open(l->os, p, O_RDWR | O_CREAT | O_EXCL, 0644);
        if (r == -EEXIST)
            continue;
        if (r < 0) {
            snprintf(l->err, sizeof(l->err), "create %ssegment %s: %s", value ? "value " : "", p,
                     strerror(-r));
            return os_err(r);
        }
        *fd = r;
        return 0;
    }
    snprintf(l->err, sizeof(l->err), "create a segment: 64 numbers in a row were taken");
    return SOP_EIO;
}

/* A new log segment: a number no file has, its file made (shared: by
 * take_free_file, standalone as before: the number is past every file).
 * Caller holds l->mu. */
static int fresh_segment(struct seglog *l, uint32_t *seg, int *fd)
{
    if (!l->number) {
        int rc = take_number(l, seg);
        return rc ? rc : seg_fd(l, *seg, true, fd);
    }
    uint32_t n;
    int r, rc = take_free_file(l, false, &n, &r);
    if (rc)
        return rc;
    int sy = l->os->fsync_dir(l->os, l->dir); /* the name before any commit in it */
    if (sy < 0) {
        snprintf(l->err, sizeof(l->err), "fsync folder %s: %s", l->dir, strerror(-sy));
        l->os->close(l->os, r);
        return os_err(sy);
    }
    l->fds[n] = r;
    l->vkind[n] = VSEG_NO;
    *seg = n;
    *fd = r;
    return 0;
}

/* Keep zeros ahead of the end after small appends (see blob.h).  Best
 * effort: a failure only costs the speed-up.  Called with l->mu held. */
static void prezero(struct seglog *l, int fd)
{
    static const uint8_t zeros[BLOB_PREZERO];
    uint64_t from = l->zeroed_end > l->cur_off ? l->zeroed_end : l->cur_off;
    uint64_t to = l->cur_off + BLOB_PREZERO;
    if (l->zeroed_end >= l->cur_off + BLOB_PREZERO / 4)
        return; /* still enough ahead */
    if (to > l->seg_max)
        to = l->seg_max;
    if (to <= from)
        return;
    if (os_pwrite_full(l->os, fd, zeros, (size_t)(to - from), from) == 0)
        l->zeroed_end = to;
    else
        l->zeroed_end = l->cur_off; /* unknown bytes past the end: garbage to a scan */
}

/* Cut the zeros past the end of the current segment (roll-over, close). */
static void cut_zeros(struct seglog *l, int fd)
{
    if (l->zeroed_end > l->cur_off && l->os->ftruncate(l->os, fd, l->cur_off) == 0)
        l->zeroed_end = 0;
}

/* What blob_open and blob_open_member share: l set up on dir, and the
 * folder's value segments known (their kinds, and the numbers past them). */
static int log_init(struct seglog *l, const struct os_ops *os, const char *dir)
{
    memset(l, 0, sizeof(*l));
    l->os = os;
    l->dir = os_strdup(dir);
    l->seg_max = BLOB_SEG_MAX;
    if (!l->dir)
        return SOP_ENOMEM;
    pthread_mutex_init(&l->mu, NULL);
    uint32_t *vs = NULL;
    size_t nv = 0;
    int rc = blob_list_vsegs(os, dir, &vs, &nv);
    for (size_t i = 0; i < nv && rc == 0; i++) {
        if ((rc = grow_fds(l, vs[i])) == 0)
            l->vkind[vs[i]] = VSEG_YES;
        if (vs[i] >= l->next_seg)
            l->next_seg = vs[i] + 1;
    }
    os_free(vs);
    return rc;
}

int blob_open(struct seglog *l, const struct os_ops *os, const char *dir, uint32_t seg,
              uint64_t off)
{
    int fd;
    int rc = log_init(l, os, dir);
    if (rc)
        return rc;
    l->cur = seg ? seg : 1;
    l->cur_off = off;
    if ((rc = seg_fd(l, l->cur, true, &fd)) != 0)
        return rc;
    /* what recovery found is what later commits may call durable */
    int r = os->fsync(os, fd);
    if (r < 0) {
        snprintf(l->err, sizeof(l->err), "fsync segment %08u: %s", l->cur, strerror(-r));
        return os_err(r);
    }
    l->synced_seg = l->cur;
    l->synced_off = l->cur_off;
    return 0;
}

int blob_open_member(struct seglog *l, const struct os_ops *os, const char *dir,
                     int (*number)(void *, uint64_t, uint64_t *, char *, size_t), void *arg)
{
    int rc = log_init(l, os, dir);
    l->number = number;
    l->number_arg = arg;
    uint32_t *v = NULL;
    size_t n = 0;
    if (rc == 0)
        rc = blob_list_segments(os, dir, &v, &n);
    for (size_t i = 0; i < n && rc == 0; i++)
        if (v[i] >= l->next_seg)
            l->next_seg = v[i] + 1;
    os_free(v);
    /* its segment is made at its first append: a member that only reads
     * leaves no empty file behind */
    return rc;
}

void blob_close(struct seglog *l)
{
    if (l->cur < l->nfds && l->fds[l->cur] >= 0)
        cut_zeros(l, l->fds[l->cur]);
    for (uint32_t i = 0; i < l->nfds; i++)
        if (l->fds[i] >= 0)
            l->os->close(l->os, l->fds[i]);
    os_free(l->fds);
    os_free(l->vkind);
    os_free(l->dir);
    pthread_mutex_destroy(&l->mu);
    memset(l, 0, sizeof(*l));
}

static void rec_head_init(uint8_t *h, int type, const struct rkey *key)
{
    memset(h, 0, REC_HDR);
    put_u32(h, REC_MAGIC);
    h[4] = (uint8_t)type;
    if (key) {
        memcpy(h + 16, key->id.b, 16);
        put_u64(h + 32, key->idx);
    }
}

size_t blob_rec_begin(struct wbuf *w, int type, const struct rkey *key)
{
    size_t start = w->len;
    uint8_t h[REC_HDR];
    rec_head_init(h, type, key);
    wb_bytes(w, h, sizeof(h));
    return start;
}

static uint32_t rec_crc(const uint8_t *h, const uint8_t *payload, size_t plen)
{
    uint32_t c = codec_crc32(0, h, 12);
    c = codec_crc32(c, h + 16, REC_HDR - 16);
    return codec_crc32(c, payload, plen);
}

void blob_rec_head(uint8_t *h, int type, const struct rkey *key, const void *payload, uint32_t plen)
{
    rec_head_init(h, type, key);
    put_u32(h + 8, plen);
    put_u32(h + 12, rec_crc(h, payload, plen));
}

void blob_rec_end(struct wbuf *w, size_t start)
{
    if (w->err)
        return;
    uint8_t *h = w->p + start;
    size_t plen = w->len - start - REC_HDR;
    put_u32(h + 8, (uint32_t)plen);
    put_u32(h + 12, rec_crc(h, h + REC_HDR, plen));
}

int blob_check(const uint8_t *rec, size_t avail, int *type, struct rkey *key, uint32_t *plen)
{
    if (avail < REC_HDR || get_u32(rec) != REC_MAGIC)
        return SOP_CORRUPT("record: no record header here");
    uint32_t n = get_u32(rec + 8);
    int t = rec[4];
    if (t < REC_NODE || t > REC_COMMIT)
        return SOP_CORRUPT("record: unknown record type");
    if (n > avail - REC_HDR)
        return SOP_CORRUPT("record: its length runs past the segment's end");
    if (rec_crc(rec, rec + REC_HDR, n) != get_u32(rec + 12))
        return SOP_CORRUPT("record: crc mismatch");
    if (type)
        *type = t;
    if (key) {
        memcpy(key->id.b, rec + 16, 16);
        key->idx = get_u64(rec + 32);
    }
    if (plen)
        *plen = n;
    return 0;
}

struct part {
    const void *p;
    size_t len;
};

/* Append the parts, in order, as one piece of the log (each its pwrite). */
static int append_parts(struct seglog *l, const struct part *parts, int nparts, uint32_t *seg,
                        uint64_t *off)
{
    int rc = 0, fd;
    size_t len = 0;
    for (int i = 0; i < nparts; i++)
        len += parts[i].len;
    if (len > UINT32_MAX)
        return SOP_EINVAL;
    pthread_mutex_lock(&l->mu);
    if (l->broken) {
        rc = SOP_EIO;
        goto out;
    }
    if (l->cur_off > 0 && l->cur_off + len > l->seg_max) {
        /* roll over: the previous segment keeps its unsynced bytes on the
         * list of segments blob_sync must flush */
        int old;
        uint32_t next;
        if ((rc = fresh_segment(l, &next, &fd)) != 0)
            goto out;
        if (seg_fd(l, l->cur, false, &old) == 0)
            cut_zeros(l, old);
        if (!l->unsynced_lo)
            l->unsynced_lo = l->cur;
        l->cur = next;
        l->cur_off = 0;
        l->zeroed_end = 0;
    }
    if (l->number && l->cur == 0) { /* a member's first append makes its segment */
        if ((rc = fresh_segment(l, &l->cur, &fd)) != 0)
            goto out;
        l->cur_off = 0;
    }
    if ((rc = seg_fd(l, l->cur, true, &fd)) != 0)
        goto out;
    int w = 0;
    for (size_t i = 0, at = 0; i < (size_t)nparts && w >= 0; at += parts[i++].len)
        w = os_pwrite_full(l->os, fd, parts[i].p, parts[i].len, l->cur_off + at);
    if (w < 0) {
        snprintf(l->err, sizeof(l->err), "write segment %08u at %llu: %s", l->cur,
                 (unsigned long long)l->cur_off, strerror(-w));
        rc = os_err(w);
        /* cut the torn bytes off; if even that fails, start a new segment so
         * valid records never follow a torn one in the same file */
        l->zeroed_end = 0;
        if (l->os->ftruncate(l->os, fd, l->cur_off) < 0) {
            int fd2;
            uint32_t next;
            if (fresh_segment(l, &next, &fd2) == 0) {
                if (!l->unsynced_lo)
                    l->unsynced_lo = l->cur;
                l->cur = next;
                l->cur_off = 0;
            } else {
                l->broken = true;
            }
        }
        goto out;
    }
    *seg = l->cur;
    *off = l->cur_off;
    l->cur_off += len;
    l->appended += len;
    if (!l->unsynced_lo)
        l->unsynced_lo = l->cur;
    if (len <= BLOB_PREZERO / 4)
        prezero(l, fd);
out:
    pthread_mutex_unlock(&l->mu);
    return rc;
}

int blob_append(struct seglog *l, const void *buf, size_t len, uint32_t *seg, uint64_t *off)
{
    struct part p = {buf, len};
    return append_parts(l, &p, 1, seg, off);
}

int blob_append_rec(struct seglog *l, const uint8_t *h, const void *payload, uint32_t plen,
                    uint32_t *seg, uint64_t *off)
{
    uint8_t small[4096];
    if (plen <= sizeof(small) - REC_HDR) { /* a small value: one pwrite */
        memcpy(small, h, REC_HDR);
        if (plen)
            memcpy(small + REC_HDR, payload, plen);
        struct part p = {small, REC_HDR + (size_t)plen};
        return append_parts(l, &p, 1, seg, off);
    }
    struct part p[2] = {{h, REC_HDR}, {payload, plen}};
    return append_parts(l, p, 2, seg, off);
}

int blob_sync(struct seglog *l)
{
    int rc = 0;
    pthread_mutex_lock(&l->mu);
    if (l->broken) {
        rc = SOP_EIO;
        goto out;
    }
    /* value segments first: a commit record durable means its chunks are */
    for (uint32_t s = 0; s < l->nfds; s++) {
        int fd;
        if (l->vkind[s] != VSEG_UNSYNCED || l->fds[s] < 0)
            continue;
        fd = l->fds[s];
        int r = l->os->fsync(l->os, fd);
        if (r < 0) {
            snprintf(l->err, sizeof(l->err), "fsync value segment %08u: %s", s, strerror(-r));
            l->broken = true;
            rc = os_err(r);
            goto out;
        }
        l->vkind[s] = VSEG_YES;
    }
    if (l->vdir_unsynced) {
        int r = l->os->fsync_dir(l->os, l->dir);
        if (r < 0) {
            snprintf(l->err, sizeof(l->err), "fsync folder %s: %s", l->dir, strerror(-r));
            l->broken = true;
            rc = os_err(r);
            goto out;
        }
        l->vdir_unsynced = false;
    }
    if (!l->unsynced_lo)
        goto out;
    uint32_t upto_seg = l->cur;
    uint64_t upto_off = l->cur_off;
    for (uint32_t s = l->unsynced_lo; s <= l->cur; s++) {
        int fd;
        if (is_vseg(l, s))
            continue;
        if ((rc = seg_fd(l, s, false, &fd)) != 0) {
            if (rc == SOP_ENOTFOUND) { /* a segment rolled past and never written */
                rc = 0;
                continue;
            }
            goto out;
        }
        int r = l->os->fsync(l->os, fd);
        if (r < 0) {
            snprintf(l->err, sizeof(l->err), "fsync segment %08u: %s", s, strerror(-r));
            l->broken = true;
            rc = os_err(r);
            goto out;
        }
    }
    l->unsynced_lo = 0;
    l->synced_seg = upto_seg;
    l->synced_off = upto_off;
out:
    pthread_mutex_unlock(&l->mu);
    return rc;
}

#define BLOB_SMALL_READ 4096

int blob_read(struct seglog *l, const struct loc *loc, int *type, const struct rkey *key, void *buf)
{
    int fd, rc;
    struct rkey k;
    uint8_t h[REC_HDR];
    pthread_mutex_lock(&l->mu);
    rc = seg_fd(l, loc->seg, false, &fd);
    pthread_mutex_unlock(&l->mu);
    if (rc)
        return rc == SOP_ENOTFOUND
                   ? SOP_CORRUPT_REC(loc->seg, loc->off, "read record: its segment is missing")
                   : rc;
    int r;
    if (loc->len <= BLOB_SMALL_READ) {
        /* one system call for header and payload (delta chains are many
         * small records) */
        uint8_t tmp[REC_HDR + BLOB_SMALL_READ];
        r = os_pread_full(l->os, fd, tmp, REC_HDR + loc->len, loc->off);
        if (r == 0) {
            memcpy(h, tmp, REC_HDR);
            memcpy(buf, tmp + REC_HDR, loc->len);
        }
    } else {
        r = os_pread_full(l->os, fd, h, REC_HDR, loc->off);
        if (r == 0)
            r = os_pread_full(l->os, fd, buf, loc->len, loc->off + REC_HDR);
    }
    if (r < 0)
        return r == -EIO
                   ? SOP_CORRUPT_REC(loc->seg, loc->off, "read record: the disk failed it (EIO)")
                   : os_err(r);
    /* check the header against the payload without copying them together */
    if (get_u32(h) != REC_MAGIC)
        return SOP_CORRUPT_REC(loc->seg, loc->off, "read record: no record header here");
    if (get_u32(h + 8) != loc->len)
        return SOP_CORRUPT_REC(loc->seg, loc->off, "read record: its length is not the registry's");
    if ((*type == 0 && (h[4] == REC_NODE || h[4] == REC_DELTA)) ||
        (*type == -1 && h[4] >= REC_NODE && h[4] <= REC_COMMIT))
        *type = h[4];
    else if (h[4] != *type)
        return SOP_CORRUPT_REC(loc->seg, loc->off, "read record: not of the type expected");
    if (rec_crc(h, buf, loc->len) != get_u32(h + 12))
        return SOP_CORRUPT_REC(loc->seg, loc->off, "read record: crc mismatch");
    memcpy(k.id.b, h + 16, 16);
    k.idx = get_u64(h + 32);
    if (key && (k.idx != key->idx || memcmp(k.id.b, key->id.b, 16) != 0))
        return SOP_CORRUPT_REC(loc->seg, loc->off, "read record: it is another key's");
    return 0;
}

int blob_roll(struct seglog *l)
{
    int fd, rc = 0;
    pthread_mutex_lock(&l->mu);
    if (l->cur_off > 0) {
        uint32_t next;
        if ((rc = fresh_segment(l, &next, &fd)) == 0) {
            if (!l->unsynced_lo)
                l->unsynced_lo = l->cur;
            l->cur = next;
            l->cur_off = 0;
        }
    }
    pthread_mutex_unlock(&l->mu);
    return rc;
}

int blob_seg_size(struct seglog *l, uint32_t seg, uint64_t *size)
{
    int fd, rc;
    pthread_mutex_lock(&l->mu);
    if (seg == l->cur) {
        *size = l->cur_off;
        rc = 0;
    } else if ((rc = seg_fd(l, seg, false, &fd)) == 0) {
        int r = l->os->fsize(l->os, fd, size);
        rc = r < 0 ? os_err(r) : 0;
    }
    pthread_mutex_unlock(&l->mu);
    return rc;
}

int blob_drop_segment(struct seglog *l, uint32_t seg)
{
    char p[4096];
    int rc = 0;
    pthread_mutex_lock(&l->mu);
    if (seg >= l->cur) {
        rc = SOP_EINVAL;
        goto out;
    }
    if (seg < l->nfds && l->fds[seg] >= 0) {
        l->os->close(l->os, l->fds[seg]);
        l->fds[seg] = -1;
    }
    any_path(l, p, sizeof(p), seg);
    int r = l->os->unlink(l->os, p);
    if (r < 0 && r != -ENOENT) {
        snprintf(l->err, sizeof(l->err), "remove segment %s: %s", p, strerror(-r));
        rc = os_err(r);
    } else if (seg < l->nfds) {
        l->vkind[seg] = VSEG_NO;
    }
out:
    pthread_mutex_unlock(&l->mu);
    return rc;
}

int blob_vseg_create(struct seglog *l, uint32_t *seg)
{
    uint32_t n;
    int fd;
    pthread_mutex_lock(&l->mu);
    int rc = take_free_file(l, true, &n, &fd);
    if (rc == 0) {
        l->fds[n] = fd;
        l->vkind[n] = VSEG_UNSYNCED;
        l->vdir_unsynced = true; /* its name must be durable before a commit naming it */
        *seg = n;
    }
    pthread_mutex_unlock(&l->mu);
    return rc;
}

int blob_vseg_write(struct seglog *l, uint32_t seg, uint64_t off, const uint8_t *h,
                    const void *payload, uint32_t plen)
{
    int fd, rc;
    pthread_mutex_lock(&l->mu);
    rc = is_vseg(l, seg) ? seg_fd(l, seg, false, &fd) : SOP_EINVAL;
    if (rc == 0)
        l->vkind[seg] = VSEG_UNSYNCED;
    pthread_mutex_unlock(&l->mu);
    if (rc)
        return rc;
    int w = os_pwrite_full(l->os, fd, h, REC_HDR, off);
    if (w == 0 && plen)
        w = os_pwrite_full(l->os, fd, payload, plen, off + REC_HDR);
    if (w < 0) {
        pthread_mutex_lock(&l->mu);
        snprintf(l->err, sizeof(l->err), "write value segment %08u at %llu: %s", seg,
                 (unsigned long long)off, strerror(-w));
        pthread_mutex_unlock(&l->mu);
        return os_err(w);
    }
    pthread_mutex_lock(&l->mu);
    l->appended += REC_HDR + (uint64_t)plen;
    pthread_mutex_unlock(&l->mu);
    return 0;
}

int blob_vseg_drop(struct seglog *l, uint32_t seg)
{
    char p[4096];
    int rc = 0;
    pthread_mutex_lock(&l->mu);
    if (!is_vseg(l, seg)) {
        rc = SOP_EINVAL;
        goto out;
    }
    if (l->fds[seg] >= 0) {
        l->os->close(l->os, l->fds[seg]);
        l->fds[seg] = -1;
    }
    vseg_path(p, sizeof(p), l->dir, seg);
    int r = l->os->unlink(l->os, p);
    if (r < 0 && r != -ENOENT) {
        snprintf(l->err, sizeof(l->err), "remove value segment %s: %s", p, strerror(-r));
        rc = os_err(r);
    } else {
        l->vkind[seg] = VSEG_NO;
    }
out:
    pthread_mutex_unlock(&l->mu);
    return rc;
}

bool blob_is_vseg(struct seglog *l, uint32_t seg)
{
    pthread_mutex_lock(&l->mu);
    bool v = is_vseg(l, seg);
    pthread_mutex_unlock(&l->mu);
    return v;
}

struct seglist {
    uint32_t *v;
    size_t n, cap;
};

struct seglist_arg {
    struct seglist s;
    const char *ext;
    int rc; /* SOP_ENOMEM: os->list's own result is an errno */
};

static int add_seg(const char *name, void *arg)
{
    struct seglist_arg *a = arg;
    struct seglist *s = &a->s;
    unsigned u;
    char tail[8];
    if (strlen(name) != 12 || sscanf(name, "%8u.%3s", &u, tail) != 2 || strcmp(tail, a->ext) ||
        u == 0)
        return 0;
    if (s->n == s->cap) {
        size_t c = s->cap ? s->cap * 2 : 16;
        uint32_t *v = os_realloc(s->v, c * sizeof(*v));
        if (!v) {
            a->rc = SOP_ENOMEM;
            return 1; /* stop */
        }
        s->v = v;
        s->cap = c;
    }
    s->v[s->n++] = u;
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int list_ext(const struct os_ops *os, const char *dir, const char *ext, uint32_t **out,
                    size_t *n)
{
    struct seglist_arg a = {.ext = ext};
    int r = os->list(os, dir, add_seg, &a);
    if (r != 0 || a.rc) {
        os_free(a.s.v);
        return a.rc ? a.rc : os_err(r);
    }
    if (a.s.n)
        qsort(a.s.v, a.s.n, sizeof(*a.s.v), cmp_u32);
    *out = a.s.v;
    *n = a.s.n;
    return 0;
}

int blob_list_segments(const struct os_ops *os, const char *dir, uint32_t **out, size_t *n)
{
    return list_ext(os, dir, "seg", out, n);
}

int blob_list_vsegs(const struct os_ops *os, const char *dir, uint32_t **out, size_t *n)
{
    return list_ext(os, dir, "val", out, n);
}

/* After an invalid record at `bad` in segment seg: is it damage (a later
 * valid commit says the log was durable past it)?  *next gets the offset of
 * the next valid record (0: none). */
static int judge_gap(const struct os_ops *os, int fd, uint32_t seg, uint64_t bad, uint64_t size,
                     bool *damage, uint64_t *next)
{
    size_t n = (size_t)(size - bad);
    uint8_t *buf = os_malloc(n ? n : 1);
    *damage = false;
    *next = 0;
    if (!buf)
        return SOP_ENOMEM;
    if (os_pread_full(os, fd, buf, n, bad) < 0) {
        os_free(buf);
        return 0; /* unreadable tail: treat as torn */
    }
    /* A record whose header holds (magic, a length that fits) but whose crc
     * does not, followed at once by a valid record, was damaged in place (a
     * flipped byte, a bad sector): a torn write leaves nothing valid right
     * behind it.  With a valid commit later on, the commits after it were
     * acknowledged and are kept; the damaged record alone is skipped. */
    bool in_place = false;
    if (n >= REC_HDR && get_u32(buf) == REC_MAGIC) {
        uint64_t after = REC_HDR + (uint64_t)get_u32(buf + 8);
        in_place = after + REC_HDR <= n && get_u32(buf + after) == REC_MAGIC &&
                   blob_check(buf + after, n - (size_t)after, NULL, NULL, NULL) == 0;
    }
    for (size_t i = 1; i + REC_HDR <= n; i++) {
        int type;
        uint32_t plen;
        if (get_u32(buf + i) != REC_MAGIC || blob_check(buf + i, n - i, &type, NULL, &plen))
            continue;
        if (!*next)
            *next = bad + i;
        if (type == REC_COMMIT && plen >= COMMIT_SYNCED_AT + 12) {
            const uint8_t *p = buf + i + REC_HDR + COMMIT_SYNCED_AT;
            uint32_t sseg = get_u32(p);
            uint64_t soff = get_u64(p + 4);
            if (in_place || sseg > seg || (sseg == seg && soff > bad)) {
                *damage = true;
                break;
            }
        }
        i += REC_HDR + plen - 1;
    }
    os_free(buf);
    return 0;
}

/* Scan one segment from `off`; *end gets the end of its valid part. */
static int scan_one(const struct os_ops *os, const char *dir, uint32_t seg, uint64_t off,
                    blob_scan_fn fn, void *arg, uint64_t *end)
{
    char p[4096];
    uint64_t size;
    uint8_t *buf = NULL;
    size_t cap = 0;
    int rc = 0;
    seg_path(p, sizeof(p), dir, seg);
    int fd = os->open(os, p, O_RDONLY, 0);
    if (fd < 0)
        return os_err(fd);
    if ((rc = os->fsize(os, fd, &size)) < 0) {
        rc = os_err(rc);
        goto out;
    }
    *end = off;
    while (off < size) {
        uint8_t h[REC_HDR];
        bool ok = off + REC_HDR <= size && os_pread_full(os, fd, h, REC_HDR, off) == 0;
        uint32_t n = ok ? get_u32(h + 8) : 0;
        ok = ok && get_u32(h) == REC_MAGIC && off + REC_HDR + n <= size;
        if (ok && REC_HDR + (size_t)n > cap) {
            uint8_t *b = os_realloc(buf, REC_HDR + (size_t)n);
            if (!b) {
                rc = SOP_ENOMEM;
                goto out;
            }
            buf = b;
            cap = REC_HDR + (size_t)n;
        }
        int type = 0;
        struct rkey key;
        if (ok) {
            memcpy(buf, h, REC_HDR);
            ok = os_pread_full(os, fd, buf + REC_HDR, n, off + REC_HDR) == 0 &&
                 blob_check(buf, REC_HDR + (size_t)n, &type, &key, NULL) == 0;
        }
        if (!ok) {
            bool damage;
            uint64_t next;
            if ((rc = judge_gap(os, fd, seg, off, size, &damage, &next)) != 0)
                goto out;
            if (!damage || !next)
                break; /* a torn tail: never acknowledged */
            /* damage: skip it (later reads of it say ECORRUPT), and say so */
            struct loc gap = {.seg = seg, .off = off, .len = (uint32_t)(next - off)};
            if ((rc = fn(REC_DAMAGED, NULL, &gap, NULL, arg)) != 0)
                goto out;
            off = next;
            *end = off;
            continue;
        }
        struct loc loc = {.seg = seg, .len = n, .off = off};
        if ((rc = fn(type, &key, &loc, buf + REC_HDR, arg)) != 0)
            goto out;
        off += REC_HDR + n;
        *end = off;
    }
out:
    os_free(buf);
    os->close(os, fd);
    return rc;
}

int blob_scan(const struct os_ops *os, const char *dir, uint32_t seg, uint64_t off, blob_scan_fn fn,
              void *arg, uint32_t *last_seg, uint64_t *last_end)
{
    uint32_t *segs = NULL;
    size_t n = 0;
    int rc = blob_list_segments(os, dir, &segs, &n);
    if (rc)
        return rc;
    *last_seg = seg ? seg : 1;
    *last_end = off;
    for (size_t i = 0; i < n; i++) {
        if (segs[i] < seg)
            continue;
        uint64_t end = 0;
        rc = scan_one(os, dir, segs[i], segs[i] == seg ? off : 0, fn, arg, &end);
        if (rc)
            break;
        *last_seg = segs[i];
        *last_end = end;
    }
    os_free(segs);
    return rc;
}
