// The convolutional layers (conv2d, batchnorm, relu, pooling, the option-A shortcut): central-difference checks of
// every backward pass, a direct double-precision convolution for the grouped im2col path, and PyTorch fixtures
// (tests/ref/conv.bin, written by tests/ref/make_conv_fixtures.py).
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fixture.h"
#include "gradcheck.h"
#include "testutil.h"
#include "nn/batchnorm.h"
#include "nn/check.h"
#include "nn/blas.h"
#include "nn/conv2d.h"
#include "nn/conv3x3_avx512.h"
#include "nn/pool.h"
#include "nn/relu.h"
#include "nn/residual.h"
#include "nn/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void free_all(float **bufs, size_t n) {
    for (size_t i = 0; i < n; i++) free(bufs[i]);
}

// ---- conv2d: L = sum(out * R)
typedef struct { ConvShape s; int N, threads; float *out, *scratch, *inp, *w, *b, *r; } ConvCase;

static long conv_out_n(const ConvCase *c) { return (long)c->N * c->s.OC * c->s.OH * c->s.OW; }

static double conv_loss(void *p) {
    ConvCase *c = p;
    conv2d_forward(c->out, c->scratch, c->inp, c->w, c->b, c->N, &c->s, c->threads);
    return gc_dot(c->out, c->r, conv_out_n(c));
}

static void conv_case_alloc(ConvCase *c, int N, ConvShape s, int bias, int threads, unsigned long long seed) {
    c->s = s, c->N = N, c->threads = threads;
    long nin = (long)N * s.C * s.H * s.W, nw = (long)s.OC * s.C * s.KH * s.KW;
    c->out = nn_alloc_floats(conv_out_n(c)), c->scratch = nn_alloc_floats(conv2d_scratch_floats(&s, N, threads));
    c->inp = nn_alloc_floats(nin), c->w = nn_alloc_floats(nw), c->b = bias ? nn_alloc_floats(s.OC) : NULL;
    c->r = nn_alloc_floats(conv_out_n(c));
    gc_fill(c->inp, nin, 1, seed), gc_fill(c->w, nw, 0.5f, seed + 1), gc_fill(c->r, conv_out_n(c), 1, seed + 2);
    if (bias) gc_fill(c->b, s.OC, 1, seed + 3);
}

static void conv_case_free(ConvCase *c) {
    float *bufs[] = {c->out, c->scratch, c->inp, c->w, c->b, c->r};
    free_all(bufs, sizeof bufs / sizeof *bufs);
}

// Every gradient of one configuration against central differences; backward must accumulate.
static void conv_gradcheck(const char *name, int N, ConvShape s, int bias, int threads, unsigned long long seed) {
    ConvCase c;
    conv_case_alloc(&c, N, s, bias, threads, seed);
    long nin = (long)N * s.C * s.H * s.W, nw = (long)s.OC * s.C * s.KH * s.KW;
    float *dinp = nn_alloc_floats(nin), *dw = nn_alloc_floats(nw), *db = nn_alloc_floats(s.OC);
    conv_loss(&c);
    conv2d_backward(dinp, dw, bias ? db : NULL, c.scratch, c.r, c.inp, c.w, N, &s, c.threads);
    char what[96];
    double tol = 1e-3;
    snprintf(what, sizeof what, "conv2d %s d_inp", name);
    assert_true(gradcheck(what, conv_loss, &c, c.inp, dinp, nin, 1e-2f, 300, tol) < tol);
    snprintf(what, sizeof what, "conv2d %s d_weight", name);
    assert_true(gradcheck(what, conv_loss, &c, c.w, dw, nw, 1e-2f, 300, tol) < tol);
    if (bias) {
        snprintf(what, sizeof what, "conv2d %s d_bias", name);
        assert_true(gradcheck(what, conv_loss, &c, c.b, db, s.OC, 1e-2f, 300, tol) < tol);
    }
    // accumulation: a second backward doubles every gradient; dinp = NULL leaves the weight gradient intact
    float di = dinp[nin / 2], dwv = dw[nw - 1], dbv = db[0];
    conv2d_backward(dinp, dw, bias ? db : NULL, c.scratch, c.r, c.inp, c.w, N, &s, c.threads);
    assert_float_equal(dinp[nin / 2], 2 * di, 1e-5 * (1 + fabsf(di)));
    assert_float_equal(dw[nw - 1], 2 * dwv, 1e-5 * (1 + fabsf(dwv)));
    assert_float_equal(db[0], 2 * dbv, 1e-5 * (1 + fabsf(dbv)));
    conv2d_backward(NULL, dw, NULL, c.scratch, c.r, c.inp, c.w, N, &s, c.threads);
    assert_float_equal(dw[nw - 1], 3 * dwv, 1e-5 * (1 + fabsf(dwv)));
    free(dinp), free(dw), free(db);
    conv_case_free(&c);
}

static void test_conv_grad(void **state) {
    (void)state;
    conv_gradcheck("3x3 s2 p1 bias", 2, conv2d_shape(3, 7, 7, 4, 3, 3, 2, 1), 1, 1, 101);
    conv_gradcheck("3x2 s1 p1", 3, conv2d_shape(2, 5, 6, 3, 3, 2, 1, 1), 0, 1, 111);
    conv_gradcheck("1x1 s2 p0", 2, conv2d_shape(4, 6, 5, 6, 1, 1, 2, 0), 0, 1, 121);
    conv_gradcheck("5x5 s3 p2", 2, conv2d_shape(2, 9, 8, 3, 5, 5, 3, 2), 1, 1, 131);
    // the special paths: 3x3 stride 1 padding 1 (own im2col, input gradient as a convolution of dout with the flipped
    // weights; down to 2 columns and 1 row; more input than output channels and fewer), 1x1 stride 1 (no column
    // matrix); on two threads, whose weight and bias gradients are summed after the parallel part
    conv_gradcheck("3x3 s1 p1 bias", 3, conv2d_shape(2, 5, 6, 3, 3, 3, 1, 1), 1, 1, 151);
    conv_gradcheck("3x3 s1 p1 2 threads", 3, conv2d_shape(2, 6, 5, 3, 3, 3, 1, 1), 1, 2, 152);
    conv_gradcheck("3x3 s1 p1 1x2 image", 2, conv2d_shape(2, 1, 2, 3, 3, 3, 1, 1), 0, 1, 153);
    conv_gradcheck("3x3 s1 p1 C>OC 2 threads", 3, conv2d_shape(4, 5, 4, 2, 3, 3, 1, 1), 0, 2, 155);
    conv_gradcheck("1x1 s1 p0 bias 2 threads", 3, conv2d_shape(4, 3, 5, 2, 1, 1, 1, 0), 1, 2, 154);
}

// Direct convolution in double, the independent reference for the grouped im2col path.
static void conv_direct(double *out, const float *inp, const float *w, const float *b, int N, const ConvShape *s) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < s->OC; o++)
            for (int i = 0; i < s->OH; i++)
                for (int j = 0; j < s->OW; j++) {
                    double acc = b ? b[o] : 0;
                    for (int c = 0; c < s->C; c++)
                        for (int kh = 0; kh < s->KH; kh++)
                            for (int kw = 0; kw < s->KW; kw++) {
                                int ih = i * s->stride - s->pad + kh, iw = j * s->stride - s->pad + kw;
                                if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W) continue;
                                acc += (double)w[((o * s->C + c) * s->KH + kh) * s->KW + kw] *
                                       inp[((long)(n * s->C + c) * s->H + ih) * s->W + iw];
                            }
                    out[(((long)n * s->OC + o) * s->OH + i) * s->OW + j] = acc;
                }
}

// A batch of 7 on 3 threads (images claimed one at a time), 20x20 outputs: forward against the direct convolution
// in double and backward against differences, for the 3x3 stride-1 path and the general one (stride 2); the
// gradients on 3 threads are those on one, bit for bit.
static void conv_threads_case(const char *name, ConvShape s, unsigned long long seed) {
    ConvCase c;
    int N = 7;
    conv_case_alloc(&c, N, s, 1, 3, seed);
    long nout = conv_out_n(&c);
    double *ref = malloc((size_t)nout * sizeof(double));
    float *want = nn_alloc_floats(nout);
    conv_direct(ref, c.inp, c.w, c.b, N, &s);
    for (long i = 0; i < nout; i++) want[i] = (float)ref[i];
    conv_loss(&c);
    char what[96];
    snprintf(what, sizeof what, "conv2d %s 3 threads vs direct", name);
    assert_int_equal(0, fx_compare(what, c.out, want, nout, 1e-5, 1e-5));

    long nin = (long)N * s.C * s.H * s.W, nw = (long)s.OC * s.C * s.KH * s.KW;
    float *dinp = nn_alloc_floats(nin), *dw = nn_alloc_floats(nw), *db = nn_alloc_floats(s.OC);
    float *dinp1 = nn_alloc_floats(nin), *dw1 = nn_alloc_floats(nw), *db1 = nn_alloc_floats(s.OC);
    conv2d_backward(dinp, dw, db, c.scratch, c.r, c.inp, c.w, N, &s, c.threads);
    conv2d_backward(dinp1, dw1, db1, c.scratch, c.r, c.inp, c.w, N, &s, 1);
    // the same bits on any number of threads: images alone, blocks' weight gradients summed in block order
    assert_int_equal(0, memcmp(dinp, dinp1, (size_t)nin * sizeof(float)));
    assert_int_equal(0, memcmp(dw, dw1, (size_t)nw * sizeof(float)));
    assert_int_equal(0, memcmp(db, db1, (size_t)s.OC * sizeof(float)));
    double tol = 1e-3;
    snprintf(what, sizeof what, "conv2d %s 3 threads d_inp", name);
    assert_true(gradcheck(what, conv_loss, &c, c.inp, dinp, nin, 1e-2f, 100, tol) < tol);
    snprintf(what, sizeof what, "conv2d %s 3 threads d_weight", name);
    assert_true(gradcheck(what, conv_loss, &c, c.w, dw, nw, 1e-2f, 100, tol) < tol);
    snprintf(what, sizeof what, "conv2d %s 3 threads d_bias", name);
    assert_true(gradcheck(what, conv_loss, &c, c.b, db, s.OC, 1e-2f, 100, tol) < tol);
    free(ref), free(want), free(dinp), free(dw), free(db), free(dinp1), free(dw1), free(db1);
    conv_case_free(&c);
}

static void test_conv_threads(void **state) {
    (void)state;
    ConvShape s = conv2d_shape(2, 20, 20, 3, 3, 3, 1, 1);
    // one column matrix [max(C,OC)*9, OH*OW + 16] per thread (backward takes the columns of dout too; 16 floats of
    // padding per row for nnopt's AVX-512 kernel, which reads the columns of a 16-channel layer in place), the flipped
    // weights [C, OC*9], the larger of the weights and flipped weights packed for the AVX-512 kernel (rows rounded
    // up to 8: the flipped weights' 8 x 27), the weight and bias gradients [OC*C*9 + OC] of backward's min(N, 16)
    // blocks of images
    const size_t fixed = 2 * 3 * 9 + 8 * 27, dw = 3 * 2 * 9 + 3;
    assert_true(conv2d_scratch_floats(&s, 7, 3) == (size_t)3 * 3 * 9 * 416 + fixed + 7 * dw);
    assert_true(conv2d_scratch_floats(&s, 1, 3) == (size_t)3 * 9 * 416 + fixed + 1 * dw);
    assert_true(conv2d_scratch_floats(&s, 40, 2) == (size_t)2 * 3 * 9 * 416 + fixed + 16 * dw);
    conv_threads_case("3x3 s1 p1", s, 141);
    conv_threads_case("3x3 s2 p1", conv2d_shape(2, 40, 39, 3, 3, 3, 2, 1), 142);
}

// The direct 3x3 kernels (nn/conv3x3_avx512.h) against the column-matrix products they replace: the same bits for
// the forward (stride 1 and 2), the input and the weight gradients, on shapes across their cases (one and two
// channels per weight-gradient pass, depth blocks of 2 and 5 channel groups, 8, 16 and 32 wide, a last chunk of
// fewer rows), and the forward kernel called alone against the direct convolution in double. Skipped without
// AVX-512.
// expect_dw: the weight gradient runs in the direct kernel (stride 1 only)
static void direct_case(int C, int OC, int H, int W, int stride, int expect_dw, unsigned long long seed) {
    ConvShape s = conv2d_shape(C, H, W, OC, 3, 3, stride, 1);
    int N = 3;
    ConvCase c;
    conv_case_alloc(&c, N, s, 0, 2, seed);
    assert_true(conv3x3_direct_forward_fits(C, OC, H, W, stride));
    if (stride == 1) assert_int_equal(C % 4 == 0, conv3x3_direct_forward_fits(OC, C, H, W, 1)); // 4-row tiles
    if (stride == 1)
        assert_int_equal(expect_dw, conv3x3_direct_weight_grad_fits(C, OC, H, W, 256 / W < H ? 256 / W : H));
    long nout = conv_out_n(&c), nin = (long)N * C * H * W, nw = (long)OC * C * 9;
    float *out[2], *dinp[2], *dw[2];
    for (int d = 0; d < 2; d++) {
        conv2d_use_direct(d);
        out[d] = nn_alloc_floats(nout), dinp[d] = nn_alloc_floats(nin), dw[d] = nn_alloc_floats(nw);
        for (long i = 0; i < nin; i++) dinp[d][i] = 0.25f; // the input gradient is added to what is there
        conv2d_forward(out[d], c.scratch, c.inp, c.w, NULL, N, &s, 2);
        conv2d_backward(dinp[d], dw[d], NULL, c.scratch, c.r, c.inp, c.w, N, &s, 2);
    }
    conv2d_use_direct(1);
    char what[96];
    snprintf(what, sizeof what, "direct 3x3 %d->%d %dx%d stride %d", C, OC, H, W, stride);
    print_message("# %s: same bits as the column-matrix products\n", what);
    assert_int_equal(0, memcmp(out[0], out[1], (size_t)nout * sizeof(float)));
    assert_int_equal(0, memcmp(dinp[0], dinp[1], (size_t)nin * sizeof(float)));
    assert_int_equal(0, memcmp(dw[0], dw[1], (size_t)nw * sizeof(float)));
    // the forward kernel alone, weights transposed, against double
    float *wt = nn_alloc_floats(nw), *y = nn_alloc_floats(nout / N);
    float *copy = nn_alloc_floats(conv3x3_direct_forward_scratch(C, H, W, stride));
    conv3x3_direct_weights(wt, c.w, C, OC, 0);
    conv3x3_direct_forward(y, wt, c.inp, copy, C, OC, H, W, stride, 0.0f, NULL);
    double *ref = malloc((size_t)nout * sizeof(double));
    float *want = nn_alloc_floats(nout);
    conv_direct(ref, c.inp, c.w, NULL, 1, &s);
    for (long i = 0; i < nout / N; i++) want[i] = (float)ref[i];
    assert_int_equal(0, fx_compare(what, y, want, nout / N, 1e-5, 1e-5));
    for (int d = 0; d < 2; d++) free(out[d]), free(dinp[d]), free(dw[d]);
    free(wt), free(y), free(copy), free(ref), free(want);
    conv_case_free(&c);
}

static void test_conv_direct(void **state) {
    (void)state;
    if (!nn_gemm_uses_avx512()) {
        print_message("# SKIP the direct 3x3 kernels: products do not run in nnopt's AVX-512 kernel here (%s)\n",
                      nn_gemm_kernel());
        skip();
    }
    direct_case(3, 16, 32, 32, 1, 1, 151);  // ResNet's stem: one weight-gradient pass of two channels and one of one
    direct_case(16, 16, 32, 32, 1, 1, 152); // stage 1
    direct_case(32, 32, 16, 16, 1, 1, 153); // stage 2
    direct_case(64, 32, 16, 16, 1, 1, 154); // depth blocks of 32 channels (forward), two groups of 16 outputs
    direct_case(48, 16, 32, 32, 1, 1, 155); // depth blocks of 24 channels, an odd count of pass pairs
    direct_case(8, 24, 6, 32, 1, 0, 156);   // 24 outputs: the weight gradient stays with the products; 3 tiles of rows
    direct_case(16, 16, 20, 16, 1, 1, 157); // chunks of 16 rows and a last one of 4
    direct_case(64, 64, 8, 8, 1, 0, 158);   // stage 3: two rows per vector (masked loads)
    direct_case(16, 32, 24, 8, 1, 0, 159);  // three tiles of 8 rows
    direct_case(16, 32, 32, 32, 2, 0, 160); // stage 2's first layer: parity planes, 16 wide out
    direct_case(32, 64, 16, 16, 2, 0, 161); // stage 3's first: two output rows per vector
    direct_case(48, 8, 16, 32, 2, 0, 162);  // depth blocks of 24 channels, 8 x 16 out
}

// conv2d_forward_then (an evaluation-mode batchnorm, residual and ReLU applied as outputs are stored) against
// conv2d_forward followed by batchnorm_forward_eval: the same bits, in the direct kernels and in the column-matrix
// path, with and without the residual and the ReLU, for stride 1 and 2 and a shape the direct kernels do not take.
static void test_conv_epilogue(void **state) {
    (void)state;
    const int shapes[][4] = {{16, 16, 32, 1}, {16, 32, 32, 2}, {8, 12, 20, 1}}; // C, OC, H = W, stride
    long differ = 0;
    for (int k = 0; k < 3; k++) {
        ConvShape s = conv2d_shape(shapes[k][0], shapes[k][2], shapes[k][2], shapes[k][1], 3, 3, shapes[k][3], 1);
        int N = 3, OC = s.OC, HW = s.OH * s.OW;
        ConvCase c;
        conv_case_alloc(&c, N, s, 0, 2, 170 + k);
        long nout = conv_out_n(&c);
        float *y = nn_alloc_floats(nout), *want = nn_alloc_floats(nout), *got = nn_alloc_floats(nout);
        float *add = nn_alloc_floats(nout), *bn = nn_alloc_floats(6L * OC), *scale = nn_alloc_floats(2L * OC);
        gc_fill(add, nout, 1, 180 + k), gc_fill(bn, 4L * OC, 0.5f, 190 + k);
        for (int o = 0; o < OC; o++) bn[3 * OC + o] = 0.5f + bn[3 * OC + o] * bn[3 * OC + o]; // variance > 0
        batchnorm_eval_affine(scale, scale + OC, bn, bn + OC, bn + 2 * OC, bn + 3 * OC, 1e-5f, OC);
        for (int d = 0; d < 2; d++)
            for (int mode = 0; mode < 4; mode++) { // mode bit 0: residual, bit 1: ReLU
                const float *a = mode & 1 ? add : NULL;
                conv2d_use_direct(d);
                conv2d_forward(y, c.scratch, c.inp, c.w, NULL, N, &s, 2);
                batchnorm_forward_eval(want, y, bn, bn + OC, bn + 2 * OC, bn + 3 * OC, 1e-5f, N, OC, HW, a, mode >> 1,
                                       2);
                ConvEpilogue ep = {.scale = scale, .shift = scale + OC, .add = a, .relu = mode >> 1};
                for (long i = 0; i < nout; i++) got[i] = NAN;
                conv2d_forward_then(got, c.scratch, c.inp, c.w, N, &s, &ep, 2);
                differ += memcmp(want, got, (size_t)nout * sizeof(float)) != 0;
            }
        conv2d_use_direct(1);
        free(y), free(want), free(got), free(add), free(bn), free(scale);
        conv_case_free(&c);
    }
    print_message("# conv2d_forward_then: %ld of 24 cases differ from conv2d_forward + batchnorm_forward_eval\n",
                  differ);
    assert_int_equal(0, differ);
}

// ---- batchnorm, training mode: L = sum(out * R)
typedef struct { float *out, *mean, *rstd, *rm, *rv, *inp, *w, *b, *r; int N, C, HW; } BnCase;

static double bn_loss(void *p) {
    BnCase *c = p;
    batchnorm_forward_train(c->out, c->mean, c->rstd, c->rm, c->rv, c->inp, c->w, c->b, 0.1f, 1e-5f, c->N, c->C,
                            c->HW, NULL, 0, 1);
    return gc_dot(c->out, c->r, (long)c->N * c->C * c->HW);
}

static void test_batchnorm_grad(void **state) {
    (void)state;
    BnCase c = {.N = 3, .C = 4, .HW = 13}; // HW not a multiple of the 8 lanes: the remainder loops run too
    long n = (long)c.N * c.C * c.HW;
    c.out = nn_alloc_floats(n), c.inp = nn_alloc_floats(n), c.r = nn_alloc_floats(n);
    c.mean = nn_alloc_floats(c.C), c.rstd = nn_alloc_floats(c.C), c.rm = nn_alloc_floats(c.C);
    c.rv = nn_alloc_floats(c.C), c.w = nn_alloc_floats(c.C), c.b = nn_alloc_floats(c.C);
    gc_fill(c.inp, n, 2, 201), gc_fill(c.r, n, 1, 202), gc_fill(c.w, c.C, 0.5f, 203), gc_fill(c.b, c.C, 1, 204);
    for (int k = 0; k < c.C; k++) c.w[k] += 1.0f;
    for (long i = 0; i < n; i++) c.inp[i] += (float)((i / c.HW) % c.C) - 1.5f; // a different mean per channel
    float *dinp = nn_alloc_floats(n), *dw = nn_alloc_floats(c.C), *db = nn_alloc_floats(c.C);
    bn_loss(&c);
    batchnorm_backward(dinp, dw, db, c.r, c.inp, c.mean, c.rstd, c.w, c.N, c.C, c.HW, NULL, 1);
    double tol = 2e-3;
    assert_true(gradcheck("batchnorm d_inp", bn_loss, &c, c.inp, dinp, n, 1e-2f, 200, tol) < tol);
    assert_true(gradcheck("batchnorm d_weight", bn_loss, &c, c.w, dw, c.C, 1e-2f, 200, tol) < tol);
    assert_true(gradcheck("batchnorm d_bias", bn_loss, &c, c.b, db, c.C, 1e-2f, 200, tol) < tol);
    // the normalised output of each channel has mean 0 and (biased) variance ~1 before the affine map
    bn_loss(&c); // (the differences left the output of a perturbed input behind)
    for (int k = 0; k < c.C; k++) {
        double s = 0, ss = 0;
        for (int b = 0; b < c.N; b++)
            for (int i = 0; i < c.HW; i++) {
                double xh = (c.out[(b * c.C + k) * c.HW + i] - c.b[k]) / c.w[k];
                s += xh, ss += xh * xh;
            }
        assert_true(fabs(s / (c.N * c.HW)) < 1e-5 && fabs(ss / (c.N * c.HW) - 1) < 1e-3);
    }
    float *bufs[] = {c.out, c.mean, c.rstd, c.rm, c.rv, c.inp, c.w, c.b, c.r, dinp, dw, db};
    free_all(bufs, sizeof bufs / sizeof *bufs);
}

// The fused forms against the separate layers, on 1 and 2 threads (large enough to be split): forward
// relu(bn(x) + add) = relu_forward(residual_add(bn(x), add)) exactly, in training and eval mode; backward with
// relu_out = batchnorm_backward of relu_backward_inplace'd gradients exactly; 2 threads give the same bits as 1.
static void test_batchnorm_fused(void **state) {
    (void)state;
    int N = 4, C = 3, HW = 8192;
    long n = (long)N * C * HW;
    float *x = nn_alloc_floats(n), *add = nn_alloc_floats(n), *dout = nn_alloc_floats(n), *masked = nn_alloc_floats(n);
    float *w = nn_alloc_floats(C), *b = nn_alloc_floats(C), *mean = nn_alloc_floats(C), *rstd = nn_alloc_floats(C);
    float *rm = nn_alloc_floats(C), *rv = nn_alloc_floats(C), *want = nn_alloc_floats(n), *got = nn_alloc_floats(n);
    float *dw = nn_alloc_floats(C), *db = nn_alloc_floats(C), *dw2 = nn_alloc_floats(C), *db2 = nn_alloc_floats(C);
    gc_fill(x, n, 2, 301), gc_fill(add, n, 1, 302), gc_fill(dout, n, 1, 303), gc_fill(w, C, 0.5f, 304);
    gc_fill(b, C, 0.5f, 305);
    for (int k = 0; k < C; k++) rv[k] = 1.0f;
    for (int training = 0; training <= 1; training++) {
        if (training) batchnorm_forward_train(want, mean, rstd, rm, rv, x, w, b, 0.1f, 1e-5f, N, C, HW, NULL, 0, 1);
        else batchnorm_forward_eval(want, x, w, b, rm, rv, 1e-5f, N, C, HW, NULL, 0, 1);
        residual_add(want, add, n);
        relu_forward(want, want, n);
        for (int threads = 1; threads <= 2; threads++) {
            memcpy(got, add, (size_t)n * sizeof(float)); // add may alias out
            if (training)
                batchnorm_forward_train(got, mean, rstd, rm, rv, x, w, b, 0.1f, 1e-5f, N, C, HW, got, 1, threads);
            else batchnorm_forward_eval(got, x, w, b, rm, rv, 1e-5f, N, C, HW, got, 1, threads);
            assert_int_equal(0, memcmp(want, got, (size_t)n * sizeof(float)));
        }
    }
    memcpy(masked, dout, (size_t)n * sizeof(float));
    relu_backward_inplace(masked, want, n);
    memset(got, 0, (size_t)n * sizeof(float));
    batchnorm_backward(got, dw, db, masked, x, mean, rstd, w, N, C, HW, NULL, 1);
    // the masked sums run over blocks (another order of the float partial sums over 32k elements): equal up to
    // rounding
    float *dx1 = nn_alloc_floats(n), dw1[3], db1[3];
    for (int threads = 1; threads <= 2; threads++) {
        float *dx = nn_alloc_floats(n);
        memset(dw2, 0, (size_t)C * sizeof(float)), memset(db2, 0, (size_t)C * sizeof(float));
        batchnorm_backward(dx, dw2, db2, dout, x, mean, rstd, w, N, C, HW, want, threads);
        assert_int_equal(0, fx_compare("batchnorm fused relu d_x", dx, got, n, 1e-5, 1e-6));
        assert_int_equal(0, fx_compare("batchnorm fused relu d_weight", dw2, dw, C, 1e-4, 1e-6));
        assert_int_equal(0, fx_compare("batchnorm fused relu d_bias", db2, db, C, 1e-4, 1e-6));
        if (threads == 1) memcpy(dx1, dx, (size_t)n * sizeof(float)), memcpy(dw1, dw2, sizeof dw1),
                          memcpy(db1, db2, sizeof db1);
        else { // each channel on one thread, in the same order
            assert_int_equal(0, memcmp(dx1, dx, (size_t)n * sizeof(float)));
            assert_int_equal(0, memcmp(dw1, dw2, sizeof dw1)), assert_int_equal(0, memcmp(db1, db2, sizeof db1));
        }
        // into a buffer of NaN (=, not +=): the bits += gives into zeros, with and without the mask
        for (long i = 0; i < n; i++) dx[i] = NAN;
        memset(dw2, 0, (size_t)C * sizeof(float)), memset(db2, 0, (size_t)C * sizeof(float));
        batchnorm_backward_into(dx, dw2, db2, dout, x, mean, rstd, w, N, C, HW, want, threads);
        assert_int_equal(0, memcmp(dx1, dx, (size_t)n * sizeof(float)));
        for (long i = 0; i < n; i++) dx[i] = NAN;
        batchnorm_backward_into(dx, dw2, db2, masked, x, mean, rstd, w, N, C, HW, NULL, threads);
        assert_int_equal(0, memcmp(got, dx, (size_t)n * sizeof(float)));
        free(dx);
    }
    free(dx1);
    float *bufs[] = {x, add, dout, masked, w, b, mean, rstd, rm, rv, want, got, dw, db, dw2, db2};
    free_all(bufs, sizeof bufs / sizeof *bufs);
}

// ---- ReLU, pooling, shortcut: linear or piecewise linear maps, L = sum(out * R)
typedef struct {
    int kind, N, C, H, W, K, S, OC;
    float *out, *inp, *r;
    int *argmax;
    long nout;
} MapCase;

enum { RELU, MAXPOOL, AVGPOOL, GAP, SHORTCUT };

static double map_loss(void *p) {
    MapCase *m = p;
    switch (m->kind) {
    case RELU: relu_forward(m->out, m->inp, (long)m->N * m->C * m->H * m->W); break;
    case MAXPOOL: maxpool2d_forward(m->out, m->argmax, m->inp, m->N, m->C, m->H, m->W, m->K, m->S); break;
    case AVGPOOL: avgpool2d_forward(m->out, m->inp, m->N, m->C, m->H, m->W, m->K, m->S); break;
    case GAP: global_avgpool_forward(m->out, m->inp, m->N, m->C, m->H * m->W); break;
    case SHORTCUT: shortcut_pad_forward(m->out, m->inp, m->N, m->C, m->H, m->W, m->OC, m->S); break;
    }
    return gc_dot(m->out, m->r, m->nout);
}

static void map_backward(MapCase *m, float *dinp) {
    switch (m->kind) {
    case RELU: relu_backward(dinp, m->r, m->out, m->nout); break;
    case MAXPOOL: maxpool2d_backward(dinp, m->r, m->argmax, m->N, m->C, m->H, m->W, m->K, m->S); break;
    case AVGPOOL: avgpool2d_backward(dinp, m->r, m->N, m->C, m->H, m->W, m->K, m->S); break;
    case GAP: global_avgpool_backward(dinp, m->r, m->N, m->C, m->H * m->W); break;
    case SHORTCUT: shortcut_pad_backward(dinp, m->r, m->N, m->C, m->H, m->W, m->OC, m->S); break;
    }
}

static void map_check(const char *what, MapCase m) {
    long nin = (long)m.N * m.C * m.H * m.W;
    switch (m.kind) {
    case RELU: m.nout = nin; break;
    case MAXPOOL:
    case AVGPOOL: m.nout = (long)m.N * m.C * pool_out_size(m.H, m.K, m.S) * pool_out_size(m.W, m.K, m.S); break;
    case GAP: m.nout = (long)m.N * m.C; break;
    case SHORTCUT: m.nout = (long)m.N * m.OC * ((m.H + m.S - 1) / m.S) * ((m.W + m.S - 1) / m.S); break;
    }
    m.out = nn_alloc_floats(m.nout), m.inp = nn_alloc_floats(nin), m.r = nn_alloc_floats(m.nout);
    m.argmax = nn_calloc((size_t)m.nout, sizeof(int));
    // inputs: a shuffled grid of values 0.01 apart and 0.005 off zero, so a difference step of 1e-3
    // never reorders a pooling window nor crosses the ReLU's kink
    for (long i = 0; i < nin; i++) m.inp[i] = (float)((i - nin / 2) * 0.01 + 0.005);
    Rng rng;
    rng_seed(&rng, 300 + (unsigned)m.kind);
    for (long i = nin - 1; i > 0; i--) {
        long j = (long)rng_below(&rng, (uint32_t)(i + 1));
        float t = m.inp[i];
        m.inp[i] = m.inp[j], m.inp[j] = t;
    }
    gc_fill(m.r, m.nout, 1, 310 + (unsigned long long)m.kind);
    float *dinp = nn_alloc_floats(nin);
    map_loss(&m);
    map_backward(&m, dinp);
    assert_true(gradcheck(what, map_loss, &m, m.inp, dinp, nin, 1e-3f, 400, 1e-3) < 1e-3);
    float d0 = dinp[nin / 3];
    map_backward(&m, dinp);
    assert_float_equal(dinp[nin / 3], 2 * d0, 1e-6);
    free(m.out), free(m.inp), free(m.r), free(m.argmax), free(dinp);
}

static void test_map_grads(void **state) {
    (void)state;
    map_check("relu d_inp", (MapCase){.kind = RELU, .N = 2, .C = 3, .H = 4, .W = 5});
    map_check("maxpool k2 s2 d_inp", (MapCase){.kind = MAXPOOL, .N = 2, .C = 3, .H = 7, .W = 6, .K = 2, .S = 2});
    map_check("maxpool k3 s2 d_inp", (MapCase){.kind = MAXPOOL, .N = 2, .C = 2, .H = 7, .W = 7, .K = 3, .S = 2});
    map_check("avgpool k3 s2 d_inp", (MapCase){.kind = AVGPOOL, .N = 2, .C = 2, .H = 7, .W = 8, .K = 3, .S = 2});
    map_check("global avgpool d_inp", (MapCase){.kind = GAP, .N = 3, .C = 4, .H = 3, .W = 5});
    map_check("shortcut A s2 d_inp", (MapCase){.kind = SHORTCUT, .N = 2, .C = 3, .H = 7, .W = 5, .OC = 8, .S = 2});
}

// In place: relu_forward(x, x) and relu_backward_inplace give what the out-of-place versions give.
static void test_relu_inplace(void **state) {
    (void)state;
    float x[6] = {-2, -0.5f, 0, 0.25f, 3, NAN}, y[6], d[6] = {1, 2, 3, 4, 5, 6}, dx[6] = {0}, dm[6];
    relu_forward(y, x, 6);
    relu_forward(x, x, 6);
    assert_memory_equal(x, y, 5 * sizeof(float));
    assert_true(isnan(x[5])); // NaN propagates
    relu_backward(dx, d, y, 6);
    for (int i = 0; i < 6; i++) dm[i] = 100; // relu_backward_mask overwrites
    relu_backward_mask(dm, d, y, 6);
    relu_backward_inplace(d, y, 6);
    assert_memory_equal(d, dx, sizeof d);
    assert_memory_equal(d, dm, sizeof d);
    assert_true(d[0] == 0 && d[2] == 0 && d[3] == 4 && d[4] == 5 && d[5] == 0);
}

// ---- PyTorch fixtures
static const float *F(const Fixture *fx, const char *name) { return fx_get(fx, name)->f; }

static const float *G(const Fixture *fx, const char *c, const char *t) {
    char name[64];
    snprintf(name, sizeof name, "%s.%s", c, t);
    return F(fx, name);
}

static const int *CFG(const Fixture *fx, const char *c) {
    char name[64];
    snprintf(name, sizeof name, "%s.config", c);
    return fx_get(fx, name)->i;
}

static long cmp(const Fixture *fx, const char *c, const char *t, const float *got, long n) {
    char what[64];
    snprintf(what, sizeof what, "%s %s", c, t);
    return fx_compare(what, got, G(fx, c, t), n, 1e-5, 1e-6);
}

static long fixture_conv(const Fixture *fx, const char *c, int threads) {
    const int *k = CFG(fx, c);
    int N = k[0], bias = k[9];
    ConvShape s = conv2d_shape(k[1], k[2], k[3], k[4], k[5], k[6], k[7], k[8]);
    long nin = (long)N * s.C * s.H * s.W, nw = (long)s.OC * s.C * s.KH * s.KW, nout = (long)N * s.OC * s.OH * s.OW;
    float *out = nn_alloc_floats(nout), *scratch = nn_alloc_floats(conv2d_scratch_floats(&s, N, threads));
    float *dinp = nn_alloc_floats(nin), *dw = nn_alloc_floats(nw), *db = nn_alloc_floats(s.OC);
    const float *x = G(fx, c, "x"), *w = G(fx, c, "weight"), *b = bias ? G(fx, c, "bias") : NULL;
    conv2d_forward(out, scratch, x, w, b, N, &s, threads);
    conv2d_backward(dinp, dw, bias ? db : NULL, scratch, G(fx, c, "dout"), x, w, N, &s, threads);
    long bad = cmp(fx, c, "out", out, nout) + cmp(fx, c, "d_x", dinp, nin) + cmp(fx, c, "d_weight", dw, nw);
    if (bias) bad += cmp(fx, c, "d_bias", db, s.OC);
    free(out), free(scratch), free(dinp), free(dw), free(db);
    return bad;
}

static void test_fixture_conv(void **state) {
    (void)state;
    Fixture fx;
    fx_load(&fx, "tests/ref/conv.bin");
    long bad = 0;
    for (int threads = 1; threads <= 2; threads++)
        bad += fixture_conv(&fx, "conv_s2", threads) + fixture_conv(&fx, "conv_s1", threads) +
               fixture_conv(&fx, "conv_1x1", threads);
    assert_int_equal(0, bad);
    fx_free(&fx);
}

static void test_fixture_batchnorm(void **state) {
    (void)state;
    Fixture fx;
    fx_load(&fx, "tests/ref/conv.bin");
    const int *k = CFG(&fx, "bn_train");
    int N = k[0], C = k[1], HW = k[2] * k[3];
    long n = (long)N * C * HW;
    const float *hyper = F(&fx, "bn_train.hyper");
    float *out = nn_alloc_floats(n), *mean = nn_alloc_floats(C), *rstd = nn_alloc_floats(C);
    float *rm = nn_alloc_floats(C), *rv = nn_alloc_floats(C), *dinp = nn_alloc_floats(n);
    float *dw = nn_alloc_floats(C), *db = nn_alloc_floats(C);
    memcpy(rm, F(&fx, "bn_train.running_mean"), C * sizeof(float));
    memcpy(rv, F(&fx, "bn_train.running_var"), C * sizeof(float));
    const float *x = F(&fx, "bn_train.x"), *w = F(&fx, "bn_train.weight");
    batchnorm_forward_train(out, mean, rstd, rm, rv, x, w, F(&fx, "bn_train.bias"), hyper[0], hyper[1], N, C, HW,
                            NULL, 0, 1);
    batchnorm_backward(dinp, dw, db, F(&fx, "bn_train.dout"), x, mean, rstd, w, N, C, HW, NULL, 1);
    long bad = cmp(&fx, "bn_train", "out", out, n) + cmp(&fx, "bn_train", "d_x", dinp, n);
    bad += cmp(&fx, "bn_train", "d_weight", dw, C) + cmp(&fx, "bn_train", "d_bias", db, C);
    bad += cmp(&fx, "bn_train", "new_running_mean", rm, C) + cmp(&fx, "bn_train", "new_running_var", rv, C);

    k = CFG(&fx, "bn_eval");
    assert_true(k[0] * k[1] * k[2] * k[3] == n);
    hyper = F(&fx, "bn_eval.hyper");
    batchnorm_forward_eval(out, F(&fx, "bn_eval.x"), F(&fx, "bn_eval.weight"), F(&fx, "bn_eval.bias"),
                           F(&fx, "bn_eval.running_mean"), F(&fx, "bn_eval.running_var"), hyper[1], N, C, HW, NULL, 0, 1);
    bad += cmp(&fx, "bn_eval", "out", out, n);
    assert_int_equal(0, bad);
    float *bufs[] = {out, mean, rstd, rm, rv, dinp, dw, db};
    free_all(bufs, sizeof bufs / sizeof *bufs);
    fx_free(&fx);
}

static long fixture_pool(const Fixture *fx, const char *c, int max) {
    const int *k = CFG(fx, c);
    int N = k[0], C = k[1], H = k[2], W = k[3], K = k[4], S = k[5];
    long nin = (long)N * C * H * W, nout = (long)N * C * pool_out_size(H, K, S) * pool_out_size(W, K, S);
    float *out = nn_alloc_floats(nout), *dinp = nn_alloc_floats(nin);
    int *am = nn_calloc((size_t)nout, sizeof(int));
    const float *x = G(fx, c, "x"), *dout = G(fx, c, "dout");
    if (max) {
        maxpool2d_forward(out, am, x, N, C, H, W, K, S);
        maxpool2d_backward(dinp, dout, am, N, C, H, W, K, S);
    } else {
        avgpool2d_forward(out, x, N, C, H, W, K, S);
        avgpool2d_backward(dinp, dout, N, C, H, W, K, S);
    }
    long bad = cmp(fx, c, "out", out, nout) + cmp(fx, c, "d_x", dinp, nin);
    free(out), free(dinp), free(am);
    return bad;
}

static void test_fixture_pool(void **state) {
    (void)state;
    Fixture fx;
    fx_load(&fx, "tests/ref/conv.bin");
    long bad = fixture_pool(&fx, "maxpool_k2s2", 1) + fixture_pool(&fx, "maxpool_k3s2", 1);
    bad += fixture_pool(&fx, "avgpool_k2s2", 0) + fixture_pool(&fx, "avgpool_k3s2", 0);

    const int *k = CFG(&fx, "gap");
    int N = k[0], C = k[1], HW = k[2] * k[3];
    float *out = nn_alloc_floats((long)N * C), *dinp = nn_alloc_floats((long)N * C * HW);
    global_avgpool_forward(out, F(&fx, "gap.x"), N, C, HW);
    global_avgpool_backward(dinp, F(&fx, "gap.dout"), N, C, HW);
    bad += cmp(&fx, "gap", "out", out, (long)N * C) + cmp(&fx, "gap", "d_x", dinp, (long)N * C * HW);
    free(out), free(dinp);

    k = CFG(&fx, "shortcut_a");
    int H = k[2], W = k[3], OC = k[4], S = k[5];
    N = k[0], C = k[1];
    long nin = (long)N * C * H * W, nout = (long)N * OC * ((H + S - 1) / S) * ((W + S - 1) / S);
    out = nn_alloc_floats(nout), dinp = nn_alloc_floats(nin);
    for (long i = 0; i < nout; i++) out[i] = NAN; // every element, zero padding included, must be written
    shortcut_pad_forward(out, F(&fx, "shortcut_a.x"), N, C, H, W, OC, S);
    shortcut_pad_backward(dinp, F(&fx, "shortcut_a.dout"), N, C, H, W, OC, S);
    bad += cmp(&fx, "shortcut_a", "out", out, nout) + cmp(&fx, "shortcut_a", "d_x", dinp, nin);
    free(out), free(dinp);
    assert_int_equal(0, bad);
    fx_free(&fx);
}

// ---- bad shapes are refused when a model is built
static void bad_conv_kernel(void *arg) { (void)arg, conv2d_shape(3, 4, 4, 8, 7, 7, 1, 1); }
static void bad_conv_stride(void *arg) { (void)arg, conv2d_shape(3, 4, 4, 8, 3, 3, 0, 1); }
static void bad_pool(void *arg) { (void)arg, pool_out_size(2, 3, 2); }
static void bad_bn(void *arg) {
    (void)arg;
    float x = 1, y, m, r, rm = 0, rv = 1, w = 1, b = 0;
    batchnorm_forward_train(&y, &m, &r, &rm, &rv, &x, &w, &b, 0.1f, 1e-5f, 1, 1, 1, NULL, 0, 1);
}

static void test_bad_shapes(void **state) {
    (void)state;
    expect_fatal(bad_conv_kernel, NULL, "conv2d", "7x7", "larger than the padded input 6x6", NULL);
    expect_fatal(bad_conv_stride, NULL, "conv2d", "stride 0", NULL);
    expect_fatal(bad_pool, NULL, "pooling", "window 3", NULL);
    expect_fatal(bad_bn, NULL, "batchnorm", "more than one value per channel", NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_grad),         cmocka_unit_test(test_conv_threads),
        cmocka_unit_test(test_conv_direct),       cmocka_unit_test(test_conv_epilogue),
        cmocka_unit_test(test_batchnorm_fused),
        cmocka_unit_test(test_batchnorm_grad),    cmocka_unit_test(test_map_grads),
        cmocka_unit_test(test_relu_inplace),      cmocka_unit_test(test_fixture_conv),
        cmocka_unit_test(test_fixture_batchnorm), cmocka_unit_test(test_fixture_pool),
        cmocka_unit_test(test_bad_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
