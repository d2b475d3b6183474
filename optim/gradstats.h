// Online gradient statistics, a few passes over the flat vectors per step: the cosine between this batch gradient
// and the previous one, and between this gradient and the update the optimizer made (x_before - x_after).
#ifndef OPTIM_GRADSTATS_H
#define OPTIM_GRADSTATS_H

#include <stddef.h>

typedef struct {
    size_t n;
    float *prev_grad; // [n] the previous step's (clipped) gradient
    float *x_before;  // [n] the parameters before the optimizer step
    int have_prev;
} GradStats;

double optim_cosine(const float *a, const float *b, size_t n); // 0 when either vector is 0
void gradstats_init(GradStats *s, size_t n);
// Before the optimizer step: returns cos(g, previous g) (NaN at the first step) and keeps x and g.
double gradstats_before_step(GradStats *s, const float *grad, const float *x);
// After the step: returns cos(g, x_before - x_after), the cosine between the gradient and the update direction.
double gradstats_after_step(GradStats *s, const float *grad, const float *x);
void gradstats_free(GradStats *s);

#endif
