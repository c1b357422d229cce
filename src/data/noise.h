/* Noise conditions for evaluation (and noise augmentations for training), as in the
 * ImageNet-C family (Hendrycks & Dietterich 2019): x in [0,1], clipped to [0,1] after.
 *
 *   gaussian  x + N(0, s^2)                      s = sigma
 *   shot      Poisson(x * c) / c                 c = photon count scale (smaller: noisier)
 *   impulse   salt-and-pepper: each value set to 1 or 0 (half each) with probability a
 *   speckle   x + x * N(0, s^2)
 *
 * Every value (pixel and channel) gets its own draw, in NHWC order, from one sequential
 * stream: the noise of image i depends only on the stream state when it is reached, so
 * splitting a data set into batches differently gives the same noisy images. */
#ifndef RP_DATA_NOISE_H
#define RP_DATA_NOISE_H

#include <stdbool.h>

#include "core/rng.h"
#include "data/corrupt.h"

typedef enum rp_noise_kind {
    RP_NOISE_GAUSSIAN,
    RP_NOISE_SHOT,
    RP_NOISE_IMPULSE,
    RP_NOISE_SPECKLE,
    RP_NOISE_COUNT
} rp_noise_kind;

/* "gaussian", "shot", "impulse", "speckle". STATIC. */
const char *rp_noise_name(rp_noise_kind k);
/* Accepts the names above (and "salt-and-pepper"/"saltpepper" for impulse); false when
 * unknown. */
bool rp_noise_parse(const char *name, rp_noise_kind *out);

/* The strength (sigma, c or amount) of severity 1..5 in one of the corruption suite's
 * severity tables (data/corrupt.h: the table follows the image size, rp_corrupt_table_for).
 * The values live with the noise corruptions (data/corrupt_noise.c), one table for the
 * --noise evaluation conditions, the noise augmentations and the corruption suite. */
float rp_noise_strength(rp_noise_kind k, int severity, rp_corrupt_table t);

/* Apply noise of the given strength in place to x (B,H,W,C), drawing from rng. */
void rp_noise_apply(rp_noise_kind k, float strength, float *x, int B, int H, int W, int C, rp_rng *rng);
/* The same with the strength of severity 1..5 for this image size (rp_corrupt_table_for). */
void rp_noise_apply_severity(rp_noise_kind k, int severity, float *x, int B, int H, int W, int C, rp_rng *rng);

/* One Poisson(lambda) draw, lambda >= 0 (exact: multiplication method below 10,
 * Hormann's transformed rejection PTRS above). */
double rp_noise_poisson(rp_rng *rng, double lambda);

#endif
