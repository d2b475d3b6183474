// Pooling over NCHW tensors (PyTorch's MaxPool2d / AvgPool2d without padding, and global average pooling).
// N=batch C=channels H,W=input size K=square window S=stride OH = (H-K)/S + 1, OW = (W-K)/S + 1 (floor mode)
#ifndef NN_POOL_H
#define NN_POOL_H

// OH or OW for an input size, window and stride; checks them (NN_CHECK, at model build time).
int pool_out_size(int in, int K, int S);

// out[N,C,OH,OW] = window maxima; argmax[N,C,OH,OW] keeps each one's index ih*W + iw in its input plane (the first
// maximum in row-major order, as PyTorch; a NaN wins, so it propagates).
void maxpool2d_forward(float *out, int *argmax, const float *inp, int N, int C, int H, int W, int K, int S);
// dinp[N,C,H,W] += dout routed to each window's maximum (overlapping windows add up).
void maxpool2d_backward(float *dinp, const float *dout, const int *argmax, int N, int C, int H, int W, int K,
                        int S);
// out[N,C,OH,OW] = window means (every window lies inside the input: no padding to count).
void avgpool2d_forward(float *out, const float *inp, int N, int C, int H, int W, int K, int S);
// dinp[N,C,H,W] += dout / K^2 over each window.
void avgpool2d_backward(float *dinp, const float *dout, int N, int C, int H, int W, int K, int S);

// out[N,C] = mean of each inp[n,c,:] over its HW = H*W elements (ResNet's pooling before the classifier).
void global_avgpool_forward(float *out, const float *inp, int N, int C, int HW);
// dinp[N,C,HW] += dout[n,c] / HW
void global_avgpool_backward(float *dinp, const float *dout, int N, int C, int HW);

#endif
