/* Matrix products without packing, for the GEMMs of convolutions (AVX-512).
 *
 * A convolution's GEMMs have one small operand (the weights, at most a few hundred KB) and
 * one streamed operand (activations, millions of rows of 16-960 floats). OpenBLAS packs
 * both operands into its own layout on every call and needs C zeroed for a product that
 * starts from nothing; here a tile of C (up to 24 rows x 32 columns) stays in vector
 * registers while each step of the sum broadcasts one element of A per row and loads one
 * row of B, read where they are. On MobileNetV2's pointwise convolutions this runs at 95-100%
 * of the FMA peak of a core once the operands are in cache.
 *
 *   nn:  C (M, N) = [C +] A (M, K) B (K, N)          A(i, k) = A[i * lda + k]
 *   tn:  C (M, N) = [C +] A^T B, A stored (K, M)     A(i, k) = A[k * lda + i]
 *
 * B is row-major (K, N) with ldb; C row-major (M, N) with ldc. Each element of C is
 * s = 0, s = fma(A(i, k), B(k, j), s) for k in order — tn in fixed blocks of
 * GEMM_DIRECT_KB steps, each block's s added to C — then C = s, or C + s when acc. The order
 * depends on the shapes alone, so results do not depend on threads or on how a caller splits
 * M or N. Single-threaded: callers parallelise over blocks of rows.
 *
 * Only for rp_simd_level() == RP_SIMD_AVX512 (gemm_direct_applies); the callers take
 * cblas_sgemm otherwise. Tested against double-precision sums (tests/test_gemm_direct.c). */
#ifndef RP_KERNELS_GEMM_DIRECT_H
#define RP_KERNELS_GEMM_DIRECT_H

#include <stdbool.h>
#include <stddef.h>

#define GEMM_DIRECT_KB 512 /* tn: steps of k per block */

/* Whether the kernels run here (the CPU and the forced SIMD level have AVX-512). */
bool gemm_direct_applies(void);

void gemm_direct_nn(int M, int N, int K, const float *A, size_t lda, const float *B, size_t ldb, float *C,
                    size_t ldc, bool acc);
void gemm_direct_tn(int M, int N, int K, const float *A, size_t lda, const float *B, size_t ldb, float *C,
                    size_t ldc, bool acc);

/* Bt (K, N) = B^T for B (N, K): weights (OC, K) laid out as the nn product's B. */
void gemm_direct_transpose(float *Bt, const float *B, int N, int K);

#endif
