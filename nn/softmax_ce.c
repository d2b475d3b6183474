#include "softmax_ce.h"
#include "check.h"
#include "fastmath.h"
#include "parallel.h"

#include <math.h>
#include <stdlib.h>

// The decoder's 10k-way softmax is the largest cost after the matrix products, so each pass over a row must be
// cheap. A compiler may not reorder one float accumulator (no -ffast-math here), so the reductions keep LANES
// independent accumulators, which gcc and clang both turn into vector or parallel scalar operations.
#define LANES 8

static float row_max(const float *x, int V) {
    float m[LANES];
    for (int k = 0; k < LANES; k++) m[k] = x[0];
    int v = 0;
    for (; v + LANES <= V; v += LANES)
        for (int k = 0; k < LANES; k++) m[k] = m[k] > x[v + k] ? m[k] : x[v + k];
    for (; v < V; v++) m[0] = m[0] > x[v] ? m[0] : x[v];
    float r = m[0];
    for (int k = 1; k < LANES; k++) r = r > m[k] ? r : m[k];
    return r;
}

static float row_sum(const float *x, int V) {
    float s[LANES] = {0};
    int v = 0;
    for (; v + LANES <= V; v += LANES)
        for (int k = 0; k < LANES; k++) s[k] += x[v + k];
    for (; v < V; v++) s[0] += x[v];
    float r = 0.0f;
    for (int k = 0; k < LANES; k++) r += s[k];
    return r;
}

// out[v] = exp(x[v] - m); out may alias x. Returns log sum_v exp(x[v]) = m + log(sum).
static double row_exp(float *out, const float *x, float m, int V) {
    for (int v = 0; v < V; v++) out[v] = nn_expf(x[v] - m);
    return (double)m + log((double)row_sum(out, V));
}

// log sum_v exp(x[v]) = m + log(sum) without storing the exps (evaluation): the same sums as row_exp's row_sum.
static double row_log_sum_exp(const float *x, float m, int V) {
    float s[LANES] = {0};
    int v = 0;
    for (; v + LANES <= V; v += LANES)
        for (int k = 0; k < LANES; k++) s[k] += nn_expf(x[v + k] - m);
    for (; v < V; v++) s[0] += nn_expf(x[v] - m);
    float r = 0.0f;
    for (int k = 0; k < LANES; k++) r += s[k];
    return (double)m + log((double)r);
}

typedef struct {
    float *logits;
    const int *targets;
    int V, grad;
    float scale;
    double *row_loss; // [N]
} CeJob;

static void ce_rows(void *p, long begin, long end) {
    CeJob *j = p;
    for (long n = begin; n < end; n++) {
        float *x = j->logits + n * j->V;
        float target_logit = x[j->targets[n]];
        float m = row_max(x, j->V);
        if (!j->grad) { // evaluation leaves the logits as they are: one pass less over memory
            j->row_loss[n] = row_log_sum_exp(x, m, j->V) - target_logit;
            continue;
        }
        double lse = row_exp(x, x, m, j->V);
        j->row_loss[n] = lse - target_logit;
        float k = j->scale * (float)exp((double)m - lse); // scale / sum of the exps
        for (int v = 0; v < j->V; v++) x[v] *= k;
        x[j->targets[n]] -= j->scale;
    }
}

// The row losses' scratch, kept and grown as needed so that a training step allocates nothing; one per calling
// thread, so concurrent callers do not share it. The thread that calls exit frees its own (the training thread:
// nothing else calls these functions today), so leak checkers stay quiet.
static _Thread_local double *row_loss;
static _Thread_local long row_loss_cap;

static void free_row_loss(void) {
    free(row_loss);
    row_loss = NULL, row_loss_cap = 0;
}

// Rows are independent; their losses are added in row order afterwards, so the sum is the same for any thread count.
static double ce_run(float *logits, const int *targets, int N, int V, int grad, float scale, int threads) {
    if (N > row_loss_cap) {
        if (!row_loss) atexit(free_row_loss);
        free(row_loss);
        row_loss = nn_malloc((size_t)N * sizeof(double)), row_loss_cap = N;
    }
    CeJob job = {logits, targets, V, grad, scale, row_loss};
    nn_parallel_for(threads, N, ce_rows, &job);
    double total = 0.0;
    for (int n = 0; n < N; n++) total += job.row_loss[n];
    return total;
}

double softmax_ce_loss(float *logits, const int *targets, int N, int V, int threads) {
    return ce_run(logits, targets, N, V, 0, 0.0f, threads);
}

double softmax_ce_forward_backward(float *logits, const int *targets, int N, int V, float scale, int threads) {
    return ce_run(logits, targets, N, V, 1, scale, threads);
}
