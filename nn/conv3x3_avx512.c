#include "conv3x3_avx512.h"
#include "gemm_avx512.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#include <string.h>

// ---- forward (and the input gradient: the same product with the flipped weights)
// A tile is 4 output channels x 64 consecutive output pixels (4 vectors of 16: 2 rows of 32, 4 rows of 16 or 8 rows
// of 8), 16 accumulators. Per tap: 4 loads of the input, 4 broadcasts of weights, 16 multiply-adds. The input is
// copied first, with a zero row above and below each channel; the columns left and right of the image are
//   - 16 and 32 wide: zeros in the copy, whose rows are W + 32 floats with the image from column 16 (the centre
//     taps' loads aligned);
//   - 8 wide (a vector spans two rows): lanes masked off (loaded as zeros) in the taps that read them (masked loads
//     cost about a tenth of the kernel's speed where the wider images can do without them).

#define PAD_LEFT 16

int conv3x3_direct_forward_fits(int Cin, int M, int H, int W) {
    if (Cin < 1 || M < 4 || M % 4 || (W != 8 && W != 16 && W != 32) || H < 1 || (long)H * W % 64) return 0;
    return nn_gemm_avx512_depth_block(Cin * 9) % 9 == 0;
}

static int masked_layout(int W) { return W < 16; }
static long copy_row(int W) { return masked_layout(W) ? W : W + 2 * PAD_LEFT; }

size_t conv3x3_direct_forward_scratch(int Cin, int H, int W) { return (size_t)Cin * (H + 2) * copy_row(W); }

void conv3x3_direct_weights(float *wt, const float *w, int C, int OC, int input_gradient) {
    int M = input_gradient ? C : OC, Cin = input_gradient ? OC : C;
    for (int m = 0; m < M; m++)
        for (int ci = 0; ci < Cin; ci++)
            for (int k = 0; k < 9; k++) {
                float v = input_gradient ? w[((long)ci * C + m) * 9 + 8 - k] : w[((long)m * C + ci) * 9 + k];
                wt[(((long)(m / 4) * Cin + ci) * 9 + k) * 4 + m % 4] = v;
            }
}

#define ACC_ZERO(o) __m512 a##o##0 = _mm512_setzero_ps(), a##o##1 = a##o##0, a##o##2 = a##o##0, a##o##3 = a##o##0;
#define ACC_FMA(o)                                                                                                     \
    {                                                                                                                  \
        __m512 w = _mm512_set1_ps(wk[o]);                                                                              \
        a##o##0 = _mm512_fmadd_ps(w, x0, a##o##0);                                                                     \
        a##o##1 = _mm512_fmadd_ps(w, x1, a##o##1);                                                                     \
        a##o##2 = _mm512_fmadd_ps(w, x2, a##o##2);                                                                     \
        a##o##3 = _mm512_fmadd_ps(w, x3, a##o##3);                                                                     \
    }
#define FOR_O(X) X(0) X(1) X(2) X(3)
// tap (kh, kw) of pixel vector q reads the copy at row oh + kh, column ow + kw - 1
#define LOAD_X(q, kw, m) (masked && kw != 1 ? _mm512_maskz_loadu_ps(m, p##q + off) : _mm512_loadu_ps(p##q + off))
#define TAP(kh, kw)                                                                                                    \
    {                                                                                                                  \
        long off = kh * RS + kw - 1;                                                                                   \
        const float *wk = wc + (kh * 3 + kw) * 4;                                                                      \
        __mmask16 me = kw == 0 ? left0 : right0, mo = kw == 0 ? left1 : right1;                                        \
        __m512 x0 = LOAD_X(0, kw, me), x1 = LOAD_X(1, kw, mo), x2 = LOAD_X(2, kw, me), x3 = LOAD_X(3, kw, mo);         \
        __asm__("" : "+v"(x0), "+v"(x1), "+v"(x2), "+v"(x3)); /* in registers: gcc folded each into 4 FMAs' loads */ \
        FOR_O(ACC_FMA)                                                                                                 \
    }
#define ACC_STORE_Q(o, q)                                                                                              \
    {                                                                                                                  \
        float *d = out + (long)(m0 + o) * hw + P0 + 16 * q;                                                            \
        _mm512_storeu_ps(d, add ? _mm512_add_ps(_mm512_loadu_ps(d), a##o##q) : a##o##q);                              \
    }
#define ACC_STORE(o) ACC_STORE_Q(o, 0) ACC_STORE_Q(o, 1) ACC_STORE_Q(o, 2) ACC_STORE_Q(o, 3)

// The lanes of a vector of 16 pixels from pixel p whose column is not skip_col: with W = 8, the same for every q.
static __mmask16 column_mask(int p, int W, int skip_col) {
    unsigned m = 0;
    for (int l = 0; l < 16; l++) m |= (unsigned)((p + l) % W != skip_col) << l;
    return (__mmask16)m;
}

// out[m0..m0+4)[P0..P0+64) (add: +=) the chain over channels [c0, c1) of wt's block of 4 outputs (wt4: [Cin][9][4])
// times the input's copy xc (rows RS floats apart).
__attribute__((target("avx512f"), always_inline)) static inline void forward_tile(float *out, const float *wt4,
                                                                                const float *xc, int H, int W, int m0,
                                                                                int P0, int c0, int c1, int add,
                                                                                const int masked) {
    long hw = (long)H * W, RS = copy_row(W), plane = (H + 2) * RS;
    __mmask16 left0 = 0xFFFF, left1 = 0xFFFF, right0 = 0xFFFF, right1 = 0xFFFF;
    if (masked) left0 = left1 = column_mask(P0, W, 0), right0 = right1 = column_mask(P0, W, W - 1);
    const float *p[4]; // pixel vector q's input at tap (0, 1): the copy's row oh (above the pixel), column ow
    for (int q = 0; q < 4; q++) {
        int pix = P0 + 16 * q;
        p[q] = xc + c0 * plane + (masked ? pix : pix / W * RS + PAD_LEFT + pix % W);
    }
    const float *p0 = p[0], *p1 = p[1], *p2 = p[2], *p3 = p[3];
    FOR_O(ACC_ZERO)
    for (int c = c0; c < c1; c++, p0 += plane, p1 += plane, p2 += plane, p3 += plane) {
        const float *wc = wt4 + (long)c * 36;
        TAP(0, 0) TAP(0, 1) TAP(0, 2) TAP(1, 0) TAP(1, 1) TAP(1, 2) TAP(2, 0) TAP(2, 1) TAP(2, 2)
    }
    FOR_O(ACC_STORE)
}

// Out of line, one per layout, so that gcc keeps the 16 accumulators in registers
__attribute__((target("avx512f"), noinline)) static void forward_tile_zero_columns(float *out, const float *wt4,
                                                                                   const float *xc, int H, int W,
                                                                                   int m0, int P0, int c0, int c1,
                                                                                   int add) {
    forward_tile(out, wt4, xc, H, W, m0, P0, c0, c1, add, 0);
}
__attribute__((target("avx512f"), noinline)) static void forward_tile_masked(float *out, const float *wt4,
                                                                             const float *xc, int H, int W, int m0,
                                                                             int P0, int c0, int c1, int add) {
    forward_tile(out, wt4, xc, H, W, m0, P0, c0, c1, add, 1);
}

// The input's copy: xc[c][1 + h][col0 + w] = inp[c][h][w] (col0 = PAD_LEFT, or 0 in the masked layout), zeros in
// rows 0 and H + 1 and in the columns either side of the image that taps read.
static void copy_input(float *xc, const float *inp, int C, int H, int W) {
    long RS = copy_row(W), plane = (H + 2) * RS, hw = (long)H * W;
    for (int c = 0; c < C; c++) {
        float *d = xc + c * plane;
        const float *x = inp + c * hw;
        if (masked_layout(W)) {
            memset(d, 0, (size_t)W * sizeof(float));
            memcpy(d + W, x, (size_t)hw * sizeof(float));
            memset(d + (H + 1) * RS, 0, (size_t)W * sizeof(float));
            continue;
        }
        memset(d + PAD_LEFT - 1, 0, (size_t)(W + 2) * sizeof(float));
        memset(d + (H + 1) * RS + PAD_LEFT - 1, 0, (size_t)(W + 2) * sizeof(float));
        for (int h = 0; h < H; h++) {
            float *row = d + (h + 1) * RS + PAD_LEFT;
            row[-1] = row[W] = 0.0f;
            memcpy(row, x + (long)h * W, (size_t)W * sizeof(float));
        }
    }
}

void conv3x3_direct_forward(float *out, const float *wt, const float *inp, float *scratch, int Cin, int M, int H,
                            int W, float beta) {
    int hw = H * W, kcb = nn_gemm_avx512_depth_block(Cin * 9) / 9; // channels per depth block
    copy_input(scratch, inp, Cin, H, W);
    for (int P0 = 0; P0 < hw; P0 += 64)
        for (int m0 = 0; m0 < M; m0 += 4) // the tile's input rows and the weights stay in L1 across these
            for (int c0 = 0; c0 < Cin; c0 += kcb) {
                const float *w4 = wt + (long)m0 * Cin * 9;
                int c1 = c0 + kcb < Cin ? c0 + kcb : Cin, add = c0 > 0 || beta != 0.0f;
                if (masked_layout(W)) forward_tile_masked(out, w4, scratch, H, W, m0, P0, c0, c1, add);
                else forward_tile_zero_columns(out, w4, scratch, H, W, m0, P0, c0, c1, add);
            }
}

// ---- weight gradient
// For 16 output channels (one vector, from dy transposed) and two input channels: 18 accumulators, one per tap and
// channel. Per pixel: one load of dy, 18 broadcasts of the zero-padded image, 18 multiply-adds.

// The image zero-padded: xp[c][1 + h][1 + w] = x[c][h][w], rows of W + 2 floats, zeros around.
static long padded_row(int W) { return W + 2; }
static long padded_plane(int H, int W) { return (H + 2) * padded_row(W); }

static void pad_image(float *xp, const float *x, int C, int H, int W) {
    long W2 = padded_row(W), plane = padded_plane(H, W);
    for (int c = 0; c < C; c++) {
        float *d = xp + c * plane;
        memset(d, 0, (size_t)W2 * sizeof(float));
        memset(d + (H + 1) * W2, 0, (size_t)W2 * sizeof(float));
        for (int h = 0; h < H; h++) {
            float *row = d + (h + 1) * W2;
            row[0] = row[W + 1] = 0.0f;
            memcpy(row + 1, x + ((long)c * H + h) * W, (size_t)W * sizeof(float));
        }
    }
}

int conv3x3_direct_weight_grad_fits(int C, int OC, int H, int W, int rows) {
    // 8 wide: a chunk is the whole image, 64 pixels, over which the 18 accumulators' set-up and adding into dw
    // cost more than the product saves
    if (C < 1 || OC < 16 || OC % 16 || W < 16 || rows < 1 || rows > H) return 0;
    int n = rows * W; // one depth block (so is a shorter last chunk)
    return nn_gemm_avx512_depth_block(n) == n;
}

size_t conv3x3_direct_weight_grad_scratch(int C, int OC, int H, int W, int rows) {
    return (size_t)C * padded_plane(H, W) + (size_t)rows * W * OC;
}

#define FOR_K(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8)
#define WG_ZERO(k) __m512 s##k = _mm512_setzero_ps(), t##k = s##k;
#define WG_FMA(k)                                                                                                      \
    s##k = _mm512_fmadd_ps(d, _mm512_set1_ps(x0[k / 3 * W2 + k % 3]), s##k);                                           \
    if (two) t##k = _mm512_fmadd_ps(d, _mm512_set1_ps(x1[k / 3 * W2 + k % 3]), t##k);
#define WG_ADD(k)                                                                                                      \
    {                                                                                                                  \
        float *a = dwT + k * OC, *b = a + 9 * OC;                                                                      \
        _mm512_storeu_ps(a, _mm512_add_ps(_mm512_loadu_ps(a), s##k));                                                  \
        if (two) _mm512_storeu_ps(b, _mm512_add_ps(_mm512_loadu_ps(b), t##k));                                         \
    }

// dwT[k][0..16) (two: and dwT[9 + k][..]) += per tap k of channel c (and c + 1) the chain over the chunk's pixels of
// dyT[p][16] times the padded image at the tap's offset. xpad: channel c's padded plane, at the chunk's first row;
// dwT's rows are OC floats apart.
__attribute__((target("avx512f"), always_inline)) static inline void weight_grad_body(float *dwT, int OC,
                                                                                    const float *dyT,
                                                                                    const float *xpad, long plane,
                                                                                    int W, int rows, const int two) {
    long W2 = padded_row(W);
    FOR_K(WG_ZERO)
    for (int r = 0; r < rows; r++)
        for (int ow = 0; ow < W; ow++, dyT += 16) {
            const float *x0 = xpad + (long)r * W2 + ow, *x1 = x0 + (two ? plane : 0);
            __m512 d = _mm512_loadu_ps(dyT);
            FOR_K(WG_FMA)
        }
    FOR_K(WG_ADD)
}

// Out of line, one per channel count, so that gcc keeps the 18 accumulators in registers
__attribute__((target("avx512f"), noinline)) static void weight_grad_one(float *dwT, int OC, const float *dyT,
                                                                         const float *xpad, long plane, int W,
                                                                         int rows) {
    weight_grad_body(dwT, OC, dyT, xpad, plane, W, rows, 0);
}
__attribute__((target("avx512f"), noinline)) static void weight_grad_two(float *dwT, int OC, const float *dyT,
                                                                         const float *xpad, long plane, int W,
                                                                         int rows) {
    weight_grad_body(dwT, OC, dyT, xpad, plane, W, rows, 1);
}

void conv3x3_direct_weight_grad(float *dwT, float *scratch, const float *dy, const float *x, int C, int OC, int H,
                                int W, int rows) {
    int hw = H * W;
    long W2 = padded_row(W), plane = padded_plane(H, W);
    float *xp = scratch, *dyT = scratch + C * plane; // dyT[g][p][16]: the chunk's dy, 16 channels per group g
    pad_image(xp, x, C, H, W);
    for (int r0 = 0; r0 < H; r0 += rows) {
        int nr = r0 + rows < H ? rows : H - r0, n = nr * W, p = 0;
        for (int g = 0; g < OC / 16; g++) {
            const float *src = dy + (long)16 * g * hw + r0 * W;
            float *dst = dyT + (long)g * n * 16;
            for (p = 0; p + 16 <= n; p += 16) nn_gemm_avx512_transpose16(src + p, hw, dst + p * 16, 16);
            for (; p < n; p++)
                for (int l = 0; l < 16; l++) dst[p * 16 + l] = src[(long)l * hw + p];
        }
        for (int g = 0; g < OC / 16; g++)
            for (int c = 0; c < C; c += 2) {
                const float *dg = dyT + (long)g * n * 16, *xc = xp + c * plane + r0 * W2;
                float *dwc = dwT + (long)c * 9 * OC + 16 * g;
                if (c + 1 < C) weight_grad_two(dwc, OC, dg, xc, plane, W, nr);
                else weight_grad_one(dwc, OC, dg, xc, plane, W, nr);
            }
    }
}

#else // not x86-64: never chosen (conv2d asks nn_gemm_uses_avx512 first)
int conv3x3_direct_forward_fits(int Cin, int M, int H, int W) { return (void)Cin, (void)M, (void)H, (void)W, 0; }
size_t conv3x3_direct_forward_scratch(int Cin, int H, int W) { return (void)Cin, (void)H, (void)W, 0; }
void conv3x3_direct_weights(float *wt, const float *w, int C, int OC, int input_gradient) {
    (void)wt, (void)w, (void)C, (void)OC, (void)input_gradient;
}
void conv3x3_direct_forward(float *out, const float *wt, const float *inp, float *scratch, int Cin, int M, int H,
                            int W, float beta) {
    (void)out, (void)wt, (void)inp, (void)scratch, (void)Cin, (void)M, (void)H, (void)W, (void)beta;
}
int conv3x3_direct_weight_grad_fits(int C, int OC, int H, int W, int rows) {
    return (void)C, (void)OC, (void)H, (void)W, (void)rows, 0;
}
size_t conv3x3_direct_weight_grad_scratch(int C, int OC, int H, int W, int rows) {
    return (void)C, (void)OC, (void)H, (void)W, (void)rows, 0;
}
void conv3x3_direct_weight_grad(float *dwT, float *scratch, const float *dy, const float *x, int C, int OC, int H,
                                int W, int rows) {
    (void)dwT, (void)scratch, (void)dy, (void)x, (void)C, (void)OC, (void)H, (void)W, (void)rows;
}
#endif
