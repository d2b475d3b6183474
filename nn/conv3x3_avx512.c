#include "conv3x3_avx512.h"
#include "gemm_avx512.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#include <string.h>

// ---- forward (and the input gradient: the same product with the flipped weights)
// A tile is 4 output channels x 64 consecutive output pixels (4 vectors of 16: 2 rows of 32, 4 rows of 16 or 8 rows
// of 8), 16 accumulators. Per tap: 4 loads of the input, 4 broadcasts of weights, 16 multiply-adds. The input is
// copied first, so that every tap of a vector of 16 outputs is one load, in one of three layouts:
//   - stride 1, 16 or 32 wide: a zero row above and below each channel, rows of W + 32 floats with the image from
//     column 16 and zeros either side (the centre taps' loads aligned);
//   - stride 1, 8 wide (a vector spans two rows): rows of W floats, a zero row above and below; the columns left
//     and right of the image are lanes masked off (loaded as zeros) in the taps that read them (masked loads cost
//     about a tenth of the kernel's speed where the wider images can do without them);
//   - stride 2: four planes per channel, the input's rows and columns split by parity (plane (rp, cp) holds
//     x[2i + rp][2j + cp] at row 1 + i, column j, a zero row above), so that the taps of consecutive outputs are
//     consecutive: tap kh reads row parity 1 for kh = 0 and 2 (row i - 1 and i), 0 for kh = 1; likewise the columns,
//     and the column left of the image (kw = 0, ow = 0) is masked off.

#define PAD_LEFT 16

typedef struct {
    int stride, masked; // masked: lanes off where a tap reads left (or right) of the image
    long row, plane;     // the copy's row and channel strides
    long first;          // where row 0, column 0 of the image lies in a channel of the copy
} Layout;

// Where tap (kh, kw) of an output pixel lies in the copy, from the pixel's own place (first + oh * row + ow).
// Constant kh and kw make it an address offset the compiler folds (a table of the nine cost a fifth of the speed).
#define TAP_OFFSET(kh, kw)                                                                                             \
    (stride2 ? ((kh != 1) * 2 + (kw != 1)) * quarter - (kh == 0 ? row : 0) - (kw == 0) : (kh - 1) * row + kw - 1)

static Layout layout_of(int H, int W, int stride) {
    Layout L = {.stride = stride, .masked = stride == 2 || W < 16};
    int OW = W / stride, OH = H / stride;
    if (stride == 2) { // four parity planes of OH + 1 rows of OW
        L.row = OW, L.plane = 4 * (long)(OH + 1) * OW, L.first = OW;
        return L;
    }
    L.row = L.masked ? W : W + 2 * PAD_LEFT, L.plane = (H + 2) * L.row, L.first = L.row + (L.masked ? 0 : PAD_LEFT);
    return L;
}

int conv3x3_direct_forward_fits(int Cin, int M, int H, int W, int stride) {
    if (Cin < 1 || M < 4 || M % 4 || H < 1 || (stride != 1 && stride != 2)) return 0;
    if (stride == 2 && (H % 2 || W % 2)) return 0;
    int OW = W / stride;
    if ((stride == 1 && OW != 8 && OW != 16 && OW != 32) || (stride == 2 && OW != 8 && OW != 16)) return 0;
    return (long)(H / stride) * OW % 64 == 0 && nn_gemm_avx512_depth_block(Cin * 9) % 9 == 0;
}

size_t conv3x3_direct_forward_scratch(int Cin, int H, int W, int stride) {
    return (size_t)Cin * (size_t)layout_of(H, W, stride).plane;
}

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
#define LOAD_X(q, kw, m) (masked && kw != 1 ? _mm512_maskz_loadu_ps(m, p##q + off) : _mm512_loadu_ps(p##q + off))
#define TAP(kh, kw)                                                                                                    \
    {                                                                                                                  \
        long off = TAP_OFFSET(kh, kw);                                                                                 \
        const float *wk = wc + (kh * 3 + kw) * 4;                                                                      \
        __mmask16 me = kw == 0 ? left0 : right0, mo = kw == 0 ? left1 : right1;                                        \
        __m512 x0 = LOAD_X(0, kw, me), x1 = LOAD_X(1, kw, mo), x2 = LOAD_X(2, kw, me), x3 = LOAD_X(3, kw, mo);         \
        __asm__("" : "+v"(x0), "+v"(x1), "+v"(x2), "+v"(x3)); /* in registers: gcc folded each into 4 FMAs' loads */ \
        FOR_O(ACC_FMA)                                                                                                 \
    }
#define ACC_STORE_Q(o, q)                                                                                              \
    {                                                                                                                  \
        long at = (long)(m0 + o) * ohw + P0 + 16 * q;                                                                  \
        __m512 y = add ? _mm512_add_ps(_mm512_loadu_ps(out + at), a##o##q) : a##o##q;                                  \
        if (ep) { /* the batchnorm's (x scale + shift) (+ residual) (then relu), as nn/batchnorm.c rounds it */       \
            y = _mm512_add_ps(_mm512_mul_ps(y, _mm512_set1_ps(ep->scale[m0 + o])), _mm512_set1_ps(ep->shift[m0 + o])); \
            if (ep->add) y = _mm512_add_ps(y, _mm512_loadu_ps(ep->add + at));                                          \
            if (ep->relu) y = _mm512_max_ps(_mm512_setzero_ps(), y); /* NaN and -0 stay, as v < 0 ? 0 : v */           \
        }                                                                                                              \
        _mm512_storeu_ps(out + at, y);                                                                                 \
    }
#define ACC_STORE(o) ACC_STORE_Q(o, 0) ACC_STORE_Q(o, 1) ACC_STORE_Q(o, 2) ACC_STORE_Q(o, 3)

// The lanes of a vector of 16 pixels from pixel p whose column is not skip_col: with OW = 8 or 16, the same for
// every q.
static __mmask16 column_mask(int p, int OW, int skip_col) {
    unsigned m = 0;
    for (int l = 0; l < 16; l++) m |= (unsigned)((p + l) % OW != skip_col) << l;
    return (__mmask16)m;
}

// out[m0..m0+4)[P0..P0+64) (add: +=) the chain over channels [c0, c1) of wt's block of 4 outputs (wt4: [Cin][9][4])
// times the input's copy xc in layout L; the output is OH x OW.
__attribute__((target("avx512f"), always_inline)) static inline void forward_tile(float *out, const float *wt4,
                                                                                const float *xc, const Layout *L,
                                                                                int OH, int OW, int m0, int P0,
                                                                                int c0, int c1, int add,
                                                                                const ConvEpilogue *ep,
                                                                                const int masked, const int stride2) {
    long ohw = (long)OH * OW, plane = L->plane, row = L->row, quarter = plane / 4;
    __mmask16 left0 = 0xFFFF, left1 = 0xFFFF, right0 = 0xFFFF, right1 = 0xFFFF;
    if (masked) left0 = left1 = column_mask(P0, OW, 0);
    if (masked && !stride2) right0 = right1 = column_mask(P0, OW, OW - 1);
    const float *p[4]; // pixel vector q's own place in the copy
    for (int q = 0; q < 4; q++) {
        int pix = P0 + 16 * q;
        p[q] = xc + c0 * plane + L->first + pix / OW * L->row + pix % OW;
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
#define FORWARD_TILE_OF(name, masked, stride2)                                                                         \
    __attribute__((target("avx512f"), noinline)) static void name(float *out, const float *wt4, const float *xc,      \
                                                                  const Layout *L, int OH, int OW, int m0, int P0,    \
                                                                  int c0, int c1, int add, const ConvEpilogue *ep) {  \
        forward_tile(out, wt4, xc, L, OH, OW, m0, P0, c0, c1, add, ep, masked, stride2);                               \
    }
FORWARD_TILE_OF(forward_tile_zero_columns, 0, 0)
FORWARD_TILE_OF(forward_tile_masked, 1, 0)
FORWARD_TILE_OF(forward_tile_stride2, 1, 1)

// The input's copy in layout L, zeros where taps read outside the image. Rows of 8, 16 or 32 floats are copied in
// vectors (memcpy's calls, one per row, cost a tenth of an 8-channel layer's time).
__attribute__((target("avx512f"))) static void copy_input(float *xc, const float *inp, const Layout *L, int C, int H,
                                                          int W) {
    long hw = (long)H * W;
    for (int c = 0; c < C; c++) {
        float *d = xc + c * L->plane;
        const float *x = inp + c * hw;
        if (L->stride == 2) { // the four parity planes, each with a zero row on top
            int OW = W / 2, OH = H / 2;
            long pp = (long)(OH + 1) * OW;
            for (int r = 0; r < 4; r++) memset(d + r * pp, 0, (size_t)OW * sizeof(float));
            // even lanes to the low half, odd ones to the high half
            const __m512i split = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
            const __m512i lo = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            const __m512i hi = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
            for (int h = 0; h < H; h++) {
                float *e = d + (h % 2 * 2) * pp + (long)(h / 2 + 1) * OW, *o = e + pp;
                const float *src = x + (long)h * W;
                if (W == 32) {
                    __m512 a = _mm512_loadu_ps(src), b = _mm512_loadu_ps(src + 16);
                    _mm512_storeu_ps(e, _mm512_permutex2var_ps(a, lo, b));
                    _mm512_storeu_ps(o, _mm512_permutex2var_ps(a, hi, b));
                } else if (W == 16) {
                    __m512 v = _mm512_permutexvar_ps(split, _mm512_loadu_ps(src));
                    _mm256_storeu_ps(e, _mm512_castps512_ps256(v));
                    _mm256_storeu_ps(o, _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
                } else
                    for (int j = 0; j < OW; j++) e[j] = src[2 * j], o[j] = src[2 * j + 1];
            }
        } else if (L->masked) {
            memset(d, 0, (size_t)W * sizeof(float));
            memcpy(d + W, x, (size_t)hw * sizeof(float));
            memset(d + (H + 1) * L->row, 0, (size_t)W * sizeof(float));
        } else {
            memset(d + PAD_LEFT - 1, 0, (size_t)(W + 2) * sizeof(float));
            memset(d + (H + 1) * L->row + PAD_LEFT - 1, 0, (size_t)(W + 2) * sizeof(float));
            for (int h = 0; h < H; h++) {
                float *row = d + (h + 1) * L->row + PAD_LEFT;
                const float *src = x + (long)h * W;
                row[-1] = row[W] = 0.0f;
                _mm512_storeu_ps(row, _mm512_loadu_ps(src)); // W is 16 or 32 here
                if (W == 32) _mm512_storeu_ps(row + 16, _mm512_loadu_ps(src + 16));
            }
        }
    }
}

void conv3x3_direct_forward(float *out, const float *wt, const float *inp, float *scratch, int Cin, int M, int H,
                            int W, int stride, float beta, const ConvEpilogue *ep) {
    Layout L = layout_of(H, W, stride);
    int OH = H / stride, OW = W / stride, ohw = OH * OW;
    int kcb = nn_gemm_avx512_depth_block(Cin * 9) / 9; // channels per depth block
    copy_input(scratch, inp, &L, Cin, H, W);
    for (int P0 = 0; P0 < ohw; P0 += 64)
        for (int m0 = 0; m0 < M; m0 += 4) // the tile's input rows and the weights stay in L1 across these
            for (int c0 = 0; c0 < Cin; c0 += kcb) {
                const float *w4 = wt + (long)m0 * Cin * 9;
                int c1 = c0 + kcb < Cin ? c0 + kcb : Cin, add = c0 > 0 || beta != 0.0f;
                const ConvEpilogue *e = c1 == Cin ? ep : NULL; // after the last depth block
                if (stride == 2) forward_tile_stride2(out, w4, scratch, &L, OH, OW, m0, P0, c0, c1, add, e);
                else if (L.masked) forward_tile_masked(out, w4, scratch, &L, OH, OW, m0, P0, c0, c1, add, e);
                else forward_tile_zero_columns(out, w4, scratch, &L, OH, OW, m0, P0, c0, c1, add, e);
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
int conv3x3_direct_forward_fits(int Cin, int M, int H, int W, int stride) {
    return (void)Cin, (void)M, (void)H, (void)W, (void)stride, 0;
}
size_t conv3x3_direct_forward_scratch(int Cin, int H, int W, int stride) {
    return (void)Cin, (void)H, (void)W, (void)stride, 0;
}
void conv3x3_direct_weights(float *wt, const float *w, int C, int OC, int input_gradient) {
    (void)wt, (void)w, (void)C, (void)OC, (void)input_gradient;
}
void conv3x3_direct_forward(float *out, const float *wt, const float *inp, float *scratch, int Cin, int M, int H,
                            int W, int stride, float beta, const ConvEpilogue *ep) {
    (void)out, (void)wt, (void)inp, (void)scratch, (void)Cin, (void)M, (void)H, (void)W, (void)stride, (void)beta;
    (void)ep;
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
