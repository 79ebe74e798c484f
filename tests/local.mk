# Every test is named once, in one of the lists below; check_PROGRAMS, TESTS
# and dist_check_SCRIPTS are made from them (as libuv's test/test-list.h
# names each test once).  A new test is one word in one list:
#
#   UNIT_TESTS    cmocka programs, one per engine module or feature
#                 (tests/test_X.c), plus the model, concurrency and crash tests
#   EXAMPLES      the cookbook scenarios in C (tests/examples/ex_X.c)
#   SCRIPT_TESTS  shell tests of the command line, the installation, the
#                 manual pages (man/check.sh) and contrib/ (completion, units)
#   FS_TESTS      sopfs on a real mount (tests/fs/X.sh; tests/fs/lib.sh has
#                 the helpers; contrib/service.sh runs sopfs as systemd
#                 would), run only when configure found libfuse3
#
# A cmocka program's sources default to its .c, and it is compiled and linked
# with the defaults AM_CPPFLAGS and LDADD, which are set here for the tests
# (everything that installs sets its own _CPPFLAGS and _LDADD).  Programs
# link the engine's core objects statically, so they can reach
# module-private functions and the OS seam (tests/lib/fault_os.c,
# crash_os.c).  `make check-layers` checks that every test on disk is in
# exactly one list (scripts/check-tests.sh).
UNIT_TESTS = tests/test_codec tests/test_os tests/test_registry tests/test_blob tests/test_cache \
	tests/test_btree tests/test_txn tests/test_recovery tests/test_reclaim \
	tests/test_search tests/test_vector tests/test_usage tests/test_open tests/test_coord tests/test_order tests/test_cluster \
	tests/test_model tests/test_concurrency tests/test_crash

EXAMPLES = tests/examples/ex_quickstart tests/examples/ex_bank tests/examples/ex_video \
	tests/examples/ex_stores tests/examples/ex_relations tests/examples/ex_search \
	tests/examples/ex_vector tests/examples/ex_clustered

# cli_bench_engine.sh is a tiny `sop bench engine` (2000 and 5000 keys, a few
# seconds) on the engines the build has; cli_progress.sh runs on a pty
# (script(1)).
SCRIPT_TESTS = tests/cli_search.sh tests/cli_bench_engine.sh tests/cli_inspect.sh \
	tests/cli_progress.sh tests/install.sh man/check.sh contrib/completion.sh \
	contrib/units.sh

# readdir.sh lists a store of a million records (about a minute); posix.sh
# runs as another user; huge.sh streams a 10 GiB file (~4 min; it skips
# itself with less than 25 GiB free).
FS_TESTS = tests/fs/basic.sh tests/fs/tree.sh tests/fs/xattr.sh tests/fs/txn.sh \
	tests/fs/bigfile.sh tests/fs/crash.sh tests/fs/parallel.sh tests/fs/readdir.sh \
	tests/fs/search.sh tests/fs/bench.sh tests/fs/daemon.sh tests/fs/crashloop.sh \
	tests/fs/writers.sh tests/fs/fsx.sh tests/fs/enospc.sh tests/fs/damage.sh \
	tests/fs/reclaim.sh tests/fs/errors.sh tests/fs/pjdfstest.sh tests/fs/cluster.sh \
	tests/fs/posix.sh tests/fs/maxage.sh tests/fs/huge.sh contrib/service.sh
# Programs the mount tests run (not tests themselves).
FS_HELPERS = tests/fs/mmap_read tests/fs/writers tests/fs/fsx

AM_CPPFLAGS = $(SOP_CPPFLAGS) -I$(top_srcdir)/tests/lib $(CMOCKA_CFLAGS)
LDADD = tests/lib/libtestlib.la engine/libsop_core.la $(CMOCKA_LIBS) $(UUID_LIBS) \
	$(ZLIB_LIBS) -lpthread -lm

check_PROGRAMS += $(UNIT_TESTS) $(EXAMPLES)
TESTS += $(UNIT_TESTS) $(EXAMPLES) $(SCRIPT_TESTS)
dist_check_SCRIPTS += $(SCRIPT_TESTS) $(FS_TESTS)
if HAVE_FUSE
check_PROGRAMS += $(FS_HELPERS)
TESTS += $(FS_TESTS)
endif
EXTRA_DIST += tests/fs/lib.sh tests/records.py tests/fs/pjdfstest.known tests/fs/bank.py

noinst_LTLIBRARIES += tests/lib/libtestlib.la
tests_lib_libtestlib_la_SOURCES = tests/lib/testlib.h tests/lib/testlib.c \
	tests/lib/faultlib.h tests/lib/fault_os.c tests/lib/crash_os.c \
	tests/lib/redis_server.h tests/lib/redis_server.c
