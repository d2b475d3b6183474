// The clipped-momentum family of Zhang, Jin, Fang & Wang (2020, "Improved analysis of clipping algorithms for
// non-convex optimization", NeurIPS), with their averaged momentum m = beta m + (1-beta) g (not PyTorch's
// m = mu m + g):
//   sgdclip, momclip: x -= h(||m||) m
//   mixclip:          x -= nu h(||m||) m + (1-nu) h(||g||) g
// with the factor h chosen by soft:
//   soft=0 (default): h(r) = min(lr, gamma / r), the hard clip of the paper's Algorithm 1 (the general clipping
//                     framework: nu = 0 is clipped SGD, nu = 1 momentum clipping, both terms hard);
//   soft=1:           h(r) = lr / (1 + lr r / gamma), which the authors' repository zbh2047/clipping-algorithms uses
//                     for MixClip.update and MomClip.update in algorithm.py (the hard one only in SGDClip.update);
//                     its issue #1 answers that the code is the "soft" version of the paper's Appendix F, found
//                     slightly better. The two factors are within a factor 2 of each other.
// momclip with soft=0 is therefore the same update as sgdclip (Algorithm 1 with nu = 1); sgdclip with beta=0 is
// the paper's clipped SGD (nu = 0). Norms are global, or per named tensor with per_layer=1.
#include "optimizer.h"
#include "clip.h"
#include "nn/lanes.h"
#include "nn/check.h"
#include "nn/parallel.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
    Optimizer base;
    float beta, gamma, nu;
    int per_layer, soft;
    float *m; // [n], allocated at the first step
} ClipMom;

// weight h(norm), the step applied to a vector of that norm; a zero vector takes lr (it moves nothing either way).
// The soft rule rounds weight lr to float first, as it always did, so soft=1 repeats earlier runs bit for bit.
static double weighted_step(const ClipMom *c, float weight, double norm, float lr) {
    if (c->soft) return weight * lr / (1 + lr * norm / c->gamma);
    return weight * (norm > 0 && c->gamma / norm < lr ? c->gamma / norm : lr);
}

static void update(ClipMom *c, float *x, const float *g, const float *m, size_t n, float lr) {
    float km = (float)weighted_step(c, c->nu, optim_l2_norm(m, n), lr);
    if (c->nu == 1) { // no gradient term: its norm is not needed, and 0 * an infinite g would be NaN
        for (size_t i = 0; i < n; i++) x[i] -= km * m[i];
        return;
    }
    float kg = (float)weighted_step(c, 1.0f - c->nu, optim_l2_norm(g, n), lr);
    for (size_t i = 0; i < n; i++) x[i] -= km * m[i] + kg * g[i];
}

static int clipmom_state(Optimizer *o, size_t n, int allocate, OptimStateItem *items) {
    ClipMom *c = (ClipMom *)o;
    if (allocate && !c->m) c->m = nn_alloc_floats(n);
    items[0] = (OptimStateItem){.name = "momentum", .vec = &c->m};
    return 1;
}

// The global norms, in one pass with the momentum update: per block of NN_FLAT_BLOCK, m is updated, then the block's
// sums of squares of m (and of g for mixclip) are taken while it is in cache; the blocks' sums are added in block
// order, as optim_l2_norm adds them, so the norms have the same bits as separate passes would give.
typedef struct {
    const ClipMom *c;
    const float *g;
    size_t n;
    double *mm, *gg; // per block; gg NULL when the update has no gradient term
} MomentumJob;

static void momentum_blocks(void *ctx, long begin, long end) {
    const MomentumJob *j = ctx;
    float beta = j->c->beta, *m = j->c->m;
    const float *g = j->g;
    for (long b = begin; b < end; b++) {
        size_t lo = (size_t)b * NN_FLAT_BLOCK, hi = lo + NN_FLAT_BLOCK < j->n ? lo + NN_FLAT_BLOCK : j->n, i = lo;
        Lanes8d mm = lanes_zero(), gg = lanes_zero(); // optim_sum_squares's lanes, both sums in the one loop
        for (; i + 8 <= hi; i += 8) {
            f32x8 gi = lanes_load(g + i), mi = beta * lanes_load(m + i) + (1.0f - beta) * gi;
            lanes_store(m + i, mi);
            Lanes8d md = lanes_widen(mi), gd = lanes_widen(gi);
            lanes_add_product(&mm, md, md), lanes_add_product(&gg, gd, gd);
        }
        double msum = lanes_sum(0, mm), gsum = lanes_sum(0, gg);
        for (; i < hi; i++) {
            m[i] = beta * m[i] + (1.0f - beta) * g[i];
            msum += (double)m[i] * m[i], gsum += (double)g[i] * g[i];
        }
        j->mm[b] = msum;
        if (j->gg) j->gg[b] = gsum;
    }
}

typedef struct {
    float *x;
    const float *g, *m;
    size_t n;
    float km, kg; // kg = 0 and g unused when the update has no gradient term
} UpdateJob;

static void update_blocks(void *ctx, long begin, long end) {
    const UpdateJob *j = ctx;
    size_t lo = (size_t)begin * NN_FLAT_BLOCK, hi = (size_t)end * NN_FLAT_BLOCK;
    if (hi > j->n) hi = j->n;
    // locals: stores through x could otherwise alias the job's fields, and the loops would reload them
    float *restrict x = j->x, km = j->km, kg = j->kg;
    const float *restrict m = j->m, *restrict g = j->g;
    if (kg == 0)
        for (size_t i = lo; i < hi; i++) x[i] -= km * m[i];
    else
        for (size_t i = lo; i < hi; i++) x[i] -= km * m[i] + kg * g[i];
}

static void global_step(ClipMom *c, float *x, const float *grad, size_t n, float lr) {
    long blocks = (long)((n + NN_FLAT_BLOCK - 1) / NN_FLAT_BLOCK);
    double on_stack[2 * FLAT_PARTS_ON_STACK], *parts = blocks <= FLAT_PARTS_ON_STACK ? on_stack
                                                           : nn_malloc(2 * (size_t)blocks * sizeof(double));
    int with_g = c->nu != 1; // no gradient term: its norm is not needed, and 0 * an infinite g would be NaN
    MomentumJob mj = {c, grad, n, parts, with_g ? parts + blocks : NULL};
    nn_parallel_blocks(n, momentum_blocks, &mj);
    double mm = 0, gg = 0;
    for (long b = 0; b < blocks; b++) mm += parts[b], gg += with_g ? parts[blocks + b] : 0;
    if (parts != on_stack) free(parts);
    UpdateJob uj = {x, grad, c->m, n, (float)weighted_step(c, c->nu, sqrt(mm), lr), 0};
    if (with_g) uj.kg = (float)weighted_step(c, 1.0f - c->nu, sqrt(gg), lr);
    nn_parallel_blocks(n, update_blocks, &uj);
}

static void clipmom_step(Optimizer *o, float *x, const float *grad, size_t n, const ParamView *views, int nviews,
                         float lr) {
    ClipMom *c = (ClipMom *)o;
    if (!c->m) c->m = nn_alloc_floats(n);
    if (!c->per_layer) {
        global_step(c, x, grad, n, lr);
        return;
    }
    for (size_t i = 0; i < n; i++) c->m[i] = c->beta * c->m[i] + (1.0f - c->beta) * grad[i];
    NN_CHECK(views && nviews > 0, "%s per_layer=1 needs the list of named tensors", o->name);
    for (int k = 0; k < nviews; k++) {
        size_t off = views[k].offset;
        update(c, x + off, grad + off, c->m + off, views[k].size, lr);
    }
}

static void clipmom_free(Optimizer *o) {
    free(((ClipMom *)o)->m);
    free(o);
}

static Optimizer *create(const char *name, float beta, float gamma, float nu, int per_layer, int soft) {
    NN_CHECK(gamma > 0, "%s gamma=%g: accepted (0, inf)", name, gamma);
    ClipMom *c = nn_calloc(1, sizeof *c);
    c->base = (Optimizer){.name = name, .step = clipmom_step, .free = clipmom_free, .state = clipmom_state};
    c->beta = beta, c->gamma = gamma, c->nu = nu, c->per_layer = per_layer, c->soft = soft;
    return &c->base;
}

// hyper-parameters: sgdclip, momclip (beta, gamma, per_layer, soft); mixclip (beta, gamma, nu, per_layer, soft)
Optimizer *optim_sgdclip_create(const double *h) {
    return create("sgdclip", (float)h[0], (float)h[1], 1, h[2] != 0, h[3] != 0);
}
Optimizer *optim_momclip_create(const double *h) {
    return create("momclip", (float)h[0], (float)h[1], 1, h[2] != 0, h[3] != 0);
}
Optimizer *optim_mixclip_create(const double *h) {
    return create("mixclip", (float)h[0], (float)h[1], (float)h[2], h[3] != 0, h[4] != 0);
}
