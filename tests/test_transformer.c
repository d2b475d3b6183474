// The Transformer's layers (LayerNorm, GELU, causal multi-head attention) and the whole model: central differences
// and PyTorch fixtures (tests/ref/make_transformer_fixtures.py), one training step's loss and every gradient.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fixture.h"
#include "gradcheck.h"
#include "models/transformer_lm.h"
#include "nn/attention.h"
#include "nn/check.h"
#include "nn/gelu.h"
#include "nn/layernorm.h"
#include "nn/parallel.h"
#include "optim/clip.h"
#include "optim/gradstats.h"
#include "optim/optimizer.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const float *F(const Fixture *fx, const char *name) { return fx_get(fx, name)->f; }

static float *copy_of(const float *x, long n) {
    float *c = nn_alloc_floats((size_t)n);
    memcpy(c, x, (size_t)n * sizeof(float));
    return c;
}

// ---- LayerNorm: L = sum(out * R)
typedef struct { float *out, *mean, *rstd, *x, *w, *b, *r; int N, C; } LnCase;

static double ln_loss(void *p) {
    LnCase *c = p;
    layernorm_forward(c->out, c->mean, c->rstd, c->x, c->w, c->b, c->N, c->C);
    return gc_dot(c->out, c->r, (long)c->N * c->C);
}

static void test_layernorm_grad(void **state) {
    (void)state;
    LnCase c = {.N = 4, .C = 7};
    long n = 28;
    c.out = nn_alloc_floats(n), c.x = nn_alloc_floats(n), c.r = nn_alloc_floats(n);
    c.mean = nn_alloc_floats(4), c.rstd = nn_alloc_floats(4), c.w = nn_alloc_floats(7), c.b = nn_alloc_floats(7);
    gc_fill(c.x, n, 2, 1), gc_fill(c.w, 7, 1, 2), gc_fill(c.b, 7, 1, 3), gc_fill(c.r, n, 1, 4);
    float *dx = nn_alloc_floats(n), *dw = nn_alloc_floats(7), *db = nn_alloc_floats(7);
    ln_loss(&c);
    layernorm_backward(dx, dw, db, c.r, c.x, c.w, c.mean, c.rstd, c.N, c.C);
    assert_true(gradcheck("layernorm d_x", ln_loss, &c, c.x, dx, n, 1e-2f, 100, 1e-3) < 1e-3);
    assert_true(gradcheck("layernorm d_weight", ln_loss, &c, c.w, dw, 7, 1e-2f, 100, 1e-3) < 1e-3);
    assert_true(gradcheck("layernorm d_bias", ln_loss, &c, c.b, db, 7, 1e-2f, 100, 1e-3) < 1e-3);
    float *bufs[] = {c.out, c.x, c.r, c.mean, c.rstd, c.w, c.b, dx, dw, db};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) free(bufs[i]);
}

static void test_layernorm_torch(void **state) {
    (void)state;
    Fixture fx;
    fx_load(&fx, "tests/ref/transformer.bin");
    const FxTensor *x = fx_get(&fx, "ln.x");
    int N = x->shape[0], C = x->shape[1];
    float *y = nn_alloc_floats(x->size), *mean = nn_alloc_floats(N), *rstd = nn_alloc_floats(N);
    float *dx = nn_alloc_floats(x->size), *dw = nn_alloc_floats(C), *db = nn_alloc_floats(C);
    layernorm_forward(y, mean, rstd, x->f, F(&fx, "ln.weight"), F(&fx, "ln.bias"), N, C);
    layernorm_backward(dx, dw, db, F(&fx, "ln.dy"), x->f, F(&fx, "ln.weight"), mean, rstd, N, C);
    // the inputs have mean 30 and spread 2: a one-pass variance in float would miss by far more than this
    long bad = fx_compare("layernorm y", y, F(&fx, "ln.y"), x->size, 1e-5, 1e-6);
    bad += fx_compare("layernorm d_x", dx, F(&fx, "ln.d_x"), x->size, 1e-4, 1e-5);
    bad += fx_compare("layernorm d_weight", dw, F(&fx, "ln.d_weight"), C, 1e-5, 1e-6);
    bad += fx_compare("layernorm d_bias", db, F(&fx, "ln.d_bias"), C, 1e-5, 1e-6);
    assert_int_equal(0, bad);
    free(y), free(mean), free(rstd), free(dx), free(dw), free(db);
    fx_free(&fx);
}

// ---- GELU (tanh form): against PyTorch, and its derivative against central differences of the forward
static void test_gelu(void **state) {
    (void)state;
    Fixture fx;
    fx_load(&fx, "tests/ref/transformer.bin");
    const FxTensor *x = fx_get(&fx, "gelu.x");
    float *y = nn_alloc_floats(x->size), *dx = nn_alloc_floats(x->size);
    gelu_forward(y, x->f, x->size);
    gelu_backward(dx, F(&fx, "gelu.dy"), x->f, x->size);
    long bad = fx_compare("gelu y", y, F(&fx, "gelu.y"), x->size, 1e-5, 1e-6);
    bad += fx_compare("gelu d_x", dx, F(&fx, "gelu.d_x"), x->size, 1e-5, 1e-6);
    double max_err = 0; // in double around each point: d/dx of the float forward, the slope of what runs
    for (long i = 0; i < x->size; i++) {
        float h = 1e-2f, up = x->f[i] + h, down = x->f[i] - h, yu, yd, one = 1.0f, g;
        gelu_forward(&yu, &up, 1), gelu_forward(&yd, &down, 1), gelu_backward(&g, &one, &x->f[i], 1);
        double num = ((double)yu - yd) / (2.0 * h), err = fabs(num - g);
        max_err = err > max_err ? err : max_err;
    }
    printf("# gelu' against central differences: max abs err %.3g\n", max_err);
    assert_true(max_err < 1e-3);
    gelu_backward(y, y, x->f, x->size); // in place: the same values as from separate buffers
    for (long i = 0; i < x->size; i++) {
        float one = 1.0f, g, yi;
        gelu_forward(&yi, &x->f[i], 1), gelu_backward(&g, &one, &x->f[i], 1);
        assert_float_equal(y[i], yi * g, 0);
    }
    assert_int_equal(0, bad);
    free(y), free(dx);
    fx_free(&fx);
}

// ---- attention: L = sum(out * R), by central differences through qkv, with and without a dropout mask
typedef struct { float *out, *probs, *qkv, *mask, *r, *scratch; int N, T, D, H, threads; } AttCase;

static double att_loss(void *p) {
    AttCase *c = p;
    attention_forward(c->out, c->probs, c->qkv, c->mask, c->N, c->T, c->D, c->H, c->scratch, c->threads);
    return gc_dot(c->out, c->r, (long)c->N * c->T * c->D);
}

static void check_attention_grad(int with_mask) {
    AttCase c = {.N = 2, .T = 5, .D = 12, .H = 3, .threads = 2};
    long rows = c.N * c.T, att = (long)c.N * c.H * c.T * c.T;
    c.out = nn_alloc_floats(rows * c.D), c.probs = nn_alloc_floats(att), c.qkv = nn_alloc_floats(rows * 3 * c.D);
    c.r = nn_alloc_floats(rows * c.D), c.scratch = nn_alloc_floats(attention_scratch_floats(c.T, c.threads));
    gc_fill(c.qkv, rows * 3 * c.D, 1.5f, 11), gc_fill(c.r, rows * c.D, 1, 12);
    if (with_mask) {
        c.mask = nn_alloc_floats(att);
        for (long i = 0; i < att; i++) c.mask[i] = i % 3 == 1 ? 0.0f : 1.5f;
    }
    float *dqkv = nn_alloc_floats(rows * 3 * c.D);
    att_loss(&c);
    attention_backward(dqkv, c.r, c.qkv, c.probs, c.mask, c.N, c.T, c.D, c.H, c.scratch, c.threads);
    assert_true(gradcheck(with_mask ? "attention d_qkv (dropout mask)" : "attention d_qkv", att_loss, &c, c.qkv,
                          dqkv, rows * 3 * c.D, 1e-2f, 400, 2e-3) < 2e-3);
    // causal: changing position t's keys and values leaves every earlier position's output alone
    float *before = copy_of(c.out, rows * c.D);
    for (int k = 0; k < 2 * c.D; k++) c.qkv[3 * 3 * c.D + c.D + k] += 1.0f; // sequence 0, t = 3: K and V
    att_loss(&c);
    for (long i = 0; i < 3 * c.D; i++) assert_float_equal(c.out[i], before[i], 0);
    assert_true(fabsf(c.out[3 * c.D] - before[3 * c.D]) > 0 || fabsf(c.out[3 * c.D + 1] - before[3 * c.D + 1]) > 0);
    float *bufs[] = {c.out, c.probs, c.qkv, c.r, c.scratch, c.mask, dqkv, before};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) free(bufs[i]);
}

static void test_attention_grad(void **state) {
    (void)state;
    check_attention_grad(0);
    check_attention_grad(1);
}

// Against softmax(q k^T / sqrt(hd) + causal mask) v written out in PyTorch, on 1, 2 and 3 threads: the
// (sequence, head) pairs split differently, the results must not move by a bit.
static void test_attention_torch(void **state) {
    (void)state;
    Fixture fx;
    fx_load(&fx, "tests/ref/transformer.bin");
    const int *cfg = fx_get(&fx, "attn.config")->i;
    int N = cfg[0], T = cfg[1], D = cfg[2], H = cfg[3];
    long rows = (long)N * T, att = (long)N * H * T * T;
    float *ref_out = NULL, *ref_dqkv = NULL;
    for (int threads = 1; threads <= 3; threads++) {
        float *out = nn_alloc_floats(rows * D), *probs = nn_alloc_floats(att), *dqkv = nn_alloc_floats(rows * 3 * D);
        float *scratch = nn_alloc_floats(attention_scratch_floats(T, threads));
        attention_forward(out, probs, F(&fx, "attn.qkv"), F(&fx, "attn.mask"), N, T, D, H, scratch, threads);
        attention_backward(dqkv, F(&fx, "attn.dy"), F(&fx, "attn.qkv"), probs, F(&fx, "attn.mask"), N, T, D, H,
                           scratch, threads);
        long bad = fx_compare("attention out", out, F(&fx, "attn.out"), rows * D, 1e-5, 1e-6);
        bad += fx_compare("attention probs", probs, F(&fx, "attn.probs"), att, 1e-5, 1e-7);
        bad += fx_compare("attention d_qkv", dqkv, F(&fx, "attn.d_qkv"), rows * 3 * D, 1e-4, 1e-6);
        assert_int_equal(0, bad);
        if (!ref_out) {
            ref_out = out, ref_dqkv = dqkv;
        } else {
            assert_memory_equal(out, ref_out, rows * D * sizeof(float));
            assert_memory_equal(dqkv, ref_dqkv, rows * 3 * D * sizeof(float));
            free(out), free(dqkv);
        }
        free(probs), free(scratch);
    }
    free(ref_out), free(ref_dqkv);
    fx_free(&fx);
}

// ---- the whole model: one training step against PyTorch (loss and every gradient), with PyTorch's masks
static void load_model(TransformerLM *m, const Fixture *fx, const char *prefix, float dropout, float attn_dropout) {
    char name[96];
    snprintf(name, sizeof name, "%s.config", prefix);
    const int *cfg = fx_get(fx, name)->i;
    TfmConfig mc = {.vocab = cfg[0], .dim = cfg[1], .heads = cfg[2], .layers = cfg[3], .ffn = cfg[4],
                    .context = cfg[5], .batch = cfg[6], .dropout = dropout, .attn_dropout = attn_dropout};
    tfm_init(m, &mc);
    Params *P = &m->params;
    for (int v = 0; v < P->nviews; v++) {
        snprintf(name, sizeof name, "%s.%s", prefix, P->views[v].name);
        const FxTensor *t = fx_get(fx, name);
        assert_int_equal(t->size, (long)P->views[v].size);
        memcpy(params_ptr(P, v), t->f, P->views[v].size * sizeof(float));
    }
}

static void copy_mask(float *dst, const Fixture *fx, const char *prefix, const char *what, int l) {
    char name[96];
    if (l >= 0) snprintf(name, sizeof name, "%s.%s_l%d", prefix, what, l);
    else snprintf(name, sizeof name, "%s.%s", prefix, what);
    const FxTensor *t = fx_get(fx, name);
    memcpy(dst, t->f, (size_t)t->size * sizeof(float));
}

static void check_model(const char *prefix, int dropout, int threads) {
    Fixture fx;
    fx_load(&fx, "tests/ref/transformer.bin");
    nn_set_threads(threads);
    TransformerLM m;
    load_model(&m, &fx, prefix, dropout ? 0.3f : 0.0f, dropout ? 0.2f : 0.0f);
    if (dropout) {
        copy_mask(m.mask_emb, &fx, prefix, "mask_emb", -1);
        for (int l = 0; l < m.cfg.layers; l++) {
            copy_mask(m.blk[l].att_mask, &fx, prefix, "att_mask", l);
            copy_mask(m.blk[l].mask_att, &fx, prefix, "mask_att", l);
            copy_mask(m.blk[l].mask_mlp, &fx, prefix, "mask_mlp", l);
        }
    }
    char name[96];
    snprintf(name, sizeof name, "%s.tokens", prefix);
    const int *x = fx_get(&fx, name)->i;
    snprintf(name, sizeof name, "%s.targets", prefix);
    const int *y = fx_get(&fx, name)->i;
    Params *P = &m.params;
    params_zero_grad(P);
    float loss = (float)tfm_forward(&m, x, y, m.cfg.context, m.cfg.batch, PASS_TRAIN);
    tfm_backward(&m, x);
    snprintf(name, sizeof name, "%s.loss", prefix);
    printf("# %s on %d thread(s): loss %.7f (PyTorch %.7f)\n", prefix, threads, loss, F(&fx, name)[0]);
    long bad = fx_compare("loss", &loss, F(&fx, name), 1, 1e-6, 0);
    for (int v = 0; v < P->nviews; v++) {
        snprintf(name, sizeof name, "%s.grad.%s", prefix, P->views[v].name);
        bad += fx_compare(name, params_grad(P, v), F(&fx, name), (long)P->views[v].size, 1e-4, 1e-6);
    }
    // evaluation is the same function of the parameters as a training pass without dropout
    float eval = (float)tfm_forward(&m, x, y, m.cfg.context, m.cfg.batch, PASS_EVAL);
    if (!dropout) assert_float_equal(eval, loss, 0);
    nn_set_threads(1);
    assert_int_equal(0, bad);
    tfm_free(&m);
    fx_free(&fx);
}

static void test_model_torch(void **state) {
    (void)state;
    for (int threads = 1; threads <= 2; threads++) check_model("model", 1, threads), check_model("nodrop", 0, threads);
}

// ---- the whole model by central differences (no dropout; PASS_STATS), a sample of every parameter
typedef struct { TransformerLM *m; const int *x, *y; int T, N; } ModelCase;

static double model_loss(void *p) {
    ModelCase *c = p;
    return tfm_forward(c->m, c->x, c->y, c->T, c->N, PASS_EVAL);
}

static void test_model_grad(void **state) {
    (void)state;
    TfmConfig mc = {.vocab = 11, .dim = 8, .heads = 2, .layers = 2, .ffn = 16, .context = 7, .batch = 3};
    TransformerLM m;
    tfm_init(&m, &mc);
    Rng rng;
    rng_seed(&rng, 5);
    tfm_init_normal(&m, 0.4f, &rng);
    // a shorter window than the model holds: positions 0..4 of 7, 2 sequences of 3
    int T = 5, N = 2, x[10], y[10];
    for (int i = 0; i < T * N; i++) x[i] = (int)rng_below(&rng, 11), y[i] = (int)rng_below(&rng, 11);
    Params *P = &m.params;
    params_zero_grad(P);
    tfm_forward(&m, x, y, T, N, PASS_STATS);
    tfm_backward(&m, x);
    float *grad = copy_of(P->grad, (long)P->n);
    ModelCase c = {&m, x, y, T, N};
    double worst = 0;
    for (int v = 0; v < P->nviews; v++) {
        double e = gradcheck(P->views[v].name, model_loss, &c, params_ptr(P, v), grad + P->views[v].offset,
                             (long)P->views[v].size, 1e-2f, 24, 5e-3);
        worst = e > worst ? e : worst;
    }
    // the positions beyond T were never used: their gradient is exactly zero
    const float *dpos = params_grad(P, params_find(P, "pos_emb.weight"));
    for (int i = T * mc.dim; i < mc.context * mc.dim; i++) assert_float_equal(dpos[i], 0.0f, 0);
    assert_true(worst < 5e-3);
    free(grad);
    tfm_free(&m);
}

// ---- sliding-window evaluation: scoring positions k..T-1 of a window, plus a window of the first k tokens alone,
// is scoring the whole window (causality: position t depends on tokens 0..t only); k = 0 is tfm_forward's sum
static void test_eval_scored(void **state) {
    (void)state;
    TfmConfig mc = {.vocab = 13, .dim = 8, .heads = 2, .layers = 2, .ffn = 16, .context = 9, .batch = 3};
    TransformerLM m;
    tfm_init(&m, &mc);
    Rng rng;
    rng_seed(&rng, 9);
    tfm_init_normal(&m, 0.5f, &rng);
    int T = 9, N = 3, k = 4, x[27], y[27], xk[12], yk[12];
    for (int i = 0; i < T * N; i++) x[i] = (int)rng_below(&rng, 13), y[i] = (int)rng_below(&rng, 13);
    for (int n = 0; n < N; n++)
        for (int t = 0; t < k; t++) xk[n * k + t] = x[n * T + t], yk[n * k + t] = y[n * T + t];
    double whole = tfm_forward(&m, x, y, T, N, PASS_EVAL) * T * N;
    double all = tfm_eval_loss_sum(&m, x, y, T, N, 0);
    double tail = tfm_eval_loss_sum(&m, x, y, T, N, k), head = tfm_eval_loss_sum(&m, xk, yk, k, N, 0);
    printf("# whole %.9g, from 0 %.9g, positions %d.. %.9g + a window of the first %d %.9g\n", whole, all, k, tail,
           k, head);
    assert_true(fabs(whole - all) < 1e-12 * whole); // the same sum, up to the division by T*N and back
    assert_true(fabs(tail + head - whole) < 1e-5 * whole);
    assert_true(tail > 0 && head > 0);
    tfm_free(&m);
}

// ---- no allocation in a training step. The Makefile links this program with -Wl,--wrap for the allocators, so
// every call from nnopt's code (the library is linked in statically) comes through these counters first.
void *__real_malloc(size_t n);
void *__real_calloc(size_t count, size_t size);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);
static long allocations;
void *__wrap_malloc(size_t n) { return allocations++, __real_malloc(n); }
void *__wrap_calloc(size_t count, size_t size) { return allocations++, __real_calloc(count, size); }
void *__wrap_realloc(void *p, size_t n) { return allocations++, __real_realloc(p, n); }
void *__wrap_aligned_alloc(size_t align, size_t n) { return allocations++, __real_aligned_alloc(align, n); }

// A step as the trainer takes it: zero, forward and backward with dropout, the online cosines, clipping, AdamW.
static void train_step(TransformerLM *m, Optimizer *o, GradStats *gs, const int *x, const int *y, Rng *rng) {
    Params *P = &m->params;
    params_zero_grad(P);
    tfm_draw_masks(m, m->cfg.context, m->cfg.batch, rng);
    tfm_forward(m, x, y, m->cfg.context, m->cfg.batch, PASS_TRAIN);
    tfm_backward(m, x);
    gradstats_before_step(gs, P->grad, P->param);
    double norm;
    optim_clip_global_norm(P->grad, P->n, 1.0f, &norm);
    o->step(o, P->param, P->grad, P->n, P->views, P->nviews, 1e-3f);
    gradstats_after_step(gs, P->grad, P->param);
}

static void test_no_step_allocation(void **state) {
    (void)state;
    // more than NN_FLAT_BLOCK parameters, so the flat passes split into blocks; two threads
    TfmConfig mc = {.vocab = 2100, .dim = 32, .heads = 4, .layers = 2, .ffn = 64, .context = 12, .batch = 4,
                    .dropout = 0.1f, .attn_dropout = 0.1f};
    nn_set_threads(2);
    TransformerLM m;
    tfm_init(&m, &mc);
    Rng rng;
    rng_seed(&rng, 3);
    tfm_init_normal(&m, 0.02f, &rng);
    int x[48], y[48];
    for (int i = 0; i < 48; i++) x[i] = (int)rng_below(&rng, 2100), y[i] = (int)rng_below(&rng, 2100);
    Optimizer *o = optim_create("adamw", "");
    GradStats gs;
    gradstats_init(&gs, m.params.n, mc.batch);
    train_step(&m, o, &gs, x, y, &rng); // the optimizer allocates its moments at its first step, as torch.optim
    tfm_eval_loss_sum(&m, x, y, mc.context, mc.batch, 6);
    long before = allocations;
    for (int s = 0; s < 3; s++) train_step(&m, o, &gs, x, y, &rng);
    tfm_eval_loss_sum(&m, x, y, mc.context, mc.batch, 6);
    tfm_forward(&m, x, y, mc.context, mc.batch, PASS_EVAL);
    printf("# %zu parameters: %ld allocations before the first step, %ld in three steps and two evaluations\n",
           m.params.n, before, allocations - before);
    assert_true(before > 0); // the counters see the allocations (the link flags are in place)
    assert_int_equal(allocations - before, 0);
    nn_set_threads(1);
    gradstats_free(&gs);
    optim_free(o);
    tfm_free(&m);
}

// ---- configuration errors come at configuration, with what is accepted
static void init_with(void *arg) {
    TransformerLM m;
    tfm_init(&m, arg);
}

static void test_bad_config(void **state) {
    (void)state;
    TfmConfig ok = {.vocab = 11, .dim = 12, .heads = 4, .layers = 2, .ffn = 48, .context = 8, .batch = 2};
    TfmConfig c = ok;
    c.heads = 5;
    expect_fatal(init_with, &c, "--heads 5 must divide the width --dim 12", NULL);
    c = ok, c.layers = 0;
    expect_fatal(init_with, &c, "--layers 0: accepted 1..", NULL);
    c = ok, c.attn_dropout = 1.0f;
    expect_fatal(init_with, &c, "--attn-dropout 1: accepted [0, 1)", NULL);
    c = ok, c.context = 0;
    expect_fatal(init_with, &c, "--context 0", NULL);
}

static void forward_too_long(void *arg) {
    TransformerLM m;
    tfm_init(&m, arg);
    int x[9] = {0}, y[9] = {0};
    tfm_forward(&m, x, y, 9, 1, PASS_EVAL);
}

static void test_window_too_long(void **state) {
    (void)state;
    TfmConfig c = {.vocab = 11, .dim = 12, .heads = 4, .layers = 1, .ffn = 48, .context = 8, .batch = 2};
    expect_fatal(forward_too_long, &c, "window T=9 N=1 outside the model's buffers (T<=8", NULL);
}

// tfm_memory_bytes is the sum of what tfm_init allocated (so the workload's memory check means what it says)
static void test_memory(void **state) {
    (void)state;
    TfmConfig cs[] = {{.vocab = 50, .dim = 16, .heads = 4, .layers = 3, .ffn = 64, .context = 9, .batch = 4},
                      {.vocab = 50, .dim = 16, .heads = 2, .layers = 1, .ffn = 24, .context = 5, .batch = 3,
                       .dropout = 0.1f},
                      {.vocab = 7, .dim = 8, .heads = 1, .layers = 2, .ffn = 8, .context = 4, .batch = 1,
                       .dropout = 0.1f, .attn_dropout = 0.1f}};
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        TransformerLM m;
        tfm_init(&m, &cs[i]);
        printf("# config %zu: allocated %.0f bytes, estimate %.0f\n", i, m.bytes, tfm_memory_bytes(&cs[i]));
        assert_true(m.bytes == tfm_memory_bytes(&cs[i]));
        tfm_free(&m);
    }
}

// ---- the workload's bad input: refused at configuration, before any data is read or file written
static void test_workload_bad_flags(void **state) {
    (void)state;
    tu_expect_failure("train --preset tfm-tiny --dim 18 --heads 4 --out /nonexistent/x",
                      "--heads 4 must divide --dim 18");
    tu_expect_failure("train --preset tfm-tiny --context 1 --out /nonexistent/x", "--context");
    tu_expect_failure("train --preset tfm-tiny --attn-dropout 1 --out /nonexistent/x", "--attn-dropout");
    tu_expect_failure("train --preset tfm-tiny --eval-stride 11 --out /nonexistent/x",
                      "--eval-stride 11: accepted 0..--context (10)");
    tu_expect_failure("train --workload ptb-transformer --hidden 20 --out /nonexistent/x", "--hidden");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layernorm_grad), cmocka_unit_test(test_layernorm_torch),
        cmocka_unit_test(test_gelu),           cmocka_unit_test(test_attention_grad),
        cmocka_unit_test(test_attention_torch), cmocka_unit_test(test_model_torch),
        cmocka_unit_test(test_model_grad),     cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_window_too_long), cmocka_unit_test(test_memory),
        cmocka_unit_test(test_workload_bad_flags), cmocka_unit_test(test_eval_scored),
        cmocka_unit_test(test_no_step_allocation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
