// Batch normalisation over the channels of NCHW tensors (PyTorch's nn.BatchNorm2d, affine, track_running_stats).
// N=batch C=channels HW=height*width (per-channel statistics over M = N*HW elements)
//   training: y = (x - mean_B) / sqrt(var_B + eps) * weight + bias, var_B biased (divides by M);
//             running = (1 - momentum) * running + momentum * batch statistic, where the running variance takes
//             the unbiased var_B * M / (M - 1) (PyTorch's semantics; momentum 0.1 and eps 1e-5 are its defaults)
//   eval:     the same with the running mean and variance in place of the batch's.
// Statistics are reduced in double from float partial sums; weight, bias, mean, rstd, running_* are [C].
// Channels are split over `threads` threads (nn_parallel_for) when a call has enough work; each channel is computed
// by one thread in a fixed order, so results do not depend on the thread count.
// Fusions for the ResNet (each saves a pass over an [N,C,HW] tensor): forward may add a tensor and apply a ReLU,
// out = relu(bn(inp) + add), and backward may take its gradient through such a ReLU (relu_out).
#ifndef NN_BATCHNORM_H
#define NN_BATCHNORM_H

// out[N,C,HW]; saves mean[C] and rstd[C] = 1/sqrt(var_B + eps) for backward and updates running_mean and
// running_var in place. Backward recomputes the normalised input from inp, mean and rstd (no [N,C,HW] cache), so
// inp must be kept and out must not alias it. add[N,C,HW] (may be NULL, may alias out) is added after the affine
// map; relu != 0 then applies max(., 0) (a NaN stays NaN, as relu_forward).
void batchnorm_forward_train(float *out, float *mean, float *rstd, float *running_mean, float *running_var,
                             const float *inp, const float *weight, const float *bias, float momentum, float eps,
                             int N, int C, int HW, const float *add, int relu, int threads);
// out[N,C,HW] from the running statistics (may alias inp), with the same add and relu.
void batchnorm_forward_eval(float *out, const float *inp, const float *weight, const float *bias,
                            const float *running_mean, const float *running_var, float eps, int N, int C, int HW,
                            const float *add, int relu, int threads);
// The per-channel map batchnorm_forward_eval applies, y = x * scale[c] + shift[c], as it computes it (for a
// convolution that applies it as it stores its outputs: conv2d_forward_then), and its application to one plane of
// n values: y = x * scale + shift (+ a) (then max(., 0) when relu); y may be x or a, a may be NULL.
void batchnorm_eval_affine(float *scale, float *shift, const float *weight, const float *bias,
                           const float *running_mean, const float *running_var, float eps, int C);
void batchnorm_affine_plane(float *y, const float *x, const float *a, int relu, float scale, float shift, long n);
// Backward of the training-mode forward (the batch statistics depend on every input):
//   xhat = (x - mean) rstd,  dbias += sum dout,  dweight += sum dout xhat,
//   dinp += weight rstd / M (M dout - sum dout - xhat sum dout xhat)   (sums per channel over N and HW)
// With relu_out[N,C,HW] (may be NULL), dout is first taken through a ReLU whose output was relu_out: it counts
// only where relu_out > 0 (relu_backward_inplace's rule), without modifying dout.
void batchnorm_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                        const float *mean, const float *rstd, const float *weight, int N, int C, int HW,
                        const float *relu_out, int threads);
// The same into dinp (=, not +=): the bits batchnorm_backward gives into zeros, without zeroing dinp first.
void batchnorm_backward_into(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                             const float *mean, const float *rstd, const float *weight, int N, int C, int HW,
                             const float *relu_out, int threads);

#endif
