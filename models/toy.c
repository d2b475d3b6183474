#include "toy.h"

#include <math.h>
#include <string.h>

// C(g; eta) = min(1, eta/|g|) g in one dimension.
static double clip1(double g, double eta) { return eta > 0 && fabs(g) > eta ? copysign(eta, g) : g; }

void toy_example1(double *mean, double x0, double alpha, double eta, int steps, int runs, int cyclic, Rng *rng) {
    static const double curvature[3] = {-2.0, -2.0, 10.0}; // f_i'(x) = c_i x
    memset(mean, 0, sizeof(double) * (size_t)steps);
    for (int r = 0; r < runs; r++) {
        double x = x0;
        for (int k = 0; k < steps; k++) {
            int i = cyclic ? k % 3 : (int)rng_below(rng, 3);
            x -= alpha * clip1(curvature[i] * x, eta);
            mean[k] += x / runs;
        }
    }
}

long toy_l0l1_gd(double x0, double h, double gamma, double tol, long max_iter, int clipped) {
    double x = x0;
    for (long k = 0; k < max_iter; k++) {
        double g = x * x * x + x;
        if (fabs(g) < tol) return k;
        double step = clipped && gamma / fabs(g) < h ? gamma / fabs(g) : h;
        x -= step * g;
        if (!isfinite(x)) return max_iter; // diverged
    }
    return max_iter;
}
