#include "summary.h"
#include "cli.h"
#include "dist.h"
#include "provenance.h"
#include "nn/atomic_file.h"
#include "nn/check.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void add_number(cJSON *obj, const char *key, double v) {
    NN_CHECK(isfinite(v) ? cJSON_AddNumberToObject(obj, key, v) != NULL : cJSON_AddNullToObject(obj, key) != NULL,
             "summary.json: out of memory");
}

static void add_columns(cJSON *obj, const Column *cols, const double *v, int n, const char *suffix) {
    for (int k = 0; k < n; k++) {
        char key[128];
        snprintf(key, sizeof key, "%s%s", cols[k].name, suffix);
        add_number(obj, key, v ? v[k] : NAN);
    }
}

void summary_write(const Run *r, const TrainResult *res, const char *status) {
    const WorkloadOps *ops = r->ops;
    const Progress *p = &r->p;
    cJSON *obj = cJSON_CreateObject(), *config = cJSON_CreateObject();
    NN_CHECK(obj && config, "summary.json: out of memory");
    run_config_add_json(r->cfg, config);
    cJSON_AddStringToObject(obj, "status", status);
    cJSON_AddStringToObject(obj, "workload", ops->name);
    cJSON_AddStringToObject(obj, "preset", r->cfg->preset);
    cJSON_AddItemToObject(obj, "config", config);
    add_number(obj, "parameters", (double)ops->params(r->w)->n);
    add_number(obj, "steps", (double)p->step);
    add_number(obj, "train_loss_last_epoch", p->train_loss);
    add_columns(obj, ops->train_columns, p->train_metrics, ops->ntrain, "_last_epoch");
    add_columns(obj, ops->eval_columns, p->eval, ops->neval, "");
    add_columns(obj, ops->final_columns, res ? res->final : NULL, ops->nfinal, "");
    add_number(obj, "clipped_steps", (double)p->clipped_steps);
    add_number(obj, "exact_mean_cos", p->last_mean_cos);
    if (r->cfg->smooth_every) { // the (L0, L1) envelope of the smoothness measurements so far
        SmoothFit f = smoothness_fit(&r->smooth);
        cJSON *sm = cJSON_AddObjectToObject(obj, "smoothness");
        NN_CHECK(sm, "summary.json: out of memory");
        add_number(sm, "points", (double)f.n);
        add_number(sm, "quantile", f.tau);
        add_number(sm, "L0", f.l0);
        add_number(sm, "L1", f.l1);
        add_number(sm, "fraction_below", f.below);
        add_number(sm, "spearman", f.spearman);
    }
    double seconds = p->elapsed + now_seconds() - r->t0;
    add_number(obj, "wall_seconds", seconds);
    char key[64];
    snprintf(key, sizeof key, "train_%s_per_s", ops->unit);
    add_number(obj, key, p->train_time > 0 ? p->examples / p->train_time : NAN);
    // with --grad-blocks: this process's time in the ordered sums (with MPI ranks: the all-to-all and all-gather)
    if (r->cfg->grad_blocks > 1) add_number(obj, "block_sum_seconds", dist_reduce_seconds());
    add_number(obj, "train_seconds", p->train_time);    // the training steps (of every process of the run)
    add_number(obj, "batch_seconds", r->batch_seconds); // their forward and backward passes, this process
    cJSON *prov = cJSON_AddObjectToObject(obj, "provenance");
    NN_CHECK(prov, "summary.json: out of memory");
    char seed[24];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)r->cfg->seed);
    provenance_add_json(prov, seed, p->started, res ? wall_clock_seconds() : -1, r->argv_text, r->argv_len);
    char *text = cJSON_Print(obj);
    NN_CHECK(text, "summary.json: out of memory");
    char *path = nn_join_path(r->cfg->out, "summary.json");
    size_t len = strlen(text);
    text[len] = '\n'; // cJSON's text ends without one; its NUL becomes the file's last newline
    nn_write_atomic(path, text, len + 1);
    free(path), free(text);
    cJSON_Delete(obj);
}
