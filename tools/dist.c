#define _POSIX_C_SOURCE 200809L
#include "dist.h"
#include "nn/check.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef NNOPT_MPI
#include <mpi.h>
#endif

static int rank, size = 1;
static double reduce_seconds;
static int deferred, started; // dist_defer was called; MPI has started
static char *command;         // the command line, NUL-separated: every rank must run the same
static size_t command_len;

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

// One rank's blocks in order: what the ordered sums give on one process, and each rank's slice on several.
static void sum_in_order(const void *blocks, int nblocks, size_t stride, size_t n, int f64, double scale, void *out) {
    if (f64) {
        const double *b = blocks;
        double *o = out;
        if (o != b) memcpy(o, b, n * sizeof(double));
        for (int j = 1; j < nblocks; j++)
            for (size_t i = 0; i < n; i++) o[i] += b[(size_t)j * stride + i];
        if (scale != 1.0)
            for (size_t i = 0; i < n; i++) o[i] *= scale;
    } else {
        const float *b = blocks;
        float *o = out, fscale = (float)scale;
        if (o != b) memcpy(o, b, n * sizeof(float));
        for (int j = 1; j < nblocks; j++)
            for (size_t i = 0; i < n; i++) o[i] += b[(size_t)j * stride + i];
        if (fscale != 1.0f)
            for (size_t i = 0; i < n; i++) o[i] *= fscale;
    }
}

#ifdef NNOPT_MPI
// A fatal error on one rank ends every rank (MPI_Abort): the others never wait in a collective for it.
static void fatal_on_every_rank(const char *message) {
    fflush(stdout);
    if (size > 1) fprintf(stderr, "nnopt: error (rank %d of %d): %s\n", rank, size, message);
    else fprintf(stderr, "nnopt: error: %s\n", message);
    fflush(stderr);
    if (size > 1) MPI_Abort(MPI_COMM_WORLD, NN_EXIT_FAIL);
    MPI_Finalize();
    exit(NN_EXIT_FAIL);
}

static void start_mpi(void) {
    MPI_Init(NULL, NULL);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    nn_set_fatal_hook(fatal_on_every_rank);
    // rank 0 alone prints (and writes files); the others' errors still reach stderr
    if (rank > 0) NN_CHECK(freopen("/dev/null", "w", stdout), "rank %d: cannot silence stdout", rank);
}

void dist_finalize(void) {
    if (!started) return;
    started = 0;
    nn_set_fatal_hook(NULL);
    // no rank leaves before rank 0 has written its files: mpirun ends the job when one rank exits non-zero (a run
    // stopped by a signal exits 128 + the signal)
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_Finalize();
}

static void ordered_sum(const void *blocks, int nlocal, size_t n, int f64, double scale, void *out) {
    double t0 = seconds();
    if (size == 1) {
        sum_in_order(blocks, nlocal, n, n, f64, scale, out);
        reduce_seconds += seconds() - t0;
        return;
    }
    static char *send, *recv, *mine;
    static size_t cap;
    size_t w = f64 ? sizeof(double) : sizeof(float);
    size_t S = (n + (size_t)size - 1) / (size_t)size; // each rank's slice, the last one padded with zeros
    size_t need = (size_t)size * (size_t)nlocal * S * w;
    NN_CHECK((size_t)nlocal * S <= INT32_MAX, "a gradient slice of %zu values is too large for MPI's counts",
             (size_t)nlocal * S);
    if (need > cap) {
        free(send), free(recv), free(mine);
        send = nn_malloc(need), recv = nn_malloc(need), mine = nn_malloc(S * w);
        cap = need;
    }
    for (int d = 0; d < size; d++)
        for (int j = 0; j < nlocal; j++) {
            size_t begin = (size_t)d * S, len = begin >= n ? 0 : n - begin < S ? n - begin : S;
            char *to = send + ((size_t)d * nlocal + j) * S * w;
            memcpy(to, (const char *)blocks + ((size_t)j * n + begin) * w, len * w);
            memset(to + len * w, 0, (S - len) * w);
        }
    MPI_Datatype type = f64 ? MPI_DOUBLE : MPI_FLOAT;
    int count = (int)((size_t)nlocal * S);
    MPI_Alltoall(send, count, type, recv, count, type, MPI_COMM_WORLD);
    // recv holds [rank][block][S]: the blocks of this slice in block order
    sum_in_order(recv, size * nlocal, S, S, f64, scale, mine);
    MPI_Allgather(mine, (int)S, type, send, (int)S, type, MPI_COMM_WORLD);
    memcpy(out, send, n * w);
    reduce_seconds += seconds() - t0;
}

void dist_allgather(void *all, size_t bytes) {
    NN_CHECK(bytes <= INT32_MAX, "%zu bytes are too many for one MPI all-gather", bytes);
    if (size > 1) MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, all, (int)bytes, MPI_BYTE, MPI_COMM_WORLD);
}

int dist_any(int flag) {
    int any = flag;
    if (size > 1) MPI_Allreduce(&flag, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return any;
}
#else
static void start_mpi(void) {}
void dist_finalize(void) {}

static void ordered_sum(const void *blocks, int nlocal, size_t n, int f64, double scale, void *out) {
    double t0 = seconds();
    sum_in_order(blocks, nlocal, n, n, f64, scale, out);
    reduce_seconds += seconds() - t0;
}

void dist_allgather(void *all, size_t bytes) { (void)all, (void)bytes; }
int dist_any(int flag) { return flag; }
#endif

void dist_fatal_together(const char *fmt, ...) {
    fflush(stdout);
    char msg[4096]; // printed in one fprintf (one write), so the ranks' copies do not interleave
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    NN_CHECK(n >= 0 && (size_t)n < sizeof msg, "an error message of %d bytes: longer than %zu", n, sizeof msg);
    if (size > 1) fprintf(stderr, "nnopt: error (every rank of %d): %s\n", size, msg);
    else fprintf(stderr, "nnopt: error: %s\n", msg);
    dist_finalize();
    exit(NN_EXIT_FAIL);
}

void dist_sum_blocks(const float *blocks, int nlocal, size_t n, float scale, float *out) {
    ordered_sum(blocks, nlocal, n, 0, scale, out);
}

void dist_sum_blocks_f64(const double *blocks, int nlocal, size_t n, double *out) {
    ordered_sum(blocks, nlocal, n, 1, 1.0, out);
}

void dist_defer(int argc, char **argv) {
    deferred = 1;
    for (int i = 0; i < argc; i++) command_len += strlen(argv[i]) + 1;
    char *at = command = nn_malloc(command_len);
    for (int i = 0; i < argc; i++) {
        size_t k = strlen(argv[i]) + 1;
        memcpy(at, argv[i], k);
        at += k;
    }
}

void dist_start(void) {
    if (!deferred || started) return;
    started = 1;
    start_mpi();
    dist_check_same(command, command_len, "command line");
    free(command), command = NULL;
}

int dist_rank(void) { return rank; }
int dist_size(void) { return size; }
double dist_reduce_seconds(void) { return reduce_seconds; }

void dist_check_same(const void *data, size_t len, const char *what) {
    if (size == 1) return;
    uint64_t h = 1469598103934665603ull; // FNV-1a, 64 bits
    for (size_t i = 0; i < len; i++) h = (h ^ ((const unsigned char *)data)[i]) * 1099511628211ull;
    uint64_t *all = nn_malloc((size_t)size * sizeof h);
    all[rank] = h;
    dist_allgather(all, sizeof h);
    for (int r = 1; r < size; r++)
        DIST_CHECK(all[r] == all[0], "rank %d was started with another %s than rank 0: every rank must run the same "
                 "command", r, what);
    free(all);
}
