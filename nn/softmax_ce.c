#include "softmax_ce.h"
#include "fastmath.h"

#include <math.h>

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

double softmax_ce_loss(float *logits, const int *targets, int N, int V) {
    double total = 0.0;
    for (int n = 0; n < N; n++) {
        float *x = logits + (long)n * V;
        float target_logit = x[targets[n]];
        total += row_exp(x, x, row_max(x, V), V) - target_logit;
    }
    return total;
}

double softmax_ce_forward_backward(float *logits, const int *targets, int N, int V, float scale) {
    double total = 0.0;
    for (int n = 0; n < N; n++) {
        float *x = logits + (long)n * V;
        float target_logit = x[targets[n]];
        float m = row_max(x, V);
        double lse = row_exp(x, x, m, V);
        total += lse - target_logit;
        float k = scale * (float)exp((double)m - lse); // scale / sum of the exps
        for (int v = 0; v < V; v++) x[v] *= k;
        x[targets[n]] -= scale;
    }
    return total;
}
