#define _DEFAULT_SOURCE // flock, gethostname
#include "run_lock.h"
#include "cli.h"
#include "provenance.h"
#include "nn/check.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

// The file's text (its holder), at most cap - 1 bytes and NUL-terminated, the trailing newline cut.
static void read_holder(int fd, char *holder, size_t cap) {
    ssize_t n = pread(fd, holder, cap - 1, 0);
    if (n < 0) n = 0;
    holder[n] = 0;
    if (n > 0 && holder[n - 1] == '\n') holder[n - 1] = 0;
}

static int open_lock(const char *dir, char **path) {
    make_dirs(dir);
    *path = nn_join_path(dir, ".lock");
    int fd = open(*path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) NN_FATAL("cannot open the run's lock %s: %s", *path, strerror(errno));
    return fd;
}

// "pid 1234 on host since 2026-12-01T23:52:39Z: nnopt train --preset toy ..."
static void write_holder(int fd, const char *path) {
    char text[4096], host[256] = "?", when[32];
    gethostname(host, sizeof host - 1);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    int n = snprintf(text, sizeof text, "pid %ld on %s since %s:", (long)getpid(), host, when);
    provenance_command_text(text + n, sizeof text - (size_t)n - 1);
    n = (int)strlen(text);
    text[n++] = '\n';
    if (ftruncate(fd, 0) != 0 || pwrite(fd, text, (size_t)n, 0) != n)
        NN_FATAL("cannot write the run's lock %s: %s", path, strerror(errno));
}

int run_lock_try(RunLock *lk, const char *dir, char *holder, size_t cap) {
    char *path;
    int fd = open_lock(dir, &path);
    lk->fd = -1;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK) NN_FATAL("cannot lock %s: %s", path, strerror(errno));
        read_holder(fd, holder, cap);
        if (!*holder) snprintf(holder, cap, "a process that has not yet said who it is");
        close(fd), free(path);
        return 1;
    }
    char stale[1024];
    read_holder(fd, stale, sizeof stale);
    if (*stale) fprintf(stderr, "nnopt: taking over the stale lock of %s: %s (no longer running)\n", dir, stale);
    write_holder(fd, path);
    free(path);
    lk->fd = fd;
    return 0;
}

void run_lock_acquire(RunLock *lk, const char *dir) {
    char holder[1024];
    if (run_lock_try(lk, dir, holder, sizeof holder) == 0) return;
    fprintf(stderr, "nnopt: %s is in use by another process: %s\n"
                    "nnopt: two processes never write one run: wait for it, stop it, or choose another --out\n",
            dir, holder);
    exit(EXIT_LOCKED);
}

int run_lock_held(const char *dir, char *holder, size_t cap) {
    char *path = nn_join_path(dir, ".lock");
    int fd = open(path, O_RDONLY | O_CLOEXEC), held = 0;
    free(path);
    if (fd < 0) return 0; // no lock file: nobody ever locked it
    if (flock(fd, LOCK_SH | LOCK_NB) != 0) {
        held = errno == EWOULDBLOCK;
        if (held) read_holder(fd, holder, cap);
        if (held && !*holder) snprintf(holder, cap, "a process that has not yet said who it is");
    }
    close(fd);
    return held;
}

void run_lock_release(RunLock *lk) {
    if (lk->fd < 0) return;
    if (ftruncate(lk->fd, 0) != 0) { /* the kernel still releases the lock; the next holder calls it stale */ }
    close(lk->fd);
    lk->fd = -1;
}
