/* SGEMM on rampart's threads: one OpenMP pool for everything, OpenBLAS on one thread.
 *
 * rp_sgemm computes C = alpha op(A) op(B) + beta C (row-major, cblas's conventions), sharing the
 * work out among the OpenMP threads in pieces along the larger of M and N; every element of C
 * comes from one sum over the whole K whose order does not depend on the pieces, so results do
 * not depend on the thread count. Call it outside OpenMP parallel regions (inside one, call
 * cblas_sgemm directly: OpenBLAS is held at one thread, see blas.h). Which kernel sums:
 *  - with BF16 products on (gemm_direct.h), alpha 1, beta 0 or 1: op(A) = A (outputs, input
 *    gradients), and op(A) = A^T, op(B) = B (weight gradients) where gemm_direct_bf16_tn_pays(M,
 *    N), round their operands to BF16 and run gemm_direct's BF16 kernels;
 *  - in FP32 on AVX-512 CPUs, alpha 1, beta 0 or 1, op(B) = B (input and weight gradients):
 *    gemm_direct's FP32 kernels, one piece per thread;
 *  - the rest (the forward's op(B) = B^T in FP32, every product below AVX-512): OpenBLAS, in
 *    pieces of 64-1024 rows or columns fixed by the shape (16 or fewer where that allows), each
 *    a single-threaded cblas_sgemm. */
#ifndef RP_KERNELS_GEMM_H
#define RP_KERNELS_GEMM_H

#include <cblas.h>

void rp_sgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);

#endif
