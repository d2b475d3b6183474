// What the (L0, L1)-smoothness claim of Zhang, He, Sra and Jadbabaie (2020) needs from a cloud of measurements
// (||grad f(x_t)||, L^_t) along a trajectory: the line L0 + L1 ||grad f|| that bounds it from above, and whether L^
// grows with the gradient norm at all.
//
// The bound is a high-quantile regression (Koenker and Bassett 1978): L0, L1 >= 0 minimising
// sum_t rho_tau(L^_t - L0 - L1 g_t), rho_tau(r) = r (tau - [r < 0]), so that a fraction tau of the points lies on or
// below the line. Least squares would fit the cloud's middle, not the envelope the claim is about. The objective is
// convex and piecewise linear; for a fixed L1 the best L0 is max(0, a tau-quantile of L^_t - L1 g_t), and what is
// left, a convex function of L1 alone, is minimised by golden-section search.
#ifndef OPTIM_SMOOTH_FIT_H
#define OPTIM_SMOOTH_FIT_H

typedef struct {
    double l0, l1;    // the fitted line (NaN with fewer than 2 points)
    double tau;       // the quantile
    double below;     // the fraction of points on or below the line
    double spearman;  // rank correlation of L^ with ||grad f|| (ties share their mean rank)
    long n;           // points used: both values finite and positive
} SmoothFit;

// Fits the line to the points (g[i], l[i]) whose values are finite and positive (others are skipped).
SmoothFit smooth_fit(const double *g, const double *l, long n, double tau);
// The objective above at (l0, l1), for tests and reports.
double smooth_fit_loss(const double *g, const double *l, long n, double tau, double l0, double l1);
double spearman(const double *x, const double *y, long n);

#endif
