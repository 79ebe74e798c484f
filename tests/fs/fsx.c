/*
 * fsx.c - a random file exerciser in the spirit of xfstests' fsx: one file,
 * a seeded mix of operations, every result compared against a model in
 * memory (tests/fs/fsx.sh runs it on a mount, then remounts and compares).
 *
 *   fsx [-n OPS] [-l MAXLEN] [-s SEED] FILE MODEL_OUT
 *
 * Operations: pwrite, pread, mmap write (MAP_SHARED, msync, munmap; the file
 * first extended with ftruncate when the range passes its end, as fsx
 * does; msync(MS_SYNC) is an fsync, which commits), mmap read, ftruncate up and down,
 * copy_file_range inside the file, close and reopen (which commits: sopfs's transaction ends at the
 * last close), fstat and lseek(SEEK_END) against the model's size.  Now
 * and then another descriptor opened for reading must see exactly what
 * was committed at the last close (the model as it was then): readers
 * never see a writer's uncommitted bytes.
 *
 * At the end the file is closed and the model written to MODEL_OUT, so the
 * caller can compare it with the file after a remount.  The seed (from -s
 * or $SOP_FSX_SEED, else the time) is printed first; a failure prints the
 * last operations and exits 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HISTORY 32

static const char *path;
static int fd = -1;
static uint8_t *model, *committed, *scratch;
static size_t size, csize, maxlen;
static uint64_t rng;
static long pagesz;
static char history[HISTORY][96];
static unsigned nops_done;

static uint64_t next(void)
{
    /* xorshift64*: the same seed gives the same run everywhere */
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545F4914F6CDD1DULL;
}

static size_t below(size_t n)
{
    return n ? (size_t)(next() % n) : 0;
}

static void note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(history[nops_done % HISTORY], sizeof(history[0]), fmt, ap);
    va_end(ap);
}

static void die(const char *fmt, ...)
{
    va_list ap;
    printf("FAIL after %u operations: ", nops_done + 1);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\nlast operations (oldest first):\n");
    unsigned from = nops_done + 1 > HISTORY ? nops_done + 1 - HISTORY : 0;
    for (unsigned i = from; i <= nops_done; i++)
        printf("  %u: %s\n", i + 1, history[i % HISTORY]);
    exit(1);
}

static void compare(const char *what, const uint8_t *got, const uint8_t *want, size_t off,
                    size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (got[i] != want[i])
            die("%s: byte 0x%zx is 0x%02x, expected 0x%02x", what, off + i, got[i], want[i]);
}

static void grow_model(size_t to)
{
    if (to > size)
        memset(model + size, 0, to - size);
    size = to;
}

static void do_open(void)
{
    fd = open(path, O_RDWR);
    if (fd < 0)
        die("open %s: %s", path, strerror(errno));
}

static void do_close(void)
{
    if (close(fd) != 0)
        die("close: %s", strerror(errno));
    fd = -1;
    memcpy(committed, model, size);
    csize = size;
}

static void fill(uint8_t *p, size_t len)
{
    uint8_t v = (uint8_t)next();
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)(v + i * 7 + (nops_done & 0x3f));
}

static void op_write(void)
{
    size_t off = below(maxlen), len = 1 + below(maxlen / 8);
    if (off + len > maxlen)
        len = maxlen - off;
    note("write 0x%zx+0x%zx", off, len);
    fill(scratch, len);
    ssize_t n = pwrite(fd, scratch, len, (off_t)off);
    if (n != (ssize_t)len)
        die("pwrite 0x%zx+0x%zx: %zd (%s)", off, len, n, strerror(errno));
    if (off + len > size)
        grow_model(off + len);
    memcpy(model + off, scratch, len);
}

static void op_read(void)
{
    size_t off = below(size + 1), len = 1 + below(maxlen / 8);
    note("read 0x%zx+0x%zx (size 0x%zx)", off, len, size);
    ssize_t n = pread(fd, scratch, len, (off_t)off);
    size_t want = off >= size ? 0 : (size - off < len ? size - off : len);
    if (n != (ssize_t)want)
        die("pread 0x%zx+0x%zx: %zd bytes, expected %zu (%s)", off, len, n, want,
            n < 0 ? strerror(errno) : "short");
    compare("pread", scratch, model + off, off, want);
}

static void op_truncate(void)
{
    size_t to = below(maxlen);
    note("truncate 0x%zx -> 0x%zx", size, to);
    if (ftruncate(fd, (off_t)to) != 0)
        die("ftruncate 0x%zx: %s", to, strerror(errno));
    grow_model(to);
}

static void op_mapwrite(void)
{
    size_t off = below(maxlen), len = 1 + below(maxlen / 8);
    if (off + len > maxlen)
        len = maxlen - off;
    note("mapwrite 0x%zx+0x%zx (size 0x%zx, msync then commits if sync)", off, len, size);
    if (off + len > size) {
        if (ftruncate(fd, (off_t)(off + len)) != 0)
            die("ftruncate before mapwrite: %s", strerror(errno));
        grow_model(off + len);
    }
    size_t pg = off - off % (size_t)pagesz, mlen = off + len - pg;
    uint8_t *m = mmap(NULL, mlen, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)pg);
    if (m == MAP_FAILED)
        die("mmap for writing 0x%zx+0x%zx: %s", pg, mlen, strerror(errno));
    fill(scratch, len);
    memcpy(m + (off - pg), scratch, len);
    /* msync(MS_SYNC) is an fsync of the range, and sopfs's fsync commits;
     * MS_ASYNC leaves the pages to write-back (at the latest at close) */
    bool sync = next() & 1;
    if (msync(m, mlen, sync ? MS_SYNC : MS_ASYNC) != 0)
        die("msync: %s", strerror(errno));
    munmap(m, mlen);
    memcpy(model + off, scratch, len);
    if (sync) {
        memcpy(committed, model, size);
        csize = size;
    }
}

static void op_mapread(void)
{
    if (size == 0) {
        op_read();
        return;
    }
    size_t off = below(size), len = 1 + below(maxlen / 8);
    if (off + len > size)
        len = size - off;
    note("mapread 0x%zx+0x%zx (size 0x%zx)", off, len, size);
    size_t pg = off - off % (size_t)pagesz, mlen = off + len - pg;
    uint8_t *m = mmap(NULL, mlen, PROT_READ, MAP_SHARED, fd, (off_t)pg);
    if (m == MAP_FAILED)
        die("mmap for reading 0x%zx+0x%zx: %s", pg, mlen, strerror(errno));
    compare("mapread", m + (off - pg), model + off, off, len);
    munmap(m, mlen);
}

static void op_copy(void)
{
    if (size == 0) {
        op_write();
        return;
    }
    size_t from = below(size), len = 1 + below(maxlen / 8);
    if (from + len > size)
        len = size - from;
    size_t to = below(maxlen - len);
    /* the ranges may not overlap (EINVAL) */
    if (to < from + len && from < to + len)
        to = from + len;
    if (to + len > maxlen)
        return;
    note("copy_file_range 0x%zx+0x%zx -> 0x%zx (size 0x%zx)", from, len, to, size);
    loff_t in = (loff_t)from, out = (loff_t)to;
    size_t done = 0;
    while (done < len) {
        ssize_t n = copy_file_range(fd, &in, fd, &out, len - done, 0);
        if (n <= 0)
            die("copy_file_range 0x%zx+0x%zx -> 0x%zx: %zd after %zu (%s)", from, len, to, n, done,
                n < 0 ? strerror(errno) : "end of file");
        done += (size_t)n;
    }
    memmove(scratch, model + from, len);
    if (to + len > size)
        grow_model(to + len);
    memcpy(model + to, scratch, len);
}

static void op_stat(void)
{
    struct stat st;
    note("fstat and lseek(SEEK_END) (size 0x%zx)", size);
    if (fstat(fd, &st) != 0)
        die("fstat: %s", strerror(errno));
    if ((size_t)st.st_size != size)
        die("fstat: size 0x%llx, expected 0x%zx", (unsigned long long)st.st_size, size);
    off_t end = lseek(fd, 0, SEEK_END);
    if (end != (off_t)size)
        die("lseek(SEEK_END): 0x%llx, expected 0x%zx", (long long)end, size);
}

static void op_reopen(void)
{
    note("close and reopen (size 0x%zx)", size);
    do_close();
    do_open();
}

/* Another descriptor reads the whole file: the content as last committed. */
static void op_reader(void)
{
    note("reader (committed size 0x%zx)", csize);
    int r = open(path, O_RDONLY);
    if (r < 0)
        die("open for reading: %s", strerror(errno));
    size_t got = 0;
    for (;;) {
        ssize_t n = read(r, scratch + got, maxlen + 1 - got);
        if (n < 0)
            die("reader: read: %s", strerror(errno));
        if (n == 0 || got + (size_t)n > maxlen)
            break;
        got += (size_t)n;
    }
    close(r);
    if (got != csize)
        die("reader: %zu bytes, expected the %zu committed", got, csize);
    compare("reader", scratch, committed, 0, csize);
}

int main(int argc, char **argv)
{
    unsigned nops = 2000;
    uint64_t seed = 0;
    int opt;
    maxlen = 256 * 1024;
    const char *env = getenv("SOP_FSX_SEED");
    if (env && *env)
        seed = strtoull(env, NULL, 0);
    while ((opt = getopt(argc, argv, "n:l:s:")) != -1) {
        if (opt == 'n')
            nops = (unsigned)strtoul(optarg, NULL, 0);
        else if (opt == 'l')
            maxlen = strtoul(optarg, NULL, 0);
        else if (opt == 's')
            seed = strtoull(optarg, NULL, 0);
        else
            return 2;
    }
    if (optind + 2 != argc || maxlen < 64) {
        fprintf(stderr, "usage: fsx [-n OPS] [-l MAXLEN] [-s SEED] FILE MODEL_OUT\n");
        return 2;
    }
    if (!seed)
        seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    printf("seed %" PRIu64 " (SOP_FSX_SEED=%" PRIu64 " repeats it), %u operations, files up to "
           "%zu bytes\n",
           seed, seed, nops, maxlen);
    fflush(stdout);
    rng = seed * 2654435761u + 1;
    path = argv[optind];
    pagesz = sysconf(_SC_PAGESIZE);
    model = calloc(1, maxlen + 1);
    committed = calloc(1, maxlen + 1);
    scratch = calloc(1, maxlen + 1);
    if (!model || !committed || !scratch)
        return 1;
    unlink(path); /* the create commits an empty file: what readers see first */
    fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0644);
    if (fd < 0)
        die("create %s: %s", path, strerror(errno));
    for (nops_done = 0; nops_done < nops; nops_done++) {
        unsigned r = (unsigned)below(100);
        if (r < 22)
            op_write();
        else if (r < 40)
            op_read();
        else if (r < 52)
            op_mapwrite();
        else if (r < 62)
            op_mapread();
        else if (r < 72)
            op_truncate();
        else if (r < 78)
            op_copy();
        else if (r < 88)
            op_stat();
        else if (r < 94)
            op_reopen();
        else
            op_reader();
    }
    do_close();
    op_reader();
    FILE *out = fopen(argv[optind + 1], "wb");
    if (!out || fwrite(model, 1, size, out) != size || fclose(out) != 0) {
        fprintf(stderr, "fsx: writing the model to %s failed\n", argv[optind + 1]);
        return 1;
    }
    printf("ok: %u operations, final size %zu\n", nops, size);
    return 0;
}
