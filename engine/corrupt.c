/*
 * corrupt.c - the calling thread's note of where damaged data was last
 * found (corrupt.h).
 */
#include "corrupt.h"

#include "sop.h"

#include <stdio.h>
#include <string.h>

static _Thread_local char note[256];

int corrupt_found(const char *file, int line, const char *what, uint32_t seg, uint64_t off,
                  const struct lid *id)
{
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    int n = snprintf(note, sizeof(note), "%s:%d: %s", base, line, what);
    if (n > 0 && (size_t)n < sizeof(note)) {
        if (seg)
            snprintf(note + n, sizeof(note) - (size_t)n, " (segment %08u offset %llu)", seg,
                     (unsigned long long)off);
        else if (id) {
            char hex[33];
            for (int i = 0; i < 16; i++)
                snprintf(hex + 2 * i, 3, "%02x", id->b[i]);
            snprintf(note + n, sizeof(note) - (size_t)n, " (node %s)", hex);
        }
    }
    return SOP_ECORRUPT;
}

const char *corrupt_note(void)
{
    return note;
}

SOP_API const char *sop_corruption_note(void)
{
    return note;
}
