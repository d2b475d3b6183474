// `nnopt sweep`: a grid of training runs, tuned per method and rerun with more seeds.
//
// A sweep is methods (--method NAME, then its flags and --grid axes) over shared flags and shared axes. Its runs:
//   tuning: per method, every point of its grid (the shared axes x its own) at the first seed;
//   seeds:  per method, once its tuning runs have all finished, the best point (on --metric, --select: the
//           workload's first evaluation column, a mean loss, at the last epoch by default; a diverged run ranks
//           last) again at seeds first+1 .. first+K-1 (--seeds K).
// Each run is an ordinary `nnopt train` run with checkpoints, in OUT/<method>/<axis>=<value>,...,seed=<seed>, locked
// while it trains (tools/run_lock.h). The spec is kept in OUT/sweep.json: the same command, or `nnopt sweep --out
// OUT` alone, continues it (finished runs kept, stopped ones resumed, diverged and failed ones not retried).
#ifndef TOOLS_SWEEP_H
#define TOOLS_SWEEP_H

#include "grid.h"

#include <stdint.h>
#include <sys/types.h>

#define SWEEP_MAX_METHODS 32
#define SWEEP_MAX_AXES 8

typedef struct {
    char *name;          // "" in a sweep without --method
    int nflags;
    char **flags;        // its training flags, as given
    int naxes;
    GridAxis axes[SWEEP_MAX_AXES];
} SweepMethod;

// What sweep.json keeps: everything that decides which runs there are.
typedef struct {
    SweepMethod shared;  // name unused: the flags and axes of every method
    int nmethods;
    SweepMethod methods[SWEEP_MAX_METHODS];
    int seeds;           // K: the best setting of each method runs at K seeds in all
    char *metric, *select;
    long max_runs;
} SweepSpec;

typedef enum { RUN_PENDING, RUN_RUNNING, RUN_DONE, RUN_DIVERGED, RUN_FAILED, RUN_ELSEWHERE } RunState;

typedef struct {
    int method, setting; // setting: the point of the method's grid
    int extra_seed;      // 0: the tuning run; k: the best setting at seed first + k
    char *name;          // its directory under OUT: "<method>/<setting>,seed=<seed>"
    char *dir;
    int argc;
    char **argv;         // "train", then its flags (fresh; a resumed run takes its checkpoint's)
    RunState state;
    pid_t pid;
    double started, metric; // metric: once finished
} SweepRun;

// sweep_spec.c
// Parses the spec part of argv (everything but the runtime flags, which `runtime` recognises and consumes: it
// returns how many arguments it took, 0 when argv[i] is not one). Returns whether any spec was given.
int sweep_spec_parse(SweepSpec *s, int argc, char **argv, int (*runtime)(void *ctx, int argc, char **argv, int i),
                     void *ctx);
char *sweep_spec_json(const SweepSpec *s);  // unformatted, malloc'd
void sweep_spec_from_json(SweepSpec *s, const char *json, const char *path); // fatal, naming path, when damaged
void sweep_spec_free(SweepSpec *s);
// The method's grid points: the count, and point p's flags (--axis=value, malloc'd, *n of them) and name.
long sweep_points(const SweepSpec *s, int m);
char **sweep_point_flags(const SweepSpec *s, int m, long p, int *n);
char *sweep_point_name(const SweepSpec *s, int m, long p); // "lr=0.01,optim-args=..." ("" without axes), escaped
int sweep_has_axis(const SweepSpec *s, int m, const char *flag);

#endif
