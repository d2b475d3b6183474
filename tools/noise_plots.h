// Figures of the gradient noise at the exact-statistics points, drawn by `nnopt gradstats`: for each batch size the
// distribution of the noise norms ||g_i - grad f|| over the m batches, divided by their root mean square, at up to
// four measured epochs (the first, the last and two between), as a histogram (noise_hist_b<B>.png, log density)
// and as the fraction of batches above each value (noise_tail_b<B>.png, log-log: a power-law tail of index alpha
// is a straight line of slope -alpha).
// Against them, the two extremes of Gaussian noise with the same covariance trace: isotropic (the norm concentrates
// at the rms, relative spread 1/sqrt(2n)) and rank one (|N(0, 1)| times the rms, the widest and heaviest-tailed
// norm any Gaussian of that trace has). Noise whose norms spread beyond the rank-one curve is not Gaussian.
#ifndef TOOLS_NOISE_PLOTS_H
#define TOOLS_NOISE_PLOTS_H

#include <stdio.h>

// Reads dir/gradstats_batches.csv, writes dir/noise_hist.dat and dir/noise_tail.dat (gnuplot blocks, one per batch
// size and epoch) and appends the figures' commands to the gnuplot script f. Returns the number of figures (0 when
// the file has no rows).
int plot_noise(FILE *f, const char *dir, const int *batch_sizes, int nb, const char *label);

#endif
