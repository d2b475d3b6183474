// Toy objectives as finite sums, for the trainer: f(x) = (1/m) sum_i f_i(x) over x in R^d with separable
// polynomial components
//     f_i(x) = sum_j [ a_ij u^2 / 2 + b_ij u^4 / 4 ],   u = x_j - c_ij,
// whose gradients are exact. Three instances (poly_sum_example1, poly_sum_l0l1, poly_sum_nqm):
//   - Example 1 of Qian et al. (2021): d = 1, m = 3, f_1 = f_2 = -x^2, f_3 = 5x^2 (a = -2, -2, 10), f = x^2: clipped
//     SGD and IGC drift away from the optimum 0 while unclipped SGD converges;
//   - the (L0,L1)-smooth polynomial of Zhang et al. (2020): d = 1, m = 1, f = x^4/4 + x^2/2, f'' = 3x^2 + 1 grows
//     with |f'|;
//   - a noisy quadratic (Zhang et al. 2019's NQM, as a finite sum): a_ij = h_j from 1 down to 1/cond geometrically,
//     b = 0, centres c_ij ~ N(0, noise^2) made to sum to zero over i, so f(x) = sum_j h_j x_j^2 / 2 + const with
//     its minimum at 0, and the batch gradients' noise has covariance ~ H diag(noise^2) H.
// d=dimension m=components
#ifndef MODELS_POLY_SUM_H
#define MODELS_POLY_SUM_H

#include "nn/params.h"
#include "nn/rng.h"

typedef struct {
    int dim;             // d
    long m;              // components
    float *a, *b, *c;    // [m, d] quadratic and quartic coefficients, centres
    double offset;       // a constant subtracted from every f_i so that f's minimum is 0 (the NQM's centre terms)
    double *scratch;     // [d] a gradient being summed
    Params params;       // "x" [d]
} PolySum;

void poly_sum_example1(PolySum *p);
void poly_sum_l0l1(PolySum *p);
// Fatal unless dim >= 1, m >= 2, cond >= 1 and noise >= 0.
void poly_sum_nqm(PolySum *p, int dim, long m, double cond, double noise, Rng *rng);
void poly_sum_free(PolySum *p);
// The mean of f_i over the components ids[0..n) at the parameters; with grad, adds its gradient to params.grad.
double poly_sum_batch(PolySum *p, const long *ids, int n, int grad);
// f and ||grad f|| over all m components, in double.
double poly_sum_full(PolySum *p, double *grad_norm);

#endif
