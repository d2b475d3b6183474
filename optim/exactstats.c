#include "exactstats.h"
#include "nn/check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void exactstats_full_gradient(double *full, BatchGradFn fn, void *ctx, long m, size_t n) {
    NN_CHECK(m >= 1, "exact gradient statistics need at least one batch (got %ld)", m);
    memset(full, 0, n * sizeof(double));
    for (long i = 0; i < m; i++) {
        const float *g = fn(ctx, i);
        for (size_t j = 0; j < n; j++) full[j] += g[j];
    }
    for (size_t j = 0; j < n; j++) full[j] /= (double)m;
}

// <g, full> and ||g||^2 in double, 8 lanes so the loop vectorises without reassociating one accumulator
static void dot_and_norm(const float *g, const double *full, size_t n, double *dot, double *sq) {
    double d[8] = {0}, s[8] = {0};
    size_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (int k = 0; k < 8; k++) d[k] += g[j + k] * full[j + k], s[k] += (double)g[j + k] * g[j + k];
    for (; j < n; j++) d[0] += g[j] * full[j], s[0] += (double)g[j] * g[j];
    *dot = *sq = 0;
    for (int k = 0; k < 8; k++) *dot += d[k], *sq += s[k];
}

void exactstats_measure(ExactStats *s, const double *full, BatchGradFn fn, void *ctx, long m, size_t n,
                        const double *eta, int neta) {
    NN_CHECK(m >= 1, "exact gradient statistics need at least one batch (got %ld)", m);
    NN_CHECK(neta >= 0 && neta <= EXACT_MAX_ETA, "at most %d clipping thresholds (got %d)", EXACT_MAX_ETA, neta);
    memset(s, 0, sizeof *s);
    s->m = m;
    s->neta = neta;
    for (int e = 0; e < neta; e++) s->eta[e] = eta[e];
    s->norm = nn_malloc((size_t)m * sizeof(double));
    s->cos = nn_malloc((size_t)m * sizeof(double));
    double ff = 0;
    for (size_t j = 0; j < n; j++) ff += full[j] * full[j];
    s->full_norm = sqrt(ff);
    s->min_norm = INFINITY;
    double clipped_dot[EXACT_MAX_ETA] = {0}; // sum_i <C(g_i; eta), grad f>
    long positive = 0;
    for (long i = 0; i < m; i++) {
        double dot, sq;
        dot_and_norm(fn(ctx, i), full, n, &dot, &sq);
        double norm = sqrt(sq);
        double c = norm > 0 && ff > 0 ? dot / (norm * s->full_norm) : 0.0;
        s->norm[i] = norm, s->cos[i] = c;
        s->mean_cos += c;
        positive += c > 0;
        if (norm < s->min_norm) s->min_norm = norm;
        if (norm > s->max_norm) s->max_norm = norm;
        for (int e = 0; e < neta; e++) clipped_dot[e] += (norm > eta[e] ? eta[e] / norm : 1.0) * dot;
    }
    s->mean_cos /= (double)m;
    s->frac_pos = (double)positive / (double)m;
    for (int e = 0; e < neta; e++) s->descent[e] = ff > 0 ? clipped_dot[e] / ((double)m * ff) : NAN;
}

void exactstats_free(ExactStats *s) {
    free(s->norm);
    free(s->cos);
    s->norm = s->cos = NULL;
}
