// `nnopt compare`: the main job. Trains the toy LSTM language model on PTB with SGD, clipped SGD, Adam and ACClip
// for the same number of steps (from a wall-time budget), measures the exact gradient statistics along the way,
// and writes per-method CSVs, a Markdown summary table and gnuplot figures into --out.
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "lm_config.h"
#include "plots.h"
#include "resume.h"
#include "train_lm.h"
#include "data/ptb.h"
#include "models/lstm_lm.h"
#include "nn/blas.h"
#include "nn/check.h"
#include "nn/checkpoint.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *name, *optim; // directory / label, optimizer
    float lr, clip;
    int all_batch_sizes;      // exact statistics for every --batch-sizes entry (else the training batch only)
} Method;

#define NMETHODS 4

// "90", "90s", "5m", "1.5h" -> seconds
static double parse_duration(const char *s) {
    char *end;
    double v = strtod(s, &end);
    double unit = *end == 'h' ? 3600 : *end == 'm' ? 60 : 1;
    NN_CHECK(end != s && v > 0 && (!*end || (strchr("smh", *end) && !end[1])),
             "--budget '%s': expected a positive duration such as 300, 300s, 5m or 1h", s);
    return v * unit;
}

// Seconds per training step of the configured model: a few forward+backward passes on random tokens (the
// optimizer step is a small part of it, and the same for every method up to a few passes over the parameters).
static double time_one_step(const LmRunConfig *cfg, int vocab, int batch) {
    LmConfig mc = lm_config_model(cfg, vocab, batch, "--batch, --bptt or --hidden");
    LstmLM m;
    lm_init(&m, &mc);
    Rng rng;
    rng_seed(&rng, 1);
    lm_init_uniform(&m, cfg->init_range, &rng);
    int n = cfg->bptt * batch, *x = nn_malloc(n * sizeof(int)), *y = nn_malloc(n * sizeof(int));
    for (int i = 0; i < n; i++) x[i] = (int)rng_below(&rng, vocab), y[i] = (int)rng_below(&rng, vocab);
    double t = 0;
    for (int k = 0; k < 8; k++) {
        if (k == 3) t = now_seconds(); // the first calls warm caches and thread pools
        params_zero_grad(&m.params);
        lm_forward(&m, x, y, cfg->bptt, batch, 1);
        lm_backward(&m, x, cfg->bptt, batch);
    }
    t = (now_seconds() - t) / 5;
    free(x), free(y);
    lm_free(&m);
    return t;
}

static void fmt_or_dash(char *buf, size_t n, const char *fmt, double v) {
    if (isfinite(v)) snprintf(buf, n, fmt, v);
    else snprintf(buf, n, "-");
}

// The summary table, as Markdown (also what the terminal shows).
static void write_table(FILE *f, const Method *m, const LmRunResult *r, int nm) {
    fprintf(f, "| method | optimizer | lr | clip | steps | final train loss | valid ppl | wall time (s) | clip rate "
               "| mean cos |\n|---|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < nm; i++) {
        char loss[32], ppl[32], rate[32], cosb[32], clip[32], steps[64];
        fmt_or_dash(loss, sizeof loss, "%.4f", r[i].train_loss);
        fmt_or_dash(ppl, sizeof ppl, "%.2f", r[i].valid_ppl);
        fmt_or_dash(rate, sizeof rate, "%.1f%%", m[i].clip > 0 ? 100 * r[i].clip_rate : NAN);
        fmt_or_dash(cosb, sizeof cosb, "%.4f", r[i].mean_cos);
        fmt_or_dash(clip, sizeof clip, "%g", m[i].clip > 0 ? m[i].clip : NAN);
        if (r[i].status) snprintf(steps, sizeof steps, "diverged at %ld", r[i].diverged_step);
        else snprintf(steps, sizeof steps, "%ld", r[i].steps);
        fprintf(f, "| %s | %s | %g | %s | %s | %s | %s | %.1f | %s | %s |\n", m[i].name, m[i].optim, m[i].lr, clip,
                steps, loss, ppl, r[i].seconds, rate, cosb);
    }
}

// plots.gp: loss and valid perplexity against step per method; mean cosine and min/max norm ratio against epoch per
// batch size (from the clipped-SGD run, which measures every batch size).
static void write_plots(const char *out, const Method *m, int nm, const LmRunConfig *cfg, int stats_method) {
    FILE *f = plot_open(out, "plots.gp", "nnopt compare");
    fprintf(f, "set output 'loss.png'\nset title 'training loss (mean over tokens; exponential moving average, "
               "weight 0.05)'\nset xlabel 'step'\nset ylabel 'loss'\n");
    // the EMA restarts at each series' first row ($0 == 0)
    fprintf(f, "ema(x) = (e = ($0 == 0 ? x : 0.95 * e + 0.05 * x), e)\nplot ");
    for (int i = 0; i < nm; i++)
        fprintf(f, "%s'%s/steps.csv' skip 1 using 1:(ema($4)) title '%s' lw 2", i ? ", \\\n     " : "", m[i].name,
                m[i].name);
    fprintf(f, "\nset output 'valid_ppl.png'\nset title 'validation perplexity'\nset ylabel 'perplexity'\n"
               "set logscale y\nset style data linespoints\nplot ");
    for (int i = 0; i < nm; i++)
        fprintf(f, "%s'%s/epochs.csv' skip 1 using 2:6 title '%s' lw 2", i ? ", \\\n     " : "", m[i].name,
                m[i].name);
    fprintf(f, "\nunset logscale y\n");
    char csv[256], label[128];
    snprintf(csv, sizeof csv, "%s/gradstats.csv", m[stats_method].name);
    snprintf(label, sizeof label, "%s run", m[stats_method].name);
    plot_gradstats(f, csv, "", label, cfg->batch_sizes, cfg->nbatch_sizes);
    plot_close(f, out, "plots.gp");
}

static void usage(FILE *out) {
    fprintf(out,
            "usage: nnopt compare [--budget DURATION | --steps N] [method flags] [train-lm flags]\n"
            "  Trains the toy LSTM LM (--preset toy) with SGD, clipped SGD, Adam and ACClip for the same number of\n"
            "  steps, measures exact gradient statistics after every epoch, and writes into --out (runs/compare):\n"
            "  <method>/{steps,epochs,gradstats,gradstats_batches}.csv, summary.md, plots.gp and PNG figures.\n"
            "  --budget D        wall time of the whole comparison, e.g. 300, 4m, 1h (4m); turned into a number of\n"
            "                    steps from a timing of the model, the same for every method\n"
            "  --steps N         train every method exactly N steps instead (reproducible across machines)\n"
            "  --lr-sgd X        SGD learning rate (5)\n"
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
            "  every train-lm flag applies to all methods (see nnopt train-lm --help); each method's checkpoint also\n"
            "  resumes alone: nnopt train-lm --resume <out>/<method>/checkpoint.nnck\n");
}

// compare's own flags; the rest of its command line is a train-lm command line shared by every method.
typedef struct {
    double budget, lr[NMETHODS];
    long steps;  // per method; 0: from the budget
    int plots;
    char **rest; // argv[0], then the train-lm flags (pointing into the parsed argv)
    int nrest;
} CompareConfig;

// The value after flag argv[*i], consumed; fatal when it is missing.
static const char *flag_value(int argc, char **argv, int *i) {
    NN_CHECK(*i + 1 < argc, "option '%s' needs a value (see nnopt compare --help)", argv[*i]);
    return argv[++*i];
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
        else if (strcmp(a, "--optim") == 0 || strcmp(a, "--lr") == 0 || strcmp(a, "--stats-epochs") == 0 ||
                 strcmp(a, "--schedule") == 0 || strcmp(a, "--max-steps") == 0 || strcmp(a, "--epochs") == 0)
            NN_FATAL("nnopt compare sets %s itself for each method (see nnopt compare --help)", a);
        else {
            has_out |= strncmp(a, "--out", 5) == 0;
            cc->rest[cc->nrest++] = argv[i];
        }
#undef VALUE
    }
    if (!has_out) cc->rest[cc->nrest++] = "--out=runs/compare";
}

// The training text's size: its tokens, steps per epoch and vocabulary (without timing anything).
static long steps_per_epoch(const LmRunConfig *base, long *train_len, int *vocab) {
    char *dir = data_find_dir(base->data, "ptb/ptb.train.txt.gz");
    PtbCorpus corpus;
    ptb_load(&corpus, dir);
    *train_len = base->train_tokens > 0 && base->train_tokens < corpus.len[PTB_TRAIN] ? base->train_tokens
                                                                                       : corpus.len[PTB_TRAIN];
    *vocab = corpus.vocab.size;
    ptb_free(&corpus);
    free(dir);
    return ((*train_len / base->batch) - 1 + base->bptt - 1) / base->bptt;
}

// The number of steps per method that fits the budget, counting training, exact statistics and evaluation.
static long steps_for_budget(const LmRunConfig *base, double budget, long train_len, long epoch_steps, int vocab) {
    double t_step = time_one_step(base, vocab, base->batch);
    // Per epoch, 4 methods train epoch_steps steps each. The clipped run measures the exact statistics at the start
    // and after every epoch: a pass over the windows with the largest batch size for the full gradient, then a
    // pass per batch size. The others measure once, at the end (the table's mean cosine): a full-gradient pass and
    // one pass at the training batch size each.
    long windows = (train_len - 1) / base->bptt;
    int bmax = 0;
    double stats = 0;
    for (int i = 0; i < base->nbatch_sizes; i++) {
        int b = base->batch_sizes[i];
        bmax = b > bmax ? b : bmax;
        stats += (double)(windows / b) * time_one_step(base, vocab, b);
    }
    stats += (double)(windows / bmax) * time_one_step(base, vocab, bmax);
    double at_end = (NMETHODS - 1) * 2 * (double)(windows / base->batch) * t_step;
    double train = NMETHODS * epoch_steps * t_step;
    long epochs = (long)((budget - stats - at_end) / (train + stats));
    if (epochs < 1) epochs = 1;
    printf("compare: budget %.0f s: %.1f ms per step, %ld steps per epoch, about %.0f s of training and %.0f s of "
           "statistics per epoch: %ld epochs (%ld steps) per method\n",
           budget, 1e3 * t_step, epoch_steps, train, stats, epochs, epochs * epoch_steps);
    return epochs * epoch_steps;
}

// Method m's train-lm command line: the shared flags, then the method's own (later flags win). Its checkpoints
// save this line, so `nnopt train-lm --resume <out>/<method>/checkpoint.nnck` continues that method alone too.
// Returns argv (malloc'd, with its strings in *strings: free both).
static char **method_argv(const CompareConfig *cc, const Method *m, const LmRunConfig *base, long steps, int epochs,
                          int *argc, char **strings) {
    enum { NFLAGS = 8, LEN = 96 }; // the flags below but --out
    char **argv = nn_malloc((size_t)(cc->nrest + NFLAGS + 1) * sizeof(char *));
    char *s = *strings = nn_malloc((size_t)NFLAGS * LEN + strlen(base->out) + strlen(m->name) + 8);
    int n = 0;
    for (int i = 0; i < cc->nrest; i++) argv[n++] = cc->rest[i];
#define FLAG(...) (argv[n++] = s, s += snprintf(s, LEN, __VA_ARGS__) + 1)
    FLAG("--optim=%s", m->optim);
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
#define NRESULT 10
static void result_pack(const LmRunResult *r, double *d) {
    double v[NRESULT] = {r->status, r->steps, r->diverged_step, r->train_loss, r->valid_ppl, r->test_ppl, r->seconds,
                         r->train_seconds, r->clip_rate, r->mean_cos};
    memcpy(d, v, sizeof v);
}

static void result_unpack(const double *d, LmRunResult *r) {
    *r = (LmRunResult){.status = (int)d[0], .steps = (long)d[1], .diverged_step = (long)d[2], .train_loss = d[3],
                       .valid_ppl = d[4], .test_ppl = d[5], .seconds = d[6], .train_seconds = d[7],
                       .clip_rate = d[8], .mean_cos = d[9]};
}

static void state_save(const char *path, const char *config, const char *argv_text, size_t argv_len, int done,
                       const LmRunResult *res) {
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
static int state_load(const char *path, const char *config, LmRunResult *res) {
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

int cmd_compare(int argc, char **argv) {
    CompareConfig cc;
    ResumeArgs args;
    resume_parse(&args, &cc, compare_parse, argc, argv, "nnopt compare", "compare");
    int resuming = 0;
    for (int i = 1; i < argc; i++) resuming |= strncmp(argv[i], "--resume", 8) == 0;
    LmRunConfig base;
    lm_config_parse(&base, cc.nrest, cc.rest, "nnopt compare");
    NN_CHECK(base.setup.clip > 0, "clipped SGD needs a threshold: --clip must be > 0");
    nn_set_threads(base.threads);
    const Method methods[NMETHODS] = {
        {"sgd", "sgd", (float)cc.lr[0], 0, 0},
        {"sgd-clip", "sgd", (float)cc.lr[1], base.setup.clip, 1},
        {"adam", "adam", (float)cc.lr[2], 0, 0},
        {"acclip", "acclip", (float)cc.lr[3], 0, 0},
    };

    long train_len;
    int vocab;
    long epoch_steps = steps_per_epoch(&base, &train_len, &vocab), steps = cc.steps;
    if (!steps) {
        steps = steps_for_budget(&base, cc.budget, train_len, epoch_steps, vocab);
        // the saved command line says --steps from now on: a resumed comparison keeps this count
        char flag[48];
        int k = snprintf(flag, sizeof flag, "--steps=%ld", steps) + 1;
        args.text = nn_realloc(args.text, args.len + (size_t)k);
        memcpy(args.text + args.len, flag, (size_t)k);
        args.len += (size_t)k;
    } else {
        printf("compare: %ld steps per method, %ld steps per epoch\n", steps, epoch_steps);
    }
    int epochs = (int)((steps + epoch_steps - 1) / epoch_steps);
    char config[4096], lmjson[3072];
    lm_config_json(lmjson, sizeof lmjson, &base);
    snprintf(config, sizeof config, "{\"steps\": %ld, \"lr_sgd\": %.9g, \"lr_clip\": %.9g, \"lr_adam\": %.9g, "
             "\"lr_acclip\": %.9g, \"out\": \"%s\", %s", steps, methods[0].lr, methods[1].lr, methods[2].lr,
             methods[3].lr, base.out, lmjson + 1);
    make_dirs(base.out);
    char *state = nn_join_path(base.out, "compare.nnck");
    LmRunResult res[NMETHODS];
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

    for (int i = done; i < NMETHODS; i++) {
        int n;
        char *strings, **margv = method_argv(&cc, &methods[i], &base, steps, epochs, &n, &strings);
        LmRunConfig c;
        lm_config_parse(&c, n, margv, "nnopt compare");
        size_t len;
        char *text = resume_join_args(n, margv, &len);
        char *ckpt = nn_join_path(c.out, "checkpoint.nnck");
        if (access(ckpt, F_OK) == 0) c.resume = ckpt; // the method was under way when the comparison stopped
        printf("\n== %s: %s, lr %g%s%s\n", methods[i].name, methods[i].optim, c.setup.lr,
               c.setup.clip > 0 ? ", clipped" : "", c.resume ? " (resumed)" : "");
        int status = lm_train(c, &res[i], text, len);
        free(margv), free(strings), free(text), free(ckpt);
        if (status >= 128) { // stopped by SIGINT or SIGTERM, with a checkpoint of this method
            fprintf(stderr, "nnopt: to resume the whole comparison: nnopt compare --resume %s\n", state);
            exit(status);
        }
        state_save(state, config, args.text, args.len, i + 1, res);
    }
    double total = 0;
    for (int i = 0; i < NMETHODS; i++) total += res[i].seconds;

    printf("\n");
    write_table(stdout, methods, res, NMETHODS);
    char *md = nn_join_path(base.out, "summary.md");
    FILE *f = nn_fopen(md, "w");
    fprintf(f, "# nnopt compare\n\nEvery method trained %ld steps on the first %ld PTB training tokens, %.0f s in "
               "all. Mean cos is the exact (1/m) sum_i cos(g_i, grad f) at the final parameters with the training "
               "batch size (m = %ld batches); clip rate is the fraction of steps whose gradient norm exceeded the "
               "threshold.\n\n", steps, train_len, total, (train_len - 1) / base.bptt / base.batch);
    write_table(f, methods, res, NMETHODS);
    fprintf(f, "\nShared configuration (optim, lr and clip are per method, as in the table): `%s`\n", lmjson);
    nn_fclose(f, md);
    printf("\nwrote %s (%.0f s in all)\n", md, total);
    free(md);

    if (cc.plots) {
        write_plots(base.out, methods, NMETHODS, &base, 1);
        if (plot_run(base.out, "plots.gp"))
            printf("wrote %s/loss.png, valid_ppl.png, mean_cos.png, norm_ratio.png\n", base.out);
    }
    free(state), free(cc.rest);
    resume_args_free(&args);
    return 0;
}
