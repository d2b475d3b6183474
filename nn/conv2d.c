#include "conv2d.h"
#include "blas.h"
#include "batchnorm.h"
#include "check.h"
#include "conv3x3_avx512.h"
#include "gemm_avx512.h"
#include "parallel.h"

#include <stdatomic.h>
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

// Scratch: per thread one image's column matrix, [C*KH*KW, OH*OW] (3x3 stride 1: [max(C,OC)*9, H*W], since
// backward also takes the columns of dout); for 3x3 stride 1 the flipped weights [C, OC*9] shared by all threads;
// the weights packed for nnopt's AVX-512 kernel (nn/gemm_avx512.h), forward's or backward's flipped ones, shared;
// backward's blocks of images keep their own weight and bias gradients [OC*C*KH*KW + OC], summed into dw and db
// after the parallel part.
// A 3x3 stride-1 column chunk's rows are padded by this many floats: with 16 output channels nnopt's AVX-512 kernel
// reads them in place, and a row stride of 256 floats would map them to a few sets of L1.
#define CHUNK_PAD 16

static int chunk_rows(const ConvShape *s);

static int is_3x3p1(const ConvShape *s) { // the direct kernels' forward: stride 1 or 2 (nn/conv3x3_avx512.h)
    return s->KH == 3 && s->KW == 3 && s->pad == 1 && (s->stride == 1 || s->stride == 2);
}

static size_t col_floats(const ConvShape *s) {
    if (is_pointwise(s)) return 0;
    size_t cols = (size_t)s->C * s->KH * s->KW * s->OH * s->OW, direct = 0;
    if (is_3x3s1(s)) {
        cols = (size_t)(s->C > s->OC ? s->C : s->OC) * 9 * (s->H * s->W + CHUNK_PAD);
        direct = conv3x3_direct_weight_grad_scratch(s->C, s->OC, s->H, s->W, chunk_rows(s));
        size_t dx = conv3x3_direct_forward_scratch(s->OC, s->H, s->W, 1);
        if (dx > direct) direct = dx;
    }
    if (is_3x3p1(s) && s->H % s->stride == 0 && s->W % s->stride == 0) {
        size_t fwd = conv3x3_direct_forward_scratch(s->C, s->H, s->W, s->stride);
        if (fwd > direct) direct = fwd;
    }
    return cols > direct ? cols : direct;
}

// 3x3 padding-1 layers run in nn/conv3x3_avx512.h's direct kernels (forward: stride 1 and 2; gradients: stride 1)
// where they fit and products run in nnopt's AVX-512 kernel (the same bits as the column-matrix products);
// conv2d_use_direct(0) turns them off (tests, bench).
static atomic_int direct_on = 1;
void conv2d_use_direct(int on) { atomic_store(&direct_on, on); }
static int direct_ok(const ConvShape *s) { return is_3x3p1(s) && nn_gemm_uses_avx512() && atomic_load(&direct_on); }

int conv2d_direct_fits(const ConvShape *s) {
    return direct_ok(s) && conv3x3_direct_forward_fits(s->C, s->OC, s->H, s->W, s->stride);
}
size_t conv2d_direct_weight_floats(const ConvShape *s) { return (size_t)s->OC * s->C * s->KH * s->KW; }
size_t conv2d_direct_copy_floats(const ConvShape *s) {
    return conv3x3_direct_forward_scratch(s->C, s->H, s->W, s->stride);
}
void conv2d_direct_weights(float *wt, const float *w, const ConvShape *s) {
    conv3x3_direct_weights(wt, w, s->C, s->OC, 0);
}
void conv2d_direct_image(float *out, float *copy, const float *inp, const float *wt, const ConvShape *s,
                         const ConvEpilogue *ep) {
    nn_gemm_count_macs((long long)s->OC * s->C * 9 * s->OH * s->OW);
    conv3x3_direct_forward(out, wt, inp, copy, s->C, s->OC, s->H, s->W, s->stride, 0.0f, ep);
}

// With nnopt's AVX-512 kernel the weights (backward: the flipped weights) are packed once per call, for every image.
static size_t wpack_floats(const ConvShape *s) {
    size_t fwd = nn_gemm_avx512_packed_floats(s->OC, s->C * s->KH * s->KW);
    size_t bwd = is_3x3s1(s) ? nn_gemm_avx512_packed_floats(s->C, s->OC * 9) : 0;
    return fwd > bwd ? fwd : bwd;
}

static size_t wflip_floats(const ConvShape *s) {
    return (is_3x3s1(s) ? (size_t)s->C * s->OC * 9 : 0) + wpack_floats(s);
}
static size_t dw_floats(const ConvShape *s) { return (size_t)s->OC * s->C * s->KH * s->KW + (size_t)s->OC; }

// Backward's images go in CONV_DW_BLOCKS blocks (fewer when N is smaller), each with its own weight gradient,
// summed in block order at the end: threads claim blocks as they come free (a thread that starts late on a loaded
// machine takes fewer), yet the sums do not depend on which thread took which block, nor on the thread count.
#define CONV_DW_BLOCKS 16
static int dw_blocks(int N) { return N < CONV_DW_BLOCKS ? N : CONV_DW_BLOCKS; }

size_t conv2d_scratch_floats(const ConvShape *s, int N, int threads) {
    int T = clamp_threads(threads, N);
    return (size_t)T * col_floats(s) + wflip_floats(s) + (size_t)dw_blocks(N) * dw_floats(s);
}

static float *scratch_col(float *scratch, const ConvShape *s, int k) { return scratch + (long)k * col_floats(s); }
static float *scratch_wflip(float *scratch, const ConvShape *s, int T) { return scratch + T * col_floats(s); }
static float *scratch_wpack(float *scratch, const ConvShape *s, int T) {
    return scratch_wflip(scratch, s, T) + (is_3x3s1(s) ? (long)s->C * s->OC * 9 : 0);
}
static float *scratch_dw(float *scratch, const ConvShape *s, int T, long blk) {
    return scratch + T * col_floats(s) + wflip_floats(s) + blk * (long)dw_floats(s);
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

// im2col for 3x3 stride 1 padding 1, output rows [r0, r1) only (a column matrix of (r1 - r0) * W columns, its rows
// ld floats apart), a plane at a time: the rows of column row (c, kh, kw) that fall inside the image are the image's
// rows shifted by kw - 1, i.e. one contiguous copy, after which the column that fell outside (w = 0 for kw = 0,
// w = W-1 for kw = 2) is zeroed. Few long memcpy calls instead of three per image row.
static void im2col_3x3s1(float *col, long ld, const float *img, int C, int H, int W, int r0, int r1) {
    long hw = (long)H * W;
    for (int c = 0; c < C; c++)
        for (int kh = 0; kh < 3; kh++) {
            // output rows [o0, o1) read input rows oh + kh - 1; the others are padding
            int o0 = kh == 0 && r0 < 1 ? 1 : r0, o1 = kh == 2 && r1 > H - 1 ? H - 1 : r1;
            if (o1 < o0) o1 = o0;
            const float *x = img + (long)c * hw + (long)(o0 + kh - 1) * W;
            long len = (long)(o1 - o0) * W;
            for (int kw = 0; kw < 3; kw++) {
                float *d = col + (long)(c * 9 + kh * 3 + kw) * ld;
                memset(d, 0, (size_t)(o0 - r0) * W * sizeof(float));
                memset(d + (long)(o1 - r0) * W, 0, (size_t)(r1 - o1) * W * sizeof(float));
                float *dv = d + (long)(o0 - r0) * W;
                if (len <= 0) continue;
                if (kw == 1) memcpy(dv, x, (size_t)len * sizeof(float));
                else if (kw == 0) { // dv[p] = x[p - 1], then w = 0 of every row is padding
                    memcpy(dv + 1, x, (size_t)(len - 1) * sizeof(float));
                    for (int r = 0; r < o1 - o0; r++) dv[(long)r * W] = 0.0f;
                } else { // dv[p] = x[p + 1], then w = W-1 of every row is padding
                    memcpy(dv, x + 1, (size_t)(len - 1) * sizeof(float));
                    for (int r = 0; r < o1 - o0; r++) dv[(long)r * W + W - 1] = 0.0f;
                }
            }
        }
}

// Output rows per column chunk of a 3x3 stride-1 product through the AVX-512 kernel: about 256 pixels, so that a
// chunk's column matrix and its packed copy stay in L2 together (a whole 32 x 32 image's, 16 channels, is 590 kB).
// The chunk's rows are padded by CHUNK_PAD floats (defined above, with the scratch sizes).
static int chunk_rows(const ConvShape *s) {
    int r = 256 / s->W;
    return r < 1 ? 1 : r > s->H ? s->H : r;
}

// out[M, H*W] (+)= packed weights [M, CK*9] x columns of img (CK channels), a chunk of rows at a time
static void product_3x3s1_chunked(float *out, float *col, const float *wpack, const float *img, int CK, int M,
                                  const ConvShape *s, float beta) {
    int W = s->W, rows = chunk_rows(s), hw = s->H * W;
    for (int r0 = 0; r0 < s->H; r0 += rows) {
        int r1 = r0 + rows < s->H ? r0 + rows : s->H, n = (r1 - r0) * W;
        im2col_3x3s1(col, n + CHUNK_PAD, img, CK, s->H, W, r0, r1);
        nn_sgemm_packed(M, n, CK * 9, 1.0f, wpack, 0, col, n + CHUNK_PAD, beta, out + (long)r0 * W, hw);
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

static void to_columns(float *col, const float *img, const ConvShape *s) {
    if (is_3x3s1(s)) im2col_3x3s1(col, (long)s->H * s->W, img, s->C, s->H, s->W, 0, s->H);
    else im2col(col, img, s);
}

// dW[OC, C*9] += dy[OC, H*W] x cols(x)^T of a 3x3 stride-1 layer, by the same chunks of rows as the forward's, so
// that each chunk's columns stay in L2; with 32 x 32 images the chunks are the kernel's own depth blocks (256), so
// the sums are those of one product over the whole image.
static void weight_gradient_chunked(float *dw, float *col, const float *dy, const float *x, const ConvShape *s) {
    int W = s->W, rows = chunk_rows(s), hw = s->H * W, CKK = s->C * 9;
    for (int r0 = 0; r0 < s->H; r0 += rows) {
        int r1 = r0 + rows < s->H ? r0 + rows : s->H, n = (r1 - r0) * W;
        im2col_3x3s1(col, n + CHUNK_PAD, x, s->C, s->H, W, r0, r1);
        nn_sgemm_ld(0, 1, s->OC, CKK, n, 1.0f, dy + (long)r0 * W, hw, col, n + CHUNK_PAD, 1.0f, dw, CKK);
    }
}

typedef struct {
    float *out, *dinp, *dw, *db, *scratch;
    const float *inp, *w, *b, *dout, *wflip;
    const float *wpack; // packed weights (forward) or flipped weights (backward), for the AVX-512 kernel; else NULL
    const float *wt;    // the direct kernels' transposed weights (forward) or flipped ones (backward); else NULL
    int direct_dw;      // the weight gradient in the direct kernel
    const ConvEpilogue *ep; // forward: applied to each image's outputs; else NULL
    const ConvShape *s;
    int T, N, NB;
    int avx512; // products in nnopt's AVX-512 kernel (nn_gemm_uses_avx512)
    atomic_long next; // the next image (forward) or block (backward) to claim
} ConvJob;

static void forward_images(void *ctx, long k, long end) {
    ConvJob *j = ctx;
    (void)end;
    const ConvShape *s = j->s;
    int CKK = s->C * s->KH * s->KW;
    long ohw = (long)s->OH * s->OW, img_in = (long)s->C * s->H * s->W, img_out = (long)s->OC * ohw;
    float *col = scratch_col(j->scratch, s, (int)k);
    for (long n; (n = atomic_fetch_add(&j->next, 1)) < j->N;) {
        const float *x = j->inp + n * img_in, *cm = x;
        float *y = j->out + n * img_out;
        ConvEpilogue ep = j->ep ? *j->ep : (ConvEpilogue){0};
        if (ep.add) ep.add += n * img_out;
        if (j->wt) { // the direct kernel applies the epilogue as it stores
            conv3x3_direct_forward(y, j->wt, x, col, s->C, s->OC, s->H, s->W, s->stride, 0.0f, j->ep ? &ep : NULL);
            continue;
        }
        if (j->wpack && is_3x3s1(s)) product_3x3s1_chunked(y, col, j->wpack, x, s->C, s->OC, s, 0.0f);
        else {
            if (!is_pointwise(s)) to_columns(col, x, s), cm = col;
            if (j->wpack) nn_sgemm_packed(s->OC, (int)ohw, CKK, 1.0f, j->wpack, 0, cm, (int)ohw, 0.0f, y, (int)ohw);
            else nn_sgemm_serial(0, 0, s->OC, (int)ohw, CKK, 1.0f, j->w, cm, 0.0f, y); /* y[OC, OHW] = W[OC, CKK] col */
        }
        if (j->b)
            for (int oc = 0; oc < s->OC; oc++)
                for (long p = 0; p < ohw; p++) y[oc * ohw + p] += j->b[oc];
        if (j->ep)
            for (int oc = 0; oc < s->OC; oc++)
                batchnorm_affine_plane(y + oc * ohw, y + oc * ohw, ep.add ? ep.add + oc * ohw : NULL, ep.relu,
                                       ep.scale[oc], ep.shift[oc], ohw);
    }
}

static void forward(float *out, float *scratch, const float *inp, const float *w, const float *b, int N,
                    const ConvShape *s, const ConvEpilogue *ep, int threads) {
    ConvJob j = {.out = out, .scratch = scratch, .inp = inp, .w = w, .b = b, .s = s, .N = N,
                 .T = clamp_threads(threads, N), .ep = ep};
    atomic_init(&j.next, 0);
    int CKK = s->C * s->KH * s->KW;
    if (conv2d_direct_fits(s)) {
        float *wt = scratch_wpack(scratch, s, j.T);
        conv2d_direct_weights(wt, w, s);
        j.wt = wt;
        nn_gemm_count_macs((long long)N * s->OC * CKK * s->OH * s->OW);
    } else if (nn_gemm_uses_avx512()) {
        float *wp = scratch_wpack(scratch, s, j.T);
        nn_gemm_avx512_pack(wp, 0, s->OC, CKK, w, CKK);
        j.wpack = wp;
    }
    nn_parallel_for(j.T, j.T, forward_images, &j); // one chunk per thread; images are claimed one at a time
}

void conv2d_forward(float *out, float *scratch, const float *inp, const float *w, const float *b, int N,
                    const ConvShape *s, int threads) {
    forward(out, scratch, inp, w, b, N, s, NULL, threads);
}

void conv2d_forward_then(float *out, float *scratch, const float *inp, const float *w, int N, const ConvShape *s,
                         const ConvEpilogue *ep, int threads) {
    forward(out, scratch, inp, w, NULL, N, s, ep, threads);
}

static void backward_images(void *ctx, long k, long end) {
    ConvJob *j = ctx;
    (void)end;
    const ConvShape *s = j->s;
    int CKK = s->C * s->KH * s->KW;
    long ohw = (long)s->OH * s->OW, img_in = (long)s->C * s->H * s->W, img_out = (long)s->OC * ohw;
    float *col = scratch_col(j->scratch, s, (int)k);
    for (long blk; (blk = atomic_fetch_add(&j->next, 1)) < j->NB;) {
        // the block's own weight and bias gradients, whichever thread computes it
        float *dw = scratch_dw(j->scratch, s, j->T, blk), *db = j->db ? dw + (long)s->OC * CKK : NULL;
        memset(dw, 0, dw_floats(s) * sizeof(float));
        for (long n = j->N * blk / j->NB; n < j->N * (blk + 1) / j->NB; n++) {
            const float *dy = j->dout + n * img_out, *x = j->inp + n * img_in, *cm = x;
            if (db)
                for (int oc = 0; oc < s->OC; oc++) {
                    double acc = 0;
                    for (long p = 0; p < ohw; p++) acc += dy[oc * ohw + p];
                    db[oc] += (float)acc;
                }
            if (j->direct_dw) conv3x3_direct_weight_grad(dw, col, dy, x, s->C, s->OC, s->H, s->W, chunk_rows(s));
            else if (j->avx512 && is_3x3s1(s)) weight_gradient_chunked(dw, col, dy, x, s);
            else {
                if (!is_pointwise(s)) to_columns(col, x, s), cm = col;
                nn_sgemm_serial(0, 1, s->OC, CKK, (int)ohw, 1.0f, dy, cm, 1.0f, dw); /* dW[OC, CKK] += dy col^T */
            }
            if (!j->dinp) continue;
            float *dx = j->dinp + n * img_in;
            if (is_pointwise(s)) {
                nn_sgemm_serial(1, 0, CKK, (int)ohw, s->OC, 1.0f, j->w, dy, 1.0f, dx); /* dx += W^T dy */
                continue;
            }
            if (is_3x3s1(s)) { // dx += the 3x3 stride-1 convolution of dy with the flipped weights, into NCHW
                if (j->wt) {
                    conv3x3_direct_forward(dx, j->wt, dy, col, s->OC, s->C, s->H, s->W, 1, 1.0f, NULL);
                    continue;
                }
                if (j->wpack) {
                    product_3x3s1_chunked(dx, col, j->wpack, dy, s->OC, s->C, s, 1.0f);
                    continue;
                }
                im2col_3x3s1(col, ohw, dy, s->OC, s->H, s->W, 0, s->H);
                nn_sgemm_serial(0, 0, s->C, (int)ohw, s->OC * 9, 1.0f, j->wflip, col, 1.0f, dx);
                continue;
            }
            nn_sgemm_serial(1, 0, CKK, (int)ohw, s->OC, 1.0f, j->w, dy, 0.0f, col); /* dcol[CKK, OHW] = W^T dy */
            col2im(dx, col, s);
        }
    }
}

void conv2d_backward(float *dinp, float *dw, float *db, float *scratch, const float *dout, const float *inp,
                     const float *w, int N, const ConvShape *s, int threads) {
    ConvJob j = {.dinp = dinp, .dw = dw, .db = db, .scratch = scratch, .dout = dout, .inp = inp, .w = w, .s = s,
                 .N = N, .T = clamp_threads(threads, N), .NB = dw_blocks(N), .avx512 = nn_gemm_uses_avx512()};
    atomic_init(&j.next, 0);
    int CKK = s->C * s->KH * s->KW, direct = direct_ok(s) && is_3x3s1(s); // the gradients: stride 1 only
    if (direct && conv3x3_direct_weight_grad_fits(s->C, s->OC, s->H, s->W, chunk_rows(s))) {
        j.direct_dw = 1;
        nn_gemm_count_macs((long long)N * s->OC * CKK * s->H * s->W);
    }
    if (dinp && direct && conv3x3_direct_forward_fits(s->OC, s->C, s->H, s->W, 1)) {
        float *wt = scratch_wpack(scratch, s, j.T);
        conv3x3_direct_weights(wt, w, s->C, s->OC, 1);
        j.wt = wt;
        nn_gemm_count_macs((long long)N * s->OC * CKK * s->H * s->W);
    } else if (dinp && is_3x3s1(s)) { // wflip[c][(oc*3 + kh)*3 + kw] = w[oc][c][2 - kh][2 - kw]
        float *wf = scratch_wflip(scratch, s, j.T);
        for (int c = 0; c < s->C; c++)
            for (int oc = 0; oc < s->OC; oc++)
                for (int k = 0; k < 9; k++) wf[((long)c * s->OC + oc) * 9 + k] = w[((long)oc * s->C + c) * 9 + 8 - k];
        j.wflip = wf;
        if (nn_gemm_uses_avx512()) {
            float *wp = scratch_wpack(scratch, s, j.T);
            nn_gemm_avx512_pack(wp, 0, s->C, s->OC * 9, wf, s->OC * 9);
            j.wpack = wp;
        }
    }
    nn_parallel_for(j.T, j.T, backward_images, &j); // one chunk per thread; blocks are claimed one at a time
    long nw = (long)s->OC * s->C * s->KH * s->KW;
    for (int blk = 0; blk < j.NB; blk++) { // the blocks' gradients, in a fixed order
        const float *p = scratch_dw(scratch, s, j.T, blk);
        if (j.direct_dw) // the direct kernel's are transposed, [C*9][OC]
            for (int oc = 0; oc < s->OC; oc++)
                for (int ck = 0; ck < CKK; ck++) dw[(long)oc * CKK + ck] += p[(long)ck * s->OC + oc];
        else
            for (long i = 0; i < nw; i++) dw[i] += p[i];
        if (db)
            for (int oc = 0; oc < s->OC; oc++) db[oc] += p[nw + oc];
    }
}
