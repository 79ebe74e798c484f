# The cookbook scenarios in C, each a cmocka program run by make check.
EXAMPLES = tests/examples/ex_quickstart tests/examples/ex_bank tests/examples/ex_video \
	tests/examples/ex_stores tests/examples/ex_relations tests/examples/ex_search \
	tests/examples/ex_vector
check_PROGRAMS += $(EXAMPLES)
TESTS += $(EXAMPLES)
tests_examples_ex_quickstart_SOURCES = tests/examples/ex_quickstart.c
tests_examples_ex_quickstart_CPPFLAGS = $(TEST_CPPFLAGS)
tests_examples_ex_quickstart_LDADD = $(TEST_LDADD)
tests_examples_ex_bank_SOURCES = tests/examples/ex_bank.c
tests_examples_ex_bank_CPPFLAGS = $(TEST_CPPFLAGS)
tests_examples_ex_bank_LDADD = $(TEST_LDADD)
tests_examples_ex_video_SOURCES = tests/examples/ex_video.c
tests_examples_ex_video_CPPFLAGS = $(TEST_CPPFLAGS)
tests_examples_ex_video_LDADD = $(TEST_LDADD)
tests_examples_ex_stores_SOURCES = tests/examples/ex_stores.c
tests_examples_ex_stores_CPPFLAGS = $(TEST_CPPFLAGS)
tests_examples_ex_stores_LDADD = $(TEST_LDADD)
tests_examples_ex_relations_SOURCES = tests/examples/ex_relations.c
tests_examples_ex_relations_CPPFLAGS = $(TEST_CPPFLAGS)
tests_examples_ex_relations_LDADD = $(TEST_LDADD)
tests_examples_ex_search_SOURCES = tests/examples/ex_search.c
tests_examples_ex_search_CPPFLAGS = $(TEST_CPPFLAGS)
tests_examples_ex_search_LDADD = $(TEST_LDADD) -lm
tests_examples_ex_vector_SOURCES = tests/examples/ex_vector.c
tests_examples_ex_vector_CPPFLAGS = $(TEST_CPPFLAGS)
tests_examples_ex_vector_LDADD = $(TEST_LDADD) -lm
