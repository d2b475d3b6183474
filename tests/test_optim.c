// SGD, global-norm clipping and the step-decay schedule against values worked out by hand, and the registry's
// handling of names.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"
#include "optim/clip.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"

#include <math.h>
#include <stdio.h>

static void test_sgd_trajectory(void **state) {
    (void)state;
    // f(x) = 0.5 * sum_i a_i x_i^2, g = a * x: gradient descent contracts each coordinate by (1 - lr a_i) per step
    float x[3] = {1.0f, -2.0f, 0.5f}, g[3];
    const float a[3] = {1.0f, 0.5f, 3.0f}, lr = 0.1f;
    Optimizer *o = optim_create("sgd", NULL);
    for (int step = 0; step < 25; step++) {
        for (int i = 0; i < 3; i++) g[i] = a[i] * x[i];
        o->step(o, x, g, 3, NULL, 0, lr);
    }
    const double x0[3] = {1.0, -2.0, 0.5};
    for (int i = 0; i < 3; i++) {
        double want = x0[i] * pow(1.0 - lr * a[i], 25);
        printf("# sgd x[%d] after 25 steps: %.8f (closed form %.8f)\n", i, x[i], want);
        assert_true(fabs(x[i] - want) < 1e-6);
    }
    optim_free(o);
}

static void test_clip_global_norm(void **state) {
    (void)state;
    float g[2] = {3.0f, 4.0f}; // ||g|| = 5
    double norm;
    assert_float_equal(optim_clip_global_norm(g, 2, 10.0f, &norm), 1.0f, 0); // below threshold: untouched
    assert_float_equal(norm, 5.0, 1e-12);
    assert_float_equal(g[0], 3.0f, 0);
    assert_float_equal(optim_clip_global_norm(g, 2, 5.0f, &norm), 1.0f, 0); // exactly at the threshold: untouched
    float f = optim_clip_global_norm(g, 2, 2.5f, &norm);                     // C(g; 2.5) = g / 2
    assert_float_equal(f, 0.5f, 1e-7);
    assert_float_equal(g[0], 1.5f, 1e-6), assert_float_equal(g[1], 2.0f, 1e-6);
    assert_float_equal(optim_l2_norm(g, 2), 2.5, 1e-6);
    float z[4] = {0}; // a zero gradient is never divided by
    assert_float_equal(optim_clip_global_norm(z, 4, 1.0f, &norm), 1.0f, 0);
    assert_true(z[0] == 0.0f && norm == 0.0);
    float big[3] = {3e30f, 4e30f, 0}; // the norm accumulates in double: no overflow to inf
    f = optim_clip_global_norm(big, 3, 1.0f, &norm);
    assert_true(isfinite(norm) && fabs(norm - 5e30) < 1e24);
    assert_float_equal(big[0], 0.6f, 1e-6);
    float off[2] = {3, 4}; // max_norm 0 disables clipping
    assert_float_equal(optim_clip_global_norm(off, 2, 0.0f, &norm), 1.0f, 0);
}

static void test_zaremba_schedule(void **state) {
    (void)state;
    // zaremba-small: lr 20 (the paper's 1, times T = 20) for epochs 1-4, then halved every epoch
    const float want[14] = {0, 20, 20, 20, 20, 10, 5, 2.5f, 1.25f, 0.625f, 0.3125f, 0.15625f, 0.078125f, 0.0390625f};
    for (int e = 1; e <= 13; e++) assert_float_equal(schedule_step_decay(20.0f, e, 4, 0.5f), want[e], 1e-6);
    assert_float_equal(schedule_step_decay(1.0f, 100, 4, 1.0f), 1.0f, 0); // decay 1: constant
}

static void create_unknown(void *arg) { (void)arg, optim_create("adamx", NULL); }
static void create_with_args(void *arg) { (void)arg, optim_create("sgd", "momentum=0.9"); }

static void test_registry_errors(void **state) {
    (void)state;
    expect_fatal(create_unknown, NULL, "unknown optimizer 'adamx'; accepted: sgd", (char *)NULL);
    expect_fatal(create_with_args, NULL, "takes no --optim-args", (char *)NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd_trajectory),
        cmocka_unit_test(test_clip_global_norm),
        cmocka_unit_test(test_zaremba_schedule),
        cmocka_unit_test(test_registry_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
