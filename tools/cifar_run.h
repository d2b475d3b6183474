// The state of a CIFAR-10 training run between two steps: everything a checkpoint saves so that a resumed run
// continues exactly (tools/cifar_checkpoint.c), and what the training loop (tools/train_cifar.c) advances. The
// language model's counterpart is tools/lm_run.h.
#ifndef TOOLS_CIFAR_RUN_H
#define TOOLS_CIFAR_RUN_H

#include "cifar_config.h"
#include "runlog.h"
#include "train_common.h"
#include "data/sampler.h"
#include "models/resnet.h"
#include "optim/gradstats.h"

#include <stddef.h>

enum { CIFAR_CSV_STEPS, CIFAR_CSV_EPOCHS, CIFAR_CSV_GRADSTATS, CIFAR_CSV_GRADSTATS_BATCHES, CIFAR_NCSV };

typedef struct {
    int epoch;               // the epoch in progress (from 1)
    long b;                  // its batches done; 0 = the epoch has not started (no statistics, shuffle yet)
    long step;               // training steps done in all
    long clipped_steps, train_images;
    long correct, seen;      // this epoch's correct training predictions and images
    double loss_sum;         // this epoch's summed training loss (mean loss * images per batch)
    double train_time;       // seconds spent in training steps
    double elapsed;          // wall seconds of the run before this process started (a resumed run adds its own)
    double train_loss, train_acc, test_loss, test_acc; // of the last finished epoch (NaN before the first)
    double last_mean_cos;    // exact statistics' mean cosine at the training batch size (NaN when not measured)
    float last_lr;           // the learning rate of the latest step
} CifarProgress;

typedef struct {
    ResNet *model;           // params and the batchnorm running statistics (model->stats)
    TrainParts *parts;       // optimizer and schedule
    Rng *aug_rng;            // the augmentation stream
    Sampler *sampler;        // over the training images
    GradStats *stats;        // NULL when the online statistics are off
    int batch;               // N of training
    CsvOut *csv[CIFAR_NCSV]; // NULL where a file is not written
    CifarProgress p;
} CifarRun;

// Writes everything to `path` atomically (temporary file, fsync, rename). argv_text: the command line's arguments
// after the subcommand, NUL-separated, that --resume parses again (tools/resume.h).
void cifar_checkpoint_save(const char *path, const CifarRun *run, const CifarRunConfig *cfg, const char *argv_text,
                           size_t argv_len);
// Restores into a run built from the same configuration; fatal, naming the field or tensor, when the checkpoint
// belongs to another model, optimizer or configuration, or is damaged. csv_len receives the CSV files' lengths at
// the checkpoint (-1: not written), for csv_open_at.
void cifar_checkpoint_load(const char *path, CifarRun *run, const CifarRunConfig *cfg, long csv_len[CIFAR_NCSV]);

#endif
