// The whole language model: central-difference check of every parameter's gradient on a tiny configuration, and
// truncated BPTT's state carry (two consecutive windows compute exactly what one long window computes).
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gradcheck.h"
#include "models/lstm_lm.h"
#include "nn/check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { V = 13, H = 6, L = 2, T = 4, N = 3 };

typedef struct { LstmLM m; int x[T * N], y[T * N]; float *h0, *c0; } LmCase;

// Mean loss of one training forward from a fixed carried state, with fixed dropout masks.
static double lm_loss(void *p) {
    LmCase *c = p;
    long n = (long)L * N * H;
    memcpy(c->m.state_h, c->h0, n * sizeof(float));
    memcpy(c->m.state_c, c->c0, n * sizeof(float));
    return lm_forward(&c->m, c->x, c->y, T, N, PASS_TRAIN);
}

static void setup(LmCase *c, float dropout, int tied) {
    LmConfig mc = {.vocab = V, .emb = H, .hidden = H, .layers = L, .bptt = T, .batch = N, .dropout = dropout,
                   .tied = tied};
    lm_init(&c->m, &mc);
    Rng rng;
    rng_seed(&rng, 42);
    lm_init_uniform(&c->m, 0.5f, &rng);
    for (int i = 0; i < T * N; i++) c->x[i] = (int)rng_below(&rng, V), c->y[i] = (int)rng_below(&rng, V);
    c->x[5] = c->x[0]; // a repeated token: its embedding row accumulates
    c->h0 = nn_alloc_floats(L * N * H), c->c0 = nn_alloc_floats(L * N * H);
    gc_fill(c->h0, L * N * H, 0.5f, 77), gc_fill(c->c0, L * N * H, 0.5f, 78);
    lm_draw_masks(&c->m, T, N, &rng);
}

static void check_all_params(float dropout, int tied) {
    LmCase c;
    setup(&c, dropout, tied);
    Params *P = &c.m.params;
    params_zero_grad(P);
    lm_loss(&c);
    lm_backward(&c.m, c.x, T, N);
    float *grad = nn_alloc_floats(P->n);
    memcpy(grad, P->grad, P->n * sizeof(float));
    double tol = 2e-3;
    for (int v = 0; v < P->nviews; v++) {
        char what[96];
        snprintf(what, sizeof what, "model%s%s %s", dropout > 0 ? " dropout" : "", tied ? " tied" : "",
                 P->views[v].name);
        const ParamView *pv = &P->views[v];
        assert_true(gradcheck(what, lm_loss, &c, P->param + pv->offset, grad + pv->offset, (long)pv->size, 3e-2f,
                              200, tol) < tol);
    }
    free(grad), free(c.h0), free(c.c0);
    lm_free(&c.m);
}

static void test_model_grad(void **state) { (void)state, check_all_params(0.0f, 0); }
static void test_model_grad_dropout_tied(void **state) { (void)state, check_all_params(0.3f, 1); }

// Forward over windows of 2 + 2 steps with the state carried must equal one window of 4 steps: the same loss (the
// mean of the two halves' means)
// and the same final state.
static void test_state_carry(void **state) {
    (void)state;
    LmCase c;
    setup(&c, 0.0f, 0);
    lm_reset_state(&c.m);
    double whole = lm_forward(&c.m, c.x, c.y, T, N, PASS_EVAL);
    float hT[L * N * H];
    memcpy(hT, c.m.state_h, sizeof hT);
    lm_reset_state(&c.m);
    double first = lm_forward(&c.m, c.x, c.y, 2, N, PASS_EVAL);
    double second = lm_forward(&c.m, c.x + 2 * N, c.y + 2 * N, 2, N, PASS_EVAL);
    printf("# one window %.9f, two carried windows %.9f + %.9f\n", whole, first, second);
    assert_true(fabs(whole - (first + second) / 2) < 1e-6);
    for (int i = 0; i < L * N * H; i++) assert_float_equal(hT[i], c.m.state_h[i], 1e-6);
    // and a reset state really differs from a carried one
    lm_reset_state(&c.m);
    double fresh = lm_forward(&c.m, c.x + 2 * N, c.y + 2 * N, 2, N, PASS_EVAL);
    assert_true(fabs(fresh - second) > 1e-6);
    free(c.h0), free(c.c0);
    lm_free(&c.m);
}

// The memory estimate the tools check before allocating equals what lm_init allocates, for several shapes.
static void test_memory_estimate(void **state) {
    (void)state;
    const LmConfig cfgs[] = {
        {.vocab = 50, .emb = 8, .hidden = 8, .layers = 2, .bptt = 5, .batch = 3},
        {.vocab = 50, .emb = 12, .hidden = 7, .layers = 3, .bptt = 4, .batch = 2, .dropout = 0.5f},
        {.vocab = 31, .emb = 5, .hidden = 9, .layers = 1, .bptt = 6, .batch = 4, .dropout = 0.1f},
        {.vocab = 40, .emb = 6, .hidden = 6, .layers = 2, .bptt = 3, .batch = 5, .tied = 1},
    };
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
        LstmLM m;
        lm_init(&m, &cfgs[i]);
        printf("# config %zu: estimate %.0f bytes, allocated %.0f\n", i, lm_memory_bytes(&cfgs[i]), m.bytes);
        assert_true(lm_memory_bytes(&cfgs[i]) == m.bytes);
        lm_free(&m);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_grad),
        cmocka_unit_test(test_model_grad_dropout_tied),
        cmocka_unit_test(test_state_carry),
        cmocka_unit_test(test_memory_estimate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
