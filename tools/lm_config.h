// Configuration of a language-model run: presets, then command-line flags that override any preset value.
#ifndef TOOLS_LM_CONFIG_H
#define TOOLS_LM_CONFIG_H

#include "train_common.h"
#include "models/lstm_lm.h"

#include <stdint.h>
#include <stdio.h>

#define LM_MAX_LIST 8 // entries of --stats-epochs, --batch-sizes, --eta

typedef struct {
    const char *preset;
    int hidden, layers, bptt, batch, eval_batch, epochs, tied;
    long max_steps;        // stop after this many training steps in all (0 = no limit)
    long eval_tokens;      // evaluate on the first this many tokens of valid/test (0 = the whole split)
    long train_tokens;     // train on the first this many tokens of the training split (0 = all of it)
    float dropout, init_range;
    TrainSetup setup;      // optimizer, lr, schedule (plateau watches the valid split), clipping, order
    uint64_t seed;
    int threads;
    const char *data, *out;
    int grad_stats;        // log cos(g, previous g) and cos(g, update) every step
    // exact statistics (tools/lm_gradstats.h) at x_k, the parameters after k epochs, for each listed k
    int stats_all;                          // every k = 0..epochs
    int nstats_epochs, stats_epochs[LM_MAX_LIST];
    int nbatch_sizes, batch_sizes[LM_MAX_LIST]; // default: --batch
    int neta;                               // clipping thresholds of the descent quantity; default: --clip
    double eta[LM_MAX_LIST];
    long stats_tokens;                      // the statistics' data set: the first this many train tokens (0 = all)
    long save_every;                        // write OUT/checkpoint.nnck every this many steps (0 = never)
    int save_epochs;                        // ... and at the end of every epoch
    const char *resume;                     // checkpoint to continue from (NULL = a fresh run)
} LmRunConfig;

// Does the run measure exact statistics after `epoch` epochs?
int lm_config_stats_due(const LmRunConfig *cfg, int epoch);

// Parses argv (after the subcommand) into cfg: --preset first, then every flag on top. Fatal on bad input, before
// any data is read.
void lm_config_parse(LmRunConfig *cfg, int argc, char **argv, const char *prog);
void lm_config_usage(FILE *out, const char *prog);
void lm_config_print(FILE *out, const LmRunConfig *cfg); // "config {...}"
int lm_config_json(char *buf, size_t n, const LmRunConfig *cfg); // a JSON object, returns the length
// The model's configuration for a run, its buffers sized for `batch` streams; fatal, naming the flags to `reduce`,
// when the model would not fit in this machine's memory.
LmConfig lm_config_model(const LmRunConfig *cfg, int vocab, int batch, const char *reduce);

#endif
