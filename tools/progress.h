/*
 * progress.h - progress of long commands (load, dump, compact, check,
 * bench) on the terminal: one line on stderr, redrawn in place at most four
 * times a second, saying how many items and bytes, the rate, the time
 * spent and, where a total is known, the share done and the time left:
 *
 *   load users: 41,000 of 100,000 items (41%), 12.3 MiB, 4.10 MiB/s, 3 s, 4 s left
 *
 * It shows only when stderr is a terminal and stdout is one too (a command
 * whose output goes to a file or a pipe is being scripted), except for
 * commands whose stdout is their data (dump: `sop dump DIR S > file`),
 * which ask for it with PROGRESS_DATA_ON_STDOUT: they show it when stdout
 * is a terminal or a regular file (not a pipe, whose reader may be another
 * sop drawing its own line).  TERM=dumb and
 * SOP_PROGRESS=0 turn it off.  Anything else written to the terminal
 * meanwhile should first erase the line (progress_clear).
 */
#ifndef SOP_TOOLS_PROGRESS_H
#define SOP_TOOLS_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

enum { PROGRESS_DATA_ON_STDOUT = 1 };

struct progress {
    bool on;
    char label[96];
    const char *unit;     /* what items are: "items", "records" (NULL: only bytes count) */
    uint64_t total;       /* items to do; 0: unknown */
    uint64_t total_bytes; /* bytes to do; 0: unknown */
    uint64_t items, bytes;
    double t0, last;
    bool drawn; /* a line is on the terminal */
};

/* Start: label as printf, unit of the items, flags PROGRESS_*. */
void progress_start(struct progress *p, int flags, const char *unit, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* What the whole is, once known (0: unknown). */
void progress_total(struct progress *p, uint64_t items, uint64_t bytes);
/* Where it is now; redraws when the last draw is a quarter second old (the
 * first call draws at once). */
void progress_update(struct progress *p, uint64_t items, uint64_t bytes);
/* Erase the line, before other output to the terminal (the next update
 * draws it again). */
void progress_clear(struct progress *p);
/* The end: the line is erased. */
void progress_end(struct progress *p);
/* Erase the line of the progress started last and not ended, if any:
 * cli_err and cli_fail call it, so a message never lands after the line. */
void progress_clear_active(void);

#endif
