// Central-difference gradient checks for every layer's backward pass, plus the fast exp against libm.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gradcheck.h"
#include "nn/check.h"
#include "nn/dropout.h"
#include "nn/embedding.h"
#include "nn/fastmath.h"
#include "nn/linear.h"
#include "nn/lstm.h"
#include "nn/softmax_ce.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---- linear: L = sum(out * R)
typedef struct { float *out, *inp, *w, *b, *r; int N, IN, OUT; } LinearCase;

static double linear_loss(void *p) {
    LinearCase *c = p;
    linear_forward(c->out, c->inp, c->w, c->b, c->N, c->IN, c->OUT);
    return gc_dot(c->out, c->r, (long)c->N * c->OUT);
}

static void test_linear_grad(void **state) {
    (void)state;
    LinearCase c = {.N = 3, .IN = 5, .OUT = 4};
    c.out = nn_alloc_floats(12), c.inp = nn_alloc_floats(15), c.w = nn_alloc_floats(20), c.b = nn_alloc_floats(4);
    c.r = nn_alloc_floats(12);
    float *dinp = nn_alloc_floats(15), *dw = nn_alloc_floats(20), *db = nn_alloc_floats(4);
    gc_fill(c.inp, 15, 1, 1), gc_fill(c.w, 20, 1, 2), gc_fill(c.b, 4, 1, 3), gc_fill(c.r, 12, 1, 4);
    linear_loss(&c);
    linear_backward(dinp, dw, db, c.r, c.inp, c.w, c.N, c.IN, c.OUT); // dL/dout = R
    assert_true(gradcheck("linear d_inp", linear_loss, &c, c.inp, dinp, 15, 1e-2f, 100, 1e-4) < 1e-4);
    assert_true(gradcheck("linear d_w", linear_loss, &c, c.w, dw, 20, 1e-2f, 100, 1e-4) < 1e-4);
    assert_true(gradcheck("linear d_b", linear_loss, &c, c.b, db, 4, 1e-2f, 100, 1e-4) < 1e-4);
    // backward accumulates: a second call doubles every gradient
    float db1 = db[2];
    linear_backward(dinp, dw, db, c.r, c.inp, c.w, c.N, c.IN, c.OUT);
    assert_float_equal(db[2], 2 * db1, 1e-6);
    free(c.out), free(c.inp), free(c.w), free(c.b), free(c.r), free(dinp), free(dw), free(db);
}

// ---- embedding: repeated ids must accumulate
typedef struct { float *out, *w, *r; const int *ids; int N, E; } EmbCase;

static double emb_loss(void *p) {
    EmbCase *c = p;
    embedding_forward(c->out, c->ids, c->w, c->N, c->E);
    return gc_dot(c->out, c->r, (long)c->N * c->E);
}

static void test_embedding_grad(void **state) {
    (void)state;
    static const int ids[] = {3, 0, 3, 6, 3, 1};
    EmbCase c = {.ids = ids, .N = 6, .E = 4};
    int V = 7;
    c.out = nn_alloc_floats(24), c.w = nn_alloc_floats(V * 4), c.r = nn_alloc_floats(24);
    float *dw = nn_alloc_floats(V * 4);
    gc_fill(c.w, V * 4, 1, 5), gc_fill(c.r, 24, 1, 6);
    embedding_backward(dw, c.r, ids, c.N, c.E);
    assert_true(gradcheck("embedding d_w", emb_loss, &c, c.w, dw, V * 4, 1e-2f, 100, 1e-4) < 1e-4);
    // row 3 was used three times: its gradient is the sum of three rows of R; rows 2, 4, 5 were never used
    assert_float_equal(dw[3 * 4 + 1], c.r[0 * 4 + 1] + c.r[2 * 4 + 1] + c.r[4 * 4 + 1], 1e-6);
    for (int e = 0; e < 4; e++) assert_true(dw[2 * 4 + e] == 0 && dw[4 * 4 + e] == 0 && dw[5 * 4 + e] == 0);
    free(c.out), free(c.w), free(c.r), free(dw);
}

// ---- dropout: mask statistics and gradient
static void test_dropout(void **state) {
    (void)state;
    long n = 200000;
    float *mask = nn_alloc_floats(n);
    Rng rng;
    rng_seed(&rng, 7);
    dropout_mask(mask, n, 0.3f, &rng);
    long zeros = 0;
    for (long i = 0; i < n; i++) {
        zeros += mask[i] == 0.0f;
        assert_true(mask[i] == 0.0f || mask[i] == 1.0f / 0.7f);
    }
    double frac = (double)zeros / n; // binomial: sd = sqrt(.3*.7/n) ~ 0.001
    printf("# dropout p=0.3: zero fraction %.4f over %ld\n", frac, n);
    assert_true(fabs(frac - 0.3) < 0.005);
    float in[4] = {1, 2, 3, 4}, m[4] = {0, 2, 0, 2}, out[4], dout[4] = {1, 1, 1, 1}, din[4] = {0};
    dropout_forward(out, in, m, 4);
    dropout_backward(din, dout, m, 4);
    assert_float_equal(out[1], 4, 0), assert_float_equal(out[2], 0, 0);
    assert_float_equal(din[0], 0, 0), assert_float_equal(din[3], 2, 0);
    free(mask);
}

// ---- softmax cross-entropy: value against a double-precision log-sum-exp, gradient against differences
typedef struct { float *logits, *work; const int *y; int N, V; } CeCase;

static double ce_loss(void *p) {
    CeCase *c = p;
    memcpy(c->work, c->logits, (size_t)c->N * c->V * sizeof(float));
    return softmax_ce_loss(c->work, c->y, c->N, c->V, 1) / c->N;
}

static void test_softmax_ce(void **state) {
    (void)state;
    static const int y[] = {2, 0, 8, 2};
    CeCase c = {.y = y, .N = 4, .V = 19};
    long n = (long)c.N * c.V;
    c.logits = nn_alloc_floats(n), c.work = nn_alloc_floats(n);
    float *d = nn_alloc_floats(n);
    gc_fill(c.logits, n, 3, 8);
    double ref = 0;
    for (int r = 0; r < c.N; r++) {
        double s = 0;
        for (int v = 0; v < c.V; v++) s += exp((double)c.logits[r * c.V + v]);
        ref += log(s) - c.logits[r * c.V + y[r]];
    }
    memcpy(d, c.logits, n * sizeof(float));
    double loss = softmax_ce_forward_backward(d, y, c.N, c.V, 1.0f / c.N, 1);
    printf("# softmax_ce: loss %.9f, double reference %.9f\n", loss, ref);
    assert_true(fabs(loss - ref) < 1e-5 * fabs(ref));
    assert_true(fabs(ce_loss(&c) * c.N - ref) < 1e-5 * fabs(ref));
    assert_true(gradcheck("softmax_ce d_logits", ce_loss, &c, c.logits, d, n, 1e-2f, 1000, 1e-4) < 1e-4);
    // each gradient row sums to zero (softmax sums to one, minus the one-hot)
    for (int r = 0; r < c.N; r++) {
        double s = 0;
        for (int v = 0; v < c.V; v++) s += d[r * c.V + v];
        assert_true(fabs(s) < 1e-6);
    }
    // huge logits stay finite: log-sum-exp subtracts the row max
    for (long i = 0; i < n; i++) c.work[i] = c.logits[i] * 1000.0f;
    double big = softmax_ce_forward_backward(c.work, y, c.N, c.V, 1.0f, 1);
    assert_true(isfinite(big));
    for (long i = 0; i < n; i++) assert_true(isfinite(c.work[i]));
    free(c.logits), free(c.work), free(d);
}

// Splitting the rows over threads changes nothing: loss and gradient bit for bit, for any thread count.
static void test_softmax_ce_threads(void **state) {
    (void)state;
    enum { N = 7, V = 1003 };
    static int y[N] = {0, 1002, 5, 5, 77, 500, 3};
    float *x = nn_alloc_floats(N * V), *ref = nn_alloc_floats(N * V), *got = nn_alloc_floats(N * V);
    gc_fill(x, N * V, 4, 21);
    memcpy(ref, x, sizeof(float) * N * V);
    double want = softmax_ce_forward_backward(ref, y, N, V, 1.0f / N, 1);
    for (int threads = 2; threads <= 3; threads++) {
        memcpy(got, x, sizeof(float) * N * V);
        double loss = softmax_ce_forward_backward(got, y, N, V, 1.0f / N, threads);
        assert_true(loss == want);
        assert_memory_equal(got, ref, sizeof(float) * N * V);
        memcpy(got, x, sizeof(float) * N * V);
        assert_true(softmax_ce_loss(got, y, N, V, threads) == want);
    }
    free(x), free(ref), free(got);
}

// ---- LSTM: one layer, nonzero carried state; L = sum(h_1..T * R)
typedef struct { float *h, *c, *gates, *tanhc, *x, *wih, *whh, *bih, *bhh, *r; int T, N, IN, H; } LstmCase;

static double lstm_loss(void *p) {
    LstmCase *s = p;
    lstm_forward(s->h, s->c, s->gates, s->tanhc, s->x, s->wih, s->whh, s->bih, s->bhh, s->T, s->N, s->IN, s->H);
    return gc_dot(s->h + s->N * s->H, s->r, (long)s->T * s->N * s->H);
}

static void test_lstm_grad(void **state) {
    (void)state;
    LstmCase s = {.T = 4, .N = 2, .IN = 3, .H = 5};
    int G = 4 * s.H, rows = s.T * s.N;
    s.h = nn_alloc_floats((rows + s.N) * s.H), s.c = nn_alloc_floats((rows + s.N) * s.H);
    s.gates = nn_alloc_floats(rows * G), s.tanhc = nn_alloc_floats(rows * s.H), s.x = nn_alloc_floats(rows * s.IN);
    s.wih = nn_alloc_floats(G * s.IN), s.whh = nn_alloc_floats(G * s.H), s.bih = nn_alloc_floats(G);
    s.bhh = nn_alloc_floats(G), s.r = nn_alloc_floats(rows * s.H);
    gc_fill(s.h, s.N * s.H, 1, 9), gc_fill(s.c, s.N * s.H, 1, 10); // h_0, c_0: a carried state
    gc_fill(s.x, rows * s.IN, 1, 11), gc_fill(s.wih, G * s.IN, 0.6f, 12), gc_fill(s.whh, G * s.H, 0.6f, 13);
    gc_fill(s.bih, G, 0.5f, 14), gc_fill(s.bhh, G, 0.5f, 15), gc_fill(s.r, rows * s.H, 1, 16);
    float *dx = nn_alloc_floats(rows * s.IN), *dwih = nn_alloc_floats(G * s.IN), *dwhh = nn_alloc_floats(G * s.H);
    float *dbih = nn_alloc_floats(G), *dbhh = nn_alloc_floats(G), *dg = nn_alloc_floats(rows * G);
    float *dst = nn_alloc_floats(2 * s.N * s.H);
    lstm_loss(&s);
    lstm_backward(dx, dwih, dwhh, dbih, dbhh, dg, dst, s.r, s.h, s.c, s.gates, s.tanhc, s.x, s.wih, s.whh, s.T, s.N,
                  s.IN, s.H);
    double tol = 5e-4;
    assert_true(gradcheck("lstm d_x", lstm_loss, &s, s.x, dx, rows * s.IN, 1e-2f, 1000, tol) < tol);
    assert_true(gradcheck("lstm d_weight_ih", lstm_loss, &s, s.wih, dwih, G * s.IN, 1e-2f, 1000, tol) < tol);
    assert_true(gradcheck("lstm d_weight_hh", lstm_loss, &s, s.whh, dwhh, G * s.H, 1e-2f, 1000, tol) < tol);
    assert_true(gradcheck("lstm d_bias_ih", lstm_loss, &s, s.bih, dbih, G, 1e-2f, 1000, tol) < tol);
    assert_true(gradcheck("lstm d_bias_hh", lstm_loss, &s, s.bhh, dbhh, G, 1e-2f, 1000, tol) < tol);
    float *bufs[] = {s.h,  s.c,  s.gates, s.tanhc, s.x,  s.wih, s.whh, s.bih, s.bhh,
                     s.r,  dx,   dwih,    dwhh,    dbih, dbhh,  dg,    dst};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) free(bufs[i]);
}

// ---- the vectorisable exp, sigmoid and tanh against libm in double
static void test_fastmath(void **state) {
    (void)state;
    double max_rel = 0, max_sig = 0, max_tanh = 0;
    for (double x = -87.0; x <= 88.0; x += 0.00731) {
        // the input is rounded to float first; compare against exp of exactly that float
        double rel = fabs(nn_expf((float)x) - exp((double)(float)x)) / exp((double)(float)x);
        if (rel > max_rel) max_rel = rel;
        if (fabs(x) < 30) {
            double xs = (double)(float)x;
            double sg = fabs(nn_sigmoidf((float)x) - 1.0 / (1.0 + exp(-xs)));
            double th = fabs(nn_tanhf((float)x) - tanh(xs));
            if (sg > max_sig) max_sig = sg;
            if (th > max_tanh) max_tanh = th;
        }
    }
    printf("# nn_expf max rel err %.3g, nn_sigmoidf max abs err %.3g, nn_tanhf max abs err %.3g\n", max_rel, max_sig,
           max_tanh);
    assert_true(max_rel < 4e-7);
    assert_true(max_sig < 2e-7 && max_tanh < 4e-7);
    assert_true(nn_expf(-1000.0f) < 1e-37f && nn_expf(-1000.0f) >= 0.0f);     // clamped, no NaN
    assert_true(isfinite(nn_expf(1000.0f)) && nn_sigmoidf(-1000.0f) >= 0.0f);
    assert_float_equal(nn_tanhf(50.0f), 1.0f, 0), assert_float_equal(nn_tanhf(-50.0f), -1.0f, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_grad), cmocka_unit_test(test_embedding_grad), cmocka_unit_test(test_dropout),
        cmocka_unit_test(test_softmax_ce),  cmocka_unit_test(test_lstm_grad),      cmocka_unit_test(test_fastmath),
        cmocka_unit_test(test_softmax_ce_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
