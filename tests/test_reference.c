// The LSTM layer and the whole language model against fixtures computed by PyTorch (tests/ref/make_fixtures.py):
// forward outputs, carried state, loss and every parameter gradient.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fixture.h"
#include "models/lstm_lm.h"
#include "nn/blas.h"
#include "nn/check.h"
#include "nn/lstm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const float *F(const Fixture *fx, const char *name) { return fx_get(fx, name)->f; }

static void test_lstm_layer(void **state) {
    (void)state;
    Fixture fx;
    fx_load(&fx, "tests/ref/lstm.bin");
    const int *cfg = fx_get(&fx, "config")->i;
    int IN = cfg[0], H = cfg[1], T = cfg[2], N = cfg[3], G = 4 * H, rows = T * N, NH = N * H;
    float *h = nn_alloc_floats((rows + N) * H), *c = nn_alloc_floats((rows + N) * H);
    float *gates = nn_alloc_floats(rows * G), *tanhc = nn_alloc_floats(rows * H);
    memcpy(h, F(&fx, "h0"), NH * sizeof(float));
    memcpy(c, F(&fx, "c0"), NH * sizeof(float));
    const float *x = F(&fx, "x"), *wih = F(&fx, "weight_ih"), *whh = F(&fx, "weight_hh");
    lstm_forward(h, c, gates, tanhc, x, wih, whh, F(&fx, "bias_ih"), F(&fx, "bias_hh"), T, N, IN, H);
    long bad = fx_compare("lstm y", h + NH, F(&fx, "y"), rows * H, 1e-5, 1e-6);
    bad += fx_compare("lstm hT", h + rows * H, F(&fx, "hT"), NH, 1e-5, 1e-6);
    bad += fx_compare("lstm cT", c + rows * H, F(&fx, "cT"), NH, 1e-5, 1e-6);

    float *dx = nn_alloc_floats(rows * IN), *dwih = nn_alloc_floats(G * IN), *dwhh = nn_alloc_floats(G * H);
    float *dbih = nn_alloc_floats(G), *dbhh = nn_alloc_floats(G), *dg = nn_alloc_floats(rows * G);
    float *dst = nn_alloc_floats(2 * NH);
    lstm_backward(dx, dwih, dwhh, dbih, dbhh, dg, dst, F(&fx, "dy"), h, c, gates, tanhc, x, wih, whh, T, N, IN, H);
    bad += fx_compare("lstm d_x", dx, F(&fx, "d_x"), rows * IN, 1e-5, 1e-6);
    bad += fx_compare("lstm d_weight_ih", dwih, F(&fx, "d_weight_ih"), G * IN, 1e-5, 1e-6);
    bad += fx_compare("lstm d_weight_hh", dwhh, F(&fx, "d_weight_hh"), G * H, 1e-5, 1e-6);
    bad += fx_compare("lstm d_bias_ih", dbih, F(&fx, "d_bias_ih"), G, 1e-5, 1e-6);
    bad += fx_compare("lstm d_bias_hh", dbhh, F(&fx, "d_bias_hh"), G, 1e-5, 1e-6);
    assert_int_equal(0, bad);
    float *bufs[] = {h, c, gates, tanhc, dx, dwih, dwhh, dbih, dbhh, dg, dst};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) free(bufs[i]);
    fx_free(&fx);
}

// One full training step of the language model: loss, carried state and every parameter gradient, on one thread
// and on two (lm_backward then computes the decoder's gradient beside the LSTM's backward).
static void check_lm_on(const char *path, int tied, float dropout, int threads) {
    Fixture fx;
    fx_load(&fx, path);
    const int *cfg = fx_get(&fx, "config")->i;
    int V = cfg[0], E = cfg[1], H = cfg[2], L = cfg[3], T = cfg[4], N = cfg[5];
    long rows = (long)T * N, NH = (long)N * H;
    LmConfig mc = {.vocab = V, .emb = E, .hidden = H, .layers = L, .bptt = T, .batch = N, .dropout = dropout,
                   .tied = tied};
    LstmLM m;
    lm_init(&m, &mc);
    nn_set_threads(threads);
    Params *P = &m.params;
    for (int v = 0; v < P->nviews; v++) {
        const FxTensor *t = fx_get(&fx, P->views[v].name);
        assert_int_equal(t->size, (long)P->views[v].size);
        memcpy(params_ptr(P, v), t->f, P->views[v].size * sizeof(float));
    }
    memcpy(m.state_h, F(&fx, "h0"), L * NH * sizeof(float));
    memcpy(m.state_c, F(&fx, "c0"), L * NH * sizeof(float));
    if (dropout > 0) { // PyTorch's masks, so both sides drop the same units
        memcpy(m.mask_emb, F(&fx, "mask_emb"), rows * E * sizeof(float));
        memcpy(m.mask[0], F(&fx, "mask_l0"), rows * H * sizeof(float));
        memcpy(m.mask[1], F(&fx, "mask_l1"), rows * H * sizeof(float));
    }
    const int *x = fx_get(&fx, "tokens")->i, *y = fx_get(&fx, "targets")->i;
    params_zero_grad(P);
    float loss = (float)lm_forward(&m, x, y, T, N, PASS_TRAIN);
    lm_backward(&m, x, T, N);
    printf("# %s on %d thread(s): loss %.7f (PyTorch %.7f)\n", path, threads, loss, F(&fx, "loss")[0]);
    long bad = fx_compare("loss", &loss, F(&fx, "loss"), 1, 1e-6, 0);
    bad += fx_compare("hT", m.state_h, F(&fx, "hT"), L * NH, 1e-5, 1e-7);
    bad += fx_compare("cT", m.state_c, F(&fx, "cT"), L * NH, 1e-5, 1e-7);
    for (int v = 0; v < P->nviews; v++) {
        char name[80];
        snprintf(name, sizeof name, "grad.%s", P->views[v].name);
        bad += fx_compare(name, params_grad(P, v), F(&fx, name), (long)P->views[v].size, 1e-4, 1e-7);
    }
    nn_set_threads(1);
    assert_int_equal(0, bad);
    lm_free(&m);
    fx_free(&fx);
}

static void check_lm(const char *path, int tied, float dropout) {
    check_lm_on(path, tied, dropout, 1);
    check_lm_on(path, tied, dropout, 2);
}

static void test_lm_dropout(void **state) { (void)state, check_lm("tests/ref/lm.bin", 0, 0.4f); }
static void test_lm_tied(void **state) { (void)state, check_lm("tests/ref/lm_tied.bin", 1, 0.4f); }
static void test_lm_no_dropout(void **state) { (void)state, check_lm("tests/ref/lm_nodrop.bin", 0, 0.0f); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lstm_layer),
        cmocka_unit_test(test_lm_dropout),
        cmocka_unit_test(test_lm_tied),
        cmocka_unit_test(test_lm_no_dropout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
