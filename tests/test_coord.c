/*
 * test_coord.c - the coordination seam (engine/coord.h): the same lock,
 * fence and keeper cases against the local side and against a Redis of
 * the test's own (tests/lib/redis_server.c), then what only Redis can do
 * wrong: keys under the database's id in a hash tag, a flush or a restart
 * that forgets everything (the epoch changes, fences never go back, the
 * old owner learns its lock is gone), a script cache flushed under us, a
 * server killed or stopped (calls fail within the URL's bound, with the
 * reason, and work again once it is back, with no reopen), passwords and
 * database numbers, and URLs that are refused with a reason.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config.h"
#include "coord.h"
#include "redis_server.h"
#include "sop.h"
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct tl_redis srv;
static const char *side_url; /* NULL: the local side */
static char dbid[40];

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static uint64_t now_ms(void)
{
    return tl_now_ns() / 1000000u;
}

static void new_dbid(void)
{
    static unsigned n;
    snprintf(dbid, sizeof(dbid), "00000000-0000-4000-8000-%08x%04x", (unsigned)getpid(), ++n);
}

static struct coord *open_side(void)
{
    struct coord *c = NULL;
    int rc = coord_open(side_url, dbid, &c);
    if (rc != 0)
        fail_msg("coord_open(%s): %s: %s", side_url ? side_url : "local", sop_strerror(rc),
                 coord_errmsg());
    return c;
}

/* each case: a side, and its own database id so that no case sees
 * another's locks */
static int local_case(void **state)
{
    (void)state;
    side_url = NULL;
    new_dbid();
    return 0;
}

static int redis_case(void **state)
{
    (void)state;
    side_url = srv.url;
    new_dbid();
    return srv.pid ? 0 : -1;
}

static int group_setup(void **state)
{
    (void)state;
#ifdef HAVE_HIREDIS
    if (!tl_redis_available()) {
        printf("# redis-server is not installed (scripts/install-deps.sh installs it)\n");
        return -1; /* a skipped clustered test must not pass unseen */
    }
    return tl_redis_start(&srv);
#else
    return 0;
#endif
}

static int group_teardown(void **state)
{
    (void)state;
    tl_redis_stop(&srv);
    return 0;
}

/* ------------------------------------------------- cases for both sides */

static void a_held_lock_is_refused_until_let_go(void **state)
{
    (void)state;
    struct coord *a = open_side(), *b = open_side();
    struct coord_lock la, lb;
    assert_int_equal(coord_lock(a, "commit", 5000, 0, 0, &la), 0);
    assert_true(coord_held(&la, 1000));
    assert_int_equal(coord_lock(b, "commit", 5000, 0, 0, &lb), SOP_EBUSY);
    if (!strstr(coord_errmsg(), "lock commit: held by another owner"))
        fail_msg("the reason: %s", coord_errmsg());
    assert_int_equal(coord_unlock(a, &la), 0);
    assert_int_equal(coord_lock(b, "commit", 5000, 0, 0, &lb), 0);
    assert_true(lb.fence > la.fence);
    assert_string_not_equal(la.token, lb.token);
    assert_int_equal(coord_unlock(b, &lb), 0);
    coord_close(a);
    coord_close(b);
}

static void another_token_can_neither_extend_nor_release(void **state)
{
    (void)state;
    struct coord *a = open_side(), *b = open_side();
    struct coord_lock la, forged, lb;
    assert_int_equal(coord_lock(a, "commit", 5000, 0, 0, &la), 0);
    forged = la;
    forged.token[strlen(forged.token) - 1] ^= 1;
    assert_int_equal(coord_extend(b, &forged), SOP_ECONFLICT);
    assert_int_equal(coord_unlock(b, &forged), SOP_ECONFLICT);
    if (!strstr(coord_errmsg(), "no longer ours"))
        fail_msg("the reason: %s", coord_errmsg());
    /* a's lock is still there */
    assert_int_equal(coord_lock(b, "commit", 5000, 0, 0, &lb), SOP_EBUSY);
    assert_int_equal(coord_extend(a, &la), 0);
    assert_int_equal(coord_unlock(a, &la), 0);
    coord_close(a);
    coord_close(b);
}

static void an_expired_lock_passes_on_and_its_old_owner_cannot_touch_it(void **state)
{
    (void)state;
    struct coord *a = open_side(), *b = open_side(), *c = open_side();
    struct coord_lock la, lb, lc;
    assert_int_equal(coord_lock(a, "commit", 150, 0, 0, &la), 0);
    sleep_ms(250);
    assert_false(coord_held(&la, 0));
    assert_int_equal(coord_lock(b, "commit", 5000, 0, 0, &lb), 0);
    assert_true(lb.fence > la.fence); /* the storage side tells them apart */
    assert_int_equal(coord_extend(a, &la), SOP_ECONFLICT);
    assert_true(atomic_load(&la.lost));
    assert_int_equal(coord_unlock(a, &la), SOP_ECONFLICT); /* no plain DEL */
    assert_int_equal(coord_lock(c, "commit", 5000, 0, 0, &lc), SOP_EBUSY);
    assert_int_equal(coord_unlock(b, &lb), 0);
    coord_close(a);
    coord_close(b);
    coord_close(c);
}

static void a_waiter_gets_the_lock_when_it_runs_out(void **state)
{
    (void)state;
    struct coord *a = open_side(), *b = open_side();
    struct coord_lock la, lb;
    assert_int_equal(coord_lock(a, "commit", 300, 0, 0, &la), 0);
    uint64_t t0 = now_ms();
    assert_int_equal(coord_lock(b, "commit", 5000, 0, 3000, &lb), 0);
    uint64_t took = now_ms() - t0;
    if (took < 200 || took > 2000)
        fail_msg("took the lock after %llu ms (its holder's ttl: 300)", (unsigned long long)took);
    /* and one that waits too little is told so */
    struct coord_lock lc;
    t0 = now_ms();
    assert_int_equal(coord_lock(a, "commit", 300, 0, 100, &lc), SOP_EBUSY);
    took = now_ms() - t0;
    if (took < 90 || took > 1000)
        fail_msg("gave up after %llu ms (asked to wait 100)", (unsigned long long)took);
    assert_int_equal(coord_unlock(b, &lb), 0);
    coord_close(a);
    coord_close(b);
}

static void a_kept_lock_outlives_its_ttl_until_let_go(void **state)
{
    (void)state;
    struct coord *a = open_side(), *b = open_side();
    struct coord_lock la, lb;
    assert_int_equal(coord_lock(a, "commit", 300, 0, 0, &la), 0);
    assert_int_equal(coord_keep(a, &la), 0);
    for (int i = 0; i < 5; i++) { /* 1.25 s: four times its ttl */
        sleep_ms(250);
        assert_true(coord_held(&la, 0));
        assert_int_equal(coord_lock(b, "commit", 300, 0, 0, &lb), SOP_EBUSY);
    }
    assert_int_equal(coord_unlock(a, &la), 0);
    assert_int_equal(coord_lock(b, "commit", 300, 0, 0, &lb), 0);
    assert_int_equal(coord_unlock(b, &lb), 0);
    coord_close(a);
    coord_close(b);
}

static void fences_grow_over_every_owner_and_stay_above_the_floor(void **state)
{
    (void)state;
    struct coord *c[3] = {open_side(), open_side(), open_side()};
    uint64_t last = 0;
    for (int i = 0; i < 60; i++) {
        struct coord_lock l;
        uint64_t floor = i == 30 ? 1000000 : 0;
        assert_int_equal(coord_lock(c[i % 3], "commit", 5000, floor, 0, &l), 0);
        assert_true(l.fence > last);
        assert_true(l.fence > floor);
        last = l.fence;
        assert_int_equal(coord_unlock(c[i % 3], &l), 0);
    }
    assert_true(last > 1000000);
    /* another lock name draws from the same counter */
    struct coord_lock l;
    assert_int_equal(coord_lock(c[0], "store:users", 5000, 0, 0, &l), 0);
    assert_true(l.fence > last);
    assert_int_equal(coord_unlock(c[0], &l), 0);
    for (int i = 0; i < 3; i++)
        coord_close(c[i]);
}

static void two_databases_do_not_share_locks(void **state)
{
    (void)state;
    struct coord *a = open_side();
    new_dbid();
    struct coord *b = open_side();
    struct coord_lock la, lb;
    assert_int_equal(coord_lock(a, "commit", 5000, 0, 0, &la), 0);
    assert_int_equal(coord_lock(b, "commit", 5000, 0, 0, &lb), 0);
    assert_int_equal(coord_unlock(a, &la), 0);
    assert_int_equal(coord_unlock(b, &lb), 0);
    coord_close(a);
    coord_close(b);
}

static void counters_never_give_a_number_twice_nor_one_below_the_floor(void **state)
{
    (void)state;
    struct coord *a = open_side(), *b = open_side();
    uint64_t seen[200];
    for (int i = 0; i < 200; i++) {
        uint64_t floor = i == 100 ? 5000 : 0;
        assert_int_equal(coord_next(i % 2 ? a : b, "segment", floor, &seen[i]), 0);
        assert_true(seen[i] > floor);
        for (int j = 0; j < i; j++)
            assert_true(seen[j] != seen[i]);
        if (i)
            assert_true(seen[i] > seen[i - 1]);
    }
    uint64_t other;
    assert_int_equal(coord_next(a, "other", 0, &other), 0);
    assert_int_equal(other, 1); /* counters of their own */
    if (side_url) { /* a flush forgets the counter: the floor keeps it above */
        char ans[64];
        assert_int_equal(tl_redis_cmd(&srv, "FLUSHALL", ans, sizeof(ans)), 0);
        uint64_t n;
        assert_int_equal(coord_next(a, "segment", seen[199], &n), 0);
        assert_true(n > seen[199]);
    }
    coord_close(a);
    coord_close(b);
}

static void the_epoch_stays_while_nothing_is_lost(void **state)
{
    (void)state;
    struct coord *a = open_side(), *b = open_side();
    uint64_t e1, e2;
    assert_int_equal(coord_epoch(a, &e1), 0);
    assert_int_equal(coord_epoch(b, &e2), 0);
    assert_true(e1 != 0);
    assert_true(e1 == e2);
    assert_string_equal(coord_kind(a), side_url ? "redis" : "local");
    coord_close(a);
    coord_close(b);
}

/* ------------------------------------------------------- Redis only */

static void keys_live_under_the_database_id_in_a_hash_tag(void **state)
{
    (void)state;
    struct coord *a = open_side();
    struct coord_lock l;
    char cmd[256], ans[256];
    assert_int_equal(coord_lock(a, "commit", 5000, 0, 0, &l), 0);
    snprintf(cmd, sizeof(cmd), "GET sop:{%s}:lock:commit", dbid);
    assert_int_equal(tl_redis_cmd(&srv, cmd, ans, sizeof(ans)), 0);
    assert_string_equal(ans, l.token);
    char host[64] = "";
    gethostname(host, sizeof(host) - 1);
    char owner[128];
    snprintf(owner, sizeof(owner), "%s:%ld:", host, (long)getpid());
    assert_int_equal(strncmp(l.token, owner, strlen(owner)), 0); /* who holds it, for people */
    snprintf(cmd, sizeof(cmd), "PTTL sop:{%s}:lock:commit", dbid);
    assert_int_equal(tl_redis_cmd(&srv, cmd, ans, sizeof(ans)), 0);
    long pttl = strtol(ans + 1, NULL, 10);
    assert_true(ans[0] == ':' && pttl > 4000 && pttl <= 5000);
    snprintf(cmd, sizeof(cmd), "GET sop:{%s}:fence", dbid);
    assert_int_equal(tl_redis_cmd(&srv, cmd, ans, sizeof(ans)), 0);
    assert_int_equal(strtoull(ans, NULL, 10), l.fence);
    assert_int_equal(coord_unlock(a, &l), 0);
    snprintf(cmd, sizeof(cmd), "EXISTS sop:{%s}:lock:commit", dbid);
    assert_int_equal(tl_redis_cmd(&srv, cmd, ans, sizeof(ans)), 0);
    assert_string_equal(ans, ":0");
    coord_close(a);
}

static void a_flush_changes_the_epoch_and_no_fence_goes_back(void **state)
{
    (void)state;
    struct coord *a = open_side(), *b = open_side();
    struct coord_lock la, lb;
    uint64_t e1, e2;
    char ans[64];
    assert_int_equal(coord_epoch(a, &e1), 0);
    assert_int_equal(coord_lock(a, "commit", 600, 0, 0, &la), 0);
    assert_int_equal(coord_keep(a, &la), 0);
    assert_int_equal(tl_redis_cmd(&srv, "FLUSHALL", ans, sizeof(ans)), 0);
    assert_string_equal(ans, "+OK");
    /* the lock is gone: b takes it, with a fence above the floor it knows */
    assert_int_equal(coord_lock(b, "commit", 5000, la.fence, 0, &lb), 0);
    assert_true(lb.fence > la.fence);
    assert_int_equal(coord_epoch(b, &e2), 0);
    assert_true(e2 != e1);
    /* a's keeper finds its lock is not its own any more */
    for (int i = 0; i < 40 && !atomic_load(&la.lost); i++)
        sleep_ms(50);
    assert_true(atomic_load(&la.lost));
    assert_false(coord_held(&la, 0));
    assert_int_equal(coord_unlock(a, &la), SOP_ECONFLICT);
    assert_int_equal(coord_unlock(b, &lb), 0);
    coord_close(a);
    coord_close(b);
}

static void a_flushed_script_cache_is_loaded_again(void **state)
{
    (void)state;
    struct coord *a = open_side();
    struct coord_lock l;
    char ans[64];
    assert_int_equal(coord_lock(a, "commit", 5000, 0, 0, &l), 0);
    assert_int_equal(tl_redis_cmd(&srv, "SCRIPT FLUSH", ans, sizeof(ans)), 0);
    assert_int_equal(coord_extend(a, &l), 0);
    assert_int_equal(tl_redis_cmd(&srv, "SCRIPT FLUSH", ans, sizeof(ans)), 0);
    assert_int_equal(coord_unlock(a, &l), 0);
    coord_close(a);
}

static void a_dead_or_stopped_server_fails_within_the_bound_then_works_again(void **state)
{
    (void)state;
    char url[128];
    snprintf(url, sizeof(url), "%s/0?timeout_ms=400", srv.url);
    side_url = url;
    struct coord *a = open_side();
    struct coord_lock l;
    uint64_t e1, e2;
    assert_int_equal(coord_epoch(a, &e1), 0);
    tl_redis_kill(&srv);
    uint64_t t0 = now_ms();
    assert_int_equal(coord_lock(a, "commit", 5000, 0, 0, &l), SOP_EIO);
    uint64_t took = now_ms() - t0;
    if (took > 1500)
        fail_msg("a dead server took %llu ms to fail (bound: 400)", (unsigned long long)took);
    char want[64];
    snprintf(want, sizeof(want), "redis 127.0.0.1:%d", srv.port);
    if (!strstr(coord_errmsg(), want))
        fail_msg("the reason does not name the server: %s", coord_errmsg());
    assert_int_equal(coord_epoch(a, &e2), SOP_EIO); /* again: no hang either */
    /* back, empty: the same coord works again, and knows it was forgotten */
    assert_int_equal(tl_redis_start(&srv), 0);
    assert_int_equal(coord_lock(a, "commit", 5000, 0, 0, &l), 0);
    assert_int_equal(coord_epoch(a, &e2), 0);
    assert_true(e2 != e1);
    /* a stopped server (SIGSTOP) answers nothing: the read times out */
    tl_redis_pause(&srv, true);
    t0 = now_ms();
    int rc = coord_extend(a, &l);
    took = now_ms() - t0;
    tl_redis_pause(&srv, false);
    assert_int_equal(rc, SOP_EIO);
    if (took < 300 || took > 1500)
        fail_msg("a stopped server failed after %llu ms (bound: 400)", (unsigned long long)took);
    if (!strstr(coord_errmsg(), "within 400 ms"))
        fail_msg("the reason: %s", coord_errmsg());
    assert_int_equal(coord_extend(a, &l), 0); /* reconnected, the lock still ours */
    assert_int_equal(coord_unlock(a, &l), 0);
    coord_close(a);
}

static void an_unreachable_server_is_refused_at_open_with_the_reason(void **state)
{
    (void)state;
    struct coord *c = NULL;
    char url[128];
    /* a port nobody listens on: the server's own, once it is gone */
    struct tl_redis tmp = {0};
    assert_int_equal(tl_redis_start(&tmp), 0);
    snprintf(url, sizeof(url), "%s?timeout_ms=300", tmp.url);
    tl_redis_stop(&tmp);
    uint64_t t0 = now_ms();
    assert_int_equal(coord_open(url, dbid, &c), SOP_EIO);
    assert_null(c);
    assert_true(now_ms() - t0 < 1500);
    if (!strstr(coord_errmsg(), "connect: Connection refused"))
        fail_msg("the reason: %s", coord_errmsg());
}

static void passwords_and_database_numbers(void **state)
{
    (void)state;
    static struct tl_redis own;
    char ans[256], url[256];
    struct coord *c = NULL;
    struct coord_lock l;
    assert_int_equal(tl_redis_start(&own), 0);
    assert_int_equal(tl_redis_cmd(&own, "CONFIG SET requirepass s3cret", ans, sizeof(ans)), 0);
    assert_string_equal(ans, "+OK");
    assert_int_equal(coord_open(own.url, dbid, &c), SOP_EIO);
    if (!strstr(coord_errmsg(), "NOAUTH"))
        fail_msg("without the password: %s", coord_errmsg());
    snprintf(url, sizeof(url), "redis://:wrong@127.0.0.1:%d", own.port);
    assert_int_equal(coord_open(url, dbid, &c), SOP_EIO);
    if (!strstr(coord_errmsg(), "AUTH refused"))
        fail_msg("a wrong password: %s", coord_errmsg());
    snprintf(url, sizeof(url), "redis://:s3cret@127.0.0.1:%d", own.port);
    assert_int_equal(coord_open(url, dbid, &c), 0);
    assert_int_equal(coord_lock(c, "commit", 5000, 0, 0, &l), 0);
    assert_int_equal(coord_unlock(c, &l), 0);
    coord_close(c);
    tl_redis_stop(&own);
    /* a database number: the keys are there, not in 0 */
    snprintf(url, sizeof(url), "%s/3", srv.url);
    assert_int_equal(coord_open(url, dbid, &c), 0);
    assert_int_equal(coord_lock(c, "commit", 5000, 0, 0, &l), 0);
    assert_int_equal(tl_redis_cmd(&srv, "INFO keyspace", ans, sizeof(ans)), 0);
    if (!strstr(ans, "db3:keys="))
        fail_msg("INFO keyspace: %s", ans);
    assert_int_equal(coord_unlock(c, &l), 0);
    coord_close(c);
}

static void bad_urls_are_refused_with_a_reason(void **state)
{
    (void)state;
    const char *bad[] = {"http://127.0.0.1:6379", "redis://",
                         "redis://127.0.0.1:0", "redis://127.0.0.1:70000",
                         "redis://127.0.0.1:port", "redis://127.0.0.1/abc",
                         "redis://127.0.0.1?timeout_ms=0", "redis://127.0.0.1?color=red",
                         "redis://[::1", "redis://user@127.0.0.1",
                         "unix://", "unix://relative/path"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct coord *c = NULL;
        assert_int_equal(coord_open(bad[i], dbid, &c), SOP_EINVAL);
        assert_null(c);
        if (!*coord_errmsg())
            fail_msg("%s: refused without a reason", bad[i]);
    }
    struct coord *c = NULL;
    assert_int_equal(coord_open(NULL, "", &c), SOP_EINVAL);
    if (!strstr(coord_errmsg(), "database's id"))
        fail_msg("the reason: %s", coord_errmsg());
}

static void the_keeper_marks_a_lock_lost_when_the_server_stays_away(void **state)
{
    (void)state;
    char url[128];
    snprintf(url, sizeof(url), "%s?timeout_ms=200", srv.url);
    side_url = url;
    struct coord *a = open_side();
    struct coord_lock l;
    assert_int_equal(coord_lock(a, "commit", 600, 0, 0, &l), 0);
    assert_int_equal(coord_keep(a, &l), 0);
    tl_redis_kill(&srv);
    uint64_t t0 = now_ms();
    while (!atomic_load(&l.lost) && now_ms() - t0 < 3000)
        sleep_ms(20);
    assert_true(atomic_load(&l.lost)); /* it cannot say it holds what it cannot extend */
    assert_false(coord_held(&l, 0));
    assert_int_equal(tl_redis_start(&srv), 0);
    coord_close(a);
}

#define BOTH(f)                                                                                    \
    {"local: " #f, f, local_case, NULL, NULL}, { "redis: " #f, f, redis_case, NULL, NULL }
#define REDIS(f) {"redis: " #f, f, redis_case, NULL, NULL}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(a_held_lock_is_refused_until_let_go),
        BOTH(another_token_can_neither_extend_nor_release),
        BOTH(an_expired_lock_passes_on_and_its_old_owner_cannot_touch_it),
        BOTH(a_waiter_gets_the_lock_when_it_runs_out),
        BOTH(a_kept_lock_outlives_its_ttl_until_let_go),
        BOTH(fences_grow_over_every_owner_and_stay_above_the_floor),
        BOTH(two_databases_do_not_share_locks),
        BOTH(counters_never_give_a_number_twice_nor_one_below_the_floor),
        BOTH(the_epoch_stays_while_nothing_is_lost),
        REDIS(keys_live_under_the_database_id_in_a_hash_tag),
        REDIS(a_flush_changes_the_epoch_and_no_fence_goes_back),
        REDIS(a_flushed_script_cache_is_loaded_again),
        REDIS(a_dead_or_stopped_server_fails_within_the_bound_then_works_again),
        REDIS(an_unreachable_server_is_refused_at_open_with_the_reason),
        REDIS(passwords_and_database_numbers),
        REDIS(bad_urls_are_refused_with_a_reason),
        REDIS(the_keeper_marks_a_lock_lost_when_the_server_stays_away),
    };
#ifdef HAVE_HIREDIS
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
#else
    /* the local side only: the Redis side is not built */
    const struct CMUnitTest local[] = {
        cmocka_unit_test_setup(a_held_lock_is_refused_until_let_go, local_case),
        cmocka_unit_test_setup(another_token_can_neither_extend_nor_release, local_case),
        cmocka_unit_test_setup(an_expired_lock_passes_on_and_its_old_owner_cannot_touch_it,
                               local_case),
        cmocka_unit_test_setup(a_waiter_gets_the_lock_when_it_runs_out, local_case),
        cmocka_unit_test_setup(a_kept_lock_outlives_its_ttl_until_let_go, local_case),
        cmocka_unit_test_setup(fences_grow_over_every_owner_and_stay_above_the_floor, local_case),
        cmocka_unit_test_setup(two_databases_do_not_share_locks, local_case),
        cmocka_unit_test_setup(counters_never_give_a_number_twice_nor_one_below_the_floor,
                               local_case),
        cmocka_unit_test_setup(the_epoch_stays_while_nothing_is_lost, local_case),
    };
    (void)tests;
    (void)group_setup;
    (void)redis_case;
    return cmocka_run_group_tests(local, NULL, group_teardown);
#endif
}
