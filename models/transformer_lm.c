#include "transformer_lm.h"
#include "nn/attention.h"
#include "nn/blas.h"
#include "nn/check.h"
#include "nn/dropout.h"
#include "nn/gelu.h"
#include "nn/layernorm.h"
#include "nn/linear.h"
#include "nn/parallel.h"
#include "nn/softmax_ce.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int declare(Params *p, int layer, const char *what, int d0, int d1) {
    char name[64];
    if (layer >= 0) snprintf(name, sizeof name, "blocks.%d.%s", layer, what);
    else snprintf(name, sizeof name, "%s", what);
    return params_add(p, name, d1 ? 2 : 1, (int[]){d0, d1});
}

// Every buffer comes from here, so tfm_memory_bytes can be checked against what was really allocated.
static float *alloc(TransformerLM *m, long n) {
    m->bytes += 4.0 * (double)n;
    return nn_alloc_floats((size_t)n);
}

static void check_config(const TfmConfig *c) {
    NN_CHECK(c->vocab > 0 && c->dim > 0 && c->ffn > 0, "model sizes must be positive (vocab %d, width %d, MLP %d)",
             c->vocab, c->dim, c->ffn);
    NN_CHECK(c->layers >= 1 && c->layers <= TFM_MAX_LAYERS, "--layers %d: accepted 1..%d", c->layers,
             TFM_MAX_LAYERS);
    NN_CHECK(c->heads >= 1 && c->dim % c->heads == 0, "--heads %d must divide the width --dim %d", c->heads,
             c->dim);
    NN_CHECK(c->context > 0 && c->batch > 0, "--context %d and --batch %d must be positive", c->context, c->batch);
    NN_CHECK(c->dropout >= 0.0f && c->dropout < 1.0f, "--dropout %g: accepted [0, 1)", c->dropout);
    NN_CHECK(c->attn_dropout >= 0.0f && c->attn_dropout < 1.0f, "--attn-dropout %g: accepted [0, 1)",
             c->attn_dropout);
}

void tfm_init(TransformerLM *m, const TfmConfig *cfg) {
    check_config(cfg);
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    int V = cfg->vocab, D = cfg->dim, F = cfg->ffn, L = cfg->layers, T = cfg->context, N = cfg->batch;
    Params *p = &m->params;
    params_init(p);
    m->v_tok = declare(p, -1, "tok_emb.weight", V, D);
    m->v_pos = declare(p, -1, "pos_emb.weight", T, D);
    for (int l = 0; l < L; l++) {
        m->v[l].ln1_w = declare(p, l, "ln1.weight", D, 0), m->v[l].ln1_b = declare(p, l, "ln1.bias", D, 0);
        m->v[l].qkv_w = declare(p, l, "attn.in_proj_weight", 3 * D, D);
        m->v[l].qkv_b = declare(p, l, "attn.in_proj_bias", 3 * D, 0);
        m->v[l].out_w = declare(p, l, "attn.out_proj.weight", D, D);
        m->v[l].out_b = declare(p, l, "attn.out_proj.bias", D, 0);
        m->v[l].ln2_w = declare(p, l, "ln2.weight", D, 0), m->v[l].ln2_b = declare(p, l, "ln2.bias", D, 0);
        m->v[l].fc1_w = declare(p, l, "mlp.fc1.weight", F, D), m->v[l].fc1_b = declare(p, l, "mlp.fc1.bias", F, 0);
        m->v[l].fc2_w = declare(p, l, "mlp.fc2.weight", D, F), m->v[l].fc2_b = declare(p, l, "mlp.fc2.bias", D, 0);
    }
    m->v_lnf_w = declare(p, -1, "ln_f.weight", D, 0);
    m->v_lnf_b = declare(p, -1, "ln_f.bias", D, 0);
    m->v_dec_b = declare(p, -1, "decoder.bias", V, 0);
    params_alloc(p);
    m->bytes = 2.0 * 4.0 * (double)p->n;

    long rows = (long)T * N, att = (long)N * cfg->heads * T * T, wide = 3 * D > F ? 3 * D : F;
    int drop = cfg->dropout > 0.0f, att_drop = cfg->attn_dropout > 0.0f;
    for (int l = 0; l <= L; l++) m->res[l] = alloc(m, rows * D);
    if (drop) m->mask_emb = alloc(m, rows * D);
    for (int l = 0; l < L; l++) {
        TfmBlock *b = &m->blk[l];
        b->ln1 = alloc(m, rows * D), b->ln1_mean = alloc(m, rows), b->ln1_rstd = alloc(m, rows);
        b->qkv = alloc(m, rows * 3 * D);
        b->probs = alloc(m, att);
        if (att_drop) b->att_mask = alloc(m, att);
        b->att = alloc(m, rows * D);
        b->mid = alloc(m, rows * D);
        b->ln2 = alloc(m, rows * D), b->ln2_mean = alloc(m, rows), b->ln2_rstd = alloc(m, rows);
        b->fc = alloc(m, rows * F), b->act = alloc(m, rows * F);
        if (drop) b->mask_att = alloc(m, rows * D), b->mask_mlp = alloc(m, rows * D);
    }
    m->lnf = alloc(m, rows * D), m->lnf_mean = alloc(m, rows), m->lnf_rstd = alloc(m, rows);
    m->logits = alloc(m, rows * V);
    m->dres = alloc(m, rows * D), m->dbranch = alloc(m, rows * D), m->dln = alloc(m, rows * D);
    m->dwide = alloc(m, rows * wide);
    m->scored_y = nn_malloc((size_t)rows * sizeof(int));
    m->bytes += 4.0 * (double)rows;
    m->att_threads = nn_get_threads();
    m->att_scratch = alloc(m, attention_scratch_floats(T, m->att_threads));
}

double tfm_memory_bytes(const TfmConfig *c) {
    double V = c->vocab, D = c->dim, F = c->ffn, L = c->layers, T = c->context, H = c->heads;
    double rows = T * c->batch, att = c->batch * H * T * T, wide = 3 * D > F ? 3 * D : F;
    double drop = c->dropout > 0, att_drop = c->attn_dropout > 0;
    double params = V * D + T * D + L * (4 * D + 3 * D * D + 3 * D + D * D + D + 2 * F * D + F + D) + 2 * D + V;
    // per block and row: res[l], LN1, QKV (3), the heads' output, mid, LN2 (8 D), two dropout masks, four row
    // statistics, the MLP before and after GELU; the probabilities and their mask
    double block = rows * (D * (8 + 2 * drop) + 4 + 2 * F) + att * (1 + att_drop);
    // res[L], the embedding's mask, LN_f and its statistics, logits, the backward's scratch, the scored targets
    double top = rows * (D * (1 + drop) + D + 2 + V + 3 * D + wide + 1);
    return 4.0 * (2 * params + L * block + top + 2.0 * T * T * nn_get_threads());
}

void tfm_free(TransformerLM *m) {
    params_free(&m->params);
    for (int l = 0; l <= m->cfg.layers; l++) free(m->res[l]);
    for (int l = 0; l < m->cfg.layers; l++) {
        TfmBlock *b = &m->blk[l];
        float *bufs[] = {b->ln1, b->ln1_mean, b->ln1_rstd, b->qkv, b->probs, b->att_mask, b->att, b->mask_att,
                         b->mid, b->ln2, b->ln2_mean, b->ln2_rstd, b->fc, b->act, b->mask_mlp};
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    }
    float *bufs[] = {m->mask_emb, m->lnf, m->lnf_mean, m->lnf_rstd, m->logits, m->dres, m->dbranch, m->dln,
                     m->dwide, m->att_scratch};
    free(m->scored_y);
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    memset(m, 0, sizeof *m);
}

static void fill_normal(float *x, size_t n, float std, Rng *rng) {
    for (size_t i = 0; i < n; i++) x[i] = std * rng_normal(rng);
}

static void fill(float *x, size_t n, float value) {
    for (size_t i = 0; i < n; i++) x[i] = value;
}

void tfm_init_normal(TransformerLM *m, float std, Rng *rng) {
    const Params *p = &m->params;
    float residual_std = std / sqrtf(2.0f * (float)m->cfg.layers);
    for (int v = 0; v < p->nviews; v++) {
        const ParamView *t = &p->views[v];
        const char *leaf = strrchr(t->name, '.') + 1;
        float *x = params_ptr(p, v);
        int projection = strstr(t->name, "out_proj.weight") || strstr(t->name, "fc2.weight");
        if (t->ndim == 2) fill_normal(x, t->size, projection ? residual_std : std, rng);
        else fill(x, t->size, strcmp(leaf, "weight") == 0 ? 1.0f : 0.0f); // LayerNorm weights; biases
    }
}

void tfm_draw_masks(TransformerLM *m, int T, int N, Rng *rng) {
    const TfmConfig *c = &m->cfg;
    long rows = (long)T * N, att = (long)N * c->heads * T * T;
    if (c->dropout > 0.0f) dropout_mask(m->mask_emb, rows * c->dim, c->dropout, rng);
    for (int l = 0; l < c->layers; l++) {
        if (c->attn_dropout > 0.0f) dropout_mask(m->blk[l].att_mask, att, c->attn_dropout, rng);
        if (c->dropout > 0.0f) {
            dropout_mask(m->blk[l].mask_att, rows * c->dim, c->dropout, rng);
            dropout_mask(m->blk[l].mask_mlp, rows * c->dim, c->dropout, rng);
        }
    }
}

static int att_threads(const TransformerLM *m) {
    int t = nn_get_threads();
    return t < m->att_threads ? t : m->att_threads;
}

// out = x + branch * mask (mask NULL: none)
static void residual(float *out, const float *x, const float *branch, const float *mask, long n) {
    if (mask)
        for (long i = 0; i < n; i++) out[i] = x[i] + branch[i] * mask[i];
    else
        for (long i = 0; i < n; i++) out[i] = x[i] + branch[i];
}

static void block_forward(TransformerLM *m, int l, int T, int N) {
    const Params *p = &m->params;
    const TfmConfig *c = &m->cfg;
    TfmBlock *b = &m->blk[l];
    int D = c->dim, F = c->ffn, rows = T * N, drop = m->dropped;
    const float *x = m->res[l];
    layernorm_forward(b->ln1, b->ln1_mean, b->ln1_rstd, x, params_ptr(p, m->v[l].ln1_w),
                      params_ptr(p, m->v[l].ln1_b), rows, D);
    linear_forward(b->qkv, b->ln1, params_ptr(p, m->v[l].qkv_w), params_ptr(p, m->v[l].qkv_b), rows, D, 3 * D);
    attention_forward(b->att, b->probs, b->qkv, drop && c->attn_dropout > 0 ? b->att_mask : NULL, N, T, D,
                      c->heads, m->att_scratch, att_threads(m));
    linear_forward(m->dbranch, b->att, params_ptr(p, m->v[l].out_w), params_ptr(p, m->v[l].out_b), rows, D, D);
    residual(b->mid, x, m->dbranch, drop && c->dropout > 0 ? b->mask_att : NULL, (long)rows * D);
    layernorm_forward(b->ln2, b->ln2_mean, b->ln2_rstd, b->mid, params_ptr(p, m->v[l].ln2_w),
                      params_ptr(p, m->v[l].ln2_b), rows, D);
    linear_forward(b->fc, b->ln2, params_ptr(p, m->v[l].fc1_w), params_ptr(p, m->v[l].fc1_b), rows, D, F);
    gelu_forward(b->act, b->fc, (long)rows * F);
    linear_forward(m->dbranch, b->act, params_ptr(p, m->v[l].fc2_w), params_ptr(p, m->v[l].fc2_b), rows, F, D);
    residual(m->res[l + 1], b->mid, m->dbranch, drop && c->dropout > 0 ? b->mask_mlp : NULL, (long)rows * D);
}

// Everything up to the final LayerNorm's output m->lnf [T*N, D].
static void forward_to_lnf(TransformerLM *m, const int *x, int T, int N, Pass pass) {
    const TfmConfig *c = &m->cfg;
    NN_CHECK(T >= 1 && T <= c->context && N >= 1 && N <= c->batch,
             "window T=%d N=%d outside the model's buffers (T<=%d, N<=%d)", T, N, c->context, c->batch);
    const Params *p = &m->params;
    int D = c->dim, rows = T * N;
    m->T = T, m->N = N;
    m->dropped = pass == PASS_TRAIN && (c->dropout > 0.0f || c->attn_dropout > 0.0f);
    const float *tok = params_ptr(p, m->v_tok), *pos = params_ptr(p, m->v_pos);
    for (int r = 0; r < rows; r++) {
        const float *e = tok + (long)x[r] * D, *q = pos + (long)(r % T) * D;
        float *out = m->res[0] + (long)r * D;
        for (int d = 0; d < D; d++) out[d] = e[d] + q[d];
    }
    if (m->dropped && c->dropout > 0.0f) dropout_forward(m->res[0], m->res[0], m->mask_emb, (long)rows * D);
    for (int l = 0; l < c->layers; l++) block_forward(m, l, T, N);
    layernorm_forward(m->lnf, m->lnf_mean, m->lnf_rstd, m->res[c->layers], params_ptr(p, m->v_lnf_w),
                      params_ptr(p, m->v_lnf_b), rows, D);
}

double tfm_forward(TransformerLM *m, const int *x, const int *y, int T, int N, Pass pass) {
    forward_to_lnf(m, x, T, N, pass);
    const Params *p = &m->params;
    int V = m->cfg.vocab, rows = T * N;
    linear_forward(m->logits, m->lnf, params_ptr(p, m->v_tok), params_ptr(p, m->v_dec_b), rows, m->cfg.dim, V);
    if (pass == PASS_EVAL) return softmax_ce_loss(m->logits, y, rows, V, nn_get_threads()) / rows;
    return softmax_ce_forward_backward(m->logits, y, rows, V, 1.0f / (float)rows, nn_get_threads()) / rows;
}

double tfm_eval_loss_sum(TransformerLM *m, const int *x, const int *y, int T, int N, int from) {
    NN_CHECK(from >= 0 && from < T, "scored positions from %d of a window of %d", from, T);
    forward_to_lnf(m, x, T, N, PASS_EVAL);
    const Params *p = &m->params;
    int D = m->cfg.dim, V = m->cfg.vocab, S = T - from, rows = S * N;
    for (int n = 0; n < N; n++) { // the scored rows side by side: one decoder product over them alone
        memcpy(m->dln + (long)n * S * D, m->lnf + ((long)n * T + from) * D, (size_t)S * D * sizeof(float));
        memcpy(m->scored_y + n * S, y + n * T + from, (size_t)S * sizeof(int));
    }
    linear_forward(m->logits, m->dln, params_ptr(p, m->v_tok), params_ptr(p, m->v_dec_b), rows, D, V);
    return softmax_ce_loss(m->logits, m->scored_y, rows, V, nn_get_threads());
}

// dx = d * mask into out (mask NULL: d itself)
static const float *through_mask(float *out, const float *d, const float *mask, long n) {
    if (!mask) return d;
    for (long i = 0; i < n; i++) out[i] = d[i] * mask[i];
    return out;
}

// The backward of a linear layer whose input gradient is needed afresh: dinp = dout w (overwritten, so the
// buffer needs no zeroing pass), dw += dout^T inp, db += the column sums of dout.
static void linear_backward_fresh(float *dinp, int vw, int vb, const float *dout, const float *inp,
                                  const Params *p, int N, int IN, int OUT) {
    nn_sgemm(0, 0, N, IN, OUT, 1.0f, dout, params_ptr(p, vw), 0.0f, dinp);
    linear_backward(NULL, params_grad(p, vw), params_grad(p, vb), dout, inp, params_ptr(p, vw), N, IN, OUT);
}

// m->dres holds dLoss/d(res[l + 1]) on entry and dLoss/d(res[l]) on return.
static void block_backward(TransformerLM *m, int l) {
    const Params *p = &m->params;
    const TfmConfig *c = &m->cfg;
    TfmBlock *b = &m->blk[l];
    int D = c->dim, F = c->ffn, T = m->T, N = m->N, rows = T * N, drop = m->dropped && c->dropout > 0.0f;
    long nD = (long)rows * D;
    // MLP branch: res[l+1] = mid + mask * (gelu(LN2(mid) W1^T + b1) W2^T + b2)
    const float *d = through_mask(m->dbranch, m->dres, drop ? b->mask_mlp : NULL, nD);
    linear_backward_fresh(m->dwide, m->v[l].fc2_w, m->v[l].fc2_b, d, b->act, p, rows, F, D);
    gelu_backward(m->dwide, m->dwide, b->fc, (long)rows * F); // in place
    linear_backward_fresh(m->dln, m->v[l].fc1_w, m->v[l].fc1_b, m->dwide, b->ln2, p, rows, D, F);
    layernorm_backward(m->dres, params_grad(p, m->v[l].ln2_w), params_grad(p, m->v[l].ln2_b), m->dln, b->mid,
                       params_ptr(p, m->v[l].ln2_w), b->ln2_mean, b->ln2_rstd, rows, D);
    // attention branch: mid = res[l] + mask * (attn(LN1(res[l]) Wqkv^T + bqkv) Wo^T + bo)
    d = through_mask(m->dbranch, m->dres, drop ? b->mask_att : NULL, nD);
    linear_backward_fresh(m->dln, m->v[l].out_w, m->v[l].out_b, d, b->att, p, rows, D, D);
    attention_backward(m->dwide, m->dln, b->qkv, b->probs,
                       m->dropped && c->attn_dropout > 0.0f ? b->att_mask : NULL, N, T, D, c->heads,
                       m->att_scratch, att_threads(m));
    linear_backward_fresh(m->dln, m->v[l].qkv_w, m->v[l].qkv_b, m->dwide, b->ln1, p, rows, D, 3 * D);
    layernorm_backward(m->dres, params_grad(p, m->v[l].ln1_w), params_grad(p, m->v[l].ln1_b), m->dln, m->res[l],
                       params_ptr(p, m->v[l].ln1_w), b->ln1_mean, b->ln1_rstd, rows, D);
}

void tfm_backward(TransformerLM *m, const int *x) {
    const Params *p = &m->params;
    const TfmConfig *c = &m->cfg;
    int V = c->vocab, D = c->dim, T = m->T, rows = T * m->N;
    long nD = (long)rows * D;
    float *dtok = params_grad(p, m->v_tok), *dpos = params_grad(p, m->v_pos);
    // the decoder (tied: its weight gradient lands in tok_emb's), then LN_f
    linear_backward_fresh(m->dln, m->v_tok, m->v_dec_b, m->logits, m->lnf, p, rows, D, V);
    memset(m->dres, 0, (size_t)nD * sizeof(float));
    layernorm_backward(m->dres, params_grad(p, m->v_lnf_w), params_grad(p, m->v_lnf_b), m->dln, m->res[c->layers],
                       params_ptr(p, m->v_lnf_w), m->lnf_mean, m->lnf_rstd, rows, D);
    for (int l = c->layers - 1; l >= 0; l--) block_backward(m, l);
    const float *d = through_mask(m->dbranch, m->dres, m->dropped && c->dropout > 0.0f ? m->mask_emb : NULL, nD);
    for (int r = 0; r < rows; r++) {
        const float *dr = d + (long)r * D;
        float *et = dtok + (long)x[r] * D, *ep = dpos + (long)(r % T) * D;
        for (int k = 0; k < D; k++) et[k] += dr[k], ep[k] += dr[k];
    }
}

long tfm_param_count(const TransformerLM *m) { return (long)m->params.n; }
