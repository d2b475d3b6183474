#include "batchnorm.h"
#include "check.h"
#include "lanes.h"
#include "parallel.h"

#include <math.h>

// The reductions run over ~100k elements per channel (a batch of 128 at 32x32) several times per layer, so they
// must vectorise: without -ffast-math one float accumulator may not be reordered, so each keeps 8 independent
// ones (nn/lanes.h: vectors, so that they stay in registers), combined in double per plane.
static double plane_sum(const float *x, long n) {
    f32x8 acc = {0};
    long i = 0;
    for (; i + 8 <= n; i += 8) acc += lanes_load(x + i);
    double s = 0;
    for (; i < n; i++) s += x[i];
    for (int k = 0; k < 8; k++) s += acc[k];
    return s;
}

// sum (x - m)^2
static double plane_sumsq(const float *x, float m, long n) {
    f32x8 acc = {0};
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        f32x8 v = lanes_load(x + i) - m;
        acc += v * v;
    }
    double s = 0;
    for (; i < n; i++) s += ((double)x[i] - m) * ((double)x[i] - m);
    for (int k = 0; k < 8; k++) s += acc[k];
    return s;
}

// *sd += sum d,  *sdx += sum d (x - m)
static void plane_dots(double *sd, double *sdx, const float *d, const float *x, float m, long n) {
    f32x8 a = {0}, b = {0};
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        f32x8 di = lanes_load(d + i);
        a += di, b += di * (lanes_load(x + i) - m);
    }
    for (; i < n; i++) *sd += d[i], *sdx += (double)d[i] * ((double)x[i] - m);
    for (int k = 0; k < 8; k++) *sd += a[k], *sdx += b[k];
}

// plane_dots with d = dout where relu_out > 0, else 0. The select vectorises in a plain loop but not inside
// plane_dots' lanes, so it runs over blocks into a buffer that stays in L1.
static void plane_dots_masked(double *sd, double *sdx, const float *dout, const float *relu_out, const float *x,
                              float m, long n) {
    float d[512];
    for (long i0 = 0; i0 < n; i0 += 512) {
        long len = n - i0 < 512 ? n - i0 : 512;
        for (long i = 0; i < len; i++) d[i] = relu_out[i0 + i] > 0.0f ? dout[i0 + i] : 0.0f;
        plane_dots(sd, sdx, d, x + i0, m, len);
    }
}

void batchnorm_affine_plane(float *y, const float *x, const float *a, int relu, float scale, float shift, long n) {
    if (a) {
        if (relu)
            for (long i = 0; i < n; i++) {
                float v = x[i] * scale + shift + a[i];
                y[i] = v < 0.0f ? 0.0f : v;
            }
        else
            for (long i = 0; i < n; i++) y[i] = x[i] * scale + shift + a[i];
    } else if (relu)
        for (long i = 0; i < n; i++) {
            float v = x[i] * scale + shift;
            y[i] = v < 0.0f ? 0.0f : v;
        }
    else
        for (long i = 0; i < n; i++) y[i] = x[i] * scale + shift;
}

// out = x * scale + shift (+ add) (then max(., 0)) over the channel's N planes
static void affine(float *out, const float *inp, const float *add, int relu, float scale, float shift, int N, int C,
                   int c, long HW) {
    for (int n = 0; n < N; n++) {
        long o = ((long)n * C + c) * HW;
        batchnorm_affine_plane(out + o, inp + o, add ? add + o : NULL, relu, scale, shift, HW);
    }
}

// Channels are independent: every function splits them over threads when there is enough work per call (a thread
// start costs tens of microseconds; a channel of a batch of 128 at 8x8 is 8k elements).
#define MIN_PARALLEL_ELEMS (1L << 16)

static int threads_for(int threads, long n) { return n < MIN_PARALLEL_ELEMS ? 1 : threads; }

typedef struct {
    float *out, *mean, *rstd, *running_mean, *running_var, *dinp, *dweight, *dbias;
    const float *inp, *weight, *bias, *add, *dout, *relu_out;
    float momentum, eps;
    int relu, N, C, HW;
    int overwrite; // backward: dinp = 0 + ..., not dinp += ...
} BnJob;

static void forward_train_channels(void *ctx, long c0, long c1) {
    const BnJob *j = ctx;
    int N = j->N, C = j->C, HW = j->HW;
    long M = (long)N * HW;
    const float *inp = j->inp;
    for (int c = (int)c0; c < (int)c1; c++) {
        double s = 0, ss = 0;
        for (int n = 0; n < N; n++) s += plane_sum(inp + ((long)n * C + c) * HW, HW);
        double mu = s / (double)M;
        float mf = (float)mu;
        for (int n = 0; n < N; n++) ss += plane_sumsq(inp + ((long)n * C + c) * HW, mf, HW);
        // deviations were taken from the rounded mean: sum (x-mf)^2 = sum (x-mu)^2 + M (mu-mf)^2
        double var = ss / (double)M - (mu - mf) * (mu - mf);
        if (var < 0) var = 0;
        double r = 1.0 / sqrt(var + j->eps), scale = j->weight[c] * r;
        j->mean[c] = mf, j->rstd[c] = (float)r;
        affine(j->out, inp, j->add, j->relu, (float)scale, (float)(j->bias[c] - mu * scale), N, C, c, HW);
        double mom = j->momentum;
        j->running_mean[c] = (float)((1.0 - mom) * j->running_mean[c] + mom * mu);
        j->running_var[c] = (float)((1.0 - mom) * j->running_var[c] + mom * var * (double)M / (double)(M - 1));
    }
}

void batchnorm_forward_train(float *out, float *mean, float *rstd, float *running_mean, float *running_var,
                             const float *inp, const float *weight, const float *bias, float momentum, float eps,
                             int N, int C, int HW, const float *add, int relu, int threads) {
    long M = (long)N * HW;
    NN_CHECK(M > 1, "batchnorm: training needs more than one value per channel (N %d x HW %d)", N, HW);
    BnJob j = {.out = out, .mean = mean, .rstd = rstd, .running_mean = running_mean, .running_var = running_var,
               .inp = inp, .weight = weight, .bias = bias, .add = add, .momentum = momentum, .eps = eps,
               .relu = relu, .N = N, .C = C, .HW = HW};
    nn_parallel_for(threads_for(threads, M * C), C, forward_train_channels, &j);
}

// Evaluation's map of channel c: x * scale + shift
static void eval_affine(float *scale, float *shift, const float *weight, const float *bias, const float *running_mean,
                        const float *running_var, float eps, int c) {
    double sc = weight[c] / sqrt((double)running_var[c] + eps);
    *scale = (float)sc, *shift = (float)(bias[c] - running_mean[c] * sc);
}

void batchnorm_eval_affine(float *scale, float *shift, const float *weight, const float *bias,
                           const float *running_mean, const float *running_var, float eps, int C) {
    for (int c = 0; c < C; c++) eval_affine(scale + c, shift + c, weight, bias, running_mean, running_var, eps, c);
}

static void forward_eval_channels(void *ctx, long c0, long c1) {
    const BnJob *j = ctx;
    for (int c = (int)c0; c < (int)c1; c++) {
        float scale, shift;
        eval_affine(&scale, &shift, j->weight, j->bias, j->running_mean, j->running_var, j->eps, c);
        affine(j->out, j->inp, j->add, j->relu, scale, shift, j->N, j->C, c, j->HW);
    }
}

void batchnorm_forward_eval(float *out, const float *inp, const float *weight, const float *bias,
                            const float *running_mean, const float *running_var, float eps, int N, int C, int HW,
                            const float *add, int relu, int threads) {
    BnJob j = {.out = out, .inp = inp, .weight = weight, .bias = bias, .running_mean = (float *)running_mean,
               .running_var = (float *)running_var, .add = add, .eps = eps, .relu = relu, .N = N, .C = C, .HW = HW};
    nn_parallel_for(threads_for(threads, (long)N * HW * C), C, forward_eval_channels, &j);
}

// d = dout, or 0 where relu_out <= 0 (the gradient through a ReLU that followed the batchnorm's consumer)
static void backward_channels(void *ctx, long c0, long c1) {
    const BnJob *j = ctx;
    int N = j->N, C = j->C, HW = j->HW;
    long M = (long)N * HW;
    for (int c = (int)c0; c < (int)c1; c++) {
        double sd = 0, sdx = 0;
        float m = j->mean[c];
        for (int n = 0; n < N; n++) {
            long o = ((long)n * C + c) * HW;
            if (j->relu_out) plane_dots_masked(&sd, &sdx, j->dout + o, j->relu_out + o, j->inp + o, m, HW);
            else plane_dots(&sd, &sdx, j->dout + o, j->inp + o, m, HW);
        }
        double r = j->rstd[c], sdxhat = sdx * r; // sum dout * xhat
        j->dbias[c] += (float)sd;
        j->dweight[c] += (float)sdxhat;
        // dinp += a dout + b (x - mean) + k, with a = weight rstd, b = -a rstd sdxhat / M, k = -a sd / M
        double a = j->weight[c] * r;
        float fa = (float)a, fb = (float)(-a * r * sdxhat / (double)M), fk = (float)(-a * sd / (double)M);
        for (int n = 0; n < N; n++) {
            long o = ((long)n * C + c) * HW;
            const float *d = j->dout + o, *x = j->inp + o;
            float *dx = j->dinp + o;
            if (j->relu_out) {
                const float *ro = j->relu_out + o;
                if (j->overwrite) // 0 + v: the bits of v added to zeros (a -0 becomes +0)
                    for (long i = 0; i < HW; i++) {
                        float g = d[i];
                        dx[i] = 0.0f + (fa * (ro[i] > 0.0f ? g : 0.0f) + fb * (x[i] - m) + fk);
                    }
                else
                    for (long i = 0; i < HW; i++) {
                        float g = d[i];
                        dx[i] += fa * (ro[i] > 0.0f ? g : 0.0f) + fb * (x[i] - m) + fk;
                    }
            } else if (j->overwrite)
                for (long i = 0; i < HW; i++) dx[i] = 0.0f + (fa * d[i] + fb * (x[i] - m) + fk);
            else
                for (long i = 0; i < HW; i++) dx[i] += fa * d[i] + fb * (x[i] - m) + fk;
        }
    }
}

static void backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                     const float *mean, const float *rstd, const float *weight, int N, int C, int HW,
                     const float *relu_out, int threads, int overwrite) {
    BnJob j = {.dinp = dinp, .dweight = dweight, .dbias = dbias, .dout = dout, .inp = inp, .mean = (float *)mean,
               .rstd = (float *)rstd, .weight = weight, .relu_out = relu_out, .N = N, .C = C, .HW = HW,
               .overwrite = overwrite};
    nn_parallel_for(threads_for(threads, (long)N * HW * C), C, backward_channels, &j);
}

void batchnorm_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                        const float *mean, const float *rstd, const float *weight, int N, int C, int HW,
                        const float *relu_out, int threads) {
    backward(dinp, dweight, dbias, dout, inp, mean, rstd, weight, N, C, HW, relu_out, threads, 0);
}

void batchnorm_backward_into(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                             const float *mean, const float *rstd, const float *weight, int N, int C, int HW,
                             const float *relu_out, int threads) {
    backward(dinp, dweight, dbias, dout, inp, mean, rstd, weight, N, C, HW, relu_out, threads, 1);
}
