#include "parallel.h"
#include "check.h"

#include <pthread.h>
#include <string.h>

#define MAX_THREADS 64

typedef struct {
    void (*fn)(void *ctx, long begin, long end);
    void *ctx;
    long begin, end;
} Chunk;

static void *run_chunk(void *arg) {
    Chunk *c = arg;
    c->fn(c->ctx, c->begin, c->end);
    return NULL;
}

void nn_parallel_for(int threads, long n, void (*fn)(void *ctx, long begin, long end), void *ctx) {
    if (threads > n) threads = (int)n;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    if (threads <= 1) {
        if (n > 0) fn(ctx, 0, n);
        return;
    }
    Chunk chunks[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    for (int k = 0; k < threads; k++)
        chunks[k] = (Chunk){fn, ctx, n * k / threads, n * (k + 1) / threads};
    for (int k = 1; k < threads; k++) {
        int rc = pthread_create(&tid[k], NULL, run_chunk, &chunks[k]);
        NN_CHECK(rc == 0, "cannot start a worker thread: %s", strerror(rc));
    }
    run_chunk(&chunks[0]);
    for (int k = 1; k < threads; k++) pthread_join(tid[k], NULL);
}
