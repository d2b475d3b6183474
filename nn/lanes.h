// Eight float lanes and eight double lanes as GNU C vector types (gcc and clang), for the reductions whose bits are
// defined as 8 interleaved sums (lane k adds elements k, k+8, k+16, ... in order): the optimizers' norms, the online
// statistics' cosines, batchnorm's plane sums. Written as plain arrays, gcc kept those accumulators in memory in the
// larger loops (the store-to-load latency of each add bounded the loop) or folded them into one serial chain; as
// vectors they stay in registers. Each lane does exactly the scalar arithmetic, so the bits are the arrays' bits.
#ifndef NN_LANES_H
#define NN_LANES_H

#include <string.h>

#if defined(__GNUC__) && !defined(__clang__)
// gcc notes, where a file uses these, that 32-byte vectors are passed differently without AVX: they never cross a
// call between files (every function here is inline in each), so the note is silenced in the files that include this
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

typedef float f32x8 __attribute__((vector_size(32)));

static inline f32x8 lanes_load(const float *p) {
    f32x8 v;
    memcpy(&v, p, sizeof v); // unaligned
    return v;
}

static inline void lanes_store(float *p, f32x8 v) { memcpy(p, &v, sizeof v); }

// Eight double lanes: one 64-byte vector where the CPU has 512-bit registers; elsewhere two 32-byte halves (lanes
// 0-3 and 4-7), since gcc splits a 64-byte vector type through memory and general registers there, several times
// slower than the arrays were (and the halves, on AVX-512, cost about a tenth more than the one vector). The same
// arithmetic lane by lane either way, so the same bits.
#if defined(__AVX512F__)
typedef double f64x8 __attribute__((vector_size(64)));
typedef struct {
    f64x8 v;
} Lanes8d;

static inline Lanes8d lanes_zero(void) { return (Lanes8d){{0}}; }
static inline Lanes8d lanes_widen(f32x8 v) { return (Lanes8d){__builtin_convertvector(v, f64x8)}; }
// s += a b, lane by lane
static inline void lanes_add_product(Lanes8d *s, Lanes8d a, Lanes8d b) { s->v += a.v * b.v; }
static inline double lanes_get(Lanes8d s, int k) { return s.v[k]; }
// lane k (0..7) += x, for the tails that add to one lane
static inline void lanes_add_at(Lanes8d *s, int k, double x) { s->v[k] += x; }
#else
typedef double f64x4 __attribute__((vector_size(32)));
typedef struct {
    f64x4 lo, hi;
} Lanes8d;

static inline Lanes8d lanes_zero(void) { return (Lanes8d){{0}, {0}}; }
// written out lane by lane: gcc 12 turns __builtin_convertvector of 4 floats into two 2-lane conversions
static inline Lanes8d lanes_widen(f32x8 v) {
    return (Lanes8d){(f64x4){v[0], v[1], v[2], v[3]}, (f64x4){v[4], v[5], v[6], v[7]}};
}
static inline void lanes_add_product(Lanes8d *s, Lanes8d a, Lanes8d b) { s->lo += a.lo * b.lo, s->hi += a.hi * b.hi; }
static inline double lanes_get(Lanes8d s, int k) { return k < 4 ? s.lo[k] : s.hi[k - 4]; }
static inline void lanes_add_at(Lanes8d *s, int k, double x) {
    if (k < 4) s->lo[k] += x;
    else s->hi[k - 4] += x;
}
#endif

// The lanes added in order 0..7 to a running sum, as the arrays' loops did.
static inline double lanes_sum(double sum, Lanes8d s) {
    for (int k = 0; k < 8; k++) sum += lanes_get(s, k);
    return sum;
}

#endif
