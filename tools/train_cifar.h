// One CIFAR-10 training run (`nnopt train-cifar`): a ResNet trained with SGD-family optimizers on augmented
// batches, evaluated on the test split after every epoch with the batchnorm running statistics.
#ifndef TOOLS_TRAIN_CIFAR_H
#define TOOLS_TRAIN_CIFAR_H

#include "cifar_config.h"

typedef struct {
    int status;                    // 0, or EXIT_NONFINITE when the run diverged
    long steps, diverged_step;     // diverged_step: the step that diverged (else 0)
    double train_loss, train_acc;  // mean over the training batches of the last full epoch
    double test_loss, test_acc;    // after the last epoch (NaN when the run diverged first)
    double seconds, train_seconds; // wall time of the whole run, and of the training steps alone
    double clip_rate;              // fraction of steps whose gradient was clipped
    double mean_cos;               // exact mean cosine at the last statistics epoch for the training batch size
} CifarRunResult;

// Trains as configured, writing into cfg.out; returns res->status.
int cifar_train(CifarRunConfig cfg, CifarRunResult *res);

#endif
