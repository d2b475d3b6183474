#include "batchnorm.h"
#include "check.h"

#include <math.h>

// The reductions run over ~100k elements per channel (a batch of 128 at 32x32) several times per layer, so they
// must vectorise: without -ffast-math one float accumulator may not be reordered, so each keeps LANES independent
// ones (gcc and clang turn them into vector adds), combined in double per plane.
#define LANES 8

static double plane_sum(const float *x, long n) {
    float acc[LANES] = {0};
    long i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int k = 0; k < LANES; k++) acc[k] += x[i + k];
    double s = 0;
    for (; i < n; i++) s += x[i];
    for (int k = 0; k < LANES; k++) s += acc[k];
    return s;
}

// sum (x - m)^2
static double plane_sumsq(const float *x, float m, long n) {
    float acc[LANES] = {0};
    long i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int k = 0; k < LANES; k++) acc[k] += (x[i + k] - m) * (x[i + k] - m);
    double s = 0;
    for (; i < n; i++) s += ((double)x[i] - m) * ((double)x[i] - m);
    for (int k = 0; k < LANES; k++) s += acc[k];
    return s;
}

// *sd += sum d,  *sdx += sum d (x - m)
static void plane_dots(double *sd, double *sdx, const float *d, const float *x, float m, long n) {
    float a[LANES] = {0}, b[LANES] = {0};
    long i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int k = 0; k < LANES; k++) a[k] += d[i + k], b[k] += d[i + k] * (x[i + k] - m);
    for (; i < n; i++) *sd += d[i], *sdx += (double)d[i] * ((double)x[i] - m);
    for (int k = 0; k < LANES; k++) *sd += a[k], *sdx += b[k];
}

// out = x * scale + shift over the channel's N planes
static void affine(float *out, const float *inp, float scale, float shift, int N, int C, int c, long HW) {
    for (int n = 0; n < N; n++) {
        const float *x = inp + ((long)n * C + c) * HW;
        float *y = out + ((long)n * C + c) * HW;
        for (long i = 0; i < HW; i++) y[i] = x[i] * scale + shift;
    }
}

void batchnorm_forward_train(float *out, float *mean, float *rstd, float *running_mean, float *running_var,
                             const float *inp, const float *weight, const float *bias, float momentum, float eps,
                             int N, int C, int HW) {
    long M = (long)N * HW;
    NN_CHECK(M > 1, "batchnorm: training needs more than one value per channel (N %d x HW %d)", N, HW);
    for (int c = 0; c < C; c++) {
        double s = 0, ss = 0;
        for (int n = 0; n < N; n++) s += plane_sum(inp + ((long)n * C + c) * HW, HW);
        double mu = s / (double)M;
        float mf = (float)mu;
        for (int n = 0; n < N; n++) ss += plane_sumsq(inp + ((long)n * C + c) * HW, mf, HW);
        // deviations were taken from the rounded mean: sum (x-mf)^2 = sum (x-mu)^2 + M (mu-mf)^2
        double var = ss / (double)M - (mu - mf) * (mu - mf);
        if (var < 0) var = 0;
        double r = 1.0 / sqrt(var + eps), scale = weight[c] * r;
        mean[c] = mf, rstd[c] = (float)r;
        affine(out, inp, (float)scale, (float)(bias[c] - mu * scale), N, C, c, HW);
        running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * mu);
        running_var[c] = (float)((1.0 - momentum) * running_var[c] + momentum * var * (double)M / (double)(M - 1));
    }
}

void batchnorm_forward_eval(float *out, const float *inp, const float *weight, const float *bias,
                            const float *running_mean, const float *running_var, float eps, int N, int C, int HW) {
    for (int c = 0; c < C; c++) {
        double scale = weight[c] / sqrt((double)running_var[c] + eps);
        affine(out, inp, (float)scale, (float)(bias[c] - running_mean[c] * scale), N, C, c, HW);
    }
}

void batchnorm_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                        const float *mean, const float *rstd, const float *weight, int N, int C, int HW) {
    long M = (long)N * HW;
    for (int c = 0; c < C; c++) {
        double sd = 0, sdx = 0;
        float m = mean[c];
        for (int n = 0; n < N; n++) {
            long o = ((long)n * C + c) * HW;
            plane_dots(&sd, &sdx, dout + o, inp + o, m, HW);
        }
        double r = rstd[c], sdxhat = sdx * r; // sum dout * xhat
        dbias[c] += (float)sd;
        dweight[c] += (float)sdxhat;
        // dinp += a dout + b (x - mean) + k, with a = weight rstd, b = -a rstd sdxhat / M, k = -a sd / M
        double a = weight[c] * r;
        float fa = (float)a, fb = (float)(-a * r * sdxhat / (double)M), fk = (float)(-a * sd / (double)M);
        for (int n = 0; n < N; n++) {
            long o = ((long)n * C + c) * HW;
            const float *d = dout + o, *x = inp + o;
            float *dx = dinp + o;
            for (long i = 0; i < HW; i++) dx[i] += fa * d[i] + fb * (x[i] - m) + fk;
        }
    }
}
