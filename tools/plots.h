// gnuplot scripts for the figures nnopt draws (PNG): written next to the CSVs they read, so a user can re-run or
// edit them; drawn only when gnuplot is installed.
#ifndef TOOLS_PLOTS_H
#define TOOLS_PLOTS_H

#include "nn/atomic_file.h"

#include <stdio.h>

// Opens dir/script (written atomically: plot_close puts it in place) and writes the common settings; `by` names
// the command in the header comment.
FILE *plot_open(AtomicFile *gp, const char *dir, const char *script, const char *by);
// s as a gnuplot string literal that reads back as exactly s, whatever its bytes (malloc'd).
char *gp_quote(const char *s);
// The exact statistics' two figures, mean_cos.png and norm_ratio.png (prefixed with `prefix`): the mean cosine
// and the min/max gradient-norm ratio against epoch, one line per batch size, from `csv` (a gradstats.csv, its
// path relative to the script's directory; rows epoch-major with one row per batch size in the order given).
void plot_gradstats(FILE *f, const char *csv, const char *prefix, const char *label, const int *batch_sizes, int nb);
void plot_close(AtomicFile *gp);
// Runs gnuplot on dir/script; returns 1 when the figures were drawn, 0 (with a note) when gnuplot is missing.
int plot_run(const char *dir, const char *script);

#endif
