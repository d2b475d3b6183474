// Embedding lookup. N=rows (tokens) V=vocabulary E=embedding size
#ifndef NN_EMBEDDING_H
#define NN_EMBEDDING_H

// out[N,E] = w[ids[n], :]
void embedding_forward(float *out, const int *ids, const float *w, int N, int E);
// dw[ids[n], :] += dout[n, :]  (a token seen twice accumulates twice)
void embedding_backward(float *dw, const float *dout, const int *ids, int N, int E);

#endif
