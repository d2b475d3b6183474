#define _POSIX_C_SOURCE 200809L
#include "lm_config.h"
#include "cli.h"
#include "nn/check.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// The paper (Zaremba et al. 2014, and their code) sums the loss over the T steps of a window and averages over
// the batch; nnopt averages over all T*N tokens. Gradients are therefore T times smaller here, so the paper's
// lr 1 and clip 5 become lr T and clip 5/T: the same updates.
#define PRESET(NAME, H, L, T, N, EPOCHS, MAXSTEPS, TRAINTOK, EVALTOK, LR, CLIP, DROP, INIT, DSTART, DECAY)        \
    {.preset = NAME, .hidden = H, .layers = L, .bptt = T, .batch = N, .eval_batch = 10, .epochs = EPOCHS,         \
     .max_steps = MAXSTEPS, .train_tokens = TRAINTOK, .eval_tokens = EVALTOK, .dropout = DROP, .init_range = INIT, \
     .setup = {.lr = LR, .clip = CLIP, .clip_mode = "norm", .optim = "sgd", .optim_args = "", .schedule = "step",  \
               .decay_start = DSTART, .decay = DECAY, .milestones = "", .gamma = 0.1f, .plateau_factor = 4.0f,     \
               .order = "cyclic"}}
static const LmRunConfig presets[] = {
    // toy: the model of `nnopt compare`, small enough that exact statistics over its whole training set are cheap
    //     name              H     L  T   N   epochs steps train  eval   lr     clip         dropout init   decay after, factor
    PRESET("tiny",           32,   2, 10, 8,  1,     60,   0,     5000,  20.f,  0.25f,       0.0f,   0.1f,  4,  0.5f),
    PRESET("toy",            64,   2, 20, 20, 4,     0,    50000, 20000, 20.f,  0.25f,       0.0f,   0.1f,  1000, 1.f),
    PRESET("zaremba-small",  200,  2, 20, 20, 13,    0,    0,     0,     20.f,  5.f / 20.f,  0.0f,   0.1f,  4,  0.5f),
    PRESET("zaremba-medium", 650,  2, 35, 20, 39,    0,    0,     0,     35.f,  5.f / 35.f,  0.5f,   0.05f, 6,  0.8f),
    PRESET("zaremba-large",  1500, 2, 35, 20, 55,    0,    0,     0,     35.f,  10.f / 35.f, 0.65f,  0.04f, 14, 1.f / 1.15f),
};
static const int npresets = sizeof presets / sizeof presets[0];

static void apply_preset(LmRunConfig *cfg, const char *name) {
    for (int i = 0; i < npresets; i++)
        if (strcmp(presets[i].preset, name) == 0) {
            *cfg = presets[i];
            return;
        }
    char valid[256] = "";
    for (int i = 0; i < npresets; i++) {
        strncat(valid, i ? ", " : "", sizeof valid - strlen(valid) - 1);
        strncat(valid, presets[i].preset, sizeof valid - strlen(valid) - 1);
    }
    NN_FATAL("unknown preset '%s'; accepted: %s", name, valid);
}

enum { O_PRESET = 256, O_SETUP, O_SETUP_END = O_SETUP + TRAIN_SETUP_NFLAGS, O_EPOCHS, O_MAX_STEPS, O_BATCH,
       O_BPTT, O_HIDDEN, O_LAYERS, O_DROPOUT, O_SEED, O_THREADS, O_DATA, O_OUT, O_EVAL_BATCH, O_INIT, O_TIED,
       O_EVAL_TOKENS, O_NO_GRAD_STATS, O_STATS_EPOCHS, O_BATCH_SIZES, O_ETA, O_STATS_TOKENS, O_TRAIN_TOKENS,
       O_SAVE_EVERY, O_SAVE_EPOCHS, O_RESUME, O_HELP };

static const struct option options[] = {
    {"preset", required_argument, 0, O_PRESET},     TRAIN_SETUP_OPTIONS(O_SETUP), TRAIN_PLATEAU_OPTION(O_SETUP),
    {"epochs", required_argument, 0, O_EPOCHS},     {"max-steps", required_argument, 0, O_MAX_STEPS},
    {"batch", required_argument, 0, O_BATCH},       {"bptt", required_argument, 0, O_BPTT},
    {"hidden", required_argument, 0, O_HIDDEN},     {"layers", required_argument, 0, O_LAYERS},
    {"dropout", required_argument, 0, O_DROPOUT},   {"seed", required_argument, 0, O_SEED},
    {"threads", required_argument, 0, O_THREADS},   {"data", required_argument, 0, O_DATA},
    {"out", required_argument, 0, O_OUT},           {"eval-batch", required_argument, 0, O_EVAL_BATCH},
    {"init", required_argument, 0, O_INIT},         {"tied", no_argument, 0, O_TIED},
    {"eval-tokens", required_argument, 0, O_EVAL_TOKENS}, {"no-grad-stats", no_argument, 0, O_NO_GRAD_STATS},
    {"stats-epochs", required_argument, 0, O_STATS_EPOCHS}, {"batch-sizes", required_argument, 0, O_BATCH_SIZES},
    {"eta", required_argument, 0, O_ETA},           {"stats-tokens", required_argument, 0, O_STATS_TOKENS},
    {"train-tokens", required_argument, 0, O_TRAIN_TOKENS}, {"save-every", required_argument, 0, O_SAVE_EVERY},
    {"save-epochs", no_argument, 0, O_SAVE_EPOCHS}, {"resume", required_argument, 0, O_RESUME},
    {"help", no_argument, 0, O_HELP},
    {0, 0, 0, 0},
};

void lm_config_usage(FILE *out, const char *prog) {
    const LmRunConfig *d = &presets[2]; // zaremba-small
    fprintf(out,
            "usage: %s [--preset NAME] [flags]   (flags override the preset's values)\n"
            "  --preset NAME      tiny | toy | zaremba-small | zaremba-medium | zaremba-large (default zaremba-small)\n"
            "  --epochs N         training epochs (zaremba-small: %d)\n"
            "  --max-steps N      stop after N training steps in all; 0 = no limit (default 0; tiny: 60)\n"
            "  --lr X             learning rate for the mean-over-tokens loss (zaremba-small: %g)\n"
            "  --clip X           clipping threshold; 0 = no clipping (zaremba-small: %g)\n"
            "  --clip-mode M      norm (global L2 norm) | torch (clip_grad_norm_) | tensor | value (norm)\n"
            "  --schedule S       constant | step | multistep | cosine | plateau (step)\n"
            "  --decay-start N    step: lr constant through epoch N, then multiplied by --decay each epoch (%d)\n"
            "  --decay X          (%g)\n"
            "  --milestones E,..  multistep: multiply lr by --gamma after each of these epochs (--gamma 0.1)\n"
            "  --warmup N         cosine: linear warm-up over N steps, then cosine decay to --min-lr (0, 0)\n"
            "  --plateau-factor X plateau: divide lr by X after an epoch whose valid loss did not improve (4)\n"
            "  --order O          cyclic (corpus order, state carried: incremental gradient) | shuffle (windows\n"
            "                     reshuffled each epoch) | replace (drawn with replacement); shuffle and replace\n"
            "                     reset the hidden state at every window (cyclic)\n"
            "  --no-grad-stats    skip the per-step cosines in steps.csv (they cost a few passes over the gradient)\n"
            "  --stats-epochs K,.. exact gradient statistics at the parameters after K epochs (0 = at initialisation),\n"
            "                     or 'all' (every epoch); written to gradstats.csv and gradstats_batches.csv.\n"
            "                     Each costs about 1 + (number of batch sizes) passes of forward+backward over the data\n"
            "                     (none; nnopt gradstats: all)\n"
            "  --batch-sizes B,.. batch sizes (windows per batch) of the statistics (default: --batch)\n"
            "  --eta X,..         clipping thresholds of the descent quantity <sum C(g_i; X), grad f> (default: --clip)\n"
            "  --stats-tokens N   the statistics' data set is the first N training tokens; 0 = all (0)\n"
            "  --batch N          parallel streams N (%d)\n"
            "  --bptt N           window length T, steps of truncated backpropagation (%d)\n"
            "  --hidden N         hidden and embedding size (%d)\n"
            "  --layers N         LSTM layers (%d)\n"
            "  --dropout P        dropout on non-recurrent connections, [0,1) (%g)\n"
            "  --init X           parameters drawn from U(-X, X) (%g)\n"
            "  --tied             tie the decoder to the embedding matrix (off)\n"
            "  --eval-batch N     streams used for valid/test perplexity (%d)\n"
            "  --eval-tokens N    perplexity on the first N tokens of valid/test; 0 = all (0; tiny: 5000)\n"
            "  --train-tokens N   train on the first N tokens of the training split; 0 = all (0; toy: 50000)\n"
            "  --optim NAME       optimizer (sgd); `nnopt optimizers` lists them\n"
            "  --optim-args K=V,.. its hyper-parameters, PyTorch's names (e.g. momentum=0.9,nesterov=1)\n"
            "  --seed N           random seed (1)\n"
            "  --threads N        threads for large matrix products (default: all online cores)\n"
            "  --data DIR         data root holding ptb/ (default: $NNOPT_DATA, ./data, ../shared/data)\n"
            "  --out DIR          where steps.csv and summary.json go (default runs/<preset>)\n"
            "  --save-every N     write OUT/checkpoint.nnck every N steps (atomically: the previous one survives any\n"
            "                     crash); SIGINT/SIGTERM also write one, after the current step (0 = never)\n"
            "  --save-epochs      write the checkpoint at the end of every epoch too\n"
            "  --resume PATH      continue the run saved in PATH exactly: its configuration comes from the checkpoint,\n"
            "                     flags given here may change --epochs, --max-steps, --threads and --out only\n",
            prog, d->epochs, d->setup.lr, d->setup.clip, d->setup.decay_start, d->setup.decay, d->batch, d->bptt,
            d->hidden, d->layers, d->dropout, d->init_range, d->eval_batch);
}

void lm_config_parse(LmRunConfig *cfg, int argc, char **argv, const char *prog) {
    const char *preset = "zaremba-small";
    for (int i = 1; i < argc; i++) { // the preset first, whatever its position, so flags override it
        if (strcmp(argv[i], "--preset") == 0 && i + 1 < argc) preset = argv[i + 1];
        else if (strncmp(argv[i], "--preset=", 9) == 0) preset = argv[i] + 9;
    }
    apply_preset(cfg, preset);
    cfg->seed = 1;
    cfg->threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    cfg->grad_stats = 1;
    static char out_default[128];
    snprintf(out_default, sizeof out_default, "runs/%s", cfg->preset);
    cfg->out = out_default;
    optind = 1;
    opterr = 0;
    int c, li = 0;
    while ((c = getopt_long(argc, argv, "", options, &li)) != -1) {
        const char *a = optarg;
        if (c >= O_SETUP && c < O_SETUP_END) {
            train_setup_flag(&cfg->setup, options[li].name, a);
            continue;
        }
        switch (c) {
        case O_PRESET: break;
        case O_EPOCHS: cfg->epochs = (int)cli_long("--epochs", a, 1, 100000); break;
        case O_MAX_STEPS: cfg->max_steps = cli_long("--max-steps", a, 0, 1L << 40); break;
        case O_BATCH: cfg->batch = (int)cli_long("--batch", a, 1, 1 << 16); break;
        case O_BPTT: cfg->bptt = (int)cli_long("--bptt", a, 1, 1 << 16); break;
        case O_HIDDEN: cfg->hidden = (int)cli_long("--hidden", a, 1, 1 << 16); break;
        case O_LAYERS: cfg->layers = (int)cli_long("--layers", a, 1, 8); break;
        case O_DROPOUT: cfg->dropout = (float)cli_double("--dropout", a, 0, 0.999); break;
        case O_SEED: cfg->seed = cli_u64("--seed", a); break;
        case O_THREADS: cfg->threads = (int)cli_long("--threads", a, 1, 1024); break;
        case O_DATA: cfg->data = a; break;
        case O_OUT: cfg->out = a; break;
        case O_EVAL_BATCH: cfg->eval_batch = (int)cli_long("--eval-batch", a, 1, 1 << 16); break;
        case O_INIT: cfg->init_range = (float)cli_double("--init", a, 0, 100); break;
        case O_TIED: cfg->tied = 1; break;
        case O_NO_GRAD_STATS: cfg->grad_stats = 0; break;
        case O_STATS_EPOCHS:
            cfg->stats_all = strcmp(a, "all") == 0;
            cfg->nstats_epochs = cfg->stats_all ? 0 : cli_list_int("--stats-epochs", a, 0, 100000, cfg->stats_epochs,
                                                                    LM_MAX_LIST);
            break;
        case O_BATCH_SIZES:
            cfg->nbatch_sizes = cli_list_int("--batch-sizes", a, 1, 1 << 16, cfg->batch_sizes, LM_MAX_LIST);
            break;
        case O_ETA: cfg->neta = cli_list_double("--eta", a, 1e-30, 1e30, cfg->eta, LM_MAX_LIST); break;
        case O_SAVE_EVERY: cfg->save_every = cli_long("--save-every", a, 0, 1L << 40); break;
        case O_SAVE_EPOCHS: cfg->save_epochs = 1; break;
        case O_RESUME: cfg->resume = a; break;
        case O_TRAIN_TOKENS: cfg->train_tokens = cli_long("--train-tokens", a, 0, 1L << 40); break;
        case O_STATS_TOKENS: cfg->stats_tokens = cli_long("--stats-tokens", a, 0, 1L << 40); break;
        case O_EVAL_TOKENS: cfg->eval_tokens = cli_long("--eval-tokens", a, 0, 1L << 40); break;
        case O_HELP: lm_config_usage(stdout, prog); exit(0);
        default:
            lm_config_usage(stderr, prog);
            if (optopt) NN_FATAL("option '%s' needs a value (see the list above)", argv[optind - 1]);
            NN_FATAL("unknown option '%s' (see the list above)", argv[optind - 1]);
        }
    }
    NN_CHECK(optind == argc, "unexpected argument '%s' (flags start with --; see %s --help)", argv[optind], prog);
    train_setup_check(&cfg->setup, 1);
    if (!cfg->nbatch_sizes) cfg->batch_sizes[cfg->nbatch_sizes++] = cfg->batch;
    if (!cfg->neta) cfg->eta[cfg->neta++] = cfg->setup.clip > 0 ? cfg->setup.clip : 1.0;
    for (int i = 0; i < cfg->nstats_epochs; i++)
        NN_CHECK(cfg->stats_epochs[i] <= cfg->epochs, "--stats-epochs %d: the run has only %d epochs (--epochs)",
                 cfg->stats_epochs[i], cfg->epochs);
}

int lm_config_stats_due(const LmRunConfig *cfg, int epoch) {
    if (cfg->stats_all) return 1;
    for (int i = 0; i < cfg->nstats_epochs; i++)
        if (cfg->stats_epochs[i] == epoch) return 1;
    return 0;
}

int lm_config_json(char *buf, size_t n, const LmRunConfig *c) {
    char setup[1024], epochs[128] = "\"all\"", sizes[128], etas[256];
    train_setup_json(setup, sizeof setup, &c->setup, 1);
    if (!c->stats_all) cli_json_list(epochs, sizeof epochs, c->stats_epochs, c->nstats_epochs, 0);
    cli_json_list(sizes, sizeof sizes, c->batch_sizes, c->nbatch_sizes, 0);
    cli_json_list(etas, sizeof etas, c->eta, c->neta, 1);
    return snprintf(buf, n,
                    "{\"preset\": \"%s\", \"hidden\": %d, \"layers\": %d, \"bptt\": %d, \"batch\": %d, "
                    "\"eval_batch\": %d, \"eval_tokens\": %ld, \"train_tokens\": %ld, \"epochs\": %d, "
                    "\"max_steps\": %ld, %s, \"dropout\": %g, \"init\": %g, \"tied\": %s, \"grad_stats\": %s, "
                    "\"seed\": %llu, \"threads\": %d, \"stats_epochs\": %s, \"batch_sizes\": %s, \"eta\": %s, "
                    "\"stats_tokens\": %ld}",
                    c->preset, c->hidden, c->layers, c->bptt, c->batch, c->eval_batch, c->eval_tokens,
                    c->train_tokens, c->epochs, c->max_steps, setup, c->dropout, c->init_range,
                    c->tied ? "true" : "false", c->grad_stats ? "true" : "false", (unsigned long long)c->seed,
                    c->threads, epochs, sizes, etas, c->stats_tokens);
}

void lm_config_print(FILE *out, const LmRunConfig *c) {
    char buf[2048];
    lm_config_json(buf, sizeof buf, c);
    fprintf(out, "config %s\n", buf);
}

LmConfig lm_config_model(const LmRunConfig *c, int vocab, int batch, const char *reduce) {
    LmConfig mc = {.vocab = vocab, .emb = c->hidden, .hidden = c->hidden, .layers = c->layers, .bptt = c->bptt,
                   .batch = batch, .dropout = c->dropout, .tied = c->tied, .threads = c->threads};
    check_memory(lm_memory_bytes(&mc), reduce);
    return mc;
}
