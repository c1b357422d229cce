#include "kernels/cpu.h"

#include <stdlib.h>
#include <string.h>

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
