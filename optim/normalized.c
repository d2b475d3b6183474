// Normalized gradient descent: x -= lr g / (||g|| + b), with the global L2 norm of the (flat) gradient. With b = 0
// this is the normalized GD of the (L0,L1)-smoothness analysis (Zhang et al., ICLR 2020); a zero gradient (and b = 0)
// leaves x unchanged instead of dividing by zero.
#include "optimizer.h"
#include "clip.h"
#include "nn/check.h"
#include "nn/parallel.h"

#include <stdlib.h>

typedef struct {
    Optimizer base;
    double b;
} Normalized;

typedef struct {
    float *x;
    const float *grad;
    float k;
} NormalizedJob;

static void normalized_range(void *ctx, size_t lo, size_t hi) {
    const NormalizedJob *j = ctx;
    float *restrict x = j->x, k = j->k;
    const float *restrict grad = j->grad;
    for (size_t i = lo; i < hi; i++) x[i] -= k * grad[i];
}

static void normalized_step(Optimizer *o, float *x, const float *grad, size_t n, const ParamView *views, int nviews,
                            float lr) {
    (void)views, (void)nviews;
    double denom = optim_l2_norm(grad, n) + ((Normalized *)o)->b;
    if (denom == 0.0) return;
    NormalizedJob j = {x, grad, (float)(lr / denom)};
    nn_parallel_ranges(n, normalized_range, &j); // element-wise: the same bits on any thread count
}

static void normalized_free(Optimizer *o) { free(o); }

Optimizer *optim_normalized_create(const double *h) {
    Normalized *s = nn_calloc(1, sizeof *s);
    s->base = (Optimizer){.name = "normalized", .step = normalized_step, .free = normalized_free, .state = NULL};
    s->b = h[0];
    return &s->base;
}
