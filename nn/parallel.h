// A small parallel-for on a persistent pool of worker threads, for everything that splits work over the cores: the
// blocks of a large matrix product (nn/blas.c), the softmax rows, conv2d's images, batchnorm's channels. The workers
// are started on first use and kept (a region costs a wake-up, not a thread start), and stopped at exit.
#ifndef NN_PARALLEL_H
#define NN_PARALLEL_H

#include <stddef.h>

// Calls fn(ctx, begin, end) on `threads` contiguous chunks of [0, n); the calling thread does the first chunk,
// worker k the k-th. Chunks depend only on n and threads, and each index is handled once, so results do not depend
// on timing. Called from inside a region (a nested call) or while another thread runs one, it runs fn on the
// calling thread alone.
void nn_parallel_for(int threads, long n, void (*fn)(void *ctx, long begin, long end), void *ctx);
int nn_in_parallel(void); // whether the calling thread is inside a region (then nn_parallel_for runs serially)

// The thread count of the whole program (--threads): large matrix products, flat passes over the parameters and
// the layers' element-wise work use this many. 0 keeps the current count; 1 until it is first set.
void nn_set_threads(int threads);
int nn_get_threads(void);

// fn over [0, n) in blocks of NN_FLAT_BLOCK elements, the blocks shared out over nn_get_threads() threads: for
// the flat passes over parameters and gradients (memory-bound, so a second core adds bandwidth). fn gets block
// indices [begin, end); a block's work must not depend on which thread does it.
#define NN_FLAT_BLOCK 65536
// The per-block partial sums of such a pass (norms, cosines) fit in an array of this many on the stack up to
// 1024 blocks (67M floats); longer vectors allocate them.
#define FLAT_PARTS_ON_STACK 1024
void nn_parallel_blocks(size_t n, void (*fn)(void *ctx, long begin, long end), void *ctx);
// The same, for element-wise work: fn gets the elements [lo, hi) of its blocks.
void nn_parallel_ranges(size_t n, void (*fn)(void *ctx, size_t lo, size_t hi), void *ctx);

#endif
