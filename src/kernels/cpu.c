#include "kernels/cpu.h"

#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/simd.h"

/* -1: not detected yet. Detection is idempotent, so a race between threads is harmless. */
static int detected = -1, forced = -1;

static rp_simd detect(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return RP_SIMD_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return RP_SIMD_AVX2;
#endif
    return RP_SIMD_PORTABLE;
}

static int from_env(void)
{
    const char *e = getenv("RAMPART_SIMD");
    if (!e) return -1;
    if (!strcmp(e, "portable")) return RP_SIMD_PORTABLE;
    if (!strcmp(e, "avx2")) return RP_SIMD_AVX2;
    if (!strcmp(e, "avx512")) return RP_SIMD_AVX512;
    return -1;
}

rp_simd rp_simd_level(void)
{
    if (detected < 0) {
        int d = (int)detect(), e = from_env();
        detected = e >= 0 && e < d ? e : d;
    }
    return (rp_simd)(forced >= 0 && forced < detected ? forced : detected);
}

rp_simd rp_simd_force(rp_simd level)
{
    forced = (int)level;
    return rp_simd_level();
}

const char *rp_simd_name(rp_simd level)
{
    switch (level) {
    case RP_SIMD_AVX512: return "avx512";
    case RP_SIMD_AVX2: return "avx2";
    default: return "portable";
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* Twelve chains, so that the FMA units, not a chain's latency, bound the loop; the result is
 * returned so that nothing is optimised away. */
#define FMA_CHAINS(T, SET1, SETM, FMA, ADD, REDUCE)                                         \
    T a0 = SET1(1.0f), a1 = SET1(1.1f), a2 = SET1(1.2f), a3 = SET1(1.3f), a4 = SET1(1.4f);  \
    T a5 = SET1(1.5f), a6 = SET1(1.6f), a7 = SET1(1.7f), a8 = SET1(1.8f), a9 = SET1(1.9f);  \
    T a10 = SET1(2.0f), a11 = SET1(2.1f), m = SETM(0.999999f), c = SETM(1e-7f);             \
    for (long i = 0; i < iters; i++) {                                                      \
        a0 = FMA(a0, m, c), a1 = FMA(a1, m, c), a2 = FMA(a2, m, c), a3 = FMA(a3, m, c);     \
        a4 = FMA(a4, m, c), a5 = FMA(a5, m, c), a6 = FMA(a6, m, c), a7 = FMA(a7, m, c);     \
        a8 = FMA(a8, m, c), a9 = FMA(a9, m, c), a10 = FMA(a10, m, c), a11 = FMA(a11, m, c); \
    }                                                                                       \
    T s = ADD(ADD(ADD(a0, a1), ADD(a2, a3)), ADD(ADD(a4, a5), ADD(a6, a7)));                \
    s = ADD(s, ADD(ADD(a8, a9), ADD(a10, a11)));                                            \
    return (double)REDUCE(s);

RP_TARGET_AVX512 static double fma_avx512(long iters)
{
    FMA_CHAINS(__m512, _mm512_set1_ps, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, _mm512_reduce_add_ps)
}

RP_TARGET_AVX2 static float sum8(__m256 v) /* clang: an __m256 argument needs AVX enabled */
{
    float f[8];
    memcpy(f, &v, sizeof f);
    return f[0] + f[1] + f[2] + f[3] + f[4] + f[5] + f[6] + f[7];
}

RP_TARGET_AVX2 static double fma_avx2(long iters)
{
    FMA_CHAINS(__m256, _mm256_set1_ps, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, sum8)
}

/* The same twelve chains of VDPBF16PS: each adds 16 lanes' products of two BF16 pairs (4 FLOP
 * per lane). The operands stay BF16 from registers, as in gemm_direct's BF16 tiles. */
#define RP_TARGET_BF16 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")))

RP_TARGET_BF16 static __m512 bf16_pairs(float f) /* f rounded down to BF16, in all 32 halves */
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    return (__m512)_mm512_set1_epi16((short)(bits >> 16));
}

RP_TARGET_BF16 static __m512 dot_bf16_step(__m512 acc, __m512 m, __m512 c)
{
    return _mm512_dpbf16_ps(acc, (__m512bh)m, (__m512bh)c);
}

RP_TARGET_BF16 static double dot_bf16(long iters)
{
    FMA_CHAINS(__m512, _mm512_set1_ps, bf16_pairs, dot_bf16_step, _mm512_add_ps, _mm512_reduce_add_ps)
}
#endif

/* kind 0: FP32 FMA at the level in use; 1: AVX512_BF16 dot products. */
static double peak_gflops(int threads, int kind)
{
#if defined(__x86_64__) && defined(__GNUC__)
    rp_simd level = rp_simd_level();
    if (level == RP_SIMD_PORTABLE || threads < 1) return 0.0;
    if (kind == 1 && (level != RP_SIMD_AVX512 || !__builtin_cpu_supports("avx512bf16"))) return 0.0;
    const int lanes = level == RP_SIMD_AVX512 ? 16 : 8, flop_per_lane = kind == 1 ? 4 : 2;
    const long iters = 20000000 / lanes * 4; /* about 0.1 s at this kind of machine's rate */
    double best = 0.0, sink = 0.0;
    for (int r = 0; r < 3; r++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
#pragma omp parallel num_threads(threads) reduction(+ : sink)
        sink += kind == 1 ? dot_bf16(iters) : level == RP_SIMD_AVX512 ? fma_avx512(iters) : fma_avx2(iters);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double dt = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        double rate = flop_per_lane * lanes * 12.0 * (double)iters * threads / dt * 1e-9;
        if (rate > best && sink == sink) best = rate; /* sink read: the loops are not dead code */
    }
    return best;
#else
    (void)threads;
    (void)kind;
    return 0.0;
#endif
}

double rp_fma_peak_gflops(int threads) { return peak_gflops(threads, 0); }

double rp_bf16_peak_gflops(int threads) { return peak_gflops(threads, 1); }
