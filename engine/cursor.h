/*
 * cursor.h - cursors (cursor.c).
 */
#ifndef SOP_CURSOR_H
#define SOP_CURSOR_H

#include "overlay.h"

struct sop_cursor {
    sop_store *s;
    struct tpos tp;
    uint64_t gen;
    /* the current key and its rank among equal keys, to re-find it after
     * the transaction changed the tree: kp points into kleaf (referenced),
     * a node nothing changes, or into the copy in key when the leaf is one
     * the transaction may change in place; no copy per step of a walk over
     * unchanged leaves */
    const uint8_t *kp;
    struct node *kleaf;
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

/* Record the range walked since the last jump in the store's read set. */
int cursor_flush_span(struct sop_cursor *c);
void cursor_free(struct sop_cursor *c);

#endif
