#include "exact_stats.h"
#include "cli.h"
#include "dist.h"
#include "nn/check.h"
#include "optim/exactstats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void stats_batches_init(StatsBatches *s, const RunConfig *cfg, Workload *w, long multiple, int max_b) {
    const WorkloadOps *ops = cfg->ops;
    long have = ops->stats_components(w);
    NN_CHECK(multiple <= have, "the statistics data set has %ld %s, fewer than the %ld its batches need; use smaller "
             "batch sizes or a larger statistics data set", have, ops->stats_unit, multiple);
    *s = (StatsBatches){.cfg = cfg, .w = w, .components = have / multiple * multiple};
    s->ids = nn_malloc((size_t)max_b * sizeof(long));
}

const float *stats_batch_grad(void *ctx, long i) {
    StatsBatches *s = ctx;
    const WorkloadOps *ops = s->cfg->ops;
    long m = s->components / s->b;
    for (int j = 0; j < s->b; j++) s->ids[j] = ops->stats_layout == STATS_STRIDED ? j * m + i : i * s->b + j;
    Params *P = ops->params(s->w);
    params_zero_grad(P);
    s->loss_sum += ops->batch(s->w, PASS_STATS, s->ids, s->b).loss;
    return P->grad;
}

void stats_batches_free(StatsBatches *s) { free(s->ids); }

void exact_stats_open(ExactStatsRun *g, const RunConfig *cfg, Workload *w, const long csv_len[2]) {
    const WorkloadOps *ops = cfg->ops;
    memset(g, 0, sizeof *g);
    g->last_mean_cos = NAN;
    long have = ops->stats_components(w), lcm = cli_lcm(cfg->batch_sizes.v, cfg->batch_sizes.n, have);
    NN_CHECK(lcm <= have, "--batch-sizes: the statistics data set has %ld %s, fewer than the least common multiple "
             "%ld of the batch sizes; use smaller batch sizes or a larger statistics data set", have, ops->stats_unit,
             lcm); // (stats_batches_init checks it too, without naming the flag)
    stats_batches_init(&g->sb, cfg, w, lcm, run_config_max_stats_batch(cfg));
    size_t n = ops->params(w)->n;
    g->full = nn_malloc(n * sizeof(double));
    if (cfg->grad_blocks > 1)
        g->chunk_sums = nn_malloc((size_t)(cfg->grad_blocks / dist_size()) * n * sizeof(double));
    g->writer = dist_rank() == 0;
    if (!g->writer) return; // rank 0 alone writes
    char header[512] = "epoch,batch_size,batches,full_grad_norm,mean_cos,frac_pos_cos,min_norm,max_norm,"
                       "min_max_ratio";
    for (int e = 0; e < cfg->eta.n; e++)
        snprintf(header + strlen(header), sizeof header - strlen(header), ",descent_eta_%g", cfg->eta.v[e]);
    strcat(header, ",noise_rms,b_simple,noise_q99_q50,hill_alpha,hill_lo,hill_hi,stable_alpha,stable_lo,stable_hi,"
                   "seconds");
    csv_open_at(&g->epochs, cfg->out, "gradstats.csv", header, csv_len[0]);
    csv_open_at(&g->batches, cfg->out, "gradstats_batches.csv", "epoch,batch_size,batch,norm,cos,noise", csv_len[1]);
    printf("gradstats: %ld %s, batch sizes", g->sb.components, ops->stats_unit);
    for (int i = 0; i < cfg->batch_sizes.n; i++) printf(" %d", cfg->batch_sizes.v[i]);
    printf(", %s\n", ops->stats_about);
}

// A value for the terminal: "n/a" where it is not defined (too few batches), never "nan".
static void fmt_value(char *buf, size_t size, double v) {
    if (isnan(v)) snprintf(buf, size, "n/a");
    else snprintf(buf, size, "%.3g", v);
}

static void write_rows(ExactStatsRun *g, const ExactStats *s, int epoch, int b, double secs) {
    if (b == g->sb.cfg->batch) g->last_mean_cos = s->mean_cos;
    if (!g->writer) return;
    char desc[256] = "", row[256] = "";
    for (int e = 0; e < s->neta; e++) {
        snprintf(desc + strlen(desc), sizeof desc - strlen(desc), " %.4f (eta %g)", s->descent[e], s->eta[e]);
        snprintf(row + strlen(row), sizeof row - strlen(row), ",%.6g", s->descent[e]);
    }
    double b_simple = exactstats_noise_scale(s, b, g->sb.components);
    double q99_q50 = tail_quantile(s->noise, s->m, 0.99) / tail_quantile(s->noise, s->m, 0.5);
    TailIndex hill = tail_hill(s->noise, s->m, tail_hill_k(s->m)), st = s->stable;
    printf("gradstats epoch %d batch %d: m %ld, mean cos %.4f, positive %.1f%%, min/max norm %.4f, ||grad f|| %.4g, "
           "descent%s, %.0fs\n", epoch, b, s->m, s->mean_cos, 100 * s->frac_pos, s->min_norm / s->max_norm,
           s->full_norm, desc, secs);
    char b_s[16], q_s[16], tails[2][64];
    const TailIndex *t[2] = {&hill, &st};
    fmt_value(b_s, sizeof b_s, b_simple), fmt_value(q_s, sizeof q_s, q99_q50);
    for (int k = 0; k < 2; k++) {
        char v[3][16];
        fmt_value(v[0], 16, t[k]->alpha), fmt_value(v[1], 16, t[k]->lo), fmt_value(v[2], 16, t[k]->hi);
        if (isnan(t[k]->alpha)) snprintf(tails[k], sizeof tails[k], "n/a");
        else snprintf(tails[k], sizeof tails[k], "%s [%s, %s]", v[0], v[1], v[2]);
    }
    printf("  noise ||g_i - grad f||: rms %.4g, B_simple %s %s, q99/median %s; tail index: Hill %s (k %ld), stable %s "
           "(blocks of %ld)\n", sqrt(s->noise_ms), b_s, g->sb.cfg->ops->stats_unit, q_s, tails[0], hill.k, tails[1], st.k);
    csv_row(&g->epochs, "%d,%d,%ld,%.6g,%.6f,%.6f,%.6g,%.6g,%.6f%s,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.2f",
            epoch, b, s->m, s->full_norm, s->mean_cos, s->frac_pos, s->min_norm, s->max_norm,
            s->min_norm / s->max_norm, row, sqrt(s->noise_ms), b_simple, q99_q50, hill.alpha, hill.lo, hill.hi,
            st.alpha, st.lo, st.hi, secs);
    for (long i = 0; i < s->m; i++)
        csv_row(&g->batches, "%d,%d,%ld,%.6g,%.6f,%.6g", epoch, b, i, s->norm[i], s->cos[i], s->noise[i]);
}

// Pass 1 over m batches of sb->b: the G chunks of this rank, added over the ranks in chunk order.
static void full_gradient(ExactStatsRun *g, long m, size_t n) {
    int G = g->sb.cfg->grad_blocks, nlocal = G / dist_size(), first = dist_rank() * nlocal;
    if (G == 1) {
        exactstats_full_gradient(g->full, stats_batch_grad, &g->sb, m, n);
        return;
    }
    for (int j = 0; j < nlocal; j++) {
        long c = first + j;
        exactstats_sum_range(g->chunk_sums + (size_t)j * n, stats_batch_grad, &g->sb, c * m / G, (c + 1) * m / G, n);
    }
    dist_sum_blocks_f64(g->chunk_sums, nlocal, n, g->full);
    for (size_t j = 0; j < n; j++) g->full[j] /= (double)m;
}

void exact_stats_measure(ExactStatsRun *g, int epoch) {
    StatsBatches *sb = &g->sb;
    const RunConfig *cfg = sb->cfg;
    const WorkloadOps *ops = cfg->ops;
    size_t n = ops->params(sb->w)->n;
    if (ops->stats_begin) ops->stats_begin(sb->w);
    double t_full = 0;
    if (ops->stats_partition_invariant) { // one full gradient for all, from the cheapest partition
        double t0 = now_seconds();
        sb->b = run_config_max_stats_batch(cfg);
        full_gradient(g, sb->components / sb->b, n);
        t_full = now_seconds() - t0;
    }
    for (int k = 0; k < cfg->batch_sizes.n; k++) {
        double t0 = now_seconds();
        sb->b = cfg->batch_sizes.v[k];
        long m = sb->components / sb->b;
        if (!ops->stats_partition_invariant) full_gradient(g, m, n);
        ExactStats s;
        exactstats_measure_shared(&s, g->full, stats_batch_grad, sb, m, n, cfg->eta.v, cfg->eta.n, dist_rank(),
                                  dist_size(), dist_allgather);
        write_rows(g, &s, epoch, sb->b, now_seconds() - t0 + (k == 0 ? t_full : 0));
        exactstats_free(&s);
    }
    if (ops->stats_end) ops->stats_end(sb->w);
    if (!g->writer) return;
    csv_flush(&g->epochs);
    csv_flush(&g->batches);
}

void exact_stats_close(ExactStatsRun *g, int finished) {
    if (g->writer) {
        if (finished) {
            csv_close(&g->epochs);
            csv_close(&g->batches);
        } else { // a stopped run leaves them as .partial: the resumed run continues them
            csv_close_partial(&g->epochs);
            csv_close_partial(&g->batches);
        }
    }
    free(g->full), free(g->chunk_sums);
    stats_batches_free(&g->sb);
}
