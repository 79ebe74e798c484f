/*
 * corrupt.h - damaged data is reported through one macro family that
 * records where the code found it, as SQLite's SQLITE_CORRUPT_PAGE does:
 *
 *     return SOP_CORRUPT_REC(loc->seg, loc->off, "record crc mismatch");
 *
 * evaluates to SOP_ECORRUPT and notes, for the calling thread, the file and
 * line that found the damage, what was wrong, and the object it was found
 * in (a record's segment and offset, a node's logical ID).  Error messages
 * quote the note (corrupt_note()), and sop_corruption_note() (sop.h) hands
 * it to the caller.  Every detection passes through corrupt_found(): one
 * breakpoint catches them all.
 *
 * SOP_ECORRUPT is for what the disk (or another writer of the files) can
 * cause; the code's own invariants are assert()s.
 */
#ifndef SOP_CORRUPT_H
#define SOP_CORRUPT_H

#include "registry.h"
#include "sop.h"

#include <stdint.h>

int corrupt_found(const char *file, int line, const char *what, uint32_t seg, uint64_t off,
                  const struct lid *id);

#define SOP_CORRUPT(what) corrupt_found(__FILE__, __LINE__, (what), 0, 0, NULL)
#define SOP_CORRUPT_REC(seg, off, what)                                                            \
    corrupt_found(__FILE__, __LINE__, (what), (seg), (off), NULL)
#define SOP_CORRUPT_NODE(id, what) corrupt_found(__FILE__, __LINE__, (what), 0, 0, (id))

/* The calling thread's last note ("node.c:511: node image: unknown format
 * byte"), or "" if it found none; valid until its next detection. */
const char *corrupt_note(void);
/* For a message's tail: "; found by " and the note when rc is
 * SOP_ECORRUPT, else two empty strings (format "%s%s"). */
#define FOUND_BY(rc)                                                                               \
    ((rc) == SOP_ECORRUPT && *corrupt_note() ? "; found by " : ""),                                \
        ((rc) == SOP_ECORRUPT ? corrupt_note() : "")

#endif
