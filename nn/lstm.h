// One LSTM layer over a window of T steps, PyTorch's nn.LSTM equations and gate order (i, f, g, o):
//   G = x W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh,  i,f,o = sigmoid(G_i,f,o), g = tanh(G_g)
//   c_t = f * c_{t-1} + i * g,  h_t = o * tanh(c_t)
// T=time steps N=batch IN=input size H=hidden size; all activations time-major [T][N][...].
// Truncated BPTT: h_0, c_0 are the state carried from the previous window, treated as constants.
#ifndef NN_LSTM_H
#define NN_LSTM_H

// h[(T+1),N,H] and c[(T+1),N,H]: slot 0 holds h_0/c_0 on entry; slots 1..T receive the outputs (h + N*H is the
// layer's output [T,N,H]; h[T], c[T] the state to carry).
// gates[T,N,4H] keeps the activated gates and tanhc[T,N,H] tanh(c_t), for backward.
void lstm_forward(float *h, float *c, float *gates, float *tanhc, const float *x, const float *w_ih,
                  const float *w_hh, const float *b_ih, const float *b_hh, int T, int N, int IN, int H);

// Given dh[T,N,H] = dLoss/d(output h_1..h_T), accumulates dx[T,N,IN] (may be NULL), dw_ih, dw_hh, db_ih, db_hh.
// dgates[T,N,4H] and dstate[2,N,H] are scratch.
void lstm_backward(float *dx, float *dw_ih, float *dw_hh, float *db_ih, float *db_hh, float *dgates,
                   float *dstate, const float *dh, const float *h, const float *c, const float *gates,
                   const float *tanhc, const float *x, const float *w_ih, const float *w_hh, int T, int N, int IN,
                   int H);

#endif
