// Normalized gradient descent: x -= lr g / (||g|| + b), with the global L2 norm of the (flat) gradient. With b = 0
// this is the normalized GD of the (L0,L1)-smoothness analysis (Zhang et al., ICLR 2020); a zero gradient (and b = 0)
// leaves x unchanged instead of dividing by zero.
#include "optimizer.h"
#include "clip.h"
#include "nn/check.h"

#include <stdlib.h>

typedef struct {
    Optimizer base;
    double b;
} Normalized;

static void normalized_step(Optimizer *o, float *x, const float *grad, size_t n, const ParamView *views, int nviews,
                            float lr) {
    (void)views, (void)nviews;
    double denom = optim_l2_norm(grad, n) + ((Normalized *)o)->b;
    if (denom == 0.0) return;
    float k = (float)(lr / denom);
    for (size_t i = 0; i < n; i++) x[i] -= k * grad[i];
}

static void normalized_free(Optimizer *o) { free(o); }

Optimizer *optim_normalized_create(const double *h) {
    Normalized *s = nn_calloc(1, sizeof *s);
    s->base = (Optimizer){.name = "normalized", .step = normalized_step, .free = normalized_free, .state = NULL};
    s->b = h[0];
    return &s->base;
}
