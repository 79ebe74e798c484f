/*
 * store.c - the stores a transaction opens, creates, alters, drops and
 * lists: handles (sop_store) over the catalog version its snapshot sees.
 * A handle keeps a working copy of the store's info (root and count change
 * there, in the transaction) and the store's overlay (overlay.h); a store
 * created, altered or dropped here is checked at commit against the
 * catalog names other commits changed (txn.c C3).
 */
#include "store.h"

#include "btree.h"
#include "kind.h"
#include "os.h"
#include "rwset.h"

#include <stdlib.h>
#include <string.h>

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
    sop_store *s = os_calloc(1, sizeof(*s));
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
    if (!(i->name = os_strdup(name)) ||
        !(i->description = os_strdup(o->description ? o->description : "")) ||
        !(i->relations = os_strdup(o->relations ? o->relations : "")) ||
        !(i->kind = os_strdup(o->kind && *o->kind ? o->kind : "records"))) {
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
    if ((rc = rw_range_all(s)) != 0)
        return rc;
    s->dropped = true;
    t->b.gen++;
    return 0;
}

int store_usable(sop_store *s, bool write)
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
    if ((rc = rw_range_all(s)) != 0)
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
    char *p = os_strdup(src);
    if (!p)
        return SOP_ENOMEM;
    os_free(*dst);
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
        if ((rc = rw_range_all(s)) != 0)
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
        os_free(l.v[i]);
    os_free(l.v);
    return rc;
}
