/*
 * dump.c - `sop dump` and `sop load`: a store as text, one item a line.
 *
 * The format (cli_dump_help says it to users):
 *
 *   #sop-dump 1                      header: format version, then options
 *   #store users
 *   #slot_length 1000
 *   #unique true
 *   #value_in_node true
 *   #chunk_size 1048576
 *   #kind records
 *   #description User\x20Profiles   texts escaped as keys are
 *   #relations
 *   #count 2                         items the store counted (information)
 *   user_1<TAB>eyJpZCI6InVzZXJfMSJ9  an item: escaped key, TAB, base64 value
 *   user_2<TAB>eyJpZCI6InVzZXJfMiJ9
 *   #end 2                           trailer: the items written
 *
 * Keys are escaped so that every key is one line and no key starts with '#':
 * bytes outside 0x21..0x7e, '\' and '#' are written \xHH.  Values are base64
 * (RFC 4648, padded), empty for an empty value.
 *
 * A dump is one read transaction, so it is a consistent snapshot; values
 * of any size are streamed (unique stores: sop_value_read by key).  A load
 * commits every 1,000 items (or 64 MiB of values), so it is not atomic: a
 * failed load says how many items it committed.  Values bigger than 1 MiB
 * are streamed into unique stores with sop_value_write; a store with
 * duplicates takes each value whole (up to SOP_MAX_WHOLE_VALUE).
 */
#include "config.h"

#include "cli.h"
#include "progress.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define LOAD_BATCH 1000
#define LOAD_BATCH_BYTES (64u << 20)
#define STREAM_PIECE (1u << 20)  /* value bytes buffered before streaming */
#define B64_PIECE (3u * 262144u) /* bytes encoded at a time: a multiple of 3 */
#define LINE_PIECE (64u * 1024u) /* characters read at a time */

const char cli_dump_help[] =
    "dump writes the store to stdout as text; load reads such text from stdin\n"
    "and adds its items to the store, creating the store with the options of the\n"
    "dump's header when it does not exist (options of an existing store are kept):\n"
    "  sop dump DIR users > users.dump && sop load DIR2 users < users.dump\n"
    "\n"
    "Format, one line each:\n"
    "  #sop-dump 1            the header (optional in hand-made input): format\n"
    "  #slot_length 1000      version, then store options: slot_length, unique,\n"
    "  #unique true           value_in_node, chunk_size, kind, description,\n"
    "  ...                    relations, count (information only)\n"
    "  KEY<TAB>VALUE          an item: KEY escaped, VALUE in base64 (RFC 4648,\n"
    "                         padded; empty for an empty value)\n"
    "  #end N                 the trailer: N items were written.  A load of a dump\n"
    "                         with a header fails if it is missing or wrong\n"
    "                         (a truncated dump).\n"
    "Escaped text: bytes outside 0x21..0x7e, and '\\' and '#', are written \\xHH\n"
    "(a space is \\x20), so no key contains a TAB or a newline or starts with '#'.\n"
    "Other lines starting with '#' are comments.\n"
    "\n"
    "dump reads one snapshot (one read transaction).  load commits every 1,000\n"
    "items (or 64 MiB), syncing once at the end: a failed load has committed the\n"
    "items it reports, durably.  In a\n"
    "unique store load replaces the value of a key present (upsert); in a store\n"
    "with duplicates it adds.  Values of any size are streamed in unique stores;\n"
    "in stores with duplicates a value must fit in memory.\n";

/* ---------------------------------------------------------------- dump */

static bool write_b64(FILE *f, const uint8_t *p, size_t n, char *enc)
{
    while (n > 0) {
        size_t m = n < B64_PIECE ? n : B64_PIECE, el = cli_b64_len(m);

        cli_b64_encode(p, m, enc);
        if (fwrite(enc, 1, el, f) != el) {
            return false;
        }
        p += m;
        n -= m;
    }
    return true;
}

static bool write_header_text(FILE *f, const char *label, const char *s)
{
    return fprintf(f, "#%s ", label) > 0 && cli_escape_write(f, s ? s : "", s ? strlen(s) : 0) &&
           fputc('\n', f) != EOF;
}

struct dumper {
    FILE *f;
    sop_txn *t;
    const char *name;
    uint8_t *rbuf;
    char *enc;
    uint64_t items, skipped, ranges, bytes;
    bool werr;
    struct progress pg;
};

static void dump_skip(struct dumper *d, const sop_walk_item *it, int rc)
{
    progress_clear(&d->pg);
    fflush(d->f);
    fprintf(stderr, "sop: dump: '%s': skipped an item whose value does not read (%s: %s); key ",
            d->name, sop_strerror(rc), sop_txn_errmsg(d->t));
    cli_escape_write(stderr, it->key, it->kl);
    fputc('\n', stderr);
    d->skipped++;
}

static void dump_damaged(void *arg, const char *text)
{
    struct dumper *d = arg;
    progress_clear(&d->pg);
    fflush(d->f);
    fprintf(stderr, "sop: dump: %s: skipped\n", text);
    d->ranges++;
}

/* One item: KEY TAB base64(value).  A value that fits in STREAM_PIECE is read
 * whole first; a bigger one is read through once before a byte of it is
 * written, so a chunk that does not read skips the item, not half a line. */
static int dump_item(void *arg, const sop_walk_item *it)
{
    struct dumper *d = arg;
    size_t got;
    int rc;
    if (it->kl > SOP_MAX_KEY) {
        progress_clear(&d->pg);
        fprintf(stderr, "sop: dump: '%s': a key of %zu bytes, over the limit: skipped\n", d->name,
                it->kl);
        d->skipped++;
        return 0;
    }
    if (!it->value && it->size > STREAM_PIECE) {
        for (uint64_t off = 0; off < it->size; off += got)
            if ((rc = sop_walk_read(it, off, d->rbuf, B64_PIECE, &got)) != 0 || !got) {
                dump_skip(d, it, rc ? rc : SOP_ECORRUPT);
                return 0;
            }
    }
    const uint8_t *whole = it->value;
    uint8_t *tmp = NULL;
    if (!whole && it->size <= STREAM_PIECE) {
        if (!(tmp = malloc(it->size ? (size_t)it->size : 1)))
            return SOP_ENOMEM;
        if ((rc = sop_walk_read(it, 0, tmp, (size_t)it->size, &got)) != 0 || got != it->size) {
            dump_skip(d, it, rc ? rc : SOP_ECORRUPT);
            free(tmp);
            return 0;
        }
        whole = tmp;
    }
    bool ok = cli_escape_write(d->f, it->key, it->kl) && fputc('\t', d->f) != EOF;
    if (ok && whole) {
        ok = write_b64(d->f, whole, (size_t)it->size, d->enc);
    } else if (ok) {
        /* stream it: pieces of a multiple of 3 bytes encode with no padding */
        for (uint64_t off = 0; ok && off < it->size; off += got) {
            if ((rc = sop_walk_read(it, off, d->rbuf, B64_PIECE, &got)) != 0 || !got) {
                free(tmp);
                progress_clear(&d->pg);
                fprintf(stderr, "sop: dump: '%s': a value stopped reading half-way\n", d->name);
                return rc ? rc : SOP_ECORRUPT;
            }
            size_t el = cli_b64_len(got);
            cli_b64_encode(d->rbuf, got, d->enc);
            ok = fwrite(d->enc, 1, el, d->f) == el;
        }
    }
    free(tmp);
    if (!ok || fputc('\n', d->f) == EOF) {
        d->werr = true;
        return SOP_EIO;
    }
    d->items++;
    d->bytes += it->size;
    progress_update(&d->pg, d->items, d->bytes);
    return 0;
}

int cli_cmd_dump(int argc, char **argv)
{
    static const struct option none[] = {{NULL, 0, NULL, 0}};
    sop_db *db = NULL;
    sop_txn *t = NULL;
    sop_store *s = NULL;
    sop_store_info info;
    uint8_t *rbuf = NULL;
    char *enc = NULL;
    const char *dir, *name, *kind;
    uint64_t items = 0;
    FILE *f = stdout;
    int ret, rc;

    optind = 1;
    if (cli_getopt(argv[0], argc, argv, "", none) != -1) {
        return CLI_USAGE;
    }
    if (argc - optind != 2) {
        return cli_usage(argv[0], "dump: needs DIR and STORE");
    }
    dir = argv[optind];
    name = argv[optind + 1];
    rbuf = malloc(B64_PIECE);
    enc = malloc(cli_b64_len(B64_PIECE));
    if (!rbuf || !enc) {
        cli_err("dump: out of memory");
        ret = CLI_FAIL;
        goto out;
    }
    ret = cli_open_db(dir, false, &db);
    if (ret != CLI_OK) {
        goto out;
    }
    rc = sop_txn_begin(db, SOP_TXN_READ, &t);
    if (rc != SOP_OK) {
        t = NULL;
        ret = cli_fail(db, NULL, rc, "dump: begin a read transaction in %s", dir);
        goto out;
    }
    rc = sop_store_open(t, name, &s);
    if (rc == SOP_OK) {
        rc = sop_store_get_info(s, &info);
    }
    if (rc != SOP_OK) {
        ret = cli_fail(db, t, rc, "dump: open store '%s' in %s", name, dir);
        goto out;
    }
    kind = info.options.kind && info.options.kind[0] ? info.options.kind : "records";
    if (fprintf(f, "#sop-dump 1\n") < 0 || !write_header_text(f, "store", name) ||
        fprintf(f, "#slot_length %" PRIu32 "\n", info.options.slot_length) < 0 ||
        fprintf(f, "#unique %s\n", info.options.unique ? "true" : "false") < 0 ||
        fprintf(f, "#value_in_node %s\n", info.options.value_in_node ? "true" : "false") < 0 ||
        fprintf(f, "#chunk_size %" PRIu32 "\n", info.options.chunk_size) < 0 ||
        !write_header_text(f, "kind", kind) ||
        !write_header_text(f, "description", info.options.description) ||
        !write_header_text(f, "relations", info.options.relations) ||
        fprintf(f, "#count %" PRIu64 "\n", info.count) < 0) {
        goto write_error;
    }
    /* the store walked past damage: an item whose node or value does not
     * read is skipped, said on stderr, and the dump goes on */
    struct dumper d = {.f = f, .t = t, .name = name, .rbuf = rbuf, .enc = enc};
    progress_start(&d.pg, PROGRESS_DATA_ON_STDOUT, "items", "dump %s", name);
    progress_total(&d.pg, info.count, 0);
    rc = sop_store_walk(s, dump_item, dump_damaged, &d);
    progress_end(&d.pg);
    items = d.items;
    if (d.werr) {
        goto write_error;
    }
    if (rc != SOP_OK && rc != SOP_ECORRUPT) {
        ret = cli_fail(db, t, rc, "dump: '%s', after item %" PRIu64, name, items);
        goto out;
    }
    if (fprintf(f, "#end %" PRIu64 "\n", items) < 0 || fflush(f) != 0) {
        goto write_error;
    }
    ret = CLI_OK;
    if (d.skipped || rc == SOP_ECORRUPT) {
        cli_err("dump: '%s': %" PRIu64 " items written; %" PRIu64 " items and %" PRIu64
                " ranges of keys skipped because they do not read",
                name, items, d.skipped, d.ranges);
        ret = CLI_FAIL;
    }
    goto out;
write_error:
    cli_err("dump: write stdout: %s", strerror(errno));
    ret = CLI_FAIL;
out:
    sop_txn_rollback(t);
    sop_db_close(db);
    free(enc);
    free(rbuf);
    return ret;
}

/* ---------------------------------------------------------------- load */

struct loader {
    const char *dir, *name;
    FILE *in;
    uint64_t line;
    /* the current line piece */
    char *lbuf;
    size_t llen;
    bool eol; /* lbuf holds the end of the line */
    /* header */
    bool has_header, has_end;
    uint64_t end_count;
    sop_store_options o;
    char *desc, *rel, *kind;
    /* engine */
    sop_db *db;
    sop_txn *t;
    sop_store *s;
    bool unique;
    uint64_t batch_items, batch_bytes, committed, items, commits;
    /* the current item */
    char *key;
    size_t kl;
    uint8_t *val;
    /* progress: bytes of input read, items announced by the header */
    uint64_t consumed;
    struct progress pg;
    size_t vl, vcap;
    bool streaming;
    uint64_t voff;
};

/* Read the next piece of a line into l->lbuf (NUL-terminated, newline
 * stripped).  Returns 1, 0 at end of input, -1 on a read error. */
static int next_piece(struct loader *l)
{
    if (!fgets(l->lbuf, LINE_PIECE + 1, l->in)) {
        return ferror(l->in) ? -1 : 0;
    }
    l->llen = strlen(l->lbuf);
    l->consumed += l->llen;
    l->eol = l->llen > 0 && l->lbuf[l->llen - 1] == '\n';
    if (l->eol) {
        l->lbuf[--l->llen] = '\0';
    } else if (feof(l->in)) {
        l->eol = true; /* last line without a newline */
    }
    return 1;
}

static int load_err(struct loader *l, const char *what)
{
    progress_clear(&l->pg);
    if (l->commits && l->db) {
        sop_db_sync(l->db); /* what it reports as committed is durable */
    }
    cli_err("load: line %" PRIu64 ": %s (%" PRIu64 " items committed to '%s' before)", l->line,
            what, l->committed, l->name);
    return CLI_FAIL;
}

/* A whole header line: the rest of it appended to lbuf's first piece. */
static int header_line(struct loader *l, char **text)
{
    size_t len = l->llen, cap = l->llen + 1;
    char *s = malloc(cap);

    if (!s) {
        return load_err(l, "out of memory");
    }
    memcpy(s, l->lbuf, l->llen + 1);
    while (!l->eol) {
        int r = next_piece(l);
        char *ns;

        if (r < 0) {
            free(s);
            return load_err(l, strerror(errno));
        }
        if (r == 0) {
            break;
        }
        ns = realloc(s, len + l->llen + 1);
        if (!ns) {
            free(s);
            return load_err(l, "out of memory");
        }
        s = ns;
        memcpy(s + len, l->lbuf, l->llen + 1);
        len += l->llen;
    }
    *text = s;
    return CLI_OK;
}

static bool parse_bool(const char *s, bool *out)
{
    if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0) {
        *out = true;
    } else if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0) {
        *out = false;
    } else {
        return false;
    }
    return true;
}

/* Take an escaped text header value into *dst (malloc'd, NUL-terminated). */
static bool take_text(const char *v, char **dst)
{
    size_t n = strlen(v);
    char *s = malloc(n + 1);

    if (!s) {
        return false;
    }
    memcpy(s, v, n + 1);
    if (!cli_unescape(s, &n) || memchr(s, '\0', n)) {
        free(s);
        return false;
    }
    s[n] = '\0';
    free(*dst);
    *dst = s;
    return true;
}

/* Apply one header line ("#name value"). */
static int apply_header(struct loader *l, const char *line)
{
    const char *sp = strchr(line, ' ');
    size_t nl = sp ? (size_t)(sp - line) : strlen(line);
    const char *v = sp ? sp + 1 : "";
    uint64_t n;

#define IS(word) (nl == strlen(word) && memcmp(line, word, nl) == 0)
    if (IS("#sop-dump")) {
        if (strcmp(v, "1") != 0) {
            return load_err(l, "unknown dump format version (this sop reads version 1)");
        }
        l->has_header = true;
    } else if (IS("#slot_length")) {
        if (!cli_parse_u64(v, 4, 65535, false, &n)) {
            return load_err(l, "bad slot_length");
        }
        l->o.slot_length = (uint32_t)n;
    } else if (IS("#unique")) {
        if (!parse_bool(v, &l->o.unique)) {
            return load_err(l, "bad unique (true or false)");
        }
    } else if (IS("#value_in_node")) {
        if (!parse_bool(v, &l->o.value_in_node)) {
            return load_err(l, "bad value_in_node (true or false)");
        }
    } else if (IS("#chunk_size")) {
        if (!cli_parse_u64(v, 0, UINT32_MAX, false, &n)) {
            return load_err(l, "bad chunk_size");
        }
        l->o.chunk_size = (uint32_t)n;
    } else if (IS("#kind")) {
        if (!take_text(v, &l->kind)) {
            return load_err(l, "bad kind");
        }
    } else if (IS("#description")) {
        if (!take_text(v, &l->desc)) {
            return load_err(l, "bad escape in description");
        }
    } else if (IS("#relations")) {
        if (!take_text(v, &l->rel)) {
            return load_err(l, "bad escape in relations");
        }
    } else if (IS("#end")) {
        if (!cli_parse_u64(v, 0, UINT64_MAX, false, &l->end_count)) {
            return load_err(l, "bad #end count");
        }
        l->has_end = true;
    } else if (IS("#count")) { /* information: the whole, for the progress line */
        if (cli_parse_u64(v, 0, UINT64_MAX, false, &n)) {
            progress_total(&l->pg, n, l->pg.total_bytes);
        }
    }
    /* #store and anything else: information or comments */
#undef IS
    return CLI_OK;
}

/* Begin a batch: a write transaction with the store open (created from the
 * header's options the first time, if absent).  Batches commit without
 * their own fsync; the load syncs once before it reports (load_err, the
 * end), so what it reports as committed is durable. */
static int batch_begin(struct loader *l)
{
    int rc = sop_txn_begin(l->db, SOP_TXN_WRITE | SOP_TXN_NOSYNC, &l->t);

    if (rc != SOP_OK) {
        l->t = NULL;
        return cli_fail(l->db, NULL, rc, "load: begin a write transaction in %s", l->dir);
    }
    rc = sop_store_open(l->t, l->name, &l->s);
    if (rc == SOP_ENOTFOUND && l->commits == 0) {
        l->o.description = l->desc;
        l->o.relations = l->rel;
        l->o.kind = l->kind && l->kind[0] && strcmp(l->kind, "records") != 0 ? l->kind : NULL;
        rc = sop_store_create(l->t, l->name, &l->o, &l->s);
        if (rc != SOP_OK) {
            return cli_fail(l->db, l->t, rc, "load: create store '%s' in %s", l->name, l->dir);
        }
    } else if (rc != SOP_OK) {
        return cli_fail(l->db, l->t, rc, "load: open store '%s' in %s", l->name, l->dir);
    }
    if (l->commits == 0) {
        sop_store_info info;

        rc = sop_store_get_info(l->s, &info);
        if (rc != SOP_OK) {
            return cli_fail(l->db, l->t, rc, "load: info of store '%s'", l->name);
        }
        l->unique = info.options.unique;
    }
    l->batch_items = 0;
    l->batch_bytes = 0;
    return CLI_OK;
}

static int batch_commit(struct loader *l)
{
    sop_txn *t = l->t;
    int rc;

    l->t = NULL;
    l->s = NULL;
    rc = sop_txn_commit(t);
    if (rc != SOP_OK) {
        cli_fail(l->db, NULL, rc, "load: commit");
        return load_err(l, "commit failed");
    }
    l->commits++;
    l->committed += l->batch_items;
    return CLI_OK;
}

/* Send the buffered value bytes of a streamed value to the store. */
static int stream_flush(struct loader *l)
{
    int rc;

    if (!l->streaming) {
        /* a value too big for memory: start the item empty, then write in place */
        rc = sop_upsert(l->s, l->key, l->kl, "", 0);
        if (rc != SOP_OK) {
            cli_fail(l->db, l->t, rc, "load: put key");
            return load_err(l, "put failed");
        }
        l->streaming = true;
        l->voff = 0;
    }
    rc = sop_value_write(l->s, l->key, l->kl, l->voff, l->val, l->vl);
    if (rc != SOP_OK) {
        cli_fail(l->db, l->t, rc, "load: write value at offset %" PRIu64, l->voff);
        return load_err(l, "write failed");
    }
    l->voff += l->vl;
    l->batch_bytes += l->vl;
    l->vl = 0;
    return CLI_OK;
}

/* Make room for `more` decoded bytes in l->val. */
static int val_reserve(struct loader *l, size_t more)
{
    uint8_t *nv;
    size_t cap = l->vcap ? l->vcap : 4096;

    if (l->vl + more <= l->vcap) {
        return CLI_OK;
    }
    if (l->vl + more > SOP_MAX_WHOLE_VALUE) {
        return load_err(l, "value too big for a store with duplicate keys");
    }
    while (cap < l->vl + more) {
        cap *= 2;
    }
    nv = realloc(l->val, cap);
    if (!nv) {
        return load_err(l, "out of memory");
    }
    l->val = nv;
    l->vcap = cap;
    return CLI_OK;
}

/* One item line; lbuf holds its first piece. */
static int load_item(struct loader *l)
{
    struct cli_b64dec dec = {0};
    char *tab = memchr(l->lbuf, '\t', l->llen);
    size_t kl, rest, got;
    const char *p;
    int rc, ret;

    if (!tab) {
        return load_err(l, l->eol ? "no TAB between key and value" : "key too long");
    }
    kl = (size_t)(tab - l->lbuf);
    if (kl > 4 * SOP_MAX_KEY) {
        return load_err(l, "key too long");
    }
    memcpy(l->key, l->lbuf, kl);
    if (!cli_unescape(l->key, &kl)) {
        return load_err(l, "bad \\x escape in key");
    }
    l->kl = kl;
    l->vl = 0;
    l->streaming = false;
    p = tab + 1;
    rest = l->llen - (size_t)(p - l->lbuf);
    for (;;) {
        ret = val_reserve(l, rest / 4 * 3 + 3);
        if (ret != CLI_OK) {
            return ret;
        }
        if (!cli_b64_decode(&dec, p, rest, l->val + l->vl, &got)) {
            return load_err(l, "bad base64 value");
        }
        l->vl += got;
        if (l->unique && l->vl >= STREAM_PIECE) {
            ret = stream_flush(l);
            if (ret != CLI_OK) {
                return ret;
            }
        }
        if (l->eol) {
            break;
        }
        rc = next_piece(l);
        if (rc < 0) {
            return load_err(l, strerror(errno));
        }
        if (rc == 0) {
            break;
        }
        p = l->lbuf;
        rest = l->llen;
    }
    if (!cli_b64_finish(&dec)) {
        return load_err(l, "base64 value cut short");
    }
    if (l->streaming) {
        if (l->vl > 0) {
            ret = stream_flush(l);
            if (ret != CLI_OK) {
                return ret;
            }
        }
    } else {
        rc = l->unique ? sop_upsert(l->s, l->key, l->kl, l->val, l->vl)
                       : sop_add(l->s, l->key, l->kl, l->val, l->vl);
        if (rc != SOP_OK) {
            cli_fail(l->db, l->t, rc, "load: put item");
            return load_err(l, "put failed");
        }
        l->batch_bytes += l->vl;
    }
    l->batch_items++;
    l->items++;
    progress_update(&l->pg, l->items, l->consumed);
    return CLI_OK;
}

int cli_cmd_load(int argc, char **argv)
{
    static const struct option none[] = {{NULL, 0, NULL, 0}};
    struct loader l = {0};
    bool in_items = false;
    int ret, r;

    optind = 1;
    if (cli_getopt(argv[0], argc, argv, "", none) != -1) {
        return CLI_USAGE;
    }
    if (argc - optind != 2) {
        return cli_usage(argv[0], "load: needs DIR and STORE");
    }
    l.dir = argv[optind];
    l.name = argv[optind + 1];
    l.in = stdin;
    l.lbuf = malloc(LINE_PIECE + 2);
    l.key = malloc(4 * SOP_MAX_KEY + 1);
    if (!l.lbuf || !l.key) {
        cli_err("load: out of memory");
        ret = CLI_FAIL;
        goto out;
    }
    ret = cli_open_db(l.dir, true, &l.db);
    if (ret != CLI_OK) {
        goto out;
    }
    progress_start(&l.pg, 0, "items", "load %s", l.name);
    struct stat in_st;
    off_t at = ftello(l.in);
    if (fstat(fileno(l.in), &in_st) == 0 && S_ISREG(in_st.st_mode) && at >= 0 &&
        in_st.st_size > at) {
        progress_total(&l.pg, 0, (uint64_t)(in_st.st_size - at));
    }
    while ((r = next_piece(&l)) > 0) {
        l.line++;
        if (l.has_end) {
            if (l.llen == 0 && l.eol) {
                continue;
            }
            ret = load_err(&l, "data after the #end trailer");
            goto out;
        }
        if (l.lbuf[0] == '#') {
            char *text = NULL;

            ret = header_line(&l, &text);
            if (ret == CLI_OK) {
                /* options count only before the first item */
                if (!in_items || strncmp(text, "#end", 4) == 0) {
                    ret = apply_header(&l, text);
                }
                free(text);
            }
            if (ret != CLI_OK) {
                goto out;
            }
            continue;
        }
        if (l.llen == 0 && l.eol) {
            continue; /* blank line */
        }
        in_items = true;
        if (!l.t) {
            ret = batch_begin(&l);
            if (ret != CLI_OK) {
                goto out;
            }
        }
        ret = load_item(&l);
        if (ret != CLI_OK) {
            goto out;
        }
        if (l.batch_items >= LOAD_BATCH || l.batch_bytes >= LOAD_BATCH_BYTES) {
            ret = batch_commit(&l);
            if (ret != CLI_OK) {
                goto out;
            }
        }
    }
    if (r < 0) {
        ret = load_err(&l, strerror(errno));
        goto out;
    }
    if (l.has_header && !l.has_end) {
        ret = load_err(&l, "no #end trailer: the dump is truncated; nothing of the last batch "
                           "was committed");
        goto out;
    }
    if (l.has_end && l.end_count != l.items) {
        char msg[128];

        snprintf(msg, sizeof(msg), "the dump says %" PRIu64 " items, it held %" PRIu64, l.end_count,
                 l.items);
        ret = load_err(&l, msg);
        goto out;
    }
    if (!l.t && l.commits == 0) {
        /* no items: still create the store (an empty dump) */
        ret = batch_begin(&l);
        if (ret != CLI_OK) {
            goto out;
        }
    }
    if (l.t) {
        ret = batch_commit(&l);
        if (ret != CLI_OK) {
            goto out;
        }
    }
    int src = sop_db_sync(l.db);
    if (src != SOP_OK) {
        ret = cli_fail(l.db, NULL, src, "load: sync %s", l.dir);
        goto out;
    }
    progress_end(&l.pg);
    printf("load: %" PRIu64 " items into '%s' in %" PRIu64 " commits\n", l.items, l.name,
           l.commits);
    ret = CLI_OK;
out:
    progress_end(&l.pg);
    sop_txn_rollback(l.t);
    sop_db_close(l.db);
    free(l.val);
    free(l.key);
    free(l.lbuf);
    free(l.desc);
    free(l.rel);
    free(l.kind);
    return ret;
}
