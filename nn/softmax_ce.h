// Softmax fused with cross-entropy. N=rows (tokens) V=classes (vocabulary)
// Both functions work in place (the 16 MB logits of a PTB window are not copied), split the rows over `threads`,
// and return the loss summed over rows, sum_n [log sum_v exp(logits[n,v]) - logits[n,targets[n]]], in double.
#ifndef NN_SOFTMAX_CE_H
#define NN_SOFTMAX_CE_H

// Loss only; the logits are left as they are.
double softmax_ce_loss(float *logits, const int *targets, int N, int V, int threads);
// Loss, and logits replaced by their gradient (softmax(logits) - onehot(targets)) * scale; with scale = 1/N that
// is the gradient of the mean loss.
double softmax_ce_forward_backward(float *logits, const int *targets, int N, int V, float scale, int threads);

#endif
