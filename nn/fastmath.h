// Branch-free exp, sigmoid and tanh that compilers vectorise (libm's expf is a scalar call per element).
// exp(x) = 2^n exp(r), n = round(x log2 e), r = x - n ln 2 in [-ln2/2, ln2/2], exp(r) by Cephes' degree-6
// polynomial: relative error below 2e-7 on the clamped range [-87.3, 88.3].
#ifndef NN_FASTMATH_H
#define NN_FASTMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

static inline float nn_expf(float x) {
    x = x < -87.3f ? -87.3f : x;
    x = x > 88.3f ? 88.3f : x;
    float n = floorf(x * 1.44269504088896341f + 0.5f);
    float r = x - n * 0.693359375f;   // ln 2 split in two parts so n * ln2 is exact
    r = r + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

static inline float nn_sigmoidf(float x) { return 1.0f / (1.0f + nn_expf(-x)); }

// tanh(x) = 1 - 2 / (exp(2x) + 1): absolute error ~1e-7, no overflow since nn_expf clamps.
static inline float nn_tanhf(float x) { return 1.0f - 2.0f / (nn_expf(2.0f * x) + 1.0f); }

#endif
