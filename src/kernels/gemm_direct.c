/* Matrix products without packing (see gemm_direct.h): AVX-512 register tiles. */
#include "kernels/gemm_direct.h"

#include <stdint.h>
#include <stdlib.h>
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

/* 0: FP32 operands; 1: nn products round their operands to BF16 (gemm_direct_set_bf16). */
static int bf16_mode;

bool gemm_direct_bf16_supported(void)
{
#if GD_X86
    __builtin_cpu_init();
    return gemm_direct_applies() && __builtin_cpu_supports("avx512bf16");
#else
    return false;
#endif
}

bool gemm_direct_set_bf16(bool on)
{
    if (on && !gemm_direct_bf16_supported()) return false;
    bf16_mode = on;
    return true;
}

bool gemm_direct_bf16(void) { return bf16_mode && gemm_direct_applies(); }

bool gemm_direct_bf16_tn_pays(int M, int N) { return gemm_direct_bf16() && M >= 32 && N >= 144; }

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
#define GD_EP_BITS(i) (ep_bits ? ep_bits + (size_t)(i) * ep->ldbits : NULL)
#define GD_STORE(i)                                                                        \
    if (R > i) {                                                                           \
        float *cp = c + (size_t)(i) * ldc;                                                 \
        if (NV == 1) {                                                                     \
            __m512 v = c##i##a;                                                            \
            if (acc) v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, cp), v);                   \
            if (ep) v = gd_ep_apply(v, em0, ek0, eb0, ep, m, GD_EP_BITS(i));               \
            _mm512_mask_storeu_ps(cp, m, v);                                               \
        } else {                                                                           \
            __m512 v = c##i##a, w = c##i##b;                                               \
            if (acc) {                                                                     \
                v = _mm512_add_ps(_mm512_loadu_ps(cp), v);                                 \
                w = _mm512_add_ps(_mm512_maskz_loadu_ps(m, cp + 16), w);                   \
            }                                                                              \
            if (ep) {                                                                      \
                uint8_t *br_ = GD_EP_BITS(i);                                              \
                v = gd_ep_apply(v, em0, ek0, eb0, ep, (__mmask16)0xFFFF, br_);             \
                w = gd_ep_apply(w, em1, ek1, eb1, ep, m, br_ ? br_ + 2 : NULL);            \
            }                                                                              \
            _mm512_storeu_ps(cp, v);                                                       \
            _mm512_mask_storeu_ps(cp + 16, m, w);                                          \
        }                                                                                  \
    }
/* A tile's epilogue (gemm_direct_ep): the batch norm's affine and the activation on the sums of
 * one vector of 16 columns (m: those inside C), the mask bits of its row (br: the vector's first
 * byte, NULL: none) from the result — conv2d_epilogue's and act_mask_pack's expressions, in their
 * order, so the same bits as the product stored and then those passes over it. */
GD_INLINE __m512 gd_ep_apply(__m512 v, __m512 mean, __m512 k, __m512 beta, const gemm_direct_ep *ep, __mmask16 m,
                             uint8_t *br)
{
    const __m512 zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.0f);
    if (ep->mean) v = _mm512_add_ps(_mm512_mul_ps(_mm512_sub_ps(v, mean), k), beta);
    if (ep->act != ACT_NONE) v = _mm512_max_ps(v, zero);  /* v > 0 ? v : 0 */
    if (ep->act == ACT_RELU6) v = _mm512_min_ps(v, six); /* v < 6 ? v : 6 */
    if (br) {
        __mmask16 pass = _mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ) & m;
        if (ep->act == ACT_RELU6) pass &= _mm512_cmp_ps_mask(v, six, _CMP_LT_OQ);
        br[0] = (uint8_t)pass;
        if (m >> 8) br[1] = (uint8_t)(pass >> 8);
    }
    return v;
}
/* The epilogue's per-column vectors of a tile's two column vectors, and its rows' first bits. */
#define GD_EP_LOAD                                                                         \
    __m512 em0 = z, ek0 = z, eb0 = z, em1 = z, ek1 = z, eb1 = z;                           \
    uint8_t *ep_bits = ep ? ep->bits : NULL;                                               \
    if (ep && ep->mean) {                                                                  \
        __mmask16 m0 = NV == 1 ? m : (__mmask16)0xFFFF;                                    \
        em0 = _mm512_maskz_loadu_ps(m0, ep->mean), ek0 = _mm512_maskz_loadu_ps(m0, ep->k); \
        eb0 = _mm512_maskz_loadu_ps(m0, ep->beta);                                         \
        if (NV == 2) {                                                                     \
            em1 = _mm512_maskz_loadu_ps(m, ep->mean + 16), ek1 = _mm512_maskz_loadu_ps(m, ep->k + 16); \
            eb1 = _mm512_maskz_loadu_ps(m, ep->beta + 16);                                 \
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

/* Software prefetch when the caller says A streams from memory (pf: an activation or its
 * gradient, MB of them, read once; a hint, the arithmetic is untouched). Neither form reads such
 * an A in a pattern the hardware prefetchers follow: TN steps through A by lda per k, reading R
 * floats of each row (2.1x slower than in cache on 16 -> 96 pointwise weight gradients); NN
 * reads R rows at once, each one float per k (1.5x). TN fetches row k + GD_PF's R floats; NN
 * fetches the next tile's rows (next, or NULL when this tile is the last or !pf), two lines per
 * step of k. Where A is in cache (Winograd's transforms, a chain's tiles, im2col columns) the
 * fetches only cost (a few percent on smallcnn's Winograd conv in profile pairs), so those
 * callers pass false. */
enum { GD_PF = 16 };
GD_INLINE void tile(const int R, const int NV, const int TN, int K, const float *a, size_t lda, const float *b,
                    size_t ldb, float *c, size_t ldc, __mmask16 m, bool acc, bool pf, const float *next,
                    const gemm_direct_ep *ep)
{
    const __m512 z = _mm512_setzero_ps();
    int pr = 0, pc = 0; /* NN: the next tile's row and column to fetch */
    GD_ROWS_0_11(GD_D) GD_ROWS_12_23(GD_D)
    GD_PTR(0) GD_PTR(1) GD_PTR(2) GD_PTR(3) GD_PTR(4) GD_PTR(5) GD_PTR(6) GD_PTR(7)
    for (int k = 0; k < K; k++) {
        __m512 b0 = NV == 1 ? _mm512_maskz_loadu_ps(m, b) : _mm512_loadu_ps(b);
        __m512 b1 = NV == 2 ? _mm512_maskz_loadu_ps(m, b + 16) : z;
        GD_ROWS_0_11(GD_ROW) GD_ROWS_12_23(GD_ROW)
        b += ldb;
        if (TN) {
            if (pf && k + GD_PF < K) {
                _mm_prefetch((const char *)(p0 + GD_PF * lda), _MM_HINT_T0);
                _mm_prefetch((const char *)(p0 + GD_PF * lda + R - 1), _MM_HINT_T0);
            }
            p0 += lda;
        } else {
            p0++, p1++, p2++, p3++, p4++, p5++, p6++, p7++;
            for (int t = 0; next && t < 2 && pr < R; t++) {
                _mm_prefetch((const char *)(next + (size_t)pr * lda + pc), _MM_HINT_T0);
                if ((pc += 16) >= K) pc = 0, pr++;
            }
        }
    }
    GD_EP_LOAD
    GD_ROWS_0_11(GD_ST) GD_ROWS_12_23(GD_ST)
}

static __mmask16 tail_mask(int n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1); }

/* ep moved down i rows and right j columns (into t), or NULL. */
static inline const gemm_direct_ep *gd_ep_at(const gemm_direct_ep *ep, gemm_direct_ep *t, size_t i, int j)
{
    if (!ep) return NULL;
    *t = *ep;
    if (t->mean) t->mean += j, t->k += j, t->beta += j;
    if (t->bits) t->bits += i * t->ldbits + (size_t)j / 8;
    return t;
}

/* Columns [0, nn) of C, nn <= 32, all M rows: tiles of 12 (two vectors) or 24 (one vector)
 * rows, then 4, then 1. Row block i's A starts at A + i lda (nn) or A + i (tn). */
#define GD_TILES(R, NV, TN, STEP)                                                          \
    for (; i + (R) <= M; i += (R))                                                         \
        tile(R, NV, TN, K, A + (size_t)i * (STEP), lda, B, ldb, C + (size_t)i * ldc, ldc, m, acc, pf, \
             pf && !(TN) && i + 2 * (R) <= M ? A + (size_t)(i + (R)) * (STEP) : NULL, gd_ep_at(ep, &ept, i, 0));
#define GD_COLS(TN, STEP, PF)                                                              \
    const bool pf = PF;                                                                    \
    int i = 0;                                                                             \
    gemm_direct_ep ept;                                                                    \
    if (nn > 16) {                                                                         \
        __mmask16 m = tail_mask(nn - 16);                                                  \
        GD_TILES(12, 2, TN, STEP) GD_TILES(4, 2, TN, STEP) GD_TILES(1, 2, TN, STEP)        \
    } else {                                                                               \
        __mmask16 m = tail_mask(nn);                                                       \
        GD_TILES(24, 1, TN, STEP) GD_TILES(4, 1, TN, STEP) GD_TILES(1, 1, TN, STEP)        \
    }

/* With and without the prefetches (PF a constant in each: the plain forms are the kernels they
 * were before, without even the per-step test). */
#define GD_COLS_FN(name, TN, STEP, PF)                                                     \
    RP_TARGET_AVX512 static void name(int M, int K, const float *A, size_t lda, const float *B, size_t ldb, \
                                      float *C, size_t ldc, int nn, bool acc, const gemm_direct_ep *ep) \
    {                                                                                      \
        GD_COLS(TN, STEP, PF)                                                              \
    }
GD_COLS_FN(nn_cols, 0, lda, false)
GD_COLS_FN(nn_cols_pf, 0, lda, true)
GD_COLS_FN(tn_cols, 1, 1, false)
GD_COLS_FN(tn_cols_pf, 1, 1, true)


/* BF16 operands, FP32 sums (gemm_direct_set_bf16). VDPBF16PS multiplies pairs of BF16 values
 * and adds both products to an FP32 lane: twice the multiply-adds of an FP32 FMA per
 * instruction. A's rows and B's columns are rounded (to nearest even) into pairs along k: B
 * (K, N) per block of 32 columns as (K/2, 32) pairs, by the caller once per pass or by the call;
 * A by blocks of rows as (rows, K/2) pairs on the stack, each block converted once and read by
 * every column block. Odd K pads the last pair with zeros. Each element of C is s = 0, then
 * s = dpbf16(s, pair kp) for kp in order, C = s or C + s: the order depends on the shapes alone.
 * The tn form (weight gradients) does the same per block of GEMM_DIRECT_KB steps of k, as
 * gemm_direct_tn, with A^T's pairs gathered from two rows of A at a time. */
#define GD_BF_TARGET __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,avx2,fma")))
#define GD_BF_INLINE static inline __attribute__((always_inline)) GD_BF_TARGET
#define GD_BF_ROW(i, g, j)                                                                 \
    if (R > i) {                                                                           \
        __m512bh av = (__m512bh)_mm512_set1_epi32((int)p##g[(j) * lda]);                   \
        c##i##a = _mm512_dpbf16_ps(c##i##a, av, b0);                                       \
        if (NV == 2) c##i##b = _mm512_dpbf16_ps(c##i##b, av, b1);                          \
    }
#define GD_BF_PTR(g) const uint32_t *p##g = R > 3 * (g) ? a + (size_t)3 * (g) * lda : a;

/* R rows x NV vectors of C; a: the rows' pairs (stride lda pairs), b: the column block's
 * pairs (32 per kp). */
GD_BF_INLINE void tile_bf16(const int R, const int NV, int K2, const uint32_t *a, size_t lda, const uint32_t *b,
                            float *c, size_t ldc, __mmask16 m, bool acc, const gemm_direct_ep *ep)
{
    const __m512 z = _mm512_setzero_ps();
    GD_ROWS_0_11(GD_D) GD_ROWS_12_23(GD_D)
    GD_BF_PTR(0) GD_BF_PTR(1) GD_BF_PTR(2) GD_BF_PTR(3) GD_BF_PTR(4) GD_BF_PTR(5) GD_BF_PTR(6) GD_BF_PTR(7)
    for (int kp = 0; kp < K2; kp++, b += 32) {
        __m512bh b0 = (__m512bh)_mm512_loadu_si512(b);
        __m512bh b1 = (__m512bh)(NV == 2 ? _mm512_loadu_si512(b + 16) : _mm512_setzero_si512());
        GD_ROWS_0_11(GD_BF_ROW) GD_ROWS_12_23(GD_BF_ROW)
        p0++, p1++, p2++, p3++, p4++, p5++, p6++, p7++;
    }
    GD_EP_LOAD
    GD_ROWS_0_11(GD_ST) GD_ROWS_12_23(GD_ST)
}

/* Lane j of the result: (lo[j], hi[j]) rounded to BF16, as one pair. */
GD_BF_INLINE __m512i bf16_pairs(__m512 lo, __m512 hi)
{
    const __m512i inter = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7,
                                           22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    return _mm512_permutexvar_epi16(inter, (__m512i)_mm512_cvtne2ps_pbh(hi, lo)); /* lo's 16, hi's 16: paired */
}

/* 16 floats from p (the first n of them; zeros past n) and the 16 after them -> 32 BF16 in order. */
GD_BF_INLINE __m512i bf16_32(const float *p, int n)
{
    __m512 lo = _mm512_maskz_loadu_ps(tail_mask(n > 0 ? n : 0), p);
    __m512 hi = _mm512_maskz_loadu_ps(tail_mask(n > 16 ? n - 16 : 0), p + 16);
    return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
}

/* Rows [0, M) of A (M, K) -> Ap (M, K2) pairs. */
GD_BF_TARGET static void pack_a_bf16(uint32_t *Ap, int K2, const float *A, size_t lda, int M, int K)
{
    for (int i = 0; i < M; i++) {
        const float *r = A + (size_t)i * lda;
        uint16_t *o = (uint16_t *)(void *)(Ap + (size_t)i * K2);
        for (int k = 0; k < 2 * K2; k += 32) {
            int n = 2 * K2 - k < 32 ? 2 * K2 - k : 32; /* halves to write (even) */
            __m512i v = bf16_32(r + k, K - k < n ? K - k : n);
            _mm512_mask_storeu_epi16(o + k, n >= 32 ? (__mmask32)0xFFFFFFFFu : (__mmask32)((1u << n) - 1), v);
        }
    }
}

/* B (K, N) -> Bp: column block jb's pairs at Bp + jb K2 32, (B(2kp, j), B(2kp+1, j)) per lane j;
 * zeros past N and K. B(k, j) = B[k ldb + j], or B[j ldb + k] when trans (weights (N, K) read
 * as their transpose, one column at a time). */
GD_BF_TARGET static void pack_b_bf16(uint32_t *Bp, int K2, const float *B, size_t ldb, bool trans, int N, int K)
{
    if (trans) { /* column j of the block is row j of B: its k pairs are adjacent floats */
        for (int j0 = 0; j0 < N; j0 += 32)
            for (int jj = 0; jj < 32; jj++) {
                uint32_t *o = Bp + (size_t)(j0 / 32) * K2 * 32 + jj;
                if (j0 + jj >= N) {
                    for (int kp = 0; kp < K2; kp++) o[(size_t)kp * 32] = 0;
                    continue;
                }
                const float *r = B + (size_t)(j0 + jj) * ldb;
                for (int k = 0; k < 2 * K2; k += 32) {
                    uint32_t w[16];
                    _mm512_storeu_si512(w, bf16_32(r + k, K - k < 32 ? K - k : 32));
                    for (int q = 0; q < 16 && k / 2 + q < K2; q++) o[(size_t)(k / 2 + q) * 32] = w[q];
                }
            }
        return;
    }
    for (int j0 = 0; j0 < N; j0 += 32)
        for (int kp = 0; kp < K2; kp++) {
            uint32_t *o = Bp + ((size_t)(j0 / 32) * K2 + kp) * 32;
            bool two = 2 * kp + 1 < K;
            const float *r0 = B + (size_t)(2 * kp) * ldb + j0, *r1 = two ? r0 + ldb : r0;
            for (int h = 0; h < 32; h += 16) {
                int n = N - j0 - h;
                __mmask16 m = tail_mask(n > 0 ? n : 0);
                __m512 lo = _mm512_maskz_loadu_ps(m, r0 + h);
                __m512 hi = two ? _mm512_maskz_loadu_ps(m, r1 + h) : _mm512_setzero_ps();
                _mm512_storeu_si512(o + h, bf16_pairs(lo, hi));
            }
        }
}

#define GD_BF_TILES(R, NV)                                                                 \
    for (; i + (R) <= mb; i += (R))                                                        \
        tile_bf16(R, NV, K2, Ap + (size_t)i * K2, (size_t)K2, bp, C + (size_t)i * ldc + j0, ldc, m, acc, \
                  gd_ep_at(ep, &ept, i, j0));

/* C (mb, N) (+)= the rows' pairs Ap (mb, K2) x B's pairs Bp, every column block. */
GD_BF_TARGET static void tiles_bf16(int mb, int N, int K2, const uint32_t *Ap, const uint32_t *Bp, float *C,
                                    size_t ldc, bool acc, const gemm_direct_ep *ep)
{
    gemm_direct_ep ept;
    for (int j0 = 0; j0 < N; j0 += 32) {
        const uint32_t *bp = Bp + (size_t)(j0 / 32) * K2 * 32;
        int nn = N - j0 < 32 ? N - j0 : 32, i = 0;
        if (nn > 16) {
            __mmask16 m = tail_mask(nn - 16);
            GD_BF_TILES(12, 2) GD_BF_TILES(4, 2) GD_BF_TILES(1, 2)
        } else {
            __mmask16 m = tail_mask(nn);
            GD_BF_TILES(24, 1) GD_BF_TILES(4, 1) GD_BF_TILES(1, 1)
        }
    }
}

GD_BF_TARGET static void nn_bf16(int M, int N, int K, const float *A, size_t lda, const uint32_t *Bp, float *C,
                                 size_t ldc, bool acc, uint32_t *Ap, int MB, const gemm_direct_ep *ep)
{
    const int K2 = (K + 1) / 2;
    gemm_direct_ep epi;
    for (int i0 = 0; i0 < M; i0 += MB) {
        int mb = M - i0 < MB ? M - i0 : MB;
        pack_a_bf16(Ap, K2, A + (size_t)i0 * lda, lda, mb, K);
        tiles_bf16(mb, N, K2, Ap, Bp, C + (size_t)i0 * ldc, ldc, acc, gd_ep_at(ep, &epi, (size_t)i0, 0));
    }
}

/* Columns [0, M) of A^T for A stored (K, M) -> Ap (M, K2) pairs (A(2kp, i), A(2kp+1, i)):
 * two rows of A at a time, 16 columns interleaved per vector, scattered to the rows of Ap. */
GD_BF_TARGET static void pack_at_bf16(uint32_t *Ap, int K2, const float *A, size_t lda, int M, int K)
{
    for (int kp = 0; kp < K2; kp++) {
        bool two = 2 * kp + 1 < K;
        const float *r0 = A + (size_t)(2 * kp) * lda, *r1 = two ? r0 + lda : r0;
        for (int i = 0; i < M; i += 16) {
            __mmask16 m = tail_mask(M - i);
            __m512 lo = _mm512_maskz_loadu_ps(m, r0 + i);
            __m512 hi = two ? _mm512_maskz_loadu_ps(m, r1 + i) : _mm512_setzero_ps();
            uint32_t w[16];
            _mm512_storeu_si512(w, bf16_pairs(lo, hi));
            for (int l = 0; l < 16 && i + l < M; l++) Ap[(size_t)(i + l) * K2 + kp] = w[l];
        }
    }
}

GD_BF_TARGET static void tn_bf16(int M, int N, int K, const float *A, size_t lda, const float *B, size_t ldb,
                                 float *C, size_t ldc, bool acc, uint32_t *Bp, uint32_t *Ap, int MB)
{
    for (int k0 = 0; k0 < K; k0 += GEMM_DIRECT_KB) {
        const int kb = K - k0 < GEMM_DIRECT_KB ? K - k0 : GEMM_DIRECT_KB, K2 = (kb + 1) / 2;
        pack_b_bf16(Bp, K2, B + (size_t)k0 * ldb, ldb, false, N, kb);
        for (int i0 = 0; i0 < M; i0 += MB) {
            int mb = M - i0 < MB ? M - i0 : MB;
            pack_at_bf16(Ap, K2, A + (size_t)k0 * lda + i0, lda, mb, kb);
            tiles_bf16(mb, N, K2, Ap, Bp, C + (size_t)i0 * ldc, ldc, acc || k0 > 0, NULL);
        }
    }
}

size_t gemm_direct_bf16_b_words(int N, int K) { return (size_t)(N + 31) / 32 * 32 * (size_t)((K + 1) / 2); }

void gemm_direct_bf16_pack_b(uint32_t *Bp, const float *B, size_t ldb, bool trans, int N, int K)
{
    RP_ASSERT(gemm_direct_bf16_supported() && N >= 0 && K >= 0);
    pack_b_bf16(Bp, (K + 1) / 2, B, ldb, trans, N, K);
}

void gemm_direct_bf16_pack_b_threads(uint32_t *Bp, const float *B, size_t ldb, bool trans, int N, int K)
{
    RP_ASSERT(gemm_direct_bf16_supported() && N >= 0 && K >= 0);
    const int K2 = (K + 1) / 2, nb = (N + 31) / 32;
#pragma omp parallel for schedule(static) if (nb > 1 && (size_t)N * K > 65536)
    for (int jb = 0; jb < nb; jb++) {
        int j0 = jb * 32;
        pack_b_bf16(Bp + (size_t)jb * K2 * 32, K2, trans ? B + (size_t)j0 * ldb : B + j0, ldb, trans,
                    N - j0 < 32 ? N - j0 : 32, K);
    }
}

/* A's pairs in blocks of rows on the stack (48 KB: 24 rows up to K = 1024, 12 up to 2048, which
 * every conv here fits; wider K in blocks of 12 rows from malloc). */
enum { GD_BF_STACK_WORDS = 12288 };

void gemm_direct_bf16_nn_packed(int M, int N, int K, const float *A, size_t lda, const uint32_t *Bp, float *C,
                                size_t ldc, bool acc)
{
    gemm_direct_bf16_nn_packed_ep(M, N, K, A, lda, Bp, C, ldc, acc, NULL);
}

void gemm_direct_bf16_nn_packed_ep(int M, int N, int K, const float *A, size_t lda, const uint32_t *Bp, float *C,
                                   size_t ldc, bool acc, const gemm_direct_ep *ep)
{
    RP_ASSERT(gemm_direct_bf16_supported() && M >= 0 && N >= 0 && K > 0);
    if (M == 0 || N == 0) return;
    const size_t K2 = (size_t)(K + 1) / 2;
    uint32_t stack[GD_BF_STACK_WORDS], *Ap = stack;
    int MB = (int)(GD_BF_STACK_WORDS / K2);
    MB = MB >= 24 ? MB / 24 * 24 : MB / 12 * 12; /* whole tiles */
    if (MB < 12) {
        MB = 12;
        Ap = malloc((size_t)MB * K2 * sizeof *Ap);
        RP_ASSERT(Ap); /* K > 2048 only: no conv or linear layer of the model zoo */
    }
    if (MB > M) MB = M;
    nn_bf16(M, N, K, A, lda, Bp, C, ldc, acc, Ap, MB, ep);
    if (Ap != stack) free(Ap);
}

/* The BF16 product when it is on; false: take the FP32 one. B is packed on every call (callers
 * whose B serves many calls pack it once: rp_sgemm, chains, the slots path, Winograd, the
 * training fold). Without memory for B's pairs the product runs in FP32, exact where BF16 would
 * round, rather than stopping a run. */
static bool try_nn_bf16(int M, int N, int K, const float *A, size_t lda, const float *B, size_t ldb, float *C,
                        size_t ldc, bool acc, const gemm_direct_ep *ep)
{
    /* every nn product, however few its rows: a caller's split of M among threads must not
     * change which rows round their operands */
    if (!gemm_direct_bf16() || M == 0 || N == 0 || K == 0) return false;
    uint32_t *Bp = malloc(gemm_direct_bf16_b_words(N, K) * sizeof *Bp);
    if (!Bp) return false;
    pack_b_bf16(Bp, (K + 1) / 2, B, ldb, false, N, K);
    gemm_direct_bf16_nn_packed_ep(M, N, K, A, lda, Bp, C, ldc, acc, ep);
    free(Bp);
    return true;
}

bool gemm_direct_bf16_tn(int M, int N, int K, const float *A, size_t lda, const float *B, size_t ldb, float *C,
                         size_t ldc, bool acc)
{
    RP_ASSERT(gemm_direct_bf16_supported() && M >= 0 && N >= 0 && K >= 0);
    if (M == 0 || N == 0) return true;
    if (K == 0) {
        if (!acc)
            for (int i = 0; i < M; i++) memset(C + (size_t)i * ldc, 0, (size_t)N * sizeof *C);
        return true;
    }
    const int K2 = GEMM_DIRECT_KB / 2;
    int MB = GD_BF_STACK_WORDS / K2 / 24 * 24;
    if (MB > M) MB = M;
    uint32_t Ap[GD_BF_STACK_WORDS], *Bp = malloc(gemm_direct_bf16_b_words(N, GEMM_DIRECT_KB) * sizeof *Bp);
    if (!Bp) return false;
    tn_bf16(M, N, K, A, lda, B, ldb, C, ldc, acc, Bp, Ap, MB);
    free(Bp);
    return true;
}

void gemm_direct_tn_weights(int M, int N, int K, const float *A, size_t lda, const float *B, size_t ldb, float *C,
                            size_t ldc, bool acc, bool stream, bool bf16)
{
    if (bf16 && gemm_direct_bf16_tn(M, N, K, A, lda, B, ldb, C, ldc, acc)) return;
    gemm_direct_tn(M, N, K, A, lda, B, ldb, C, ldc, acc, stream);
}

void gemm_direct_nn(int M, int N, int K, const float *A, size_t lda, const float *B, size_t ldb, float *C,
                    size_t ldc, bool acc, bool stream)
{
    gemm_direct_nn_ep(M, N, K, A, lda, B, ldb, C, ldc, acc, stream, NULL);
}

void gemm_direct_nn_ep(int M, int N, int K, const float *A, size_t lda, const float *B, size_t ldb, float *C,
                       size_t ldc, bool acc, bool stream, const gemm_direct_ep *ep)
{
    RP_ASSERT(gemm_direct_applies() && M >= 0 && N >= 0 && K >= 0);
    RP_ASSERT(!ep || ep->act == ACT_NONE || ep->act == ACT_RELU || ep->act == ACT_RELU6);
    if (try_nn_bf16(M, N, K, A, lda, B, ldb, C, ldc, acc, ep)) return;
    /* short rows (a 16- or 24-channel input) make one sequential stream the hardware follows:
     * fetching them too cost 7-17% on MobileNetV2's early expand convs */
    const bool pf = stream && K >= 64;
    /* rows in blocks whose A (MB x K) stays in L2 while every column block reads it */
    int MB = (int)(((size_t)1 << 16) / (K > 0 ? (size_t)K : 1)) / 24 * 24;
    if (MB < 24) MB = 24;
    gemm_direct_ep e;
    for (int i0 = 0; i0 < M; i0 += MB) {
        int mb = M - i0 < MB ? M - i0 : MB;
        for (int j0 = 0; j0 < N; j0 += 32)
            (pf ? nn_cols_pf : nn_cols)(mb, K, A + (size_t)i0 * lda, lda, B + j0, ldb, C + (size_t)i0 * ldc + j0,
                                            ldc, N - j0 < 32 ? N - j0 : 32, acc, gd_ep_at(ep, &e, (size_t)i0, j0));
    }
}

void gemm_direct_tn(int M, int N, int K, const float *A, size_t lda, const float *B, size_t ldb, float *C,
                    size_t ldc, bool acc, bool stream)
{
    RP_ASSERT(gemm_direct_applies() && M >= 0 && N >= 0 && K >= 0);
    if (K == 0 && !acc)
        for (int i = 0; i < M; i++) memset(C + (size_t)i * ldc, 0, (size_t)N * sizeof *C);
    /* whole rows of A (M close to lda) are one sequential stream the hardware follows: fetching
     * them too cost 15-25% on smallcnn's first conv's weight gradient (32 of 32 columns) */
    const bool pf = stream && lda >= (size_t)M + 16;
    for (int k0 = 0; k0 < K; k0 += GEMM_DIRECT_KB) {
        int kb = K - k0 < GEMM_DIRECT_KB ? K - k0 : GEMM_DIRECT_KB;
        for (int j0 = 0; j0 < N; j0 += 32)
            (pf ? tn_cols_pf : tn_cols)(M, kb, A + (size_t)k0 * lda, lda, B + (size_t)k0 * ldb + j0, ldb, C + j0,
                                        ldc, N - j0 < 32 ? N - j0 : 32, acc || k0 > 0, NULL);
    }
}

#else /* not x86-64 GCC: gemm_direct_applies() is false and callers take cblas_sgemm */

size_t gemm_direct_bf16_b_words(int N, int K) { return (size_t)(N + 31) / 32 * 32 * (size_t)((K + 1) / 2); }

void gemm_direct_bf16_pack_b(uint32_t *Bp, const float *B, size_t ldb, bool trans, int N, int K)
{
    (void)Bp, (void)B, (void)ldb, (void)trans, (void)N, (void)K;
    RP_ASSERT(!"gemm_direct_bf16_pack_b without AVX512_BF16");
}

void gemm_direct_bf16_pack_b_threads(uint32_t *Bp, const float *B, size_t ldb, bool trans, int N, int K)
{
    gemm_direct_bf16_pack_b(Bp, B, ldb, trans, N, K);
}

void gemm_direct_bf16_nn_packed(int M, int N, int K, const float *A, size_t lda, const uint32_t *Bp, float *C,
                                size_t ldc, bool acc)
{
    gemm_direct_bf16_nn_packed_ep(M, N, K, A, lda, Bp, C, ldc, acc, NULL);
}

void gemm_direct_bf16_nn_packed_ep(int M, int N, int K, const float *A, size_t lda, const uint32_t *Bp, float *C,
                                   size_t ldc, bool acc, const gemm_direct_ep *ep)
{
    (void)M, (void)N, (void)K, (void)A, (void)lda, (void)Bp, (void)C, (void)ldc, (void)acc, (void)ep;
    RP_ASSERT(!"gemm_direct_bf16_nn_packed without AVX512_BF16");
}

bool gemm_direct_bf16_tn(int M, int N, int K, const float *A, size_t lda, const float *B, size_t ldb, float *C,
                         size_t ldc, bool acc)
{
    (void)M, (void)N, (void)K, (void)A, (void)lda, (void)B, (void)ldb, (void)C, (void)ldc, (void)acc;
    RP_ASSERT(!"gemm_direct_bf16_tn without AVX512_BF16");
    return false;
}

void gemm_direct_tn_weights(int M, int N, int K, const float *A, size_t lda, const float *B, size_t ldb, float *C,
                            size_t ldc, bool acc, bool stream)
{
    gemm_direct_tn(M, N, K, A, lda, B, ldb, C, ldc, acc, stream);
}

void gemm_direct_nn(int M, int N, int K, const float *A, size_t lda, const float *B, size_t ldb, float *C,
                    size_t ldc, bool acc, bool stream)
{
    gemm_direct_nn_ep(M, N, K, A, lda, B, ldb, C, ldc, acc, stream, NULL);
}

void gemm_direct_nn_ep(int M, int N, int K, const float *A, size_t lda, const float *B, size_t ldb, float *C,
                       size_t ldc, bool acc, bool stream, const gemm_direct_ep *ep)
{
    (void)M, (void)N, (void)K, (void)A, (void)lda, (void)B, (void)ldb, (void)C, (void)ldc, (void)acc, (void)stream;
    (void)ep;
    RP_ASSERT(!"gemm_direct_nn without AVX-512");
}

void gemm_direct_tn(int M, int N, int K, const float *A, size_t lda, const float *B, size_t ldb, float *C,
                    size_t ldc, bool acc, bool stream)
{
    (void)M, (void)N, (void)K, (void)A, (void)lda, (void)B, (void)ldb, (void)C, (void)ldc, (void)acc, (void)stream;
    RP_ASSERT(!"gemm_direct_tn without AVX-512");
}

#endif
