#include "lm_gradstats.h"
#include "cli.h"
#include "models/lm_components.h"
#include "nn/check.h"
#include "optim/exactstats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void lm_gradstats_open(LmGradStats *g, const LmRunConfig *cfg, int vocab, const int *train_ids, long train_len,
                       const long *csv_len) {
    memset(g, 0, sizeof *g);
    g->cfg = cfg;
    g->last_mean_cos = NAN;
    long n = cfg->stats_tokens > 0 && cfg->stats_tokens < train_len ? cfg->stats_tokens : train_len;
    long windows = (n - 1) / cfg->bptt, lcm = cli_lcm(cfg->batch_sizes, cfg->nbatch_sizes, windows);
    NN_CHECK(lcm <= windows, "--batch-sizes: the statistics data set has %ld windows of %d tokens, fewer than the "
             "least common multiple %ld of the batch sizes; use smaller batch sizes or more --stats-tokens", windows,
             cfg->bptt, lcm);
    int bmax = 1;
    for (int i = 0; i < cfg->nbatch_sizes; i++) bmax = cfg->batch_sizes[i] > bmax ? cfg->batch_sizes[i] : bmax;
    // every batch size divides the data set, so all of them see the same f and the same full gradient
    g->windows = windows / lcm * lcm;
    g->ids = train_ids;
    LmRunConfig nodrop = *cfg;
    nodrop.dropout = 0;
    LmConfig mc = lm_config_model(&nodrop, vocab, bmax, "--batch-sizes or --hidden");
    lm_init(&g->model, &mc);
    g->full = nn_malloc(g->model.params.n * sizeof(double));
    char header[512] = "epoch,batch_size,batches,full_grad_norm,mean_cos,frac_pos_cos,min_norm,max_norm,"
                       "min_max_ratio";
    for (int e = 0; e < cfg->neta; e++)
        snprintf(header + strlen(header), sizeof header - strlen(header), ",descent_eta_%g", cfg->eta[e]);
    strcat(header, ",seconds");
    csv_open_at(&g->epochs, cfg->out, "gradstats.csv", header, csv_len ? csv_len[0] : -1);
    csv_open_at(&g->batches, cfg->out, "gradstats_batches.csv", "epoch,batch_size,batch,norm,cos",
                csv_len ? csv_len[1] : -1);
    printf("gradstats: %ld windows of %d tokens (%ld tokens), batch sizes", g->windows, cfg->bptt,
           g->windows * cfg->bptt);
    for (int i = 0; i < cfg->nbatch_sizes; i++) printf(" %d", cfg->batch_sizes[i]);
    printf(", dropout off, each window from a zero state\n");
}

void lm_gradstats_run(LmGradStats *g, const LstmLM *trained, int epoch) {
    const LmRunConfig *cfg = g->cfg;
    Params *P = &g->model.params;
    NN_CHECK(P->n == trained->params.n, "gradstats: the statistics model has %zu parameters, the trained one %zu",
             P->n, trained->params.n);
    memcpy(P->param, trained->params.param, P->n * sizeof(float));
    double t0 = now_seconds();
    int bmax = g->model.cfg.batch;
    LmComponents c;
    lm_components_init(&c, &g->model, g->ids, g->windows, cfg->bptt, bmax); // the cheapest partition
    exactstats_full_gradient(g->full, lm_component_grad, &c, c.m, P->n);
    lm_components_free(&c);
    double t_full = now_seconds() - t0;
    for (int k = 0; k < cfg->nbatch_sizes; k++) {
        double t1 = now_seconds();
        int b = cfg->batch_sizes[k];
        lm_components_init(&c, &g->model, g->ids, g->windows, cfg->bptt, b);
        ExactStats s;
        exactstats_measure(&s, g->full, lm_component_grad, &c, c.m, P->n, cfg->eta, cfg->neta);
        lm_components_free(&c);
        double secs = now_seconds() - t1 + (k == 0 ? t_full : 0);
        char desc[256] = "", row[256] = "";
        for (int e = 0; e < s.neta; e++) {
            snprintf(desc + strlen(desc), sizeof desc - strlen(desc), " %.4f (eta %g)", s.descent[e], s.eta[e]);
            snprintf(row + strlen(row), sizeof row - strlen(row), ",%.6g", s.descent[e]);
        }
        printf("gradstats epoch %d batch %d: m %ld, mean cos %.4f, positive %.1f%%, min/max norm %.4f, "
               "||grad f|| %.4g, descent%s, %.0fs\n", epoch, b, s.m, s.mean_cos, 100 * s.frac_pos,
               s.min_norm / s.max_norm, s.full_norm, desc, secs);
        csv_row(&g->epochs, "%d,%d,%ld,%.6g,%.6f,%.6f,%.6g,%.6g,%.6f%s,%.2f", epoch, b, s.m, s.full_norm,
                s.mean_cos, s.frac_pos, s.min_norm, s.max_norm, s.min_norm / s.max_norm, row, secs);
        if (b == cfg->batch) g->last_mean_cos = s.mean_cos;
        for (long i = 0; i < s.m; i++) csv_row(&g->batches, "%d,%d,%ld,%.6g,%.6f", epoch, b, i, s.norm[i], s.cos[i]);
        exactstats_free(&s);
    }
    csv_flush(&g->epochs);
    csv_flush(&g->batches);
}

void lm_gradstats_close(LmGradStats *g, int finished) {
    if (finished) {
        csv_close(&g->epochs);
        csv_close(&g->batches);
    } else {
        csv_close_partial(&g->epochs);
        csv_close_partial(&g->batches);
    }
    free(g->full);
    lm_free(&g->model);
}
