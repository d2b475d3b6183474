// The toy objectives: Example 1 of Qian et al. (2021), where clipping makes SGD and IGC move away from the optimum
// while unclipped SGD converges, and an (L0,L1)-smooth polynomial where clipped GD is far faster than fixed-step GD.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "models/toy.h"

#include <math.h>
#include <stdio.h>

enum { STEPS = 300, RUNS = 20000 };

static void test_example1_sgd(void **state) {
    (void)state;
    static double plain[STEPS], clipped[STEPS];
    Rng rng;
    rng_seed(&rng, 5);
    const double alpha = 0.01;
    toy_example1(plain, 1.0, alpha, 0, STEPS, RUNS, 0, &rng);
    toy_example1(clipped, 1.0, alpha, 2.0, STEPS, RUNS, 0, &rng);
    // Unclipped, E[x_{k+1}] = (1 - alpha E[c_i]) E[x_k] with E[c_i] = (-2 - 2 + 10)/3 = 2: exactly (1 - 2 alpha)^k.
    double want = pow(1 - 2 * alpha, STEPS);
    printf("# SGD: mean x after %d steps %.6f (exact expectation %.6f); clipped SGD: %.4f (x0 = 1)\n", STEPS,
           plain[STEPS - 1], want, clipped[STEPS - 1]);
    assert_true(fabs(plain[STEPS - 1] - want) < 0.15 * want);
    // Clipped at eta = 2 from x = 1: E[C(f_i'(x); 2)] = -2/3 while |x| >= 1, so the mean moves away from 0 by about
    // 2 alpha / 3 per step: to about 3 after 300 steps.
    assert_true(clipped[0] > 1.0 && clipped[STEPS - 1] > 2.5);
    for (int k = 29; k < STEPS; k += 30) assert_true(clipped[k] > clipped[k - 29]); // still moving away
}

static void test_example1_igc(void **state) {
    (void)state;
    static double plain[STEPS], clipped[STEPS];
    Rng rng;
    rng_seed(&rng, 1);
    toy_example1(plain, 1.0, 0.01, 0, STEPS, 1, 1, &rng);
    toy_example1(clipped, 1.0, 0.01, 2.0, STEPS, 1, 1, &rng);
    // cyclic f1 f2 f3 with clipping: +2 alpha, +2 alpha, -2 alpha per cycle while x >= 1, exactly
    assert_true(fabs(clipped[0] - 1.02) < 1e-12 && fabs(clipped[2] - 1.02) < 1e-12);
    assert_true(fabs(clipped[STEPS - 1] - (1.0 + 0.02 * STEPS / 3)) < 1e-9);
    // unclipped: x (1 + 2 alpha)^2 (1 - 10 alpha) per cycle
    assert_true(fabs(plain[STEPS - 1] - pow(1.02 * 1.02 * 0.9, STEPS / 3)) < 1e-12);
}

static void test_l0l1(void **state) {
    (void)state;
    const double x0 = 10.3, h = 1.0 / (3 * x0 * x0 + 1);
    long fixed = toy_l0l1_gd(x0, h, 0, 1e-8, 10000000, 0);
    long clipped = toy_l0l1_gd(x0, 1, 1, 1e-8, 10000000, 1);
    long naive = toy_l0l1_gd(x0, 1, 0, 1e-8, 10000000, 0);
    printf("# (L0,L1): fixed step 1/f''(x0): %ld iterations, clipped: %ld, fixed step 1: %s\n", fixed, clipped,
           naive >= 10000000 ? "diverges" : "converges");
    assert_true(naive >= 10000000);             // the step clipped GD takes near 0 diverges without clipping
    assert_true(clipped < 30 && fixed > 1000); // ~x0 / 1 steps of length 1, then fast; vs ~f''(x0) ln(1/tol)
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example1_sgd),
        cmocka_unit_test(test_example1_igc),
        cmocka_unit_test(test_l0l1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
