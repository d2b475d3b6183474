// 2-D convolution (PyTorch's nn.Conv2d: cross-correlation, groups=1, dilation=1), NCHW, as im2col + sgemm.
// N=batch C=input channels H,W=input height,width OC=output channels KH,KW=kernel S=stride P=zero padding
// OH = (H + 2P - KH)/S + 1, OW = (W + 2P - KW)/S + 1; weights [OC,C,KH,KW] (PyTorch's layout), bias [OC].
//
// Images are shared out over `threads` threads (nn_parallel_for; each thread claims the next image, or backward's
// next block of images, when it is free, so a thread that a loaded machine starts late takes less); each runs one
// product per
// image, out[OC, OH*OW] = W[OC, C*KH*KW] x col[C*KH*KW, OH*OW], which is already NCHW (no staging copy), with a
// one-image column matrix that stays in L2 (under 600 kB for ResNet's layers on CIFAR). 3x3 stride-1 padding-1
// layers have their own im2col, and their input gradient is the 3x3 convolution of dout with the flipped weights
// (dinp_n[C, HW] += Wflip[C, OC*9] x cols(dout_n)[OC*9, HW]: no col2im, no zeroed column matrix, and a product of
// depth OC*9 instead of OC); 1x1 stride-1 layers use the image itself as the column matrix. On AVX-512 CPUs, 3x3
// padding-1 layers 8, 16 or 32 wide skip the column matrix: nn/conv3x3_avx512.h's direct kernels give the same bits.
// Column matrices (one per thread) and the weight gradients of threads after the first live in one caller-provided
// scratch buffer; a model sizes it once with the largest conv2d_scratch_floats() over its layers and shares it
// between all of them. Results depend neither on timing nor on the thread count: every image is computed alone, and
// the weight gradients of fixed blocks of images are summed in block order.
#ifndef NN_CONV2D_H
#define NN_CONV2D_H

#include <stddef.h>

typedef struct {
    int C, H, W;        // input channels and size
    int OC, KH, KW;     // output channels, kernel
    int stride, pad;    // the same along both axes
    int OH, OW;         // output size, derived
} ConvShape;

// 3x3 padding-1 layers run in direct kernels where they fit and products run in nnopt's AVX-512 kernel (nn/
// conv3x3_avx512.h: the forward of stride 1 and 2, the gradients of stride 1; the same bits as the column-matrix
// path). 0 turns them off, for tests and benchmarks.
void conv2d_use_direct(int on);
// What conv2d_forward_then can do to each output as it is stored: y = conv * scale[oc] + shift[oc] (+ add) (then
// max(y, 0) when relu): an evaluation-mode batchnorm with its residual and ReLU, with nn/batchnorm.c's rounding
// (a product, then sums), so the same bits as batchnorm_forward_eval over conv2d_forward's output. add is
// [N,OC,OH,OW] or NULL, not out (the convolution writes there first).
typedef struct {
    const float *scale, *shift, *add;
    int relu;
} ConvEpilogue;
// Checks the sizes (NN_CHECK, once, at model build time) and derives OH, OW.
ConvShape conv2d_shape(int C, int H, int W, int OC, int KH, int KW, int stride, int pad);
// Floats of scratch that forward and backward need for a batch of N on `threads` threads (non-decreasing in both).
size_t conv2d_scratch_floats(const ConvShape *s, int N, int threads);

// out[N,OC,OH,OW] = conv(inp[N,C,H,W], w) + b   (b may be NULL)
void conv2d_forward(float *out, float *scratch, const float *inp, const float *w, const float *b, int N,
                    const ConvShape *s, int threads);
// The direct kernels' forward one image at a time, for a caller that takes each image through several layers
// while its activations stay in cache (the ResNet's evaluation): conv2d_direct_fits says whether the layer runs
// there (an AVX-512 CPU, a 3x3 layer they take); conv2d_direct_weights prepares w once, into
// conv2d_direct_weight_floats floats; conv2d_direct_image computes one image's outputs [OC,OH,OW] (then ep, may be
// NULL; its add is this image's), on the calling thread, with conv2d_direct_copy_floats floats of scratch. The same
// bits as conv2d_forward(_then).
int conv2d_direct_fits(const ConvShape *s);
size_t conv2d_direct_weight_floats(const ConvShape *s);
size_t conv2d_direct_copy_floats(const ConvShape *s);
void conv2d_direct_weights(float *wt, const float *w, const ConvShape *s);
void conv2d_direct_image(float *out, float *copy, const float *inp, const float *wt, const ConvShape *s,
                         const ConvEpilogue *ep);
// conv2d_forward without a bias, each image's outputs then mapped by ep (while they are in cache: one pass over
// the activations instead of three).
void conv2d_forward_then(float *out, float *scratch, const float *inp, const float *w, int N, const ConvShape *s,
                         const ConvEpilogue *ep, int threads);
// dinp[N,C,H,W] += conv^T(dout, w);  dw[OC,C,KH,KW] += dout (x) patches(inp);  db[OC] += sums of dout over N,OH,OW.
// dinp and db may be NULL (the first layer needs no input gradient; ResNet's convolutions have no bias).
void conv2d_backward(float *dinp, float *dw, float *db, float *scratch, const float *dout, const float *inp,
                     const float *w, int N, const ConvShape *s, int threads);

#endif
