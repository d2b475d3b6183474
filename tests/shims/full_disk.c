// LD_PRELOAD library for tests/test_files.sh (in its own directory so that the Makefile does not link it into
// every test program as it does tests/*.c): a full disk for one file. The file whose name (without the
// ".tmp.XXXXXX" of an atomic write or the ".partial" of a CSV) is $NNOPT_FULL_FILE gets its descriptor pointed at
// /dev/full, so that the kernel fails its writes with ENOSPC while every other file is written as usual.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int is_target(const char *path, const char *suffix) {
    const char *want = getenv("NNOPT_FULL_FILE"), *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base), k = strlen(suffix);
    if (!want || n < k || strcmp(base + n - k, suffix) != 0) return 0;
    return n - k == strlen(want) && strncmp(base, want, n - k) == 0;
}

static void make_full(int fd) {
    int full = open("/dev/full", O_WRONLY);
    if (full < 0 || dup2(full, fd) < 0) abort(); // the test cannot work: fail loudly
    close(full);
}

int mkstemp(char *template) {
    int (*real)(char *) = (int (*)(char *))dlsym(RTLD_NEXT, "mkstemp");
    int target = is_target(template, ".tmp.XXXXXX"), fd = real(template);
    if (fd >= 0 && target) make_full(fd);
    return fd;
}

FILE *fopen(const char *path, const char *mode) {
    FILE *(*real)(const char *, const char *) = (FILE * (*)(const char *, const char *)) dlsym(RTLD_NEXT, "fopen");
    FILE *f = real(path, mode);
    if (f && mode[0] == 'w' && is_target(path, ".partial")) make_full(fileno(f));
    return f;
}
