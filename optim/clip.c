#include "clip.h"

double optim_l2_norm(const float *x, size_t n) {
    // 8 double lanes: vectorisable without reassociating a single accumulator
    double s[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) s[k] += (double)x[i + k] * x[i + k];
    double sum = 0;
    for (int k = 0; k < 8; k++) sum += s[k];
    for (; i < n; i++) sum += (double)x[i] * x[i];
    return __builtin_sqrt(sum);
}

float optim_clip_global_norm(float *g, size_t n, float max_norm, double *norm) {
    double nrm = optim_l2_norm(g, n);
    if (norm) *norm = nrm;
    if (!(max_norm > 0.0f) || nrm <= max_norm) return 1.0f;
    float factor = (float)(max_norm / nrm);
    for (size_t i = 0; i < n; i++) g[i] *= factor;
    return factor;
}
