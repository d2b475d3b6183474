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
#include "nn/rng.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
    Optimizer base;
    float radius;
    int gaussian;
    Rng rng;
    float *xi; // [n] the noise of this step
} Perturbed;

static int perturbed_state(Optimizer *o, size_t n, int allocate, OptimStateItem *items) {
    (void)n, (void)allocate; // xi is this step's noise, not state
    Perturbed *p = (Perturbed *)o;
    items[0] = (OptimStateItem){.name = "rng", .words = p->rng.s, .nwords = 4};
    return 1;
}

static void perturbed_step(Optimizer *o, float *x, const float *grad, size_t n, const ParamView *views, int nviews,
                           float lr) {
    (void)views, (void)nviews;
    Perturbed *p = (Perturbed *)o;
    if (!p->xi) p->xi = nn_alloc_floats(n);
    double sq = 0;
    for (size_t i = 0; i < n; i++) {
        float z = p->xi[i] = rng_normal(&p->rng);
        sq += (double)z * z;
    }
    // Gaussian: sd r/sqrt(d). Ball: a uniform direction (normalised Gaussian) times r U^(1/d).
    double k = p->gaussian ? p->radius / sqrt((double)n)
                           : p->radius * pow((double)rng_uniform(&p->rng), 1.0 / (double)n) / (sq > 0 ? sqrt(sq) : 1);
    for (size_t i = 0; i < n; i++) x[i] -= lr * (grad[i] + (float)k * p->xi[i]);
}

static void perturbed_free(Optimizer *o) {
    free(((Perturbed *)o)->xi);
    free(o);
}

Optimizer *optim_perturbed_create(const double *h) {
    Perturbed *p = nn_calloc(1, sizeof *p);
    p->base =
        (Optimizer){.name = "perturbed", .step = perturbed_step, .free = perturbed_free, .state = perturbed_state};
    p->radius = (float)h[0], p->gaussian = h[1] != 0;
    rng_seed(&p->rng, (uint64_t)h[2]);
    return &p->base;
}
