// The CIFAR-10 ResNets of He et al. 2016 (section 4.2), 6n+2 layers, as the common PyTorch reference
// (akamaster/pytorch_resnet_cifar10, resnet.py) builds them, with its parameter names:
//   conv1 3x3 (3 -> c1) -> bn1 -> relu -> layer1, layer2, layer3 (n basic blocks each, c1/c2/c3 channels, stride 2
//   at the start of layer2 and layer3) -> global average pool -> linear (c3 -> classes) -> softmax cross-entropy
//   basic block: out = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)); 3x3 convolutions without bias.
//   shortcut: identity, or where the shape changes option A (nn/residual.h: subsample, zero channels; the
//   paper's CIFAR choice, no parameters) or option B (1x1 conv stride 2 + batchnorm: "shortcut.0", "shortcut.1").
// c1, c2, c3 = 16, 32, 64 times the width multiplier (rounded to nearest, at least 1). ResNet-20 has 269,722
// parameters ("0.27M" in the paper's table 6). Any input size H x W works; stages run at H, ceil(H/2), ceil(H/4).
// Loss convention: the mean over the N images of the batch (scale 1/N in softmax_ce).
// N=batch K=classes H,W=input size c1,c2,c3=stage channels
#ifndef MODELS_RESNET_H
#define MODELS_RESNET_H

#include "nn/conv2d.h"
#include "nn/params.h"
#include "nn/pass.h"
#include "nn/rng.h"

typedef struct {
    int blocks;              // n: basic blocks per stage, depth 6n+2 (1: ResNet-8, 3: ResNet-20, 5: ResNet-32)
    float width;             // channel multiplier (1: 16/32/64)
    int batch;               // largest N any call will use (buffers are sized for it)
    int classes;             // K (10 for CIFAR-10)
    int image_h, image_w;    // input size H x W (32 x 32 for CIFAR-10), 3 input channels
    char shortcut;           // 'A' (zero-padding, the default) or 'B' (1x1 projection + batchnorm)
    float bn_momentum, bn_eps; // PyTorch's defaults 0.1 and 1e-5
} ResNetConfig;

// One convolution followed by batchnorm: the unit every layer of the network is made of.
typedef struct {
    ConvShape s;
    int v_w, v_gamma, v_beta;      // views in params: conv weight [OC,C,KH,KW], bn weight [OC], bn bias [OC]
    int b_mean, b_var;             // views in stats: running_mean [OC], running_var [OC]
    float *y;                      // [N,OC,OH,OW] convolution output (batchnorm's input, kept for backward)
    float *mean, *rstd;            // [OC] batch statistics of the last training forward
    float *eval_map;               // [2*OC] evaluation's batchnorm as scale and shift (batchnorm_eval_affine)
    float *wt_direct;              // the weights as the direct kernels read them (evaluation image by image)
} ConvBn;

typedef struct {
    ConvBn c1, c2, proj;           // proj only for option-B blocks that change shape
    char kind;                     // 'I' identity, 'A' zero-padding, 'B' projection
    int C, H, W;                   // input channels and size
    float *z1;                     // [N,OC,OH,OW] relu(bn1(conv1(x))), conv2's input
    float *out;                    // [N,OC,OH,OW] block output (after the final relu)
} ResBlock;

typedef struct {
    ResNetConfig cfg;
    int c[3];                      // stage channels c1, c2, c3
    Params params;                 // every trainable tensor, PyTorch's names (conv1.weight, layer2.0.bn1.bias, ...)
    Params stats;                  // batchnorm running statistics (bn1.running_mean, ...): saved in checkpoints,
                                   // never trained (their grad array is allocated by the arena but unused)
    ConvBn stem;                   // conv1, bn1
    float *stem_out;               // [N,c1,H,W] relu(bn1(conv1(images)))
    ResBlock *block;               // [3n] layer1.0 .. layer3.(n-1)
    int nblocks;
    int v_fc_w, v_fc_b;            // linear.weight [K,c3], linear.bias [K]
    float *pooled;                 // [N,c3] global average pool
    float *logits;                 // [N,K] of the last forward
    float *dlogits;                // [N,K] softmax work; after a training forward, dLoss/dlogits
    float *dpooled;                // [N,c3]
    float *grad[4];                // [N * largest activation] backward work buffers; grad[0] is the shortcut's
                                   // output in forward
    float *scratch;                // the convolutions' shared im2col scratch
    float *eval_work;              // per thread: 3 activations of one image and a direct kernel's input copy
    long eval_act, eval_copy;      // their sizes in floats
    const float *images;           // input of the last forward
    int last_n, last_training;
    int threads;                   // nn_get_threads() when resnet_init ran (the scratch is sized for it): the
                                   // convolutions and batchnorms split over images and channels; the softmax over
                                   // N x K logits is too small to split
    int correct;                   // correct predictions (argmax of logits == label) in the last forward
    double bytes;                  // allocated by resnet_init
} ResNet;

// A preset's config with CIFAR-10 defaults: "resnet8", "resnet20", "resnet32", "resnet44", "resnet56",
// "resnet110" (n = 1, 3, 5, 7, 9, 18), width 1, batch 128, 10 classes, 32 x 32, option A. Fatal on other names.
ResNetConfig resnet_preset(const char *name);
// Checks the config, declares every tensor and allocates everything. Batchnorm weights are 1, biases 0, running
// means 0 and variances 1 (PyTorch's); convolution and linear weights are 0 until resnet_init_he.
void resnet_init(ResNet *m, const ResNetConfig *cfg);
// He et al. 2015 normal init, kaiming_normal_ in fan_in mode (std = sqrt(2 / fan_in), fan_in = C*KH*KW) for every
// convolution and the linear weight, as akamaster's reference (whose ResNet-20 reaches the paper's 91.25%); the
// linear bias gets PyTorch's default U(-1/sqrt(c3), 1/sqrt(c3)). fan_in keeps the forward activations' scale
// (torchvision uses fan_out for its convolutions, which keeps the gradients' instead; with a batchnorm after
// every convolution either works).
void resnet_init_he(ResNet *m, Rng *rng);
// Bytes resnet_init will allocate for this config (parameters, gradients, statistics, activations, scratch).
double resnet_memory_bytes(const ResNetConfig *cfg);
void resnet_free(ResNet *m);

// images[N,3,H,W], labels[N] -> returns the mean cross-entropy loss and sets m->correct. PASS_TRAIN and
// PASS_STATS: the batchnorms use the batch's statistics and update their running ones (a statistics pass saves and
// restores them around itself), and dLoss/dlogits is kept for resnet_backward; PASS_EVAL: the running statistics.
// m->logits holds the logits either way.
double resnet_forward(ResNet *m, const float *images, const int *labels, int N, Pass pass);
// Accumulates the gradient of the last training forward's mean loss into m->params.grad.
void resnet_backward(ResNet *m);
long resnet_param_count(const ResNet *m);

#endif
