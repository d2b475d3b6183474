#define _POSIX_C_SOURCE 200809L // pthread barriers
// Exact gradient statistics (optim/exactstats, models/lm_components): hand-computed values on Example 1 of Qian et
// al. 2021, the streaming two-pass computation against brute force with every batch gradient kept, the batch
// layout against per-window gradients, and one batch holding the whole data set (every cosine is 1). Pass 2 shared
// out over parts (threads standing in for MPI ranks) gives one process's bits.
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
#include <pthread.h>
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
        double mean_cos = 0, pos = 0, mn = INFINITY, mx = 0, desc[2] = {0, 0}, noise_ms = 0;
        for (long i = 0; i < m; i++) {
            double gg = 0, ee = 0;
            for (size_t j = 0; j < n; j++) gg += (double)g[i * n + j] * g[i * n + j];
            for (size_t j = 0; j < n; j++) ee += (g[i * n + j] - want_full[j]) * (g[i * n + j] - want_full[j]);
            assert_float_equal(s.noise[i], sqrt(ee), 1e-9 * sqrt(ee));
            noise_ms += ee / m;
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
        assert_float_equal(s.noise_ms, noise_ms, 1e-9 * noise_ms);
        // B_simple = tr(Sigma) / ||grad f||^2: from single windows it is the textbook population variance; from
        // batches of b the finite-population factor (M - 1) / (M - b) of drawing b of M without replacement
        double b_simple = exactstats_noise_scale(&s, b, W);
        printf("# b=%d: B_simple %.6g windows\n", b, b_simple);
        if (b == 1) {
            assert_float_equal(b_simple, noise_ms / (fnorm * fnorm), 1e-9 * b_simple);
            assert_true(s.frac_pos < 1.0); // per-window gradients of random text disagree: a real test
        } else {
            assert_float_equal(b_simple, b * (W - 1.0) / (W - b) * noise_ms / (fnorm * fnorm), 1e-9 * b_simple);
        }
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

// Averaged over every partition of the M windows into batches of b, the batch variance times b (M - 1) / (M - b)
// is the single-window variance: the finite-population factor of exactstats_noise_scale, checked by brute force
// over all 35 ways to split 8 windows into two batches of 4 (the components are the 8 single-window gradients).
static void test_noise_scale_over_partitions(void **state) {
    (void)state;
    Tiny t;
    tiny_init(&t);
    size_t n = t.m.params.n;
    float *g1 = all_grads(&t, 1);
    double *full = nn_calloc(n, sizeof(double)), pop = 0, ff = 0;
    for (int c = 0; c < W; c++)
        for (size_t j = 0; j < n; j++) full[j] += g1[c * n + j] / W;
    for (size_t j = 0; j < n; j++) ff += full[j] * full[j];
    for (int c = 0; c < W; c++)
        for (size_t j = 0; j < n; j++) pop += (g1[c * n + j] - full[j]) * (g1[c * n + j] - full[j]) / W;
    double sum_var = 0;
    int partitions = 0;
    for (int mask = 0; mask < 1 << W; mask++) { // batch 0 = the windows in mask; window 0 always in batch 0
        if (__builtin_popcount(mask) != 4 || !(mask & 1)) continue;
        double var = 0;
        for (int batch = 0; batch < 2; batch++)
            for (size_t j = 0; j < n; j++) {
                double mean = 0;
                for (int c = 0; c < W; c++)
                    if (((mask >> c) & 1) == (batch == 0)) mean += g1[c * n + j] / 4;
                var += (mean - full[j]) * (mean - full[j]) / 2;
            }
        ExactStats s = {.noise_ms = var, .full_norm = sqrt(ff)};
        sum_var += exactstats_noise_scale(&s, 4, W);
        partitions++;
    }
    printf("# %d partitions: mean B_simple from batches of 4 %.9g, from single windows %.9g\n", partitions,
           sum_var / partitions, pop / ff);
    assert_int_equal(partitions, 35);
    assert_float_equal(sum_var / partitions, pop / ff, 1e-9 * pop / ff);
    free(g1), free(full);
    lm_free(&t.m);
}

// The stable index of the noise through the streaming pass: rows g_i = c + X_i with X_i i.i.d. vectors of
// symmetric alpha-stable coordinates (Chambers-Mallows-Stuck), so g_i - grad f = X_i - mean(X): recovered within
// 0.15 of alpha (0.05 for Gaussian rows), whichever rows the blocks hold.
static void test_noise_stable_index(void **state) {
    (void)state;
    enum { M = 1600, D = 40 };
    const double alphas[] = {1.3, 1.7, 2.0};
    float *rows = nn_malloc(M * D * sizeof(float));
    double *full = nn_malloc(D * sizeof(double));
    for (int a = 0; a < 3; a++) {
        Rng r;
        rng_seed(&r, 11);
        for (long i = 0; i < M * D; i++) rows[i] = (float)(1.0 + stable_draw(&r, alphas[a]));
        Table tab = {rows, D};
        exactstats_full_gradient(full, table_grad, &tab, M, D);
        ExactStats s;
        exactstats_measure(&s, full, table_grad, &tab, M, D, NULL, 0);
        printf("# alpha %.1f: stable index %.3f [%.3f, %.3f], blocks of %ld\n", alphas[a], s.stable.alpha,
               s.stable.lo, s.stable.hi, s.stable.k);
        assert_int_equal(s.stable.k, 40);
        assert_true(fabs(s.stable.alpha - alphas[a]) < (alphas[a] == 2.0 ? 0.05 : 0.15));
        assert_true(s.stable.lo < s.stable.alpha && s.stable.alpha < s.stable.hi);
        exactstats_free(&s);
    }
    free(rows), free(full);
}

// ---- pass 2 shared out: each thread is a part; share is an all-gather through a buffer and a barrier
enum { SHARE_M = 1603, SHARE_D = 24 }; // K1 = 40, 40 blocks, and 3 batches after the last block
static pthread_barrier_t share_barrier;
static pthread_mutex_t share_lock = PTHREAD_MUTEX_INITIALIZER;
static char *shared;
static int share_parts;
static _Thread_local int share_part;

static void thread_share(void *all, size_t bytes) {
    pthread_mutex_lock(&share_lock);
    if (!shared) shared = nn_malloc((size_t)share_parts * bytes);
    pthread_mutex_unlock(&share_lock);
    memcpy(shared + (size_t)share_part * bytes, (char *)all + (size_t)share_part * bytes, bytes);
    pthread_barrier_wait(&share_barrier);
    memcpy(all, shared, (size_t)share_parts * bytes);
    pthread_barrier_wait(&share_barrier);
}

typedef struct {
    int part;
    Table *tab;
    const double *full;
    ExactStats s;
} SharePart;

static void *measure_part(void *arg) {
    SharePart *p = arg;
    share_part = p->part;
    const double eta[2] = {0.5, 3.0};
    exactstats_measure_shared(&p->s, p->full, table_grad, p->tab, SHARE_M, SHARE_D, eta, 2, p->part, share_parts,
                              thread_share);
    return NULL;
}

static void assert_same_stats(const ExactStats *a, const ExactStats *b) {
    size_t bytes = (size_t)a->m * sizeof(double);
    assert_int_equal(a->m, b->m);
    assert_memory_equal(a->norm, b->norm, bytes);
    assert_memory_equal(a->cos, b->cos, bytes);
    assert_memory_equal(a->noise, b->noise, bytes);
    const double x[] = {a->full_norm, a->mean_cos, a->frac_pos, a->min_norm, a->max_norm, a->noise_ms,
                        a->descent[0], a->descent[1], a->stable.alpha, a->stable.lo, a->stable.hi};
    const double y[] = {b->full_norm, b->mean_cos, b->frac_pos, b->min_norm, b->max_norm, b->noise_ms,
                        b->descent[0], b->descent[1], b->stable.alpha, b->stable.lo, b->stable.hi};
    assert_memory_equal(x, y, sizeof x);
    assert_int_equal(a->stable.k, b->stable.k);
}

static void test_shared_parts_same_bits(void **state) {
    (void)state;
    float *rows = nn_malloc((size_t)SHARE_M * SHARE_D * sizeof(float));
    double *full = nn_malloc(SHARE_D * sizeof(double));
    Rng r;
    rng_seed(&r, 5);
    for (long i = 0; i < (long)SHARE_M * SHARE_D; i++) rows[i] = (float)(0.3 + stable_draw(&r, 1.6));
    Table tab = {rows, SHARE_D};
    exactstats_full_gradient(full, table_grad, &tab, SHARE_M, SHARE_D);
    ExactStats one;
    const double eta[2] = {0.5, 3.0};
    exactstats_measure(&one, full, table_grad, &tab, SHARE_M, SHARE_D, eta, 2);
    assert_int_equal(one.stable.k, 40);
    const int counts[] = {2, 3, 7};
    for (int c = 0; c < 3; c++) {
        share_parts = counts[c];
        pthread_barrier_init(&share_barrier, NULL, (unsigned)share_parts);
        SharePart parts[7];
        pthread_t threads[7];
        for (int p = 0; p < share_parts; p++) {
            parts[p] = (SharePart){.part = p, .tab = &tab, .full = full};
            assert_int_equal(pthread_create(&threads[p], NULL, measure_part, &parts[p]), 0);
        }
        for (int p = 0; p < share_parts; p++) pthread_join(threads[p], NULL);
        for (int p = 0; p < share_parts; p++) {
            assert_same_stats(&one, &parts[p].s);
            exactstats_free(&parts[p].s);
        }
        pthread_barrier_destroy(&share_barrier);
        free(shared), shared = NULL;
    }
    exactstats_free(&one);
    free(rows), free(full);
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
        cmocka_unit_test(test_noise_scale_over_partitions),
        cmocka_unit_test(test_noise_stable_index),
        cmocka_unit_test(test_lm_one_batch_is_everything),
        cmocka_unit_test(test_shared_parts_same_bits),
        cmocka_unit_test(test_batch_size_must_divide),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
