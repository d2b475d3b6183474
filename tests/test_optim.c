// SGD, global-norm clipping and the step-decay schedule against values worked out by hand, and the registry's
// handling of names.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fixture.h"
#include "testutil.h"
#include "nn/check.h"
#include "nn/parallel.h"
#include "optim/clip.h"
#include "nn/rng.h"
#include "optim/gradstats.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static void test_clip_modes(void **state) {
    (void)state;
    ParamView views[2] = {{.name = "a", .offset = 0, .size = 2}, {.name = "b", .offset = 2, .size = 2}};
    double norm;
    // torch's clip_grad_norm_: scale eta / (||g|| + 1e-6); ||(3,4,0,0)|| = 5
    float g[4] = {3, 4, 0, 0};
    float f = optim_clip(CLIP_NORM_TORCH, g, 4, views, 2, 2.5f, &norm);
    assert_float_equal(f, 2.5 / (5 + 1e-6), 1e-9);
    assert_float_equal(g[1], 4 * 2.5 / (5 + 1e-6), 1e-6);
    // per tensor: a = (3,4) has norm 5 -> scaled to norm 1; b = (0.3,0.4) has norm 0.5 -> kept
    float h[4] = {3, 4, 0.3f, 0.4f};
    f = optim_clip(CLIP_TENSOR, h, 4, views, 2, 1.0f, &norm);
    assert_float_equal(norm, sqrt(25.25), 1e-6);
    assert_float_equal(h[0], 0.6f, 1e-6), assert_float_equal(h[1], 0.8f, 1e-6);
    assert_float_equal(h[2], 0.3f, 0), assert_float_equal(h[3], 0.4f, 0);
    assert_float_equal(f, sqrt(1.25) / sqrt(25.25), 1e-6); // factor = norm after / norm before
    // element-wise value clipping to [-1, 1]
    float v[4] = {3, -0.5f, -4, 1};
    f = optim_clip(CLIP_VALUE, v, 4, views, 2, 1.0f, &norm);
    assert_float_equal(v[0], 1, 0), assert_float_equal(v[1], -0.5f, 0), assert_float_equal(v[2], -1, 0);
    assert_float_equal(v[3], 1, 0);
    assert_float_equal(f, sqrt(3.25) / sqrt(26.25), 1e-6);
    // a zero gradient: factor 1, no NaN, in every mode
    for (int m = 0; m < 4; m++) {
        float z[4] = {0};
        assert_float_equal(optim_clip((ClipMode)m, z, 4, views, 2, 1.0f, &norm), 1.0f, 0);
        assert_true(z[0] == 0 && z[3] == 0 && norm == 0);
    }
    assert_int_equal(optim_clip_mode("tensor"), CLIP_TENSOR);
}

static void test_normalized(void **state) {
    (void)state;
    // x -= lr g / (||g|| + b): ||(3,4)|| = 5, b = 1, lr = 0.6 -> step 0.1 g
    float x[2] = {1, 1}, g[2] = {3, 4};
    Optimizer *o = optim_create("normalized", "b=1");
    o->step(o, x, g, 2, NULL, 0, 0.6f);
    assert_float_equal(x[0], 0.7f, 1e-6), assert_float_equal(x[1], 0.6f, 1e-6);
    optim_free(o);
    o = optim_create("normalized", NULL); // b = 0: a unit-length step whatever the gradient's size
    float y[2] = {0, 0}, big[2] = {3e20f, 4e20f};
    o->step(o, y, big, 2, NULL, 0, 1.0f);
    assert_float_equal(y[0], -0.6f, 1e-6), assert_float_equal(y[1], -0.8f, 1e-6);
    optim_free(o);
}

static void test_zaremba_schedule(void **state) {
    (void)state;
    // zaremba-small: lr 20 (the paper's 1, times T = 20) for epochs 1-4, then halved every epoch
    const float want[14] = {0, 20, 20, 20, 20, 10, 5, 2.5f, 1.25f, 0.625f, 0.3125f, 0.15625f, 0.078125f, 0.0390625f};
    for (int e = 1; e <= 13; e++) assert_float_equal(schedule_step_decay(20.0f, e, 4, 0.5f), want[e], 1e-6);
    assert_float_equal(schedule_step_decay(1.0f, 100, 4, 1.0f), 1.0f, 0); // decay 1: constant
}

static void test_schedules(void **state) {
    (void)state;
    Schedule s = {.kind = SCHED_MULTISTEP, .lr = 1.0f, .gamma = 0.1f};
    schedule_milestones(&s, "2,4"); // torch MultiStepLR(milestones=[2,4]) stepped once per epoch
    schedule_start(&s);
    const float multi[6] = {0, 1, 1, 0.1f, 0.1f, 0.01f}; // epochs 1..5
    for (int e = 1; e <= 5; e++) assert_float_equal(schedule_lr(&s, e, 0), multi[e], 1e-7);
    // cosine: warm-up 0.25, 0.5, 0.75, 1 over 4 steps, then 1 -> 0.1 over steps 4..14, halfway at step 9
    Schedule c = {.kind = SCHED_COSINE, .lr = 1.0f, .warmup = 4, .total = 14, .min_lr = 0.1f};
    schedule_start(&c);
    assert_float_equal(schedule_lr(&c, 1, 0), 0.25f, 1e-7), assert_float_equal(schedule_lr(&c, 1, 3), 1.0f, 1e-7);
    assert_float_equal(schedule_lr(&c, 1, 4), 1.0f, 1e-6), assert_float_equal(schedule_lr(&c, 1, 9), 0.55f, 1e-6);
    assert_float_equal(schedule_lr(&c, 1, 14), 0.1f, 1e-6), assert_float_equal(schedule_lr(&c, 1, 99), 0.1f, 1e-6);
    // plateau: divided by 4 after each epoch whose validation loss is not a new best
    Schedule p = {.kind = SCHED_PLATEAU, .lr = 20.0f, .plateau_factor = 4.0f};
    schedule_start(&p);
    const double valid[5] = {5.0, 4.8, 4.9, 4.7, 4.7};
    const float after[5] = {20, 20, 5, 5, 1.25f};
    for (int e = 0; e < 5; e++) {
        schedule_epoch_end(&p, valid[e]);
        assert_float_equal(schedule_lr(&p, e + 2, 0), after[e], 1e-6);
    }
    Schedule k = {.kind = SCHED_CONSTANT, .lr = 0.3f};
    assert_float_equal(schedule_lr(&k, 50, 1000), 0.3f, 0);
    assert_int_equal(schedule_kind("cosine"), SCHED_COSINE);
}

static void bad_milestones(void *arg) {
    Schedule s = {0};
    schedule_milestones(&s, arg);
}

static void test_schedule_errors(void **state) {
    (void)state;
    expect_fatal(bad_milestones, "5,3", "must ascend", (char *)NULL);
    expect_fatal(bad_milestones, "5,x", "expected ascending positive epochs", (char *)NULL);
    expect_fatal(bad_milestones, "0", "expected ascending positive epochs", (char *)NULL);
}

static void create(void *arg) { // arg: "name|args"
    char buf[256];
    snprintf(buf, sizeof buf, "%s", (const char *)arg);
    char *bar = strchr(buf, '|');
    *bar = '\0';
    optim_free(optim_create(buf, bar + 1));
}

static void test_registry_errors(void **state) {
    (void)state;
    expect_fatal(create, "adamx|", "unknown optimizer 'adamx'; accepted: sgd, adam, adamw", (char *)NULL);
    expect_fatal(create, "sgd|momentun=0.9", "no hyper-parameter 'momentun'", "momentum=0 dampening=0", (char *)NULL);
    expect_fatal(create, "adam|beta1=1", "adam beta1=1: accepted [0, 1)", (char *)NULL);
    expect_fatal(create, "adam|eps=-1", "adam eps=-1: accepted (0, inf)", (char *)NULL);
    expect_fatal(create, "sgd|momentum=abc", "momentum='abc': expected a number", (char *)NULL);
    expect_fatal(create, "sgd|momentum", "expected key=value pairs", (char *)NULL);
    expect_fatal(create, "sgd|lr=0.1", "learning rate is set with --lr", (char *)NULL);
    expect_fatal(create, "sgd|nesterov=1", "nesterov=1 needs momentum > 0", (char *)NULL);
    create("rmsprop|alpha=0.5,centered=1,momentum=0.1"); // valid arguments are accepted
}

// eps = 0 is refused by every optimizer that divides by sqrt(v) + eps (or |m| + eps): a coordinate whose gradient
// has always been 0 would step by 0 / 0 = NaN. The smallest normal float eps keeps that coordinate where it is.
static void test_eps_must_be_positive(void **state) {
    (void)state;
    const char *names[] = {"adam", "adamw", "adagrad", "rmsprop", "acclip", "lamb"};
    for (int i = 0; i < 6; i++) {
        char arg[64], want[64];
        snprintf(arg, sizeof arg, "%s|eps=0", names[i]);
        snprintf(want, sizeof want, "%s eps=0: accepted (0, inf)", names[i]);
        expect_fatal(create, arg, want, (char *)NULL);
        Optimizer *o = optim_create(names[i], "eps=1.2e-38,weight_decay=0"); // (adamw decays by default)
        float x[2] = {1, 1}, g[2] = {0, 0.5f};
        ParamView v = {.name = "w", .offset = 0, .size = 2, .ndim = 1, .shape = {2}};
        for (int t = 0; t < 3; t++) o->step(o, x, g, 2, &v, 1, 0.1f);
        assert_true(x[0] == 1.0f);                 // no gradient, no step, no NaN
        assert_true(isfinite(x[1]) && x[1] < 1.0f); // a step down the gradient
        optim_free(o);
    }
}

// Every trajectory in tests/ref/optim.bin (torch.optim in float64): the same fixed gradient sequence fed to our
// optimizer must reproduce each step's parameters. Names are "traj:<optimizer>:lr=<lr>[,<key>=<value>...]", or
// "clip:<mode>:<eta>:<optimizer>:lr=..." where torch.nn.utils clipped the gradient before every step.
static void test_torch_trajectories(void **state) {
    (void)state;
    Fixture fx;
    fx_load(&fx, "tests/ref/optim.bin");
    const int *cfg = fx_get(&fx, "config")->i, *vw = fx_get(&fx, "views")->i;
    int P = cfg[0], S = cfg[1];
    ParamView views[2] = {{.name = "a", .offset = (size_t)vw[0], .size = (size_t)vw[1]},
                          {.name = "b", .offset = (size_t)vw[2], .size = (size_t)vw[3]}};
    const float *x0 = fx_get(&fx, "x0")->f, *grads = fx_get(&fx, "grads")->f;
    float *x = nn_alloc_floats(P), *g = nn_alloc_floats(P), *got = nn_alloc_floats((long)S * P);
    long bad = 0;
    int ntraj = 0, nclip = 0;
    for (int k = 0; k < fx.n; k++) {
        char name[64], *rest = name;
        snprintf(name, sizeof name, "%s", fx.t[k].name);
        int clipped = strncmp(name, "clip:", 5) == 0;
        if (!clipped && strncmp(name, "traj:", 5) != 0) continue;
        rest += 5;
        ClipMode mode = CLIP_NORM;
        float eta = 0;
        if (clipped) { // "<mode>:<eta>:" first
            char *colon = strchr(rest, ':');
            *colon = '\0';
            mode = optim_clip_mode(rest);
            eta = strtof(colon + 1, &rest);
            rest++;
        }
        char *args = strchr(rest, ':');
        *args++ = '\0';
        assert_true(strncmp(args, "lr=", 3) == 0);
        float lr = strtof(args + 3, &args);
        if (*args == ',') args++;
        Optimizer *o = optim_create(rest, args);
        memcpy(x, x0, sizeof(float) * P);
        for (int t = 0; t < S; t++) {
            memcpy(g, grads + (long)t * P, sizeof(float) * P);
            if (clipped) optim_clip(mode, g, (size_t)P, views, 2, eta, NULL);
            o->step(o, x, g, (size_t)P, views, 2, lr);
            memcpy(got + (long)t * P, x, sizeof(float) * P);
        }
        optim_free(o);
        bad += fx_compare(fx.t[k].name, got, fx.t[k].f, (long)S * P, 2e-5, 2e-6);
        ntraj++, nclip += clipped;
    }
    printf("# %d trajectories of %d steps compared, %d of them with torch's clipping\n", ntraj, S, nclip);
    assert_true(ntraj >= 20 && nclip >= 3);
    assert_int_equal(0, bad);
    free(x), free(g), free(got);
    fx_free(&fx);
}

// ACClip has no torch.optim counterpart: its reference is Algorithm 1 of Zhang et al. (2020) transcribed in double,
// run on the fixture's gradient sequence (with its large entries, where the clipping acts).
static void acclip_reference(double *x, const float *grads, int P, int S, double lr, double b1, double b2,
                             double eps, double alpha, double wd, double *traj) {
    double m[64] = {0}, tau_a[64] = {0};
    for (int t = 0; t < S; t++)
        for (int i = 0; i < P; i++) {
            double g = grads[t * P + i] + wd * x[i];
            m[i] = b1 * m[i] + (1 - b1) * g;
            tau_a[i] = b2 * tau_a[i] + (1 - b2) * pow(fabs(g), alpha);
            double clip = pow(tau_a[i], 1 / alpha) / (fabs(m[i]) + eps);
            x[i] -= lr * (clip < 1 ? clip : 1) * m[i];
            traj[t * P + i] = x[i];
        }
}

static void test_acclip_reference(void **state) {
    (void)state;
    Fixture fx;
    fx_load(&fx, "tests/ref/optim.bin");
    int P = fx_get(&fx, "config")->i[0], S = fx_get(&fx, "config")->i[1];
    assert_true(P <= 64);
    const float *x0 = fx_get(&fx, "x0")->f, *grads = fx_get(&fx, "grads")->f;
    const struct { const char *args; double b1, b2, eps, alpha, wd; } cases[] = {
        {"", 0.9, 0.99, 1e-5, 1, 0},
        {"alpha=2,beta2=0.9", 0.9, 0.9, 1e-5, 2, 0},
        {"alpha=1.5,beta1=0.5,eps=1e-3,weight_decay=0.05", 0.5, 0.99, 1e-3, 1.5, 0.05},
    };
    long bad = 0;
    int clipped = 0;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        double xd[64], *want = malloc(sizeof(double) * S * P);
        float x[64], *got = malloc(sizeof(float) * S * P), *wantf = malloc(sizeof(float) * S * P);
        for (int i = 0; i < P; i++) xd[i] = x[i] = x0[i];
        acclip_reference(xd, grads, P, S, 0.05, cases[k].b1, cases[k].b2, cases[k].eps, cases[k].alpha, cases[k].wd,
                         want);
        Optimizer *o = optim_create("acclip", cases[k].args);
        for (int t = 0; t < S; t++) {
            o->step(o, x, grads + t * P, (size_t)P, NULL, 0, 0.05f);
            memcpy(got + t * P, x, sizeof(float) * P);
        }
        optim_free(o);
        for (int i = 0; i < S * P; i++) wantf[i] = (float)want[i];
        char what[96];
        snprintf(what, sizeof what, "acclip %s", cases[k].args[0] ? cases[k].args : "(defaults)");
        bad += fx_compare(what, got, wantf, (long)S * P, 1e-5, 1e-6);
        // the trajectory must differ from unclipped momentum somewhere, or the test would not exercise clipping
        double xm[64], mm[64] = {0};
        for (int i = 0; i < P; i++) xm[i] = x0[i];
        for (int t = 0; t < S; t++)
            for (int i = 0; i < P; i++) {
                mm[i] = cases[k].b1 * mm[i] + (1 - cases[k].b1) * (grads[t * P + i] + cases[k].wd * xm[i]);
                xm[i] -= 0.05 * mm[i];
            }
        for (int i = 0; i < P; i++) clipped += fabs(xm[i] - xd[i]) > 1e-3;
        free(want), free(got), free(wantf);
    }
    printf("# %d final coordinates differ from unclipped momentum by more than 1e-3\n", clipped);
    assert_true(clipped > 0);
    assert_int_equal(0, bad);
    fx_free(&fx);
}

// A zero gradient moves nothing and makes no NaN, whatever the optimizer's normalisation.
static void test_zero_gradient(void **state) {
    (void)state;
    const char *specs[][2] = {{"sgd", "momentum=0.9,nesterov=1"}, {"adam", "amsgrad=1"}, {"adamw", "weight_decay=0"},
                              {"adagrad", ""}, {"rmsprop", "centered=1,momentum=0.5"},
                              {"acclip", ""}, {"acclip", "alpha=2"}, {"acclip", "bias_correction=1"},
                              {"normalized", ""}, {"sgdclip", ""}, {"mixclip", "per_layer=1"},
                              {"mixclip", "soft=1"}, {"lamb", ""}};
    ParamView views[2] = {{.name = "a", .offset = 0, .size = 1}, {.name = "b", .offset = 1, .size = 3}};
    for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) {
        float x[4] = {1, -2, 0, 3}, g[4] = {0};
        Optimizer *o = optim_create(specs[k][0], specs[k][1]);
        for (int t = 0; t < 5; t++) o->step(o, x, g, 4, views, 2, 0.1f);
        assert_true(x[0] == 1 && x[1] == -2 && x[2] == 0 && x[3] == 3);
        optim_free(o);
    }
}

// Huge gradients (1e30, whose square overflows float) leave every optimizer's parameters finite (no NaN, no inf)
// and within what its rule can move them in 3 steps of lr 0.01: lr |g| a step for the unnormalised ones (sgd,
// perturbed; acclip's factor min(tau/|m|, 1) <= 1 with tau <= max |g|), 10 lr for the ones that divide by a root
// mean square (Adam's |m^/sqrt(v^)| and RMSProp's |g|/sqrt((1-alpha) g^2) are at most 1/sqrt(1-0.99) = 10 here),
// lr for normalized, lr ||x|| a tensor for lamb's trust ratio, gamma = 1 for the clipped-momentum family.
static void test_huge_gradient(void **state) {
    (void)state;
    const double lr = 0.01, steps = 3;
    const struct {
        const char *name;
        double bound; // on |x_3 - x_0| of any coordinate
    } cases[] = {{"sgd", steps * lr * 1e30}, {"perturbed", steps * lr * (1e30 + 1)}, {"acclip", steps * lr * 1e30},
                 {"adam", steps * lr * 10}, {"adamw", steps * lr * 10 + 0.01}, {"adagrad", steps * lr * 10},
                 {"rmsprop", steps * lr * 10}, {"normalized", steps * lr}, {"lamb", steps * lr * 4},
                 {"sgdclip", steps}, {"momclip", steps}, {"mixclip", steps}};
    ParamView views[2] = {{.name = "a", .offset = 0, .size = 1}, {.name = "b", .offset = 1, .size = 3}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const float x0[4] = {1, -2, 0.5f, 3};
        float x[4] = {1, -2, 0.5f, 3}, g[4] = {1e30f, -1e30f, 1e30f, 2.0f};
        Optimizer *o = optim_create(cases[k].name, "");
        for (int t = 0; t < steps; t++) o->step(o, x, g, 4, views, 2, (float)lr);
        for (int i = 0; i < 4; i++) {
            double moved = fabs((double)x[i] - x0[i]);
            if (!isfinite(x[i]) || moved > cases[k].bound * 1.001)
                printf("# %s: x[%d] = %g, moved %g, bound %g\n", cases[k].name, i, x[i], moved, cases[k].bound);
            assert_true(isfinite(x[i]));
            assert_true(moved <= cases[k].bound * 1.001);
        }
        optim_free(o);
    }
}

// The online statistics: cosines against hand-computed values; the update direction of SGD is the gradient itself
// (cosine 1), Adam's is not.
static void test_gradstats(void **state) {
    (void)state;
    float a[3] = {1, 0, 0}, b[3] = {1, 1, 0}, z[3] = {0};
    assert_float_equal(optim_cosine(a, b, 3), 1 / sqrt(2.0), 1e-12);
    assert_float_equal(optim_cosine(a, z, 3), 0, 0); // defined as 0, not NaN
    float big[20], neg[20];
    for (int i = 0; i < 20; i++) big[i] = (float)(i % 7) - 3, neg[i] = -big[i];
    assert_float_equal(optim_cosine(big, neg, 20), -1, 1e-12);

    GradStats gs;
    float x[3] = {1, 2, 3}, g1[3] = {1, 0, 0}, g2[3] = {1, 1, 0};
    gradstats_init(&gs, 3, 1);
    Optimizer *sgd = optim_create("sgd", NULL);
    assert_true(isnan(gradstats_before_step(&gs, g1, x))); // no previous gradient yet
    sgd->step(sgd, x, g1, 3, NULL, 0, 0.5f);
    assert_float_equal(gradstats_after_step(&gs, g1, x), 1, 1e-12);
    assert_float_equal(gradstats_before_step(&gs, g2, x), 1 / sqrt(2.0), 1e-12); // cos(g2, g1)
    sgd->step(sgd, x, g2, 3, NULL, 0, 0.5f);
    assert_float_equal(gradstats_after_step(&gs, g2, x), 1, 1e-12);
    optim_free(sgd);
    // Adam's first step is lr * sign(g) (up to eps): for g = (1, 0.1, 0) the update (1, 1, 0) has cosine
    // (1 + 0.1) / (sqrt(1.01) sqrt(2)) with g
    float y[3] = {0, 0, 0}, g3[3] = {1, 0.1f, 0};
    Optimizer *adam = optim_create("adam", NULL);
    gradstats_before_step(&gs, g3, y);
    adam->step(adam, y, g3, 3, NULL, 0, 0.01f);
    assert_float_equal(gradstats_after_step(&gs, g3, y), 1.1 / (sqrt(1.01) * sqrt(2.0)), 1e-6);
    optim_free(adam);
    gradstats_free(&gs);
}

// The online noise scale against synthetic truth: i.i.d. batch gradients g = G + e / sqrt(B) with per-example
// noise e ~ N(0, sigma^2 I) in n dimensions at fixed x (no drift), so B_simple = n sigma^2 / ||G||^2 = 16; after
// 4,000 steps the moving-average estimate is within 10% (its own spread is about 3%).
static void test_online_noise_scale(void **state) {
    (void)state;
    enum { N = 50, B = 8, STEPS = 4000 };
    float x[N] = {0}, g[N], G[N];
    double gg = 0, sigma = 2;
    for (int j = 0; j < N; j++) G[j] = (float)(j % 2 ? 1.0 : -1.0) * 0.5f, gg += G[j] * G[j];
    double want = N * sigma * sigma / gg;
    GradStats gs;
    gradstats_init(&gs, N, B);
    Rng r;
    rng_seed(&r, 9);
    double est = NAN;
    for (int t = 0; t < STEPS; t++) {
        double sq = 0;
        for (int j = 0; j < N; j++) g[j] = G[j] + (float)(sigma / sqrt(B)) * rng_normal(&r), sq += g[j] * g[j];
        double c = gradstats_before_step(&gs, g, x);
        est = gradstats_noise_scale(&gs, sqrt(sq), c);
        if (t == 0) assert_true(isnan(est));
    }
    printf("# online B_simple %.3f, truth %.3f\n", est, want);
    assert_float_equal(est, want, 0.1 * want);
    gradstats_free(&gs);
}

// The flat passes over many blocks of parameters (nn_parallel_blocks): the global norm and a cosine against plain
// double sums and with the same bits on 1, 2 and 3 threads, clipping, and SGD with momentum bit for bit on 1 and 2 threads
// (element-wise work: blocks on other threads change nothing).
static void test_flat_passes_over_threads(void **state) {
    (void)state;
    const size_t n = 3 * 65536 + 4321;
    float *g = nn_alloc_floats(n), *x1 = nn_alloc_floats(n), *x2 = nn_alloc_floats(n), *g2 = nn_alloc_floats(n);
    for (size_t i = 0; i < n; i++) g[i] = (float)sin(0.001 * (double)i) + 0.01f, x1[i] = x2[i] = (float)cos(i * 0.7);
    double plain = 0;
    for (size_t i = 0; i < n; i++) plain += (double)g[i] * g[i];
    plain = sqrt(plain);
    double norms[3];
    for (int t = 1; t <= 3; t++) nn_set_threads(t), norms[t - 1] = optim_l2_norm(g, n);
    printf("# norm %.17g, plain loop %.17g\n", norms[0], plain);
    assert_true(fabs(norms[0] - plain) <= 1e-12 * plain);
    assert_true(norms[0] == norms[1] && norms[1] == norms[2]);
    double ab = 0, bb = 0, cosines[3];
    for (size_t i = 0; i < n; i++) g2[i] = g[i] + 0.5f * x1[i]; // a cosine of about 0.8
    for (size_t i = 0; i < n; i++) ab += (double)g[i] * g2[i], bb += (double)g2[i] * g2[i];
    for (int t = 1; t <= 3; t++) nn_set_threads(t), cosines[t - 1] = optim_cosine(g, g2, n);
    printf("# cosine %.17g, plain loop %.17g\n", cosines[0], ab / (plain * sqrt(bb)));
    assert_true(fabs(cosines[0] - ab / (plain * sqrt(bb))) < 1e-12);
    assert_true(cosines[0] == cosines[1] && cosines[1] == cosines[2]);
    memcpy(g2, g, n * sizeof(float));
    nn_set_threads(2);
    double before;
    float f = optim_clip_global_norm(g2, n, 1.0f, &before);
    assert_true(fabs(optim_l2_norm(g2, n) - 1.0) < 1e-5 && fabs(f * before - 1.0) < 1e-6);
    Optimizer *o1 = optim_create("sgd", "momentum=0.9,weight_decay=1e-3"), *o2 = optim_create("sgd", "momentum=0.9,weight_decay=1e-3");
    for (int step = 0; step < 3; step++) {
        nn_set_threads(1), o1->step(o1, x1, g, n, NULL, 0, 0.1f);
        nn_set_threads(2), o2->step(o2, x2, g, n, NULL, 0, 0.1f);
    }
    assert_memory_equal(x1, x2, n * sizeof(float));
    nn_set_threads(1);
    optim_free(o1), optim_free(o2);
    free(g), free(x1), free(x2), free(g2);
}

// sgdclip and mixclip update the momentum and take its norm (and g's) in one pass over blocks: the same bits as the
// update written as separate passes (m, then optim_l2_norm of m and of g, then x), on 1 and 2 threads, over a
// vector of several blocks.
static void test_clipmom_fused_pass(void **state) {
    (void)state;
    const size_t n = 3 * 65536 + 999;
    const float beta = 0.9f, gamma = 0.5f, lr = 0.3f, nu = 0.7f;
    float *g = nn_alloc_floats(n), *x0 = nn_alloc_floats(n), *x = nn_alloc_floats(n), *want = nn_alloc_floats(n);
    float *m = nn_alloc_floats(n);
    for (size_t i = 0; i < n; i++) g[i] = (float)sin(0.003 * (double)i), x0[i] = (float)cos(0.01 * (double)i);
    for (int mix = 0; mix < 2; mix++)
        for (int threads = 1; threads <= 2; threads++) {
            nn_set_threads(threads);
            const char *args = mix ? "beta=0.9,gamma=0.5,nu=0.7" : "beta=0.9,gamma=0.5";
            Optimizer *o = optim_create(mix ? "mixclip" : "sgdclip", args);
            memcpy(x, x0, n * sizeof(float)), memcpy(want, x0, n * sizeof(float)), memset(m, 0, n * sizeof(float));
            for (int step = 0; step < 2; step++) {
                o->step(o, x, g, n, NULL, 0, lr);
                for (size_t i = 0; i < n; i++) m[i] = beta * m[i] + (1.0f - beta) * g[i];
                double nm = optim_l2_norm(m, n), ng = optim_l2_norm(g, n);
                float w = mix ? nu : 1.0f, km = (float)(w * (gamma / nm < lr ? gamma / nm : lr));
                float kg = (float)((1.0f - nu) * (gamma / ng < lr ? gamma / ng : lr));
                for (size_t i = 0; i < n; i++) want[i] -= mix ? km * m[i] + kg * g[i] : km * m[i];
            }
            assert_memory_equal(x, want, n * sizeof(float));
            optim_free(o);
        }
    nn_set_threads(1);
    free(g), free(x0), free(x), free(want), free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd_trajectory),
        cmocka_unit_test(test_clip_global_norm),
        cmocka_unit_test(test_clip_modes),
        cmocka_unit_test(test_normalized),
        cmocka_unit_test(test_zaremba_schedule),
        cmocka_unit_test(test_schedules),
        cmocka_unit_test(test_schedule_errors),
        cmocka_unit_test(test_registry_errors),
        cmocka_unit_test(test_eps_must_be_positive),
        cmocka_unit_test(test_torch_trajectories),
        cmocka_unit_test(test_zero_gradient),
        cmocka_unit_test(test_huge_gradient),
        cmocka_unit_test(test_gradstats),
        cmocka_unit_test(test_online_noise_scale),
        cmocka_unit_test(test_acclip_reference),
        cmocka_unit_test(test_flat_passes_over_threads),
        cmocka_unit_test(test_clipmom_fused_pass),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
