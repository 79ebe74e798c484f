/*
 * writers.c - who commits an auto-commit file, checked from a C program
 * (tests/fs/writers.sh runs it on a mount).
 *
 *   writers SCENARIO FILE
 *
 * Each scenario writes FILE, checks what another descriptor (a snapshot of
 * the committed content) reads at each step, and prints "ok", or what went
 * wrong and exits 1:
 *
 *   fork        a forked child that inherited the descriptor exits, and one
 *               that runs system("true"): neither commits; the opener's
 *               close commits everything
 *   dup         closing a dup(2) while the original is open commits
 *               nothing; closing the original commits
 *   conflict    two processes rewrite the file: the first close commits,
 *               the second gets EAGAIN and changes nothing
 *   handover    the opener closes (commits its part) while a child keeps
 *               the descriptor; the child's last close commits the rest
 *   hold        write "part1-", fork a child that exits, print "held" and
 *               wait (never closing) until killed: the daemon is killed
 *               meanwhile (kill -9), and nothing may have been committed
 *   enospc      write until write(2) fails (a small data folder), then
 *               close: close must fail too, and the file keep its old
 *               content
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *file;

static void fail(const char *what, const char *a)
{
    printf("FAIL: %s %s (errno %s)\n", what, a, strerror(errno));
    exit(1);
}

/* What a fresh reader sees: the committed content. */
static const char *committed(void)
{
    static char buf[4096];
    int fd = open(file, O_RDONLY);
    if (fd < 0)
        fail("open for reading", file);
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    buf[n < 0 ? 0 : n] = '\0';
    return buf;
}

static void expect(const char *what, const char *want)
{
    const char *got = committed();
    if (strcmp(got, want)) {
        printf("FAIL: %s: readers see '%s', expected '%s'\n", what, got, want);
        exit(1);
    }
}

static void put(int fd, const char *s)
{
    if (write(fd, s, strlen(s)) != (ssize_t)strlen(s))
        fail("write", s);
}

static void wait_child(pid_t pid)
{
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        printf("FAIL: child failed\n");
        exit(1);
    }
}

static int open_w(int flags)
{
    int fd = open(file, O_WRONLY | O_CREAT | flags, 0644);
    if (fd < 0)
        fail("open for writing", file);
    return fd;
}

static int fork_case(void)
{
    int fd = open_w(O_TRUNC);
    put(fd, "part1-");
    pid_t pid = fork();
    if (pid == 0)
        _exit(0); /* the child's exit closes its copy of fd */
    wait_child(pid);
    expect("after a child exited", "");
    if (system("true") != 0)
        fail("system", "true");
    expect("after system()", "");
    put(fd, "part2");
    expect("before the opener's close", "");
    if (close(fd) != 0)
        fail("close of", file);
    expect("after the opener's close", "part1-part2");
    return 0;
}

static int dup_case(void)
{
    int fd = open_w(O_TRUNC);
    put(fd, "one");
    int d = dup(fd);
    if (d < 0 || close(d) != 0)
        fail("dup and close", file);
    expect("after closing a dup", "part1-part2");
    put(fd, "two");
    if (dup2(fd, 9) != 9 || close(fd) != 0)
        fail("dup2 and close the first", file);
    expect("after closing the original while a dup2 holds it", "part1-part2");
    if (close(9) != 0)
        fail("close the last descriptor of", file);
    expect("after the last close", "onetwo");
    return 0;
}

static int conflict_case(void)
{
    int fd = open(file, O_RDWR);
    if (fd < 0)
        fail("open", file);
    if (pwrite(fd, "AB", 2, 0) != 2)
        fail("pwrite", file);
    pid_t pid = fork();
    if (pid == 0) {
        int c = open(file, O_RDWR); /* its own open: its own transaction */
        if (c < 0 || pwrite(c, "xy", 2, 0) != 2 || close(c) != 0)
            _exit(1);
        _exit(0);
    }
    wait_child(pid);
    expect("after the second process's close", "xyetwo");
    errno = 0;
    if (close(fd) == 0 || errno != EAGAIN) {
        printf("FAIL: the first writer's close returned %s, expected EAGAIN\n",
               errno ? strerror(errno) : "success");
        return 1;
    }
    expect("after the conflicting close", "xyetwo");
    return 0;
}

static int handover_case(void)
{
    int fd = open_w(O_TRUNC);
    put(fd, "mine-");
    int go[2];
    if (pipe(go) != 0)
        fail("pipe", "");
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        close(go[1]);
        if (read(go[0], &c, 1) != 1) /* the parent has closed */
            _exit(1);
        if (write(fd, "yours", 5) != 5 || close(fd) != 0)
            _exit(1);
        _exit(0);
    }
    close(go[0]);
    if (close(fd) != 0)
        fail("close by the opener of", file);
    expect("after the opener's close", "mine-");
    if (write(go[1], "x", 1) != 1)
        fail("pipe write", "");
    wait_child(pid);
    expect("after the child's close", "mine-yours");
    return 0;
}

static int hold_case(void)
{
    int fd = open_w(O_TRUNC);
    put(fd, "part1-");
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    wait_child(pid);
    put(fd, "part2");
    printf("held\n");
    fflush(stdout);
    for (;;)
        pause();
}

static int enospc_case(void)
{
    static char buf[1 << 20];
    memset(buf, 'z', sizeof(buf));
    char before[4096];
    snprintf(before, sizeof(before), "%s", committed());
    int fd = open_w(O_TRUNC);
    int err = 0;
    for (int i = 0; i < 100000 && !err; i++)
        if (write(fd, buf, sizeof(buf)) < 0)
            err = errno;
    if (err != ENOSPC) {
        printf("FAIL: writing until the disk is full ended with %s, expected ENOSPC\n",
               err ? strerror(err) : "no error");
        return 1;
    }
    errno = 0;
    if (close(fd) == 0) {
        printf("FAIL: close after a failed write returned success\n");
        return 1;
    }
    if (errno != ENOSPC) {
        printf("FAIL: close after a failed write returned %s, expected ENOSPC\n", strerror(errno));
        return 1;
    }
    expect("after the failed close", before);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: writers fork|dup|conflict|handover|hold|enospc FILE\n");
        return 2;
    }
    file = argv[2];
    const char *s = argv[1];
    int rc = !strcmp(s, "fork")       ? fork_case()
             : !strcmp(s, "dup")      ? dup_case()
             : !strcmp(s, "conflict") ? conflict_case()
             : !strcmp(s, "handover") ? handover_case()
             : !strcmp(s, "hold")     ? hold_case()
             : !strcmp(s, "enospc")   ? enospc_case()
                                      : 2;
    if (rc == 2)
        fprintf(stderr, "writers: unknown scenario %s\n", s);
    else if (rc == 0)
        printf("ok\n");
    return rc;
}
