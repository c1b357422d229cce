/* What the C benchmark programs in bench/ share: a monotonic clock and a comparison for qsort of
 * doubles (medians). */
#ifndef RP_BENCH_TIMING_H
#define RP_BENCH_TIMING_H

#include <time.h>

static inline double bench_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#endif
