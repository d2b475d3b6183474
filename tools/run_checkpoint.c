#include "run_checkpoint.h"
#include "resume.h"
#include "nn/check.h"
#include "nn/checkpoint.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { NCOUNTS = 7, NFIXED = 6, MAX_VALUES = NFIXED + 3 * WL_MAX_METRICS };

static int nvalues(const WorkloadOps *ops) { return NFIXED + 2 * ops->ntrain + ops->neval; }

static void put_sampler(CkptWriter *w, const Sampler *s) {
    ckpt_put_u64(w, "rng/sampler", 1, (int[]){4}, s->rng.s);
    if (!s->perm) return;
    uint64_t *perm = nn_malloc((size_t)s->m * sizeof *perm);
    for (long i = 0; i < s->m; i++) perm[i] = (uint64_t)s->perm[i];
    ckpt_put_u64(w, "sampler/perm", 1, (int[]){(int)s->m}, perm);
    free(perm);
}

static void get_sampler(CkptReader *r, Sampler *s, const char *path, const char *unit) {
    ckpt_get_u64(r, "rng/sampler", 1, (int[]){4}, s->rng.s);
    if (!s->perm) return;
    uint64_t *perm = nn_malloc((size_t)s->m * sizeof *perm);
    ckpt_get_u64(r, "sampler/perm", 1, (int[]){(int)s->m}, perm);
    for (long i = 0; i < s->m; i++) {
        NN_CHECK(perm[i] < (uint64_t)s->m, "checkpoint '%s': sampler/perm[%ld] = %llu is not an index of the %ld %s",
                 path, i, (unsigned long long)perm[i], s->m, unit);
        s->perm[i] = (long)perm[i];
    }
    free(perm);
}

static void put_progress(CkptWriter *w, const Run *r) {
    const Progress *p = &r->p;
    const WorkloadOps *ops = r->ops;
    uint64_t counts[NCOUNTS] = {(uint64_t)p->epoch, (uint64_t)p->b, (uint64_t)p->step, (uint64_t)p->clipped_steps,
                                (uint64_t)p->examples, (uint64_t)p->epoch_examples,
                                (uint64_t)(r->cfg->grad_stats && r->stats.have_prev)};
    ckpt_put_u64(w, "progress/counts", 1, (int[]){NCOUNTS}, counts);
    double v[MAX_VALUES] = {p->loss_sum, p->train_time, p->elapsed, p->train_loss, p->last_mean_cos, p->last_lr};
    int n = NFIXED;
    for (int k = 0; k < ops->ntrain; k++) v[n++] = p->metric_sums[k];
    for (int k = 0; k < ops->ntrain; k++) v[n++] = p->train_metrics[k];
    for (int k = 0; k < ops->neval; k++) v[n++] = p->eval[k];
    ckpt_put_f64(w, "progress/values", 1, (int[]){n}, v);
}

static void get_progress(CkptReader *rd, Run *r, const char *path) {
    Progress *p = &r->p;
    const WorkloadOps *ops = r->ops;
    uint64_t c[NCOUNTS];
    ckpt_get_u64(rd, "progress/counts", 1, (int[]){NCOUNTS}, c);
    // range checks before any cast: a damaged or hostile file must not become a negative index
    NN_CHECK(c[0] >= 1 && c[0] < (1u << 30) && c[1] <= (uint64_t)r->steps_per_epoch && c[2] < (1ull << 50) &&
             c[3] <= c[2] && c[4] < (1ull << 60) && c[5] <= c[4] && c[6] <= 1, "checkpoint '%s': progress/counts "
             "out of range (epoch %llu, step %llu of %ld in the epoch)", path, (unsigned long long)c[0],
             (unsigned long long)c[1], r->steps_per_epoch);
    p->epoch = (int)c[0], p->b = (long)c[1], p->step = (long)c[2], p->clipped_steps = (long)c[3];
    p->examples = (long)c[4], p->epoch_examples = (long)c[5];
    if (c[6]) { // grad_stats is in the configuration, so a run whose checkpoint has a previous gradient has them on
        const Params *P = ops->params(r->w);
        ckpt_get_views(rd, "gradstats/prev_grad/", P->views, P->nviews, r->stats.prev_grad);
        r->stats.have_prev = 1;
        double v[3] = {NAN, 0, 0}; // before the noise scale: it starts afresh at the second step
        if (ckpt_has(rd, "gradstats/noise_scale")) ckpt_get_f64(rd, "gradstats/noise_scale", 1, (int[]){3}, v);
        r->stats.prev_norm = v[0], r->stats.ema_trace = v[1], r->stats.ema_g2 = v[2];
    }
    double v[MAX_VALUES];
    int n = nvalues(ops);
    ckpt_get_f64(rd, "progress/values", 1, (int[]){n}, v);
    p->loss_sum = v[0], p->train_time = v[1], p->elapsed = v[2], p->train_loss = v[3], p->last_mean_cos = v[4];
    p->last_lr = (float)v[5];
    n = NFIXED;
    for (int k = 0; k < ops->ntrain; k++) p->metric_sums[k] = v[n++];
    for (int k = 0; k < ops->ntrain; k++) p->train_metrics[k] = v[n++];
    for (int k = 0; k < ops->neval; k++) p->eval[k] = v[n++];
}

void run_checkpoint_save(const Run *r, const char *path) {
    char *config = run_config_json(r->cfg);
    CkptWriter *w = ckpt_begin(path, config);
    free(config);
    ckpt_put_bytes(w, "tool", RUN_CHECKPOINT_TOOL, strlen(RUN_CHECKPOINT_TOOL));
    ckpt_put_bytes(w, "argv", r->argv_text, r->argv_len);
    const Params *P = r->ops->params(r->w);
    ckpt_put_params(w, "param/", P);
    optim_save_state(r->parts.opt, w, P->views, P->nviews, P->n);
    put_sampler(w, &r->sampler);
    if (r->cfg->grad_stats && r->stats.have_prev) {
        ckpt_put_views(w, "gradstats/prev_grad/", P->views, P->nviews, r->stats.prev_grad);
        const GradStats *g = &r->stats;
        ckpt_put_f64(w, "gradstats/noise_scale", 1, (int[]){3}, (double[]){g->prev_norm, g->ema_trace, g->ema_g2});
    }
    ckpt_put_f64(w, "schedule/state", 1, (int[]){2}, (double[]){r->parts.sched.best, r->parts.sched.current});
    put_progress(w, r);
    ckpt_put_f64(w, "progress/started", 1, (int[]){1}, &r->p.started);
    uint64_t lengths[NCSV];
    for (int i = 0; i < NCSV; i++) lengths[i] = r->csv[i] ? (uint64_t)csv_length(r->csv[i]) : UINT64_MAX;
    ckpt_put_u64(w, "csv/lengths", 1, (int[]){NCSV}, lengths);
    if (r->ops->save) r->ops->save(r->w, w);
    ckpt_commit(w);
}

void run_checkpoint_load(Run *r, const char *path, long csv_len[NCSV]) {
    CkptReader *rd = ckpt_open(path);
    resume_check_tool(rd, path, RUN_CHECKPOINT_TOOL);
    char *config = run_config_json(r->cfg);
    const char *may_change[32];
    char keys[32][FLAG_KEY_MAX];
    run_config_may_change(r->cfg, keys, may_change, 32);
    ckpt_check_config(rd, config, may_change);
    free(config);
    free(ckpt_get_bytes(rd, "argv", NULL));
    Params *P = r->ops->params(r->w);
    ckpt_get_params(rd, "param/", P);
    optim_load_state(r->parts.opt, rd, P->views, P->nviews, P->n);
    get_sampler(rd, &r->sampler, path, r->ops->unit);
    double sched[2];
    ckpt_get_f64(rd, "schedule/state", 1, (int[]){2}, sched);
    r->parts.sched.best = sched[0], r->parts.sched.current = (float)sched[1];
    get_progress(rd, r, path);
    if (ckpt_has(rd, "progress/started")) // checkpoints before provenance have none: this process's start
        ckpt_get_f64(rd, "progress/started", 1, (int[]){1}, &r->p.started);
    uint64_t lengths[NCSV];
    int saved = ckpt_find(rd, "csv/lengths"); // checkpoints before smoothness.csv hold 4
    int ncsv = saved >= 0 && ckpt_info(rd, saved)->ndim == 1 && ckpt_info(rd, saved)->dims[0] == NCSV - 1 ? NCSV - 1
                                                                                                          : NCSV;
    ckpt_get_u64(rd, "csv/lengths", 1, (int[]){ncsv}, lengths);
    for (int i = ncsv; i < NCSV; i++) lengths[i] = UINT64_MAX;
    for (int i = 0; i < NCSV; i++) {
        NN_CHECK(lengths[i] == UINT64_MAX || lengths[i] < (1ull << 62), "checkpoint '%s': csv/lengths[%d] out of "
                 "range", path, i);
        csv_len[i] = lengths[i] == UINT64_MAX ? -1 : (long)lengths[i];
    }
    if (r->ops->load) r->ops->load(r->w, rd, path);
    ckpt_expect_all_read(rd);
    ckpt_close(rd);
}
