// `nnopt compare`: a quick comparison at one seed and fixed learning rates (the fair one, tuned and over seeds, is
// nnopt sweep + nnopt report). Trains a workload (by default the toy LSTM language model on PTB) with SGD, clipped
// SGD, Adam and ACClip for the same number of steps (from a wall-time budget), measures the exact gradient
// statistics along the way, and writes per-method CSVs, a Markdown summary table and gnuplot figures into --out.
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "compare.h"
#include "plots.h"
#include "resume.h"
#include "run_lock.h"
#include "train_cmd.h"
#include "nn/blas.h"
#include "nn/check.h"
#include "nn/checkpoint.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


// "90", "90s", "5m", "1.5h" -> seconds
static double parse_duration(const char *s) {
    char *end;
    double v = strtod(s, &end);
    double unit = *end == 'h' ? 3600 : *end == 'm' ? 60 : 1;
    NN_CHECK(end != s && v > 0 && (!*end || (strchr("smh", *end) && !end[1])),
             "--budget '%s': expected a positive duration such as 300, 300s, 5m or 1h", s);
    return v * unit;
}

// Seconds per forward+backward pass of the workload on the batch ids[0..n) (the optimizer step is a small part of a
// step, and the same for every method up to a few passes over the parameters).
static double time_one_pass(const WorkloadOps *ops, Workload *w, Pass pass, const long *ids, int n) {
    double t = 0;
    for (int k = 0; k < 8; k++) {
        if (k == 3) t = now_seconds(); // the first calls warm caches and thread pools
        params_zero_grad(ops->params(w));
        ops->batch(w, pass, ids, n);
    }
    return (now_seconds() - t) / 5;
}

static void usage(FILE *out) {
    fprintf(out,
            "usage: nnopt compare [--budget DURATION | --steps N] [method flags] [training flags]\n"
            "  Trains a preset of any workload (default: the toy LSTM LM, --preset toy) with SGD, clipped SGD, Adam\n"
            "  and ACClip for the same number of steps, measures exact gradient statistics after every epoch, and\n"
            "  writes into --out (runs/compare):\n"
            "  <method>/{steps,epochs,gradstats,gradstats_batches}.csv, summary.md, plots.gp and PNG figures.\n"
            "  --budget D        wall time of the whole comparison, e.g. 300, 4m, 1h (4m); turned into a number of\n"
            "                    steps from a timing of the model, the same for every method\n"
            "  --steps N         train every method exactly N steps instead (reproducible across machines)\n"
            "  --lr-sgd X        SGD learning rate (5; the defaults suit the toy LM: set all four for another)\n"
            "  --lr-clip X       clipped SGD learning rate (20); its threshold is --clip (toy: 0.25)\n"
            "  --lr-adam X       Adam learning rate (0.002)\n"
            "  --lr-acclip X     ACClip learning rate (10: ACClip scales the momentum, not a normalised step)\n"
            "  --batch-sizes B,.. batch sizes of the exact statistics of the clipped-SGD run, measured after every\n"
            "                    epoch (5,10,20,40); the other methods measure once, at their final parameters and\n"
            "                    training batch size (the table's mean cos)\n"
            "  --no-plots        skip gnuplot\n"
            "  --resume PATH     continue a stopped comparison from its PATH = <out>/compare.nnck: the methods done\n"
            "                    are kept, the one under way resumes from its last checkpoint (each method writes\n"
            "                    <out>/<method>/checkpoint.nnck at every epoch end, and every --save-every N steps)\n"
            "  every training flag applies to all methods (see nnopt train --help); each method's checkpoint also\n"
            "  resumes alone: nnopt train --resume <out>/<method>/checkpoint.nnck\n");
}

// compare's own flags; the rest of its command line is a training command line shared by every method.
typedef struct {
    double budget, lr[NMETHODS];
    long steps;  // per method; 0: from the budget
    int plots;
    char **rest; // argv[0], then the training flags (pointing into the parsed argv)
    int nrest;
} CompareConfig;

// The value after flag argv[*i], consumed; fatal when it is missing.
static const char *flag_value(int argc, char **argv, int *i) {
    NN_CHECK(*i + 1 < argc, "option '%s' needs a value (see nnopt compare --help)", argv[*i]);
    return argv[++*i];
}

// Whether arg is one of the flags compare sets per method (--lr, or --lr=X).
static int sets_itself(const char *arg) {
    static const char *const own[] = {"optim", "optim-args", "lr", "stats-epochs", "schedule", "max-steps", "epochs"};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
        size_t n = strlen(own[i]);
        if (strncmp(arg, "--", 2) == 0 && strncmp(arg + 2, own[i], n) == 0 && (!arg[2 + n] || arg[2 + n] == '='))
            return 1;
    }
    return 0;
}

static void compare_parse(void *out, int argc, char **argv, const char *prog) {
    (void)prog;
    CompareConfig *cc = out;
    *cc = (CompareConfig){.budget = 240, .lr = {5, 20, 0.002, 10}, .plots = 1};
    cc->rest = nn_malloc((size_t)(argc + 5) * sizeof(char *));
    cc->rest[cc->nrest++] = argv[0];
    // defaults first, so that the user's flags (later) override them; every epoch end writes a checkpoint
    cc->rest[cc->nrest++] = "--preset=toy";
    cc->rest[cc->nrest++] = "--batch-sizes=5,10,20,40";
    cc->rest[cc->nrest++] = "--save-epochs";
    int has_out = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0) { usage(stdout); exit(0); }
#define VALUE(flag) flag_value(argc, argv, &i)
        if (strcmp(a, "--budget") == 0) cc->budget = parse_duration(VALUE(a));
        else if (strcmp(a, "--steps") == 0) cc->steps = cli_long(a, VALUE(a), 1, 1L << 40);
        else if (strncmp(a, "--steps=", 8) == 0) cc->steps = cli_long("--steps", a + 8, 1, 1L << 40);
        else if (strcmp(a, "--lr-sgd") == 0) cc->lr[0] = cli_double(a, VALUE(a), 0, 1e6);
        else if (strcmp(a, "--lr-clip") == 0) cc->lr[1] = cli_double(a, VALUE(a), 0, 1e6);
        else if (strcmp(a, "--lr-adam") == 0) cc->lr[2] = cli_double(a, VALUE(a), 0, 1e6);
        else if (strcmp(a, "--lr-acclip") == 0) cc->lr[3] = cli_double(a, VALUE(a), 0, 1e6);
        else if (strcmp(a, "--no-plots") == 0) cc->plots = 0;
        else if (strcmp(a, "--resume") == 0) i++; // resume_parse's: the arguments come from the checkpoint
        else if (strncmp(a, "--resume=", 9) == 0) continue;
        else if (sets_itself(a)) NN_FATAL("nnopt compare sets %s itself for each method (see nnopt compare --help)", a);
        else {
            has_out |= strncmp(a, "--out", 5) == 0;
            cc->rest[cc->nrest++] = argv[i];
        }
#undef VALUE
    }
    if (!has_out) cc->rest[cc->nrest++] = "--out=runs/compare";
}

// The number of steps per method that fits the budget, counting training, exact statistics and evaluation, from
// timings of the workload's passes on its first units and statistics components.
// Seconds an epoch's end costs a method beyond its steps: the evaluation, and the checkpoint of its parameters
// (written and fsynced into out, then removed) standing in for the checkpoint and summary.json it writes. For a
// workload whose steps take microseconds (toy-sum) this, not training, is what the budget pays for.
static double epoch_end_seconds(const WorkloadOps *ops, Workload *w, const char *out) {
    double t0 = now_seconds(), eval[WL_MAX_METRICS];
    ops->evaluate(w, eval);
    make_dirs(out);
    char *path = nn_join_path(out, ".budget.nnck");
    CkptWriter *ck = ckpt_begin(path, "{}");
    ckpt_put_params(ck, "param/", ops->params(w));
    ckpt_commit(ck);
    unlink(path);
    free(path);
    return now_seconds() - t0;
}

static long steps_for_budget(const RunConfig *base, double budget, long *epoch_steps) {
    const WorkloadOps *ops = base->ops;
    Workload *w = ops->create(base);
    int k = ops->units_per_step(w), bmax = run_config_max_stats_batch(base);
    long n = k > bmax ? k : bmax, *ids = nn_malloc((size_t)n * sizeof(long));
    for (long i = 0; i < n; i++) ids[i] = i;
    *epoch_steps = ops->units(w) / k;
    double t_step = time_one_pass(ops, w, PASS_TRAIN, ids, k);
    // Per epoch, 4 methods train epoch_steps steps each. The clipped run measures the exact statistics at the start
    // and after every epoch: a full-gradient pass (once, or per batch size where f depends on the partition), then a
    // pass per batch size. The others measure once, at the end (the table's mean cosine): two passes at the training
    // batch size.
    long components = ops->stats_components(w), lcm = cli_lcm(base->batch_sizes.v, base->batch_sizes.n, components);
    components = lcm <= components ? components / lcm * lcm : components;
    double stats = 0, t_batch = time_one_pass(ops, w, PASS_STATS, ids, base->batch > n ? (int)n : base->batch);
    for (int i = 0; i < base->batch_sizes.n; i++) {
        int b = base->batch_sizes.v[i];
        stats += (ops->stats_partition_invariant ? 1 : 2) * (double)(components / b) *
                 time_one_pass(ops, w, PASS_STATS, ids, b);
    }
    if (ops->stats_partition_invariant)
        stats += (double)(components / bmax) * time_one_pass(ops, w, PASS_STATS, ids, bmax);
    double at_end = (NMETHODS - 1) * 2 * (double)(components / base->batch) * t_batch;
    double train = NMETHODS * (*epoch_steps * t_step + epoch_end_seconds(ops, w, base->out));
    long epochs = (long)((budget - stats - at_end) / (train + stats));
    if (epochs < 1) epochs = 1;
    printf("compare: budget %.0f s: %.3g ms per step, %ld steps per epoch, about %.3g s of training and %.3g s of "
           "statistics per epoch: %ld epochs (%ld steps) per method\n",
           budget, 1e3 * t_step, *epoch_steps, train, stats, epochs, epochs * *epoch_steps);
    free(ids);
    ops->destroy(w);
    return epochs * *epoch_steps;
}

// Method m's training command line: the shared flags, then the method's own (later flags win). Its checkpoints
// save this line, so `nnopt train --resume <out>/<method>/checkpoint.nnck` continues that method alone too.
// Returns argv (malloc'd, with its strings in *strings: free both).
static char **method_argv(const CompareConfig *cc, const Method *m, const RunConfig *base, long steps, int epochs,
                          int *argc, char **strings) {
    enum { NFLAGS = 10, LEN = 96 }; // the flags below but --out
    char **argv = nn_malloc((size_t)(cc->nrest + NFLAGS + 1) * sizeof(char *));
    char *s = *strings = nn_malloc((size_t)NFLAGS * LEN + strlen(base->out) + strlen(m->name) + 8);
    int n = 0;
    for (int i = 0; i < cc->nrest; i++) argv[n++] = cc->rest[i];
#define FLAG(...) (argv[n++] = s, s += snprintf(s, LEN, __VA_ARGS__) + 1)
    FLAG("--workload=%s", base->ops->name);
    FLAG("--optim=%s", m->optim);
    FLAG("--optim-args="); // each method with its optimizer's defaults: a preset's momentum is not Adam's
    FLAG("--lr=%.9g", m->lr); // %.9g: the float back exactly
    FLAG("--clip=%.9g", m->clip);
    FLAG("--schedule=constant");
    FLAG("--max-steps=%ld", steps);
    FLAG("--epochs=%d", epochs);
    if (m->all_batch_sizes) FLAG("--stats-epochs=all");
    else { // the final parameters only, at the training batch size
        FLAG("--stats-epochs=%d", epochs);
        FLAG("--batch-sizes=%d", base->batch);
    }
#undef FLAG
    argv[n++] = s;
    sprintf(s, "--out=%s/%s", base->out, m->name);
    *argc = n;
    return argv;
}

// compare.nnck: the comparison's command line (with --steps resolved: a resumed comparison does not time the model
// again), its configuration, and the results of the methods done so far. Rewritten atomically after each method.
#define NRESULT (8 + 2 * WL_MAX_METRICS)
static void result_pack(const TrainResult *r, double *d) {
    double v[NRESULT] = {r->status, r->steps, r->diverged_step, r->train_loss, r->seconds, r->train_seconds,
                         r->clip_rate, r->mean_cos};
    memcpy(v + 8, r->eval, sizeof r->eval);
    memcpy(v + 8 + WL_MAX_METRICS, r->final, sizeof r->final);
    memcpy(d, v, sizeof v);
}

static void result_unpack(const double *d, TrainResult *r) {
    *r = (TrainResult){.status = (int)d[0], .steps = (long)d[1], .diverged_step = (long)d[2], .train_loss = d[3],
                       .seconds = d[4], .train_seconds = d[5], .clip_rate = d[6], .mean_cos = d[7]};
    memcpy(r->eval, d + 8, sizeof r->eval);
    memcpy(r->final, d + 8 + WL_MAX_METRICS, sizeof r->final);
}

static void state_save(const char *path, const char *config, const char *argv_text, size_t argv_len, int done,
                       const TrainResult *res) {
    double d[NMETHODS * NRESULT] = {0};
    for (int i = 0; i < done; i++) result_pack(&res[i], d + i * NRESULT);
    CkptWriter *w = ckpt_begin(path, config);
    ckpt_put_bytes(w, "tool", "compare", 7);
    ckpt_put_bytes(w, "argv", argv_text, argv_len);
    int32_t ndone = done;
    ckpt_put_i32(w, "done", 0, NULL, &ndone);
    ckpt_put_f64(w, "results", 2, (int[]){NMETHODS, NRESULT}, d);
    ckpt_commit(w);
}

// The methods done (their results in res) by the comparison saved in path; fatal when it had another
// configuration than config (fields a resume may change: threads, out).
static int state_load(const char *path, const char *config, TrainResult *res) {
    static const char *const may_change[] = {"threads", "out", NULL};
    CkptReader *r = ckpt_open(path);
    ckpt_check_config(r, config, may_change);
    int32_t done;
    double d[NMETHODS * NRESULT];
    ckpt_get_i32(r, "done", 0, NULL, &done);
    ckpt_get_f64(r, "results", 2, (int[]){NMETHODS, NRESULT}, d);
    ckpt_close(r);
    NN_CHECK(done >= 0 && done <= NMETHODS, "%s: 'done' is %d, expected 0..%d", path, (int)done, NMETHODS);
    for (int i = 0; i < done; i++) result_unpack(d + i * NRESULT, &res[i]);
    return done;
}

// Steps per epoch of the configured workload (reads its data, times nothing).
static long count_epoch_steps(const RunConfig *base) {
    Workload *w = base->ops->create(base);
    long n = base->ops->units(w) / base->ops->units_per_step(w);
    base->ops->destroy(w);
    return n;
}

// compare.nnck's configuration: the comparison's own values, then the shared run configuration's fields (flat, so
// that the checkpoint compares them one by one).
static char *compare_config_json(const RunConfig *base, long steps, const Method *methods) {
    cJSON *obj = cJSON_CreateObject();
    NN_CHECK(obj, "compare: out of memory");
    cJSON_AddNumberToObject(obj, "steps", (double)steps);
    static const char *const keys[NMETHODS] = {"lr_sgd", "lr_clip", "lr_adam", "lr_acclip"};
    for (int i = 0; i < NMETHODS; i++) {
        char v[32];
        snprintf(v, sizeof v, "%.9g", methods[i].lr); // the float back exactly
        cJSON_AddRawToObject(obj, keys[i], v);
    }
    run_config_add_json(base, obj);
    char *text = cJSON_PrintUnformatted(obj);
    NN_CHECK(text, "compare: out of memory");
    cJSON_Delete(obj);
    return text;
}

// Trains methods done..NMETHODS-1, saving the comparison's state after each; exits on SIGINT/SIGTERM.
static void run_methods(const CompareConfig *cc, const Method *methods, const RunConfig *base, long steps, int epochs,
                        int done, TrainResult *res, const char *state, const char *config, const ResumeArgs *args) {
    for (int i = done; i < NMETHODS; i++) {
        int n;
        char *strings, **margv = method_argv(cc, &methods[i], base, steps, epochs, &n, &strings);
        RunConfig c;
        run_config_parse(&c, n, margv, "nnopt compare", NULL);
        size_t len;
        char *text = resume_join_args(n, margv, &len);
        char *ckpt = nn_join_path(c.out, "checkpoint.nnck");
        if (access(ckpt, F_OK) == 0) c.resume = ckpt; // the method was under way when the comparison stopped
        c.overwrite = 1; // a new comparison replaces its methods' runs (their directories are its own)
        printf("\n== %s: %s, lr %g%s%s\n", methods[i].name, methods[i].optim, c.setup.lr,
               c.setup.clip > 0 ? ", clipped" : "", c.resume ? " (resumed)" : "");
        int status = trainer_run(&c, &res[i], text, len);
        run_config_free(&c);
        free(margv), free(strings), free(text), free(ckpt);
        if (status >= 128) { // stopped by SIGINT or SIGTERM, with a checkpoint of this method
            fprintf(stderr, "nnopt: to resume the whole comparison: nnopt compare --resume %s\n", state);
            exit(status);
        }
        state_save(state, config, args->text, args->len, i + 1, res);
    }
}

int cmd_compare(int argc, char **argv) {
    CompareConfig cc;
    ResumeArgs args;
    resume_parse(&args, &cc, compare_parse, argc, argv, "nnopt compare", "compare");
    int resuming = 0;
    for (int i = 1; i < argc; i++) resuming |= strncmp(argv[i], "--resume", 8) == 0;
    RunConfig base;
    run_config_parse(&base, cc.nrest, cc.rest, "nnopt compare", NULL);
    NN_CHECK(base.setup.clip > 0, "clipped SGD needs a threshold: --clip must be > 0");
    nn_set_threads(base.threads);
    const Method methods[NMETHODS] = {
        {"sgd", "sgd", (float)cc.lr[0], 0, 0},
        {"sgd-clip", "sgd", (float)cc.lr[1], base.setup.clip, 1},
        {"adam", "adam", (float)cc.lr[2], 0, 0},
        {"acclip", "acclip", (float)cc.lr[3], 0, 0},
    };
    long epoch_steps, steps = cc.steps;
    if (!steps) {
        steps = steps_for_budget(&base, cc.budget, &epoch_steps);
        // the saved command line says --steps from now on: a resumed comparison keeps this count
        char flag[48];
        int k = snprintf(flag, sizeof flag, "--steps=%ld", steps) + 1;
        args.text = nn_realloc(args.text, args.len + (size_t)k);
        memcpy(args.text + args.len, flag, (size_t)k);
        args.len += (size_t)k;
    } else {
        epoch_steps = count_epoch_steps(&base);
        printf("compare: %ld steps per method, %ld steps per epoch\n", steps, epoch_steps);
    }
    int epochs = (int)((steps + epoch_steps - 1) / epoch_steps);
    char *config = compare_config_json(&base, steps, methods);
    RunLock lock; // compare.nnck is this comparison's: one process at a time (each method locks its own directory)
    run_lock_acquire(&lock, base.out);
    char *state = nn_join_path(base.out, "compare.nnck");
    TrainResult res[NMETHODS];
    int done = 0;
    if (resuming) {
        done = state_load(state, config, res);
        printf("compare: resuming %s: %d of %d methods done\n", state, done, NMETHODS);
    } else { // a fresh comparison: no method may resume another comparison's checkpoint
        for (int i = 0; i < NMETHODS; i++) {
            char *dir = nn_join_path(base.out, methods[i].name), *ck = nn_join_path(dir, "checkpoint.nnck");
            if (unlink(ck) != 0 && errno != ENOENT) NN_FATAL("cannot remove %s: %s", ck, strerror(errno));
            free(dir), free(ck);
        }
    }
    state_save(state, config, args.text, args.len, done, res);
    run_methods(&cc, methods, &base, steps, epochs, done, res, state, config, &args);
    write_summary_md(&base, methods, res, steps);
    if (cc.plots) {
        write_plots(base.out, methods, NMETHODS, &base, 1);
        if (plot_run(base.out, "plots.gp"))
            printf("wrote %s/loss.png, %s.png, mean_cos.png, norm_ratio.png\n", base.out,
                   base.ops->eval_columns[base.ops->neval - 1].name);
    }
    run_lock_release(&lock);
    free(state), free(config), free(cc.rest);
    run_config_free(&base);
    resume_args_free(&args);
    return 0;
}
