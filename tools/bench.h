/*
 * bench.h - `sop bench`: benchmarks of libsop, and of LMDB and SQLite doing
 * the same work, for comparison (bench_engine.c).
 */
#ifndef SOP_TOOLS_BENCH_H
#define SOP_TOOLS_BENCH_H

/* `sop bench engine [options]`; argv[0] is "bench".  Returns the exit
 * status: 0, 1 (an engine failed or returned wrong data), 2 (usage). */
int bench_main(int argc, char **argv);

/* The text of `sop help bench`. */
extern const char bench_help[];

#endif /* SOP_TOOLS_BENCH_H */
