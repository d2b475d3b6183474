// Causal multi-head self-attention (Vaswani et al. 2017), the part between the input and output projections.
// For sequence n and head h, with q, k, v that head's hd = D/H columns of the rows' Q, K and V:
//   P = softmax(q k^T / sqrt(hd) + causal mask)   (row i attends to positions j <= i)
//   out = (P * M) v                                (M: the dropout mask on the probabilities, or none)
// Scale, mask and softmax are fused per row; P is kept for the backward pass.
// N=sequences T=positions D=model width H=heads hd=D/H. Rows are sequence-major: row n*T + t.
//   qkv   [N*T, 3D]  each row Q | K | V (one product over all rows), head h at columns h*hd .. h*hd+hd-1 of each
//   out   [N*T, D]   the heads side by side, head h at columns h*hd..
//   probs [N, H, T, T] P, zero above the diagonal
//   mask  [N, H, T, T] 0 or 1/(1-p) (nn/dropout.h), or NULL for no dropout
// The (sequence, head) pairs are independent and split over up to `threads` threads, each with its own T x T
// scratch, so the result is the same for every thread count.
#ifndef NN_ATTENTION_H
#define NN_ATTENTION_H

// Floats of scratch the two functions need for `threads` threads.
long attention_scratch_floats(int T, int threads);
void attention_forward(float *out, float *probs, const float *qkv, const float *mask, int N, int T, int D, int H,
                       float *scratch, int threads);
// dqkv[N*T, 3D] = dL/dqkv from dout[N*T, D] (dL/dout), the forward's qkv, probs and mask. Written, not
// accumulated: every element is set (each pair's q, k and v columns over all T rows), so no zeroing pass is needed.
void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *probs, const float *mask,
                        int N, int T, int D, int H, float *scratch, int threads);

#endif
