/*
 * sop.c - the `sop` command: create, list, inspect, read and write the stores
 * of a libsop database folder from a shell, dump and load them, run the
 * cookbook quickstart (`sop demo`) and the benchmarks (`sop bench`).
 *
 * Each subcommand is one function taking argv from its own name; the table
 * `commands` names them, with their usage and help.  A command opens the
 * database, does its work in one transaction (load and demo commit in
 * batches), and reports any failure as "sop: what: why (engine message)".
 * Exit status: 0 success, 1 failure, 2 usage error.  Only sop.h of the
 * engine is used.
 */
#include "config.h"

#include "bench.h"
#include "bench_cluster.h"
#include "bench_fs.h"
#include "cli.h"
#include "progress.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PIECE (1024u * 1024u) /* stdin/stdout streaming unit */

static int cmd_demo(int argc, char **argv);
static int cmd_stores(int argc, char **argv);
static int cmd_info(int argc, char **argv);
static int cmd_create(int argc, char **argv);
static int cmd_drop(int argc, char **argv);
static int cmd_compact(int argc, char **argv);
static int cmd_check(int argc, char **argv);
static int cmd_put(int argc, char **argv);
static int cmd_get(int argc, char **argv);
static int cmd_rm(int argc, char **argv);
static int cmd_ls(int argc, char **argv);
static int cmd_search(int argc, char **argv);
static int cmd_vector(int argc, char **argv);
static int cmd_help(int argc, char **argv);

static const struct cli_cmd commands[] = {
    {"demo", "DIR", "run the cookbook quickstart: 100,000 user profiles in store 'users'",
     "Creates store 'users' (slot_length 1000, unique, value_in_node, description\n"
     "\"User Profiles\") in the database folder DIR (created if absent), adds 100,000\n"
     "profiles keyed user_0 .. user_99999 with values like\n"
     "  {\"id\":\"user_7\",\"name\":\"John Doe\",\"email\":\"john@example.com\"}\n"
     "committing every 1,000 (a new write transaction and sop_store_open each time),\n"
     "then, in one read transaction, reads every profile back and checks it, counts\n"
     "the store, and walks it with a cursor checking the key order.  Prints timings.\n"
     "Fails if DIR already has a store 'users' (drop it with `sop drop DIR users`).\n",
     cmd_demo},
    {"stores", "DIR", "list the stores of a database, one name a line, in name order", NULL,
     cmd_stores},
    {"info", "DIR STORE", "show a store's options, item count and times",
     "Prints `key: value` lines: name, kind, description, slot_length, unique,\n"
     "value_in_node, chunk_size, relations, count, created, modified (UTC, ISO 8601).\n"
     "Control characters in texts are shown as \\xHH.\n",
     cmd_info},
    {"create",
     "DIR STORE [--slot-length N] [--unique] [--value-in-node] [--chunk-size N]\n"
     "           [--description TEXT] [--relations JSON] [--kind K]",
     "create a store (and the database folder if absent)",
     "Options:\n"
     "  --slot-length N     items per B-tree node, 4..65535 (default 1000)\n"
     "  --unique            keys are unique (default: duplicates allowed, kept in\n"
     "                      insertion order)\n"
     "  --value-in-node     keep small values inside the leaf nodes\n"
     "  --chunk-size N      piece size of big values, 4K..64M (default 1M); K, M, G\n"
     "                      suffixes are powers of 1024\n"
     "  --description TEXT  free text\n"
     "  --relations JSON    foreign-key metadata (stored as given), e.g.\n"
     "                      '[{\"source_fields\":[\"user_id\"],\n"
     "                         \"target_store\":\"users\",\"target_fields\":[\"id\"]}]'\n"
     "  --kind K            records (default), search or vector\n",
     cmd_create},
    {"drop", "DIR STORE", "remove a store and all its items", NULL, cmd_drop},
    {"compact", "DIR", "reclaim the space of superseded records",
     "Copies every live record of the database in DIR into new segment files and\n"
     "removes the old ones (sop_db_compact).  Safe against a crash at any point.\n"
     "Needs the database to itself: not while sopfs or another program has it open.\n"
     "Prints the folder's size before and after.\n",
     cmd_compact},
    {"check", "DIR [--repair --into NEW]", "verify a database; salvage what reads into a new one",
     "Reads every live record of the database in DIR once and checks it: what\n"
     "recovery found when it was opened (damage skipped, torn ends cut), the\n"
     "registry against the segment files, and every store (hidden ones too):\n"
     "each node's crc, the tree's invariants (key order, fill, separators, depth),\n"
     "the item count, and every chunk of every value with its crc.  Prints each\n"
     "problem on a line of its own (`problem: ...`, with the store, the key, the\n"
     "segment and offset), notes worth knowing (`note: ...`), progress on a\n"
     "terminal, and a summary.  Exit status 0 when clean, 1 when problems were\n"
     "found.  Needs the database to itself (not while sopfs has it mounted).\n"
     "\n"
     "With --repair --into NEW, every item whose node and value still read is\n"
     "copied into the new database NEW (which must not hold one yet), store by\n"
     "store with their options; what cannot be copied is listed.  DIR is not\n"
     "changed.  Exit status 0 when everything was copied, 1 when something was\n"
     "lost.\n",
     cmd_check},
    {"put", "DIR STORE KEY [VALUE]", "set the value of KEY (from stdin when VALUE is absent)",
     "Adds the item or replaces its value (upsert), in one transaction.  VALUE is\n"
     "taken as is (no newline added).  Without VALUE, the value is read from stdin\n"
     "up to its end and streamed into the store 1 MiB at a time, so any size works:\n"
     "  sop put DIR videos matrix.mp4 < matrix.mp4\n"
     "Keys and values are byte strings; put `--` before a KEY or VALUE that starts\n"
     "with '-'.\n",
     cmd_put},
    {"get", "DIR STORE KEY", "write the value of KEY to stdout (streamed, any size)",
     "Writes the value exactly, with no newline added.  Exit status 1 with\n"
     "\"not found\" when the key is absent.\n",
     cmd_get},
    {"rm", "DIR STORE KEY", "remove the item KEY (the first one, in a store with duplicates)", NULL,
     cmd_rm},
    {"ls", "DIR STORE [PREFIX] [-b|--escape]", "list keys in order, one a line",
     "Lists the keys of STORE in key order (memcmp), those starting with PREFIX\n"
     "when given.  With -b (--escape), bytes outside 0x21..0x7e and '\\' and '#' are\n"
     "written \\xHH, as in dumps, so every key is one line whatever it holds.\n",
     cmd_ls},
    {"search", "DIR STORE QUERY [--k N] | MOUNT/STORE QUERY [--k N]",
     "rank the documents of a search store for QUERY (BM25)",
     "With DIR STORE, the database folder is opened (no sopfs may have it mounted);\n"
     "with MOUNT/STORE, the store's query file MOUNT/STORE/.sop-search of a running\n"
     "sopfs answers (it sees what is committed, or an open .sop-txn scope).\n"
     "STORE must be of kind search (`sop create DIR STORE --kind search`): each item\n"
     "is a document, its value the text.  Prints `doc<TAB>score` lines, best first\n"
     "(score with 6 decimals, equal scores in key order), at most N of them\n"
     "(--k, default 10; 0: all).  Words are runs of letters and digits, case-folded\n"
     "for ASCII.  Nothing printed when no document holds a word of QUERY.\n",
     cmd_search},
    {"vector", "DIR STORE --k N [--metric cosine|l2] VECTOR | MOUNT/STORE --k N ...",
     "the N items of a vector store nearest to VECTOR",
     "With DIR STORE, the database folder is opened; with MOUNT/STORE, the query file\n"
     "MOUNT/STORE/.sop-search of a running sopfs answers (see `sop help search`).\n"
     "STORE must be of kind vector (`sop create DIR STORE --kind vector`): the first\n"
     "line of each value is a vector of decimal numbers separated by spaces or\n"
     "commas, maybe inside [ ], the rest a payload.  VECTOR is written the same way,\n"
     "e.g. '0.1 0.2 0.3'.  Prints `key<TAB>distance` lines, nearest first (6\n"
     "decimals, equal distances in key order); --metric cosine (1 - cosine, the\n"
     "default) or l2.  The search is exact (every item is read).  Items whose vector\n"
     "has another dimension or does not parse are skipped, and their count is\n"
     "reported on stderr.\n",
     cmd_vector},
    {"stats", "DIR|MNT [--json]",
     "the counters of a database folder or of a sopfs mount (MNT/.sop-stats)", cli_stats_help,
     cli_cmd_stats},
    {"du", "DIR [--json]", "live and dead bytes per segment file and per store", cli_du_help,
     cli_cmd_du},
    {"dump", "DIR STORE", "write a store (options and items) to stdout", cli_dump_help,
     cli_cmd_dump},
    {"load", "DIR STORE", "read a dump from stdin into a store (created if absent)", cli_dump_help,
     cli_cmd_load},
    {"bench",
     "engine [--keys N | --scale | --sizes LIST] [--batch N] [--commits N]\n"
     "           [--dir D] [--only LIST] [--slot-length N] [--seed S] [--cache-mib N]\n"
     "       sop bench fs [--sopfs PATH] [--dir D] [--size-mib N] [--files N] [--tree N]\n"
     "                    [--runs N] [--single-thread]\n"
     "       sop bench cluster [--dir D] [--commits N] [--members N]",
     "benchmark libsop against LMDB and SQLite, sopfs against a plain folder", bench_help,
     bench_dispatch},
    {"help", "[COMMAND]", "show the commands, or the help of one", NULL, cmd_help},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

const struct cli_cmd *cli_find(const char *name)
{
    size_t i;

    for (i = 0; i < NCOMMANDS; i++) {
        if (strcmp(commands[i].name, name) == 0) {
            return &commands[i];
        }
    }
    return NULL;
}

static void print_overview(FILE *f)
{
    size_t i;

    fputs("usage: sop COMMAND ARGS...\n"
          "\n"
          "A command line for libsop databases: a database is a folder (DIR) holding\n"
          "stores, each a B-tree of byte-string keys and values.\n"
          "\n"
          "Commands:\n",
          f);
    for (i = 0; i < NCOMMANDS; i++) {
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    }
    fputs("\n"
          "`sop help COMMAND` or `sop COMMAND --help` explains one.  Exit status: 0 done,\n"
          "1 failed (the reason is printed), 2 usage error.\n",
          f);
}

static void print_help(const struct cli_cmd *cmd, FILE *f)
{
    fprintf(f, "usage: sop %s %s\n\n%s.\n", cmd->name, cmd->synopsis, cmd->summary);
    if (cmd->help) {
        fprintf(f, "\n%s", cmd->help);
    }
    if (cmd->help == bench_help) {
        fprintf(f, "\n%s", bench_fs_help);
        fprintf(f, "\n%s", bench_cluster_help);
    }
}

/* Parse a command that has no options but -h: checks the count of
 * positional arguments.  Returns CLI_OK with *first set to the first
 * argument, or CLI_USAGE (reported). */
static int plain_args(int argc, char **argv, int min, int max, int *first)
{
    static const struct option none[] = {{NULL, 0, NULL, 0}};
    int c, n;

    optind = 1;
    if ((c = cli_getopt(argv[0], argc, argv, "", none)) != -1) {
        return CLI_USAGE; /* this command has no options */
    }
    n = argc - optind;
    if (n < min) {
        return cli_usage(argv[0], "%s: missing arguments", argv[0]);
    }
    if (n > max) {
        return cli_usage(argv[0], "%s: too many arguments", argv[0]);
    }
    *first = optind;
    return CLI_OK;
}

/* A database, a transaction and maybe a store, opened together. */
struct session {
    const char *dir;
    const char *name;
    sop_db *db;
    sop_txn *t;
    sop_store *s;
};

/* Open dir, begin a transaction of `mode` and open store `name` (unless
 * NULL).  Returns CLI_OK or CLI_FAIL (reported); call session_end() in any
 * case. */
static int session_begin(struct session *ss, const char *dir, const char *name, int mode,
                         bool create_db)
{
    int rc;

    memset(ss, 0, sizeof(*ss));
    ss->dir = dir;
    ss->name = name;
    if (cli_open_db(dir, create_db, &ss->db) != CLI_OK) {
        return CLI_FAIL;
    }
    rc = sop_txn_begin(ss->db, mode, &ss->t);
    if (rc != SOP_OK) {
        ss->t = NULL;
        return cli_fail(ss->db, NULL, rc, "begin a transaction in %s", dir);
    }
    if (name) {
        rc = sop_store_open(ss->t, name, &ss->s);
        if (rc != SOP_OK) {
            return cli_fail(ss->db, ss->t, rc, "open store '%s' in %s", name, dir);
        }
    }
    return CLI_OK;
}

/* Commit the session's transaction.  Returns CLI_OK or CLI_FAIL (reported). */
static int session_commit(struct session *ss)
{
    sop_txn *t = ss->t;
    int rc;

    ss->t = NULL;
    ss->s = NULL;
    rc = sop_txn_commit(t);
    if (rc != SOP_OK) {
        return cli_fail(ss->db, NULL, rc, "commit to %s", ss->dir);
    }
    return CLI_OK;
}

static void session_end(struct session *ss)
{
    sop_txn_rollback(ss->t);
    ss->t = NULL;
    ss->s = NULL;
    sop_db_close(ss->db);
    ss->db = NULL;
}

/* ---------------------------------------------------------------- demo */

#define DEMO_USERS 100000
#define DEMO_BATCH 1000

static int demo_value(char *buf, size_t cap, long i)
{
    return snprintf(
        buf, cap, "{\"id\":\"user_%ld\",\"name\":\"John Doe\",\"email\":\"john@example.com\"}", i);
}

/* Parse the number of a "user_N" key; -1 if the key is not one. */
static long demo_key_number(const void *k, size_t kl)
{
    const char *p = k;
    long n = 0;
    size_t i;

    if (kl < 6 || kl > 16 || memcmp(p, "user_", 5) != 0) {
        return -1;
    }
    for (i = 5; i < kl; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }
        n = n * 10 + (p[i] - '0');
    }
    return n;
}

static int cmd_demo(int argc, char **argv)
{
    static const char *const name = "users";
    sop_store_options o = {
        .slot_length = 1000, .unique = true, .value_in_node = true, .description = "User Profiles"};
    struct session ss = {0};
    sop_cursor *c = NULL;
    char key[32], val[128], sample[160] = "";
    double t0, t_add, t_get, t_walk;
    uint64_t count = 0, walked = 0, checked = 0;
    long i, prev = -1;
    int first = 0, ret, rc, commits = 0;
    const char *dir;

    ret = plain_args(argc, argv, 1, 1, &first);
    if (ret != CLI_OK) {
        return ret;
    }
    dir = argv[first];
    ret = session_begin(&ss, dir, NULL, SOP_TXN_WRITE, true);
    if (ret != CLI_OK) {
        goto out;
    }
    printf("sop demo: the cookbook quickstart in %s\n", dir);
    printf("  store %s: slot_length %u, unique, value_in_node, \"%s\"\n", name, o.slot_length,
           o.description);
    fflush(stdout);

    t0 = cli_now();
    rc = sop_store_create(ss.t, name, &o, &ss.s);
    if (rc == SOP_EEXIST) {
        cli_err("demo: %s already has a store '%s': use an empty folder, or `sop drop %s %s`", dir,
                name, dir, name);
        ret = CLI_FAIL;
        goto out;
    }
    if (rc != SOP_OK) {
        ret = cli_fail(ss.db, ss.t, rc, "create store '%s' in %s", name, dir);
        goto out;
    }
    for (i = 0; i < DEMO_USERS; i++) {
        int kl = snprintf(key, sizeof(key), "user_%ld", i);
        int vl = demo_value(val, sizeof(val), i);

        if (!ss.s) {
            rc = sop_txn_begin(ss.db, SOP_TXN_WRITE, &ss.t);
            if (rc != SOP_OK) {
                ss.t = NULL;
                ret = cli_fail(ss.db, NULL, rc, "begin a write transaction");
                goto out;
            }
            rc = sop_store_open(ss.t, name, &ss.s);
            if (rc != SOP_OK) {
                ret = cli_fail(ss.db, ss.t, rc, "open store '%s'", name);
                goto out;
            }
        }
        rc = sop_add(ss.s, key, (size_t)kl, val, (size_t)vl);
        if (rc != SOP_OK) {
            ret = cli_fail(ss.db, ss.t, rc, "add %s", key);
            goto out;
        }
        if ((i + 1) % DEMO_BATCH == 0 || i + 1 == DEMO_USERS) {
            ret = session_commit(&ss);
            if (ret != CLI_OK) {
                goto out;
            }
            commits++;
        }
    }
    t_add = cli_now() - t0;
    printf("  add     %d profiles in %d commits of %d: %.3f s, %.0f adds/s\n", DEMO_USERS, commits,
           DEMO_BATCH, t_add, DEMO_USERS / t_add);
    fflush(stdout);

    /* Everything back, in one read transaction. */
    t0 = cli_now();
    rc = sop_txn_begin(ss.db, SOP_TXN_READ, &ss.t);
    if (rc != SOP_OK) {
        ss.t = NULL;
        ret = cli_fail(ss.db, NULL, rc, "begin a read transaction");
        goto out;
    }
    rc = sop_store_open(ss.t, name, &ss.s);
    if (rc != SOP_OK) {
        ret = cli_fail(ss.db, ss.t, rc, "open store '%s'", name);
        goto out;
    }
    for (i = 0; i < DEMO_USERS; i++) {
        int kl = snprintf(key, sizeof(key), "user_%ld", i);
        int vl = demo_value(val, sizeof(val), i);
        const void *v;
        size_t got;

        rc = sop_get(ss.s, key, (size_t)kl, &v, &got);
        if (rc != SOP_OK) {
            ret = cli_fail(ss.db, ss.t, rc, "get %s", key);
            goto out;
        }
        if (got != (size_t)vl || memcmp(v, val, got) != 0) {
            cli_err("demo: get %s: wrong value (%zu bytes, expected %d: %s)", key, got, vl, val);
            ret = CLI_FAIL;
            goto out;
        }
        checked++;
    }
    t_get = cli_now() - t0;
    rc = sop_store_count(ss.s, &count);
    if (rc != SOP_OK) {
        ret = cli_fail(ss.db, ss.t, rc, "count store '%s'", name);
        goto out;
    }
    if (count != DEMO_USERS) {
        cli_err("demo: store '%s' counts %" PRIu64 " items, expected %d", name, count, DEMO_USERS);
        ret = CLI_FAIL;
        goto out;
    }
    printf("  get     %" PRIu64 " of %d found, values checked: %.3f s, %.0f gets/s\n", checked,
           DEMO_USERS, t_get, (double)checked / t_get);
    printf("  count   %" PRIu64 "\n", count);
    fflush(stdout);

    /* A cursor walk: every key once, in memcmp order. */
    t0 = cli_now();
    rc = sop_cursor_open(ss.s, &c);
    if (rc != SOP_OK) {
        c = NULL;
        ret = cli_fail(ss.db, ss.t, rc, "open a cursor on '%s'", name);
        goto out;
    }
    key[0] = '\0';
    for (rc = sop_cursor_first(c); rc == SOP_OK; rc = sop_cursor_next(c)) {
        const void *k, *v;
        size_t kl, vl;
        long n;
        int el;

        rc = sop_cursor_key(c, &k, &kl);
        if (rc == SOP_OK) {
            rc = sop_cursor_value(c, &v, &vl);
        }
        if (rc != SOP_OK) {
            ret = cli_fail(ss.db, ss.t, rc, "cursor at item %" PRIu64, walked);
            goto out;
        }
        n = demo_key_number(k, kl);
        el = n < 0 ? 0 : demo_value(val, sizeof(val), n);
        if (n < 0 || vl != (size_t)el || memcmp(v, val, vl) != 0) {
            cli_err("demo: cursor item %" PRIu64 ": unexpected key or value (%.*s)", walked,
                    (int)(kl < 40 ? kl : 40), (const char *)k);
            ret = CLI_FAIL;
            goto out;
        }
        /* keys come in memcmp order: compare with the previous one */
        if (walked > 0) {
            size_t pl = strlen(key), m = pl < kl ? pl : kl;
            int cmp = memcmp(key, k, m);

            if (cmp > 0 || (cmp == 0 && pl >= kl)) {
                cli_err("demo: cursor: key %.*s after %s, out of order", (int)kl, (const char *)k,
                        key);
                ret = CLI_FAIL;
                goto out;
            }
        }
        memcpy(key, k, kl);
        key[kl] = '\0';
        if (n == DEMO_USERS / 2) {
            snprintf(sample, sizeof(sample), "%s = %.*s", key, (int)vl, (const char *)v);
        }
        prev = n;
        walked++;
    }
    if (rc != SOP_ENOTFOUND) {
        ret = cli_fail(ss.db, ss.t, rc, "cursor after item %" PRIu64, walked);
        goto out;
    }
    t_walk = cli_now() - t0;
    if (walked != DEMO_USERS) {
        cli_err("demo: cursor walked %" PRIu64 " items, expected %d", walked, DEMO_USERS);
        ret = CLI_FAIL;
        goto out;
    }
    sop_cursor_close(c);
    c = NULL;
    ret = session_commit(&ss);
    if (ret != CLI_OK) {
        goto out;
    }
    printf("  cursor  %" PRIu64 " items in key order (first user_0, last user_%ld): %.3f s, "
           "%.0f items/s\n",
           walked, prev, t_walk, (double)walked / t_walk);
    printf("  sample  %s\n", sample);
    printf("Done.  Try: sop info %s %s; sop ls %s %s user_9999\n", dir, name, dir, name);
out:
    sop_cursor_close(c);
    session_end(&ss);
    return ret;
}

/* --------------------------------------------------------- stores, info */

static int print_store_name(const char *name, void *arg)
{
    (void)arg;
    if (puts(name) == EOF) {
        return SOP_EIO;
    }
    return 0;
}

static int cmd_stores(int argc, char **argv)
{
    struct session ss = {0};
    int first = 0, ret, rc;

    ret = plain_args(argc, argv, 1, 1, &first);
    if (ret != CLI_OK) {
        return ret;
    }
    ret = session_begin(&ss, argv[first], NULL, SOP_TXN_READ, false);
    if (ret != CLI_OK) {
        goto out;
    }
    rc = sop_store_list(ss.t, print_store_name, NULL);
    if (rc != SOP_OK) {
        ret = cli_fail(ss.db, ss.t, rc, "list the stores of %s", ss.dir);
        goto out;
    }
out:
    session_end(&ss);
    return ret;
}

/* Print a text, control characters and '\' as \xHH. */
static void print_text(const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;

        if (ch < 0x20 || ch == 0x7f || ch == '\\') {
            printf("\\x%02x", ch);
        } else {
            putchar(ch);
        }
    }
}

static void print_time(const char *label, uint64_t ns)
{
    time_t sec = (time_t)(ns / 1000000000u);
    struct tm tm;
    char buf[64];

    if (ns == 0 || !gmtime_r(&sec, &tm) || !strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm)) {
        printf("%s: -\n", label);
        return;
    }
    printf("%s: %s.%09" PRIu64 "Z\n", label, buf, ns % 1000000000u);
}

static int cmd_info(int argc, char **argv)
{
    struct session ss = {0};
    sop_store_info info;
    int first = 0, ret, rc;

    ret = plain_args(argc, argv, 2, 2, &first);
    if (ret != CLI_OK) {
        return ret;
    }
    ret = session_begin(&ss, argv[first], argv[first + 1], SOP_TXN_READ, false);
    if (ret != CLI_OK) {
        goto out;
    }
    rc = sop_store_get_info(ss.s, &info);
    if (rc != SOP_OK) {
        ret = cli_fail(ss.db, ss.t, rc, "info of store '%s'", ss.name);
        goto out;
    }
    fputs("name: ", stdout);
    print_text(info.name ? info.name : ss.name);
    fputs("\nkind: ", stdout);
    print_text(info.options.kind && info.options.kind[0] ? info.options.kind : "records");
    fputs("\ndescription: ", stdout);
    print_text(info.options.description ? info.options.description : "");
    printf("\nslot_length: %" PRIu32 "\n", info.options.slot_length);
    printf("unique: %s\n", info.options.unique ? "true" : "false");
    printf("value_in_node: %s\n", info.options.value_in_node ? "true" : "false");
    printf("chunk_size: %" PRIu32 "\n", info.options.chunk_size);
    fputs("relations: ", stdout);
    print_text(info.options.relations ? info.options.relations : "");
    printf("\ncount: %" PRIu64 "\n", info.count);
    print_time("created", info.created_ns);
    print_time("modified", info.modified_ns);
out:
    session_end(&ss);
    return ret;
}

/* -------------------------------------------------------- create, drop */

static int cmd_create(int argc, char **argv)
{
    enum { O_SLOT = 256, O_UNIQUE, O_VIN, O_CHUNK, O_DESC, O_REL, O_KIND };
    static const struct option longopts[] = {
        {"slot-length", required_argument, NULL, O_SLOT},
        {"unique", no_argument, NULL, O_UNIQUE},
        {"value-in-node", no_argument, NULL, O_VIN},
        {"chunk-size", required_argument, NULL, O_CHUNK},
        {"description", required_argument, NULL, O_DESC},
        {"relations", required_argument, NULL, O_REL},
        {"kind", required_argument, NULL, O_KIND},
        {NULL, 0, NULL, 0},
    };
    sop_store_options o = {0};
    struct session ss = {0};
    uint64_t n;
    int c, ret, rc;

    optind = 1;
    while ((c = cli_getopt(argv[0], argc, argv, "", longopts)) != -1) {
        switch (c) {
        case O_SLOT:
            if (!cli_parse_u64(optarg, 4, 65535, false, &n)) {
                return cli_usage(argv[0], "create: --slot-length takes 4..65535, not '%s'", optarg);
            }
            o.slot_length = (uint32_t)n;
            break;
        case O_UNIQUE:
            o.unique = true;
            break;
        case O_VIN:
            o.value_in_node = true;
            break;
        case O_CHUNK:
            if (!cli_parse_u64(optarg, 4096, 64u << 20, true, &n)) {
                return cli_usage(argv[0], "create: --chunk-size takes 4K..64M, not '%s'", optarg);
            }
            o.chunk_size = (uint32_t)n;
            break;
        case O_DESC:
            o.description = optarg;
            break;
        case O_REL:
            o.relations = optarg;
            break;
        case O_KIND:
            if (strcmp(optarg, "records") != 0 && strcmp(optarg, "search") != 0 &&
                strcmp(optarg, "vector") != 0) {
                return cli_usage(argv[0], "create: --kind is records, search or vector, not '%s'",
                                 optarg);
            }
            o.kind = optarg;
            break;
        default:
            return CLI_USAGE;
        }
    }
    if (argc - optind != 2) {
        return cli_usage(argv[0], "create: needs DIR and STORE");
    }
    ret = session_begin(&ss, argv[optind], NULL, SOP_TXN_WRITE, true);
    if (ret != CLI_OK) {
        goto out;
    }
    ss.name = argv[optind + 1];
    rc = sop_store_create(ss.t, ss.name, &o, &ss.s);
    if (rc != SOP_OK) {
        ret = cli_fail(ss.db, ss.t, rc, "create store '%s' in %s", ss.name, ss.dir);
        goto out;
    }
    ret = session_commit(&ss);
out:
    session_end(&ss);
    return ret;
}

static int cmd_drop(int argc, char **argv)
{
    struct session ss = {0};
    int first = 0, ret, rc;

    ret = plain_args(argc, argv, 2, 2, &first);
    if (ret != CLI_OK) {
        return ret;
    }
    ret = session_begin(&ss, argv[first], NULL, SOP_TXN_WRITE, false);
    if (ret != CLI_OK) {
        goto out;
    }
    ss.name = argv[first + 1];
    rc = sop_store_drop(ss.t, ss.name);
    if (rc != SOP_OK) {
        ret = cli_fail(ss.db, ss.t, rc, "drop store '%s' in %s", ss.name, ss.dir);
        goto out;
    }
    ret = session_commit(&ss);
out:
    session_end(&ss);
    return ret;
}

/* Live bytes copied, of the total (sop_db_compact_progress). */
static void compact_progress(void *arg, uint64_t done, uint64_t total)
{
    struct progress *pg = arg;
    progress_total(pg, 0, total);
    progress_update(pg, 0, done);
}

static int cmd_compact(int argc, char **argv)
{
    sop_db *db = NULL;
    int first = 0, ret, rc;

    ret = plain_args(argc, argv, 1, 1, &first);
    if (ret != CLI_OK)
        return ret;
    uint64_t segs_before, segs_after;
    uint64_t before = cli_folder_bytes(argv[first], &segs_before);
    ret = cli_open_db(argv[first], false, &db);
    if (ret != CLI_OK)
        return ret;
    struct progress pg;
    progress_start(&pg, 0, NULL, "compact %s", argv[first]);
    rc = sop_db_compact_progress(db, compact_progress, &pg);
    progress_end(&pg);
    if (rc != SOP_OK) {
        ret = cli_fail(db, NULL, rc, "compact %s", argv[first]);
        sop_db_close(db);
        return ret;
    }
    /* measured once closed: an open log keeps zeros written ahead of its end */
    sop_db_close(db);
    uint64_t after = cli_folder_bytes(argv[first], &segs_after);
    char b1[32], b2[32], s1[32], s2[32], o1[32], o2[32];
    /* the other files are the checkpoints: compaction leaves two (the
     * newest and the one before), where a folder may have had one */
    printf("compact %s: %s -> %s (%llu -> %llu bytes); segments %s -> %s, checkpoints and other "
           "files %s -> %s\n",
           argv[first], cli_human_bytes(before, b1, sizeof(b1)),
           cli_human_bytes(after, b2, sizeof(b2)), (unsigned long long)before,
           (unsigned long long)after, cli_human_bytes(segs_before, s1, sizeof(s1)),
           cli_human_bytes(segs_after, s2, sizeof(s2)),
           cli_human_bytes(before - segs_before, o1, sizeof(o1)),
           cli_human_bytes(after - segs_after, o2, sizeof(o2)));
    return CLI_OK;
}

/* ------------------------------------------------------- check */

struct checker {
    struct progress pg;
    uint64_t problems, notes;
};

static void check_problem(void *arg, const char *text)
{
    struct checker *c = arg;
    progress_clear(&c->pg);
    printf("problem: %s\n", text);
    fflush(stdout);
    c->problems++;
}

static void check_note(void *arg, const char *text)
{
    struct checker *c = arg;
    progress_clear(&c->pg);
    printf("note: %s\n", text);
    fflush(stdout);
    c->notes++;
}

static void check_progress(void *arg, uint64_t done, uint64_t total)
{
    struct checker *c = arg;
    progress_total(&c->pg, total, 0);
    progress_update(&c->pg, done, 0);
}

static int cmd_check(int argc, char **argv)
{
    static const struct option opts[] = {{"repair", no_argument, NULL, 'r'},
                                         {"into", required_argument, NULL, 'i'},
                                         {NULL, 0, NULL, 0}};
    const char *into = NULL;
    bool repair = false;
    int c, ret, rc;

    optind = 1;
    while ((c = cli_getopt(argv[0], argc, argv, "", opts)) != -1) {
        if (c == 'r')
            repair = true;
        else if (c == 'i')
            into = optarg;
        else
            return CLI_USAGE;
    }
    if (argc - optind != 1)
        return cli_usage(argv[0], "check: needs DIR");
    if (repair != (into != NULL))
        return cli_usage(argv[0], "check: --repair goes with --into NEW");
    const char *dir = argv[optind];
    struct checker ck = {0}; /* its progress starts with the check */
    sop_check_ops ops = {check_problem, check_note, check_progress};
    sop_db *db = NULL, *dst = NULL;
    struct stat st;
    char marker[4200];
    snprintf(marker, sizeof(marker), "%s/SOP", dir);
    if (stat(marker, &st) != 0) {
        cli_err("check %s: not a sop database (it has no SOP file)", dir);
        return CLI_FAIL;
    }
    /* a repair never changes DIR; a check opens it as always, and when that
     * refuses, says why and checks what a salvage open reads */
    rc = repair ? SOP_ECORRUPT : sop_db_open(dir, NULL, &db);
    snprintf(marker, sizeof(marker), "%s/cluster", dir);
    bool clustered = rc == SOP_EBUSY && stat(marker, &st) == 0;
    if (rc == SOP_ECORRUPT || clustered) {
        /* a clustered folder is checked read-only, along its claims */
        if (!repair && !clustered)
            check_problem(&ck, sop_open_errmsg());
        if ((rc = sop_db_open_salvage(dir, &db)) != SOP_OK) {
            cli_err("check %s: %s: %s", dir, sop_strerror(rc), sop_open_errmsg());
            return CLI_FAIL;
        }
    } else if (rc != SOP_OK) {
        cli_err("check %s: %s: %s", dir, sop_strerror(rc), sop_open_errmsg());
        return CLI_FAIL;
    }
    if (!repair) {
        uint64_t problems = 0;
        progress_start(&ck.pg, 0, "records", "check %s", dir);
        rc = sop_db_check(db, &ops, &ck, &problems);
        progress_end(&ck.pg);
        if (rc != SOP_OK && rc != SOP_ECORRUPT) {
            ret = cli_fail(db, NULL, rc, "check %s", dir);
        } else {
            problems = ck.problems;
            printf("check %s: %s (%llu problem%s, %llu note%s)\n", dir,
                   problems ? "damaged" : "clean", (unsigned long long)problems,
                   problems == 1 ? "" : "s", (unsigned long long)ck.notes,
                   ck.notes == 1 ? "" : "s");
            ret = problems ? CLI_FAIL : CLI_OK;
        }
        sop_db_close(db);
        return ret;
    }
    snprintf(marker, sizeof(marker), "%s/SOP", into);
    if (stat(marker, &st) == 0) {
        cli_err("check --repair: %s holds a database already; name a new folder", into);
        sop_db_close(db);
        return CLI_FAIL;
    }
    if ((rc = sop_db_open(into, NULL, &dst)) != SOP_OK) {
        cli_err("check --repair: create %s: %s: %s", into, sop_strerror(rc), sop_open_errmsg());
        sop_db_close(db);
        return CLI_FAIL;
    }
    uint64_t saved = 0, lost = 0;
    progress_start(&ck.pg, 0, "records", "repair %s into %s", dir, into);
    rc = sop_db_salvage(db, dst, &ops, &ck, &saved, &lost);
    progress_end(&ck.pg);
    if (rc != SOP_OK) {
        ret = cli_fail(dst, NULL, rc, "check --repair %s into %s", dir, into);
    } else {
        printf("repair %s into %s: %llu items copied, %llu items and the ranges above lost "
               "(%llu problems)\n",
               dir, into, (unsigned long long)saved, (unsigned long long)lost,
               (unsigned long long)ck.problems);
        ret = ck.problems ? CLI_FAIL : CLI_OK;
    }
    sop_db_close(dst);
    sop_db_close(db);
    return ret;
}

/* ------------------------------------------------------- put, get, rm */

/* Read up to `cap` bytes from `f`; short only at the end of input.
 * Returns the count, or (size_t)-1 on a read error (errno set). */
static size_t read_full(FILE *f, void *buf, size_t cap)
{
    size_t n = fread(buf, 1, cap, f);

    if (n < cap && ferror(f)) {
        return (size_t)-1;
    }
    return n;
}

static int cmd_put(int argc, char **argv)
{
    struct session ss = {0};
    uint8_t *buf = NULL;
    const char *key;
    size_t kl, n;
    uint64_t off = 0;
    int first = 0, ret, rc;

    ret = plain_args(argc, argv, 3, 4, &first);
    if (ret != CLI_OK) {
        return ret;
    }
    key = argv[first + 2];
    kl = strlen(key);
    ret = session_begin(&ss, argv[first], argv[first + 1], SOP_TXN_WRITE, false);
    if (ret != CLI_OK) {
        goto out;
    }
    if (argc - first == 4) {
        const char *v = argv[first + 3];

        rc = sop_upsert(ss.s, key, kl, v, strlen(v));
        if (rc != SOP_OK) {
            ret = cli_fail(ss.db, ss.t, rc, "put '%s' in '%s'", key, ss.name);
            goto out;
        }
        ret = session_commit(&ss);
        goto out;
    }
    buf = malloc(PIECE);
    if (!buf) {
        cli_err("put: out of memory");
        ret = CLI_FAIL;
        goto out;
    }
    n = read_full(stdin, buf, PIECE);
    if (n == (size_t)-1) {
        cli_err("put: read stdin: %s", strerror(errno));
        ret = CLI_FAIL;
        goto out;
    }
    if (n < PIECE) {
        rc = sop_upsert(ss.s, key, kl, buf, n);
        if (rc != SOP_OK) {
            ret = cli_fail(ss.db, ss.t, rc, "put '%s' in '%s'", key, ss.name);
            goto out;
        }
        ret = session_commit(&ss);
        goto out;
    }
    /* A big value: make the item empty, then stream it in place. */
    rc = sop_upsert(ss.s, key, kl, "", 0);
    if (rc != SOP_OK) {
        ret = cli_fail(ss.db, ss.t, rc, "put '%s' in '%s'", key, ss.name);
        goto out;
    }
    while (n > 0) {
        rc = sop_value_write(ss.s, key, kl, off, buf, n);
        if (rc != SOP_OK) {
            ret = cli_fail(ss.db, ss.t, rc, "put '%s' in '%s': write at offset %" PRIu64, key,
                           ss.name, off);
            goto out;
        }
        off += n;
        n = read_full(stdin, buf, PIECE);
        if (n == (size_t)-1) {
            cli_err("put: read stdin after %" PRIu64 " bytes: %s (nothing stored)", off,
                    strerror(errno));
            ret = CLI_FAIL;
            goto out;
        }
    }
    ret = session_commit(&ss);
out:
    free(buf);
    session_end(&ss);
    return ret;
}

static int cmd_get(int argc, char **argv)
{
    struct session ss = {0};
    uint8_t *buf = NULL;
    const char *key;
    uint64_t size, off = 0;
    size_t kl;
    int first = 0, ret, rc;

    ret = plain_args(argc, argv, 3, 3, &first);
    if (ret != CLI_OK) {
        return ret;
    }
    key = argv[first + 2];
    kl = strlen(key);
    ret = session_begin(&ss, argv[first], argv[first + 1], SOP_TXN_READ, false);
    if (ret != CLI_OK) {
        goto out;
    }
    rc = sop_value_size(ss.s, key, kl, &size);
    if (rc != SOP_OK) {
        ret = cli_fail(ss.db, ss.t, rc, "get '%s' from '%s'", key, ss.name);
        goto out;
    }
    buf = malloc(PIECE);
    if (!buf) {
        cli_err("get: out of memory");
        ret = CLI_FAIL;
        goto out;
    }
    while (off < size) {
        size_t want = size - off < PIECE ? (size_t)(size - off) : PIECE, got = 0;

        rc = sop_value_read(ss.s, key, kl, off, buf, want, &got);
        if (rc != SOP_OK) {
            ret = cli_fail(ss.db, ss.t, rc, "get '%s' from '%s': read at offset %" PRIu64, key,
                           ss.name, off);
            goto out;
        }
        if (got == 0) {
            cli_err("get '%s' from '%s': value ended at %" PRIu64 " bytes, its size is %" PRIu64,
                    key, ss.name, off, size);
            ret = CLI_FAIL;
            goto out;
        }
        if (fwrite(buf, 1, got, stdout) != got) {
            cli_err("get: write stdout: %s", strerror(errno));
            ret = CLI_FAIL;
            goto out;
        }
        off += got;
    }
out:
    free(buf);
    session_end(&ss);
    return ret;
}

static int cmd_rm(int argc, char **argv)
{
    struct session ss = {0};
    const char *key;
    int first = 0, ret, rc;

    ret = plain_args(argc, argv, 3, 3, &first);
    if (ret != CLI_OK) {
        return ret;
    }
    key = argv[first + 2];
    ret = session_begin(&ss, argv[first], argv[first + 1], SOP_TXN_WRITE, false);
    if (ret != CLI_OK) {
        goto out;
    }
    rc = sop_remove(ss.s, key, strlen(key));
    if (rc != SOP_OK) {
        ret = cli_fail(ss.db, ss.t, rc, "rm '%s' from '%s'", key, ss.name);
        goto out;
    }
    ret = session_commit(&ss);
out:
    session_end(&ss);
    return ret;
}

/* ------------------------------------------------------------------ ls */

static int cmd_ls(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"escape", no_argument, NULL, 'b'},
        {NULL, 0, NULL, 0},
    };
    struct session ss = {0};
    sop_cursor *cur = NULL;
    const char *prefix = NULL;
    size_t pl = 0;
    bool escape = false;
    int c, ret, rc;

    optind = 1;
    while ((c = cli_getopt(argv[0], argc, argv, "b", longopts)) != -1) {
        if (c != 'b') {
            return CLI_USAGE;
        }
        escape = true;
    }
    if (argc - optind < 2 || argc - optind > 3) {
        return cli_usage(argv[0], "ls: needs DIR, STORE and maybe PREFIX");
    }
    if (argc - optind == 3) {
        prefix = argv[optind + 2];
        pl = strlen(prefix);
    }
    ret = session_begin(&ss, argv[optind], argv[optind + 1], SOP_TXN_READ, false);
    if (ret != CLI_OK) {
        goto out;
    }
    rc = sop_cursor_open(ss.s, &cur);
    if (rc != SOP_OK) {
        cur = NULL;
        ret = cli_fail(ss.db, ss.t, rc, "ls '%s': open a cursor", ss.name);
        goto out;
    }
    rc = pl ? sop_cursor_seek(cur, prefix, pl) : sop_cursor_first(cur);
    for (; rc == SOP_OK; rc = sop_cursor_next(cur)) {
        const void *k;
        size_t kl;

        rc = sop_cursor_key(cur, &k, &kl);
        if (rc != SOP_OK) {
            break;
        }
        if (kl < pl || memcmp(k, prefix, pl) != 0) {
            rc = SOP_ENOTFOUND; /* past the keys with that prefix */
            break;
        }
        if (escape ? !cli_escape_write(stdout, k, kl) : fwrite(k, 1, kl, stdout) != kl) {
            cli_err("ls: write stdout: %s", strerror(errno));
            ret = CLI_FAIL;
            goto out;
        }
        putchar('\n');
    }
    if (rc != SOP_ENOTFOUND) {
        ret = cli_fail(ss.db, ss.t, rc, "ls '%s': cursor", ss.name);
        goto out;
    }
out:
    sop_cursor_close(cur);
    session_end(&ss);
    return ret;
}

/* -------------------------------------------------------- search, vector */

/* Ask the query file of MOUNT/STORE (a sopfs mount; fs/query.c): one write
 * of the request "OPTIONS QUERY\n", the answer read back and copied to
 * stdout. */
static int mount_query(const char *cmd, const char *dir, const char *options, const char *query)
{
    char path[4096], buf[65536];
    int ret = CLI_OK;
    if (snprintf(path, sizeof(path), "%s/.sop-search", dir) >= (int)sizeof(path)) {
        cli_err("%s: %s: path too long", cmd, dir);
        return CLI_FAIL;
    }
    size_t cap = strlen(options) + strlen(query) + 3;
    char *req = malloc(cap);
    if (!req) {
        cli_err("%s: out of memory", cmd);
        return CLI_FAIL;
    }
    snprintf(req, cap, "%s %s\n", options, query);
    int fd = open(path, O_RDWR);
    if (fd < 0) {
        if (errno == ENOENT) {
            cli_err("%s: %s is not a search or vector store of a sopfs mount (no %s)", cmd, dir,
                    path);
        } else {
            cli_err("%s: open %s: %s", cmd, path, strerror(errno));
        }
        free(req);
        return CLI_FAIL;
    }
    size_t len = strlen(req);
    ssize_t w = write(fd, req, len);
    free(req);
    if (w != (ssize_t)len) {
        if (w < 0 && errno == EINVAL) {
            cli_err("%s: the query does not parse (the sopfs log says why)", cmd);
        } else {
            cli_err("%s: write %s: %s", cmd, path, w < 0 ? strerror(errno) : "short write");
        }
        close(fd);
        return CLI_FAIL;
    }
    for (;;) {
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            cli_err("%s: read %s: %s", cmd, path, strerror(errno));
            ret = CLI_FAIL;
            break;
        }
        if (r == 0) {
            break;
        }
        if (fwrite(buf, 1, (size_t)r, stdout) != (size_t)r) {
            cli_err("%s: write stdout: %s", cmd, strerror(errno));
            ret = CLI_FAIL;
            break;
        }
    }
    close(fd);
    return ret;
}

static int print_hit(const void *k, size_t kl, double x)
{
    if (fwrite(k, 1, kl, stdout) != kl || printf("\t%.6f\n", x) < 0) {
        cli_err("write stdout: %s", strerror(errno));
        return CLI_FAIL;
    }
    return CLI_OK;
}

static int cmd_search(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"k", required_argument, NULL, 'k'},
        {NULL, 0, NULL, 0},
    };
    struct session ss = {0};
    sop_search_hit *hits = NULL;
    uint64_t k = 10;
    size_t n = 0, i;
    int c, ret, rc;

    optind = 1;
    while ((c = cli_getopt(argv[0], argc, argv, "k:", longopts)) != -1) {
        if (c != 'k') {
            return CLI_USAGE;
        }
        if (!cli_parse_u64(optarg, 0, UINT32_MAX, false, &k)) {
            return cli_usage(argv[0], "search: --k takes a number, not '%s'", optarg);
        }
    }
    if (argc - optind == 2) { /* MOUNT/STORE QUERY */
        char opts[32];
        snprintf(opts, sizeof(opts), "k=%llu", (unsigned long long)k);
        return mount_query("search", argv[optind], opts, argv[optind + 1]);
    }
    if (argc - optind != 3) {
        return cli_usage(argv[0], "search: needs DIR, STORE and QUERY (or MOUNT/STORE and QUERY)");
    }
    ret = session_begin(&ss, argv[optind], argv[optind + 1], SOP_TXN_READ, false);
    if (ret != CLI_OK) {
        goto out;
    }
    rc = sop_search_query(ss.s, argv[optind + 2], (size_t)k, &hits, &n);
    if (rc != SOP_OK) {
        ret = cli_fail(ss.db, ss.t, rc, "search '%s'", ss.name);
        goto out;
    }
    for (i = 0; i < n && ret == CLI_OK; i++) {
        ret = print_hit(hits[i].key, hits[i].key_len, hits[i].score);
    }
out:
    sop_search_free(hits);
    session_end(&ss);
    return ret;
}

static int cmd_vector(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"k", required_argument, NULL, 'k'},
        {"metric", required_argument, NULL, 'm'},
        {NULL, 0, NULL, 0},
    };
    struct session ss = {0};
    sop_vector_hit *hits = NULL;
    sop_vector_metric metric = SOP_VECTOR_COSINE;
    float *q = NULL;
    uint64_t k = 0, skipped = 0;
    uint32_t dim;
    size_t n = 0, off, i;
    int c, ret, rc;

    optind = 1;
    while ((c = cli_getopt(argv[0], argc, argv, "k:m:", longopts)) != -1) {
        if (c == 'k') {
            if (!cli_parse_u64(optarg, 1, UINT32_MAX, false, &k)) {
                return cli_usage(argv[0], "vector: --k takes a number >= 1, not '%s'", optarg);
            }
        } else if (c == 'm') {
            if (strcmp(optarg, "cosine") == 0) {
                metric = SOP_VECTOR_COSINE;
            } else if (strcmp(optarg, "l2") == 0) {
                metric = SOP_VECTOR_L2;
            } else {
                return cli_usage(argv[0], "vector: --metric is cosine or l2, not '%s'", optarg);
            }
        } else {
            return CLI_USAGE;
        }
    }
    if (argc - optind != 3 && argc - optind != 2) {
        return cli_usage(argv[0],
                         "vector: needs DIR, STORE and VECTOR (or MOUNT/STORE and VECTOR)");
    }
    if (k == 0) {
        return cli_usage(argv[0], "vector: --k N is required");
    }
    if (argc - optind == 2) { /* MOUNT/STORE VECTOR */
        char opts[64];
        snprintf(opts, sizeof(opts), "k=%llu metric=%s", (unsigned long long)k,
                 metric == SOP_VECTOR_L2 ? "l2" : "cosine");
        return mount_query("vector", argv[optind], opts, argv[optind + 1]);
    }
    q = malloc(SOP_VECTOR_MAX_DIM * sizeof(*q));
    if (!q) {
        cli_err("vector: out of memory");
        return CLI_FAIL;
    }
    const char *vs = argv[optind + 2];
    if (sop_vector_parse(vs, strlen(vs), q, SOP_VECTOR_MAX_DIM, &dim, &off) != SOP_OK ||
        off != strlen(vs)) {
        free(q);
        return cli_usage(argv[0],
                         "vector: '%s' is not a vector (numbers separated by spaces "
                         "or commas)",
                         vs);
    }
    ret = session_begin(&ss, argv[optind], argv[optind + 1], SOP_TXN_READ, false);
    if (ret != CLI_OK) {
        goto out;
    }
    rc = sop_vector_query(ss.s, q, dim, (size_t)k, metric, &hits, &n, &skipped);
    if (rc != SOP_OK) {
        ret = cli_fail(ss.db, ss.t, rc, "vector query '%s'", ss.name);
        goto out;
    }
    for (i = 0; i < n && ret == CLI_OK; i++) {
        ret = print_hit(hits[i].key, hits[i].key_len, hits[i].distance);
    }
    if (skipped) {
        cli_err("vector: %llu item(s) skipped: another dimension than %u, or not a vector",
                (unsigned long long)skipped, dim);
    }
out:
    sop_vector_free(hits);
    free(q);
    session_end(&ss);
    return ret;
}

/* ---------------------------------------------------------------- help */

static int cmd_help(int argc, char **argv)
{
    const struct cli_cmd *cmd;

    if (argc < 2) {
        print_overview(stdout);
        return CLI_OK;
    }
    if (argc > 2) {
        return cli_usage("help", "help: one command at a time");
    }
    cmd = cli_find(argv[1]);
    if (!cmd) {
        return cli_usage("help", "help: no command '%s'", argv[1]);
    }
    print_help(cmd, stdout);
    return CLI_OK;
}

/* -h or --help among the arguments, before a "--". */
static bool wants_help(int argc, char **argv)
{
    int i;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            return false;
        }
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            return true;
        }
    }
    return false;
}

int main(int argc, char **argv)
{
    const struct cli_cmd *cmd;
    int ret;

    if (argc < 2) {
        print_overview(stderr);
        return CLI_USAGE;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        print_overview(stdout);
        return CLI_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("sop %s\n", PACKAGE_VERSION);
        return CLI_OK;
    }
    cmd = cli_find(argv[1]);
    if (!cmd) {
        cli_err("unknown command '%s'", argv[1]);
        fputs("Try 'sop help'.\n", stderr);
        return CLI_USAGE;
    }
    if (cmd->run != cmd_help && wants_help(argc - 1, argv + 1)) {
        print_help(cmd, stdout);
        return CLI_OK;
    }
    ret = cmd->run(argc - 1, argv + 1);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_err("write stdout: %s", strerror(errno));
        if (ret == CLI_OK) {
            ret = CLI_FAIL;
        }
    }
    return ret;
}
