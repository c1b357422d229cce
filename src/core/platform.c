/* Process-wide platform settings and facts: threads and the BLAS in use. */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>

#include "kernels/cpu.h"
#include "core/status.h"
#include "kernels/gemm_direct.h"
#include "rampart.h"

/* OpenBLAS runs on one thread: the kernels split their GEMMs over the OpenMP threads
 * (src/kernels/gemm.h), so one thread pool serves everything and the two never compete. */
void rp_set_threads(int threads)
{
    if (threads < 1) threads = 1;
    omp_set_num_threads(threads);
    openblas_set_num_threads(1);
}

const char *rp_simd_info(void) { return rp_simd_name(rp_simd_level()); }

const char *rp_kernel_info(void)
{
    return gemm_direct_applies() ? "gemm_direct; conv 3x3 stride 1: Winograd F(2x2,3x3)"
                                 : "OpenBLAS sgemm; conv 3x3 stride 1: im2col + sgemm";
}

bool rp_precision_supported(rp_precision precision)
{
    return precision == RP_PRECISION_FP32 || (precision == RP_PRECISION_BF16 && gemm_direct_bf16_supported());
}

rp_status rp_set_precision(rp_ctx *ctx, rp_precision precision)
{
    const char *name = rp_precision_name(precision);
    if (!name) return rp_fail(ctx, RP_ERR_ARG, "precision %d: not one of fp32, bf16", (int)precision);
    if (!rp_precision_supported(precision))
        return rp_fail(ctx, RP_ERR_ARG, "precision %s: this CPU (%s level) has no AVX-512 with BF16 (AVX512_BF16)",
                       name, rp_simd_info());
    bool ok = gemm_direct_set_bf16(precision == RP_PRECISION_BF16);
    RP_ASSERT(ok);
    return RP_OK;
}

rp_precision rp_get_precision(void) { return gemm_direct_bf16() ? RP_PRECISION_BF16 : RP_PRECISION_FP32; }

const char *rp_precision_name(rp_precision precision)
{
    switch (precision) {
    case RP_PRECISION_FP32: return "fp32";
    case RP_PRECISION_BF16: return "bf16";
    default: return NULL;
    }
}

double rp_fma_peak(int threads) { return rp_fma_peak_gflops(threads); }

double rp_bf16_peak(int threads) { return rp_bf16_peak_gflops(threads); }

const char *rp_blas_info(void)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "%s; core %s", openblas_get_config(), openblas_get_corename());
    return buf;
}
