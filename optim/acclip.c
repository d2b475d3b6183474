// ACClip, coordinate-wise adaptive clipping (Zhang et al. 2020, "Why are adaptive methods good for attention
// models?", Algorithm 1):
//   g = grad + wd x;  m = b1 m + (1-b1) g;  tau^a = b2 tau^a + (1-b2) |g|^a;  x -= lr min(tau / (|m| + eps), 1) m
// The paper sets alpha = 1 by default; the authors' public PyTorch code defaults to alpha = 2, betas (0.9, 0.99),
// eps 1e-5 (its weight decay is added to g first, as here).
#include "optimizer.h"
#include "nn/check.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
    Optimizer base;
    float beta1, beta2, eps, alpha, weight_decay;
    float *m, *tau_a; // [n] each: momentum and tau^alpha, allocated at the first step
} AcClip;

static void acclip_step(Optimizer *o, float *x, const float *grad, size_t n, const ParamView *views, int nviews,
                        float lr) {
    (void)views, (void)nviews;
    AcClip *a = (AcClip *)o;
    if (!a->m) a->m = nn_alloc_floats(n), a->tau_a = nn_alloc_floats(n);
    float b1 = a->beta1, b2 = a->beta2, al = a->alpha;
    int abs_moment = al == 1.0f, square_moment = al == 2.0f; // the common cases without powf
    for (size_t i = 0; i < n; i++) {
        float g = grad[i] + a->weight_decay * x[i];
        float m = a->m[i] = b1 * a->m[i] + (1.0f - b1) * g;
        float ga = abs_moment ? fabsf(g) : square_moment ? g * g : powf(fabsf(g), al);
        float ta = a->tau_a[i] = b2 * a->tau_a[i] + (1.0f - b2) * ga;
        float tau = abs_moment ? ta : square_moment ? sqrtf(ta) : powf(ta, 1.0f / al);
        float scale = tau / (fabsf(m) + a->eps);
        x[i] -= lr * (scale < 1.0f ? scale : 1.0f) * m;
    }
}

static void acclip_free(Optimizer *o) {
    AcClip *a = (AcClip *)o;
    free(a->m), free(a->tau_a), free(a);
}

Optimizer *optim_acclip_create(const double *h) {
    AcClip *a = nn_calloc(1, sizeof *a);
    a->base = (Optimizer){"acclip", acclip_step, acclip_free};
    a->beta1 = (float)h[0], a->beta2 = (float)h[1], a->eps = (float)h[2], a->alpha = (float)h[3];
    a->weight_decay = (float)h[4];
    return &a->base;
}
