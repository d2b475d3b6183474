// Optimizer state through a checkpoint: for every optimizer, k steps, save, load into a fresh optimizer, and the
// next steps of the two are bit-identical (k = 0 too: a checkpoint taken before the first step).
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "nn/check.h"
#include "nn/checkpoint.h"
#include "nn/params.h"
#include "nn/rng.h"
#include "optim/optimizer.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const cases[][2] = {
    {"sgd", "momentum=0.9,nesterov=1"}, {"sgd", ""}, {"adam", ""}, {"adam", "amsgrad=1"}, {"adamw", ""},
    {"adagrad", "initial_accumulator_value=0.1"}, {"rmsprop", "centered=1,momentum=0.5"}, {"acclip", ""},
    {"acclip", "bias_correction=1"}, {"normalized", ""}, {"lamb", ""}, {"sgdclip", ""}, {"momclip", ""},
    {"mixclip", ""}, {"mixclip", "soft=1"}, {"perturbed", "noise=1"},
};

static void fill(float *g, size_t n, Rng *r) {
    for (size_t i = 0; i < n; i++) g[i] = rng_normal(r);
}

static void test_every_optimizer_resumes_exactly(void **state) {
    (void)state;
    Params P;
    params_init(&P);
    params_add(&P, "a.weight", 2, (int[]){3, 5});
    params_add(&P, "b.bias", 1, (int[]){7});
    params_alloc(&P);
    size_t n = P.n;
    float *x1 = nn_alloc_floats(n), *x2 = nn_alloc_floats(n), *g = nn_alloc_floats(n);
    char *dir = tu_mkdtemp(), *path = tu_path(dir, "opt.nnck");
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int k = 0; k <= 3; k += 3) {
            Rng r;
            rng_seed(&r, 11);
            fill(x1, n, &r);
            Optimizer *o1 = optim_create(cases[c][0], cases[c][1]);
            for (int s = 0; s < k; s++) fill(g, n, &r), o1->step(o1, x1, g, n, P.views, P.nviews, 0.01f);
            CkptWriter *w = ckpt_begin(path, "{}");
            optim_save_state(o1, w, P.views, P.nviews, n);
            ckpt_commit(w);
            Optimizer *o2 = optim_create(cases[c][0], cases[c][1]);
            CkptReader *rd = ckpt_open(path);
            optim_load_state(o2, rd, P.views, P.nviews, n);
            ckpt_expect_all_read(rd);
            ckpt_close(rd);
            memcpy(x2, x1, n * sizeof(float));
            for (int s = 0; s < 3; s++) {
                fill(g, n, &r);
                o1->step(o1, x1, g, n, P.views, P.nviews, 0.01f);
                o2->step(o2, x2, g, n, P.views, P.nviews, 0.01f);
            }
            int same = memcmp(x1, x2, n * sizeof(float)) == 0;
            printf("# %s %s after %d steps: %s\n", cases[c][0], cases[c][1], k, same ? "identical" : "DIFFERENT");
            assert_true(same);
            optim_free(o1), optim_free(o2);
        }
    tu_rmtree(dir), free(dir), free(path);
    free(x1), free(x2), free(g);
    params_free(&P);
}

// Adam's state loaded into SGD with momentum: refused, naming what is missing.
static void load_adam_into_sgd(void *arg) {
    const char *path = arg;
    Params P;
    params_init(&P);
    params_add(&P, "w", 1, (int[]){4});
    params_alloc(&P);
    Optimizer *o = optim_create("sgd", "momentum=0.9");
    CkptReader *r = ckpt_open(path);
    optim_load_state(o, r, P.views, P.nviews, P.n);
    ckpt_expect_all_read(r);
}

static void test_other_optimizer_is_refused(void **state) {
    (void)state;
    Params P;
    params_init(&P);
    params_add(&P, "w", 1, (int[]){4});
    params_alloc(&P);
    Optimizer *o = optim_create("adam", "");
    float g[4] = {1, 2, 3, 4};
    o->step(o, P.param, g, P.n, P.views, P.nviews, 0.1f);
    char *dir = tu_mkdtemp(), *path = tu_path(dir, "adam.nnck");
    CkptWriter *w = ckpt_begin(path, "{}");
    optim_save_state(o, w, P.views, P.nviews, P.n);
    ckpt_commit(w);
    expect_fatal(load_adam_into_sgd, path, "optim/", NULL);
    optim_free(o);
    tu_rmtree(dir), free(dir), free(path);
    params_free(&P);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_optimizer_resumes_exactly),
        cmocka_unit_test(test_other_optimizer_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
