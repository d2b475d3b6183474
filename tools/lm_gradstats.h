// Exact gradient statistics during a language-model run (--stats-epochs): at x_k the full gradient over the
// statistics data set, then for every batch size the per-batch norms and cosines (optim/exactstats.h,
// models/lm_components.h). Writes gradstats.csv (one row per epoch and batch size) and gradstats_batches.csv (one
// row per batch) into the run's directory.
#ifndef TOOLS_LM_GRADSTATS_H
#define TOOLS_LM_GRADSTATS_H

#include "lm_config.h"
#include "runlog.h"

typedef struct {
    const LmRunConfig *cfg;
    LstmLM model;         // a copy of the trained model without dropout, buffers for the largest batch size
    const int *ids;       // the data set: windows * T + 1 training tokens
    long windows;
    double *full;         // [n] the full gradient
    CsvOut epochs, batches;
    double last_mean_cos;  // of the latest measurement with the training batch size (NaN when not measured)
} LmGradStats;

// Fatal when the data set holds fewer windows than the least common multiple of the batch sizes.
// csv_len: the lengths of gradstats.csv and gradstats_batches.csv at a checkpoint being resumed (NULL or -1: new).
void lm_gradstats_open(LmGradStats *g, const LmRunConfig *cfg, int vocab, const int *train_ids, long train_len,
                       const long *csv_len);
// Measures at the parameters of `trained` (after `epoch` epochs), prints one line per batch size and appends
// the rows.
void lm_gradstats_run(LmGradStats *g, const LstmLM *trained, int epoch);
void lm_gradstats_close(LmGradStats *g, int finished); // finished: rename the CSVs into place

#endif
