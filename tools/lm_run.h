// The state of a language-model training run between two steps: everything a checkpoint saves so that a resumed
// run continues exactly (tools/lm_checkpoint.c), and what the training loop (tools/train_lm.c) advances.
#ifndef TOOLS_LM_RUN_H
#define TOOLS_LM_RUN_H

#include "lm_config.h"
#include "runlog.h"
#include "train_common.h"
#include "data/sampler.h"
#include "models/lstm_lm.h"
#include "optim/gradstats.h"

enum { LM_CSV_STEPS, LM_CSV_EPOCHS, LM_CSV_GRADSTATS, LM_CSV_GRADSTATS_BATCHES, LM_NCSV };

typedef struct {
    int epoch;              // the epoch in progress (from 1)
    long w;                 // its windows done; 0 = the epoch has not started (no statistics, reset, shuffle yet)
    long step;              // training steps done in all
    long clipped_steps, train_tokens, loss_tokens;
    double loss_sum;        // this epoch's summed training loss
    double train_time;      // seconds spent in training steps
    double elapsed;         // wall seconds of the run before this process started (a resumed run adds its own)
    double valid_ppl, epoch_loss, last_mean_cos;
    float last_lr;
} LmProgress;

typedef struct {
    LstmLM *model;
    TrainParts *parts;      // optimizer and schedule (the plateau schedule's memory)
    Rng *drop_rng;
    Sampler *sampler;
    GradStats *stats;       // NULL when the online statistics are off
    int batch;              // N of training: the carried LSTM state is [L, N, H]
    CsvOut *csv[LM_NCSV];   // NULL where a file is not written
    LmProgress p;
} LmRun;

// Writes everything to `path` atomically (temporary file, fsync, rename). argv_text: the command line's
// arguments after the subcommand, NUL-separated, that --resume parses again.
void lm_checkpoint_save(const char *path, const LmRun *run, const LmRunConfig *cfg, const char *argv_text,
                        size_t argv_len);
// Restores into a run built from the same configuration; fatal, naming the field or tensor, when the checkpoint
// belongs to another model, optimizer or configuration. csv_len receives the CSV files' lengths at the checkpoint
// (-1: not written), for csv_open_at.
void lm_checkpoint_load(const char *path, LmRun *run, const LmRunConfig *cfg, long csv_len[LM_NCSV]);

#endif
