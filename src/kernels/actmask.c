/* Activation masks as bits (see actmask.h). */
#include "kernels/actmask.h"
#include "kernels/activation.h"

#define PASSES(v, act) ((act) == ACT_RELU6 ? (v) > 0.0f && (v) < 6.0f : (v) > 0.0f)

/* Channels [c0, C) of a row one by one: what the vector loops leave, and the whole row on a
 * CPU without AVX2. */
static inline void pack_tail(uint8_t *br, const float *yr, int c0, int C, act_kind act)
{
    for (int c = c0; c < C; c++) {
        if (c % 8 == 0) br[c / 8] = 0;
        if (PASSES(yr[c], act)) br[c / 8] |= (uint8_t)(1u << (c % 8));
    }
}

static void pack_masks_portable(uint8_t *restrict bits, const float *restrict y, size_t rows, int C, act_kind act)
{
    for (size_t r = 0; r < rows; r++) pack_tail(bits + r * act_mask_row_bytes(C), y + r * C, 0, C, act);
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
/* AVX-512 compares give the 16 lane bits directly; ordered compares: NaN passes neither. */
RP_TARGET_AVX512 static void pack_masks_avx512(uint8_t *restrict bits, const float *restrict y, size_t rows, int C,
                                               act_kind act)
{
    const size_t RB = ((size_t)C + 7) / 8;
    const __m512 zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.0f);
    for (size_t r = 0; r < rows; r++) {
        const float *yr = y + r * C;
        uint8_t *br = bits + r * RB;
        int c0 = 0;
        for (; c0 + 16 <= C; c0 += 16) {
            __m512 v = _mm512_loadu_ps(yr + c0);
            __mmask16 m = _mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ);
            if (act == ACT_RELU6) m &= _mm512_cmp_ps_mask(v, six, _CMP_LT_OQ);
            br[c0 / 8] = (uint8_t)m;
            br[c0 / 8 + 1] = (uint8_t)(m >> 8);
        }
        pack_tail(br, yr, c0, C, act);
    }
}
/* AVX2: a compare and movemask give 8 lane bits, one byte of the mask (lane sums over a
 * 16-float vector, which GCC keeps in memory without AVX-512, cost a fifth of a MobileNetV2
 * training step on an AVX2-only CPU). Ordered compares, as above. */
RP_TARGET_AVX2 static void pack_masks_avx2(uint8_t *restrict bits, const float *restrict y, size_t rows, int C,
                                           act_kind act)
{
    const size_t RB = ((size_t)C + 7) / 8;
    const __m256 zero = _mm256_setzero_ps(), six = _mm256_set1_ps(6.0f);
    for (size_t r = 0; r < rows; r++) {
        const float *yr = y + r * C;
        uint8_t *br = bits + r * RB;
        int c0 = 0;
        for (; c0 + 8 <= C; c0 += 8) {
            __m256 v = _mm256_loadu_ps(yr + c0);
            __m256 m = _mm256_cmp_ps(v, zero, _CMP_GT_OQ);
            if (act == ACT_RELU6) m = _mm256_and_ps(m, _mm256_cmp_ps(v, six, _CMP_LT_OQ));
            br[c0 / 8] = (uint8_t)_mm256_movemask_ps(m);
        }
        pack_tail(br, yr, c0, C, act);
    }
}
#else
#define pack_masks_avx512 pack_masks_portable
#define pack_masks_avx2 pack_masks_portable
#endif


void act_mask_pack(uint8_t *bits, const float *y, size_t rows, int C, act_kind act)
{
    RP_SIMD_CALL(rp_simd_level(), pack_masks, (bits, y, rows, C, act));
}
