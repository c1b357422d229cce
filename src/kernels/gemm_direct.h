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
#include <stdint.h>

#include "kernels/activation.h"

#define GEMM_DIRECT_KB 512 /* tn: steps of k per block */

/* Whether the kernels run here (the CPU and the forced SIMD level have AVX-512). */
bool gemm_direct_applies(void);

/* stream: A comes from memory (an activation or its gradient, read once), so the kernel
 * prefetches it in software; false where A is in cache (transforms, tiles, im2col columns),
 * where the fetches would only cost. A hint: the results are the same either way. */
void gemm_direct_nn(int M, int N, int K, const float *A, size_t lda, const float *B, size_t ldb, float *C,
                    size_t ldc, bool acc, bool stream);
/* What an nn product does to each tile of C while the tile is in registers, before storing it
 * (a conv's epilogue without a pass of its own over C): with mean, C = (C - mean) * k + beta per
 * column (a batch norm in evaluation form, k = invstd gamma: conv2d_epilogue's expressions);
 * then act (ACT_NONE, ACT_RELU or ACT_RELU6, as act_inplace); with bits, the activation's mask
 * of every row (act_mask_pack's: row i at bits + i ldbits). The same bits as gemm_direct_nn
 * followed by those passes. */
typedef struct gemm_direct_ep {
    const float *mean, *k, *beta; /* N each, or mean NULL: no batch norm */
    act_kind act;
    uint8_t *bits; /* or NULL */
    size_t ldbits;
} gemm_direct_ep;
void gemm_direct_nn_ep(int M, int N, int K, const float *A, size_t lda, const float *B, size_t ldb, float *C,
                       size_t ldc, bool acc, bool stream, const gemm_direct_ep *ep);
void gemm_direct_tn(int M, int N, int K, const float *A, size_t lda, const float *B, size_t ldb, float *C,
                    size_t ldc, bool acc, bool stream);

/* BF16 operands (process-wide, off by default; rp_set_precision): gemm_direct_nn rounds A and B
 * to BF16 (nearest even) and sums their products in FP32 with VDPBF16PS (twice the FP32 rate on
 * AMD Zen 4, half of it on the Intel Xeons measured), on CPUs with AVX512_BF16, for products of
 * 48 or more rows (fewer keep FP32). Every element of C is then the FP32 sum, pair of k by pair
 * in order, of the rounded operands' products: still a
 * function of the shapes alone. gemm_direct_tn stays FP32 (gemm_direct_bf16_tn below is its
 * BF16 form, taken by the weight gradients' callers).
 * gemm_direct_set_bf16(true) returns false, changing nothing, where the CPU or the forced SIMD
 * level lacks it. */
bool gemm_direct_bf16_supported(void);
bool gemm_direct_set_bf16(bool on);
bool gemm_direct_bf16(void); /* whether nn products take BF16 now */
/* The BF16 product in two parts, for a B that serves many calls (rp_sgemm's pieces, a chain's
 * or the slots path's blocks of samples): B's pairs (gemm_direct_bf16_b_words of them; B (K, N),
 * or its transpose stored (N, K) when trans: weights (OC, C) as the forward's B), packed by one
 * thread or (_threads, outside parallel regions) shared by the OpenMP threads; then C (M, N) =
 * [C +] A B from them. The same bits as gemm_direct_nn with BF16 on. */
size_t gemm_direct_bf16_b_words(int N, int K);
void gemm_direct_bf16_pack_b(uint32_t *Bp, const float *B, size_t ldb, bool trans, int N, int K);
void gemm_direct_bf16_pack_b_threads(uint32_t *Bp, const float *B, size_t ldb, bool trans, int N, int K);
void gemm_direct_bf16_nn_packed(int M, int N, int K, const float *A, size_t lda, const uint32_t *Bp, float *C,
                                size_t ldc, bool acc);
void gemm_direct_bf16_nn_packed_ep(int M, int N, int K, const float *A, size_t lda, const uint32_t *Bp, float *C,
                                   size_t ldc, bool acc, const gemm_direct_ep *ep);
/* gemm_direct_tn's product with BF16 operands, for the weight gradients when BF16 products are
 * on (callers ask for it: the covariances of the training fold's statistics stay FP32): A^T's
 * and B's pairs along k, in gemm_direct_tn's blocks of GEMM_DIRECT_KB steps, each block's FP32
 * sum added to C. The order depends on the shapes alone. false, C untouched, without memory for
 * a block of B's pairs. */
bool gemm_direct_bf16_tn(int M, int N, int K, const float *A, size_t lda, const float *B, size_t ldb, float *C,
                         size_t ldc, bool acc);
/* Whether a weight gradient's product C (M, N) = A^T B takes BF16 operands: BF16 products are
 * on and the product is wide enough to pay for them. gemm_direct_bf16_tn converts both operands,
 * K (M + N) values, for K M N multiply-adds; on a Zen 4 core it was slower than the FP32 product
 * below N = 144 columns or M = 32 rows (up to 3.5x at N = 16) and from there on up to 32% faster
 * (at worst 3% slower; docs/benchmarks.md). Callers ask with the whole product's M and N, never a thread's piece of
 * it, so which operands round depends on the shapes alone. */
bool gemm_direct_bf16_tn_pays(int M, int N);
/* A weight gradient's product: gemm_direct_bf16_tn when bf16 (the caller's
 * gemm_direct_bf16_tn_pays of the whole product; FP32 without memory for it), else
 * gemm_direct_tn (stream as there). */
void gemm_direct_tn_weights(int M, int N, int K, const float *A, size_t lda, const float *B, size_t ldb, float *C,
                            size_t ldc, bool acc, bool stream, bool bf16);

/* Bt (K, N) = B^T for B (N, K): weights (OC, K) laid out as the nn product's B. */
void gemm_direct_transpose(float *Bt, const float *B, int N, int K);

#endif
