/* test_os.c - the OS seam and its fault shim. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "faultlib.h"
#include "os.h"
#include "sop.h"
#include "testlib.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void full_reads_and_writes_and_short_files(void **st)
{
    (void)st;
    char *d = tl_tmpdir("os"), p[4096];
    snprintf(p, sizeof(p), "%s/f", d);
    const struct os_ops *os = &os_default;
    int fd = os->open(os, p, O_RDWR | O_CREAT, 0644);
    assert_true(fd >= 0);
    assert_int_equal(os_pwrite_full(os, fd, "abcdef", 6, 10), 0);
    uint64_t size;
    assert_int_equal(os->fsize(os, fd, &size), 0);
    assert_int_equal(size, 16);
    char b[6];
    assert_int_equal(os_pread_full(os, fd, b, 6, 10), 0);
    assert_memory_equal(b, "abcdef", 6);
    assert_int_equal(os_pread_full(os, fd, b, 6, 12), -EIO); /* past the end */
    assert_int_equal(os->fsync(os, fd), 0);
    assert_int_equal(os->ftruncate(os, fd, 4), 0);
    assert_int_equal(os->fsize(os, fd, &size), 0);
    assert_int_equal(size, 4);
    os->close(os, fd);
    assert_int_equal(os->open(os, "/nonexistent/x", O_RDONLY, 0), -ENOENT);
    assert_int_equal(os_err(-ENOSPC), SOP_ENOSPC);
    assert_int_equal(os_err(-EIO), SOP_EIO);
    tl_rmrf(d);
    free(d);
}

static void fault_shim_fails_exactly_the_nth_call(void **st)
{
    (void)st;
    char *d = tl_tmpdir("os"), p[4096];
    snprintf(p, sizeof(p), "%s/f", d);
    struct fault_os f;
    fault_os_init(&f);
    fault_os_arm(&f, FK_WRITE, 2, ENOSPC, 0);
    int fd = f.ops.open(&f.ops, p, O_RDWR | O_CREAT, 0644);
    assert_true(fd >= 0);
    assert_int_equal(os_pwrite_full(&f.ops, fd, "aaaa", 4, 0), 0);
    assert_int_equal(os_pwrite_full(&f.ops, fd, "bbbb", 4, 4), -ENOSPC);
    assert_int_equal(os_pwrite_full(&f.ops, fd, "cccc", 4, 8), 0);
    assert_int_equal(f.fired, 1);
    f.ops.close(&f.ops, fd);
    tl_rmrf(d);
    free(d);
}

static void crash_shim_forgets_unsynced_writes(void **st)
{
    (void)st;
    char *d = tl_tmpdir("os"), p[4096];
    snprintf(p, sizeof(p), "%s/f", d);
    struct crash_os c;
    crash_os_init(&c);
    int fd = c.ops.open(&c.ops, p, O_RDWR | O_CREAT, 0644);
    assert_int_equal(os_pwrite_full(&c.ops, fd, "durable", 7, 0), 0);
    assert_int_equal(c.ops.fsync(&c.ops, fd), 0);
    assert_int_equal(os_pwrite_full(&c.ops, fd, "LOST", 4, 0), 0);
    assert_int_equal(os_pwrite_full(&c.ops, fd, "tail", 4, 7), 0);
    crash_os_crash(&c, 0);
    assert_int_equal(c.ops.fsync(&c.ops, fd), -EIO); /* a dead machine */
    c.ops.close(&c.ops, fd);
    crash_os_free(&c);
    FILE *fp = fopen(p, "rb");
    char b[32] = {0};
    size_t n = fread(b, 1, sizeof(b), fp);
    fclose(fp);
    assert_int_equal(n, 7);
    assert_memory_equal(b, "durable", 7);
    tl_rmrf(d);
    free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_reads_and_writes_and_short_files),
        cmocka_unit_test(fault_shim_fails_exactly_the_nth_call),
        cmocka_unit_test(crash_shim_forgets_unsynced_writes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
