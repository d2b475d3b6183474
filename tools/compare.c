// `nnopt compare`: the main job. Trains the toy LSTM language model on PTB with SGD, clipped SGD, Adam and ACClip
// for the same number of steps (from a wall-time budget), measures the exact gradient statistics along the way,
// and writes per-method CSVs, a Markdown summary table and gnuplot figures into --out.
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "lm_config.h"
#include "plots.h"
#include "train_lm.h"
#include "data/ptb.h"
#include "models/lstm_lm.h"
#include "nn/blas.h"
#include "nn/check.h"

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

// The value after flag argv[*i], consumed; fatal when it is missing.
static const char *flag_value(int argc, char **argv, int *i) {
    NN_CHECK(*i + 1 < argc, "option '%s' needs a value (see nnopt compare --help)", argv[*i]);
    return argv[++*i];
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
            "  every train-lm flag applies to all methods (see nnopt train-lm --help)\n");
}

int cmd_compare(int argc, char **argv) {
    double budget = 240, lr_sgd = 5, lr_clip = 20, lr_adam = 0.002, lr_acclip = 10;
    long steps = 0;
    int plots = 1, has_preset = 0, has_out = 0, has_sizes = 0;
    // compare's own flags come out of argv; the rest is a train-lm command line
    char **rest = nn_malloc((size_t)(argc + 3) * sizeof(char *));
    int nrest = 0;
    rest[nrest++] = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0) { usage(stdout); exit(0); }
#define VALUE(flag) flag_value(argc, argv, &i)
        if (strcmp(a, "--budget") == 0) budget = parse_duration(VALUE(a));
        else if (strcmp(a, "--steps") == 0) steps = cli_long(a, VALUE(a), 1, 1L << 40);
        else if (strcmp(a, "--lr-sgd") == 0) lr_sgd = cli_double(a, VALUE(a), 0, 1e6);
        else if (strcmp(a, "--lr-clip") == 0) lr_clip = cli_double(a, VALUE(a), 0, 1e6);
        else if (strcmp(a, "--lr-adam") == 0) lr_adam = cli_double(a, VALUE(a), 0, 1e6);
        else if (strcmp(a, "--lr-acclip") == 0) lr_acclip = cli_double(a, VALUE(a), 0, 1e6);
        else if (strcmp(a, "--no-plots") == 0) plots = 0;
        else if (strcmp(a, "--optim") == 0 || strcmp(a, "--lr") == 0 || strcmp(a, "--stats-epochs") == 0)
            NN_FATAL("nnopt compare sets %s itself for each method (see nnopt compare --help)", a);
        else {
            has_preset |= strncmp(a, "--preset", 8) == 0;
            has_out |= strncmp(a, "--out", 5) == 0;
            has_sizes |= strncmp(a, "--batch-sizes", 13) == 0;
            rest[nrest++] = argv[i];
        }
#undef VALUE
    }
    if (!has_preset) rest[nrest++] = "--preset=toy";
    if (!has_out) rest[nrest++] = "--out=runs/compare";
    if (!has_sizes) rest[nrest++] = "--batch-sizes=5,10,20,40";
    LmRunConfig base;
    lm_config_parse(&base, nrest, rest, "nnopt compare");
    free(rest);
    nn_set_threads(base.threads);

    const Method methods[NMETHODS] = {
        {"sgd", "sgd", (float)lr_sgd, 0, 0},
        {"sgd-clip", "sgd", (float)lr_clip, base.clip, 1},
        {"adam", "adam", (float)lr_adam, 0, 0},
        {"acclip", "acclip", (float)lr_acclip, 0, 0},
    };
    NN_CHECK(base.clip > 0, "clipped SGD needs a threshold: --clip must be > 0");

    // the number of steps: from the budget, counting training, exact statistics and evaluation
    char *dir = data_find_dir(base.data, "ptb/ptb.train.txt.gz");
    PtbCorpus corpus;
    ptb_load(&corpus, dir);
    long train_len = base.train_tokens > 0 && base.train_tokens < corpus.len[PTB_TRAIN] ? base.train_tokens
                                                                                          : corpus.len[PTB_TRAIN];
    long epoch_steps = ((train_len / base.batch) - 1 + base.bptt - 1) / base.bptt;
    double t_step = time_one_step(&base, corpus.vocab.size, base.batch);
    if (!steps) {
        // Per epoch, 4 methods train epoch_steps steps each. The clipped run measures the exact statistics at
        // the start and after every epoch: a pass over the windows with the largest batch size for the full
        // gradient, then a pass per batch size. The others measure once, at the end (the table's mean cosine):
        // a full-gradient pass and one pass at the training batch size each.
        long windows = (train_len - 1) / base.bptt;
        int bmax = 0;
        double stats = 0;
        for (int i = 0; i < base.nbatch_sizes; i++) {
            int b = base.batch_sizes[i];
            bmax = b > bmax ? b : bmax;
            stats += (double)(windows / b) * time_one_step(&base, corpus.vocab.size, b);
        }
        stats += (double)(windows / bmax) * time_one_step(&base, corpus.vocab.size, bmax);
        double at_end = (NMETHODS - 1) * 2 * (double)(windows / base.batch) * t_step;
        double train = NMETHODS * epoch_steps * t_step;
        long epochs = (long)((budget - stats - at_end) / (train + stats));
        if (epochs < 1) epochs = 1;
        steps = epochs * epoch_steps;
        printf("compare: budget %.0f s: %.1f ms per step, %ld steps per epoch, about %.0f s of training and %.0f s of "
               "statistics per epoch: %ld epochs (%ld steps) per method\n",
               budget, 1e3 * t_step, epoch_steps, train, stats, epochs, steps);
    } else {
        printf("compare: %ld steps per method (--steps), %ld steps per epoch, %.1f ms per step\n", steps, epoch_steps,
               1e3 * t_step);
    }
    ptb_free(&corpus);
    free(dir);
    base.max_steps = steps;
    base.epochs = (int)((steps + epoch_steps - 1) / epoch_steps);
    base.stats_all = 1;
    base.schedule = "constant";

    LmRunResult res[NMETHODS];
    double t0 = now_seconds();
    for (int i = 0; i < NMETHODS; i++) {
        LmRunConfig c = base;
        char *out = nn_join_path(base.out, methods[i].name);
        c.out = out;
        c.optim = methods[i].optim;
        c.lr = methods[i].lr;
        c.clip = methods[i].clip;
        if (!methods[i].all_batch_sizes) { // the final parameters only, at the training batch size
            c.nbatch_sizes = 1, c.batch_sizes[0] = base.batch;
            c.stats_all = 0, c.nstats_epochs = 1, c.stats_epochs[0] = c.epochs;
        }
        printf("\n== %s: %s, lr %g%s\n", methods[i].name, methods[i].optim, c.lr, c.clip > 0 ? ", clipped" : "");
        if (lm_train(c, &res[i], NULL, 0) >= 128) exit(res[i].status); // stopped by SIGINT or SIGTERM
        free(out);
    }
    double total = now_seconds() - t0;

    printf("\n");
    write_table(stdout, methods, res, NMETHODS);
    char *md = nn_join_path(base.out, "summary.md");
    FILE *f = nn_fopen(md, "w");
    char cfgjson[2048];
    lm_config_json(cfgjson, sizeof cfgjson, &base);
    fprintf(f, "# nnopt compare\n\nEvery method trained %ld steps on the first %ld PTB training tokens, %.0f s in "
               "all. Mean cos is the exact (1/m) sum_i cos(g_i, grad f) at the final parameters with the training "
               "batch size (m = %ld batches); clip rate is the fraction of steps whose gradient norm exceeded the "
               "threshold.\n\n", steps, train_len, total, (train_len - 1) / base.bptt / base.batch);
    write_table(f, methods, res, NMETHODS);
    fprintf(f, "\nShared configuration (optim, lr and clip are per method, as in the table): `%s`\n", cfgjson);
    nn_fclose(f, md);
    printf("\nwrote %s (%.0f s in all)\n", md, total);
    free(md);

    if (plots) {
        write_plots(base.out, methods, NMETHODS, &base, 1);
        if (plot_run(base.out, "plots.gp"))
            printf("wrote %s/loss.png, valid_ppl.png, mean_cos.png, norm_ratio.png\n", base.out);
    }
    return 0;
}
