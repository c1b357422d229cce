/* Procedural layers of the weather corruptions: the diamond-square plasma fractal of fog
 * (as hendrycks/robustness and imagecorruptions draw it) and a frost texture made from the
 * same fractal and drawn ice needles, standing in for the frost photographs the originals
 * overlay (docs/corruptions.md compares the two). Randomness only from the rng passed in;
 * no allocation; single-threaded. */
#ifndef RP_DATA_WEATHER_TEXTURES_H
#define RP_DATA_WEATHER_TEXTURES_H

#include <stddef.h>

#include "core/rng.h"

/* Smallest power of two >= n (n >= 1). */
int rp_next_pow2(int n);

/* map (N, N), N a power of two: the diamond-square heightmap normalised to [0, 1] with
 * wrap-around neighbours. Starts from independent values wibble * U(-wibble, wibble) on the
 * lattice of spacing `step` (a power of two <= N; step = N is the originals' single corner,
 * there set to 0), then each finer level's points are the mean of their four neighbours plus
 * wibble * U(-wibble, wibble), wibble dividing by `decay` per level (from 100 at `step`). */
void rp_plasma_fractal(float *map, int N, int step, double decay, rp_rng *rng);

/* Floats of scratch rp_frost_texture needs for an (H, W) image. */
size_t rp_frost_texture_scratch(int H, int W);
/* tex (H, W, C) in [0, 1]: a frost layer whose crystal structure has correlation length
 * about `grain` pixels (the photographs' at the crop scale each table's original uses), mean
 * brightness, contrast and blue tint drawn per image within the range of the photographs.
 * C = 1 gives its luminance. */
void rp_frost_texture(float *tex, int H, int W, int C, double grain, rp_rng *rng, float *scratch);

#endif
