/*
 * txn.c - transactions, stores, items, big values and cursors: the public
 * API of sop.h on top of btree.c, value.c and db.c.
 *
 * The commit protocol (each step below cites its number):
 *  C1. Leftover chunk buffers are appended to the log (unsynced), outside
 *      any lock: a big value's bytes are already on disk before commit.
 *  C2. Take db->commit_mu: one commit at a time.  Leave the active list.
 *  C3. Validate: for every commit newer than this transaction's snapshot
 *      (db->recent_*), a key it wrote that this one read, wrote, or that
 *      lies in a range this one walked, or a store this one used that it
 *      created, dropped or altered, is a conflict: SOP_ECONFLICT, nothing
 *      written.  Read-only transactions stop here.
 *  C4. A store someone else committed to since the snapshot (without
 *      conflict: other keys) is rebuilt: this transaction's final items for
 *      each key it wrote are re-applied onto the newest tree.
 *  C5. One batch is built: every dirty node as a full image or a delta,
 *      then the commit record listing every registry change (batch-relative
 *      or absolute locations, removals) and every store info.  It is
 *      appended with one write and made durable with one fsync (none for
 *      SOP_TXN_NOSYNC: the group flusher or sop_db_sync does it).  The
 *      commit record's crc is the commit point: recovery applies it whole or
 *      not at all.  A failure here changes nothing in memory; a failed fsync
 *      breaks the log until reopen (the kernel may have dropped pages).
 *  C6. Under db->lock (write), the commit record is applied to the registry
 *      and catalog with the same code recovery uses, and seq advances:
 *      the commit is visible at once to every new snapshot.
 *  C7. The new node versions enter the cache under their new locations
 *      (the versions they replace leave it);
 *      this commit's write set is kept while an older snapshot is live.
 *  C8. A checkpoint is written when the log has grown enough since the last.
 */
#define _GNU_SOURCE
#include "txn.h"

#include "btree.h"
#include "os.h"
#include "kind.h"
#include "value.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Values kept inside a leaf are at most INLINE_MAX bytes, and at most
 * LEAF_INLINE_BUDGET / slot_length (never under INLINE_MIN), so that a full
 * leaf stays a few hundred KiB: a leaf is rewritten whole when its delta chain
 * is consolidated, and 1000 inline 4 KiB files made every consolidation a 4 MiB
 * write.  Bigger values get chunk records of their own.  Each item says where
 * its value is, so the limit can change without touching stored data. */
#define INLINE_MAX 4096u
#define INLINE_MIN 128u
#define LEAF_INLINE_BUDGET (512u << 10)
/* A changed leaf is written as a delta of its changed keys while its chain of
 * deltas is shorter than DELTA_CHAIN_MAX records and their bytes stay under
 * 1/DELTA_CHAIN_SHARE of the node's; then a full image is written.  Each
 * image costs a whole node of log bytes, each delta on a chain costs one more
 * record to read when the node is loaded cold (bt_load); recovery reads
 * neither. */
#ifndef DELTA_CHAIN_MAX
#define DELTA_CHAIN_MAX 64
#endif
#ifndef DELTA_CHAIN_SHARE
#define DELTA_CHAIN_SHARE 2
#endif

/* The biggest commit batch buffer kept for the next commit. */
#define COMMIT_BUF_KEEP (16u << 20)

/* ------------------------------------------------------------ helpers */

void txn_seterr(sop_txn *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tb_vseterr(&t->b, fmt, ap);
    va_end(ap);
}

SOP_API const char *sop_txn_errmsg(sop_txn *t)
{
    return t ? t->b.errmsg : "no transaction";
}

int txn_check(sop_txn *t, bool write)
{
    if (t->b.poison)
        return t->b.poison;
    if (write && !(t->b.mode & SOP_TXN_WRITE)) {
        txn_seterr(t, "write: the transaction was begun read-only");
        return SOP_EREADONLY;
    }
    uint64_t age = coarse_ns() - t->b.begin_ns;
    if (!(t->b.mode & SOP_TXN_NOAGE) && age > (uint64_t)t->b.db->opts.txn_max_age_ms * 1000000ull) {
        txn_seterr(t, "transaction: older than its maximum age of %u ms; roll it back",
                   t->b.db->opts.txn_max_age_ms);
        return txn_poison(t, SOP_ETIMEDOUT);
    }
    return 0;
}

void *txn_scratch(sop_txn *t, size_t n)
{
    struct scratch *s = malloc(sizeof(*s) + (n ? n : 1));
    if (!s)
        return NULL;
    s->next = t->scratch;
    t->scratch = s;
    return s->data;
}

/* Keep node n alive until the next change: pointers into it were handed
 * out.  A set (open addressing by pointer), so a node is pinned once however
 * many values of it are handed out; the cache keeps pinned nodes findable,
 * so a reload does not make a second copy (cache.c). */
static int txn_pin(sop_txn *t, struct node *n)
{
    if ((t->npins + 1) * 2 > t->cappins) {
        size_t cap = t->cappins ? t->cappins * 2 : 64;
        struct node **v = calloc(cap, sizeof(*v));
        if (!v)
            return SOP_ENOMEM;
        for (size_t i = 0; i < t->cappins; i++) {
            if (!t->pins[i])
                continue;
            size_t j = ((uintptr_t)t->pins[i] >> 4) * 0x9E3779B97F4A7C15ull >> 7 & (cap - 1);
            while (v[j])
                j = (j + 1) & (cap - 1);
            v[j] = t->pins[i];
        }
        free(t->pins);
        t->pins = v;
        t->cappins = cap;
    }
    size_t j = ((uintptr_t)n >> 4) * 0x9E3779B97F4A7C15ull >> 7 & (t->cappins - 1);
    while (t->pins[j]) {
        if (t->pins[j] == n)
            return 0;
        j = (j + 1) & (t->cappins - 1);
    }
    node_ref(n);
    t->pins[j] = n;
    t->npins++;
    return 0;
}

void txn_free_scratch(sop_txn *t)
{
    struct scratch *s = t->scratch;
    while (s) {
        struct scratch *n = s->next;
        free(s);
        s = n;
    }
    t->scratch = NULL;
    if (t->npins) {
        for (size_t i = 0; i < t->cappins; i++)
            if (t->pins[i]) {
                node_unref(t->pins[i]);
                t->pins[i] = NULL;
            }
        t->npins = 0;
    }
}

/* Append a copy of str to a growable array of strings. */
static int strv_push(char ***v, size_t *n, size_t *cap, const char *str)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 8;
        char **p = realloc(*v, c * sizeof(*p));
        if (!p)
            return SOP_ENOMEM;
        *v = p;
        *cap = c;
    }
    if (!((*v)[*n] = strdup(str)))
        return SOP_ENOMEM;
    (*n)++;
    return 0;
}

int txn_note_name(sop_txn *t, const char *name)
{
    for (size_t i = 0; i < t->nnames; i++)
        if (!strcmp(t->names[i], name))
            return 0;
    return strv_push(&t->names, &t->nnames, &t->capnames, name);
}

struct kblock {
    struct kblock *next;
    size_t used, cap;
    uint8_t data[];
};

#define KBLOCK_BYTES (64u << 10)

static int keyset_add(struct keyset *ks, const void *k, size_t kl)
{
    struct kblock *b = ks->blocks;
    if (ks->n == ks->cap) {
        size_t c = ks->cap ? ks->cap * 2 : 64;
        struct kref *v = realloc(ks->v, c * sizeof(*v));
        if (!v)
            return SOP_ENOMEM;
        ks->v = v;
        ks->cap = c;
    }
    if (!b || b->cap - b->used < kl) {
        size_t cap = kl > KBLOCK_BYTES ? kl : KBLOCK_BYTES;
        if (!(b = malloc(sizeof(*b) + cap)))
            return SOP_ENOMEM;
        b->used = 0;
        b->cap = cap;
        b->next = ks->blocks;
        ks->blocks = b;
    }
    uint8_t *p = b->data + b->used;
    if (kl)
        memcpy(p, k, kl);
    b->used += kl;
    ks->v[ks->n].k = p;
    ks->v[ks->n].kl = (uint32_t)kl;
    ks->n++;
    return 0;
}

static void keyset_free(struct keyset *ks)
{
    while (ks->blocks) {
        struct kblock *b = ks->blocks;
        ks->blocks = b->next;
        free(b);
    }
    free(ks->v);
    memset(ks, 0, sizeof(*ks));
}

static int kref_cmp(const void *a, const void *b)
{
    const struct kref *x = a, *y = b;
    return key_cmp(x->k, x->kl, y->k, y->kl);
}

/* Sort and deduplicate (the key bytes stay where they are). */
static void keyset_settle(struct keyset *ks)
{
    if (ks->sorted == ks->n)
        return;
    qsort(ks->v, ks->n, sizeof(*ks->v), kref_cmp);
    size_t j = 0;
    for (size_t i = 0; i < ks->n; i++)
        if (!j || kref_cmp(&ks->v[j - 1], &ks->v[i]))
            ks->v[j++] = ks->v[i];
    ks->n = ks->sorted = j;
}

/* After keyset_settle. */
static bool keyset_holds(const struct keyset *ks, const struct item *k)
{
    size_t lo = 0, hi = ks->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = key_cmp(ks->v[mid].k, ks->v[mid].kl, k->k, k->kl);
        if (!c)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

static int note_read(sop_store *s, const void *k, size_t kl)
{
    return keyset_add(&s->rkeys, k, kl);
}

static int note_write(sop_store *s, const void *k, size_t kl)
{
    return set_add_key(&s->wkeys, &s->nwkeys, &s->capwkeys, k, kl);
}

/* A write that was only a merge (sop_merge): flagged in the write set, so
 * that other transactions' reads of the key do not conflict with it. */
static int note_merge(sop_store *s, const void *k, size_t kl)
{
    int rc = set_add_key(&s->wkeys, &s->nwkeys, &s->capwkeys, k, kl);
    if (rc == 0)
        s->wkeys[s->nwkeys - 1].merge = 1;
    return rc;
}

static int range_add(sop_store *s, const struct krange *r)
{
    if (s->nranges == s->capranges) {
        size_t c = s->capranges ? s->capranges * 2 : 8;
        struct krange *v = realloc(s->ranges, c * sizeof(*v));
        if (!v)
            return SOP_ENOMEM;
        s->ranges = v;
        s->capranges = c;
    }
    struct krange *d = &s->ranges[s->nranges];
    memset(d, 0, sizeof(*d));
    d->lo_inf = r->lo_inf;
    d->hi_inf = r->hi_inf;
    if ((!r->lo_inf && item_copy_own(&d->lo, &r->lo) != 0) ||
        (!r->hi_inf && item_copy_own(&d->hi, &r->hi) != 0)) {
        item_free_own(&d->lo);
        return SOP_ENOMEM;
    }
    s->nranges++;
    return 0;
}

static int range_all(sop_store *s)
{
    struct krange r = {.lo_inf = true, .hi_inf = true};
    return range_add(s, &r);
}

static int item_cmp(const void *a, const void *b)
{
    const struct item *x = a, *y = b;
    return key_cmp(x->k, x->kl, y->k, y->kl);
}

static void keyset_sort(struct item *v, size_t *n)
{
    if (*n < 2)
        return;
    qsort(v, *n, sizeof(*v), item_cmp);
    size_t j = 0;
    for (size_t i = 0; i < *n; i++) {
        if (j && !item_cmp(&v[j - 1], &v[i])) {
            v[j - 1].merge &= v[i].merge; /* merged only if every write was a merge */
            item_free_own(&v[i]);
            continue;
        }
        v[j++] = v[i];
    }
    *n = j;
}

/* The entry of sorted set v equal to k, or NULL. */
static struct item *keyset_find(struct item *v, size_t n, const struct item *k)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = item_cmp(&v[mid], k);
        if (!c)
            return &v[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static bool in_range(const struct krange *r, const struct item *k)
{
    if (!r->lo_inf && item_cmp(k, &r->lo) < 0)
        return false;
    if (!r->hi_inf && item_cmp(k, &r->hi) > 0)
        return false;
    return true;
}

static void keys_free(struct item *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        item_free_own(&v[i]);
    free(v);
}

void wset_free(struct wset *w)
{
    for (size_t i = 0; i < w->nnames; i++)
        free(w->names[i]);
    free(w->names);
    for (size_t i = 0; i < w->nstores; i++)
        keys_free(w->stores[i].keys, w->stores[i].nkeys);
    free(w->stores);
    free(w);
}

/* ------------------------------------------------------------ txn life */

SOP_API int sop_txn_begin(sop_db *db, int mode, sop_txn **out)
{
    if (!db || !out || !(mode & (SOP_TXN_READ | SOP_TXN_WRITE)) ||
        (mode & ~(SOP_TXN_READ | SOP_TXN_WRITE | SOP_TXN_NOSYNC | SOP_TXN_NOAGE)))
        return SOP_EINVAL;
    if ((mode & SOP_TXN_WRITE) && db->salvage) {
        db_seterr(db, "begin: the database was opened to salvage it, read-only");
        return SOP_EREADONLY;
    }
    sop_txn *t = calloc(1, sizeof(*t));
    if (!t)
        return SOP_ENOMEM;
    t->b.db = db;
    t->b.mode = mode;
    t->b.begin_ns = coarse_ns();
    /* snapshot and registration together, so a committer computing the
     * oldest live snapshot under db->lock sees this one (txn.c C6) */
    pthread_rwlock_rdlock(&db->lock);
    pthread_mutex_lock(&db->txn_mu);
    t->b.snap = db->seq;
    t->b.next = db->active;
    if (db->active)
        db->active->prev = &t->b;
    db->active = &t->b;
    pthread_mutex_unlock(&db->txn_mu);
    pthread_rwlock_unlock(&db->lock);
    *out = t;
    return 0;
}

static void cursor_free(struct sop_cursor *c);

static void store_free(sop_store *s)
{
    while (s->cursors) {
        struct sop_cursor *c = s->cursors;
        s->cursors = c->next;
        cursor_free(c);
    }
    bt_reset(s);
    keyset_free(&s->rkeys);
    keys_free(s->wkeys, s->nwkeys);
    keys_free(s->deadv, s->ndeadv);
    for (size_t i = 0; i < s->nmerges; i++) {
        item_free_own(&s->merges[i].key);
        free(s->merges[i].upd);
    }
    free(s->merges);
    for (size_t i = 0; i < s->nranges; i++) {
        item_free_own(&s->ranges[i].lo);
        item_free_own(&s->ranges[i].hi);
    }
    free(s->ranges);
    info_free(&s->info);
    free(s);
}

static void txn_unlink(sop_txn *t)
{
    sop_db *db = t->b.db;
    pthread_mutex_lock(&db->txn_mu);
    if (t->b.prev)
        t->b.prev->next = t->b.next;
    else if (db->active == &t->b)
        db->active = t->b.next;
    if (t->b.next)
        t->b.next->prev = t->b.prev;
    t->b.prev = t->b.next = NULL;
    pthread_mutex_unlock(&db->txn_mu);
}

static void txn_free(sop_txn *t)
{
    txn_unlink(t);
    if (t->b.vseg && !t->b.vseg_kept) /* rolled back or failed: its chunks are nobody's */
        blob_vseg_drop(&t->b.db->log, t->b.vseg);
    txn_free_scratch(t);
    free(t->pins);
    for (int i = 0; i < TXN_CBUFS; i++)
        free(t->b.cb[i].data);
    free(t->b.ch);
    while (t->stores) {
        sop_store *s = t->stores;
        t->stores = s->next;
        store_free(s);
    }
    for (size_t i = 0; i < t->nnames; i++)
        free(t->names[i]);
    free(t->names);
    free(t);
}

SOP_API void sop_txn_rollback(sop_txn *t)
{
    if (!t)
        return;
    __atomic_fetch_add(&t->b.db->n_rollbacks, 1, __ATOMIC_RELAXED);
    txn_free(t);
}

/* ------------------------------------------------------------ stores */

static bool valid_name(const char *name)
{
    size_t n = strlen(name);
    return n > 0 && n <= SOP_MAX_STORE_NAME && !strchr(name, '/');
}

static sop_store *find_handle(sop_txn *t, const char *name)
{
    for (sop_store *s = t->stores; s; s = s->next)
        if (!s->gone && !strcmp(s->info.name, name))
            return s;
    return NULL;
}

static sop_store *new_handle(sop_txn *t)
{
    sop_store *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->t = t;
    s->tb = &t->b;
    s->snap = t->b.snap;
    s->next = t->stores;
    t->stores = s;
    return s;
}

SOP_API int sop_store_open(sop_txn *t, const char *name, sop_store **out)
{
    int rc;
    if (!t || !name || !out)
        return SOP_EINVAL;
    if ((rc = txn_check(t, false)) != 0)
        return rc;
    if (!valid_name(name)) {
        txn_seterr(t, "open store: invalid name (1..255 bytes, no '/')");
        return strlen(name) > SOP_MAX_STORE_NAME ? SOP_ENAMETOOLONG : SOP_EINVAL;
    }
    sop_store *s = find_handle(t, name);
    if (s) {
        if (s->dropped) {
            txn_seterr(t, "open store %s: dropped in this transaction", name);
            return SOP_ENOTFOUND;
        }
        *out = s;
        return 0;
    }
    if ((rc = txn_note_name(t, name)) != 0)
        return rc;
    struct store_info info;
    pthread_rwlock_rdlock(&t->b.db->lock);
    const struct sver *v = cat_get(&t->b.db->cat, name, t->b.snap);
    uint64_t vseq = v ? v->seq : 0;
    rc = v ? info_copy(&info, &v->info) : SOP_ENOTFOUND;
    pthread_rwlock_unlock(&t->b.db->lock);
    if (rc) {
        if (rc == SOP_ENOTFOUND)
            txn_seterr(t, "open store %s: no such store", name);
        return rc;
    }
    if (!(s = new_handle(t))) {
        info_free(&info);
        return SOP_ENOMEM;
    }
    s->info = info;
    s->base_seq = vseq;
    *out = s;
    return 0;
}

static int check_options(sop_txn *t, const sop_store_options *o)
{
    if (o->slot_length && (o->slot_length < 4 || o->slot_length > 65535)) {
        txn_seterr(t, "store options: slot_length %u is out of 4..65535", o->slot_length);
        return SOP_EINVAL;
    }
    if (o->chunk_size && (o->chunk_size < 4096 || o->chunk_size > (64u << 20))) {
        txn_seterr(t, "store options: chunk_size %u is out of 4 KiB..64 MiB", o->chunk_size);
        return SOP_EINVAL;
    }
    if (!kind_find(o->kind)) {
        txn_seterr(t, "store options: kind '%s' is not %s", o->kind, kind_names());
        return SOP_EINVAL;
    }
    return 0;
}

SOP_API int sop_store_create(sop_txn *t, const char *name, const sop_store_options *o,
                             sop_store **out)
{
    int rc;
    sop_store_options def = {0};
    if (!t || !name || !out)
        return SOP_EINVAL;
    if (!o)
        o = &def;
    if ((rc = txn_check(t, true)) != 0)
        return rc;
    if (!valid_name(name)) {
        txn_seterr(t, "create store: invalid name (1..255 bytes, no '/')");
        return strlen(name) > SOP_MAX_STORE_NAME ? SOP_ENAMETOOLONG : SOP_EINVAL;
    }
    if ((rc = check_options(t, o)) != 0)
        return rc;
    txn_free_scratch(t);
    sop_store *old = find_handle(t, name);
    if (old && !old->dropped) {
        txn_seterr(t, "create store %s: it exists", name);
        return SOP_EEXIST;
    }
    if ((rc = txn_note_name(t, name)) != 0)
        return rc;
    if (!old) {
        pthread_rwlock_rdlock(&t->b.db->lock);
        bool exists = cat_get(&t->b.db->cat, name, t->b.snap) != NULL;
        pthread_rwlock_unlock(&t->b.db->lock);
        if (exists) {
            txn_seterr(t, "create store %s: it exists", name);
            return SOP_EEXIST;
        }
    }
    sop_store *s = new_handle(t);
    if (!s)
        return SOP_ENOMEM;
    struct store_info *i = &s->info;
    codec_uuid4(i->id.b);
    i->slot_length = o->slot_length ? o->slot_length : 1000;
    i->chunk_size = o->chunk_size ? o->chunk_size : (1u << 20);
    i->unique = o->unique;
    i->value_in_node = o->value_in_node;
    i->created_ns = i->modified_ns = now_ns();
    if (!(i->name = strdup(name)) ||
        !(i->description = strdup(o->description ? o->description : "")) ||
        !(i->relations = strdup(o->relations ? o->relations : "")) ||
        !(i->kind = strdup(o->kind && *o->kind ? o->kind : "records"))) {
        s->gone = true;
        return SOP_ENOMEM;
    }
    s->created = true;
    if (old) /* dropped earlier in this transaction: the old one stays dropped */
        old->gone = true;
    *out = s;
    return 0;
}

SOP_API int sop_store_drop(sop_txn *t, const char *name)
{
    sop_store *s;
    int rc;
    if (!t || !name)
        return SOP_EINVAL;
    if ((rc = txn_check(t, true)) != 0)
        return rc;
    if ((rc = sop_store_open(t, name, &s)) != 0)
        return rc;
    txn_free_scratch(t);
    /* the drop depends on the whole content it removes */
    if ((rc = range_all(s)) != 0)
        return rc;
    s->dropped = true;
    t->b.gen++;
    return 0;
}

static int store_usable(sop_store *s, bool write)
{
    int rc;
    if (!s)
        return SOP_EINVAL;
    if ((rc = txn_check(s->t, write)) != 0)
        return rc;
    if (s->dropped || s->gone) {
        txn_seterr(s->t, "store %s: dropped in this transaction", s->info.name);
        return SOP_ENOTFOUND;
    }
    if (write)
        txn_free_scratch(s->t);
    return 0;
}

SOP_API int sop_store_count(sop_store *s, uint64_t *n)
{
    int rc = store_usable(s, false);
    if (rc || !n)
        return rc ? rc : SOP_EINVAL;
    /* the count depends on every key */
    if ((rc = range_all(s)) != 0)
        return rc;
    *n = s->info.count;
    return 0;
}

SOP_API int sop_store_get_info(sop_store *s, sop_store_info *out)
{
    int rc = store_usable(s, false);
    if (rc || !out)
        return rc ? rc : SOP_EINVAL;
    memset(out, 0, sizeof(*out));
    out->name = s->info.name;
    out->options.slot_length = s->info.slot_length;
    out->options.unique = s->info.unique;
    out->options.value_in_node = s->info.value_in_node;
    out->options.chunk_size = s->info.chunk_size;
    out->options.description = s->info.description;
    out->options.relations = s->info.relations;
    out->options.kind = s->info.kind;
    out->count = s->info.count;
    out->created_ns = s->info.created_ns;
    out->modified_ns = s->info.modified_ns;
    return 0;
}

static int replace_str(char **dst, const char *src)
{
    char *p = strdup(src);
    if (!p)
        return SOP_ENOMEM;
    free(*dst);
    *dst = p;
    return 0;
}

SOP_API int sop_store_alter(sop_store *s, const sop_store_options *o)
{
    int rc = store_usable(s, true);
    if (rc || !o)
        return rc ? rc : SOP_EINVAL;
    if ((rc = check_options(s->t, o)) != 0)
        return rc;
    struct store_info *i = &s->info;
    bool nu = (o->unique || (o->alter_flags & SOP_ALTER_UNIQUE)) ? o->unique : i->unique;
    bool nv = (o->value_in_node || (o->alter_flags & SOP_ALTER_VALUE_IN_NODE)) ? o->value_in_node
                                                                               : i->value_in_node;
    bool shape = (o->slot_length && o->slot_length != i->slot_length) ||
                 (o->chunk_size && o->chunk_size != i->chunk_size) || nu != i->unique ||
                 nv != i->value_in_node;
    if (shape) {
        if ((rc = range_all(s)) != 0)
            return rc;
        if (i->count) {
            txn_seterr(s->t,
                       "alter store %s: slot_length, unique, value_in_node and chunk_size "
                       "can change only while the store is empty",
                       i->name);
            return SOP_EBUSY;
        }
        if (o->slot_length)
            i->slot_length = o->slot_length;
        if (o->chunk_size)
            i->chunk_size = o->chunk_size;
        i->unique = nu;
        i->value_in_node = nv;
    }
    if ((o->description && (rc = replace_str(&i->description, o->description))) ||
        (o->relations && (rc = replace_str(&i->relations, o->relations))) ||
        (o->kind && *o->kind && (rc = replace_str(&i->kind, o->kind))))
        return rc;
    s->altered = true;
    return 0;
}

struct namelist {
    char **v;
    size_t n, cap;
};

static int nl_add(struct namelist *l, const char *name)
{
    return strv_push(&l->v, &l->n, &l->cap, name);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

SOP_API int sop_store_list(sop_txn *t, sop_store_list_fn fn, void *arg)
{
    struct namelist l = {0};
    int rc;
    if (!t || !fn)
        return SOP_EINVAL;
    if ((rc = txn_check(t, false)) != 0)
        return rc;
    t->all_names = true;
    pthread_rwlock_rdlock(&t->b.db->lock);
    for (size_t i = 0; i < t->b.db->cat.n && !rc; i++) {
        const char *name = t->b.db->cat.v[i].name;
        if (cat_get(&t->b.db->cat, name, t->b.snap) && !find_handle(t, name))
            rc = nl_add(&l, name);
    }
    pthread_rwlock_unlock(&t->b.db->lock);
    for (sop_store *s = t->stores; s && !rc; s = s->next)
        if (!s->gone && !s->dropped)
            rc = nl_add(&l, s->info.name);
    if (!rc) {
        if (l.n)
            qsort(l.v, l.n, sizeof(*l.v), cmp_str);
        for (size_t i = 0; i < l.n && !rc; i++)
            if (!kind_hidden_name(l.v[i]))
                rc = fn(l.v[i], arg); /* a kind's own stores (search indexes) */
    }
    for (size_t i = 0; i < l.n; i++)
        free(l.v[i]);
    free(l.v);
    return rc;
}

/* ------------------------------------------------------------ items */

static int check_key(sop_store *s, const void *k, size_t kl)
{
    if (!k && kl)
        return SOP_EINVAL;
    if (kl > SOP_MAX_KEY) {
        txn_seterr(s->t, "key: %zu bytes is over the limit of %u", kl, SOP_MAX_KEY);
        return SOP_ENAMETOOLONG;
    }
    return 0;
}

/* The largest value store s keeps inside its leaves (0: none). */
static uint32_t inline_max(const sop_store *s)
{
    if (!s->info.value_in_node)
        return 0;
    uint32_t m = LEAF_INLINE_BUDGET / (s->info.slot_length ? s->info.slot_length : 1);
    m = m < INLINE_MIN ? INLINE_MIN : m > INLINE_MAX ? INLINE_MAX : m;
    return s->info.chunk_size < m ? s->info.chunk_size : m;
}

/* An item for key k holding value v, placed in the node or in chunks. */
static int make_item(sop_store *s, const void *k, size_t kl, const void *v, size_t vl,
                     struct item *it)
{
    memset(it, 0, sizeof(*it));
    it->k = k;
    it->kl = (uint32_t)kl;
    if (vl <= inline_max(s)) {
        it->v = v;
        it->vl = (uint32_t)vl;
        return 0;
    }
    it->ext = 1;
    it->csize = s->info.chunk_size;
    codec_uuid4(it->vid.b);
    return vl ? ch_write(s, it, 0, v, vl) : 0;
}

static int get_first(sop_store *s, const void *k, size_t kl, struct item *copy)
{
    struct node *leaf;
    uint32_t pos;
    int rc = bt_find(s, k, kl, &leaf, &pos);
    if (rc)
        return rc;
    rc = item_copy_own(copy, &leaf->it[pos]);
    node_unref(leaf);
    return rc;
}

static int forget_value(sop_store *s, const struct item *old)
{
    return old->ext ? ch_forget(s, old) : 0;
}

SOP_API int sop_add(sop_store *s, const void *k, size_t kl, const void *v, size_t vl)
{
    struct item it, old;
    int rc = store_usable(s, true);
    if (rc || (rc = check_key(s, k, kl)) != 0 || (!v && vl))
        return rc ? rc : SOP_EINVAL;
    if ((rc = note_write(s, k, kl)) != 0)
        return rc;
    if (s->info.unique) {
        rc = get_first(s, k, kl, &old);
        if (rc == 0) {
            item_free_own(&old);
            return SOP_EEXIST;
        }
        if (rc != SOP_ENOTFOUND)
            return rc;
    }
    if ((rc = make_item(s, k, kl, v, vl, &it)) != 0)
        return rc;
    s->t->b.grew = true;
    return bt_insert(s, &it);
}

/* Add or replace the first item with key k, once the write is noted. */
static int put_noted(sop_store *s, const void *k, size_t kl, const void *v, size_t vl, bool insert)
{
    struct item it, old;
    int rc = get_first(s, k, kl, &old);
    if (rc == SOP_ENOTFOUND) {
        if (!insert) {
            txn_seterr(s->t, "update: key not found in store %s", s->info.name);
            return rc;
        }
        if ((rc = make_item(s, k, kl, v, vl, &it)) != 0)
            return rc;
        s->t->b.grew = true;
        return bt_insert(s, &it);
    }
    if (rc)
        return rc;
    rc = forget_value(s, &old);
    item_free_own(&old);
    if (rc || (rc = make_item(s, k, kl, v, vl, &it)) != 0)
        return rc;
    return bt_replace_first(s, &it);
}

static int put(sop_store *s, const void *k, size_t kl, const void *v, size_t vl, bool insert)
{
    int rc = store_usable(s, true);
    if (rc || (rc = check_key(s, k, kl)) != 0 || (!v && vl))
        return rc ? rc : SOP_EINVAL;
    if ((rc = note_write(s, k, kl)) != 0)
        return rc;
    return put_noted(s, k, kl, v, vl, insert);
}

/*
 * Merges.  A merge is a blind update: m->fn combines the value the key has
 * now (in this transaction) with m->upd, and the result replaces it.  It
 * reads nothing that commit validates, and commit (C3) lets it pass over
 * other transactions' merges and plain writes of the key, then (C4) applies
 * it again onto the newest value; another transaction's read of the key
 * does not conflict with a merge either.  Directory times (the maximum) and
 * counts (a sum) kept this way let parallel creates in one directory commit.
 */
static int merge_apply(sop_store *s, struct merge *m)
{
    struct item cur;
    uint8_t out[INLINE_MAX];
    size_t cap = inline_max(s), ol = 0;
    int rc = get_first(s, m->key.k, m->key.kl, &cur);
    if (rc && rc != SOP_ENOTFOUND)
        return rc;
    bool absent = rc == SOP_ENOTFOUND;
    if (!absent && cur.ext) {
        item_free_own(&cur);
        txn_seterr(s->t, "merge: the value of the key is too big to merge into");
        return SOP_EINVAL;
    }
    rc = m->fn(absent ? NULL : cur.v, absent ? 0 : cur.vl, m->upd, m->ul, out,
               cap < sizeof(out) ? cap : sizeof(out), &ol, m->arg);
    if (!absent)
        item_free_own(&cur);
    if (rc == 0 && ol > cap) {
        txn_seterr(s->t, "merge: the merged value is over %zu bytes", cap);
        rc = SOP_EINVAL;
    }
    bool grew = s->t->b.grew; /* a record made by a merge is not growth for the reserve */
    if (rc == 0)
        rc = put_noted(s, m->key.k, m->key.kl, out, ol, true);
    s->t->b.grew = grew;
    if (rc == 0)
        m->created = absent;
    return rc;
}

SOP_API int sop_merge(sop_store *s, const void *k, size_t kl, const void *upd, size_t ul,
                      sop_merge_fn fn, void *arg)
{
    int rc = store_usable(s, true);
    if (rc || (rc = check_key(s, k, kl)) != 0)
        return rc;
    if (!fn || (!upd && ul) || !s->info.unique) {
        txn_seterr(s->t, "merge: %s", !s->info.unique ? "the store is not unique" : "no function");
        return SOP_EINVAL;
    }
    if (s->nmerges == s->capmerges) {
        size_t c = s->capmerges ? s->capmerges * 2 : 8;
        struct merge *v = realloc(s->merges, c * sizeof(*v));
        if (!v)
            return SOP_ENOMEM;
        s->merges = v;
        s->capmerges = c;
    }
    struct merge *m = &s->merges[s->nmerges];
    memset(m, 0, sizeof(*m));
    struct item key = {.k = k, .kl = (uint32_t)kl};
    if ((rc = item_copy_own(&m->key, &key)) != 0)
        return rc;
    if (ul && !(m->upd = malloc(ul))) {
        item_free_own(&m->key);
        return SOP_ENOMEM;
    }
    if (ul)
        memcpy(m->upd, upd, ul);
    m->ul = ul;
    m->fn = fn;
    m->arg = arg;
    s->nmerges++;
    if ((rc = note_merge(s, k, kl)) != 0)
        return rc;
    return merge_apply(s, m);
}

SOP_API int sop_upsert(sop_store *s, const void *k, size_t kl, const void *v, size_t vl)
{
    return put(s, k, kl, v, vl, true);
}

SOP_API int sop_update(sop_store *s, const void *k, size_t kl, const void *v, size_t vl)
{
    return put(s, k, kl, v, vl, false);
}

SOP_API int sop_remove(sop_store *s, const void *k, size_t kl)
{
    struct item old;
    int rc = store_usable(s, true);
    if (rc || (rc = check_key(s, k, kl)) != 0)
        return rc;
    if ((rc = note_write(s, k, kl)) != 0)
        return rc;
    if ((rc = bt_remove_first(s, k, kl, &old)) != 0)
        return rc;
    rc = forget_value(s, &old);
    item_free_own(&old);
    return rc;
}

SOP_API int sop_move(sop_store *s, const void *k, size_t kl, sop_store *d, const void *k2,
                     size_t k2l)
{
    struct item old, cur;
    int rc = store_usable(s, true);
    if (rc || (rc = store_usable(d, true)) != 0)
        return rc;
    if (s->t != d->t)
        return SOP_EINVAL;
    if ((rc = check_key(s, k, kl)) != 0 || (rc = check_key(d, k2, k2l)) != 0)
        return rc;
    if ((rc = note_write(s, k, kl)) != 0 || (rc = note_write(d, k2, k2l)) != 0)
        return rc;
    if (s == d && !key_cmp(k, kl, k2, k2l))
        return get_first(s, k, kl, &old) == 0 ? (item_free_own(&old), 0) : SOP_ENOTFOUND;
    if ((rc = bt_remove_first(s, k, kl, &old)) != 0)
        return rc;
    struct item moved = old;
    moved.k = k2;
    moved.kl = (uint32_t)k2l;
    moved.own = 0;
    if (d->info.unique && (rc = get_first(d, k2, k2l, &cur)) == 0) {
        rc = forget_value(d, &cur);
        item_free_own(&cur);
        if (rc == 0)
            rc = bt_replace_first(d, &moved);
    } else if (rc == 0 || rc == SOP_ENOTFOUND) {
        rc = bt_insert(d, &moved);
    }
    item_free_own(&old);
    return rc;
}

/* Hand out the value of item `it` in leaf `leaf`: inline bytes are pinned
 * in place, external ones read into a scratch buffer. */
static int hand_out(sop_store *s, struct node *leaf, const struct item *it, const void **v,
                    size_t *vl)
{
    int rc;
    if (!it->ext) {
        if ((rc = txn_pin(s->t, leaf)) != 0)
            return rc;
        *v = it->vl ? it->v : (const void *)"";
        *vl = it->vl;
        return 0;
    }
    if (it->vsize > SOP_MAX_WHOLE_VALUE) {
        txn_seterr(s->t, "get: the value is %llu bytes; read it with sop_value_read",
                   (unsigned long long)it->vsize);
        return SOP_ETOOBIG;
    }
    uint8_t *buf = txn_scratch(s->t, (size_t)it->vsize);
    if (!buf)
        return SOP_ENOMEM;
    struct item copy = *it;
    if ((rc = ch_read(s, &copy, 0, buf, (size_t)it->vsize)) != 0)
        return rc;
    *v = buf;
    *vl = (size_t)it->vsize;
    return 0;
}

SOP_API int sop_get(sop_store *s, const void *k, size_t kl, const void **v, size_t *vl)
{
    struct node *leaf;
    uint32_t pos;
    int rc = store_usable(s, false);
    if (rc || (rc = check_key(s, k, kl)) != 0 || !v || !vl)
        return rc ? rc : SOP_EINVAL;
    if ((rc = note_read(s, k, kl)) != 0)
        return rc;
    if ((rc = bt_find(s, k, kl, &leaf, &pos)) != 0)
        return rc;
    rc = hand_out(s, leaf, &leaf->it[pos], v, vl);
    node_unref(leaf);
    return rc;
}

/* ------------------------------------------------------------ big values */

SOP_API int sop_value_size(sop_store *s, const void *k, size_t kl, uint64_t *size)
{
    struct item it;
    int rc = store_usable(s, false);
    if (rc || (rc = check_key(s, k, kl)) != 0 || !size)
        return rc ? rc : SOP_EINVAL;
    if ((rc = note_read(s, k, kl)) != 0 || (rc = get_first(s, k, kl, &it)) != 0)
        return rc;
    *size = it.ext ? it.vsize : it.vl;
    item_free_own(&it);
    return 0;
}

SOP_API int sop_value_read(sop_store *s, const void *k, size_t kl, uint64_t off, void *buf,
                           size_t len, size_t *got)
{
    struct item it;
    int rc = store_usable(s, false);
    if (rc || (rc = check_key(s, k, kl)) != 0 || !got || (!buf && len))
        return rc ? rc : SOP_EINVAL;
    if ((rc = note_read(s, k, kl)) != 0 || (rc = get_first(s, k, kl, &it)) != 0)
        return rc;
    uint64_t size = it.ext ? it.vsize : it.vl;
    size_t n = off >= size ? 0 : (size - off < len ? (size_t)(size - off) : len);
    if (n) {
        if (it.ext)
            rc = ch_read(s, &it, off, buf, n);
        else
            memcpy(buf, it.v + off, n); /* n > 0: the value has bytes */
    }
    item_free_own(&it);
    if (rc == 0)
        *got = n;
    return rc;
}

/* Make `it` (an own copy) external, moving its inline bytes to chunks. */
static int to_external(sop_store *s, struct item *it)
{
    struct item ext = *it;
    ext.ext = 1;
    ext.v = NULL;
    ext.vl = 0;
    ext.vsize = 0;
    ext.csize = s->info.chunk_size;
    codec_uuid4(ext.vid.b);
    int rc = it->vl ? ch_write(s, &ext, 0, it->v, it->vl) : 0;
    if (rc)
        return rc;
    it->ext = 1;
    it->v = NULL;
    it->vl = 0;
    it->vsize = ext.vsize;
    it->csize = ext.csize;
    it->vid = ext.vid;
    return 0;
}

/* Find the first item with key k for a value edit, creating an empty one. */
static int value_item(sop_store *s, const void *k, size_t kl, bool create, struct item *it)
{
    int rc;
    if ((rc = note_write(s, k, kl)) != 0)
        return rc;
    rc = get_first(s, k, kl, it);
    if (rc != SOP_ENOTFOUND || !create)
        return rc;
    struct item e;
    if ((rc = make_item(s, k, kl, "", 0, &e)) != 0 || (rc = bt_insert(s, &e)) != 0)
        return rc;
    s->t->b.grew = true;
    return get_first(s, k, kl, it);
}

SOP_API int sop_value_write(sop_store *s, const void *k, size_t kl, uint64_t off, const void *buf,
                            size_t len)
{
    struct item it;
    int rc = store_usable(s, true);
    if (rc || (rc = check_key(s, k, kl)) != 0 || (!buf && len))
        return rc ? rc : SOP_EINVAL;
    if (off + len < off || off + len > (1ull << 62))
        return SOP_EINVAL;
    if ((rc = value_item(s, k, kl, true, &it)) != 0)
        return rc;
    s->t->b.gen++;
    if (len)
        s->t->b.grew = true;
    if (!it.ext) {
        uint64_t nsize = off + len > it.vl ? off + len : it.vl;
        if (nsize <= inline_max(s)) {
            uint8_t tmp[INLINE_MAX];
            memset(tmp, 0, sizeof(tmp));
            if (it.vl)
                memcpy(tmp, it.v, it.vl);
            if (len)
                memcpy(tmp + off, buf, len);
            struct item n = it;
            n.v = tmp;
            n.vl = (uint32_t)nsize;
            rc = bt_replace_first(s, &n);
            goto out;
        }
        if ((rc = to_external(s, &it)) != 0)
            goto out;
    }
    /* the item is replaced even when its size stayed: it may have just
     * become external */
    if ((rc = ch_write(s, &it, off, buf, len)) == 0)
        rc = bt_replace_first(s, &it);
out:
    item_free_own(&it);
    return rc;
}

SOP_API int sop_value_truncate(sop_store *s, const void *k, size_t kl, uint64_t size)
{
    struct item it;
    int rc = store_usable(s, true);
    if (rc || (rc = check_key(s, k, kl)) != 0)
        return rc;
    if (size > (1ull << 62))
        return SOP_EINVAL;
    if ((rc = value_item(s, k, kl, false, &it)) != 0)
        return rc;
    s->t->b.gen++;
    if (!it.ext) {
        if (size <= inline_max(s)) {
            uint8_t tmp[INLINE_MAX];
            memset(tmp, 0, sizeof(tmp));
            if (it.vl && size)
                memcpy(tmp, it.v, it.vl < size ? it.vl : size);
            struct item n = it;
            n.v = tmp;
            n.vl = (uint32_t)size;
            rc = bt_replace_first(s, &n);
            goto out;
        }
        if ((rc = to_external(s, &it)) != 0)
            goto out;
    }
    if ((rc = ch_truncate(s, &it, size)) == 0)
        rc = bt_replace_first(s, &it);
out:
    item_free_own(&it);
    return rc;
}

/* ------------------------------------------------------------ cursors */

static void span_clear(struct krange *r)
{
    item_free_own(&r->lo);
    item_free_own(&r->hi);
    memset(r, 0, sizeof(*r));
}

static int span_set(struct item *dst, const void *k, size_t kl)
{
    struct item src = {.k = k, .kl = (uint32_t)kl};
    item_free_own(dst);
    return item_copy_own(dst, &src);
}

/* Copy the current key into the bound(s) that follow it. */
static int span_fix(struct sop_cursor *c)
{
    int rc = 0;
    if (c->hi_cur && !c->span.hi_inf)
        rc = span_set(&c->span.hi, c->key, c->kl);
    if (!rc && c->lo_cur && !c->span.lo_inf)
        rc = span_set(&c->span.lo, c->key, c->kl);
    c->hi_cur = c->lo_cur = false;
    return rc;
}

/* Record the range walked since the last jump in the store's read set. */
static int span_flush(struct sop_cursor *c)
{
    int rc = span_fix(c);
    if (!rc && c->span_on)
        rc = range_add(c->s, &c->span);
    span_clear(&c->span);
    c->span_on = false;
    return rc;
}

static void cursor_free(struct sop_cursor *c)
{
    bt_tp_release(&c->tp);
    span_clear(&c->span);
    free(c->key);
    free(c);
}

SOP_API int sop_cursor_open(sop_store *s, sop_cursor **out)
{
    int rc = store_usable(s, false);
    if (rc || !out)
        return rc ? rc : SOP_EINVAL;
    struct sop_cursor *c = calloc(1, sizeof(*c));
    if (!c)
        return SOP_ENOMEM;
    c->s = s;
    c->tp.depth = -1;
    c->next = s->cursors;
    s->cursors = c;
    *out = c;
    return 0;
}

SOP_API void sop_cursor_close(sop_cursor *c)
{
    if (!c)
        return;
    sop_store *s = c->s;
    span_flush(c);
    for (struct sop_cursor **pp = &s->cursors; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    cursor_free(c);
}

static int cur_item(struct sop_cursor *c, struct item **it)
{
    if (c->tp.depth < 0)
        return SOP_ENOTFOUND;
    struct node *leaf = c->tp.nd[c->tp.depth];
    *it = &leaf->it[c->tp.ix[c->tp.depth]];
    return 0;
}

/* Remember the current key (to re-find it after changes). */
static int cur_save(struct sop_cursor *c)
{
    struct item *it = NULL;
    if (cur_item(c, &it) != 0)
        return 0;
    if (it->kl + 1 > c->keycap) {
        uint8_t *k = realloc(c->key, it->kl + 1);
        if (!k)
            return SOP_ENOMEM;
        c->key = k;
        c->keycap = it->kl + 1;
    }
    if (it->kl)
        memcpy(c->key, it->k, it->kl);
    c->kl = it->kl;
    c->gen = c->s->t->b.gen;
    return 0;
}

/* The transaction changed the tree since the cursor moved: find its item
 * again (the same key, the same rank among equal keys). */
static int cur_refind(struct sop_cursor *c)
{
    sop_store *s = c->s;
    if (c->tp.depth < 0 || c->gen == s->t->b.gen)
        return 0;
    bt_tp_release(&c->tp);
    int rc = bt_tp_seek(s, c->key, c->kl, &c->tp);
    if (rc)
        return rc;
    for (uint32_t i = 0; i < c->dup; i++) {
        struct item *it = NULL;
        if ((rc = bt_tp_step(s, &c->tp, 1)) != 0)
            return rc;
        cur_item(c, &it);
        if (key_cmp(it->k, it->kl, c->key, c->kl) != 0)
            break;
    }
    c->gen = s->t->b.gen;
    return 0;
}

/* A jump (first/last/seek) landed on rc: start a new walked range. */
static int cur_jump(struct sop_cursor *c, int rc, bool lo_inf, const void *k, size_t kl,
                    bool towards_hi)
{
    int r2 = span_flush(c);
    if (r2)
        return r2;
    struct item *it = NULL;
    c->span_on = true;
    c->dup = 0;
    if (rc == SOP_ENOTFOUND) {
        /* the whole side walked is empty: that emptiness was read */
        c->span.lo_inf = lo_inf;
        c->span.hi_inf = true;
        if (!lo_inf && (r2 = span_set(&c->span.lo, k, kl)) != 0)
            return r2;
        if (!towards_hi) {
            c->span.lo_inf = true;
            c->span.hi_inf = true;
        }
        c->tp.depth = -1;
        return rc;
    }
    if (rc)
        return rc;
    cur_item(c, &it);
    if (towards_hi) {
        c->span.lo_inf = lo_inf;
        if (!lo_inf && (r2 = span_set(&c->span.lo, k, kl)) != 0)
            return r2;
        if ((r2 = span_set(&c->span.hi, it->k, it->kl)) != 0)
            return r2;
    } else {
        c->span.hi_inf = true;
        if ((r2 = span_set(&c->span.lo, it->k, it->kl)) != 0)
            return r2;
    }
    return cur_save(c);
}

SOP_API int sop_cursor_first(sop_cursor *c)
{
    if (!c)
        return SOP_EINVAL;
    int rc = store_usable(c->s, false);
    if (rc)
        return rc;
    bt_tp_release(&c->tp);
    rc = bt_tp_first(c->s, &c->tp, false);
    return cur_jump(c, rc, true, NULL, 0, true);
}

SOP_API int sop_cursor_last(sop_cursor *c)
{
    if (!c)
        return SOP_EINVAL;
    int rc = store_usable(c->s, false);
    if (rc)
        return rc;
    bt_tp_release(&c->tp);
    rc = bt_tp_first(c->s, &c->tp, true);
    if (rc == 0) {
        /* the last key's rank among its duplicates is unknown; count them */
        struct item *it = NULL;
        cur_item(c, &it);
    }
    rc = cur_jump(c, rc, true, NULL, 0, false);
    c->dup = UINT32_MAX;
    return rc;
}

SOP_API int sop_cursor_seek(sop_cursor *c, const void *k, size_t kl)
{
    if (!c)
        return SOP_EINVAL;
    int rc = store_usable(c->s, false);
    if (rc || (rc = check_key(c->s, k, kl)) != 0)
        return rc;
    bt_tp_release(&c->tp);
    rc = bt_tp_seek(c->s, k, kl, &c->tp);
    return cur_jump(c, rc, false, k, kl, true);
}

static int cur_step(struct sop_cursor *c, int dir)
{
    struct item *it = NULL;
    int rc = store_usable(c->s, false);
    if (rc)
        return rc;
    if (c->tp.depth < 0)
        return SOP_ENOTFOUND;
    if ((rc = cur_refind(c)) != 0) {
        if (rc == SOP_ENOTFOUND)
            bt_tp_release(&c->tp);
        return rc;
    }
    /* turning back: the far bound reached so far must stay */
    if ((dir > 0 && c->lo_cur) || (dir < 0 && c->hi_cur)) {
        if ((rc = span_fix(c)) != 0)
            return rc;
    }
    rc = bt_tp_step(c->s, &c->tp, dir);
    if (rc == SOP_ENOTFOUND) {
        bt_tp_release(&c->tp);
        if ((rc = span_fix(c)) != 0)
            return rc;
        if (dir > 0)
            c->span.hi_inf = true;
        else
            c->span.lo_inf = true;
        return SOP_ENOTFOUND;
    }
    if (rc)
        return rc;
    cur_item(c, &it);
    bool same = key_cmp(it->k, it->kl, c->key, c->kl) == 0;
    if (dir > 0)
        c->dup = same ? c->dup + 1 : 0;
    else
        c->dup = same && c->dup != UINT32_MAX && c->dup > 0 ? c->dup - 1 : UINT32_MAX;
    if (dir > 0 && !c->span.hi_inf)
        c->hi_cur = true;
    else if (dir < 0 && !c->span.lo_inf)
        c->lo_cur = true;
    return cur_save(c);
}

SOP_API int sop_cursor_next(sop_cursor *c)
{
    return c ? cur_step(c, 1) : SOP_EINVAL;
}

SOP_API int sop_cursor_prev(sop_cursor *c)
{
    return c ? cur_step(c, -1) : SOP_EINVAL;
}

SOP_API int sop_cursor_key(sop_cursor *c, const void **k, size_t *kl)
{
    struct item *it = NULL;
    if (!c || !k || !kl)
        return SOP_EINVAL;
    int rc = store_usable(c->s, false);
    if (rc || (rc = cur_refind(c)) != 0 || (rc = cur_item(c, &it)) != 0)
        return rc;
    if ((rc = txn_pin(c->s->t, c->tp.nd[c->tp.depth])) != 0)
        return rc;
    *k = it->kl ? it->k : (const void *)"";
    *kl = it->kl;
    return 0;
}

SOP_API int sop_cursor_value(sop_cursor *c, const void **v, size_t *vl)
{
    struct item *it = NULL;
    if (!c || !v || !vl)
        return SOP_EINVAL;
    int rc = store_usable(c->s, false);
    if (rc || (rc = cur_refind(c)) != 0 || (rc = cur_item(c, &it)) != 0)
        return rc;
    return hand_out(c->s, c->tp.nd[c->tp.depth], it, v, vl);
}

SOP_API int sop_cursor_value_size(sop_cursor *c, uint64_t *size)
{
    struct item *it = NULL;
    if (!c || !size)
        return SOP_EINVAL;
    int rc = store_usable(c->s, false);
    if (rc || (rc = cur_refind(c)) != 0 || (rc = cur_item(c, &it)) != 0)
        return rc;
    *size = it->ext ? it->vsize : it->vl;
    return 0;
}

/* ------------------------------------------------------------ commit */

static bool store_has_writes(const sop_store *s)
{
    if (s->gone)
        return false;
    return s->created || s->dropped || s->altered || s->nwkeys;
}

static bool name_noted(const sop_txn *t, const char *name)
{
    if (t->all_names)
        return true;
    for (size_t i = 0; i < t->nnames; i++)
        if (!strcmp(t->names[i], name))
            return true;
    return false;
}

/* C3 */
static int validate(sop_txn *t)
{
    sop_db *db = t->b.db;
    for (sop_store *s = t->stores; s; s = s->next)
        keyset_sort(s->wkeys, &s->nwkeys);
    pthread_mutex_lock(&db->txn_mu);
    struct wset *w = db->recent_old;
    pthread_mutex_unlock(&db->txn_mu);
    bool settled = false; /* read sets are sorted only when a newer commit exists */
    for (; w; w = w->next) {
        if (w->seq > t->b.snap && !settled) {
            for (sop_store *s = t->stores; s; s = s->next)
                keyset_settle(&s->rkeys);
            settled = true;
        }
        if (w->seq <= t->b.snap)
            continue;
        for (size_t i = 0; i < w->nnames; i++)
            if (name_noted(t, w->names[i])) {
                txn_seterr(t,
                           "commit: conflict: store %s was created, dropped or altered by "
                           "commit %llu",
                           w->names[i], (unsigned long long)w->seq);
                return SOP_ECONFLICT;
            }
        for (size_t i = 0; i < w->nstores; i++) {
            const struct wset_store *ws = &w->stores[i];
            for (sop_store *s = t->stores; s; s = s->next) {
                if (s->created || memcmp(s->info.id.b, ws->store_id.b, 16))
                    continue;
                bool hit = ws->structural;
                for (size_t k = 0; k < ws->nkeys && !hit; k++) {
                    const struct item *key = &ws->keys[k];
                    const struct item *mine = keyset_find(s->wkeys, s->nwkeys, key);
                    /* merges pass over merges, plain writes and reads (see
                     * merge_apply); a plain write of ours conflicts with any */
                    hit = mine && !mine->merge;
                    if (key->merge)
                        continue;
                    hit = hit || keyset_holds(&s->rkeys, key);
                    for (size_t r = 0; r < s->nranges && !hit; r++)
                        hit = in_range(&s->ranges[r], key);
                }
                if (hit) {
                    txn_seterr(t,
                               "commit: conflict: commit %llu changed a key of store %s "
                               "that this transaction read or wrote",
                               (unsigned long long)w->seq, s->info.name);
                    return SOP_ECONFLICT;
                }
            }
        }
    }
    return 0;
}

/* C4: re-apply this transaction's final items onto the newest tree. */
static int reapply(sop_store *s)
{
    sop_db *db = s->t->b.db;
    struct item **groups = calloc(s->nwkeys ? s->nwkeys : 1, sizeof(*groups));
    size_t *ng = calloc(s->nwkeys ? s->nwkeys : 1, sizeof(*ng));
    int rc = 0;
    if (!groups || !ng) {
        rc = SOP_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < s->nwkeys && !rc; i++)
        if (!s->wkeys[i].merge)
            rc = bt_group(s, s->wkeys[i].k, s->wkeys[i].kl, &groups[i], &ng[i]);
    if (rc)
        goto out;
    bt_reset(s);
    pthread_rwlock_rdlock(&db->lock);
    const struct sver *v = cat_get(&db->cat, s->info.name, db->seq);
    if (v) {
        s->info.root = v->info.root;
        s->info.count = v->info.count;
        s->base_seq = v->seq;
    }
    s->snap = db->seq;
    pthread_rwlock_unlock(&db->lock);
    if (!v) {
        rc = SOP_ECONFLICT;
        goto out;
    }
    for (size_t i = 0; i < s->nwkeys && !rc; i++) {
        const struct item *k = &s->wkeys[i];
        if (k->merge)
            continue; /* below, onto the newest value */
        while ((rc = bt_remove_first(s, k->k, k->kl, NULL)) == 0)
            ;
        if (rc != SOP_ENOTFOUND)
            break;
        rc = 0;
        for (size_t j = 0; j < ng[i] && !rc; j++)
            rc = bt_insert(s, &groups[i][j]);
    }
    for (size_t i = 0; i < s->nmerges && !rc; i++) {
        struct merge *m = &s->merges[i];
        const struct item *k = keyset_find(s->wkeys, s->nwkeys, &m->key);
        if (k && k->merge)
            rc = merge_apply(s, m);
    }
out:
    if (groups)
        for (size_t i = 0; i < s->nwkeys; i++)
            keys_free(groups[i], ng[i]);
    free(groups);
    free(ng);
    return rc;
}

struct batch {
    struct wbuf w;
    struct commit_reg *e;
    size_t n, cap;
    struct dnode **written; /* nodes written, to cache after the commit */
    size_t *wstart;         /* their record offsets in the batch */
    size_t nwritten, capwritten;
};

static int batch_reg(struct batch *b, const struct rkey *k, uint8_t kind, const struct loc *l)
{
    if (b->n == b->cap) {
        size_t c = b->cap ? b->cap * 2 : 64;
        struct commit_reg *v = realloc(b->e, c * sizeof(*v));
        if (!v)
            return SOP_ENOMEM;
        b->e = v;
        b->cap = c;
    }
    struct commit_reg *e = &b->e[b->n++];
    e->key = *k;
    e->kind = kind;
    if (l)
        e->loc = *l;
    else
        memset(&e->loc, 0, sizeof(e->loc));
    return 0;
}

static int drop_keys(sop_store *s, struct batch *b, const struct lid *id);

static int drop_node(sop_store *s, const struct lid *id, struct node *n, void *arg)
{
    struct batch *b = arg;
    int rc = drop_keys(s, b, id);
    if (n && n->leaf)
        for (uint32_t i = 0; i < n->n && !rc; i++)
            if (n->it[i].ext)
                rc = ch_forget(s, &n->it[i]);
    return rc;
}

/*
 * Second copies (ZFS's ditto blocks): a node whose loss would take many
 * items with it, an internal node or a store's root (a small store is its
 * root alone), is written twice, the second copy under registry key
 * {id, 1} in a chain of its own (a delta onto the previous second copy, or
 * an image), so one damaged record never makes a whole store unreadable:
 * bt_node reads the second copy when the first does not check.  Both are
 * written in the same commit, so they always hold the same version; a node
 * that stops being critical loses its second copy in the commit that
 * writes it without one.
 */
static bool has_mirror(sop_db *db, const struct lid *id, struct loc *loc)
{
    struct rkey mk = {.id = *id, .idx = 1};
    pthread_rwlock_rdlock(&db->lock);
    bool has = reg_get(&db->reg, &mk, db->seq, loc) == 0;
    pthread_rwlock_unlock(&db->lock);
    return has;
}

static int write_mirror(sop_store *s, struct batch *b, struct dnode *d, bool full)
{
    struct node *n = d->n;
    struct rkey mk = {.id = d->id, .idx = 1};
    struct loc prev;
    bool critical = !n->leaf || !memcmp(d->id.b, s->info.root.b, 16);
    bool had = has_mirror(s->t->b.db, &d->id, &prev);
    if (!critical)
        return had ? batch_reg(b, &mk, 2, NULL) : 0;
    size_t start;
    int rc;
    if (!full && had) {
        start = blob_rec_begin(&b->w, REC_DELTA, &mk);
        rc = node_encode_delta(n, d->changed, d->nchanged, &prev, (uint16_t)(n->chain + 1), &b->w);
    } else {
        start = blob_rec_begin(&b->w, REC_NODE, &mk);
        rc = node_encode(n, &b->w);
    }
    if (rc)
        return rc;
    blob_rec_end(&b->w, start);
    struct loc rel = {.seg = 0, .off = start, .len = (uint32_t)(b->w.len - start - REC_HDR)};
    return batch_reg(b, &mk, 1, &rel);
}

/* A node removed from the tree: its registry keys go, the second copy's too. */
static int drop_keys(sop_store *s, struct batch *b, const struct lid *id)
{
    struct rkey k = {.id = *id, .idx = 0};
    struct loc ml;
    int rc = batch_reg(b, &k, 2, NULL);
    if (rc == 0 && has_mirror(s->t->b.db, id, &ml)) {
        k.idx = 1;
        rc = batch_reg(b, &k, 2, NULL);
    }
    return rc;
}

static int write_node(sop_store *s, struct batch *b, struct dnode *d)
{
    struct node *n = d->n;
    int rc = node_seal(n);
    if (rc)
        return rc;
    bool full =
        d->fresh || d->full || !n->at.seg || n->chain + 1 >= DELTA_CHAIN_MAX || !d->nchanged;
    struct rkey k = {.id = d->id, .idx = 0};
    size_t start;
    if (!full) {
        keyset_sort(d->changed, &d->nchanged);
        start = blob_rec_begin(&b->w, REC_DELTA, &k);
        rc = node_encode_delta(n, d->changed, d->nchanged, &n->at, (uint16_t)(n->chain + 1), &b->w);
        size_t dlen = b->w.len - start - REC_HDR;
        if (!rc && (n->chain_bytes + dlen) * DELTA_CHAIN_SHARE > n->bytes) {
            /* the deltas add up to a good part of the node: consolidate */
            b->w.len = start;
            full = true;
        }
    }
    if (full) {
        start = blob_rec_begin(&b->w, REC_NODE, &k);
        rc = node_encode(n, &b->w);
    }
    if (rc)
        return rc;
    blob_rec_end(&b->w, start);
    struct loc rel = {.seg = 0, .off = start, .len = (uint32_t)(b->w.len - start - REC_HDR)};
    if ((rc = batch_reg(b, &k, 1, &rel)) != 0 || (rc = write_mirror(s, b, d, full)) != 0)
        return rc;
    if (b->nwritten == b->capwritten) {
        size_t c = b->capwritten ? b->capwritten * 2 : 64;
        struct dnode **v = realloc(b->written, c * sizeof(*v));
        size_t *st = v ? realloc(b->wstart, c * sizeof(*st)) : NULL;
        if (v)
            b->written = v;
        if (!st)
            return SOP_ENOMEM;
        b->wstart = st;
        b->capwritten = c;
    }
    if (full)
        d->full = true; /* remembered for the chain bookkeeping after the commit */
    b->written[b->nwritten] = d;
    b->wstart[b->nwritten++] = start;
    return 0;
}

static int build_store(sop_store *s, struct batch *b, struct wbuf *stores, uint32_t *nst)
{
    int rc = 0;
    if (s->dropped) {
        if (!s->created && (rc = bt_walk(s, drop_node, b)) != 0)
            return rc;
    } else {
        for (size_t i = 0; i < s->capdn && !rc; i++) {
            struct dnode *d = s->dn[i];
            if (!d)
                continue;
            if (d->freed) {
                if (!d->fresh)
                    rc = drop_keys(s, b, &d->id);
                continue;
            }
            rc = write_node(s, b, d);
        }
    }
    if (rc)
        return rc;
    if (s->created && s->dropped)
        return 0;
    s->info.modified_ns = now_ns();
    wb_u8(stores, s->dropped ? 1 : 0);
    info_encode(&s->info, stores);
    (*nst)++;
    return stores->err ? SOP_ENOMEM : 0;
}

static void batch_free(struct batch *b)
{
    wb_free(&b->w);
    free(b->e);
    free(b->written);
    free(b->wstart);
}

/* C7: keep this commit's write set while an older snapshot lives. */
static void remember(sop_txn *t, uint64_t seq)
{
    sop_db *db = t->b.db;
    struct wset *w = calloc(1, sizeof(*w));
    if (!w)
        goto prune; /* cannot happen often; validation would then miss nothing only if
                       no older snapshot exists, so poison those instead */
    w->seq = seq;
    size_t n = 0;
    for (sop_store *s = t->stores; s; s = s->next)
        if (store_has_writes(s))
            n++;
    w->stores = calloc(n ? n : 1, sizeof(*w->stores));
    w->names = calloc(n ? n : 1, sizeof(*w->names));
    if (!w->stores || !w->names) {
        wset_free(w);
        w = NULL;
        goto prune;
    }
    for (sop_store *s = t->stores; s; s = s->next) {
        if (!store_has_writes(s))
            continue;
        struct wset_store *ws = &w->stores[w->nstores++];
        ws->store_id = s->info.id;
        ws->structural = s->created || s->dropped || s->altered;
        /* a merge that made its key is a plain write for others: a range
         * they walked has one key more */
        for (size_t i = 0; i < s->nmerges; i++) {
            struct item *k = keyset_find(s->wkeys, s->nwkeys, &s->merges[i].key);
            if (k && s->merges[i].created && k->merge) {
                bool first = true; /* the first merge into the key decides */
                for (size_t j = 0; j < i && first; j++)
                    first = item_cmp(&s->merges[j].key, k) != 0;
                if (first)
                    k->merge = 0;
            }
        }
        ws->keys = s->wkeys; /* moved */
        ws->nkeys = s->nwkeys;
        s->wkeys = NULL;
        s->nwkeys = s->capwkeys = 0;
        if (ws->structural && (w->names[w->nnames] = strdup(s->info.name)) != NULL)
            w->nnames++;
    }
prune:
    pthread_mutex_lock(&db->txn_mu);
    uint64_t oldest = db_oldest_locked(db, db->seq);
    if (w && db->active) {
        if (db->recent_new)
            db->recent_new->next = w;
        else
            db->recent_old = w;
        db->recent_new = w;
        w = NULL;
    } else if (!w && db->active) {
        /* out of memory: the live transactions could miss this commit's
         * changes, so they must not commit */
        for (struct txn_base *a = db->active; a; a = a->next)
            if (!a->poison)
                a->poison = SOP_ECONFLICT;
    }
    while (db->recent_old && db->recent_old->seq <= oldest) {
        struct wset *o = db->recent_old;
        db->recent_old = o->next;
        if (!db->recent_old)
            db->recent_new = NULL;
        wset_free(o);
    }
    pthread_mutex_unlock(&db->txn_mu);
    if (w)
        wset_free(w);
}

static int do_commit(sop_txn *t)
{
    sop_db *db = t->b.db;
    struct batch b;
    struct wbuf stores;
    uint32_t nst = 0, seg;
    uint64_t base;
    bool writes = false;
    int rc = 0;
    memset(&b, 0, sizeof(b));
    wb_init(&b.w);
    wb_init(&stores);
    /* cursors' walked ranges join the read set */
    for (sop_store *s = t->stores; s; s = s->next) {
        for (struct sop_cursor *c = s->cursors; c && !rc; c = c->next)
            rc = span_flush(c);
        if (store_has_writes(s))
            writes = true;
    }
    if (rc)
        goto out_nolock;
    /* C1 */
    if (t->stores && (rc = ch_flush(t->stores)) != 0)
        goto out_nolock;
    pthread_mutex_lock(&db->commit_mu); /* C2 */
    /* the batch buffer of the last commit is reused: no fresh pages to fault in */
    b.w = db->commit_buf;
    b.w.len = 0;
    b.w.err = false;
    wb_init(&db->commit_buf);
    if (writes && db->log.broken) {
        txn_seterr(t, "commit: the log failed earlier (%s); reopen the database", db->log.err);
        rc = SOP_EIO;
        goto out;
    }
    if ((rc = validate(t)) != 0) { /* C3 */
        __atomic_fetch_add(&db->n_conflicts, 1, __ATOMIC_RELAXED);
        goto out;
    }
    txn_unlink(t); /* after validation: the write sets it needed are kept till here */
    if (!writes)
        goto out;
    /* C4 */
    for (sop_store *s = t->stores; s && !rc; s = s->next) {
        if (!store_has_writes(s) || s->created || s->dropped)
            continue;
        pthread_rwlock_rdlock(&db->lock);
        const struct sver *v = cat_get(&db->cat, s->info.name, db->seq);
        bool moved = !v || v->seq != s->base_seq;
        pthread_rwlock_unlock(&db->lock);
        if (moved)
            rc = reapply(s);
    }
    if (rc) {
        txn_seterr(t, "commit: re-apply on the newest tree: %s", sop_strerror(rc));
        goto out;
    }
    /* C5 */
    for (sop_store *s = t->stores; s && !rc; s = s->next)
        if (store_has_writes(s))
            rc = build_store(s, &b, &stores, &nst);
    for (size_t i = 0; i < t->b.capch && !rc; i++) {
        struct chunk_ent *e = &t->b.ch[i];
        if (e->loc.seg == 0 && !e->dead)
            continue;
        rc = batch_reg(&b, &e->key, e->dead ? 2 : 0, e->dead ? NULL : &e->loc);
    }
    if (rc)
        goto out;
    uint64_t seq = db->seq + 1;
    size_t cstart = db_commit_encode(db, &b.w, seq, b.e, b.n, &stores, nst);
    if (b.w.err) {
        rc = SOP_ENOMEM;
        goto out;
    }
    /* a commit that only gives space back may use most of the reserve */
    if ((rc = db_space_check(db, &t->b, b.w.len)) != 0)
        goto out;
    if ((rc = blob_append(&db->log, b.w.p, b.w.len, &seg, &base)) != 0) {
        txn_seterr(t, "commit: %s", db->log.err);
        goto out;
    }
    t->b.vseg_kept = true; /* the commit record may be durable: it names the chunks there */
    if (!(t->b.mode & SOP_TXN_NOSYNC)) {
        if ((rc = db_sync(db)) != 0) {
            txn_seterr(t, "commit: %s", db->log.err);
            goto out;
        }
    } else {
        pthread_mutex_lock(&db->flush_mu);
        db->unsynced = true;
        pthread_mutex_unlock(&db->flush_mu);
    }
    /* C6 */
    struct loc self = {
        .seg = seg, .off = base + cstart, .len = (uint32_t)(b.w.len - cstart - REC_HDR)};
    pthread_rwlock_wrlock(&db->lock);
    pthread_mutex_lock(&db->txn_mu);
    uint64_t keep = db_oldest_locked(db, seq);
    pthread_mutex_unlock(&db->txn_mu);
    rc = db_apply_commit(db, b.w.p + cstart + REC_HDR, self.len, &self, keep);
    size_t dead = rc == 0 ? db_note_dead(db) : 0;
    pthread_rwlock_unlock(&db->lock);
    if (dead && !(t->b.mode & SOP_TXN_NOSYNC)) {
        db_drop_dead(db, seq); /* durable: what it killed can go now */
    } else if (dead) {         /* the flusher makes it durable now, not in a second */
        pthread_mutex_lock(&db->flush_mu);
        pthread_cond_signal(&db->flush_cv);
        pthread_mutex_unlock(&db->flush_mu);
    }
    if (rc) {
        /* durable but not applied in memory: only reopening can fix this */
        db->log.broken = true;
        txn_seterr(t, "commit: apply in memory: %s; reopen the database", sop_strerror(rc));
        goto out;
    }
    /* C7: the replaced versions leave the cache (only an older snapshot could
     * still read them, and it reloads them), the new ones enter it */
    for (sop_store *s = t->stores; s; s = s->next)
        for (size_t i = 0; i < s->capdn; i++)
            if (s->dn[i] && s->dn[i]->freed && s->dn[i]->n->at.seg)
                cache_drop(&db->cache, &s->dn[i]->n->at);
    for (size_t i = 0; i < b.nwritten; i++) {
        struct dnode *d = b.written[i];
        struct node *n = d->n;
        struct loc at = {.seg = seg, .off = base + b.wstart[i]};
        at.len = (uint32_t)get_u32(b.w.p + b.wstart[i] + 8);
        if (n->at.seg)
            cache_drop(&db->cache, &n->at);
        if (d->full) {
            n->chain = 0;
            n->chain_bytes = 0;
        } else {
            n->chain++;
            n->chain_bytes += at.len + REC_HDR;
        }
        n->at = at;
        cache_put(&db->cache, &at, n);
    }
    __atomic_fetch_add(&db->n_commits, 1, __ATOMIC_RELAXED);
    remember(t, seq);
    /* C8 */
    if (db->log.appended - db->ckpt_at > db->opts.checkpoint_bytes)
        db_checkpoint(db); /* a failed checkpoint costs replay time, not data */
out:
    if (b.w.cap <= COMMIT_BUF_KEEP) {
        db->commit_buf = b.w;
        wb_init(&b.w);
    }
    pthread_mutex_unlock(&db->commit_mu);
out_nolock:
    batch_free(&b);
    wb_free(&stores);
    return rc;
}

SOP_API int sop_txn_commit(sop_txn *t)
{
    if (!t)
        return SOP_EINVAL;
    int rc = kind_commit_all(t); /* kind.h: search indexes what t wrote, inside t */
    if (rc == 0)
        rc = txn_check(t, false);
    if (rc == 0)
        rc = do_commit(t);
    if (rc && rc != SOP_ECONFLICT)
        db_seterr(t->b.db, "%s", t->b.errmsg);
    txn_free(t);
    return rc;
}
