#include "run_checkpoint.h"
#include "resume.h"
#include "nn/check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

CkptWriter *run_ckpt_begin(const char *path, const char *config, const char *tool, const char *argv_text,
                           size_t argv_len) {
    CkptWriter *w = ckpt_begin(path, config);
    ckpt_put_bytes(w, "tool", tool, strlen(tool));
    ckpt_put_bytes(w, "argv", argv_text, argv_len);
    return w;
}

CkptReader *run_ckpt_open(const char *path, const char *config, const char *tool, const char *const *may_change) {
    CkptReader *r = ckpt_open(path);
    resume_check_tool(r, path, tool);
    ckpt_check_config(r, config, may_change);
    free(ckpt_get_bytes(r, "argv", NULL));
    return r;
}

void run_ckpt_put_sampler(CkptWriter *w, const Sampler *s) {
    ckpt_put_u64(w, "rng/sampler", 1, (int[]){4}, s->rng.s);
    if (!s->perm) return;
    uint64_t *perm = nn_malloc((size_t)s->m * sizeof *perm);
    for (long i = 0; i < s->m; i++) perm[i] = (uint64_t)s->perm[i];
    ckpt_put_u64(w, "sampler/perm", 1, (int[]){(int)s->m}, perm);
    free(perm);
}

void run_ckpt_get_sampler(CkptReader *r, Sampler *s, const char *path, const char *item) {
    ckpt_get_u64(r, "rng/sampler", 1, (int[]){4}, s->rng.s);
    if (!s->perm) return;
    uint64_t *perm = nn_malloc((size_t)s->m * sizeof *perm);
    ckpt_get_u64(r, "sampler/perm", 1, (int[]){(int)s->m}, perm);
    for (long i = 0; i < s->m; i++) {
        NN_CHECK(perm[i] < (uint64_t)s->m, "checkpoint '%s': sampler/perm[%ld] = %llu is not a%s %s index (< %ld)",
                 path, i, (unsigned long long)perm[i], strchr("aeiou", item[0]) ? "n" : "", item, s->m);
        s->perm[i] = (long)perm[i];
    }
    free(perm);
}

void run_ckpt_put_prev_grad(CkptWriter *w, const GradStats *stats, const Params *P) {
    if (stats && stats->have_prev) ckpt_put_views(w, "gradstats/prev_grad/", P->views, P->nviews, stats->prev_grad);
}

void run_ckpt_get_prev_grad(CkptReader *r, GradStats *stats, const Params *P, int present) {
    if (!present) return;
    // grad_stats is part of the configuration, so a run whose checkpoint has a previous gradient has them on too
    ckpt_get_views(r, "gradstats/prev_grad/", P->views, P->nviews, stats->prev_grad);
    stats->have_prev = 1;
}

void run_ckpt_put_schedule(CkptWriter *w, const Schedule *s) {
    double state[2] = {s->best, s->current};
    ckpt_put_f64(w, "schedule/state", 1, (int[]){2}, state);
}

void run_ckpt_get_schedule(CkptReader *r, Schedule *s) {
    double state[2];
    ckpt_get_f64(r, "schedule/state", 1, (int[]){2}, state);
    s->best = state[0], s->current = (float)state[1];
}

void run_ckpt_put_csv_lengths(CkptWriter *w, CsvOut *const *csv, int n) {
    uint64_t *lengths = nn_malloc((size_t)n * sizeof *lengths);
    for (int i = 0; i < n; i++) lengths[i] = csv[i] ? (uint64_t)csv_length(csv[i]) : UINT64_MAX;
    ckpt_put_u64(w, "csv/lengths", 1, (int[]){n}, lengths);
    free(lengths);
}

void run_ckpt_get_csv_lengths(CkptReader *r, const char *path, long *len, int n) {
    uint64_t *lengths = nn_malloc((size_t)n * sizeof *lengths);
    ckpt_get_u64(r, "csv/lengths", 1, (int[]){n}, lengths);
    for (int i = 0; i < n; i++) {
        NN_CHECK(lengths[i] == UINT64_MAX || lengths[i] < (1ull << 62), "checkpoint '%s': csv/lengths[%d] out of "
                 "range", path, i);
        len[i] = lengths[i] == UINT64_MAX ? -1 : (long)lengths[i];
    }
    free(lengths);
}
