// ACClip, coordinate-wise adaptive clipping (Zhang et al. 2020, "Why are adaptive methods good for attention
// models?", Algorithm 1):
//   g = grad + wd x;  m = b1 m + (1-b1) g;  tau^a = b2 tau^a + (1-b2) |g|^a;  x -= lr min(tau / (|m| + eps), 1) m
// The paper sets alpha = 1 by default; the authors' public PyTorch code defaults to alpha = 2, betas (0.9, 0.99),
// eps 1e-5 (its weight decay is added to g first, as here).
//
// bias_correction=0 (default) is Algorithm 1, which has none; nor has the PyTorch implementation
// rivercold/ACClip-Pytorch (optimizers/ACClip.py). Ports differ. bias_correction=1 corrects both moments as Adam does
// (Kingma & Ba 2015, Algorithm 1) at step t = 1, 2, ...:  m^ = m / (1-b1^t),  tau^a^ = tau^a / (1-b2^t); the step
// then uses m^ and tau^ in place of m and tau, eps added after the correction as Adam adds it. Why it matters:
// uncorrected, the first steps are clipped hard, m_1 = (1-b1) g against tau_1 = (1-b2)^(1/a) |g| (a factor 0.1 at
// the defaults).
#include "optimizer.h"
#include "nn/check.h"
#include "nn/parallel.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
    Optimizer base;
    float beta1, beta2, eps, alpha, weight_decay;
    int bias_correction;
    long t;           // steps taken; state only with bias_correction (it changes nothing without)
    float *m, *tau_a; // [n] each: momentum and tau^alpha, allocated at the first step
} AcClip;

// One loop per moment order, each free of branches and with restrict arrays, so alpha = 1 and 2 vectorise.
// bc1 = 1/(1-b1^t) and bc2_root = (1/(1-b2^t))^(1/alpha) are this step's corrections (1 and 1 without them: exact).
#define ACCLIP_LOOP(MOMENT, ROOT)                                                                                     \
    for (size_t i = 0; i < n; i++) {                                                                                \
        float g = grad[i] + wd * x[i];                                                                              \
        float mi = m[i] = b1 * m[i] + (1.0f - b1) * g;                                                              \
        float ta = tau_a[i] = b2 * tau_a[i] + (1.0f - b2) * (MOMENT);                                               \
        float mhat = bc1 * mi;                                                                                      \
        float scale = bc2_root * (ROOT) / (fabsf(mhat) + eps);                                                      \
        x[i] -= lr * (scale < 1.0f ? scale : 1.0f) * mhat;                                                          \
    }

static void acclip_kernel(float *restrict x, const float *restrict grad, float *restrict m, float *restrict tau_a,
                          size_t n, float b1, float b2, float eps, float alpha, float wd, float lr, float bc1,
                          float bc2_root) {
    if (alpha == 1.0f) ACCLIP_LOOP(fabsf(g), ta)
    else if (alpha == 2.0f) ACCLIP_LOOP(g * g, sqrtf(ta))
    else ACCLIP_LOOP(powf(fabsf(g), alpha), powf(ta, 1.0f / alpha))
}

static void acclip_alloc(AcClip *a, size_t n) {
    if (!a->m) a->m = nn_alloc_floats(n), a->tau_a = nn_alloc_floats(n);
}

static int acclip_state(Optimizer *o, size_t n, int allocate, OptimStateItem *items) {
    AcClip *a = (AcClip *)o;
    if (allocate) acclip_alloc(a, n);
    items[0] = (OptimStateItem){.name = "exp_avg", .vec = &a->m};
    items[1] = (OptimStateItem){.name = "tau_alpha", .vec = &a->tau_a};
    if (!a->bias_correction) return 2; // checkpoints written before the option existed still load
    items[2] = (OptimStateItem){.name = "step", .count = &a->t};
    return 3;
}

typedef struct {
    const AcClip *a;
    float *x;
    const float *grad;
    float lr, bc1, bc2_root;
} AcClipJob;

static void acclip_range(void *ctx, size_t lo, size_t hi) {
    const AcClipJob *j = ctx;
    const AcClip *a = j->a;
    acclip_kernel(j->x + lo, j->grad + lo, a->m + lo, a->tau_a + lo, hi - lo, a->beta1, a->beta2, a->eps, a->alpha,
                  a->weight_decay, j->lr, j->bc1, j->bc2_root);
}

static void acclip_step(Optimizer *o, float *x, const float *grad, size_t n, const ParamView *views, int nviews,
                        float lr) {
    (void)views, (void)nviews;
    AcClip *a = (AcClip *)o;
    acclip_alloc(a, n);
    a->t++;
    float bc1 = 1.0f, bc2_root = 1.0f;
    if (a->bias_correction) {
        bc1 = (float)(1.0 / (1.0 - pow(a->beta1, (double)a->t)));
        bc2_root = (float)pow(1.0 / (1.0 - pow(a->beta2, (double)a->t)), 1.0 / a->alpha);
    }
    AcClipJob j = {a, x, grad, lr, bc1, bc2_root};
    nn_parallel_ranges(n, acclip_range, &j); // element-wise: the same bits on any thread count
}

static void acclip_free(Optimizer *o) {
    AcClip *a = (AcClip *)o;
    free(a->m), free(a->tau_a), free(a);
}

Optimizer *optim_acclip_create(const double *h) {
    AcClip *a = nn_calloc(1, sizeof *a);
    a->base = (Optimizer){.name = "acclip", .step = acclip_step, .free = acclip_free, .state = acclip_state};
    a->beta1 = (float)h[0], a->beta2 = (float)h[1], a->eps = (float)h[2], a->alpha = (float)h[3];
    a->weight_decay = (float)h[4], a->bias_correction = h[5] != 0;
    return &a->base;
}
