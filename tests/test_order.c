/*
 * test_order.c - claims of the commit order (engine/order.h): a claim
 * reads back as made; a second member's claim of the same commit is
 * refused and leaves the first alone; processes racing for the same
 * commits get exactly one winner each; damage is reported, not read; the
 * run of commits stops at the first gap; pruning takes old claims only;
 * and a failed symlink or fsync at every point leaves the claim absent or
 * whole, never between.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "faultlib.h"
#include "order.h"
#include "sop.h"
#include "testlib.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char why[512];

static struct order_claim mk(uint64_t seq, uint8_t member, uint64_t fence)
{
    struct order_claim c;
    memset(&c, 0, sizeof(c));
    c.seq = seq;
    c.fence = fence;
    c.seg = 7;
    c.off = 4096 * seq;
    c.len = 99;
    memset(c.member, member, sizeof(c.member));
    return c;
}

static void same(const struct order_claim *a, const struct order_claim *b)
{
    assert_int_equal(a->seq, b->seq);
    assert_int_equal(a->fence, b->fence);
    assert_memory_equal(a->member, b->member, 8); /* a claim keeps 8 bytes of it */
    assert_int_equal(a->seg, b->seg);
    assert_int_equal(a->off, b->off);
    assert_int_equal(a->len, b->len);
}

static void init(void)
{
    assert_int_equal(order_init(&os_default, tl_dir, why, sizeof(why)), 0);
    assert_int_equal(order_init(&os_default, tl_dir, why, sizeof(why)), 0); /* again: fine */
}

/* files in DATA/order whose name begins with prefix */
static int count(const char *prefix)
{
    char p[4200];
    snprintf(p, sizeof(p), "%s/" ORDER_DIR, tl_dir);
    DIR *d = opendir(p);
    struct dirent *e;
    int n = 0;
    assert_non_null(d);
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && strncmp(e->d_name, prefix, strlen(prefix)) == 0)
            n++;
    closedir(d);
    return n;
}

static void a_claim_reads_back_as_made(void **state)
{
    (void)state;
    init();
    struct order_claim c = mk(1, 0xab, 42), got;
    assert_int_equal(order_read(&os_default, tl_dir, 1, &got, why, sizeof(why)), SOP_ENOTFOUND);
    assert_int_equal(order_claim(&os_default, tl_dir, &c, why, sizeof(why)), 0);
    assert_int_equal(order_read(&os_default, tl_dir, 1, &got, why, sizeof(why)), 0);
    same(&got, &c);
    char p[4200];
    snprintf(p, sizeof(p), "%s/" ORDER_DIR "/0000000000000001", tl_dir);
    struct stat st;
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISLNK(st.st_mode)); /* one symbolic link, made whole */
}

static void a_second_member_is_refused_and_the_first_stays(void **state)
{
    (void)state;
    init();
    struct order_claim a = mk(5, 1, 10), b = mk(5, 2, 11), got;
    assert_int_equal(order_claim(&os_default, tl_dir, &a, why, sizeof(why)), 0);
    assert_int_equal(order_claim(&os_default, tl_dir, &b, why, sizeof(why)), SOP_ECONFLICT);
    if (!strstr(why, "commit 5 was claimed by another member first"))
        fail_msg("the reason: %s", why);
    assert_int_equal(order_read(&os_default, tl_dir, 5, &got, why, sizeof(why)), 0);
    same(&got, &a);
    /* the same claim again (a retransmitted link answered EEXIST) is ours */
    assert_int_equal(order_claim(&os_default, tl_dir, &a, why, sizeof(why)), 0);
    /* the same member with another fence is another claim: refused */
    struct order_claim a2 = mk(5, 1, 12);
    assert_int_equal(order_claim(&os_default, tl_dir, &a2, why, sizeof(why)), SOP_ECONFLICT);
}

static void racing_processes_get_one_winner_per_commit(void **state)
{
    (void)state;
    init();
    enum { PROCS = 4, N = 300 };
    int fds[PROCS][2];
    pid_t pids[PROCS];
    for (int p = 0; p < PROCS; p++) {
        assert_int_equal(pipe(fds[p]), 0);
        pids[p] = fork();
        assert_true(pids[p] >= 0);
        if (pids[p] == 0) {
            char w[512];
            uint16_t won[N + 1] = {0};
            int n = 0;
            for (uint64_t s = 1; s <= N; s++) {
                struct order_claim c = mk(s, (uint8_t)(p + 1), s);
                int rc = order_claim(&os_default, tl_dir, &c, w, sizeof(w));
                if (rc == 0)
                    won[n++] = (uint16_t)s;
                else if (rc != SOP_ECONFLICT)
                    _exit(2);
            }
            if (write(fds[p][1], won, sizeof(won)) != (ssize_t)sizeof(won))
                _exit(3);
            _exit(0);
        }
        close(fds[p][1]);
    }
    int winner[N + 1] = {0};
    for (int p = 0; p < PROCS; p++) {
        uint16_t won[N + 1];
        size_t got = 0;
        while (got < sizeof(won)) {
            ssize_t k = read(fds[p][0], (char *)won + got, sizeof(won) - got);
            assert_true(k > 0);
            got += (size_t)k;
        }
        close(fds[p][0]);
        int st;
        assert_int_equal(waitpid(pids[p], &st, 0), pids[p]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        for (int i = 0; i <= N && won[i]; i++) {
            if (winner[won[i]])
                fail_msg("commit %u won by %d and by %d", won[i], winner[won[i]], p + 1);
            winner[won[i]] = p + 1;
        }
    }
    for (uint64_t s = 1; s <= N; s++) {
        struct order_claim got;
        if (!winner[s])
            fail_msg("commit %llu won by nobody", (unsigned long long)s);
        assert_int_equal(order_read(&os_default, tl_dir, s, &got, why, sizeof(why)), 0);
        assert_int_equal(got.member[0], winner[s]); /* the file names the one who won */
    }
    uint64_t last = 0;
    assert_int_equal(order_last(&os_default, tl_dir, 0, &last, why, sizeof(why)), 0);
    assert_int_equal(last, N);
}

static void link_raw(uint64_t seq, const char *text)
{
    char p[4200];
    snprintf(p, sizeof(p), "%s/" ORDER_DIR "/%016llx", tl_dir, (unsigned long long)seq);
    assert_int_equal(symlink(text, p), 0);
}

static void a_damaged_claim_is_reported_not_read(void **state)
{
    (void)state;
    init();
    struct order_claim c = mk(3, 9, 9), got;
    assert_int_equal(order_claim(&os_default, tl_dir, &c, why, sizeof(why)), 0);
    char p[4200], text[256], bad[256];
    snprintf(p, sizeof(p), "%s/" ORDER_DIR "/0000000000000003", tl_dir);
    ssize_t n = readlink(p, text, sizeof(text) - 1);
    assert_true(n > 20);
    text[n] = 0;
    assert_int_equal(n, 45); /* under 60: ext4 keeps it in the inode */
    assert_int_equal(strncmp(text, "s1", 2), 0);
    link_raw(4, text); /* commit 3's claim under commit 4's name */
    snprintf(bad, sizeof(bad), "%s", text);
    bad[12] = bad[12] == 'a' ? 'b' : 'a'; /* a changed digit of the member */
    link_raw(5, bad);
    snprintf(p, sizeof(p), "%s/" ORDER_DIR "/0000000000000006", tl_dir);
    FILE *f = fopen(p, "w"); /* a plain file, not a claim */
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    snprintf(bad, sizeof(bad), "%.*s", (int)n / 2, text);
    link_raw(7, bad); /* cut short */
    for (uint64_t s = 4; s <= 7; s++) {
        assert_int_equal(order_read(&os_default, tl_dir, s, &got, why, sizeof(why)),
                         SOP_ECORRUPT);
        if (!strstr(why, "does not check"))
            fail_msg("commit %llu: the reason: %s", (unsigned long long)s, why);
        if (!strstr(sop_corruption_note(), "order.c"))
            fail_msg("the note: %s", sop_corruption_note());
    }
    uint64_t last = 0;
    assert_int_equal(order_last(&os_default, tl_dir, 0, &last, why, sizeof(why)), 0);
    assert_int_equal(last, 0); /* no commit 1: the run is empty */
    /* from 2: commit 3 is whole, 4 does not check: the damage is said */
    assert_int_equal(order_last(&os_default, tl_dir, 2, &last, why, sizeof(why)), SOP_ECORRUPT);
}

static void the_run_of_commits_stops_at_the_first_gap(void **state)
{
    (void)state;
    init();
    for (uint64_t s = 1; s <= 7; s++) {
        if (s == 6)
            continue;
        struct order_claim c = mk(s, 1, s);
        assert_int_equal(order_claim(&os_default, tl_dir, &c, why, sizeof(why)), 0);
    }
    uint64_t last = 99;
    assert_int_equal(order_last(&os_default, tl_dir, 0, &last, why, sizeof(why)), 0);
    assert_int_equal(last, 5);
    assert_int_equal(order_last(&os_default, tl_dir, 5, &last, why, sizeof(why)), 0);
    assert_int_equal(last, 5);
    assert_int_equal(order_last(&os_default, tl_dir, 6, &last, why, sizeof(why)), 0);
    assert_int_equal(last, 7);
}

static void pruning_takes_old_claims_only(void **state)
{
    (void)state;
    init();
    for (uint64_t s = 1; s <= 10; s++) {
        struct order_claim c = mk(s, 1, s);
        assert_int_equal(order_claim(&os_default, tl_dir, &c, why, sizeof(why)), 0);
    }
    assert_int_equal(order_prune(&os_default, tl_dir, 6), 5);
    assert_int_equal(count("00"), 5);
    struct order_claim got;
    assert_int_equal(order_read(&os_default, tl_dir, 5, &got, why, sizeof(why)), SOP_ENOTFOUND);
    assert_int_equal(order_read(&os_default, tl_dir, 6, &got, why, sizeof(why)), 0);
    assert_int_equal(order_prune(&os_default, tl_dir, 6), 0);
}

static void a_failure_at_every_point_leaves_the_claim_absent_or_whole(void **state)
{
    (void)state;
    init();
    struct fault_os f;
    int fired = 1;
    long n;
    for (n = 1; fired; n++) {
        fault_os_init(&f);
        fault_os_arm(&f, FK_WRITE | FK_FSYNC | FK_RENAME | FK_OPEN, n, EIO, 0);
        struct order_claim c = mk((uint64_t)n, 3, (uint64_t)n), got;
        int rc = order_claim(&f.ops, tl_dir, &c, why, sizeof(why));
        fired = f.fired;
        int r = order_read(&os_default, tl_dir, (uint64_t)n, &got, why, sizeof(why));
        if (rc == 0) {
            assert_int_equal(r, 0);
            same(&got, &c);
        } else {
            assert_int_equal(rc, SOP_EIO);
            assert_true(*why);
            /* absent, or (the folder's fsync failed after the link) whole */
            if (r == 0)
                same(&got, &c);
            else
                assert_int_equal(r, SOP_ENOTFOUND);
        }
    }
    assert_true(n > 2); /* the symlink, the fsync of the folder */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_claim_reads_back_as_made, tl_dir_setup, tl_dir_teardown),
        cmocka_unit_test_setup_teardown(a_second_member_is_refused_and_the_first_stays,
                                        tl_dir_setup, tl_dir_teardown),
        cmocka_unit_test_setup_teardown(racing_processes_get_one_winner_per_commit, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(a_damaged_claim_is_reported_not_read, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(the_run_of_commits_stops_at_the_first_gap, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(pruning_takes_old_claims_only,
                                        tl_dir_setup, tl_dir_teardown),
        cmocka_unit_test_setup_teardown(a_failure_at_every_point_leaves_the_claim_absent_or_whole,
                                        tl_dir_setup, tl_dir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
