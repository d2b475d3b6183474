// 3x3 padding-1 convolutions computed in place, without a column matrix, for AVX-512 cores: ResNet's convolutions
// on 32 x 32, 16 x 16 and 8 x 8 images (the forward of stride 1 and 2, the gradients of stride 1). Why: through
// nnopt's AVX-512 product (nn/gemm_avx512.h) a 16-channel layer spent as long building and reading its
// nine-times-larger column matrix as multiplying, and the weight gradient also transposed it. Here the products read
// a copy of the image, padded or split so that each tap of 16 outputs is one vector load.
//
// The sums are those of conv2d's column-matrix products through nn_gemm_avx512, in the same order: each output is
// one chain of fused multiply-adds over k = (c*3 + kh)*3 + kw, the padding's zeros included, restarted at the same
// depth blocks; the weight gradient's chain runs over a chunk's pixels in order and is then added to dw. So conv2d
// gives the same bits whichever path runs (tests/test_conv.c checks it).
#ifndef NN_CONV3X3_AVX512_H
#define NN_CONV3X3_AVX512_H

#include "conv2d.h" // ConvEpilogue

#include <stddef.h>

// 1 when conv3x3_direct_forward takes Cin input channels to M outputs on H x W images with this stride (1 or 2,
// padding 1): output rows of 8, 16 or 32 (stride 2: 8 or 16), a multiple of 64 output pixels, M a multiple of 4,
// and the product's depth blocks (of Cin*9) holding whole channels.
int conv3x3_direct_forward_fits(int Cin, int M, int H, int W, int stride);
// The weights w[OC][C][3][3] as the kernel reads them (OC*C*9 floats): in blocks of 4 outputs, [M/4][Cin][9][4];
// for the input gradient (input_gradient 1: M = C outputs from Cin = OC channels) flipped, w[oc][c][2-kh][2-kw].
void conv3x3_direct_weights(float *wt, const float *w, int C, int OC, int input_gradient);
// Scratch floats conv3x3_direct_forward needs: the input's copy.
size_t conv3x3_direct_forward_scratch(int Cin, int H, int W, int stride);
// out[M][(H/stride)*(W/stride)] = (beta 1: out +) the convolution of inp[Cin][H][W] with wt (conv3x3_direct_weights),
// then ep's per-channel affine map, residual and ReLU where ep is not NULL (ep->add: this image's). beta: 0 or 1.
void conv3x3_direct_forward(float *out, const float *wt, const float *inp, float *scratch, int Cin, int M, int H,
                            int W, int stride, float beta, const ConvEpilogue *ep);

// 1 when conv3x3_direct_weight_grad takes this layer with chunks of `rows` image rows: OC a multiple of 16, and a
// chunk (rows*W pixels) one depth block of the product's.
int conv3x3_direct_weight_grad_fits(int C, int OC, int H, int W, int rows);
// Scratch floats conv3x3_direct_weight_grad needs: the image zero-padded and a chunk of dy transposed.
size_t conv3x3_direct_weight_grad_scratch(int C, int OC, int H, int W, int rows);
// dwT[C*9][OC] += (dy[OC][H*W] x cols(x)^T)^T, chunk by chunk of `rows` rows: each chunk's sum over its pixels in
// order, then added to dwT. The weight gradient transposed (so that the kernel adds whole vectors of 16 outputs),
// with the sums dw[OC][C*9] would get.
void conv3x3_direct_weight_grad(float *dwT, float *scratch, const float *dy, const float *x, int C, int OC, int H,
                                int W, int rows);

#endif
