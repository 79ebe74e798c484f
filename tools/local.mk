# sop: the command line (tools/sop.c) and its benchmarks.
# Only engine/sop.h is included from the engine; LMDB and SQLite are optional
# benchmark peers (config.h says which configure found).
bin_PROGRAMS += tools/sop
tools_sop_SOURCES = tools/sop.c tools/cli.h tools/cli.c tools/dump.c tools/inspect.c \
	tools/progress.h tools/progress.c \
	tools/bench.h tools/bench_engine.c tools/bench_fs.h tools/bench_fs.c \
	tools/bench_cluster.h tools/bench_cluster.c
tools_sop_CPPFLAGS = $(SOP_CPPFLAGS) $(LMDB_CFLAGS) $(SQLITE3_CFLAGS)
tools_sop_LDADD = engine/libsop.la $(LMDB_LIBS) $(SQLITE3_LIBS) -lpthread
