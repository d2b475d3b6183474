#include "relu.h"

void relu_forward(float *out, const float *inp, long n) {
    for (long i = 0; i < n; i++) out[i] = inp[i] < 0.0f ? 0.0f : inp[i];
}

void relu_backward(float *dinp, const float *dout, const float *out, long n) {
    for (long i = 0; i < n; i++) dinp[i] += out[i] > 0.0f ? dout[i] : 0.0f;
}

void relu_backward_inplace(float *d, const float *out, long n) {
    for (long i = 0; i < n; i++) d[i] = out[i] > 0.0f ? d[i] : 0.0f;
}

void relu_backward_mask(float *dinp, const float *dout, const float *out, long n) {
    for (long i = 0; i < n; i++) {
        float d = dout[i]; // loaded unconditionally: a select, no branch
        dinp[i] = out[i] > 0.0f ? d : 0.0f;
    }
}
