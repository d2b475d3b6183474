// The workload "ptb-transformer": a small decoder-only Transformer (models/transformer_lm.h) on Penn Treebank words.
// The text is cut as for the LSTM (data/ptb.h): N streams, a step reads the next window of T tokens of each, so
// the two models see the same data in the same order for the same budget. Nothing carries between windows: each
// window is N independent sequences of T tokens (every order is then the same model of the text; cyclic only
// fixes the visiting order). Valid and test perplexity: windows of T tokens of the split, each token predicted
// from the ones before it: with --eval-stride S < T each window of T tokens starts S after the previous one and
// scores only its last S tokens (the first window all of its own), so every token but a stream's first T-S has
// T-S tokens of context or more (sliding-window perplexity); S = T scores non-overlapping windows, whose early
// positions see little context.
// The exact statistics' components f_i are windows of T tokens of the first training tokens, dropout off, batch i
// of size b holding windows s*m + i (the LM's partition, models/lm_components.h).
// With --grad-blocks G, block g of a step is sequences g*N/G .. of the window, its dropout masks drawn from the
// block's own seed; nothing carries from window to window, so the blocks share nothing.
#include "workload.h"
#include "models/transformer_lm.h"
#include "nn/check.h"
#include "nn/rng.h"
#include "ptb_text.h"
#include "tools/cli.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const WorkloadOps ptb_transformer_ops;

typedef struct {
    int dim, heads, layers, ffn, context, eval_batch, eval_stride;
    long eval_tokens, train_tokens, stats_tokens; // as ptb-lstm's: 0 = all of it
    float dropout, attn_dropout, init_std;
} PtbTfmConfig;

// Defaults are tfm-small's (the default preset's), so --help shows them.
#define F(field) offsetof(PtbTfmConfig, field)
static const FlagSpec flag_rows[] = {
    {"dim", FLAG_INT, F(dim), 1, 1 << 14, "256", 0, "N", "model width D (embedding and residual stream)"},
    {"heads", FLAG_INT, F(heads), 1, 1 << 10, "4", 0, "N", "attention heads (must divide --dim)"},
    {"layers", FLAG_INT, F(layers), 1, TFM_MAX_LAYERS, "3", 0, "N", "Transformer blocks"},
    {"ffn", FLAG_INT, F(ffn), 0, 1 << 16, "0", 0, "N", "MLP width; 0 = 4 x --dim"},
    {"context", FLAG_INT, F(context), 2, 1 << 12, "64", 0, "N", "tokens per sequence T (the window)"},
    {"dropout", FLAG_FLOAT, F(dropout), 0, 0.999, "0.3", 0, "P", "dropout on the embedding and residual branches"},
    {"attn-dropout", FLAG_FLOAT, F(attn_dropout), 0, 0.999, "0.1", 0, "P", "dropout on attention probabilities"},
    {"init-std", FLAG_FLOAT, F(init_std), 1e-6, 10, "0.02", 0, "X",
     "weights N(0, X^2), the residual projections X / sqrt(2 layers) (GPT-2)"},
    {"eval-batch", FLAG_INT, F(eval_batch), 1, 1 << 16, "10", 0, "N", "sequences per evaluation window"},
    {"eval-stride", FLAG_INT, F(eval_stride), 0, 1 << 12, "0", 0, "S",
     "evaluation windows start S tokens apart and score their last S (sliding window); 0 = --context / 2; "
     "--context: non-overlapping windows"},
    {"eval-tokens", FLAG_LONG, F(eval_tokens), 0, 1L << 40, "0", 0, "N",
     "perplexity on the first N tokens of valid/test; 0 = all"},
    {"train-tokens", FLAG_LONG, F(train_tokens), 0, 1L << 40, "0", 0, "N",
     "train on the first N tokens of the training split; 0 = all"},
    {"stats-tokens", FLAG_LONG, F(stats_tokens), 0, 1L << 40, "0", 0, "N",
     "the exact statistics' data set is the first N training tokens; 0 = all"},
};
#undef F

static const Preset presets[] = {
    // tfm-tiny: seconds, for the tests
    {"tfm-tiny", "--dim=16 --heads=2 --layers=2 --ffn=0 --context=10 --batch=8 --epochs=1 --max-steps=60 "
                 "--train-tokens=0 --eval-tokens=5000 --eval-stride=0 --lr=3e-3 --warmup=10 --dropout=0 "
                 "--attn-dropout=0"},
    {"tfm-small", "--dim=256 --heads=4 --layers=3 --ffn=0 --context=64 --batch=32 --epochs=12 --max-steps=0 "
                  "--train-tokens=0 --eval-tokens=0 --eval-stride=0 --lr=1e-3 --warmup=-1 --dropout=0.3 "
                  "--attn-dropout=0.1"},
};

// AdamW with GPT-2's betas and the usual weight decay, clipped at global norm 1, shuffled windows, one epoch of
// warm-up then cosine to zero.
static const char defaults[] = "--optim=adamw --optim-args=beta1=0.9,beta2=0.98,weight_decay=0.1 --clip=1 "
                               "--clip-mode=norm --schedule=cosine --min-lr=0 --decay-start=1000 --decay=1 "
                               "--milestones= --gamma=0.1 --order=shuffle";

static const Column eval_columns[] = {{"valid_loss", "%.6f", 0}, {"valid_ppl", "%.4f", 0}};
static const Column final_columns[] = {{"test_loss", "%.6f", 0}, {"test_ppl", "%.4f", 0}};

struct Workload {
    PtbTfmConfig c;
    int N;                     // training sequences per step (--batch)
    PtbText text;
    TransformerLM model;       // buffers for context x the largest batch of training, evaluation or statistics
    Rng drop_rng;              // dropout masks, drawn only in training steps
    int *win_x, *win_y;        // [T, maxN] a window as data/ptb.h gives it (position-major)
    int *x, *y;                // [maxN, T] the same, sequence-major for the model
};

static void check(RunConfig *cfg) {
    PtbTfmConfig *c = cfg->wl;
    NN_CHECK(c->dim % c->heads == 0, "--heads %d must divide --dim %d", c->heads, c->dim);
    if (c->ffn == 0) c->ffn = 4 * c->dim;
    if (c->eval_stride == 0) c->eval_stride = c->context / 2;
    NN_CHECK(c->eval_stride <= c->context, "--eval-stride %d: accepted 0..--context (%d)", c->eval_stride,
             c->context);
}

static Workload *create(const RunConfig *cfg) {
    Workload *w = nn_calloc(1, sizeof *w);
    w->c = *(const PtbTfmConfig *)cfg->wl;
    const PtbTfmConfig *c = &w->c;
    w->N = cfg->batch;
    ptb_text_load(&w->text, cfg->data, c->train_tokens, c->stats_tokens, c->eval_tokens, w->N, c->context);
    int maxN = w->N > c->eval_batch ? w->N : c->eval_batch, bmax = run_config_max_stats_batch(cfg);
    maxN = bmax > maxN ? bmax : maxN;
    TfmConfig mc = {.vocab = w->text.corpus.vocab.size, .dim = c->dim, .heads = c->heads, .layers = c->layers,
                    .ffn = c->ffn, .context = c->context, .batch = maxN, .dropout = c->dropout,
                    .attn_dropout = c->attn_dropout};
    check_memory(tfm_memory_bytes(&mc), "--batch, --eval-batch, --batch-sizes, --context, --dim or --layers");
    tfm_init(&w->model, &mc);
    Rng init_rng;
    rng_seed(&init_rng, cfg->seed);
    rng_seed(&w->drop_rng, cfg->seed ^ 0x64726f706f7574ull); // "dropout", as ptb-lstm
    tfm_init_normal(&w->model, c->init_std, &init_rng);
    printf("model: %d-block Transformer, width %d, %d heads, MLP %d, context %d, vocab %d, %ld parameters (tied "
           "embeddings); activations %.1f MB\n", c->layers, c->dim, c->heads, c->ffn, c->context, mc.vocab,
           tfm_param_count(&w->model), (w->model.bytes - 8.0 * (double)w->model.params.n) / 1e6);

    size_t rows = (size_t)c->context * maxN;
    w->win_x = nn_malloc(rows * sizeof(int)), w->win_y = nn_malloc(rows * sizeof(int));
    w->x = nn_malloc(rows * sizeof(int)), w->y = nn_malloc(rows * sizeof(int));
    return w;
}

static void destroy(Workload *w) {
    if (!w) return;
    free(w->win_x), free(w->win_y), free(w->x), free(w->y);
    tfm_free(&w->model);
    ptb_text_free(&w->text);
    free(w);
}

static Params *params(Workload *w) { return &w->model.params; }
static int classes(const Workload *w) { return w->text.corpus.vocab.size; }
static long units(const Workload *w) { return w->text.train.nwindows; }
static int units_per_step(const Workload *w) {
    (void)w;
    return 1; // a step is one window of all N streams
}

// Window i of the streams s as N sequences of T' tokens, sequence-major. Returns T'.
static int window(Workload *w, const PtbStreams *s, long i) {
    int T = ptb_window(s, i, w->win_x, w->win_y), N = s->N;
    for (int t = 0; t < T; t++)
        for (int n = 0; n < N; n++) {
            w->x[n * T + t] = w->win_x[t * N + n];
            w->y[n * T + t] = w->win_y[t * N + n];
        }
    return T;
}

// Batch of b statistics components: sequence s is window ids[s] of the statistics' text (tokens ids[s]*T ..
// +T, targets one further), dropout off.
static BatchResult stats_batch(Workload *w, const long *ids, int b) {
    int T = w->c.context;
    long windows = ptb_text_stats_windows(&w->text, T);
    const int *text = w->text.corpus.split[PTB_TRAIN];
    for (int s = 0; s < b; s++) {
        NN_CHECK(ids[s] >= 0 && ids[s] < windows, "statistics window %ld outside 0..%ld", ids[s], windows - 1);
        memcpy(w->x + (long)s * T, text + ids[s] * T, (size_t)T * sizeof(int));
        memcpy(w->y + (long)s * T, text + ids[s] * T + 1, (size_t)T * sizeof(int));
    }
    double loss = tfm_forward(&w->model, w->x, w->y, T, b, PASS_STATS);
    tfm_backward(&w->model, w->x);
    return (BatchResult){.loss = loss, .examples = (long)T * b};
}

static BatchResult batch(Workload *w, Pass pass, const long *ids, int n) {
    if (pass == PASS_STATS) return stats_batch(w, ids, n);
    NN_CHECK(n == 1, "ptb-transformer: a step is one window, not %d", n);
    int T = window(w, &w->text.train, ids[0]);
    if (pass == PASS_TRAIN) tfm_draw_masks(&w->model, T, w->N, &w->drop_rng);
    double loss = tfm_forward(&w->model, w->x, w->y, T, w->N, pass);
    if (pass == PASS_TRAIN) tfm_backward(&w->model, w->x);
    return (BatchResult){.loss = loss, .examples = (long)T * w->N};
}

// Sequences block*Nb .. block*Nb + Nb - 1 of the window (Nb = N / nblocks): rows of the sequence-major x and y,
// with dropout masks drawn from the block's seed alone. Nothing carries between windows, so nothing to share.
static BatchResult train_block(Workload *w, const long *ids, int n, int block, int nblocks, uint64_t seed) {
    NN_CHECK(n == 1, "ptb-transformer: a step is one window, not %d", n);
    int Nb = w->N / nblocks, T = window(w, &w->text.train, ids[0]);
    const int *x = w->x + (size_t)block * Nb * T, *y = w->y + (size_t)block * Nb * T;
    Rng drop;
    rng_seed(&drop, seed ^ 0x64726f706f7574ull); // "dropout", as the shared stream
    tfm_draw_masks(&w->model, T, Nb, &drop);
    double loss = tfm_forward(&w->model, x, y, T, Nb, PASS_TRAIN);
    tfm_backward(&w->model, x);
    return (BatchResult){.loss = loss, .examples = (long)T * Nb};
}

// Mean loss per token over a split (or its first --eval-tokens), dropout off. The split is cut into eval_batch
// streams of L tokens (as data/ptb.h); window w of each stream covers positions w*S .. w*S+T-1 (cut at L-1) and
// scores the tokens no earlier window scored: from T-S on (all of the first).
static double split_loss(Workload *w, int split) {
    long n = w->text.corpus.len[split];
    if (w->c.eval_tokens > 0 && w->c.eval_tokens < n) n = w->c.eval_tokens;
    int N = w->c.eval_batch, T = w->c.context, S = w->c.eval_stride;
    long L = n / N;
    NN_CHECK(L >= 2, "evaluation: %ld tokens cannot make %d streams of at least 2 (--eval-batch, --eval-tokens)", n,
             N);
    const int *ids = w->text.corpus.split[split];
    double loss = 0;
    long tokens = 0;
    for (long start = 0;; start += S) {
        int len = (int)(L - 1 - start < T ? L - 1 - start : T), from = start == 0 ? 0 : T - S;
        if (len <= from) break;
        for (int j = 0; j < N; j++)
            for (int t = 0; t < len; t++) {
                w->x[j * len + t] = ids[j * L + start + t];
                w->y[j * len + t] = ids[j * L + start + t + 1];
            }
        loss += tfm_eval_loss_sum(&w->model, w->x, w->y, len, N, from);
        tokens += (long)(len - from) * N;
    }
    NN_CHECK(tokens == (L - 1) * N, "evaluation scored %ld tokens of %ld", tokens, (L - 1) * N);
    return loss / (double)tokens;
}

static void evaluate(Workload *w, double *out) {
    out[0] = split_loss(w, PTB_VALID);
    out[1] = exp(out[0]);
}

static void evaluate_final(Workload *w, double *out) {
    out[0] = split_loss(w, PTB_TEST);
    out[1] = exp(out[0]);
}

static long stats_components(const Workload *w) { return ptb_text_stats_windows(&w->text, w->c.context); }

static void save(const Workload *w, CkptWriter *ck) { ckpt_put_u64(ck, "rng/dropout", 1, (int[]){4}, w->drop_rng.s); }

static void load(Workload *w, CkptReader *ck, const char *path) {
    (void)path; // ckpt_get_u64 is fatal itself, naming the tensor and what differs
    ckpt_get_u64(ck, "rng/dropout", 1, (int[]){4}, w->drop_rng.s);
}

const WorkloadOps ptb_transformer_ops = {
    .name = "ptb-transformer", .unit = "tokens", .out_prefix = "", .loss_exp = "ppl",
    .about = "a small decoder-only Transformer (pre-LayerNorm, GPT-2 style) language model on Penn Treebank",
    .flags = flag_rows, .nflags = WL_COUNT(flag_rows), .config_size = sizeof(PtbTfmConfig), .defaults = defaults,
    .presets = presets, .npresets = WL_COUNT(presets), .default_preset = "tfm-small",
    .test_flags = "--preset=tfm-tiny --train-tokens=1700 --eval-tokens=500 --stats-tokens=400 --dropout=0.2 "
                  "--attn-dropout=0.1 --max-steps=0 --epochs=3",
    .eval_columns = eval_columns, .neval = WL_COUNT(eval_columns), .has_valid = 1,
    .final_columns = final_columns, .nfinal = WL_COUNT(final_columns),
    .stats_unit = "windows", .stats_about = "dropout off, each window on its own",
    .stats_partition_invariant = 1, .stats_layout = STATS_STRIDED,
    .check = check, .create = create, .destroy = destroy, .params = params, .classes = classes, .units = units,
    .units_per_step = units_per_step, .batch = batch, .train_block = train_block,
    .evaluate = evaluate, .evaluate_final = evaluate_final,
    .stats_components = stats_components, .save = save, .load = load,
};
