/*
 * value.c - external values: a value of vsize bytes under value ID `vid`
 * is stored as chunks of csize bytes, chunk i a REC_CHUNK record under
 * registry key {vid, i}.  A chunk absent from the registry reads as zeros
 * (sparse values), and a chunk record may be shorter than csize (the rest
 * is zeros).
 *
 * Inside a transaction, chunks being written sit in a few buffers
 * (TXN_CBUFS, least recently used first out); a buffer leaving is appended
 * to the log at once, unsynced, and its location kept in the store's chunk
 * overlay until commit registers it.  Memory therefore stays bounded by a
 * few chunks whatever the size of the value; rewriting a range rewrites only
 * the chunks it touches.  A read of part of a chunk leaves the chunk in a
 * clean buffer, so the reads of its other parts cost neither a pread nor a
 * crc; a read of a whole chunk goes straight to the caller's buffer.
 */
#include "value.h"

#include "btree.h"
#include "corrupt.h"
#include "os.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

static size_t rk_hash(const struct rkey *k)
{
    uint64_t h;
    memcpy(&h, k->id.b, 8);
    h ^= k->idx * 0xC2B2AE3D27D4EB4Full;
    return (size_t)(h * 0x9E3779B97F4A7C15ull >> 9);
}

static bool rk_eq(const struct rkey *a, const struct rkey *b)
{
    return a->idx == b->idx && !memcmp(a->id.b, b->id.b, 16);
}

static struct chunk_ent *ov_find(sop_store *s, const struct rkey *key)
{
    if (!s->tb->capch)
        return NULL;
    for (size_t i = rk_hash(key) & (s->tb->capch - 1);; i = (i + 1) & (s->tb->capch - 1)) {
        struct chunk_ent *e = &s->tb->ch[i];
        if (e->loc.seg == 0 && !e->dead)
            return NULL;
        if (rk_eq(&e->key, key))
            return e;
    }
}

static int ov_set(sop_store *s, const struct rkey *key, const struct loc *loc, bool dead)
{
    struct chunk_ent *e = ov_find(s, key);
    if (!e) {
        if ((s->tb->nch + 1) * 2 > s->tb->capch) {
            size_t cap = s->tb->capch ? s->tb->capch * 2 : 64;
            struct chunk_ent *v = os_calloc(cap, sizeof(*v));
            if (!v)
                return SOP_ENOMEM;
            for (size_t i = 0; i < s->tb->capch; i++) {
                struct chunk_ent *o = &s->tb->ch[i];
                if (o->loc.seg == 0 && !o->dead)
                    continue;
                size_t j = rk_hash(&o->key) & (cap - 1);
                while (v[j].loc.seg != 0 || v[j].dead)
                    j = (j + 1) & (cap - 1);
                v[j] = *o;
            }
            os_free(s->tb->ch);
            s->tb->ch = v;
            s->tb->capch = cap;
        }
        size_t j = rk_hash(key) & (s->tb->capch - 1);
        while (s->tb->ch[j].loc.seg != 0 || s->tb->ch[j].dead)
            j = (j + 1) & (s->tb->capch - 1);
        e = &s->tb->ch[j];
        e->key = *key;
        s->tb->nch++;
    }
    if (loc)
        e->loc = *loc;
    else
        memset(&e->loc, 0, sizeof(e->loc));
    e->dead = dead;
    return 0;
}

int ch_lookup(sop_store *s, const struct rkey *key, struct loc *loc, bool *dead)
{
    struct chunk_ent *e = ov_find(s, key);
    if (e) {
        *dead = e->dead;
        *loc = e->loc;
        return e->dead ? SOP_ENOTFOUND : 0;
    }
    *dead = false;
    sop_db *db = s->tb->db;
    pthread_rwlock_rdlock(&db->lock);
    int rc = reg_get(&db->reg, key, s->snap, loc);
    pthread_rwlock_unlock(&db->lock);
    return rc;
}

/* Read the chunk record at loc (owned by key) into buf: loc->len bytes,
 * which must fit in a chunk of cap bytes. */
static int chunk_read(sop_store *s, const struct rkey *key, const struct loc *loc, uint32_t cap,
                      uint8_t *buf)
{
    int rc, type = REC_CHUNK;
    if (loc->len > cap) {
        tb_seterr(s->tb,
                  "read value chunk: record longer than the chunk size (segment %08u "
                  "offset %llu)",
                  loc->seg, (unsigned long long)loc->off);
        return SOP_CORRUPT_REC(loc->seg, loc->off, "value chunk: longer than the chunk size");
    }
    if (loc->len && (rc = blob_read(&s->tb->db->log, loc, &type, key, buf)) != 0) {
        tb_seterr(s->tb, "read value chunk: %s (segment %08u offset %llu)%s%s", sop_strerror(rc),
                  loc->seg, (unsigned long long)loc->off, FOUND_BY(rc));
        return rc;
    }
    return 0;
}

/* Append chunk `key` holding data[0..len) (unsynced) and point the store's
 * chunk overlay at it: the payload is written from data, not copied.  A
 * whole chunk goes to the transaction's value segment (blob.h: removed whole
 * once nothing in it is live), a partial one (a small value, a tail) to the
 * log. */
static int chunk_append(sop_store *s, const struct rkey *key, const void *data, uint32_t len,
                        bool whole)
{
    uint8_t h[REC_HDR];
    uint32_t seg;
    uint64_t off;
    struct txn_base *t = s->tb;
    int rc = db_space_check(t->db, t, REC_HDR + (uint64_t)len);
    if (rc)
        return tb_poison(t, rc);
    blob_rec_head(h, REC_CHUNK, key, data, len);
    if (whole) {
        if (!t->vseg && (rc = blob_vseg_create(&t->db->log, &t->vseg)) == 0)
            t->vseg_end = 0;
        if (rc == 0)
            rc = blob_vseg_write(&t->db->log, t->vseg, t->vseg_end, h, data, len);
        seg = t->vseg;
        off = t->vseg_end;
        if (rc == 0)
            t->vseg_end += REC_HDR + (uint64_t)len;
    } else {
        rc = blob_append_rec(&t->db->log, h, data, len, &seg, &off);
    }
    if (rc) {
        tb_seterr(t, "write value chunk: %s", t->db->log.err);
        return tb_poison(t, rc);
    }
    t->wrote_bytes += REC_HDR + (uint64_t)len;
    struct loc loc = {.seg = seg, .off = off, .len = len};
    if ((rc = ov_set(s, key, &loc, false)) != 0)
        return tb_poison(s->tb, rc);
    return 0;
}

static int cb_flush(sop_store *s, struct cbuf *b)
{
    if (!b->dirty)
        return 0;
    assert(b->data && b->len <= b->cap);
    int rc = chunk_append(s, &b->key, b->data, b->len, b->len == b->cs);
    if (rc == 0)
        b->dirty = false;
    return rc;
}

/* Room for `need` bytes in b (need <= the chunk size cs), the new bytes
 * zero.  Buffers grow by doubling from 4 KiB: a small value costs what it
 * holds, not a whole chunk of zeros. */
static int cb_reserve(struct cbuf *b, size_t need, uint32_t cs)
{
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < need)
        cap *= 2;
    if (cap > cs)
        cap = cs;
    uint8_t *d = os_realloc(b->data, cap ? cap : 1);
    if (!d)
        return SOP_ENOMEM;
    memset(d + b->cap, 0, cap - b->cap);
    b->data = d;
    b->cap = (uint32_t)cap;
    return 0;
}

/* n bytes of b's chunk from offset in, zeros past what it holds */
static void cb_copy_out(const struct cbuf *b, uint32_t in, uint8_t *out, size_t n)
{
    size_t have = in < b->len ? b->len - in : 0;
    if (have > n)
        have = n;
    memcpy(out, b->data + in, have);
    memset(out + have, 0, n - have);
}

int ch_flush(sop_store *s)
{
    for (int i = 0; i < TXN_CBUFS; i++) {
        int rc = cb_flush(s, &s->tb->cb[i]);
        if (rc)
            return rc;
    }
    return 0;
}

static void cb_drop(struct cbuf *b)
{
    os_free(b->data);
    memset(b, 0, sizeof(*b));
}

/* The buffer of chunk `key`, loaded when needed. */
static int cb_get(sop_store *s, const struct rkey *key, uint32_t csize, struct cbuf **out)
{
    struct cbuf *victim = NULL;
    int rc;
    for (int i = 0; i < TXN_CBUFS; i++) {
        struct cbuf *b = &s->tb->cb[i];
        if (b->data && rk_eq(&b->key, key)) {
            b->used = ++s->tb->tick;
            *out = b;
            return 0;
        }
        if (!victim || !b->data || (victim->data && b->used < victim->used))
            victim = b;
    }
    if (victim->data) {
        if ((rc = cb_flush(s, victim)) != 0)
            return rc;
        cb_drop(victim);
    }
    struct loc loc;
    bool dead;
    rc = ch_lookup(s, key, &loc, &dead);
    if (rc == SOP_ENOTFOUND) { /* a hole, or a new chunk */
        loc.len = 0;
        rc = 0;
    }
    if (rc || (rc = cb_reserve(victim, loc.len, csize)) != 0 ||
        (loc.len && (rc = chunk_read(s, key, &loc, csize, victim->data)) != 0)) {
        cb_drop(victim);
        return rc;
    }
    victim->key = *key;
    victim->cs = csize;
    victim->len = loc.len;
    victim->used = ++s->tb->tick;
    *out = victim;
    return 0;
}

static struct cbuf *cb_find(sop_store *s, const struct rkey *key)
{
    for (int i = 0; i < TXN_CBUFS; i++)
        if (s->tb->cb[i].data && rk_eq(&s->tb->cb[i].key, key))
            return &s->tb->cb[i];
    return NULL;
}

/*
 * A clean buffer holding chunk `key` (at loc) for reads of part of it: the
 * kernel reads a file 128 KiB at a time, and reading and checking the whole
 * 1 MiB record for each part cost 8 preads and crcs per chunk.  Reads take
 * a clean buffer first (so they keep at most one of their own per
 * transaction) and never push out one being written: *out is NULL when none
 * is free.
 */
static int cb_for_read(sop_store *s, const struct rkey *key, const struct loc *loc, uint32_t cs,
                       struct cbuf **out)
{
    struct cbuf *b = NULL;
    *out = NULL;
    for (int i = 0; i < TXN_CBUFS && !b; i++)
        if (s->tb->cb[i].data && !s->tb->cb[i].dirty)
            b = &s->tb->cb[i];
    for (int i = 0; i < TXN_CBUFS && !b; i++)
        if (!s->tb->cb[i].data)
            b = &s->tb->cb[i];
    if (!b)
        return 0;
    if (b->len > loc->len)
        memset(b->data + loc->len, 0, b->len - loc->len); /* zeros past the record */
    b->len = 0;
    int rc = cb_reserve(b, loc->len, cs);
    if (rc == 0)
        rc = chunk_read(s, key, loc, cs, b->data);
    if (rc) {
        cb_drop(b);
        return rc;
    }
    b->key = *key;
    b->cs = cs;
    b->len = loc->len;
    b->dirty = false;
    b->used = ++s->tb->tick;
    *out = b;
    return 0;
}

int ch_read(sop_store *s, const struct item *it, uint64_t off, void *buf, size_t len)
{
    uint8_t *out = buf, *tmp = NULL;
    size_t tmpcap = 0;
    uint32_t cs = it->csize;
    int rc = 0;
    while (len > 0) {
        struct rkey key = {.id = it->vid, .idx = off / cs};
        uint32_t in = (uint32_t)(off % cs);
        size_t n = cs - in < len ? cs - in : len;
        struct cbuf *b = cb_find(s, &key);
        struct loc loc;
        bool dead;
        if (b) {
            cb_copy_out(b, in, out, n);
        } else if ((rc = ch_lookup(s, &key, &loc, &dead)) == SOP_ENOTFOUND) {
            memset(out, 0, n); /* a hole */
            rc = 0;
        } else if (rc) {
            break;
        } else if (in == 0 && n == cs) {
            /* a whole chunk: straight into the caller's buffer */
            if ((rc = chunk_read(s, &key, &loc, cs, out)) != 0)
                break;
            if (loc.len < cs)
                memset(out + loc.len, 0, cs - loc.len);
        } else if ((rc = cb_for_read(s, &key, &loc, cs, &b)) != 0) {
            break;
        } else if (b) {
            cb_copy_out(b, in, out, n);
        } else {
            /* the record is read whole (its crc covers it all), and only
             * as long as it is: short chunks cost what they hold */
            size_t want = loc.len < cs ? loc.len : cs; /* chunk_read refuses longer */
            if (want > tmpcap) {
                uint8_t *t = os_realloc(tmp, want);
                if (!t) {
                    rc = SOP_ENOMEM;
                    break;
                }
                tmp = t;
                tmpcap = want;
            }
            if ((rc = chunk_read(s, &key, &loc, cs, tmp)) != 0)
                break;
            size_t have = in < loc.len ? loc.len - in : 0;
            if (have > n)
                have = n;
            if (have)
                memcpy(out, tmp + in, have);
            if (have < n)
                memset(out + have, 0, n - have);
        }
        out += n;
        off += n;
        len -= n;
    }
    os_free(tmp);
    return rc;
}

int ch_write(sop_store *s, struct item *it, uint64_t off, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    uint32_t cs = it->csize;
    while (len > 0) {
        struct rkey key = {.id = it->vid, .idx = off / cs};
        uint32_t in = (uint32_t)(off % cs);
        size_t n = cs - in < len ? cs - in : len;
        struct cbuf *b;
        int rc;
        if (in == 0 && n == cs) {
            /* a whole chunk replaces the old one, and goes to the log
             * straight from the caller's buffer */
            if ((b = cb_find(s, &key)) != NULL)
                cb_drop(b);
            if ((rc = chunk_append(s, &key, p, cs, true)) != 0)
                return rc;
            p += n;
            off += n;
            len -= n;
            continue;
        }
        if ((rc = cb_get(s, &key, cs, &b)) != 0 || (rc = cb_reserve(b, in + n, cs)) != 0)
            return rc;
        memcpy(b->data + in, p, n);
        if (in + n > b->len)
            b->len = (uint32_t)(in + n);
        b->dirty = true;
        p += n;
        off += n;
        len -= n;
    }
    if (off > it->vsize)
        it->vsize = off;
    return 0;
}

static uint64_t nchunks(uint64_t size, uint32_t cs)
{
    return size / cs + (size % cs != 0);
}

/* Remove chunk idx of the value from the transaction (a dead overlay entry,
 * registered as a removal at commit) and drop its buffer. */
static int chunk_drop(sop_store *s, const struct lid *vid, uint64_t idx)
{
    struct rkey key = {.id = *vid, .idx = idx};
    struct loc loc;
    bool dead;
    struct cbuf *b = cb_find(s, &key);
    if (b)
        cb_drop(b);
    if (ch_lookup(s, &key, &loc, &dead) == 0) /* what the drop gives back (db_space_check) */
        s->tb->freed_bytes += REC_HDR + (uint64_t)loc.len;
    return ov_set(s, &key, NULL, true);
}

/*
 * Drop every chunk of `it` from index `from` on.  The chunks that exist are
 * fewer than the indices below the value's size when the value is sparse
 * (truncate -s 1P makes a value of a billion chunk indices and no chunk):
 * when the indices outnumber what the registry and the transaction hold,
 * the chunks are found by a scan of those instead, so the cost follows
 * what is stored, not the logical size.
 */
static int chunks_drop_from(sop_store *s, const struct item *it, uint64_t from)
{
    uint64_t end = nchunks(it->vsize, it->csize);
    if (end <= from)
        return 0;
    struct txn_base *t = s->tb;
    pthread_rwlock_rdlock(&t->db->lock);
    size_t stored = t->db->reg.count;
    pthread_rwlock_unlock(&t->db->lock);
    if (end - from <= stored + t->nch + TXN_CBUFS) {
        for (uint64_t i = from; i < end; i++) {
            int rc = chunk_drop(s, &it->vid, i);
            if (rc)
                return rc;
        }
        return 0;
    }
    struct reg_idx x = {0};
    pthread_rwlock_rdlock(&t->db->lock);
    int rc = reg_foreach_id(&t->db->reg, &it->vid, from, s->snap, reg_idx_add, &x);
    pthread_rwlock_unlock(&t->db->lock);
    for (size_t i = 0; i < t->capch && rc == 0; i++) {
        const struct chunk_ent *e = &t->ch[i];
        if (!e->dead && e->loc.seg && e->key.idx >= from && !memcmp(e->key.id.b, it->vid.b, 16))
            rc = reg_idx_add(e->key.idx, &x);
    }
    for (int i = 0; i < TXN_CBUFS && rc == 0; i++) {
        const struct cbuf *b = &t->cb[i];
        if (b->data && b->key.idx >= from && !memcmp(b->key.id.b, it->vid.b, 16))
            rc = reg_idx_add(b->key.idx, &x);
    }
    for (size_t i = 0; i < x.n && rc == 0; i++)
        rc = chunk_drop(s, &it->vid, x.v[i]);
    os_free(x.v);
    return rc;
}

int ch_truncate(sop_store *s, struct item *it, uint64_t size)
{
    uint32_t cs = it->csize;
    int rc;
    if (size < it->vsize) {
        if ((rc = chunks_drop_from(s, it, nchunks(size, cs))) != 0)
            return rc;
        if (size % cs) {
            struct rkey key = {.id = it->vid, .idx = size / cs};
            struct cbuf *b;
            if ((rc = cb_get(s, &key, cs, &b)) != 0)
                return rc;
            uint32_t keep = (uint32_t)(size % cs);
            if (b->len > keep) {
                memset(b->data + keep, 0, b->len - keep);
                b->len = keep;
                b->dirty = true;
            }
        }
    }
    it->vsize = size;
    return 0;
}

int ch_forget(sop_store *s, const struct item *it)
{
    return chunks_drop_from(s, it, 0);
}
