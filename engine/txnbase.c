/*
 * txnbase.c - a transaction's error message and poison (txnbase.h), which
 * every layer that works for a transaction sets.
 */
#include "txnbase.h"

#include <stdio.h>

void tb_vseterr(struct txn_base *t, const char *fmt, va_list ap)
{
    vsnprintf(t->errmsg, sizeof(t->errmsg), fmt, ap);
}

void tb_seterr(struct txn_base *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tb_vseterr(t, fmt, ap);
    va_end(ap);
}

int tb_poison(struct txn_base *t, int rc)
{
    if (!t->poison)
        t->poison = rc;
    return rc;
}
