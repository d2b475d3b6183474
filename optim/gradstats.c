#include "gradstats.h"
#include "nn/lanes.h"
#include "nn/check.h"
#include "nn/parallel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// Over one block: a.b, a.a and b.b, with b - c (in float) in place of b when c is given (the update x_before - x),
// in 8 double lanes kept in registers (nn/lanes.h; see optim_l2_norm), the tail in lane 0. The products of
// floats are exact in double, so fused or not they give the same sums.
static void block_sums(const float *a, const float *b, const float *c, size_t n, double out[3]) {
    Lanes8d ab = lanes_zero(), aa = ab, bb = ab;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        Lanes8d x = lanes_widen(lanes_load(a + i));
        Lanes8d y = lanes_widen(c ? lanes_load(b + i) - lanes_load(c + i) : lanes_load(b + i));
        lanes_add_product(&ab, x, y), lanes_add_product(&aa, x, x), lanes_add_product(&bb, y, y);
    }
    for (; i < n; i++) {
        double x = a[i], y = c ? b[i] - c[i] : b[i];
        lanes_add_at(&ab, 0, x * y), lanes_add_at(&aa, 0, x * x), lanes_add_at(&bb, 0, y * y);
    }
    out[0] = lanes_sum(0, ab), out[1] = lanes_sum(0, aa), out[2] = lanes_sum(0, bb);
}

// A pass over blocks of NN_FLAT_BLOCK elements on the threads: each block's sums (of a against b, or b - c), and
// optionally copies of two vectors made while the block is in cache.
typedef struct {
    const float *a, *b, *c;
    size_t n;
    double *part;           // [blocks][3]
    float *copy_a, *copy_x; // when set: copy_a = a, copy_x = x (before_step keeps g and x)
    const float *x;
} CosJob;

static void cos_blocks(void *ctx, long begin, long end) {
    const CosJob *j = ctx;
    for (long blk = begin; blk < end; blk++) {
        size_t lo = (size_t)blk * NN_FLAT_BLOCK, len = j->n - lo < NN_FLAT_BLOCK ? j->n - lo : NN_FLAT_BLOCK;
        if (j->b) block_sums(j->a + lo, j->b + lo, j->c ? j->c + lo : NULL, len, j->part + 3 * blk);
        if (j->copy_a) memcpy(j->copy_a + lo, j->a + lo, len * sizeof(float));
        if (j->copy_x) memcpy(j->copy_x + lo, j->x + lo, len * sizeof(float));
    }
}

// Runs the pass; the blocks' sums are added in block order, so the cosine has the same bits on any thread count.
static double run_cos(CosJob *j) {
    long blocks = (long)((j->n + NN_FLAT_BLOCK - 1) / NN_FLAT_BLOCK);
    double on_stack[3 * FLAT_PARTS_ON_STACK]; // no allocation per step up to 67M parameters
    j->part = blocks <= FLAT_PARTS_ON_STACK ? on_stack : nn_malloc((size_t)blocks * 3 * sizeof(double));
    nn_parallel_blocks(j->n, cos_blocks, j);
    double ab = 0, aa = 0, bb = 0;
    for (long b = 0; j->b && b < blocks; b++) ab += j->part[3 * b], aa += j->part[3 * b + 1], bb += j->part[3 * b + 2];
    if (j->part != on_stack) free(j->part);
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0.0;
}

double optim_cosine(const float *a, const float *b, size_t n) {
    CosJob j = {.a = a, .b = b, .n = n};
    return run_cos(&j);
}

void gradstats_init(GradStats *s, size_t n, int batch) {
    memset(s, 0, sizeof *s);
    s->n = n;
    s->batch = batch;
    s->prev_grad = nn_alloc_floats(n);
    s->x_before = nn_alloc_floats(n);
    s->have_prev = 0;
}

// One pass: the cosine with the previous gradient, then this gradient and x kept for the next step and the update.
double gradstats_before_step(GradStats *s, const float *grad, const float *x) {
    CosJob j = {.a = grad, .b = s->have_prev ? s->prev_grad : NULL, .n = s->n, .copy_a = s->prev_grad,
                .copy_x = s->x_before, .x = x};
    double c = run_cos(&j);
    c = s->have_prev ? c : NAN;
    s->have_prev = 1;
    return c;
}

// cos(g, x_before - x), the update computed on the fly.
double gradstats_after_step(GradStats *s, const float *grad, const float *x) {
    CosJob j = {.a = grad, .b = s->x_before, .c = x, .n = s->n};
    return run_cos(&j);
}

double gradstats_noise_scale(GradStats *s, double norm, double cos_prev) {
    double prev = s->prev_norm;
    s->prev_norm = norm;
    if (isnan(cos_prev) || isnan(prev)) return NAN; // the first step (or the first after an old checkpoint)
    double g2 = cos_prev * norm * prev, trace = 0.5 * s->batch * (norm * norm + prev * prev - 2 * g2);
    s->ema_g2 = NOISE_EMA * s->ema_g2 + (1 - NOISE_EMA) * g2;
    s->ema_trace = NOISE_EMA * s->ema_trace + (1 - NOISE_EMA) * trace;
    return s->ema_g2 > 0 ? s->ema_trace / s->ema_g2 : NAN;
}

void gradstats_free(GradStats *s) {
    free(s->prev_grad);
    free(s->x_before);
}
