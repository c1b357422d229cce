#include "core/rng.h"
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
