# Model, concurrency and crash tests (public API only).
check_PROGRAMS += tests/test_model
TESTS += tests/test_model
tests_test_model_SOURCES = tests/test_model.c
tests_test_model_CPPFLAGS = $(TEST_CPPFLAGS)
tests_test_model_LDADD = $(TEST_LDADD)
check_PROGRAMS += tests/test_concurrency
TESTS += tests/test_concurrency
tests_test_concurrency_SOURCES = tests/test_concurrency.c
tests_test_concurrency_CPPFLAGS = $(TEST_CPPFLAGS)
tests_test_concurrency_LDADD = $(TEST_LDADD)
check_PROGRAMS += tests/test_crash
TESTS += tests/test_crash
tests_test_crash_SOURCES = tests/test_crash.c
tests_test_crash_CPPFLAGS = $(TEST_CPPFLAGS)
tests_test_crash_LDADD = $(TEST_LDADD)

# More sopfs integration tests on a real mount (the others are listed in
# fs/local.mk; tests/fs/lib.sh has the helpers): POSIX permissions and
# errors as another user (posix.sh), transactions past the maximum age
# (maxage.sh), a 10 GiB file streamed through the mount (huge.sh, ~4 min;
# it skips itself with less than 25 GiB free).
if HAVE_FUSE
FS_MORE_TESTS = tests/fs/posix.sh tests/fs/maxage.sh tests/fs/huge.sh
TESTS += $(FS_MORE_TESTS)
dist_check_SCRIPTS += $(FS_MORE_TESTS)
endif
