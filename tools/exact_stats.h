// The exact gradient statistics of a run (--stats-epochs), for every workload: at x_k the full gradient over the
// statistics data set, then for every batch size the per-batch norms and cosines (optim/exactstats.h). The
// workload partitions its data into components f_i (windows, images); the data set is cut to a multiple of the
// batch sizes' least common multiple, so every batch size partitions the same components. Where f does not depend
// on the partition (the LM), pass 1 runs once with the largest batch size; with batchnorm it runs per batch size.
// Writes gradstats.csv (a row per epoch and batch size) and gradstats_batches.csv (a row per batch).
#ifndef TOOLS_EXACT_STATS_H
#define TOOLS_EXACT_STATS_H

#include "run_config.h"
#include "runlog.h"
#include "workloads/workload.h"

// The statistics data set's components in use, cut to a multiple of the batch sizes, and their partition into
// batches of b (the workload's stats_layout): shared with the smoothness instrument (tools/smoothness.h).
typedef struct {
    const RunConfig *cfg;
    Workload *w;
    long components;       // in use
    long *ids;             // [largest batch size] the components of the current batch
    int b;                 // the batch size
    double loss_sum;       // the batches' mean losses summed since the caller last zeroed it
} StatsBatches;

// Cuts the statistics data set to a multiple of `multiple` (fatal when it has fewer components).
void stats_batches_init(StatsBatches *s, const RunConfig *cfg, Workload *w, long multiple, int max_b);
// The gradient of batch i of the partition into batches of s->b (a BatchGradFn; ctx is the StatsBatches).
const float *stats_batch_grad(void *ctx, long i);
void stats_batches_free(StatsBatches *s);

typedef struct {
    StatsBatches sb;
    double *full;          // [n] the full gradient
    double *chunk_sums;    // [--grad-blocks / ranks][n] this rank's chunks of pass 1 (with --grad-blocks > 1)
    int writer;            // this process writes the CSVs: one process, or MPI rank 0
    CsvOut epochs, batches;
    double last_mean_cos;  // of the latest measurement at the training batch size (NaN when not measured)
} ExactStatsRun;

// With --grad-blocks G, pass 1 adds the batch gradients in G chunks of consecutive batches, each in index order,
// then the chunk sums in chunk order, and pass 2 shares the batches out over the MPI ranks (tools/dist.h): P ranks
// (P dividing G) give one process's bits. G = 1: one chunk, the sum of every earlier release.
// Fatal when the data set has fewer components than the least common multiple of the batch sizes. csv_len: the
// lengths of the two CSVs at a checkpoint being resumed (-1: new files).
void exact_stats_open(ExactStatsRun *g, const RunConfig *cfg, Workload *w, const long csv_len[2]);
// Measures at the current parameters (after `epoch` epochs), prints a line per batch size and appends the rows. The
// parameters and whatever the workload restores in stats_end are as before; the gradient array is overwritten.
void exact_stats_measure(ExactStatsRun *g, int epoch);
void exact_stats_close(ExactStatsRun *g, int finished); // finished: rename the CSVs into place

#endif
