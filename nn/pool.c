#include "pool.h"
#include "check.h"

int pool_out_size(int in, int K, int S) {
    NN_CHECK(in > 0 && K > 0 && S > 0 && K <= in, "pooling: window %d, stride %d over size %d (window and stride "
             "must be positive, the window no larger than the input)", K, S, in);
    return (in - K) / S + 1;
}

void maxpool2d_forward(float *out, int *argmax, const float *inp, int N, int C, int H, int W, int K, int S) {
    int OH = (H - K) / S + 1, OW = (W - K) / S + 1;
    for (long p = 0; p < (long)N * C; p++) {
        const float *x = inp + p * H * W;
        float *y = out + p * OH * OW;
        int *am = argmax + p * OH * OW;
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                int best = oh * S * W + ow * S;
                float m = x[best];
                for (int kh = 0; kh < K; kh++)
                    for (int kw = 0; kw < K; kw++) {
                        int i = (oh * S + kh) * W + ow * S + kw;
                        if (x[i] > m || x[i] != x[i]) m = x[i], best = i;
                    }
                y[oh * OW + ow] = m;
                am[oh * OW + ow] = best;
            }
    }
}

void maxpool2d_backward(float *dinp, const float *dout, const int *argmax, int N, int C, int H, int W, int K,
                        int S) {
    long ohw = (long)((H - K) / S + 1) * ((W - K) / S + 1);
    for (long p = 0; p < (long)N * C; p++) {
        float *dx = dinp + p * H * W;
        for (long o = 0; o < ohw; o++) dx[argmax[p * ohw + o]] += dout[p * ohw + o];
    }
}

void avgpool2d_forward(float *out, const float *inp, int N, int C, int H, int W, int K, int S) {
    int OH = (H - K) / S + 1, OW = (W - K) / S + 1;
    float inv = 1.0f / (float)(K * K);
    for (long p = 0; p < (long)N * C; p++) {
        const float *x = inp + p * H * W;
        float *y = out + p * OH * OW;
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                float s = 0.0f;
                for (int kh = 0; kh < K; kh++)
                    for (int kw = 0; kw < K; kw++) s += x[(oh * S + kh) * W + ow * S + kw];
                y[oh * OW + ow] = s * inv;
            }
    }
}

void avgpool2d_backward(float *dinp, const float *dout, int N, int C, int H, int W, int K, int S) {
    int OH = (H - K) / S + 1, OW = (W - K) / S + 1;
    float inv = 1.0f / (float)(K * K);
    for (long p = 0; p < (long)N * C; p++) {
        float *dx = dinp + p * H * W;
        const float *dy = dout + p * OH * OW;
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                float g = dy[oh * OW + ow] * inv;
                for (int kh = 0; kh < K; kh++)
                    for (int kw = 0; kw < K; kw++) dx[(oh * S + kh) * W + ow * S + kw] += g;
            }
    }
}

void global_avgpool_forward(float *out, const float *inp, int N, int C, int HW) {
    for (long p = 0; p < (long)N * C; p++) {
        const float *x = inp + p * HW;
        double s = 0;
        for (int i = 0; i < HW; i++) s += x[i];
        out[p] = (float)(s / HW);
    }
}

void global_avgpool_backward(float *dinp, const float *dout, int N, int C, int HW) {
    for (long p = 0; p < (long)N * C; p++) {
        float g = dout[p] / (float)HW, *dx = dinp + p * HW;
        for (int i = 0; i < HW; i++) dx[i] += g;
    }
}
