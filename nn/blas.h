// The one matrix-product entry point. Row-major, PyTorch's layout:
//   C[M,N] = alpha * op(A) op(B) + beta * C, op(X) = X or X^T.
// A is M x K (or K x M when transA), B is K x N (or N x K when transB).
#ifndef NN_BLAS_H
#define NN_BLAS_H

void nn_sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, const float *B, float beta,
              float *C);
// The same product as three plain loops in double; tests cross-check nn_sgemm against it.
void nn_sgemm_naive(int transA, int transB, int M, int N, int K, float alpha, const float *A, const float *B,
                    float beta, float *C);
void nn_set_threads(int threads); // threads used by the BLAS; 0 keeps its default
int nn_get_threads(void);         // what nn_set_threads set (1 until it is called)
// For products issued from several threads at once (inside nn_parallel_for): nn_blas_serial() sets the BLAS to one
// thread, from one thread, before the parallel region; nn_sgemm_serial is then nn_sgemm on the calling thread only
// (it never changes the BLAS's thread count, so workers may call it concurrently). The next nn_sgemm resets the
// count as it needs.
void nn_blas_serial(void);
void nn_sgemm_serial(int transA, int transB, int M, int N, int K, float alpha, const float *A, const float *B,
                     float beta, float *C);

#endif
