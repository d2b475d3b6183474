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
        double xx = 0, uu = 0;
        for (size_t i = off; i < off + len; i++) {
            float g = grad[i];
            a->m[i] = b1 * a->m[i] + (1.0f - b1) * g;
            a->v[i] = b2 * a->v[i] + (1.0f - b2) * g * g;
            float u = a->u[i] = (a->m[i] / bc1) / (sqrtf(a->v[i] / bc2) + a->eps) + a->weight_decay * x[i];
            xx += (double)x[i] * x[i], uu += (double)u * u;
        }
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
