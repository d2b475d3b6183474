#include "blas.h"
#include "check.h"
#include "gemm_avx512.h"
#include "parallel.h"

#include <cblas.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// OpenBLAS runs single-threaded; nn_sgemm splits a large product into blocks of C itself, one per thread of the
// pool (nn/parallel.h). On the LSTM LM's decoder products at 2 threads this was faster than OpenBLAS's own threads
// (measured: 14.2 / 13.3 / 14.5 ms against 15.3 / 16.9 / 19.9 ms for logits, dH, dW of zaremba-small), and it
// leaves no BLAS workers spinning on the cores that the pool's other work needs between products.
// Products below this many multiply-adds run on the calling thread: for the LSTM's per-step recurrent product
// (20 x 800 x 200) a hand-off costs more than it saves.
#define SMALL_GEMM_MACS 2e7
#define BLOCK 16 // split points are multiples of this (the kernels' register tiles divide it)

static int blas_single;

static void blas_one_thread(void) {
    if (!blas_single) openblas_set_num_threads(1), blas_single = 1;
}

// The kernel, chosen once: nnopt's AVX-512 product where the CPU has AVX-512F, else OpenBLAS (as the environment
// pins it). NNOPT_GEMM=openblas or =avx512 overrides the choice (avx512 on a CPU without it is refused).
static int use_avx512;
static pthread_once_t kernel_once = PTHREAD_ONCE_INIT;

static int openblas_is_avx512(void) {
    const char *core = openblas_get_corename();
    return core && (strstr(core, "kylakex") || strstr(core, "ooperlake") || strstr(core, "apphire"));
}

static void choose_kernel(void) {
    const char *want = getenv("NNOPT_GEMM");
    int have = nn_gemm_avx512_supported();
    if (!want || !*want || !strcmp(want, "auto")) use_avx512 = have;
    else if (!strcmp(want, "openblas")) use_avx512 = 0;
    else if (!strcmp(want, "avx512")) {
        NN_CHECK(have, "NNOPT_GEMM=avx512: this CPU has no AVX-512F");
        use_avx512 = 1;
    } else NN_CHECK(0, "NNOPT_GEMM='%s': expected auto, openblas or avx512", want);
    if (have && !use_avx512 && !openblas_is_avx512())
        fprintf(stderr, "nnopt: note: matrix products run in OpenBLAS's %s kernels, narrower than this CPU's "
                "AVX-512 (NNOPT_GEMM=%s)\n", openblas_get_corename(), want);
}

const char *nn_gemm_kernel(void) {
    pthread_once(&kernel_once, choose_kernel);
    return use_avx512 ? "nnopt-avx512" : "openblas";
}

int nn_gemm_uses_avx512(void) {
    pthread_once(&kernel_once, choose_kernel);
    return use_avx512;
}

static atomic_llong gemm_macs; // multiply-adds of every product so far (nn_gemm_macs)

long long nn_gemm_macs(void) { return atomic_load(&gemm_macs); }

void nn_gemm_count_macs(long long macs) { atomic_fetch_add_explicit(&gemm_macs, macs, memory_order_relaxed); }

static void count_macs(int M, int N, int K) {
    atomic_fetch_add_explicit(&gemm_macs, (long long)M * N * K, memory_order_relaxed);
}

// bias (may be NULL; then alpha is 1 and beta 0): C = op(A) op(B) + bias in every row.
static void gemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                 int ldb, float beta, const float *bias, float *C, int ldc) {
    pthread_once(&kernel_once, choose_kernel);
    count_macs(M, N, K);
    if (bias && use_avx512) return nn_gemm_avx512_bias(transA, transB, M, N, K, A, lda, B, ldb, bias, C, ldc);
    if (bias) { // the rows of C hold the bias, to which the product is added
        for (int i = 0; i < M; i++) memcpy(C + (long)i * ldc, bias, (size_t)N * sizeof(float));
        beta = 1.0f;
    }
    if (use_avx512) nn_gemm_avx512(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, M, N, K,
                    alpha, A, lda, B, ldb, beta, C, ldc);
}

typedef struct {
    int transA, transB, M, N, K, split_cols; // split_cols: blocks of C's columns (else of its rows)
    float alpha, beta;
    const float *A, *B, *bias;
    float *C;
} GemmJob;

// Rows or columns [BLOCK*b, BLOCK*e) of C.
static void gemm_blocks(void *ctx, long b, long e) {
    const GemmJob *j = ctx;
    int lda = j->transA ? j->M : j->K, ldb = j->transB ? j->K : j->N;
    int dim = j->split_cols ? j->N : j->M;
    int lo = (int)(b * BLOCK), hi = (int)(e * BLOCK) < dim ? (int)(e * BLOCK) : dim;
    if (lo >= hi) return;
    if (j->split_cols) { // C[:, lo:hi] = A op(B)[:, lo:hi]: B's rows (transB) or columns lo..hi
        const float *B = j->transB ? j->B + (long)lo * j->K : j->B + lo;
        gemm(j->transA, j->transB, j->M, hi - lo, j->K, j->alpha, j->A, lda, B, ldb, j->beta,
             j->bias ? j->bias + lo : NULL, j->C + lo, j->N);
    } else { // C[lo:hi, :] = op(A)[lo:hi, :] B: A's columns (transA) or rows lo..hi
        const float *A = j->transA ? j->A + lo : j->A + (long)lo * j->K;
        gemm(j->transA, j->transB, hi - lo, j->N, j->K, j->alpha, A, lda, j->B, ldb, j->beta, j->bias,
             j->C + (long)lo * j->N, j->N);
    }
}

static void sgemm_split(int transA, int transB, int M, int N, int K, float alpha, const float *A, const float *B,
                        float beta, const float *bias, float *C) {
    blas_one_thread();
    int threads = nn_get_threads();
    if ((double)M * N * K < SMALL_GEMM_MACS || nn_in_parallel()) threads = 1;
    // split the longer side of C: each thread then reads all of the short side's operand and its share of the other
    GemmJob j = {transA, transB, M, N, K, N >= M, alpha, beta, A, B, bias, C};
    long blocks = ((j.split_cols ? N : M) + BLOCK - 1) / BLOCK;
    nn_parallel_for(threads, blocks, gemm_blocks, &j);
}

void nn_sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, const float *B, float beta,
              float *C) {
    sgemm_split(transA, transB, M, N, K, alpha, A, B, beta, NULL, C);
}

void nn_sgemm_bias(int transA, int transB, int M, int N, int K, const float *A, const float *B, const float *bias,
                   float *C) {
    sgemm_split(transA, transB, M, N, K, 1.0f, A, B, 0.0f, bias, C);
}

void nn_sgemm_serial(int transA, int transB, int M, int N, int K, float alpha, const float *A, const float *B,
                     float beta, float *C) {
    blas_one_thread();
    gemm(transA, transB, M, N, K, alpha, A, transA ? M : K, B, transB ? K : N, beta, NULL, C, N);
}

void nn_sgemm_ld(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                 int ldb, float beta, float *C, int ldc) {
    blas_one_thread();
    gemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, NULL, C, ldc);
}

void nn_sgemm_packed(int M, int N, int K, float alpha, const float *packedA, int transB, const float *B, int ldb,
                     float beta, float *C, int ldc) {
    count_macs(M, N, K);
    nn_gemm_avx512_packed(M, N, K, alpha, packedA, transB, B, ldb, beta, C, ldc);
}

const float *nn_sgemm_pack_b(int transB, int K, int N, const float *B) {
    return nn_gemm_uses_avx512() ? nn_gemm_avx512_pack_b_slot(transB, K, N, B, transB ? K : N) : NULL;
}

void nn_sgemm_packed_b(int transA, int M, int N, int K, float alpha, const float *A, const float *packedB, float beta,
                       float *C) {
    count_macs(M, N, K);
    nn_gemm_avx512_packed_b(transA, M, N, K, alpha, A, transA ? M : K, packedB, beta, C, N);
}

void nn_sgemm_naive(int transA, int transB, int M, int N, int K, float alpha, const float *A, const float *B,
                    float beta, float *C) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double acc = 0;
            for (int k = 0; k < K; k++) {
                float a = transA ? A[(long)k * M + i] : A[(long)i * K + k];
                float b = transB ? B[(long)j * K + k] : B[(long)k * N + j];
                acc += (double)a * b;
            }
            float prev = beta == 0.0f ? 0.0f : beta * C[(long)i * N + j]; // beta 0 ignores C, as BLAS does
            C[(long)i * N + j] = (float)(alpha * acc) + prev;
        }
}
