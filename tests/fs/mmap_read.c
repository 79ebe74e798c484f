/*
 * mmap_read.c - print the first N bytes of FILE as a MAP_PRIVATE mapping
 * sees them (the shell has no mmap(2); txn.sh uses it).
 *
 * usage: mmap_read FILE N
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: mmap_read FILE N\n");
        return 2;
    }
    size_t n = strtoul(argv[2], NULL, 10);
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0) {
        perror(argv[1]);
        return 1;
    }
    void *p = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    if (fwrite(p, 1, n, stdout) != n)
        return 1;
    munmap(p, n);
    close(fd);
    return 0;
}
