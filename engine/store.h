/*
 * store.h - the stores of a transaction (store.c).
 */
#ifndef SOP_STORE_H
#define SOP_STORE_H

#include "overlay.h"

/* May the caller use handle s (write: change it)?  0, or the code to
 * return (SOP_EINVAL, the transaction's poison, SOP_EREADONLY,
 * SOP_ETIMEDOUT, SOP_ENOTFOUND for a store dropped here), with t's message.
 * A write also frees what earlier reads handed out. */
int store_usable(sop_store *s, bool write);

#endif
