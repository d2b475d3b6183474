// Plain stochastic gradient descent: x -= lr * g. (Momentum, dampening, Nesterov and weight decay as in
// torch.optim.SGD come with the optimizer issue.)
#include "optimizer.h"
#include "nn/check.h"

#include <stdlib.h>

static void sgd_step(Optimizer *o, float *param, const float *grad, size_t n, const ParamView *views, int nviews,
                     float lr) {
    (void)o, (void)views, (void)nviews;
    for (size_t i = 0; i < n; i++) param[i] -= lr * grad[i];
}

static void sgd_free(Optimizer *o) { free(o); }

Optimizer *optim_sgd_create(void) {
    Optimizer *o = nn_calloc(1, sizeof *o);
    o->name = "sgd";
    o->step = sgd_step;
    o->free = sgd_free;
    return o;
}
