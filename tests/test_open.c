/*
 * test_open.c - what sop_db_open says when it refuses (sop_open_errmsg),
 * and that a refusal changes nothing: a Redis that cannot be reached (or
 * a build without Redis), a folder another handle holds; and the database's id
 * (DATA/id), which the open makes and keeps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config.h"
#include "dbid.h"
#include "sop.h"
#include "testlib.h"

#include <dirent.h>
#include <sys/wait.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uuid/uuid.h>

static void redis_url_is_refused_with_the_reason_and_nothing_made(void **state)
{
    (void)state;
    char dir[4200];
    struct stat st;
    sop_db *db = NULL;
    /* nothing listens on port 1 */
    sop_db_options o = {.redis_url = "redis://127.0.0.1:1/0?timeout_ms=300"};
    snprintf(dir, sizeof(dir), "%s/new", tl_dir);
#ifdef HAVE_HIREDIS
    assert_int_equal(sop_db_open(dir, &o, &db), SOP_EIO);
    const char *want = "in clustered mode: redis 127.0.0.1:1: connect: Connection refused";
#else
    assert_int_equal(sop_db_open(dir, &o, &db), SOP_EINVAL);
    const char *want = "needs Redis support, and this build of sop has none";
#endif
    assert_null(db);
    const char *why = sop_open_errmsg();
    if (!strstr(why, want))
        fail_msg("the reason: %s", why);
    assert_int_not_equal(stat(dir, &st), 0);
    o.redis_url = "http://127.0.0.1:6379";
    assert_int_equal(sop_db_open(dir, &o, &db), SOP_EINVAL);
    if (!strstr(sop_open_errmsg(), "is not a Redis URL"))
        fail_msg("the reason: %s", sop_open_errmsg());
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

static char *read_file(const char *path)
{
    static char buf[256];
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

static void put_one(sop_db *db, const char *k, const char *v)
{
    sop_txn *t = NULL;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_WRITE, &t), 0);
    sop_store *s = NULL;
    sop_store_options o = {0};
    assert_int_equal(sop_store_create(t, "s", &o, &s), 0);
    assert_int_equal(sop_upsert(s, k, strlen(k), v, strlen(v)), 0);
    assert_int_equal(sop_txn_commit(t), 0);
}

static void get_one(sop_db *db, const char *k, const char *want)
{
    sop_txn *t = NULL;
    const void *v;
    size_t vl;
    assert_int_equal(sop_txn_begin(db, SOP_TXN_READ, &t), 0);
    sop_store *s = tl_open_store(t, "s");
    assert_int_equal(sop_get(s, k, strlen(k), &v, &vl), 0);
    assert_memory_equal(v, want, strlen(want));
    assert_int_equal(vl, strlen(want));
    assert_int_equal(sop_txn_commit(t), 0);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static void a_database_has_one_id_for_life(void **state)
{
    (void)state;
    char p[4200], id[64];
    uuid_t u;
    sop_db *db = tl_open_db();
    snprintf(id, sizeof(id), "%s", sop_db_id(db));
    assert_int_equal(strlen(id), 36);
    assert_int_equal(uuid_parse(id, u), 0);
    sop_db_close(db);
    /* the file says it, and says it again at every open, salvage included */
    snprintf(p, sizeof(p), "%s/id", tl_dir);
    char *text = read_file(p);
    assert_non_null(text);
    char want[128];
    snprintf(want, sizeof(want), "sop database id %s\n", id);
    assert_string_equal(text, want);
    db = tl_open_db();
    assert_string_equal(sop_db_id(db), id);
    sop_db_close(db);
    assert_int_equal(sop_db_open_salvage(tl_dir, &db), 0);
    assert_string_equal(sop_db_id(db), id);
    sop_db_close(db);
    /* another database has another */
    char other[4200];
    snprintf(other, sizeof(other), "%s/other", tl_dir);
    assert_int_equal(sop_db_open(other, NULL, &db), 0);
    assert_string_not_equal(sop_db_id(db), id);
    sop_db_close(db);
    assert_string_equal(sop_db_id(NULL), "");
}

static void a_folder_without_an_id_gets_one_at_its_next_writable_open(void **state)
{
    (void)state;
    char p[4200];
    sop_db *db = tl_open_db();
    sop_db_close(db);
    snprintf(p, sizeof(p), "%s/id", tl_dir);
    assert_int_equal(unlink(p), 0); /* as a folder made before ids */
    assert_int_equal(sop_db_open_salvage(tl_dir, &db), 0);
    assert_string_equal(sop_db_id(db), ""); /* a read-only open writes nothing */
    assert_string_equal(sop_db_recovery_report(db), "");
    sop_db_close(db);
    assert_int_not_equal(access(p, F_OK), 0);
    db = tl_open_db();
    assert_int_equal(strlen(sop_db_id(db)), 36);
    sop_db_close(db);
    assert_int_equal(access(p, F_OK), 0);
}

static void a_damaged_id_is_reported_and_kept_not_replaced(void **state)
{
    (void)state;
    char p[4200];
    sop_db *db = tl_open_db();
    put_one(db, "k", "v");
    sop_db_close(db);
    snprintf(p, sizeof(p), "%s/id", tl_dir);
    const char *bad[] = {"sop database id not-a-uuid-at-all-but-36-characters!\n",
                         "sop database id 0123\n", "garbage", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        write_file(p, bad[i]);
        db = tl_open_db(); /* standalone opens: the data is all there */
        assert_string_equal(sop_db_id(db), "");
        if (!strstr(sop_db_recovery_report(db), "does not hold a database id") &&
            !strstr(sop_db_recovery_report(db), "is not a UUID"))
            fail_msg("case %zu: the report: %s", i, sop_db_recovery_report(db));
        if (!strstr(sop_db_recovery_report(db), "until the file is removed"))
            fail_msg("case %zu: the report: %s", i, sop_db_recovery_report(db));
        get_one(db, "k", "v");
        sop_db_close(db);
        assert_string_equal(read_file(p), bad[i]); /* kept as it was: nothing guessed */
    }
}

static void writers_making_the_id_at_once_agree_on_one(void **state)
{
    (void)state;
    enum { PROCS = 6 };
    for (int round = 0; round < 5; round++) {
        char dir[4200];
        snprintf(dir, sizeof(dir), "%s/r%d", tl_dir, round);
        assert_int_equal(mkdir(dir, 0755), 0);
        int fds[PROCS][2];
        pid_t pids[PROCS];
        for (int p = 0; p < PROCS; p++) {
            assert_int_equal(pipe(fds[p]), 0);
            if ((pids[p] = fork()) == 0) {
                char id[DBID_LEN + 1], why[256];
                if (dbid_load(&os_default, dir, true, id, why, sizeof(why)) != 0)
                    _exit(2);
                _exit(write(fds[p][1], id, DBID_LEN) == DBID_LEN ? 0 : 3);
            }
            close(fds[p][1]);
        }
        char first[DBID_LEN + 1] = "";
        for (int p = 0; p < PROCS; p++) {
            char id[DBID_LEN + 1] = "";
            assert_int_equal(read(fds[p][0], id, DBID_LEN), DBID_LEN);
            close(fds[p][0]);
            int st;
            assert_int_equal(waitpid(pids[p], &st, 0), pids[p]);
            assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
            if (!first[0])
                memcpy(first, id, sizeof(first));
            assert_string_equal(id, first); /* one id, whoever came first */
        }
        DIR *d = opendir(dir);
        struct dirent *e;
        while ((e = readdir(d)))
            if (strncmp(e->d_name, "id.tmp", 6) == 0)
                fail_msg("left behind: %s", e->d_name);
        closedir(d);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(redis_url_is_refused_with_the_reason_and_nothing_made,
                                        tl_dir_setup, tl_dir_teardown),
        cmocka_unit_test_setup_teardown(a_folder_held_open_is_refused_as_in_use, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(a_database_has_one_id_for_life, tl_dir_setup,
                                        tl_dir_teardown),
        cmocka_unit_test_setup_teardown(a_folder_without_an_id_gets_one_at_its_next_writable_open,
                                        tl_dir_setup, tl_dir_teardown),
        cmocka_unit_test_setup_teardown(a_damaged_id_is_reported_and_kept_not_replaced,
                                        tl_dir_setup, tl_dir_teardown),
        cmocka_unit_test_setup_teardown(writers_making_the_id_at_once_agree_on_one, tl_dir_setup,
                                        tl_dir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
