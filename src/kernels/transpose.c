/* transpose.h: 8x8 blocks of floats transposed in registers. */
#include "kernels/transpose.h"

#include <stddef.h>

#include "kernels/simd.h"

/* Eight floats, unaligned, whatever the variant (ymm on AVX2 and AVX-512, two xmm below). */
#define T8_LD(p) ((rp_v8)(*(const rp_v8u *)(const void *)(p)))
#define T8_ST(p, v) (*(rp_v8u *)(void *)(p) = (v))
#define T8_LO(a, b) __builtin_shufflevector(a, b, 0, 8, 1, 9, 4, 12, 5, 13)
#define T8_HI(a, b) __builtin_shufflevector(a, b, 2, 10, 3, 11, 6, 14, 7, 15)
#define T8_LO2(a, b) __builtin_shufflevector(a, b, 0, 1, 8, 9, 4, 5, 12, 13)
#define T8_HI2(a, b) __builtin_shufflevector(a, b, 2, 3, 10, 11, 6, 7, 14, 15)
#define T8_LO4(a, b) __builtin_shufflevector(a, b, 0, 1, 2, 3, 8, 9, 10, 11)
#define T8_HI4(a, b) __builtin_shufflevector(a, b, 4, 5, 6, 7, 12, 13, 14, 15)
/* column j of the block into dst's row c0 + j */
#define T8_PUT(j, v)                                                                        \
    {                                                                                       \
        float *d_ = dst + (size_t)(c0 + (j)) * R + r0;                                      \
        if (mode == TRANSPOSE_WRITE) T8_ST(d_, v);                                          \
        else if (mode == TRANSPOSE_WRITE_ZERO) T8_ST(d_, 0.0f + (v));                       \
        else T8_ST(d_, T8_LD(d_) + (v));                                                    \
    }
#define transpose_blocks_BODY                                                               \
    for (int r0 = 0; r0 + 8 <= R; r0 += 8)                                                  \
        for (int c0 = 0; c0 + 8 <= C; c0 += 8) {                                            \
            const float *s_ = src + (size_t)r0 * C + c0;                                    \
            rp_v8 a0 = T8_LD(s_), a1 = T8_LD(s_ + C), a2 = T8_LD(s_ + 2 * (size_t)C);       \
            rp_v8 a3 = T8_LD(s_ + 3 * (size_t)C), a4 = T8_LD(s_ + 4 * (size_t)C);           \
            rp_v8 a5 = T8_LD(s_ + 5 * (size_t)C), a6 = T8_LD(s_ + 6 * (size_t)C);           \
            rp_v8 a7 = T8_LD(s_ + 7 * (size_t)C);                                           \
            rp_v8 t0 = T8_LO(a0, a1), t1 = T8_HI(a0, a1), t2 = T8_LO(a2, a3), t3 = T8_HI(a2, a3); \
            rp_v8 t4 = T8_LO(a4, a5), t5 = T8_HI(a4, a5), t6 = T8_LO(a6, a7), t7 = T8_HI(a6, a7); \
            rp_v8 u0 = T8_LO2(t0, t2), u1 = T8_HI2(t0, t2), u2 = T8_LO2(t1, t3), u3 = T8_HI2(t1, t3); \
            rp_v8 u4 = T8_LO2(t4, t6), u5 = T8_HI2(t4, t6), u6 = T8_LO2(t5, t7), u7 = T8_HI2(t5, t7); \
            T8_PUT(0, T8_LO4(u0, u4)) T8_PUT(1, T8_LO4(u1, u5))                             \
            T8_PUT(2, T8_LO4(u2, u6)) T8_PUT(3, T8_LO4(u3, u7))                             \
            T8_PUT(4, T8_HI4(u0, u4)) T8_PUT(5, T8_HI4(u1, u5))                             \
            T8_PUT(6, T8_HI4(u2, u6)) T8_PUT(7, T8_HI4(u3, u7))                             \
        }
RP_SIMD_VARIANTS(transpose_blocks, (float *restrict dst, const float *restrict src, int R, int C,
                                    transpose_mode mode))

static void put(float *d, float v, transpose_mode mode)
{
    *d = mode == TRANSPOSE_WRITE ? v : mode == TRANSPOSE_WRITE_ZERO ? 0.0f + v : *d + v;
}

void transpose_f32(float *dst, const float *src, int R, int C, transpose_mode mode)
{
    RP_SIMD_CALL(rp_simd_level(), transpose_blocks, (dst, src, R, C, mode));
    int rb = R / 8 * 8, cb = C / 8 * 8; /* the edges the blocks left */
    for (int r = 0; r < R; r++)
        for (int c = r < rb ? cb : 0; c < C; c++) put(&dst[(size_t)c * R + r], src[(size_t)r * C + c], mode);
}
