/* Process-wide platform settings and facts: threads and the BLAS in use. */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>

#include "kernels/cpu.h"
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

double rp_fma_peak(int threads) { return rp_fma_peak_gflops(threads); }

const char *rp_blas_info(void)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "%s; core %s", openblas_get_config(), openblas_get_corename());
    return buf;
}
