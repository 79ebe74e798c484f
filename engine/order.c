/*
 * order.c - claims of the commit order on disk (order.h).
 */
#define _GNU_SOURCE
#include "order.h"

#include "codec.h"
#include "corrupt.h"

#include <assert.h>
#include "sop.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The text: "s1" and 43 characters of base64url (no padding) of 32 bytes,
 * little-endian: u64 fence, 8 bytes of the member's id, u32 segment, u32
 * offset, u32 length, u32 crc32 of the claim's seq (u64) and the 28 before.  45 characters: ext4
 * keeps a symlink of under 60 in its inode (a "fast" one), so a claim
 * allocates no block (516 us a symlink of 90 characters, under strace). */
#define CLAIM_TAG "s1"
#define CLAIM_RAW 32
#define CLAIM_TEXT (2 + 43)
#define CLAIM_MAX 64

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void claim_path(const char *dir, uint64_t seq, char *out, size_t cap)
{
    snprintf(out, cap, "%s/" ORDER_DIR "/%016" PRIx64, dir, seq);
}

static uint32_t claim_crc(uint64_t seq, const uint8_t *raw)
{
    uint8_t s[8];
    put_u64(s, seq);
    return codec_crc32(codec_crc32(0, s, 8), raw, 28);
}

static size_t encode(const struct order_claim *c, char *b, size_t cap)
{
    uint8_t raw[CLAIM_RAW + 1] = {0};
    assert(cap > CLAIM_TEXT && c->off <= UINT32_MAX);
    put_u64(raw, c->fence);
    memcpy(raw + 8, c->member, 8);
    put_u32(raw + 16, c->seg);
    put_u32(raw + 20, (uint32_t)c->off);
    put_u32(raw + 24, c->len);
    put_u32(raw + 28, claim_crc(c->seq, raw));
    memcpy(b, CLAIM_TAG, 2);
    size_t n = 2;
    for (size_t i = 0; i < CLAIM_RAW; i += 3) { /* 32 bytes: 10 groups and 2 left */
        uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 |
                     (i + 2 < CLAIM_RAW ? raw[i + 2] : 0);
        int chars = i + 2 < CLAIM_RAW ? 4 : 3;
        for (int k = 0; k < chars; k++)
            b[n++] = b64[(v >> (18 - 6 * k)) & 63];
    }
    b[n] = 0;
    return n;
}

static bool decode(const char *b, size_t n, uint64_t seq, struct order_claim *c)
{
    uint8_t raw[CLAIM_RAW + 2] = {0};
    if (n != CLAIM_TEXT || memcmp(b, CLAIM_TAG, 2) != 0)
        return false;
    size_t o = 0;
    for (size_t i = 2; i < n;) {
        uint32_t v = 0;
        int chars = n - i >= 4 ? 4 : (int)(n - i);
        for (int k = 0; k < 4; k++) {
            const char *p = k < chars ? strchr(b64, b[i + (size_t)k]) : b64;
            if (!p || !*p)
                return false;
            v = v << 6 | (uint32_t)(p - b64);
        }
        raw[o++] = (uint8_t)(v >> 16);
        raw[o++] = (uint8_t)(v >> 8);
        if (chars == 4)
            raw[o++] = (uint8_t)v;
        i += (size_t)chars;
    }
    if (o < CLAIM_RAW || get_u32(raw + 28) != claim_crc(seq, raw))
        return false;
    memset(c, 0, sizeof(*c));
    c->seq = seq;
    c->fence = get_u64(raw);
    memcpy(c->member, raw + 8, 8);
    c->seg = get_u32(raw + 16);
    c->off = get_u32(raw + 20);
    c->len = get_u32(raw + 24);
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
    if (n < 0 || !decode(b, (size_t)n, seq, &c)) {
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
            memcmp(have.member, c->member, 8) != 0 || have.seg != c->seg ||
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
