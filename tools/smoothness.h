// Local smoothness along the training trajectory (--smooth-every K), as Zhang, He, Sra and Jadbabaie (2020, "Why
// gradient clipping accelerates training", Fig. 1; their code's eval_smooth) estimate it: at every K-th step t,
// with Delta = x_{t+1} - x_t the update the optimizer actually made (whatever the optimizer: an adaptive step is not
// -lr g, so the step is taken from the parameters, not from the gradient),
//     L^_t = ||grad f_S(x_t + gamma Delta) - grad f_S(x_t)|| / (gamma ||Delta||),   gamma = --smooth-gamma (1/2),
// f_S the mean loss over a fixed subset S of the statistics data set (--smooth-fraction of its batches, 10% as in
// their code; the same deterministic components as the exact statistics: no dropout or augmentation). Each
// measurement is two gradients over S, at x_t and at the point on the update; the training run goes on from x_{t+1}
// unchanged (the workload's state saved and restored as for the exact statistics), so a run's steps are the same
// with or without it.
// smoothness.csv: step,epoch,grad_norm (||grad f_S(x_t)||),step_norm (||Delta||),smoothness (L^),loss (f_S(x_t)),
// seconds. At the end the (L0, L1) envelope (optim/smooth_fit.h) goes to summary.json and smoothness.png draws the
// log-log cloud coloured by step.
#ifndef TOOLS_SMOOTHNESS_H
#define TOOLS_SMOOTHNESS_H

#include "exact_stats.h"
#include "runlog.h"
#include "optim/smooth_fit.h"

typedef struct {
    StatsBatches sb;  // batches of the largest --batch-sizes entry
    long batches;     // |S| in batches: the first of the partition (the LM's strided layout spreads them over the text)
    float *x_before, *x_after; // [n] x_t and x_{t+1}
    double *grad0, *grad1;     // [n] grad f_S at x_t and at x_t + gamma Delta
    CsvOut csv;
} SmoothRun;

// csv_len: smoothness.csv's length at the checkpoint being resumed (-1: a new file).
void smoothness_open(SmoothRun *s, const RunConfig *cfg, Workload *w, long csv_len);
int smoothness_due(const SmoothRun *s, long step); // step: the steps done before this one
void smoothness_before_step(SmoothRun *s);         // keeps x_t
// After the step (x_{t+1} in the parameters): measures, appends the row, and leaves x_{t+1} as it was.
void smoothness_after_step(SmoothRun *s, long step, int epoch);
// The envelope of the rows written so far (re-read from the file: a resumed run's earlier rows count).
SmoothFit smoothness_fit(const SmoothRun *s);
// The envelope of the rows of a smoothness.csv, at that quantile.
SmoothFit smoothness_fit_file(const char *path, float quantile);
// dir/smoothness.gp and, when gnuplot is installed, smoothness.png: the cloud of dir/smoothness.csv and the envelope.
void smoothness_draw(const char *dir, const SmoothFit *f, const char *label);
// finished: renames the CSV into place and draws the figure (when gnuplot is installed).
void smoothness_close(SmoothRun *s, int finished, const char *label);

#endif
