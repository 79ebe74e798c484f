/*
 * cli.c - helpers shared by the modules of the `sop` command (see cli.h):
 * error reports, database opening, option and number parsing, the clock,
 * and the text codecs of the dump format.
 *
 * Nothing here keeps state between calls but the streaming base64 decoder,
 * whose state the caller holds.
 */
#define _GNU_SOURCE /* nftw */
#include "config.h"

#include "cli.h"
#include "progress.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

void cli_err(const char *fmt, ...)
{
    va_list ap;

    progress_clear_active();
    fflush(stdout);
    fputs("sop: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_fail(sop_db *db, sop_txn *t, int rc, const char *fmt, ...)
{
    const char *msg = NULL;
    va_list ap;

    if (t) {
        msg = sop_txn_errmsg(t);
    }
    if ((!msg || !msg[0]) && db) {
        msg = sop_db_errmsg(db);
    }
    progress_clear_active();
    fflush(stdout);
    fputs("sop: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, ": %s", sop_strerror(rc));
    if (msg && msg[0]) {
        fprintf(stderr, " (%s)", msg);
    }
    fputc('\n', stderr);
    return CLI_FAIL;
}

int cli_usage(const char *name, const char *fmt, ...)
{
    const struct cli_cmd *cmd = cli_find(name);
    va_list ap;

    fflush(stdout);
    fputs("sop: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (cmd) {
        fprintf(stderr, "usage: sop %s %s\nTry 'sop help %s'.\n", cmd->name, cmd->synopsis,
                cmd->name);
    } else {
        fputs("Try 'sop help'.\n", stderr);
    }
    return CLI_USAGE;
}

int cli_getopt(const char *name, int argc, char **argv, const char *shortopts,
               const struct option *longopts)
{
    int c;

    opterr = 0;
    c = getopt_long(argc, argv, shortopts, longopts, NULL);
    if (c == '?' || c == ':') {
        const char *bad = optind > 0 && optind - 1 < argc ? argv[optind - 1] : "?";
        const char *sp = optopt > 0 && optopt < 128 ? strchr(shortopts, optopt) : NULL;

        if (sp && sp[1] == ':') {
            cli_usage(name, "%s: option '%s' needs an argument", name, bad);
        } else {
            cli_usage(name, "%s: unknown option or missing argument '%s'", name, bad);
        }
        return '?';
    }
    return c;
}

int cli_open_db(const char *dir, bool create, sop_db **out)
{
    struct stat st;
    int rc;

    *out = NULL;
    if (!create) {
        char marker[4200];
        if (stat(dir, &st) != 0) {
            cli_err("%s: %s (no database there)", dir, strerror(errno));
            return CLI_FAIL;
        }
        if (!S_ISDIR(st.st_mode)) {
            cli_err("%s: not a folder (a database is a folder)", dir);
            return CLI_FAIL;
        }
        /* a command that only reads must not make a database of any folder */
        snprintf(marker, sizeof(marker), "%s/SOP", dir);
        if (stat(marker, &st) != 0) {
            cli_err("%s: not a sop database (it has no SOP file); nothing was changed", dir);
            return CLI_FAIL;
        }
    }
    rc = sop_db_open(dir, NULL, out);
    if (rc != SOP_OK) {
        const char *why = sop_open_errmsg();
        char mnt[4096];
        *out = NULL;
        if (rc == SOP_EBUSY && cli_sopfs_mountpoint(dir, mnt, sizeof(mnt))) {
            cli_err("open database %s: %s: %s; sopfs has it mounted on %s: work through the "
                    "mount, or unmount it first (fusermount3 -u %s)",
                    dir, sop_strerror(rc), why, mnt, mnt);
        } else {
            cli_err("open database %s: %s%s%s", dir, sop_strerror(rc), why && *why ? ": " : "",
                    why ? why : "");
        }
        return CLI_FAIL;
    }
    return CLI_OK;
}

/* A field of /proc/self/mounts, octal escapes (\040 for a space) undone in
 * place. */
static void unescape_mounts(char *s)
{
    char *o = s;
    for (; *s; s++) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
            s[3] >= '0' && s[3] <= '7') {
            *o++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
            s += 3;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
}

bool cli_sopfs_mountpoint(const char *dir, char *mnt, size_t cap)
{
    char *real = realpath(dir, NULL), line[8192];
    bool found = false;
    FILE *f;
    if (!real) {
        return false;
    }
    /* sopfs mounts with fsname=DATA_DIR (absolute) and type fuse.sopfs */
    if ((f = fopen("/proc/self/mounts", "r")) != NULL) {
        while (!found && fgets(line, sizeof(line), f)) {
            char *save = NULL, *src = strtok_r(line, " ", &save);
            char *at = strtok_r(NULL, " ", &save), *type = strtok_r(NULL, " ", &save);
            if (!src || !at || !type || strcmp(type, "fuse.sopfs") != 0) {
                continue;
            }
            unescape_mounts(src);
            unescape_mounts(at);
            if (strcmp(src, real) == 0) {
                snprintf(mnt, cap, "%s", at);
                found = true;
            }
        }
        fclose(f);
    }
    free(real);
    return found;
}

int cli_open_db_readonly(const char *dir, const char *cmd, const char *hint, sop_db **out)
{
    struct stat st;
    char marker[4200], mnt[4096];
    int rc;

    *out = NULL;
    if (stat(dir, &st) != 0) {
        cli_err("%s %s: %s (no database there)", cmd, dir, strerror(errno));
        return CLI_FAIL;
    }
    if (!S_ISDIR(st.st_mode)) {
        cli_err("%s %s: not a folder (a database is a folder)", cmd, dir);
        return CLI_FAIL;
    }
    snprintf(marker, sizeof(marker), "%s/SOP", dir);
    if (stat(marker, &st) != 0) {
        cli_err("%s %s: not a sop database (it has no SOP file)", cmd, dir);
        return CLI_FAIL;
    }
    rc = sop_db_open_salvage(dir, out);
    if (rc == SOP_OK) {
        return CLI_OK;
    }
    *out = NULL;
    if (rc == SOP_EBUSY && cli_sopfs_mountpoint(dir, mnt, sizeof(mnt))) {
        cli_err("%s %s: the database is in use: sopfs has it mounted on %s; run `%s %s`", cmd, dir,
                mnt, hint, mnt);
    } else if (rc == SOP_EBUSY) {
        cli_err("%s %s: the database is in use by another process (%s); try again once it "
                "has closed it",
                cmd, dir, sop_open_errmsg());
    } else {
        cli_err("%s %s: open the database: %s: %s", cmd, dir, sop_strerror(rc), sop_open_errmsg());
    }
    return CLI_FAIL;
}

const char *cli_human_bytes(uint64_t n, char *buf, size_t cap)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double v = (double)n;
    int u = 0;

    if (n < 1024) {
        snprintf(buf, cap, "%llu B", (unsigned long long)n);
        return buf;
    }
    while (v >= 1024 && u < 6) {
        v /= 1024;
        u++;
    }
    snprintf(buf, cap, v < 10 ? "%.2f %s" : v < 100 ? "%.1f %s" : "%.0f %s", v, units[u]);
    return buf;
}

const char *cli_human_secs(uint64_t s, char *buf, size_t cap)
{
    if (s < 60) {
        snprintf(buf, cap, "%llu s", (unsigned long long)s);
    } else if (s < 3600) {
        snprintf(buf, cap, "%llu min %02llu s", (unsigned long long)(s / 60),
                 (unsigned long long)(s % 60));
    } else if (s < 86400) {
        snprintf(buf, cap, "%llu h %02llu min", (unsigned long long)(s / 3600),
                 (unsigned long long)(s % 3600 / 60));
    } else {
        snprintf(buf, cap, "%llu d %02llu h", (unsigned long long)(s / 86400),
                 (unsigned long long)(s % 86400 / 3600));
    }
    return buf;
}

/* The length of the valid UTF-8 sequence at s (1..4), or 0. */
static size_t utf8_len(const unsigned char *s)
{
    size_t n = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (s[0] >= 0xf5) {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
    }
    return n;
}

void cli_json_string(FILE *f, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    fputc('"', f);
    while (*s) {
        size_t n;
        if (*s == '"' || *s == '\\') {
            fprintf(f, "\\%c", *s++);
        } else if (*s < 0x20 || *s == 0x7f) {
            fprintf(f, "\\u%04x", *s++);
        } else if (*s < 0x80) {
            fputc(*s++, f);
        } else if ((n = utf8_len(s)) != 0) {
            fwrite(s, 1, n, f);
            s += n;
        } else { /* not UTF-8: the byte as the code point of its value */
            fprintf(f, "\\u%04x", *s++);
        }
    }
    fputc('"', f);
}

bool cli_parse_u64(const char *s, uint64_t min, uint64_t max, bool suffixes, uint64_t *out)
{
    unsigned long long v;
    uint64_t mul = 1;
    char *end;

    if (!s || *s < '0' || *s > '9') {
        return false;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0) {
        return false;
    }
    if (suffixes && *end) {
        switch (*end) {
        case 'k':
        case 'K':
            mul = 1024;
            break;
        case 'm':
        case 'M':
            mul = 1024 * 1024;
            break;
        case 'g':
        case 'G':
            mul = 1024 * 1024 * 1024;
            break;
        default:
            return false;
        }
        end++;
        if (*end == 'i' && end[1] == 'B') {
            end += 2;
        } else if (*end == 'B') {
            end++;
        }
    }
    if (*end) {
        return false;
    }
    if (v > UINT64_MAX / mul) {
        return false;
    }
    v *= mul;
    if (v < min || v > max) {
        return false;
    }
    *out = v;
    return true;
}

double cli_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool escape_plain(uint8_t b)
{
    return b > 0x20 && b < 0x7f && b != '\\' && b != '#';
}

bool cli_escape_write(FILE *f, const void *data, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *p = data;
    size_t i = 0;

    while (i < len) {
        size_t run = i;

        while (run < len && escape_plain(p[run])) {
            run++;
        }
        if (run > i && fwrite(p + i, 1, run - i, f) != run - i) {
            return false;
        }
        i = run;
        if (i < len) {
            char e[4] = {'\\', 'x', hex[p[i] >> 4], hex[p[i] & 15]};

            if (fwrite(e, 1, sizeof(e), f) != sizeof(e)) {
                return false;
            }
            i++;
        }
    }
    return true;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

bool cli_unescape(char *s, size_t *len)
{
    size_t i, o = 0;

    for (i = 0; i < *len; i++) {
        if (s[i] != '\\') {
            s[o++] = s[i];
            continue;
        }
        if (*len - i < 4 || s[i + 1] != 'x' || hexval(s[i + 2]) < 0 || hexval(s[i + 3]) < 0) {
            return false;
        }
        s[o++] = (char)(hexval(s[i + 2]) << 4 | hexval(s[i + 3]));
        i += 3;
    }
    *len = o;
    return true;
}

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t cli_b64_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

void cli_b64_encode(const void *in, size_t n, char *out)
{
    const uint8_t *p = in;
    size_t i;

    for (i = 0; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

        *out++ = b64chars[v >> 18];
        *out++ = b64chars[(v >> 12) & 63];
        *out++ = b64chars[(v >> 6) & 63];
        *out++ = b64chars[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;

        *out++ = b64chars[v >> 18];
        *out++ = b64chars[(v >> 12) & 63];
        *out++ = '=';
        *out++ = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;

        *out++ = b64chars[v >> 18];
        *out++ = b64chars[(v >> 12) & 63];
        *out++ = b64chars[(v >> 6) & 63];
        *out++ = '=';
    }
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+') {
        return 62;
    }
    if (c == '/') {
        return 63;
    }
    return -1;
}

bool cli_b64_decode(struct cli_b64dec *d, const char *in, size_t n, uint8_t *out, size_t *outn)
{
    size_t i, o = 0;

    for (i = 0; i < n; i++) {
        int v;

        if (in[i] == '=') {
            /* "xx==" and "xxx=" end the input; nothing but the rest of the padding may follow */
            if (!d->pad && d->nbits == 18) {
                out[o++] = (uint8_t)(d->acc >> 10);
                out[o++] = (uint8_t)(d->acc >> 2);
                d->need = 0;
            } else if (!d->pad && d->nbits == 12) {
                out[o++] = (uint8_t)(d->acc >> 4);
                d->need = 1;
            } else if (d->pad && d->need == 1) {
                d->need = 0;
            } else {
                return false;
            }
            d->pad = true;
            d->acc = 0;
            d->nbits = 0;
            continue;
        }
        v = b64val(in[i]);
        if (v < 0 || d->pad) {
            return false;
        }
        d->acc = d->acc << 6 | (uint32_t)v;
        d->nbits += 6;
        if (d->nbits == 24) {
            out[o++] = (uint8_t)(d->acc >> 16);
            out[o++] = (uint8_t)(d->acc >> 8);
            out[o++] = (uint8_t)d->acc;
            d->acc = 0;
            d->nbits = 0;
        }
    }
    *outn = o;
    return true;
}

bool cli_b64_finish(const struct cli_b64dec *d)
{
    return d->nbits == 0 && d->need == 0;
}

volatile sig_atomic_t cli_signal;

static void on_signal(int sig)
{
    cli_signal = sig;
}

void cli_catch_signals(struct sigaction *old_int, struct sigaction *old_term)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, old_int);
    sigaction(SIGTERM, &sa, old_term);
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void cli_rm_tree(const char *path)
{
    nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

uint64_t cli_folder_bytes(const char *dir, uint64_t *segs)
{
    uint64_t total = 0, sg = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    if (d) {
        while ((e = readdir(d)) != NULL) {
            struct stat st;
            char p[4608];
            size_t l = strlen(e->d_name);
            snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
            if (stat(p, &st) != 0 || !S_ISREG(st.st_mode))
                continue;
            total += (uint64_t)st.st_size;
            if (l > 4 && (!strcmp(e->d_name + l - 4, ".seg") || !strcmp(e->d_name + l - 4, ".val")))
                sg += (uint64_t)st.st_size;
        }
        closedir(d);
    }
    if (segs)
        *segs = sg;
    return total;
}
