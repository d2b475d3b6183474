#include "parallel.h"
#include "check.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_THREADS 64
// Waiting first spins this many times before sleeping: waking a sleeping thread costs about 100 us on these VMs
// (measured: an empty region took 99 us with sleeping only), against regions of 0.1-10 ms a few dozen times a step.
#define SPINS (1 << 15)

#if defined(__x86_64__) || defined(__i386__)
#define CPU_RELAX() __builtin_ia32_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

typedef struct {
    void (*fn)(void *ctx, long begin, long end);
    void *ctx;
    long begin, end;
} Chunk;

// One region at a time. The caller publishes the job and bumps `generation`; every worker (also one without a chunk
// in a region with fewer threads) runs its chunk, or nothing, and counts itself off `pending`, so no worker can miss
// a region or mix two. Waiting spins, then sleeps on the condition variables.
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER, done = PTHREAD_COND_INITIALIZER;
static pthread_t workers[MAX_THREADS];
static int nworkers, busy, sleepers, job_threads;
static atomic_int pending, quit;
static atomic_ulong generation;
static const Chunk *job;
static _Thread_local int in_region;
static int program_threads = 1;

int nn_in_parallel(void) { return in_region; }

void nn_set_threads(int threads) {
    if (threads > 0) program_threads = threads;
}

int nn_get_threads(void) { return program_threads; }

void nn_parallel_blocks(size_t n, void (*fn)(void *ctx, long begin, long end), void *ctx) {
    long blocks = (long)((n + NN_FLAT_BLOCK - 1) / NN_FLAT_BLOCK);
    nn_parallel_for(program_threads, blocks, fn, ctx);
}

typedef struct {
    void (*fn)(void *ctx, size_t lo, size_t hi);
    void *ctx;
    size_t n;
} RangeJob;

static void range_blocks(void *ctx, long begin, long end) {
    const RangeJob *j = ctx;
    size_t lo = (size_t)begin * NN_FLAT_BLOCK, hi = (size_t)end * NN_FLAT_BLOCK;
    j->fn(j->ctx, lo, hi < j->n ? hi : j->n);
}

void nn_parallel_ranges(size_t n, void (*fn)(void *ctx, size_t lo, size_t hi), void *ctx) {
    RangeJob j = {fn, ctx, n};
    nn_parallel_blocks(n, range_blocks, &j);
}

static void *worker(void *arg) {
    int id = (int)(intptr_t)arg; // 1.., the chunk it runs
    unsigned long seen = 0, g = 0;
    in_region = 1;
    for (;;) {
        for (int i = 0; i < SPINS && (g = atomic_load(&generation)) == seen && !atomic_load(&quit); i++) CPU_RELAX();
        if (g == seen) {
            pthread_mutex_lock(&lock);
            sleepers++;
            while ((g = atomic_load(&generation)) == seen && !atomic_load(&quit)) pthread_cond_wait(&wake, &lock);
            sleepers--;
            pthread_mutex_unlock(&lock);
        }
        if (atomic_load(&quit)) return NULL;
        seen = g;
        if (id < job_threads) job[id].fn(job[id].ctx, job[id].begin, job[id].end);
        if (atomic_fetch_sub(&pending, 1) == 1) {
            pthread_mutex_lock(&lock);
            pthread_cond_signal(&done);
            pthread_mutex_unlock(&lock);
        }
    }
}

// At exit: stop and join the workers, so that leak checkers see every thread's memory returned. Not when the exit
// is a fatal error inside a region (a worker may be the caller, or still running): then exiting is all there is.
static void stop_workers(void) {
    pthread_mutex_lock(&lock);
    if (busy) {
        pthread_mutex_unlock(&lock);
        return;
    }
    atomic_store(&quit, 1);
    pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&lock);
    for (int k = 1; k <= nworkers; k++) pthread_join(workers[k], NULL);
}

void nn_parallel_for(int threads, long n, void (*fn)(void *ctx, long begin, long end), void *ctx) {
    if (threads > n) threads = (int)n;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    if (threads <= 1 || in_region) {
        if (n > 0) fn(ctx, 0, n);
        return;
    }
    Chunk chunks[MAX_THREADS];
    for (int k = 0; k < threads; k++) chunks[k] = (Chunk){fn, ctx, n * k / threads, n * (k + 1) / threads};
    pthread_mutex_lock(&lock);
    if (busy) { // another thread's region is running: do this one alone
        pthread_mutex_unlock(&lock);
        fn(ctx, 0, n);
        return;
    }
    if (nworkers == 0) atexit(stop_workers);
    while (nworkers < threads - 1) {
        int rc = pthread_create(&workers[nworkers + 1], NULL, worker, (void *)(intptr_t)(nworkers + 1));
        if (rc != 0) {
            pthread_mutex_unlock(&lock);
            NN_FATAL("cannot start a worker thread: %s", strerror(rc));
        }
        nworkers++;
    }
    busy = 1, job = chunks, job_threads = threads;
    atomic_store(&pending, nworkers);
    atomic_fetch_add(&generation, 1); // publishes the job (sequentially consistent)
    if (sleepers) pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&lock);
    in_region = 1;
    fn(ctx, chunks[0].begin, chunks[0].end);
    in_region = 0;
    for (int i = 0; i < SPINS && atomic_load(&pending); i++) CPU_RELAX();
    pthread_mutex_lock(&lock);
    while (atomic_load(&pending)) pthread_cond_wait(&done, &lock);
    busy = 0;
    pthread_mutex_unlock(&lock);
}
