#include "poly_sum.h"
#include "nn/check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void alloc(PolySum *p, int dim, long m) {
    NN_CHECK(dim >= 1 && m >= 1, "poly_sum: dimension %d and %ld components: both must be >= 1", dim, m);
    *p = (PolySum){.dim = dim, .m = m};
    size_t n = (size_t)m * (size_t)dim;
    p->a = nn_calloc(n, sizeof(float)), p->b = nn_calloc(n, sizeof(float)), p->c = nn_calloc(n, sizeof(float));
    p->scratch = nn_calloc((size_t)dim, sizeof(double));
    params_init(&p->params);
    params_add(&p->params, "x", 1, (int[]){dim});
    params_alloc(&p->params);
}

void poly_sum_example1(PolySum *p) {
    alloc(p, 1, 3);
    p->a[0] = -2, p->a[1] = -2, p->a[2] = 10; // f_i = a_i x^2 / 2: -x^2, -x^2, 5x^2
}

void poly_sum_l0l1(PolySum *p) {
    alloc(p, 1, 1);
    p->a[0] = 1, p->b[0] = 1;
}

void poly_sum_nqm(PolySum *p, int dim, long m, double cond, double noise, Rng *rng) {
    NN_CHECK(m >= 2 && cond >= 1 && noise >= 0, "poly_sum_nqm: %ld components (>= 2), condition number %g (>= 1), "
             "noise %g (>= 0)", m, cond, noise);
    alloc(p, dim, m);
    for (int j = 0; j < dim; j++) {
        float h = (float)(dim > 1 ? pow(cond, -(double)j / (dim - 1)) : 1.0);
        double sum = 0;
        for (long i = 0; i < m; i++) {
            p->a[i * dim + j] = h;
            sum += p->c[i * dim + j] = (float)(noise * rng_normal(rng));
        }
        float mean = (float)(sum / (double)m);
        double sq = 0;
        for (long i = 0; i < m; i++) {
            float *c = &p->c[i * dim + j];
            *c -= mean; // the centres sum to (about) zero: f's minimum is at 0
            sq += (double)*c * *c;
        }
        p->offset += 0.5 * h * sq / (double)m; // f(0) = mean_i sum_j h_j c_ij^2 / 2: subtracted, f(x*) = 0
    }
}

void poly_sum_free(PolySum *p) {
    free(p->a), free(p->b), free(p->c), free(p->scratch);
    params_free(&p->params);
}

// f_i(x) (without the offset); with g, g += grad f_i(x).
static double component(const PolySum *p, long i, const float *x, double *g) {
    double f = 0;
    const float *a = p->a + i * p->dim, *b = p->b + i * p->dim, *c = p->c + i * p->dim;
    for (int j = 0; j < p->dim; j++) {
        double u = (double)x[j] - c[j], u2 = u * u;
        f += 0.5 * a[j] * u2 + 0.25 * b[j] * u2 * u2;
        if (g) g[j] += a[j] * u + b[j] * u2 * u;
    }
    return f;
}

double poly_sum_batch(PolySum *p, const long *ids, int n, int grad) {
    const float *x = params_ptr(&p->params, 0);
    double f = 0, *g = grad ? memset(p->scratch, 0, (size_t)p->dim * sizeof(double)) : NULL;
    for (int k = 0; k < n; k++) {
        NN_CHECK(ids[k] >= 0 && ids[k] < p->m, "poly_sum: component %ld outside 0..%ld", ids[k], p->m - 1);
        f += component(p, ids[k], x, g);
    }
    float *dx = params_grad(&p->params, 0);
    for (int j = 0; g && j < p->dim; j++) dx[j] += (float)(g[j] / n);
    return f / n - p->offset;
}

double poly_sum_full(PolySum *p, double *grad_norm) {
    const float *x = params_ptr(&p->params, 0);
    double f = 0, sq = 0, *g = memset(p->scratch, 0, (size_t)p->dim * sizeof(double));
    for (long i = 0; i < p->m; i++) f += component(p, i, x, g);
    for (int j = 0; j < p->dim; j++) sq += (g[j] / (double)p->m) * (g[j] / (double)p->m);
    *grad_norm = sqrt(sq);
    return f / (double)p->m - p->offset;
}
