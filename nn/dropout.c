#include "dropout.h"

void dropout_mask(float *mask, long n, float p, Rng *rng) {
    float keep = 1.0f / (1.0f - p);
    for (long i = 0; i < n; i++) mask[i] = rng_uniform(rng) < p ? 0.0f : keep;
}

void dropout_forward(float *out, const float *inp, const float *mask, long n) {
    for (long i = 0; i < n; i++) out[i] = inp[i] * mask[i];
}

void dropout_backward(float *dinp, const float *dout, const float *mask, long n) {
    for (long i = 0; i < n; i++) dinp[i] += dout[i] * mask[i];
}
