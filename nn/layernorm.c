#include "layernorm.h"

#include <math.h>

// The statistics are summed in double: a row of a few hundred floats costs nothing next to the products around
// it, and the two-pass variance in double cannot go negative or lose the small spread of a large mean.
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *weight, const float *bias,
                       int N, int C) {
    for (int n = 0; n < N; n++) {
        const float *x = inp + (long)n * C;
        float *y = out + (long)n * C;
        double s = 0, ss = 0;
        for (int c = 0; c < C; c++) s += x[c];
        double mu = s / C;
        for (int c = 0; c < C; c++) ss += (x[c] - mu) * (x[c] - mu);
        float m = (float)mu, r = (float)(1.0 / sqrt(ss / C + (double)LAYERNORM_EPS));
        for (int c = 0; c < C; c++) y[c] = (x[c] - m) * r * weight[c] + bias[c];
        mean[n] = m, rstd[n] = r;
    }
}

// With xhat = (x - mean) * rstd and g = dout * weight (the gradient with respect to xhat):
//   dx = rstd * (g - mean_c(g) - xhat * mean_c(g * xhat)),  dweight += dout * xhat,  dbias += dout.
void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                        const float *weight, const float *mean, const float *rstd, int N, int C) {
    for (int n = 0; n < N; n++) {
        const float *x = inp + (long)n * C, *d = dout + (long)n * C;
        float *dx = dinp + (long)n * C, m = mean[n], r = rstd[n];
        float sum_g = 0, sum_gx = 0;
        for (int c = 0; c < C; c++) {
            float xhat = (x[c] - m) * r, g = d[c] * weight[c];
            sum_g += g, sum_gx += g * xhat;
            dweight[c] += d[c] * xhat;
            dbias[c] += d[c];
        }
        float mean_g = sum_g / (float)C, mean_gx = sum_gx / (float)C;
        for (int c = 0; c < C; c++) {
            float xhat = (x[c] - m) * r;
            dx[c] += r * (d[c] * weight[c] - mean_g - xhat * mean_gx);
        }
    }
}
