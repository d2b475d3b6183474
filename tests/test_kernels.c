// The BLAS wrapper against plain loops, the parameter arena's layout, and the RNG's determinism and ranges.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fixture.h"
#include "gradcheck.h"
#include "nn/blas.h"
#include "nn/check.h"
#include "nn/params.h"
#include "nn/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static void test_sgemm_vs_naive(void **state) {
    (void)state;
    // odd sizes (no multiple of any vector width), every transpose, alpha and beta
    const int M = 37, N = 29, K = 53;
    float *A = nn_alloc_floats(M * K), *B = nn_alloc_floats(K * N), *C0 = nn_alloc_floats(M * N);
    float *C1 = nn_alloc_floats(M * N), *C2 = nn_alloc_floats(M * N);
    gc_fill(A, M * K, 1, 1), gc_fill(B, K * N, 1, 2), gc_fill(C0, M * N, 1, 3);
    long bad = 0;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int beta = 0; beta < 2; beta++) {
                for (int i = 0; i < M * N; i++) C1[i] = C2[i] = C0[i];
                nn_sgemm(ta, tb, M, N, K, 0.7f, A, B, (float)beta, C1);
                nn_sgemm_naive(ta, tb, M, N, K, 0.7f, A, B, (float)beta, C2);
                char what[64];
                snprintf(what, sizeof what, "sgemm transA=%d transB=%d beta=%d", ta, tb, beta);
                bad += fx_compare(what, C1, C2, M * N, 1e-5, 1e-5);
            }
    assert_int_equal(0, bad);
    // the naive loops themselves, on a product worked out by hand: [1 2; 3 4] [5 6; 7 8] = [19 22; 43 50]
    float a[] = {1, 2, 3, 4}, b[] = {5, 6, 7, 8}, c[4] = {0};
    nn_sgemm_naive(0, 0, 2, 2, 2, 1, a, b, 0, c);
    assert_float_equal(c[0], 19, 0), assert_float_equal(c[1], 22, 0);
    assert_float_equal(c[2], 43, 0), assert_float_equal(c[3], 50, 0);
    nn_sgemm(1, 0, 2, 2, 2, 1, a, b, 0, c); // A^T B = [1 3; 2 4][5 6; 7 8] = [26 30; 38 44]
    assert_float_equal(c[0], 26, 0), assert_float_equal(c[3], 44, 0);
    free(A), free(B), free(C0), free(C1), free(C2);
}

// Products large enough to be split over threads (nn/blas.c: above 2e7 multiply-adds), wide (split into column
// blocks) and tall (row blocks), with sizes that are no multiple of the 16-wide blocks, on 2 and 3 threads: each
// equals the plain loops, and repeats bit for bit (the blocks depend on the thread count only, never on timing).
// (Bits may differ from the one-thread product: the kernels treat a block's edge tiles differently.)
static void test_sgemm_split_over_threads(void **state) {
    (void)state;
    const int shapes[2][3] = {{45, 1301, 347}, {1301, 45, 347}}; // M, N, K: wide, then tall
    long bad = 0;
    for (int s = 0; s < 2; s++) {
        int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        float *A = nn_alloc_floats((size_t)M * K), *B = nn_alloc_floats((size_t)K * N);
        float *C0 = nn_alloc_floats((size_t)M * N), *C1 = nn_alloc_floats((size_t)M * N);
        float *C2 = nn_alloc_floats((size_t)M * N), *C3 = nn_alloc_floats((size_t)M * N);
        gc_fill(A, (long)M * K, 1, 4), gc_fill(B, (long)K * N, 1, 5), gc_fill(C0, (long)M * N, 1, 6);
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                for (long i = 0; i < (long)M * N; i++) C3[i] = C0[i];
                nn_sgemm_naive(ta, tb, M, N, K, 0.7f, A, B, 0.5f, C3);
                for (int threads = 2; threads <= 3; threads++) {
                    for (long i = 0; i < (long)M * N; i++) C2[i] = C0[i];
                    nn_set_threads(threads);
                    nn_sgemm(ta, tb, M, N, K, 0.7f, A, B, 0.5f, C2);
                    char what[96];
                    snprintf(what, sizeof what, "%dx%dx%d transA=%d transB=%d on %d threads", M, N, K, ta, tb,
                             threads);
                    bad += fx_compare(what, C2, C3, (long)M * N, 1e-4, 1e-5);
                    for (long i = 0; i < (long)M * N; i++) C1[i] = C0[i];
                    nn_sgemm(ta, tb, M, N, K, 0.7f, A, B, 0.5f, C1);
                    long differ = 0;
                    for (long i = 0; i < (long)M * N; i++) differ += C2[i] != C1[i];
                    if (differ) printf("%s: %ld elements differ in a repeat\n", what, differ), bad++;
                }
            }
        free(A), free(B), free(C0), free(C1), free(C2), free(C3);
    }
    nn_set_threads(1);
    assert_int_equal(0, bad);
}

static void test_params_layout(void **state) {
    (void)state;
    Params p;
    params_init(&p);
    int a = params_add(&p, "a.weight", 2, (int[]){3, 5});
    int b = params_add(&p, "a.bias", 1, (int[]){5});
    int c = params_add(&p, "b.weight", 3, (int[]){2, 2, 2});
    params_alloc(&p);
    assert_int_equal(p.n, 15 + 5 + 8); // packed back to back: n is the parameter count
    assert_int_equal(p.views[a].offset, 0);
    assert_int_equal(p.views[b].offset, 15);
    assert_int_equal(p.views[c].offset, 20);
    assert_int_equal(params_find(&p, "a.bias"), b);
    assert_int_equal(params_find(&p, "nope"), -1);
    assert_true(((uintptr_t)p.param & 63) == 0 && ((uintptr_t)p.grad & 63) == 0);
    for (size_t i = 0; i < p.n; i++) assert_true(p.param[i] == 0 && p.grad[i] == 0);
    params_grad(&p, c)[7] = 3;
    assert_float_equal(p.grad[27], 3, 0);
    params_zero_grad(&p);
    assert_float_equal(p.grad[27], 0, 0);
    params_free(&p);
}

static void test_rng(void **state) {
    (void)state;
    Rng a, b;
    rng_seed(&a, 123), rng_seed(&b, 123);
    for (int i = 0; i < 100; i++) assert_true(rng_next(&a) == rng_next(&b));
    rng_seed(&b, 124);
    assert_true(rng_next(&a) != rng_next(&b));
    double sum = 0, sq = 0;
    int counts[7] = {0};
    const int n = 200000;
    for (int i = 0; i < n; i++) {
        float u = rng_uniform(&a);
        assert_true(u >= 0.0f && u < 1.0f);
        float z = rng_normal(&a);
        sum += z, sq += (double)z * z;
        counts[rng_below(&a, 7)]++;
    }
    double mean = sum / n, var = sq / n - mean * mean;
    printf("# normal: mean %.4f var %.4f over %d; rng_below(7) counts %d..%d\n", mean, var, n, counts[0], counts[6]);
    assert_true(fabs(mean) < 0.01 && fabs(var - 1) < 0.02); // sd of the mean 0.0022, of the variance 0.0032
    for (int k = 0; k < 7; k++) assert_true(abs(counts[k] - n / 7) < 600); // sd ~ 157
}

// Published known-answer vectors, so that the stream bit-exact resume rests on is the reference algorithms' and not
// only equal to itself. splitmix64 (Vigna's splitmix64.c, as quoted by the rand_xoshiro crate's tests): seed
// 1477776061723855037 gives 1985237415132408290, 2979275885539914483, 13511426838097143398, 8488337342461049707, which
// rng_seed puts into the state in that order. xoshiro256** from the state {1, 2, 3, 4} (the same crate's reference
// test of xoshiro256starstar.c); the first two by hand: rotl(2 * 5, 7) * 9 = 11520, then s[1] = 2 ^ (3 ^ 1) = 0.
static void test_rng_known_answers(void **state) {
    (void)state;
    Rng r;
    rng_seed(&r, 1477776061723855037ull);
    const uint64_t split[4] = {1985237415132408290ull, 2979275885539914483ull, 13511426838097143398ull,
                               8488337342461049707ull};
    for (int i = 0; i < 4; i++) assert_true(r.s[i] == split[i]);
    r = (Rng){{1, 2, 3, 4}};
    const uint64_t xo[10] = {11520ull, 0ull, 1509978240ull, 1215971899390074240ull, 1216172134540287360ull,
                             607988272756665600ull, 16172922978634559625ull, 8476171486693032832ull,
                             10595114339597558777ull, 2904607092377533576ull};
    for (int i = 0; i < 10; i++) {
        uint64_t got = rng_next(&r);
        if (got != xo[i]) printf("# xoshiro256** output %d: %llu, expected %llu\n", i, (unsigned long long)got,
                                 (unsigned long long)xo[i]);
        assert_true(got == xo[i]);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rng_known_answers),
        cmocka_unit_test(test_sgemm_vs_naive),
        cmocka_unit_test(test_sgemm_split_over_threads),
        cmocka_unit_test(test_params_layout),
        cmocka_unit_test(test_rng),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
