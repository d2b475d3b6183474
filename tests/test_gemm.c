// nnopt's AVX-512 matrix product (nn/gemm_avx512.h) against the plain loops in double, on shapes that cross every
// edge of its blocking (register tile 8 x 32, depth blocks of up to 320, 128 rows and 2048 columns packed at once),
// with strides wider than the matrices; then the properties the rest of nnopt relies on: the same bits whichever
// blocks of rows or columns a caller splits C into (the thread-count independence of nn_sgemm), the packed-A entry
// point equal to the plain one bit for bit, beta = 0 ignoring NaN in C. Skipped on a CPU without AVX-512F.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fixture.h"
#include "gradcheck.h"
#include "nn/blas.h"
#include "nn/check.h"
#include "nn/gemm_avx512.h"
#include "nn/params.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SKIP_WITHOUT_AVX512()                                                                                          \
    if (!nn_gemm_avx512_supported()) {                                                                                 \
        printf("skipped: this CPU has no AVX-512F\n");                                                                 \
        skip();                                                                                                        \
    }

// op(A) is M x K and op(B) K x N, stored with row strides lda, ldb (>= their row lengths); C is M x N, stride ldc.
typedef struct {
    int M, N, K, lda, ldb, ldc;
    float *A, *B, *C0;
} Problem;

static Problem problem(int ta, int tb, int M, int N, int K, int pad, int seed) {
    Problem p = {M, N, K, (ta ? M : K) + pad, (tb ? K : N) + pad, N + pad, NULL, NULL, NULL};
    long a = (long)(ta ? K : M) * p.lda, b = (long)(tb ? N : K) * p.ldb, c = (long)M * p.ldc;
    p.A = nn_alloc_floats(a), p.B = nn_alloc_floats(b), p.C0 = nn_alloc_floats(c);
    gc_fill(p.A, a, 1, seed), gc_fill(p.B, b, 1, seed + 1), gc_fill(p.C0, c, 1, seed + 2);
    return p;
}

static void free_problem(Problem *p) { free(p->A), free(p->B), free(p->C0); }

// The reference with strides: the naive product of compacted copies.
static void reference(int ta, int tb, const Problem *p, float alpha, float beta, float *C) {
    int ar = ta ? p->K : p->M, ac = ta ? p->M : p->K, br = tb ? p->N : p->K, bc = tb ? p->K : p->N;
    float *A = nn_alloc_floats((long)ar * ac), *B = nn_alloc_floats((long)br * bc);
    float *Cc = nn_alloc_floats((long)p->M * p->N);
    for (int i = 0; i < ar; i++) memcpy(A + (long)i * ac, p->A + (long)i * p->lda, (size_t)ac * sizeof(float));
    for (int i = 0; i < br; i++) memcpy(B + (long)i * bc, p->B + (long)i * p->ldb, (size_t)bc * sizeof(float));
    for (int i = 0; i < p->M; i++) memcpy(Cc + (long)i * p->N, C + (long)i * p->ldc, (size_t)p->N * sizeof(float));
    nn_sgemm_naive(ta, tb, p->M, p->N, p->K, alpha, A, B, beta, Cc);
    for (int i = 0; i < p->M; i++) memcpy(C + (long)i * p->ldc, Cc + (long)i * p->N, (size_t)p->N * sizeof(float));
    free(A), free(B), free(Cc);
}

static void test_against_plain_loops(void **state) {
    (void)state;
    SKIP_WITHOUT_AVX512();
    // M, N, K: one element; below a tile; tile edges +-1; deeper than one depth block (320) and at its edge; more
    // rows than one packed block (128) and more columns than one (2048); the convolutions' and the LSTM's shapes
    const int shapes[][3] = {{1, 1, 1},      {7, 31, 5},     {8, 32, 320},    {9, 33, 321},   {17, 65, 641},
                             {129, 40, 100}, {30, 513, 77},  {16, 1024, 144}, {64, 64, 576},  {16, 144, 1024},
                             {20, 800, 200}, {200, 37, 700}, {131, 530, 330}, {3, 2100, 2},  {9, 4113, 33}};
    long bad = 0;
    int seed = 10;
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int b = 0; b < 3; b++) {
                    float beta = b == 0 ? 0.0f : b == 1 ? 1.0f : -0.5f, alpha = b == 2 ? 1.0f : 0.7f;
                    Problem p = problem(ta, tb, shapes[s][0], shapes[s][1], shapes[s][2], (int)s % 3 * 5, seed++);
                    long nc = (long)p.M * p.ldc;
                    float *C1 = nn_alloc_floats(nc), *C2 = nn_alloc_floats(nc);
                    memcpy(C1, p.C0, (size_t)nc * sizeof(float)), memcpy(C2, p.C0, (size_t)nc * sizeof(float));
                    nn_gemm_avx512(ta, tb, p.M, p.N, p.K, alpha, p.A, p.lda, p.B, p.ldb, beta, C1, p.ldc);
                    reference(ta, tb, &p, alpha, beta, C2);
                    char what[96];
                    snprintf(what, sizeof what, "%dx%dx%d transA=%d transB=%d beta=%g", p.M, p.N, p.K, ta, tb,
                             (double)beta);
                    // every element, the padding between rows included: it must be left as it was
                    bad += fx_compare(what, C1, C2, nc, 1e-5, 2e-5 * sqrt(p.K));
                    free(C1), free(C2), free_problem(&p);
                }
    assert_int_equal(0, bad);
}

// Any split of C into blocks of rows or columns, at points that are no multiple of the tile, gives the same bits
// as the whole product: each element's sum depends on K alone.
static void test_blocks_of_c_same_bits(void **state) {
    (void)state;
    SKIP_WITHOUT_AVX512();
    long differ = 0;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            Problem p = problem(ta, tb, 150, 700, 650, 3, 40 + 2 * ta + tb);
            long nc = (long)p.M * p.ldc;
            float *whole = nn_alloc_floats(nc), *rows = nn_alloc_floats(nc), *cols = nn_alloc_floats(nc);
            memcpy(whole, p.C0, (size_t)nc * 4), memcpy(rows, p.C0, (size_t)nc * 4), memcpy(cols, p.C0, (size_t)nc * 4);
            nn_gemm_avx512(ta, tb, p.M, p.N, p.K, 0.7f, p.A, p.lda, p.B, p.ldb, 0.5f, whole, p.ldc);
            const int rcut[] = {0, 13, 77, 150}, ccut[] = {0, 45, 333, 700};
            for (int k = 0; k < 3; k++) {
                int r0 = rcut[k], r1 = rcut[k + 1], c0 = ccut[k], c1 = ccut[k + 1];
                const float *Ar = ta ? p.A + r0 : p.A + (long)r0 * p.lda, *Bc = tb ? p.B + (long)c0 * p.ldb : p.B + c0;
                nn_gemm_avx512(ta, tb, r1 - r0, p.N, p.K, 0.7f, Ar, p.lda, p.B, p.ldb, 0.5f, rows + (long)r0 * p.ldc,
                               p.ldc);
                nn_gemm_avx512(ta, tb, p.M, c1 - c0, p.K, 0.7f, p.A, p.lda, Bc, p.ldb, 0.5f, cols + c0, p.ldc);
            }
            for (long i = 0; i < nc; i++) differ += (whole[i] != rows[i]) + (whole[i] != cols[i]);
            free(whole), free(rows), free(cols), free_problem(&p);
        }
    assert_int_equal(0, differ);
}

// nn_sgemm_bias (a linear layer's forward) against its definition: rows of C set to the bias, then nn_sgemm with
// beta 1, the same bits, through whichever kernel this CPU runs; on 1 and 2 threads, one depth block and three
// (K 650), every transpose, and K = 0 (C = the bias).
static void test_bias_same_bits(void **state) {
    (void)state;
    const int shapes[][3] = {{37, 70, 650}, {300, 1000, 200}, {5, 9, 0}};
    long differ = 0;
    for (int s = 0; s < 3; s++)
        for (int t = 0; t < 4; t++) {
            int ta = t / 2, tb = t % 2, M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
            float *A = nn_alloc_floats((long)M * K + 1), *B = nn_alloc_floats((long)K * N + 1);
            float *bias = nn_alloc_floats(N), *want = nn_alloc_floats((long)M * N), *got = nn_alloc_floats((long)M * N);
            gc_fill(A, (long)M * K, 1, 70 + t), gc_fill(B, (long)K * N, 1, 80 + t), gc_fill(bias, N, 1, 90 + t);
            for (int threads = 1; threads <= 2; threads++) {
                nn_set_threads(threads);
                for (int i = 0; i < M; i++) memcpy(want + (long)i * N, bias, (size_t)N * sizeof(float));
                nn_sgemm(ta, tb, M, N, K, 1.0f, A, B, 1.0f, want);
                for (long i = 0; i < (long)M * N; i++) got[i] = NAN; // never read
                nn_sgemm_bias(ta, tb, M, N, K, A, B, bias, got);
                differ += memcmp(want, got, (size_t)M * N * sizeof(float)) != 0;
            }
            free(A), free(B), free(bias), free(want), free(got);
        }
    nn_set_threads(1);
    printf("nn_sgemm_bias in %s: %ld of 24 products differ from bias rows + nn_sgemm\n", nn_gemm_kernel(), differ);
    assert_int_equal(0, differ);
}

// The packed-A and packed-B entry points: the same bits as nn_gemm_avx512 on the same product.
static void test_packed_operands_same_bits(void **state) {
    (void)state;
    SKIP_WITHOUT_AVX512();
    long differ = 0;
    const int shapes[][3] = {{16, 1024, 144}, {64, 64, 576}, {37, 2300, 700}, {20, 800, 200}, {200, 37, 800}};
    for (int s = 0; s < 5; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                Problem p = problem(ta, tb, shapes[s][0], shapes[s][1], shapes[s][2], 2, 60 + s);
                long nc = (long)p.M * p.ldc;
                float *C1 = nn_alloc_floats(nc), *C2 = nn_alloc_floats(nc);
                float *packed = nn_alloc_floats((long)nn_gemm_avx512_packed_floats(p.M, p.K));
                memcpy(C1, p.C0, (size_t)nc * 4), memcpy(C2, p.C0, (size_t)nc * 4);
                nn_gemm_avx512(ta, tb, p.M, p.N, p.K, 1.0f, p.A, p.lda, p.B, p.ldb, 1.0f, C1, p.ldc);
                nn_gemm_avx512_pack(packed, ta, p.M, p.K, p.A, p.lda);
                nn_gemm_avx512_packed(p.M, p.N, p.K, 1.0f, packed, tb, p.B, p.ldb, 1.0f, C2, p.ldc);
                for (long i = 0; i < nc; i++) differ += C1[i] != C2[i];
                memcpy(C2, p.C0, (size_t)nc * 4);
                const float *pb = nn_gemm_avx512_pack_b_slot(tb, p.K, p.N, p.B, p.ldb);
                nn_gemm_avx512_packed_b(ta, p.M, p.N, p.K, 1.0f, p.A, p.lda, pb, 1.0f, C2, p.ldc);
                for (long i = 0; i < nc; i++) differ += C1[i] != C2[i];
                free(C1), free(C2), free(packed), free_problem(&p);
            }
    assert_int_equal(0, differ);
}

// beta = 0 overwrites C without reading it (NaN stays out), alpha = 0 and K = 0 scale C by beta, as BLAS does.
static void test_beta_zero_and_empty_products(void **state) {
    (void)state;
    SKIP_WITHOUT_AVX512();
    float A[6] = {1, 2, 3, 4, 5, 6}, B[6] = {1, 0, 0, 1, 1, 1}, C[4] = {NAN, NAN, NAN, NAN};
    nn_gemm_avx512(0, 0, 2, 2, 3, 1.0f, A, 3, B, 2, 0.0f, C, 2); // [1 2 3; 4 5 6] [1 0; 0 1; 1 1] = [4 5; 10 11]
    assert_float_equal(C[0], 4, 0), assert_float_equal(C[1], 5, 0);
    assert_float_equal(C[2], 10, 0), assert_float_equal(C[3], 11, 0);
    nn_gemm_avx512(0, 0, 2, 2, 3, 0.0f, A, 3, B, 2, 2.0f, C, 2);
    assert_float_equal(C[0], 8, 0), assert_float_equal(C[3], 22, 0);
    nn_gemm_avx512(0, 0, 2, 2, 0, 1.0f, A, 3, B, 2, 0.5f, C, 2);
    assert_float_equal(C[0], 4, 0), assert_float_equal(C[3], 11, 0);
}

// Where NNOPT_GEMM is unset, nn_sgemm runs this kernel exactly when the CPU has AVX-512F.
static void test_kernel_choice(void **state) {
    (void)state;
    const char *want = getenv("NNOPT_GEMM");
    if (want && *want) {
        printf("skipped: NNOPT_GEMM=%s is set\n", want);
        skip();
    }
    assert_string_equal(nn_gemm_kernel(), nn_gemm_avx512_supported() ? "nnopt-avx512" : "openblas");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_plain_loops),
        cmocka_unit_test(test_blocks_of_c_same_bits),
        cmocka_unit_test(test_bias_same_bits),
        cmocka_unit_test(test_packed_operands_same_bits),
        cmocka_unit_test(test_beta_zero_and_empty_products),
        cmocka_unit_test(test_kernel_choice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
