/*
 * txnbase.h - what the layers below txn.c see of a transaction: struct
 * txn_base, the first member of every sop_txn.
 *
 * The tree (btree.c), the value chunks (value.c) and the database (db.c)
 * each need a little of the transaction they work for: its database, mode,
 * snapshot and age (db.c's list of live transactions, for the oldest
 * snapshot), a place for its error message and its poison, the value chunks
 * it wrote and the chunk buffers it is filling (value.c owns those), its
 * value segment, and the bytes it appended and freed (db.c's reserve).
 * They reach it only through this struct (db.c includes nothing else of a
 * transaction; btree.c and value.c use s->tb, not s->t): txn.c and the
 * modules of the public calls (store.c, item.c, cursor.c) sit above them.
 */
#ifndef SOP_TXNBASE_H
#define SOP_TXNBASE_H

#include "registry.h"
#include "sop.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

/* A value chunk this transaction appended (value.c's open hash by key). */
struct chunk_ent {
    struct rkey key;
    struct loc loc;
    bool dead;
};

struct cbuf { /* a chunk being filled, not yet appended, or one read (clean) */
    struct rkey key;
    uint32_t cs; /* the value's chunk size */
    uint8_t *data;
    uint32_t cap; /* bytes allocated (the chunk size); zeros past len */
    uint32_t len; /* valid bytes */
    bool dirty;
    uint64_t used; /* LRU tick */
};

#define TXN_CBUFS 4

struct txn_base {
    sop_db *db;
    int mode;          /* SOP_TXN_* */
    uint64_t snap;     /* the commit sequence number it reads at */
    uint64_t begin_ns; /* coarse_ns() at begin, for the maximum age */
    uint64_t gen;      /* bumped by every change: cursors re-find their place */
    int poison;        /* a write-path failure: returned until rollback */
    /* value chunks written (any store: values can move between stores):
     * open hash by registry key, and the buffers still being filled */
    struct chunk_ent *ch;
    size_t nch, capch;
    struct cbuf cb[TXN_CBUFS];
    uint64_t tick;
    /* the value segment this transaction writes whole chunks to (blob.h; 0:
     * none yet), its end, and whether a commit record names it (else it is
     * removed with the transaction) */
    uint32_t vseg;
    uint64_t vseg_end;
    bool vseg_kept;
    /* space (the disk's reserve, db.c): bytes this transaction appended,
     * bytes of records it dropped, and whether it added a key */
    uint64_t wrote_bytes, freed_bytes;
    bool grew;
    struct txn_base *prev, *next; /* db->active, under db->txn_mu */
    char errmsg[512];
};

/* Format the transaction's message ("what: why (object)"). */
void tb_seterr(struct txn_base *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tb_vseterr(struct txn_base *t, const char *fmt, va_list ap);
/* Fail the transaction for good (a write-path failure): rc is returned by
 * every later call until rollback.  Returns rc. */
int tb_poison(struct txn_base *t, int rc);

#endif
