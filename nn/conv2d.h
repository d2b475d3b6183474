// 2-D convolution (PyTorch's nn.Conv2d: cross-correlation, groups=1, dilation=1), NCHW, as im2col + sgemm.
// N=batch C=input channels H,W=input height,width OC=output channels KH,KW=kernel S=stride P=zero padding
// OH = (H + 2P - KH)/S + 1, OW = (W + 2P - KW)/S + 1; weights [OC,C,KH,KW] (PyTorch's layout), bias [OC].
//
// Images are processed in groups of G: im2col of G images side by side gives one [C*KH*KW, G*OH*OW] matrix, so
// each product has at least CONV_GROUP_COLS (1024, see conv2d.c) columns even when OH*OW is small (8x8 in a
// ResNet's last stage).
// The column matrix and a [OC, G*OH*OW] staging block live in one caller-provided scratch buffer; a model sizes
// it once with the largest conv2d_scratch_floats() over its layers and shares it between all of them.
#ifndef NN_CONV2D_H
#define NN_CONV2D_H

#include <stddef.h>

typedef struct {
    int C, H, W;        // input channels and size
    int OC, KH, KW;     // output channels, kernel
    int stride, pad;    // the same along both axes
    int OH, OW;         // output size, derived
} ConvShape;

// Checks the sizes (NN_CHECK, once, at model build time) and derives OH, OW.
ConvShape conv2d_shape(int C, int H, int W, int OC, int KH, int KW, int stride, int pad);
// Floats of scratch that forward and backward need for a batch of N (non-decreasing in N).
size_t conv2d_scratch_floats(const ConvShape *s, int N);

// out[N,OC,OH,OW] = conv(inp[N,C,H,W], w) + b   (b may be NULL)
void conv2d_forward(float *out, float *scratch, const float *inp, const float *w, const float *b, int N,
                    const ConvShape *s);
// dinp[N,C,H,W] += conv^T(dout, w);  dw[OC,C,KH,KW] += dout (x) patches(inp);  db[OC] += sums of dout over N,OH,OW.
// dinp and db may be NULL (the first layer needs no input gradient; ResNet's convolutions have no bias).
void conv2d_backward(float *dinp, float *dw, float *db, float *scratch, const float *dout, const float *inp,
                     const float *w, int N, const ConvShape *s);

#endif
