// LAMB (You et al. 2019, "Large batch optimization for deep learning", Algorithm 2), per named tensor (view):
//   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  r = (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
//   u = r + wd x;  x -= lr * (||x|| / ||u||) * u   with phi = identity; the trust ratio is 1 when a norm is 0.
#include "optimizer.h"
#include "nn/check.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
    Optimizer base;
    float beta1, beta2, eps, weight_decay;
    long t;
    float *m, *v, *u; // [n] each, allocated at the first step
} Lamb;

static void lamb_alloc(Lamb *a, size_t n) {
    if (!a->m) a->m = nn_alloc_floats(n), a->v = nn_alloc_floats(n), a->u = nn_alloc_floats(n);
}

static int lamb_state(Optimizer *o, size_t n, int allocate, OptimStateItem *items) {
    Lamb *a = (Lamb *)o;
    if (allocate) lamb_alloc(a, n);
    items[0] = (OptimStateItem){.name = "step", .count = &a->t};
    items[1] = (OptimStateItem){.name = "exp_avg", .vec = &a->m};
    items[2] = (OptimStateItem){.name = "exp_avg_sq", .vec = &a->v};
    return 3; // u is this step's direction, not state
}

// m, v and the direction u of one tensor, and the squared norms of x and u: in 8 interleaved double sums added at
// the end (an order written out, so that the loop vectorises without -ffast-math), with restrict pointers (the
// arrays never overlap).
static void lamb_direction(const Lamb *a, size_t len, const float *restrict g, const float *restrict x,
                           float *restrict m, float *restrict v, float *restrict u, float bc1, float bc2, double *xx,
                           double *uu) {
    float b1 = a->beta1, b2 = a->beta2, eps = a->eps, wd = a->weight_decay;
    double xs[8] = {0}, us[8] = {0};
    size_t i = 0;
    for (; i + 8 <= len; i += 8)
        for (int l = 0; l < 8; l++) {
            size_t k = i + l;
            m[k] = b1 * m[k] + (1.0f - b1) * g[k];
            v[k] = b2 * v[k] + (1.0f - b2) * g[k] * g[k];
            u[k] = (m[k] / bc1) / (sqrtf(v[k] / bc2) + eps) + wd * x[k];
            xs[l] += (double)x[k] * x[k], us[l] += (double)u[k] * u[k];
        }
    for (; i < len; i++) {
        m[i] = b1 * m[i] + (1.0f - b1) * g[i];
        v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
        u[i] = (m[i] / bc1) / (sqrtf(v[i] / bc2) + eps) + wd * x[i];
        xs[0] += (double)x[i] * x[i], us[0] += (double)u[i] * u[i];
    }
    *xx = *uu = 0;
    for (int l = 0; l < 8; l++) *xx += xs[l], *uu += us[l];
}

static void lamb_step(Optimizer *o, float *x, const float *grad, size_t n, const ParamView *views, int nviews,
                      float lr) {
    Lamb *a = (Lamb *)o;
    NN_CHECK(views && nviews > 0, "lamb needs the list of named tensors (its trust ratio is per tensor)");
    lamb_alloc(a, n);
    a->t++;
    float b1 = a->beta1, b2 = a->beta2;
    float bc1 = (float)(1.0 - pow(b1, (double)a->t)), bc2 = (float)(1.0 - pow(b2, (double)a->t));
    for (int k = 0; k < nviews; k++) {
        size_t off = views[k].offset, len = views[k].size;
        double xx, uu;
        lamb_direction(a, len, grad + off, x + off, a->m + off, a->v + off, a->u + off, bc1, bc2, &xx, &uu);
        float trust = xx > 0 && uu > 0 ? (float)(sqrt(xx) / sqrt(uu)) : 1.0f;
        for (size_t i = off; i < off + len; i++) x[i] -= lr * trust * a->u[i];
    }
}

static void lamb_free(Optimizer *o) {
    Lamb *a = (Lamb *)o;
    free(a->m), free(a->v), free(a->u), free(a);
}

Optimizer *optim_lamb_create(const double *h) {
    Lamb *a = nn_calloc(1, sizeof *a);
    a->base = (Optimizer){"lamb", lamb_step, lamb_free, lamb_state};
    a->beta1 = (float)h[0], a->beta2 = (float)h[1], a->eps = (float)h[2], a->weight_decay = (float)h[3];
    return &a->base;
}
