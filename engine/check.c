/*
 * check.c - checking a database, and salvaging what still reads (sop check,
 * sop check --repair, sop dump past damage).
 *
 * The check reads everything once, in a read transaction:
 *  1. what recovery found at open (damage skipped, torn tails cut) and the
 *     torn-*.bin files earlier opens kept;
 *  2. the registry against the segment files: every live record lies
 *     inside a segment (or value segment) that exists;
 *  3. every store of the catalog, hidden ones too: its tree walked in key
 *     order past damage (btree.c bt_visit), each node's record read and its
 *     crc checked (the load does), the invariants (order, fill, separators,
 *     leaf depth), the item count against the store's info, and every chunk
 *     of every external value read and its crc checked;
 *  4. registry records no store reaches (left by damage, or a leak): a note.
 * Problems are said through ops->problem in words, with the store, the key
 * and the segment and offset; notes (nothing wrong, worth knowing) through
 * ops->note.
 *
 * Salvage copies every item whose leaf and value read into a new database,
 * store by store with the same options (search indexes are rebuilt by the
 * new database's commits, not copied), and says what it could not copy.
 */
#include "btree.h"
#include "corrupt.h"
#include "db.h"
#include "kind.h"
#include "os.h"
#include "value.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOTE_EVERY 4096 /* records between progress reports */

struct check {
    sop_db *db;
    const sop_check_ops *ops;
    void *arg;
    uint64_t problems;
    uint64_t done, total; /* records checked, of the registry's */
    uint8_t *buf;
    size_t cap;
    /* salvage */
    sop_db *dst;
    sop_txn *dt;
    sop_store *ds;
    const char *dname;
    uint64_t batch_items, batch_bytes, saved, lost;
};

/* A key in words: printable bytes as they are, others as \xHH, cut at 80. */
static void key_text(const void *k, size_t kl, char *out, size_t cap)
{
    const uint8_t *p = k;
    size_t o = 0;
    for (size_t i = 0; i < kl && o + 8 < cap; i++) {
        if (o > 80) {
            o += (size_t)snprintf(out + o, cap - o, "...");
            break;
        }
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
            out[o++] = (char)p[i];
        else
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", p[i]);
    }
    out[o < cap ? o : cap - 1] = '\0';
}

static void say(struct check *c, bool is_problem, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void say(struct check *c, bool is_problem, const char *fmt, ...)
{
    char text[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (is_problem) {
        c->problems++;
        if (c->ops && c->ops->problem)
            c->ops->problem(c->arg, text);
    } else if (c->ops && c->ops->note) {
        c->ops->note(c->arg, text);
    }
}

static void tick(struct check *c, uint64_t n)
{
    c->done += n;
    if (c->ops && c->ops->progress && (c->done % NOTE_EVERY < n || c->done == c->total))
        c->ops->progress(c->arg, c->done, c->total);
}

/* ------------------------------------------------------------ 1, 2: the log */

static int note_torn(const char *name, void *arg)
{
    struct check *c = arg;
    if (!strncmp(name, "torn-", 5))
        say(c, false,
            "%s/%s holds bytes cut from a torn end of the log at an earlier open; "
            "remove it once nothing in it is wanted",
            c->db->path, name);
    return 0;
}

struct segsize {
    uint32_t *seg;
    uint64_t *size;
    size_t n;
};

static int segsizes(sop_db *db, struct segsize *z)
{
    uint32_t *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    int rc = blob_list_segments(db->os, db->path, &a, &na);
    if (rc == 0)
        rc = blob_list_vsegs(db->os, db->path, &b, &nb);
    if (rc == 0 && (!(z->seg = os_malloc((na + nb + 1) * sizeof(*z->seg))) ||
                    !(z->size = os_malloc((na + nb + 1) * sizeof(*z->size)))))
        rc = SOP_ENOMEM;
    for (size_t i = 0; rc == 0 && i < na + nb; i++) {
        char p[4200];
        uint32_t s = i < na ? a[i] : b[i - na];
        snprintf(p, sizeof(p), "%s/%08u.%s", db->path, s, i < na ? "seg" : "val");
        z->seg[z->n] = s;
        z->size[z->n++] = os_file_size(db->os, p);
    }
    os_free(a);
    os_free(b);
    return rc;
}

struct regcheck {
    struct check *c;
    struct segsize *z;
};

static int reg_one(const struct rkey *k, const struct loc *l, void *arg)
{
    struct regcheck *r = arg;
    char id[40];
    for (int i = 0; i < 16; i++)
        snprintf(id + 2 * i, 3, "%02x", k->id.b[i]);
    for (size_t i = 0; i < r->z->n; i++)
        if (r->z->seg[i] == l->seg) {
            if (l->off + REC_HDR + l->len > r->z->size[i])
                say(r->c, true,
                    "registry: record %s/%llu lies past the end of segment %08u (offset %llu, "
                    "%u bytes; the file has %llu)",
                    id, (unsigned long long)k->idx, l->seg, (unsigned long long)l->off, l->len,
                    (unsigned long long)r->z->size[i]);
            return 0;
        }
    say(r->c, true, "registry: record %s/%llu is in segment %08u, which is missing", id,
        (unsigned long long)k->idx, l->seg);
    return 0;
}

/* ------------------------------------------------------------ 3: the stores */

static int read_record(struct check *c, const struct rkey *key, const struct loc *loc)
{
    if (loc->len + 1 > c->cap) {
        uint8_t *b = os_realloc(c->buf, loc->len + 1);
        if (!b)
            return SOP_ENOMEM;
        c->buf = b;
        c->cap = loc->len + 1;
    }
    int type = REC_CHUNK;
    return blob_read(&c->db->log, loc, &type, key, c->buf);
}

/* Every chunk of external value `it` reads and checks; 0, or the first
 * failure (said), or SOP_ENOMEM. */
static int check_value(struct check *c, sop_store *s, const struct item *it, bool quiet)
{
    uint64_t end = it->vsize / it->csize + (it->vsize % it->csize != 0);
    struct reg_idx v = {0};
    int rc = 0, bad = 0;
    sop_db *db = c->db;
    pthread_rwlock_rdlock(&db->lock);
    bool dense = end <= db->reg.count;
    if (!dense)
        rc = reg_foreach_id(&db->reg, &it->vid, 0, s->snap, reg_idx_add, &v);
    pthread_rwlock_unlock(&db->lock);
    for (uint64_t i = 0; rc == 0 && (dense ? i < end : i < v.n); i++) {
        struct rkey key = {.id = it->vid, .idx = dense ? i : v.v[i]};
        struct loc loc;
        pthread_rwlock_rdlock(&db->lock);
        int g = reg_get(&db->reg, &key, s->snap, &loc);
        pthread_rwlock_unlock(&db->lock);
        if (g)
            continue; /* a hole: zeros */
        tick(c, 1);
        int r = read_record(c, &key, &loc);
        if (r == SOP_ENOMEM) {
            rc = r;
        } else if (r) {
            char kt[400];
            key_text(it->k, it->kl, kt, sizeof(kt));
            if (!quiet)
                say(c, true,
                    "store %s, key '%s': chunk %llu of its value (segment %08u offset %llu) "
                    "does not read: %s%s%s",
                    s->info.name, kt, (unsigned long long)key.idx, loc.seg,
                    (unsigned long long)loc.off, sop_strerror(r), FOUND_BY(r));
            bad = r;
            if (quiet)
                break;
        }
    }
    os_free(v.v);
    return rc ? rc : bad;
}

static int visit_item(void *arg, sop_store *s, const struct item *it)
{
    struct check *c = arg;
    if (!it->ext)
        return 0;
    int rc = check_value(c, s, it, false);
    return rc == SOP_ENOMEM ? rc : 0;
}

/* Both copies of a node read: the walk got the node from either (bt_node
 * reads the second copy of a critical node when the first does not check,
 * txn.c write_mirror), so each is read here on its own. */
static void visit_node(void *arg, sop_store *s, const struct lid *id, const struct node *n)
{
    struct check *c = arg;
    (void)n;
    for (uint64_t idx = 0; idx < 2; idx++) {
        struct rkey k = {.id = *id, .idx = idx};
        struct loc l;
        struct node *m;
        pthread_rwlock_rdlock(&c->db->lock);
        int g = reg_get(&c->db->reg, &k, s->snap, &l);
        pthread_rwlock_unlock(&c->db->lock);
        if (g)
            continue;
        if (idx)
            tick(c, 1); /* the first copy is counted with the walk's nodes */
        if (bt_load_copy(c->db, id, idx, &l, &m) == 0) {
            node_unref(m);
            continue;
        }
        say(c, true,
            "store %s: the %s copy of a node (segment %08u offset %llu) does not read: %s%s",
            s->info.name, idx ? "second" : "first", l.seg, (unsigned long long)l.off, c->db->errmsg,
            idx ? "" : "; its second copy does (the next change rewrites both)");
    }
}

static void visit_damaged(void *arg, sop_store *s, const struct item *lo, const struct item *hi,
                          int rc, const char *why)
{
    struct check *c = arg;
    char a[400] = "", b[400] = "";
    if (lo)
        key_text(lo->k, lo->kl, a, sizeof(a));
    if (hi)
        key_text(hi->k, hi->kl, b, sizeof(b));
    say(c, true, "store %s: the keys %s%s%s%s%s do not read: %s (%s)", s->info.name,
        lo ? "from '" : "from the first", a, lo ? "'" : "", hi ? " to '" : " to the last",
        hi ? b : "", sop_strerror(rc), why && *why ? why : "");
}

static void visit_invalid(void *arg, sop_store *s, const char *what)
{
    struct check *c = arg;
    say(c, true, "store %s: %s", s->info.name, what);
}

struct names {
    char **v;
    size_t n;
};

/* The stores of the catalog now, hidden ones too. */
static int all_stores(sop_db *db, struct names *out)
{
    memset(out, 0, sizeof(*out));
    pthread_rwlock_rdlock(&db->lock);
    out->v = os_calloc(db->cat.n + 1, sizeof(*out->v));
    for (size_t i = 0; out->v && i < db->cat.n; i++)
        if (cat_get(&db->cat, db->cat.v[i].name, db->seq) &&
            (out->v[out->n] = os_strdup(db->cat.v[i].name)) != NULL)
            out->n++;
    pthread_rwlock_unlock(&db->lock);
    return out->v ? 0 : SOP_ENOMEM;
}

static void names_free(struct names *n)
{
    for (size_t i = 0; i < n->n; i++)
        os_free(n->v[i]);
    os_free(n->v);
}

SOP_API int sop_db_check(sop_db *db, const sop_check_ops *ops, void *arg, uint64_t *problems)
{
    struct check c = {.db = db, .ops = ops, .arg = arg};
    struct segsize z = {0};
    struct names st = {0};
    sop_txn *t = NULL;
    int rc;
    if (!db)
        return SOP_EINVAL;
    /* 1 */
    for (const char *l = db->report ? db->report : ""; *l;) {
        const char *e = strchr(l, '\n');
        size_t n = e ? (size_t)(e - l) : strlen(l);
        say(&c, db->report_problems > 0, "recovery at this open: %.*s", (int)n, l);
        l += n + (e != NULL);
    }
    db->os->list(db->os, db->path, note_torn, &c);
    /* 2 */
    if ((rc = segsizes(db, &z)) != 0)
        goto out;
    struct regcheck rg = {.c = &c, .z = &z};
    pthread_rwlock_rdlock(&db->lock);
    c.total = db->reg.count;
    rc = reg_foreach(&db->reg, reg_one, &rg);
    pthread_rwlock_unlock(&db->lock);
    if (rc)
        goto out;
    /* 3 */
    if ((rc = all_stores(db, &st)) != 0 || (rc = sop_txn_begin(db, SOP_TXN_READ, &t)) != 0)
        goto out;
    for (size_t i = 0; i < st.n && rc == 0; i++) {
        sop_store *s;
        if ((rc = sop_store_open(t, st.v[i], &s)) != 0) {
            say(&c, true, "store %s: does not open: %s (%s)", st.v[i], sop_strerror(rc),
                sop_txn_errmsg(t));
            rc = 0;
            continue;
        }
        struct bt_visit v = {.item = visit_item,
                             .node = visit_node,
                             .damaged = visit_damaged,
                             .invalid = visit_invalid,
                             .arg = &c};
        rc = bt_visit(s, &v);
        tick(&c, v.nodes);
        if (rc == 0 && v.items != s->info.count)
            say(&c, true, "store %s: its info counts %llu items, its tree holds %llu", s->info.name,
                (unsigned long long)s->info.count, (unsigned long long)v.items);
    }
    /* 4: every record reached was counted (its node or chunk read) */
    if (rc == 0 && c.done < c.total)
        say(&c, false,
            "%llu of the registry's %llu records are reached by no store (left behind by "
            "damage or an interrupted change; harmless)",
            (unsigned long long)(c.total - c.done), (unsigned long long)c.total);
out:
    if (t)
        sop_txn_rollback(t);
    names_free(&st);
    os_free(z.seg);
    os_free(z.size);
    os_free(c.buf);
    if (problems)
        *problems = c.problems;
    if (rc)
        return rc;
    return c.problems ? SOP_ECORRUPT : 0;
}

/* ------------------------------------------------------------ salvage */

#define BATCH_ITEMS 1000
#define BATCH_BYTES (64u << 20)

static int salvage_commit(struct check *c, bool reopen)
{
    int rc = 0;
    if (c->dt) {
        rc = sop_txn_commit(c->dt);
        c->dt = NULL;
        c->ds = NULL;
        if (rc) {
            say(c, true, "salvage: commit into the new database: %s (%s)", sop_strerror(rc),
                sop_db_errmsg(c->dst));
            return rc;
        }
    }
    c->batch_items = c->batch_bytes = 0;
    if (reopen && (rc = sop_txn_begin(c->dst, SOP_TXN_WRITE | SOP_TXN_NOSYNC, &c->dt)) == 0 &&
        (rc = sop_store_open(c->dt, c->dname, &c->ds)) != 0) {
        sop_txn_rollback(c->dt);
        c->dt = NULL;
    }
    return rc;
}

static int salvage_item(void *arg, sop_store *s, const struct item *it)
{
    struct check *c = arg;
    char kt[400];
    int rc;
    if (it->ext && (rc = check_value(c, s, it, true)) != 0) { /* read it all before a byte goes */
        if (rc == SOP_ENOMEM)
            return rc;
        key_text(it->k, it->kl, kt, sizeof(kt));
        say(c, true, "store %s, key '%s': its value does not read (%s): not copied", s->info.name,
            kt, sop_strerror(rc));
        c->lost++;
        return 0;
    }
    if (!it->ext) {
        rc = sop_add(c->ds, it->k, it->kl, it->v, it->vl);
        c->batch_bytes += it->vl;
    } else {
        if ((rc = sop_add(c->ds, it->k, it->kl, "", 0)) == 0 && it->vsize) {
            uint64_t off = 0;
            size_t piece = it->csize;
            uint8_t *buf = os_malloc(piece);
            if (!buf)
                return SOP_ENOMEM;
            while (rc == 0 && off < it->vsize) {
                size_t n = it->vsize - off < piece ? (size_t)(it->vsize - off) : piece;
                if ((rc = ch_read(s, it, off, buf, n)) == 0)
                    rc = sop_value_write(c->ds, it->k, it->kl, off, buf, n);
                off += n;
            }
            os_free(buf);
        }
        c->batch_bytes += it->vsize;
    }
    if (rc) {
        key_text(it->k, it->kl, kt, sizeof(kt));
        say(c, true, "store %s, key '%s': copying it failed: %s (%s)", s->info.name, kt,
            sop_strerror(rc), sop_txn_errmsg(c->dt));
        return rc;
    }
    c->saved++;
    if (++c->batch_items >= BATCH_ITEMS || c->batch_bytes >= BATCH_BYTES)
        return salvage_commit(c, true);
    return 0;
}

SOP_API int sop_db_salvage(sop_db *db, sop_db *dst, const sop_check_ops *ops, void *arg,
                           uint64_t *saved, uint64_t *lost)
{
    struct check c = {.db = db, .dst = dst, .ops = ops, .arg = arg};
    struct names st = {0};
    sop_txn *t = NULL;
    int rc;
    if (!db || !dst || db == dst)
        return SOP_EINVAL;
    if ((rc = all_stores(db, &st)) != 0 || (rc = sop_txn_begin(db, SOP_TXN_READ, &t)) != 0)
        goto out;
    pthread_rwlock_rdlock(&db->lock);
    c.total = db->reg.count;
    pthread_rwlock_unlock(&db->lock);
    for (size_t i = 0; i < st.n && rc == 0; i++) {
        sop_store *s;
        sop_store_info info;
        if (kind_hidden_name(st.v[i]))
            continue; /* an index: the new database's commits build it anew */
        if ((rc = sop_store_open(t, st.v[i], &s)) != 0 ||
            (rc = sop_store_get_info(s, &info)) != 0) {
            say(&c, true, "store %s: does not open: %s (%s): not copied", st.v[i], sop_strerror(rc),
                sop_txn_errmsg(t));
            rc = 0;
            continue;
        }
        sop_txn *dt;
        sop_store *ds;
        if ((rc = sop_txn_begin(dst, SOP_TXN_WRITE, &dt)) != 0)
            break;
        if ((rc = sop_store_create(dt, st.v[i], &info.options, &ds)) != 0) {
            say(&c, true, "store %s: cannot be made in the new database: %s (%s)", st.v[i],
                sop_strerror(rc), sop_txn_errmsg(dt));
            sop_txn_rollback(dt);
            break;
        }
        if ((rc = sop_txn_commit(dt)) != 0)
            break;
        c.dname = st.v[i];
        if ((rc = salvage_commit(&c, true)) != 0)
            break;
        struct bt_visit v = {
            .item = salvage_item, .damaged = visit_damaged, .invalid = visit_invalid, .arg = &c};
        rc = bt_visit(s, &v);
        int r = salvage_commit(&c, false);
        rc = rc ? rc : r;
    }
    if (rc == 0)
        rc = sop_db_sync(dst);
out:
    if (c.dt)
        sop_txn_rollback(c.dt);
    if (t)
        sop_txn_rollback(t);
    names_free(&st);
    os_free(c.buf);
    if (saved)
        *saved = c.saved;
    if (lost)
        *lost = c.lost;
    return rc;
}

/* ------------------------------------------------------------ walks (sop dump) */

struct walk {
    sop_walk_fn fn;
    void (*damaged)(void *arg, const char *text);
    void *arg;
    struct check c;
};

struct walk_ref {
    sop_store *s;
    const struct item *it;
};

static int walk_item(void *arg, sop_store *s, const struct item *it)
{
    struct walk *w = arg;
    struct walk_ref ref = {.s = s, .it = it};
    sop_walk_item wi = {.key = it->kl ? (const void *)it->k : "",
                        .kl = it->kl,
                        .size = it->ext ? it->vsize : it->vl,
                        .value = it->ext ? NULL : (it->vl ? (const void *)it->v : ""),
                        .priv = &ref};
    return w->fn(w->arg, &wi);
}

SOP_API int sop_walk_read(const sop_walk_item *wi, uint64_t off, void *buf, size_t len, size_t *got)
{
    if (!wi || !wi->priv || !got || (!buf && len))
        return SOP_EINVAL;
    const struct walk_ref *ref = wi->priv;
    *got = 0;
    if (off >= wi->size)
        return 0;
    size_t n = wi->size - off < len ? (size_t)(wi->size - off) : len;
    if (!ref->it->ext) {
        memcpy(buf, (const uint8_t *)wi->value + off, n);
    } else {
        int rc = ch_read(ref->s, ref->it, off, buf, n); /* says where, in the txn's message */
        if (rc)
            return rc;
    }
    *got = n;
    return 0;
}

static void walk_said(void *arg, const char *text)
{
    struct walk *w = arg;
    if (w->damaged)
        w->damaged(w->arg, text);
}

static void walk_damaged(void *arg, sop_store *s, const struct item *lo, const struct item *hi,
                         int rc, const char *why)
{
    struct walk *w = arg;
    visit_damaged(&w->c, s, lo, hi, rc, why);
}

static void walk_invalid(void *arg, sop_store *s, const char *what)
{
    struct walk *w = arg;
    visit_invalid(&w->c, s, what);
}

SOP_API int sop_store_walk(sop_store *s, sop_walk_fn fn, void (*damaged)(void *arg, const char *),
                           void *arg)
{
    if (!s || !fn)
        return SOP_EINVAL;
    struct walk w = {.fn = fn, .damaged = damaged, .arg = arg};
    sop_check_ops ops = {.problem = walk_said};
    w.c.ops = &ops;
    w.c.arg = &w;
    w.c.db = s->tb->db;
    struct bt_visit v = {
        .item = walk_item, .damaged = walk_damaged, .invalid = walk_invalid, .arg = &w};
    int rc = bt_visit(s, &v);
    return rc ? rc : w.c.problems ? SOP_ECORRUPT : 0;
}
