/*
 * vector.c - vector stores (kind "vector"): each item's value is a vector
 * and a payload, and a query returns the k items nearest to a vector by
 * cosine distance or L2.
 *
 * Value format (so `echo '0.1 0.2 0.3' > MOUNT/vectors/a` works): the first
 * line holds decimal floats separated by spaces, tabs or commas, optionally
 * inside '[' ']'; the payload is every byte after that line's '\n'.  Text,
 * not binary floats: a user can write and read it with the shell, and a
 * vector of a few hundred dimensions costs a few KiB either way.
 *
 * Queries are exact and O(N): a cursor walks the store in the query's
 * transaction, each item's first line is read (only the chunks that hold it,
 * never the payload), parsed and compared, and a bounded max-heap keeps the
 * k best.  No approximate index (IVF, HNSW) yet: an exact scan needs no
 * extra structure to keep transactional, is always right, and reads
 * ~10 bytes per dimension per item.  Calls sop.h's functions, plus
 * overlay.h for the store's kind and the transaction's message, kind.h and
 * os.h (memory).
 */
#define _GNU_SOURCE
#include "overlay.h"

#include "kind.h"
#include "os.h"

#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIRST_READ 4096u

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void c_locale_init(void)
{
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

static bool sep(char c)
{
    return c == ' ' || c == '\t' || c == ',' || c == '\r';
}

SOP_API int sop_vector_parse(const void *v, size_t vl, float *vec, uint32_t cap, uint32_t *dim,
                             size_t *payload_off)
{
    if ((!v && vl) || !dim || !payload_off || (!vec && cap))
        return SOP_EINVAL;
    pthread_once(&c_locale_once, c_locale_init);
    if (!c_locale)
        return SOP_ENOMEM;
    const char *p = v;
    const char *nl = vl ? memchr(p, '\n', vl) : NULL;
    size_t line = nl ? (size_t)(nl - p) : vl;
    if (line > SOP_VECTOR_MAX_LINE)
        return SOP_EINVAL;
    /* strtof needs a terminated string: a copy of the line */
    char *s = os_malloc(line + 1);
    if (!s)
        return SOP_ENOMEM;
    memcpy(s, p, line);
    s[line] = 0;
    int rc = SOP_EINVAL;
    uint32_t n = 0;
    char *q = s;
    while (sep(*q))
        q++;
    bool bracket = *q == '[';
    if (bracket)
        q++;
    for (;;) {
        while (sep(*q))
            q++;
        if (!*q || *q == ']')
            break;
        char *end;
        float f = strtof_l(q, &end, c_locale);
        if (end == q || !isfinite(f) || n >= cap)
            goto out;
        if (*end && !sep(*end) && *end != ']')
            goto out;
        vec[n++] = f;
        q = end;
    }
    if (*q == ']') {
        if (!bracket)
            goto out;
        q++;
    } else if (bracket) {
        goto out;
    }
    while (sep(*q))
        q++;
    if (*q || n == 0)
        goto out;
    *dim = n;
    *payload_off = nl ? line + 1 : vl;
    rc = 0;
out:
    os_free(s);
    return rc;
}

static bool is_vector(const sop_store *s)
{
    return s->info.kind && !strcmp(s->info.kind, "vector");
}

static int check_store(sop_store *s, const char *what)
{
    if (s->dropped || s->gone) {
        txn_seterr(s->t, "%s %s: dropped in this transaction", what, s->info.name);
        return SOP_ENOTFOUND;
    }
    if (!is_vector(s)) {
        txn_seterr(s->t, "%s %s: the store is of kind %s, not vector", what, s->info.name,
                   s->info.kind);
        return SOP_EINVAL;
    }
    return 0;
}

SOP_API int sop_vector_put(sop_store *s, const void *k, size_t kl, const float *vec, uint32_t dim,
                           const void *payload, size_t payload_len)
{
    int rc;
    if (!s || !vec || (!payload && payload_len) || (!k && kl))
        return SOP_EINVAL;
    if ((rc = check_store(s, "vector put")) != 0)
        return rc;
    if (dim == 0 || dim > SOP_VECTOR_MAX_DIM) {
        txn_seterr(s->t, "vector put: dimension %u is out of 1..%u", dim, SOP_VECTOR_MAX_DIM);
        return SOP_EINVAL;
    }
    char *line = os_malloc((size_t)dim * 18 + 2);
    if (!line)
        return SOP_ENOMEM;
    size_t n = 0;
    for (uint32_t i = 0; i < dim; i++) {
        if (!isfinite(vec[i])) {
            txn_seterr(s->t, "vector put: number %u is not finite", i);
            os_free(line);
            return SOP_EINVAL;
        }
        n += (size_t)snprintf(line + n, 18, i ? " %.9g" : "%.9g", (double)vec[i]);
    }
    line[n++] = '\n';
    rc = sop_upsert(s, k, kl, line, n);
    if (rc == 0 && payload_len)
        rc = sop_value_write(s, k, kl, n, payload, payload_len);
    os_free(line);
    return rc;
}

/* The first line of the cursor's item, parsed.  SOP_EINVAL: skip it. */
static int read_vector(sop_store *s, const void *k, size_t kl, uint8_t **buf, size_t *cap,
                       float *vec, uint32_t *dim)
{
    uint64_t size;
    size_t have = 0, off;
    int rc = sop_value_size(s, k, kl, &size);
    if (rc)
        return rc;
    if (size == 0)
        return SOP_EINVAL; /* no vector */
    for (;;) {
        size_t want = have ? have * 2 : FIRST_READ;
        if (want > SOP_VECTOR_MAX_LINE + 1)
            want = SOP_VECTOR_MAX_LINE + 1;
        if (want > size)
            want = (size_t)size;
        if (want > *cap) {
            uint8_t *b = os_realloc(*buf, want);
            if (!b)
                return SOP_ENOMEM;
            *buf = b;
            *cap = want;
        }
        size_t got = 0;
        if (want > have &&
            (rc = sop_value_read(s, k, kl, have, *buf + have, want - have, &got)) != 0)
            return rc;
        size_t from = have;
        have += got;
        if (memchr(*buf + from, '\n', have - from) || have >= size || have > SOP_VECTOR_MAX_LINE ||
            got == 0)
            break;
    }
    return sop_vector_parse(*buf, have, vec, SOP_VECTOR_MAX_DIM, dim, &off);
}

struct vhit {
    uint8_t *k;
    size_t kl;
    double d;
};

/* a before b in the answer: nearer, then smaller key */
static bool vh_before(const struct vhit *a, const struct vhit *b)
{
    if (a->d != b->d)
        return a->d < b->d;
    int c = memcmp(a->k, b->k, a->kl < b->kl ? a->kl : b->kl);
    return c ? c < 0 : a->kl < b->kl;
}

/* max-heap on "before": the root is the worst kept */
static void heap_down(struct vhit *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && vh_before(&h[m], &h[l]))
            m = l;
        if (r < n && vh_before(&h[m], &h[r]))
            m = r;
        if (m == i)
            return;
        struct vhit x = h[i];
        h[i] = h[m];
        h[m] = x;
        i = m;
    }
}

static void heap_up(struct vhit *h, size_t i)
{
    while (i) {
        size_t p = (i - 1) / 2;
        if (!vh_before(&h[p], &h[i]))
            return;
        struct vhit x = h[i];
        h[i] = h[p];
        h[p] = x;
        i = p;
    }
}

static int vh_cmp(const void *x, const void *y)
{
    const struct vhit *a = x, *b = y;
    return vh_before(a, b) ? -1 : vh_before(b, a) ? 1 : 0;
}

SOP_API int sop_vector_query(sop_store *s, const float *q, uint32_t dim, size_t k,
                             sop_vector_metric metric, sop_vector_hit **hits, size_t *nhits,
                             uint64_t *skipped)
{
    struct vhit *heap = NULL;
    size_t nh = 0, bcap = 0;
    uint8_t *buf = NULL;
    float *vec = NULL;
    uint64_t nskip = 0;
    sop_cursor *c = NULL;
    int rc;
    if (!s || !q || !hits || !nhits || k == 0)
        return SOP_EINVAL;
    if ((rc = txn_check(s->t, false)) != 0 || (rc = check_store(s, "vector query")) != 0)
        return rc;
    if (dim == 0 || dim > SOP_VECTOR_MAX_DIM ||
        (metric != SOP_VECTOR_COSINE && metric != SOP_VECTOR_L2)) {
        txn_seterr(s->t, "vector query: dimension %u (1..%u) or metric %d is not valid", dim,
                   SOP_VECTOR_MAX_DIM, (int)metric);
        return SOP_EINVAL;
    }
    double qn = 0;
    for (uint32_t i = 0; i < dim; i++) {
        if (!isfinite(q[i])) {
            txn_seterr(s->t, "vector query: number %u is not finite", i);
            return SOP_EINVAL;
        }
        qn += (double)q[i] * q[i];
    }
    if (metric == SOP_VECTOR_COSINE && qn == 0) {
        txn_seterr(s->t, "vector query: a zero vector has no direction (cosine)");
        return SOP_EINVAL;
    }
    qn = sqrt(qn);
    size_t hcap = k < 1024 ? k : 1024;
    if (!(heap = os_malloc(hcap * sizeof(*heap))) ||
        !(vec = os_malloc(SOP_VECTOR_MAX_DIM * sizeof(*vec)))) {
        rc = SOP_ENOMEM;
        goto out;
    }
    if ((rc = sop_cursor_open(s, &c)) != 0)
        goto out;
    for (rc = sop_cursor_first(c); rc == 0; rc = sop_cursor_next(c)) {
        const void *key;
        size_t kl;
        uint32_t d = 0;
        if ((rc = sop_cursor_key(c, &key, &kl)) != 0)
            break;
        rc = read_vector(s, key, kl, &buf, &bcap, vec, &d);
        if (rc == SOP_EINVAL || (rc == 0 && d != dim)) {
            nskip++;
            rc = 0;
            continue;
        }
        if (rc)
            break;
        double dist, dot = 0, vn = 0, l2 = 0;
        for (uint32_t i = 0; i < dim; i++) {
            double a = q[i], b = vec[i];
            dot += a * b;
            vn += b * b;
            l2 += (a - b) * (a - b);
        }
        if (metric == SOP_VECTOR_COSINE) {
            if (vn == 0) {
                nskip++;
                continue;
            }
            dist = 1.0 - dot / (qn * sqrt(vn));
            dist = dist < 0 ? 0 : dist > 2 ? 2 : dist; /* rounding */
        } else {
            dist = sqrt(l2);
        }
        struct vhit h = {.k = NULL, .kl = kl, .d = dist};
        h.k = (uint8_t *)key; /* compared before copying */
        if (nh == k && !vh_before(&h, &heap[0]))
            continue;
        if (!(h.k = os_malloc(kl + 1))) {
            rc = SOP_ENOMEM;
            break;
        }
        memcpy(h.k, key, kl);
        h.k[kl] = 0;
        if (nh == k) {
            os_free(heap[0].k);
            heap[0] = h;
            heap_down(heap, nh, 0);
            continue;
        }
        if (nh == hcap) {
            size_t nc = hcap * 2 < k ? hcap * 2 : k;
            struct vhit *g = os_realloc(heap, nc * sizeof(*g));
            if (!g) {
                os_free(h.k);
                rc = SOP_ENOMEM;
                break;
            }
            heap = g;
            hcap = nc;
        }
        heap[nh++] = h;
        heap_up(heap, nh - 1);
    }
    if (rc != SOP_ENOTFOUND && rc != 0)
        goto out;
    rc = 0;
    if (nh > 1)
        qsort(heap, nh, sizeof(*heap), vh_cmp);
    size_t bytes = 0;
    for (size_t i = 0; i < nh; i++)
        bytes += heap[i].kl + 1;
    sop_vector_hit *r = os_malloc(nh * sizeof(*r) + bytes + 1);
    if (!r) {
        rc = SOP_ENOMEM;
        goto out;
    }
    uint8_t *p = (uint8_t *)(r + nh);
    for (size_t i = 0; i < nh; i++) {
        memcpy(p, heap[i].k, heap[i].kl + 1);
        r[i].key = p;
        r[i].key_len = heap[i].kl;
        r[i].distance = heap[i].d;
        p += heap[i].kl + 1;
    }
    *hits = r;
    *nhits = nh;
    if (skipped)
        *skipped = nskip;
out:
    sop_cursor_close(c);
    for (size_t i = 0; i < nh; i++)
        os_free(heap[i].k);
    os_free(heap);
    os_free(vec);
    os_free(buf);
    return rc;
}

SOP_API void sop_vector_free(sop_vector_hit *hits)
{
    os_free(hits);
}
/* A vector store is a store of records to the core: nothing of its own to
 * keep up to date at commit. */
const struct store_kind kind_vector = {.name = "vector"};
