/* test_blob.c - the segment log: records, checks, scans, torn tails, and
 * members of a shared folder appending side by side. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "blob.h"
#include "os.h"
#include "sop.h"
#include "testlib.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int count_fn(int type, const struct rkey *key, const struct loc *loc, const uint8_t *p,
                    void *arg)
{
    (void)type;
    (void)key;
    (void)loc;
    (void)p;
    (*(int *)arg)++;
    return 0;
}

static void records_round_trip_and_damage_is_caught(void **st)
{
    (void)st;
    char *d = tl_tmpdir("blob");
    struct seglog l;
    assert_int_equal(blob_open(&l, &os_default, d, 1, 0), 0);
    struct wbuf w;
    wb_init(&w);
    struct rkey k = {.idx = 3};
    k.id.b[0] = 9;
    size_t s = blob_rec_begin(&w, REC_CHUNK, &k);
    wb_bytes(&w, "payload!", 8);
    blob_rec_end(&w, s);
    uint32_t seg;
    uint64_t off;
    assert_int_equal(blob_append(&l, w.p, w.len, &seg, &off), 0);
    assert_int_equal(blob_sync(&l), 0);
    struct loc loc = {.seg = seg, .off = off, .len = 8};
    char buf[8];
    int type = REC_CHUNK;
    assert_int_equal(blob_read(&l, &loc, &type, &k, buf), 0);
    assert_memory_equal(buf, "payload!", 8);
    struct rkey other = k;
    other.idx = 4;
    assert_int_equal(blob_read(&l, &loc, &type, &other, buf), SOP_ECORRUPT);
    type = REC_NODE;
    assert_int_equal(blob_read(&l, &loc, &type, &k, buf), SOP_ECORRUPT);
    /* flip a payload byte on disk */
    char p[4096];
    snprintf(p, sizeof(p), "%s/00000001.seg", d);
    int fd = open(p, O_RDWR);
    assert_int_equal(pwrite(fd, "X", 1, (off_t)(off + REC_HDR + 2)), 1);
    close(fd);
    type = REC_CHUNK;
    assert_int_equal(blob_read(&l, &loc, &type, &k, buf), SOP_ECORRUPT);
    blob_close(&l);
    wb_free(&w);
    tl_rmrf(d);
    free(d);
}

static void scan_stops_at_a_torn_tail(void **st)
{
    (void)st;
    char *d = tl_tmpdir("blob");
    struct seglog l;
    assert_int_equal(blob_open(&l, &os_default, d, 1, 0), 0);
    struct wbuf w;
    wb_init(&w);
    for (int i = 0; i < 5; i++) {
        size_t s = blob_rec_begin(&w, REC_CHUNK, NULL);
        wb_bytes(&w, "0123456789", 10);
        blob_rec_end(&w, s);
    }
    uint32_t seg;
    uint64_t off;
    assert_int_equal(blob_append(&l, w.p, w.len, &seg, &off), 0);
    /* half a record at the end, as a power cut leaves it */
    assert_int_equal(blob_append(&l, w.p, REC_HDR + 3, &seg, &off), 0);
    blob_close(&l);
    int n = 0;
    uint32_t last;
    uint64_t end;
    assert_int_equal(blob_scan(&os_default, d, 1, 0, count_fn, &n, &last, &end), 0);
    assert_int_equal(n, 5);
    assert_int_equal(end, w.len);
    wb_free(&w);
    tl_rmrf(d);
    free(d);
}

/* a counter as coord_next gives (shared by the members of this test) */
static uint64_t counter;
static int shared_number(void *arg, uint64_t floor, uint64_t *out, char *why, size_t whylen)
{
    (void)arg;
    if (counter == UINT64_MAX) {
        snprintf(why, whylen, "the counter is away");
        return SOP_EIO;
    }
    counter = (counter > floor ? counter : floor) + 1;
    *out = counter;
    return 0;
}

static void append_one(struct seglog *l, const char *text, struct loc *at)
{
    struct wbuf w;
    wb_init(&w);
    size_t s = blob_rec_begin(&w, REC_CHUNK, NULL);
    wb_bytes(&w, text, strlen(text));
    blob_rec_end(&w, s);
    assert_int_equal(blob_append(l, w.p, w.len, &at->seg, &at->off), 0);
    at->len = (uint32_t)strlen(text);
    wb_free(&w);
}

static void members_append_to_segments_of_their_own(void **st)
{
    (void)st;
    char *d = tl_tmpdir("blob");
    struct seglog a, b, old;
    /* a folder with a standalone log in it already */
    assert_int_equal(blob_open(&old, &os_default, d, 1, 0), 0);
    struct loc o1;
    append_one(&old, "from before", &o1);
    assert_int_equal(blob_sync(&old), 0);
    blob_close(&old);
    counter = 0; /* a forgetful counter: the floor keeps it above segment 1 */
    assert_int_equal(blob_open_member(&a, &os_default, d, shared_number, NULL), 0);
    assert_int_equal(blob_open_member(&b, &os_default, d, shared_number, NULL), 0);
    assert_int_equal(a.cur, 0); /* no segment before the first append */
    struct loc la[20], lb[20];
    uint32_t used[64];
    size_t nused = 0;
    for (int i = 0; i < 20; i++) {
        if (i == 1)
            assert_true(a.cur > 1 && b.cur > 1 && a.cur != b.cur);
        char t[32];
        snprintf(t, sizeof(t), "a%d", i);
        append_one(&a, t, &la[i]);
        snprintf(t, sizeof(t), "b%d", i);
        append_one(&b, t, &lb[i]);
        if (i % 5 == 4) { /* roll both: new numbers, never the other's */
            assert_int_equal(blob_roll(&a), 0);
            assert_int_equal(blob_roll(&b), 0);
        }
        if (i % 7 == 0) {
            uint32_t v;
            assert_int_equal(blob_vseg_create(&a, &v), 0);
            used[nused++] = v;
        }
    }
    assert_int_equal(blob_sync(&a), 0);
    assert_int_equal(blob_sync(&b), 0);
    /* every segment number is one member's: no two records of a and b share one */
    for (int i = 0; i < 20; i++)
        for (int j = 0; j < 20; j++)
            assert_true(la[i].seg != lb[j].seg);
    for (size_t i = 0; i < nused; i++)
        for (int j = 0; j < 20; j++)
            assert_true(used[i] != la[j].seg && used[i] != lb[j].seg);
    /* each reads the other's records, and what was there before */
    for (int i = 0; i < 20; i++) {
        char buf[16], t[16];
        int type = REC_CHUNK;
        snprintf(t, sizeof(t), "a%d", i);
        assert_int_equal(blob_read(&b, &la[i], &type, NULL, buf), 0);
        assert_memory_equal(buf, t, strlen(t));
        snprintf(t, sizeof(t), "b%d", i);
        assert_int_equal(blob_read(&a, &lb[i], &type, NULL, buf), 0);
        assert_memory_equal(buf, t, strlen(t));
    }
    char buf[16];
    int type = REC_CHUNK;
    assert_int_equal(blob_read(&a, &o1, &type, NULL, buf), 0);
    assert_memory_equal(buf, "from before", 11);
    /* a value segment a made after b listed the folder: b finds it */
    uint32_t v;
    assert_int_equal(blob_vseg_create(&a, &v), 0);
    uint8_t h[REC_HDR];
    blob_rec_head(h, REC_CHUNK, NULL, "in a vseg", 9);
    assert_int_equal(blob_vseg_write(&a, v, 0, h, "in a vseg", 9), 0);
    assert_int_equal(blob_sync(&a), 0);
    struct loc lv = {.seg = v, .off = 0, .len = 9};
    assert_int_equal(blob_read(&b, &lv, &type, NULL, buf), 0);
    assert_memory_equal(buf, "in a vseg", 9);
    /* a counter that is away: the roll fails with the reason, appends go on */
    struct loc before;
    append_one(&a, "before", &before);
    counter = UINT64_MAX;
    assert_int_equal(blob_roll(&a), SOP_EIO);
    if (!strstr(a.err, "the counter is away"))
        fail_msg("the reason: %s", a.err);
    counter = 100;
    struct loc after;
    append_one(&a, "still", &after);
    blob_close(&a);
    blob_close(&b);
    tl_rmrf(d);
    free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(records_round_trip_and_damage_is_caught),
        cmocka_unit_test(scan_stops_at_a_torn_tail),
        cmocka_unit_test(members_append_to_segments_of_their_own),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
