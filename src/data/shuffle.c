#include "core/rng.h"
#include "core/status.h"
#include "rampart.h"

/* Fisher-Yates over a stream chosen by (seed, round): epoch k's order never depends on
 * how many random numbers other parts of training drew. */
void rp_permutation(int *idx, int n, uint64_t seed, uint64_t round)
{
    rp_rng r;
    rp_rng_seed(&r, seed ^ (round * 0x9E3779B97F4A7C15ULL), RP_STREAM_SHUFFLE);
    for (int i = 0; i < n; i++) idx[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rp_rng_below(&r, (uint32_t)i + 1);
        int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

/* A stream of its own per (seed, round): resample k of a bootstrap never depends on how many
 * the others drew. */
rp_status rp_resample(rp_ctx *ctx, int *idx, int count, int n, uint64_t seed, uint64_t round)
{
    if (!idx) return rp_fail(ctx, RP_ERR_ARG, "rp_resample: idx is NULL");
    if (count < 0) return rp_fail(ctx, RP_ERR_ARG, "rp_resample: count %d is negative", count);
    if (n < 1) return rp_fail(ctx, RP_ERR_ARG, "rp_resample: n %d: nothing to draw from (n >= 1)", n);
    rp_rng r;
    rp_rng_seed_key(&r, seed, RP_STREAM_SHUFFLE, round, (uint64_t)n);
    for (int i = 0; i < count; i++) idx[i] = (int)rp_rng_below(&r, (uint32_t)n);
    return RP_OK;
}

rp_status rp_random_uniform(rp_ctx *ctx, float *x, size_t n, uint64_t seed, uint64_t round)
{
    if (!x && n > 0) return rp_fail(ctx, RP_ERR_ARG, "rp_random_uniform: x is NULL");
    rp_rng r;
    rp_rng_seed_key(&r, seed, RP_STREAM_SHUFFLE, round, ~(uint64_t)0); /* k2: apart from rp_resample's n */
    for (size_t i = 0; i < n; i++) x[i] = rp_rng_uniform(&r);
    return RP_OK;
}
