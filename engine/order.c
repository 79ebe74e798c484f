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

#define CLAIM_MAGIC "SOPCLM1\n"

static void claim_path(const char *dir, uint64_t seq, char *out, size_t cap)
{
    snprintf(out, cap, "%s/" ORDER_DIR "/%016" PRIx64, dir, seq);
}

static void encode(const struct order_claim *c, uint8_t b[ORDER_CLAIM_BYTES])
{
    memset(b, 0, ORDER_CLAIM_BYTES);
    memcpy(b, CLAIM_MAGIC, 8);
    put_u64(b + 8, c->seq);
    put_u64(b + 16, c->fence);
    put_u32(b + 24, c->seg);
    put_u64(b + 28, c->off);
    put_u32(b + 36, c->len);
    memcpy(b + 40, c->member, 16);
    put_u32(b + 60, codec_crc32(0, b, 60));
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
    char p[4200];
    uint8_t b[ORDER_CLAIM_BYTES + 1];
    claim_path(dir, seq, p, sizeof(p));
    int fd = os->open(os, p, O_RDONLY, 0);
    if (fd == -ENOENT)
        return SOP_ENOTFOUND;
    if (fd < 0) {
        snprintf(why, whylen, "read the claim of commit %" PRIu64 " (%s): %s", seq, p,
                 strerror(-fd));
        return os_err(fd);
    }
    ssize_t n = os->pread(os, fd, b, sizeof(b), 0);
    os->close(os, fd);
    if (n < 0) {
        snprintf(why, whylen, "read %s: %s", p, strerror((int)-n));
        return os_err((int)n);
    }
    if (n != ORDER_CLAIM_BYTES || memcmp(b, CLAIM_MAGIC, 8) != 0 ||
        get_u32(b + 60) != codec_crc32(0, b, 60) || get_u64(b + 8) != seq) {
        snprintf(why, whylen, "the claim of commit %" PRIu64 " (%s) does not check", seq, p);
        return SOP_CORRUPT("order: a claim file that does not check");
    }
    out->seq = seq;
    out->fence = get_u64(b + 16);
    out->seg = get_u32(b + 24);
    out->off = get_u64(b + 28);
    out->len = get_u32(b + 36);
    memcpy(out->member, b + 40, 16);
    return 0;
}

int order_claim(const struct os_ops *os, const char *dir, const struct order_claim *c,
                char *why, size_t whylen)
{
    char p[4200], tmp[4200], hex[33];
    uint8_t b[ORDER_CLAIM_BYTES];
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", c->member[i]);
    claim_path(dir, c->seq, p, sizeof(p));
    snprintf(tmp, sizeof(tmp), "%s/" ORDER_DIR "/tmp-%s-%016" PRIx64, dir, hex, c->seq);
    encode(c, b);
    int fd = os->open(os, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int r = fd < 0 ? fd : os_pwrite_full(os, fd, b, sizeof(b), 0);
    if (r == 0)
        r = os->fsync(os, fd);
    if (fd >= 0)
        os->close(os, fd);
    if (r < 0) {
        snprintf(why, whylen, "claim commit %" PRIu64 ": write %s: %s", c->seq, tmp,
                 strerror(-r));
        if (fd >= 0)
            os->unlink(os, tmp);
        return os_err(r);
    }
    r = os->link(os, tmp, p);
    if (r == -EEXIST) {
        /* another member's, or ours: NFS may answer a retransmitted LINK
         * that did succeed with EEXIST, so look before saying no */
        struct order_claim have;
        char w2[256];
        int rr = order_read(os, dir, c->seq, &have, w2, sizeof(w2));
        os->unlink(os, tmp);
        if (rr == 0 && have.fence == c->fence && memcmp(have.member, c->member, 16) == 0 &&
            have.seg == c->seg && have.off == c->off && have.len == c->len)
            r = 0;
        else {
            snprintf(why, whylen, "commit %" PRIu64 " was claimed by another member first",
                     c->seq);
            return SOP_ECONFLICT;
        }
    } else {
        os->unlink(os, tmp);
        if (r < 0) {
            snprintf(why, whylen, "claim commit %" PRIu64 ": link %s: %s", c->seq, p,
                     strerror(-r));
            return os_err(r);
        }
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
    char mine[40]; /* "tmp-<member>-": this member's leftovers ("" for none) */
    int gone;
};

static int prune_one(const char *name, void *arg)
{
    struct prune_arg *a = arg;
    char *end, p[4200];
    if (strncmp(name, "tmp-", 4) == 0) {
        /* another member's may be a claim on its way to its link */
        if (!a->mine[0] || strncmp(name, a->mine, strlen(a->mine)) != 0)
            return 0;
    } else {
        if (strlen(name) != 16)
            return 0;
        errno = 0;
        unsigned long long s = strtoull(name, &end, 16);
        if (*end || errno || s >= a->below)
            return 0;
    }
    /* one of our tmp- files is a claim cut by a crash before or after its
     * link: either way its name is not the claim */
    snprintf(p, sizeof(p), "%s/" ORDER_DIR "/%s", a->dir, name);
    if (a->os->unlink(a->os, p) == 0)
        a->gone++;
    return 0;
}

int order_prune(const struct os_ops *os, const char *dir, uint64_t below,
                const uint8_t *member)
{
    char od[4200];
    snprintf(od, sizeof(od), "%s/" ORDER_DIR, dir);
    struct prune_arg a = {.os = os, .dir = dir, .below = below};
    if (member) {
        int n = snprintf(a.mine, sizeof(a.mine), "tmp-");
        for (int i = 0; i < 16; i++)
            n += snprintf(a.mine + n, sizeof(a.mine) - (size_t)n, "%02x", member[i]);
        snprintf(a.mine + n, sizeof(a.mine) - (size_t)n, "-");
    }
    int r = os->list(os, od, prune_one, &a);
    if (r < 0 && r != -ENOENT)
        return SOP_EIO;
    if (a.gone)
        os->fsync_dir(os, od);
    return a.gone;
}
