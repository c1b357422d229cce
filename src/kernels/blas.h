/* OpenBLAS thread control around OpenMP regions: the pthread build of OpenBLAS must run on
 * one thread when called from inside an OpenMP region, or the two thread pools fight over
 * the cores. rp_blas_single_begin() returns the previous count for rp_blas_single_end(). */
#ifndef RP_KERNELS_BLAS_H
#define RP_KERNELS_BLAS_H

#include <cblas.h>

static inline int rp_blas_single_begin(void)
{
    int t = openblas_get_num_threads();
    if (t != 1) openblas_set_num_threads(1);
    return t;
}

static inline void rp_blas_single_end(int previous)
{
    if (previous != 1) openblas_set_num_threads(previous);
}

#endif
