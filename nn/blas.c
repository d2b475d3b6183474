#include "blas.h"

#include <cblas.h>

// OpenBLAS splits every product over all its threads; for the LSTM's per-step recurrent product (20 x 800 x 200)
// the hand-off costs more than it saves (measured: 0.16 ms on one thread, 0.28 ms on two). Products below this many
// multiply-adds therefore run on one thread, larger ones on all of them.
#define SMALL_GEMM_MACS 2e7

static int max_threads = 1, cur_threads = -1;

static void use_threads(int n) {
    if (n != cur_threads) openblas_set_num_threads(n), cur_threads = n;
}

void nn_sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, const float *B, float beta,
              float *C) {
    int lda = transA ? M : K, ldb = transB ? K : N;
    use_threads((double)M * N * K < SMALL_GEMM_MACS ? 1 : max_threads);
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, M, N, K,
                alpha, A, lda, B, ldb, beta, C, N);
}

void nn_blas_serial(void) { use_threads(1); }

void nn_sgemm_serial(int transA, int transB, int M, int N, int K, float alpha, const float *A, const float *B,
                     float beta, float *C) {
    int lda = transA ? M : K, ldb = transB ? K : N;
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, M, N, K,
                alpha, A, lda, B, ldb, beta, C, N);
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

void nn_set_threads(int threads) {
    if (threads > 0) max_threads = threads;
}

int nn_get_threads(void) { return max_threads; }
