#include "clip.h"
#include "nn/lanes.h"
#include "nn/check.h"
#include "nn/parallel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// Sum of squares of one block in 8 double lanes (nn/lanes.h). A float's square is exact in double, so a compiler
// that fuses the multiply and the add gets the same sums.
double optim_sum_squares(const float *x, size_t n) {
    Lanes8d s = lanes_zero();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        Lanes8d v = lanes_widen(lanes_load(x + i));
        lanes_add_product(&s, v, v);
    }
    double sum = lanes_sum(0, s);
    for (; i < n; i++) sum += (double)x[i] * x[i];
    return sum;
}

typedef struct {
    float *x;
    size_t n;
    double *part; // norm: each block's sum of squares
    float factor; // scale
} FlatJob;

static size_t block_end(const FlatJob *j, long b) {
    size_t e = (size_t)(b + 1) * NN_FLAT_BLOCK;
    return e < j->n ? e : j->n;
}

static void norm_blocks(void *ctx, long begin, long end) {
    FlatJob *j = ctx;
    for (long b = begin; b < end; b++) {
        size_t lo = (size_t)b * NN_FLAT_BLOCK;
        j->part[b] = optim_sum_squares(j->x + lo, block_end(j, b) - lo);
    }
}

// The blocks' sums are added in block order, so the norm has the same bits on any number of threads.
double optim_l2_norm(const float *x, size_t n) {
    long blocks = (long)((n + NN_FLAT_BLOCK - 1) / NN_FLAT_BLOCK);
    if (blocks <= 1) return sqrt(optim_sum_squares(x, n));
    double on_stack[FLAT_PARTS_ON_STACK]; // no allocation per step up to 67M parameters
    FlatJob j = {(float *)x, n, blocks <= FLAT_PARTS_ON_STACK ? on_stack : nn_malloc((size_t)blocks * sizeof(double)),
                 0};
    nn_parallel_blocks(n, norm_blocks, &j);
    double sum = 0;
    for (long b = 0; b < blocks; b++) sum += j.part[b];
    if (j.part != on_stack) free(j.part);
    return sqrt(sum);
}

static void scale_blocks(void *ctx, long begin, long end) {
    FlatJob *j = ctx;
    for (size_t i = (size_t)begin * NN_FLAT_BLOCK, e = block_end(j, end - 1); i < e; i++) j->x[i] *= j->factor;
}

static void scale(float *g, size_t n, float f) {
    FlatJob j = {g, n, NULL, f};
    nn_parallel_blocks(n, scale_blocks, &j);
}

float optim_clip_factor(ClipMode mode, const float *g, size_t n, float eta, double *norm) {
    NN_CHECK(mode == CLIP_NORM || mode == CLIP_NORM_TORCH, "optim_clip_factor: a global-norm mode only");
    double nrm = optim_l2_norm(g, n);
    if (norm) *norm = nrm;
    if (!(eta > 0.0f)) return 1.0f;
    if (mode == CLIP_NORM) return nrm <= eta ? 1.0f : (float)(eta / nrm);
    if (nrm == 0.0) return 1.0f;
    double coef = eta / (nrm + 1e-6); // as torch 1.13: scales only when coef < 1
    return coef >= 1.0 ? 1.0f : (float)coef;
}

float optim_clip_global_norm(float *g, size_t n, float max_norm, double *norm) {
    float factor = optim_clip_factor(CLIP_NORM, g, n, max_norm, norm);
    if (factor != 1.0f) scale(g, n, factor);
    return factor;
}

float optim_clip(ClipMode mode, float *g, size_t n, const ParamView *views, int nviews, float eta, double *norm) {
    if (mode == CLIP_NORM || mode == CLIP_NORM_TORCH) {
        float factor = optim_clip_factor(mode, g, n, eta, norm);
        if (factor != 1.0f) scale(g, n, factor);
        return factor;
    }
    double before = optim_l2_norm(g, n);
    if (norm) *norm = before;
    if (!(eta > 0.0f) || before == 0.0) return 1.0f;
    switch (mode) {
    case CLIP_TENSOR:
        NN_CHECK(views && nviews > 0, "per-tensor clipping needs the list of named tensors");
        for (int v = 0; v < nviews; v++) optim_clip_global_norm(g + views[v].offset, views[v].size, eta, NULL);
        break;
    case CLIP_VALUE:
        for (size_t i = 0; i < n; i++) g[i] = g[i] > eta ? eta : g[i] < -eta ? -eta : g[i];
        break;
    default: break;
    }
    return (float)(optim_l2_norm(g, n) / before);
}

ClipMode optim_clip_mode(const char *name) {
    static const char *const names[] = {"norm", "torch", "tensor", "value"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0) return (ClipMode)i;
    NN_FATAL("--clip-mode '%s': accepted norm (global L2 norm), torch (clip_grad_norm_'s eta/(norm+1e-6)), tensor "
             "(per named tensor), value (element-wise)", name);
}
