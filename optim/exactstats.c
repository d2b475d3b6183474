#include "exactstats.h"
#include "nn/check.h"
#include "nn/rng.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void exactstats_sum_range(double *sum, BatchGradFn fn, void *ctx, long begin, long end, size_t n) {
    memset(sum, 0, n * sizeof(double));
    for (long i = begin; i < end; i++) {
        const float *g = fn(ctx, i);
        for (size_t j = 0; j < n; j++) sum[j] += g[j];
    }
}

void exactstats_full_gradient(double *full, BatchGradFn fn, void *ctx, long m, size_t n) {
    NN_CHECK(m >= 1, "exact gradient statistics need at least one batch (got %ld)", m);
    exactstats_sum_range(full, fn, ctx, 0, m, n);
    for (size_t j = 0; j < n; j++) full[j] /= (double)m;
}

// <g, full>, ||g||^2 and ||g - full||^2 in double, 8 lanes so the loop vectorises without reassociating one
// accumulator; when block is given, the noise g - full is added to it.
static void batch_sums(const float *g, const double *full, double *block, size_t n, double *dot, double *sq,
                       double *noise_sq) {
    double d[8] = {0}, s[8] = {0}, q[8] = {0};
    size_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (int k = 0; k < 8; k++) {
            double e = g[j + k] - full[j + k];
            d[k] += g[j + k] * full[j + k], s[k] += (double)g[j + k] * g[j + k], q[k] += e * e;
            if (block) block[j + k] += e;
        }
    for (; j < n; j++) {
        double e = g[j] - full[j];
        d[0] += g[j] * full[j], s[0] += (double)g[j] * g[j], q[0] += e * e;
        if (block) block[j] += e;
    }
    *dot = *sq = *noise_sq = 0;
    for (int k = 0; k < 8; k++) *dot += d[k], *sq += s[k], *noise_sq += q[k];
}

static double l2_norm(const double *v, size_t n) {
    double sq = 0;
    for (size_t j = 0; j < n; j++) sq += v[j] * v[j];
    return sqrt(sq);
}

// A fixed pseudo-random permutation of 0..m-1 (Fisher-Yates on its own seeded stream).
static long *visit_order(long m) {
    long *order = nn_malloc((size_t)m * sizeof(long));
    for (long i = 0; i < m; i++) order[i] = i;
    Rng r;
    rng_seed(&r, 0x6e6f697365ull); // "noise"
    for (long i = m - 1; i > 0; i--) {
        long j = (long)rng_below(&r, (uint32_t)(i + 1)), t = order[i];
        order[i] = order[j], order[j] = t;
    }
    return order;
}

// What pass 2 keeps of batch i, visited v-th: its sums against the full gradient, log ||g_i - grad f|| for the
// stable index, and at the last visit of a block of K1 the log of that block's noise-sum norm (else NaN).
typedef struct {
    double dot, sq, noise_sq, log_x, log_y;
} Visit;

// The visits a part computes: [begin, end), whole blocks of K1 (the last part also takes the visits after the
// last block), at most `cap` of them.
static void part_visits(long m, long k1, long blocks, int part, int parts, long *begin, long *end, long *cap) {
    long per = blocks ? (blocks + parts - 1) / parts * k1 : (m + parts - 1) / parts;
    *begin = part * per < m ? part * per : m;
    *end = part == parts - 1 ? m : (part + 1) * per < m ? (part + 1) * per : m;
    *cap = per + (blocks ? k1 : 0);
}

void exactstats_measure(ExactStats *s, const double *full, BatchGradFn fn, void *ctx, long m, size_t n,
                        const double *eta, int neta) {
    exactstats_measure_shared(s, full, fn, ctx, m, n, eta, neta, 0, 1, NULL);
}

void exactstats_measure_shared(ExactStats *s, const double *full, BatchGradFn fn, void *ctx, long m, size_t n,
                               const double *eta, int neta, int part, int parts, ExactShareFn share) {
    NN_CHECK(m >= 1, "exact gradient statistics need at least one batch (got %ld)", m);
    NN_CHECK(m < (1L << 31), "exact gradient statistics take at most 2^31 - 1 batches (got %ld)", m);
    NN_CHECK(neta >= 0 && neta <= EXACT_MAX_ETA, "at most %d clipping thresholds (got %d)", EXACT_MAX_ETA, neta);
    NN_CHECK(parts >= 1 && part >= 0 && part < parts && (parts == 1 || share), "part %d of %d", part, parts);
    memset(s, 0, sizeof *s);
    s->m = m;
    s->neta = neta;
    for (int e = 0; e < neta; e++) s->eta[e] = eta[e];
    s->norm = nn_malloc((size_t)m * sizeof(double));
    s->cos = nn_malloc((size_t)m * sizeof(double));
    s->noise = nn_malloc((size_t)m * sizeof(double));
    double *dot = nn_malloc((size_t)m * sizeof(double)), ff = 0;
    for (size_t j = 0; j < n; j++) ff += full[j] * full[j];
    s->full_norm = sqrt(ff);
    // the stable index's blocks: K1 batches each, in visiting order
    long k1 = (long)floor(sqrt((double)m)), blocks = k1 >= 2 ? m / k1 : 0;
    double *block = blocks ? nn_calloc(n, sizeof(double)) : NULL;
    long *order = visit_order(m), begin, end, cap;
    part_visits(m, k1, blocks, part, parts, &begin, &end, &cap);
    Visit *visits = nn_calloc((size_t)cap * (size_t)parts, sizeof(Visit)), *mine = visits + (size_t)part * cap;
    for (long v = begin; v < end; v++) {
        Visit *x = &mine[v - begin];
        int in_block = v < blocks * k1;
        batch_sums(fn(ctx, order[v]), full, in_block ? block : NULL, n, &x->dot, &x->sq, &x->noise_sq);
        x->log_x = log(sqrt(x->noise_sq)), x->log_y = NAN;
        if (in_block && (v + 1) % k1 == 0) { // the norm of a sum of k1 of the m noise vectors, which sum to 0: drawn
            // without replacement, its square is (m - k1) / (m - 1) of k1 independent ones'; undone
            x->log_y = log(l2_norm(block, n)) + 0.5 * log((double)(m - 1) / (double)(m - k1));
            memset(block, 0, n * sizeof(double));
        }
    }
    if (parts > 1) share(visits, (size_t)cap * sizeof(Visit));
    double *log_x = nn_malloc((size_t)(blocks * k1 + 1) * sizeof(double));
    double *log_y = nn_malloc((size_t)(blocks + 1) * sizeof(double));
    for (int p = 0; p < parts; p++) {
        part_visits(m, k1, blocks, p, parts, &begin, &end, &cap);
        for (long v = begin; v < end; v++) {
            const Visit *x = &visits[(size_t)p * cap + (size_t)(v - begin)];
            long i = order[v];
            dot[i] = x->dot, s->norm[i] = sqrt(x->sq), s->noise[i] = sqrt(x->noise_sq);
            s->cos[i] = s->norm[i] > 0 && ff > 0 ? dot[i] / (s->norm[i] * s->full_norm) : 0.0;
            if (v < blocks * k1) log_x[v] = x->log_x;
            if (v < blocks * k1 && (v + 1) % k1 == 0) log_y[v / k1] = x->log_y;
        }
    }
    s->stable = tail_stable_blocks(log_x, log_y, k1, blocks);
    // the sums over batches in index order: the same bits whatever the visiting order
    s->min_norm = INFINITY;
    double clipped_dot[EXACT_MAX_ETA] = {0}; // sum_i <C(g_i; eta), grad f>
    long positive = 0;
    for (long i = 0; i < m; i++) {
        double norm = s->norm[i];
        s->mean_cos += s->cos[i];
        positive += s->cos[i] > 0;
        if (norm < s->min_norm) s->min_norm = norm;
        if (norm > s->max_norm) s->max_norm = norm;
        for (int e = 0; e < neta; e++) clipped_dot[e] += (norm > eta[e] ? eta[e] / norm : 1.0) * dot[i];
        s->noise_ms += s->noise[i] * s->noise[i];
    }
    s->mean_cos /= (double)m;
    s->noise_ms /= (double)m;
    s->frac_pos = (double)positive / (double)m;
    for (int e = 0; e < neta; e++) s->descent[e] = ff > 0 ? clipped_dot[e] / ((double)m * ff) : NAN;
    free(dot), free(block), free(log_x), free(log_y), free(order), free(visits);
}

double exactstats_noise_scale(const ExactStats *s, long b, long M) {
    if (b >= M || !(s->full_norm > 0)) return NAN;
    return (double)b * (double)(M - 1) / (double)(M - b) * s->noise_ms / (s->full_norm * s->full_norm);
}

void exactstats_free(ExactStats *s) {
    free(s->norm);
    free(s->cos);
    free(s->noise);
    s->norm = s->cos = s->noise = NULL;
}
