// Layer normalisation over the last dimension (Ba et al. 2016; PyTorch's nn.LayerNorm(C)):
//   y = (x - mean) * rstd * weight + bias,   rstd = 1 / sqrt(var + eps),
// mean and the biased variance over the C features of each row. N=rows C=features
#ifndef NN_LAYERNORM_H
#define NN_LAYERNORM_H

#define LAYERNORM_EPS 1e-5f // PyTorch's default

// out[N,C]; mean[N] and rstd[N] are kept for the backward pass. out may not alias inp.
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *weight, const float *bias,
                       int N, int C);
// dinp[N,C] += dL/dinp, dweight[C] += dL/dweight, dbias[C] += dL/dbias, from dout[N,C] and the forward's inp, mean
// and rstd.
void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                        const float *weight, const float *mean, const float *rstd, int N, int C);

#endif
