// A workload: a model on its data, everything the one trainer (tools/trainer.c) needs to know of it, as a table of
// function pointers (AlgoPerf's workload API in C). The trainer owns the rest: sampler and orders, schedule,
// clipping, optimizer, online and exact statistics, logging, checkpoints, signals, resume, divergence.
//
// A workload supplies
//   - its flags (model and data), its presets and its evaluation metrics,
//   - the units an epoch is made of (LM: windows of N streams, one per step; CIFAR: images, a batch per step),
//   - the mean loss and gradient of a batch, with the pass kind explicit (nn/pass.h),
//   - the partition of the exact statistics into components f_i and whether f depends on it (batchnorm),
//   - what it adds to a checkpoint (carried LSTM state, batchnorm running statistics, its random streams),
//   - optionally, for --grad-blocks (tools/dist.h), a block of the batch and the state blocks carry or update.
// Adding one: a models/ file, a file here, a row in registry.c; README "Adding a workload".
#ifndef TOOLS_WORKLOADS_WORKLOAD_H
#define TOOLS_WORKLOADS_WORKLOAD_H

#include "nn/checkpoint.h"
#include "nn/params.h"
#include "nn/pass.h"
#include "tools/flags.h"
#include "tools/run_config.h"

#include <stdint.h>

typedef struct {
    const char *name, *fmt; // a CSV column and the printf format of its values
    int higher_is_better;   // an accuracy; 0: a loss, lower is better (what sweeps tune on and reports rank by)
} Column;

#define WL_MAX_METRICS 4

typedef struct {
    double loss;                 // mean loss over the batch
    long examples;               // what the mean is over (tokens, images): the epoch mean's weight, the throughput
    double sums[WL_MAX_METRICS]; // training metrics as sums over the batch's examples (e.g. correct predictions)
} BatchResult;

typedef struct {
    const char *name;  // unique across workloads, except the smoke tests' "tiny" (--workload chooses)
    const char *flags; // its values as flags over the workload's defaults: "--hidden=200 --layers=2 ..."
} Preset;

// Batch i of the exact statistics' partition of M components into m = M / b batches of b:
typedef enum {
    STATS_CONTIGUOUS, // components i*b .. i*b+b-1 (CIFAR: images)
    STATS_STRIDED,    // components s*m + i for s = 0..b-1 (the LM: stream s reads a contiguous stretch of text)
} StatsLayout;

typedef struct Workload Workload; // each workload's own state

#define WL_COUNT(array) ((int)(sizeof(array) / sizeof((array)[0])))

typedef struct WorkloadOps {
    const char *name, *about;
    const char *unit;       // the examples a loss is a mean over: "tokens", "images" (steps.csv: <unit>_per_s)
    const char *out_prefix; // --out defaults to runs/<out_prefix><preset>
    const FlagSpec *flags;  // its own flags, over a struct of config_size bytes (RunConfig.wl)
    int nflags;
    size_t config_size;
    const char *defaults;   // flags applied before a preset's (the trainer's defaults suit no workload exactly)
    const Preset *presets;
    int npresets;
    const char *default_preset; // without --preset
    const char *test_flags; // a run of seconds over 3 epochs: what tests/test_workloads.sh runs for every workload
    const char *loss_exp;   // "ppl": progress and epoch lines also show exp(loss) under this name; NULL: not
    // Training metrics (BatchResult.sums): steps.csv columns (sums / examples of the step) and epochs.csv columns
    // (of the epoch), after the loss
    const Column *step_columns, *train_columns;
    int ntrain;
    const Column *eval_columns; // epochs.csv, after the training ones: evaluate's values; [0] is a mean loss
    int neval;
    int has_valid;              // eval_columns are of a validation split: --schedule plateau may watch [0]
    const Column *final_columns; // measured once at the final parameters (summary.json, the last line)
    int nfinal;
    // Exact statistics
    const char *stats_unit;     // what a component is: "windows", "images"
    const char *stats_about;    // how each f_i is made deterministic, for the log
    int stats_partition_invariant; // f = (1/m) sum_i f_i is the same for every batch size (not with batchnorm)
    StatsLayout stats_layout;

    void (*check)(RunConfig *cfg);             // cross-flag checks, before any data is read (NULL: none)
    // Reads the data and builds the model with buffers for every batch the run uses (training, evaluation, the
    // --batch-sizes, even without --stats-epochs), its parameters drawn from cfg->seed; prints a line on each.
    Workload *(*create)(const RunConfig *cfg);
    void (*destroy)(Workload *w);
    Params *(*params)(Workload *w);
    int (*classes)(const Workload *w);         // K of the divergence limit 10 ln K (the vocabulary, the classes);
                                               // NULL: no limit, only non-finite values diverge
    long (*units)(const Workload *w);          // of an epoch; the trainer's sampler orders them
    int (*units_per_step)(const Workload *w);
    void (*epoch_begin)(Workload *w);          // at the start of every epoch (NULL: nothing)
    // The batch of units ids[0..n) (PASS_TRAIN, PASS_EVAL) or of statistics components (PASS_STATS). PASS_TRAIN and
    // PASS_STATS add the gradient of the mean loss to params->grad (the caller zeroes it).
    BatchResult (*batch)(Workload *w, Pass pass, const long *ids, int n);
    // Block `block` of `nblocks` of the training batch of units ids[0..n) (--grad-blocks; the LSTM: streams
    // block*N/nblocks onwards, each carrying its own state; the Transformer: those sequences of the window; CIFAR:
    // images ids[block*n/nblocks ..]): adds the gradient of the block's mean loss to params->grad. Its random
    // draws (dropout masks, augmentation) come from `seed` alone, so that a block draws the same on whichever MPI
    // rank computes it. NULL: the workload trains only with --grad-blocks 1.
    BatchResult (*train_block)(Workload *w, const long *ids, int n, int block, int nblocks, uint64_t seed);
    // On every rank, before a checkpoint (collective): the state each rank carried for its own blocks, to every
    // rank (tools/dist.h). NULL: the blocks carry nothing.
    void (*share_blocks)(Workload *w);
    // With --grad-blocks, the floats every block updates that are no gradient, as one contiguous vector of *n
    // floats that stays where it is (CIFAR: the running means and variances of every batchnorm layer). Each block
    // would move them from wherever the rank's previous block left them, so a rank's copy would depend on which
    // blocks it computed, that is on P. Instead the trainer starts every block from the step's value and ends the
    // step on the mean of the G blocks' results, added in block order as the gradients are (tools/dist.h): the
    // same vector on every rank, whatever their number, for evaluation and checkpoints. NULL: no such state.
    float *(*block_state)(Workload *w, size_t *n);
    void (*evaluate)(Workload *w, double *out);       // eval_columns' values at the current parameters
    void (*evaluate_final)(Workload *w, double *out); // final_columns' values
    long (*stats_components)(const Workload *w);      // M, before the cut to a multiple of the batch sizes
    void (*stats_begin)(Workload *w);          // save what statistics passes disturb (NULL: nothing)
    void (*stats_end)(Workload *w);            // and restore it: training goes on as if nothing was measured
    void (*save)(const Workload *w, CkptWriter *ck);       // its tensors in a checkpoint (NULL: none)
    void (*load)(Workload *w, CkptReader *ck, const char *path);
} WorkloadOps;

// The registry (registry.c).
extern const WorkloadOps *const workloads[];
extern const int nworkloads;
const WorkloadOps *workload_find(const char *name); // fatal with the list when there is none
// The workload of a preset: the one given (may be NULL) or the only one with that preset; fatal when none has it
// or, without `given`, several do (naming them: --workload chooses).
const WorkloadOps *workload_of_preset(const char *preset, const WorkloadOps *given);
const Preset *workload_preset(const WorkloadOps *ops, const char *preset); // NULL when it has none of that name
// `nnopt workloads`: each workload, what it is and its presets; with --tests, "NAME<TAB>--workload=NAME TEST_FLAGS"
// per line, for the tests that loop over the registry.
int cmd_workloads(int argc, char **argv);

#endif
