// Configuration of a CIFAR-10 run: presets, then command-line flags that override any preset value (as
// tools/lm_config.h for the language model).
#ifndef TOOLS_CIFAR_CONFIG_H
#define TOOLS_CIFAR_CONFIG_H

#include "train_common.h"
#include "models/resnet.h"

#include <stdint.h>
#include <stdio.h>

#define CIFAR_MAX_LIST 8 // entries of --stats-epochs, --batch-sizes, --eta

typedef struct {
    const char *preset;
    const char *model;     // resnet8 | resnet20 | resnet32 (models/resnet.h)
    float width;           // channel multiplier
    int batch, epochs;
    long max_steps;        // stop after this many training steps in all (0 = no limit)
    long train_images;     // train on the first this many training images (0 = all 50,000)
    long test_images;      // evaluate on the first this many test images (0 = all 10,000)
    int augment;           // random crop (4-pixel padding) and horizontal flip of training images
    TrainSetup setup;      // optimizer, lr, schedule, clipping, order
    uint64_t seed;
    int threads;
    const char *data, *out;
    int grad_stats;        // log cos(g, previous g) and cos(g, update) every step
    // exact statistics (tools/cifar_gradstats.h) at x_k, the parameters after k epochs, for each listed k
    int stats_all;                             // every k = 0..epochs
    int nstats_epochs, stats_epochs[CIFAR_MAX_LIST];
    int nbatch_sizes, batch_sizes[CIFAR_MAX_LIST]; // default: --batch
    int neta;                                  // clipping thresholds of the descent quantity; default: --clip
    double eta[CIFAR_MAX_LIST];
    long stats_images;                         // the statistics' data set: the first this many training images
    long save_every;                           // write OUT/checkpoint.nnck every this many steps (0 = never)
    int save_epochs;                           // ... and at the end of every epoch
    const char *resume;                        // checkpoint to continue from (NULL = a fresh run)
} CifarRunConfig;

// Parses argv (after the subcommand) into cfg: --preset first, then every flag on top. Fatal on bad input, before
// any data is read.
void cifar_config_parse(CifarRunConfig *cfg, int argc, char **argv, const char *prog);
void cifar_config_usage(FILE *out, const char *prog);
int cifar_config_json(char *buf, size_t n, const CifarRunConfig *cfg); // a JSON object, returns the length
void cifar_config_print(FILE *out, const CifarRunConfig *cfg);         // "config {...}"
// Does the run measure exact statistics after `epoch` epochs?
int cifar_config_stats_due(const CifarRunConfig *cfg, int epoch);
// The model's configuration with buffers for `batch` images; fatal, naming what to reduce, when it would not fit in
// this machine's memory.
ResNetConfig cifar_config_model(const CifarRunConfig *cfg, int batch);

#endif
