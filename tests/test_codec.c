/* test_codec.c - integers, varints, crc32 and bounds-checked reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "codec.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

static void integers_round_trip_little_endian(void **st)
{
    (void)st;
    uint8_t b[8];
    put_u32(b, 0x01020304u);
    assert_int_equal(b[0], 4);
    assert_int_equal(get_u32(b), 0x01020304u);
    put_u64(b, 0x0102030405060708ull);
    assert_int_equal(b[0], 8);
    assert_true(get_u64(b) == 0x0102030405060708ull);
    put_u16(b, 0xBEEF);
    assert_int_equal(get_u16(b), 0xBEEF);
}

static void varints_round_trip_and_reject_overflow(void **st)
{
    (void)st;
    static const uint64_t vals[] = {0, 1, 127, 128, 300, 16383, 16384, UINT32_MAX, UINT64_MAX};
    struct wbuf w;
    wb_init(&w);
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
        wb_varint(&w, vals[i]);
    wb_blob(&w, "hello", 5);
    struct rbuf r;
    rb_init(&r, w.p, w.len);
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
        assert_true(rb_varint(&r) == vals[i]);
    size_t n;
    const uint8_t *p = rb_blob(&r, &n);
    assert_int_equal(n, 5);
    assert_memory_equal(p, "hello", 5);
    assert_false(r.err);
    assert_int_equal(r.pos, r.len);
    wb_free(&w);
    uint8_t bad[11];
    memset(bad, 0xff, sizeof(bad));
    rb_init(&r, bad, sizeof(bad));
    rb_varint(&r);
    assert_true(r.err);
}

static void reads_past_the_end_latch_an_error(void **st)
{
    (void)st;
    uint8_t b[3] = {1, 2, 3};
    struct rbuf r;
    rb_init(&r, b, 3);
    assert_int_equal(rb_u16(&r), 0x0201);
    assert_int_equal(rb_u32(&r), 0);
    assert_true(r.err);
    rb_init(&r, b, 3);
    uint8_t blob[2] = {100, 1}; /* claims 100 bytes, has 1 */
    rb_init(&r, blob, 2);
    size_t n;
    assert_null(rb_blob(&r, &n));
    assert_true(r.err);
}

static void crc32_matches_the_standard_check_value(void **st)
{
    (void)st;
    assert_int_equal(codec_crc32(0, "123456789", 9), 0xCBF43926u);
    uint32_t c = codec_crc32(0, "12345", 5);
    assert_int_equal(codec_crc32(c, "6789", 4), 0xCBF43926u);
}

/* codec_crc32 may take a carry-less multiplication path for long inputs:
 * it must give zlib's crc32 for every length, alignment and split. */
static void crc32_matches_zlib_at_every_length_and_split(void **st)
{
    (void)st;
    enum { MAX = 4200 };
    static uint8_t buf[MAX + 16];
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < sizeof(buf); i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        buf[i] = (uint8_t)x;
    }
    for (size_t n = 0; n <= MAX; n += n < 300 ? 1 : 37) {
        for (size_t al = 0; al < 16; al += n < 300 ? 5 : 1) {
            uint32_t want = (uint32_t)crc32(0, buf + al, (uInt)n);
            assert_int_equal(codec_crc32(0, buf + al, n), want);
            size_t cut = (n * 7) / 11;
            uint32_t c = codec_crc32(0x12345678u, buf + al, cut);
            assert_int_equal(c, (uint32_t)crc32(0x12345678u, buf + al, (uInt)cut));
            c = codec_crc32(codec_crc32(0, buf + al, cut), buf + al + cut, n - cut);
            assert_int_equal(c, want);
        }
    }
    static uint8_t big[(1 << 20) + 3];
    memset(big, 0xa5, sizeof(big));
    big[12345] = 1;
    assert_int_equal(codec_crc32(0, big, sizeof(big)), (uint32_t)crc32(0, big, sizeof(big)));
}

static int cmp16(const void *a, const void *b)
{
    return memcmp(a, b, 16);
}

/* codec_uuid4: version 4 and the RFC 4122 variant, no repeat among 200,000,
 * and a forked child does not repeat its parent's sequence. */
static void uuids_are_v4_unique_and_fork_safe(void **st)
{
    (void)st;
    enum { N = 200000 };
    uint8_t(*v)[16] = malloc(sizeof(*v) * (N + 1));
    assert_non_null(v);
    for (int i = 0; i < N; i++) {
        codec_uuid4(v[i]);
        assert_int_equal(v[i][6] >> 4, 4);
        assert_int_equal(v[i][8] & 0xc0, 0x80);
    }
    qsort(v, N, 16, cmp16);
    for (int i = 1; i < N; i++)
        assert_true(memcmp(v[i - 1], v[i], 16) != 0);
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        uint8_t c[16];
        codec_uuid4(c);
        _exit(write(pfd[1], c, 16) == 16 ? 0 : 1);
    }
    uint8_t mine[16], child[16];
    codec_uuid4(mine);
    assert_int_equal(read(pfd[0], child, 16), 16);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(memcmp(mine, child, 16) != 0);
    close(pfd[0]);
    close(pfd[1]);
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(integers_round_trip_little_endian),
        cmocka_unit_test(varints_round_trip_and_reject_overflow),
        cmocka_unit_test(reads_past_the_end_latch_an_error),
        cmocka_unit_test(crc32_matches_the_standard_check_value),
        cmocka_unit_test(crc32_matches_zlib_at_every_length_and_split),
        cmocka_unit_test(uuids_are_v4_unique_and_fork_safe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
