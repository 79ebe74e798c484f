/*
 * test_usage.c - sop_db_usage (engine/usage.c, sop du): per segment live <=
 * size and the totals their sums; dead bytes grow with overwrites and
 * removes; what the stores take is what a compaction leaves, to the byte;
 * the cleaner's share is what its rule takes; callbacks stop the walk; a
 * salvage open measures the same.
 *
 * The log rolls over at 256 KiB here (not 64 MiB), so a few hundred commits
 * make many segments, and the cleaner is off so the figures hold still.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "db.h"
#include "sop.h"
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEYS 600
#define SEG (256u << 10)
#define MAX_SEGS 4096

static sop_db *open_db(void)
{
    sop_db *db = tl_open_db();
    pthread_mutex_lock(&db->log.mu);
    db->log.seg_max = SEG;
    pthread_mutex_unlock(&db->log.mu);
    assert_int_equal(sop_db_set_reclaim(db, 0), 0);
    return db;
}

/* Value of key i in round r: 150 bytes inline, or 9000 for every 10th key
 * (two whole 4 KiB chunks in a value segment, the tail in the log). */
static size_t value_of(int i, int r, char *v)
{
    size_t n = i % 10 == 0 ? 9000 : 150;
    memset(v, 'a' + (i + r) % 26, n);
    snprintf(v, n, "%d/%d:", i, r);
    return n;
}

static void key_of(int i, char *k)
{
    snprintf(k, 16, "k%05d", i);
}

static void create(sop_db *db)
{
    sop_txn *t;
    sop_store *s;
    sop_store_options o = {
        .slot_length = 16, .unique = true, .chunk_size = 4096, .value_in_node = true};
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    assert_int_equal(sop_store_create(t, "s", &o, &s), 0);
    assert_int_equal(sop_store_create(t, "empty", NULL, &s), 0);
    assert_int_equal(sop_txn_commit(t), 0);
}

/* Keys [from, to) of every `step` get round r's value (remove: go), 20 a
 * transaction. */
static void write_keys(sop_db *db, int from, int to, int step, int r, bool remove)
{
    char k[16], v[10000];
    for (int i = from; i < to;) {
        sop_txn *t;
        assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE | SOP_TXN_NOSYNC, &t), 0);
        sop_store *s = tl_open_store(t, "s");
        for (int n = 0; n < 20 && i < to; n++, i += step) {
            key_of(i, k);
            if (remove) {
                assert_int_equal(sop_remove(s, k, strlen(k)), 0);
            } else {
                size_t vl = value_of(i, r, v);
                assert_int_equal(sop_upsert(s, k, strlen(k), v, vl), 0);
            }
        }
        assert_int_equal(sop_txn_commit(t), 0);
    }
}

struct seen {
    sop_segment_usage seg[MAX_SEGS];
    size_t nseg;
    sop_store_usage st[8];
    char names[8][32];
    size_t nst;
    int stop_after; /* return 99 after this many callbacks (0: never) */
    int calls;
};

static int on_segment(void *arg, const sop_segment_usage *u)
{
    struct seen *s = arg;
    assert_true(s->nseg < MAX_SEGS);
    s->seg[s->nseg++] = *u;
    return s->stop_after && ++s->calls >= s->stop_after ? 99 : 0;
}

static int on_store(void *arg, const sop_store_usage *u)
{
    struct seen *s = arg;
    assert_true(s->nst < 8);
    s->st[s->nst] = *u;
    snprintf(s->names[s->nst], sizeof(s->names[0]), "%s", u->name);
    s->st[s->nst].name = s->names[s->nst];
    s->nst++;
    return 0;
}

static const sop_usage_ops ops = {on_segment, on_store};
static struct seen seen_buf; /* static: a failed assertion jumps past any free */

static const sop_store_usage *store_of(const struct seen *s, const char *name)
{
    for (size_t i = 0; i < s->nst; i++)
        if (!strcmp(s->st[i].name, name))
            return &s->st[i];
    fail_msg("no store %s in the usage", name);
    return NULL;
}

/* Measure db, and check what holds whatever it holds. */
static void measure(sop_db *db, struct seen *s, sop_usage *u)
{
    memset(s, 0, sizeof(*s));
    int rc = sop_db_usage(db, &ops, s, u);
    if (rc)
        fail_msg("usage: %s (%s)", sop_strerror(rc), sop_db_errmsg(db));
    uint64_t lb = 0, ll = 0, vb = 0, vl = 0, cleaner = 0, stores = 0;
    uint32_t nl = 0, nv = 0, cur = 0;
    for (size_t i = 0; i < s->nseg; i++) {
        const sop_segment_usage *g = &s->seg[i];
        assert_true(g->live <= g->size);
        if (i)
            assert_true(g->id > s->seg[i - 1].id);
        if (g->kind == SOP_SEGMENT_LOG) {
            nl++;
            lb += g->size;
            ll += g->live;
            cur += g->current;
        } else {
            assert_int_equal(g->kind, SOP_SEGMENT_VALUE);
            assert_false(g->current);
            nv++;
            vb += g->size;
            vl += g->live;
        }
        if (g->reclaimable) {
            assert_false(g->current);
            /* the rule: under half live, or nothing live in a value segment */
            assert_true(g->live * 2 < g->size || (g->kind == SOP_SEGMENT_VALUE && !g->live));
            cleaner += g->size - g->live;
        } else if (!g->current && g->kind == SOP_SEGMENT_LOG) {
            assert_true(g->live * 2 >= g->size);
        }
    }
    assert_int_equal(cur, 1);
    assert_int_equal(u->log_segments, nl);
    assert_int_equal(u->value_segments, nv);
    assert_int_equal(u->log_bytes, lb);
    assert_int_equal(u->log_live, ll);
    assert_int_equal(u->value_bytes, vb);
    assert_int_equal(u->value_live, vl);
    assert_int_equal(u->cleaner_bytes, cleaner);
    for (size_t i = 0; i < s->nst; i++) {
        if (i)
            assert_true(strcmp(s->st[i - 1].name, s->st[i].name) < 0);
        stores += s->st[i].node_bytes + s->st[i].value_bytes + s->st[i].vseg_bytes;
    }
    assert_int_equal(u->store_bytes, stores);
    assert_true(u->compact_bytes <= u->log_bytes);
}

/* What the stores' log records come to: after a compaction, exactly what
 * the registry counts live in the log (nothing else is live there). */
static uint64_t stores_in_log(const struct seen *s)
{
    uint64_t b = 0;
    for (size_t i = 0; i < s->nst; i++)
        b += s->st[i].node_bytes + s->st[i].value_bytes;
    return b;
}

static void usage_follows_writes_overwrites_removes_and_compaction(void **state)
{
    (void)state;
    sop_db *db = open_db();
    struct seen *s = &seen_buf;
    sop_usage u0, u1, u2, u3, u4;
    create(db);
    measure(db, s, &u0);
    assert_int_equal(store_of(s, "s")->items, 0);
    assert_int_equal(store_of(s, "empty")->nodes, 0);
    assert_int_equal(store_of(s, "empty")->node_bytes, 0);

    write_keys(db, 0, KEYS, 1, 0, false);
    measure(db, s, &u1);
    const sop_store_usage *su = store_of(s, "s");
    assert_int_equal(su->items, KEYS);
    assert_true(su->nodes >= KEYS / 16);
    assert_true(su->node_bytes > (uint64_t)KEYS * 150); /* the inline values */
    /* 60 values of 9000 bytes: two whole chunks each in value segments, the
     * tail in the log */
    assert_int_equal(su->vseg_bytes, (uint64_t)(KEYS / 10) * 2 * (4096 + 40));
    assert_int_equal(su->value_bytes, (uint64_t)(KEYS / 10) * (9000 - 8192 + 40));
    assert_true(u1.value_live == su->vseg_bytes);
    assert_true(u1.log_live <= u1.log_bytes);
    uint64_t dead1 = u1.log_bytes - u1.log_live, vdead1 = u1.value_bytes - u1.value_live;

    /* overwrites: the same data size, more dead bytes */
    for (int r = 1; r <= 3; r++)
        write_keys(db, 0, KEYS, 1, r, false);
    measure(db, s, &u2);
    su = store_of(s, "s");
    assert_int_equal(su->items, KEYS);
    assert_int_equal(su->vseg_bytes, (uint64_t)(KEYS / 10) * 2 * (4096 + 40));
    assert_true(u2.log_bytes - u2.log_live > dead1 + 3 * (uint64_t)KEYS * 150);
    assert_true(u2.value_bytes - u2.value_live >= vdead1);
    assert_true(u2.cleaner_bytes > 0);
    assert_true(u2.compact_bytes > u2.log_bytes / 2);

    /* removes: fewer items, less data, more dead */
    write_keys(db, 1, KEYS, 2, 0, true); /* the odd keys: every external value stays */
    measure(db, s, &u3);
    su = store_of(s, "s");
    assert_int_equal(su->items, KEYS / 2);
    assert_int_equal(su->vseg_bytes, (uint64_t)(KEYS / 10) * 2 * (4096 + 40));
    assert_true(u3.store_bytes < u2.store_bytes);
    assert_true(u3.log_bytes - u3.log_live > u2.log_bytes - u2.log_live);

    /* a compaction leaves what was said, to the byte: the stores' log
     * records as images and the commit record naming them */
    uint64_t predicted = u3.log_bytes - u3.compact_bytes;
    uint64_t before = u3.store_bytes;
    int rc = sop_db_compact(db);
    if (rc)
        fail_msg("compact: %s (%s)", sop_strerror(rc), sop_db_errmsg(db));
    measure(db, s, &u4);
    assert_int_equal(u4.log_bytes, predicted);
    assert_int_equal(u4.store_bytes, before);
    assert_int_equal(u4.compact_bytes, 0);
    assert_int_equal(u4.log_live, stores_in_log(s));
    assert_true(u4.log_live <= u4.log_bytes);
    sop_db_close(db);
}

static void usage_callbacks_stop_and_arguments_are_checked(void **state)
{
    (void)state;
    sop_db *db = open_db();
    struct seen *s = &seen_buf;
    sop_usage u;
    memset(s, 0, sizeof(*s));
    create(db);
    write_keys(db, 0, 200, 1, 0, false);
    assert_int_equal(sop_db_usage(NULL, &ops, s, &u), SOP_EINVAL);
    assert_int_equal(sop_db_usage(db, NULL, s, &u), SOP_EINVAL);
    s->stop_after = 1;
    assert_int_equal(sop_db_usage(db, &ops, s, &u), 99);
    assert_int_equal(s->nseg, 1);
    assert_int_equal(s->nst, 0);
    /* no callbacks at all: the totals alone */
    sop_usage_ops none = {NULL, NULL};
    assert_int_equal(sop_db_usage(db, &none, NULL, &u), 0);
    assert_true(u.log_segments >= 1);
    assert_true(u.store_bytes > 0);
    sop_db_close(db);
}

static void usage_of_a_salvage_open_is_the_same(void **state)
{
    (void)state;
    sop_db *db = open_db();
    struct seen *s = &seen_buf;
    sop_usage a, b;
    create(db);
    write_keys(db, 0, KEYS, 1, 0, false);
    write_keys(db, 0, KEYS, 3, 1, false);
    sop_db_close(db);
    db = open_db();
    measure(db, s, &a);
    sop_db_close(db);
    assert_int_equal(sop_db_open_salvage(tl_dir, &db), 0);
    measure(db, s, &b);
    /* a salvage open changes nothing: compaction is refused */
    assert_int_equal(sop_db_compact(db), SOP_EREADONLY);
    sop_db_close(db);
    assert_int_equal(a.log_bytes, b.log_bytes);
    assert_int_equal(a.log_live, b.log_live);
    assert_int_equal(a.value_bytes, b.value_bytes);
    assert_int_equal(a.store_bytes, b.store_bytes);
    assert_int_equal(a.compact_bytes, b.compact_bytes);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(usage_follows_writes_overwrites_removes_and_compaction,
                                        tl_dir_setup, tl_dir_teardown),
        cmocka_unit_test_setup_teardown(usage_callbacks_stop_and_arguments_are_checked,
                                        tl_dir_setup, tl_dir_teardown),
        cmocka_unit_test_setup_teardown(usage_of_a_salvage_open_is_the_same, tl_dir_setup,
                                        tl_dir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
