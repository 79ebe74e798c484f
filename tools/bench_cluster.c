/*
 * bench_cluster.c - `sop bench cluster`: durable single commits and 4 KiB
 * creates from 1, 2 and 3 member processes of one clustered database (one
 * folder, one redis-server the bench starts on a loopback port of its own
 * and stops), beside one standalone process doing the same, all in one
 * run so that the figures compare.
 *
 * Phases, each member doing COMMITS commits, all members started together:
 *   commit 1   one upsert of a 100-byte value into a key of the member's own
 *              (disjoint keys), one commit each;
 *   create     one new key with a 4 KiB value (a small file's worth) each;
 *   shared 10% as commit 1, but one commit in ten writes one of 10 keys all
 *              members share (read, then written): conflicts are retried and
 *              counted.
 * The table shows the commits per second of all members together, and the
 * conflicts.  Uses sop.h only; redis-server must be on PATH.
 */
#define _GNU_SOURCE
#include "config.h"

#include "bench_cluster.h"
#include "cli.h"

#include <sop.h>

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char bench_cluster_help[] =
    "`sop bench cluster` measures clustered mode: durable single commits, 4 KiB\n"
    "creates, and commits of which one in ten writes keys all members share,\n"
    "from 1, 2 and 3 member processes of one database on a redis-server it\n"
    "starts itself (on a loopback port; redis-server must be installed), beside\n"
    "one standalone process doing the same.  It prints commits per second of all\n"
    "members together, the conflicts retried, and clustered over standalone.\n"
    "\n"
    "  --dir D        where the databases go (default $TMPDIR or /tmp); removed after\n"
    "  --commits N    commits per member and phase (default 500)\n"
    "  --members N    the most members (default 3)\n";

enum { PH_COMMIT, PH_CREATE, PH_SHARED, NPH };
static const char *const ph_name[NPH] = {"commit 1", "create 4 KiB", "shared 10%"};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int ping(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    char buf[16] = "";
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
             write(fd, "PING\r\n", 6) == 6 && read(fd, buf, sizeof(buf) - 1) > 0 &&
             strncmp(buf, "+PONG", 5) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

static pid_t start_redis(const char *dir, int *port)
{
    for (int tries = 0; tries < 20; tries++) {
        *port = 20000 + (int)((getpid() * 131 + tries * 977 + (int)(now_s() * 1000)) % 40000);
        char p[16];
        snprintf(p, sizeof(p), "%d", *port);
        pid_t pid = fork();
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
                _exit(127);
            execlp("redis-server", "redis-server", "--port", p, "--bind", "127.0.0.1", "--save",
                   "", "--appendonly", "no", "--dir", dir, (char *)NULL);
            _exit(127);
        }
        for (int i = 0; i < 300; i++) {
            if (ping(*port))
                return pid;
            int st;
            if (waitpid(pid, &st, WNOHANG) == pid)
                break;
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    return -1;
}

struct result {
    uint64_t commits, conflicts;
    int failed;
};

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

/* One commit of phase ph by member `who` (its i-th): 0, or the error. */
static int one(sop_db *db, int ph, int who, uint64_t i, uint64_t *rng, const char *big)
{
    sop_txn *t;
    sop_store *s;
    char k[48];
    const void *v;
    size_t vl;
    int rc = sop_txn_begin(db, SOP_TXN_WRITE, &t);
    if (rc)
        return rc;
    if ((rc = sop_store_open(t, "bench", &s)) != 0)
        goto fail;
    if (ph == PH_CREATE) {
        snprintf(k, sizeof(k), "m%d-file%08" PRIu64, who, i);
        rc = sop_add(s, k, strlen(k), big, 4096);
    } else if (ph == PH_SHARED && rnd(rng) % 10 == 0) {
        snprintf(k, sizeof(k), "shared%02d", (int)(rnd(rng) % 10));
        rc = sop_get(s, k, strlen(k), &v, &vl);
        if (rc == 0 || rc == SOP_ENOTFOUND)
            rc = sop_upsert(s, k, strlen(k), big, 100);
    } else {
        snprintf(k, sizeof(k), "m%d-key%04d", who, (int)(rnd(rng) % 1000));
        rc = sop_upsert(s, k, strlen(k), big, 100);
    }
    if (rc)
        goto fail;
    return sop_txn_commit(t);
fail:
    sop_txn_rollback(t);
    return rc;
}

/* A member (or the standalone process): wait for the go, run, report. */
static void member_main(const char *dir, const char *url, int ph, int who, uint64_t n, int go,
                        int out)
{
    sop_db *db = NULL;
    sop_db_options o = {.redis_url = url};
    struct result r = {0};
    char big[4096];
    memset(big, 'x', sizeof(big));
    if (sop_db_open(dir, url ? &o : NULL, &db) != 0) {
        fprintf(stderr, "sop bench cluster: member %d: %s\n", who, sop_open_errmsg());
        r.failed = 1;
    }
    char c;
    if (read(go, &c, 1) != 1)
        r.failed = 1;
    uint64_t rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)(who + 1) * 7919u;
    for (uint64_t i = 0; i < n && !r.failed; i++) {
        int rc;
        while ((rc = one(db, ph, who, i, &rng, big)) == SOP_ECONFLICT)
            r.conflicts++;
        if (rc) {
            fprintf(stderr, "sop bench cluster: member %d: %s: %s\n", who, sop_strerror(rc),
                    sop_db_errmsg(db));
            r.failed = 1;
        }
        r.commits++;
    }
    sop_db_close(db);
    if (write(out, &r, sizeof(r)) != (ssize_t)sizeof(r))
        _exit(3);
    _exit(r.failed);
}

/* The store, made once by a process of the configuration. */
static int prepare(const char *dir, const char *url)
{
    sop_db *db = NULL;
    sop_db_options o = {.redis_url = url};
    sop_txn *t;
    sop_store *s;
    sop_store_options so = {.slot_length = 500};
    int rc = sop_db_open(dir, url ? &o : NULL, &db);
    if (rc) {
        fprintf(stderr, "sop bench cluster: open %s: %s\n", dir, sop_open_errmsg());
        return rc;
    }
    rc = sop_txn_begin(db, SOP_TXN_WRITE, &t);
    if (rc == 0 && (rc = sop_store_create(t, "bench", &so, &s)) == 0)
        rc = sop_txn_commit(t);
    sop_db_close(db);
    return rc;
}

/* Run phase ph with `members` processes (url NULL: one standalone). */
static int run(const char *root, const char *url, int members, int ph, uint64_t n, double *rate,
               uint64_t *conflicts)
{
    char dir[PATH_MAX], cmd[PATH_MAX + 16];
    static int serial;
    snprintf(dir, sizeof(dir), "%s/db%d", root, serial++);
    if (prepare(dir, url) != 0)
        return -1;
    int go[2], out[2];
    if (pipe(go) || pipe(out))
        return -1;
    pid_t pids[16];
    for (int m = 0; m < members; m++) {
        if ((pids[m] = fork()) == 0) {
            close(go[1]);
            member_main(dir, url, ph, m, n, go[0], out[1]);
        }
    }
    close(go[0]);
    close(out[1]);
    struct timespec ts = {0, 300 * 1000 * 1000}; /* let them open */
    nanosleep(&ts, NULL);
    double t0 = now_s();
    for (int m = 0; m < members; m++)
        if (write(go[1], "g", 1) != 1)
            return -1;
    close(go[1]);
    int failed = 0;
    uint64_t total = 0;
    *conflicts = 0;
    for (int m = 0; m < members; m++) {
        struct result r;
        if (read(out[0], &r, sizeof(r)) != (ssize_t)sizeof(r))
            failed = 1;
        else {
            total += r.commits;
            *conflicts += r.conflicts;
            failed |= r.failed;
        }
    }
    double secs = now_s() - t0;
    for (int m = 0; m < members; m++) {
        int st;
        waitpid(pids[m], &st, 0);
        failed |= !WIFEXITED(st) || WEXITSTATUS(st) != 0;
    }
    close(out[0]);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "sop bench cluster: could not remove %s\n", dir);
    *rate = secs > 0 ? (double)total / secs : 0;
    return failed ? -1 : 0;
}

enum { O_DIR = 256, O_COMMITS, O_MEMBERS };

int bench_cluster(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"dir", required_argument, NULL, O_DIR},
        {"commits", required_argument, NULL, O_COMMITS},
        {"members", required_argument, NULL, O_MEMBERS},
        {NULL, 0, NULL, 0},
    };
    const char *base = getenv("TMPDIR");
    uint64_t commits = 500, maxm = 3;
    int c;
    if (!base || !base[0])
        base = "/tmp";
    optind = 1;
    while ((c = cli_getopt("bench", argc, argv, "", longopts)) != -1) {
        switch (c) {
        case O_DIR:
            base = optarg;
            break;
        case O_COMMITS:
            if (!cli_parse_u64(optarg, 1, 10000000, true, &commits))
                return cli_usage("bench", "bench cluster: --commits takes 1..10000000, not '%s'",
                                 optarg);
            break;
        case O_MEMBERS:
            if (!cli_parse_u64(optarg, 1, 8, false, &maxm))
                return cli_usage("bench", "bench cluster: --members takes 1..8, not '%s'", optarg);
            break;
        default:
            return CLI_USAGE;
        }
    }
    if (optind != argc)
        return cli_usage("bench", "bench cluster: no arguments besides the options");
#ifndef HAVE_HIREDIS
    cli_err("bench cluster: this build of sop has no Redis support (configure found no hiredis: "
            "install libhiredis-dev and build again)");
    return CLI_FAIL;
#endif
    if (system("command -v redis-server >/dev/null 2>&1") != 0) {
        cli_err("bench cluster: redis-server is not installed (apt-get install -y redis-server, "
                "or ./scripts/install-deps.sh)");
        return CLI_FAIL;
    }
    char root[PATH_MAX - 64], url[128];
    snprintf(root, sizeof(root), "%s/sop-bench-cluster-XXXXXX", base);
    if (!mkdtemp(root)) {
        cli_err("bench cluster: make a folder under %s: %s", base, strerror(errno));
        return CLI_FAIL;
    }
    int port, ret = CLI_OK;
    pid_t redis = start_redis(root, &port);
    if (redis < 0) {
        cli_err("bench cluster: redis-server would not start");
        ret = CLI_FAIL;
        goto out;
    }
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", port);
    printf("sop bench cluster: %" PRIu64 " commits per member and phase, folder %s, %s\n",
           commits, root, url);
    printf("\n%-13s %12s", "phase", "standalone");
    for (uint64_t m = 1; m <= maxm; m++)
        printf(" %9" PRIu64 " member%s", m, m > 1 ? "s" : " ");
    printf("   1 member/standalone\n");
    for (int ph = 0; ph < NPH && ret == CLI_OK; ph++) {
        double solo = 0, rate;
        uint64_t conf;
        if (run(root, NULL, 1, ph, commits, &solo, &conf) != 0) {
            ret = CLI_FAIL;
            break;
        }
        printf("%-13s %10.0f/s", ph_name[ph], solo);
        fflush(stdout);
        double one_member = 0;
        for (uint64_t m = 1; m <= maxm; m++) {
            if (run(root, url, (int)m, ph, commits, &rate, &conf) != 0) {
                ret = CLI_FAIL;
                break;
            }
            if (m == 1)
                one_member = rate;
            if (conf)
                printf(" %7.0f/s %3.0f%%c", rate, 100.0 * (double)conf / (double)(conf + m * commits));
            else
                printf(" %9.0f/s     ", rate);
            fflush(stdout);
        }
        printf("   %.2f\n", solo > 0 ? one_member / solo : 0);
    }
    printf("\n(commits per second of all members together; N%%c: conflicts retried, per "
           "commit)\n");
out:
    if (redis > 0) {
        kill(redis, SIGKILL);
        waitpid(redis, NULL, 0);
    }
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    if (system(cmd) != 0)
        cli_err("bench cluster: could not remove %s", root);
    return ret;
}
