#include "gelu.h"
#include "fastmath.h"

#define GELU_K 0.7978845608028654f // sqrt(2/pi)
#define GELU_C 0.044715f

void gelu_forward(float *out, const float *inp, long n) {
    for (long i = 0; i < n; i++) {
        float x = inp[i];
        out[i] = 0.5f * x * (1.0f + nn_tanhf(GELU_K * (x + GELU_C * x * x * x)));
    }
}

// d/dx = (1 + t)/2 + x/2 * (1 - t^2) * sqrt(2/pi) * (1 + 3 * 0.044715 x^2), t = tanh(sqrt(2/pi) (x + 0.044715 x^3))
void gelu_backward(float *dinp, const float *dout, const float *inp, long n) {
    for (long i = 0; i < n; i++) {
        float x = inp[i], t = nn_tanhf(GELU_K * (x + GELU_C * x * x * x));
        float grad = 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * GELU_K * (1.0f + 3.0f * GELU_C * x * x);
        dinp[i] = dout[i] * grad;
    }
}
