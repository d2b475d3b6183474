// A minimal parallel-for for the element-wise work between matrix products (the softmax over 10k-way rows), so the
// cores the BLAS uses are not idle there. Threads are started per call: ~50 us, against milliseconds of work.
#ifndef NN_PARALLEL_H
#define NN_PARALLEL_H

// Calls fn(ctx, begin, end) on `threads` contiguous chunks of [0, n); the calling thread does the first chunk.
// Chunks depend only on n and threads, and each index is handled once, so results do not depend on timing.
void nn_parallel_for(int threads, long n, void (*fn)(void *ctx, long begin, long end), void *ctx);

#endif
