/*
 * inspect.c - `sop stats` and `sop du`: what a database holds and does, for
 * people (aligned tables, bytes in KiB/MiB/GiB) and for scripts (--json,
 * raw numbers).
 *
 * stats takes a data folder or a sopfs mountpoint.  A folder is opened
 * read-only (sop_db_open_salvage: nothing in it changes) and shows what
 * sop.h tells of it: stores and their item counts, the log (sop_db_reclaim_info),
 * the disk (sop_db_get_space), the last commit (sop_db_get_stats); counters
 * that count what happened since an open (cache hits, cleaner rounds) are
 * in the JSON only, being zero here.  A mount (MNT/.sop-stats exists: the
 * root of a sopfs mount answers it, though it is never listed) is read
 * through that file, whose lines are `name: number` (fs/scope.c) plus
 * `recovery: text` lines.  The names are the same in both, so a script can
 * read either.
 *
 * du opens a folder the same way and prints sop_db_usage: every segment
 * file with its size, live and dead bytes and whether the cleaner takes it
 * now, every store with what its data takes, and what the cleaner and a
 * compaction would give back.
 */
#include "config.h"

#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ------------------------------------------------------------- a table */

/* One `name value` row of the stats table: the unit says how to show it. */
enum unit { U_COUNT, U_BYTES, U_SECS };

struct row {
    char name[64];
    uint64_t v;
    enum unit unit;
};

struct rows {
    struct row *v;
    size_t n, cap;
    char **recovery; /* `recovery:` lines */
    size_t nrec, caprec;
};

static enum unit unit_of(const char *name)
{
    if (strstr(name, "bytes") || !strcmp(name, "disk_free") || !strcmp(name, "disk_reserve") ||
        !strcmp(name, "disk_total") || !strcmp(name, "cache_budget"))
        return U_BYTES;
    size_t l = strlen(name);
    if (l > 2 && !strcmp(name + l - 2, "_s"))
        return U_SECS;
    return U_COUNT;
}

static bool rows_add(struct rows *r, const char *name, uint64_t v)
{
    if (r->n == r->cap) {
        size_t c = r->cap ? r->cap * 2 : 64;
        struct row *p = realloc(r->v, c * sizeof(*p));
        if (!p)
            return false;
        r->v = p;
        r->cap = c;
    }
    struct row *w = &r->v[r->n++];
    snprintf(w->name, sizeof(w->name), "%s", name);
    w->v = v;
    w->unit = unit_of(name);
    return true;
}

static bool rows_recovery(struct rows *r, const char *text)
{
    if (r->nrec == r->caprec) {
        size_t c = r->caprec ? r->caprec * 2 : 8;
        char **p = realloc(r->recovery, c * sizeof(*p));
        if (!p)
            return false;
        r->recovery = p;
        r->caprec = c;
    }
    return (r->recovery[r->nrec] = strdup(text)) != NULL && ++r->nrec;
}

static void rows_free(struct rows *r)
{
    for (size_t i = 0; i < r->nrec; i++)
        free(r->recovery[i]);
    free(r->recovery);
    free(r->v);
}

static void print_rows(const struct rows *r, bool json)
{
    char buf[64];
    if (json) {
        printf("  \"stats\": {");
        for (size_t i = 0; i < r->n; i++) {
            printf("%s\n    ", i ? "," : "");
            cli_json_string(stdout, r->v[i].name);
            printf(": %" PRIu64, r->v[i].v);
        }
        printf("\n  },\n  \"recovery\": [");
        for (size_t i = 0; i < r->nrec; i++) {
            printf("%s\n    ", i ? "," : "");
            cli_json_string(stdout, r->recovery[i]);
        }
        printf("%s]", r->nrec ? "\n  " : "");
        return;
    }
    int w = 4;
    for (size_t i = 0; i < r->n; i++)
        if ((int)strlen(r->v[i].name) > w)
            w = (int)strlen(r->v[i].name);
    for (size_t i = 0; i < r->n; i++) {
        const struct row *x = &r->v[i];
        if (x->unit == U_BYTES)
            printf("%-*s %12s\n", w, x->name, cli_human_bytes(x->v, buf, sizeof(buf)));
        else if (x->unit == U_SECS)
            printf("%-*s %12s\n", w, x->name, cli_human_secs(x->v, buf, sizeof(buf)));
        else
            printf("%-*s %12" PRIu64 "\n", w, x->name, x->v);
    }
    for (size_t i = 0; i < r->nrec; i++)
        printf("recovery: %s\n", r->recovery[i]);
}

/* ------------------------------------------------------------- stats */

/* Read MNT/.sop-stats into r. */
static int stats_of_mount(const char *mnt, const char *path, struct rows *r)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    if (!f) {
        cli_err("stats %s: open %s: %s", mnt, path, strerror(errno));
        return CLI_FAIL;
    }
    while (fgets(line, sizeof(line), f)) {
        char *colon = strchr(line, ':'), *end;
        size_t l = strlen(line);
        if (l && line[l - 1] == '\n')
            line[--l] = '\0';
        if (!colon)
            continue;
        *colon = '\0';
        const char *val = colon + 1 + (colon[1] == ' ');
        if (!strcmp(line, "recovery")) {
            if (!rows_recovery(r, val))
                goto nomem;
            continue;
        }
        errno = 0;
        unsigned long long v = strtoull(val, &end, 10);
        if (errno || end == val || *end) {
            continue; /* a line of another kind, from a newer sopfs: not a number */
        }
        if (!rows_add(r, line, v))
            goto nomem;
    }
    if (ferror(f)) {
        cli_err("stats %s: read %s: %s", mnt, path, strerror(errno));
        fclose(f);
        return CLI_FAIL;
    }
    fclose(f);
    return CLI_OK;
nomem:
    fclose(f);
    cli_err("stats: out of memory");
    return CLI_FAIL;
}

struct store_count {
    char *name;
    uint64_t items;
};

struct store_list {
    struct store_count *v;
    size_t n, cap;
};

static int list_one(const char *name, void *arg)
{
    struct store_list *l = arg;
    if (l->n == l->cap) {
        size_t c = l->cap ? l->cap * 2 : 16;
        struct store_count *p = realloc(l->v, c * sizeof(*p));
        if (!p)
            return SOP_ENOMEM;
        l->v = p;
        l->cap = c;
    }
    if (!(l->v[l->n].name = strdup(name)))
        return SOP_ENOMEM;
    l->v[l->n++].items = 0;
    return 0;
}

static bool hidden(const char *name)
{
    return !strncmp(name, ".sop", 4);
}

/* The stores of db and their counts, in one read transaction. */
static int count_stores(sop_db *db, const char *dir, struct store_list *l)
{
    sop_txn *t;
    int rc = sop_txn_begin(db, SOP_TXN_READ, &t);
    if (rc != SOP_OK)
        return cli_fail(db, NULL, rc, "stats %s: begin a read transaction", dir);
    rc = sop_store_list(t, list_one, l);
    if (rc != SOP_OK) {
        cli_fail(db, t, rc, "stats %s: list the stores", dir);
        sop_txn_rollback(t);
        return CLI_FAIL;
    }
    for (size_t i = 0; i < l->n; i++) {
        sop_store *s;
        if ((rc = sop_store_open(t, l->v[i].name, &s)) != SOP_OK ||
            (rc = sop_store_count(s, &l->v[i].items)) != SOP_OK) {
            cli_fail(db, t, rc, "stats %s: count store '%s'", dir, l->v[i].name);
            sop_txn_rollback(t);
            return CLI_FAIL;
        }
    }
    sop_txn_rollback(t);
    return CLI_OK;
}

static int stats_of_folder(const char *dir, sop_db *db, struct rows *r, struct store_list *l)
{
    sop_db_stats ds;
    sop_db_space sp;
    sop_reclaim_info ri;
    int rc;
    if (count_stores(db, dir, l) != CLI_OK)
        return CLI_FAIL;
    if ((rc = sop_db_get_stats(db, &ds)) != SOP_OK)
        return cli_fail(db, NULL, rc, "stats %s: engine counters", dir);
    if ((rc = sop_db_get_space(db, &sp)) != SOP_OK)
        return cli_fail(db, NULL, rc, "stats %s: disk space", dir);
    if ((rc = sop_db_reclaim_info(db, &ri)) != SOP_OK)
        return cli_fail(db, NULL, rc, "stats %s: the log's segments", dir);
    uint64_t stores = 0, items = 0, hid = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (hidden(l->v[i].name)) {
            hid++;
            continue;
        }
        stores++;
        items += l->v[i].items;
    }
    bool ok = rows_add(r, "stores", stores) && rows_add(r, "hidden_stores", hid) &&
              rows_add(r, "items", items) && rows_add(r, "last_commit_seq", ds.seq) &&
              rows_add(r, "log_segments", ri.log_segments) &&
              rows_add(r, "log_segment_bytes", ri.log_bytes) &&
              rows_add(r, "log_live_bytes", ri.live_bytes) &&
              rows_add(r, "log_dead_bytes",
                       ri.log_bytes > ri.live_bytes ? ri.log_bytes - ri.live_bytes : 0) &&
              rows_add(r, "value_segments", sp.value_segments) &&
              rows_add(r, "disk_free", sp.disk_free) && rows_add(r, "disk_total", sp.disk_total) &&
              rows_add(r, "disk_reserve", sp.reserve) &&
              rows_add(r, "cache_budget", ds.cache_budget);
    const char *rep = sop_db_recovery_report(db);
    for (const char *p = rep; ok && *p;) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char *line = strndup(p, n);
        ok = line && rows_recovery(r, line);
        free(line);
        p += n + (e != NULL);
    }
    if (!ok) {
        cli_err("stats: out of memory");
        return CLI_FAIL;
    }
    return CLI_OK;
}

int cli_cmd_stats(int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
    struct rows r = {0};
    struct store_list l = {0};
    bool json = false;
    sop_db *db = NULL;
    char path[4200];
    struct stat st;
    int c, ret;

    optind = 1;
    while ((c = cli_getopt(argv[0], argc, argv, "", opts)) != -1) {
        if (c != 'j')
            return CLI_USAGE;
        json = true;
    }
    if (argc - optind != 1)
        return cli_usage(argv[0], "stats: needs one DIR or MNT");
    const char *where = argv[optind];
    snprintf(path, sizeof(path), "%s/.sop-stats", where);
    bool mount = stat(path, &st) == 0 && S_ISREG(st.st_mode);
    if (mount) {
        ret = stats_of_mount(where, path, &r);
    } else {
        snprintf(path, sizeof(path), "%s/SOP", where);
        if (stat(where, &st) == 0 && S_ISDIR(st.st_mode) && stat(path, &st) != 0) {
            cli_err("stats %s: neither a sop data folder (no SOP file) nor the root of a sopfs "
                    "mount (no .sop-stats)",
                    where);
            return CLI_FAIL;
        }
        ret = cli_open_db_readonly(where, "stats", "sop stats", &db);
        if (ret == CLI_OK)
            ret = stats_of_folder(where, db, &r, &l);
    }
    if (ret != CLI_OK)
        goto out;
    if (json) {
        printf("{\n  \"source\": \"%s\",\n  \"%s\": ", mount ? "mount" : "folder",
               mount ? "mountpoint" : "path");
        cli_json_string(stdout, where);
        printf(",\n");
        if (!mount)
            printf("  \"id\": \"%s\",\n", sop_db_id(db));
        print_rows(&r, true);
        if (!mount) {
            printf(",\n  \"stores\": [");
            for (size_t i = 0; i < l.n; i++) {
                printf("%s\n    {\"name\": ", i ? "," : "");
                cli_json_string(stdout, l.v[i].name);
                printf(", \"items\": %" PRIu64 ", \"hidden\": %s}", l.v[i].items,
                       hidden(l.v[i].name) ? "true" : "false");
            }
            printf("%s]", l.n ? "\n  " : "");
        }
        printf("\n}\n");
    } else {
        printf("%s %s\n", mount ? "sopfs mount" : "data folder", where);
        if (!mount)
            printf("database id %s\n", *sop_db_id(db) ? sop_db_id(db) : "(none yet)");
        print_rows(&r, false);
        size_t shown = 0;
        for (size_t i = 0; i < l.n; i++)
            if (!hidden(l.v[i].name))
                shown++;
        if (shown) {
            int w = 5;
            for (size_t i = 0; i < l.n; i++)
                if (!hidden(l.v[i].name) && (int)strlen(l.v[i].name) > w)
                    w = (int)strlen(l.v[i].name);
            printf("\n%-*s %12s\n", w, "store", "items");
            for (size_t i = 0; i < l.n; i++)
                if (!hidden(l.v[i].name))
                    printf("%-*s %12" PRIu64 "\n", w, l.v[i].name, l.v[i].items);
        }
    }
out:
    for (size_t i = 0; i < l.n; i++)
        free(l.v[i].name);
    free(l.v);
    rows_free(&r);
    sop_db_close(db);
    return ret;
}

const char cli_stats_help[] =
    "With a data folder DIR, the database is opened read-only (nothing in the\n"
    "folder changes; not while sopfs has it mounted: then stats names the\n"
    "mountpoint) and shows its id, stores and items, the last commit, the log's\n"
    "segments and their live and dead bytes, value segments, and the disk's free\n"
    "space and reserve.  With the root of a sopfs mount MNT, it shows the\n"
    "daemon's counters from MNT/.sop-stats: commits, conflicts, reads and\n"
    "writes, the engine's cache, the log and the cleaner.  Bytes are shown in\n"
    "KiB, MiB, GiB; `recovery:` lines say what recovery at open cut or skipped.\n"
    "\n"
    "  --json   one JSON object instead: {\"source\": \"folder\"|\"mount\", \"path\" or\n"
    "           \"mountpoint\", for a folder \"id\" (the database's UUID, \"\" when it\n"
    "           has none yet), \"stats\": {name: number, ...} (raw numbers, the\n"
    "           same names as the table), \"recovery\": [text, ...], and for a\n"
    "           folder \"stores\": [{\"name\", \"items\", \"hidden\"}, ...]}\n";

/* ------------------------------------------------------------- du */

struct du_row {
    char *name;
    uint64_t items, nodes, node_bytes, value_bytes, vseg_bytes;
};

struct du {
    bool json;
    size_t nseg, nst;
    FILE *sf; /* JSON: a buffer for the store rows, printed after the segments */
    /* text: the store rows, printed once the widest name is known (the
     * hidden companions of search stores are longer than their names) */
    struct du_row *rows;
    bool oom;
};

static const char *pct(uint64_t part, uint64_t whole, char *buf, size_t cap)
{
    if (!whole)
        snprintf(buf, cap, "-");
    else
        snprintf(buf, cap, "%.0f%%", 100.0 * (double)part / (double)whole);
    return buf;
}

static int du_segment(void *arg, const sop_segment_usage *u)
{
    struct du *d = arg;
    char a[32], b[32], c[32], p[16];
    uint64_t dead = u->size > u->live ? u->size - u->live : 0;
    bool val = u->kind == SOP_SEGMENT_VALUE;
    if (d->json) {
        printf("%s\n    {\"file\": \"%08" PRIu32 ".%s\", \"id\": %" PRIu32
               ", \"kind\": \"%s\", \"size\": %" PRIu64 ", \"live\": %" PRIu64
               ", \"dead\": %" PRIu64 ", \"current\": %s, \"reclaimable\": %s}",
               d->nseg ? "," : "", u->id, val ? "val" : "seg", u->id, val ? "value" : "log",
               u->size, u->live, dead, u->current ? "true" : "false",
               u->reclaimable ? "true" : "false");
    } else {
        if (!d->nseg)
            printf("%-12s %-5s %10s %10s %10s %5s  %s\n", "segment", "kind", "size", "live", "dead",
                   "live%", "reclaim");
        const char *note = u->current       ? "  (being appended to)"
                           : u->reclaimable ? "  cleaner takes it"
                                            : "";
        printf("%08" PRIu32 ".%s %-5s %10s %10s %10s %5s%s\n", u->id, val ? "val" : "seg",
               val ? "value" : "log", cli_human_bytes(u->size, a, sizeof(a)),
               cli_human_bytes(u->live, b, sizeof(b)), cli_human_bytes(dead, c, sizeof(c)),
               pct(u->live, u->size, p, sizeof(p)), note);
    }
    d->nseg++;
    return 0;
}

static int du_store(void *arg, const sop_store_usage *u)
{
    struct du *d = arg;
    uint64_t total = u->node_bytes + u->value_bytes + u->vseg_bytes;
    if (d->json) {
        fprintf(d->sf, "%s\n    {\"name\": ", d->nst ? "," : "");
        cli_json_string(d->sf, u->name);
        fprintf(d->sf,
                ", \"items\": %" PRIu64 ", \"nodes\": %" PRIu64 ", \"node_bytes\": %" PRIu64
                ", \"value_log_bytes\": %" PRIu64 ", \"value_segment_bytes\": %" PRIu64
                ", \"bytes\": %" PRIu64 "}",
                u->items, u->nodes, u->node_bytes, u->value_bytes, u->vseg_bytes, total);
    } else {
        struct du_row *v = realloc(d->rows, (d->nst + 1) * sizeof(*v));
        char *name = v ? strdup(u->name) : NULL;
        if (v)
            d->rows = v;
        if (!name) {
            d->oom = true;
            return SOP_ENOMEM;
        }
        d->rows[d->nst] =
            (struct du_row){name, u->items, u->nodes, u->node_bytes, u->value_bytes, u->vseg_bytes};
    }
    d->nst++;
    return 0;
}

/* The text table of the stores, its name column as wide as the widest. */
static void du_print_stores(const struct du *d)
{
    char a[32], b[32], c[32], e[32];
    int w = 5;
    for (size_t i = 0; i < d->nst; i++)
        if ((int)strlen(d->rows[i].name) > w)
            w = (int)strlen(d->rows[i].name);
    if (d->nst)
        printf("\n%-*s %10s %8s %10s %10s %10s %10s\n", w, "store", "items", "nodes", "in nodes",
               "values/log", "values/val", "total");
    for (size_t i = 0; i < d->nst; i++) {
        const struct du_row *r = &d->rows[i];
        printf("%-*s %10" PRIu64 " %8" PRIu64 " %10s %10s %10s %10s\n", w, r->name, r->items,
               r->nodes, cli_human_bytes(r->node_bytes, a, sizeof(a)),
               cli_human_bytes(r->value_bytes, b, sizeof(b)),
               cli_human_bytes(r->vseg_bytes, c, sizeof(c)),
               cli_human_bytes(r->node_bytes + r->value_bytes + r->vseg_bytes, e, sizeof(e)));
    }
}

static void du_free_rows(struct du *d)
{
    for (size_t i = 0; d->rows && i < d->nst; i++)
        free(d->rows[i].name);
    free(d->rows);
    d->rows = NULL;
}

int cli_cmd_du(int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
    struct du d = {0};
    sop_usage u;
    sop_db *db = NULL;
    char a[32], b[32], c[32], path[4200];
    struct stat st;
    int ch, ret, rc;

    optind = 1;
    while ((ch = cli_getopt(argv[0], argc, argv, "", opts)) != -1) {
        if (ch != 'j')
            return CLI_USAGE;
        d.json = true;
    }
    if (argc - optind != 1)
        return cli_usage(argv[0], "du: needs DIR");
    const char *dir = argv[optind];
    snprintf(path, sizeof(path), "%s/.sop-stats", dir);
    if (stat(path, &st) == 0) {
        cli_err("du %s: this is a sopfs mount; du reads the data folder with the database to "
                "itself (unmount it first), or see `sop stats %s` (log_segment_bytes, "
                "log_live_bytes)",
                dir, dir);
        return CLI_FAIL;
    }
    ret = cli_open_db_readonly(dir, "du", "sop stats", &db);
    if (ret != CLI_OK)
        return ret;
    if (!d.json) {
        printf("data folder %s\n\n", dir);
    } else {
        printf("{\n  \"path\": ");
        cli_json_string(stdout, dir);
        printf(",\n  \"segments\": [");
    }
    char *sbuf = NULL;
    size_t slen = 0;
    d.sf = d.json ? open_memstream(&sbuf, &slen) : stdout;
    if (!d.sf) {
        cli_err("du: out of memory");
        ret = CLI_FAIL;
        goto out;
    }
    sop_usage_ops ops = {du_segment, du_store};
    rc = sop_db_usage(db, &ops, &d, &u);
    if (d.json) {
        fclose(d.sf);
        if (rc == SOP_OK || rc == SOP_ECORRUPT)
            printf("%s],\n  \"stores\": [%s", d.nseg ? "\n  " : "", sbuf ? sbuf : "");
        free(sbuf);
    }
    if (d.oom) {
        fflush(stdout);
        cli_err("du %s: out of memory", dir);
        ret = CLI_FAIL;
        goto out;
    }
    if (rc != SOP_OK && rc != SOP_ECORRUPT) {
        fflush(stdout);
        ret = cli_fail(db, NULL, rc, "du %s", dir);
        goto out;
    }
    if (!d.json)
        du_print_stores(&d);
    uint64_t folder = cli_folder_bytes(dir, NULL);
    uint64_t segs = u.log_bytes + u.value_bytes, other = folder > segs ? folder - segs : 0;
    uint64_t log_dead = u.log_bytes - (u.log_live < u.log_bytes ? u.log_live : u.log_bytes);
    uint64_t val_dead =
        u.value_bytes - (u.value_live < u.value_bytes ? u.value_live : u.value_bytes);
    if (d.json) {
        printf(
            "%s],\n  \"total\": {\"log_segments\": %" PRIu32 ", \"log_bytes\": %" PRIu64
            ", \"log_live\": %" PRIu64 ", \"log_dead\": %" PRIu64 ", \"value_segments\": %" PRIu32
            ", \"value_bytes\": %" PRIu64 ", \"value_live\": %" PRIu64 ", \"value_dead\": %" PRIu64
            ", \"store_bytes\": %" PRIu64 ", \"cleaner_would_free\": %" PRIu64
            ", \"compact_would_free\": %" PRIu64 ", \"folder_bytes\": %" PRIu64
            ", \"other_bytes\": %" PRIu64 ", \"damaged\": %s}\n}\n",
            d.nst ? "\n  " : "", u.log_segments, u.log_bytes, u.log_live, log_dead,
            u.value_segments, u.value_bytes, u.value_live, val_dead, u.store_bytes, u.cleaner_bytes,
            u.compact_bytes, folder, other, rc == SOP_ECORRUPT ? "true" : "false");
    } else {
        printf("\nlog segments    %4" PRIu32 " files %10s, live %10s, dead %10s\n", u.log_segments,
               cli_human_bytes(u.log_bytes, a, sizeof(a)),
               cli_human_bytes(u.log_live, b, sizeof(b)), cli_human_bytes(log_dead, c, sizeof(c)));
        printf("value segments  %4" PRIu32 " files %10s, live %10s, dead %10s\n", u.value_segments,
               cli_human_bytes(u.value_bytes, a, sizeof(a)),
               cli_human_bytes(u.value_live, b, sizeof(b)),
               cli_human_bytes(val_dead, c, sizeof(c)));
        printf("stores                %10s  (their data, nodes counted as full images)\n",
               cli_human_bytes(u.store_bytes, a, sizeof(a)));
        printf("folder                %10s  (%s in checkpoints and other files)\n",
               cli_human_bytes(folder, a, sizeof(a)), cli_human_bytes(other, b, sizeof(b)));
        printf("the cleaner would free %9s  now (segments under half live, or with nothing "
               "live)\n",
               cli_human_bytes(u.cleaner_bytes, a, sizeof(a)));
        printf("sop compact would free %9s  (value segments stay as they are)\n",
               cli_human_bytes(u.compact_bytes, a, sizeof(a)));
    }
    ret = CLI_OK;
    if (rc == SOP_ECORRUPT) {
        fflush(stdout);
        cli_err("du %s: part of a store does not read, its bytes are not counted (%s); run "
                "`sop check %s`",
                dir, sop_db_errmsg(db), dir);
        ret = CLI_FAIL;
    }
out:
    du_free_rows(&d);
    sop_db_close(db);
    return ret;
}

const char cli_du_help[] =
    "Opens the database in DIR read-only (nothing in the folder changes; not while\n"
    "sopfs has it mounted) and shows where its space goes:\n"
    "  - every segment file: log segments (NNNNNNNN.seg, where every change is\n"
    "    appended) and value segments (NNNNNNNN.val, the whole chunks of big values\n"
    "    one transaction wrote), each with its size, its live bytes (records some\n"
    "    snapshot may read; for log segments a lower bound: older deltas of a node\n"
    "    are not counted) and dead bytes, and `cleaner takes it` where the\n"
    "    cleaner's rule picks it now (live under half its size, or nothing live);\n"
    "  - every store, hidden ones too (.sopfs holds sopfs's metadata): its items,\n"
    "    nodes, and the bytes of its nodes (as full images), of its values' chunks\n"
    "    in the log and in value segments;\n"
    "  - the totals, and the space the cleaner would give back now (a running\n"
    "    database's cleaner waits until that is 32 MiB) and what `sop compact`\n"
    "    would give back (the log less what the stores keep in it, and less the\n"
    "    second checkpoint compaction leaves where the folder has one).\n"
    "\n"
    "  --json   one JSON object: {\"path\", \"segments\": [{\"file\", \"id\", \"kind\",\n"
    "           \"size\", \"live\", \"dead\", \"current\", \"reclaimable\"}, ...],\n"
    "           \"stores\": [{\"name\", \"items\", \"nodes\", \"node_bytes\",\n"
    "           \"value_log_bytes\", \"value_segment_bytes\", \"bytes\"}, ...],\n"
    "           \"total\": {...}}, bytes as raw numbers.\n"
    "Exit status 1 when part of a store does not read (then run `sop check`).\n";
