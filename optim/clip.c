#include "clip.h"
#include "nn/check.h"

#include <math.h>
#include <string.h>

double optim_l2_norm(const float *x, size_t n) {
    // 8 double lanes: vectorisable without reassociating a single accumulator
    double s[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) s[k] += (double)x[i + k] * x[i + k];
    double sum = 0;
    for (int k = 0; k < 8; k++) sum += s[k];
    for (; i < n; i++) sum += (double)x[i] * x[i];
    return sqrt(sum);
}

static void scale(float *g, size_t n, float f) {
    for (size_t i = 0; i < n; i++) g[i] *= f;
}

float optim_clip_global_norm(float *g, size_t n, float max_norm, double *norm) {
    double nrm = optim_l2_norm(g, n);
    if (norm) *norm = nrm;
    if (!(max_norm > 0.0f) || nrm <= max_norm) return 1.0f;
    float factor = (float)(max_norm / nrm);
    scale(g, n, factor);
    return factor;
}

float optim_clip(ClipMode mode, float *g, size_t n, const ParamView *views, int nviews, float eta, double *norm) {
    if (mode == CLIP_NORM) return optim_clip_global_norm(g, n, eta, norm);
    double before = optim_l2_norm(g, n);
    if (norm) *norm = before;
    if (!(eta > 0.0f) || before == 0.0) return 1.0f;
    switch (mode) {
    case CLIP_NORM_TORCH: {
        double coef = eta / (before + 1e-6); // as torch 1.13: scales only when coef < 1
        if (coef >= 1.0) return 1.0f;
        scale(g, n, (float)coef);
        return (float)coef;
    }
    case CLIP_TENSOR:
        NN_CHECK(views && nviews > 0, "per-tensor clipping needs the list of named tensors");
        for (int v = 0; v < nviews; v++) optim_clip_global_norm(g + views[v].offset, views[v].size, eta, NULL);
        break;
    case CLIP_VALUE:
        for (size_t i = 0; i < n; i++) g[i] = g[i] > eta ? eta : g[i] < -eta ? -eta : g[i];
        break;
    default: break;
    }
    return (float)(optim_l2_norm(g, n) / before);
}

ClipMode optim_clip_mode(const char *name) {
    static const char *const names[] = {"norm", "torch", "tensor", "value"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0) return (ClipMode)i;
    NN_FATAL("--clip-mode '%s': accepted norm (global L2 norm), torch (clip_grad_norm_'s eta/(norm+1e-6)), tensor "
             "(per named tensor), value (element-wise)", name);
}
