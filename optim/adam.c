// Adam (Kingma & Ba 2015) and AdamW (Loshchilov & Hutter 2019), as torch.optim.Adam / AdamW (1.13):
//   adam: g = grad + wd x;  adamw: x *= 1 - lr wd, g = grad
//   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  amsgrad: vmax = max(vmax, v), used in place of v
//   x -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
#include "optimizer.h"
#include "nn/check.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
    Optimizer base;
    float beta1, beta2, eps, weight_decay;
    int amsgrad, decoupled; // decoupled: AdamW's weight decay
    long t;
    float *m, *v, *vmax; // [n] each, allocated at the first step
} Adam;

static void adam_step(Optimizer *o, float *x, const float *grad, size_t n, const ParamView *views, int nviews,
                      float lr) {
    (void)views, (void)nviews;
    Adam *a = (Adam *)o;
    if (!a->m) {
        a->m = nn_alloc_floats(n), a->v = nn_alloc_floats(n);
        if (a->amsgrad) a->vmax = nn_alloc_floats(n);
    }
    a->t++;
    float b1 = a->beta1, b2 = a->beta2, eps = a->eps;
    float step = (float)(lr / (1.0 - pow(b1, (double)a->t)));
    float bc2_sqrt = (float)sqrt(1.0 - pow(b2, (double)a->t));
    float wd = a->decoupled ? 0.0f : a->weight_decay, shrink = a->decoupled ? 1.0f - lr * a->weight_decay : 1.0f;
    for (size_t i = 0; i < n; i++) {
        x[i] *= shrink;
        float g = grad[i] + wd * x[i];
        float m = a->m[i] = b1 * a->m[i] + (1.0f - b1) * g;
        float v = a->v[i] = b2 * a->v[i] + (1.0f - b2) * g * g;
        if (a->amsgrad) v = a->vmax[i] = v > a->vmax[i] ? v : a->vmax[i];
        x[i] -= step * m / (sqrtf(v) / bc2_sqrt + eps);
    }
}

static void adam_free(Optimizer *o) {
    Adam *a = (Adam *)o;
    free(a->m), free(a->v), free(a->vmax), free(a);
}

static Optimizer *create(const char *name, const double *h, int decoupled) {
    Adam *a = nn_calloc(1, sizeof *a);
    a->base = (Optimizer){name, adam_step, adam_free};
    a->beta1 = (float)h[0], a->beta2 = (float)h[1], a->eps = (float)h[2], a->weight_decay = (float)h[3];
    a->amsgrad = h[4] != 0, a->decoupled = decoupled;
    return &a->base;
}

Optimizer *optim_adam_create(const double *h) { return create("adam", h, 0); }
Optimizer *optim_adamw_create(const double *h) { return create("adamw", h, 1); }
