/* redis_server.c - see redis_server.h. */
#define _GNU_SOURCE
#include "redis_server.h"

#include "testlib.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_SERVERS 8
static struct tl_redis *running[MAX_SERVERS];
static bool hooked;

static void kill_all(void)
{
    for (int i = 0; i < MAX_SERVERS; i++)
        if (running[i])
            tl_redis_stop(running[i]);
}

bool tl_redis_available(void)
{
    return system("command -v redis-server >/dev/null 2>&1") == 0;
}

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int tl_redis_cmd(struct tl_redis *r, const char *cmd, char *out, size_t cap)
{
    int fd = connect_to(r->port);
    if (fd < 0)
        return -1;
    char line[1024];
    int n = snprintf(line, sizeof(line), "%s\r\n", cmd);
    if (write(fd, line, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    char buf[4096];
    size_t got = 0;
    /* read until the first line ends (and a bulk string's text after it) */
    for (;;) {
        ssize_t k = read(fd, buf + got, sizeof(buf) - 1 - got);
        if (k <= 0)
            break;
        got += (size_t)k;
        buf[got] = 0;
        char *eol = strstr(buf, "\r\n");
        if (!eol)
            continue;
        if (buf[0] != '$' || buf[1] == '-')
            break;
        long len = strtol(buf + 1, NULL, 10);
        if ((long)(got - (size_t)(eol + 2 - buf)) >= len + 2)
            break;
    }
    close(fd);
    buf[got] = 0;
    char *eol = strstr(buf, "\r\n");
    if (!eol)
        return -1;
    *eol = 0;
    if (buf[0] == '$' && buf[1] != '-') {
        long len = strtol(buf + 1, NULL, 10);
        char *text = eol + 2;
        if (len >= 0 && (size_t)len <= got - (size_t)(text - buf))
            text[len] = 0;
        snprintf(out, cap, "%s", text);
    } else
        snprintf(out, cap, "%s", buf);
    return 0;
}

int tl_redis_start(struct tl_redis *r)
{
    if (!r->dir)
        r->dir = tl_tmpdir("redis");
    bool fixed = r->port != 0;
    for (int attempt = 0; attempt < 20; attempt++) {
        if (!fixed)
            r->port = 20000 + (int)(tl_now_ns() / 1000 % 40000);
        char port[16];
        snprintf(port, sizeof(port), "%d", r->port);
        pid_t pid = fork();
        if (pid < 0)
            return -1;
        if (pid == 0) {
            /* it dies with the test, however the test ends, and holds none
             * of its output open (a pipe reading the test would wait) */
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            int null = open("/dev/null", O_RDWR);
            if (null >= 0) {
                dup2(null, 0);
                dup2(null, 1);
                dup2(null, 2);
            }
            char log[4200];
            snprintf(log, sizeof(log), "%s/redis.log", r->dir);
            execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1",
                   "--save", "", "--appendonly", "no", "--dir", r->dir, "--logfile", log,
                   "--daemonize", "no", (char *)NULL);
            _exit(127);
        }
        r->pid = pid;
        /* up within 5 s, or it died (the port was taken: another one) */
        for (int i = 0; i < 500; i++) {
            char ans[64];
            if (tl_redis_cmd(r, "PING", ans, sizeof(ans)) == 0 && strcmp(ans, "+PONG") == 0) {
                snprintf(r->url, sizeof(r->url), "redis://127.0.0.1:%d", r->port);
                if (!hooked) {
                    atexit(kill_all);
                    hooked = true;
                }
                for (int k = 0; k < MAX_SERVERS; k++)
                    if (!running[k] || running[k] == r) {
                        running[k] = r;
                        break;
                    }
                return 0;
            }
            int st;
            if (waitpid(pid, &st, WNOHANG) == pid) {
                r->pid = 0;
                break;
            }
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        if (r->pid) {
            kill(r->pid, SIGKILL);
            waitpid(r->pid, NULL, 0);
            r->pid = 0;
        }
        if (fixed) {
            struct timespec ts = {0, 200 * 1000 * 1000};
            nanosleep(&ts, NULL); /* the port may still be in TIME_WAIT */
        }
    }
    fprintf(stderr, "redis-server would not start (see %s/redis.log)\n", r->dir);
    return -1;
}

void tl_redis_kill(struct tl_redis *r)
{
    if (r->pid) {
        kill(r->pid, SIGCONT);
        kill(r->pid, SIGKILL);
        waitpid(r->pid, NULL, 0);
        r->pid = 0;
    }
}

void tl_redis_pause(struct tl_redis *r, bool pause)
{
    if (r->pid)
        kill(r->pid, pause ? SIGSTOP : SIGCONT);
}

void tl_redis_stop(struct tl_redis *r)
{
    tl_redis_kill(r);
    if (r->dir) {
        tl_rmrf(r->dir);
        free(r->dir);
        r->dir = NULL;
    }
    for (int k = 0; k < MAX_SERVERS; k++)
        if (running[k] == r)
            running[k] = NULL;
}
