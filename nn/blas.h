// The one matrix-product entry point. Row-major, PyTorch's layout:
//   C[M,N] = alpha * op(A) op(B) + beta * C, op(X) = X or X^T.
// A is M x K (or K x M when transA), B is K x N (or N x K when transB).
#ifndef NN_BLAS_H
#define NN_BLAS_H

#include "parallel.h" // nn_set_threads: the threads a large product is split over

void nn_sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, const float *B, float beta,
              float *C);
// C = op(A) op(B) + bias[N] in every row: the bits of nn_sgemm with beta 1 over rows of C set to the bias (a linear
// layer's forward), without that pass over C.
void nn_sgemm_bias(int transA, int transB, int M, int N, int K, const float *A, const float *B, const float *bias,
                   float *C);
// The same product as three plain loops in double; tests cross-check nn_sgemm against it.
void nn_sgemm_naive(int transA, int transB, int M, int N, int K, float alpha, const float *A, const float *B,
                    float beta, float *C);
// The product on the calling thread only, for products issued from several threads at once (e.g. one per image
// inside nn_parallel_for); nn_sgemm called inside a parallel region does the same.
void nn_sgemm_serial(int transA, int transB, int M, int N, int K, float alpha, const float *A, const float *B,
                     float beta, float *C);
// nn_sgemm_serial on sub-matrices: lda, ldb and ldc are the row strides of A, B and C as stored.
void nn_sgemm_ld(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                 int ldb, float beta, float *C, int ldc);

// The kernel the products run in: "nnopt-avx512" (nn/gemm_avx512.h, chosen where the CPU has AVX-512F) or
// "openblas". The environment variable NNOPT_GEMM (auto, openblas, avx512) overrides the choice; it is read once.
const char *nn_gemm_kernel(void);
// 1 when products run in nnopt's AVX-512 kernel; a caller may then pack a left operand that many products share
// once (nn_gemm_avx512_pack) and multiply with nn_sgemm_packed (on the calling thread, as nn_sgemm_serial).
int nn_gemm_uses_avx512(void);
void nn_sgemm_packed(int M, int N, int K, float alpha, const float *packedA, int transB, const float *B, int ldb,
                     float beta, float *C, int ldc);
// The same for a right operand shared by a run of products on one thread: nn_sgemm_pack_b packs op(B) [K, N]
// (B stored row-major, as for nn_sgemm) and returns it, or NULL where products do not run in the AVX-512 kernel (then
// call nn_sgemm); the packing stays valid until this thread's next nn_sgemm_pack_b. nn_sgemm_packed_b = nn_sgemm with
// that B, on the calling thread.
const float *nn_sgemm_pack_b(int transB, int K, int N, const float *B);
void nn_sgemm_packed_b(int transA, int M, int N, int K, float alpha, const float *A, const float *packedB, float beta,
                       float *C);
// Multiply-adds done by every product so far, all threads (each is 2 flops): `nnopt bench` reports GFLOP/s from it.
long long nn_gemm_macs(void);
// Products computed outside nn_sgemm (the direct convolutions, nn/conv3x3_avx512.h) add their multiply-adds here.
void nn_gemm_count_macs(long long macs);

#endif
