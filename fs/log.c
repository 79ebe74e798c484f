/*
 * log.c - where the FUSE layer and the daemon say what happened.
 *
 * In the foreground (-f) lines go to stderr with a timestamp; a daemon
 * writes to syslog (facility daemon, tag "sopfs").  Under systemd (the
 * environment has JOURNAL_STREAM, NOTIFY_SOCKET or INVOCATION_ID) stderr is
 * the journal, so each line starts with sd-daemon(3)'s "<N>" priority
 * prefix and carries no timestamp (journald keeps its own).  LOG_DEBUG lines are
 * written only with -o debug.  Safe from any thread: one fprintf per line.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>
#include <time.h>

static bool log_syslog;
static bool log_debug;
static bool log_journal;

bool fs_log_to_journal(void)
{
    return getenv("JOURNAL_STREAM") || getenv("NOTIFY_SOCKET") || getenv("INVOCATION_ID");
}

void fs_log_init(bool use_syslog, bool debug)
{
    log_syslog = use_syslog;
    log_debug = debug;
    log_journal = fs_log_to_journal();
    if (use_syslog)
        openlog("sopfs", LOG_PID, LOG_DAEMON);
}

bool fs_log_debug_enabled(void)
{
    return log_debug;
}

static const char *prio_name(int prio)
{
    switch (prio) {
    case LOG_EMERG:
    case LOG_ALERT:
    case LOG_CRIT:
    case LOG_ERR:
        return "error";
    case LOG_WARNING:
        return "warning";
    case LOG_NOTICE:
    case LOG_INFO:
        return "info";
    default:
        return "debug";
    }
}

void fs_log(int prio, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    if (prio == LOG_DEBUG && !log_debug)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (log_syslog) {
        syslog(prio, "%s", msg);
        return;
    }
    if (log_journal) {
        fprintf(stderr, "<%d>%s\n", prio, msg);
        return;
    }
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    fprintf(stderr, "sopfs %02d:%02d:%02d.%03ld %s: %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
            ts.tv_nsec / 1000000, prio_name(prio), msg);
}
