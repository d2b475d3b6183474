// Toy objectives from the clipping literature, small enough to run exactly.
#ifndef MODELS_TOY_H
#define MODELS_TOY_H

#include "nn/rng.h"

// Example 1 of Qian et al. (2021): f1 = f2 = -x^2, f3 = 5x^2, f = (f1+f2+f3)/3 = x^2 (optimum 0). From x0, runs
// `runs` independent SGD paths of `steps` steps with components drawn uniformly (order 0), or the cyclic order
// f1, f2, f3 (order 1: the incremental gradient method), with step size alpha and clipping threshold eta (0: off).
// Writes the mean iterate over the runs after each step into mean[steps].
void toy_example1(double *mean, double x0, double alpha, double eta, int steps, int runs, int cyclic, Rng *rng);

// The (L0,L1)-smooth f(x) = x^4/4 + x^2/2 (f'' = 3x^2 + 1 grows with |f'|): iterations of gradient descent until
// |f'(x)| < tol, from x0. Fixed step h: x -= h f'; clipped: x -= min(h, gamma/|f'|) f'. Returns max_iter when
// it does not get there.
long toy_l0l1_gd(double x0, double h, double gamma, double tol, long max_iter, int clipped);

#endif
