// `nnopt report DIR...`: any set of finished runs (sweeps, compare's methods, single runs) merged into one
// comparison: per workload and method, the setting the tuning protocol chooses, its metric over seeds, the time to
// a target, clip rate and exact cosine; the learning-rate sensitivity, the curves with bands over seeds, and across
// workloads AlgoPerf-style performance profiles; report.md, data files, report.gp and PNGs.
#define _DEFAULT_SOURCE // DT_DIR
#include "cli.h"
#include "markdown.h"
#include "plots.h"
#include "provenance.h"
#include "run_result.h"
#include "nn/atomic_file.h"
#include "nn/check.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_GROUPS 64

static void usage(FILE *out) {
    fprintf(out,
        "usage: nnopt report DIR... [--out DIR] [--metric COL] [--select final|best] [--target X] [--no-plots]\n"
        "  Finds every run under the DIRs (directories with a summary.json), groups them by workload and method\n"
        "  (the run's --label, which nnopt sweep sets, else its optimizer, +clip when clipping) and, per method,\n"
        "  chooses the setting with the best mean metric over the seeds every setting ran at (a sweep's tuning\n"
        "  seed); it reports that setting over all its seeds. A diverged run ranks last.\n"
        "  --out DIR       where report.md, the .dat files, report.gp and the PNGs go (default: the first DIR)\n"
        "  --metric COL    the evaluation column (default: a sweep's --metric, else the workload's first, a loss)\n"
        "  --select S      final (the last epoch's value, default) or best (the best epoch's)\n"
        "  --target X      the value that 'time to target' means (one workload only; default: the worst of the\n"
        "                  methods' mean metrics, so that each method's typical run reaches it)\n"
        "  --no-plots      skip gnuplot\n");
}

typedef struct {
    RunResult r;
    int group, method, setting; // indices into the report's groups, their methods, the methods' settings
    char *setting_key;          // its configuration without seed, out, label, threads, data and checkpoints
    double value;               // the metric
} Entry;

typedef struct {
    char *label, *md, *gp;      // the label, and as Markdown / a gnuplot string's text (escaped)
    int nsettings, chosen;
    char **setting_keys;        // [nsettings]
    char **setting_names;       // what differs between them: "lr=0.01"
    // over the chosen setting's seeds
    int seeds, diverged, reached;
    double mean, std, min, max, clip_rate, mean_cos, steps_to, seconds_to, lr, last_col_mean;
} MethodStats;

typedef struct {
    const WorkloadOps *ops;
    Metric metric;
    double target;
    int nmethods;
    MethodStats methods[MAX_GROUPS];
} Group;

typedef struct {
    int nentries;
    Entry *entries;
    int ngroups;
    Group groups[MAX_GROUPS];
    char *method_order[MAX_GROUPS]; // from sweep.json files: the methods in the order the sweep gave them
    int norder, skipped, unfinished;
} Report;

// dir's sweep.json, if it has one: its methods' order, and (the first sweep's) metric and selection into *metric
// (NULL when it names none) and *select.
static void read_sweep(Report *rep, const char *dir, char **metric, char **select) {
    char *text = cli_read_if_present(dir, "sweep.json");
    if (!text) return;
    cJSON *o = cJSON_Parse(text), *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(o, "methods")) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(m, "name");
        if (cJSON_IsString(name) && rep->norder < MAX_GROUPS)
            rep->method_order[rep->norder++] = nn_strdup(name->valuestring);
    }
    if (!*select) {
        const cJSON *col = cJSON_GetObjectItemCaseSensitive(o, "metric");
        const cJSON *sel = cJSON_GetObjectItemCaseSensitive(o, "select");
        if (cJSON_IsString(col) && *col->valuestring) *metric = nn_strdup(col->valuestring);
        *select = nn_strdup(cJSON_IsString(sel) ? sel->valuestring : "final");
    }
    cJSON_Delete(o);
    free(text);
}

// Every directory under dir (depth <= 4) with a summary.json.
static void collect(Report *rep, const char *dir, int depth) {
    RunResult r;
    char err[512];
    if (run_result_read(&r, dir, err, sizeof err) == 0) {
        if (!run_result_finished(&r)) {
            rep->unfinished++;
            run_result_free(&r);
            return;
        }
        rep->entries = nn_realloc(rep->entries, (size_t)(rep->nentries + 1) * sizeof(Entry));
        rep->entries[rep->nentries++] = (Entry){.r = r};
        return;
    }
    if (strstr(err, "no summary.json") == NULL) {
        fprintf(stderr, "report: skipped %s\n", err);
        rep->skipped++;
    }
    DIR *d = depth < 4 ? opendir(dir) : NULL;
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN)) continue;
        char *sub = nn_join_path(dir, e->d_name);
        collect(rep, sub, depth + 1);
        free(sub);
    }
    closedir(d);
}

static int by_dir(const void *a, const void *b) { return strcmp(((const Entry *)a)->r.dir, ((const Entry *)b)->r.dir); }

// The configuration that makes a setting: everything but what only names, places or repeats a run.
static char *setting_key(const cJSON *config) {
    static const char *const ignore[] = {"seed", "out", "label", "threads", "data", "save_every", "save_epochs"};
    cJSON *c = cJSON_Duplicate(config, 1);
    for (size_t i = 0; i < sizeof ignore / sizeof ignore[0]; i++) cJSON_DeleteItemFromObjectCaseSensitive(c, ignore[i]);
    char *text = cJSON_PrintUnformatted(c);
    cJSON_Delete(c);
    return text;
}

static int method_rank(const Report *rep, const char *label) {
    for (int i = 0; i < rep->norder; i++)
        if (strcmp(rep->method_order[i], label) == 0) return i;
    return rep->norder;
}

// "lr=0.01,clip=0.25": the configuration fields that differ between a method's settings, for setting s
static char *setting_name(const Report *rep, const Group *g, int gi, int mi, int s) {
    const MethodStats *m = &g->methods[mi];
    const cJSON *mine = NULL;
    for (int i = 0; i < rep->nentries && !mine; i++) {
        const Entry *e = &rep->entries[i];
        if (e->group == gi && e->method == mi && e->setting == s) mine = e->r.config;
    }
    size_t len = 0;
    char *text = NULL;
    FILE *t = open_memstream(&text, &len); // any length: a setting is named whole
    NN_CHECK(t, "report: out of memory");
    const cJSON *field;
    cJSON_ArrayForEach(field, mine) {
        char *v = cJSON_PrintUnformatted(field);
        int differs = 0;
        for (int i = 0; i < rep->nentries && !differs; i++) {
            const Entry *e = &rep->entries[i];
            if (e->group != gi || e->method != mi || strcmp(e->setting_key, m->setting_keys[s]) == 0) continue;
            char *w = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(e->r.config, field->string));
            differs = !w || strcmp(v, w) != 0;
            free(w);
        }
        if (differs && strcmp(field->string, "seed") != 0 && strcmp(field->string, "out") != 0)
            fprintf(t, "%s%s=%s", ftell(t) ? "," : "", field->string, v);
        free(v);
    }
    fclose(t);
    char *name = md_text(*text ? text : "-");
    free(text);
    return name;
}

static void group_runs(Report *rep, const char *metric_name, const char *select) {
    for (int i = 0; i < rep->nentries; i++) {
        Entry *e = &rep->entries[i];
        int g = 0;
        while (g < rep->ngroups && rep->groups[g].ops != e->r.ops) g++;
        if (g == rep->ngroups) {
            NN_CHECK(g < MAX_GROUPS, "report: more than %d workloads", MAX_GROUPS);
            rep->groups[rep->ngroups++] = (Group){.ops = e->r.ops, .metric = metric_of(e->r.ops, metric_name, select)};
        }
        Group *G = &rep->groups[g];
        int m = 0;
        while (m < G->nmethods && strcmp(G->methods[m].label, e->r.label) != 0) m++;
        if (m == G->nmethods) {
            NN_CHECK(m < MAX_GROUPS, "report: more than %d methods", MAX_GROUPS);
            const char *shown = *e->r.label ? e->r.label : "(no label)";
            G->methods[G->nmethods++] = (MethodStats){.label = nn_strdup(e->r.label), .md = md_text(shown),
                                                      .gp = gp_quote(shown)};
        }
        e->group = g, e->method = m;
    }
    // methods in the sweeps' order, then alphabetically (the entries are sorted by directory)
    for (int g = 0; g < rep->ngroups; g++) {
        Group *G = &rep->groups[g];
        int order[MAX_GROUPS], where[MAX_GROUPS];
        for (int m = 0; m < G->nmethods; m++) order[m] = m;
        for (int a = 1; a < G->nmethods; a++)
            for (int b = a; b > 0 && method_rank(rep, G->methods[order[b]].label) <
                                         method_rank(rep, G->methods[order[b - 1]].label); b--) {
                int t = order[b];
                order[b] = order[b - 1], order[b - 1] = t;
            }
        MethodStats sorted[MAX_GROUPS];
        for (int m = 0; m < G->nmethods; m++) sorted[m] = G->methods[order[m]], where[order[m]] = m;
        memcpy(G->methods, sorted, sizeof(MethodStats) * (size_t)G->nmethods);
        for (int i = 0; i < rep->nentries; i++)
            if (rep->entries[i].group == g) rep->entries[i].method = where[rep->entries[i].method];
    }
    for (int i = 0; i < rep->nentries; i++) {
        Entry *e = &rep->entries[i];
        MethodStats *m = &rep->groups[e->group].methods[e->method];
        e->setting_key = setting_key(e->r.config);
        e->value = run_result_metric(&e->r, &rep->groups[e->group].metric);
        int s = 0;
        while (s < m->nsettings && strcmp(m->setting_keys[s], e->setting_key) != 0) s++;
        if (s == m->nsettings) {
            m->setting_keys = nn_realloc(m->setting_keys, (size_t)(s + 1) * sizeof(char *));
            m->setting_keys[m->nsettings++] = nn_strdup(e->setting_key);
        }
        e->setting = s;
    }
    // each method's settings in increasing learning rate (then as found): the sensitivity curves' x order
    for (int g = 0; g < rep->ngroups; g++)
        for (int mi = 0; mi < rep->groups[g].nmethods; mi++) {
            MethodStats *m = &rep->groups[g].methods[mi];
            double *lr = nn_malloc((size_t)m->nsettings * sizeof(double));
            int *order = nn_malloc((size_t)m->nsettings * sizeof(int));
            int *rank = nn_malloc((size_t)m->nsettings * sizeof(int));
            for (int s = 0; s < m->nsettings; s++) order[s] = s, lr[s] = NAN;
            for (int i = 0; i < rep->nentries; i++) {
                Entry *e = &rep->entries[i];
                if (e->group == g && e->method == mi) lr[e->setting] = e->r.lr;
            }
            for (int a = 1; a < m->nsettings; a++) // insertion sort: stable
                for (int b = a; b > 0 && lr[order[b]] < lr[order[b - 1]]; b--) {
                    int t = order[b];
                    order[b] = order[b - 1], order[b - 1] = t;
                }
            char **keys = nn_malloc((size_t)m->nsettings * sizeof(char *));
            for (int s = 0; s < m->nsettings; s++) keys[s] = m->setting_keys[order[s]], rank[order[s]] = s;
            memcpy(m->setting_keys, keys, (size_t)m->nsettings * sizeof(char *));
            for (int i = 0; i < rep->nentries; i++) {
                Entry *e = &rep->entries[i];
                if (e->group == g && e->method == mi) e->setting = rank[e->setting];
            }
            free(lr), free(order), free(rank), free(keys);
        }
}

// The tuning protocol per method, and its chosen setting's statistics over seeds.
static void choose(Report *rep) {
    for (int g = 0; g < rep->ngroups; g++) {
        Group *G = &rep->groups[g];
        for (int mi = 0; mi < G->nmethods; mi++) {
            MethodStats *m = &G->methods[mi];
            int n = 0;
            double *v = nn_malloc((size_t)rep->nentries * sizeof(double));
            int *setting = nn_malloc((size_t)rep->nentries * sizeof(int));
            char (*seed)[24] = nn_calloc((size_t)rep->nentries, 24);
            for (int i = 0; i < rep->nentries; i++) {
                const Entry *e = &rep->entries[i];
                if (e->group != g || e->method != mi) continue;
                v[n] = e->value, setting[n] = e->setting;
                memcpy(seed[n++], e->r.seed, 24);
            }
            m->chosen = choose_setting(&G->metric, v, setting, (const char (*)[24])seed, n, m->nsettings);
            free(v), free(setting), free(seed);
            m->setting_names = nn_malloc((size_t)m->nsettings * sizeof(char *));
            for (int s = 0; s < m->nsettings; s++) m->setting_names[s] = setting_name(rep, G, g, mi, s);
        }
    }
}

static double mean_of(const double *v, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += v[i];
    return n ? s / n : NAN;
}

static double std_of(const double *v, int n) { // sample standard deviation (n - 1)
    if (n < 2) return NAN;
    double m = mean_of(v, n), s = 0;
    for (int i = 0; i < n; i++) s += (v[i] - m) * (v[i] - m);
    return sqrt(s / (n - 1));
}

static void summarise(Report *rep, double target_flag) {
    for (int g = 0; g < rep->ngroups; g++) {
        Group *G = &rep->groups[g];
        const int last = G->ops->neval - 1;
        double worst_mean = NAN;
        for (int pass = 0; pass < 2; pass++) // the statistics, then (knowing the target) the time to it
            for (int mi = 0; mi < G->nmethods; mi++) {
                MethodStats *m = &G->methods[mi];
                double v[1024], clip[1024], cos_v[1024], last_v[1024], steps[1024], secs[1024];
                int n = 0, ncos = 0, nreach = 0;
                m->diverged = 0;
                for (int i = 0; i < rep->nentries && n < 1024; i++) {
                    const Entry *e = &rep->entries[i];
                    if (e->group != g || e->method != mi || e->setting != m->chosen) continue;
                    m->lr = e->r.lr;
                    if (strcmp(e->r.status, "diverged") == 0) m->diverged++;
                    else {
                        v[n] = e->value, clip[n] = e->r.clip_rate;
                        last_v[n] = e->r.nepochs ? e->r.epoch_eval[(e->r.nepochs - 1) * G->ops->neval + last] : NAN;
                        n++;
                        if (isfinite(e->r.mean_cos)) cos_v[ncos++] = e->r.mean_cos;
                    }
                    long st;
                    double sec;
                    if (pass && strcmp(e->r.status, "diverged") != 0 &&
                        run_result_time_to(&e->r, &G->metric, G->target, &st, &sec) == 0)
                        steps[nreach] = (double)st, secs[nreach++] = sec;
                }
                m->seeds = n + m->diverged;
                m->mean = mean_of(v, n), m->std = std_of(v, n);
                m->min = m->max = NAN;
                for (int i = 0; i < n; i++) { // (a comparison with NaN is false: the first value is taken)
                    if (!(v[i] >= m->min)) m->min = v[i];
                    if (!(v[i] <= m->max)) m->max = v[i];
                }
                m->clip_rate = mean_of(clip, n), m->mean_cos = mean_of(cos_v, ncos);
                m->last_col_mean = mean_of(last_v, n);
                m->reached = nreach, m->steps_to = mean_of(steps, nreach), m->seconds_to = mean_of(secs, nreach);
                if (!pass && isfinite(m->mean) && (isnan(worst_mean) || metric_better(&G->metric, worst_mean, m->mean)))
                    worst_mean = m->mean;
                if (!pass && mi == G->nmethods - 1) G->target = isnan(target_flag) ? worst_mean : target_flag;
            }
    }
}

static void cell(char *buf, size_t n, const char *fmt, double v) {
    if (isfinite(v)) snprintf(buf, n, fmt, v);
    else snprintf(buf, n, "-");
}

static void write_group_table(FILE *f, const Group *G) {
    const char *col = G->ops->eval_columns[G->metric.column].name, *last = G->ops->eval_columns[G->ops->neval - 1].name;
    int show_last = G->ops->neval - 1 != G->metric.column;
    fprintf(f, "| method | chosen setting | seeds | %s (%s) mean ± std | min / max |", col,
            G->metric.best ? "best" : "final");
    if (show_last) fprintf(f, " %s |", last);
    fprintf(f, " steps to target | seconds to target | clip rate | mean exact cos |\n"
               "|---|---|---|---|---|%s---|---|---|---|\n", show_last ? "---|" : "");
    for (int mi = 0; mi < G->nmethods; mi++) {
        const MethodStats *m = &G->methods[mi];
        char mean[64], std[32], mn[32], mx[32], lastv[32], st[48], sec[48], clip[32], cosv[32];
        cell(mean, sizeof mean, "%.5g", m->mean), cell(std, sizeof std, "%.2g", m->std);
        cell(mn, sizeof mn, "%.5g", m->min), cell(mx, sizeof mx, "%.5g", m->max);
        cell(lastv, sizeof lastv, "%.5g", m->last_col_mean);
        cell(clip, sizeof clip, "%.3f", m->clip_rate), cell(cosv, sizeof cosv, "%.4f", m->mean_cos);
        int finite = m->seeds - m->diverged;
        cell(st, sizeof st, "%.0f", m->steps_to), cell(sec, sizeof sec, "%.1f", m->seconds_to);
        if (m->reached < finite) {
            snprintf(st + strlen(st), sizeof st - strlen(st), " (%d/%d)", m->reached, m->seeds);
            snprintf(sec + strlen(sec), sizeof sec - strlen(sec), " (%d/%d)", m->reached, m->seeds);
        }
        char seeds[32];
        snprintf(seeds, sizeof seeds, m->diverged ? "%d (%d diverged)" : "%d", m->seeds, m->diverged);
        fprintf(f, "| %s | %s | %s | %s ± %s | %s / %s |", m->md, m->setting_names[m->chosen], seeds, mean, std, mn,
                mx);
        if (show_last) fprintf(f, " %s |", lastv);
        fprintf(f, " %s | %s | %s | %s |\n", st, sec, clip, cosv);
    }
}

// Who won, by how much, and whether that exceeds the spread over seeds.
// Method x ranks above y: fewer diverged seeds (a diverged run is the worst outcome), then a better mean.
static int ranks_above(const Group *G, int x, int y) {
    const MethodStats *X = &G->methods[x], *Y = &G->methods[y];
    if (X->diverged != Y->diverged) return X->diverged < Y->diverged;
    return metric_better(&G->metric, X->mean, Y->mean);
}

static void write_verdict(FILE *f, const Group *G) {
    int a = -1, b = -1;
    for (int mi = 0; mi < G->nmethods; mi++) {
        if (!isfinite(G->methods[mi].mean)) continue;
        if (a < 0 || ranks_above(G, mi, a)) b = a, a = mi;
        else if (b < 0 || ranks_above(G, mi, b)) b = mi;
    }
    const char *col = G->ops->eval_columns[G->metric.column].name;
    if (a < 0) {
        fprintf(f, "\nEvery run of every method's chosen setting diverged.\n");
        return;
    }
    const MethodStats *A = &G->methods[a];
    if (b < 0) {
        fprintf(f, "\nOnly %s has a result: %s %.5g.\n", A->md, col, A->mean);
        return;
    }
    const MethodStats *B = &G->methods[b];
    double margin = fabs(A->mean - B->mean), spread = (isfinite(A->std) ? A->std : 0) + (isfinite(B->std) ? B->std : 0);
    // their seeds' ranges overlap unless A's worst seed beats B's best seed
    double a_worst = G->ops->eval_columns[G->metric.column].higher_is_better ? A->min : A->max;
    double b_best = G->ops->eval_columns[G->metric.column].higher_is_better ? B->max : B->min;
    int overlap = !metric_better(&G->metric, a_worst, b_best);
    fprintf(f, "\n**Winner: %s** (%s), %s %.5g against %s's %.5g: a margin of %.3g. ", A->md,
            A->setting_names[A->chosen], col, A->mean, B->md, B->mean, margin);
    if (B->diverged > A->diverged)
        fprintf(f, "(%s ranks lower for its %d diverged seed%s.) ", B->md, B->diverged, B->diverged > 1 ? "s" : "");
    if (A->seeds < 2 || B->seeds < 2)
        fprintf(f, "With fewer than 2 seeds per method there is no spread to compare the margin with.\n");
    else
        fprintf(f, "The sum of their standard deviations over seeds is %.3g: the margin %s it, and their seeds' "
                   "ranges %s.\n", spread, margin > spread ? "exceeds" : "does not exceed",
                overlap ? "overlap" : "do not overlap (every seed of the winner beats every seed of the runner-up)");
}

// A method's colour in every figure of its workload.
static const char *const colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};
#define NCOLORS 6

// The span of a figure's values on one axis, for gp_range.
typedef struct {
    double lo, hi;
} Span;
static const Span span_none = {INFINITY, -INFINITY};
static void span_add(Span *s, double x) {
    if (isfinite(x)) s->lo = fmin(s->lo, x), s->hi = fmax(s->hi, x);
}

// gnuplot autoscales an axis, except one whose values are all equal: it would warn of an empty range on the user's
// terminal, so that one gets a range of its own around the value.
static void gp_range(FILE *gp, const char *axis, Span s, int log) {
    if (!(s.lo == s.hi)) fprintf(gp, "set autoscale %s\n", axis);
    else if (log) fprintf(gp, "set %srange [%.9g:%.9g]\n", axis, s.lo / 1.5, s.lo * 1.5);
    else {
        double pad = fmax(fabs(s.lo) * 0.01, 1e-6);
        fprintf(gp, "set %srange [%.9g:%.9g]\n", axis, s.lo - pad, s.lo + pad);
    }
}

// The data files and report.gp of one workload: learning-rate sensitivity, metric per epoch and training loss
// per step of the chosen settings, with min/max bands over seeds.
static void write_group_plots(FILE *gp, const Report *rep, int g, const char *out) {
    const Group *G = &rep->groups[g];
    const char *wl = G->ops->name, *col = G->ops->eval_columns[G->metric.column].name;
    char name[256];
    snprintf(name, sizeof name, "%s_lr.dat", wl);
    char *path = nn_join_path(out, name);
    AtomicFile a;
    FILE *f = atomic_open(&a, path);
    fprintf(f, "# per method (gnuplot index): lr, mean %s over seeds, min, max, seeds (diverged runs left out)\n", col);
    Span xs = span_none, ys = span_none;
    for (int mi = 0; mi < G->nmethods; mi++) {
        const MethodStats *m = &G->methods[mi];
        fprintf(f, "# %s\n", m->md);
        for (int s = 0; s < m->nsettings; s++) {
            double v[1024], lr = NAN;
            int n = 0;
            for (int i = 0; i < rep->nentries && n < 1024; i++) {
                const Entry *e = &rep->entries[i];
                if (e->group == g && e->method == mi && e->setting == s && isfinite(e->value))
                    v[n++] = e->value, lr = e->r.lr;
            }
            double lo = n ? v[0] : NAN, hi = lo;
            for (int i = 0; i < n; i++) lo = fmin(lo, v[i]), hi = fmax(hi, v[i]);
            if (n) fprintf(f, "%.9g %.9g %.9g %.9g %d\n", lr, mean_of(v, n), lo, hi, n);
            if (n) span_add(&xs, lr), span_add(&ys, lo), span_add(&ys, hi);
        }
        fprintf(f, "\n\n");
    }
    atomic_commit(&a);
    free(path);
    fprintf(gp, "\nset output '%s_lr.png'\nset title '%s: %s against the learning rate (mean over seeds, min-max "
                "bars)'\nset logscale x\nset xlabel 'learning rate'\nset ylabel '%s'\nset style data linespoints\n",
            wl, wl, col, col);
    gp_range(gp, "x", xs, 1), gp_range(gp, "y", ys, 0);
    fprintf(gp, "plot ");
    for (int mi = 0; mi < G->nmethods; mi++)
        fprintf(gp, "%s'%s' index %d using 1:2:3:4 with yerrorlines lw 2 lc rgb '%s' title %s",
                mi ? ", \\\n     " : "", name, mi, colors[mi % NCOLORS], G->methods[mi].gp);
    fprintf(gp, "\nunset logscale x\n");

    // per epoch: the metric of the chosen settings; per step: their training loss (steps.csv, in 200 bins)
    snprintf(name, sizeof name, "%s_curves.dat", wl);
    path = nn_join_path(out, name);
    f = atomic_open(&a, path);
    int epochs = 1; // the most any chosen run has: the x range of the per-epoch figure
    Span curve_ys[2] = {span_none, span_none}; // the per-epoch and the per-step figure's
    fprintf(f, "# per method (gnuplot index), its chosen setting over seeds: epoch, mean %s, min, max; then (index "
               "nmethods + m) step, mean training loss, min, max\n", col);
    for (int pass = 0; pass < 2; pass++)
        for (int mi = 0; mi < G->nmethods; mi++) {
            const MethodStats *m = &G->methods[mi];
            fprintf(f, "# %s\n", m->md);
            enum { BINS = 200 };
            double sum[BINS] = {0}, lo[BINS], hi[BINS];
            long at[BINS] = {0};
            int cnt[BINS] = {0};
            for (int b = 0; b < BINS; b++) lo[b] = INFINITY, hi[b] = -INFINITY;
            for (int i = 0; i < rep->nentries; i++) {
                const Entry *e = &rep->entries[i];
                if (e->group != g || e->method != mi || e->setting != m->chosen) continue;
                if (pass == 0)
                    for (int ep = 0; ep < e->r.nepochs && ep < BINS; ep++) {
                        double x = e->r.epoch_eval[ep * G->ops->neval + G->metric.column];
                        sum[ep] += x, lo[ep] = fmin(lo[ep], x), hi[ep] = fmax(hi[ep], x), cnt[ep]++, at[ep] = ep + 1;
                        if (ep + 1 > epochs) epochs = ep + 1;
                    }
                else {
                    char *csv = cli_read_if_present(e->r.dir, "steps.csv");
                    if (csv) {
                        char *line = strchr(csv, '\n');
                        long total = e->r.steps > 0 ? e->r.steps : 1;
                        double bsum[BINS] = {0};
                        int bn[BINS] = {0};
                        long bstep[BINS] = {0};
                        while (line && line[1]) {
                            long step;
                            int ep;
                            double lr, loss;
                            if (sscanf(line + 1, "%ld,%d,%lf,%lf", &step, &ep, &lr, &loss) == 4 && step >= 1) {
                                int b = (int)((step - 1) * BINS / total);
                                if (b >= BINS) b = BINS - 1;
                                bsum[b] += loss, bn[b]++, bstep[b] = step;
                            }
                            line = strchr(line + 1, '\n');
                        }
                        for (int b = 0; b < BINS; b++)
                            if (bn[b]) {
                                double x = bsum[b] / bn[b];
                                sum[b] += x, lo[b] = fmin(lo[b], x), hi[b] = fmax(hi[b], x), cnt[b]++, at[b] = bstep[b];
                            }
                        free(csv);
                    }
                }
            }
            for (int b = 0; b < BINS; b++)
                if (cnt[b]) {
                    fprintf(f, "%ld %.9g %.9g %.9g\n", at[b], sum[b] / cnt[b], lo[b], hi[b]);
                    span_add(&curve_ys[pass], lo[b]), span_add(&curve_ys[pass], hi[b]);
                }
            fprintf(f, "\n\n");
        }
    atomic_commit(&a);
    free(path);
    for (int pass = 0; pass < 2; pass++) {
        // whole epochs, half an epoch of margin: gnuplot refuses (loudly) the empty range of a one-epoch run
        if (pass) fprintf(gp, "set xtics autofreq\nset autoscale x\n");
        else fprintf(gp, "set xtics 1\nset xrange [0.5:%d.5]\n", epochs);
        gp_range(gp, "y", curve_ys[pass], 0);
        fprintf(gp, "\nset output '%s_%s.png'\nset title '%s: %s of the chosen settings (mean over seeds, min-max "
                    "band)'\nset xlabel '%s'\nset ylabel '%s'\nplot ", wl, pass ? "loss" : "curves", wl,
                pass ? "training loss (200 bins)" : col, pass ? "step" : "epoch", pass ? "training loss" : col);
        for (int mi = 0; mi < G->nmethods; mi++) {
            const char *c = colors[mi % NCOLORS];
            int idx = pass * G->nmethods + mi;
            fprintf(gp, "%s'%s' index %d using 1:3:4 with filledcurves fs transparent solid 0.2 lc rgb '%s' notitle, "
                        "\\\n     '%s' index %d using 1:2 with %s lw 2 lc rgb '%s' title %s",
                    mi ? ", \\\n     " : "", name, idx, c, name, idx, pass ? "lines" : "linespoints", c,
                    G->methods[mi].gp);
        }
        fprintf(gp, "\n");
    }
}

// AlgoPerf's performance profile over workloads: for method m, the fraction of workloads on which its time to the
// target is within a factor tau of the fastest method's (a method that never reaches it: never within).
static void write_profile(FILE *gp, const Report *rep, const char *out, FILE *md) {
    const MethodStats *labels[MAX_GROUPS]; // each label once, over the workloads
    int nl = 0;
    for (int g = 0; g < rep->ngroups; g++)
        for (int mi = 0; mi < rep->groups[g].nmethods; mi++) {
            int k = 0;
            while (k < nl && strcmp(labels[k]->label, rep->groups[g].methods[mi].label) != 0) k++;
            if (k == nl && nl < MAX_GROUPS) labels[nl++] = &rep->groups[g].methods[mi];
        }
    char *path = nn_join_path(out, "profile.dat");
    AtomicFile a;
    FILE *f = atomic_open(&a, path);
    fprintf(f, "# per method (gnuplot index): tau, fraction of workloads within tau of the fastest time to target\n");
    fprintf(md, "\n## Performance profile (AlgoPerf)\n\nTime to target relative to the fastest method, per workload "
                "(a method that did not reach the target on a workload: -):\n\n| method |");
    for (int g = 0; g < rep->ngroups; g++) fprintf(md, " %s |", rep->groups[g].ops->name);
    fprintf(md, "\n|---|");
    for (int g = 0; g < rep->ngroups; g++) fprintf(md, "---|");
    fprintf(md, "\n");
    for (int k = 0; k < nl; k++) {
        double ratio[MAX_GROUPS];
        fprintf(md, "| %s |", labels[k]->md);
        for (int g = 0; g < rep->ngroups; g++) {
            const Group *G = &rep->groups[g];
            double best = INFINITY, mine = INFINITY;
            for (int mi = 0; mi < G->nmethods; mi++) {
                const MethodStats *m = &G->methods[mi];
                double t = m->reached * 2 > m->seeds ? m->seconds_to : INFINITY; // most seeds must reach it
                best = fmin(best, t);
                if (strcmp(m->label, labels[k]->label) == 0) mine = t;
            }
            ratio[g] = mine / best;
            if (isfinite(ratio[g])) fprintf(md, " %.2f |", ratio[g]);
            else fprintf(md, " - |");
        }
        fprintf(md, "\n");
        fprintf(f, "# %s\n", labels[k]->md);
        for (double tau = 1; tau <= 4.0001; tau += 0.05) {
            int within = 0;
            for (int g = 0; g < rep->ngroups; g++) within += ratio[g] <= tau;
            fprintf(f, "%.3f %.6f\n", tau, (double)within / rep->ngroups);
        }
        fprintf(f, "\n\n");
    }
    atomic_commit(&a);
    free(path);
    fprintf(gp, "\nset output 'profile.png'\nset title 'performance profile: time to target within tau of the fastest'"
                "\nset xlabel 'tau'\nset ylabel 'fraction of workloads'\nset yrange [0:1.05]\nplot ");
    for (int k = 0; k < nl; k++)
        fprintf(gp, "%s'profile.dat' index %d using 1:2 with steps lw 2 title %s", k ? ", \\\n     " : "", k,
                labels[k]->gp);
    fprintf(gp, "\nset autoscale y\n");
}

// Distinct values of a provenance field over the runs, for the report's last section.
static void write_distinct(FILE *md, const Report *rep, const char *key) {
    char *seen[8];
    int n = 0, more = 0;
    for (int i = 0; i < rep->nentries; i++) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(rep->entries[i].r.summary, "provenance");
        char *v = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(p, key));
        const char *text = v ? v : "unknown";
        int k = 0;
        while (k < n && strcmp(seen[k], text) != 0) k++;
        if (k == n) {
            if (n < 8) seen[n++] = nn_strdup(text);
            else more = 1;
        }
        free(v);
    }
    fprintf(md, "- %s: ", key);
    for (int k = 0; k < n; k++) {
        char *code = md_code(seen[k]);
        fprintf(md, "%s%s", k ? ", " : "", code);
        free(code), free(seen[k]);
    }
    fprintf(md, "%s\n", more ? ", ..." : "");
}

static const char *flag_value(int argc, char **argv, int *i) {
    NN_CHECK(*i + 1 < argc, "%s needs a value (see nnopt report --help)", argv[*i]);
    return argv[++*i];
}

int cmd_report(int argc, char **argv) {
    const char *out = NULL, *metric = NULL, *select = "final";
    char *sweep_metric = NULL, *sweep_select = NULL; // a sweep's own, from its sweep.json
    double target = NAN;
    int plots = 1, ndirs = 0, select_given = 0;
    const char **dirs = nn_malloc((size_t)argc * sizeof(char *));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define VALUE() flag_value(argc, argv, &i)
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) usage(stdout), exit(0);
        else if (strcmp(a, "--out") == 0) out = VALUE();
        else if (strcmp(a, "--metric") == 0) metric = VALUE();
        else if (strcmp(a, "--select") == 0) select = VALUE(), select_given = 1;
        else if (strcmp(a, "--target") == 0) target = cli_double("--target", VALUE(), -1e300, 1e300);
        else if (strcmp(a, "--no-plots") == 0) plots = 0;
        else if (strncmp(a, "--", 2) == 0) usage(stderr), NN_FATAL("nnopt report: unknown option '%s'", a);
        else dirs[ndirs++] = a;
#undef VALUE
    }
    int metric_given = metric != NULL;
    NN_CHECK(ndirs > 0, "nnopt report needs at least one directory of runs (see nnopt report --help)");
    Report rep = {0};
    for (int d = 0; d < ndirs; d++) {
        size_t before = (size_t)rep.nentries;
        read_sweep(&rep, dirs[d], &sweep_metric, &sweep_select);
        collect(&rep, dirs[d], 0);
        NN_CHECK((size_t)rep.nentries > before || rep.unfinished, "%s: no runs there (no summary.json of a finished "
                 "run in it or below it)", dirs[d]);
    }
    if (sweep_metric && !metric_given) metric = sweep_metric; // the first sweep's own, unless given
    if (sweep_select && !select_given) select = sweep_select;
    NN_CHECK(rep.nentries > 0, "no finished runs in %s%s (%d still running or stopped)", dirs[0],
             ndirs > 1 ? " and the others" : "", rep.unfinished);
    qsort(rep.entries, (size_t)rep.nentries, sizeof(Entry), by_dir);
    group_runs(&rep, metric, select);
    NN_CHECK(isnan(target) || rep.ngroups == 1, "--target applies to one workload; these runs are of %d",
             rep.ngroups);
    choose(&rep);
    summarise(&rep, target);
    if (!out) out = dirs[0];
    make_dirs(out);

    char *md_path = nn_join_path(out, "report.md");
    size_t md_len = 0;
    char *md_text = NULL;
    FILE *md = open_memstream(&md_text, &md_len);
    NN_CHECK(md, "report: out of memory");
    fprintf(md, "# nnopt report\n\n%d finished runs", rep.nentries);
    if (rep.unfinished) fprintf(md, " (%d more still running or stopped, left out)", rep.unfinished);
    fprintf(md, " from");
    for (int d = 0; d < ndirs; d++) {
        char *code = md_code(dirs[d]);
        fprintf(md, " %s", code);
        free(code);
    }
    fprintf(md, ".\n\nProtocol: per method, the setting with the best mean %s over the seeds that every setting ran "
                "at (a sweep's tuning seed) is chosen, and reported over all its seeds (mean ± sample standard "
                "deviation, min / max). A diverged run ranks last. Time to target: the first epoch end at which a "
                "run's metric reached the target, averaged over the seeds that reached it (reached / seeds when not "
                "all did). Clip rate: the fraction of steps clipped; mean exact cos: the exact statistics' mean "
                "cosine at the last statistics epoch, where measured.\n", strcmp(select, "best") == 0 ?
                "best-epoch value of the metric" : "final value of the metric");
    FILE *gp = NULL;
    AtomicFile gp_file;
    if (plots) {
        gp = plot_open(&gp_file, out, "report.gp", "nnopt report");
        fprintf(gp, "set datafile separator whitespace\nset key outside right top\n");
    }
    for (int g = 0; g < rep.ngroups; g++) {
        const Group *G = &rep.groups[g];
        fprintf(md, "\n## %s\n\nMetric: %s (%s, %s is better); target %.5g.\n\n", G->ops->name,
                G->ops->eval_columns[G->metric.column].name, G->metric.best ? "best epoch" : "final",
                G->ops->eval_columns[G->metric.column].higher_is_better ? "higher" : "lower", G->target);
        write_group_table(md, G);
        write_verdict(md, G);
        fprintf(md, "\nSettings tried (mean %s over seeds; the chosen one in bold):\n\n",
                G->ops->eval_columns[G->metric.column].name);
        for (int mi = 0; mi < G->nmethods; mi++) {
            const MethodStats *m = &G->methods[mi];
            fprintf(md, "- %s:", m->md);
            for (int s = 0; s < m->nsettings; s++) {
                double v[1024];
                int n = 0, div = 0;
                for (int i = 0; i < rep.nentries && n < 1024; i++) {
                    const Entry *e = &rep.entries[i];
                    if (e->group != g || e->method != mi || e->setting != s) continue;
                    if (isfinite(e->value)) v[n++] = e->value;
                    else div++;
                }
                fprintf(md, "%s %s%s%s ", s ? ";" : "", s == m->chosen ? "**" : "", m->setting_names[s],
                        s == m->chosen ? "**" : "");
                if (n) fprintf(md, "%.5g", mean_of(v, n));
                if (div) fprintf(md, "%s%d diverged", n ? ", " : "", div);
                fprintf(md, " (%d seed%s)", n + div, n + div > 1 ? "s" : "");
            }
            fprintf(md, "\n");
        }
        if (gp) {
            write_group_plots(gp, &rep, g, out);
            fprintf(md, "\n![lr](%s_lr.png) ![curves](%s_curves.png) ![loss](%s_loss.png)\n", G->ops->name,
                    G->ops->name, G->ops->name);
        }
    }
    if (rep.ngroups > 1 && gp) write_profile(gp, &rep, out, md);
    fprintf(md, "\n## Provenance\n\n");
    double total = 0;
    for (int i = 0; i < rep.nentries; i++)
        if (isfinite(rep.entries[i].r.wall_seconds)) total += rep.entries[i].r.wall_seconds;
    fprintf(md, "%d runs, %.0f s of wall time in all (summed over runs). Distinct values over the runs:\n\n",
            rep.nentries, total);
    static const char *const keys[] = {"commit", "compiler", "cpu", "vector_extensions_compiled", "blas_core",
                                       "openblas_coretype", "threads", "host"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) write_distinct(md, &rep, keys[k]);
    size_t cmd_len = 0;
    char *cmd = NULL;
    FILE *c = open_memstream(&cmd, &cmd_len);
    NN_CHECK(c, "report: out of memory");
    fprintf(c, "nnopt report");
    for (int i = 1; i < argc; i++) {
        char *q = cli_shell_quote(argv[i]);
        fprintf(c, " %s", q);
        free(q);
    }
    fclose(c);
    char *code = md_code(cmd);
    fprintf(md, "\nThis report: %s at commit %s.\n", code, provenance_commit());
    free(code), free(cmd);
    fclose(md);
    nn_write_atomic(md_path, md_text, md_len);
    fwrite(md_text, 1, md_len, stdout);
    printf("\nwrote %s\n", md_path);
    if (gp) {
        plot_close(&gp_file);
        if (plot_run(out, "report.gp")) printf("wrote the figures in %s (report.gp draws them again)\n", out);
    }
    free(md_path), free(md_text);
    for (int i = 0; i < rep.nentries; i++) run_result_free(&rep.entries[i].r), free(rep.entries[i].setting_key);
    for (int g = 0; g < rep.ngroups; g++)
        for (int mi = 0; mi < rep.groups[g].nmethods; mi++) {
            MethodStats *m = &rep.groups[g].methods[mi];
            for (int s = 0; s < m->nsettings; s++) free(m->setting_keys[s]), free(m->setting_names[s]);
            free(m->setting_keys), free(m->setting_names), free(m->label), free(m->md), free(m->gp);
        }
    for (int i = 0; i < rep.norder; i++) free(rep.method_order[i]);
    free(rep.entries), free(dirs), free(sweep_metric), free(sweep_select);
    return 0;
}
