// The workload "ptb-lstm": Zaremba et al.'s (2014) word-level LSTM language model (models/lstm_lm.h) on Penn
// Treebank, trained by truncated BPTT: the training text is cut into N streams and each step reads the next window
// of T tokens of all of them (data/ptb.h). In cyclic order the hidden state carries from window to window.
// The exact statistics' components f_i are windows of T tokens of the first training tokens, each from a zero
// state without dropout, batch i of size b holding windows s*m + i (models/lm_components.h's partition).
#include "workload.h"
#include "data/sampler.h"
#include "models/lm_components.h"
#include "models/lstm_lm.h"
#include "ptb_text.h"
#include "nn/check.h"
#include "nn/rng.h"
#include "tools/cli.h"
#include "tools/dist.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const WorkloadOps ptb_lstm_ops;

typedef struct {
    int hidden, layers, bptt, eval_batch, tied;
    long eval_tokens;  // valid and test perplexity on the first this many tokens of each split (0 = all of it)
    long train_tokens; // train on the first this many tokens of the training split (0 = all of it)
    long stats_tokens; // the exact statistics' text: the first this many training tokens (0 = all of them)
    float dropout, init;
} PtbLstmConfig;

// Defaults are zaremba-small's (the default preset's), so --help shows them.
#define F(field) offsetof(PtbLstmConfig, field)
static const FlagSpec flag_rows[] = {
    {"bptt", FLAG_INT, F(bptt), 1, 1 << 16, "20", 0, "N", "window length T, steps of truncated backpropagation"},
    {"hidden", FLAG_INT, F(hidden), 1, 1 << 16, "200", 0, "N", "hidden and embedding size"},
    {"layers", FLAG_INT, F(layers), 1, LM_MAX_LAYERS, "2", 0, "N", "LSTM layers"},
    {"dropout", FLAG_FLOAT, F(dropout), 0, 0.999, "0", 0, "P", "dropout on non-recurrent connections, [0,1)"},
    {"init", FLAG_FLOAT, F(init), 0, 100, "0.1", 0, "X", "parameters drawn from U(-X, X)"},
    {"tied", FLAG_SET, F(tied), 0, 0, NULL, 0, NULL, "tie the decoder to the embedding matrix"},
    {"eval-batch", FLAG_INT, F(eval_batch), 1, 1 << 16, "10", 0, "N", "streams used for valid/test perplexity"},
    {"eval-tokens", FLAG_LONG, F(eval_tokens), 0, 1L << 40, "0", 0, "N",
     "perplexity on the first N tokens of valid/test; 0 = all (tiny: 5000, toy: 20000)"},
    {"train-tokens", FLAG_LONG, F(train_tokens), 0, 1L << 40, "0", 0, "N",
     "train on the first N tokens of the training split; 0 = all (toy: 50000)"},
    {"stats-tokens", FLAG_LONG, F(stats_tokens), 0, 1L << 40, "0", 0, "N",
     "the exact statistics' data set is the first N training tokens; 0 = all"},
};
#undef F

// The paper (Zaremba et al. 2014, and their code) sums the loss over the T steps of a window and averages over
// the batch; nnopt averages over all T*N tokens. Gradients are therefore T times smaller here, so the paper's
// lr 1 and clip 5 become lr T and clip 5/T: the same updates. Float flags are read as doubles and rounded to
// float, so each value is written as a decimal that rounds to the float the old C expression gave:
// 0.14285715 = 5.f / 35.f, 0.2857143 = 10.f / 35.f, 0.86956525 = 1.f / 1.15f.
#define PRESET(NAME, H, L, T, N, EPOCHS, MAXSTEPS, TRAINTOK, EVALTOK, LR, CLIP, DROP, INIT, DSTART, DECAY)       \
    {NAME, "--hidden=" #H " --layers=" #L " --bptt=" #T " --batch=" #N " --epochs=" #EPOCHS                      \
           " --max-steps=" #MAXSTEPS " --train-tokens=" #TRAINTOK " --eval-tokens=" #EVALTOK " --lr=" #LR        \
           " --clip=" #CLIP " --dropout=" #DROP " --init=" #INIT " --decay-start=" #DSTART " --decay=" #DECAY}
static const Preset presets[] = {
    // toy: the model of `nnopt compare`, small enough that exact statistics over its whole training set are cheap
    //     name              H     L  T   N   epochs steps train  eval   lr  clip        dropout init  decay: after, by
    PRESET("tiny",           32,   2, 10, 8,  1,     60,   0,     5000,  20, 0.25,       0,      0.1,  4,    0.5),
    PRESET("toy",            64,   2, 20, 20, 4,     0,    50000, 20000, 20, 0.25,       0,      0.1,  1000, 1),
    PRESET("zaremba-small",  200,  2, 20, 20, 13,    0,    0,     0,     20, 0.25,       0,      0.1,  4,    0.5),
    PRESET("zaremba-medium", 650,  2, 35, 20, 39,    0,    0,     0,     35, 0.14285715, 0.5,    0.05, 6,    0.8),
    PRESET("zaremba-large",  1500, 2, 35, 20, 55,    0,    0,     0,     35, 0.2857143,  0.65,   0.04, 14,
           0.86956525),
};
#undef PRESET

// What every old LM preset shared that differs from (or should not depend on) the trainer's row defaults.
static const char defaults[] = "--clip-mode=norm --optim=sgd --optim-args= --schedule=step --milestones= --gamma=0.1 "
                               "--plateau-factor=4 --order=cyclic";

static const Column eval_columns[] = {{"valid_loss", "%.6f", 0}, {"valid_ppl", "%.4f", 0}};
static const Column final_columns[] = {{"test_loss", "%.6f", 0}, {"test_ppl", "%.4f", 0}};

struct Workload {
    PtbLstmConfig c;
    int N;                     // training streams (--batch)
    int carry_state;           // cyclic order: windows in corpus order, the state carried from one to the next
    PtbText text;
    LstmLM model;              // buffers for bptt x the largest batch of training, evaluation or statistics
    Rng drop_rng;              // dropout masks, drawn only in training steps
    int *x, *y;                // [T, maxN] the current window's inputs and targets
    float *saved_h, *saved_c;  // the carried state while statistics passes run (stats_begin)
    int G;                     // --grad-blocks: blocks of N / G streams
    float *block_h, *block_c;  // [G][L, N/G, H] each block's carried state (G > 1)
};

static size_t block_state_floats(const Workload *w) { return (size_t)w->c.layers * (w->N / w->G) * w->c.hidden; }

// One model for every pass: training (dropout), evaluation and statistics (PASS_EVAL, PASS_STATS: no dropout).
static void build_model(Workload *w, const RunConfig *cfg, int maxN) {
    const PtbLstmConfig *c = &w->c;
    LmConfig mc = {.vocab = w->text.corpus.vocab.size, .emb = c->hidden, .hidden = c->hidden, .layers = c->layers,
                   .bptt = c->bptt, .batch = maxN, .dropout = c->dropout, .tied = c->tied};
    check_memory(lm_memory_bytes(&mc), "--batch, --eval-batch, --batch-sizes, --bptt or --hidden");
    lm_init(&w->model, &mc);
    Rng init_rng;
    rng_seed(&init_rng, cfg->seed);
    rng_seed(&w->drop_rng, cfg->seed ^ 0x64726f706f7574ull); // a separate stream for dropout masks: "dropout"
    lm_init_uniform(&w->model, c->init, &init_rng);
    printf("model: %d x %d LSTM, vocab %d, %ld parameters%s\n", c->layers, c->hidden, mc.vocab,
           lm_param_count(&w->model), c->tied ? " (tied embeddings)" : "");
}

static Workload *create(const RunConfig *cfg) {
    Workload *w = nn_calloc(1, sizeof *w);
    w->c = *(const PtbLstmConfig *)cfg->wl;
    w->N = cfg->batch;
    w->carry_state = sampler_order(cfg->setup.order) == ORDER_CYCLIC;
    ptb_text_load(&w->text, cfg->data, w->c.train_tokens, w->c.stats_tokens, w->c.eval_tokens, w->N, w->c.bptt);
    int maxN = w->N > w->c.eval_batch ? w->N : w->c.eval_batch;
    int bmax = run_config_max_stats_batch(cfg); // even without --stats-epochs: nnopt compare times these batches
    maxN = bmax > maxN ? bmax : maxN;
    build_model(w, cfg, maxN);

    size_t rows = (size_t)w->c.bptt * maxN, state = (size_t)w->c.layers * maxN * w->c.hidden;
    w->x = nn_malloc(rows * sizeof(int));
    w->y = nn_malloc(rows * sizeof(int));
    w->saved_h = nn_malloc(state * sizeof(float));
    w->saved_c = nn_malloc(state * sizeof(float));
    w->G = cfg->grad_blocks;
    if (w->G > 1) {
        w->block_h = nn_alloc_floats((size_t)w->G * block_state_floats(w));
        w->block_c = nn_alloc_floats((size_t)w->G * block_state_floats(w));
    }
    return w;
}

static void destroy(Workload *w) {
    if (!w) return;
    free(w->x), free(w->y), free(w->saved_h), free(w->saved_c), free(w->block_h), free(w->block_c);
    lm_free(&w->model);
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
static void epoch_begin(Workload *w) {
    lm_reset_state(&w->model);
    if (w->G > 1) {
        memset(w->block_h, 0, (size_t)w->G * block_state_floats(w) * sizeof(float));
        memset(w->block_c, 0, (size_t)w->G * block_state_floats(w) * sizeof(float));
    }
}

// Batch of b statistics components (windows of T tokens of the statistics' text), stream s reading window ids[s].
static BatchResult stats_batch(Workload *w, const long *ids, int b) {
    long windows = ptb_text_stats_windows(&w->text, w->c.bptt);
    for (int s = 0; s < b; s++)
        NN_CHECK(ids[s] >= 0 && ids[s] < windows, "statistics window %ld outside 0..%ld", ids[s], windows - 1);
    double loss = lm_windows_grad(&w->model, w->text.corpus.split[PTB_TRAIN], w->c.bptt, ids, b, w->x, w->y);
    return (BatchResult){.loss = loss, .examples = (long)w->c.bptt * b};
}

static BatchResult batch(Workload *w, Pass pass, const long *ids, int n) {
    if (pass == PASS_STATS) return stats_batch(w, ids, n);
    NN_CHECK(n == 1, "ptb-lstm: a step is one window, not %d", n);
    int N = w->N, Tw = ptb_window(&w->text.train, ids[0], w->x, w->y);
    // shuffle and replace jump through the text, so the state carried from the previous window would belong to
    // another place in it: they start every window from zero
    if (!w->carry_state) lm_reset_state(&w->model);
    if (pass == PASS_TRAIN) lm_draw_masks(&w->model, Tw, N, &w->drop_rng);
    double loss = lm_forward(&w->model, w->x, w->y, Tw, N, pass);
    if (pass == PASS_TRAIN) lm_backward(&w->model, w->x, Tw, N);
    return (BatchResult){.loss = loss, .examples = (long)Tw * N};
}

// Streams block*Nb .. block*Nb + Nb - 1 of the window (Nb = N / nblocks), from the state they carried, with
// dropout masks drawn from the block's seed.
static BatchResult train_block(Workload *w, const long *ids, int n, int block, int nblocks, uint64_t seed) {
    NN_CHECK(n == 1, "ptb-lstm: a step is one window, not %d", n);
    int N = w->N, Nb = N / nblocks, Tw = ptb_window(&w->text.train, ids[0], w->x, w->y);
    for (int t = 0; t < Tw; t++) { // the block's columns of [T][N], into [T][Nb] (rows only move down)
        memmove(w->x + (size_t)t * Nb, w->x + (size_t)t * N + (size_t)block * Nb, (size_t)Nb * sizeof(int));
        memmove(w->y + (size_t)t * Nb, w->y + (size_t)t * N + (size_t)block * Nb, (size_t)Nb * sizeof(int));
    }
    size_t state = block_state_floats(w);
    float *h = w->block_h + (size_t)block * state, *c = w->block_c + (size_t)block * state;
    lm_reset_state(&w->model);
    if (w->carry_state) {
        memcpy(w->model.state_h, h, state * sizeof(float));
        memcpy(w->model.state_c, c, state * sizeof(float));
    }
    Rng drop;
    rng_seed(&drop, seed ^ 0x64726f706f7574ull);
    lm_draw_masks(&w->model, Tw, Nb, &drop);
    double loss = lm_forward(&w->model, w->x, w->y, Tw, Nb, PASS_TRAIN);
    lm_backward(&w->model, w->x, Tw, Nb);
    memcpy(h, w->model.state_h, state * sizeof(float));
    memcpy(c, w->model.state_c, state * sizeof(float));
    return (BatchResult){.loss = loss, .examples = (long)Tw * Nb};
}

// Rank r computed blocks r*G/P onwards: their state, to every rank.
static void share_blocks(Workload *w) {
    size_t bytes = (size_t)(w->G / dist_size()) * block_state_floats(w) * sizeof(float);
    dist_allgather(w->block_h, bytes);
    dist_allgather(w->block_c, bytes);
}

// Mean loss per token over a split (or its first --eval-tokens), from a zero state, dropout off. lm_forward gives
// a window's mean; times its tokens it is the window's sum again, up to the last bit (the old code added the sums).
static double split_loss(Workload *w, int split) {
    long n = w->text.corpus.len[split];
    if (w->c.eval_tokens > 0 && w->c.eval_tokens < n) n = w->c.eval_tokens;
    int N = w->c.eval_batch;
    PtbStreams s;
    ptb_streams_init(&s, w->text.corpus.split[split], n, N, w->c.bptt);
    lm_reset_state(&w->model);
    double loss = 0;
    long tokens = 0;
    for (long i = 0; i < s.nwindows; i++) {
        int Tw = ptb_window(&s, i, w->x, w->y);
        long rows = (long)Tw * N;
        loss += lm_forward(&w->model, w->x, w->y, Tw, N, PASS_EVAL) * (double)rows;
        tokens += rows;
    }
    lm_reset_state(&w->model);
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

static long stats_components(const Workload *w) { return ptb_text_stats_windows(&w->text, w->c.bptt); }

// Statistics passes start every window from zero and leave the last one's state behind; training must go on from
// the state it carried (the old code measured on a separate model).
static size_t state_floats(const Workload *w) {
    return (size_t)w->model.cfg.layers * w->model.cfg.batch * w->model.cfg.hidden;
}
static void stats_begin(Workload *w) {
    memcpy(w->saved_h, w->model.state_h, state_floats(w) * sizeof(float));
    memcpy(w->saved_c, w->model.state_c, state_floats(w) * sizeof(float));
}
static void stats_end(Workload *w) {
    memcpy(w->model.state_h, w->saved_h, state_floats(w) * sizeof(float));
    memcpy(w->model.state_c, w->saved_c, state_floats(w) * sizeof(float));
}

// The carried state of the N training streams, [L, N, H]: the first L*N*H floats of the model's state (a window
// of N streams keeps layer l's state at l*N*H, whatever the buffers' largest batch).
// With blocks, stream j of layer l is stream j % Nb of block j / Nb: the checkpoint holds [L, N, H] whatever G.
static void copy_block_states(const Workload *w, float *blocks, float *streams, int to_streams) {
    size_t H = (size_t)w->c.hidden, Nb = (size_t)(w->N / w->G), state = block_state_floats(w);
    for (int g = 0; g < w->G; g++)
        for (int l = 0; l < w->c.layers; l++) {
            float *b = blocks + g * state + l * Nb * H, *s = streams + ((size_t)l * w->N + g * Nb) * H;
            memcpy(to_streams ? s : b, to_streams ? b : s, Nb * H * sizeof(float));
        }
}

static void save(const Workload *w, CkptWriter *ck) {
    int shape[3] = {w->c.layers, w->N, w->c.hidden};
    const float *h = w->model.state_h, *c = w->model.state_c;
    float *streams = NULL; // with blocks: their states in stream order, h then c
    if (w->G > 1) {
        size_t all = (size_t)w->G * block_state_floats(w);
        streams = nn_malloc(2 * all * sizeof(float));
        copy_block_states(w, w->block_h, streams, 1);
        copy_block_states(w, w->block_c, streams + all, 1);
        h = streams, c = streams + all;
    }
    ckpt_put_f32(ck, "lstm/h", 3, shape, h);
    ckpt_put_f32(ck, "lstm/c", 3, shape, c);
    free(streams);
    ckpt_put_u64(ck, "rng/dropout", 1, (int[]){4}, w->drop_rng.s);
}

static void load(Workload *w, CkptReader *ck, const char *path) {
    (void)path; // ckpt_get_* are fatal themselves, naming the tensor and what differs
    int shape[3] = {w->c.layers, w->N, w->c.hidden};
    ckpt_get_f32(ck, "lstm/h", 3, shape, w->model.state_h);
    ckpt_get_f32(ck, "lstm/c", 3, shape, w->model.state_c);
    if (w->G > 1) {
        copy_block_states(w, w->block_h, w->model.state_h, 0);
        copy_block_states(w, w->block_c, w->model.state_c, 0);
        lm_reset_state(&w->model);
    }
    ckpt_get_u64(ck, "rng/dropout", 1, (int[]){4}, w->drop_rng.s);
}

const WorkloadOps ptb_lstm_ops = {
    .name = "ptb-lstm", .unit = "tokens", .out_prefix = "", .loss_exp = "ppl",
    .about = "Zaremba et al.'s LSTM language model on Penn Treebank, truncated BPTT",
    .flags = flag_rows, .nflags = WL_COUNT(flag_rows), .config_size = sizeof(PtbLstmConfig), .defaults = defaults,
    .presets = presets, .npresets = WL_COUNT(presets), .default_preset = "zaremba-small",
    .test_flags = "--preset=tiny --train-tokens=1700 --eval-tokens=500 --stats-tokens=400 --dropout=0.2 --max-steps=0 "
                  "--epochs=3",
    // no training metrics beyond the loss; a validation split, which --schedule plateau may watch
    .eval_columns = eval_columns, .neval = WL_COUNT(eval_columns), .has_valid = 1,
    .final_columns = final_columns, .nfinal = WL_COUNT(final_columns),
    .stats_unit = "windows", .stats_about = "dropout off, each window from a zero state",
    .stats_partition_invariant = 1, .stats_layout = STATS_STRIDED,
    // no check: nothing beyond the rows' ranges (tied needs E == H, which holds: the embedding size is --hidden)
    .create = create, .destroy = destroy, .params = params, .classes = classes, .units = units,
    .units_per_step = units_per_step, .epoch_begin = epoch_begin, .batch = batch,
    .train_block = train_block, .share_blocks = share_blocks,
    .evaluate = evaluate, .evaluate_final = evaluate_final,
    .stats_components = stats_components, .stats_begin = stats_begin, .stats_end = stats_end,
    .save = save, .load = load,
};
