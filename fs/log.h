/*
 * log.h - where the FUSE layer and the daemon say what happened (log.c).
 */
#ifndef SOPFS_LOG_H
#define SOPFS_LOG_H

#include <stdbool.h>
#include <syslog.h> /* the priorities, LOG_ERR ... LOG_DEBUG */

/* stderr when foreground, syslog otherwise; LOG_DEBUG
 * lines only with -o debug.  Priorities are syslog's. */
void fs_log_init(bool use_syslog, bool debug);
/* Run by systemd (JOURNAL_STREAM, NOTIFY_SOCKET or INVOCATION_ID set):
 * stderr is the journal, and lines carry sd-daemon's "<N>" prefix. */
bool fs_log_to_journal(void);
bool fs_log_debug_enabled(void);
void fs_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif /* SOPFS_LOG_H */
