/* Run-time selected SIMD variants of a kernel written once in plain C.
 *
 * RP_SIMD_VARIANTS(name, params) defines three copies of the static function `name##_body`'s
 * body (expanded from the macro `name##_BODY`): name##_avx512, name##_avx2 and
 * name##_portable, each compiled for its instruction set by a target attribute; the loops
 * inside vectorise through `#pragma omp simd` or work on rp_vec (below), a register of the
 * variant. RP_SIMD_CALL(name, args) calls the variant
 * for rp_simd_level(). The build itself stays plain x86-64 (-O2, no -ffast-math, no FMA
 * contraction under -std=c11), so every variant does the same float operations in the same
 * order: results are bit-identical across variants.
 *
 * Variants hold no OpenMP parallel regions (an outlined region would not inherit the target
 * attribute): callers parallelise outside and call a variant per row or per block. */
#ifndef RP_KERNELS_SIMD_H
#define RP_KERNELS_SIMD_H

#include <stdint.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include "kernels/cpu.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define RP_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")))
#define RP_TARGET_AVX2 __attribute__((target("avx2,fma")))
#else
#define RP_TARGET_AVX512
#define RP_TARGET_AVX2
#endif

/* 16 floats as one value (GCC vector extension): one zmm on AVX-512; unaligned loads and
 * stores through rp_v16u (aligned(4), may_alias). */
typedef float rp_v16 __attribute__((vector_size(64)));
typedef float rp_v16u __attribute__((vector_size(64), aligned(4), may_alias));

/* One register's worth of floats, per variant. GCC keeps a 64-byte vector of an AVX2 or SSE2
 * function in memory (it has no register for it), so a body written on rp_v16 would spill
 * every operation there. Bodies use instead: rp_vec (16 floats on
 * AVX-512, 8 on AVX2, 4 on the portable build), RP_VL its lanes, RP_NV = 16 / RP_VL vectors per
 * 16 floats, and RP_LDV/RP_STV (any float address). Lanes do the same IEEE operations whatever
 * their grouping, so results stay bit-identical across variants. */
typedef float rp_v8 __attribute__((vector_size(32)));
typedef float rp_v8u __attribute__((vector_size(32), aligned(4), may_alias));
typedef float rp_v4 __attribute__((vector_size(16)));
typedef float rp_v4u __attribute__((vector_size(16), aligned(4), may_alias));
#define RP_LDV(p) ((rp_vec)(*(const rp_vecu *)(const void *)(p)))
#define RP_STV(p, v) (*(rp_vecu *)(void *)(p) = (v))
/* for (v = 0; v < RP_NV; v++), unrolled, so that arrays of RP_NV vectors live in registers */
#define RP_VLOOP(v) _Pragma("GCC unroll 16") for (int v = 0; v < RP_NV; v++)
/* rp_dvec: the doubles of one register (8 on AVX-512, 4 on AVX2, 2 portable); rp_hvecu: the
 * unaligned half-register of floats that converts to one (RP_LDD: load and widen, exact). */
typedef double rp_d8 __attribute__((vector_size(64)));
typedef double rp_d4 __attribute__((vector_size(32)));
typedef double rp_d2 __attribute__((vector_size(16)));
typedef float rp_v2u __attribute__((vector_size(8), aligned(4), may_alias));
typedef double rp_d8u __attribute__((vector_size(64), aligned(8), may_alias));
typedef double rp_d4u __attribute__((vector_size(32), aligned(8), may_alias));
typedef double rp_d2u __attribute__((vector_size(16), aligned(8), may_alias));
/* GCC 12 widens a half register of floats with __builtin_convertvector in two quarter
 * conversions, an extract and an insert (four instructions for AVX-512's one vcvtps2pd from
 * memory), which made the batch norm's double sums convert-bound; the x86 variants use the
 * instruction itself. The same exact conversion either way. */
#if defined(__x86_64__) && defined(__GNUC__)
RP_TARGET_AVX512 static inline rp_d8 rp_ldd8(const float *p) { return (rp_d8)_mm512_cvtps_pd(_mm256_loadu_ps(p)); }
RP_TARGET_AVX2 static inline rp_d4 rp_ldd4(const float *p) { return (rp_d4)_mm256_cvtps_pd(_mm_loadu_ps(p)); }
#endif
static inline rp_d2 rp_ldd2(const float *p) { return __builtin_convertvector(*(const rp_v2u *)(const void *)p, rp_d2); }
#if defined(__x86_64__) && defined(__GNUC__)
#define RP_LDD(p) _Generic((rp_dvec){0}, rp_d8: rp_ldd8, rp_d4: rp_ldd4, default: rp_ldd2)((const float *)(p))
#else
#define RP_LDD(p) __builtin_convertvector(*(const rp_hvecu *)(const void *)(p), rp_dvec)
#endif
/* An rp_dvec from and to doubles at any (8-byte aligned) address. */
#define RP_LDQ(p) ((rp_dvec)(*(const rp_dvecu *)(const void *)(p)))
#define RP_STQ(p, v) (*(rp_dvecu *)(void *)(p) = (v))
/* rp_veci: the int32 lanes of an rp_vec (compare results, bit masks); rp_lane_bits: lane i
 * holds 1 << i. */
typedef int32_t rp_v16i __attribute__((vector_size(64)));
typedef int32_t rp_v8i __attribute__((vector_size(32)));
typedef int32_t rp_v4i __attribute__((vector_size(16)));
#define RP_LANE_BITS16 ((rp_v16i){1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768})
#define RP_LANE_BITS8 ((rp_v8i){1, 2, 4, 8, 16, 32, 64, 128})
#define RP_LANE_BITS4 ((rp_v4i){1, 2, 4, 8})
#define RP_VEC_SCOPE(V, VU, VI, L, BITS, D, DU, HU)                                         \
    typedef V rp_vec;                                                                       \
    typedef VU rp_vecu;                                                                     \
    typedef VI rp_veci;                                                                     \
    typedef D rp_dvec;                                                                      \
    typedef DU rp_dvecu;                                                                    \
    typedef HU rp_hvecu;                                                                    \
    enum { RP_VL = L, RP_NV = 16 / L, RP_DL = L / 2 };                                      \
    const rp_veci rp_lane_bits = BITS;                                                      \
    (void)sizeof(rp_vec), (void)sizeof(rp_vecu), (void)sizeof(rp_dvec), (void)sizeof(rp_dvecu);  \
    (void)sizeof(rp_hvecu), (void)rp_lane_bits;
#define RP_SIMD_VARIANTS(name, params)                                                      \
    RP_TARGET_AVX512 static void name##_avx512 params                                       \
    {                                                                                       \
        RP_VEC_SCOPE(rp_v16, rp_v16u, rp_v16i, 16, RP_LANE_BITS16, rp_d8, rp_d8u, rp_v8u)   \
        name##_BODY                                                                         \
    }                                                                                       \
    RP_TARGET_AVX2 static void name##_avx2 params                                           \
    {                                                                                       \
        RP_VEC_SCOPE(rp_v8, rp_v8u, rp_v8i, 8, RP_LANE_BITS8, rp_d4, rp_d4u, rp_v4u)        \
        name##_BODY                                                                         \
    }                                                                                       \
    static void name##_portable params                                                      \
    {                                                                                       \
        RP_VEC_SCOPE(rp_v4, rp_v4u, rp_v4i, 4, RP_LANE_BITS4, rp_d2, rp_d2u, rp_v2u)        \
        name##_BODY                                                                         \
    }

#define RP_SIMD_CALL(level, name, args)                                                     \
    do {                                                                                    \
        switch (level) {                                                                    \
        case RP_SIMD_AVX512: name##_avx512 args; break;                                     \
        case RP_SIMD_AVX2: name##_avx2 args; break;                                         \
        default: name##_portable args; break;                                               \
        }                                                                                   \
    } while (0)

#endif
