#include "residual.h"

#include <string.h>

void shortcut_pad_forward(float *out, const float *inp, int N, int C, int H, int W, int OC, int S) {
    int OH = (H + S - 1) / S, OW = (W + S - 1) / S, front = (OC - C) / 2;
    long ohw = (long)OH * OW;
    for (int n = 0; n < N; n++)
        for (int oc = 0; oc < OC; oc++) {
            float *y = out + ((long)n * OC + oc) * ohw;
            int c = oc - front;
            if (c < 0 || c >= C) {
                memset(y, 0, (size_t)ohw * sizeof(float));
                continue;
            }
            const float *x = inp + ((long)n * C + c) * H * W;
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) y[oh * OW + ow] = x[(long)oh * S * W + (long)ow * S];
        }
}

void shortcut_pad_backward(float *dinp, const float *dout, int N, int C, int H, int W, int OC, int S) {
    int OH = (H + S - 1) / S, OW = (W + S - 1) / S, front = (OC - C) / 2;
    long ohw = (long)OH * OW;
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            const float *dy = dout + ((long)n * OC + c + front) * ohw;
            float *dx = dinp + ((long)n * C + c) * H * W;
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) dx[(long)oh * S * W + (long)ow * S] += dy[oh * OW + ow];
        }
}

void residual_add(float *out, const float *x, long n) {
    for (long i = 0; i < n; i++) out[i] += x[i];
}
