// Exact gradient statistics at fixed parameters x_k (Qian et al. 2021, Section 3, assumptions A3 and A4):
// f = (1/m) sum_i f_i over m batches; pass 1 accumulates the full gradient grad f = (1/m) sum_i g_i, pass 2
// recomputes every batch gradient g_i and measures it against grad f. Memory is O(n) whatever m is: the g_i are
// never kept, only two scalars per batch.
// n=parameters m=batches
#ifndef OPTIM_EXACTSTATS_H
#define OPTIM_EXACTSTATS_H

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
} ExactStats;

// Pass 1: full[n] = (1/m) sum_i g_i, accumulated in double.
void exactstats_full_gradient(double *full, BatchGradFn fn, void *ctx, long m, size_t n);
// Pass 2 against a full gradient from pass 1. When a batch's loss is the mean of per-example losses (the language
// model), pass 1 may use another partition of the same data into equal-sized batches: the mean of batch means is
// the same. Not with batchnorm, where an example's loss depends on its batch: there f itself depends on the
// partition. Fills s (allocating s->norm and s->cos).
void exactstats_measure(ExactStats *s, const double *full, BatchGradFn fn, void *ctx, long m, size_t n,
                        const double *eta, int neta);
void exactstats_free(ExactStats *s);

#endif
