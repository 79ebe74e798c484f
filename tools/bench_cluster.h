/*
 * bench_cluster.h - `sop bench cluster`: clustered mode's commits against
 * standalone's (bench_cluster.c).
 */
#ifndef SOP_TOOLS_BENCH_CLUSTER_H
#define SOP_TOOLS_BENCH_CLUSTER_H

/* `sop bench cluster [options]`; argv[0] is "cluster".  Returns the exit
 * status: 0, 1 (a member failed), 2 (usage). */
int bench_cluster(int argc, char **argv);

/* The part of `sop help bench` about `bench cluster`. */
extern const char bench_cluster_help[];

#endif /* SOP_TOOLS_BENCH_CLUSTER_H */
