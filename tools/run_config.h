// The configuration of a training run, whatever the workload: the trainer's flags (schedule, optimizer, clipping,
// order, statistics, checkpoints) here, the workload's own (model and data) in cfg->wl. Parsing order: every
// row's default, then the preset's flags, then the command line; later flags win.
#ifndef TOOLS_RUN_CONFIG_H
#define TOOLS_RUN_CONFIG_H

#include "flags.h"
#include "train_common.h"

#include <stdint.h>

struct WorkloadOps;
struct cJSON;

typedef struct {
    const char *preset;
    int epochs;
    long max_steps;          // stop after this many training steps in all (0 = no limit)
    int batch;               // the workload's batch: streams of the LM, images of the ResNet
    int grad_blocks;         // the step's gradient: the mean of this many block gradients (tools/dist.h)
    TrainSetup setup;        // optimizer, lr, schedule, clipping, order
    uint64_t seed;
    int threads;             // 0 = all online cores (resolved by run_config_parse)
    const char *data, *out;
    const char *label;       // the run's method in reports (nnopt sweep's method name); "": none given
    int grad_stats;          // the per-step online cosines in steps.csv
    // exact statistics (tools/exact_stats.h) at x_k, the parameters after k epochs, for each listed k (or all)
    IntList stats_epochs;
    IntList batch_sizes;     // default: --batch
    DoubleList eta;          // clipping thresholds of the descent quantity; default: --clip, or 1 without clipping
    long smooth_every;       // local smoothness at every this many steps (tools/smoothness.h; 0 = off)
    float smooth_fraction, smooth_gamma, smooth_quantile;
    long save_every;         // write OUT/checkpoint.nnck every this many steps (0 = never)
    int save_epochs;         // ... and at the end of every epoch
    const char *resume;      // checkpoint to continue from (NULL = a fresh run)
    int overwrite;           // a fresh run may replace a finished or stopped run in out
    const struct WorkloadOps *ops; // the workload (tools/workloads/workload.h)
    void *wl;                // its configuration (ops->config_size bytes, its own flag rows)
    char out_default[160];   // runs/<prefix><preset>, when --out is not given
    char *flag_texts[2];     // the workload's defaults and the preset's flags, which string fields point into
} RunConfig;

// Parses argv (after the subcommand): the workload from --workload or the preset's name (workload may name it
// already: the train-lm and train-cifar aliases), defaults, preset, flags, then the checks. Fatal on bad input,
// before any data is read. Free with run_config_free.
void run_config_parse(RunConfig *cfg, int argc, char **argv, const char *prog, const char *workload);
void run_config_free(RunConfig *cfg);
// The flag tables of a parsed configuration (the trainer's, the workload's): for JSON and the resume rules.
int run_config_tables(const RunConfig *cfg, FlagTable *t);
// The configuration as JSON ({"workload": ..., flags...}), malloc'd, unformatted: checkpoints compare it field by
// field (may_change: the resumable keys, NULL-terminated, into keys[0..max)).
char *run_config_json(const RunConfig *cfg);
// The same fields added to obj (a cJSON object) as built, not re-parsed: raw numbers (u64 seeds) keep every digit.
void run_config_add_json(const RunConfig *cfg, struct cJSON *obj);
int run_config_may_change(const RunConfig *cfg, char (*store)[FLAG_KEY_MAX], const char **keys, int max);
void run_config_print(FILE *out, const RunConfig *cfg); // "config {...}"
// Does the run measure exact statistics after `epoch` epochs?
int run_config_stats_due(const RunConfig *cfg, int epoch);
int run_config_max_stats_batch(const RunConfig *cfg); // the largest --batch-sizes entry

#endif
