// Speed: the input projection of all T steps is one large sgemm, only the recurrent product runs per step; in
// backward the weight gradients are one large sgemm each after the time loop.
#include "lstm.h"
#include "blas.h"
#include "fastmath.h"

#include <string.h>

// One row of the cell. The gate slices are disjoint, so restrict holds and the loop vectorises.
static void cell_forward(float *restrict gi, float *restrict gf, float *restrict gg, float *restrict go,
                         const float *restrict cprev, float *restrict cnext, float *restrict tc,
                         float *restrict hnext, int H) {
    for (int j = 0; j < H; j++) {
        float i = nn_sigmoidf(gi[j]), f = nn_sigmoidf(gf[j]), g = nn_tanhf(gg[j]), o = nn_sigmoidf(go[j]);
        float c = f * cprev[j] + i * g, th = nn_tanhf(c);
        gi[j] = i, gf[j] = f, gg[j] = g, go[j] = o;
        cnext[j] = c, tc[j] = th, hnext[j] = o * th;
    }
}

// Gradients of the pre-activations from dh (output + recurrence) and the dc carried from step t+1, which is
// replaced by the dc to carry to step t-1. sigmoid' = s(1-s), tanh' = 1 - t^2.
static void cell_backward(float *restrict di, float *restrict df, float *restrict dg, float *restrict dout,
                          float *restrict dc, const float *restrict gi, const float *restrict gf,
                          const float *restrict gg, const float *restrict go, const float *restrict cprev,
                          const float *restrict tc, const float *restrict dh, const float *restrict dh_rec, int H) {
    for (int j = 0; j < H; j++) {
        float i = gi[j], f = gf[j], g = gg[j], o = go[j], th = tc[j];
        float dhj = dh[j] + dh_rec[j];
        float dcj = dc[j] + dhj * o * (1.0f - th * th);
        di[j] = dcj * g * i * (1.0f - i);
        df[j] = dcj * cprev[j] * f * (1.0f - f);
        dg[j] = dcj * i * (1.0f - g * g);
        dout[j] = dhj * th * o * (1.0f - o);
        dc[j] = dcj * f;
    }
}

// The recurrence of streams [n0, n1) over the T steps: streams never meet, so each block of them runs on its own
// thread with no synchronisation between steps (one region per window, not one per step), and a stream's sums are
// the same whichever block holds it.
typedef struct {
    float *h, *c, *gates, *tanhc;
    const float *w_hh, *whh_packed;
    int T, N, H, blocks;
} Recurrence;

static void recur_streams(void *ctx, long b, long e) {
    const Recurrence *r = ctx;
    int N = r->N, H = r->H, G = 4 * H;
    for (long blk = b; blk < e; blk++) {
        int n0 = (int)(N * blk / r->blocks), n1 = (int)(N * (blk + 1) / r->blocks), rows = n1 - n0;
        if (rows <= 0) continue;
        for (int t = 0; t < r->T; t++) {
            float *gt = r->gates + ((long)t * N + n0) * G;
            const float *hprev = r->h + ((long)t * N + n0) * H, *cprev = r->c + ((long)t * N + n0) * H;
            float *hnext = r->h + ((long)(t + 1) * N + n0) * H, *cnext = r->c + ((long)(t + 1) * N + n0) * H;
            float *tc = r->tanhc + ((long)t * N + n0) * H;
            if (r->whh_packed) nn_sgemm_packed_b(0, rows, G, H, 1.0f, hprev, r->whh_packed, 1.0f, gt);
            else nn_sgemm_serial(0, 1, rows, G, H, 1.0f, hprev, r->w_hh, 1.0f, gt); // += h_{t-1} W_hh^T
            for (int n = 0; n < rows; n++) {
                float *gi = gt + (long)n * G;
                long o = (long)n * H;
                cell_forward(gi, gi + H, gi + 2 * H, gi + 3 * H, cprev + o, cnext + o, tc + o, hnext + o, H);
            }
        }
    }
}

void lstm_forward(float *h, float *c, float *gates, float *tanhc, const float *x, const float *w_ih,
                  const float *w_hh, const float *b_ih, const float *b_hh, int T, int N, int IN, int H) {
    int G = 4 * H;
    long rows = (long)T * N;
    // gates[T*N, 4H] = b_ih + b_hh + x W_ih^T, for every step at once
    for (long r = 0; r < rows; r++) {
        float *g = gates + r * G;
        for (int j = 0; j < G; j++) g[j] = b_ih[j] + b_hh[j];
    }
    nn_sgemm(0, 1, (int)rows, G, IN, 1.0f, x, w_ih, 1.0f, gates);
    // W_hh packed once for the T steps' products (AVX-512 kernel), read by every thread; blocks of at least 8
    // streams (one panel of the product's rows)
    int threads = nn_get_threads(), blocks = N / 8 < threads ? N / 8 : threads;
    Recurrence r = {h, c, gates, tanhc, w_hh, nn_sgemm_pack_b(1, H, G, w_hh), T, N, H, blocks < 1 ? 1 : blocks};
    nn_parallel_for(r.blocks, r.blocks, recur_streams, &r);
}

void lstm_backward(float *dx, float *dw_ih, float *dw_hh, float *db_ih, float *db_hh, float *dgates,
                   float *dstate, const float *dh, const float *h, const float *c, const float *gates,
                   const float *tanhc, const float *x, const float *w_ih, const float *w_hh, int T, int N, int IN,
                   int H) {
    int G = 4 * H;
    long NH = (long)N * H;
    float *dh_rec = dstate, *dc = dstate + NH; // dL/dh_t through the recurrence, and dL/dc_t
    memset(dstate, 0, 2 * (size_t)NH * sizeof(float));
    const float *whh = nn_sgemm_pack_b(0, G, H, w_hh); // packed once for the T steps' products (AVX-512 kernel)
    for (int t = T - 1; t >= 0; t--) {
        const float *gt = gates + (long)t * N * G, *cprev = c + (long)t * NH, *tc = tanhc + (long)t * NH;
        const float *dht = dh + (long)t * NH;
        float *dgt = dgates + (long)t * N * G;
        for (int n = 0; n < N; n++) {
            const float *gi = gt + (long)n * G;
            float *di = dgt + (long)n * G;
            long o = (long)n * H;
            cell_backward(di, di + H, di + 2 * H, di + 3 * H, dc + o, gi, gi + H, gi + 2 * H, gi + 3 * H, cprev + o,
                          tc + o, dht + o, dh_rec + o, H);
        }
        if (t > 0 && whh) nn_sgemm_packed_b(0, N, H, G, 1.0f, dgt, whh, 0.0f, dh_rec);
        else if (t > 0) nn_sgemm(0, 0, N, H, G, 1.0f, dgt, w_hh, 0.0f, dh_rec); // dh_{t-1} = dG_t W_hh
    }
    int rows = T * N;
    nn_sgemm(1, 0, G, IN, rows, 1.0f, dgates, x, 1.0f, dw_ih); // dW_ih += dG^T x
    nn_sgemm(1, 0, G, H, rows, 1.0f, dgates, h, 1.0f, dw_hh);  // dW_hh += dG^T h_{0..T-1}
    for (int r = 0; r < rows; r++) { // both biases enter G the same way, so both get the column sums of dG
        const float *dg = dgates + (long)r * G;
        for (int j = 0; j < G; j++) db_ih[j] += dg[j], db_hh[j] += dg[j];
    }
    if (dx) nn_sgemm(0, 0, rows, IN, G, 1.0f, dgates, w_ih, 1.0f, dx); // dx += dG W_ih
}
