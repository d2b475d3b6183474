// Adagrad (Duchi, Hazan & Singer 2011), as torch.optim.Adagrad (1.13):
//   g = grad + wd x;  s += g^2;  x -= lr / (1 + (t-1) lr_decay) * g / (sqrt(s) + eps);  s starts at
//   initial_accumulator_value.
#include "optimizer.h"
#include "nn/check.h"
#include "nn/parallel.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
    Optimizer base;
    float lr_decay, weight_decay, init, eps;
    long t;
    float *sum; // [n], allocated at the first step
} Adagrad;

static void adagrad_alloc(Adagrad *a, size_t n) {
    if (a->sum) return;
    a->sum = nn_alloc_floats(n);
    for (size_t i = 0; i < n; i++) a->sum[i] = a->init;
}

static int adagrad_state(Optimizer *o, size_t n, int allocate, OptimStateItem *items) {
    Adagrad *a = (Adagrad *)o;
    if (allocate) adagrad_alloc(a, n);
    items[0] = (OptimStateItem){.name = "step", .count = &a->t};
    items[1] = (OptimStateItem){.name = "sum", .vec = &a->sum};
    return 2;
}

// restrict: the arrays never overlap, so the loop vectorises without a run-time overlap check
static void adagrad_update(float *restrict x, const float *restrict grad, float *restrict sum, size_t n, float clr,
                           float wd, float eps) {
    for (size_t i = 0; i < n; i++) {
        float g = grad[i] + wd * x[i];
        float s = sum[i] += g * g;
        x[i] -= clr * g / (sqrtf(s) + eps);
    }
}

typedef struct {
    const Adagrad *a;
    float *x;
    const float *grad;
    float clr;
} AdagradJob;

static void adagrad_range(void *ctx, size_t lo, size_t hi) {
    const AdagradJob *j = ctx;
    adagrad_update(j->x + lo, j->grad + lo, j->a->sum + lo, hi - lo, j->clr, j->a->weight_decay, j->a->eps);
}

static void adagrad_step(Optimizer *o, float *x, const float *grad, size_t n, const ParamView *views, int nviews,
                         float lr) {
    (void)views, (void)nviews;
    Adagrad *a = (Adagrad *)o;
    adagrad_alloc(a, n);
    a->t++;
    AdagradJob j = {a, x, grad, lr / (1.0f + (float)(a->t - 1) * a->lr_decay)};
    nn_parallel_ranges(n, adagrad_range, &j); // element-wise: the same bits on any thread count
}

static void adagrad_free(Optimizer *o) {
    free(((Adagrad *)o)->sum);
    free(o);
}

Optimizer *optim_adagrad_create(const double *h) {
    Adagrad *a = nn_calloc(1, sizeof *a);
    a->base = (Optimizer){.name = "adagrad", .step = adagrad_step, .free = adagrad_free, .state = adagrad_state};
    a->lr_decay = (float)h[0], a->weight_decay = (float)h[1], a->init = (float)h[2], a->eps = (float)h[3];
    return &a->base;
}
