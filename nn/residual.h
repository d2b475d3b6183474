// The residual connection of He et al. 2016: block output = relu(F(x) + shortcut(x)).
// N=batch C=input channels H,W=input size OC=output channels (>= C) S=stride OH = ceil(H/S) OW = ceil(W/S)
// Option A ("zero-padding shortcut", the paper's CIFAR-10 choice): shortcut(x) = x[:, :, ::S, ::S] with OC - C
// zero channels, (OC-C)/2 before and the rest after the input's, as the common CIFAR reference (akamaster's
// resnet.py: F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, planes//4, planes//4))). No parameters.
// Option B (projection) is conv2d 1x1 with stride S followed by batchnorm: no kernel of its own.
#ifndef NN_RESIDUAL_H
#define NN_RESIDUAL_H

// out[N,OC,OH,OW] = option-A shortcut of inp[N,C,H,W] (the padding channels written as zeros)
void shortcut_pad_forward(float *out, const float *inp, int N, int C, int H, int W, int OC, int S);
// dinp[N,C,H,W] += dout[N,OC,OH,OW] at the sampled positions (the padding channels' gradient goes nowhere)
void shortcut_pad_backward(float *dinp, const float *dout, int N, int C, int H, int W, int OC, int S);
// out[n] += x[n]: the addition of a shortcut (and, with gradients, the backward of an identity shortcut)
void residual_add(float *out, const float *x, long n);

#endif
