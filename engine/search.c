/*
 * search.c - search stores (kind "search"): every item is a document (key =
 * document ID, value = its text), ranked for a query by BM25.
 *
 * The inverted index lives in a hidden companion store named
 * ".sopsearch-" + the store's identity in hex (a drop and re-create makes a
 * new store, hence a new index; names starting with ".sop" are hidden by
 * sopfs).  It is a unique store with values in its leaves; its keys:
 *
 *   key                          value
 *   "S"                          u64 N (documents), u64 total words (avgdl = total / N)
 *   "L" doc                      u64 the document's length in words
 *   "F" doc                      the document's terms: varint n, n x {varint len, term, varint tf},
 *                                sorted by term (the forward index: what is indexed now)
 *   "P" term 0x00 doc            u32 tf (the postings; terms never hold a 0 byte, so one
 *                                term's postings are one key range, in document order)
 *
 * (integers little-endian.)  The index is maintained inside the transaction
 * that changes the documents: its commit hook (kind.h) runs first in commit, and
 * for each key the transaction wrote it diffs the terms indexed now ("F",
 * which is what the transaction's snapshot indexed) against the text the
 * transaction leaves, and writes only the postings that changed.  A rollback
 * therefore leaves no trace, and a search sees its own transaction: in a
 * write transaction a search first indexes the pending writes the same way
 * (indexing is idempotent: an unchanged document diffs to nothing).
 *
 * Two transactions changing different documents of one search store both
 * update "S": the later one fails with SOP_ECONFLICT (per-key validation)
 * and succeeds when retried.  A document's text is read in pieces of
 * TEXT_PIECE bytes: memory is bounded by the piece and the document's
 * distinct terms, never by its size.
 *
 * Tokenizer: a word is a run of ASCII letters and digits and bytes >= 0x80
 * (so UTF-8 words stay whole), ASCII case-folded; a word is cut to
 * SOP_SEARCH_MAX_WORD bytes.  Calls sop.h's own functions, plus overlay.h
 * for the stores a transaction wrote and its message, kind.h, codec.h and
 * os.h (memory).
 */
#define _GNU_SOURCE
#include "search.h"

#include "kind.h"

#include "codec.h"
#include "os.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEXT_PIECE (64u << 10)
#define BM25_K1 1.2
#define BM25_B 0.75

/* ------------------------------------------------------------ byte map */

/* An open-addressing map of byte strings (own copies) to a counter and a
 * score: the terms of a document and the documents of a query. */
struct bent {
    uint8_t *k;
    uint32_t kl;
    uint64_t a;
    double d;
};

struct bmap {
    struct bent *v;
    size_t n, cap;
};

static uint64_t hash_bytes(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static void bmap_free(struct bmap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        os_free(m->v[i].k);
    os_free(m->v);
    memset(m, 0, sizeof(*m));
}

/* The entry of key k, added (zeroed) when absent; NULL on ENOMEM. */
static struct bent *bmap_get(struct bmap *m, const uint8_t *k, size_t kl)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        struct bent *v = os_calloc(cap, sizeof(*v));
        if (!v)
            return NULL;
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->v[i].k)
                continue;
            size_t j = hash_bytes(m->v[i].k, m->v[i].kl) & (cap - 1);
            while (v[j].k)
                j = (j + 1) & (cap - 1);
            v[j] = m->v[i];
        }
        os_free(m->v);
        m->v = v;
        m->cap = cap;
    }
    size_t j = hash_bytes(k, kl) & (m->cap - 1);
    while (m->v[j].k) {
        if (m->v[j].kl == kl && !memcmp(m->v[j].k, k, kl))
            return &m->v[j];
        j = (j + 1) & (m->cap - 1);
    }
    uint8_t *c = os_malloc(kl ? kl : 1);
    if (!c)
        return NULL;
    if (kl)
        memcpy(c, k, kl);
    m->v[j].k = c;
    m->v[j].kl = (uint32_t)kl;
    m->v[j].a = 0;
    m->v[j].d = 0;
    m->n++;
    return &m->v[j];
}

static int key_order(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al > bl) - (al < bl);
}

static int bent_by_key(const void *x, const void *y)
{
    const struct bent *a = *(struct bent *const *)x, *b = *(struct bent *const *)y;
    return key_order(a->k, a->kl, b->k, b->kl);
}

/* The map's entries sorted by key (pointers into the map); NULL on ENOMEM. */
static struct bent **bmap_sorted(struct bmap *m)
{
    struct bent **v = os_malloc((m->n ? m->n : 1) * sizeof(*v));
    if (!v)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < m->cap; i++)
        if (m->v[i].k)
            v[n++] = &m->v[i];
    if (n > 1)
        qsort(v, n, sizeof(*v), bent_by_key);
    return v;
}

/* ------------------------------------------------------------ tokenizer */

struct tok {
    uint8_t w[SOP_SEARCH_MAX_WORD];
    size_t n; /* bytes of the current word kept */
    bool in;  /* inside a word */
    uint64_t words;
    struct bmap *terms; /* term -> tf */
};

static bool word_byte(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

static int tok_word(struct tok *t)
{
    t->in = false;
    t->words++;
    struct bent *e = bmap_get(t->terms, t->w, t->n);
    t->n = 0;
    if (!e)
        return SOP_ENOMEM;
    e->a++;
    return 0;
}

static int tok_feed(struct tok *t, const uint8_t *p, size_t n)
{
    int rc;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (word_byte(c)) {
            t->in = true;
            if (t->n < sizeof(t->w))
                t->w[t->n++] = (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
        } else if (t->in && (rc = tok_word(t)) != 0) {
            return rc;
        }
    }
    return 0;
}

static int tok_end(struct tok *t)
{
    return t->in ? tok_word(t) : 0;
}

/* ------------------------------------------------------------ the index */

void search_index_name(const sop_store *s, char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = strlen(SEARCH_NAME_PREFIX);
    memcpy(out, SEARCH_NAME_PREFIX, n);
    for (int i = 0; i < 16; i++) {
        out[n++] = hex[s->info.id.b[i] >> 4];
        out[n++] = hex[s->info.id.b[i] & 15];
    }
    out[n] = 0;
}

static bool is_search(const sop_store *s)
{
    return s->info.kind && !strcmp(s->info.kind, "search");
}

struct stats {
    uint64_t n, total;
    bool changed;
};

/* A companion key: tag, then a, then (when b) 0x00 and b. */
struct ckey {
    uint8_t p[SOP_MAX_KEY];
    size_t n;
};

static void ckey_set(struct ckey *c, char tag, const void *a, size_t al, const void *b, size_t bl)
{
    c->p[0] = (uint8_t)tag;
    memcpy(c->p + 1, a, al);
    c->n = 1 + al;
    if (b) {
        c->p[c->n++] = 0;
        memcpy(c->p + c->n, b, bl);
        c->n += bl;
    }
}

static int stats_load(sop_store *ix, struct stats *st)
{
    const void *v;
    size_t vl;
    memset(st, 0, sizeof(*st));
    int rc = sop_get(ix, "S", 1, &v, &vl);
    if (rc == SOP_ENOTFOUND)
        return 0;
    if (rc)
        return rc;
    if (vl != 16) {
        txn_seterr(ix->t, "search index %s: statistics record of %zu bytes", ix->info.name, vl);
        return SOP_ECORRUPT;
    }
    st->n = get_u64(v);
    st->total = get_u64((const uint8_t *)v + 8);
    return 0;
}

static int stats_save(sop_store *ix, struct stats *st)
{
    uint8_t b[16];
    if (!st->changed)
        return 0;
    put_u64(b, st->n);
    put_u64(b + 8, st->total);
    st->changed = false;
    return sop_upsert(ix, "S", 1, b, sizeof(b));
}

/* Tokenize the current text of document k of store s into `terms`; *present
 * false when the document is absent. */
static int doc_terms(sop_store *s, const void *k, size_t kl, struct bmap *terms, bool *present,
                     uint64_t *words)
{
    uint64_t size, off = 0;
    struct tok tk = {.terms = terms};
    int rc = sop_value_size(s, k, kl, &size);
    *present = rc == 0;
    *words = 0;
    if (rc == SOP_ENOTFOUND)
        return 0;
    if (rc)
        return rc;
    uint8_t *buf = os_malloc(TEXT_PIECE);
    if (!buf)
        return SOP_ENOMEM;
    while (off < size && rc == 0) {
        size_t got = 0;
        rc = sop_value_read(s, k, kl, off, buf, TEXT_PIECE, &got);
        if (rc == 0 && got == 0)
            break;
        if (rc == 0)
            rc = tok_feed(&tk, buf, got);
        off += got;
    }
    if (rc == 0)
        rc = tok_end(&tk);
    os_free(buf);
    *words = tk.words;
    return rc;
}

/* The terms indexed now for document k: an own copy of its "F" record and
 * its length; *n 0 when not indexed. */
struct fterm {
    const uint8_t *t;
    size_t tl;
    uint64_t tf;
};

static int doc_indexed(sop_store *ix, const void *k, size_t kl, uint8_t **rec, struct fterm **ft,
                       size_t *n, uint64_t *words, bool *present)
{
    struct ckey ck;
    const void *v;
    size_t vl;
    *rec = NULL;
    *ft = NULL;
    *n = 0;
    *words = 0;
    *present = false;
    ckey_set(&ck, 'L', k, kl, NULL, 0);
    int rc = sop_get(ix, ck.p, ck.n, &v, &vl);
    if (rc == SOP_ENOTFOUND)
        return 0;
    if (rc)
        return rc;
    if (vl != 8)
        goto corrupt;
    *words = get_u64(v);
    *present = true;
    ck.p[0] = 'F';
    if ((rc = sop_get(ix, ck.p, ck.n, &v, &vl)) != 0)
        return rc == SOP_ENOTFOUND ? SOP_ECORRUPT : rc;
    if (!(*rec = os_malloc(vl ? vl : 1)))
        return SOP_ENOMEM;
    memcpy(*rec, v, vl);
    struct rbuf r;
    rb_init(&r, *rec, vl);
    uint64_t m = rb_varint(&r);
    if (r.err || m > vl)
        goto corrupt;
    if (!(*ft = os_calloc(m ? m : 1, sizeof(**ft))))
        return SOP_ENOMEM;
    for (uint64_t i = 0; i < m; i++) {
        (*ft)[i].t = rb_blob(&r, &(*ft)[i].tl);
        (*ft)[i].tf = rb_varint(&r);
    }
    if (r.err)
        goto corrupt;
    *n = m;
    return 0;
corrupt:
    txn_seterr(ix->t, "search index %s: damaged record of a document", ix->info.name);
    return SOP_ECORRUPT;
}

static int posting_put(sop_store *ix, const uint8_t *t, size_t tl, const void *k, size_t kl,
                       uint64_t tf)
{
    struct ckey ck;
    uint8_t b[4];
    ckey_set(&ck, 'P', t, tl, k, kl);
    put_u32(b, tf > UINT32_MAX ? UINT32_MAX : (uint32_t)tf);
    return sop_upsert(ix, ck.p, ck.n, b, sizeof(b));
}

static int posting_del(sop_store *ix, const uint8_t *t, size_t tl, const void *k, size_t kl)
{
    struct ckey ck;
    ckey_set(&ck, 'P', t, tl, k, kl);
    int rc = sop_remove(ix, ck.p, ck.n);
    return rc == SOP_ENOTFOUND ? 0 : rc;
}

/* Bring document k of store s up to date in index ix. */
static int index_doc(sop_store *s, sop_store *ix, const void *k, size_t kl, struct stats *st)
{
    struct bmap terms = {0};
    struct bent **nv = NULL;
    struct fterm *ov = NULL;
    uint8_t *orec = NULL;
    struct wbuf w;
    size_t on = 0;
    uint64_t owords, nwords;
    bool opresent, npresent;
    struct ckey ck;
    int rc;
    wb_init(&w);
    if ((rc = doc_terms(s, k, kl, &terms, &npresent, &nwords)) != 0 ||
        (rc = doc_indexed(ix, k, kl, &orec, &ov, &on, &owords, &opresent)) != 0)
        goto out;
    if (!(nv = bmap_sorted(&terms))) {
        rc = SOP_ENOMEM;
        goto out;
    }
    /* merge the two sorted term lists: write only what changed */
    size_t i = 0, j = 0, nn = terms.n;
    while ((i < on || j < nn) && rc == 0) {
        int c = i == on ? 1 : j == nn ? -1 : key_order(ov[i].t, ov[i].tl, nv[j]->k, nv[j]->kl);
        if (c < 0) {
            rc = posting_del(ix, ov[i].t, ov[i].tl, k, kl);
            i++;
        } else if (c > 0) {
            rc = posting_put(ix, nv[j]->k, nv[j]->kl, k, kl, nv[j]->a);
            j++;
        } else {
            if (ov[i].tf != nv[j]->a)
                rc = posting_put(ix, nv[j]->k, nv[j]->kl, k, kl, nv[j]->a);
            i++;
            j++;
        }
    }
    if (rc)
        goto out;
    if (opresent) {
        st->n--;
        st->total -= owords;
        st->changed = true;
    }
    if (npresent) {
        st->n++;
        st->total += nwords;
        st->changed = true;
    }
    ckey_set(&ck, 'L', k, kl, NULL, 0);
    if (!npresent) {
        if (opresent && (rc = sop_remove(ix, ck.p, ck.n)) == 0) {
            ck.p[0] = 'F';
            rc = sop_remove(ix, ck.p, ck.n);
        }
        goto out;
    }
    bool same = opresent && owords == nwords && on == nn;
    for (size_t x = 0; x < nn && same; x++)
        same = ov[x].tf == nv[x]->a && !key_order(ov[x].t, ov[x].tl, nv[x]->k, nv[x]->kl);
    if (same)
        goto out;
    uint8_t lb[8];
    put_u64(lb, nwords);
    wb_varint(&w, nn);
    for (size_t x = 0; x < nn; x++) {
        wb_blob(&w, nv[x]->k, nv[x]->kl);
        wb_varint(&w, nv[x]->a);
    }
    if (w.err) {
        rc = SOP_ENOMEM;
        goto out;
    }
    if ((rc = sop_upsert(ix, ck.p, ck.n, lb, sizeof(lb))) == 0) {
        ck.p[0] = 'F';
        rc = sop_upsert(ix, ck.p, ck.n, w.p ? (const void *)w.p : "", w.len);
    }
out:
    wb_free(&w);
    os_free(nv);
    os_free(ov);
    os_free(orec);
    bmap_free(&terms);
    return rc;
}

static int item_by_key(const void *x, const void *y)
{
    const struct item *a = x, *b = y;
    return key_order(a->k, a->kl, b->k, b->kl);
}

/* Open (or create) the index of store s; *fresh when it was created here. */
static int index_open(sop_store *s, bool create, sop_store **ix, bool *fresh)
{
    char name[SEARCH_NAME_MAX];
    search_index_name(s, name);
    *fresh = false;
    int rc = sop_store_open(s->t, name, ix);
    if (rc != SOP_ENOTFOUND || !create)
        return rc;
    sop_store_options o = {.unique = true, .value_in_node = true, .kind = "records"};
    char desc[SOP_MAX_STORE_NAME + 32];
    snprintf(desc, sizeof(desc), "search index of %s", s->info.name);
    o.description = desc;
    if ((rc = sop_store_create(s->t, name, &o, ix)) == 0)
        *fresh = true;
    return rc;
}

/* Index every document of s (a new index of a store with documents). */
static int index_all(sop_store *s, sop_store *ix, struct stats *st)
{
    sop_cursor *c;
    uint8_t *key = os_malloc(SOP_MAX_KEY);
    int rc = key ? sop_cursor_open(s, &c) : SOP_ENOMEM;
    if (rc) {
        os_free(key);
        return rc;
    }
    for (rc = sop_cursor_first(c); rc == 0; rc = sop_cursor_next(c)) {
        const void *k;
        size_t kl;
        if ((rc = sop_cursor_key(c, &k, &kl)) != 0)
            break;
        memcpy(key, k, kl);
        if (kl > SOP_SEARCH_MAX_DOC_KEY)
            continue; /* too long to index (written before it became a search store) */
        if ((rc = index_doc(s, ix, key, kl, st)) != 0)
            break;
    }
    sop_cursor_close(c);
    os_free(key);
    return rc == SOP_ENOTFOUND ? 0 : rc;
}

static bool has_writes(const sop_store *s)
{
    return s->created || s->altered || s->nwkeys;
}

/* Bring the index of search store s up to date with what t wrote. */
static int index_store(sop_store *s)
{
    sop_store *ix;
    struct stats st;
    struct item *keys = NULL;
    bool fresh;
    int rc;
    size_t nk = s->nwkeys;
    for (size_t i = 0; i < nk; i++)
        if (s->wkeys[i].kl > SOP_SEARCH_MAX_DOC_KEY) {
            txn_seterr(s->t,
                       "search store %s: a document key of %u bytes is over the limit of "
                       "%u",
                       s->info.name, s->wkeys[i].kl, SOP_SEARCH_MAX_DOC_KEY);
            return SOP_ENAMETOOLONG;
        }
    if ((rc = index_open(s, true, &ix, &fresh)) != 0 || (rc = stats_load(ix, &st)) != 0)
        goto fail;
    if (fresh) {
        rc = index_all(s, ix, &st);
    } else if (nk) {
        /* a sorted copy: the indexing below reads s, which may grow its sets */
        if (!(keys = os_malloc(nk * sizeof(*keys)))) {
            rc = SOP_ENOMEM;
            goto fail;
        }
        memcpy(keys, s->wkeys, nk * sizeof(*keys));
        qsort(keys, nk, sizeof(*keys), item_by_key);
        for (size_t i = 0; i < nk && rc == 0; i++) {
            if (i && !item_by_key(&keys[i - 1], &keys[i]))
                continue;
            rc = index_doc(s, ix, keys[i].k, keys[i].kl, &st);
        }
    }
    if (rc == 0)
        rc = stats_save(ix, &st);
    os_free(keys);
    if (rc == 0)
        return 0;
fail:
    /* a half-written index must not commit: the transaction is over */
    {
        char why[sizeof(s->tb->errmsg)];
        snprintf(why, sizeof(why), "%s", s->tb->errmsg);
        txn_seterr(s->t, "index search store %s: %s", s->info.name,
                   why[0] ? why : sop_strerror(rc));
    }
    return txn_poison(s->t, rc);
}

static int drop_index(sop_store *s)
{
    char name[SEARCH_NAME_MAX];
    search_index_name(s, name);
    int rc = sop_store_drop(s->t, name);
    return rc == SOP_ENOTFOUND ? 0 : rc;
}

static int search_commit(sop_txn *t)
{
    int rc = 0;
    if (!t || !(t->b.mode & SOP_TXN_WRITE) || txn_check(t, false))
        return 0; /* the commit reports it */
    for (sop_store *s = t->stores; s && rc == 0; s = s->next) {
        if (kind_hidden_name(s->info.name))
            continue;
        if (s->dropped)
            rc = drop_index(s); /* the store's identity names its index */
        else if (s->gone)
            continue;
        else if (is_search(s) && has_writes(s))
            rc = index_store(s);
        else if (s->altered)
            rc = drop_index(s); /* no longer a search store */
    }
    return rc;
}

const struct store_kind kind_search = {
    .name = "search", .hidden_prefix = SEARCH_NAME_PREFIX, .commit = search_commit};

/* ------------------------------------------------------------ queries */

static int hit_order(const void *x, const void *y)
{
    const struct bent *a = *(struct bent *const *)x, *b = *(struct bent *const *)y;
    if (a->d != b->d)
        return a->d > b->d ? -1 : 1;
    return key_order(a->k, a->kl, b->k, b->kl);
}

/* Score the postings of `term` into `docs`. */
static int score_term(sop_store *ix, const uint8_t *term, size_t tl, const struct stats *st,
                      double avgdl, struct bmap *docs)
{
    struct ckey pfx;
    struct bmap tfs = {0};
    sop_cursor *c;
    ckey_set(&pfx, 'P', term, tl, "", 0);
    int rc = sop_cursor_open(ix, &c);
    if (rc)
        return rc;
    for (rc = sop_cursor_seek(c, pfx.p, pfx.n); rc == 0; rc = sop_cursor_next(c)) {
        const void *k, *v;
        size_t kl, vl;
        if ((rc = sop_cursor_key(c, &k, &kl)) != 0)
            break;
        if (kl < pfx.n || memcmp(k, pfx.p, pfx.n))
            break;
        if ((rc = sop_cursor_value(c, &v, &vl)) != 0)
            break;
        if (vl != 4) {
            txn_seterr(ix->t, "search index %s: damaged posting", ix->info.name);
            rc = SOP_ECORRUPT;
            break;
        }
        struct bent *e = bmap_get(&tfs, (const uint8_t *)k + pfx.n, kl - pfx.n);
        if (!e) {
            rc = SOP_ENOMEM;
            break;
        }
        e->a = get_u32(v);
    }
    sop_cursor_close(c);
    if (rc != SOP_ENOTFOUND && rc != 0)
        goto out;
    rc = 0;
    /* Lucene's BM25 idf: never negative, so a word in most documents still
     * counts a little instead of pushing them down */
    double df = (double)tfs.n, n = (double)st->n;
    double idf = log(1.0 + (n - df + 0.5) / (df + 0.5));
    for (size_t i = 0; i < tfs.cap && rc == 0; i++) {
        struct bent *p = &tfs.v[i];
        if (!p->k)
            continue;
        struct bent *d = bmap_get(docs, p->k, p->kl);
        if (!d) {
            rc = SOP_ENOMEM;
            break;
        }
        if (d->a == 0) { /* its length, once: stored +1 so 0 means unknown */
            struct ckey lk;
            const void *v;
            size_t vl;
            ckey_set(&lk, 'L', p->k, p->kl, NULL, 0);
            if ((rc = sop_get(ix, lk.p, lk.n, &v, &vl)) != 0 || vl != 8) {
                if (rc == 0 || rc == SOP_ENOTFOUND) {
                    txn_seterr(ix->t, "search index %s: a posting without its document",
                               ix->info.name);
                    rc = SOP_ECORRUPT;
                }
                break;
            }
            d->a = get_u64(v) + 1;
        }
        double tf = (double)p->a, dl = (double)(d->a - 1);
        d->d += idf * tf * (BM25_K1 + 1) / (tf + BM25_K1 * (1 - BM25_B + BM25_B * dl / avgdl));
    }
out:
    bmap_free(&tfs);
    return rc;
}

SOP_API int sop_search_query(sop_store *s, const char *query, size_t k, sop_search_hit **hits,
                             size_t *nhits)
{
    struct bmap qterms = {0}, docs = {0};
    struct bent **order = NULL, **qv = NULL;
    struct stats st;
    sop_store *ix;
    bool fresh;
    int rc;
    if (!s || !query || !hits || !nhits)
        return SOP_EINVAL;
    if (s->dropped || s->gone) {
        txn_seterr(s->t, "search %s: dropped in this transaction", s->info.name);
        return SOP_ENOTFOUND;
    }
    if ((rc = txn_check(s->t, false)) != 0)
        return rc;
    if (!is_search(s)) {
        txn_seterr(s->t, "search %s: the store is of kind %s, not search", s->info.name,
                   s->info.kind);
        return SOP_EINVAL;
    }
    /* a write transaction sees its own documents: index them first */
    if ((s->tb->mode & SOP_TXN_WRITE) && has_writes(s) && (rc = index_store(s)) != 0)
        return rc;
    rc = index_open(s, false, &ix, &fresh);
    if (rc == SOP_ENOTFOUND) { /* never indexed: no documents */
        *hits = NULL;
        *nhits = 0;
        return 0;
    }
    if (rc || (rc = stats_load(ix, &st)) != 0)
        return rc;
    struct tok tk = {.terms = &qterms};
    if ((rc = tok_feed(&tk, (const uint8_t *)query, strlen(query))) != 0 ||
        (rc = tok_end(&tk)) != 0)
        goto out;
    if (!(qv = bmap_sorted(&qterms))) {
        rc = SOP_ENOMEM;
        goto out;
    }
    double avgdl = st.n ? (double)st.total / (double)st.n : 1.0;
    if (avgdl <= 0)
        avgdl = 1.0;
    /* each distinct query word once, in byte order (the sum's order is fixed) */
    for (size_t i = 0; i < qterms.n && rc == 0 && st.n; i++)
        rc = score_term(ix, qv[i]->k, qv[i]->kl, &st, avgdl, &docs);
    if (rc)
        goto out;
    if (!(order = os_malloc((docs.n ? docs.n : 1) * sizeof(*order)))) {
        rc = SOP_ENOMEM;
        goto out;
    }
    size_t n = 0, bytes = 0;
    for (size_t i = 0; i < docs.cap; i++)
        if (docs.v[i].k)
            order[n++] = &docs.v[i];
    if (n > 1)
        qsort(order, n, sizeof(*order), hit_order);
    if (k && n > k)
        n = k;
    for (size_t i = 0; i < n; i++)
        bytes += order[i]->kl + 1;
    sop_search_hit *h = os_malloc(n * sizeof(*h) + bytes + 1);
    if (!h) {
        rc = SOP_ENOMEM;
        goto out;
    }
    uint8_t *p = (uint8_t *)(h + n);
    for (size_t i = 0; i < n; i++) {
        memcpy(p, order[i]->k, order[i]->kl);
        p[order[i]->kl] = 0;
        h[i].key = p;
        h[i].key_len = order[i]->kl;
        h[i].words = order[i]->a - 1;
        h[i].score = order[i]->d;
        p += order[i]->kl + 1;
    }
    *hits = h;
    *nhits = n;
out:
    os_free(order);
    os_free(qv);
    bmap_free(&docs);
    bmap_free(&qterms);
    return rc;
}

SOP_API void sop_search_free(sop_search_hit *hits)
{
    os_free(hits);
}
