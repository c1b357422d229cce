/* Seeded random streams (PCG32, O'Neill 2014): one stream per purpose
 * (init, shuffle, augment, dropout, attack) so that adding draws in one place
 * never changes another. */
#ifndef RP_CORE_RNG_H
#define RP_CORE_RNG_H

#include <stdint.h>

typedef struct rp_rng {
    uint64_t state;
    uint64_t inc; /* stream selector, always odd */
} rp_rng;

enum { RP_STREAM_INIT = 1, RP_STREAM_SHUFFLE, RP_STREAM_AUGMENT, RP_STREAM_DROPOUT,
       RP_STREAM_ATTACK, RP_STREAM_NOISE, RP_STREAM_EXPLAIN };

void rp_rng_seed(rp_rng *r, uint64_t seed, uint64_t stream);
/* A stream keyed by what it is for: (seed, stream, k1, k2), e.g. (seed, RP_STREAM_AUGMENT,
 * epoch, example index). Draws that concern one example come from that example's own
 * stream, so they do not depend on how examples are split into batches, threads or
 * processes. Different keys give unrelated streams (the key is hashed, splitmix64). */
void rp_rng_seed_key(rp_rng *r, uint64_t seed, uint64_t stream, uint64_t k1, uint64_t k2);
/* The 64-bit key rp_rng_seed_key hashes (seed, k1, k2) to; a key can be the seed of further
 * keys, so a stream keyed by more than two numbers is rp_rng_seed_key(r, rp_rng_key(seed, a, b),
 * stream, c, d). */
uint64_t rp_rng_key(uint64_t seed, uint64_t k1, uint64_t k2);
uint32_t rp_rng_u32(rp_rng *r);
/* Uniform in [0, 1). */
float rp_rng_uniform(rp_rng *r);
/* Uniform integer in [0, n). */
uint32_t rp_rng_below(rp_rng *r, uint32_t n);
/* Standard normal (Box-Muller, one value per call). */
float rp_rng_normal(rp_rng *r);

#endif
