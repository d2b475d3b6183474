// Adam (Kingma & Ba 2015) and AdamW (Loshchilov & Hutter 2019), as torch.optim.Adam / AdamW (1.13):
//   adam: g = grad + wd x;  adamw: x *= 1 - lr wd, g = grad
//   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  amsgrad: vmax = max(vmax, v), used in place of v
//   x -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
#include "optimizer.h"
#include "nn/check.h"
#include "nn/parallel.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
    Optimizer base;
    float beta1, beta2, eps, weight_decay;
    int amsgrad, decoupled; // decoupled: AdamW's weight decay
    long t;
    float *m, *v, *vmax; // [n] each, allocated at the first step
} Adam;

// The update over n elements; vmax is NULL without amsgrad. Separate restrict arrays and no branch inside the loop
// let it vectorise.
static void adam_kernel(float *restrict x, const float *restrict grad, float *restrict m, float *restrict v,
                        float *restrict vmax, size_t n, float b1, float b2, float eps, float wd, float shrink,
                        float step, float bc2_sqrt) {
    if (vmax) {
        for (size_t i = 0; i < n; i++) {
            float xi = x[i] * shrink, g = grad[i] + wd * xi;
            float mi = m[i] = b1 * m[i] + (1.0f - b1) * g;
            float vi = v[i] = b2 * v[i] + (1.0f - b2) * g * g;
            float vm = vmax[i] = vi > vmax[i] ? vi : vmax[i];
            x[i] = xi - step * mi / (sqrtf(vm) / bc2_sqrt + eps);
        }
        return;
    }
    for (size_t i = 0; i < n; i++) {
        float xi = x[i] * shrink, g = grad[i] + wd * xi;
        float mi = m[i] = b1 * m[i] + (1.0f - b1) * g;
        float vi = v[i] = b2 * v[i] + (1.0f - b2) * g * g;
        x[i] = xi - step * mi / (sqrtf(vi) / bc2_sqrt + eps);
    }
}

static void adam_alloc(Adam *a, size_t n) {
    if (a->m) return;
    a->m = nn_alloc_floats(n), a->v = nn_alloc_floats(n);
    if (a->amsgrad) a->vmax = nn_alloc_floats(n);
}

static int adam_state(Optimizer *o, size_t n, int allocate, OptimStateItem *items) {
    Adam *a = (Adam *)o;
    if (allocate) adam_alloc(a, n);
    items[0] = (OptimStateItem){.name = "step", .count = &a->t};
    items[1] = (OptimStateItem){.name = "exp_avg", .vec = &a->m};
    items[2] = (OptimStateItem){.name = "exp_avg_sq", .vec = &a->v};
    if (!a->amsgrad) return 3;
    items[3] = (OptimStateItem){.name = "max_exp_avg_sq", .vec = &a->vmax};
    return 4;
}

typedef struct {
    const Adam *a;
    float *x;
    const float *grad;
    float wd, shrink, step, bc2_sqrt;
} AdamJob;

static void adam_range(void *ctx, size_t lo, size_t hi) {
    const AdamJob *j = ctx;
    const Adam *a = j->a;
    adam_kernel(j->x + lo, j->grad + lo, a->m + lo, a->v + lo, a->vmax ? a->vmax + lo : NULL, hi - lo, a->beta1,
                a->beta2, a->eps, j->wd, j->shrink, j->step, j->bc2_sqrt);
}

static void adam_step(Optimizer *o, float *x, const float *grad, size_t n, const ParamView *views, int nviews,
                      float lr) {
    (void)views, (void)nviews;
    Adam *a = (Adam *)o;
    adam_alloc(a, n);
    a->t++;
    AdamJob j = {a, x, grad, a->decoupled ? 0.0f : a->weight_decay, a->decoupled ? 1.0f - lr * a->weight_decay : 1.0f,
                 (float)(lr / (1.0 - pow(a->beta1, (double)a->t))), (float)sqrt(1.0 - pow(a->beta2, (double)a->t))};
    nn_parallel_ranges(n, adam_range, &j); // element-wise: the same bits on any thread count
}

static void adam_free(Optimizer *o) {
    Adam *a = (Adam *)o;
    free(a->m), free(a->v), free(a->vmax), free(a);
}

static Optimizer *create(const char *name, const double *h, int decoupled) {
    Adam *a = nn_calloc(1, sizeof *a);
    a->base = (Optimizer){.name = name, .step = adam_step, .free = adam_free, .state = adam_state};
    a->beta1 = (float)h[0], a->beta2 = (float)h[1], a->eps = (float)h[2], a->weight_decay = (float)h[3];
    a->amsgrad = h[4] != 0, a->decoupled = decoupled;
    return &a->base;
}

Optimizer *optim_adam_create(const double *h) { return create("adam", h, 0); }
Optimizer *optim_adamw_create(const double *h) { return create("adamw", h, 1); }
