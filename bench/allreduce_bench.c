/* The all-reduce rampart's data-parallel training uses (rp_dist_sum_f32: all-to-all of
 * chunks, rank-ordered adds, all-gather), timed for message sizes from 4 bytes to 64 MB:
 * per size the median of R calls, and the bus bandwidth 2 (N - 1) / N * bytes / time (what a
 * ring all-reduce moves per rank). One JSON line per size on rank 0's stdout.
 * Usage: mpirun -np N allreduce_bench [MAX_MB] [REPS] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_timing.h"
#include "dist/dist.h"
#include "rampart.h"

int main(int argc, char **argv)
{
    size_t max_mb = argc > 1 ? (size_t)atol(argv[1]) : 64;
    int reps = argc > 2 ? atoi(argv[2]) : 20;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_dist *d = NULL;
    if (rp_dist_create(ctx, &d) != RP_OK) {
        fprintf(stderr, "allreduce_bench: %s\n", rp_ctx_error(ctx));
        return 1;
    }
    int N = rp_dist_size(d);
    size_t max_n = max_mb * (1u << 20) / sizeof(float);
    float *buf = malloc(max_n * sizeof *buf);
    double *t = malloc((size_t)reps * sizeof *t);
    for (size_t i = 0; i < max_n; i++) buf[i] = 1.0f;
    for (size_t n = 1; n <= max_n; n *= 4) {
        for (int r = -2; r < reps; r++) { /* two warm-up calls */
            double t0 = bench_now();
            if (rp_dist_sum_f32(d, buf, n) != RP_OK) {
                fprintf(stderr, "allreduce_bench: %s\n", rp_ctx_error(ctx));
                rp_dist_abort(d, 1);
            }
            if (r >= 0) t[r] = bench_now() - t0;
        }
        qsort(t, (size_t)reps, sizeof *t, bench_cmp_double);
        double med = t[reps / 2], bytes = (double)n * sizeof(float);
        if (rp_dist_rank(d) == 0)
            printf("{\"ranks\":%d,\"bytes\":%.0f,\"median_s\":%.9f,\"bus_gb_per_s\":%.4f}\n", N, bytes, med,
                   N > 1 ? 2.0 * (N - 1) / N * bytes / med / 1e9 : 0.0);
        for (size_t i = 0; i < n; i++) buf[i] = 1.0f; /* keep the values small */
    }
    free(buf), free(t);
    rp_dist_destroy(d);
    rp_ctx_destroy(ctx);
    return 0;
}
