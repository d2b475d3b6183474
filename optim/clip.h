// Gradient clipping as a transform applied before any optimizer step.
#ifndef OPTIM_CLIP_H
#define OPTIM_CLIP_H

#include <stddef.h>

double optim_l2_norm(const float *x, size_t n); // accumulated in double

// Global L2-norm clipping, C(g; eta) = min(1, eta / ||g||) g (Qian et al. 2021, eq. 4; Pascanu et al. 2013).
// Scales g in place when ||g|| > max_norm and returns the factor applied (1 when not clipped); *norm receives the
// pre-clip norm. PyTorch's clip_grad_norm_ uses max_norm / (||g|| + 1e-6) instead: a relative difference of
// 1e-6/||g||, negligible here; the optimizer issue adds that variant for exact comparisons.
float optim_clip_global_norm(float *g, size_t n, float max_norm, double *norm);

#endif
