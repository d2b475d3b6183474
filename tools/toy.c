// `nnopt toy`: the clipping literature's one-dimensional examples, run exactly.
#include "cli.h"
#include "models/toy.h"
#include "nn/check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_toy(int argc, char **argv) {
    int runs = 20000, steps = 300;
    double alpha = 0.01;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) runs = (int)cli_long("--runs", argv[++i], 1, 10000000);
        else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc)
            steps = (int)cli_long("--steps", argv[++i], 3, 1000000);
        else if (strcmp(argv[i], "--alpha") == 0 && i + 1 < argc) alpha = cli_double("--alpha", argv[++i], 1e-9, 0.05);
        else NN_FATAL("toy: unknown argument '%s'; accepted: --runs N (20000), --steps N (300), --alpha X (0.01)",
                      argv[i]);
    }
    Rng rng;
    rng_seed(&rng, 1);
    double *m[4];
    for (int k = 0; k < 4; k++) m[k] = nn_malloc(sizeof(double) * (size_t)steps);
    toy_example1(m[0], 1.0, alpha, 0, steps, runs, 0, &rng);
    toy_example1(m[1], 1.0, alpha, 2.0, steps, runs, 0, &rng);
    toy_example1(m[2], 1.0, alpha, 0, steps, 1, 1, &rng);
    toy_example1(m[3], 1.0, alpha, 2.0, steps, 1, 1, &rng);
    printf("Example 1 of Qian et al. (2021): f1 = f2 = -x^2, f3 = 5x^2, f = x^2, x0 = 1, step %g, clip eta = 2.\n"
           "SGD columns: the mean iterate over %d runs (components drawn uniformly); IGC: the cyclic order f1 f2 f3.\n"
           "%8s %14s %14s %14s %14s\n", alpha, runs, "step", "SGD", "clipped SGD", "IGC", "clipped IGC");
    for (int k = 0; k < steps; k++)
        if ((k + 1) % (steps / 10 > 0 ? steps / 10 : 1) == 0 || k == 0)
            printf("%8d %14.6f %14.6f %14.6f %14.6f\n", k + 1, m[0][k], m[1][k], m[2][k], m[3][k]);
    printf("clipping %s the expected iterate from the optimum 0: E[C(f_i'(1); 2)] = (-2 - 2 + 2)/3 = -2/3 < 0.\n\n",
           m[1][steps - 1] > 1.0 ? "moves" : "does not move");
    const long max_iter = 10000000;
    const double x0 = 10.3, h = 1.0 / (3 * x0 * x0 + 1); // 1 / f''(x0): the largest safe fixed step from x0
    long fixed = toy_l0l1_gd(x0, h, 0, 1e-8, max_iter, 0), clip = toy_l0l1_gd(x0, 1, 1, 1e-8, max_iter, 1);
    long naive = toy_l0l1_gd(x0, 1, 0, 1e-8, max_iter, 0);
    printf("f(x) = x^4/4 + x^2/2, (L0,L1)-smooth: f'' = 3x^2 + 1 <= 4 + 3|f'|; x0 = %g, until |f'| < 1e-8:\n"
           "  gradient descent, fixed step 1/f''(x0) = %.5f: %ld iterations\n"
           "  gradient descent, fixed step 1:             %s\n"
           "  clipped gradient descent, x -= min(1, 1/|f'|) f': %ld iterations\n",
           x0, h, fixed, naive >= max_iter ? "diverges" : "converges", clip);
    for (int k = 0; k < 4; k++) free(m[k]);
    return 0;
}
