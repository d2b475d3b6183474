// summary.json: a run's status, configuration and results, written atomically through cJSON after every epoch
// ("running") and at the end ("done", "diverged", "stopped"). Keys: status, workload, preset, config, parameters,
// steps, train_loss_last_epoch, train_<metric>_last_epoch, the workload's evaluation columns (of the last epoch) and
// final columns, clipped_steps, exact_mean_cos, wall_seconds, train_<unit>_per_s, provenance (tools/provenance.h:
// commit, build, CPU, BLAS, threads, seed, times, command lines). Non-finite values are null.
#ifndef TOOLS_SUMMARY_H
#define TOOLS_SUMMARY_H

#include "trainer.h"

// res: the final results, or NULL while the run goes on (the final columns are then null).
void summary_write(const Run *r, const TrainResult *res, const char *status);

#endif
