// Fully connected layer. N=rows IN=input features OUT=output features
#ifndef NN_LINEAR_H
#define NN_LINEAR_H

// out[N,OUT] = inp[N,IN] w[OUT,IN]^T + b[OUT]   (b may be NULL)
void linear_forward(float *out, const float *inp, const float *w, const float *b, int N, int IN, int OUT);
// dinp[N,IN] += dout w;  dw[OUT,IN] += dout^T inp;  db[OUT] += column sums of dout.  dinp, db may be NULL.
void linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w, int N,
                     int IN, int OUT);

#endif
