#include "smoothness.h"
#include "cli.h"
#include "plots.h"
#include "nn/check.h"
#include "optim/exactstats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void smoothness_open(SmoothRun *s, const RunConfig *cfg, Workload *w, long csv_len) {
    memset(s, 0, sizeof *s);
    int b = run_config_max_stats_batch(cfg);
    stats_batches_init(&s->sb, cfg, w, b, b);
    s->sb.b = b;
    long m = s->sb.components / b;
    s->batches = lround(cfg->smooth_fraction * (double)m);
    if (s->batches < 1) s->batches = 1;
    size_t n = cfg->ops->params(w)->n;
    s->x_before = nn_alloc_floats(n), s->x_after = nn_alloc_floats(n);
    s->grad0 = nn_malloc(n * sizeof(double)), s->grad1 = nn_malloc(n * sizeof(double));
    csv_open_at(&s->csv, cfg->out, "smoothness.csv", "step,epoch,grad_norm,step_norm,smoothness,loss,seconds",
                csv_len);
    printf("smoothness: every %ld steps, over %ld of %ld batches of %d %s (%.3g of the statistics data set), "
           "gamma %g\n", cfg->smooth_every, s->batches, m, b, cfg->ops->stats_unit, (double)s->batches / (double)m,
           cfg->smooth_gamma);
}

int smoothness_due(const SmoothRun *s, long step) { return step % s->sb.cfg->smooth_every == 0; }

void smoothness_before_step(SmoothRun *s) {
    const Params *P = s->sb.cfg->ops->params(s->sb.w);
    memcpy(s->x_before, P->param, P->n * sizeof(float));
}

// grad f_S at the parameters now in place, in double (the exact statistics' full gradient over S's batches), and
// f_S.
static double subset_gradient(SmoothRun *s, double *grad, size_t n) {
    s->sb.loss_sum = 0;
    exactstats_full_gradient(grad, stats_batch_grad, &s->sb, s->batches, n);
    return s->sb.loss_sum / (double)s->batches;
}

void smoothness_after_step(SmoothRun *s, long step, int epoch) {
    double t0 = now_seconds();
    const RunConfig *cfg = s->sb.cfg;
    const WorkloadOps *ops = cfg->ops;
    Params *P = ops->params(s->sb.w);
    size_t n = P->n;
    memcpy(s->x_after, P->param, n * sizeof(float));
    if (ops->stats_begin) ops->stats_begin(s->sb.w);
    memcpy(P->param, s->x_before, n * sizeof(float));
    double loss = subset_gradient(s, s->grad0, n);
    // the point on the update, as floats; the distance is measured between the points actually evaluated
    float gamma = (float)cfg->smooth_gamma;
    double step_sq = 0, dist_sq = 0, grad_sq = 0, diff_sq = 0;
    for (size_t j = 0; j < n; j++) {
        float delta = s->x_after[j] - s->x_before[j];
        P->param[j] = s->x_before[j] + gamma * delta;
        double d = (double)P->param[j] - s->x_before[j];
        step_sq += (double)delta * delta, dist_sq += d * d;
    }
    subset_gradient(s, s->grad1, n);
    for (size_t j = 0; j < n; j++) {
        double d = s->grad1[j] - s->grad0[j];
        grad_sq += s->grad0[j] * s->grad0[j], diff_sq += d * d;
    }
    memcpy(P->param, s->x_after, n * sizeof(float)); // x_{t+1}, bit for bit
    if (ops->stats_end) ops->stats_end(s->sb.w);
    double smooth = dist_sq > 0 ? sqrt(diff_sq / dist_sq) : NAN;
    csv_row(&s->csv, "%ld,%d,%.6g,%.6g,%.6g,%.6f,%.2f", step, epoch, sqrt(grad_sq), sqrt(step_sq), smooth, loss,
            now_seconds() - t0);
}

// The (grad_norm, smoothness) pairs of a smoothness.csv.
static long read_points(const char *path, double **g, double **l) {
    size_t len;
    char *text = nn_read_gz(path, &len);
    long n = 0, cap = 0;
    *g = *l = NULL;
    for (char *line = strchr(text, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
        double gn, sm;
        if (sscanf(line + 1, "%*d,%*d,%lf,%*f,%lf", &gn, &sm) != 2) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 256;
            *g = nn_realloc(*g, (size_t)cap * sizeof(double)), *l = nn_realloc(*l, (size_t)cap * sizeof(double));
        }
        (*g)[n] = gn, (*l)[n++] = sm;
    }
    free(text);
    return n;
}

SmoothFit smoothness_fit_file(const char *path, float quantile) {
    char tau[32]; // the quantile as given (0.9), not as its float (0.899999976)
    snprintf(tau, sizeof tau, "%g", quantile);
    double *g, *l;
    long n = read_points(path, &g, &l);
    SmoothFit f = smooth_fit(g, l, n, strtod(tau, NULL));
    free(g), free(l);
    return f;
}

SmoothFit smoothness_fit(const SmoothRun *s) {
    csv_flush(&s->csv);
    return smoothness_fit_file(s->csv.partial, s->sb.cfg->smooth_quantile);
}

void smoothness_draw(const char *dir, const SmoothFit *f, const char *label) {
    AtomicFile a;
    FILE *gp = plot_open(&a, dir, "smoothness.gp", "nnopt (--smooth-every)");
    char *title = gp_quote(label);
    fprintf(gp, "set output 'smoothness.png'\nset title \"local smoothness along training, \".%s.\"\\n%.2f-quantile "
                "envelope L0 + L1 ||grad f||: L0 %.4g, L1 %.4g (%.0f%% of %ld below); Spearman %.2f\"\n"
                "set logscale xy\nset xlabel '||grad f_S(x_t)||'\nset ylabel 'L^ = ||grad f_S(x_t + g D) - "
                "grad f_S(x_t)|| / ||g D||'\nset cblabel 'step'\n"
                "set palette rgb 33,13,10\nset key bottom right\n"
                "plot 'smoothness.csv' skip 1 using 3:5:1 with points pt 7 ps 0.6 lc palette title 'measurements', "
                "%.9g + %.9g * x with lines lw 2 lc rgb 'black' title 'envelope'\n",
            title, f->tau, f->l0, f->l1, 100 * f->below, f->n, f->spearman, f->l0, f->l1);
    free(title);
    plot_close(&a);
    if (plot_run(dir, "smoothness.gp")) printf("wrote %s/smoothness.png\n", dir);
}

void smoothness_close(SmoothRun *s, int finished, const char *label) {
    SmoothFit f = {0};
    if (finished) f = smoothness_fit(s);
    if (finished) {
        csv_close(&s->csv);
        if (f.n >= 2) smoothness_draw(s->sb.cfg->out, &f, label);
    } else {
        csv_close_partial(&s->csv);
    }
    stats_batches_free(&s->sb);
    free(s->x_before), free(s->x_after), free(s->grad0), free(s->grad1);
}
