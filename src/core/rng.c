#include "core/rng.h"

#include <math.h>

void rp_rng_seed(rp_rng *r, uint64_t seed, uint64_t stream)
{
    r->state = 0;
    r->inc = (stream << 1u) | 1u;
    rp_rng_u32(r);
    r->state += seed;
    rp_rng_u32(r);
}

static uint64_t splitmix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

uint64_t rp_rng_key(uint64_t seed, uint64_t k1, uint64_t k2)
{
    return splitmix64(splitmix64(splitmix64(seed) ^ k1) ^ k2);
}

void rp_rng_seed_key(rp_rng *r, uint64_t seed, uint64_t stream, uint64_t k1, uint64_t k2)
{
    rp_rng_seed(r, rp_rng_key(seed, k1, k2), stream);
}

uint32_t rp_rng_u32(rp_rng *r)
{
    uint64_t old = r->state;
    r->state = old * 6364136223846793005ULL + r->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31));
}

float rp_rng_uniform(rp_rng *r) { return (float)(rp_rng_u32(r) >> 8) * (1.0f / 16777216.0f); }

uint32_t rp_rng_below(rp_rng *r, uint32_t n)
{
    /* Lemire-free rejection: unbiased and simple. */
    uint32_t threshold = (uint32_t)(-n) % n;
    for (;;) {
        uint32_t v = rp_rng_u32(r);
        if (v >= threshold) return v % n;
    }
}

float rp_rng_normal(rp_rng *r)
{
    double u1 = ((double)rp_rng_u32(r) + 1.0) / 4294967297.0; /* (0, 1] */
    double u2 = (double)rp_rng_u32(r) / 4294967296.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
