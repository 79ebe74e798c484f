/*
 * test_model.c - the engine checked against a reference model kept in the
 * test.
 *
 * A random walk of adds, upserts, updates, removes, gets and value edits
 * (sop_value_read/write/truncate at random offsets) runs over several stores
 * at once: slot lengths 4, 5 and 8, so that nodes split and merge all the
 * time, and one store with the default options; unique and non-unique
 * stores; values inside nodes and outside them, of sizes from nothing to
 * many chunks of a 4 KiB chunk_size.  Every result code and every byte is
 * compared with the model: a sorted array per store (duplicates adjacent, in
 * insertion order) that a transaction works on a copy of, kept at commit and
 * dropped at rollback.  Cursors are walked whole both ways and from random
 * seeks, inside write transactions (own writes visible), in read
 * transactions, and after closing and reopening the database.
 *
 * The walk is replayable: SOP_SEED=N repeats it, SOP_TEST_SCALE=x scales it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sop.h"
#include "testlib.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ the model */

/* A value, shared by the committed model and the transaction's copy. */
struct mval {
    size_t refs;
    size_t len;
    uint8_t b[];
};

static struct mval *mv_new(size_t len)
{
    struct mval *v = malloc(sizeof(*v) + (len ? len : 1));
    assert_non_null(v);
    v->refs = 1;
    v->len = len;
    return v;
}

static struct mval *mv_ref(struct mval *v)
{
    v->refs++;
    return v;
}

static void mv_unref(struct mval *v)
{
    if (v && --v->refs == 0)
        free(v);
}

#define KMAX 16

struct ment {
    uint8_t k[KMAX];
    size_t kl;
    struct mval *v;
};

/* One store: entries sorted by key (memcmp, then length), duplicates
 * adjacent in insertion order. */
struct mstore {
    struct ment *e;
    size_t n, cap;
};

static int kcmp(const void *a, size_t al, const void *b, size_t bl)
{
    size_t m = al < bl ? al : bl;
    int c = m ? memcmp(a, b, m) : 0;
    if (c)
        return c;
    return al < bl ? -1 : al > bl;
}

/* The first entry with key >= k, or with key > k when `upper`. */
static size_t ms_bound(const struct mstore *m, const void *k, size_t kl, bool upper)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = kcmp(m->e[mid].k, m->e[mid].kl, k, kl);
        if (c < 0 || (upper && c == 0))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool ms_has(const struct mstore *m, size_t at, const void *k, size_t kl)
{
    return at < m->n && kcmp(m->e[at].k, m->e[at].kl, k, kl) == 0;
}

/* Insert at `at`; takes over the caller's reference to v. */
static void ms_insert(struct mstore *m, size_t at, const void *k, size_t kl, struct mval *v)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 64;
        m->e = realloc(m->e, m->cap * sizeof(*m->e));
        assert_non_null(m->e);
    }
    memmove(m->e + at + 1, m->e + at, (m->n - at) * sizeof(*m->e));
    memcpy(m->e[at].k, k, kl);
    m->e[at].kl = kl;
    m->e[at].v = v;
    m->n++;
}

static void ms_erase(struct mstore *m, size_t at)
{
    mv_unref(m->e[at].v);
    memmove(m->e + at, m->e + at + 1, (m->n - at - 1) * sizeof(*m->e));
    m->n--;
}

static void ms_clear(struct mstore *m)
{
    for (size_t i = 0; i < m->n; i++)
        mv_unref(m->e[i].v);
    m->n = 0;
}

static void ms_free(struct mstore *m)
{
    ms_clear(m);
    free(m->e);
    memset(m, 0, sizeof(*m));
}

static void ms_copy(struct mstore *dst, const struct mstore *src)
{
    ms_clear(dst);
    if (dst->cap < src->n) {
        dst->cap = src->n + 64;
        dst->e = realloc(dst->e, dst->cap * sizeof(*dst->e));
        assert_non_null(dst->e);
    }
    for (size_t i = 0; i < src->n; i++) {
        dst->e[i] = src->e[i];
        mv_ref(dst->e[i].v);
    }
    dst->n = src->n;
}

/* ------------------------------------------------------------ the world */

struct spec {
    const char *name;
    bool defaults; /* created with NULL options */
    sop_store_options o;
    uint32_t keyspace;
};

static const struct spec specs[] = {
    {"u4_inline", false, {.slot_length = 4, .unique = true, .value_in_node = true}, 1500},
    {"u5_chunks4k",
     false,
     {.slot_length = 5, .unique = true, .value_in_node = false, .chunk_size = 4096},
     1500},
    {"n8_dups_inline", false, {.slot_length = 8, .unique = false, .value_in_node = true}, 1200},
    {"n4_dups_4k",
     false,
     {.slot_length = 4, .unique = false, .value_in_node = false, .chunk_size = 4096},
     1000},
    {"u8_inline_4k",
     false,
     {.slot_length = 8, .unique = true, .value_in_node = true, .chunk_size = 4096},
     1500},
    {"defaults", true, {.slot_length = 0}, 2500},
};
#define NST (sizeof(specs) / sizeof(specs[0]))

/* Values never grow past this, so the model stays small. */
#define VMAX 150000u

struct world {
    char *dir;
    sop_db *db;
    uint64_t seed, rng;
    struct mstore com[NST]; /* what is committed */
    struct mstore wk[NST];  /* what the open transaction sees */
    sop_txn *t;
    sop_store *s[NST];
    bool writable;
    uint64_t ops, txns, commits, rollbacks, reopens, walks;
    size_t cur;       /* store of the operation under way, for messages */
    const char *what; /* the operation under way */
    int phase;        /* 0 grow, 1 shrink, 2 mixed */
};

#define CK(w, got, want)                                                                           \
    do {                                                                                           \
        int g_ = (got), e_ = (want);                                                               \
        if (g_ != e_)                                                                              \
            fail_msg("%s on %s: got %d (%s), want %d (%s); op %llu txn %llu seed %llu: %s",        \
                     (w)->what, specs[(w)->cur].name, g_, sop_strerror(g_), e_, sop_strerror(e_),  \
                     (unsigned long long)(w)->ops, (unsigned long long)(w)->txns,                  \
                     (unsigned long long)(w)->seed, (w)->t ? sop_txn_errmsg((w)->t) : "");         \
    } while (0)

static uint64_t rnd(struct world *w)
{
    return tl_rand(&w->rng);
}

static uint64_t below(struct world *w, uint64_t n)
{
    return n ? rnd(w) % n : 0;
}

static void fill(struct world *w, uint8_t *b, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x = rnd(w);
        memcpy(b + i, &x, 8);
    }
    if (i < n) {
        uint64_t x = rnd(w);
        memcpy(b + i, &x, n - i);
    }
}

/* Key number n as bytes: its decimal digits (so "1" is a prefix of "10"),
 * every fifth with binary bytes after them. */
static size_t mkey(uint32_t n, uint8_t *k)
{
    char tmp[16];
    int l = snprintf(tmp, sizeof(tmp), "%u", n);
    size_t kl = (size_t)l;
    memcpy(k, tmp, kl);
    if (n % 5 == 0) {
        k[kl++] = 0;
        k[kl++] = 0xff;
        k[kl++] = (uint8_t)n;
    }
    return kl;
}

static void check_bytes(struct world *w, const void *got, size_t gl, const void *want, size_t wl)
{
    if (gl != wl)
        fail_msg("%s on %s: %zu bytes, want %zu; op %llu txn %llu seed %llu", w->what,
                 specs[w->cur].name, gl, wl, (unsigned long long)w->ops,
                 (unsigned long long)w->txns, (unsigned long long)w->seed);
    if (gl && memcmp(got, want, gl)) {
        size_t i = 0;
        while (((const uint8_t *)got)[i] == ((const uint8_t *)want)[i])
            i++;
        fail_msg("%s on %s: bytes differ at %zu of %zu; op %llu txn %llu seed %llu", w->what,
                 specs[w->cur].name, i, gl, (unsigned long long)w->ops, (unsigned long long)w->txns,
                 (unsigned long long)w->seed);
    }
}

static size_t rand_len(struct world *w)
{
    uint64_t r = below(w, 100);
    if (r < 45)
        return below(w, 65);
    if (r < 75)
        return 65 + below(w, 1000);
    if (r < 86)
        return 1000 + below(w, 3100);
    if (r < 90)
        return 4094 + below(w, 5); /* both sides of INLINE_MAX and chunk_size */
    if (r < 98)
        return 4097 + below(w, 16000);
    return 20000 + below(w, 60000);
}

static struct mval *rand_value(struct world *w)
{
    struct mval *v = mv_new(rand_len(w));
    fill(w, v->b, v->len);
    return v;
}

static sop_store *st(struct world *w, size_t i)
{
    if (!w->s[i]) {
        const char *what = w->what;
        w->what = "sop_store_open";
        CK(w, sop_store_open(w->t, specs[i].name, &w->s[i]), 0);
        w->what = what;
    }
    return w->s[i];
}

static void db_open(struct world *w)
{
    w->what = "sop_db_open";
    CK(w, sop_db_open(w->dir, NULL, &w->db), 0);
}

static void begin(struct world *w, int mode)
{
    w->what = "sop_txn_begin";
    CK(w, sop_txn_begin(w->db, mode, &w->t), 0);
    memset(w->s, 0, sizeof(w->s));
    for (size_t i = 0; i < NST; i++)
        ms_copy(&w->wk[i], &w->com[i]);
    w->writable = (mode & SOP_TXN_WRITE) != 0;
}

static void end(struct world *w, bool commit)
{
    if (commit) {
        w->what = "sop_txn_commit";
        sop_txn *t = w->t;
        w->t = NULL;
        CK(w, sop_txn_commit(t), 0);
        if (w->writable) {
            for (size_t i = 0; i < NST; i++) {
                struct mstore tmp = w->com[i];
                w->com[i] = w->wk[i];
                w->wk[i] = tmp;
            }
        }
        w->commits++;
    } else {
        sop_txn_rollback(w->t);
        w->t = NULL;
        w->rollbacks++;
    }
    memset(w->s, 0, sizeof(w->s));
}

/* ------------------------------------------------------------ cursors */

static void check_cursor_item(struct world *w, sop_cursor *c, const struct ment *e, bool value)
{
    const void *k, *v;
    size_t kl, vl;
    uint64_t vs;
    const char *what = w->what;
    w->what = "sop_cursor_key";
    CK(w, sop_cursor_key(c, &k, &kl), 0);
    check_bytes(w, k, kl, e->k, e->kl);
    if (value) {
        w->what = "sop_cursor_value_size";
        CK(w, sop_cursor_value_size(c, &vs), 0);
        if (vs != e->v->len)
            fail_msg("cursor value size %llu, want %zu (store %s, op %llu, seed %llu)",
                     (unsigned long long)vs, e->v->len, specs[w->cur].name,
                     (unsigned long long)w->ops, (unsigned long long)w->seed);
        w->what = "sop_cursor_value";
        CK(w, sop_cursor_value(c, &v, &vl), 0);
        check_bytes(w, v, vl, e->v->b, e->v->len);
    }
    w->what = what;
}

/* Position by seek on key k (and check where the cursor lands); returns
 * the model index it is at, or m->n past the end. */
static size_t seek_check(struct world *w, sop_cursor *c, const struct mstore *m, const uint8_t *k,
                         size_t kl)
{
    size_t at = ms_bound(m, k, kl, false);
    w->what = "sop_cursor_seek";
    CK(w, sop_cursor_seek(c, k, kl), at < m->n ? 0 : SOP_ENOTFOUND);
    if (at < m->n)
        check_cursor_item(w, c, &m->e[at], true);
    return at;
}

/* Everything store i holds, both ways, and from random seeks. */
static void verify_store(struct world *w, size_t i)
{
    const struct mstore *m = &w->wk[i];
    sop_store *s = st(w, i);
    sop_cursor *c;
    uint64_t n;
    w->cur = i;
    w->walks++;
    w->what = "sop_store_count";
    CK(w, sop_store_count(s, &n), 0);
    if (n != m->n)
        fail_msg("%s: count %llu, model %zu (txn %llu seed %llu)", specs[i].name,
                 (unsigned long long)n, m->n, (unsigned long long)w->txns,
                 (unsigned long long)w->seed);
    w->what = "sop_cursor_open";
    CK(w, sop_cursor_open(s, &c), 0);
    w->what = "sop_cursor_first";
    CK(w, sop_cursor_first(c), m->n ? 0 : SOP_ENOTFOUND);
    for (size_t j = 0; j < m->n; j++) {
        check_cursor_item(w, c, &m->e[j], true);
        w->what = "sop_cursor_next";
        CK(w, sop_cursor_next(c), j + 1 < m->n ? 0 : SOP_ENOTFOUND);
    }
    w->what = "sop_cursor_last";
    CK(w, sop_cursor_last(c), m->n ? 0 : SOP_ENOTFOUND);
    for (size_t j = m->n; j > 0; j--) {
        check_cursor_item(w, c, &m->e[j - 1], false);
        w->what = "sop_cursor_prev";
        CK(w, sop_cursor_prev(c), j > 1 ? 0 : SOP_ENOTFOUND);
    }
    for (int r = 0; r < 20; r++) {
        uint8_t k[KMAX];
        size_t kl = mkey((uint32_t)below(w, specs[i].keyspace), k);
        size_t at = seek_check(w, c, m, k, kl);
        /* a few steps either way from there */
        for (int step = 0; step < 6 && at < m->n; step++) {
            bool fwd = below(w, 2);
            if (fwd) {
                w->what = "sop_cursor_next";
                CK(w, sop_cursor_next(c), at + 1 < m->n ? 0 : SOP_ENOTFOUND);
                if (at + 1 >= m->n)
                    break;
                at++;
            } else {
                w->what = "sop_cursor_prev";
                CK(w, sop_cursor_prev(c), at > 0 ? 0 : SOP_ENOTFOUND);
                if (at == 0)
                    break;
                at--;
            }
            check_cursor_item(w, c, &m->e[at], step % 2 == 0);
        }
    }
    /* seeks before the first key and after the last */
    seek_check(w, c, m, (const uint8_t *)"", 0);
    seek_check(w, c, m, (const uint8_t *)"\xff\xff", 2);
    sop_cursor_close(c);
}

static void verify_all(struct world *w)
{
    for (size_t i = 0; i < NST; i++)
        verify_store(w, i);
}

/* ------------------------------------------------------------ operations */

enum {
    OP_ADD,
    OP_UPSERT,
    OP_UPDATE,
    OP_REMOVE,
    OP_GET,
    OP_VSIZE,
    OP_VREAD,
    OP_VWRITE,
    OP_VTRUNC,
    OP_COUNT,
    OP_PEEK,
    OP_N
};

static const unsigned weights[3][OP_N] = {
    /* grow */ {30, 14, 8, 8, 14, 2, 5, 5, 2, 2, 4},
    /* shrink */ {8, 5, 8, 38, 14, 2, 5, 3, 3, 2, 4},
    /* mixed */ {18, 10, 10, 18, 14, 3, 6, 5, 3, 2, 5},
};

static int pick_op(struct world *w, const struct mstore *m, size_t i)
{
    if (m->n > 2 * (size_t)specs[i].keyspace)
        return OP_REMOVE;
    unsigned total = 0;
    for (int o = 0; o < OP_N; o++)
        total += weights[w->phase][o];
    unsigned r = (unsigned)below(w, total);
    for (int o = 0; o < OP_N; o++) {
        if (r < weights[w->phase][o])
            return o;
        r -= weights[w->phase][o];
    }
    return OP_GET;
}

/* A key for the next operation: mostly one that is there, if any. */
static size_t pick_key(struct world *w, const struct mstore *m, size_t i, int op, uint8_t *k)
{
    if (m->n && below(w, 100) < (op == OP_ADD ? 15u : 60u)) {
        const struct ment *e = &m->e[below(w, m->n)];
        memcpy(k, e->k, e->kl);
        return e->kl;
    }
    return mkey((uint32_t)below(w, specs[i].keyspace), k);
}

/* A few cursor steps from a seek, in the middle of a transaction. */
static void op_peek(struct world *w, size_t i, const uint8_t *k, size_t kl)
{
    const struct mstore *m = &w->wk[i];
    sop_cursor *c;
    w->what = "sop_cursor_open";
    CK(w, sop_cursor_open(st(w, i), &c), 0);
    size_t at = seek_check(w, c, m, k, kl);
    w->ops++;
    int steps = (int)below(w, 12);
    for (int j = 0; j < steps && at < m->n; j++) {
        w->ops++;
        if (below(w, 3)) {
            w->what = "sop_cursor_next";
            CK(w, sop_cursor_next(c), at + 1 < m->n ? 0 : SOP_ENOTFOUND);
            if (++at >= m->n)
                break;
        } else {
            w->what = "sop_cursor_prev";
            CK(w, sop_cursor_prev(c), at > 0 ? 0 : SOP_ENOTFOUND);
            if (at == 0)
                break;
            at--;
        }
        check_cursor_item(w, c, &m->e[at], below(w, 2));
    }
    sop_cursor_close(c);
}

static void op_vread(struct world *w, size_t i, const uint8_t *k, size_t kl)
{
    const struct mstore *m = &w->wk[i];
    size_t at = ms_bound(m, k, kl, false);
    bool has = ms_has(m, at, k, kl);
    const struct mval *v = has ? m->e[at].v : NULL;
    uint64_t off = has ? below(w, v->len + 1) : below(w, 100);
    size_t len = has ? (size_t)below(w, v->len - off + 300) : 10;
    uint8_t *buf = malloc(len ? len : 1);
    size_t got = 0;
    assert_non_null(buf);
    w->what = "sop_value_read";
    CK(w, sop_value_read(st(w, i), k, kl, off, buf, len, &got), has ? 0 : SOP_ENOTFOUND);
    if (has) {
        size_t want = v->len - off < len ? v->len - off : len;
        check_bytes(w, buf, got, v->b + off, want);
    }
    free(buf);
}

static void op_vwrite(struct world *w, size_t i, const uint8_t *k, size_t kl)
{
    struct mstore *m = &w->wk[i];
    size_t at = ms_bound(m, k, kl, false);
    bool has = ms_has(m, at, k, kl);
    size_t old = has ? m->e[at].v->len : 0;
    uint64_t off = below(w, old + 6000);
    size_t len = below(w, 3) ? (size_t)below(w, 300) : rand_len(w);
    if (off > VMAX)
        off = VMAX;
    if (off + len > VMAX)
        len = VMAX - (size_t)off;
    uint8_t *buf = malloc(len ? len : 1);
    assert_non_null(buf);
    fill(w, buf, len);
    w->what = "sop_value_write";
    CK(w, sop_value_write(st(w, i), k, kl, off, buf, len), 0);
    size_t nl = off + len > old ? (size_t)off + len : old;
    struct mval *v = mv_new(nl);
    memset(v->b, 0, nl);
    if (has)
        memcpy(v->b, m->e[at].v->b, old);
    memcpy(v->b + off, buf, len);
    free(buf);
    if (has) {
        mv_unref(m->e[at].v);
        m->e[at].v = v;
    } else {
        ms_insert(m, at, k, kl, v);
    }
}

static void op_vtrunc(struct world *w, size_t i, const uint8_t *k, size_t kl)
{
    struct mstore *m = &w->wk[i];
    size_t at = ms_bound(m, k, kl, false);
    bool has = ms_has(m, at, k, kl);
    size_t old = has ? m->e[at].v->len : 0;
    uint64_t r = below(w, 10);
    size_t ns = r < 1 ? 0 : r < 7 ? (size_t)below(w, old + 1) : (size_t)below(w, old * 2 + 9000);
    if (ns > VMAX)
        ns = VMAX;
    w->what = "sop_value_truncate";
    CK(w, sop_value_truncate(st(w, i), k, kl, ns), has ? 0 : SOP_ENOTFOUND);
    if (!has)
        return;
    struct mval *v = mv_new(ns);
    memset(v->b, 0, ns);
    memcpy(v->b, m->e[at].v->b, old < ns ? old : ns);
    mv_unref(m->e[at].v);
    m->e[at].v = v;
}

static void one_op(struct world *w, int op, size_t i)
{
    struct mstore *m = &w->wk[i];
    sop_store *s = st(w, i);
    uint8_t k[KMAX];
    size_t kl = pick_key(w, m, i, op, k);
    size_t at = ms_bound(m, k, kl, false);
    bool has = ms_has(m, at, k, kl);
    const void *gv;
    size_t gl;
    uint64_t n;
    struct mval *v;
    w->cur = i;
    w->ops++;
    switch (op) {
    case OP_ADD:
        v = rand_value(w);
        w->what = "sop_add";
        if (specs[i].o.unique && has) {
            CK(w, sop_add(s, k, kl, v->b, v->len), SOP_EEXIST);
            mv_unref(v);
        } else {
            CK(w, sop_add(s, k, kl, v->b, v->len), 0);
            ms_insert(m, ms_bound(m, k, kl, true), k, kl, v);
        }
        break;
    case OP_UPSERT:
    case OP_UPDATE:
        v = rand_value(w);
        if (op == OP_UPSERT) {
            w->what = "sop_upsert";
            CK(w, sop_upsert(s, k, kl, v->b, v->len), 0);
        } else {
            w->what = "sop_update";
            CK(w, sop_update(s, k, kl, v->b, v->len), has ? 0 : SOP_ENOTFOUND);
        }
        if (has) {
            mv_unref(m->e[at].v);
            m->e[at].v = v;
        } else if (op == OP_UPSERT) {
            ms_insert(m, at, k, kl, v);
        } else {
            mv_unref(v);
        }
        break;
    case OP_REMOVE:
        w->what = "sop_remove";
        CK(w, sop_remove(s, k, kl), has ? 0 : SOP_ENOTFOUND);
        if (has)
            ms_erase(m, at);
        break;
    case OP_GET:
        w->what = "sop_get";
        CK(w, sop_get(s, k, kl, &gv, &gl), has ? 0 : SOP_ENOTFOUND);
        if (has)
            check_bytes(w, gv, gl, m->e[at].v->b, m->e[at].v->len);
        break;
    case OP_VSIZE:
        w->what = "sop_value_size";
        CK(w, sop_value_size(s, k, kl, &n), has ? 0 : SOP_ENOTFOUND);
        if (has && n != m->e[at].v->len)
            fail_msg("sop_value_size on %s: %llu, want %zu (op %llu seed %llu)", specs[i].name,
                     (unsigned long long)n, m->e[at].v->len, (unsigned long long)w->ops,
                     (unsigned long long)w->seed);
        break;
    case OP_VREAD:
        op_vread(w, i, k, kl);
        break;
    case OP_VWRITE:
        op_vwrite(w, i, k, kl);
        break;
    case OP_VTRUNC:
        op_vtrunc(w, i, k, kl);
        break;
    case OP_COUNT:
        w->what = "sop_store_count";
        CK(w, sop_store_count(s, &n), 0);
        if (n != m->n)
            fail_msg("sop_store_count on %s: %llu, model %zu (op %llu seed %llu)", specs[i].name,
                     (unsigned long long)n, m->n, (unsigned long long)w->ops,
                     (unsigned long long)w->seed);
        break;
    default:
        op_peek(w, i, k, kl);
        break;
    }
}

/* A read transaction: reads and walks; writes are refused; commits. */
static void read_txn(struct world *w)
{
    begin(w, SOP_TXN_READ);
    size_t i = below(w, NST);
    verify_store(w, i);
    for (int j = 0; j < 50; j++) {
        i = below(w, NST);
        int op = (int)below(w, 3);
        one_op(w, op == 0 ? OP_GET : op == 1 ? OP_VREAD : OP_PEEK, i);
    }
    w->what = "sop_add in a read transaction";
    CK(w, sop_add(st(w, i), "ro", 2, "x", 1), SOP_EREADONLY);
    w->what = "sop_value_write in a read transaction";
    CK(w, sop_value_write(st(w, i), "ro", 2, 0, "x", 1), SOP_EREADONLY);
    end(w, true);
}

static void reopen(struct world *w)
{
    sop_db_close(w->db);
    w->db = NULL;
    db_open(w);
    w->reopens++;
    begin(w, SOP_TXN_READ);
    verify_all(w);
    end(w, true);
}

static void model_random_ops_match_reference(void **state)
{
    (void)state;
    struct world *w = calloc(1, sizeof(*w));
    assert_non_null(w);
    w->seed = tl_seed("model_random_ops_match_reference");
    w->rng = w->seed;
    w->dir = tl_dir;
    db_open(w);
    begin(w, SOP_TXN_WRITE);
    for (size_t i = 0; i < NST; i++) {
        w->cur = i;
        w->what = "sop_store_create";
        CK(w,
           sop_store_create(w->t, specs[i].name, specs[i].defaults ? NULL : &specs[i].o, &w->s[i]),
           0);
    }
    end(w, true);

    uint64_t target = (uint64_t)(100000 * tl_scale());
    uint64_t t0 = tl_now_ns();
    while (w->ops < target) {
        w->txns++;
        if (w->txns % 41 == 0) {
            reopen(w);
            continue;
        }
        if (w->txns % 11 == 0) {
            read_txn(w);
            continue;
        }
        w->phase = (int)((w->txns / 17) % 3);
        int mode = SOP_TXN_WRITE | (below(w, 3) ? SOP_TXN_NOSYNC : 0);
        begin(w, mode);
        /* some transactions stay in one store, most roam */
        bool one = below(w, 4) == 0;
        size_t home = below(w, NST);
        size_t nops = 1 + below(w, below(w, 4) ? 250 : 600);
        for (size_t j = 0; j < nops; j++) {
            size_t i = one ? home : below(w, NST);
            one_op(w, pick_op(w, &w->wk[i], i), i);
        }
        if (below(w, 8) == 0)
            verify_store(w, below(w, NST)); /* own writes, through a cursor */
        end(w, below(w, 5) != 0);
    }
    reopen(w);
    print_message("# model: %llu ops in %llu transactions (%llu commits, %llu rollbacks), "
                  "%llu reopens, %llu full walks, %.1f s\n",
                  (unsigned long long)w->ops, (unsigned long long)w->txns,
                  (unsigned long long)w->commits, (unsigned long long)w->rollbacks,
                  (unsigned long long)w->reopens, (unsigned long long)w->walks,
                  (double)(tl_now_ns() - t0) / 1e9);
    for (size_t i = 0; i < NST; i++)
        print_message("# model: store %s ends with %zu items\n", specs[i].name, w->com[i].n);
    sop_db_close(w->db);
    for (size_t i = 0; i < NST; i++) {
        ms_free(&w->com[i]);
        ms_free(&w->wk[i]);
    }
    free(w);
}

/* ------------------------------------------------------------ focused cases */

/* The values of every item with key k, in cursor order, joined by ','. */
static void dup_values(sop_store *s, const char *k, char *out, size_t cap)
{
    sop_cursor *c;
    size_t n = 0;
    out[0] = 0;
    assert_int_equal(sop_cursor_open(s, &c), 0);
    int rc = sop_cursor_seek(c, k, strlen(k));
    while (rc == 0) {
        const void *kk, *v;
        size_t kl, vl;
        assert_int_equal(sop_cursor_key(c, &kk, &kl), 0);
        if (kl != strlen(k) || memcmp(kk, k, kl))
            break;
        assert_int_equal(sop_cursor_value(c, &v, &vl), 0);
        assert_true(n + vl + 2 < cap);
        memcpy(out + n, v, vl);
        n += vl;
        out[n++] = ',';
        out[n] = 0;
        rc = sop_cursor_next(c);
    }
    assert_true(rc == 0 || rc == SOP_ENOTFOUND);
    sop_cursor_close(c);
}

/* The same, walking backwards from the last item with key k. */
static void dup_values_rev(sop_store *s, const char *k, char *out, size_t cap)
{
    sop_cursor *c;
    size_t n = 0, kl0 = strlen(k);
    out[0] = 0;
    assert_int_equal(sop_cursor_open(s, &c), 0);
    int rc = sop_cursor_last(c);
    while (rc == 0) {
        const void *kk, *v;
        size_t kl, vl;
        assert_int_equal(sop_cursor_key(c, &kk, &kl), 0);
        int cmp = kcmp(kk, kl, k, kl0);
        if (cmp < 0)
            break;
        if (cmp == 0) {
            assert_int_equal(sop_cursor_value(c, &v, &vl), 0);
            assert_true(n + vl + 2 < cap);
            memcpy(out + n, v, vl);
            n += vl;
            out[n++] = ',';
            out[n] = 0;
        }
        rc = sop_cursor_prev(c);
    }
    assert_true(rc == 0 || rc == SOP_ENOTFOUND);
    sop_cursor_close(c);
}

static void expect_get(sop_store *s, const char *k, const char *v)
{
    const void *g;
    size_t gl;
    int rc = sop_get(s, k, strlen(k), &g, &gl);
    if (!v) {
        assert_int_equal(rc, SOP_ENOTFOUND);
        return;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(gl, strlen(v));
    assert_memory_equal(g, v, gl);
}

static void duplicates_keep_insertion_order(void **state)
{
    (void)state;
    sop_db *db = tl_open_db();
    sop_txn *t;
    sop_store *s;
    char buf[4096], want[4096];
    sop_store_options o = {.slot_length = 4, .unique = false, .value_in_node = true};
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    assert_int_equal(sop_store_create(t, "dups", &o, &s), 0);
    assert_int_equal(sop_add(s, "k", 1, "1", 1), 0);
    assert_int_equal(sop_add(s, "j", 1, "x", 1), 0);
    assert_int_equal(sop_add(s, "k", 1, "2", 1), 0);
    assert_int_equal(sop_add(s, "l", 1, "y", 1), 0);
    assert_int_equal(sop_add(s, "k", 1, "3", 1), 0);
    dup_values(s, "k", buf, sizeof(buf));
    assert_string_equal(buf, "1,2,3,");
    expect_get(s, "k", "1");
    assert_int_equal(sop_txn_commit(t), 0);
    sop_db_close(db);

    db = tl_open_db();
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    assert_int_equal(sop_store_open(t, "dups", &s), 0);
    dup_values(s, "k", buf, sizeof(buf));
    assert_string_equal(buf, "1,2,3,");
    assert_int_equal(sop_remove(s, "k", 1), 0); /* the first goes */
    dup_values(s, "k", buf, sizeof(buf));
    assert_string_equal(buf, "2,3,");
    assert_int_equal(sop_update(s, "k", 1, "two", 3), 0); /* the first changes */
    dup_values(s, "k", buf, sizeof(buf));
    assert_string_equal(buf, "two,3,");
    assert_int_equal(sop_upsert(s, "k", 1, "TWO", 3), 0);
    dup_values(s, "k", buf, sizeof(buf));
    assert_string_equal(buf, "TWO,3,");
    expect_get(s, "k", "TWO");

    /* many duplicates, spread over many slot-4 leaves, other keys around */
    want[0] = 0;
    for (int i = 0; i < 60; i++) {
        char v[16], other[16];
        snprintf(v, sizeof(v), "m%02d", i);
        assert_int_equal(sop_add(s, "m", 1, v, strlen(v)), 0);
        strcat(want, v);
        strcat(want, ",");
        snprintf(other, sizeof(other), "%c%02d", i % 2 ? 'a' : 'z', i);
        assert_int_equal(sop_add(s, other, strlen(other), "o", 1), 0);
        snprintf(other, sizeof(other), "m%02d", i); /* just after "m" */
        assert_int_equal(sop_add(s, other, strlen(other), "p", 1), 0);
    }
    dup_values(s, "m", buf, sizeof(buf));
    assert_string_equal(buf, want);
    assert_int_equal(sop_txn_commit(t), 0);

    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    assert_int_equal(sop_store_open(t, "dups", &s), 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(sop_remove(s, "m", 1), 0);
    expect_get(s, "m", "m10");
    assert_int_equal(sop_txn_commit(t), 0);
    sop_db_close(db);

    db = tl_open_db();
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    assert_int_equal(sop_store_open(t, "dups", &s), 0);
    dup_values(s, "m", buf, sizeof(buf));
    assert_string_equal(buf, want + 10 * 4);
    /* backwards: the same duplicates in reverse order */
    char rev[4096] = "";
    for (int i = 59; i >= 10; i--) {
        char v[16];
        snprintf(v, sizeof(v), "m%02d,", i);
        strcat(rev, v);
    }
    dup_values_rev(s, "m", buf, sizeof(buf));
    assert_string_equal(buf, rev);
    uint64_t n;
    assert_int_equal(sop_store_count(s, &n), 0);
    assert_int_equal(n, 2 + 2 + 50 + 120);
    /* more duplicates, rolled back: nothing changes */
    for (int i = 0; i < 20; i++)
        assert_int_equal(sop_add(s, "m", 1, "late", 4), 0);
    sop_txn_rollback(t);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_open(t, "dups", &s), 0);
    dup_values(s, "m", buf, sizeof(buf));
    assert_string_equal(buf, want + 10 * 4);
    dup_values(s, "k", buf, sizeof(buf));
    assert_string_equal(buf, "TWO,3,");
    assert_int_equal(sop_txn_commit(t), 0);
    sop_db_close(db);
}

/* One big value per store edited at random offsets against a buffer. */
static void big_values_random_edits_match_buffer(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        sop_store_options o;
    } bs[] = {
        {"c4k_out", {.slot_length = 4, .unique = true, .value_in_node = false, .chunk_size = 4096}},
        {"c4k_in", {.slot_length = 5, .unique = true, .value_in_node = true, .chunk_size = 4096}},
        {"c64k_in", {.slot_length = 8, .unique = true, .value_in_node = true, .chunk_size = 65536}},
        {"dflt_dup", {.slot_length = 0, .unique = false}},
    };
    enum { NB = sizeof(bs) / sizeof(bs[0]), CAP = 700000 };
    uint64_t seed = tl_seed("big_values_random_edits_match_buffer"), rng = seed;
    uint8_t *com[NB], *cur[NB], *tmp = malloc(CAP);
    size_t coml[NB], curl[NB];
    bool comhas[NB], curhas[NB];
    assert_non_null(tmp);
    for (size_t i = 0; i < NB; i++) {
        com[i] = calloc(1, CAP);
        cur[i] = calloc(1, CAP);
        assert_true(com[i] && cur[i]);
        coml[i] = curl[i] = 0;
        comhas[i] = curhas[i] = false;
    }
    sop_db *db = tl_open_db();
    sop_txn *t;
    sop_store *s[NB];
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    for (size_t i = 0; i < NB; i++) {
        assert_int_equal(sop_store_create(t, bs[i].name, &bs[i].o, &s[i]), 0);
        /* neighbours, so the big item is not alone in its leaf */
        for (int j = 0; j < 12; j++) {
            char k[8];
            snprintf(k, sizeof(k), "%c%d", j % 2 ? 'a' : 'z', j);
            assert_int_equal(sop_add(s[i], k, strlen(k), k, strlen(k)), 0);
        }
    }
    assert_int_equal(sop_txn_commit(t), 0);
    int rounds = (int)(400 * tl_scale());
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    for (size_t i = 0; i < NB; i++)
        assert_int_equal(sop_store_open(t, bs[i].name, &s[i]), 0);
    for (int r = 1; r <= rounds; r++) {
        size_t i = tl_rand(&rng) % NB;
        uint64_t x = tl_rand(&rng), op = x % 10;
        if (op < 4) { /* write */
            size_t off = (size_t)(tl_rand(&rng) % (curl[i] + 10000));
            size_t len = (size_t)(tl_rand(&rng) % (tl_rand(&rng) % 3 ? 9000 : 140000));
            if (tl_rand(&rng) % 4 == 0) /* one byte before, at or after a chunk boundary */
                off = (size_t)(tl_rand(&rng) % 40 + 1) * 4096 - 1 + (size_t)(tl_rand(&rng) % 3);
            if (off > CAP)
                off = CAP;
            if (off + len > CAP)
                len = CAP - off;
            for (size_t b = 0; b < len; b++)
                tmp[b] = (uint8_t)(x >> (b % 7 * 8)) ^ (uint8_t)b;
            assert_int_equal(sop_value_write(s[i], "big", 3, off, tmp, len), 0);
            if (off > curl[i])
                memset(cur[i] + curl[i], 0, off - curl[i]);
            memcpy(cur[i] + off, tmp, len);
            if (off + len > curl[i])
                curl[i] = off + len;
            curhas[i] = true;
        } else if (op < 6) { /* truncate */
            size_t ns = (size_t)(tl_rand(&rng) % (curl[i] * 3 / 2 + 5000));
            if (tl_rand(&rng) % 3 == 0)
                ns = (size_t)(tl_rand(&rng) % 30) * 4096;
            if (ns > CAP)
                ns = CAP;
            assert_int_equal(sop_value_truncate(s[i], "big", 3, ns), curhas[i] ? 0 : SOP_ENOTFOUND);
            if (curhas[i]) {
                if (ns > curl[i])
                    memset(cur[i] + curl[i], 0, ns - curl[i]);
                curl[i] = ns;
            }
        } else if (op < 8) { /* read a range */
            size_t off = curhas[i] ? (size_t)(tl_rand(&rng) % (curl[i] + 1)) : 0;
            size_t len = (size_t)(tl_rand(&rng) % 150000), got = 0;
            int rc = sop_value_read(s[i], "big", 3, off, tmp, len, &got);
            assert_int_equal(rc, curhas[i] ? 0 : SOP_ENOTFOUND);
            if (curhas[i]) {
                size_t want = curl[i] - off < len ? curl[i] - off : len;
                assert_int_equal(got, want);
                assert_memory_equal(tmp, cur[i] + off, want);
            }
        } else { /* whole: size and get */
            uint64_t sz;
            const void *v;
            size_t vl;
            assert_int_equal(sop_value_size(s[i], "big", 3, &sz), curhas[i] ? 0 : SOP_ENOTFOUND);
            assert_int_equal(sop_get(s[i], "big", 3, &v, &vl), curhas[i] ? 0 : SOP_ENOTFOUND);
            if (curhas[i]) {
                assert_int_equal(sz, curl[i]);
                assert_int_equal(vl, curl[i]);
                assert_memory_equal(v, cur[i], vl);
            }
        }
        if (r % 20 == 0 || r == rounds) {
            bool commit = tl_rand(&rng) % 5 != 0 || r == rounds;
            if (commit) {
                assert_int_equal(sop_txn_commit(t), 0);
                for (size_t j = 0; j < NB; j++) {
                    memcpy(com[j], cur[j], curl[j]);
                    coml[j] = curl[j];
                    comhas[j] = curhas[j];
                }
            } else {
                sop_txn_rollback(t);
                for (size_t j = 0; j < NB; j++) {
                    memcpy(cur[j], com[j], coml[j]);
                    curl[j] = coml[j];
                    curhas[j] = comhas[j];
                }
            }
            if (r % 100 == 0 || r == rounds) {
                sop_db_close(db);
                db = tl_open_db();
                /* everything, read back through a fresh snapshot */
                assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
                for (size_t j = 0; j < NB; j++) {
                    size_t got = 0;
                    assert_int_equal(sop_store_open(t, bs[j].name, &s[j]), 0);
                    int rc = sop_value_read(s[j], "big", 3, 0, tmp, CAP, &got);
                    assert_int_equal(rc, comhas[j] ? 0 : SOP_ENOTFOUND);
                    if (comhas[j]) {
                        assert_int_equal(got, coml[j]);
                        assert_memory_equal(tmp, com[j], got);
                    }
                    expect_get(s[j], "a1", "a1");
                    expect_get(s[j], "z0", "z0");
                }
                assert_int_equal(sop_txn_commit(t), 0);
            }
            if (r < rounds) {
                assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
                for (size_t j = 0; j < NB; j++)
                    assert_int_equal(sop_store_open(t, bs[j].name, &s[j]), 0);
            }
        }
    }
    print_message("# big values: %d edits (seed %llu)\n", rounds, (unsigned long long)seed);
    sop_db_close(db);
    for (size_t i = 0; i < NB; i++) {
        free(com[i]);
        free(cur[i]);
    }
    free(tmp);
}

/* Empty stores, key order by memcmp then length, key length limits. */
static void empty_store_and_key_edges(void **state)
{
    (void)state;
    sop_db *db = tl_open_db();
    sop_txn *t;
    sop_store *s;
    sop_cursor *c;
    uint64_t n;
    const void *v;
    size_t vl, got;
    char buf[8];
    sop_store_options o = {.slot_length = 4, .unique = true, .value_in_node = true};
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    assert_int_equal(sop_store_create(t, "edge", &o, &s), 0);
    assert_int_equal(sop_store_count(s, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(sop_cursor_open(s, &c), 0);
    assert_int_equal(sop_cursor_first(c), SOP_ENOTFOUND);
    assert_int_equal(sop_cursor_last(c), SOP_ENOTFOUND);
    assert_int_equal(sop_cursor_seek(c, "a", 1), SOP_ENOTFOUND);
    sop_cursor_close(c);
    assert_int_equal(sop_get(s, "a", 1, &v, &vl), SOP_ENOTFOUND);
    assert_int_equal(sop_update(s, "a", 1, "x", 1), SOP_ENOTFOUND);
    assert_int_equal(sop_remove(s, "a", 1), SOP_ENOTFOUND);
    assert_int_equal(sop_value_size(s, "a", 1, &n), SOP_ENOTFOUND);
    assert_int_equal(sop_value_read(s, "a", 1, 0, buf, sizeof(buf), &got), SOP_ENOTFOUND);
    assert_int_equal(sop_value_truncate(s, "a", 1, 4), SOP_ENOTFOUND);
    assert_int_equal(sop_txn_commit(t), 0);

    /* order: memcmp over the common length, then the shorter first */
    static const struct {
        const char *k;
        size_t kl;
    } keys[] = {{"a", 1},     {"a\0", 2},   {"a\0\0", 3}, {"aa", 2},   {"ab", 2},          {"b", 1},
                {"b\x7f", 2}, {"b\x80", 2}, {"b\xff", 2}, {"\xff", 1}, {"\xff\xff\xff", 3}};
    enum { NK = sizeof(keys) / sizeof(keys[0]) };
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    assert_int_equal(sop_store_open(t, "edge", &s), 0);
    for (int i = NK - 1; i >= 0; i--)
        assert_int_equal(sop_add(s, keys[i].k, keys[i].kl, &i, sizeof(i)), 0);
    char *longk = malloc(SOP_MAX_KEY + 1);
    assert_non_null(longk);
    memset(longk, 'q', SOP_MAX_KEY + 1);
    assert_int_equal(sop_add(s, longk, SOP_MAX_KEY, "L", 1), 0);
    assert_int_equal(sop_add(s, longk, SOP_MAX_KEY + 1, "L", 1), SOP_ENAMETOOLONG);
    assert_int_equal(sop_txn_commit(t), 0);
    sop_db_close(db);
    db = tl_open_db();
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_open(t, "edge", &s), 0);
    assert_int_equal(sop_cursor_open(s, &c), 0);
    int rc = sop_cursor_first(c);
    for (int i = 0; i <= NK; i++) {
        const void *k;
        size_t kl;
        assert_int_equal(rc, 0);
        assert_int_equal(sop_cursor_key(c, &k, &kl), 0);
        if (i == 9) { /* "q..." sorts between "b\xff" and "\xff" */
            assert_int_equal(kl, SOP_MAX_KEY);
            assert_memory_equal(k, longk, kl);
            rc = sop_cursor_next(c);
            continue;
        }
        int j = i < 9 ? i : i - 1;
        assert_int_equal(kl, keys[j].kl);
        assert_memory_equal(k, keys[j].k, kl);
        assert_int_equal(sop_cursor_value(c, &v, &vl), 0);
        assert_int_equal(vl, sizeof(int));
        assert_memory_equal(v, &j, sizeof(int));
        rc = sop_cursor_next(c);
    }
    assert_int_equal(rc, SOP_ENOTFOUND);
    /* seeks land on the first key >= the one asked */
    const void *k;
    size_t kl;
    assert_int_equal(sop_cursor_seek(c, "", 0), 0);
    assert_int_equal(sop_cursor_key(c, &k, &kl), 0);
    assert_int_equal(kl, 1);
    assert_memory_equal(k, "a", 1);
    assert_int_equal(sop_cursor_seek(c, "a\0\0\0", 4), 0);
    assert_int_equal(sop_cursor_key(c, &k, &kl), 0);
    assert_int_equal(kl, 2);
    assert_memory_equal(k, "aa", 2);
    assert_int_equal(sop_cursor_seek(c, "\xff\xff\xff\x00", 4), SOP_ENOTFOUND);
    assert_int_equal(sop_cursor_seek(c, "\xff\xff", 2), 0);
    assert_int_equal(sop_cursor_key(c, &k, &kl), 0);
    assert_int_equal(kl, 3);
    assert_int_equal(sop_cursor_prev(c), 0);
    assert_int_equal(sop_cursor_key(c, &k, &kl), 0);
    assert_int_equal(kl, 1);
    assert_memory_equal(k, "\xff", 1);
    sop_cursor_close(c);
    assert_int_equal(sop_txn_commit(t), 0);
    free(longk);
    sop_db_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(model_random_ops_match_reference, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(duplicates_keep_insertion_order, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(big_values_random_edits_match_buffer, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(empty_store_and_key_edges, tl_dir_setup, tl_dir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
