/*
 * clock.h - the layer's times: nanoseconds since the epoch in an int64_t,
 * as metadata records keep them (names.c), and struct timespec, as the
 * kernel sends and is told them.
 */
#ifndef SOPFS_CLOCK_H
#define SOPFS_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Now, by CLOCK_REALTIME. */
int64_t fs_now_ns(void);
/* ns as a timespec: a time before the epoch keeps tv_nsec in 0..999999999. */
void fs_ns_to_timespec(int64_t ns, struct timespec *ts);
int64_t fs_timespec_to_ns(const struct timespec *ts);

#endif /* SOPFS_CLOCK_H */
