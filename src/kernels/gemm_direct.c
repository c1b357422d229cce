/* Matrix products without packing (see gemm_direct.h): AVX-512 register tiles. */
#include "kernels/gemm_direct.h"

#include <string.h>

#include "core/status.h"
#include "kernels/cpu.h"
#include "kernels/simd.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define GD_X86 1
#else
#define GD_X86 0
#endif

bool gemm_direct_applies(void) { return GD_X86 && rp_simd_level() == RP_SIMD_AVX512; }

/* In 32 x 32 tiles (a tile's lines stay in L1 on both sides), tiles shared among the threads
 * when there are many: a forward of MobileNetV2 lays out 2.2 M weight floats this way. */
void gemm_direct_transpose(float *Bt, const float *B, int N, int K)
{
    enum { T = 32 };
    const int tn = (N + T - 1) / T, tk = (K + T - 1) / T;
#pragma omp parallel for schedule(static) if ((size_t)N * K > 65536)
    for (int t = 0; t < tn * tk; t++) {
        int n0 = t / tk * T, k0 = t % tk * T, n1 = n0 + T < N ? n0 + T : N, k1 = k0 + T < K ? k0 + T : K;
        for (int k = k0; k < k1; k++)
            for (int n = n0; n < n1; n++) Bt[(size_t)k * N + n] = B[(size_t)n * K + k];
    }
}

#if GD_X86

#define GD_INLINE static inline __attribute__((always_inline)) RP_TARGET_AVX512

/* One tile of C: R rows (R <= 12, or 24 with NV == 1) x NV vectors of 16 columns, the last
 * one masked by m. TN = 0: row i of A at a + i lda, stepping by 1 per k (rows 3g..3g+2 read
 * through p_g at offsets 0, lda, 2 lda); TN = 1: A(i, k) = a[k lda + i]. The accumulators
 * are named variables: GCC keeps those in registers, not an array of vectors. */
#define GD_DECL(i) __m512 c##i##a = z, c##i##b = z;
#define GD_ROW(i, g, j)                                                                    \
    if (R > i) {                                                                           \
        __m512 av = _mm512_set1_ps(TN ? p0[i] : p##g[(j) * lda]);                          \
        c##i##a = _mm512_fmadd_ps(av, b0, c##i##a);                                        \
        if (NV == 2) c##i##b = _mm512_fmadd_ps(av, b1, c##i##b);                           \
    }
#define GD_STORE(i)                                                                        \
    if (R > i) {                                                                           \
        float *cp = c + (size_t)(i) * ldc;                                                 \
        if (NV == 1) {                                                                     \
            __m512 v = c##i##a;                                                            \
            if (acc) v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, cp), v);                   \
            _mm512_mask_storeu_ps(cp, m, v);                                               \
        } else {                                                                           \
            __m512 v = c##i##a, w = c##i##b;                                               \
            if (acc) {                                                                     \
                v = _mm512_add_ps(_mm512_loadu_ps(cp), v);                                 \
                w = _mm512_add_ps(_mm512_maskz_loadu_ps(m, cp + 16), w);                   \
            }                                                                              \
            _mm512_storeu_ps(cp, v);                                                       \
            _mm512_mask_storeu_ps(cp + 16, m, w);                                          \
        }                                                                                  \
    }
#define GD_ROWS_0_11(OP)                                                                   \
    OP(0, 0, 0) OP(1, 0, 1) OP(2, 0, 2) OP(3, 1, 0) OP(4, 1, 1) OP(5, 1, 2)                \
    OP(6, 2, 0) OP(7, 2, 1) OP(8, 2, 2) OP(9, 3, 0) OP(10, 3, 1) OP(11, 3, 2)
#define GD_ROWS_12_23(OP)                                                                  \
    OP(12, 4, 0) OP(13, 4, 1) OP(14, 4, 2) OP(15, 5, 0) OP(16, 5, 1) OP(17, 5, 2)          \
    OP(18, 6, 0) OP(19, 6, 1) OP(20, 6, 2) OP(21, 7, 0) OP(22, 7, 1) OP(23, 7, 2)
#define GD_ST(i, g, j) GD_STORE(i)
#define GD_D(i, g, j) GD_DECL(i)
#define GD_PTR(g) const float *p##g = !TN && R > 3 * (g) ? a + (size_t)3 * (g) * lda : a;

GD_INLINE void tile(const int R, const int NV, const int TN, int K, const float *a, size_t lda, const float *b,
                    size_t ldb, float *c, size_t ldc, __mmask16 m, bool acc)
{
    const __m512 z = _mm512_setzero_ps();
    GD_ROWS_0_11(GD_D) GD_ROWS_12_23(GD_D)
    GD_PTR(0) GD_PTR(1) GD_PTR(2) GD_PTR(3) GD_PTR(4) GD_PTR(5) GD_PTR(6) GD_PTR(7)
    for (int k = 0; k < K; k++) {
        __m512 b0 = NV == 1 ? _mm512_maskz_loadu_ps(m, b) : _mm512_loadu_ps(b);
        __m512 b1 = NV == 2 ? _mm512_maskz_loadu_ps(m, b + 16) : z;
        GD_ROWS_0_11(GD_ROW) GD_ROWS_12_23(GD_ROW)
        b += ldb;
        if (TN) {
            p0 += lda;
        } else {
            p0++, p1++, p2++, p3++, p4++, p5++, p6++, p7++;
        }
    }
    GD_ROWS_0_11(GD_ST) GD_ROWS_12_23(GD_ST)
}

static __mmask16 tail_mask(int n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1); }

/* Columns [0, nn) of C, nn <= 32, all M rows: tiles of 12 (two vectors) or 24 (one vector)
 * rows, then 4, then 1. Row block i's A starts at A + i lda (nn) or A + i (tn). */
#define GD_TILES(R, NV, TN, STEP)                                                          \
    for (; i + (R) <= M; i += (R))                                                         \
        tile(R, NV, TN, K, A + (size_t)i * (STEP), lda, B, ldb, C + (size_t)i * ldc, ldc, m, acc);
#define GD_COLS(TN, STEP)                                                                  \
    int i = 0;                                                                             \
    if (nn > 16) {                                                                         \
        __mmask16 m = tail_mask(nn - 16);                                                  \
        GD_TILES(12, 2, TN, STEP) GD_TILES(4, 2, TN, STEP) GD_TILES(1, 2, TN, STEP)        \
    } else {                                                                               \
        __mmask16 m = tail_mask(nn);                                                       \
        GD_TILES(24, 1, TN, STEP) GD_TILES(4, 1, TN, STEP) GD_TILES(1, 1, TN, STEP)        \
    }

RP_TARGET_AVX512 static void nn_cols(int M, int K, const float *A, size_t lda, const float *B, size_t ldb, float *C,
                                     size_t ldc, int nn, bool acc)
{
    GD_COLS(0, lda)
}

RP_TARGET_AVX512 static void tn_cols(int M, int K, const float *A, size_t lda, const float *B, size_t ldb, float *C,
                                     size_t ldc, int nn, bool acc)
{
    GD_COLS(1, 1)
}

void gemm_direct_nn(int M, int N, int K, const float *A, size_t lda, const float *B, size_t ldb, float *C,
                    size_t ldc, bool acc)
{
    RP_ASSERT(gemm_direct_applies() && M >= 0 && N >= 0 && K >= 0);
    /* rows in blocks whose A (MB x K) stays in L2 while every column block reads it */
    int MB = (int)(((size_t)1 << 16) / (K > 0 ? (size_t)K : 1)) / 24 * 24;
    if (MB < 24) MB = 24;
    for (int i0 = 0; i0 < M; i0 += MB) {
        int mb = M - i0 < MB ? M - i0 : MB;
        for (int j0 = 0; j0 < N; j0 += 32)
            nn_cols(mb, K, A + (size_t)i0 * lda, lda, B + j0, ldb, C + (size_t)i0 * ldc + j0, ldc,
                    N - j0 < 32 ? N - j0 : 32, acc);
    }
}

void gemm_direct_tn(int M, int N, int K, const float *A, size_t lda, const float *B, size_t ldb, float *C,
                    size_t ldc, bool acc)
{
    RP_ASSERT(gemm_direct_applies() && M >= 0 && N >= 0 && K >= 0);
    if (K == 0 && !acc)
        for (int i = 0; i < M; i++) memset(C + (size_t)i * ldc, 0, (size_t)N * sizeof *C);
    for (int k0 = 0; k0 < K; k0 += GEMM_DIRECT_KB) {
        int kb = K - k0 < GEMM_DIRECT_KB ? K - k0 : GEMM_DIRECT_KB;
        for (int j0 = 0; j0 < N; j0 += 32)
            tn_cols(M, kb, A + (size_t)k0 * lda, lda, B + (size_t)k0 * ldb + j0, ldb, C + j0, ldc,
                    N - j0 < 32 ? N - j0 : 32, acc || k0 > 0);
    }
}

#else /* not x86-64 GCC: gemm_direct_applies() is false and callers take cblas_sgemm */

void gemm_direct_nn(int M, int N, int K, const float *A, size_t lda, const float *B, size_t ldb, float *C,
                    size_t ldc, bool acc)
{
    (void)M, (void)N, (void)K, (void)A, (void)lda, (void)B, (void)ldb, (void)C, (void)ldc, (void)acc;
    RP_ASSERT(!"gemm_direct_nn without AVX-512");
}

void gemm_direct_tn(int M, int N, int K, const float *A, size_t lda, const float *B, size_t ldb, float *C,
                    size_t ldc, bool acc)
{
    (void)M, (void)N, (void)K, (void)A, (void)lda, (void)B, (void)ldb, (void)C, (void)ldc, (void)acc;
    RP_ASSERT(!"gemm_direct_tn without AVX-512");
}

#endif
