// LAMB (You et al. 2019, "Large batch optimization for deep learning", Algorithm 2), per named tensor (view):
//   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  r = (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
//   u = r + wd x;  x -= lr * (||x|| / ||u||) * u   with phi = identity; the trust ratio is 1 when a norm is 0.
#include "optimizer.h"
#include "nn/lanes.h"
#include "nn/check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    Optimizer base;
    float beta1, beta2, eps, weight_decay;
    long t;
    float *m, *v, *u; // [n] each, allocated at the first step
} Lamb;

static void lamb_alloc(Lamb *a, size_t n) {
    if (!a->m) a->m = nn_alloc_floats(n), a->v = nn_alloc_floats(n), a->u = nn_alloc_floats(n);
}

static int lamb_state(Optimizer *o, size_t n, int allocate, OptimStateItem *items) {
    Lamb *a = (Lamb *)o;
    if (allocate) lamb_alloc(a, n);
    items[0] = (OptimStateItem){.name = "step", .count = &a->t};
    items[1] = (OptimStateItem){.name = "exp_avg", .vec = &a->m};
    items[2] = (OptimStateItem){.name = "exp_avg_sq", .vec = &a->v};
    return 3; // u is this step's direction, not state
}

// The direction pass's width: its divisions and root are its cost, and one 16-wide instruction does twice the work
// of an 8-wide one where the CPU has 512-bit vectors (a 64-byte vector type elsewhere is split badly by gcc).
#if defined(__AVX512F__)
#define LAMB_WIDTH 16
#else
#define LAMB_WIDTH 8
#endif
typedef float lamb_vec __attribute__((vector_size(4 * LAMB_WIDTH)));

// m, v and the direction u of one tensor, and the squared norms of x and u: in 8 interleaved double sums added at
// the end (nn/lanes.h, the order the arrays' loop had), with restrict pointers (the arrays never overlap).
static void lamb_direction(const Lamb *a, size_t len, const float *restrict g, const float *restrict x,
                           float *restrict m, float *restrict v, float *restrict u, float bc1, float bc2, double *xx,
                           double *uu) {
    float b1 = a->beta1, b2 = a->beta2, eps = a->eps, wd = a->weight_decay;
    Lanes8d xs = lanes_zero(), us = xs;
    size_t i = 0;
    for (; i + LAMB_WIDTH <= len; i += LAMB_WIDTH) {
        lamb_vec gi, xi, mi, vi;
        memcpy(&gi, g + i, sizeof gi), memcpy(&xi, x + i, sizeof xi), memcpy(&mi, m + i, sizeof mi);
        memcpy(&vi, v + i, sizeof vi);
        mi = b1 * mi + (1.0f - b1) * gi;
        vi = b2 * vi + (1.0f - b2) * gi * gi;
        lamb_vec root = vi / bc2;
        for (int l = 0; l < LAMB_WIDTH; l++) root[l] = sqrtf(root[l]);
        lamb_vec ui = (mi / bc1) / (root + eps) + wd * xi;
        memcpy(m + i, &mi, sizeof mi), memcpy(v + i, &vi, sizeof vi), memcpy(u + i, &ui, sizeof ui);
        for (int h = 0; h < LAMB_WIDTH; h += 8) { // the sums 8 at a time, in order
            Lanes8d xd = lanes_widen(lanes_load(x + i + h)), ud = lanes_widen(lanes_load(u + i + h));
            lanes_add_product(&xs, xd, xd), lanes_add_product(&us, ud, ud); // exact squares: fused or not, the same
        }
    }
    // the rest one at a time: a last whole 8 into its lanes, the tail after it into lane 0, as it always was
    for (size_t whole = len / 8 * 8; i < len; i++) {
        m[i] = b1 * m[i] + (1.0f - b1) * g[i];
        v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
        u[i] = (m[i] / bc1) / (sqrtf(v[i] / bc2) + eps) + wd * x[i];
        int lane = i < whole ? (int)(i % 8) : 0;
        lanes_add_at(&xs, lane, (double)x[i] * x[i]), lanes_add_at(&us, lane, (double)u[i] * u[i]);
    }
    *xx = lanes_sum(0, xs), *uu = lanes_sum(0, us);
}

static void lamb_step(Optimizer *o, float *x, const float *grad, size_t n, const ParamView *views, int nviews,
                      float lr) {
    Lamb *a = (Lamb *)o;
    NN_CHECK(views && nviews > 0, "lamb needs the list of named tensors (its trust ratio is per tensor)");
    lamb_alloc(a, n);
    a->t++;
    float b1 = a->beta1, b2 = a->beta2;
    float bc1 = (float)(1.0 - pow(b1, (double)a->t)), bc2 = (float)(1.0 - pow(b2, (double)a->t));
    for (int k = 0; k < nviews; k++) {
        size_t off = views[k].offset, len = views[k].size;
        double xx, uu;
        lamb_direction(a, len, grad + off, x + off, a->m + off, a->v + off, a->u + off, bc1, bc2, &xx, &uu);
        float trust = xx > 0 && uu > 0 ? (float)(sqrt(xx) / sqrt(uu)) : 1.0f;
        for (size_t i = off; i < off + len; i++) x[i] -= lr * trust * a->u[i];
    }
}

static void lamb_free(Optimizer *o) {
    Lamb *a = (Lamb *)o;
    free(a->m), free(a->v), free(a->u), free(a);
}

Optimizer *optim_lamb_create(const double *h) {
    Lamb *a = nn_calloc(1, sizeof *a);
    a->base = (Optimizer){.name = "lamb", .step = lamb_step, .free = lamb_free, .state = lamb_state};
    a->beta1 = (float)h[0], a->beta2 = (float)h[1], a->eps = (float)h[2], a->weight_decay = (float)h[3];
    return &a->base;
}
