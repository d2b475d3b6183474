// Eight float lanes and eight double lanes as GNU C vector types (gcc and clang), for the reductions whose bits are
// defined as 8 interleaved sums (lane k adds elements k, k+8, k+16, ... in order): the optimizers' norms, the online
// statistics' cosines, batchnorm's plane sums. Written as plain arrays, gcc kept those accumulators in memory in the
// larger loops (the store-to-load latency of each add bounded the loop) or folded them into one serial chain; as
// vectors they stay in registers. Each lane does exactly the scalar arithmetic, so the bits are the arrays' bits.
#ifndef NN_LANES_H
#define NN_LANES_H

#include <string.h>

typedef float f32x8 __attribute__((vector_size(32)));
typedef double f64x8 __attribute__((vector_size(64)));
typedef float f32x16 __attribute__((vector_size(64)));

static inline f32x8 lanes_load(const float *p) {
    f32x8 v;
    memcpy(&v, p, sizeof v); // unaligned
    return v;
}

static inline void lanes_store(float *p, f32x8 v) { memcpy(p, &v, sizeof v); }

static inline f32x16 lanes_load16(const float *p) {
    f32x16 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void lanes_store16(float *p, f32x16 v) { memcpy(p, &v, sizeof v); }

static inline f64x8 lanes_widen(f32x8 v) { return __builtin_convertvector(v, f64x8); }

// The lanes added in order 0..7 to a running sum, as the arrays' loops did.
static inline double lanes_sum(double sum, f64x8 v) {
    for (int k = 0; k < 8; k++) sum += v[k];
    return sum;
}

#endif
