#include "gradcheck.h"
#include "nn/rng.h"

#include <math.h>
#include <stdio.h>

double gradcheck(const char *what, GcLoss loss, void *ctx, float *x, const float *grad, long n, float eps,
                 long max_checks, double tol) {
    long stride = n > max_checks ? (n + max_checks - 1) / max_checks : 1, checked = 0;
    double max_num = 0, max_grad = 0, max_err = 0;
    for (long i = 0; i < n; i += stride) {
        float saved = x[i];
        x[i] = saved + eps;
        double up = loss(ctx);
        x[i] = saved - eps;
        double down = loss(ctx);
        x[i] = saved;
        double num = (up - down) / (2.0 * eps), err = fabs(num - grad[i]);
        if (fabs(num) > max_num) max_num = fabs(num);
        if (fabs(grad[i]) > max_grad) max_grad = fabs(grad[i]);
        if (err > max_err || err != err) max_err = err;
        checked++;
    }
    double norm_err = max_err / (max_num > 1e-6 ? max_num : 1e-6);
    printf("# %s: checked %ld of %ld, max |grad| %.3g, max abs err %.3g, normalised err %.3g (tol %.1g)\n", what,
           checked, n, max_grad, max_err, norm_err, tol);
    return norm_err != norm_err ? INFINITY : norm_err;
}

double gc_dot(const float *a, const float *r, long n) {
    double s = 0;
    for (long i = 0; i < n; i++) s += (double)a[i] * r[i];
    return s;
}

void gc_fill(float *x, long n, float scale, unsigned long long seed) {
    Rng rng;
    rng_seed(&rng, seed);
    for (long i = 0; i < n; i++) x[i] = rng_uniform_range(&rng, -scale, scale);
}
