/*
 * order.c - claims of the commit order on disk (order.h).
 */
#define _GNU_SOURCE
#include "order.h"

#include "codec.h"
#include "corrupt.h"
#include "sop.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLAIM_TAG "sop1"
#define CLAIM_MAX 160

static void claim_path(const char *dir, uint64_t seq, char *out, size_t cap)
{
    snprintf(out, cap, "%s/" ORDER_DIR "/%016" PRIx64, dir, seq);
}

static void hex16(const uint8_t m[16], char out[33])
{
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", m[i]);
}

static size_t encode(const struct order_claim *c, char *b, size_t cap)
{
    char m[33];
    hex16(c->member, m);
    int n = snprintf(b, cap,
                     CLAIM_TAG " %" PRIx64 " %" PRIx64 " %s %" PRIx32 " %" PRIx64 " %" PRIx32,
                     c->seq, c->fence, m, c->seg, c->off, c->len);
    n += snprintf(b + n, cap - (size_t)n, " %08" PRIx32, codec_crc32(0, b, (size_t)n));
    return (size_t)n;
}

static bool decode(const char *b, size_t n, struct order_claim *c)
{
    char text[CLAIM_MAX + 1], m[40];
    unsigned crc;
    int used = 0;
    if (n > CLAIM_MAX || n < 16)
        return false;
    memcpy(text, b, n);
    text[n] = 0;
    const char *sp = strrchr(text, ' ');
    if (!sp || sscanf(sp, " %8x%n", &crc, &used) != 1 || sp[used] ||
        codec_crc32(0, text, (size_t)(sp - text)) != crc)
        return false;
    uint64_t seq, fence, off;
    uint32_t seg, len;
    if (sscanf(text, CLAIM_TAG " %" SCNx64 " %" SCNx64 " %32s %" SCNx32 " %" SCNx64 " %" SCNx32,
               &seq, &fence, m, &seg, &off, &len) != 6 ||
        strlen(m) != 32)
        return false;
    for (int i = 0; i < 16; i++) {
        unsigned v;
        if (sscanf(m + 2 * i, "%2x", &v) != 1)
            return false;
        c->member[i] = (uint8_t)v;
    }
    c->seq = seq;
    c->fence = fence;
    c->seg = seg;
    c->off = off;
    c->len = len;
    return true;
}

int order_init(const struct os_ops *os, const char *dir, char *why, size_t whylen)
{
    char p[4200];
    snprintf(p, sizeof(p), "%s/" ORDER_DIR, dir);
    int r = os->mkdir(os, p, 0755);
    if (r == -EEXIST)
        return 0;
    if (r == 0)
        r = os->fsync_dir(os, dir);
    if (r < 0) {
        snprintf(why, whylen, "make %s: %s", p, strerror(-r));
        return os_err(r);
    }
    return 0;
}

int order_read(const struct os_ops *os, const char *dir, uint64_t seq, struct order_claim *out,
               char *why, size_t whylen)
{
    char p[4200], b[CLAIM_MAX + 2];
    claim_path(dir, seq, p, sizeof(p));
    ssize_t n = os->readlink(os, p, b, sizeof(b));
    if (n == -ENOENT)
        return SOP_ENOTFOUND;
    if (n < 0 && n != -EINVAL) {
        snprintf(why, whylen, "read the claim of commit %" PRIu64 " (%s): %s", seq, p,
                 strerror((int)-n));
        return os_err((int)n);
    }
    struct order_claim c;
    if (n < 0 || !decode(b, (size_t)n, &c) || c.seq != seq) {
        snprintf(why, whylen, "the claim of commit %" PRIu64 " (%s) does not check", seq, p);
        return SOP_CORRUPT("order: a claim that does not check");
    }
    *out = c;
    return 0;
}

int order_claim(const struct os_ops *os, const char *dir, const struct order_claim *c,
                char *why, size_t whylen)
{
    char p[4200], text[CLAIM_MAX + 1];
    claim_path(dir, c->seq, p, sizeof(p));
    encode(c, text, sizeof(text));
    int r = os->symlink(os, text, p);
    if (r == -EEXIST) {
        /* another member's, or ours: NFS may answer a retransmitted
         * SYMLINK that did succeed with EEXIST, so look before saying no */
        struct order_claim have;
        char w2[256];
        if (order_read(os, dir, c->seq, &have, w2, sizeof(w2)) != 0 || have.fence != c->fence ||
            memcmp(have.member, c->member, 16) != 0 || have.seg != c->seg ||
            have.off != c->off || have.len != c->len) {
            snprintf(why, whylen, "commit %" PRIu64 " was claimed by another member first",
                     c->seq);
            return SOP_ECONFLICT;
        }
    } else if (r < 0) {
        snprintf(why, whylen, "claim commit %" PRIu64 ": symlink %s: %s", c->seq, p,
                 strerror(-r));
        return os_err(r);
    }
    char od[4200];
    snprintf(od, sizeof(od), "%s/" ORDER_DIR, dir);
    r = os->fsync_dir(os, od);
    if (r < 0) {
        snprintf(why, whylen,
                 "claim commit %" PRIu64 ": fsync %s: %s (the claim is made but may not be "
                 "durable)",
                 c->seq, od, strerror(-r));
        return os_err(r);
    }
    return 0;
}

int order_last(const struct os_ops *os, const char *dir, uint64_t from, uint64_t *last,
               char *why, size_t whylen)
{
    struct order_claim c;
    uint64_t s = from;
    for (;;) {
        int rc = order_read(os, dir, s + 1, &c, why, whylen);
        if (rc == SOP_ENOTFOUND)
            break;
        if (rc != 0)
            return rc;
        s++;
    }
    *last = s;
    return 0;
}

struct prune_arg {
    const struct os_ops *os;
    const char *dir;
    uint64_t below;
    int gone;
};

static int prune_one(const char *name, void *arg)
{
    struct prune_arg *a = arg;
    char *end, p[4200];
    if (strlen(name) != 16)
        return 0;
    errno = 0;
    unsigned long long s = strtoull(name, &end, 16);
    if (*end || errno || s >= a->below)
        return 0;
    snprintf(p, sizeof(p), "%s/" ORDER_DIR "/%s", a->dir, name);
    if (a->os->unlink(a->os, p) == 0)
        a->gone++;
    return 0;
}

int order_prune(const struct os_ops *os, const char *dir, uint64_t below)
{
    char od[4200];
    snprintf(od, sizeof(od), "%s/" ORDER_DIR, dir);
    struct prune_arg a = {.os = os, .dir = dir, .below = below};
    int r = os->list(os, od, prune_one, &a);
    if (r < 0 && r != -ENOENT)
        return SOP_EIO;
    if (a.gone)
        os->fsync_dir(os, od);
    return a.gone;
}
