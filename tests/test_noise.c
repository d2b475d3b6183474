// nn/noise.h, the vectorised N(0, 1) noise of perturbed SGD: its lanes against a scalar xoshiro128+ written from
// the published algorithm, its Box-Muller transform against libm in double over every one of the 2^24 possible
// u1 (each with a different angle; this covers every entry of its tables), the moments, tails, Kolmogorov-Smirnov
// distance and correlations of 4M values against the normal law, its sums of squares, the update made with the
// noise in registers against the values, and perturbed SGD's step on 1 and 2 threads, resumed and rewound.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "nn/check.h"
#include "nn/noise.h"
#include "nn/parallel.h"
#include "optim/optimizer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// xoshiro128+ 1.0 (Blackman & Vigna, prng.di.unimi.it/xoshiro128plus.c), one scalar stream.
static uint32_t xoshiro128plus(uint32_t s[4]) {
    uint32_t out = s[0] + s[3], t = s[1] << 9;
    s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3], s[2] ^= t;
    s[3] = (s[3] << 11) | (s[3] >> 21);
    return out;
}

static void test_lanes_are_xoshiro128plus(void **state) {
    (void)state;
    NoiseStream st;
    noise_start(&st, 0x1234567887654321ull, 5);
    uint32_t lane[2][NOISE_LANES][4]; // the radii's and the angles' streams
    for (int k = 0; k < 2; k++)
        for (int l = 0; l < NOISE_LANES; l++)
            for (int w = 0; w < 4; w++) lane[k][l][w] = st.s[k][w][l];
    for (int l = 1; l < 2 * NOISE_LANES; l++) assert_true(memcmp(lane[l / 16][l % 16], lane[0][0], 16) != 0);
    for (int group = 0; group < 200; group++) {
        uint32_t a[NOISE_LANES], b[NOISE_LANES];
        for (int l = 0; l < NOISE_LANES; l++) a[l] = xoshiro128plus(lane[0][l]), b[l] = xoshiro128plus(lane[1][l]);
        float want[NOISE_GROUP], got[NOISE_GROUP];
        noise_from_bits(a, b, want);
        noise_fill(&st, got, NOISE_GROUP);
        assert_memory_equal(got, want, sizeof got);
    }
}

// Each table entry against its definition, computed again in double with libm and rounded once to float.
static void test_tables(void **state) {
    (void)state;
    const float *invc, *ln_invc, *cos_sqrt2, *sin_sqrt2;
    noise_tables(&invc, &ln_invc, &cos_sqrt2, &sin_sqrt2);
    for (uint32_t i = 0; i < 16; i++) { // piece i: the floats whose bits are 0x3f330000 + [i, i + 1) 2^19
        uint32_t lo_bits = 0x3f330000u + (i << 19), hi_bits = lo_bits + (1u << 19);
        float lo, hi;
        memcpy(&lo, &lo_bits, 4), memcpy(&hi, &hi_bits, 4);
        double c = lo <= 1.0f && 1.0f < hi ? 1.0 : ((double)lo + hi) / 2;
        assert_true(invc[i] == (float)(1 / c));
        assert_true(ln_invc[i] == (float)log((double)invc[i]));
    }
    for (int j = 0; j < 32; j++) {
        double angle = 3.141592653589793 * (2 * j + 1) / 32;
        assert_true(cos_sqrt2[j] == (float)(sqrt(2.0) * cos(angle)));
        assert_true(sin_sqrt2[j] == (float)(sqrt(2.0) * sin(angle)));
    }
}

// Every 24-bit u1 = (k + 1) / 2^24, paired with the angle of b = 2654435769 k mod 2^32 (odd: every b is used once
// over 2^32 k, and these 2^24 spread over all 32 sectors); the low 8 bits of a, which the transform drops, set to
// noise. The transform uses the top 28 bits of b, so the angle is 2 pi (b >> 4) / 2^28.
static void test_transform_against_libm(void **state) {
    (void)state;
    double worst = 0, worst_rel = 0;
    for (uint32_t k0 = 0; k0 < (1u << 24); k0 += NOISE_LANES) {
        uint32_t a[NOISE_LANES], b[NOISE_LANES];
        for (int l = 0; l < NOISE_LANES; l++) {
            uint32_t k = k0 + (uint32_t)l;
            a[l] = k << 8 | (k & 0xff), b[l] = k * 2654435769u;
        }
        float z[NOISE_GROUP];
        noise_from_bits(a, b, z);
        for (int l = 0; l < NOISE_LANES; l++) {
            double u1 = (k0 + (uint32_t)l + 1.0) / 16777216.0, angle = 6.283185307179586 * (b[l] >> 4) / 268435456.0;
            double r = sqrt(-2.0 * log(u1));
            double e1 = fabs(z[l] - r * cos(angle)), e2 = fabs(z[l + NOISE_LANES] - r * sin(angle));
            double e = e1 > e2 ? e1 : e2, rel = e / (r > 1e-3 ? r : 1e-3);
            if (e > worst) worst = e;
            if (rel > worst_rel) worst_rel = rel;
        }
    }
    printf("# Box-Muller over all 2^24 u1: max |z - libm double| = %.3g, max relative to r = %.3g\n", worst,
           worst_rel);
    assert_true(worst < 2e-6);     // r <= sqrt(2 ln 2^24) = 5.77
    assert_true(worst_rel < 5e-7); // a few float roundings
}

static double normal_cdf(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static double correlation(const float *a, const float *b, size_t n, size_t stride_a, size_t stride_b) {
    double sab = 0, saa = 0, sbb = 0;
    for (size_t i = 0; i < n; i++) {
        double x = a[i * stride_a], y = b[i * stride_b];
        sab += x * y, saa += x * x, sbb += y * y;
    }
    return sab / sqrt(saa * sbb);
}

// Fills blocks [0, nblocks) of key into z, NN_FLAT_BLOCK values each.
static void fill_blocks(float *z, uint64_t key, int nblocks) {
    for (int b = 0; b < nblocks; b++) {
        NoiseStream st;
        noise_start(&st, key, (uint64_t)b);
        noise_fill(&st, z + (size_t)b * NN_FLAT_BLOCK, NN_FLAT_BLOCK);
    }
}

// Thresholds are about 5 standard errors (or the 0.1% point of the KS distance): a correct generator fails one
// with probability well under 1e-3, and the seeds are fixed, so the outcome is too.
static void test_normal_law(void **state) {
    (void)state;
    enum { NB = 64 };
    const size_t n = (size_t)NB * NN_FLAT_BLOCK;
    float *z = nn_alloc_floats(n), *z2 = nn_alloc_floats(n);
    fill_blocks(z, 42, NB), fill_blocks(z2, 43, NB);
    double s1 = 0, s2 = 0, s3 = 0, s4 = 0;
    size_t over3 = 0, over4 = 0;
    float zmax = 0;
    for (size_t i = 0; i < n; i++) {
        double x = z[i];
        s1 += x, s2 += x * x, s3 += x * x * x, s4 += x * x * x * x;
        over3 += fabs(x) > 3, over4 += fabs(x) > 4;
        if (fabsf(z[i]) > zmax) zmax = fabsf(z[i]);
    }
    double N = (double)n, mean = s1 / N, var = s2 / N - mean * mean, skew = s3 / N, kurt = s4 / N;
    double p3 = 2 * normal_cdf(-3), p4 = 2 * normal_cdf(-4);
    printf("# %zu values: mean %.5f, variance %.5f, E z^3 %.5f, E z^4 %.4f, P(|z|>3) %.6f (%.6f), P(|z|>4) %.7f "
           "(%.7f), max |z| %.3f\n", n, mean, var, skew, kurt, over3 / N, p3, over4 / N, p4, zmax);
    assert_true(fabs(mean) < 5 / sqrt(N));
    assert_true(fabs(var - 1) < 5 * sqrt(2 / N));
    assert_true(fabs(skew) < 5 * sqrt(15 / N));        // Var z^3 = 15
    assert_true(fabs(kurt - 3) < 5 * sqrt(96 / N));    // Var z^4 = 105 - 9
    assert_true(fabs(over3 - p3 * N) < 5 * sqrt(p3 * N));
    assert_true(fabs(over4 - p4 * N) < 5 * sqrt(p4 * N));
    assert_true(zmax <= 5.8f); // r <= sqrt(2 ln 2^24)
    // correlations: the cosine and sine of a pair, and of their squares (Box-Muller makes them independent); a lane
    // and its neighbour; a group and the next; a block and the next; a key and the next
    double bound = 5 / sqrt(N / NOISE_GROUP * NOISE_LANES);
    double pair = 0, pair_sq = 0, lanes = 0, groups = 0, blocks, keys;
    for (size_t g = 0; g + 2 * NOISE_GROUP <= n; g += NOISE_GROUP) {
        for (int l = 0; l < NOISE_LANES; l++) {
            double c = z[g + (size_t)l], s = z[g + NOISE_LANES + (size_t)l];
            pair += c * s, pair_sq += (c * c - 1) * (s * s - 1);
            groups += c * z[g + NOISE_GROUP + (size_t)l];
            if (l + 1 < NOISE_LANES) lanes += c * z[g + (size_t)l + 1];
        }
    }
    double groups_n = N / NOISE_GROUP * NOISE_LANES;
    pair /= groups_n, pair_sq /= groups_n * 2, lanes /= groups_n, groups /= groups_n;
    blocks = correlation(z, z + NN_FLAT_BLOCK, n - NN_FLAT_BLOCK, 1, 1);
    keys = correlation(z, z2, n, 1, 1);
    printf("# correlations: cos/sin %.5f, their squares %.5f, lanes %.5f, groups %.5f, blocks %.5f, keys %.5f "
           "(bound %.5f)\n", pair, pair_sq, lanes, groups, blocks, keys, bound);
    assert_true(fabs(pair) < bound && fabs(pair_sq) < bound && fabs(lanes) < bound && fabs(groups) < bound);
    assert_true(fabs(blocks) < 5 / sqrt(N) && fabs(keys) < 5 / sqrt(N));
    // Kolmogorov-Smirnov against the normal CDF: sqrt(N) D exceeds 1.95 with probability 0.1%
    qsort(z, n, sizeof(float), cmp_float);
    double d = 0;
    for (size_t i = 0; i < n; i++) {
        double f = normal_cdf(z[i]), lo = f - (double)i / N, hi = (double)(i + 1) / N - f;
        if (lo > d) d = lo;
        if (hi > d) d = hi;
    }
    printf("# Kolmogorov-Smirnov: sqrt(N) D = %.3f (0.1%% point 1.95)\n", sqrt(N) * d);
    assert_true(sqrt(N) * d < 1.95);
    free(z), free(z2);
}

// noise_sum_squares, from the product of the u1, against the squares of the values themselves; and
// noise_descend's update against the values.
static void test_sum_squares(void **state) {
    (void)state;
    const size_t lens[] = {0, 1, 31, 32, 33, 127, 128, 129, 1000, NN_FLAT_BLOCK - 7, NN_FLAT_BLOCK};
    float *z = nn_alloc_floats(NN_FLAT_BLOCK), *x = nn_alloc_floats(NN_FLAT_BLOCK);
    float *g = nn_alloc_floats(NN_FLAT_BLOCK);
    double worst = 0, worst_update = 0;
    for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
        size_t n = lens[k];
        NoiseStream st;
        noise_start(&st, 99, 3);
        noise_fill(&st, z, n);
        double want = 0;
        for (size_t i = 0; i < n; i++) want += (double)z[i] * z[i];
        double got = noise_sum_squares(99, 3, n);
        if (n == 0) assert_true(got == 0);
        else worst = fmax(worst, fabs(got - want) / want);
        // x -= lr (g + k z) over key 7's values
        for (size_t i = 0; i < n; i++) x[i] = (float)i / 100.0f, g[i] = 1.0f - (float)(i % 5);
        NoiseStream mine;
        noise_start(&mine, 7, 3);
        noise_descend(&mine, x, g, n, 0.25f, 0.5f);
        noise_start(&mine, 7, 3);
        noise_fill(&mine, z, n);
        for (size_t i = 0; i < n; i++) {
            double ref = (float)i / 100.0 - 0.25 * ((1.0 - (double)(i % 5)) + 0.5 * z[i]);
            worst_update = fmax(worst_update, fabs(x[i] - ref) / fmax(fabs(ref), 1.0));
        }
    }
    printf("# sum of squares from the product of the u1 against the values' squares: relative difference %.2g; "
           "the update against the values: %.2g\n", worst, worst_update);
    assert_true(worst < 1e-6);
    assert_true(worst_update < 1e-6);
    free(z), free(x), free(g);
}

// Perturbed SGD: the same step on 1 and 2 threads, ball and Gaussian noise, over several blocks and a partial
// one; each step draws new noise; the ball's noise has norm r U^(1/d) <= r; a fresh optimizer given the state after
// the first step (a resumed run), and the first one rewound to that state, take the same second step: the state
// items are all there is.
static void test_perturbed_threads(void **state) {
    (void)state;
    const size_t n = 3 * NN_FLAT_BLOCK + 45;
    float *x1 = nn_alloc_floats(n), *x2 = nn_alloc_floats(n), *g = nn_alloc_floats(n), *before = nn_alloc_floats(n);
    float *first = nn_alloc_floats(n), *second = nn_alloc_floats(n), *x3 = nn_alloc_floats(n);
    memset(g, 0, n * sizeof(float));
    for (int gauss = 0; gauss < 2; gauss++) {
        const char *args = gauss ? "r=2,noise=1,seed=5" : "r=0.5,seed=5";
        Optimizer *o1 = optim_create("perturbed", args), *o2 = optim_create("perturbed", args);
        Optimizer *o3 = optim_create("perturbed", args);
        uint64_t saved[OPTIM_MAX_STATE][4];
        memset(x1, 0, n * sizeof(float)), memset(x2, 0, n * sizeof(float));
        for (int step = 0; step < 2; step++) {
            memcpy(before, x1, n * sizeof(float));
            if (step == 1) { // o3 resumes from o1's state
                OptimStateItem from[OPTIM_MAX_STATE], to[OPTIM_MAX_STATE];
                int items = o1->state(o1, n, 0, from);
                for (int i = 0; i < items; i++) {
                    assert_true(from[i].words && from[i].nwords <= 4);
                    memcpy(saved[i], from[i].words, from[i].nwords * sizeof(uint64_t));
                }
                assert_int_equal(o3->state(o3, n, 1, to), items);
                for (int i = 0; i < items; i++) memcpy(to[i].words, from[i].words, from[i].nwords * sizeof(uint64_t));
                memcpy(x3, x1, n * sizeof(float));
                nn_set_threads(1), o3->step(o3, x3, g, n, NULL, 0, 1.0f);
            }
            nn_set_threads(1), o1->step(o1, x1, g, n, NULL, 0, 1.0f);
            nn_set_threads(2), o2->step(o2, x2, g, n, NULL, 0, 1.0f);
            assert_memory_equal(x1, x2, n * sizeof(float));
            if (step == 1) {
                assert_memory_equal(x1, x3, n * sizeof(float));
                // o1 rewound to its state after the first step
                OptimStateItem to[OPTIM_MAX_STATE];
                int items = o1->state(o1, n, 0, to);
                memcpy(x3, x1, n * sizeof(float)), memcpy(x1, before, n * sizeof(float));
                for (int i = 0; i < items; i++) memcpy(to[i].words, saved[i], to[i].nwords * sizeof(uint64_t));
                o1->step(o1, x1, g, n, NULL, 0, 1.0f);
                assert_memory_equal(x1, x3, n * sizeof(float));
            }
            float *xi = step ? second : first; // the step's noise (g = 0, lr = 1: x -= xi)
            double sq = 0;
            for (size_t i = 0; i < n; i++) xi[i] = before[i] - x1[i], sq += (double)xi[i] * xi[i];
            if (!gauss) assert_true(sqrt(sq) <= 0.5 * (1 + 1e-6) && sqrt(sq) > 0.499);
            else assert_true(fabs(sq - 4) < 0.1); // sd of ||xi||^2 is 4 sqrt(2/d) = 0.0113
        }
        double rho = correlation(first, second, n, 1, 1); // each step draws new noise
        printf("# perturbed %s: correlation of two steps' noise %.5f\n", gauss ? "gaussian" : "ball", rho);
        assert_true(fabs(rho) < 5 / sqrt((double)n));
        optim_free(o1), optim_free(o2), optim_free(o3);
    }
    nn_set_threads(1);
    free(x1), free(x2), free(g), free(before), free(first), free(second), free(x3);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lanes_are_xoshiro128plus),
        cmocka_unit_test(test_tables),
        cmocka_unit_test(test_transform_against_libm),
        cmocka_unit_test(test_normal_law),
        cmocka_unit_test(test_sum_squares),
        cmocka_unit_test(test_perturbed_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
