/*
 * test_search.c - search stores: BM25 ranking against the formula computed
 * here, index maintenance inside transactions (updates, removes, rollback,
 * snapshots, conflicts, reopen), the hidden index store, big documents.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "search.h"
#include "sop.h"
#include "testlib.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sop_store *mk_search(sop_txn *t, const char *name)
{
    sop_store *s;
    sop_store_options o = {.unique = true, .value_in_node = true, .kind = "search"};
    assert_int_equal(sop_store_create(t, name, &o, &s), 0);
    return s;
}

/* Begin a transaction of `mode` on db and open store `name` in it. */
static sop_store *begin_on(sop_db *db, int mode, sop_txn **t, const char *name)
{
    assert_int_equal(sop_txn_begin(db, mode, t), 0);
    return tl_open_store(*t, name);
}

static void put(sop_store *s, const char *k, const char *v)
{
    assert_int_equal(sop_upsert(s, k, strlen(k), v, strlen(v)), 0);
}

/* BM25 of one term in one document, as the literature writes it (Lucene's
 * idf), k1 = 1.2, b = 0.75. */
static double bm25(double tf, double dl, double df, double n, double avgdl)
{
    double idf = log(1.0 + (n - df + 0.5) / (df + 0.5));
    return idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * dl / avgdl));
}

/* Search and return the hits as "key=score;" text (scores %.6f), for
 * comparing whole answers. */
static char *answer(sop_store *s, const char *q, size_t k)
{
    sop_search_hit *h;
    size_t n;
    assert_int_equal(sop_search_query(s, q, k, &h, &n), 0);
    char *out = calloc(1, 4096);
    assert_non_null(out);
    for (size_t i = 0; i < n; i++)
        snprintf(out + strlen(out), 4096 - strlen(out), "%s=%.6f;", (const char *)h[i].key,
                 h[i].score);
    sop_search_free(h);
    return out;
}

static void expect_answer(sop_store *s, const char *q, const char *want)
{
    char *got = answer(s, q, 0);
    /* only the keys: scores are checked against the formula elsewhere */
    char keys[4096] = "";
    for (char *p = got; *p;) {
        char *eq = strchr(p, '=');
        char *semi = strchr(p, ';');
        strncat(keys, p, (size_t)(eq - p));
        strcat(keys, ",");
        p = semi + 1;
    }
    assert_string_equal(keys, want);
    free(got);
}

static void ranking_matches_bm25_formula(void **st)
{
    (void)st;
    sop_db *db = tl_open_db();
    sop_txn *t;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    sop_store *s = mk_search(t, "articles");
    put(s, "d1", "The quick brown fox");            /* 4 words */
    put(s, "d2", "jumps over the lazy dog");        /* 5 */
    put(s, "d3", "the fox, and the dog: fox!");     /* 6 */
    put(s, "d4", "Quick QUICK quick");              /* 3 */
    put(s, "d5", "nothing here at all, 1234 5678"); /* 6 */
    assert_int_equal(sop_txn_commit(t), 0);

    s = begin_on(db, SOP_TXN_READ, &t, "articles");
    sop_search_hit *h;
    size_t n;
    assert_int_equal(sop_search_query(s, "quick FOX quick", 0, &h, &n), 0);
    double N = 5, avgdl = (4 + 5 + 6 + 3 + 6) / 5.0;
    double d1 = bm25(1, 4, 2, N, avgdl) + bm25(1, 4, 2, N, avgdl); /* fox + quick */
    double d3 = bm25(2, 6, 2, N, avgdl);
    double d4 = bm25(3, 3, 2, N, avgdl);
    struct {
        const char *k;
        double score;
        uint64_t words;
    } want[3] = {{"d1", d1, 4}, {"d3", d3, 6}, {"d4", d4, 3}};
    /* sort the expectation by score, best first */
    for (int i = 0; i < 3; i++)
        for (int j = i + 1; j < 3; j++)
            if (want[j].score > want[i].score) {
                __typeof__(want[0]) x = want[i];
                want[i] = want[j];
                want[j] = x;
            }
    assert_int_equal(n, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(h[i].key_len, 2);
        assert_memory_equal(h[i].key, want[i].k, 2);
        assert_true(fabs(h[i].score - want[i].score) < 1e-9);
        assert_int_equal(h[i].words, want[i].words);
    }
    sop_search_free(h);
    /* k limits the answer to the best */
    assert_int_equal(sop_search_query(s, "quick fox", 1, &h, &n), 0);
    assert_int_equal(n, 1);
    assert_memory_equal(h[0].key, want[0].k, 2);
    sop_search_free(h);
    /* digits are words; no match, empty query */
    expect_answer(s, "5678", "d5,");
    expect_answer(s, "zebra", "");
    expect_answer(s, "  ,;  ", "");
    /* not a search store */
    assert_int_equal(sop_search_query(NULL, "x", 0, &h, &n), SOP_EINVAL);
    sop_txn_commit(t);

    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    sop_store *r;
    assert_int_equal(sop_store_create(t, "plain", NULL, &r), 0);
    put(r, "a", "fox");
    assert_int_equal(sop_search_query(r, "fox", 0, &h, &n), SOP_EINVAL);
    assert_non_null(strstr(sop_txn_errmsg(t), "not search"));
    /* equal scores: key order */
    s = tl_open_store(t, "articles");
    put(s, "twin-b", "zebra crossing");
    put(s, "twin-a", "zebra crossing");
    expect_answer(s, "zebra", "twin-a,twin-b,");
    assert_int_equal(sop_txn_commit(t), 0);
    sop_db_close(db);
}

static void words_fold_case_and_keep_utf8(void **st)
{
    (void)st;
    sop_db *db = tl_open_db();
    sop_txn *t;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    sop_store *s = mk_search(t, "docs");
    put(s, "fr", "Le Café de l'Été");
    put(s, "de", "GRÜßE aus Köln");
    char longw[200];
    memset(longw, 'x', 150);
    longw[150] = 0;
    put(s, "long", longw);
    assert_int_equal(sop_txn_commit(t), 0);
    s = begin_on(db, SOP_TXN_READ, &t, "docs");
    expect_answer(s, "café", "fr,");
    expect_answer(s, "CAF", "");           /* a word is whole: no prefix match */
    expect_answer(s, "köln grüße", "de,"); /* bytes >= 0x80 are not folded */
    expect_answer(s, "l", "fr,");
    /* a long word is cut to SOP_SEARCH_MAX_WORD bytes, in documents and queries */
    memset(longw, 'X', 180);
    longw[180] = 0;
    expect_answer(s, longw, "long,");
    sop_txn_commit(t);
    sop_db_close(db);
}

static void updates_and_removes_change_results(void **st)
{
    (void)st;
    sop_db *db = tl_open_db();
    sop_txn *t;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    sop_store *s = mk_search(t, "articles");
    put(s, "doc1", "The quick brown fox");
    put(s, "doc2", "jumps over the lazy dog");
    assert_int_equal(sop_txn_commit(t), 0);

    s = begin_on(db, SOP_TXN_WRITE, &t, "articles");
    put(s, "doc2", "a fox jumps over a fox");
    assert_int_equal(sop_remove(s, "doc1", 4), 0);
    put(s, "doc3", "brown bear");
    assert_int_equal(sop_txn_commit(t), 0);

    s = begin_on(db, SOP_TXN_READ, &t, "articles");
    expect_answer(s, "fox", "doc2,");
    expect_answer(s, "lazy dog quick", "");
    expect_answer(s, "brown", "doc3,");
    /* N = 2, avgdl = (6 + 2) / 2 */
    sop_search_hit *h;
    size_t n;
    assert_int_equal(sop_search_query(s, "fox", 0, &h, &n), 0);
    assert_int_equal(n, 1);
    assert_true(fabs(h[0].score - bm25(2, 6, 1, 2, 4)) < 1e-9);
    assert_int_equal(h[0].words, 6);
    sop_search_free(h);
    sop_txn_commit(t);

    /* value edits in place (sop_value_write / truncate) are indexed too */
    s = begin_on(db, SOP_TXN_WRITE, &t, "articles");
    assert_int_equal(sop_value_write(s, "doc3", 4, 10, " and wolf", 9), 0);
    assert_int_equal(sop_value_truncate(s, "doc2", 4, 5), 0); /* "a fox" */
    assert_int_equal(sop_txn_commit(t), 0);
    s = begin_on(db, SOP_TXN_READ, &t, "articles");
    expect_answer(s, "wolf", "doc3,");
    expect_answer(s, "jumps", "");
    expect_answer(s, "fox", "doc2,");
    sop_txn_commit(t);
    sop_db_close(db);
}

static void rollback_leaves_no_trace(void **st)
{
    (void)st;
    sop_db *db = tl_open_db();
    sop_txn *t;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    sop_store *s = mk_search(t, "articles");
    put(s, "doc1", "The quick brown fox");
    assert_int_equal(sop_txn_commit(t), 0);

    s = begin_on(db, SOP_TXN_WRITE, &t, "articles");
    put(s, "doc2", "another fox");
    assert_int_equal(sop_remove(s, "doc1", 4), 0);
    /* the transaction sees its own documents */
    expect_answer(s, "fox", "doc2,");
    put(s, "doc3", "fox fox");
    expect_answer(s, "fox", "doc3,doc2,");
    sop_txn_rollback(t);

    s = begin_on(db, SOP_TXN_READ, &t, "articles");
    expect_answer(s, "fox", "doc1,");
    expect_answer(s, "another", "");
    sop_search_hit *h;
    size_t n;
    assert_int_equal(sop_search_query(s, "fox", 0, &h, &n), 0);
    assert_true(fabs(h[0].score - bm25(1, 4, 1, 1, 4)) < 1e-9);
    sop_search_free(h);
    sop_txn_commit(t);
    sop_db_close(db);
}

static void reopen_keeps_the_index(void **st)
{
    (void)st;
    sop_db *db = tl_open_db();
    sop_txn *t;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    sop_store *s = mk_search(t, "articles");
    char k[32], v[64];
    for (int i = 0; i < 300; i++) {
        snprintf(k, sizeof(k), "doc%03d", i);
        snprintf(v, sizeof(v), "word%d common %s", i % 7, i == 123 ? "rare" : "");
        put(s, k, v);
    }
    assert_int_equal(sop_txn_commit(t), 0);
    sop_db_close(db);
    db = tl_open_db();
    s = begin_on(db, SOP_TXN_READ, &t, "articles");
    expect_answer(s, "rare", "doc123,");
    sop_search_hit *h;
    size_t n;
    assert_int_equal(sop_search_query(s, "common", 0, &h, &n), 0);
    assert_int_equal(n, 300);
    sop_search_free(h);
    assert_int_equal(sop_search_query(s, "word3", 0, &h, &n), 0);
    assert_int_equal(n, 43); /* i % 7 == 3 for i < 300 */
    sop_search_free(h);
    sop_txn_commit(t);
    sop_db_close(db);
}

static void read_txn_before_commit_does_not_see_it(void **st)
{
    (void)st;
    sop_db *db = tl_open_db();
    sop_txn *t, *r;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    sop_store *s = mk_search(t, "articles");
    put(s, "doc1", "The quick brown fox");
    assert_int_equal(sop_txn_commit(t), 0);

    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &r), 0);
    sop_store *rs = tl_open_store(r, "articles");
    s = begin_on(db, SOP_TXN_WRITE, &t, "articles");
    put(s, "doc2", "fox in the snow");
    put(s, "doc1", "no animals");
    assert_int_equal(sop_txn_commit(t), 0);
    expect_answer(rs, "fox", "doc1,"); /* the old snapshot */
    sop_txn_rollback(r);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &r), 0);
    rs = tl_open_store(r, "articles");
    expect_answer(rs, "fox", "doc2,");
    sop_txn_rollback(r);
    sop_db_close(db);
}

/* Two transactions indexing different documents of one store both update
 * the index statistics: the later commit conflicts, and a retry commits. */
static void disjoint_documents_conflict_then_retry_commits(void **st)
{
    (void)st;
    sop_db *db = tl_open_db();
    sop_txn *t, *a, *b;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    mk_search(t, "articles");
    assert_int_equal(sop_txn_commit(t), 0);

    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &a), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &b), 0);
    put(tl_open_store(a, "articles"), "docA", "alpha fox");
    put(tl_open_store(b, "articles"), "docB", "beta fox");
    assert_int_equal(sop_txn_commit(a), 0);
    assert_int_equal(sop_txn_commit(b), SOP_ECONFLICT);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &b), 0);
    put(tl_open_store(b, "articles"), "docB", "beta fox");
    assert_int_equal(sop_txn_commit(b), 0);

    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    sop_store *s = tl_open_store(t, "articles");
    expect_answer(s, "fox", "docA,docB,");
    expect_answer(s, "beta", "docB,");
    sop_txn_commit(t);
    sop_db_close(db);
}

static int collect(const char *name, void *arg)
{
    strcat(arg, name);
    strcat(arg, ",");
    return 0;
}

/* 0 when store s's index exists in t, SOP_ENOTFOUND when not; its name in
 * name (SEARCH_NAME_MAX bytes). */
static int index_of(sop_txn *t, const char *store, char *name)
{
    sop_store *s, *x;
    assert_int_equal(sop_store_open(t, store, &s), 0);
    search_index_name(s, name);
    return sop_store_open(t, name, &x);
}

static void index_is_hidden_and_dropped_with_its_store(void **st)
{
    (void)st;
    sop_db *db = tl_open_db();
    sop_txn *t;
    char all[4096] = "", old[SEARCH_NAME_MAX], now[SEARCH_NAME_MAX];
    sop_store *x;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    put(mk_search(t, "articles"), "doc1", "fox");
    assert_int_equal(sop_txn_commit(t), 0);

    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_list(t, collect, all), 0);
    assert_string_equal(all, "articles,"); /* the index is not listed */
    assert_int_equal(index_of(t, "articles", old), 0);
    assert_int_equal(strncmp(old, ".sopsearch-", strlen(".sopsearch-")), 0);
    assert_int_equal(strlen(old), strlen(".sopsearch-") + 32);
    sop_txn_rollback(t);

    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    assert_int_equal(sop_store_drop(t, "articles"), 0);
    assert_int_equal(sop_txn_commit(t), 0);
    all[0] = 0;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_list(t, collect, all), 0);
    assert_string_equal(all, "");
    assert_int_equal(sop_store_open(t, old, &x), SOP_ENOTFOUND); /* dropped with it */
    sop_txn_rollback(t);

    /* dropped and created again in one transaction: a new, empty index */
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    put(mk_search(t, "articles"), "doc1", "fox");
    assert_int_equal(sop_txn_commit(t), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(index_of(t, "articles", old), 0);
    sop_txn_rollback(t);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    assert_int_equal(sop_store_drop(t, "articles"), 0);
    put(mk_search(t, "articles"), "doc2", "wolf");
    assert_int_equal(sop_txn_commit(t), 0);
    all[0] = 0;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_list(t, collect, all), 0);
    assert_string_equal(all, "articles,");
    assert_int_equal(index_of(t, "articles", now), 0);
    assert_string_not_equal(now, old);
    assert_int_equal(sop_store_open(t, old, &x), SOP_ENOTFOUND);
    sop_store *s = tl_open_store(t, "articles");
    expect_answer(s, "fox", "");
    expect_answer(s, "wolf", "doc2,");
    sop_txn_rollback(t);
    sop_db_close(db);
}

static void kind_change_builds_and_drops_the_index(void **st)
{
    (void)st;
    sop_db *db = tl_open_db();
    sop_txn *t;
    sop_store *s;
    char all[4096] = "";
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    assert_int_equal(sop_store_create(t, "notes", NULL, &s), 0);
    put(s, "n1", "red fox");
    put(s, "n2", "blue whale");
    assert_int_equal(sop_txn_commit(t), 0);

    s = begin_on(db, SOP_TXN_WRITE, &t, "notes");
    sop_store_options o = {.kind = "search"};
    assert_int_equal(sop_store_alter(s, &o), 0);
    assert_int_equal(sop_txn_commit(t), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    expect_answer(tl_open_store(t, "notes"), "whale", "n2,");
    sop_txn_rollback(t);

    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    o.kind = "records";
    assert_int_equal(sop_store_alter(tl_open_store(t, "notes"), &o), 0);
    assert_int_equal(sop_txn_commit(t), 0);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    assert_int_equal(sop_store_list(t, collect, all), 0);
    assert_string_equal(all, "notes,");
    char name[SEARCH_NAME_MAX];
    assert_int_equal(index_of(t, "notes", name), SOP_ENOTFOUND);
    sop_txn_rollback(t);
    sop_db_close(db);
}

static void big_document_is_indexed_in_pieces(void **st)
{
    (void)st;
    sop_db *db = tl_open_db();
    sop_txn *t;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    sop_store *s = mk_search(t, "books");
    /* 6 MiB written in 64 KiB pieces: words straddle the piece boundaries */
    const char *words[] = {"alpha ", "beta ", "gamma ", "delta "};
    size_t piece = 64 << 10, total = 6u << 20, off = 0;
    char *buf = malloc(piece);
    assert_non_null(buf);
    uint64_t nwords = 0;
    size_t w = 0, pos = 0;
    while (off < total) {
        size_t len = 0;
        while (len < piece) {
            const char *word = words[w % 4];
            buf[len++] = word[pos++];
            if (!word[pos]) {
                pos = 0;
                w++;
                nwords++;
            }
        }
        assert_int_equal(sop_value_write(s, "big", 3, off, buf, len), 0);
        off += len;
    }
    if (pos) /* the last word, cut by the end, still counts */
        nwords++;
    assert_int_equal(sop_value_write(s, "big", 3, off, " needle", 7), 0);
    nwords++;
    put(s, "small", "needle alpha");
    assert_int_equal(sop_txn_commit(t), 0);
    free(buf);

    s = begin_on(db, SOP_TXN_READ, &t, "books");
    sop_search_hit *h;
    size_t n;
    assert_int_equal(sop_search_query(s, "needle", 0, &h, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(h[0].key, "small"); /* shorter document first */
    assert_string_equal(h[1].key, "big");
    assert_int_equal(h[1].words, nwords);
    sop_search_free(h);
    sop_txn_commit(t);
    sop_db_close(db);
}

static void long_document_keys_fail_the_commit(void **st)
{
    (void)st;
    sop_db *db = tl_open_db();
    sop_txn *t;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    sop_store *s = mk_search(t, "articles");
    put(s, "ok", "fox");
    assert_int_equal(sop_txn_commit(t), 0);
    s = begin_on(db, SOP_TXN_WRITE, &t, "articles");
    char *k = malloc(SOP_MAX_KEY);
    memset(k, 'k', SOP_MAX_KEY);
    assert_int_equal(sop_add(s, k, SOP_MAX_KEY, "fox", 3), 0);
    assert_int_equal(sop_txn_commit(t), SOP_ENAMETOOLONG);
    assert_non_null(strstr(sop_db_errmsg(db), "over the limit"));
    free(k);
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    expect_answer(tl_open_store(t, "articles"), "fox", "ok,");
    sop_txn_rollback(t);
    sop_db_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(ranking_matches_bm25_formula, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(words_fold_case_and_keep_utf8, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(updates_and_removes_change_results, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(rollback_leaves_no_trace, tl_dir_setup, tl_dir_teardown),
        cmocka_unit_test_setup_teardown(reopen_keeps_the_index, tl_dir_setup, tl_dir_teardown),
        cmocka_unit_test_setup_teardown(read_txn_before_commit_does_not_see_it, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(disjoint_documents_conflict_then_retry_commits,
                                        tl_dir_setup, tl_dir_teardown),
        cmocka_unit_test_setup_teardown(index_is_hidden_and_dropped_with_its_store, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(kind_change_builds_and_drops_the_index, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(big_document_is_indexed_in_pieces, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(long_document_keys_fail_the_commit, tl_dir_setup,
                                        tl_dir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
