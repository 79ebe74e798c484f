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
