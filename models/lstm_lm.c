#include "lstm_lm.h"
#include "nn/blas.h"
#include "nn/check.h"
#include "nn/dropout.h"
#include "nn/embedding.h"
#include "nn/linear.h"
#include "nn/lstm.h"
#include "nn/parallel.h"
#include "nn/softmax_ce.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int declare(Params *p, const char *base, int layer, int ndim, int d0, int d1) {
    char name[64];
    if (layer >= 0) snprintf(name, sizeof name, "%s%d", base, layer);
    else snprintf(name, sizeof name, "%s", base);
    return params_add(p, name, ndim, (int[]){d0, d1});
}

// Every activation buffer comes from here, so lm_memory_bytes can be checked against what was really allocated.
static float *alloc(LstmLM *m, long n) {
    m->bytes += 4.0 * (double)n;
    return nn_alloc_floats((size_t)n);
}

void lm_init(LstmLM *m, const LmConfig *cfg) {
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    int V = cfg->vocab, E = cfg->emb, H = cfg->hidden, L = cfg->layers;
    NN_CHECK(V > 0 && E > 0 && H > 0, "model sizes must be positive (vocab %d, emb %d, hidden %d)", V, E, H);
    NN_CHECK(L >= 1 && L <= LM_MAX_LAYERS, "--layers %d: accepted 1..%d", L, LM_MAX_LAYERS);
    NN_CHECK(cfg->bptt > 0 && cfg->batch > 0, "--bptt %d and --batch %d must be positive", cfg->bptt, cfg->batch);
    NN_CHECK(cfg->dropout >= 0.0f && cfg->dropout < 1.0f, "--dropout %g: accepted [0, 1)", cfg->dropout);
    NN_CHECK(!cfg->tied || E == H, "tied embeddings need embedding size (%d) == hidden size (%d)", E, H);

    Params *p = &m->params;
    params_init(p);
    m->v_enc = declare(p, "encoder.weight", -1, 2, V, E);
    for (int l = 0; l < L; l++) {
        m->v_wih[l] = declare(p, "rnn.weight_ih_l", l, 2, 4 * H, l == 0 ? E : H);
        m->v_whh[l] = declare(p, "rnn.weight_hh_l", l, 2, 4 * H, H);
        m->v_bih[l] = declare(p, "rnn.bias_ih_l", l, 1, 4 * H, 0);
        m->v_bhh[l] = declare(p, "rnn.bias_hh_l", l, 1, 4 * H, 0);
    }
    m->v_dec_w = cfg->tied ? m->v_enc : declare(p, "decoder.weight", -1, 2, V, H);
    m->v_dec_b = declare(p, "decoder.bias", -1, 1, V, 0);
    params_alloc(p);
    m->bytes = 2.0 * 4.0 * (double)p->n;

    long rows = (long)cfg->bptt * cfg->batch, NH = (long)cfg->batch * H, wide = E > H ? E : H;
    int drop = cfg->dropout > 0.0f;
    m->emb = alloc(m, rows * E);
    if (drop) m->mask_emb = alloc(m, rows * E);
    for (int l = 0; l < L; l++) {
        m->h[l] = alloc(m, rows * H + NH);
        m->c[l] = alloc(m, rows * H + NH);
        m->gates[l] = alloc(m, rows * 4 * H);
        m->tanhc[l] = alloc(m, rows * H);
        if (drop) m->mask[l] = alloc(m, rows * H), m->drop[l] = alloc(m, rows * H);
    }
    m->logits = alloc(m, rows * V);
    m->dact[0] = alloc(m, rows * wide);
    m->dact[1] = alloc(m, rows * wide);
    m->dmasked = alloc(m, rows * wide);
    m->dgates = alloc(m, rows * 4 * H);
    m->dstate = alloc(m, 2 * NH);
    m->state_h = alloc(m, L * NH);
    m->state_c = alloc(m, L * NH);
}

double lm_memory_bytes(const LmConfig *c) {
    double V = c->vocab, E = c->emb, H = c->hidden, L = c->layers, rows = (double)c->bptt * c->batch;
    double params = V * E + 4 * H * E + (L - 1) * 4 * H * H + L * (4 * H * H + 8 * H) + (c->tied ? 0 : V * H) + V;
    double wide = E > H ? E : H, drop = c->dropout > 0;
    double per_row = E * (1 + drop) + L * (H * 2 + 4 * H + H + drop * 2 * H) + V + 3 * wide + 4 * H;
    return 4.0 * (2 * params + rows * per_row + (2 + 2 * L + 2 * L) * c->batch * H);
}

void lm_free(LstmLM *m) {
    params_free(&m->params);
    float *bufs[] = {m->emb, m->mask_emb, m->logits, m->dact[0], m->dact[1], m->dmasked, m->dgates, m->dstate,
                     m->state_h, m->state_c};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    for (int l = 0; l < m->cfg.layers; l++) {
        free(m->h[l]), free(m->c[l]), free(m->gates[l]), free(m->tanhc[l]), free(m->mask[l]), free(m->drop[l]);
    }
    memset(m, 0, sizeof *m);
}

void lm_init_uniform(LstmLM *m, float range, Rng *rng) {
    for (size_t i = 0; i < m->params.n; i++) m->params.param[i] = rng_uniform_range(rng, -range, range);
}

void lm_reset_state(LstmLM *m) {
    size_t n = (size_t)m->cfg.layers * m->cfg.batch * m->cfg.hidden;
    memset(m->state_h, 0, n * sizeof(float));
    memset(m->state_c, 0, n * sizeof(float));
}

void lm_draw_masks(LstmLM *m, int T, int N, Rng *rng) {
    if (m->cfg.dropout <= 0.0f) return;
    long rows = (long)T * N;
    dropout_mask(m->mask_emb, rows * m->cfg.emb, m->cfg.dropout, rng);
    for (int l = 0; l < m->cfg.layers; l++) dropout_mask(m->mask[l], rows * m->cfg.hidden, m->cfg.dropout, rng);
}

static void check_window(const LstmLM *m, int T, int N) {
    NN_CHECK(T >= 1 && T <= m->cfg.bptt && N >= 1 && N <= m->cfg.batch,
             "window T=%d N=%d outside the model's buffers (T<=%d, N<=%d)", T, N, m->cfg.bptt, m->cfg.batch);
}

double lm_forward(LstmLM *m, const int *x, const int *y, int T, int N, Pass pass) {
    check_window(m, T, N);
    const Params *p = &m->params;
    int V = m->cfg.vocab, E = m->cfg.emb, H = m->cfg.hidden, L = m->cfg.layers;
    long rows = (long)T * N, NH = (long)N * H;
    int drop = m->dropped = pass == PASS_TRAIN && m->cfg.dropout > 0.0f;

    embedding_forward(m->emb, x, params_ptr(p, m->v_enc), (int)rows, E);
    if (drop) dropout_forward(m->emb, m->emb, m->mask_emb, rows * E);
    const float *in = m->emb;
    for (int l = 0; l < L; l++) {
        float *sh = m->state_h + l * NH, *sc = m->state_c + l * NH;
        memcpy(m->h[l], sh, NH * sizeof(float));
        memcpy(m->c[l], sc, NH * sizeof(float));
        lstm_forward(m->h[l], m->c[l], m->gates[l], m->tanhc[l], in, params_ptr(p, m->v_wih[l]),
                     params_ptr(p, m->v_whh[l]), params_ptr(p, m->v_bih[l]), params_ptr(p, m->v_bhh[l]), T, N,
                     l == 0 ? E : H, H);
        memcpy(sh, m->h[l] + rows * H, NH * sizeof(float)); // h_T, c_T carry on, detached
        memcpy(sc, m->c[l] + rows * H, NH * sizeof(float));
        in = m->h[l] + NH;
        if (drop) {
            dropout_forward(m->drop[l], in, m->mask[l], rows * H);
            in = m->drop[l];
        }
    }
    m->top = in;
    linear_forward(m->logits, in, params_ptr(p, m->v_dec_w), params_ptr(p, m->v_dec_b), (int)rows, H, V);
    if (pass == PASS_EVAL) return softmax_ce_loss(m->logits, y, (int)rows, V, nn_get_threads()) / (double)rows;
    return softmax_ce_forward_backward(m->logits, y, (int)rows, V, 1.0f / (float)rows, nn_get_threads()) /
           (double)rows;
}

// The backward below the decoder: the LSTM layers from the top down (dropout masks between them), then the
// embedding. d = dLoss/d(decoder input) on entry. Returns dLoss/d(embedding output), for embedding_backward.
static const float *backward_below_decoder(LstmLM *m, int T, int N, float *d) {
    const Params *p = &m->params;
    int E = m->cfg.emb, H = m->cfg.hidden, L = m->cfg.layers;
    long rows = (long)T * N, NH = (long)N * H;
    int drop = m->dropped;
    // d holds dLoss/d(input of the layer above), i.e. of the (dropped-out) output of the layer below.
    for (int l = L - 1; l >= 0; l--) {
        const float *dh = d;
        if (drop) {
            memset(m->dmasked, 0, rows * H * sizeof(float));
            dropout_backward(m->dmasked, d, m->mask[l], rows * H);
            dh = m->dmasked;
        }
        int IN = l == 0 ? E : H;
        float *dx = m->dact[(L - l) & 1];
        memset(dx, 0, rows * IN * sizeof(float));
        const float *x_in = l == 0 ? m->emb : (drop ? m->drop[l - 1] : m->h[l - 1] + NH);
        lstm_backward(dx, params_grad(p, m->v_wih[l]), params_grad(p, m->v_whh[l]), params_grad(p, m->v_bih[l]),
                      params_grad(p, m->v_bhh[l]), m->dgates, m->dstate, dh, m->h[l], m->c[l], m->gates[l],
                      m->tanhc[l], x_in, params_ptr(p, m->v_wih[l]), params_ptr(p, m->v_whh[l]), T, N, IN, H);
        d = dx;
    }
    if (drop) {
        memset(m->dmasked, 0, rows * E * sizeof(float));
        dropout_backward(m->dmasked, d, m->mask_emb, rows * E);
        d = m->dmasked;
    }
    return d;
}

// The decoder's weight and bias gradients come in blocks of vocabulary rows, claimed by whichever thread is free.
#define DECODER_BLOCKS 16

typedef struct {
    LstmLM *m;
    const int *x;
    int T, N;
    atomic_int next;     // the next decoder block to claim
    const float *demb;   // dLoss/d(embedding output), when thread 0 left the embedding's backward for later
} BackwardJob;

// dW[lo:hi] += dlogits[:, lo:hi]^T top and db[lo:hi] += the column sums of dlogits[:, lo:hi]: one block.
static void decoder_grad_block(LstmLM *m, int rows, int k) {
    const Params *p = &m->params;
    int V = m->cfg.vocab, H = m->cfg.hidden;
    int lo = (int)((long)V * k / DECODER_BLOCKS), hi = (int)((long)V * (k + 1) / DECODER_BLOCKS);
    float *dw = params_grad(p, m->v_dec_w), *db = params_grad(p, m->v_dec_b);
    nn_sgemm_ld(1, 0, hi - lo, H, rows, 1.0f, m->logits + lo, V, m->top, H, 1.0f, dw + (long)lo * H, H);
    for (int r = 0; r < rows; r++) {
        const float *row = m->logits + (long)r * V;
        for (int o = lo; o < hi; o++) db[o] += row[o];
    }
}

// Thread 0 runs the backward below the decoder, a chain of small products best left to one thread; the others
// compute the decoder's weight gradient meanwhile (it needs only dlogits and the decoder's input), and thread 0
// joins them when its chain is done. Every block is the same product whichever thread claims it, so the result
// does not depend on timing.
static void backward_part(void *ctx, long begin, long end) {
    (void)end;
    BackwardJob *j = ctx;
    if (begin == 0) {
        LstmLM *m = j->m;
        j->demb = backward_below_decoder(m, j->T, j->N, m->dact[0]);
        if (!m->cfg.tied) { // tied: the embedding's gradient is the decoder's, which other threads are adding to
            embedding_backward(params_grad(&m->params, m->v_enc), j->demb, j->x, j->T * j->N, m->cfg.emb);
            j->demb = NULL;
        }
    }
    for (int k; (k = atomic_fetch_add(&j->next, 1)) < DECODER_BLOCKS;) decoder_grad_block(j->m, j->T * j->N, k);
}

void lm_backward(LstmLM *m, const int *x, int T, int N) {
    check_window(m, T, N);
    const Params *p = &m->params;
    int V = m->cfg.vocab, H = m->cfg.hidden;
    long rows = (long)T * N;
    float *d = m->dact[0]; // dLoss/d(decoder input) = dlogits W, on all threads: everything below waits for it
    nn_sgemm(0, 0, (int)rows, H, V, 1.0f, m->logits, params_ptr(p, m->v_dec_w), 0.0f, d);
    BackwardJob j = {.m = m, .x = x, .T = T, .N = N};
    atomic_init(&j.next, 0);
    int threads = nn_get_threads();
    nn_parallel_for(threads, threads, backward_part, &j);
    if (j.demb) embedding_backward(params_grad(p, m->v_enc), j.demb, x, (int)rows, m->cfg.emb);
}

long lm_param_count(const LstmLM *m) { return (long)m->params.n; }
