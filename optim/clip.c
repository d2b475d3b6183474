#include "clip.h"
#include "nn/check.h"
#include "nn/parallel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// Sum of squares of one block: 8 double lanes, vectorisable without reassociating a single accumulator.
double optim_sum_squares(const float *x, size_t n) {
    double s[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) s[k] += (double)x[i + k] * x[i + k];
    double sum = 0;
    for (int k = 0; k < 8; k++) sum += s[k];
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

float optim_clip_global_norm(float *g, size_t n, float max_norm, double *norm) {
    double nrm = optim_l2_norm(g, n);
    if (norm) *norm = nrm;
    if (!(max_norm > 0.0f) || nrm <= max_norm) return 1.0f;
    float factor = (float)(max_norm / nrm);
    scale(g, n, factor);
    return factor;
}

float optim_clip(ClipMode mode, float *g, size_t n, const ParamView *views, int nviews, float eta, double *norm) {
    if (mode == CLIP_NORM) return optim_clip_global_norm(g, n, eta, norm);
    double before = optim_l2_norm(g, n);
    if (norm) *norm = before;
    if (!(eta > 0.0f) || before == 0.0) return 1.0f;
    switch (mode) {
    case CLIP_NORM_TORCH: {
        double coef = eta / (before + 1e-6); // as torch 1.13: scales only when coef < 1
        if (coef >= 1.0) return 1.0f;
        scale(g, n, (float)coef);
        return (float)coef;
    }
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
