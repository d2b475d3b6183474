// The workload "toy-sum": the clipping literature's toy objectives as finite sums (models/poly_sum.h), so that
// every trainer feature runs on them: orders (cyclic = the incremental gradient method), clipping modes, every
// optimizer and schedule, the exact statistics over the components f_i, checkpoints and resume. Units are the
// components, --batch of them per step. Presets: example1 (Qian et al. 2021, Example 1), l0l1 (the (L0,L1)-smooth
// polynomial, clipped GD), nqm (a noisy quadratic), tiny (a small noisy quadratic for the tests).
#include "tools/workloads/workload.h"
#include "models/poly_sum.h"
#include "nn/check.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *problem;  // example1 | l0l1 | nqm
    int dim;              // nqm: d
    long components;      // nqm: m
    float cond, noise;    // nqm: curvatures from 1 down to 1/cond; the centres' standard deviation
    float x0;             // every coordinate's starting point
} ToyConfig;

#define F(field) offsetof(ToyConfig, field)
static const FlagSpec toy_flags[] = {
    {"problem", FLAG_STRING, F(problem), 0, 0, "nqm", 0, "NAME",
     "example1 (f1 = f2 = -x^2, f3 = 5x^2) | l0l1 (x^4/4 + x^2/2) | nqm (a noisy quadratic)"},
    {"dim", FLAG_INT, F(dim), 1, 1 << 24, "100", 0, "N", "nqm: dimension d"},
    {"components", FLAG_LONG, F(components), 2, 1L << 30, "1000", 0, "N", "nqm: components m of the sum"},
    {"cond", FLAG_FLOAT, F(cond), 1, 1e12, "100", 0, "X", "nqm: condition number (curvatures 1 .. 1/X)"},
    {"noise", FLAG_FLOAT, F(noise), 0, 1e6, "1", 0, "X", "nqm: standard deviation of the components' centres"},
    {"x0", FLAG_FLOAT, F(x0), -1e6, 1e6, "1", 0, "X", "starting point of every coordinate"},
};
#undef F

static const char toy_defaults[] = "--optim=sgd --optim-args= --schedule=constant --clip=0 --clip-mode=norm "
                                   "--order=shuffle --batch=1";

static const Preset toy_presets[] = {
    // 300 steps of SGD from x0 = 1 at step 0.01, as `nnopt toy`; add --clip 2 (drifts away) or --order cyclic (IGC)
    {"example1", "--problem=example1 --x0=1 --lr=0.01 --epochs=100"},
    // clipped gradient descent x -= min(1, 1/|f'|) f' from 10.3: converges where a fixed step 1 diverges
    {"l0l1", "--problem=l0l1 --x0=10.3 --lr=1 --clip=1 --order=cyclic --epochs=100"},
    {"nqm", "--problem=nqm --dim=100 --components=1000 --cond=100 --noise=1 --batch=10 --lr=0.5 --epochs=20"},
    {"tiny", "--problem=nqm --dim=8 --components=64 --cond=10 --noise=1 --batch=8 --lr=0.5 --epochs=3"},
};

static const Column toy_eval[] = {{"full_loss", "%.9g", 0}, {"x_norm", "%.6g", 0}};
static const Column toy_final[] = {{"full_grad_norm", "%.6g", 0}};

struct Workload {
    PolySum sum;
    int batch;
};

static void toy_check(RunConfig *cfg) {
    const char *p = ((const ToyConfig *)cfg->wl)->problem;
    NN_CHECK(p && (!strcmp(p, "example1") || !strcmp(p, "l0l1") || !strcmp(p, "nqm")),
             "--problem '%s': accepted example1, l0l1, nqm", p ? p : "");
}

static Workload *toy_create(const RunConfig *cfg) {
    const ToyConfig *c = cfg->wl;
    Workload *w = nn_calloc(1, sizeof *w);
    w->batch = cfg->batch;
    if (!strcmp(c->problem, "example1")) poly_sum_example1(&w->sum);
    else if (!strcmp(c->problem, "l0l1")) poly_sum_l0l1(&w->sum);
    else {
        Rng rng;
        rng_seed(&rng, cfg->seed ^ 0x70726f626c656dull); // its own stream: "problem"
        poly_sum_nqm(&w->sum, c->dim, c->components, c->cond, c->noise, &rng);
    }
    NN_CHECK(w->batch <= w->sum.m, "--batch %d: the sum has only %ld components", w->batch, w->sum.m);
    float *x = params_ptr(&w->sum.params, 0);
    for (int j = 0; j < w->sum.dim; j++) x[j] = c->x0;
    printf("model: %s, %d dimension%s, %ld components, x0 = %g\n", c->problem, w->sum.dim, w->sum.dim > 1 ? "s" : "",
           w->sum.m, c->x0);
    return w;
}

static void toy_destroy(Workload *w) {
    poly_sum_free(&w->sum);
    free(w);
}

static Params *toy_params(Workload *w) { return &w->sum.params; }
static long toy_units(const Workload *w) { return w->sum.m; }
static int toy_units_per_step(const Workload *w) { return w->batch; }

static BatchResult toy_batch(Workload *w, Pass pass, const long *ids, int n) {
    return (BatchResult){.loss = poly_sum_batch(&w->sum, ids, n, pass != PASS_EVAL), .examples = n};
}

static void toy_evaluate(Workload *w, double *out) {
    double g;
    out[0] = poly_sum_full(&w->sum, &g);
    const float *x = params_ptr(&w->sum.params, 0);
    double sq = 0;
    for (int j = 0; j < w->sum.dim; j++) sq += (double)x[j] * x[j];
    out[1] = sqrt(sq);
}

static void toy_evaluate_final(Workload *w, double *out) { poly_sum_full(&w->sum, &out[0]); }
static long toy_stats_components(const Workload *w) { return w->sum.m; }

const WorkloadOps toy_sum_ops = {
    .name = "toy-sum", .unit = "components", .out_prefix = "toy-",
    .about = "toy objectives as finite sums: Example 1, an (L0,L1)-smooth polynomial, a noisy quadratic",
    .flags = toy_flags, .nflags = WL_COUNT(toy_flags), .config_size = sizeof(ToyConfig), .defaults = toy_defaults,
    .presets = toy_presets, .npresets = WL_COUNT(toy_presets), .default_preset = "nqm",
    // a checkpoint a step: slow enough for the kill tests to stop it between steps
    .test_flags = "--preset=tiny --epochs=3 --components=256 --save-every=1",
    .eval_columns = toy_eval, .neval = 2, .has_valid = 1, // f itself: --schedule plateau watches it
    .final_columns = toy_final, .nfinal = 1,
    .stats_unit = "components", .stats_about = "exact: no randomness in any f_i",
    .stats_partition_invariant = 1, .stats_layout = STATS_CONTIGUOUS,
    // no classes: only a non-finite loss or gradient is a divergence (f may be negative); nothing to checkpoint
    .check = toy_check, .create = toy_create, .destroy = toy_destroy, .params = toy_params, .units = toy_units,
    .units_per_step = toy_units_per_step, .batch = toy_batch, .evaluate = toy_evaluate,
    .evaluate_final = toy_evaluate_final, .stats_components = toy_stats_components,
};
