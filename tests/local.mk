# cmocka unit tests, one program per engine module, plus the cookbook
# examples (tests/examples/local.mk).  Every program links the engine's core
# objects statically, so it can reach module-private functions and the OS
# seam (tests/lib/fault_os.c, crash_os.c).
TEST_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/lib $(CMOCKA_CFLAGS)
TEST_LDADD = tests/lib/libtestlib.la engine/libsop_core.la $(CMOCKA_LIBS) $(UUID_LIBS) $(ZLIB_LIBS) -lpthread

noinst_LTLIBRARIES += tests/lib/libtestlib.la
tests_lib_libtestlib_la_SOURCES = tests/lib/testlib.h tests/lib/testlib.c \
	tests/lib/faultlib.h tests/lib/fault_os.c tests/lib/crash_os.c
tests_lib_libtestlib_la_CPPFLAGS = $(TEST_CPPFLAGS)

UNIT_TESTS = tests/test_codec tests/test_os tests/test_registry tests/test_blob tests/test_cache \
	tests/test_btree tests/test_txn tests/test_recovery tests/test_reclaim tests/test_search tests/test_vector
check_PROGRAMS += $(UNIT_TESTS)
TESTS += $(UNIT_TESTS)
tests_test_codec_SOURCES = tests/test_codec.c
tests_test_codec_CPPFLAGS = $(TEST_CPPFLAGS)
tests_test_codec_LDADD = $(TEST_LDADD)
tests_test_os_SOURCES = tests/test_os.c
tests_test_os_CPPFLAGS = $(TEST_CPPFLAGS)
tests_test_os_LDADD = $(TEST_LDADD)
tests_test_registry_SOURCES = tests/test_registry.c
tests_test_registry_CPPFLAGS = $(TEST_CPPFLAGS)
tests_test_registry_LDADD = $(TEST_LDADD)
tests_test_cache_SOURCES = tests/test_cache.c
tests_test_cache_CPPFLAGS = $(TEST_CPPFLAGS)
tests_test_cache_LDADD = $(TEST_LDADD)
tests_test_blob_SOURCES = tests/test_blob.c
tests_test_blob_CPPFLAGS = $(TEST_CPPFLAGS)
tests_test_blob_LDADD = $(TEST_LDADD)
tests_test_btree_SOURCES = tests/test_btree.c
tests_test_btree_CPPFLAGS = $(TEST_CPPFLAGS)
tests_test_btree_LDADD = $(TEST_LDADD)
tests_test_txn_SOURCES = tests/test_txn.c
tests_test_txn_CPPFLAGS = $(TEST_CPPFLAGS)
tests_test_txn_LDADD = $(TEST_LDADD)
tests_test_recovery_SOURCES = tests/test_recovery.c
tests_test_recovery_CPPFLAGS = $(TEST_CPPFLAGS)
tests_test_recovery_LDADD = $(TEST_LDADD)
tests_test_reclaim_SOURCES = tests/test_reclaim.c
tests_test_reclaim_CPPFLAGS = $(TEST_CPPFLAGS)
tests_test_reclaim_LDADD = $(TEST_LDADD)

tests_test_search_SOURCES = tests/test_search.c
tests_test_search_CPPFLAGS = $(TEST_CPPFLAGS)
tests_test_search_LDADD = $(TEST_LDADD) -lm
tests_test_vector_SOURCES = tests/test_vector.c
tests_test_vector_CPPFLAGS = $(TEST_CPPFLAGS)
tests_test_vector_LDADD = $(TEST_LDADD) -lm

# The command line's search and vector commands (TAP from a shell script).
TESTS += tests/cli_search.sh
dist_check_SCRIPTS += tests/cli_search.sh
# A tiny `sop bench engine` (2000 and 5000 keys, a few seconds) on the
# engines the build has: the bench exits 1 on a wrong answer.
TESTS += tests/cli_bench_engine.sh
dist_check_SCRIPTS += tests/cli_bench_engine.sh

include $(srcdir)/tests/more.mk
include $(srcdir)/tests/examples/local.mk

# sop_db_usage (sop du): live and dead bytes per segment and per store.
check_PROGRAMS += tests/test_usage
TESTS += tests/test_usage
tests_test_usage_SOURCES = tests/test_usage.c
tests_test_usage_CPPFLAGS = $(TEST_CPPFLAGS)
tests_test_usage_LDADD = $(TEST_LDADD)
# sop stats and sop du on a data folder.
TESTS += tests/cli_inspect.sh
dist_check_SCRIPTS += tests/cli_inspect.sh
# The progress line of long commands, on a pty (script(1)) and redirected.
TESTS += tests/cli_progress.sh
dist_check_SCRIPTS += tests/cli_progress.sh
# What sop_db_open says when it refuses (redis_url, a folder in use).
check_PROGRAMS += tests/test_open
TESTS += tests/test_open
tests_test_open_SOURCES = tests/test_open.c
tests_test_open_CPPFLAGS = $(TEST_CPPFLAGS)
tests_test_open_LDADD = $(TEST_LDADD)
