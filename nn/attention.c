#include "attention.h"
#include "blas.h"
#include "fastmath.h"
#include "parallel.h"

#include <math.h>

long attention_scratch_floats(int T, int threads) { return 2L * T * T * threads; }

typedef struct {
    float *out, *dqkv;
    float *probs_w;           // forward: P is written here
    const float *probs, *qkv, *mask, *dout;
    int N, T, D, H, threads;
    float *scratch;
} AttnJob;

// softmax over j <= i of scale * s[i][j], in place; the entries above the diagonal become 0.
static void causal_softmax(float *s, int T, float scale) {
    for (int i = 0; i < T; i++) {
        float *row = s + (long)i * T, m = -INFINITY, sum = 0;
        for (int j = 0; j <= i; j++) {
            row[j] *= scale;
            m = row[j] > m ? row[j] : m;
        }
        for (int j = 0; j <= i; j++) sum += row[j] = nn_expf(row[j] - m);
        float inv = 1.0f / sum;
        for (int j = 0; j <= i; j++) row[j] *= inv;
        for (int j = i + 1; j < T; j++) row[j] = 0.0f;
    }
}

// P * M into dst (P itself when there is no mask)
static const float *masked(float *dst, const float *p, const float *mask, long n) {
    if (!mask) return p;
    for (long i = 0; i < n; i++) dst[i] = p[i] * mask[i];
    return dst;
}

// The pairs (n, h) of share k of `threads` (nn_parallel_for hands out shares; run serially, one thread gets them
// all and goes through them one after the other, each with its own scratch).
static void pairs_of(const AttnJob *j, long k, long *lo, long *hi) {
    long pairs = (long)j->N * j->H;
    *lo = pairs * k / j->threads, *hi = pairs * (k + 1) / j->threads;
}

static void forward_share(const AttnJob *j, long share) {
    int T = j->T, D = j->D, hd = D / j->H;
    long TT = (long)T * T, lo, hi;
    float scale = 1.0f / sqrtf((float)hd), *pm = j->scratch + 2 * TT * share;
    pairs_of(j, share, &lo, &hi);
    for (long pair = lo; pair < hi; pair++) {
        long n = pair / j->H, h = pair % j->H;
        const float *q = j->qkv + n * T * 3 * D + h * hd, *k = q + D, *v = q + 2 * D;
        float *p = j->probs_w + pair * TT;
        nn_sgemm_ld(0, 1, T, T, hd, 1.0f, q, 3 * D, k, 3 * D, 0.0f, p, T); // q k^T
        causal_softmax(p, T, scale);
        const float *pd = masked(pm, p, j->mask ? j->mask + pair * TT : NULL, TT);
        nn_sgemm_ld(0, 0, T, hd, T, 1.0f, pd, T, v, 3 * D, 0.0f, j->out + n * T * D + h * hd, D);
    }
}

// With P' = P * M, out = P' v:  dv = P'^T dout,  dP = (dout v^T) * M,
// dS = P * (dP - rowsum(dP * P)) (the softmax's backward, row by row),  dq = dS k / sqrt(hd),  dk = dS^T q / sqrt(hd).
static void backward_share(const AttnJob *j, long share) {
    int T = j->T, D = j->D, hd = D / j->H;
    long TT = (long)T * T, lo, hi;
    float scale = 1.0f / sqrtf((float)hd), *pm = j->scratch + 2 * TT * share, *dp = pm + TT;
    pairs_of(j, share, &lo, &hi);
    for (long pair = lo; pair < hi; pair++) {
        long n = pair / j->H, h = pair % j->H;
        const float *q = j->qkv + n * T * 3 * D + h * hd, *k = q + D, *v = q + 2 * D;
        const float *p = j->probs + pair * TT, *mask = j->mask ? j->mask + pair * TT : NULL;
        const float *d = j->dout + n * T * D + h * hd;
        float *dq = j->dqkv + n * T * 3 * D + h * hd, *dk = dq + D, *dv = dq + 2 * D;
        const float *pd = masked(pm, p, mask, TT);
        nn_sgemm_ld(1, 0, T, hd, T, 1.0f, pd, T, d, D, 0.0f, dv, 3 * D);
        nn_sgemm_ld(0, 1, T, T, hd, 1.0f, d, D, v, 3 * D, 0.0f, dp, T);
        for (int i = 0; i < T; i++) {
            float *dr = dp + (long)i * T;
            const float *pr = p + (long)i * T, *mr = mask ? mask + (long)i * T : NULL;
            float dot = 0;
            for (int c = 0; c <= i; c++) {
                if (mr) dr[c] *= mr[c];
                dot += dr[c] * pr[c];
            }
            for (int c = 0; c <= i; c++) dr[c] = pr[c] * (dr[c] - dot);
            for (int c = i + 1; c < T; c++) dr[c] = 0.0f;
        }
        nn_sgemm_ld(0, 0, T, hd, T, scale, dp, T, k, 3 * D, 0.0f, dq, 3 * D);
        nn_sgemm_ld(1, 0, T, hd, T, scale, dp, T, q, 3 * D, 0.0f, dk, 3 * D);
    }
}

static void forward_part(void *ctx, long begin, long end) {
    for (long k = begin; k < end; k++) forward_share(ctx, k);
}

static void backward_part(void *ctx, long begin, long end) {
    for (long k = begin; k < end; k++) backward_share(ctx, k);
}

static int job_threads(int N, int H, int threads) {
    long pairs = (long)N * H;
    return threads < 1 ? 1 : threads > pairs ? (int)pairs : threads;
}

void attention_forward(float *out, float *probs, const float *qkv, const float *mask, int N, int T, int D, int H,
                       float *scratch, int threads) {
    AttnJob j = {.out = out, .probs_w = probs, .qkv = qkv, .mask = mask, .N = N, .T = T, .D = D, .H = H,
                 .threads = job_threads(N, H, threads), .scratch = scratch};
    nn_parallel_for(j.threads, j.threads, forward_part, &j);
}

void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *probs, const float *mask,
                        int N, int T, int D, int H, float *scratch, int threads) {
    AttnJob j = {.dqkv = dqkv, .probs = probs, .qkv = qkv, .mask = mask, .dout = dout, .N = N, .T = T, .D = D,
                 .H = H, .threads = job_threads(N, H, threads), .scratch = scratch};
    nn_parallel_for(j.threads, j.threads, backward_part, &j);
}
