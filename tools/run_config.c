#define _POSIX_C_SOURCE 200809L
#include "run_config.h"
#include "cli.h"
#include "workloads/workload.h"
#include "nn/check.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define F(field) offsetof(RunConfig, field)
#define S(field) offsetof(RunConfig, setup.field)
static const FlagSpec run_flags[] = {
    {"epochs", FLAG_INT, F(epochs), 1, 100000, "1", FLAG_RESUMABLE, "N", "training epochs"},
    {"max-steps", FLAG_LONG, F(max_steps), 0, 1L << 40, "0", FLAG_RESUMABLE, "N",
     "stop after N training steps in all; 0 = no limit"},
    {"batch", FLAG_INT, F(batch), 1, 1 << 16, "32", 0, "N", "batch size (the LM: parallel streams; CIFAR: images)"},
    {"grad-blocks", FLAG_INT, F(grad_blocks), 1, 1 << 16, "1", 0, "G",
     "the step's gradient is the mean of G block gradients (of streams, sequences or images), added in block order, "
     "and the exact statistics' full gradient in G chunks: the same bits on any number of MPI ranks that divides G "
     "(mpirun -np P, tools/dist.h)"},
    {"lr", FLAG_FLOAT, S(lr), 0, 1e6, "0.1", 0, "X", "learning rate (of the mean loss over the batch)"},
    {"clip", FLAG_FLOAT, S(clip), 0, 1e30, "0", 0, "X", "clipping threshold; 0 = no clipping"},
    {"clip-mode", FLAG_STRING, S(clip_mode), 0, 0, "norm", 0, "M",
     "norm (global L2 norm) | torch (clip_grad_norm_) | tensor | value"},
    {"optim", FLAG_STRING, S(optim), 0, 0, "sgd", 0, "NAME", "optimizer; `nnopt optimizers` lists them"},
    {"optim-args", FLAG_STRING, S(optim_args), 0, 0, "", 0, "K=V,..",
     "its hyper-parameters, PyTorch's names (e.g. momentum=0.9,nesterov=1,weight_decay=5e-4)"},
    {"schedule", FLAG_STRING, S(schedule), 0, 0, "constant", 0, "S",
     "constant | step | multistep | cosine | plateau (plateau needs a validation split)"},
    {"decay-start", FLAG_INT, S(decay_start), 0, 100000, "0", 0, "N",
     "step: lr constant through epoch N, then multiplied by --decay each epoch"},
    {"decay", FLAG_FLOAT, S(decay), 0, 1, "1", 0, "X", "step: the factor per epoch"},
    {"milestones", FLAG_STRING, S(milestones), 0, 0, "", 0, "E,..",
     "multistep: multiply lr by --gamma after each of these epochs"},
    {"gamma", FLAG_FLOAT, S(gamma), 0, 1, "0.1", 0, "X", "multistep: the factor"},
    {"warmup", FLAG_LONG, S(warmup), -1, 1L << 40, "0", 0, "N",
     "cosine: linear warm-up over N steps (-1: one epoch), then cosine decay to --min-lr at the last step"},
    {"min-lr", FLAG_FLOAT, S(min_lr), 0, 1e6, "0", 0, "X", "cosine: the final learning rate"},
    {"plateau-factor", FLAG_FLOAT, S(plateau_factor), 1, 1e6, "4", 0, "X",
     "plateau: divide lr by X after an epoch whose validation loss did not improve"},
    {"order", FLAG_STRING, S(order), 0, 0, "cyclic", 0, "O",
     "cyclic (the same order every epoch: incremental gradient) | shuffle (reshuffled each epoch) | replace "
     "(drawn with replacement)"},
    {"seed", FLAG_U64, F(seed), 0, 0, "1", 0, "N", "random seed: initialisation, order, dropout, augmentation"},
    {"threads", FLAG_INT, F(threads), 0, 1024, "0", FLAG_RESUMABLE, "N",
     "threads; 0 = all online cores, shared among the MPI ranks on the node (results depend on the count, never on "
     "timing)"},
    {"data", FLAG_STRING, F(data), 0, 0, NULL, FLAG_RESUMABLE, "DIR",
     "data root (default: $NNOPT_DATA, ./data, ../shared/data)"},
    {"out", FLAG_STRING, F(out), 0, 0, NULL, FLAG_RESUMABLE, "DIR",
     "where the CSVs, summary.json and checkpoint.nnck go (default runs/<preset>)"},
    {"label", FLAG_STRING, F(label), 0, 0, "", FLAG_RESUMABLE, "NAME",
     "the run's method in nnopt report (nnopt sweep sets it; default: the optimizer, +clip when clipping)"},
    {"no-grad-stats", FLAG_CLEAR, F(grad_stats), 0, 0, NULL, 0, NULL,
     "skip the per-step cosines in steps.csv (they cost a few passes over the gradient)"},
    {"stats-epochs", FLAG_EPOCHS, F(stats_epochs), 0, 100000, NULL, 0, "K,..",
     "exact gradient statistics at the parameters after K epochs (0 = at initialisation), or 'all'; into "
     "gradstats.csv and gradstats_batches.csv"},
    {"batch-sizes", FLAG_INTS, F(batch_sizes), 1, 1 << 16, NULL, 0, "B,..",
     "batch sizes of the exact statistics (default: --batch)"},
    {"eta", FLAG_DOUBLES, F(eta), 1e-30, 1e30, NULL, 0, "X,..",
     "clipping thresholds of the descent quantity <sum C(g_i; X), grad f> (default: --clip, or 1)"},
    {"smooth-every", FLAG_LONG, F(smooth_every), 0, 1L << 40, "0", 0, "K",
     "local smoothness at every K-th step: L^ = ||grad f_S(x + g D) - grad f_S(x)|| / ||g D|| along the update D, "
     "into smoothness.csv, with the (L0, L1) envelope in summary.json and smoothness.png (0 = off)"},
    {"smooth-fraction", FLAG_FLOAT, F(smooth_fraction), 1e-6, 1, "0.1", 0, "F",
     "the subset S: this fraction of the statistics data set's batches of the largest --batch-sizes entry"},
    {"smooth-gamma", FLAG_FLOAT, F(smooth_gamma), 1e-6, 1, "0.5", 0, "G", "the point x + G D on the update"},
    {"smooth-quantile", FLAG_FLOAT, F(smooth_quantile), 0.01, 0.999, "0.9", FLAG_RESUMABLE, "Q",
     "the envelope L0 + L1 ||grad f|| is the Q-quantile regression line of L^"},
    {"save-every", FLAG_LONG, F(save_every), 0, 1L << 40, "0", FLAG_RESUMABLE, "N",
     "write OUT/checkpoint.nnck every N steps, atomically; SIGINT/SIGTERM also write one (0 = never)"},
    {"save-epochs", FLAG_SET, F(save_epochs), 0, 0, NULL, FLAG_RESUMABLE, NULL,
     "write the checkpoint at the end of every epoch too"},
    {"resume", FLAG_STRING, F(resume), 0, 0, NULL, FLAG_NO_JSON, "PATH",
     "continue the run saved in PATH exactly: its configuration comes from the checkpoint; only the flags "
     "marked 'resumable' may change"},
    {"overwrite", FLAG_SET, F(overwrite), 0, 0, NULL, FLAG_NO_JSON, NULL,
     "start a new run even when --out holds a finished or a stopped run, replacing its files (without it: refused)"},
};
#undef F
#undef S

int run_config_tables(const RunConfig *cfg, FlagTable *t) {
    t[0] = (FlagTable){run_flags, (int)(sizeof run_flags / sizeof run_flags[0]), (void *)cfg, "training"};
    t[1] = (FlagTable){cfg->ops->flags, cfg->ops->nflags, cfg->wl, cfg->ops->name};
    return 2;
}

// Applies "--name=value --flag ..." (a preset's or a workload's defaults) to the tables. Returns the copy that
// string fields now point into (freed by run_config_free).
static char *apply_flag_text(const FlagTable *t, int nt, const char *text, const char *what) {
    char *copy = nn_strdup(text), *save = NULL;
    for (char *tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        NN_CHECK(strncmp(tok, "--", 2) == 0, "%s: '%s' is not a flag", what, tok);
        char *eq = strchr(tok, '=');
        if (eq) *eq = '\0';
        NN_CHECK(flags_set(t, nt, tok + 2, eq ? eq + 1 : ""), "%s: unknown flag '%s'", what, tok);
    }
    return copy;
}

// The value of --NAME in argv (or NULL), whatever its position: the preset and workload come before the flags.
static const char *find_arg(int argc, char **argv, const char *name) {
    size_t n = strlen(name);
    const char *v = NULL;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) || strncmp(argv[i] + 2, name, n)) continue;
        if (argv[i][2 + n] == '\0' && i + 1 < argc) v = argv[i + 1];
        else if (argv[i][2 + n] == '=') v = argv[i] + 3 + n;
    }
    return v;
}

static void usage_head(char *buf, size_t n, const char *prog) {
    size_t at = (size_t)snprintf(buf, n, "usage: %s [--preset NAME] [--workload NAME] [flags]   (flags override the "
                                 "preset's values)\nworkloads and their presets:\n", prog);
    for (int i = 0; i < nworkloads && at < n; i++) {
        at += (size_t)snprintf(buf + at, n - at, "  %-14s %s; presets:", workloads[i]->name, workloads[i]->about);
        for (int k = 0; k < workloads[i]->npresets && at < n; k++)
            at += (size_t)snprintf(buf + at, n - at, " %s%s", workloads[i]->presets[k].name,
                                   strcmp(workloads[i]->presets[k].name, workloads[i]->default_preset) ? "" :
                                   " (default)");
        if (at < n) at += (size_t)snprintf(buf + at, n - at, "\n");
    }
}

// All online cores, shared among the MPI ranks on this node when mpirun started several (its environment says how
// many, before MPI starts): 2 ranks on 8 cores take 4 threads each.
static int default_threads(void) {
    int cores = (int)sysconf(_SC_NPROCESSORS_ONLN), ranks = 1;
    if (!getenv("NNOPT_NO_MPI")) { // a sweep's runs are single processes (tools/sweep.c)
        const char *local = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
        if (!local) local = getenv("MPI_LOCALNRANKS"); // MPICH's name
        if (local && atoi(local) > 1) ranks = atoi(local);
    }
    return cores / ranks >= 1 ? cores / ranks : 1;
}

static void check_common(RunConfig *cfg) {
    train_setup_check(&cfg->setup, cfg->ops->has_valid);
    if (cfg->threads == 0) cfg->threads = default_threads();
    NN_CHECK(cfg->batch % cfg->grad_blocks == 0, "--grad-blocks %d does not divide --batch %d into equal blocks",
             cfg->grad_blocks, cfg->batch);
    NN_CHECK(cfg->grad_blocks == 1 || cfg->ops->train_block, "--grad-blocks %d: the workload %s trains only with "
             "--grad-blocks 1 (its batch cannot be split into blocks yet)", cfg->grad_blocks, cfg->ops->name);
    if (!cfg->batch_sizes.n) cfg->batch_sizes.v[cfg->batch_sizes.n++] = cfg->batch;
    if (!cfg->eta.n) cfg->eta.v[cfg->eta.n++] = cfg->setup.clip > 0 ? cfg->setup.clip : 1.0;
    for (int i = 0; i < cfg->stats_epochs.n; i++)
        NN_CHECK(cfg->stats_epochs.v[i] <= cfg->epochs, "--stats-epochs %d: the run has only %d epochs (--epochs)",
                 cfg->stats_epochs.v[i], cfg->epochs);
    if (!cfg->out) {
        snprintf(cfg->out_default, sizeof cfg->out_default, "runs/%s%s", cfg->ops->out_prefix, cfg->preset);
        cfg->out = cfg->out_default;
    }
}

void run_config_parse(RunConfig *cfg, int argc, char **argv, const char *prog, const char *workload) {
    memset(cfg, 0, sizeof *cfg);
    const char *wname = find_arg(argc, argv, "workload");
    NN_CHECK(!wname || !workload || strcmp(wname, workload) == 0, "%s trains the workload %s, not %s: use nnopt train",
             prog, workload, wname);
    const WorkloadOps *given = wname ? workload_find(wname) : workload ? workload_find(workload) : NULL;
    const char *preset = find_arg(argc, argv, "preset");
    int help = 0;
    for (int i = 1; i < argc; i++) help |= strcmp(argv[i], "--help") == 0;
    if (!preset && !given && help) { // the general usage: the trainer's flags and every workload's
        char head[4096];
        usage_head(head, sizeof head, prog);
        FlagTable t[16] = {{run_flags, (int)(sizeof run_flags / sizeof run_flags[0]), NULL, "training"}};
        for (int i = 0; i < nworkloads && i < 15; i++)
            t[i + 1] = (FlagTable){workloads[i]->flags, workloads[i]->nflags, NULL, workloads[i]->name};
        flags_usage(stdout, t, nworkloads < 15 ? nworkloads + 1 : 16, prog, head);
        exit(0);
    }
    if (!preset) {
        NN_CHECK(given, "%s: name a --preset (or a --workload); see %s --help", prog, prog);
        preset = given->default_preset;
    }
    cfg->ops = workload_of_preset(preset, given);
    cfg->preset = workload_preset(cfg->ops, preset)->name;
    cfg->wl = nn_malloc(cfg->ops->config_size);
    memset(cfg->wl, 0, cfg->ops->config_size);
    FlagTable t[FLAG_MAX_TABLES];
    int nt = run_config_tables(cfg, t);
    flags_defaults(t, nt);
    cfg->flag_texts[0] = apply_flag_text(t, nt, cfg->ops->defaults, cfg->ops->name);
    cfg->flag_texts[1] = apply_flag_text(t, nt, workload_preset(cfg->ops, preset)->flags, preset);
    char head[4096];
    usage_head(head, sizeof head, prog);
    flags_parse(t, nt, argc, argv, (const char *const[]){"preset", "workload", NULL}, prog, head);
    check_common(cfg);
    if (cfg->ops->check) cfg->ops->check(cfg);
}

void run_config_free(RunConfig *cfg) {
    free(cfg->wl), free(cfg->flag_texts[0]), free(cfg->flag_texts[1]);
    cfg->wl = NULL, cfg->flag_texts[0] = cfg->flag_texts[1] = NULL;
}

void run_config_add_json(const RunConfig *cfg, cJSON *obj) {
    NN_CHECK(cJSON_AddStringToObject(obj, "workload", cfg->ops->name) && cJSON_AddStringToObject(obj, "preset",
             cfg->preset), "out of memory");
    FlagTable t[FLAG_MAX_TABLES];
    flags_to_json(t, run_config_tables(cfg, t), obj);
}

char *run_config_json(const RunConfig *cfg) {
    cJSON *obj = cJSON_CreateObject();
    NN_CHECK(obj, "out of memory");
    run_config_add_json(cfg, obj);
    char *text = cJSON_PrintUnformatted(obj);
    NN_CHECK(text, "out of memory");
    cJSON_Delete(obj);
    return text;
}

int run_config_may_change(const RunConfig *cfg, char (*store)[FLAG_KEY_MAX], const char **keys, int max) {
    FlagTable t[FLAG_MAX_TABLES];
    return flags_resumable_keys(t, run_config_tables(cfg, t), store, keys, max);
}

void run_config_print(FILE *out, const RunConfig *cfg) {
    char *json = run_config_json(cfg);
    fprintf(out, "config %s\n", json);
    free(json);
}

int run_config_stats_due(const RunConfig *cfg, int epoch) {
    if (cfg->stats_epochs.all) return 1;
    for (int i = 0; i < cfg->stats_epochs.n; i++)
        if (cfg->stats_epochs.v[i] == epoch) return 1;
    return 0;
}

int run_config_max_stats_batch(const RunConfig *cfg) {
    int b = 1;
    for (int i = 0; i < cfg->batch_sizes.n; i++) b = cfg->batch_sizes.v[i] > b ? cfg->batch_sizes.v[i] : b;
    return b;
}
