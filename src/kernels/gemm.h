/* SGEMM on rampart's threads: one OpenMP pool for everything, OpenBLAS on one thread.
 *
 * rp_sgemm computes C = alpha op(A) op(B) + beta C (row-major, cblas's conventions) as fixed
 * pieces along the larger of M and N, each a single-threaded cblas_sgemm, shared out among
 * the OpenMP threads. The pieces depend on the shape alone and every element of C comes
 * from one call over the whole K, so results do not depend on the thread count. Call it
 * outside OpenMP parallel regions (inside one, call cblas_sgemm directly: OpenBLAS is held
 * at one thread, see blas.h). With BF16 products on (gemm_direct.h), products with alpha 1,
 * beta 0 or 1 and op(A) = A (outputs, input gradients) or op(A) = A^T, op(B) = B (weight
 * gradients) round their operands to BF16 and run gemm_direct's BF16 kernels; in FP32 on
 * AVX-512 CPUs the same input- and weight-gradient products (op(B) = B, alpha 1, beta 0 or 1)
 * run gemm_direct's FP32 kernels, one piece per thread (their sums do not depend on the pieces),
 * and the rest OpenBLAS's. */
#ifndef RP_KERNELS_GEMM_H
#define RP_KERNELS_GEMM_H

#include <cblas.h>

void rp_sgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);

#endif
