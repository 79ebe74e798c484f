/*
 * redis_server.h - a redis-server of a test's own: started on a random
 * loopback port in a temporary folder, with no persistence, and killed
 * and removed at the end (atexit too, so a failed test leaves none).
 * Talks to it over a plain socket (inline commands), so that the tests
 * need no hiredis: only the engine's Redis module includes it.
 */
#ifndef SOP_TEST_REDIS_SERVER_H
#define SOP_TEST_REDIS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct tl_redis {
    pid_t pid; /* 0: not running */
    int port;
    char *dir;
    char url[64]; /* "redis://127.0.0.1:PORT" */
};

/* Is redis-server on PATH? */
bool tl_redis_available(void);
/* Start one (a new port; r->port kept if set, to restart on the same one).
 * r must live to the end of the program (static): atexit stops it.
 * 0, or -1 with a message on stderr. */
int tl_redis_start(struct tl_redis *r);
/* Kill it (SIGKILL) and wait; the folder stays for a restart. */
void tl_redis_kill(struct tl_redis *r);
/* Stop it or let it go on (SIGSTOP, SIGCONT). */
void tl_redis_pause(struct tl_redis *r, bool pause);
/* Kill it and remove its folder. */
void tl_redis_stop(struct tl_redis *r);
/* Send one inline command ("FLUSHALL", "GET key") and put the first line
 * of the answer in out ("+OK", ":3", "$-1", or a bulk string's whole text).
 * 0, or -1 when it cannot be reached. */
int tl_redis_cmd(struct tl_redis *r, const char *cmd, char *out, size_t cap);

#endif
