/* The memory roof a kernel's bytes are judged against: read and copy bandwidth of buffers far
 * larger than the last-level cache, on 1..T threads (each thread its contiguous slice). A
 * figure taken on a buffer that fits the L3 (this machine: 32 MB) measures the cache, not
 * memory. The buffers hold non-zero data: pages of zeros can be shared by the host and read
 * from one cached page. Copy counts the bytes read plus the bytes written (the write-allocate
 * reads are not counted). Median of R passes. Built and run by bench/membw.
 * Usage: membw_bench [MB] [R] */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_timing.h"

typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4), may_alias));

static float read_slice(const float *a, size_t n)
{
    v16 s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0}; /* four chains: the adds never wait on memory */
    for (size_t i = 0; i + 64 <= n; i += 64) {
        s0 += *(const v16u *)(const void *)(a + i);
        s1 += *(const v16u *)(const void *)(a + i + 16);
        s2 += *(const v16u *)(const void *)(a + i + 32);
        s3 += *(const v16u *)(const void *)(a + i + 48);
    }
    s0 += s1 + s2 + s3;
    float t = 0.0f;
    for (int l = 0; l < 16; l++) t += s0[l];
    return t;
}

static void copy_slice(float *b, const float *a, size_t n)
{
    for (size_t i = 0; i + 16 <= n; i += 16)
        *(v16u *)(void *)(b + i) = *(const v16u *)(const void *)(a + i) + (v16){1.0f};
}

int main(int argc, char **argv)
{
    const size_t mb = argc > 1 ? (size_t)atoi(argv[1]) : 256, n = (mb << 20) / sizeof(float);
    const int R = argc > 2 ? atoi(argv[2]) : 7, T = omp_get_max_threads();
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    double *tr = malloc((size_t)R * sizeof *tr), *tc = malloc((size_t)R * sizeof *tc);
    if (!a || !b || !tr || !tc) return 1;
    for (size_t i = 0; i < n; i++) a[i] = (float)(i % 1237) * 1e-3f, b[i] = (float)(i % 977);
    printf("buffers %zu MB each, median of %d passes\n", mb, R);
    float sink = 0.0f;
    for (int t = 1; t <= T; t++) {
        for (int r = 0; r < R; r++) {
            double t0 = bench_now();
#pragma omp parallel num_threads(t) reduction(+ : sink)
            {
                size_t c = n / (size_t)t, o = c * (size_t)omp_get_thread_num();
                sink += read_slice(a + o, c);
            }
            double t1 = bench_now();
#pragma omp parallel num_threads(t)
            {
                size_t c = n / (size_t)t, o = c * (size_t)omp_get_thread_num();
                copy_slice(b + o, a + o, c);
            }
            tr[r] = t1 - t0, tc[r] = bench_now() - t1;
        }
        qsort(tr, (size_t)R, sizeof *tr, bench_cmp_double);
        qsort(tc, (size_t)R, sizeof *tc, bench_cmp_double);
        printf("%d thread%s: read %.1f GB/s, copy %.1f GB/s\n", t, t > 1 ? "s" : " ",
               (double)(n * sizeof *a) / tr[R / 2] / 1e9, 2.0 * (double)(n * sizeof *a) / tc[R / 2] / 1e9);
    }
    if (sink == 12345.0f) printf("(sink)\n"); /* keeps the reads */
    free(a), free(b), free(tr), free(tc);
    return 0;
}
