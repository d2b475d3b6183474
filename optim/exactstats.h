// Exact gradient statistics at fixed parameters x_k (Qian et al. 2021, Section 3, assumptions A3 and A4):
// f = (1/m) sum_i f_i over m batches; pass 1 accumulates the full gradient grad f = (1/m) sum_i g_i, pass 2
// recomputes every batch gradient g_i and measures it against grad f. Memory is O(n) whatever m is: the g_i are
// never kept, only a few scalars per batch (and one running sum of noise vectors, for the stable tail index).
// n=parameters m=batches
#ifndef OPTIM_EXACTSTATS_H
#define OPTIM_EXACTSTATS_H

#include "tail_index.h"

#include <stddef.h>

#define EXACT_MAX_ETA 8

// Computes the gradient of batch i (0 <= i < m) at the fixed parameters; returns it ([n], owned by the callee and
// valid until the next call).
typedef const float *(*BatchGradFn)(void *ctx, long i);

typedef struct {
    long m;
    double full_norm;                // ||grad f||
    double mean_cos;                 // (1/m) sum_i cos(g_i, grad f)              (A3)
    double frac_pos;                 // fraction of batches with cos > 0
    double min_norm, max_norm;       // min_i ||g_i||, max_i ||g_i||; their ratio is A4's m_g / M_g
    int neta;
    double eta[EXACT_MAX_ETA];
    // <sum_i C(g_i; eta), grad f> / (m ||grad f||^2) with C(g; eta) = min(1, eta/||g||) g: 1 without clipping,
    // and the clipped sum is a descent direction exactly when it is > 0
    double descent[EXACT_MAX_ETA];
    double *norm, *cos;              // [m] ||g_i|| and cos(g_i, grad f) per batch
    // The noise g_i - grad f, whose norm is computed exactly, not as ||g_i||^2 - 2<g_i,grad f> + ||grad f||^2,
    // which cancels when the noise is small:
    double *noise;                   // [m] ||g_i - grad f||
    double noise_ms;                 // (1/m) sum_i ||g_i - grad f||^2, the variance of a batch gradient
    // Mohammadi's index of the noise vectors (optim/tail_index.h), in blocks of K1 = floor(sqrt(m)) batches.
    // Batches are visited in a fixed pseudo-random order so that a block does not hold neighbours (the LM's batch
    // i + 1 continues batch i's text); the order changes nothing else, every sum is taken in index order. The m
    // noise vectors sum to 0, so a block's norm is scaled by sqrt((m - 1) / (m - K1)), the finite-population factor
    // of K1 drawn without replacement (exact for second moments; without it Gaussian noise reads as 2.03 at m = 1600).
    TailIndex stable;
} ExactStats;

// Pass 1: full[n] = (1/m) sum_i g_i, accumulated in double.
void exactstats_full_gradient(double *full, BatchGradFn fn, void *ctx, long m, size_t n);
// Pass 1 in pieces: sum[n] = sum of g_i over batches begin .. end - 1, in index order, in double. The full gradient
// is then chunk sums added in chunk order, over m: chunks that MPI ranks can share (tools/exact_stats.c).
void exactstats_sum_range(double *sum, BatchGradFn fn, void *ctx, long begin, long end, size_t n);

// Shares pass 2 out over `parts` processes: all[parts * bytes] holds each part's bytes at all + part * bytes;
// afterwards every part has all of them (an MPI all-gather, tools/dist.h).
typedef void (*ExactShareFn)(void *all, size_t bytes);
// Pass 2 against a full gradient from pass 1. When a batch's loss is the mean of per-example losses (the language
// model), pass 1 may use another partition of the same data into equal-sized batches: the mean of batch means is
// the same. Not with batchnorm, where an example's loss depends on its batch: there f itself depends on the
// partition. Fills s (allocating s->norm and s->cos).
void exactstats_measure(ExactStats *s, const double *full, BatchGradFn fn, void *ctx, long m, size_t n,
                        const double *eta, int neta);
// The same, with the batches shared out over `parts` processes: this one (`part`) computes whole blocks of the
// stable index's visiting order, share gathers every part's per-batch values, and every part ends with the same
// ExactStats, bit for bit the one process's (each batch's values do not depend on who computes them, and every sum
// over batches is taken afterwards in index order). parts = 1: exactstats_measure.
void exactstats_measure_shared(ExactStats *s, const double *full, BatchGradFn fn, void *ctx, long m, size_t n,
                               const double *eta, int neta, int part, int parts, ExactShareFn share);
void exactstats_free(ExactStats *s);
// McCandlish et al.'s (2018) simple noise scale B_simple = tr(Sigma) / ||grad f||^2, Sigma the covariance of one
// component's gradient over the M components, from the variance of the batch gradients of a partition into m
// batches of b: E ||g_B - grad f||^2 = (tr Sigma / b) (M - b) / (M - 1) for a batch drawn without replacement, so
// tr Sigma = b (M - 1) / (M - b) noise_ms. Exact for b = 1; for b > 1 it takes the partition's batches as random
// draws. In components (windows, images). NaN when b = M or grad f = 0.
double exactstats_noise_scale(const ExactStats *s, long b, long M);

#endif
