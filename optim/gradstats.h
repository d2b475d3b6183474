// Online gradient statistics, a few passes over the flat vectors per step: the cosine between this batch gradient
// and the previous one, and between this gradient and the update the optimizer made (x_before - x_after); and from
// them, at no further cost, the gradient noise scale by McCandlish et al.'s (2018, Appendix A.1) two-batch-size
// estimator. Its two batches are consecutive steps' gradients g_{t-1}, g_t of B examples each, whose mean is a batch
// of 2B; E ||g_B||^2 = ||G||^2 + tr(Sigma) / B at the two sizes gives
//     ||G||^2 ~ <g_t, g_{t-1}>,   tr(Sigma) ~ (B / 2) ||g_t - g_{t-1}||^2,
// each averaged over steps by an exponential moving average (decay NOISE_EMA), and B_simple ~ EMA(tr) / EMA(||G||^2).
// Its biases: (1) the two gradients are taken at x_{t-1} and x_t, so <g_t, g_{t-1}> estimates
// <grad f(x_t), grad f(x_{t-1})>, less than ||G||^2 by about ||grad f(x_t) - grad f(x_{t-1})||^2 / 2, and the trace
// gains B/2 times that drift: B_simple reads high when steps are long; (2) a ratio of averages is not the average of
// ratios (small when the averages are over many steps); (3) consecutive batches must be independent: the LM's
// streams continue from one step to the next, so its consecutive gradients are positively correlated, ||G||^2 reads
// high and the trace low, and B_simple low. The exact statistics (optim/exactstats.h) measure it without these.
#ifndef OPTIM_GRADSTATS_H
#define OPTIM_GRADSTATS_H

#include <stddef.h>

typedef struct {
    size_t n;
    float *prev_grad; // [n] the previous step's (clipped) gradient
    float *x_before;  // [n] the parameters before the optimizer step
    int have_prev;
    int batch;        // B, in the examples a batch gradient averages (the LM's windows, images)
    double prev_norm; // ||g_{t-1}|| before clipping
    double ema_trace, ema_g2; // the moving averages of the noise-scale estimator (0 before the second step)
} GradStats;

#define NOISE_EMA 0.99

double optim_cosine(const float *a, const float *b, size_t n); // 0 when either vector is 0
void gradstats_init(GradStats *s, size_t n, int batch);
// Before the optimizer step: returns cos(g, previous g) (NaN at the first step) and keeps x and g.
double gradstats_before_step(GradStats *s, const float *grad, const float *x);
// After the step: returns cos(g, x_before - x_after), the cosine between the gradient and the update direction.
double gradstats_after_step(GradStats *s, const float *grad, const float *x);
// After before_step, with this step's gradient norm before clipping and the cosine it returned: updates the moving
// averages and returns B_simple (NaN at the first step, or while the averaged ||G||^2 is not positive). The cosine
// must be of the unclipped gradients: clipping by a global factor keeps it, per-tensor or per-value clipping not.
double gradstats_noise_scale(GradStats *s, double norm, double cos_prev);
void gradstats_free(GradStats *s);

#endif
