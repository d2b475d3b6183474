// Stochastic gradient descent with momentum, dampening, Nesterov and weight decay, as torch.optim.SGD (1.13):
//   g = grad + wd x;  b = g at the first step, else b = mu b + (1 - dampening) g;
//   d = nesterov ? g + mu b : b  (d = g without momentum);  x -= lr d.
// Heavy-ball momentum as the optimization literature writes it (m = beta m + g) is dampening 0.
#include "optimizer.h"
#include "nn/check.h"
#include "nn/parallel.h"

#include <stdlib.h>

typedef struct {
    Optimizer base;
    float momentum, dampening, weight_decay;
    int nesterov;
    float *buf; // [n] momentum buffer, allocated at the first step
} Sgd;

typedef struct {
    Sgd *s;
    float *x;
    const float *grad;
    size_t n;
    float grad_scale, lr;
    int first;
} SgdJob;

// The common momentum step on its own: the same arithmetic as the general loop, without selects. Inlined with
// sc = 1 the compiler drops the scaling (x * 1 is x): a longer chain per element keeps fewer iterations, and so
// fewer cache misses, in flight, and cost this memory-bound loop a quarter of its speed.
static inline void momentum_loop(float *x, float *buf, const float *grad, size_t lo, size_t hi, float mu, float damp,
                                 float wd, float lr, float sc) {
    for (size_t i = lo; i < hi; i++) {
        float g = grad[i] * sc; // in its own statement, so that no compiler fuses the scaling into the next one
        g += wd * x[i];
        float b = buf[i] = mu * buf[i] + damp * g;
        x[i] -= lr * b;
    }
}

// The update of elements [NN_FLAT_BLOCK begin, NN_FLAT_BLOCK end): element-wise, so the blocks may run on any thread.
static void sgd_blocks(void *ctx, long begin, long end) {
    const SgdJob *j = ctx;
    const Sgd *s = j->s;
    float mu = s->momentum, wd = s->weight_decay, damp = 1.0f - s->dampening, lr = j->lr, sc = j->grad_scale;
    size_t lo = (size_t)begin * NN_FLAT_BLOCK, hi = (size_t)end * NN_FLAT_BLOCK < j->n ? (size_t)end * NN_FLAT_BLOCK
                                                                                        : j->n;
    float *x = j->x, *buf = s->buf;
    const float *grad = j->grad;
    if (mu == 0.0f) {
        for (size_t i = lo; i < hi; i++) {
            float g = grad[i] * sc;
            x[i] -= lr * (g + wd * x[i]);
        }
    } else if (!j->first && !s->nesterov) {
        if (sc == 1.0f) momentum_loop(x, buf, grad, lo, hi, mu, damp, wd, lr, 1.0f);
        else momentum_loop(x, buf, grad, lo, hi, mu, damp, wd, lr, sc);
    } else {
        for (size_t i = lo; i < hi; i++) {
            float g = grad[i] * sc;
            g += wd * x[i];
            float b = j->first ? g : mu * buf[i] + damp * g;
            buf[i] = b;
            x[i] -= lr * (s->nesterov ? g + mu * b : b);
        }
    }
}

static void sgd_step_scaled(Optimizer *o, float *x, const float *grad, float grad_scale, size_t n,
                            const ParamView *views, int nviews, float lr) {
    (void)views, (void)nviews;
    Sgd *s = (Sgd *)o;
    int first = s->momentum != 0.0f && !s->buf;
    if (first) s->buf = nn_alloc_floats(n);
    SgdJob j = {s, x, grad, n, grad_scale, lr, first};
    nn_parallel_blocks(n, sgd_blocks, &j);
}

// x 1.0f is exact: the unscaled step is the scaled one
static void sgd_step(Optimizer *o, float *x, const float *grad, size_t n, const ParamView *views, int nviews,
                     float lr) {
    sgd_step_scaled(o, x, grad, 1.0f, n, views, nviews, lr);
}

static void sgd_free(Optimizer *o) {
    free(((Sgd *)o)->buf);
    free(o);
}

static int sgd_state(Optimizer *o, size_t n, int allocate, OptimStateItem *items) {
    Sgd *s = (Sgd *)o;
    if (s->momentum == 0.0f) return 0;
    if (allocate && !s->buf) s->buf = nn_alloc_floats(n);
    items[0] = (OptimStateItem){.name = "momentum_buffer", .vec = &s->buf};
    return 1;
}

Optimizer *optim_sgd_create(const double *h) {
    NN_CHECK(h[2] == 0 || (h[0] > 0 && h[1] == 0),
             "sgd nesterov=1 needs momentum > 0 and dampening=0 (as torch.optim.SGD)");
    Sgd *s = nn_calloc(1, sizeof *s);
    s->base = (Optimizer){.name = "sgd", .step = sgd_step, .free = sgd_free, .state = sgd_state,
                          .step_scaled = sgd_step_scaled};
    s->momentum = (float)h[0], s->dampening = (float)h[1], s->nesterov = h[2] != 0, s->weight_decay = (float)h[3];
    return &s->base;
}
