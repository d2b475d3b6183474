// Central-difference gradient checks: the independent reference for every hand-written backward pass.
#ifndef TESTS_GRADCHECK_H
#define TESTS_GRADCHECK_H

// Runs the forward pass(es) for the current inputs and returns a scalar loss, reduced in double.
typedef double (*GcLoss)(void *ctx);

// Compares grad[i] with (loss(x_i + eps) - loss(x_i - eps)) / (2 eps) for every i (or an evenly spread sample of
// max_checks of them). The error is normalised by the tensor's largest gradient:
//   err = max_i |grad_i - numeric_i| / max(max_i |numeric_i|, 1e-6).
// Prints "# <what>: checked k of n, max |grad| G, max abs err A, normalised err E (tol T)" and returns E.
double gradcheck(const char *what, GcLoss loss, void *ctx, float *x, const float *grad, long n, float eps,
                 long max_checks, double tol);

// sum_i a[i] * r[i] in double: the scalar "loss" that turns a layer's output into something to differentiate.
double gc_dot(const float *a, const float *r, long n);
// Fills x with U(-scale, scale) from a fixed 64-bit seed (deterministic test inputs).
void gc_fill(float *x, long n, float scale, unsigned long long seed);

#endif
