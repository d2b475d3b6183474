// The CIFAR ResNet (models/resnet.c): parameter counts and names, one training step and one evaluation against
// PyTorch (tests/ref/resnet8.bin from tests/ref/make_resnet_fixtures.py), central differences of every parameter's
// gradient on tiny networks, batchnorm's two modes, the He init, and the memory estimate.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fixture.h"
#include "gradcheck.h"
#include "testutil.h"
#include "models/resnet.h"
#include "nn/blas.h"
#include "nn/check.h"
#include "nn/conv2d.h"
#include "nn/parallel.h"

#ifdef __linux__
#include <malloc.h> // mallinfo2, mallopt
#endif
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ResNetConfig small_cfg(const char *preset, int batch) {
    ResNetConfig c = resnet_preset(preset);
    c.batch = batch;
    return c;
}

static void assert_shape(const Params *p, const char *name, int ndim, const int *shape) {
    int v = params_find(p, name);
    if (v < 0) fail_msg("no tensor '%s'", name);
    assert_int_equal(ndim, p->views[v].ndim);
    for (int d = 0; d < ndim; d++) assert_int_equal(shape[d], p->views[v].shape[d]);
}

// The counts PyTorch gives akamaster's models (checked by make_resnet_fixtures.py): ResNet-20 is the paper's 0.27M.
static void test_param_counts(void **state) {
    (void)state;
    const struct { const char *name; long params; int bns; } want[] = {
        {"resnet8", 75290, 7}, {"resnet20", 269722, 19}, {"resnet32", 464154, 31},
    };
    for (int i = 0; i < 3; i++) {
        ResNetConfig c = small_cfg(want[i].name, 1);
        ResNet m;
        resnet_init(&m, &c);
        printf("# %s: %ld parameters, %d tensors; %zu running statistics in %d tensors\n", want[i].name,
               resnet_param_count(&m), m.params.nviews, m.stats.n, m.stats.nviews);
        assert_int_equal(want[i].params, resnet_param_count(&m));
        assert_int_equal(3 * want[i].bns + 2, m.params.nviews); // conv + bn weight + bn bias per unit, linear
        assert_int_equal(2 * want[i].bns, m.stats.nviews);
        resnet_free(&m);
    }
    ResNetConfig c = small_cfg("resnet20", 1);
    ResNet m;
    resnet_init(&m, &c);
    assert_shape(&m.params, "conv1.weight", 4, (int[]){16, 3, 3, 3});
    assert_shape(&m.params, "layer1.2.bn2.bias", 1, (int[]){16});
    assert_shape(&m.params, "layer2.0.conv1.weight", 4, (int[]){32, 16, 3, 3});
    assert_shape(&m.params, "layer3.2.conv2.weight", 4, (int[]){64, 64, 3, 3});
    assert_shape(&m.params, "linear.weight", 2, (int[]){10, 64});
    assert_shape(&m.stats, "layer3.1.bn1.running_var", 1, (int[]){64});
    assert_true(params_find(&m.params, "layer2.0.shortcut.0.weight") < 0); // option A has no parameters
    assert_true(params_find(&m.params, "bn1.running_mean") < 0);          // statistics are not parameters
    // PyTorch's named_parameters() order: the first and the last tensors, and a block's in the middle
    assert_string_equal("conv1.weight", m.params.views[0].name);
    assert_string_equal("layer1.0.conv1.weight", m.params.views[3].name);
    assert_string_equal("layer1.0.bn2.bias", m.params.views[8].name);
    assert_string_equal("linear.bias", m.params.views[m.params.nviews - 1].name);
    resnet_free(&m);

    c.shortcut = 'B';
    resnet_init(&m, &c);
    // two projections: 1x1 convolutions 16->32 and 32->64 with their batchnorms (272,474 in PyTorch)
    assert_int_equal(269722 + (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64), resnet_param_count(&m));
    assert_shape(&m.params, "layer2.0.shortcut.0.weight", 4, (int[]){32, 16, 1, 1});
    assert_shape(&m.params, "layer3.0.shortcut.1.bias", 1, (int[]){64});
    assert_shape(&m.stats, "layer3.0.shortcut.1.running_mean", 1, (int[]){64});
    resnet_free(&m);
}

// ---- against PyTorch

// The fixture's deterministic parameters (make_resnet_fixtures.py): x_i = offset + scale * u_i with u_i from a
// counter-based hash of the tensor's name, exact in float32, so no parameter needs to be stored.
static uint64_t fnv(const char *s) {
    uint64_t h = 0xCBF29CE484222325ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001B3ULL;
    return h;
}

static uint64_t mix(uint64_t x) {
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

static const FxTensor *get(const Fixture *fx, const char *prefix, const char *a, const char *b) {
    char name[96];
    snprintf(name, sizeof name, "%s%s%s", prefix, a, b);
    return fx_get(fx, name);
}

// Fills every view of p from init.<name> and checks that the fixture has exactly these tensors.
static void generate_all(const Params *p, const Fixture *fx, const char *prefix) {
    for (int v = 0; v < p->nviews; v++) {
        const ParamView *pv = &p->views[v];
        const float *init = get(fx, prefix, "init.", pv->name)->f;
        uint64_t seed = fnv(pv->name);
        float *x = p->param + pv->offset;
        for (size_t i = 0; i < pv->size; i++) {
            int64_t k = (int64_t)(mix(seed + i) >> 40) - (1 << 23);
            x[i] = (float)((double)init[0] + (double)init[1] * ((double)k / 8388608.0));
        }
    }
}

static long check_case(const char *prefix, int threads) {
    Fixture fx;
    fx_load(&fx, "tests/ref/resnet8.bin");
    const int *k = get(&fx, prefix, "config", "")->i;
    const float *hyper = get(&fx, prefix, "hyper", "")->f;
    int N = k[2];
    ResNetConfig c = {.blocks = k[0], .width = k[1] / 4.0f, .batch = N, .image_h = k[3], .image_w = k[4],
                      .classes = k[5], .shortcut = k[6] ? 'B' : 'A', .bn_momentum = hyper[0], .bn_eps = hyper[1]};
    ResNet m;
    nn_set_threads(threads); // resnet_init takes the thread count in force
    resnet_init(&m, &c);
    int ninit = 0;
    for (int t = 0; t < fx.n; t++) ninit += strncmp(fx.t[t].name, prefix, strlen(prefix)) == 0 &&
                                            strncmp(fx.t[t].name + strlen(prefix), "init.", 5) == 0;
    assert_int_equal(m.params.nviews + m.stats.nviews, ninit); // every tensor PyTorch has, and no other
    generate_all(&m.params, &fx, prefix);
    generate_all(&m.stats, &fx, prefix);
    long bad = 0;
    // the generator agrees bit for bit (both sides round the same exact value to float32)
    const char *probe[] = {"conv1.weight", "layer1.0.bn1.weight"};
    for (int i = 0; i < 2; i++) {
        const FxTensor *t = get(&fx, prefix, "check.", probe[i]);
        bad += fx_compare(probe[i], params_ptr(&m.params, params_find(&m.params, probe[i])), t->f, t->size, 0, 0);
    }

    const float *images = get(&fx, prefix, "images", "")->f;
    const int *labels = get(&fx, prefix, "labels", "")->i;
    params_zero_grad(&m.params);
    float loss = (float)resnet_forward(&m, images, labels, N, PASS_TRAIN);
    resnet_backward(&m);
    printf("# %sresnet: loss %.7f (PyTorch %.7f), %d correct (PyTorch %d)\n", prefix, loss,
           get(&fx, prefix, "loss", "")->f[0], m.correct, get(&fx, prefix, "correct", "")->i[0]);
    assert_int_equal(get(&fx, prefix, "correct", "")->i[0], m.correct);
    bad += fx_compare("loss", &loss, get(&fx, prefix, "loss", "")->f, 1, 1e-5, 0);
    bad += fx_compare("logits", m.logits, get(&fx, prefix, "logits", "")->f, (long)N * c.classes, 1e-4, 1e-5);
    double worst = 0;
    for (int v = 0; v < m.params.nviews; v++) {
        const ParamView *pv = &m.params.views[v];
        const FxTensor *t = get(&fx, prefix, "grad.", pv->name);
        assert_int_equal((long)pv->size, t->size);
        // relative to each element, with a floor at 1e-4 of the tensor's largest gradient (elements near zero)
        double gmax = 0;
        for (long i = 0; i < t->size; i++) gmax = fmax(gmax, fabs(t->f[i]));
        char what[96];
        snprintf(what, sizeof what, "grad.%s", pv->name);
        bad += fx_compare(what, params_grad(&m.params, v), t->f, t->size, 1e-4, 1e-4 * gmax);
        for (long i = 0; i < t->size; i++)
            worst = fmax(worst, fabs(params_grad(&m.params, v)[i] - t->f[i]) / gmax);
    }
    printf("# %sresnet: largest gradient error relative to its tensor's largest gradient: %.3g\n", prefix, worst);
    for (int v = 0; v < m.stats.nviews; v++) {
        const ParamView *pv = &m.stats.views[v];
        const FxTensor *t = get(&fx, prefix, "stats.", pv->name);
        char what[96];
        snprintf(what, sizeof what, "stats.%s", pv->name);
        bad += fx_compare(what, params_ptr(&m.stats, v), t->f, t->size, 1e-5, 1e-6);
    }
    float eval_loss = (float)resnet_forward(&m, images, labels, N, PASS_EVAL);
    bad += fx_compare("eval_logits", m.logits, get(&fx, prefix, "eval_logits", "")->f, (long)N * c.classes, 1e-4,
                      1e-5);
    bad += fx_compare("eval_loss", &eval_loss, get(&fx, prefix, "eval_loss", "")->f, 1, 1e-5, 0);
    resnet_free(&m);
    fx_free(&fx);
    return bad;
}

// on one thread, and on two (the convolutions split the batch's images between them)
static void test_fixture_resnet8(void **state) {
    (void)state, assert_int_equal(0, check_case("", 1)), assert_int_equal(0, check_case("", 2));
}
static void test_fixture_option_b(void **state) {
    (void)state, assert_int_equal(0, check_case("b.", 1)), assert_int_equal(0, check_case("b.", 2));
}

// ---- central differences through the whole network, on tiny ones (width 1/4: 4/8/16 channels)

typedef struct { ResNet m; float *images; int labels[4]; int N; unsigned char *base, *st; long nrelu; } NetCase;

static double net_loss(void *p) {
    NetCase *c = p;
    return resnet_forward(&c->m, c->images, c->labels, c->N, PASS_TRAIN);
}

// The state (x > 0) of every ReLU after a forward: the stem's, then each block's two. Returns how many.
static long relu_states(unsigned char *st, const ResNet *m, int N) {
    long k = 0, n = (long)N * m->stem.s.OC * m->stem.s.OH * m->stem.s.OW;
    for (long i = 0; i < n; i++) st[k++] = m->stem_out[i] > 0;
    for (int b = 0; b < m->nblocks; b++) {
        const ConvShape *s = &m->block[b].c1.s;
        n = (long)N * s->OC * s->OH * s->OW;
        for (long i = 0; i < n; i++) st[k++] = m->block[b].z1[i] > 0;
        for (long i = 0; i < n; i++) st[k++] = m->block[b].out[i] > 0;
    }
    return k;
}

static int same_states(NetCase *c) {
    relu_states(c->st, &c->m, c->N);
    return memcmp(c->st, c->base, (size_t)c->nrelu) == 0;
}

// Central differences through a ReLU network are wrong whenever a step moves some ReLU input across 0 (with ~3000
// ReLUs, a step of 1e-2 in a stem weight does so most of the time). Within one linear piece of the ReLUs the loss is
// smooth (batchnorm, pooling and softmax are), so a difference counts only if every ReLU is in the same state at
// x - eps and x + eps as at x; otherwise the step is halved, down to 1e-2 / 2^7. Elements whose every step crosses
// a kink are skipped and counted. Small steps magnify the float32 forward's rounding: with the loss known to
// about delta = 2e-7 |loss| (two float ulps), a difference over a step h is uncertain by 2 delta / h, so element i
// passes when |grad_i - numeric_i| <= tol * max |numeric| + 2 delta / h_i. Returns the largest ratio of error to
// allowance (pass: <= 1) and prints gradcheck's normalised error beside it.
static double kinkfree_check(const char *what, NetCase *c, float *x, const float *grad, long n, long max_checks,
                             double tol, long *skipped) {
    enum { MAXC = 64 };
    long stride = n > max_checks ? (n + max_checks - 1) / max_checks : 1, checked = 0;
    double errs[MAXC], steps[MAXC], max_num = 0, max_err = 0, min_h = 1;
    double delta = 2e-7 * fabs(net_loss(c));
    assert_true(max_checks <= MAXC && same_states(c));
    for (long i = 0; i < n; i += stride) {
        float saved = x[i];
        int ok = 0;
        double num = 0, h = 0, eps = 1e-2;
        for (int t = 0; t < 8 && !ok; t++, eps /= 2) {
            x[i] = saved + (float)eps;
            double up = net_loss(c);
            int same = same_states(c);
            x[i] = saved - (float)eps;
            double down = net_loss(c);
            same = same && same_states(c);
            h = (double)(saved + (float)eps) - (double)(saved - (float)eps); // the step taken, in float
            x[i] = saved;
            if (same) ok = 1, num = (up - down) / h;
        }
        if (!ok) {
            (*skipped)++;
            continue;
        }
        errs[checked] = fabs(num - grad[i]), steps[checked] = h;
        max_num = fmax(max_num, fabs(num)), max_err = fmax(max_err, errs[checked]), min_h = fmin(min_h, h);
        if (errs[checked] != errs[checked]) max_err = INFINITY;
        checked++;
    }
    net_loss(c); // leave the model as it was at x
    double ratio = 0;
    for (long k = 0; k < checked; k++) ratio = fmax(ratio, errs[k] / (tol * max_num + 2 * delta / steps[k]));
    printf("# %s: checked %ld of %ld (%ld skipped: a kink at every step; smallest 2eps %.2g), max |numeric| %.3g, "
           "max abs err %.3g, normalised err %.3g, error/allowance %.3g (tol %.1g)\n", what, checked, n, *skipped,
           min_h, max_num, max_err, max_err / fmax(max_num, 1e-6), ratio, tol);
    return max_err == INFINITY ? INFINITY : ratio;
}

static void check_all_params(char shortcut, int H, int W) {
    NetCase c = {.N = 3};
    ResNetConfig cfg = {.blocks = 1, .width = 0.25f, .batch = c.N, .classes = 5, .image_h = H, .image_w = W,
                        .shortcut = shortcut, .bn_momentum = 0.1f, .bn_eps = 1e-5f};
    resnet_init(&c.m, &cfg);
    Rng rng;
    rng_seed(&rng, 99);
    resnet_init_he(&c.m, &rng);
    Params *P = &c.m.params;
    for (int v = 0; v < P->nviews; v++) // batchnorm's affine parameters away from 1 and 0, so they matter
        if (P->views[v].ndim == 1)
            for (size_t i = 0; i < P->views[v].size; i++) params_ptr(P, v)[i] += rng_uniform_range(&rng, -.3f, .3f);
    long n = (long)c.N * 3 * H * W;
    c.images = nn_alloc_floats(n);
    gc_fill(c.images, n, 1.5f, 7);
    for (int i = 0; i < c.N; i++) c.labels[i] = (int)rng_below(&rng, 5);
    params_zero_grad(P);
    net_loss(&c);
    resnet_backward(&c.m);
    c.base = malloc(1 << 16), c.st = malloc(1 << 16);
    c.nrelu = relu_states(c.base, &c.m, c.N);
    assert_true(c.nrelu < (1 << 16));
    float *grad = nn_alloc_floats(P->n);
    memcpy(grad, P->grad, P->n * sizeof(float));
    double tol = 2e-3;
    long skipped = 0, checked = 0;
    for (int v = 0; v < P->nviews; v++) {
        const ParamView *pv = &P->views[v];
        char what[96];
        long sk = 0;
        snprintf(what, sizeof what, "resnet %c %dx%d %s", shortcut, H, W, pv->name);
        assert_true(kinkfree_check(what, &c, P->param + pv->offset, grad + pv->offset, (long)pv->size, 40, tol,
                                   &sk) <= 1.0);
        skipped += sk, checked += pv->size < 40 ? (long)pv->size : 40;
    }
    printf("# resnet %c: %ld ReLUs; %ld of ~%ld elements skipped (a kink at every step)\n", shortcut, c.nrelu,
           skipped, checked);
    assert_true(skipped * 4 < checked); // the check really ran on most elements (all of them past the first block)
    free(grad), free(c.images), free(c.base), free(c.st);
    resnet_free(&c.m);
}

static void test_model_grad_a(void **state) { (void)state, check_all_params('A', 8, 8); }
static void test_model_grad_b(void **state) { (void)state, check_all_params('B', 7, 6); }

// ---- batchnorm's modes through the model

static void test_train_eval_modes(void **state) {
    (void)state;
    NetCase c = {.N = 4, .labels = {1, 0, 3, 2}};
    ResNetConfig cfg = {.blocks = 1, .width = 0.5f, .batch = c.N, .classes = 4, .image_h = 9, .image_w = 9,
                        .shortcut = 'A', .bn_momentum = 0.1f, .bn_eps = 1e-5f};
    resnet_init(&c.m, &cfg);
    Rng rng;
    rng_seed(&rng, 5);
    resnet_init_he(&c.m, &rng);
    long n = (long)c.N * 3 * 9 * 9;
    c.images = nn_alloc_floats(n);
    gc_fill(c.images, n, 1, 8);
    Params *S = &c.m.stats;
    float *before = nn_alloc_floats(S->n), first[4 * 4];
    memcpy(before, S->param, S->n * sizeof(float));
    // evaluation leaves the statistics alone, and an image's logits do not depend on the rest of the batch
    resnet_forward(&c.m, c.images, c.labels, c.N, PASS_EVAL);
    assert_memory_equal(before, S->param, S->n * sizeof(float));
    memcpy(first, c.m.logits, sizeof first);
    resnet_forward(&c.m, c.images, c.labels, 1, PASS_EVAL);
    for (int k = 0; k < 4; k++) assert_float_equal(first[k], c.m.logits[k], 1e-5);
    // training moves every statistic, and with batch statistics the first image's logits depend on the others
    resnet_forward(&c.m, c.images, c.labels, c.N, PASS_TRAIN);
    for (size_t i = 0; i < S->n; i++) assert_true(S->param[i] != before[i]);
    memcpy(first, c.m.logits, sizeof first);
    resnet_forward(&c.m, c.images, c.labels, 2, PASS_TRAIN);
    double diff = 0;
    for (int k = 0; k < 4; k++) diff = fmax(diff, fabs(first[k] - c.m.logits[k]));
    assert_true(diff > 1e-4);
    // the accuracy count is the argmax of the logits
    int correct = 0;
    resnet_forward(&c.m, c.images, c.labels, c.N, PASS_EVAL);
    for (int i = 0; i < c.N; i++) {
        int best = 0;
        for (int k = 1; k < 4; k++) best = c.m.logits[i * 4 + k] > c.m.logits[i * 4 + best] ? k : best;
        correct += best == c.labels[i];
    }
    assert_int_equal(correct, c.m.correct);
    free(before), free(c.images);
    resnet_free(&c.m);
}

// Evaluation image by image (every layer of ResNet-8 and -20 in the direct kernels) against the batch layer by layer
// through column matrices (conv2d_use_direct(0)): the same logits and loss, bit for bit, on 1 and 2 threads, after
// a training step has moved the statistics away from their initial values. Skipped without AVX-512.
static void test_eval_by_image(void **state) {
    (void)state;
    if (!nn_gemm_uses_avx512()) {
        print_message("# SKIP products do not run in nnopt's AVX-512 kernel here (%s)\n", nn_gemm_kernel());
        skip();
    }
    const char *presets[] = {"resnet8", "resnet20"};
    int labels[5] = {1, 0, 3, 9, 2};
    for (int k = 0; k < 2; k++)
        for (int threads = 1; threads <= 2; threads++) {
            nn_set_threads(threads);
            ResNet m;
            ResNetConfig cfg = small_cfg(presets[k], 5);
            resnet_init(&m, &cfg);
            Rng rng;
            rng_seed(&rng, 11);
            resnet_init_he(&m, &rng);
            assert_true(conv2d_direct_fits(&m.stem.s));
            long n = 5L * 3 * 32 * 32;
            float *images = nn_alloc_floats(n), logits[2][5 * 10];
            gc_fill(images, n, 1, 12);
            resnet_forward(&m, images, labels, 5, PASS_TRAIN); // running statistics away from 0 and 1
            double loss[2];
            for (int d = 0; d < 2; d++) {
                conv2d_use_direct(1 - d);
                loss[d] = resnet_forward(&m, images, labels, 5, PASS_EVAL);
                memcpy(logits[d], m.logits, sizeof logits[d]);
            }
            conv2d_use_direct(1);
            print_message("# %s, %d threads: eval loss %.9g image by image, %.9g layer by layer\n", presets[k],
                          threads, loss[0], loss[1]);
            assert_memory_equal(logits[0], logits[1], sizeof logits[0]);
            assert_true(loss[0] == loss[1]);
            free(images);
            resnet_free(&m);
        }
    nn_set_threads(1);
}

// ---- He init: std sqrt(2 / fan_in) for weights, PyTorch's uniform linear bias, batchnorm as PyTorch builds it
static void test_init_he(void **state) {
    (void)state;
    ResNetConfig cfg = small_cfg("resnet20", 1);
    ResNet m;
    resnet_init(&m, &cfg);
    Rng rng;
    rng_seed(&rng, 1);
    resnet_init_he(&m, &rng);
    const char *names[] = {"conv1.weight", "layer1.1.conv2.weight", "layer3.2.conv1.weight", "linear.weight"};
    for (int i = 0; i < 4; i++) {
        int v = params_find(&m.params, names[i]);
        const ParamView *pv = &m.params.views[v];
        double fan_in = (double)pv->size / pv->shape[0], s = 0, ss = 0;
        const float *w = params_ptr(&m.params, v);
        for (size_t j = 0; j < pv->size; j++) s += w[j], ss += (double)w[j] * w[j];
        double mean = s / pv->size, sd = sqrt(ss / pv->size - mean * mean), want = sqrt(2.0 / fan_in);
        double se = want / sqrt(2.0 * pv->size); // standard error of a normal sample's sd
        printf("# %s: %zu weights, sd %.5f, want sqrt(2/%g) = %.5f (+- %.5f)\n", names[i], pv->size, sd, fan_in,
               want, se);
        assert_true(fabs(sd - want) < 5 * se && fabs(mean) < 5 * want / sqrt((double)pv->size));
    }
    const float *b = params_ptr(&m.params, m.v_fc_b);
    for (int k = 0; k < 10; k++) assert_true(fabsf(b[k]) <= 1.0f / 8.0f && b[k] != 0.0f);
    const float *g = params_ptr(&m.params, params_find(&m.params, "layer2.1.bn1.weight"));
    const float *beta = params_ptr(&m.params, params_find(&m.params, "layer2.1.bn1.bias"));
    const float *rv = params_ptr(&m.stats, params_find(&m.stats, "layer2.1.bn1.running_var"));
    const float *rm = params_ptr(&m.stats, params_find(&m.stats, "layer2.1.bn1.running_mean"));
    for (int k = 0; k < 32; k++) assert_true(g[k] == 1 && beta[k] == 0 && rv[k] == 1 && rm[k] == 0);
    resnet_free(&m);
}

// Bytes the heap holds now: AddressSanitizer's count under make check, else glibc's (in use in the heap and in
// mmapped chunks); -1 where neither exists.
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#if defined(UNDER_ASAN)
size_t __sanitizer_get_current_allocated_bytes(void); // sanitizer/allocator_interface.h, which gcc does not ship
static double heap_in_use(void) { return (double)__sanitizer_get_current_allocated_bytes(); }
#elif defined(__GLIBC__)
static double heap_in_use(void) {
    struct mallinfo2 mi = mallinfo2();
    return (double)mi.uordblks + (double)mi.hblkhd;
}
#else
static double heap_in_use(void) { return -1; }
#endif

typedef struct { double params, stats, acts, max_act, scratch, image_act, copy; int N, threads; } Floats;

// A convolution (no bias) and its batchnorm on a C x H x W input: weight, gamma, beta; running mean and variance;
// the convolution's output (OC x OH x OW per image), the batch mean and 1/std; for evaluation image by image the
// batchnorm's scale and shift and the weights as the direct kernels read them.
static void count_unit(Floats *f, int C, int H, int W, int OC, int K, int stride, int OH, int OW) {
    f->params += (double)OC * C * K * K + 2.0 * OC;
    f->stats += 2.0 * OC;
    double out = (double)f->N * OC * OH * OW;
    f->acts += out + 2.0 * OC + 2.0 * OC + (double)OC * C * K * K;
    if (out > f->max_act) f->max_act = out;
    if (out / f->N > f->image_act) f->image_act = out / f->N;
    ConvShape s = conv2d_shape(C, H, W, OC, K, K, stride, K / 2);
    assert_int_equal(OH, s.OH); // OH, OW are resnet.h's halving; conv2d's arithmetic must agree
    assert_int_equal(OW, s.OW);
    double scratch = (double)conv2d_scratch_floats(&s, f->N, f->threads); // the convolution's own contract
    if (scratch > f->scratch) f->scratch = scratch;
    double copy = (double)conv2d_direct_copy_floats(&s); // the direct kernel's input copy, its own contract
    if (copy > f->copy) f->copy = copy;
}

// Floats resnet_init should allocate, counted from the architecture as resnet.h describes it, not by the model's
// code: stages of c1, c2, c3 = round(16, 32, 64 x width) channels at H x W, ceil(H/2) x ceil(W/2), ceil(H/4) x
// ceil(W/4); parameters and running statistics, each with a gradient array (the arena gives the statistics one
// too); per convolution its output, mean and 1/std; the stem's output; per block conv1's relu output and the block
// output; the pooled features, the logits and their gradients; four backward buffers of the largest activation;
// the convolutions' shared scratch; evaluation's buffers per thread.
static double hand_counted_floats(const ResNetConfig *c) {
    Floats f = {.N = c->batch, .threads = nn_get_threads()};
    int ch[3], hs[3], ws[3];
    for (int s = 0; s < 3; s++) {
        ch[s] = (int)lroundf((float)(16 << s) * c->width);
        if (ch[s] < 1) ch[s] = 1;
        hs[s] = s == 0 ? c->image_h : (hs[s - 1] + 1) / 2;
        ws[s] = s == 0 ? c->image_w : (ws[s - 1] + 1) / 2;
    }
    count_unit(&f, 3, hs[0], ws[0], ch[0], 3, 1, hs[0], ws[0]);
    f.acts += (double)f.N * ch[0] * hs[0] * ws[0];
    for (int s = 0; s < 3; s++)
        for (int b = 0; b < c->blocks; b++) {
            int first = s > 0 && b == 0; // halves the size and, but for width rounding, doubles the channels
            int C = first ? ch[s - 1] : ch[s], H = first ? hs[s - 1] : hs[s], W = first ? ws[s - 1] : ws[s];
            count_unit(&f, C, H, W, ch[s], 3, first ? 2 : 1, hs[s], ws[s]);
            count_unit(&f, ch[s], hs[s], ws[s], ch[s], 3, 1, hs[s], ws[s]);
            if (c->shortcut == 'B' && (first || C != ch[s]))
                count_unit(&f, C, H, W, ch[s], 1, first ? 2 : 1, hs[s], ws[s]);
            f.acts += 2.0 * f.N * ch[s] * hs[s] * ws[s];
        }
    f.params += (double)c->classes * ch[2] + c->classes;
    f.acts += 2.0 * f.N * ch[2] + 2.0 * f.N * c->classes;
    // per thread, evaluation image by image: three activations of one image and an input copy
    double eval_work = (double)f.threads * (3 * f.image_act + f.copy);
    return 2 * (f.params + f.stats) + f.acts + 4 * f.max_act + f.scratch + eval_work;
}

// The memory estimate the tools check before allocating is the architecture's count (hand_counted_floats), and
// resnet_init takes that much from the heap, give or take the allocator's rounding and bookkeeping.
static void test_memory_estimate(void **state) {
    (void)state;
    ResNetConfig cfgs[] = {small_cfg("resnet8", 8), small_cfg("resnet20", 3), small_cfg("resnet8", 5),
                           small_cfg("resnet8", 2)};
    cfgs[1].shortcut = 'B', cfgs[1].width = 0.5f;
    cfgs[2].image_h = 13, cfgs[2].image_w = 7;
    cfgs[3].image_h = cfgs[3].image_w = 1; // the later stages' activations are the largest: 32 and 64 channels
#if defined(__GLIBC__) && !defined(UNDER_ASAN)
    mallopt(M_MMAP_MAX, 0); // every block from the heap at its size (mmap would round each up to pages)
#endif
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
        double want = 4 * hand_counted_floats(&cfgs[i]), estimate = resnet_memory_bytes(&cfgs[i]);
        ResNet m;
        double before = heap_in_use();
        resnet_init(&m, &cfgs[i]);
        double used = heap_in_use() - before;
        printf("# config %zu: %.0f bytes by hand, estimate %.0f, resnet_init took %.0f from the heap\n", i, want,
               estimate, used);
        assert_true(estimate == want);
        assert_true(m.bytes == want);
        // more by the allocator's headers and 64-byte rounding (about 200 blocks) and the tables of named views
        // (about 120 bytes a tensor, doubled as they grow): 7 to 26 kB here
        if (before >= 0 && !(used >= want && used <= want + 65536))
            fail_msg("config %zu: resnet_init took %.0f bytes from the heap, %.0f counted", i, used, want);
        resnet_free(&m);
    }
#if defined(__GLIBC__) && !defined(UNDER_ASAN)
    mallopt(M_MMAP_MAX, 65536); // glibc's default
#endif
    ResNetConfig big = resnet_preset("resnet20");
    printf("# resnet20 at batch 128: %.1f MB\n", resnet_memory_bytes(&big) / 1e6);
}

// ---- refused configurations and calls
static void bad_preset(void *arg) { (void)arg, resnet_preset("resnet19"); }
static void bad_shortcut(void *arg) {
    (void)arg;
    ResNetConfig c = small_cfg("resnet8", 2);
    c.shortcut = 'C';
    ResNet m;
    resnet_init(&m, &c);
}
static void bad_call(void *arg) {
    ResNetConfig c = small_cfg("resnet8", 2);
    c.image_h = c.image_w = 4;
    ResNet m;
    resnet_init(&m, &c);
    float images[3 * 3 * 16] = {0};
    int labels[3] = {0, *(int *)arg, 1};
    resnet_forward(&m, images, labels, *(int *)arg == 0 ? 3 : 2, PASS_TRAIN);
}
static void bad_backward(void *arg) {
    (void)arg;
    ResNetConfig c = small_cfg("resnet8", 2);
    c.image_h = c.image_w = 4;
    ResNet m;
    resnet_init(&m, &c);
    resnet_backward(&m);
}

static void test_bad_config(void **state) {
    (void)state;
    expect_fatal(bad_preset, NULL, "unknown model 'resnet19'", "resnet20", "resnet110", NULL);
    expect_fatal(bad_shortcut, NULL, "shortcut 'C'", "A zero-padding", NULL);
    int zero = 0, ten = 10;
    expect_fatal(bad_call, &zero, "batch of 3", "1..2", NULL);
    expect_fatal(bad_call, &ten, "label 10 of image 1", "0..9", NULL);
    expect_fatal(bad_backward, NULL, "not a training forward", NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_param_counts),     cmocka_unit_test(test_fixture_resnet8),
        cmocka_unit_test(test_fixture_option_b), cmocka_unit_test(test_model_grad_a),
        cmocka_unit_test(test_model_grad_b),     cmocka_unit_test(test_train_eval_modes),
        cmocka_unit_test(test_eval_by_image),    cmocka_unit_test(test_init_he),
        cmocka_unit_test(test_memory_estimate),  cmocka_unit_test(test_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
