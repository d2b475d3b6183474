// The (L0, L1) envelope fit (optim/smooth_fit): synthetic truth (points whose tau-quantile line is known), the
// optimum against brute force over every vertex of the linear program, and Spearman's correlation by hand.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "nn/rng.h"
#include "optim/smooth_fit.h"

#include <math.h>
#include <stdio.h>

// L^ = (a + b g) U with U uniform on (0, 1): the tau-quantile of L^ given g is tau (a + b g), so the fit recovers
// (tau a, tau b); least squares would give (a + b g) / 2.
static void test_known_quantile_line(void **state) {
    (void)state;
    enum { N = 4000 };
    static double g[N], l[N];
    Rng r;
    rng_seed(&r, 3);
    for (int i = 0; i < N; i++) {
        g[i] = pow(10, -1 + 2 * rng_uniform(&r)); // log-uniform on [0.1, 10]
        l[i] = (2 + 3 * g[i]) * (1 - rng_uniform(&r));
    }
    SmoothFit f = smooth_fit(g, l, N, 0.9);
    printf("# fit L0 %.4f (want 1.8), L1 %.4f (want 2.7), below %.4f, spearman %.3f\n", f.l0, f.l1, f.below,
           f.spearman);
    assert_int_equal(f.n, N);
    assert_float_equal(f.l0, 1.8, 0.15);
    assert_float_equal(f.l1, 2.7, 0.08);
    assert_float_equal(f.below, 0.9, 0.005);
    assert_true(f.spearman > 0.5);
}

// The loss at the fit equals the least loss over every line through two points with L0, L1 >= 0 and every line
// through one point with L0 = 0 or L1 = 0: the vertices of the linear program, where its optimum lies.
static void test_optimum_brute_force(void **state) {
    (void)state;
    enum { N = 40 };
    double g[N], l[N];
    for (int trial = 0; trial < 5; trial++) {
        Rng r;
        rng_seed(&r, 50 + trial);
        for (int i = 0; i < N; i++) g[i] = 0.1 + 5 * rng_uniform(&r), l[i] = 0.01 + (trial + g[i]) * rng_uniform(&r);
        double tau = trial % 2 ? 0.9 : 0.75, best = INFINITY;
        for (int i = 0; i < N; i++) {
            best = fmin(best, smooth_fit_loss(g, l, N, tau, l[i], 0));          // L1 = 0
            best = fmin(best, smooth_fit_loss(g, l, N, tau, 0, l[i] / g[i]));   // L0 = 0
            for (int j = 0; j < N; j++) {
                if (g[j] == g[i]) continue;
                double l1 = (l[j] - l[i]) / (g[j] - g[i]), l0 = l[i] - l1 * g[i];
                if (l1 >= 0 && l0 >= 0) best = fmin(best, smooth_fit_loss(g, l, N, tau, l0, l1));
            }
        }
        SmoothFit f = smooth_fit(g, l, N, tau);
        double got = smooth_fit_loss(g, l, N, tau, f.l0, f.l1);
        printf("# trial %d tau %.2f: loss %.12g, brute force %.12g (L0 %.4f, L1 %.4f)\n", trial, tau, got, best, f.l0,
               f.l1);
        assert_true(f.l0 >= 0 && f.l1 >= 0);
        assert_float_equal(got, best, 1e-9 * best);
    }
}

// Points that are not finite or not positive are left out; fewer than two leave the fit undefined.
static void test_skips_and_degenerate(void **state) {
    (void)state;
    double g[4] = {1, NAN, 2, -1}, l[4] = {1, 1, INFINITY, 1};
    SmoothFit f = smooth_fit(g, l, 4, 0.9);
    assert_int_equal(f.n, 1);
    assert_true(isnan(f.l0) && isnan(f.l1) && isnan(f.spearman));
}

// x = 1..5, y = 5, 6, 7, 8, 7: y's ranks 1, 2, 3.5, 5, 3.5 (the tie shares 3 and 4), so rho = 8 / sqrt(10 * 9.5)
// = 0.8207826816681233 (scipy.stats.spearmanr gives the same); a decreasing y gives -1.
static void test_spearman_by_hand(void **state) {
    (void)state;
    double x[5] = {1, 2, 3, 4, 5}, y[5] = {5, 6, 7, 8, 7}, down[5] = {9, 7, 5, 3, 1};
    assert_float_equal(spearman(x, y, 5), 0.8207826816681233, 1e-15);
    assert_float_equal(spearman(x, down, 5), -1.0, 1e-15);
    assert_true(isnan(spearman(x, y, 1)));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_quantile_line),
        cmocka_unit_test(test_optimum_brute_force),
        cmocka_unit_test(test_skips_and_degenerate),
        cmocka_unit_test(test_spearman_by_hand),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
