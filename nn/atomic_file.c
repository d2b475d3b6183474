#define _POSIX_C_SOURCE 200809L
#include "atomic_file.h"
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

// The temporary files not yet renamed into place: a fatal error (which exits) anywhere removes them, so that no
// failure leaves one behind, e.g. report.gp's while a data file it plots fails. Single-threaded, like every writer.
enum { MAX_PENDING = 64 };
static char *pending[MAX_PENDING];

static void remove_pending(void) {
    for (int i = 0; i < MAX_PENDING; i++)
        if (pending[i]) unlink(pending[i]);
}

static void track(char *tmp, char *untrack) {
    static int registered;
    if (!registered) registered = atexit(remove_pending) == 0;
    for (int i = 0; i < MAX_PENDING; i++)
        if (pending[i] == untrack) {
            pending[i] = tmp;
            return;
        }
}

int nn_tmp_beside(const char *path, char **tmp) {
    size_t n = strlen(path) + sizeof ".tmp.XXXXXX";
    *tmp = nn_malloc(n);
    snprintf(*tmp, n, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(*tmp);
    if (fd >= 0) track(*tmp, NULL);
    return fd;
}

FILE *atomic_open(AtomicFile *a, const char *path) {
    a->path = nn_strdup(path);
    int fd = nn_tmp_beside(path, &a->tmp);
    NN_CHECK(fd >= 0, "cannot write '%s': creating a temporary file beside it failed: %s", path, strerror(errno));
    a->f = fdopen(fd, "w");
    NN_CHECK(a->f, "cannot write '%s': %s", path, strerror(errno));
    return a->f;
}

int nn_publish(FILE *f, const char *tmp, const char *path, char *err, size_t n) {
    // fflush alone misses an error of an earlier write whose data left the buffer (ferror keeps it)
    const char *step = fflush(f) != 0 || ferror(f) ? "write" : fsync(fileno(f)) != 0 ? "fsync"
                     : fchmod(fileno(f), 0644) != 0 ? "fchmod" : NULL;
    int e = errno;
    if (fclose(f) != 0 && !step) step = "close", e = errno;
    if (!step && rename(tmp, path) != 0) step = "rename", e = errno;
    if (step) {
        snprintf(err, n, "%s: %s", step, e ? strerror(e) : "unknown error");
        return -1;
    }
    track(NULL, (char *)tmp); // in place: nothing to remove any more
    nn_fsync_parent_dir(path);
    return 0;
}

void atomic_commit(AtomicFile *a) {
    char err[256];
    if (nn_publish(a->f, a->tmp, a->path, err, sizeof err) != 0) {
        unlink(a->tmp);
        NN_FATAL("writing '%s' failed: %s (the previous file, if any, is intact)", a->path, err);
    }
    free(a->path), free(a->tmp);
    *a = (AtomicFile){0};
}

void nn_write_atomic(const char *path, const void *data, size_t len) {
    AtomicFile a;
    fwrite(data, 1, len, atomic_open(&a, path)); // a short write sets the error that atomic_commit checks
    atomic_commit(&a);
}

void nn_fsync_parent_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir = slash ? nn_malloc((size_t)(slash - path) + 2) : nn_strdup(".");
    if (slash) { // "/name" lives in "/", "a/b" in "a"
        size_t n = slash == path ? 1 : (size_t)(slash - path);
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    NN_CHECK(fd >= 0, "cannot open directory '%s' to sync it: %s", dir, strerror(errno));
    int rc = fsync(fd), e = errno;
    close(fd);
    NN_CHECK(rc == 0 || e == EINVAL || e == ENOTSUP, "syncing directory '%s' after renaming '%s' into it failed: %s",
             dir, path, strerror(e));
    free(dir);
}
