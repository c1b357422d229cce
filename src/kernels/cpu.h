/* Which SIMD fast paths the kernels take, chosen at run time from the CPU's features (the
 * build targets plain x86-64; the fast paths are compiled with target attributes).
 *
 * Every fast path computes each output with the same operations in the same order as the
 * portable code (no FMA contraction: -ffp-contract=off under -std=c11), so the results are
 * bit-identical whichever path runs; tests/test_kernels_fast.c checks that op by op. */
#ifndef RP_KERNELS_CPU_H
#define RP_KERNELS_CPU_H

typedef enum rp_simd {
    RP_SIMD_PORTABLE = 0, /* what the compiler makes of plain C for the build's target */
    RP_SIMD_AVX2 = 1,     /* AVX2 + FMA (8 floats) */
    RP_SIMD_AVX512 = 2,   /* AVX-512 F/BW/DQ/VL (16 floats) */
} rp_simd;

/* The level in use: the best the CPU supports, capped by $RAMPART_SIMD (portable, avx2,
 * avx512) when set, or by rp_simd_force. */
rp_simd rp_simd_level(void);
/* Process-wide cap for tests and benchmarks (never above what the CPU supports);
 * returns the level now in use. */
rp_simd rp_simd_force(rp_simd level);
const char *rp_simd_name(rp_simd level);

/* The FP32 multiply-add rate this machine sustains at the level in use, measured: every one of
 * `threads` OpenMP threads runs twelve independent chains of vector FMAs from registers for
 * about 0.1 s; best of three, in GFLOP/s (2 per FMA lane). 0 at the portable level. The
 * roofline that `rampart bench --profile` holds a step against. */
double rp_fma_peak_gflops(int threads);
/* The same for AVX512_BF16 dot products (VDPBF16PS: two BF16 products per FP32 lane, 4 FLOP),
 * the rate `--precision bf16` products can reach; 0 where the CPU has no AVX512_BF16 or the level
 * in use is below AVX-512. Twice the FMA peak on AMD Zen 4; about equal to it on CPUs that run
 * VDPBF16PS at their FP32 FMA rate, where BF16 products cannot pay for their conversions. */
double rp_bf16_peak_gflops(int threads);

#endif
