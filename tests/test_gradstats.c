// Exact gradient statistics (optim/exactstats, models/lm_components): hand-computed values on Example 1 of Qian et
// al. 2021, the streaming two-pass computation against brute force with every batch gradient kept, the batch
// layout against per-window gradients, and one batch holding the whole data set (every cosine is 1).
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "models/lm_components.h"
#include "nn/check.h"
#include "optim/exactstats.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---- fixed vectors: fn returns row i of a table
typedef struct { const float *rows; size_t n; } Table;

static const float *table_grad(void *ctx, long i) {
    Table *t = ctx;
    return t->rows + i * t->n;
}

// Example 1: f1 = f2 = -x^2, f3 = 5x^2 at x = 1: g = -2, -2, 10, grad f = 2, cosines -1, -1, 1. With eta = 2 the
// clipped batch gradients are -2, -2, 2, so <sum C, grad f> / (m |grad f|^2) = (-2 * 2) / (3 * 4) = -1/3.
static void test_example1_by_hand(void **state) {
    (void)state;
    float g[3] = {-2, -2, 10};
    Table t = {g, 1};
    double full, eta[3] = {2, 100, 0.5};
    exactstats_full_gradient(&full, table_grad, &t, 3, 1);
    assert_float_equal(full, 2.0, 1e-12);
    ExactStats s;
    exactstats_measure(&s, &full, table_grad, &t, 3, 1, eta, 3);
    assert_float_equal(s.full_norm, 2.0, 1e-12);
    assert_float_equal(s.mean_cos, -1.0 / 3, 1e-12);
    assert_float_equal(s.frac_pos, 1.0 / 3, 1e-12);
    assert_float_equal(s.min_norm, 2.0, 1e-12);
    assert_float_equal(s.max_norm, 10.0, 1e-12);
    assert_float_equal(s.descent[0], -1.0 / 3, 1e-12);
    assert_float_equal(s.descent[1], 1.0, 1e-12); // eta above every norm: no clipping
    // eta = 0.5: clipped gradients -0.5, -0.5, 0.5: (-0.5 * 2) / 12
    assert_float_equal(s.descent[2], -1.0 / 12, 1e-12);
    assert_float_equal(s.cos[2], 1.0, 1e-12);
    assert_float_equal(s.norm[0], 2.0, 1e-12);
    exactstats_free(&s);
}

// ---- a tiny language model
enum { V = 11, H = 5, L = 2, T = 3, W = 8 };

typedef struct { LstmLM m; int ids[W * T + 1]; } Tiny;

static void tiny_init(Tiny *t) {
    LmConfig mc = {.vocab = V, .emb = H, .hidden = H, .layers = L, .bptt = T, .batch = W};
    lm_init(&t->m, &mc);
    Rng rng;
    rng_seed(&rng, 7);
    lm_init_uniform(&t->m, 0.6f, &rng);
    for (int i = 0; i < W * T + 1; i++) t->ids[i] = (int)rng_below(&rng, V);
}

// Every batch gradient of batch size b, kept: [m][n]
static float *all_grads(Tiny *t, int b) {
    LmComponents c;
    lm_components_init(&c, &t->m, t->ids, W, T, b);
    size_t n = t->m.params.n;
    float *g = nn_malloc(c.m * n * sizeof(float));
    for (long i = 0; i < c.m; i++) memcpy(g + i * n, lm_component_grad(&c, i), n * sizeof(float));
    lm_components_free(&c);
    return g;
}

static double dot(const float *a, const double *b, size_t n) {
    double s = 0;
    for (size_t j = 0; j < n; j++) s += a[j] * b[j];
    return s;
}

// The streaming statistics equal the textbook formulas evaluated on all kept gradients.
static void test_lm_against_brute_force(void **state) {
    (void)state;
    Tiny t;
    tiny_init(&t);
    size_t n = t.m.params.n;
    const int sizes[] = {1, 2, 4};
    double eta[2] = {0.05, 0.3};
    double *full = nn_malloc(n * sizeof(double)), *want_full = nn_malloc(n * sizeof(double));
    for (int k = 0; k < 3; k++) {
        int b = sizes[k];
        long m = W / b;
        float *g = all_grads(&t, b);
        for (size_t j = 0; j < n; j++) {
            want_full[j] = 0;
            for (long i = 0; i < m; i++) want_full[j] += g[i * n + j] / (double)m;
        }
        LmComponents c;
        lm_components_init(&c, &t.m, t.ids, W, T, b);
        exactstats_full_gradient(full, lm_component_grad, &c, m, n);
        double maxdiff = 0, maxfull = 0;
        for (size_t j = 0; j < n; j++)
            maxdiff = fmax(maxdiff, fabs(full[j] - want_full[j])), maxfull = fmax(maxfull, fabs(want_full[j]));
        printf("# b=%d: full gradient max |diff| %.3g (max |entry| %.3g)\n", b, maxdiff, maxfull);
        assert_true(maxdiff <= 1e-12 * maxfull + 1e-15);

        ExactStats s;
        exactstats_measure(&s, full, lm_component_grad, &c, m, n, eta, 2);
        double fnorm = 0;
        for (size_t j = 0; j < n; j++) fnorm += want_full[j] * want_full[j];
        fnorm = sqrt(fnorm);
        double mean_cos = 0, pos = 0, mn = INFINITY, mx = 0, desc[2] = {0, 0};
        for (long i = 0; i < m; i++) {
            double gg = 0;
            for (size_t j = 0; j < n; j++) gg += (double)g[i * n + j] * g[i * n + j];
            double gn = sqrt(gg), gf = dot(g + i * n, want_full, n), cs = gf / (gn * fnorm);
            assert_float_equal(s.norm[i], gn, 1e-9 * gn);
            assert_float_equal(s.cos[i], cs, 1e-9);
            mean_cos += cs / m, pos += cs > 0, mn = fmin(mn, gn), mx = fmax(mx, gn);
            for (int e = 0; e < 2; e++) desc[e] += fmin(1.0, eta[e] / gn) * gf / (m * fnorm * fnorm);
        }
        printf("# b=%d m=%ld: mean cos %.6f (brute %.6f), positive %.3f, min/max %.4f, descent %.4f %.4f\n", b, m,
               s.mean_cos, mean_cos, s.frac_pos, s.min_norm / s.max_norm, s.descent[0], s.descent[1]);
        assert_float_equal(s.full_norm, fnorm, 1e-9 * fnorm);
        assert_float_equal(s.mean_cos, mean_cos, 1e-9);
        assert_float_equal(s.frac_pos, pos / m, 1e-12);
        assert_float_equal(s.min_norm, mn, 1e-9 * mn);
        assert_float_equal(s.max_norm, mx, 1e-9 * mx);
        for (int e = 0; e < 2; e++) assert_float_equal(s.descent[e], desc[e], 1e-9);
        if (b == 1) assert_true(s.frac_pos < 1.0); // per-window gradients of random text disagree: a real test
        exactstats_free(&s);
        lm_components_free(&c);
        free(g);
    }
    free(full), free(want_full);
    lm_free(&t.m);
}

// Batch i of size b is windows s*m + i: its gradient is the mean of those windows' gradients (each from a zero
// state), and the full gradient does not depend on b.
static void test_lm_batch_layout(void **state) {
    (void)state;
    Tiny t;
    tiny_init(&t);
    size_t n = t.m.params.n;
    float *g1 = all_grads(&t, 1), *g4 = all_grads(&t, 4);
    long m = W / 4;
    double maxdiff = 0, maxg = 0;
    for (long i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double mean = 0;
            for (int s = 0; s < 4; s++) mean += g1[(s * m + i) * n + j] / 4.0;
            maxdiff = fmax(maxdiff, fabs(g4[i * n + j] - mean)), maxg = fmax(maxg, fabs(mean));
        }
    printf("# batch of 4 windows vs mean of their gradients: max |diff| %.3g (max |g| %.3g)\n", maxdiff, maxg);
    assert_true(maxdiff < 1e-5 * maxg);
    free(g1), free(g4);
    lm_free(&t.m);
}

// One batch holding every window: g_1 = grad f, so its cosine is 1, min/max is 1 and clipping only rescales.
static void test_lm_one_batch_is_everything(void **state) {
    (void)state;
    Tiny t;
    tiny_init(&t);
    size_t n = t.m.params.n;
    double *full = nn_malloc(n * sizeof(double));
    LmComponents one;
    lm_components_init(&one, &t.m, t.ids, W, T, 1); // the full gradient from single windows ...
    exactstats_full_gradient(full, lm_component_grad, &one, W, n);
    lm_components_free(&one);
    LmComponents all;
    lm_components_init(&all, &t.m, t.ids, W, T, W); // ... measured against the one batch of all W windows
    ExactStats s;
    double eta[2] = {1e9, 0};
    exactstats_measure(&s, full, lm_component_grad, &all, 1, n, eta, 1);
    eta[1] = 0.5 * s.full_norm;
    exactstats_free(&s);
    exactstats_measure(&s, full, lm_component_grad, &all, 1, n, eta, 2);
    printf("# one batch: cos %.9f, ||g|| %.6g, ||grad f|| %.6g\n", s.cos[0], s.norm[0], s.full_norm);
    assert_int_equal(s.m, 1);
    assert_float_equal(s.cos[0], 1.0, 1e-6);
    assert_float_equal(s.mean_cos, 1.0, 1e-6);
    assert_float_equal(s.frac_pos, 1.0, 0);
    assert_float_equal(s.norm[0], s.full_norm, 1e-5 * s.full_norm);
    assert_float_equal(s.min_norm / s.max_norm, 1.0, 0);
    assert_float_equal(s.descent[0], 1.0, 1e-5);
    assert_float_equal(s.descent[1], 0.5, 1e-5); // C(g; ||g||/2) = g/2
    exactstats_free(&s);
    lm_components_free(&all);
    free(full);
    lm_free(&t.m);
}

static void bad_batch_size(void *arg) {
    (void)arg;
    Tiny t;
    tiny_init(&t);
    LmComponents c;
    lm_components_init(&c, &t.m, t.ids, W, T, 3);
}

static void test_batch_size_must_divide(void **state) {
    (void)state;
    expect_fatal(bad_batch_size, NULL, "batch size 3 must divide the 8 windows", NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example1_by_hand),
        cmocka_unit_test(test_lm_against_brute_force),
        cmocka_unit_test(test_lm_batch_layout),
        cmocka_unit_test(test_lm_one_batch_is_everything),
        cmocka_unit_test(test_batch_size_must_divide),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
