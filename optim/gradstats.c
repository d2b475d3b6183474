#include "gradstats.h"
#include "nn/check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double optim_cosine(const float *a, const float *b, size_t n) {
    double ab[8] = {0}, aa[8] = {0}, bb[8] = {0}; // lanes: see optim_l2_norm
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) {
            double x = a[i + k], y = b[i + k];
            ab[k] += x * y, aa[k] += x * x, bb[k] += y * y;
        }
    for (; i < n; i++) ab[0] += (double)a[i] * b[i], aa[0] += (double)a[i] * a[i], bb[0] += (double)b[i] * b[i];
    double sab = 0, saa = 0, sbb = 0;
    for (int k = 0; k < 8; k++) sab += ab[k], saa += aa[k], sbb += bb[k];
    return saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : 0.0;
}

void gradstats_init(GradStats *s, size_t n) {
    s->n = n;
    s->prev_grad = nn_alloc_floats(n);
    s->x_before = nn_alloc_floats(n);
    s->have_prev = 0;
}

double gradstats_before_step(GradStats *s, const float *grad, const float *x) {
    double c = s->have_prev ? optim_cosine(grad, s->prev_grad, s->n) : NAN;
    memcpy(s->prev_grad, grad, s->n * sizeof(float));
    memcpy(s->x_before, x, s->n * sizeof(float));
    s->have_prev = 1;
    return c;
}

double gradstats_after_step(GradStats *s, const float *grad, const float *x) {
    // cos(g, x_before - x): the update is computed in place into x_before (it is not needed afterwards)
    for (size_t i = 0; i < s->n; i++) s->x_before[i] -= x[i];
    return optim_cosine(grad, s->x_before, s->n);
}

void gradstats_free(GradStats *s) {
    free(s->prev_grad);
    free(s->x_before);
}
