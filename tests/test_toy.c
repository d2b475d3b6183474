// The toy objectives: Example 1 of Qian et al. (2021), where clipping makes SGD and IGC move away from the optimum
// while unclipped SGD converges, and an (L0,L1)-smooth polynomial where clipped GD is far faster than fixed-step GD.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gradcheck.h"
#include "models/poly_sum.h"
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

// The finite-sum form (the toy-sum workload's model) against hand-computed values: Example 1 at x = 1 and the
// (L0,L1) polynomial at x = 2; and three incremental steps that equal `toy_example1`'s cyclic order.
static void test_poly_sum_known_values(void **state) {
    (void)state;
    PolySum p;
    poly_sum_example1(&p);
    float *x = params_ptr(&p.params, 0), *g = params_grad(&p.params, 0);
    x[0] = 1;
    long f1 = 0, f3 = 2, all[3] = {0, 1, 2};
    params_zero_grad(&p.params);
    assert_float_equal(poly_sum_batch(&p, &f1, 1, 1), -1.0, 1e-12); // f1 = -x^2
    assert_float_equal(g[0], -2.0f, 0);
    params_zero_grad(&p.params);
    assert_float_equal(poly_sum_batch(&p, &f3, 1, 1), 5.0, 1e-12); // f3 = 5x^2
    assert_float_equal(g[0], 10.0f, 0);
    params_zero_grad(&p.params);
    assert_float_equal(poly_sum_batch(&p, all, 3, 1), 1.0, 1e-12); // f = x^2
    assert_float_equal(g[0], 2.0f, 1e-6);
    double gn, f = poly_sum_full(&p, &gn);
    assert_float_equal(f, 1.0, 1e-12);
    assert_float_equal(gn, 2.0, 1e-12);
    double igc[3];
    toy_example1(igc, 1.0, 0.01, 0, 3, 1, 1, NULL);
    for (long i = 0; i < 3; i++) { // x -= 0.01 f_i'(x), f1 f2 f3
        params_zero_grad(&p.params);
        poly_sum_batch(&p, &i, 1, 1);
        x[0] -= 0.01f * g[0];
        assert_float_equal(x[0], igc[i], 1e-6);
    }
    poly_sum_free(&p);
    poly_sum_l0l1(&p);
    params_ptr(&p.params, 0)[0] = 2;
    assert_float_equal(poly_sum_full(&p, &gn), 6.0, 1e-12); // 16/4 + 4/2
    assert_float_equal(gn, 10.0, 1e-12);                     // x^3 + x
    poly_sum_free(&p);
}

typedef struct {
    PolySum *p;
    const long *ids;
    int n;
} BatchCtx;

static double batch_loss(void *ctx) {
    BatchCtx *c = ctx;
    return poly_sum_batch(c->p, c->ids, c->n, 0);
}

// The noisy quadratic: a batch's gradient against central differences, f(0) = 0 and grad f(0) = 0 (the centres sum
// to zero), and f(x) = sum_j h_j x_j^2 / 2 with h from 1 down to 1/cond.
static void test_poly_sum_nqm(void **state) {
    (void)state;
    PolySum p;
    Rng rng;
    rng_seed(&rng, 3);
    poly_sum_nqm(&p, 5, 7, 16, 0.5, &rng);
    float *x = params_ptr(&p.params, 0);
    gc_fill(x, 5, 1.0f, 11);
    long ids[3] = {1, 4, 6};
    BatchCtx c = {&p, ids, 3};
    params_zero_grad(&p.params);
    poly_sum_batch(&p, ids, 3, 1);
    assert_true(gradcheck("nqm batch", batch_loss, &c, x, params_grad(&p.params, 0), 5, 1e-2f, 5, 1e-3) < 1e-3);
    double want = 0, gn;
    for (int j = 0; j < 5; j++) want += 0.5 * pow(16.0, -j / 4.0) * x[j] * x[j];
    assert_float_equal(poly_sum_full(&p, &gn), want, 1e-5);
    for (int j = 0; j < 5; j++) x[j] = 0;
    assert_float_equal(poly_sum_full(&p, &gn), 0.0, 1e-6);
    assert_true(gn < 1e-6);
    poly_sum_free(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_poly_sum_known_values),
        cmocka_unit_test(test_poly_sum_nqm),
        cmocka_unit_test(test_example1_sgd),
        cmocka_unit_test(test_example1_igc),
        cmocka_unit_test(test_l0l1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
