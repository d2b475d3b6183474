// nnopt's own single-precision matrix product for AVX-512 cores, used by nn/blas.c where the CPU has AVX-512F.
// Why: Debian's OpenBLAS is pinned to its Haswell (AVX2) kernels (OPENBLAS_CORETYPE=Haswell, because older builds
// misbehave on newer cores), which leaves half of an AVX-512 core's multiply-add width unused.
// Same contract as nn_sgemm_ld: row-major, C[M,N] = alpha op(A) op(B) + beta C, lda/ldb/ldc the stored row strides;
// beta = 0 never reads C. Every C element is one chain of fused multiply-adds over k in order, restarted at each
// block of NN_GEMM_KC-ish depth (the blocks depend on K only), so the result depends on neither the thread count
// nor on how a caller splits C into blocks of rows or columns.
#ifndef NN_GEMM_AVX512_H
#define NN_GEMM_AVX512_H

#include <stddef.h>

// 1 when this CPU can run nn_gemm_avx512 (cpuid: AVX-512F).
int nn_gemm_avx512_supported(void);
// The depth blocks every product of depth K is summed in (each element's chain restarts at each): their size.
int nn_gemm_avx512_depth_block(int K);
// dst[q*ldd + r] = src[r*ld + q] for a 16 x 16 block (AVX-512 CPUs only).
void nn_gemm_avx512_transpose16(const float *src, long ld, float *dst, long ldd);
void nn_gemm_avx512(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                    const float *B, int ldb, float beta, float *C, int ldc);
// C = op(A) op(B) + bias[N] in every row: the bits of C's rows set to the bias and nn_gemm_avx512 with alpha 1 and
// beta 1, without writing and reading C first.
void nn_gemm_avx512_bias(int transA, int transB, int M, int N, int K, const float *A, int lda, const float *B,
                         int ldb, const float *bias, float *C, int ldc);
// A left operand used by many products (a convolution's weights, once per image) is packed once:
// nn_gemm_avx512_pack writes op(A)[M,K] into nn_gemm_avx512_packed_floats(M, K) floats, and
// nn_gemm_avx512_packed multiplies it by op(B) as nn_gemm_avx512 would, with the same sums. With M <= 16 and B not
// transposed, it reads B's rows where they lie instead of packing them; a row stride (ldb) that is a multiple of
// 256 floats then maps B's rows to a few cache sets of L1 and slows it down: pad such rows (e.g. by 16 floats).
size_t nn_gemm_avx512_packed_floats(int M, int K);
void nn_gemm_avx512_pack(float *dst, int transA, int M, int K, const float *A, int lda);
void nn_gemm_avx512_packed(int M, int N, int K, float alpha, const float *packedA, int transB, const float *B, int ldb,
                           float beta, float *C, int ldc);
// A right operand used by many products in a row (the LSTM's W_hh, once per time step): packed once into this
// thread's slot, which stays valid until the thread's next nn_gemm_avx512_pack_b_slot; nn_gemm_avx512_packed_b
// then gives the same sums as nn_gemm_avx512 with that B.
const float *nn_gemm_avx512_pack_b_slot(int transB, int K, int N, const float *B, int ldb);
void nn_gemm_avx512_packed_b(int transA, int M, int N, int K, float alpha, const float *A, int lda,
                             const float *packedB, float beta, float *C, int ldc);

#endif
