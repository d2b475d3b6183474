// A finished (or diverged) run as sweeps and reports read it back from its directory: summary.json, epochs.csv and
// steps.csv. The metric a run is ranked by is one of its workload's evaluation columns, at the last epoch ("final")
// or its best epoch ("best"); a diverged run ranks last.
#ifndef TOOLS_RUN_RESULT_H
#define TOOLS_RUN_RESULT_H

#include "workloads/workload.h"

#include <stdint.h>

struct cJSON;

typedef struct {
    const WorkloadOps *ops; // the workload the metric belongs to
    int column;             // its eval_columns index
    int best;               // 1: the best epoch's value; 0: the last epoch's
} Metric;

// The metric NAME ("" or NULL: eval_columns[0], a mean loss) of ops, ranked at select "final" or "best"; fatal,
// listing the columns, when the workload has no such column.
Metric metric_of(const WorkloadOps *ops, const char *name, const char *select);
// a better than b (a diverged run's value is the worst there is: +inf for a loss, -inf for an accuracy)
int metric_better(const Metric *m, double a, double b);
double metric_worst(const Metric *m);

typedef struct {
    char *dir;
    char *status;           // "done", "diverged", "running", "stopped"
    char *label;            // the config's label, or its optimizer (+"-clip" when clipping)
    const WorkloadOps *ops;
    struct cJSON *summary;  // the whole summary.json
    struct cJSON *config;   // its "config" object (owned by summary)
    char seed[24];          // as written (a u64 keeps every digit)
    double lr;
    long steps;
    double wall_seconds, clip_rate, mean_cos; // mean_cos: NaN when no exact statistics were measured
    // epochs.csv: per epoch the step, wall seconds, training loss and every evaluation column
    int nepochs;
    long *epoch_step;
    double *epoch_seconds, *epoch_train_loss, *epoch_eval; // epoch_eval[e * neval + k]
} RunResult;

// Reads dir's summary.json and epochs.csv. Returns 0, or -1 (with why in err) when dir holds no readable run;
// fatal on nothing (reports skip what they cannot read, and say so).
int run_result_read(RunResult *r, const char *dir, char *err, size_t errcap);
// run_result_read's parsers, on texts in memory (the fuzzers call them): summary.json's text, of the run in dir (for
// messages), returning as run_result_read does; then, once it returned 0, epochs.csv's text.
int run_result_parse(RunResult *r, const char *dir, const char *summary_json, char *err, size_t errcap);
void run_result_parse_epochs(RunResult *r, const char *csv);
void run_result_free(RunResult *r);
int run_result_finished(const RunResult *r); // done or diverged
// The run's value of m: final or best over its epochs; metric_worst for a diverged run or one without epochs.
double run_result_metric(const RunResult *r, const Metric *m);
// Steps and wall seconds until m first reached target (at an epoch's end); -1 when it never did.
int run_result_time_to(const RunResult *r, const Metric *m, double target, long *step, double *seconds);

// The best of n settings, each run at some seeds: values[i] the metric of run i, setting[i] its setting (0..ns),
// seed[i] its seed. A setting's score is its mean over the seeds that every setting was run at (a tuning sweep's
// first seed), or over all of its seeds when no seed is common to all; the best score wins, ties to the lower
// index. Returns the setting, or -1 when ns is 0.
int choose_setting(const Metric *m, const double *values, const int *setting, const char (*seed)[24], int n, int ns);

#endif
