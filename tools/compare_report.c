// `nnopt compare`'s report (tools/compare.h): the table, summary.md and plots.gp.
#include "compare.h"
#include "markdown.h"
#include "plots.h"
#include "nn/atomic_file.h"
#include "nn/check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static void fmt_or_dash(char *buf, size_t n, const char *fmt, double v) {
    if (isfinite(v)) snprintf(buf, n, fmt, v);
    else snprintf(buf, n, "-");
}

// The summary table, as Markdown (also what the terminal shows).
// The workload's last evaluation column (valid_ppl, test_acc) is the table's measure of quality.
void write_table(FILE *f, const Method *m, const TrainResult *r, int nm, const WorkloadOps *ops) {
    const Column *q = &ops->eval_columns[ops->neval - 1];
    fprintf(f, "| method | optimizer | lr | clip | steps | final train loss | %s | wall time (s) | clip rate "
               "| mean cos |\n|---|---|---|---|---|---|---|---|---|---|\n", q->name);
    for (int i = 0; i < nm; i++) {
        char loss[32], ppl[32], rate[32], cosb[32], clip[32], steps[64];
        fmt_or_dash(loss, sizeof loss, "%.4f", r[i].train_loss);
        fmt_or_dash(ppl, sizeof ppl, "%.4f", r[i].eval[ops->neval - 1]);
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
void write_plots(const char *out, const Method *m, int nm, const RunConfig *cfg, int stats_method) {
    const WorkloadOps *ops = cfg->ops;
    const char *q = ops->eval_columns[ops->neval - 1].name; // epochs.csv: epoch, step, lr, train_loss, train, eval
    int col = 4 + ops->ntrain + ops->neval;
    AtomicFile gp;
    FILE *f = plot_open(&gp, out, "plots.gp", "nnopt compare");
    fprintf(f, "set output 'loss.png'\nset title 'training loss (mean over tokens; exponential moving average, "
               "weight 0.05)'\nset xlabel 'step'\nset ylabel 'loss'\n");
    // the EMA restarts at each series' first row ($0 == 0)
    fprintf(f, "ema(x) = (e = ($0 == 0 ? x : 0.95 * e + 0.05 * x), e)\nplot ");
    for (int i = 0; i < nm; i++)
        fprintf(f, "%s'%s/steps.csv' skip 1 using 1:(ema($4)) title '%s' lw 2", i ? ", \\\n     " : "", m[i].name,
                m[i].name);
    fprintf(f, "\nset output '%s.png'\nset title '%s after each epoch'\nset ylabel '%s'\n%sset style data "
               "linespoints\nplot ", q, q, q, ops->loss_exp ? "set logscale y\n" : "");
    for (int i = 0; i < nm; i++)
        fprintf(f, "%s'%s/epochs.csv' skip 1 using 2:%d title '%s' lw 2", i ? ", \\\n     " : "", m[i].name, col,
                m[i].name);
    fprintf(f, "\nunset logscale y\n");
    char csv[256], label[128];
    snprintf(csv, sizeof csv, "%s/gradstats.csv", m[stats_method].name);
    snprintf(label, sizeof label, "%s run", m[stats_method].name);
    plot_gradstats(f, csv, "", label, cfg->batch_sizes.v, cfg->batch_sizes.n);
    plot_close(&gp);
}

void write_summary_md(const RunConfig *base, const Method *methods, const TrainResult *res, long steps) {
    double total = 0;
    for (int i = 0; i < NMETHODS; i++) total += res[i].seconds;
    printf("\n");
    write_table(stdout, methods, res, NMETHODS, base->ops);
    char *md = nn_join_path(base->out, "summary.md"), *json = run_config_json(base);
    AtomicFile a;
    FILE *f = atomic_open(&a, md);
    fprintf(f, "# nnopt compare\n\nEvery method trained %ld steps of %s (preset %s), %.0f s in all. Mean cos is the "
               "exact (1/m) sum_i cos(g_i, grad f) at the final parameters with the training batch size; clip rate "
               "is the fraction of steps whose gradient norm exceeded the threshold.\n\n", steps, base->ops->name,
            base->preset, total);
    write_table(f, methods, res, NMETHODS, base->ops);
    char *code = md_code(json);
    fprintf(f, "\nShared configuration (optim, lr and clip are per method, as in the table): %s\n", code);
    atomic_commit(&a);
    free(code);
    printf("\nwrote %s (%.0f s in all)\n", md, total);
    free(md), free(json);
}
