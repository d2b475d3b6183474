// Sampling orders: cyclic is the identity every epoch; shuffle is a fresh permutation every epoch, reproducible from
// its seed; replace draws uniformly with replacement.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"
#include "data/sampler.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { M = 100 };

static void test_cyclic(void **state) {
    (void)state;
    Sampler s;
    sampler_init(&s, ORDER_CYCLIC, M, 1);
    for (int e = 0; e < 3; e++) {
        sampler_epoch(&s);
        for (long i = 0; i < M; i++) assert_int_equal(sampler_next(&s, i), i);
    }
    sampler_free(&s);
}

static void test_shuffle(void **state) {
    (void)state;
    Sampler s, t;
    sampler_init(&s, ORDER_SHUFFLE, M, 7), sampler_init(&t, ORDER_SHUFFLE, M, 7);
    long prev[M], moved = 0;
    for (int e = 0; e < 3; e++) {
        sampler_epoch(&s), sampler_epoch(&t);
        int seen[M] = {0};
        long changed = 0;
        for (long i = 0; i < M; i++) {
            long k = sampler_next(&s, i);
            assert_true(k >= 0 && k < M);
            seen[k]++;
            assert_int_equal(k, sampler_next(&t, i)); // same seed, same orders
            moved += k != i;
            if (e > 0) changed += prev[i] != k;
            prev[i] = k;
        }
        for (int k = 0; k < M; k++) assert_int_equal(seen[k], 1); // a permutation: every batch exactly once
        if (e > 0) assert_true(changed > M / 2);                  // a new order every epoch
    }
    assert_true(moved > M); // not the identity
    sampler_free(&s), sampler_free(&t);
}

static void test_replace(void **state) {
    (void)state;
    Sampler s;
    sampler_init(&s, ORDER_REPLACE, M, 3);
    long count[M] = {0}, dups = 0, draws = 0;
    for (int e = 0; e < 200; e++) {
        sampler_epoch(&s);
        int seen[M] = {0};
        for (long i = 0; i < M; i++) {
            long k = sampler_next(&s, i);
            assert_true(k >= 0 && k < M);
            dups += seen[k]++ > 0;
            count[k]++, draws++;
        }
    }
    // with replacement an epoch repeats batches: expected distinct fraction 1 - (1-1/M)^M ~ 0.634
    double distinct = 1.0 - (double)dups / draws;
    printf("# replace: distinct fraction per epoch %.3f (expected 0.634)\n", distinct);
    assert_true(fabs(distinct - 0.634) < 0.02);
    for (int k = 0; k < M; k++) assert_true(count[k] > 140 && count[k] < 260); // mean 200, sd ~14
    sampler_free(&s);
}

static void bad_order(void *arg) { sampler_order(arg); }

static void test_order_names(void **state) {
    (void)state;
    assert_int_equal(sampler_order("shuffle"), ORDER_SHUFFLE);
    expect_fatal(bad_order, "random", "--order 'random': accepted cyclic", (char *)NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cyclic),
        cmocka_unit_test(test_shuffle),
        cmocka_unit_test(test_replace),
        cmocka_unit_test(test_order_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
