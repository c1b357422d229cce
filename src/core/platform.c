/* Process-wide platform settings and facts: threads and the BLAS in use. */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>

#include "rampart.h"

void rp_set_threads(int threads)
{
    if (threads < 1) threads = 1;
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
}

const char *rp_blas_info(void)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "%s; core %s", openblas_get_config(), openblas_get_corename());
    return buf;
}
