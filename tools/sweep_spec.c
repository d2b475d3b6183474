// The spec of a sweep: parsing its command line, sweep.json, and the points of each method's grid.
#include "sweep.h"
#include "cli.h"
#include "nn/check.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void add_flag(SweepMethod *m, const char *flag) {
    m->flags = nn_realloc(m->flags, (size_t)(m->nflags + 1) * sizeof(char *));
    m->flags[m->nflags++] = nn_strdup(flag);
}

static void add_axis(SweepMethod *m, const char *spec) {
    NN_CHECK(m->naxes < SWEEP_MAX_AXES, "--grid '%s': more than %d axes in one method", spec, SWEEP_MAX_AXES);
    GridAxis *a = &m->axes[m->naxes];
    grid_axis_parse(a, spec);
    static const char *const own[] = {"out", "resume", "label", "threads", "workload", "preset"};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        NN_CHECK(strcmp(a->name, own[i]) != 0, "--grid '%s': a sweep cannot vary --%s (%s)", spec, own[i],
                 i < 4 ? "the sweep sets it for each run" : "every run of a sweep trains one workload and preset");
    for (int k = 0; k < m->naxes; k++)
        NN_CHECK(strcmp(m->axes[k].name, a->name) != 0, "--grid '%s': --%s is an axis already", spec, a->name);
    m->naxes++;
}

// "--flag=value" or "--flag value": the value of a sweep flag at argv[*i]
static const char *value_of(int argc, char **argv, int *i, const char *flag) {
    size_t n = strlen(flag);
    if (argv[*i][n] == '=') return argv[*i] + n + 1;
    NN_CHECK(*i + 1 < argc, "%s needs a value (see nnopt sweep --help)", flag);
    return argv[++*i];
}

// *field = a copy of the flag's value, made before the old one is freed: a missing value is fatal, and the spec must
// stay whole for a caller that catches that (the fuzzers free it afterwards)
static void set_text(char **field, int argc, char **argv, int *i, const char *flag) {
    char *v = nn_strdup(value_of(argc, argv, i, flag));
    free(*field);
    *field = v;
}

static int is_flag(const char *arg, const char *flag) {
    size_t n = strlen(flag);
    return strncmp(arg, flag, n) == 0 && (arg[n] == 0 || arg[n] == '=');
}

int sweep_spec_parse(SweepSpec *s, int argc, char **argv, int (*runtime)(void *ctx, int argc, char **argv, int i),
                     void *ctx) {
    *s = (SweepSpec){.seeds = 1, .max_runs = 1000};
    s->metric = nn_strdup(""), s->select = nn_strdup("final");
    s->shared.name = nn_strdup("");
    SweepMethod *scope = &s->shared;
    int given = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int took = runtime(ctx, argc, argv, i);
        if (took) {
            i += took - 1;
            continue;
        }
        given = 1;
        if (is_flag(a, "--method")) {
            const char *name = value_of(argc, argv, &i, "--method");
            NN_CHECK(s->nmethods < SWEEP_MAX_METHODS, "more than %d methods", SWEEP_MAX_METHODS);
            NN_CHECK(*name && strchr(name, '/') == NULL && strcmp(name, ".") != 0 && strcmp(name, "..") != 0 &&
                     strlen(name) <= 200, "--method '%s': a method's name is a directory name (not empty, no '/', "
                     "at most 200 bytes)", name);
            for (int k = 0; k < s->nmethods; k++)
                NN_CHECK(strcmp(s->methods[k].name, name) != 0, "--method '%s' twice", name);
            scope = &s->methods[s->nmethods++];
            scope->name = nn_strdup(name);
        } else if (is_flag(a, "--grid")) add_axis(scope, value_of(argc, argv, &i, "--grid"));
        else if (is_flag(a, "--seeds"))
            s->seeds = (int)cli_long("--seeds", value_of(argc, argv, &i, "--seeds"), 1, 1000);
        else if (is_flag(a, "--metric")) set_text(&s->metric, argc, argv, &i, "--metric");
        else if (is_flag(a, "--select")) set_text(&s->select, argc, argv, &i, "--select");
        else if (is_flag(a, "--max-runs"))
            s->max_runs = cli_long("--max-runs", value_of(argc, argv, &i, "--max-runs"), 1, 1000000);
        else {
            static const char *const own[] = {"--resume", "--label", "--threads", "--out"};
            for (size_t k = 0; k < sizeof own / sizeof own[0]; k++)
                NN_CHECK(!is_flag(a, own[k]) || (k == 3 && scope == &s->shared), "%s: %s", a,
                         k < 2 ? "the sweep sets it for each run" : "a sweep option, not a method's");
            NN_CHECK(strncmp(a, "--", 2) == 0 || scope->nflags > 0, "'%s': expected a flag (see nnopt sweep --help)",
                     a);
            add_flag(scope, a);
        }
    }
    NN_CHECK(strcmp(s->select, "final") == 0 || strcmp(s->select, "best") == 0,
             "--select '%s': expected final (the last epoch's value) or best (the best epoch's)", s->select);
    if (!s->nmethods) { // one method: the shared flags and axes
        s->nmethods = 1;
        s->methods[0] = (SweepMethod){.name = nn_strdup("")};
    }
    for (int m = 0; m < s->nmethods; m++)
        NN_CHECK(s->seeds == 1 || !sweep_has_axis(s, m, "seed"), "--seeds %d with a seed axis: choose one (--seeds "
                 "reruns the best setting at more seeds; a seed axis runs every setting at each)", s->seeds);
    return given;
}

static cJSON *strings_json(char **v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
    return a;
}

static cJSON *method_json(const SweepMethod *m) {
    cJSON *o = cJSON_CreateObject(), *axes = cJSON_CreateArray();
    cJSON_AddStringToObject(o, "name", m->name);
    cJSON_AddItemToObject(o, "flags", strings_json(m->flags, m->nflags));
    for (int k = 0; k < m->naxes; k++) {
        cJSON *a = cJSON_CreateObject();
        cJSON_AddStringToObject(a, "flag", m->axes[k].name);
        cJSON_AddItemToObject(a, "values", strings_json(m->axes[k].values, m->axes[k].n));
        cJSON_AddItemToArray(axes, a);
    }
    cJSON_AddItemToObject(o, "grid", axes);
    return o;
}

char *sweep_spec_json(const SweepSpec *s) {
    cJSON *o = cJSON_CreateObject(), *methods = cJSON_CreateArray();
    cJSON_AddItemToObject(o, "shared", method_json(&s->shared));
    for (int m = 0; m < s->nmethods; m++) cJSON_AddItemToArray(methods, method_json(&s->methods[m]));
    cJSON_AddItemToObject(o, "methods", methods);
    cJSON_AddNumberToObject(o, "seeds", s->seeds);
    cJSON_AddStringToObject(o, "metric", s->metric);
    cJSON_AddStringToObject(o, "select", s->select);
    cJSON_AddNumberToObject(o, "max_runs", (double)s->max_runs);
    char *text = cJSON_PrintUnformatted(o);
    NN_CHECK(text, "sweep.json: out of memory");
    cJSON_Delete(o);
    return text;
}

static const char *json_string(const cJSON *o, const char *key, const char *path) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    NN_CHECK(cJSON_IsString(v), "%s: '%s' is missing or not a string", path, key);
    return v->valuestring;
}

static void method_from_json(SweepMethod *m, const cJSON *o, const char *path) {
    m->name = nn_strdup(json_string(o, "name", path));
    const cJSON *flags = cJSON_GetObjectItemCaseSensitive(o, "flags"), *v;
    const cJSON *grid = cJSON_GetObjectItemCaseSensitive(o, "grid");
    NN_CHECK(cJSON_IsArray(flags) && cJSON_IsArray(grid), "%s: a method without flags or grid", path);
    cJSON_ArrayForEach(v, flags) {
        NN_CHECK(cJSON_IsString(v), "%s: a flag that is not a string", path);
        add_flag(m, v->valuestring);
    }
    cJSON_ArrayForEach(v, grid) {
        const cJSON *values = cJSON_GetObjectItemCaseSensitive(v, "values"), *x;
        NN_CHECK(m->naxes < SWEEP_MAX_AXES && cJSON_IsArray(values), "%s: a damaged grid", path);
        GridAxis *a = &m->axes[m->naxes++];
        *a = (GridAxis){.name = nn_strdup(json_string(v, "flag", path))};
        cJSON_ArrayForEach(x, values) {
            NN_CHECK(cJSON_IsString(x) && a->n < GRID_MAX_VALUES, "%s: a damaged grid value", path);
            a->values = nn_realloc(a->values, (size_t)(a->n + 1) * sizeof(char *));
            a->values[a->n++] = nn_strdup(x->valuestring);
        }
        NN_CHECK(a->n > 0, "%s: an axis without values", path);
    }
}

void sweep_spec_from_json(SweepSpec *s, const char *json, const char *path) {
    *s = (SweepSpec){0};
    cJSON *o = cJSON_Parse(json), *methods = cJSON_GetObjectItemCaseSensitive(o, "methods"), *v;
    NN_CHECK(o && cJSON_IsArray(methods), "%s: not a sweep's spec (damaged?)", path);
    method_from_json(&s->shared, cJSON_GetObjectItemCaseSensitive(o, "shared"), path);
    cJSON_ArrayForEach(v, methods) {
        NN_CHECK(s->nmethods < SWEEP_MAX_METHODS, "%s: too many methods", path);
        method_from_json(&s->methods[s->nmethods++], v, path);
    }
    const cJSON *seeds = cJSON_GetObjectItemCaseSensitive(o, "seeds");
    const cJSON *max = cJSON_GetObjectItemCaseSensitive(o, "max_runs");
    // the command line's ranges (a double beyond a long's has no long value)
    NN_CHECK(s->nmethods > 0 && cJSON_IsNumber(seeds) && seeds->valuedouble >= 1 && seeds->valuedouble <= 1000 &&
             cJSON_IsNumber(max) && max->valuedouble >= 1 && max->valuedouble <= 1000000,
             "%s: no methods, or seeds or max_runs missing or out of range (1-1000, 1-1000000)", path);
    s->seeds = seeds->valueint, s->max_runs = (long)max->valuedouble;
    s->metric = nn_strdup(json_string(o, "metric", path));
    s->select = nn_strdup(json_string(o, "select", path));
    cJSON_Delete(o);
}

static void method_free(SweepMethod *m) {
    for (int i = 0; i < m->nflags; i++) free(m->flags[i]);
    for (int k = 0; k < m->naxes; k++) grid_axis_free(&m->axes[k]);
    free(m->flags), free(m->name);
}

void sweep_spec_free(SweepSpec *s) {
    method_free(&s->shared);
    for (int m = 0; m < s->nmethods; m++) method_free(&s->methods[m]);
    free(s->metric), free(s->select);
    *s = (SweepSpec){0};
}

// The method's axes: the shared ones, then its own.
static const GridAxis *axis(const SweepSpec *s, int m, int k) {
    return k < s->shared.naxes ? &s->shared.axes[k] : &s->methods[m].axes[k - s->shared.naxes];
}

static int naxes(const SweepSpec *s, int m) { return s->shared.naxes + s->methods[m].naxes; }

int sweep_has_axis(const SweepSpec *s, int m, const char *flag) {
    for (int k = 0; k < naxes(s, m); k++)
        if (strcmp(axis(s, m, k)->name, flag) == 0) return 1;
    return 0;
}

long sweep_points(const SweepSpec *s, int m) {
    long n = 1;
    for (int k = 0; k < naxes(s, m); k++) {
        n *= axis(s, m, k)->n;
        NN_CHECK(n <= s->max_runs, "method '%s': its grid has more than --max-runs %ld points", s->methods[m].name,
                 s->max_runs);
    }
    return n;
}

// Point p's value index on axis k (the last axis varies fastest).
static int value_index(const SweepSpec *s, int m, long p, int k) {
    for (int j = naxes(s, m) - 1; j > k; j--) p /= axis(s, m, j)->n;
    return (int)(p % axis(s, m, k)->n);
}

char **sweep_point_flags(const SweepSpec *s, int m, long p, int *n) {
    *n = naxes(s, m);
    char **v = nn_malloc((size_t)(*n + 1) * sizeof(char *));
    for (int k = 0; k < *n; k++) {
        const GridAxis *a = axis(s, m, k);
        const char *value = a->values[value_index(s, m, p, k)];
        v[k] = nn_malloc(strlen(a->name) + strlen(value) + 4);
        sprintf(v[k], "--%s=%s", a->name, value);
    }
    return v;
}

char *sweep_point_name(const SweepSpec *s, int m, long p) {
    size_t len = 1;
    char **parts = nn_malloc((size_t)(naxes(s, m) + 1) * sizeof(char *));
    for (int k = 0; k < naxes(s, m); k++) {
        const GridAxis *a = axis(s, m, k);
        char *raw = nn_malloc(strlen(a->name) + strlen(a->values[value_index(s, m, p, k)]) + 2);
        sprintf(raw, "%s=%s", a->name, a->values[value_index(s, m, p, k)]);
        parts[k] = grid_escape(raw);
        len += strlen(parts[k]) + 1;
        free(raw);
    }
    char *name = nn_malloc(len);
    name[0] = 0;
    for (int k = 0; k < naxes(s, m); k++) {
        if (k) strcat(name, ",");
        strcat(name, parts[k]);
        free(parts[k]);
    }
    free(parts);
    return name;
}
