// GELU with the tanh approximation (Hendrycks & Gimpel 2016; GPT-2; PyTorch's nn.GELU(approximate='tanh')):
//   gelu(x) = x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))).
// The tanh form rather than erf: it vectorises through nn/fastmath.h's tanh, and the two differ by < 5e-4.
#ifndef NN_GELU_H
#define NN_GELU_H

void gelu_forward(float *out, const float *inp, long n);                     // out may alias inp
// dinp = dout * gelu'(inp): written, not accumulated, so that it may run in place (dinp == dout) on the MLP's
// widest buffer.
void gelu_backward(float *dinp, const float *dout, const float *inp, long n);

#endif
