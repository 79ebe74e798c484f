/*
 * test_open.c - what sop_db_open says when it refuses (sop_open_errmsg),
 * and that a refusal changes nothing: clustered mode asked of a version
 * without it, a folder another handle holds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sop.h"
#include "testlib.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static void redis_url_is_refused_with_the_reason_and_nothing_made(void **state)
{
    (void)state;
    char dir[4200];
    struct stat st;
    sop_db *db = NULL;
    sop_db_options o = {.redis_url = "redis://127.0.0.1:6379/0"};
    snprintf(dir, sizeof(dir), "%s/new", tl_dir);
    assert_int_equal(sop_db_open(dir, &o, &db), SOP_EINVAL);
    assert_null(db);
    const char *why = sop_open_errmsg();
    if (!strstr(why, "clustered mode (redis_url) is not available in this version of sop: it is "
                     "not built yet; open without redis_url"))
        fail_msg("the reason: %s", why);
    assert_int_not_equal(stat(dir, &st), 0);
    /* a success after it clears the message */
    assert_int_equal(sop_db_open(dir, NULL, &db), 0);
    assert_string_equal(sop_open_errmsg(), "");
    sop_db_close(db);
}

static void a_folder_held_open_is_refused_as_in_use(void **state)
{
    (void)state;
    sop_db *a = tl_open_db(), *b = NULL;
    assert_int_equal(sop_db_open(tl_dir, NULL, &b), SOP_EBUSY);
    assert_null(b);
    if (!strstr(sop_open_errmsg(), "the database is in use by another process (it holds "))
        fail_msg("the reason: %s", sop_open_errmsg());
    assert_int_equal(sop_db_open_salvage(tl_dir, &b), SOP_EBUSY);
    sop_db_close(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(redis_url_is_refused_with_the_reason_and_nothing_made,
                                        tl_dir_setup, tl_dir_teardown),
        cmocka_unit_test_setup_teardown(a_folder_held_open_is_refused_as_in_use, tl_dir_setup,
                                        tl_dir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
