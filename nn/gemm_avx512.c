// The product in the manner of BLIS/GotoBLAS: A is packed into panels of MR rows (zero-padded) and B into panels
// of NR columns, and an MR x NR register tile of C (8 rows x 32 columns: 16 zmm accumulators, enough to cover two
// FMA pipes' latency) is accumulated over a block of depth kc, one rank-1 update per k: two loads of B's row, eight
// broadcasts of A's column. Transposes (a transposed B, an untransposed A) are packed 16 x 16 in registers. With at
// most 16 rows of A (a prepacked A: a 16-channel convolution), an untransposed B is read where it lies instead.
// Column edges use masked loads and stores; row edges compute zero rows, never stored.
#include "gemm_avx512.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include "check.h"

#include <immintrin.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MR 8
#define NR 32
#define MC 128      // rows of A packed at once (128 x KC_MAX floats: 160 kB, in L2)
#define KC_MAX 320  // deepest block: B's 32-column panel of it is 40 kB, within a 48 kB L1
#define IN_PLACE_ROWS 16 // nn_gemm_avx512_packed reads an untransposed B in place up to this many rows of A
#define NC 2048     // columns of B packed at once (KC_MAX x NC floats: 2.6 MB, in L3); A is packed N / NC times

// Each thread's packing buffers, allocated at its first product and freed when it exits (a key's destructor).
typedef struct {
    float *a, *b;   // [MC * KC_MAX], [KC_MAX * NC]
    float *slot;    // a whole B packed for many products (nn_gemm_avx512_pack_b_slot), grown when needed
    size_t slot_cap;
} PackBuffers;

static pthread_key_t pack_key;
static pthread_once_t pack_key_once = PTHREAD_ONCE_INIT;

static void free_pack(void *p) {
    PackBuffers *pb = p;
    free(pb->a), free(pb->b), free(pb->slot), free(pb);
}

static void make_pack_key(void) { NN_CHECK(pthread_key_create(&pack_key, free_pack) == 0, "gemm: no thread key"); }

static PackBuffers *pack_buffers(void) {
    pthread_once(&pack_key_once, make_pack_key);
    PackBuffers *pb = pthread_getspecific(pack_key);
    if (!pb) {
        pb = nn_calloc(1, sizeof *pb);
        pb->a = nn_alloc_floats(MC * KC_MAX), pb->b = nn_alloc_floats((size_t)KC_MAX * NC);
        NN_CHECK(pthread_setspecific(pack_key, pb) == 0, "gemm: cannot keep the packing buffers");
    }
    return pb;
}

int nn_gemm_avx512_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}

// The depth blocks: equal sizes up to KC_MAX, a function of K alone (so every caller's split gives the same sums).
static int depth_block(int K) {
    int nblk = (K + KC_MAX - 1) / KC_MAX;
    return (K + nblk - 1) / nblk;
}

int nn_gemm_avx512_depth_block(int K) { return K > 0 ? depth_block(K) : 0; }

static int round_up(int n, int m) { return (n + m - 1) / m * m; }

// Two whole panels (16 rows) of an untransposed A, 16 values of k at a time: one 16 x 16 transpose in registers,
// whose rows (one k each) hold the 16 rows of A, split between the two panels. Returns the k it reached.
static int pack_a_pairs(float *dst, const float *A, long lda, int kc) {
    float t[16 * 16] __attribute__((aligned(64)));
    int p = 0;
    for (; p + 16 <= kc; p += 16) {
        nn_gemm_avx512_transpose16(A + p, lda, t, 16);
        for (int q = 0; q < 16; q++) {
            memcpy(dst + (p + q) * MR, t + q * 16, MR * sizeof(float));
            memcpy(dst + (long)MR * kc + (p + q) * MR, t + q * 16 + MR, MR * sizeof(float));
        }
    }
    return p;
}

// dst[(panel*kc + p)*MR + r] = op(A)[i0 + panel*MR + r][k0 + p], 0 below row i0 + mc: panels of MR rows.
static void pack_a(float *dst, int transA, const float *A, long lda, int i0, int mc, int k0, int kc) {
    for (int i = 0; i < mc; i += MR, dst += (long)MR * kc) {
        int mr = mc - i < MR ? mc - i : MR;
        if (!transA && mc - i >= 2 * MR) { // two whole panels: transposed in blocks, the rest of k below
            const float *a = A + (i0 + i) * lda + k0;
            int p0 = pack_a_pairs(dst, a, lda, kc);
            for (int h = 0; h < 2; h++)
                for (int p = p0; p < kc; p++)
                    for (int r = 0; r < MR; r++) dst[(long)h * MR * kc + p * MR + r] = a[(h * MR + r) * lda + p];
            i += MR, dst += (long)MR * kc; // the second panel is done too
            continue;
        }
        if (transA) { // op(A)[i][k] = A[k][i]: MR consecutive floats per k
            for (int p = 0; p < kc; p++) {
                const float *src = A + (k0 + p) * lda + i0 + i;
                for (int r = 0; r < MR; r++) dst[p * MR + r] = r < mr ? src[r] : 0.0f;
            }
            continue;
        }
        const float *row[MR];
        for (int r = 0; r < MR; r++) row[r] = A + (i0 + i + (r < mr ? r : 0)) * lda + k0;
        for (int p = 0; p < kc; p++)
            for (int r = 0; r < MR; r++) dst[p * MR + r] = r < mr ? row[r][p] : 0.0f;
    }
}

// dst[q*ldd + r] = src[r*ld + q] for a 16 x 16 block: the usual four rounds of shuffles (32-bit, 64-bit, then two
// of 128-bit lanes), for packing a transposed B about five times faster than element by element.
__attribute__((target("avx512f"))) void nn_gemm_avx512_transpose16(const float *src, long ld, float *dst, long ldd) {
    __m512 r[16], t[16];
    for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(src + i * ld);
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
        __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
        r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++) {
            t[8 * i + j] = _mm512_shuffle_f32x4(r[8 * i + j], r[8 * i + j + 4], 0x88);
            t[8 * i + j + 4] = _mm512_shuffle_f32x4(r[8 * i + j], r[8 * i + j + 4], 0xdd);
        }
    for (int j = 0; j < 8; j++) {
        r[j] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0x88);
        r[j + 8] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0xdd);
    }
    for (int i = 0; i < 16; i++) _mm512_storeu_ps(dst + i * ldd, r[i]);
}

// dst[(panel*kc + p)*NR + c] = op(B)[k0 + p][j0 + panel*NR + c], 0 past column j0 + nc: panels of NR columns.
static void pack_b(float *dst, int transB, const float *B, long ldb, int j0, int nc, int k0, int kc) {
    for (int j = 0; j < nc; j += NR, dst += (long)NR * kc) {
        int nr = nc - j < NR ? nc - j : NR;
        if (!transB && nr == NR) { // whole rows of 32: plain copies
            for (int p = 0; p < kc; p++) memcpy(dst + p * NR, B + (k0 + p) * ldb + j0 + j, NR * sizeof(float));
            continue;
        }
        if (!transB) {
            for (int p = 0; p < kc; p++) {
                const float *src = B + (k0 + p) * ldb + j0 + j;
                for (int c = 0; c < NR; c++) dst[p * NR + c] = c < nr ? src[c] : 0.0f;
            }
            continue;
        }
        // op(B)[k][j] = B[j][k]: a transpose, by 16 x 16 blocks where the panel is whole, then 8 values of k at a
        // time so that the 8 rows written stay in L1
        int p = 0;
        if (nr == NR)
            for (; p + 16 <= kc; p += 16)
                for (int h = 0; h < NR; h += 16)
                    nn_gemm_avx512_transpose16(B + (j0 + j + h) * ldb + k0 + p, ldb, dst + p * NR + h, NR);
        for (; p + 8 <= kc; p += 8)
            for (int c = 0; c < NR; c++) {
                const float *src = B + (j0 + j + (c < nr ? c : 0)) * ldb + k0 + p;
                for (int q = 0; q < 8; q++) dst[(p + q) * NR + c] = c < nr ? src[q] : 0.0f;
            }
        for (; p < kc; p++)
            for (int c = 0; c < NR; c++) dst[p * NR + c] = c < nr ? B[(j0 + j + c) * ldb + k0 + p] : 0.0f;
    }
}

static __mmask16 lane_mask(int n) { return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

// C[mr, nr] = alpha * (a_panel x b_panel) + beta * C over depth kc.
// The 16 accumulators are named variables (an array of them is kept in memory by gcc, one store per update).
#define ACC_ZERO(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = _mm512_setzero_ps();
#define ACC_UPDATE(r)                                                                                                  \
    {                                                                                                                  \
        __m512 ar = _mm512_set1_ps(a[r]);                                                                              \
        c##r##0 = _mm512_fmadd_ps(ar, b0, c##r##0);                                                                    \
        c##r##1 = _mm512_fmadd_ps(ar, b1, c##r##1);                                                                    \
    }
#define ACC_STORE(r)                                                                                                   \
    if (r < mr) {                                                                                                      \
        float *d = c + r * ldc;                                                                                        \
        __m512 y0 = _mm512_mul_ps(va, c##r##0), y1 = _mm512_mul_ps(va, c##r##1);                                      \
        if (beta != 0.0f) { /* beta = 0 never reads C (it may hold NaN), as BLAS does */                              \
            y0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, d), y0);                                                \
            y1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, d + 16), y1);                                           \
        } else if (bias) { /* bias + y: what beta = 1 gives over rows of C that hold the bias */                      \
            y0 = _mm512_add_ps(bias0, y0), y1 = _mm512_add_ps(bias1, y1);                                              \
        }                                                                                                              \
        _mm512_mask_storeu_ps(d, m0, y0);                                                                              \
        _mm512_mask_storeu_ps(d + 16, m1, y1);                                                                         \
    }
#define FOR_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)

// B's rows are b_row floats apart: NR in a packed panel, ldb when B is read where it lies. Kept out of line: inlined
// into its caller, gcc spilled the B vectors and the tile ran at half speed.
__attribute__((target("avx512f"), noinline)) static void tile(int kc, const float *a, const float *b, long b_row,
                                                              float *c, long ldc, int mr, int nr, float alpha,
                                                              float beta, const float *bias) {
    __mmask16 m0 = lane_mask(nr), m1 = lane_mask(nr - 16);
    __m512 bias0 = _mm512_setzero_ps(), bias1 = bias0;
    if (bias) bias0 = _mm512_maskz_loadu_ps(m0, bias), bias1 = _mm512_maskz_loadu_ps(m1, bias + 16);
    FOR_ROWS(ACC_ZERO)
    for (int p = 0; p < kc; p++, a += MR, b += b_row) {
        __m512 b0 = _mm512_maskz_loadu_ps(m0, b), b1 = _mm512_maskz_loadu_ps(m1, b + 16);
        FOR_ROWS(ACC_UPDATE)
    }
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    FOR_ROWS(ACC_STORE)
}

// C[mc, nc] = alpha * (packed A panels x packed B panels) + beta * C for one depth block of kc (beta 0 and a bias:
// + bias[nc] in every row).
static void block_product(int mc, int nc, int kc, float alpha, const float *ap, const float *b, long b_row,
                          long b_panel, float beta, const float *bias, float *C, long ldc) {
    for (int j = 0; j < nc; j += NR) { // B's panel stays in L1 while every row panel of A passes it
        int nr = nc - j < NR ? nc - j : NR;
        for (int i = 0; i < mc; i += MR)
            tile(kc, ap + (long)i * kc, b + j / NR * b_panel, b_row, C + i * ldc + j, ldc, mc - i < MR ? mc - i : MR,
                 nr, alpha, beta, bias ? bias + j : NULL);
    }
}

// C = beta C, where the product adds nothing
static void scale_c(int M, int N, float beta, float *C, long ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
}

// An operand of a product: prepacked (packed != NULL: nn_gemm_avx512_pack's layout for A, pack_b_slot's for B,
// whole depth blocks one after another) or as stored (p, trans, ld), packed block by block as the product goes.
typedef struct {
    const float *p, *packed;
    int trans;
    long ld;
} Operand;

// The one driver of every entry point: columns in blocks of NC, depth blocks of depth_block(K) (in order, so each
// element's sum is the same whichever operands came prepacked), rows in blocks of MC.
static void product(int M, int N, int K, float alpha, Operand a, Operand b, float beta, const float *bias, float *C,
                    long ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) { // the product adds nothing
        if (!bias) return scale_c(M, N, beta, C, ldc);
        for (int i = 0; i < M; i++) memcpy(C + (long)i * ldc, bias, (size_t)N * sizeof(float)); // as beta = 1 leaves
        return;
    }
    int kcb = depth_block(K), Mp = round_up(M, MR), Np = round_up(N, NR);
    PackBuffers *pb = pack_buffers();
    // With a prepacked A of at most IN_PLACE_ROWS rows (a 16-channel convolution), each panel of B serves two tiles
    // at most: packing it would cost about as much as the products, so B is read where it lies (its row stride
    // should not be a multiple of 1 kB: see the header)
    int in_place = a.packed && !b.packed && !b.trans && M <= IN_PLACE_ROWS;
    for (int j0 = 0; j0 < N; j0 += NC)
        for (int k0 = 0; k0 < K; k0 += kcb) {
            int nc = N - j0 < NC ? N - j0 : NC, kc = K - k0 < kcb ? K - k0 : kcb;
            float bet = k0 == 0 ? beta : 1.0f; // later depth blocks add to what the first wrote
            const float *bj = k0 == 0 && bias ? bias + j0 : NULL;
            const float *bp = pb->b;
            long b_row = NR, b_panel = (long)NR * kc;
            if (b.packed) bp = b.packed + (long)Np * k0 + (long)j0 * kc;
            else if (in_place) bp = b.p + k0 * b.ld + j0, b_row = b.ld, b_panel = NR;
            else pack_b(pb->b, b.trans, b.p, b.ld, j0, nc, k0, kc);
            for (int i0 = 0; i0 < M; i0 += MC) {
                int mc = M - i0 < MC ? M - i0 : MC;
                const float *ap = pb->a;
                if (a.packed) ap = a.packed + (long)Mp * k0 + (long)i0 * kc;
                else pack_a(pb->a, a.trans, a.p, a.ld, i0, mc, k0, kc);
                block_product(mc, nc, kc, alpha, ap, bp, b_row, b_panel, bet, bj, C + (long)i0 * ldc + j0, ldc);
            }
        }
}

void nn_gemm_avx512(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                    const float *B, int ldb, float beta, float *C, int ldc) {
    product(M, N, K, alpha, (Operand){A, NULL, transA, lda}, (Operand){B, NULL, transB, ldb}, beta, NULL, C, ldc);
}

void nn_gemm_avx512_bias(int transA, int transB, int M, int N, int K, const float *A, int lda, const float *B,
                         int ldb, const float *bias, float *C, int ldc) {
    product(M, N, K, 1.0f, (Operand){A, NULL, transA, lda}, (Operand){B, NULL, transB, ldb}, 0.0f, bias, C, ldc);
}

size_t nn_gemm_avx512_packed_floats(int M, int K) { return (size_t)round_up(M, MR) * (size_t)K; }

void nn_gemm_avx512_pack(float *dst, int transA, int M, int K, const float *A, int lda) {
    int kcb = depth_block(K), Mp = round_up(M, MR);
    for (int k0 = 0; k0 < K; k0 += kcb)
        pack_a(dst + (long)Mp * k0, transA, A, lda, 0, M, k0, K - k0 < kcb ? K - k0 : kcb);
}

void nn_gemm_avx512_packed(int M, int N, int K, float alpha, const float *packedA, int transB, const float *B, int ldb,
                           float beta, float *C, int ldc) {
    product(M, N, K, alpha, (Operand){NULL, packedA, 0, 0}, (Operand){B, NULL, transB, ldb}, beta, NULL, C, ldc);
}

const float *nn_gemm_avx512_pack_b_slot(int transB, int K, int N, const float *B, int ldb) {
    PackBuffers *pb = pack_buffers();
    size_t need = (size_t)round_up(N, NR) * (size_t)K;
    if (need > pb->slot_cap) free(pb->slot), pb->slot = nn_alloc_floats(need), pb->slot_cap = need;
    int kcb = depth_block(K), Np = round_up(N, NR);
    for (int k0 = 0; k0 < K; k0 += kcb)
        pack_b(pb->slot + (long)Np * k0, transB, B, ldb, 0, N, k0, K - k0 < kcb ? K - k0 : kcb);
    return pb->slot;
}

void nn_gemm_avx512_packed_b(int transA, int M, int N, int K, float alpha, const float *A, int lda,
                             const float *packedB, float beta, float *C, int ldc) {
    product(M, N, K, alpha, (Operand){A, NULL, transA, lda}, (Operand){NULL, packedB, 0, 0}, beta, NULL, C, ldc);
}

#else // not x86-64: never selected
int nn_gemm_avx512_supported(void) { return 0; }
void nn_gemm_avx512_bias(int transA, int transB, int M, int N, int K, const float *A, int lda, const float *B,
                         int ldb, const float *bias, float *C, int ldc) {
    (void)transA, (void)transB, (void)M, (void)N, (void)K, (void)A, (void)lda, (void)B, (void)ldb, (void)bias;
    (void)C, (void)ldc;
}
int nn_gemm_avx512_depth_block(int K) { return K; }
void nn_gemm_avx512_transpose16(const float *src, long ld, float *dst, long ldd) {
    (void)src, (void)ld, (void)dst, (void)ldd;
}
void nn_gemm_avx512(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                    const float *B, int ldb, float beta, float *C, int ldc) {
    (void)transA, (void)transB, (void)M, (void)N, (void)K, (void)alpha, (void)A, (void)lda, (void)B, (void)ldb;
    (void)beta, (void)C, (void)ldc;
}
size_t nn_gemm_avx512_packed_floats(int M, int K) { return (size_t)M * K; }
void nn_gemm_avx512_pack(float *dst, int transA, int M, int K, const float *A, int lda) {
    (void)dst, (void)transA, (void)M, (void)K, (void)A, (void)lda;
}
void nn_gemm_avx512_packed(int M, int N, int K, float alpha, const float *packedA, int transB, const float *B, int ldb,
                           float beta, float *C, int ldc) {
    (void)M, (void)N, (void)K, (void)alpha, (void)packedA, (void)transB, (void)B, (void)ldb, (void)beta, (void)C;
    (void)ldc;
}
const float *nn_gemm_avx512_pack_b_slot(int transB, int K, int N, const float *B, int ldb) {
    (void)transB, (void)K, (void)N, (void)ldb;
    return B;
}
void nn_gemm_avx512_packed_b(int transA, int M, int N, int K, float alpha, const float *A, int lda,
                             const float *packedB, float beta, float *C, int ldc) {
    (void)transA, (void)M, (void)N, (void)K, (void)alpha, (void)A, (void)lda, (void)packedB, (void)beta, (void)C;
    (void)ldc;
}
#endif
