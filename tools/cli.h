/*
 * cli.h - helpers shared by the modules of the `sop` command: error reports
 * that say what failed and why, opening a database folder, number parsing,
 * a monotonic clock, and the text codecs of the dump format (key escaping,
 * base64).
 *
 * The command includes no engine header but sop.h.  Every command returns
 * its exit status: 0 success, 1 failure (the reason printed), 2 usage error.
 */
#ifndef SOP_TOOLS_CLI_H
#define SOP_TOOLS_CLI_H

#include "sop.h"

#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* A subcommand: `run` gets argv starting at the subcommand's name. */
struct cli_cmd {
    const char *name;
    const char *synopsis; /* one line: arguments and options */
    const char *summary;  /* one line: what it does */
    const char *help;     /* the rest of `sop help NAME`, or NULL */
    int (*run)(int argc, char **argv);
};

/* Print "sop: MESSAGE" and a newline to stderr. */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Report an engine error: "sop: WHAT: <sop_strerror(rc)> (<errmsg>)", where
 * errmsg is sop_txn_errmsg(t) when t is not NULL and says something, else
 * sop_db_errmsg(db) (either may be NULL).  Returns CLI_FAIL.
 */
int cli_fail(sop_db *db, sop_txn *t, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The command named `name`, or NULL (the table is in sop.c). */
const struct cli_cmd *cli_find(const char *name);

/* Print "sop: MESSAGE", the usage line of command `name` and a hint to
 * stderr; returns CLI_USAGE. */
int cli_usage(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Parse the options of command `name` with getopt_long (GNU: options and
 * arguments may mix; "--" ends the options).  Returns the option character,
 * -1 at the end (optind then indexes the first argument), or '?' after
 * printing the usage of `name` for an unknown option or a missing argument.
 */
int cli_getopt(const char *name, int argc, char **argv, const char *shortopts,
               const struct option *longopts);

/*
 * Open the database in `dir`.  Unless `create`, the folder must exist
 * already (sop_db_open would create it: a typo must not make an empty
 * database).  Returns CLI_OK or CLI_FAIL, the reason printed.
 */
int cli_open_db(const char *dir, bool create, sop_db **out);

/*
 * Open the database in `dir` read-only, changing nothing in the folder
 * (sop_db_open_salvage): for commands that only look (stats, du).  The
 * folder must hold a database.  When another process holds it, says so,
 * and when that is a sopfs mount (/proc/self/mounts), names the mountpoint
 * and what to run instead: `hint` followed by the mountpoint (hint e.g.
 * "sop stats").  Returns CLI_OK or CLI_FAIL, the reason printed.
 */
int cli_open_db_readonly(const char *dir, const char *cmd, const char *hint, sop_db **out);

/* The mountpoint of the sopfs mount of data folder `dir` into mnt (cap
 * bytes); false when there is none (or /proc cannot tell). */
bool cli_sopfs_mountpoint(const char *dir, char *mnt, size_t cap);

/* Bytes of the regular files directly in dir (a database folder is flat;
 * 0 when it does not open), and of those the segment files (*.seg, *.val)
 * into *segs (NULL: not wanted). */
uint64_t cli_folder_bytes(const char *dir, uint64_t *segs);
/* `n` bytes in words for people: "512 B", "1.5 KiB", "3.25 GiB" (into buf). */
const char *cli_human_bytes(uint64_t n, char *buf, size_t cap);
/* Seconds as "42 s", "3 min 05 s", "2 h 01 min", "3 d 04 h" (into buf). */
const char *cli_human_secs(uint64_t s, char *buf, size_t cap);
/* Write s as a JSON string (quotes, escapes) to f. */
void cli_json_string(FILE *f, const char *s);

/* Parse a whole decimal number in [min, max]; with `suffixes`, K, M, G
 * (powers of 1024) may follow.  Returns false on any junk or overflow. */
bool cli_parse_u64(const char *s, uint64_t min, uint64_t max, bool suffixes, uint64_t *out);

/* Seconds on the monotonic clock. */
double cli_now(void);

/* Long commands (the benches) stop at SIGINT/SIGTERM and clean up: the
 * signal's number lands in cli_signal; the previous handlers are saved. */
extern volatile sig_atomic_t cli_signal;
void cli_catch_signals(struct sigaction *old_int, struct sigaction *old_term);
/* Remove a folder tree, never crossing into a mount point left mounted. */
void cli_rm_tree(const char *path);

/* Write `len` bytes to `f`, escaped as in dump keys: bytes outside
 * 0x21..0x7e, and '\' and '#', as \xHH.  Returns false on write error. */
bool cli_escape_write(FILE *f, const void *data, size_t len);

/* Undo cli_escape_write in place: `s` (length *len) becomes raw bytes and
 * *len their count.  Returns false on a malformed escape. */
bool cli_unescape(char *s, size_t *len);

/* Base64 (RFC 4648, with padding).  Encoding `n` bytes writes
 * cli_b64_len(n) characters (no NUL). */
size_t cli_b64_len(size_t n);
void cli_b64_encode(const void *in, size_t n, char *out);

/* Streaming base64 decoder: feed it characters, it emits bytes. */
struct cli_b64dec {
    uint32_t acc; /* bits collected */
    int nbits;    /* how many valid bits in acc: 0, 6, 12 or 18 */
    bool pad;     /* '=' seen: only the rest of the padding may follow */
    int need;     /* '=' still expected */
};
/* Decode `n` characters from `in` into `out` (room for n*3/4+3 bytes);
 * *outn gets the bytes written.  Returns false on a bad character. */
bool cli_b64_decode(struct cli_b64dec *d, const char *in, size_t n, uint8_t *out, size_t *outn);
/* Check the input ended on a whole group.  Returns false if not. */
bool cli_b64_finish(const struct cli_b64dec *d);

/* inspect.c */
int cli_cmd_stats(int argc, char **argv);
int cli_cmd_du(int argc, char **argv);
extern const char cli_stats_help[];
extern const char cli_du_help[];

/* dump.c */
int cli_cmd_dump(int argc, char **argv);
int cli_cmd_load(int argc, char **argv);
extern const char cli_dump_help[];

#endif /* SOP_TOOLS_CLI_H */
