/*
 * blob.h - the segment log: every persistent record (node images, node
 * deltas, value chunks, commit records) is appended to numbered segment
 * files DATA/NNNNNNNN.seg and never overwritten while live.
 *
 * Record layout (little-endian), header 40 bytes then payload:
 *
 *   off size meaning
 *   0   4    magic 0x52504F53 ("SOPR")
 *   4   1    type: 1 node image, 2 node delta, 3 value chunk, 4 commit
 *   5   1    flags (0)
 *   6   2    reserved (0)
 *   8   4    payload length
 *   12  4    crc32 of bytes 0..11, 16..39 and the payload
 *   16  16   logical ID the record belongs to (zero for commits)
 *   32  8    index under that ID (0 for nodes, chunk number for chunks)
 *   40  ...  payload
 *
 * A reader gets SOP_ECORRUPT when any of magic, type, length, owner or crc
 * disagree with what the registry promised: never wrong data.
 *
 * Appends are serialised by the log's mutex and written with one pwrite per
 * batch; a failed append is cut off again (ftruncate) so the log never holds
 * a torn record followed by valid ones.  blob_sync makes everything appended
 * so far durable; a failed fsync marks the log broken (the kernel may have
 * dropped the dirty pages, so nothing later can be trusted to be durable
 * until the database is reopened and recovered).
 *
 * Small appends keep up to BLOB_PREZERO bytes of zeros written past the end of
 * the current segment: a commit then overwrites blocks that already exist, and
 * its fdatasync need not also write the inode for a new file size (one disk
 * write per small commit instead of two).  The zeros are not records: a scan
 * stops at them (as at a torn tail), recovery cuts a tail of zeros without
 * keeping it aside (db.c R4), and roll-over and close cut them off.
 */
#ifndef SOP_BLOB_H
#define SOP_BLOB_H

#include "codec.h"
#include "registry.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct os_ops;

#define REC_HDR 40u
#define BLOB_PREZERO (1u << 20)
/* A segment rolls over past this size: what the cleaner (reclaim.c) copies
 * and removes at a time. */
#define BLOB_SEG_MAX (64ull << 20)
#define REC_MAGIC 0x52504F53u
enum { REC_NODE = 1, REC_DELTA = 2, REC_CHUNK = 3, REC_COMMIT = 4 };
/* Not a record type: blob_scan's fn is told of damage it skips so (the
 * gap's place and length in loc; no key, no payload). */
#define REC_DAMAGED 0

struct seglog {
    const struct os_ops *os;
    char *dir;
    pthread_mutex_t mu;  /* appends, fds, sync bookkeeping */
    uint32_t cur;        /* segment being appended to */
    uint32_t next_seg;   /* the next free segment number (log and value segments) */
    uint8_t *vkind;      /* by segment number (nfds of them): VSEG_* */
    bool vdir_unsynced;  /* a value segment was made since the folder's last fsync */
    uint64_t cur_off;    /* its end */
    uint64_t zeroed_end; /* [cur_off, zeroed_end) of it holds zeros we wrote */
    uint64_t seg_max;    /* roll over past this size */
    int *fds;            /* fds[seg], -1 when not open */
    uint32_t nfds;
    uint32_t unsynced_lo; /* lowest segment with writes not yet fsynced, 0: none */
    uint64_t appended;    /* bytes appended since open (stats, checkpoints) */
    uint32_t synced_seg;  /* everything before (synced_seg, synced_off) is durable */
    uint64_t synced_off;
    bool broken;
    char err[256]; /* why it broke / last failure */
    /* Shared (clustered mode): several members append to one folder, each
     * to segments of its own.  Numbers come from number() (above floor, the
     * highest this log knows is taken; it fills why on failure), new files
     * are made with O_EXCL (a number taken anyway is skipped), and a
     * segment another member made after this log listed the folder is
     * found under either name. */
    int (*number)(void *arg, uint64_t floor, uint64_t *out, char *why, size_t whylen);
    void *number_arg;
};

/* Open the log in `dir` positioned at (seg, off): the end found by
 * recovery.  The segment is created when absent. */
int blob_open(struct seglog *l, const struct os_ops *os, const char *dir, uint32_t seg,
              uint64_t off);
/* Open the log of one member of a shared folder: appends go to segments
 * of its own, the first made at the first append with a number from
 * number(); nothing of the folder's other segments is changed. */
int blob_open_member(struct seglog *l, const struct os_ops *os, const char *dir,
                     int (*number)(void *, uint64_t, uint64_t *, char *, size_t), void *arg);
void blob_close(struct seglog *l);

/* Start a record of `type` owned by `key` (NULL: zero) in w; returns the
 * offset of its header in w.  Write its payload after, then blob_rec_end. */
size_t blob_rec_begin(struct wbuf *w, int type, const struct rkey *key);
void blob_rec_end(struct wbuf *w, size_t start);

/* Append the records in buf (one or more, built with blob_rec_begin/end) as one
 * write; *seg and *off get where buf[0] landed.  SOP_EIO/SOP_ENOSPC/SOP_EINVAL. */
int blob_append(struct seglog *l, const void *buf, size_t len, uint32_t *seg, uint64_t *off);
/* One record whose payload is not in a wbuf (a value chunk): its header
 * (REC_HDR bytes, crc included) into h, then blob_append_rec writes header
 * and payload without copying the payload. */
void blob_rec_head(uint8_t *h, int type, const struct rkey *key, const void *payload,
                   uint32_t plen);
int blob_append_rec(struct seglog *l, const uint8_t *h, const void *payload, uint32_t plen,
                    uint32_t *seg, uint64_t *off);
/* Make all appended records durable. */
int blob_sync(struct seglog *l);
/* Read the payload of the record at loc into buf (loc->len bytes), checking
 * type and owner (key may be NULL to skip the owner check).  *type 0 accepts
 * a node image or a node delta and says which; -1 accepts any type. */
int blob_read(struct seglog *l, const struct loc *loc, int *type, const struct rkey *key,
              void *buf);
/* Check a record header + payload held in memory; 0 or SOP_ECORRUPT. */
int blob_check(const uint8_t *rec, size_t avail, int *type, struct rkey *key, uint32_t *plen);

/* Recovery: walk records from (seg, off) to the end of the log, calling fn
 * for each valid one.  An invalid record is a torn tail (never
 * acknowledged: the scan of that segment stops there) unless a later valid
 * commit record says the log was durable past it, or it was damaged in
 * place (its header holds, a valid record follows it) and a valid commit
 * comes later: then it is damage, fn hears of it as type REC_DAMAGED, the
 * scan skips it and goes on (reads of the damaged record will answer
 * SOP_ECORRUPT).  *last_seg/_end: where appending may resume. */
typedef int (*blob_scan_fn)(int type, const struct rkey *key, const struct loc *loc,
                            const uint8_t *payload, void *arg);
int blob_scan(const struct os_ops *os, const char *dir, uint32_t seg, uint64_t off, blob_scan_fn fn,
              void *arg, uint32_t *last_seg, uint64_t *last_end);

/* Where a commit record's payload says the log was durable when it was
 * written (commit payload: u8 format, u64 seq, u64 time, u32 seg, u64 off). */
#define COMMIT_SYNCED_AT 17

/* Start a new segment (when the current one holds anything). */
int blob_roll(struct seglog *l);
/* The size of segment seg's file (the current one: where appending goes on). */
int blob_seg_size(struct seglog *l, uint32_t seg, uint64_t *size);
/* Close and remove an old segment (compaction; never the current one). */
int blob_drop_segment(struct seglog *l, uint32_t seg);

/* Segment numbers present in dir, ascending; *out malloc'd. */
int blob_list_segments(const struct os_ops *os, const char *dir, uint32_t **out, size_t *n);

/*
 * Value segments: DATA/NNNNNNNN.val, the whole chunks of big values one
 * transaction wrote (value.c), in records of the same format, numbered
 * from the same counter as the log's segments.  Recovery never scans them:
 * the commit records in the log say what in them is live.  A transaction's
 * value segment is removed whole when it rolls back, and when nothing in it
 * is live any more (registry.h counts live bytes per segment): space comes
 * back without copying anything, which is what replacing or deleting big
 * files needs.  blob_sync makes every value segment durable before the log.
 */
enum { VSEG_NO = 0, VSEG_YES = 1, VSEG_UNSYNCED = 2 };
/* A new, empty value segment; *seg its number. */
int blob_vseg_create(struct seglog *l, uint32_t *seg);
/* Write a record (header h, payload) at offset off of value segment seg. */
int blob_vseg_write(struct seglog *l, uint32_t seg, uint64_t off, const uint8_t *h,
                    const void *payload, uint32_t plen);
/* Close and remove value segment seg (no error when it is gone already). */
int blob_vseg_drop(struct seglog *l, uint32_t seg);
/* Is seg a value segment? */
bool blob_is_vseg(struct seglog *l, uint32_t seg);
/* Value segment numbers present in dir, ascending; *out malloc'd. */
int blob_list_vsegs(const struct os_ops *os, const char *dir, uint32_t **out, size_t *n);

#endif
