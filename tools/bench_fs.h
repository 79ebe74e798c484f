/*
 * bench_fs.h - `sop bench fs`: sopfs (the FUSE daemon) against a plain
 * folder doing the same file work (bench_fs.c), and the dispatch of
 * `sop bench` between it and `bench engine` (bench.h).
 */
#ifndef SOP_TOOLS_BENCH_FS_H
#define SOP_TOOLS_BENCH_FS_H

/* `sop bench fs|engine [options]`; argv[0] is "bench".  Returns the exit
 * status: 0, 1 (a command failed or returned wrong data), 2 (usage). */
int bench_dispatch(int argc, char **argv);

/* The part of `sop help bench` about `bench fs`. */
extern const char bench_fs_help[];

#endif /* SOP_TOOLS_BENCH_FS_H */
