// `nnopt train` (and its aliases train-lm and train-cifar, which name the workload) and `nnopt gradstats`: parse,
// with --resume through the checkpoint's saved command line, then the one trainer.
#define _POSIX_C_SOURCE 200809L
#include "dist.h"
#include "figures.h"
#include "resume.h"
#include "run_checkpoint.h"
#include "train_cmd.h"
#include "nn/check.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    RunConfig *cfg;       // parsed in place: cfg->out may point into it (out_default)
    const char *workload; // the alias's workload, or NULL
} ParseCtx;

static void parse(void *ctx, int argc, char **argv, const char *prog) {
    ParseCtx *c = ctx;
    run_config_parse(c->cfg, argc, argv, prog, c->workload);
}

// The saved command line names its workload, so `nnopt train --resume` finds it whatever command started the run
// (a preset such as "tiny" may belong to several workloads).
static void add_workload_flag(ResumeArgs *a, const RunConfig *cfg) {
    for (size_t i = 0; i < a->len; i += strlen(a->text + i) + 1)
        if (strncmp(a->text + i, "--workload", 10) == 0) return;
    size_t k = strlen("--workload=") + strlen(cfg->ops->name) + 1;
    char *text = nn_malloc(k + a->len);
    snprintf(text, k, "--workload=%s", cfg->ops->name);
    memcpy(text + k, a->text, a->len);
    free(a->text);
    a->text = text, a->len += k;
}

void train_cmd_parse(RunConfig *cfg, ResumeArgs *args, int argc, char **argv, const char *prog, const char *workload) {
    ParseCtx c = {.cfg = cfg, .workload = workload};
    resume_parse(args, &c, parse, argc, argv, prog, RUN_CHECKPOINT_TOOL);
    add_workload_flag(args, cfg);
}

static int train_as(int argc, char **argv, const char *prog, const char *workload) {
    RunConfig cfg;
    ResumeArgs args;
    train_cmd_parse(&cfg, &args, argc, argv, prog, workload);
    TrainResult res;
    int status = trainer_run(&cfg, &res, args.text, args.len);
    run_config_free(&cfg);
    resume_args_free(&args);
    return status;
}

int cmd_train(int argc, char **argv) { return train_as(argc, argv, "nnopt train", NULL); }
int cmd_train_lm(int argc, char **argv) { return train_as(argc, argv, "nnopt train-lm", "ptb-lstm"); }
int cmd_train_cifar(int argc, char **argv) { return train_as(argc, argv, "nnopt train-cifar", "cifar-resnet"); }

static int last_stats_epoch(const RunConfig *c) {
    int last = 0;
    for (int i = 0; i < c->stats_epochs.n; i++) last = c->stats_epochs.v[i] > last ? c->stats_epochs.v[i] : last;
    return last;
}

// `nnopt gradstats`: a training run that measures the exact statistics, by default after every epoch; with a list
// of epochs it trains only as far as the last of them. The flags that implies join the command line its checkpoints
// save, so that `nnopt gradstats --resume` and `nnopt train --resume` both continue it exactly.
int cmd_gradstats(int argc, char **argv) {
    RunConfig cfg;
    char **all = nn_malloc((size_t)(argc + 2) * sizeof(char *)), flag[32];
    memcpy(all, argv, (size_t)argc * sizeof(char *));
    int n = argc, resuming = 0;
    for (int i = 1; i < argc; i++) resuming |= strncmp(argv[i], "--resume", 8) == 0;
    if (!resuming) { // a resumed run's saved command line has these flags already
        all[n] = "--epochs=100000"; // a probe: --stats-epochs may name epochs beyond the preset's, which we set
        run_config_parse(&cfg, n + 1, all, "nnopt gradstats", NULL);
        if (!cfg.stats_epochs.n && !cfg.stats_epochs.all) all[n++] = "--stats-epochs=all";
        else if (last_stats_epoch(&cfg) > 0) snprintf(flag, sizeof flag, "--epochs=%d", last_stats_epoch(&cfg)),
                                             all[n++] = flag;
        run_config_free(&cfg);
    }
    ResumeArgs args;
    train_cmd_parse(&cfg, &args, n, all, "nnopt gradstats", NULL);
    if (cfg.stats_epochs.n && last_stats_epoch(&cfg) == 0) cfg.epochs = 0; // measure at the start, train nothing
    TrainResult res;
    int status = trainer_run(&cfg, &res, args.text, args.len);
    if (!status && dist_rank() == 0) { // rank 0 alone writes
        char label[256];
        figures_label(label, sizeof label, cfg.preset, cfg.setup.optim, cfg.setup.lr, cfg.setup.clip);
        figures_gradstats(cfg.out, label, cfg.batch_sizes.v, cfg.batch_sizes.n);
    }
    run_config_free(&cfg);
    resume_args_free(&args), free(all);
    return status;
}
