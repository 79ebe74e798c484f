# Model, concurrency and crash tests (public API only).
check_PROGRAMS += tests/test_model
TESTS += tests/test_model
tests_test_model_SOURCES = tests/test_model.c
tests_test_model_CPPFLAGS = $(TEST_CPPFLAGS)
tests_test_model_LDADD = $(TEST_LDADD)
