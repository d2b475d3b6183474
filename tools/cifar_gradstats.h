// Exact gradient statistics during a CIFAR-10 run (--stats-epochs), as tools/lm_gradstats.h for the language
// model: at x_k, for every batch size B, the full gradient and the per-batch norms and cosines
// (optim/exactstats.h), with the same gradstats.csv and gradstats_batches.csv columns.
//
// The data set is the first --stats-images training images (cut to a multiple of every batch size), without
// augmentation, in a fixed partition: batch i is images i*B .. i*B+B-1. Batchnorm runs in training mode, so each
// g_i is exactly the gradient training would compute on that batch. The batch statistics make f_i depend on the
// batch's other images, so the objective f = (1/m) sum_i f_i depends on B: each batch size gets its own full
// gradient (pass 1) before its per-batch pass 2, and full_grad_norm differs between batch sizes. Training-mode
// forwards also move the running statistics: they are saved before a measurement and restored after it, so the run
// continues (and evaluates) exactly as without the measurement.
#ifndef TOOLS_CIFAR_GRADSTATS_H
#define TOOLS_CIFAR_GRADSTATS_H

#include "cifar_config.h"
#include "runlog.h"
#include "data/cifar10.h"

typedef struct {
    const CifarRunConfig *cfg;
    const CifarSet *set;   // the training images; the statistics use the first `images`
    const CifarStats *norm; // per-channel normalisation
    long images;
    double *full;          // [n] the full gradient
    float *x;              // [bmax,3,32,32]
    int *y;                // [bmax]
    long *idx;             // [bmax]
    float *saved;          // [running statistics] saved around a measurement
    CsvOut epochs, batches;
    double last_mean_cos;  // of the latest measurement with the training batch size (NaN when not measured)
} CifarGradStats;

// The model's buffers must hold the largest of cfg->batch_sizes. Fatal when the data set holds fewer images than
// the least common multiple of the batch sizes. csv_len: the lengths of gradstats.csv and gradstats_batches.csv at a
// checkpoint being resumed (NULL or -1: new files), which they are cut back to (csv_open_at).
void cifar_gradstats_open(CifarGradStats *g, const CifarRunConfig *cfg, const CifarSet *train,
                          const CifarStats *norm, const ResNet *m, const long *csv_len);
// Measures at m's parameters (after `epoch` epochs), prints one line per batch size and appends the rows. m's
// parameters and running statistics are as before on return; its gradient array is overwritten.
void cifar_gradstats_run(CifarGradStats *g, ResNet *m, int epoch);
void cifar_gradstats_close(CifarGradStats *g, int finished); // finished: rename the CSVs into place

#endif
