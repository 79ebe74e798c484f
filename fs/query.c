/*
 * query.c - the query file of search and vector stores (DESIGN.md section 3).
 *
 * A store of kind "search" or "vector" has a control file `.sop-search` at
 * its top (not listed by readdir, like `.sop-txn`).  A process opens it for
 * reading and writing, writes one query in one write(2), and reads the
 * answer through the same descriptor, from its start whatever the file
 * offset (the answer belongs to the descriptor; another query replaces it):
 *
 *   exec 3<>MNT/articles/.sop-search
 *   echo 'k=5 quick fox' >&3        # search: words, ranked by BM25
 *   cat <&3                         # doc<TAB>score lines, best first
 *
 *   echo 'k=3 metric=l2 0.1 0.2 0.3' >&3   # vector: the k nearest
 *   cat <&3                                # key<TAB>distance, nearest first
 *
 * Leading `k=N` (default 10; 0: all, search only) and `metric=cosine|l2`
 * (vector stores; default cosine) words are options; the rest of the first
 * line is the query.  A query that does not parse fails the write with
 * EINVAL and the reason in the log.  The query runs in the transaction of an
 * open scope over the store (it sees the scope's changes), else in a read
 * transaction of its own: the committed state.  `sop search MOUNT/STORE
 * QUERY` and `sop vector MOUNT/STORE ...` do exactly this.
 */
#include "query.h"
#include "errors.h"
#include "log.h"
#include "names.h"
#include "path.h"
#include "sop.h"
#include "tx.h"
#include "types.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#define QUERY_MAX (4u << 20)

/* The query kind (FS_Q_*, 0 for records) of store `name` in t, opened in *s. */
static int store_kind(struct fs *fs, sop_txn *t, const char *name, sop_store **s, int *kind)
{
    sop_store_info info;
    int rc = fs_ns_open_store(fs, t, name, s);
    if (rc)
        return rc;
    if ((rc = sop_store_get_info(*s, &info)) != 0)
        return fs_sop_err(fs, t, rc, "store info");
    const char *k = info.options.kind ? info.options.kind : "";
    *kind = !strcmp(k, "search") ? FS_Q_SEARCH : !strcmp(k, "vector") ? FS_Q_VECTOR : 0;
    return 0;
}

struct kind_arg {
    const struct fs_path *p;
    int kind;
};

static int kind_fn(struct fs *fs, struct fs_tx *tx, void *arg)
{
    struct kind_arg *k = arg;
    sop_store *s;
    return store_kind(fs, tx->t, k->p->store, &s, &k->kind);
}

int fs_query_kind(struct fs *fs, const struct fs_path *store, int *kind)
{
    struct kind_arg k = {.p = store, .kind = 0};
    int rc = fs_run(fs, store, NULL, false, kind_fn, &k);
    *kind = k.kind;
    return rc;
}

/* ------------------------------------------------------------ the query */

struct query {
    const struct fs_path *p;
    uint64_t k;
    int metric;
    char *text; /* the query words, or the vector's line */
    size_t len;
    FILE *out;
    char *why; /* what did not parse */
};

/* Take the leading name=value options off q (one line, NUL-terminated). */
static int parse_options(struct query *q, char *line)
{
    char *s = line;
    for (;;) {
        while (*s == ' ' || *s == '\t')
            s++;
        char *end = s + strcspn(s, " \t");
        if (!strncmp(s, "k=", 2)) {
            char *e;
            errno = 0;
            unsigned long long v = strtoull(s + 2, &e, 10);
            if (e != end || e == s + 2 || errno || v > UINT32_MAX) {
                q->why = "k= takes a number";
                return -EINVAL;
            }
            q->k = v;
        } else if (!strncmp(s, "metric=", 7)) {
            size_t n = (size_t)(end - (s + 7));
            if (n == 6 && !strncmp(s + 7, "cosine", 6))
                q->metric = SOP_VECTOR_COSINE;
            else if (n == 2 && !strncmp(s + 7, "l2", 2))
                q->metric = SOP_VECTOR_L2;
            else {
                q->why = "metric= is cosine or l2";
                return -EINVAL;
            }
        } else {
            break;
        }
        s = end;
    }
    q->text = s;
    q->len = strlen(s);
    while (q->len && (s[q->len - 1] == ' ' || s[q->len - 1] == '\t'))
        s[--q->len] = 0;
    if (!q->len) {
        q->why = "no query after the options";
        return -EINVAL;
    }
    return 0;
}

static int put_hit(FILE *out, const void *key, size_t kl, double x)
{
    if (fwrite(key, 1, kl, out) != kl || fprintf(out, "\t%.6f\n", x) < 0)
        return -ENOMEM;
    return 0;
}

static int search_in(struct fs *fs, struct fs_tx *tx, sop_store *s, struct query *q)
{
    sop_search_hit *hits = NULL;
    size_t n = 0;
    int rc = sop_search_query(s, q->text, (size_t)q->k, &hits, &n);
    if (rc)
        return fs_sop_err(fs, tx->t, rc, "search");
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = put_hit(q->out, hits[i].key, hits[i].key_len, hits[i].score);
    sop_search_free(hits);
    return rc;
}

static int vector_in(struct fs *fs, struct fs_tx *tx, sop_store *s, struct query *q)
{
    sop_vector_hit *hits = NULL;
    size_t n = 0, off = 0;
    uint64_t skipped = 0;
    uint32_t dim = 0;
    float *v = malloc(SOP_VECTOR_MAX_DIM * sizeof(*v));
    if (!v)
        return -ENOMEM;
    int rc = sop_vector_parse(q->text, q->len, v, SOP_VECTOR_MAX_DIM, &dim, &off);
    if (rc || off != q->len) {
        q->why = "not a vector (numbers separated by spaces or commas)";
        rc = -EINVAL;
        goto out;
    }
    if ((rc = sop_vector_query(s, v, dim, (size_t)q->k, q->metric, &hits, &n, &skipped)) != 0) {
        rc = fs_sop_err(fs, tx->t, rc, "vector query");
        goto out;
    }
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = put_hit(q->out, hits[i].key, hits[i].key_len, hits[i].distance);
    if (skipped)
        fs_log(LOG_INFO,
               "vector query in %s: %llu item(s) skipped (another dimension than %u, "
               "or not a vector)",
               q->p->store, (unsigned long long)skipped, dim);
out:
    sop_vector_free(hits);
    free(v);
    return rc;
}

/* The query in the store's own kind, read in the same transaction. */
static int query_fn(struct fs *fs, struct fs_tx *tx, void *arg)
{
    struct query *q = arg;
    sop_store *s;
    int kind = 0;
    int rc = store_kind(fs, tx->t, q->p->store, &s, &kind);
    if (rc)
        return rc;
    if (!kind) {
        q->why = "the store is no longer of kind search or vector";
        return -EINVAL;
    }
    if (kind == FS_Q_VECTOR && q->k == 0) {
        q->why = "k= must be at least 1 for a vector query";
        return -EINVAL;
    }
    return kind == FS_Q_VECTOR ? vector_in(fs, tx, s, q) : search_in(fs, tx, s, q);
}

int fs_query_run(struct fs *fs, const struct fs_path *store, const char *buf, size_t len,
                 char **text, size_t *text_len)
{
    struct query q = {.p = store, .k = 10, .metric = SOP_VECTOR_COSINE};
    char *line = NULL, *ans = NULL;
    size_t alen = 0;
    int rc;
    *text = NULL;
    *text_len = 0;
    if (len > QUERY_MAX || memchr(buf, 0, len)) {
        q.why = len > QUERY_MAX ? "longer than 4 MiB" : "a NUL byte";
        rc = -EINVAL;
        goto out;
    }
    const char *nl = memchr(buf, '\n', len);
    size_t l1 = nl ? (size_t)(nl - buf) : len; /* the first line */
    if (!(line = malloc(l1 + 1))) {
        rc = -ENOMEM;
        goto out;
    }
    memcpy(line, buf, l1);
    line[l1] = 0;
    if ((rc = parse_options(&q, line)) != 0)
        goto out;
    if (!(q.out = open_memstream(&ans, &alen))) {
        rc = -ENOMEM;
        goto out;
    }
    rc = fs_run(fs, store, NULL, false, query_fn, &q);
    if (fclose(q.out) != 0 && rc == 0)
        rc = -ENOMEM;
    if (rc == 0) {
        *text = ans;
        *text_len = alen;
        ans = NULL;
    }
out:
    if (rc == -EINVAL && q.why)
        fs_log(LOG_INFO, "query in %s: %s", store->store, q.why);
    free(ans);
    free(line);
    return rc;
}
