// How heavy the tail of the gradient noise is, from samples: two tail-index estimators with 95% confidence
// intervals, a quantile, and symmetric alpha-stable draws (synthetic truth for the tests).
//
// - Hill (1975) on positive samples (nnopt: the noise norms ||g_i - grad f||): with X_(1) >= X_(2) >= ... the
//   sorted sample, 1/alpha = (1/k) sum_{j<=k} ln(X_(j) / X_(k+1)), the maximum-likelihood index of a Pareto tail
//   above X_(k+1). Assumes i.i.d. samples whose tail is regularly varying, P(X > x) ~ x^-alpha: then
//   sqrt(k) (alpha^ / alpha - 1) -> N(0, 1), the interval. A light tail (Gaussian noise) has no finite index; Hill
//   then gives large values that grow with k.
// - Mohammadi et al. (2015, Corollary 2.4), as Simsekli et al. (2019) use it on SGD noise: for i.i.d. strictly
//   alpha-stable vectors, a sum of K1 of them is K1^(1/alpha) times one in distribution, so
//   1/alpha = (E ln ||Y|| - E ln ||X||) / ln K1 with Y a sum of K1 samples X. nnopt applies it to the exact noise
//   vectors (rows), not to their flattened coordinates, so it does not assume i.i.d. coordinates; it assumes i.i.d.
//   stable rows. Its values lie in (0, 2]: 2 for Gaussian noise, and about 2 for any finite-variance noise summed
//   over enough samples (the central limit theorem). The interval: per block j, d_j = ln ||Y_j|| - mean of ln ||X||
//   over the block's K1 samples; 1/alpha^ = mean(d) / ln K1 with the blocks' standard error.
#ifndef OPTIM_TAIL_INDEX_H
#define OPTIM_TAIL_INDEX_H

#include "nn/rng.h"

typedef struct {
    double alpha, lo, hi; // the estimate and its 95% interval (hi may be INFINITY; NaN when not defined)
    long k;               // Hill: the order statistics used; Mohammadi: the block size K1
} TailIndex;

// Hill's estimate from the k largest of x[0..n) (positive values; x is not changed). NaN unless 1 <= k < n.
TailIndex tail_hill(const double *x, long n, long k);
// The k Hill uses by default: sqrt(n), at least 10 (a common choice balancing bias and variance); 0 when n < 20.
long tail_hill_k(long n);
// Mohammadi's estimate from ln ||X_i|| (log_x[0..k1*blocks), block j = samples j*k1 .. j*k1+k1-1) and ln ||Y_j||
// (log_y[0..blocks), Y_j the sum of block j's samples). NaN unless k1 >= 2 and blocks >= 2.
TailIndex tail_stable_blocks(const double *log_x, const double *log_y, long k1, long blocks);
// The q-quantile (0 <= q <= 1) of x[0..n), linear between order statistics (numpy's default); NaN when n = 0.
double tail_quantile(const double *x, long n, double q);
// A standard symmetric alpha-stable draw (0 < alpha <= 2; scale 1, so alpha = 2 is N(0, 2)) by the method of
// Chambers, Mallows and Stuck (1976).
double stable_draw(Rng *r, double alpha);

#endif
