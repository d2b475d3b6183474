// Noisy (perturbed) gradient descent: fresh noise is added to the gradient at every step, unconditionally,
//   x -= lr (g + xi),  xi uniform in the ball of radius r (noise=0) or Gaussian N(0, r^2/d I) (noise=1),
// d = number of parameters, from a seeded RNG. This is the scheme of Ge, Huang, Jin & Yuan (2015, "Escaping from
// saddle points -- online stochastic gradient for tensor decomposition", noisy SGD: w -= eta (SG(w) + n) every step,
// n uniform on the unit sphere there). It is not the perturbed gradient descent of Jin et al. (2017, "How to escape
// saddle points efficiently"), which is not implemented: that one perturbs only when the gradient is small
// (||g|| <= g_thres) and at most once every t_thres steps, and adds xi to the iterate x, not lr xi to the step; only
// its noise law, uniform in a ball of radius r, is the one used here with noise=0.
#include "optimizer.h"
#include "nn/check.h"
#include "nn/noise.h"
#include "nn/parallel.h"
#include "nn/rng.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
    Optimizer base;
    float radius;
    int gaussian;
    Rng rng; // per step: the noise's key (nn/noise.h), then the ball's radius draw
} Perturbed;

static int perturbed_state(Optimizer *o, size_t n, int allocate, OptimStateItem *items) {
    (void)n, (void)allocate;
    Perturbed *p = (Perturbed *)o;
    // "noise_keys": a checkpoint written with an earlier noise ("rng": Box-Muller in libm; "noise_rng": one
    // xoshiro stream for radii and angles, Cephes' polynomials) is refused by name instead of resuming with other
    // noise
    items[0] = (OptimStateItem){.name = "noise_keys", .words = p->rng.s, .nwords = 4};
    return 1;
}

typedef struct {
    float *x;
    const float *g;
    size_t n;
    uint64_t key;
    float lr, k;
    double *part; // the norm pass: each block's sum of squares
} NoiseJob;

static size_t block_len(const NoiseJob *j, long b) {
    size_t lo = (size_t)b * NN_FLAT_BLOCK;
    return j->n - lo < NN_FLAT_BLOCK ? j->n - lo : NN_FLAT_BLOCK;
}

static void norm_blocks(void *ctx, long begin, long end) {
    NoiseJob *j = ctx;
    for (long b = begin; b < end; b++) j->part[b] = noise_sum_squares(j->key, (uint64_t)b, block_len(j, b));
}

// x -= lr (g + k z), the noise made in registers as the pass goes: never stored
static void update_blocks(void *ctx, long begin, long end) {
    const NoiseJob *j = ctx;
    for (long b = begin; b < end; b++) {
        NoiseStream st;
        noise_start(&st, j->key, (uint64_t)b);
        size_t lo = (size_t)b * NN_FLAT_BLOCK;
        noise_descend(&st, j->x + lo, j->g + lo, block_len(j, b), j->lr, j->k);
    }
}

static void perturbed_step(Optimizer *o, float *x, const float *grad, size_t n, const ParamView *views, int nviews,
                           float lr) {
    (void)views, (void)nviews;
    Perturbed *p = (Perturbed *)o;
    NoiseJob j = {x, grad, n, rng_next(&p->rng), lr, 0, NULL};
    // Gaussian: sd r/sqrt(d). Ball: a uniform direction (normalised Gaussian) times r U^(1/d); the norm takes a
    // pass of its own over the radii before the update.
    if (p->gaussian) {
        j.k = (float)(p->radius / sqrt((double)n));
    } else {
        long blocks = (long)((n + NN_FLAT_BLOCK - 1) / NN_FLAT_BLOCK);
        double on_stack[FLAT_PARTS_ON_STACK], sq = 0;
        j.part = blocks <= FLAT_PARTS_ON_STACK ? on_stack : nn_malloc((size_t)blocks * sizeof(double));
        nn_parallel_blocks(n, norm_blocks, &j);
        for (long b = 0; b < blocks; b++) sq += j.part[b]; // in block order: the same bits on any thread count
        if (j.part != on_stack) free(j.part);
        j.k = (float)(p->radius * pow((double)rng_uniform(&p->rng), 1.0 / (double)n) / (sq > 0 ? sqrt(sq) : 1));
    }
    nn_parallel_blocks(n, update_blocks, &j);
}

static void perturbed_free(Optimizer *o) { free(o); }

Optimizer *optim_perturbed_create(const double *h) {
    Perturbed *p = nn_calloc(1, sizeof *p);
    p->base =
        (Optimizer){.name = "perturbed", .step = perturbed_step, .free = perturbed_free, .state = perturbed_state};
    p->radius = (float)h[0], p->gaussian = h[1] != 0;
    rng_seed(&p->rng, (uint64_t)h[2]);
    return &p->base;
}
