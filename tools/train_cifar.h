// One CIFAR-10 training run (`nnopt train-cifar`): a ResNet trained with SGD-family optimizers on augmented
// batches, evaluated on the test split after every epoch with the batchnorm running statistics.
#ifndef TOOLS_TRAIN_CIFAR_H
#define TOOLS_TRAIN_CIFAR_H

#include "cifar_config.h"

#include <stddef.h>

typedef struct {
    int status;                    // 0, EXIT_NONFINITE when the run diverged, 128 + signal when stopped by one
    long steps, diverged_step;     // diverged_step: the step that diverged (else 0)
    double train_loss, train_acc;  // mean over the training batches of the last full epoch
    double test_loss, test_acc;    // after the last epoch (NaN when the run diverged first)
    double test_acc_first1000;     // on the first 1000 test images (NaN when there are not more): in ../shared/data
                                   // these are the lossless ones, the rest carry JPEG error (its README)
    double seconds, train_seconds; // wall time of the whole run, and of the training steps alone
    double clip_rate;              // fraction of steps whose gradient was clipped
    double mean_cos;               // exact mean cosine at the last statistics epoch for the training batch size
} CifarRunResult;

// Trains as configured (continuing cfg.resume when set), writing into cfg.out; returns res->status. argv_text: the
// command line's arguments after the subcommand, NUL-separated (tools/resume.h), saved in checkpoints for --resume;
// NULL: no checkpoints are written (not even on SIGINT/SIGTERM, which still stop the run after the step).
int cifar_train(CifarRunConfig cfg, CifarRunResult *res, const char *argv_text, size_t argv_len);

#endif
