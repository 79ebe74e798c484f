/*
 * testlib.h - helpers shared by the test programs: temporary folders, seeds
 * for randomized tests, and the OS-layer shims that inject faults
 * (fault_os.c) and simulate power loss (crash_os.c).
 */
#ifndef SOP_TESTLIB_H
#define SOP_TESTLIB_H

#include <stddef.h>
#include <stdint.h>

/* A new empty folder under $TMPDIR (or /tmp); malloc'd path, abort on error. */
char *tl_tmpdir(const char *tag);
/* The fixture most tests share (cmocka setup/teardown): a new empty folder
 * per test case in tl_dir, named after the program, removed afterwards even
 * when the test failed. */
extern char *tl_dir;
int tl_dir_setup(void **state);
int tl_dir_teardown(void **state);
/* sop_db_open(tl_dir) with default options; fails the test when it fails. */
struct sop_db;
struct sop_db *tl_open_db(void);
/* sop_store_open(t, name); fails the test when it fails. */
struct sop_txn;
struct sop_store;
struct sop_store *tl_open_store(struct sop_txn *t, const char *name);
/* Remove a folder tree (like rm -rf); ignores errors. */
void tl_rmrf(const char *path);
/* The seed of a randomized test: $SOP_SEED if set, else from the clock.
 * Prints "# <name> seed: N (set SOP_SEED=N to repeat)" as a TAP comment. */
uint64_t tl_seed(const char *name);
/* xorshift64*: a small deterministic generator; *state must be non-zero. */
uint64_t tl_rand(uint64_t *state);
/* A scale factor for long tests: $SOP_TEST_SCALE (default 1). */
double tl_scale(void);
/* Monotonic clock in nanoseconds. */
uint64_t tl_now_ns(void);

#endif
