// Inverted dropout: the mask holds 0 or 1/(1-p), so evaluation needs no rescaling. n=elements
#ifndef NN_DROPOUT_H
#define NN_DROPOUT_H

#include "rng.h"

void dropout_mask(float *mask, long n, float p, Rng *rng);               // mask[i] = 0 with probability p
void dropout_forward(float *out, const float *inp, const float *mask, long n);   // out = inp * mask (in place ok)
void dropout_backward(float *dinp, const float *dout, const float *mask, long n); // dinp += dout * mask

#endif
