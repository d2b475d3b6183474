#include "conv2d.h"
#include "blas.h"
#include "check.h"

#include <string.h>

// Columns per product (G*OH*OW): images are grouped until a product has at least this many. Measured on this
// machine's EPYC cores (batch 128, ResNet-20's 3x3 layers, one thread, best of 3): one image per product already
// runs at 48-62 GFLOP/s (16x144x1024 to 64x576x64), and groups of 1024 to 16k columns were no faster at one thread
// (bigger column blocks fall out of L2). 1024 keeps the scratch under 3 MB and makes the last stage's products
// (64 x 576 x 1024, 38M multiply-adds) large enough for blas.c to split them over threads.
#define CONV_GROUP_COLS 1024

ConvShape conv2d_shape(int C, int H, int W, int OC, int KH, int KW, int stride, int pad) {
    NN_CHECK(C > 0 && H > 0 && W > 0 && OC > 0, "conv2d: channels and sizes must be positive (C %d, H %d, W %d, "
             "OC %d)", C, H, W, OC);
    NN_CHECK(KH > 0 && KW > 0 && stride > 0 && pad >= 0, "conv2d: kernel %dx%d, stride %d, padding %d (kernel and "
             "stride must be positive, padding non-negative)", KH, KW, stride, pad);
    NN_CHECK(KH <= H + 2 * pad && KW <= W + 2 * pad, "conv2d: kernel %dx%d larger than the padded input %dx%d",
             KH, KW, H + 2 * pad, W + 2 * pad);
    NN_CHECK((long)C * KH * KW * H * W < (1L << 31) / 4, "conv2d: layer too large for int sizes");
    ConvShape s = {.C = C, .H = H, .W = W, .OC = OC, .KH = KH, .KW = KW, .stride = stride, .pad = pad};
    s.OH = (H + 2 * pad - KH) / stride + 1;
    s.OW = (W + 2 * pad - KW) / stride + 1;
    return s;
}

static int group_size(const ConvShape *s, int N) {
    int ohw = s->OH * s->OW, g = (CONV_GROUP_COLS + ohw - 1) / ohw;
    return g < N ? g : N;
}

size_t conv2d_scratch_floats(const ConvShape *s, int N) {
    size_t cols = (size_t)group_size(s, N) * s->OH * s->OW;
    return ((size_t)s->C * s->KH * s->KW + (size_t)s->OC) * cols;
}

// Output columns ow whose input column ow*S - P + kw lies inside [0, W): [*lo, *hi).
static void valid_cols(int *lo, int *hi, int kw, const ConvShape *s) {
    int S = s->stride, first = s->pad - kw, last = s->W - 1 + s->pad - kw; // need first <= ow*S <= last
    *lo = first > 0 ? (first + S - 1) / S : 0;
    *hi = last < 0 ? 0 : last / S + 1;
    if (*hi > s->OW) *hi = s->OW;
    if (*lo > *hi) *lo = *hi;
}

// col[(c*KH + kh)*KW + kw][oh*OW + ow] = img[c][oh*S - P + kh][ow*S - P + kw], 0 in the padding. Rows are ld apart.
static void im2col(float *col, long ld, const float *img, const ConvShape *s) {
    int S = s->stride, P = s->pad, OW = s->OW;
    for (int c = 0; c < s->C; c++)
        for (int kh = 0; kh < s->KH; kh++)
            for (int kw = 0; kw < s->KW; kw++) {
                float *row = col + ((long)(c * s->KH + kh) * s->KW + kw) * ld;
                int lo, hi;
                valid_cols(&lo, &hi, kw, s);
                for (int oh = 0; oh < s->OH; oh++) {
                    float *dst = row + (long)oh * OW;
                    int ih = oh * S - P + kh;
                    if (ih < 0 || ih >= s->H) {
                        memset(dst, 0, (size_t)OW * sizeof(float));
                        continue;
                    }
                    const float *src = img + ((long)c * s->H + ih) * s->W; // input column of ow: ow*S + kw - P
                    int off = kw - P;
                    for (int ow = 0; ow < lo; ow++) dst[ow] = 0.0f;
                    if (S == 1) memcpy(dst + lo, src + lo + off, (size_t)(hi - lo) * sizeof(float));
                    else
                        for (int ow = lo; ow < hi; ow++) dst[ow] = src[ow * S + off];
                    for (int ow = hi; ow < OW; ow++) dst[ow] = 0.0f;
                }
            }
}

// The adjoint of im2col: img[c][ih][iw] += every column entry that was copied from it.
static void col2im(float *img, const float *col, long ld, const ConvShape *s) {
    int S = s->stride, P = s->pad, OW = s->OW;
    for (int c = 0; c < s->C; c++)
        for (int kh = 0; kh < s->KH; kh++)
            for (int kw = 0; kw < s->KW; kw++) {
                const float *row = col + ((long)(c * s->KH + kh) * s->KW + kw) * ld;
                int lo, hi;
                valid_cols(&lo, &hi, kw, s);
                for (int oh = 0; oh < s->OH; oh++) {
                    int ih = oh * S - P + kh;
                    if (ih < 0 || ih >= s->H) continue;
                    const float *src = row + (long)oh * OW;
                    float *dst = img + ((long)c * s->H + ih) * s->W;
                    int off = kw - P;
                    if (S == 1) // unit stride vectorises; the general loop is a scatter
                        for (int ow = lo; ow < hi; ow++) dst[ow + off] += src[ow];
                    else
                        for (int ow = lo; ow < hi; ow++) dst[ow * S + off] += src[ow];
                }
            }
}

void conv2d_forward(float *out, float *scratch, const float *inp, const float *w, const float *b, int N,
                    const ConvShape *s) {
    int G = group_size(s, N), CKK = s->C * s->KH * s->KW;
    long ohw = (long)s->OH * s->OW, img_in = (long)s->C * s->H * s->W, img_out = (long)s->OC * ohw;
    float *col = scratch, *stage = scratch + (long)CKK * G * ohw;
    for (int n0 = 0; n0 < N; n0 += G) {
        int g = N - n0 < G ? N - n0 : G;
        long ld = g * ohw;
        for (int i = 0; i < g; i++) im2col(col + i * ohw, ld, inp + (n0 + i) * img_in, s);
        // one image's [OC, OH*OW] block is already NCHW: the product can go straight to out
        float *y = g == 1 ? out + n0 * img_out : stage;
        nn_sgemm(0, 0, s->OC, (int)ld, CKK, 1.0f, w, col, 0.0f, y); /* y[OC, g*OHW] = W[OC, CKK] col */
        for (int i = 0; i < g; i++)
            for (int oc = 0; oc < s->OC; oc++) {
                float *dst = out + (n0 + i) * img_out + oc * ohw, bias = b ? b[oc] : 0.0f;
                const float *src = y + oc * ld + i * ohw;
                if (src != dst) memcpy(dst, src, (size_t)ohw * sizeof(float));
                if (b)
                    for (long p = 0; p < ohw; p++) dst[p] += bias;
            }
    }
}

void conv2d_backward(float *dinp, float *dw, float *db, float *scratch, const float *dout, const float *inp,
                     const float *w, int N, const ConvShape *s) {
    int G = group_size(s, N), CKK = s->C * s->KH * s->KW;
    long ohw = (long)s->OH * s->OW, img_in = (long)s->C * s->H * s->W, img_out = (long)s->OC * ohw;
    float *col = scratch, *stage = scratch + (long)CKK * G * ohw;
    for (int n0 = 0; n0 < N; n0 += G) {
        int g = N - n0 < G ? N - n0 : G;
        long ld = g * ohw;
        // dy[OC, g*OHW]: the group's output gradient side by side, as the forward's product produced it
        const float *dy = dout + n0 * img_out;
        if (g > 1) {
            for (int i = 0; i < g; i++)
                for (int oc = 0; oc < s->OC; oc++)
                    memcpy(stage + oc * ld + i * ohw, dout + (n0 + i) * img_out + oc * ohw,
                           (size_t)ohw * sizeof(float));
            dy = stage;
        }
        if (db)
            for (int oc = 0; oc < s->OC; oc++) {
                double acc = 0;
                for (long p = 0; p < ld; p++) acc += dy[oc * ld + p];
                db[oc] += (float)acc;
            }
        for (int i = 0; i < g; i++) im2col(col + i * ohw, ld, inp + (n0 + i) * img_in, s);
        nn_sgemm(0, 1, s->OC, CKK, (int)ld, 1.0f, dy, col, 1.0f, dw); /* dW[OC, CKK] += dy col^T */
        if (!dinp) continue;
        nn_sgemm(1, 0, CKK, (int)ld, s->OC, 1.0f, w, dy, 0.0f, col); /* dcol[CKK, g*OHW] = W^T dy */
        for (int i = 0; i < g; i++) col2im(dinp + (n0 + i) * img_in, col + i * ohw, ld, s);
    }
}
