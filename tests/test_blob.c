/* test_blob.c - the segment log: records, checks, scans, torn tails. */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(records_round_trip_and_damage_is_caught),
        cmocka_unit_test(scan_stops_at_a_torn_tail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
