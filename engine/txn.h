/*
 * txn.h - transactions (sop_txn) and cursors: what txn.c keeps above the
 * layers it drives.
 *
 * A transaction reads at a snapshot (the commit sequence number current when
 * it began) and keeps its changes private until commit:
 *  - per store it opened, an overlay of the store's tree and its read and
 *    write sets (overlay.h);
 *  - value chunks it wrote, appended to the log already (unsynced) and
 *    listed in its chunk table, plus a few chunk buffers still being filled
 *    (txnbase.h, value.c);
 *  - the catalog names it depends on, and the buffers and nodes whose bytes
 *    it handed out to the caller (valid until its next change).
 * Commit validates what it read against the transactions that committed
 * since the snapshot (see txn.c for the protocol).
 */
#ifndef SOP_TXN_H
#define SOP_TXN_H

#include "overlay.h"

#include <stdbool.h>
#include <stdint.h>

struct sop_cursor {
    sop_store *s;
    struct tpos tp;
    uint64_t gen;
    /* current key copy and its rank among equal keys, to re-find it after
     * the transaction changed the tree */
    uint8_t *key;
    size_t kl, keycap;
    uint32_t dup;
    /* range walked since the last jump */
    struct krange span;
    bool span_on;
    /* the span's hi (lo) bound is the cursor's current key, copied only when
     * the span is recorded or the walk turns: no copy per step */
    bool hi_cur, lo_cur;
    void *vbuf; /* value of an external item, handed out */
    struct sop_cursor *next;
};

struct scratch {
    struct scratch *next;
    uint8_t data[];
};

struct sop_txn {
    struct txn_base b; /* first: what the layers below see (txnbase.h) */
    sop_store *stores;
    /* catalog names this transaction depends on; `all_names` after a list */
    char **names;
    size_t nnames, capnames;
    bool all_names;
    struct scratch *scratch; /* buffers handed out, freed at the next change */
    struct node **pins;      /* nodes whose bytes were handed out, likewise */
    size_t npins, cappins;
};

void txn_seterr(sop_txn *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Check a transaction can go on; returns poison/timeout codes. */
int txn_check(sop_txn *t, bool write);
/* Fail the transaction for good (write-path failure): tb_poison. */
static inline int txn_poison(sop_txn *t, int rc)
{
    return tb_poison(&t->b, rc);
}
void txn_free_scratch(sop_txn *t);
void *txn_scratch(sop_txn *t, size_t n);
int txn_note_name(sop_txn *t, const char *name);

#endif
