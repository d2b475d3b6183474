// The instruments' figures of a run directory, from its CSVs: the exact statistics' (mean_cos.png, norm_ratio.png,
// the noise figures of tools/noise_plots.h) and the smoothness cloud (smoothness.png). `nnopt gradstats` draws them
// at its end; `nnopt figures DIR` draws them for any finished run, e.g. one of `nnopt train --stats-epochs
// --smooth-every`, which does not, or again after gnuplot was installed.
#ifndef TOOLS_FIGURES_H
#define TOOLS_FIGURES_H

#include <stddef.h>

// The exact statistics' figures into dir/gradstats.gp (and PNGs when gnuplot is installed); label: the run's
// preset, optimizer, lr and clip for the titles.
void figures_gradstats(const char *dir, const char *label, const int *batch_sizes, int nb);
// The titles' description of a run: "preset, optim lr X clip Y".
void figures_label(char *buf, size_t size, const char *preset, const char *optim, double lr, double clip);
int cmd_figures(int argc, char **argv);

#endif
