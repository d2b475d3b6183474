#include "smooth_fit.h"
#include "nn/check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int ascending(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double smooth_fit_loss(const double *g, const double *l, long n, double tau, double l0, double l1) {
    double sum = 0;
    for (long i = 0; i < n; i++) {
        double r = l[i] - l0 - l1 * g[i];
        sum += r * (tau - (r < 0));
    }
    return sum;
}

// The best L0 >= 0 for a given L1: the ceil(tau n)-th smallest residual (a minimiser of the check loss), or 0.
static double best_l0(const double *g, const double *l, long n, double tau, double l1, double *work) {
    for (long i = 0; i < n; i++) work[i] = l[i] - l1 * g[i];
    qsort(work, (size_t)n, sizeof(double), ascending);
    long k = (long)ceil(tau * (double)n) - 1;
    double q = work[k < 0 ? 0 : k >= n ? n - 1 : k];
    return q > 0 ? q : 0;
}

static double profile(const double *g, const double *l, long n, double tau, double l1, double *work, double *l0) {
    *l0 = best_l0(g, l, n, tau, l1, work);
    return smooth_fit_loss(g, l, n, tau, *l0, l1);
}

SmoothFit smooth_fit(const double *g_all, const double *l_all, long n_all, double tau) {
    SmoothFit f = {.l0 = NAN, .l1 = NAN, .tau = tau, .below = NAN, .spearman = NAN};
    double *g = nn_malloc((size_t)(n_all + 1) * sizeof(double)), *l = nn_malloc((size_t)(n_all + 1) * sizeof(double));
    double *work = nn_malloc((size_t)(n_all + 1) * sizeof(double));
    long n = 0;
    for (long i = 0; i < n_all; i++)
        if (isfinite(g_all[i]) && isfinite(l_all[i]) && g_all[i] > 0 && l_all[i] > 0) g[n] = g_all[i], l[n++] = l_all[i];
    f.n = n;
    if (n >= 2) {
        double hi = 0; // beyond the largest l/g every residual is negative for any L0 >= 0: the loss only grows
        for (long i = 0; i < n; i++) hi = fmax(hi, l[i] / g[i]);
        double lo = 0, phi = (sqrt(5.0) - 1) / 2, a = hi - phi * (hi - lo), b = lo + phi * (hi - lo), l0a, l0b;
        double fa = profile(g, l, n, tau, a, work, &l0a), fb = profile(g, l, n, tau, b, work, &l0b);
        for (int it = 0; it < 200 && hi - lo > 1e-14 * (fabs(hi) + 1e-300); it++) {
            if (fa <= fb) hi = b, b = a, fb = fa, a = hi - phi * (hi - lo), fa = profile(g, l, n, tau, a, work, &l0a);
            else lo = a, a = b, fa = fb, b = lo + phi * (hi - lo), fb = profile(g, l, n, tau, b, work, &l0b);
        }
        // the ends are candidates too: the minimum may sit at L1 = 0
        double cand[3] = {lo, 0.5 * (lo + hi), 0}, best = INFINITY;
        for (int c = 0; c < 3; c++) {
            double l0, v = profile(g, l, n, tau, cand[c], work, &l0);
            if (v < best) best = v, f.l0 = l0, f.l1 = cand[c];
        }
        long below = 0;
        for (long i = 0; i < n; i++) below += l[i] <= (f.l0 + f.l1 * g[i]) * (1 + 1e-9); // on the line: below
        f.below = (double)below / (double)n;
        f.spearman = spearman(g, l, n);
    }
    free(g), free(l), free(work);
    return f;
}

typedef struct {
    double v;
    long i;
} Ranked;

static int by_value(const void *a, const void *b) {
    const Ranked *x = a, *y = b;
    return (x->v > y->v) - (x->v < y->v);
}

// Ranks from 1, ties sharing the mean of their positions.
static void ranks(const double *x, long n, double *rank) {
    Ranked *r = nn_malloc((size_t)(n + 1) * sizeof *r);
    for (long i = 0; i < n; i++) r[i] = (Ranked){x[i], i};
    qsort(r, (size_t)n, sizeof *r, by_value);
    for (long i = 0; i < n;) {
        long j = i;
        while (j + 1 < n && r[j + 1].v == r[i].v) j++;
        for (long k = i; k <= j; k++) rank[r[k].i] = 0.5 * (double)(i + j) + 1;
        i = j + 1;
    }
    free(r);
}

double spearman(const double *x, const double *y, long n) {
    if (n < 2) return NAN;
    double *rx = nn_malloc((size_t)n * sizeof(double)), *ry = nn_malloc((size_t)n * sizeof(double));
    ranks(x, n, rx), ranks(y, n, ry);
    double mean = 0.5 * (double)(n + 1), sxy = 0, sxx = 0, syy = 0;
    for (long i = 0; i < n; i++) {
        double a = rx[i] - mean, b = ry[i] - mean;
        sxy += a * b, sxx += a * a, syy += b * b;
    }
    free(rx), free(ry);
    return sxx > 0 && syy > 0 ? sxy / sqrt(sxx * syy) : NAN;
}
