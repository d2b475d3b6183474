#include "cifar_gradstats.h"
#include "cli.h"
#include "nn/check.h"
#include "optim/exactstats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void cifar_gradstats_open(CifarGradStats *g, const CifarRunConfig *cfg, const CifarSet *train,
                          const CifarStats *norm, const ResNet *m, const long *csv_len) {
    memset(g, 0, sizeof *g);
    g->cfg = cfg, g->set = train, g->norm = norm;
    g->last_mean_cos = NAN;
    long n = cfg->stats_images < train->n ? cfg->stats_images : train->n;
    long lcm = cli_lcm(cfg->batch_sizes, cfg->nbatch_sizes, n);
    NN_CHECK(lcm <= n, "--batch-sizes: the statistics data set has %ld images, fewer than the least common "
             "multiple %ld of the batch sizes; use smaller batch sizes or more --stats-images", n, lcm);
    int bmax = 1;
    for (int i = 0; i < cfg->nbatch_sizes; i++) bmax = cfg->batch_sizes[i] > bmax ? cfg->batch_sizes[i] : bmax;
    NN_CHECK(bmax <= m->cfg.batch, "cifar_gradstats: batch size %d exceeds the model's buffers (%d)", bmax,
             m->cfg.batch);
    g->images = n / lcm * lcm; // every batch size divides the data set: all of them see the same images
    g->full = nn_malloc(m->params.n * sizeof(double));
    g->x = nn_alloc_floats((size_t)bmax * CIFAR_PIXELS);
    g->y = nn_malloc((size_t)bmax * sizeof(int));
    g->idx = nn_malloc((size_t)bmax * sizeof(long));
    g->saved = nn_malloc(m->stats.n * sizeof(float));
    char header[512] = "epoch,batch_size,batches,full_grad_norm,mean_cos,frac_pos_cos,min_norm,max_norm,"
                       "min_max_ratio";
    for (int e = 0; e < cfg->neta; e++)
        snprintf(header + strlen(header), sizeof header - strlen(header), ",descent_eta_%g", cfg->eta[e]);
    strcat(header, ",seconds");
    csv_open_at(&g->epochs, cfg->out, "gradstats.csv", header, csv_len ? csv_len[0] : -1);
    csv_open_at(&g->batches, cfg->out, "gradstats_batches.csv", "epoch,batch_size,batch,norm,cos",
                csv_len ? csv_len[1] : -1);
    printf("gradstats: the first %ld training images, batch sizes", g->images);
    for (int i = 0; i < cfg->nbatch_sizes; i++) printf(" %d", cfg->batch_sizes[i]);
    printf(", no augmentation, batchnorm in training mode (a full gradient per batch size; running statistics "
           "restored after each measurement)\n");
}

typedef struct {
    CifarGradStats *g;
    ResNet *m;
    int B;
} BatchCtx;

// The gradient of batch i of the fixed partition, as a training step would compute it (without augmentation).
static const float *batch_grad(void *ctx, long i) {
    BatchCtx *c = ctx;
    CifarGradStats *g = c->g;
    for (int j = 0; j < c->B; j++) g->idx[j] = i * c->B + j;
    cifar_batch(g->set, g->norm, g->idx, c->B, NULL, g->x, g->y);
    params_zero_grad(&c->m->params);
    resnet_forward(c->m, g->x, g->y, c->B, 1);
    resnet_backward(c->m);
    return c->m->params.grad;
}

void cifar_gradstats_run(CifarGradStats *g, ResNet *m, int epoch) {
    const CifarRunConfig *cfg = g->cfg;
    size_t n = m->params.n;
    memcpy(g->saved, m->stats.param, m->stats.n * sizeof(float));
    for (int k = 0; k < cfg->nbatch_sizes; k++) {
        double t0 = now_seconds();
        BatchCtx c = {.g = g, .m = m, .B = cfg->batch_sizes[k]};
        long batches = g->images / c.B;
        exactstats_full_gradient(g->full, batch_grad, &c, batches, n);
        ExactStats s;
        exactstats_measure(&s, g->full, batch_grad, &c, batches, n, cfg->eta, cfg->neta);
        double secs = now_seconds() - t0;
        char desc[256] = "", row[256] = "";
        for (int e = 0; e < s.neta; e++) {
            snprintf(desc + strlen(desc), sizeof desc - strlen(desc), " %.4f (eta %g)", s.descent[e], s.eta[e]);
            snprintf(row + strlen(row), sizeof row - strlen(row), ",%.6g", s.descent[e]);
        }
        printf("gradstats epoch %d batch %d: m %ld, mean cos %.4f, positive %.1f%%, min/max norm %.4f, "
               "||grad f|| %.4g, descent%s, %.0fs\n", epoch, c.B, s.m, s.mean_cos, 100 * s.frac_pos,
               s.min_norm / s.max_norm, s.full_norm, desc, secs);
        csv_row(&g->epochs, "%d,%d,%ld,%.6g,%.6f,%.6f,%.6g,%.6g,%.6f%s,%.2f", epoch, c.B, s.m, s.full_norm,
                s.mean_cos, s.frac_pos, s.min_norm, s.max_norm, s.min_norm / s.max_norm, row, secs);
        if (c.B == cfg->batch) g->last_mean_cos = s.mean_cos;
        for (long i = 0; i < s.m; i++) csv_row(&g->batches, "%d,%d,%ld,%.6g,%.6f", epoch, c.B, i, s.norm[i], s.cos[i]);
        exactstats_free(&s);
    }
    memcpy(m->stats.param, g->saved, m->stats.n * sizeof(float)); // the run goes on as if nothing was measured
    csv_flush(&g->epochs);
    csv_flush(&g->batches);
}

void cifar_gradstats_close(CifarGradStats *g, int finished) {
    if (finished) {
        csv_close(&g->epochs);
        csv_close(&g->batches);
    } else { // a stopped run leaves them as .partial: the resumed run continues them
        csv_close_partial(&g->epochs);
        csv_close_partial(&g->batches);
    }
    free(g->full), free(g->x), free(g->y), free(g->idx), free(g->saved);
}
