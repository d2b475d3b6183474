#include "linear.h"
#include "blas.h"

void linear_forward(float *out, const float *inp, const float *w, const float *b, int N, int IN, int OUT) {
    if (b) nn_sgemm_bias(0, 1, N, OUT, IN, inp, w, b, out);
    else nn_sgemm(0, 1, N, OUT, IN, 1.0f, inp, w, 0.0f, out);
}

void linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w, int N,
                     int IN, int OUT) {
    if (dinp) nn_sgemm(0, 0, N, IN, OUT, 1.0f, dout, w, 1.0f, dinp);
    nn_sgemm(1, 0, OUT, IN, N, 1.0f, dout, inp, 1.0f, dw);
    if (db)
        for (int n = 0; n < N; n++) {
            const float *row = dout + (long)n * OUT;
            for (int o = 0; o < OUT; o++) db[o] += row[o];
        }
}
