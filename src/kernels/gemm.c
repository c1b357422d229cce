#include "kernels/gemm.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

#include <omp.h>

#include "kernels/blas.h"
#include "kernels/gemm_direct.h"

/* Pieces of at least MIN_PIECE and at most MAX_PIECE rows (or columns), at most MAX_PIECES
 * of them unless MAX_PIECE forces more: large M stays cache-sized per call. */
enum { MIN_PIECE = 64, MAX_PIECE = 1024, MAX_PIECES = 16, ALIGN = 16 };

static int piece_size(int n, size_t shared)
{
    int p = (n + MAX_PIECES - 1) / MAX_PIECES;
    p = (p + ALIGN - 1) / ALIGN * ALIGN;
    /* each piece packs the shared operand (shared floats) again: amortise a big one */
    int min = shared >= ((size_t)1 << 20) ? 4 * MIN_PIECE : MIN_PIECE;
    if (p < min) p = min;
    if (p > MAX_PIECE) p = MAX_PIECE;
    return p;
}

/* With BF16 products on (gemm_direct_set_bf16), a product that makes outputs or input gradients
 * (op(A) = A, alpha 1, beta 0 or 1: every forward and dx product of the convolutions and linear
 * layers that come here) takes gemm_direct's BF16 kernel: B's pairs packed once, shared by the
 * threads in blocks of 32 columns, then pieces of A's rows (weight gradients: sgemm_bf16_tn
 * below). false (not taken: FP32) without memory for B's pairs. */
static bool sgemm_bf16(CBLAS_TRANSPOSE tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                       float beta, float *C, int ldc)
{
    uint32_t *Bp = malloc(gemm_direct_bf16_b_words(N, K) * sizeof *Bp);
    if (!Bp) return false;
    gemm_direct_bf16_pack_b_threads(Bp, B, (size_t)ldb, tb == CblasTrans, N, K);
    int piece = piece_size(M, 0), pieces = (M + piece - 1) / piece;
#pragma omp parallel for schedule(dynamic, 1) if (pieces > 1)
    for (int i = 0; i < pieces; i++) {
        int o = i * piece, len = M - o < piece ? M - o : piece;
        gemm_direct_bf16_nn_packed(len, N, K, A + (size_t)o * lda, (size_t)lda, Bp, C + (size_t)o * ldc, (size_t)ldc,
                                   beta != 0.0f);
    }
    free(Bp);
    return true;
}

/* The weight gradients' products (op(A) = A^T, op(B) = B, alpha 1, beta 0 or 1) with BF16 on:
 * gemm_direct_bf16_tn per piece (each packs its own blocks of pairs); a piece without memory
 * for them runs in FP32. */
static void sgemm_bf16_tn(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float beta,
                          float *C, int ldc)
{
    bool rows = M >= N;
    int n = rows ? M : N, piece = piece_size(n, (size_t)(rows ? N : M) * K), pieces = (n + piece - 1) / piece;
#pragma omp parallel for schedule(dynamic, 1) if (pieces > 1)
    for (int i = 0; i < pieces; i++) {
        int o = i * piece, len = n - o < piece ? n - o : piece;
        const float *a = rows ? A + o : A, *b = rows ? B : B + o;
        float *c = rows ? C + (size_t)o * ldc : C + o;
        int m = rows ? len : M, nn = rows ? N : len;
        if (!gemm_direct_bf16_tn(m, nn, K, a, (size_t)lda, b, (size_t)ldb, c, (size_t)ldc, beta != 0.0f))
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, nn, K, 1.0f, a, lda, b, ldb, beta, c, ldc);
    }
}

/* FP32 products through gemm_direct where it runs (AVX-512; alpha 1, beta 0 or 1) for op(B) = B:
 * input gradients (op(A) = A) and weight gradients (op(A) = A^T). On two Zen 4 cores the 1x1
 * products of MobileNetV2's last blocks and classifiers (64-256 rows, 160-2048 channels: the
 * ones whose weights are too large for the slots path, conv2d_fast.c) took 15-40% less time this
 * way than in OpenBLAS's Cooperlake kernel. The forward's op(B) = B^T stays with OpenBLAS: laying
 * the weights out as gemm_direct's B on every call cost more than it saved (ten products of
 * 64-256 rows measured, binaries alternated; docs/benchmarks.md). One piece per thread along the
 * larger of M and N, in whole tiles; every element of C is gemm_direct's sum over all of K in an
 * order the shape fixes (gemm_direct.h), so neither the pieces nor the thread count change a bit. */
static void sgemm_direct(CBLAS_TRANSPOSE ta, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                         float beta, float *C, int ldc)
{
    const bool tn = ta == CblasTrans, rows = M >= N, acc = beta != 0.0f;
    const int n = rows ? M : N, tile = rows ? 24 : 32, threads = omp_get_max_threads();
    int piece = (n + threads - 1) / threads;
    piece = (piece + tile - 1) / tile * tile;
    const int pieces = (n + piece - 1) / piece;
#pragma omp parallel for schedule(static) if (pieces > 1)
    for (int i = 0; i < pieces; i++) {
        int o = i * piece, len = n - o < piece ? n - o : piece;
        int m = rows ? len : M, nn = rows ? N : len;
        const float *a = !rows ? A : tn ? A + o : A + (size_t)o * lda, *b = rows ? B : B + o;
        float *c = rows ? C + (size_t)o * ldc : C + o;
        if (tn)
            gemm_direct_tn(m, nn, K, a, (size_t)lda, b, (size_t)ldb, c, (size_t)ldc, acc, true);
        else
            gemm_direct_nn(m, nn, K, a, (size_t)lda, b, (size_t)ldb, c, (size_t)ldc, acc, true);
    }
}

void rp_sgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    if (gemm_direct_bf16_tn_pays(M, N) && ta == CblasTrans && tb == CblasNoTrans && alpha == 1.0f &&
        (beta == 0.0f || beta == 1.0f) && M > 0 && N > 0 && K > 0) {
        sgemm_bf16_tn(M, N, K, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    if (gemm_direct_bf16() && ta == CblasNoTrans && alpha == 1.0f && (beta == 0.0f || beta == 1.0f) && M > 0 &&
        N > 0 && K > 0 && sgemm_bf16(tb, M, N, K, A, lda, B, ldb, beta, C, ldc))
        return;
    if (tb == CblasNoTrans && alpha == 1.0f && (beta == 0.0f || beta == 1.0f) && M > 0 && N > 0 && K > 0 &&
        gemm_direct_applies()) {
        sgemm_direct(ta, M, N, K, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    int blas = rp_blas_single_begin();
    bool rows = M >= N;
    int n = rows ? M : N, piece = piece_size(n, (size_t)(rows ? N : M) * K);
    int pieces = (n + piece - 1) / piece;
#pragma omp parallel for schedule(dynamic, 1) if (pieces > 1)
    for (int i = 0; i < pieces; i++) {
        int o = i * piece, len = n - o < piece ? n - o : piece;
        if (rows) /* rows o..o+len of C and of op(A) */
            cblas_sgemm(CblasRowMajor, ta, tb, len, N, K, alpha,
                        ta == CblasNoTrans ? A + (size_t)o * lda : A + o, lda, B, ldb, beta,
                        C + (size_t)o * ldc, ldc);
        else /* columns o..o+len of C and of op(B) */
            cblas_sgemm(CblasRowMajor, ta, tb, M, len, K, alpha, A, lda,
                        tb == CblasNoTrans ? B + o : B + (size_t)o * ldb, ldb, beta, C + o, ldc);
    }
    rp_blas_single_end(blas);
}
