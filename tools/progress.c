/*
 * progress.c - the progress line of long commands (see progress.h).
 *
 * The line is written with one fputs to stderr (unbuffered), starting with
 * "\r\033[K" (back to the line's start, erase it), cut to the terminal's
 * width so it never wraps (a wrapped line could not be redrawn in place).
 */
#include "config.h"

#include "cli.h"
#include "progress.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define REDRAW_SECS 0.25

static struct progress *active; /* started last, not ended */

void progress_start(struct progress *p, int flags, const char *unit, const char *fmt, ...)
{
    va_list ap;
    const char *term = getenv("TERM"), *env = getenv("SOP_PROGRESS");

    memset(p, 0, sizeof(*p));
    p->unit = unit;
    va_start(ap, fmt);
    vsnprintf(p->label, sizeof(p->label), fmt, ap);
    va_end(ap);
    /* a command whose data goes to stdout shows it when that is a file, not
     * when it feeds a pipe: the reader (sop load) may draw its own */
    struct stat st;
    bool data_to_file =
        (flags & PROGRESS_DATA_ON_STDOUT) && fstat(1, &st) == 0 && S_ISREG(st.st_mode);
    p->on = isatty(2) && (isatty(1) || data_to_file) && !(term && !strcmp(term, "dumb")) &&
            !(env && !strcmp(env, "0"));
    p->t0 = cli_now();
    p->last = -1;
    if (p->on)
        active = p;
}

void progress_total(struct progress *p, uint64_t items, uint64_t bytes)
{
    p->total = items;
    p->total_bytes = bytes;
}

/* n with thousands separators. */
static const char *grouped(uint64_t n, char *buf, size_t cap)
{
    char raw[32];
    int len = snprintf(raw, sizeof(raw), "%llu", (unsigned long long)n), o = 0;
    for (int i = 0; i < len && o + 2 < (int)cap; i++) {
        if (i && (len - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = raw[i];
    }
    buf[o] = '\0';
    return buf;
}

static void draw(struct progress *p, double now)
{
    char line[512], a[32], b[32], c[32];
    double secs = now - p->t0, frac = -1;
    int o;

    o = snprintf(line, sizeof(line), "\r\033[K%s:", p->label);
    if (p->unit) {
        o += snprintf(line + o, sizeof(line) - (size_t)o, " %s", grouped(p->items, a, sizeof(a)));
        if (p->total) {
            o += snprintf(line + o, sizeof(line) - (size_t)o, " of %s",
                          grouped(p->total, b, sizeof(b)));
            frac = (double)p->items / (double)p->total;
        }
        o += snprintf(line + o, sizeof(line) - (size_t)o, " %s", p->unit);
    }
    if (p->bytes || p->total_bytes) {
        o += snprintf(line + o, sizeof(line) - (size_t)o, "%s %s", p->unit ? "," : "",
                      cli_human_bytes(p->bytes, a, sizeof(a)));
        if (p->total_bytes) {
            o += snprintf(line + o, sizeof(line) - (size_t)o, " of %s",
                          cli_human_bytes(p->total_bytes, b, sizeof(b)));
            if (frac < 0)
                frac = (double)p->bytes / (double)p->total_bytes;
        }
    }
    if (frac >= 0) {
        frac = frac > 1 ? 1 : frac;
        o += snprintf(line + o, sizeof(line) - (size_t)o, " (%.0f%%)", frac * 100);
    }
    if (secs >= 0.5) {
        if (p->bytes)
            o += snprintf(line + o, sizeof(line) - (size_t)o, ", %s/s",
                          cli_human_bytes((uint64_t)((double)p->bytes / secs), a, sizeof(a)));
        else if (p->unit)
            o += snprintf(line + o, sizeof(line) - (size_t)o, ", %s %s/s",
                          grouped((uint64_t)((double)p->items / secs), a, sizeof(a)), p->unit);
    }
    o += snprintf(line + o, sizeof(line) - (size_t)o, "%s%s", line[o - 1] == ':' ? " " : ", ",
                  cli_human_secs((uint64_t)secs, c, sizeof(c)));
    if (frac > 0.001 && frac < 1 && secs >= 1)
        o += snprintf(line + o, sizeof(line) - (size_t)o, ", %s left",
                      cli_human_secs((uint64_t)(secs * (1 - frac) / frac + 0.5), c, sizeof(c)));
    if (o >= (int)sizeof(line))
        o = (int)sizeof(line) - 1;
    /* never wrap: a wrapped line cannot be redrawn in place */
    struct winsize ws;
    if (ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 8 && o - 4 >= ws.ws_col)
        o = ws.ws_col - 1 + 4; /* the 4 bytes of "\r\033[K" take no column */
    line[o] = '\0';
    fflush(stdout);
    fputs(line, stderr);
    p->drawn = true;
    p->last = now;
}

void progress_update(struct progress *p, uint64_t items, uint64_t bytes)
{
    p->items = items;
    p->bytes = bytes;
    if (!p->on)
        return;
    double now = cli_now();
    if (p->last < 0 || now - p->last >= REDRAW_SECS)
        draw(p, now);
}

void progress_clear(struct progress *p)
{
    if (p->drawn) {
        fputs("\r\033[K", stderr);
        p->drawn = false;
        p->last = -1; /* the next update draws it again at once */
    }
}

void progress_end(struct progress *p)
{
    progress_clear(p);
    p->on = false;
    if (active == p)
        active = NULL;
}

void progress_clear_active(void)
{
    if (active)
        progress_clear(active);
}
