/*
 * order.h - the order of commits of a clustered database, claimed on disk
 * (ARCHITECTURE.md, "Clustered mode"): commit S exists when DATA/order/S
 * does.  Members of one database share the folder, not memory; this is
 * the one place where two of them could both believe they committed S, so
 * the claim rests on an operation that is atomic and exclusive on every
 * filesystem a folder may be shared by, NFS included: symlink(2).  A claim
 * is a symbolic link whose text says where the commit's record is: it is
 * made whole in one operation (no file to write and sync before it has a
 * name, as link(2) would need), and the second member to make S gets
 * EEXIST, never a claim of its own.  Then the folder is fsynced.  Nothing
 * here relies on flock.
 *
 * DATA/order/SSSSSSSSSSSSSSSS (the sequence number in 16 hex digits, so
 * that names sort as the commits) -> "s1" and 43 characters of base64url:
 * the fence, 8 bytes of the member's id, the record's segment, offset and
 * payload length, and a crc32 of them and of S (order.c): a claim copied
 * under another name does not check.
 */
#ifndef SOP_ORDER_H
#define SOP_ORDER_H

#include "os.h"

#include <stddef.h>
#include <stdint.h>

#define ORDER_DIR "order"

struct order_claim {
    uint64_t seq;       /* the commit's number */
    uint64_t fence;     /* of the lock it was claimed under (coord.h) */
    uint8_t member[16]; /* the member that made it (a claim keeps its first 8 bytes) */
    uint32_t seg;       /* where its commit record is */
    uint64_t off;       /* below 4 GiB (segments roll at 64 MiB) */
    uint32_t len;
};

/* Make DATA/order if missing (and the folder entry durable).  0, SOP_EIO,
 * SOP_ENOSPC. */
int order_init(const struct os_ops *os, const char *dir, char *why, size_t whylen);

/* Claim c->seq for c.  0: it is ours and durable.  SOP_ECONFLICT: another
 * member has it (nothing of ours is made).  SOP_EIO, SOP_ENOSPC: the claim
 * could not be made; when the failure came after the link (the folder's
 * fsync), the claim is there but perhaps not durable, and the caller must
 * treat the commit as in doubt (its log is broken, as after a failed
 * fdatasync). */
int order_claim(const struct os_ops *os, const char *dir, const struct order_claim *c,
                char *why, size_t whylen);

/* Read claim seq.  0, SOP_ENOTFOUND (no such commit yet), SOP_ECORRUPT (the
 * file does not check: recorded with SOP_CORRUPT), SOP_EIO. */
int order_read(const struct os_ops *os, const char *dir, uint64_t seq, struct order_claim *out,
               char *why, size_t whylen);

/* The last commit of an unbroken run after `from`: *last = the highest S
 * with claims from+1..S all there (from when none is).  Errors as
 * order_read, but SOP_ENOTFOUND, which ends the run. */
int order_last(const struct os_ops *os, const char *dir, uint64_t from, uint64_t *last,
               char *why, size_t whylen);

/* Remove the claims below `below` (their commits are in a checkpoint that
 * every open starts from).  Returns how many went, or SOP_EIO. */
int order_prune(const struct os_ops *os, const char *dir, uint64_t below);

#endif
