// What every training step shares, whatever the workload: the optimisation settings (optimizer, learning rate and
// its schedule, clipping, sampling order; their flags are rows of tools/run_config.c) and their checks, the
// clip-then-step tail of a training step with its online statistics, and the divergence test and report.
#ifndef TOOLS_TRAIN_COMMON_H
#define TOOLS_TRAIN_COMMON_H

#include "data/sampler.h"
#include "nn/params.h"
#include "optim/clip.h"
#include "optim/gradstats.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"

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

// Checks every name (optimizer and its arguments, clip mode, schedule, milestones, order) before any data is read,
// so bad input fails at once; fatal with what is accepted. allow_plateau: whether the workload has a validation split.
void train_setup_check(const TrainSetup *s, int allow_plateau);

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
    double noise_scale;                      // the online B_simple (optim/gradstats.h; NaN when off, or clipping
                                             // per tensor or value, which changes the cosine)
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

#endif
