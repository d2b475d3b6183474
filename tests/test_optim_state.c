// Optimizer state through a checkpoint: for every optimizer, k steps, save, load into a fresh optimizer, and the
// next steps of the two are bit-identical (k = 0 too: a checkpoint taken before the first step). The checkpoint
// holds exactly the state the update rule keeps (PyTorch's state keys), none for the stateless rules, whose steps
// must then be the rule itself, whatever came before.
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

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// name, hyper-parameters, the state its rule keeps (sorted; "" when stateless)
static const char *const cases[][3] = {
    {"sgd", "momentum=0.9,nesterov=1", "momentum_buffer"}, {"sgd", "", ""},
    {"adam", "", "exp_avg exp_avg_sq step"}, {"adam", "amsgrad=1", "exp_avg exp_avg_sq max_exp_avg_sq step"},
    {"adamw", "", "exp_avg exp_avg_sq step"}, {"adagrad", "initial_accumulator_value=0.1", "step sum"},
    {"rmsprop", "centered=1,momentum=0.5", "grad_avg momentum_buffer square_avg"},
    {"acclip", "", "exp_avg tau_alpha"}, {"acclip", "bias_correction=1", "exp_avg step tau_alpha"},
    {"normalized", "", ""}, {"lamb", "", "exp_avg exp_avg_sq step"},
    {"sgdclip", "", "momentum"}, {"momclip", "", "momentum"}, {"mixclip", "", "momentum"},
    {"mixclip", "soft=1", "momentum"}, {"perturbed", "noise=1", "noise_keys"}, {"perturbed", "", "noise_keys"},
};

static void fill(float *g, size_t n, Rng *r) {
    for (size_t i = 0; i < n; i++) g[i] = rng_normal(r);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

// The state items a checkpoint holds ("optim/<item>/<view>" or "optim/<item>"), sorted, space-separated.
static void items_in(CkptReader *r, char *out, size_t cap) {
    char *items[64];
    int k = 0;
    for (int i = 0; i < ckpt_count(r) && k < 64; i++) {
        const char *name = ckpt_info(r, i)->name;
        assert_true(strncmp(name, "optim/", 6) == 0);
        items[k] = nn_strdup(name + 6);
        char *slash = strchr(items[k], '/');
        if (slash) *slash = '\0';
        k++;
    }
    qsort(items, (size_t)k, sizeof *items, cmp_str);
    out[0] = '\0';
    for (int i = 0; i < k; i++)
        if (i == 0 || strcmp(items[i], items[i - 1]) != 0)
            snprintf(out + strlen(out), cap - strlen(out), "%s%s", out[0] ? " " : "", items[i]);
    for (int i = 0; i < k; i++) free(items[i]);
}

// x after one step of a stateless rule from x, g: sgd x - lr g, normalized x - lr g / ||g|| (norm in double).
static void stateless_reference(const char *name, float *want, const float *x, const float *g, size_t n, float lr) {
    double sq = 0;
    for (size_t i = 0; i < n; i++) sq += (double)g[i] * g[i];
    double k = strcmp(name, "normalized") == 0 ? lr / sqrt(sq) : lr;
    for (size_t i = 0; i < n; i++) want[i] = (float)(x[i] - k * g[i]);
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
    float *before = nn_alloc_floats(n), *want = nn_alloc_floats(n);
    char *dir = tu_mkdtemp(), *path = tu_path(dir, "opt.nnck"), items[256];
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int k = 0; k <= 3; k += 3) {
            const char *name = cases[c][0], *args = cases[c][1], *keeps = cases[c][2];
            int stateless = keeps[0] == '\0';
            Rng r;
            rng_seed(&r, 11);
            fill(x1, n, &r);
            Optimizer *o1 = optim_create(name, args);
            if (stateless) { // lists no state, so a resume has nothing to restore
                OptimStateItem it[OPTIM_MAX_STATE];
                assert_int_equal(0, o1->state ? o1->state(o1, n, 0, it) : 0);
            }
            for (int s = 0; s < k; s++) fill(g, n, &r), o1->step(o1, x1, g, n, P.views, P.nviews, 0.01f);
            CkptWriter *w = ckpt_begin(path, "{}");
            optim_save_state(o1, w, P.views, P.nviews, n);
            ckpt_commit(w);
            Optimizer *o2 = optim_create(name, args);
            CkptReader *rd = ckpt_open(path);
            items_in(rd, items, sizeof items);
            // after steps every piece of state is saved; before the first, only counters and RNGs exist
            if (k > 0 || stateless) {
                if (strcmp(items, keeps) != 0) fail_msg("%s %s after %d steps saved \"%s\", its rule keeps \"%s\"",
                                                        name, args, k, items, keeps);
            }
            optim_load_state(o2, rd, P.views, P.nviews, n);
            ckpt_expect_all_read(rd);
            ckpt_close(rd);
            memcpy(x2, x1, n * sizeof(float));
            memcpy(before, x1, n * sizeof(float));
            for (int s = 0; s < 3; s++) {
                fill(g, n, &r);
                if (stateless) stateless_reference(name, want, x1, g, n, 0.01f);
                o1->step(o1, x1, g, n, P.views, P.nviews, 0.01f);
                o2->step(o2, x2, g, n, P.views, P.nviews, 0.01f);
                for (size_t i = 0; stateless && i < n; i++)
                    if (!(fabsf(x1[i] - want[i]) <= 1e-6f * fmaxf(1.0f, fabsf(want[i]))))
                        fail_msg("%s after %d steps: x[%zu] = %.9g, the rule gives %.9g", name, k + s + 1, i,
                                 (double)x1[i], (double)want[i]);
            }
            // identical but not moved would prove nothing
            assert_true(memcmp(x1, before, n * sizeof(float)) != 0);
            int same = memcmp(x1, x2, n * sizeof(float)) == 0;
            printf("# %s (%s) after %d steps: state [%s], %s\n", name, args[0] ? args : "defaults", k, items,
                   same ? "identical" : "DIFFERENT");
            assert_true(same);
            optim_free(o1), optim_free(o2);
        }
    tu_rmtree(dir), free(dir), free(path);
    free(x1), free(x2), free(g), free(before), free(want);
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
