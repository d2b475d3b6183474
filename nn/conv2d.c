#include "conv2d.h"
#include "blas.h"
#include "check.h"
#include "parallel.h"

#include <string.h>

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

// 1x1, stride 1, no padding: the image itself is the column matrix (no im2col, no col2im)
static int is_pointwise(const ConvShape *s) { return s->KH == 1 && s->KW == 1 && s->stride == 1 && s->pad == 0; }
// 3x3, stride 1, padding 1 (OH = H, OW = W): ResNet's convolutions, with their own im2col and col2im
static int is_3x3s1(const ConvShape *s) {
    return s->KH == 3 && s->KW == 3 && s->stride == 1 && s->pad == 1 && s->W >= 2;
}

// nn_parallel_for's chunks: at most 64 threads, and no more than images
static int clamp_threads(int threads, int N) {
    if (threads > 64) threads = 64;
    return threads < 1 ? 1 : threads > N ? N : threads;
}

// Per thread: one image's column matrix [C*KH*KW, OH*OW]; threads after the first also keep private weight and
// bias gradients [OC*C*KH*KW + OC], summed into dw and db after the parallel part of backward.
static size_t col_floats(const ConvShape *s) {
    return is_pointwise(s) ? 0 : (size_t)s->C * s->KH * s->KW * s->OH * s->OW;
}

size_t conv2d_scratch_floats(const ConvShape *s, int N, int threads) {
    int T = clamp_threads(threads, N);
    size_t dw = (size_t)s->OC * s->C * s->KH * s->KW + (size_t)s->OC;
    return (size_t)T * col_floats(s) + (size_t)(T - 1) * dw;
}

// Output columns ow whose input column ow*S - P + kw lies inside [0, W): [*lo, *hi).
static void valid_cols(int *lo, int *hi, int kw, const ConvShape *s) {
    int S = s->stride, first = s->pad - kw, last = s->W - 1 + s->pad - kw; // need first <= ow*S <= last
    *lo = first > 0 ? (first + S - 1) / S : 0;
    *hi = last < 0 ? 0 : last / S + 1;
    if (*hi > s->OW) *hi = s->OW;
    if (*lo > *hi) *lo = *hi;
}

// col[(c*KH + kh)*KW + kw][oh*OW + ow] = img[c][oh*S - P + kh][ow*S - P + kw], 0 in the padding.
static void im2col(float *col, const float *img, const ConvShape *s) {
    int S = s->stride, P = s->pad, OW = s->OW;
    long ohw = (long)s->OH * OW;
    for (int c = 0; c < s->C; c++)
        for (int kh = 0; kh < s->KH; kh++)
            for (int kw = 0; kw < s->KW; kw++) {
                float *row = col + ((long)(c * s->KH + kh) * s->KW + kw) * ohw;
                int lo, hi;
                valid_cols(&lo, &hi, kw, s);
                for (int oh = 0; oh < s->OH; oh++) {
                    float *dst = row + (long)oh * OW;
                    int ih = oh * S - P + kh;
                    if (ih < 0 || ih >= s->H) {
                        for (int ow = 0; ow < OW; ow++) dst[ow] = 0.0f;
                        continue;
                    }
                    const float *src = img + ((long)c * s->H + ih) * s->W; // input column of ow: ow*S + kw - P
                    int off = kw - P;
                    for (int ow = 0; ow < lo; ow++) dst[ow] = 0.0f;
                    for (int ow = lo; ow < hi; ow++) dst[ow] = src[ow * S + off];
                    for (int ow = hi; ow < OW; ow++) dst[ow] = 0.0f;
                }
            }
}

// im2col for 3x3 stride 1 padding 1: each input row gives three column rows (shifted left, as is, shifted right)
// in one pass, without per-element bounds checks or short memcpy calls.
static void im2col_3x3s1(float *restrict col, const float *restrict img, int C, int H, int W) {
    long hw = (long)H * W;
    for (int c = 0; c < C; c++)
        for (int kh = 0; kh < 3; kh++) {
            float *r0 = col + (long)(c * 9 + kh * 3) * hw, *r1 = r0 + hw, *r2 = r1 + hw;
            for (int oh = 0; oh < H; oh++) {
                float *restrict d0 = r0 + (long)oh * W, *restrict d1 = r1 + (long)oh * W,
                      *restrict d2 = r2 + (long)oh * W;
                int ih = oh + kh - 1;
                if (ih < 0 || ih >= H) {
                    for (int w = 0; w < W; w++) d0[w] = 0.0f, d1[w] = 0.0f, d2[w] = 0.0f;
                    continue;
                }
                const float *restrict x = img + (long)c * hw + (long)ih * W;
                d0[0] = 0.0f, d1[0] = x[0], d2[0] = x[1];
                for (int w = 1; w < W - 1; w++) d0[w] = x[w - 1], d1[w] = x[w], d2[w] = x[w + 1];
                d0[W - 1] = x[W - 2], d1[W - 1] = x[W - 1], d2[W - 1] = 0.0f;
            }
        }
}

// The adjoint of im2col: img[c][ih][iw] += every column entry that was copied from it.
static void col2im(float *img, const float *col, const ConvShape *s) {
    int S = s->stride, P = s->pad, OW = s->OW;
    long ohw = (long)s->OH * OW;
    for (int c = 0; c < s->C; c++)
        for (int kh = 0; kh < s->KH; kh++)
            for (int kw = 0; kw < s->KW; kw++) {
                const float *row = col + ((long)(c * s->KH + kh) * s->KW + kw) * ohw;
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

// col2im for 3x3 stride 1 padding 1: every input row gathers its (up to) nine column rows in one pass, so each
// element of img is read and written once instead of nine times.
static void col2im_3x3s1(float *restrict img, const float *restrict col, int C, int H, int W) {
    long hw = (long)H * W;
    for (int c = 0; c < C; c++)
        for (int ih = 0; ih < H; ih++) {
            float *restrict x = img + (long)c * hw + (long)ih * W;
            // kernel row kh reads output row oh = ih + 1 - kh; a and b index its column rows (kw = 0, 1, 2)
            const float *a[3];
            int n = 0;
            for (int kh = 0; kh < 3; kh++) {
                int oh = ih + 1 - kh;
                if (oh >= 0 && oh < H) a[n++] = col + (long)(c * 9 + kh * 3) * hw + (long)oh * W;
            }
            for (int k = 0; k < n; k++) {
                const float *restrict r0 = a[k], *restrict r1 = a[k] + hw, *restrict r2 = a[k] + 2 * hw;
                // img column iw gets r0[iw + 1] (kw 0), r1[iw] (kw 1), r2[iw - 1] (kw 2)
                x[0] += r0[1] + r1[0];
                for (int w = 1; w < W - 1; w++) x[w] += r0[w + 1] + r1[w] + r2[w - 1];
                x[W - 1] += r1[W - 1] + r2[W - 2];
            }
        }
}

static void to_columns(float *col, const float *img, const ConvShape *s) {
    if (is_3x3s1(s)) im2col_3x3s1(col, img, s->C, s->H, s->W);
    else im2col(col, img, s);
}

typedef struct {
    float *out, *dinp, *dw, *db, *scratch;
    const float *inp, *w, *b, *dout;
    const ConvShape *s;
    int T, N;
} ConvJob;

// chunk k of T over the images: the column matrix of thread k
static int chunk_of(const ConvJob *j, long begin) {
    for (int k = 0; k < j->T; k++)
        if ((long)j->N * k / j->T == begin) return k;
    return 0;
}

static void forward_images(void *ctx, long begin, long end) {
    const ConvJob *j = ctx;
    const ConvShape *s = j->s;
    int CKK = s->C * s->KH * s->KW, k = chunk_of(j, begin);
    long ohw = (long)s->OH * s->OW, img_in = (long)s->C * s->H * s->W, img_out = (long)s->OC * ohw;
    float *col = j->scratch + (long)k * (long)col_floats(s);
    for (long n = begin; n < end; n++) {
        const float *x = j->inp + n * img_in, *cm = x;
        if (!is_pointwise(s)) to_columns(col, x, s), cm = col;
        float *y = j->out + n * img_out;
        nn_sgemm_serial(0, 0, s->OC, (int)ohw, CKK, 1.0f, j->w, cm, 0.0f, y); /* y[OC, OHW] = W[OC, CKK] col */
        if (j->b)
            for (int oc = 0; oc < s->OC; oc++)
                for (long p = 0; p < ohw; p++) y[oc * ohw + p] += j->b[oc];
    }
}

void conv2d_forward(float *out, float *scratch, const float *inp, const float *w, const float *b, int N,
                    const ConvShape *s, int threads) {
    ConvJob j = {.out = out, .scratch = scratch, .inp = inp, .w = w, .b = b, .s = s, .N = N,
                 .T = clamp_threads(threads, N)};
    nn_blas_serial();
    nn_parallel_for(j.T, N, forward_images, &j);
}

static void backward_images(void *ctx, long begin, long end) {
    const ConvJob *j = ctx;
    const ConvShape *s = j->s;
    int CKK = s->C * s->KH * s->KW, k = chunk_of(j, begin);
    long ohw = (long)s->OH * s->OW, img_in = (long)s->C * s->H * s->W, img_out = (long)s->OC * ohw;
    float *col = j->scratch + (long)k * (long)col_floats(s), *dw = j->dw, *db = j->db;
    if (k > 0) { // private gradients, zeroed here, summed by the caller
        dw = j->scratch + (long)j->T * (long)col_floats(s) + (long)(k - 1) * ((long)s->OC * CKK + s->OC);
        memset(dw, 0, ((size_t)s->OC * CKK + (size_t)s->OC) * sizeof(float));
        db = db ? dw + (long)s->OC * CKK : NULL;
    }
    for (long n = begin; n < end; n++) {
        const float *dy = j->dout + n * img_out, *x = j->inp + n * img_in, *cm = x;
        if (db)
            for (int oc = 0; oc < s->OC; oc++) {
                double acc = 0;
                for (long p = 0; p < ohw; p++) acc += dy[oc * ohw + p];
                db[oc] += (float)acc;
            }
        if (!is_pointwise(s)) to_columns(col, x, s), cm = col;
        nn_sgemm_serial(0, 1, s->OC, CKK, (int)ohw, 1.0f, dy, cm, 1.0f, dw); /* dW[OC, CKK] += dy col^T */
        if (!j->dinp) continue;
        float *dx = j->dinp + n * img_in;
        if (is_pointwise(s)) {
            nn_sgemm_serial(1, 0, CKK, (int)ohw, s->OC, 1.0f, j->w, dy, 1.0f, dx); /* dx += W^T dy */
            continue;
        }
        nn_sgemm_serial(1, 0, CKK, (int)ohw, s->OC, 1.0f, j->w, dy, 0.0f, col); /* dcol[CKK, OHW] = W^T dy */
        if (is_3x3s1(s)) col2im_3x3s1(dx, col, s->C, s->H, s->W);
        else col2im(dx, col, s);
    }
}

void conv2d_backward(float *dinp, float *dw, float *db, float *scratch, const float *dout, const float *inp,
                     const float *w, int N, const ConvShape *s, int threads) {
    ConvJob j = {.dinp = dinp, .dw = dw, .db = db, .scratch = scratch, .dout = dout, .inp = inp, .w = w, .s = s,
                 .N = N, .T = clamp_threads(threads, N)};
    nn_blas_serial();
    nn_parallel_for(j.T, N, backward_images, &j);
    long nw = (long)s->OC * s->C * s->KH * s->KW;
    for (int k = 1; k < j.T; k++) { // the other threads' gradients, in a fixed order
        const float *p = scratch + (long)j.T * (long)col_floats(s) + (long)(k - 1) * (nw + s->OC);
        for (long i = 0; i < nw; i++) dw[i] += p[i];
        if (db)
            for (int oc = 0; oc < s->OC; oc++) db[oc] += p[nw + oc];
    }
}
