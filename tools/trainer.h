// The one trainer: every workload trains through this loop (`nnopt train`, and its aliases train-lm and
// train-cifar, gradstats, compare). Per step: the sampler's units -> zero the gradient -> the workload's batch
// (PASS_TRAIN: forward and backward) -> clip -> optimizer step with the online statistics -> log. Per epoch end, in
// one place: evaluate, epochs.csv, summary.json, checkpoint; exact statistics at the start of the epochs they are
// due (and after the last).
#ifndef TOOLS_TRAINER_H
#define TOOLS_TRAINER_H

#include "exact_stats.h"
#include "run_config.h"
#include "run_lock.h"
#include "smoothness.h"
#include "runlog.h"
#include "train_common.h"
#include "workloads/workload.h"

enum { CSV_STEPS, CSV_EPOCHS, CSV_GRADSTATS, CSV_GRADSTATS_BATCHES, CSV_SMOOTHNESS, NCSV };

// Where a run stands between two steps: with the workload's state, optimizer, sampler and schedule, everything a
// checkpoint saves (tools/run_checkpoint.c).
typedef struct {
    int epoch;                          // the epoch in progress (from 1)
    long b;                             // its steps done; 0: the epoch has not started (no statistics, shuffle yet)
    long step;                          // training steps done in all
    long clipped_steps, examples;       // examples: tokens or images trained on, in all
    long epoch_examples;                // this epoch's
    double loss_sum;                    // this epoch's summed training loss (mean loss * examples per step)
    double metric_sums[WL_MAX_METRICS]; // this epoch's training metrics (BatchResult.sums)
    double train_time;                  // seconds spent in training steps
    double elapsed;                     // wall seconds of the run before this process started
    double train_loss;                  // of the last finished epoch (NaN before the first)
    double train_metrics[WL_MAX_METRICS], eval[WL_MAX_METRICS]; // of the last finished epoch
    double last_mean_cos;               // exact statistics' mean cosine at the training batch size (NaN: none)
    float last_lr;                      // the learning rate of the latest step
    double started;                     // wall-clock time (s since 1970) the run's first process started
} Progress;

typedef struct {
    const RunConfig *cfg;
    const WorkloadOps *ops;
    RunLock lock;                       // on cfg->out, from before anything is read or written there
    Workload *w;
    TrainParts parts;                   // optimizer and schedule
    Sampler sampler;                    // over the workload's units
    GradStats stats;                    // the online statistics (when cfg->grad_stats)
    long steps_per_epoch, total_steps;
    int units_per_step;
    long *ids;                          // [units_per_step] the current step's units
    int classes;                        // the workload's, 0 without (tools/workloads/workload.h)
    double loss_limit;                  // a training loss above it is a divergence: 10 ln classes, or infinite
    RunLog log;                         // steps.csv and the progress line
    CsvOut epochs_csv;
    ExactStatsRun exact;
    int exact_on;
    SmoothRun smooth;                   // when cfg->smooth_every > 0
    CsvOut *csv[NCSV];                  // NULL where a file is not written
    Progress p;
    const char *argv_text;              // the command line checkpoints save; NULL: no checkpoints
    size_t argv_len;
    char *ckpt_path;
    int writer;                         // this process writes the files: one process, or MPI rank 0
    int local_blocks;                   // --grad-blocks / ranks: the blocks this rank computes (tools/dist.h)
    float *block_grads;                 // [local_blocks][n] their gradients, when there are several
    BatchResult *block_results;         // [--grad-blocks] every block's result, in block order
    float *state_start, *block_states;  // with blocks, the workload's block_state: [state_n] at the step's start,
    size_t state_n;                     // [local_blocks][state_n] after each local block (NULL: none)
    double t0;                          // when this process started training
    double batch_seconds;               // this process's time in the training batches' forward and backward
                                        // passes, without the ordered block sums (tools/dist.h)
} Run;

typedef struct {
    int status;                         // 0, EXIT_NONFINITE (diverged), or 128 + the signal that stopped it
    long steps, diverged_step;          // diverged_step: the step that diverged (else 0)
    double train_loss;                  // mean training loss of the last full epoch
    double eval[WL_MAX_METRICS];        // the workload's eval_columns after the last epoch
    double final[WL_MAX_METRICS];       // its final_columns at the final parameters (NaN when stopped early)
    double seconds, train_seconds;      // wall time of the whole run, and of the training steps alone
    double clip_rate;                   // fraction of steps whose gradient was clipped
    double mean_cos;                    // exact mean cosine at the last statistics epoch, training batch size
} TrainResult;

// Trains as configured (continuing cfg->resume when set), writing into cfg->out; returns res->status. argv_text
// (NUL-separated, tools/resume.h): the command line that checkpoints save for --resume; NULL: no checkpoints.
int trainer_run(const RunConfig *cfg, TrainResult *res, const char *argv_text, size_t argv_len);

// The checkpoint of a run (tools/run_checkpoint.c): written atomically; loading is fatal, naming the field or tensor,
// for another workload, configuration or a damaged file. csv_len receives the CSV files' lengths (-1: not written).
void run_checkpoint_save(const Run *r, const char *path);
void run_checkpoint_load(Run *r, const char *path, long csv_len[NCSV]);

#endif
