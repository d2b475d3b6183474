// Gradient clipping as a transform applied to the flat gradient before any optimizer step.
#ifndef OPTIM_CLIP_H
#define OPTIM_CLIP_H

#include "nn/params.h"
#include <stddef.h>

typedef enum {
    CLIP_NORM,       // global L2 norm: C(g; eta) = min(1, eta / ||g||) g (Qian et al. 2021, eq. 4)
    CLIP_NORM_TORCH, // torch.nn.utils.clip_grad_norm_: scale min(1, eta / (||g|| + 1e-6))
    CLIP_TENSOR,     // the global rule applied to each named tensor (view) on its own
    CLIP_VALUE,      // element-wise: g_i <- max(-eta, min(eta, g_i)) (torch.nn.utils.clip_grad_value_)
} ClipMode;

double optim_l2_norm(const float *x, size_t n); // accumulated in double
// The sum of squares of one block as optim_l2_norm takes it (8 interleaved double sums), for passes that fuse it.
double optim_sum_squares(const float *x, size_t n);

// Clips g in place with threshold eta (eta <= 0: no clipping). *norm receives the global L2 norm before clipping.
// Returns the clip factor ||g after|| / ||g before|| (1 when nothing changed; for the global modes it is the scale
// applied), so every mode reports the same quantity.
float optim_clip(ClipMode mode, float *g, size_t n, const ParamView *views, int nviews, float eta, double *norm);
// The factor of the global modes (CLIP_NORM, CLIP_NORM_TORCH) without touching g: what optim_clip would scale g by
// (1 when it would not), for an optimizer's step_scaled. *norm receives ||g||.
float optim_clip_factor(ClipMode mode, const float *g, size_t n, float eta, double *norm);
// The global L2-norm rule alone (CLIP_NORM).
float optim_clip_global_norm(float *g, size_t n, float max_norm, double *norm);
// "norm" | "torch" | "tensor" | "value"; anything else is fatal and lists these.
ClipMode optim_clip_mode(const char *name);

#endif
