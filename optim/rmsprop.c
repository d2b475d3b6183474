// RMSprop (Hinton's lecture 6e), as torch.optim.RMSprop (1.13):
//   g = grad + wd x;  s = alpha s + (1-alpha) g^2;  centered: a = alpha a + (1-alpha) g, d = sqrt(s - a^2) + eps,
//   else d = sqrt(s) + eps;  momentum: b = mu b + g / d, x -= lr b;  else x -= lr g / d.
#include "optimizer.h"
#include "nn/check.h"
#include "nn/parallel.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
    Optimizer base;
    float alpha, eps, weight_decay, momentum;
    int centered;
    float *sq, *avg, *buf; // [n] each as needed, allocated at the first step
} RmsProp;

static void rmsprop_alloc(RmsProp *r, size_t n) {
    if (r->sq) return;
    r->sq = nn_alloc_floats(n);
    if (r->centered) r->avg = nn_alloc_floats(n);
    if (r->momentum > 0) r->buf = nn_alloc_floats(n);
}

static int rmsprop_state(Optimizer *o, size_t n, int allocate, OptimStateItem *items) {
    RmsProp *r = (RmsProp *)o;
    if (allocate) rmsprop_alloc(r, n);
    int k = 0;
    items[k++] = (OptimStateItem){.name = "square_avg", .vec = &r->sq};
    if (r->centered) items[k++] = (OptimStateItem){.name = "grad_avg", .vec = &r->avg};
    if (r->momentum > 0) items[k++] = (OptimStateItem){.name = "momentum_buffer", .vec = &r->buf};
    return k;
}

typedef struct {
    const RmsProp *r;
    float *x;
    const float *grad;
    float lr;
} RmsPropJob;

static void rmsprop_range(void *ctx, size_t lo, size_t hi) {
    const RmsPropJob *j = ctx;
    const RmsProp *r = j->r;
    float al = r->alpha, lr = j->lr, *x = j->x;
    const float *grad = j->grad;
    if (!r->centered && !r->buf) { // the common case on its own, so that it vectorises (the same arithmetic)
        float *restrict sq = r->sq;
        for (size_t i = lo; i < hi; i++) {
            float g = grad[i] + r->weight_decay * x[i];
            float s = sq[i] = al * sq[i] + (1.0f - al) * g * g;
            x[i] -= lr * (g / (sqrtf(s) + r->eps));
        }
        return;
    }
    for (size_t i = lo; i < hi; i++) {
        float g = grad[i] + r->weight_decay * x[i];
        float s = r->sq[i] = al * r->sq[i] + (1.0f - al) * g * g;
        if (r->centered) {
            float a = r->avg[i] = al * r->avg[i] + (1.0f - al) * g;
            s -= a * a;
        }
        float step = g / (sqrtf(s) + r->eps);
        if (r->buf) step = r->buf[i] = r->momentum * r->buf[i] + step;
        x[i] -= lr * step;
    }
}

static void rmsprop_step(Optimizer *o, float *x, const float *grad, size_t n, const ParamView *views, int nviews,
                         float lr) {
    (void)views, (void)nviews;
    RmsProp *r = (RmsProp *)o;
    rmsprop_alloc(r, n);
    RmsPropJob j = {r, x, grad, lr};
    nn_parallel_ranges(n, rmsprop_range, &j); // element-wise: the same bits on any thread count
}

static void rmsprop_free(Optimizer *o) {
    RmsProp *r = (RmsProp *)o;
    free(r->sq), free(r->avg), free(r->buf), free(r);
}

Optimizer *optim_rmsprop_create(const double *h) {
    RmsProp *r = nn_calloc(1, sizeof *r);
    r->base = (Optimizer){.name = "rmsprop", .step = rmsprop_step, .free = rmsprop_free, .state = rmsprop_state};
    r->alpha = (float)h[0], r->eps = (float)h[1], r->weight_decay = (float)h[2], r->momentum = (float)h[3];
    r->centered = h[4] != 0;
    return &r->base;
}
