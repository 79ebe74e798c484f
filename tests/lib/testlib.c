/* testlib.c - see testlib.h. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sop.h"
#include "testlib.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

char *tl_tmpdir(const char *tag)
{
    const char *base = getenv("TMPDIR");
    char *p = NULL;
    if (!base || !*base)
        base = "/tmp";
    if (asprintf(&p, "%s/sop-%s-XXXXXX", base, tag ? tag : "test") < 0)
        abort();
    if (!mkdtemp(p)) {
        perror("mkdtemp");
        abort();
    }
    return p;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void tl_rmrf(const char *path)
{
    if (path)
        nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *tl_dir;

int tl_dir_setup(void **state)
{
    const char *tag = program_invocation_short_name;
    (void)state;
    if (!strncmp(tag, "test_", 5))
        tag += 5;
    tl_dir = tl_tmpdir(tag);
    return 0;
}

int tl_dir_teardown(void **state)
{
    (void)state;
    tl_rmrf(tl_dir);
    free(tl_dir);
    tl_dir = NULL;
    return 0;
}

uint64_t tl_seed(const char *name)
{
    const char *e = getenv("SOP_SEED");
    uint64_t s;
    if (e && *e)
        s = strtoull(e, NULL, 0);
    else
        s = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    if (s == 0)
        s = 1;
    printf("# %s seed: %llu (set SOP_SEED=%llu to repeat)\n", name, (unsigned long long)s,
           (unsigned long long)s);
    fflush(stdout);
    return s;
}

uint64_t tl_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

double tl_scale(void)
{
    const char *e = getenv("SOP_TEST_SCALE");
    double d = e ? atof(e) : 1.0;
    return d > 0 ? d : 1.0;
}

uint64_t tl_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct sop_db *tl_open_db(void)
{
    sop_db *db = NULL;
    int rc = sop_db_open(tl_dir, NULL, &db);
    if (rc != 0)
        fail_msg("open %s: %s", tl_dir, sop_strerror(rc));
    return db;
}

struct sop_store *tl_open_store(struct sop_txn *t, const char *name)
{
    sop_store *s = NULL;
    int rc = sop_store_open(t, name, &s);
    if (rc != 0)
        fail_msg("open store %s: %s", name, sop_strerror(rc));
    return s;
}
