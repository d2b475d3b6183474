#include "exact_stats.h"
#include "cli.h"
#include "nn/check.h"
#include "optim/exactstats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void exact_stats_open(ExactStatsRun *g, const RunConfig *cfg, Workload *w, const long csv_len[2]) {
    const WorkloadOps *ops = cfg->ops;
    memset(g, 0, sizeof *g);
    g->cfg = cfg, g->w = w, g->last_mean_cos = NAN;
    long have = ops->stats_components(w);
    long lcm = cli_lcm(cfg->batch_sizes.v, cfg->batch_sizes.n, have);
    NN_CHECK(lcm <= have, "--batch-sizes: the statistics data set has %ld %s, fewer than the least common multiple "
             "%ld of the batch sizes; use smaller batch sizes or a larger statistics data set", have, ops->stats_unit,
             lcm);
    g->components = have / lcm * lcm;
    g->full = nn_malloc(ops->params(w)->n * sizeof(double));
    g->ids = nn_malloc((size_t)run_config_max_stats_batch(cfg) * sizeof(long));
    char header[512] = "epoch,batch_size,batches,full_grad_norm,mean_cos,frac_pos_cos,min_norm,max_norm,"
                       "min_max_ratio";
    for (int e = 0; e < cfg->eta.n; e++)
        snprintf(header + strlen(header), sizeof header - strlen(header), ",descent_eta_%g", cfg->eta.v[e]);
    strcat(header, ",seconds");
    csv_open_at(&g->epochs, cfg->out, "gradstats.csv", header, csv_len[0]);
    csv_open_at(&g->batches, cfg->out, "gradstats_batches.csv", "epoch,batch_size,batch,norm,cos", csv_len[1]);
    printf("gradstats: %ld %s, batch sizes", g->components, ops->stats_unit);
    for (int i = 0; i < cfg->batch_sizes.n; i++) printf(" %d", cfg->batch_sizes.v[i]);
    printf(", %s\n", ops->stats_about);
}

// The gradient of batch i of the partition into batches of g->b (a BatchGradFn).
static const float *batch_grad(void *ctx, long i) {
    ExactStatsRun *g = ctx;
    const WorkloadOps *ops = g->cfg->ops;
    long m = g->components / g->b;
    for (int j = 0; j < g->b; j++) g->ids[j] = ops->stats_layout == STATS_STRIDED ? j * m + i : i * g->b + j;
    Params *P = ops->params(g->w);
    params_zero_grad(P);
    ops->batch(g->w, PASS_STATS, g->ids, g->b);
    return P->grad;
}

static void write_rows(ExactStatsRun *g, const ExactStats *s, int epoch, int b, double secs) {
    char desc[256] = "", row[256] = "";
    for (int e = 0; e < s->neta; e++) {
        snprintf(desc + strlen(desc), sizeof desc - strlen(desc), " %.4f (eta %g)", s->descent[e], s->eta[e]);
        snprintf(row + strlen(row), sizeof row - strlen(row), ",%.6g", s->descent[e]);
    }
    printf("gradstats epoch %d batch %d: m %ld, mean cos %.4f, positive %.1f%%, min/max norm %.4f, ||grad f|| %.4g, "
           "descent%s, %.0fs\n", epoch, b, s->m, s->mean_cos, 100 * s->frac_pos, s->min_norm / s->max_norm,
           s->full_norm, desc, secs);
    csv_row(&g->epochs, "%d,%d,%ld,%.6g,%.6f,%.6f,%.6g,%.6g,%.6f%s,%.2f", epoch, b, s->m, s->full_norm, s->mean_cos,
            s->frac_pos, s->min_norm, s->max_norm, s->min_norm / s->max_norm, row, secs);
    if (b == g->cfg->batch) g->last_mean_cos = s->mean_cos;
    for (long i = 0; i < s->m; i++) csv_row(&g->batches, "%d,%d,%ld,%.6g,%.6f", epoch, b, i, s->norm[i], s->cos[i]);
}

void exact_stats_measure(ExactStatsRun *g, int epoch) {
    const RunConfig *cfg = g->cfg;
    const WorkloadOps *ops = cfg->ops;
    size_t n = ops->params(g->w)->n;
    if (ops->stats_begin) ops->stats_begin(g->w);
    double t_full = 0;
    if (ops->stats_partition_invariant) { // one full gradient for all, from the cheapest partition
        double t0 = now_seconds();
        g->b = run_config_max_stats_batch(cfg);
        exactstats_full_gradient(g->full, batch_grad, g, g->components / g->b, n);
        t_full = now_seconds() - t0;
    }
    for (int k = 0; k < cfg->batch_sizes.n; k++) {
        double t0 = now_seconds();
        g->b = cfg->batch_sizes.v[k];
        long m = g->components / g->b;
        if (!ops->stats_partition_invariant) exactstats_full_gradient(g->full, batch_grad, g, m, n);
        ExactStats s;
        exactstats_measure(&s, g->full, batch_grad, g, m, n, cfg->eta.v, cfg->eta.n);
        write_rows(g, &s, epoch, g->b, now_seconds() - t0 + (k == 0 ? t_full : 0));
        exactstats_free(&s);
    }
    if (ops->stats_end) ops->stats_end(g->w);
    csv_flush(&g->epochs);
    csv_flush(&g->batches);
}

void exact_stats_close(ExactStatsRun *g, int finished) {
    if (finished) {
        csv_close(&g->epochs);
        csv_close(&g->batches);
    } else { // a stopped run leaves them as .partial: the resumed run continues them
        csv_close_partial(&g->epochs);
        csv_close_partial(&g->batches);
    }
    free(g->full), free(g->ids);
}
