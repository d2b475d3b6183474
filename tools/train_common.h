// What every training tool shares, whatever the model: the optimisation flags (optimizer, learning rate and its
// schedule, clipping, sampling order), their parsing and checks, the clip-then-step tail of a training step with its
// online statistics, and the divergence test and report. train-lm and train-cifar use it.
#ifndef TOOLS_TRAIN_COMMON_H
#define TOOLS_TRAIN_COMMON_H

#include "data/sampler.h"
#include "nn/params.h"
#include "optim/clip.h"
#include "optim/gradstats.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>

#define EXIT_NONFINITE 3 // the exit status of a run that diverged (train_diverged)

typedef struct {
    float lr, clip;
    const char *clip_mode;   // norm | torch | tensor | value (optim/clip.h)
    const char *optim, *optim_args;
    const char *schedule;    // constant | step | multistep | cosine | plateau (optim/schedule.h)
    int decay_start;         // step: lr constant through this epoch, then times `decay` per epoch
    float decay;
    const char *milestones;  // multistep: epochs after which lr is multiplied by gamma
    float gamma;
    long warmup;             // cosine: linear warm-up steps, then cosine decay to min_lr at the last step
    float min_lr;
    float plateau_factor;    // plateau: lr divided by this after an epoch whose validation loss did not improve
    const char *order;       // cyclic | shuffle | replace (data/sampler.h)
} TrainSetup;

// The getopt_long entries of the shared flags, with the codes code, code + 1, ...: distinct codes, so that getopt_long
// refuses an ambiguous abbreviation (--mi: --milestones or --min-lr?) instead of taking the first match. A tool
// reserves TRAIN_SETUP_NFLAGS codes from `code`, puts TRAIN_SETUP_OPTIONS(code) in its option table (and
// TRAIN_PLATEAU_OPTION(code) when it has a validation split), and hands (options[longindex].name, optarg) of every
// code in that range to train_setup_flag.
#define TRAIN_SETUP_NFLAGS 14
#define TRAIN_SETUP_OPTIONS(code)                                                                                 \
    {"lr", required_argument, 0, (code)}, {"clip", required_argument, 0, (code) + 1},                             \
    {"clip-mode", required_argument, 0, (code) + 2}, {"optim", required_argument, 0, (code) + 3},                 \
    {"optim-args", required_argument, 0, (code) + 4}, {"schedule", required_argument, 0, (code) + 5},             \
    {"decay-start", required_argument, 0, (code) + 6}, {"decay", required_argument, 0, (code) + 7},               \
    {"milestones", required_argument, 0, (code) + 8}, {"gamma", required_argument, 0, (code) + 9},                \
    {"warmup", required_argument, 0, (code) + 10}, {"min-lr", required_argument, 0, (code) + 11},                 \
    {"order", required_argument, 0, (code) + 12}
#define TRAIN_PLATEAU_OPTION(code) {"plateau-factor", required_argument, 0, (code) + 13}

// Sets the field of flag `name` (without "--") from `value`; fatal on a value out of range.
void train_setup_flag(TrainSetup *s, const char *name, const char *value);
// Checks every name (optimizer and its arguments, clip mode, schedule, milestones, order) before any data is read,
// so bad input fails at once; fatal with what is accepted. allow_plateau: whether the tool has a validation split.
void train_setup_check(const TrainSetup *s, int allow_plateau);
// "\"lr\": 0.1, ..." (no braces), for the config JSON; returns the length. plateau_factor is written only when
// allow_plateau: the configurations (and checkpoints) of a tool without a validation split do not carry it.
int train_setup_json(char *buf, size_t n, const TrainSetup *s, int allow_plateau);

// The run's optimizer, schedule (over total_steps steps) and clip mode.
typedef struct {
    Optimizer *opt;
    Schedule sched;
    ClipMode clip_mode;
    Order order;
} TrainParts;

void train_parts_init(TrainParts *t, const TrainSetup *s, long total_steps);
void train_parts_free(TrainParts *t);

typedef struct {
    double loss, norm, cos_prev, cos_update; // mean loss, pre-clip norm, the online cosines (NaN when off)
    float factor;                            // clip factor ||clipped g|| / ||g||
} StepResult;

// The tail of a step, after backward has left the gradient in P->grad and r->loss is set: clip, and, unless the
// loss or gradient is not finite, the optimizer step with the online statistics around it (stats may be NULL).
void train_clip_and_step(StepResult *r, Params *P, TrainParts *t, const TrainSetup *s, GradStats *stats, float lr);

// The loss above which a run has diverged, 10 ln K for K classes (or words): far worse than guessing uniformly
// (ln K), a model that is confidently wrong everywhere and never comes back from there.
double train_loss_limit(int classes);
// Whether the step diverged: a non-finite loss or gradient norm, or a loss above `limit` (train_loss_limit).
int train_diverged(const StepResult *r, double limit);
// Prints the divergence error for step `step` (counting from 1) on stderr: what diverged and a hint, and, when
// `checkpoint` (may be NULL) exists, that it is the last good one and untouched (a diverged step is never saved).
void train_report_divergence(const StepResult *r, long step, int epoch, double limit, const char *limit_name,
                             const char *checkpoint);

// x as "%.<digits>f" into buf, or "null" when x is not finite (JSON has no NaN); returns buf.
const char *json_num(char *buf, size_t n, int digits, double x);

#endif
