#include <cblas.h>
#include <omp.h>

#include "rampart.h"

void rp_set_threads(int threads)
{
    if (threads < 1) threads = 1;
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
}
