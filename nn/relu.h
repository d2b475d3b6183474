// Rectified linear unit, element-wise. n=elements
// Forward may run in place (out == inp); backward then reads the output: out > 0 exactly where inp > 0.
#ifndef NN_RELU_H
#define NN_RELU_H

// out = max(inp, 0); a NaN input stays NaN (as torch.relu), so a diverging run shows up in the loss.
void relu_forward(float *out, const float *inp, long n);
// dinp += dout where out > 0. dinp must not alias dout (use relu_backward_inplace for that).
void relu_backward(float *dinp, const float *dout, const float *out, long n);
// d = d where out > 0, else 0: the gradient through the ReLU in place, for a buffer holding only this gradient.
void relu_backward_inplace(float *d, const float *out, long n);
// dinp = dout where out > 0, else 0 (overwrites dinp; dinp must not alias dout).
void relu_backward_mask(float *dinp, const float *dout, const float *out, long n);

#endif
