#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static void (*fatal_hook)(const char *message);

void nn_set_fatal_hook(void (*hook)(const char *message)) { fatal_hook = hook; }

void nn_fatal_at(const char *file, int line, const char *fmt, ...) {
    if (fatal_hook) {
        char msg[4096];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        fatal_hook(msg);
        abort(); // a hook that returns is a bug in the fuzzer
    }
    fflush(stdout);
    // One fprintf, so one write: the same error from several processes (MPI ranks) does not interleave
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof msg) {
        fprintf(stderr, "nnopt: error: %s [%s:%d]\n", msg, file, line);
    } else { // too long for the buffer: in pieces, never cut
        fprintf(stderr, "nnopt: error: ");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, " [%s:%d]\n", file, line);
    }
    exit(NN_EXIT_FAIL);
}

void *nn_malloc(size_t n) {
    void *p = malloc(n ? n : 1);
    NN_CHECK(p, "out of memory allocating %zu bytes", n);
    return p;
}

void *nn_calloc(size_t count, size_t size) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    NN_CHECK(p, "out of memory allocating %zu x %zu bytes", count, size);
    return p;
}

void *nn_realloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    NN_CHECK(q, "out of memory reallocating to %zu bytes", n);
    return q;
}

float *nn_alloc_floats(size_t n) {
    size_t bytes = (n * sizeof(float) + 63) / 64 * 64; // aligned_alloc wants a multiple of the alignment
    float *p = aligned_alloc(64, bytes ? bytes : 64);
    NN_CHECK(p, "out of memory allocating %zu floats", n);
    memset(p, 0, bytes);
    return p;
}

char *nn_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    return memcpy(nn_malloc(n), s, n);
}

char *nn_join_path(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = nn_malloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

FILE *nn_fopen(const char *path, const char *mode) {
    FILE *f = fopen(path, mode);
    NN_CHECK(f, "cannot open '%s' (mode %s): %s", path, mode, strerror(errno));
    return f;
}

void nn_fclose(FILE *f, const char *path) {
    int bad = ferror(f);
    int rc = fclose(f);
    NN_CHECK(!bad && rc == 0, "writing '%s' failed: %s", path, strerror(errno));
}

void nn_check_gzip_magic(const char *path) {
    size_t n = strlen(path);
    if (n < 3 || strcmp(path + n - 3, ".gz") != 0) return;
    unsigned char m[2] = {0, 0};
    FILE *f = nn_fopen(path, "rb");
    size_t got = fread(m, 1, 2, f);
    fclose(f);
    NN_CHECK(got == 2 && m[0] == 0x1f && m[1] == 0x8b, "'%s' is not gzip data (it does not start with the gzip "
             "magic bytes 1f 8b); re-download it with 'make data', or, if it holds the uncompressed original, name "
             "it without '.gz'", path);
}

// zlib's error text begins with "<path>: "; drop that so a message names the file once.
static const char *gz_reason(gzFile gz, const char *path, int *zerr) {
    const char *msg = gzerror(gz, zerr);
    size_t n = strlen(path);
    return strncmp(msg, path, n) == 0 && msg[n] == ':' ? msg + n + 2 : msg;
}

char *nn_read_gz(const char *path, size_t *len) {
    gzFile gz = gzopen(path, "rb");
    NN_CHECK(gz, "cannot open '%s': %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0; // doubled as needed: most files read here are small (summaries, CSVs)
    char *buf = nn_malloc(cap + 1);
    int got;
    do {
        if (n == cap) buf = nn_realloc(buf, (cap *= 2) + 1);
        size_t want = cap - n > (1u << 30) ? (1u << 30) : cap - n;
        got = gzread(gz, buf + n, (unsigned)want);
        if (got > 0) n += (size_t)got;
    } while (got > 0);
    // gzread returns 0 at a clean end and also at a truncated stream; gzerror tells them apart. Closed before any
    // error: a caller that catches fatal errors (the fuzzers) would leak a descriptor and zlib's buffers per file.
    int zerr;
    char msg[256];
    snprintf(msg, sizeof msg, "%s", gz_reason(gz, path, &zerr));
    int closed = gzclose(gz);
    if (got < 0 || (zerr != Z_OK && zerr != Z_STREAM_END) || closed != Z_OK) free(buf);
    NN_CHECK(got >= 0, "'%s' is corrupt: %s after %zu decompressed bytes (re-download it, or run 'make data')",
             path, msg, n);
    NN_CHECK(zerr == Z_OK || zerr == Z_STREAM_END, "'%s' is truncated or corrupt: %s after %zu decompressed bytes "
             "(re-download it, or run 'make data')", path, msg, n);
    NN_CHECK(closed == Z_OK, "'%s' is truncated or corrupt (gzip trailer check failed after %zu bytes)", path, n);
    buf[n] = '\0';
    *len = n;
    return buf;
}
