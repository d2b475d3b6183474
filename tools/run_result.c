#define _POSIX_C_SOURCE 200809L
#include "run_result.h"
#include "cli.h"
#include "nn/check.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Metric metric_of(const WorkloadOps *ops, const char *name, const char *select) {
    Metric m = {.ops = ops};
    NN_CHECK(!select || strcmp(select, "final") == 0 || strcmp(select, "best") == 0,
             "--select '%s': expected final (the last epoch's value) or best (the best epoch's)", select);
    m.best = select && strcmp(select, "best") == 0;
    if (!name || !*name) return m;
    for (m.column = 0; m.column < ops->neval; m.column++)
        if (strcmp(ops->eval_columns[m.column].name, name) == 0) return m;
    char list[256] = "";
    for (int k = 0; k < ops->neval; k++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", k ? ", " : "", ops->eval_columns[k].name);
    NN_FATAL("--metric '%s': workload %s has no such evaluation column (it has %s)", name, ops->name, list);
}

int metric_better(const Metric *m, double a, double b) {
    return m->ops->eval_columns[m->column].higher_is_better ? a > b : a < b;
}

double metric_worst(const Metric *m) { return m->ops->eval_columns[m->column].higher_is_better ? -INFINITY : INFINITY; }

static int fail(char *err, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return -1;
}

static double number(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *string(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

// A count read as a double: 0 when it is no number or beyond a long (converting it would be undefined).
static long whole(double x) { return x > -9e18 && x < 9e18 ? (long)x : 0; }

// epochs.csv: the columns by their header names; rows cut short (a run killed while writing) end the table.
void run_result_parse_epochs(RunResult *r, const char *text) {
    const WorkloadOps *ops = r->ops;
    enum { MAXCOL = 32 };
    int col_step = -1, col_seconds = -1, col_loss = -1, col_eval[WL_MAX_METRICS], ncol = 0;
    for (int k = 0; k < ops->neval; k++) col_eval[k] = -1;
    const char *line = text, *end = strchr(line, '\n');
    if (!end) return;
    char header[1024];
    snprintf(header, sizeof header, "%.*s", (int)(end - line), line);
    char *save = NULL;
    for (char *name = strtok_r(header, ",", &save); name; name = strtok_r(NULL, ",", &save), ncol++) {
        if (strcmp(name, "step") == 0) col_step = ncol;
        else if (strcmp(name, "seconds") == 0) col_seconds = ncol;
        else if (strcmp(name, "train_loss") == 0) col_loss = ncol;
        for (int k = 0; k < ops->neval; k++)
            if (strcmp(name, ops->eval_columns[k].name) == 0) col_eval[k] = ncol;
    }
    int rows = 0;
    for (const char *c = end + 1; *c; c++) rows += *c == '\n';
    r->epoch_step = nn_calloc((size_t)rows + 1, sizeof(long));
    r->epoch_seconds = nn_calloc((size_t)rows + 1, sizeof(double));
    r->epoch_train_loss = nn_calloc((size_t)rows + 1, sizeof(double));
    r->epoch_eval = nn_calloc(((size_t)rows + 1) * WL_MAX_METRICS, sizeof(double));
    for (line = end + 1; (end = strchr(line, '\n')) != NULL; line = end + 1) {
        double v[MAXCOL];
        int n = 0;
        for (const char *c = line; n < MAXCOL;) {
            char *stop;
            v[n] = strtod(c, &stop);
            if (stop == c) v[n] = NAN;
            n++;
            c = stop + strcspn(stop, ",\n");
            if (*c != ',') break;
            c++;
        }
        if (n < ncol) break; // a partial row
        int e = r->nepochs++;
        r->epoch_step[e] = col_step >= 0 ? whole(v[col_step]) : 0;
        r->epoch_seconds[e] = col_seconds >= 0 ? v[col_seconds] : NAN;
        r->epoch_train_loss[e] = col_loss >= 0 ? v[col_loss] : NAN;
        for (int k = 0; k < ops->neval; k++)
            r->epoch_eval[e * ops->neval + k] = col_eval[k] >= 0 ? v[col_eval[k]] : NAN;
    }
}

int run_result_read(RunResult *r, const char *dir, char *err, size_t errcap) {
    memset(r, 0, sizeof *r);
    char *text = cli_read_if_present(dir, "summary.json");
    if (!text) return fail(err, errcap, "%s: no summary.json", dir);
    int rc = run_result_parse(r, dir, text, err, errcap);
    free(text);
    if (rc) return rc;
    char *csv = cli_read_if_present(dir, "epochs.csv");
    if (csv) run_result_parse_epochs(r, csv);
    free(csv);
    return 0;
}

int run_result_parse(RunResult *r, const char *dir, const char *summary_json, char *err, size_t errcap) {
    memset(r, 0, sizeof *r);
    r->summary = cJSON_Parse(summary_json);
    if (!r->summary) return fail(err, errcap, "%s/summary.json is not JSON", dir);
    const char *status = string(r->summary, "status"), *workload = string(r->summary, "workload");
    r->config = cJSON_GetObjectItemCaseSensitive(r->summary, "config");
    const WorkloadOps *ops = NULL;
    for (int i = 0; workload && i < nworkloads; i++)
        if (strcmp(workloads[i]->name, workload) == 0) ops = workloads[i];
    if (!status || !ops || !cJSON_IsObject(r->config)) {
        cJSON_Delete(r->summary);
        r->summary = NULL;
        return fail(err, errcap, "%s/summary.json: no status, known workload or config", dir);
    }
    r->dir = nn_strdup(dir), r->status = nn_strdup(status), r->ops = ops;
    const char *label = string(r->config, "label"), *optim = string(r->config, "optim");
    if (label && *label) r->label = nn_strdup(label);
    else {
        r->label = nn_malloc(strlen(optim ? optim : "?") + 6);
        sprintf(r->label, "%s%s", optim ? optim : "?", number(r->config, "clip") > 0 ? "-clip" : "");
    }
    // the seed as provenance writes it (text: every digit of a u64), else as the configuration's number
    const char *seed = string(cJSON_GetObjectItemCaseSensitive(r->summary, "provenance"), "seed");
    const cJSON *number_seed = cJSON_GetObjectItemCaseSensitive(r->config, "seed");
    if (seed) snprintf(r->seed, sizeof r->seed, "%s", seed);
    else if (cJSON_IsNumber(number_seed)) snprintf(r->seed, sizeof r->seed, "%.17g", number_seed->valuedouble);
    else snprintf(r->seed, sizeof r->seed, "?");
    r->lr = number(r->config, "lr");
    r->steps = whole(number(r->summary, "steps"));
    r->wall_seconds = number(r->summary, "wall_seconds");
    double clipped = number(r->summary, "clipped_steps");
    r->clip_rate = r->steps > 0 ? clipped / (double)r->steps : NAN;
    r->mean_cos = number(r->summary, "exact_mean_cos");
    return 0;
}

void run_result_free(RunResult *r) {
    cJSON_Delete(r->summary);
    free(r->dir), free(r->status), free(r->label);
    free(r->epoch_step), free(r->epoch_seconds), free(r->epoch_train_loss), free(r->epoch_eval);
    memset(r, 0, sizeof *r);
}

int run_result_finished(const RunResult *r) {
    return strcmp(r->status, "done") == 0 || strcmp(r->status, "diverged") == 0;
}

double run_result_metric(const RunResult *r, const Metric *m) {
    if (strcmp(r->status, "diverged") == 0 || r->nepochs == 0) return metric_worst(m);
    int neval = r->ops->neval;
    double v = r->epoch_eval[(r->nepochs - 1) * neval + m->column];
    for (int e = 0; m->best && e < r->nepochs; e++) {
        double x = r->epoch_eval[e * neval + m->column];
        if (metric_better(m, x, v)) v = x;
    }
    return isfinite(v) ? v : metric_worst(m);
}

int run_result_time_to(const RunResult *r, const Metric *m, double target, long *step, double *seconds) {
    for (int e = 0; e < r->nepochs; e++) {
        double x = r->epoch_eval[e * r->ops->neval + m->column];
        if (x == target || metric_better(m, x, target)) {
            *step = r->epoch_step[e], *seconds = r->epoch_seconds[e];
            return 0;
        }
    }
    return -1;
}

int choose_setting(const Metric *m, const double *values, const int *setting, const char (*seed)[24], int n, int ns) {
    if (ns <= 0) return -1;
    // a seed is common when every setting has a run at it
    char *common = nn_calloc((size_t)n, 1);
    int any_common = 0;
    for (int i = 0; i < n; i++) {
        int have = 0;
        for (int s = 0; s < ns; s++) {
            int found = 0;
            for (int j = 0; j < n && !found; j++) found = setting[j] == s && strcmp(seed[j], seed[i]) == 0;
            have += found;
        }
        common[i] = have == ns;
        any_common |= common[i];
    }
    int best = -1;
    double best_score = 0;
    for (int s = 0; s < ns; s++) {
        double sum = 0;
        int k = 0;
        for (int i = 0; i < n; i++)
            if (setting[i] == s && (common[i] || !any_common)) sum += values[i], k++;
        double score = k ? sum / k : metric_worst(m);
        if (best < 0 || metric_better(m, score, best_score)) best = s, best_score = score;
    }
    free(common);
    return best;
}
