// `nnopt compare`'s methods and its report: the summary table (Markdown, also printed), summary.md and the gnuplot
// figures (loss against step, the workload's last evaluation column against epoch, the exact statistics).
#ifndef TOOLS_COMPARE_H
#define TOOLS_COMPARE_H

#include "run_config.h"
#include "trainer.h"

typedef struct {
    const char *name, *optim; // directory / label, optimizer
    float lr, clip;
    int all_batch_sizes;      // exact statistics for every --batch-sizes entry (else the training batch only)
} Method;

#define NMETHODS 4

// The table of the four methods' results (as Markdown) into f.
void write_table(FILE *f, const Method *m, const TrainResult *r, int nm, const WorkloadOps *ops);
// plots.gp in out, for the methods' CSVs; the exact statistics' figures from method stats_method's run.
void write_plots(const char *out, const Method *m, int nm, const RunConfig *cfg, int stats_method);
// summary.md in base->out (the table, the shared configuration), and the table on stdout.
void write_summary_md(const RunConfig *base, const Method *methods, const TrainResult *res, long steps);

#endif
