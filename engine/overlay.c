/*
 * overlay.c - the bookkeeping every call on a transaction makes (overlay.h):
 * whether it may go on (poison, read-only, maximum age), its message, the
 * buffers and nodes whose bytes it handed out (valid until its next change),
 * and the catalog names it depends on.
 */
#include "overlay.h"

#include "os.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    struct scratch *s = os_malloc(sizeof(*s) + (n ? n : 1));
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
int txn_pin(sop_txn *t, struct node *n)
{
    if (n == t->last_pin)
        return 0;
    if ((t->npins + 1) * 2 > t->cappins) {
        size_t cap = t->cappins ? t->cappins * 2 : 64;
        struct node **v = os_calloc(cap, sizeof(*v));
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
        os_free(t->pins);
        t->pins = v;
        t->cappins = cap;
    }
    size_t j = ((uintptr_t)n >> 4) * 0x9E3779B97F4A7C15ull >> 7 & (t->cappins - 1);
    while (t->pins[j]) {
        if (t->pins[j] == n) {
            t->last_pin = n;
            return 0;
        }
        j = (j + 1) & (t->cappins - 1);
    }
    node_ref(n);
    t->pins[j] = n;
    t->npins++;
    t->last_pin = n;
    return 0;
}

void txn_free_scratch(sop_txn *t)
{
    struct scratch *s = t->scratch;
    while (s) {
        struct scratch *n = s->next;
        os_free(s);
        s = n;
    }
    t->scratch = NULL;
    if (t->npins) {
        cache_unpin(&t->b.db->cache, t->pins, t->cappins);
        t->npins = 0;
    }
    t->last_pin = NULL;
}

/* Append a copy of str to a growable array of strings. */
int strv_push(char ***v, size_t *n, size_t *cap, const char *str)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 8;
        char **p = os_realloc(*v, c * sizeof(*p));
        if (!p)
            return SOP_ENOMEM;
        *v = p;
        *cap = c;
    }
    if (!((*v)[*n] = os_strdup(str)))
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
