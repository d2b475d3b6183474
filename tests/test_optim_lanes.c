// The optimizers' faster passes against the plain loops they replace, bit for bit: the 8 double lanes of the norms
// and of the online statistics' cosines kept in vector registers (nn/lanes.h), LAMB's 16-wide direction pass,
// the global clip factor taken into SGD's step (step_scaled) instead of a pass that rescales the gradient, and
// every optimizer on 2 threads against 1.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "nn/check.h"
#include "nn/parallel.h"
#include "optim/clip.h"
#include "optim/gradstats.h"
#include "optim/optimizer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// A gradient-like vector with a few large entries and exact zeros.
static void fill(float *a, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) {
        unsigned h = (unsigned)(i * 2654435761u) ^ (seed * 40503u);
        a[i] = (float)((int)(h % 20001) - 10000) * 1e-4f * (h % 97 == 0 ? 300.0f : 1.0f) * (h % 89 != 0);
    }
}

// The sum of squares as written before: 8 double arrays, the lanes added 0..7, then the tail.
static double sum_squares_plain(const float *x, size_t n) {
    double s[8] = {0}, sum = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) s[k] += (double)x[i + k] * x[i + k];
    for (int k = 0; k < 8; k++) sum += s[k];
    for (; i < n; i++) sum += (double)x[i] * x[i];
    return sum;
}

static void test_sum_squares(void **state) {
    (void)state;
    const size_t big = 3 * 65536 + 13;
    float *x = nn_alloc_floats(big);
    fill(x, big, 1);
    for (size_t n = 0; n <= 70; n++) {
        double got = optim_sum_squares(x + 3, n), want = sum_squares_plain(x + 3, n); // +3: unaligned
        assert_memory_equal(&got, &want, sizeof got);
    }
    double plain = 0; // optim_l2_norm: the blocks' plain sums, added in block order
    for (size_t lo = 0; lo < big; lo += NN_FLAT_BLOCK)
        plain += sum_squares_plain(x + lo, big - lo < NN_FLAT_BLOCK ? big - lo : NN_FLAT_BLOCK);
    for (int threads = 1; threads <= 2; threads++) {
        nn_set_threads(threads);
        double got = optim_l2_norm(x, big), want = sqrt(plain);
        assert_memory_equal(&got, &want, sizeof got);
    }
    nn_set_threads(1);
    free(x);
}

// The cosine's block sums as written before: a.b, a.a, b.b with b - c in float, 8 double arrays, the tail in lane 0.
static void cos_sums_plain(const float *a, const float *b, const float *c, size_t n, double out[3]) {
    double ab[8] = {0}, aa[8] = {0}, bb[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) {
            double x = a[i + k], y = c ? b[i + k] - c[i + k] : b[i + k];
            ab[k] += x * y, aa[k] += x * x, bb[k] += y * y;
        }
    for (; i < n; i++) {
        double x = a[i], y = c ? b[i] - c[i] : b[i];
        ab[0] += x * y, aa[0] += x * x, bb[0] += y * y;
    }
    out[0] = out[1] = out[2] = 0;
    for (int k = 0; k < 8; k++) out[0] += ab[k], out[1] += aa[k], out[2] += bb[k];
}

static double cosine_plain(const float *a, const float *b, const float *c, size_t n) {
    double ab = 0, aa = 0, bb = 0, part[3];
    for (size_t lo = 0; lo < n; lo += NN_FLAT_BLOCK) {
        size_t len = n - lo < NN_FLAT_BLOCK ? n - lo : NN_FLAT_BLOCK;
        cos_sums_plain(a + lo, b + lo, c ? c + lo : NULL, len, part);
        ab += part[0], aa += part[1], bb += part[2];
    }
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0.0;
}

// The online statistics' cosines: cos(g, g_prev) and cos(g, x_before - x), against the plain loops.
static void test_cosines(void **state) {
    (void)state;
    const size_t n = 2 * 65536 + 1005;
    float *g = nn_alloc_floats(n), *g2 = nn_alloc_floats(n), *x = nn_alloc_floats(n), *x2 = nn_alloc_floats(n);
    fill(g, n, 7), fill(g2, n, 8), fill(x, n, 9), fill(x2, n, 10); // x - x2 rounds in float
    for (int threads = 1; threads <= 2; threads++) {
        nn_set_threads(threads);
        for (size_t len = 1; len <= 40; len += 13) { // short ones: the tail alone, and a few lanes
            double got = optim_cosine(g, g2, len), want = cosine_plain(g, g2, NULL, len);
        assert_true(got != 0);
            assert_memory_equal(&got, &want, sizeof got);
        }
        GradStats s;
        gradstats_init(&s, n, 4);
        gradstats_before_step(&s, g2, x);                    // keeps g2 and x
        double prev = gradstats_before_step(&s, g, x);       // cos(g, g2); keeps g and x
        double update = gradstats_after_step(&s, g2, x2);    // cos(g2, x - x2)
        double want_prev = cosine_plain(g, g2, NULL, n), want_update = cosine_plain(g2, x, x2, n);
        assert_memory_equal(&prev, &want_prev, sizeof prev);
        assert_memory_equal(&update, &want_update, sizeof update);
        gradstats_free(&s);
    }
    nn_set_threads(1);
    free(g), free(g2), free(x), free(x2);
}

// LAMB's direction pass as written before, one element at a time with the 8 lanes as arrays and the tail in lane 0;
// then the step x -= lr trust u per tensor.
static void lamb_plain(float *x, const float *g, float *m, float *v, float *u, const ParamView *views, int nviews,
                       long t, float lr) {
    const float b1 = 0.9f, b2 = 0.999f, eps = 1e-6f, wd = 0.01f;
    float bc1 = (float)(1.0 - pow(b1, (double)t)), bc2 = (float)(1.0 - pow(b2, (double)t));
    for (int k = 0; k < nviews; k++) {
        size_t off = views[k].offset, len = views[k].size, whole = len / 8 * 8;
        double xs[8] = {0}, us[8] = {0}, xx = 0, uu = 0;
        for (size_t j = 0; j < len; j++) {
            size_t i = off + j;
            m[i] = b1 * m[i] + (1.0f - b1) * g[i];
            v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
            u[i] = (m[i] / bc1) / (sqrtf(v[i] / bc2) + eps) + wd * x[i];
            int lane = j < whole ? (int)(j % 8) : 0;
            xs[lane] += (double)x[i] * x[i], us[lane] += (double)u[i] * u[i];
        }
        for (int l = 0; l < 8; l++) xx += xs[l], uu += us[l];
        float trust = xx > 0 && uu > 0 ? (float)(sqrt(xx) / sqrt(uu)) : 1.0f;
        for (size_t i = off; i < off + len; i++) x[i] -= lr * trust * u[i];
    }
}

static void test_lamb_same_bits(void **state) {
    (void)state;
    // tensors of every length mod 16 and mod 8, one of several thousand
    enum { NV = 20 };
    ParamView views[NV];
    size_t n = 0;
    for (int k = 0; k < NV; k++) {
        size_t len = k == NV - 1 ? 5000 + 11 : (size_t)(k * 3 + 1);
        views[k] = (ParamView){.name = "t", .offset = n, .size = len};
        n += len;
    }
    float *x = nn_alloc_floats(n), *want = nn_alloc_floats(n), *g = nn_alloc_floats(n);
    float *m = nn_alloc_floats(n), *v = nn_alloc_floats(n), *u = nn_alloc_floats(n);
    fill(x, n, 2), memcpy(want, x, n * sizeof(float));
    memset(m, 0, n * sizeof(float)), memset(v, 0, n * sizeof(float));
    Optimizer *o = optim_create("lamb", "weight_decay=0.01");
    for (long t = 1; t <= 4; t++) {
        fill(g, n, 10 + (unsigned)t);
        o->step(o, x, g, n, views, NV, 0.01f);
        lamb_plain(want, g, m, v, u, views, NV, t, 0.01f);
        assert_memory_equal(x, want, n * sizeof(float));
    }
    optim_free(o);
    free(x), free(want), free(g), free(m), free(v), free(u);
}

// step_scaled(factor) against clipping g in place and step, for SGD's variants, both global modes, a threshold
// that clips and one that does not, on 1 and 2 threads.
static void test_sgd_scaled_step(void **state) {
    (void)state;
    const size_t n = 2 * 65536 + 77;
    const char *variants[] = {"", "weight_decay=0.01", "momentum=0.9", "momentum=0.9,dampening=0.3,weight_decay=0.01",
                              "momentum=0.9,nesterov=1"};
    const ClipMode modes[] = {CLIP_NORM, CLIP_NORM_TORCH};
    float *g = nn_alloc_floats(n), *g2 = nn_alloc_floats(n), *x1 = nn_alloc_floats(n), *x2 = nn_alloc_floats(n);
    fill(g, n, 3);
    double gnorm = optim_l2_norm(g, n);
    int clipped = 0;
    for (int threads = 1; threads <= 2; threads++)
        for (int a = 0; a < 5; a++)
            for (int mo = 0; mo < 2; mo++)
                for (int e = 0; e < 2; e++) {
                    nn_set_threads(threads);
                    float eta = e ? (float)(gnorm * 0.3) : (float)(gnorm * 2);
                    Optimizer *o1 = optim_create("sgd", variants[a]), *o2 = optim_create("sgd", variants[a]);
                    assert_non_null(o2->step_scaled);
                    fill(x1, n, 4), memcpy(x2, x1, n * sizeof(float));
                    for (int step = 0; step < 3; step++) {
                        memcpy(g2, g, n * sizeof(float));
                        double norm1, norm2;
                        float f1 = optim_clip(modes[mo], g2, n, NULL, 0, eta, &norm1);
                        o1->step(o1, x1, g2, n, NULL, 0, 0.1f);
                        float f2 = optim_clip_factor(modes[mo], g, n, eta, &norm2);
                        o2->step_scaled(o2, x2, g, f2, n, NULL, 0, 0.1f);
                        assert_true(f1 == f2 && norm1 == norm2);
                        clipped += f2 < 1.0f;
                        assert_memory_equal(x1, x2, n * sizeof(float));
                    }
                    optim_free(o1), optim_free(o2);
                }
    assert_int_equal(clipped, 2 * 5 * 2 * 3); // the small threshold clipped at every step, the large one never
    nn_set_threads(1);
    free(g), free(g2), free(x1), free(x2);
}

// Every optimizer, in each of its loops, on 1 and 2 threads: the same bits (the element-wise ones share out blocks
// of NN_FLAT_BLOCK; the norms add the blocks' sums in block order).
static void test_threads_same_bits(void **state) {
    (void)state;
    const size_t n = 3 * 65536 + 77;
    const ParamView views[2] = {{.name = "a", .offset = 0, .size = 100000}, {.name = "b", .offset = 100000,
                                                                               .size = n - 100000}};
    const char *cases[][2] = {
        {"sgd", ""}, {"sgd", "momentum=0.9,nesterov=1,weight_decay=0.01"}, {"adam", "weight_decay=0.01"},
        {"adamw", "amsgrad=1"}, {"adagrad", "lr_decay=0.1,weight_decay=0.01"}, {"rmsprop", ""},
        {"rmsprop", "centered=1,momentum=0.5"}, {"acclip", ""}, {"acclip", "alpha=2"}, {"acclip", "alpha=1.5"},
        {"normalized", ""}, {"lamb", ""}, {"sgdclip", ""}, {"momclip", "per_layer=1"}, {"mixclip", "soft=1"},
        {"perturbed", ""},
    };
    float *g = nn_alloc_floats(n), *x1 = nn_alloc_floats(n), *x2 = nn_alloc_floats(n);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        Optimizer *o1 = optim_create(cases[c][0], cases[c][1]), *o2 = optim_create(cases[c][0], cases[c][1]);
        fill(x1, n, 5), memcpy(x2, x1, n * sizeof(float));
        for (int step = 0; step < 3; step++) {
            fill(g, n, 6 + (unsigned)step);
            nn_set_threads(1), o1->step(o1, x1, g, n, views, 2, 0.01f);
            nn_set_threads(2), o2->step(o2, x2, g, n, views, 2, 0.01f);
            if (memcmp(x1, x2, n * sizeof(float)) != 0) fail_msg("%s %s: step %d differs on 2 threads", cases[c][0],
                                                                 cases[c][1], step + 1);
        }
        optim_free(o1), optim_free(o2);
    }
    nn_set_threads(1);
    free(g), free(x1), free(x2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sum_squares),
        cmocka_unit_test(test_cosines),
        cmocka_unit_test(test_lamb_same_bits),
        cmocka_unit_test(test_sgd_scaled_step),
        cmocka_unit_test(test_threads_same_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
