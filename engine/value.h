/*
 * value.h - the chunks of external values (value.c): a value too big for its
 * leaf is stored as chunk records of its own under registry keys {vid, i},
 * written through a transaction's chunk buffers and chunk table
 * (txnbase.h), read through them and the registry at the store's snapshot.
 */
#ifndef SOP_VALUE_H
#define SOP_VALUE_H

#include "overlay.h"

int ch_read(sop_store *s, const struct item *it, uint64_t off, void *buf, size_t len);
int ch_write(sop_store *s, struct item *it, uint64_t off, const void *buf, size_t len);
int ch_truncate(sop_store *s, struct item *it, uint64_t size);
/* Append every filled chunk buffer to the log. */
int ch_flush(sop_store *s);
/* Value chunks of vid (vsize bytes) are to be deleted at commit. */
int ch_forget(sop_store *s, const struct item *it);
int ch_lookup(sop_store *s, const struct rkey *key, struct loc *loc, bool *dead);

#endif
