/* Procedural layers of the weather corruptions (see weather_textures.h). */
#include "data/weather_textures.h"

#include <math.h>
#include <string.h>

#include "core/status.h"
#include "data/corrupt_internal.h"

int rp_next_pow2(int n)
{
    int p = 1;
    while (p < n) p *= 2;
    return p;
}

static inline float wibbled(double mean, double wibble, rp_rng *rng)
{
    return (float)(mean + wibble * wibble * (2.0 * rp_rng_uniform(rng) - 1.0));
}

void rp_plasma_fractal(float *map, int N, int step, double decay, rp_rng *rng)
{
    RP_ASSERT(N >= 1 && (N & (N - 1)) == 0 && step >= 1 && step <= N && (step & (step - 1)) == 0);
#define M(y, x) map[(size_t)(y) * N + (x)]
    double wibble = 100;
    if (step == N) M(0, 0) = 0;
    else
        for (int y = 0; y < N; y += step)
            for (int x = 0; x < N; x += step) M(y, x) = wibbled(0, wibble, rng);
    for (int s = step; s >= 2; s /= 2, wibble /= decay) {
        const int h = s / 2;
        /* squares: a cell's centre from its four corners */
        for (int y = h; y < N; y += s)
            for (int x = h; x < N; x += s) {
                int y0 = y - h, y1 = (y + h) % N, x0 = x - h, x1 = (x + h) % N;
                M(y, x) = wibbled((M(y0, x0) + M(y1, x0) + M(y0, x1) + M(y1, x1)) / 4.0, wibble, rng);
            }
        /* diamonds: edge midpoints from the two centres and two corners beside them */
        for (int y = 0; y < N; y += s)
            for (int x = h; x < N; x += s) {
                double sum = M((y - h + N) % N, x) + M(y + h, x) + M(y, x - h) + M(y, (x + h) % N);
                M(y, x) = wibbled(sum / 4.0, wibble, rng);
            }
        for (int y = h; y < N; y += s)
            for (int x = 0; x < N; x += s) {
                double sum = M(y, (x - h + N) % N) + M(y, x + h) + M(y - h, x) + M((y + h) % N, x);
                M(y, x) = wibbled(sum / 4.0, wibble, rng);
            }
    }
#undef M
    const size_t n = (size_t)N * N;
    float lo = map[0], hi = map[0];
    for (size_t i = 1; i < n; i++) {
        lo = map[i] < lo ? map[i] : lo;
        hi = map[i] > hi ? map[i] : hi;
    }
    float inv = hi > lo ? 1.0f / (hi - lo) : 0.0f;
    for (size_t i = 0; i < n; i++) map[i] = (map[i] - lo) * inv;
}

/* ------------------------------------------------------------------------------------------ */
/* Frost. The six photographs (imagecorruptions' frost1-6; frost2 and frost3 are one file, and
 * frost6 is never drawn) measured at the originals' crop scales: mean luminance 0.47-0.81,
 * standard deviation within a crop 0.04-0.14, blue tint from slight (R 6/255 below the
 * luminance, B 9 above) to strong (R 52 below, G 19 and B 35 above), and correlation
 * length (lag where the autocorrelation falls to 1/2) 1-7 px at CIFAR's 0.2 scale, 2-11 at
 * Tiny's 0.3, 6-40 at imagecorruptions' 1.1. The texture: a plasma fractal started from a
 * random lattice of spacing 1-2 grain (rounded up to a power of two) (cloudy ice), plus straight ice needles with side
 * branches at 60 degrees, plus pixel grain, the sum standardised to the drawn mean and
 * contrast. */

size_t rp_frost_texture_scratch(int H, int W)
{
    int N = rp_next_pow2(H > W ? H : W);
    if (N < 64) N = 64; /* room for the largest lattice spacing at small images */
    return (size_t)N * N + (size_t)H * W;
}

/* needle from (y, x) along angle a for len pixels into lines (H, W), branching once per
 * `every` steps at +-60 degrees with a third of the remaining length (one level deep) */
static void needle(float *lines, int H, int W, double y, double x, double a, double len, double every, int depth,
                   rp_rng *rng)
{
    double dy = sin(a), dx = cos(a);
    for (int t = 0; t < (int)len; t++, y += dy, x += dx) {
        int iy = (int)floor(y + 0.5), ix = (int)floor(x + 0.5);
        if (iy < 0 || iy >= H || ix < 0 || ix >= W) return;
        lines[(size_t)iy * W + ix] = 1.0f;
        if (depth == 0 && t > 0 && every >= 1 && t % (int)every == 0 && rp_rng_uniform(rng) < 0.6f) {
            double side = rp_rng_uniform(rng) < 0.5f ? 1.0472 : -1.0472;
            needle(lines, H, W, y, x, a + side, (len - t) / 3.0, every, 1, rng);
        }
    }
}

void rp_frost_texture(float *tex, int H, int W, int C, double grain, rp_rng *rng, float *scratch)
{
    int N = rp_next_pow2(H > W ? H : W);
    if (N < 64) N = 64;
    int L = rp_next_pow2((int)ceil(grain * (1.0 + rp_rng_uniform(rng)))); /* spacing 1-2 grain, pow2 */
    if (L > N) L = N;
    if (L < 2) L = 2;
    const size_t P = (size_t)H * W;
    float *map = scratch, *lines = scratch + (size_t)N * N;
    rp_plasma_fractal(map, N, L, 1.6 + 0.6 * rp_rng_uniform(rng), rng);
    memset(lines, 0, P * sizeof(float));
    double area = (double)H * W, per = 16.0 * grain * grain;
    int needles = (int)(area / per * (0.5 + rp_rng_uniform(rng))) + 1;
    for (int k = 0; k < needles; k++) {
        double y = H * rp_rng_uniform(rng), x = W * rp_rng_uniform(rng), a = 6.2831853 * rp_rng_uniform(rng);
        double len = grain * (1.0 + 3.0 * rp_rng_uniform(rng));
        needle(lines, H, W, y, x, a, len, grain / 2.0, 0, rng);
    }
    /* v = standardised cloud + 1.5 needles + 0.4 N(0, 1) grain (the photographs' pixel-scale
     * roughness: mean |horizontal step| / sd 0.43 at every original's scale), then standardised
     * to the drawn mean and contrast */
    double s = 0, s2 = 0;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) s += map[(size_t)y * N + x];
    double mz = s / area;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) s2 += (map[(size_t)y * N + x] - mz) * (map[(size_t)y * N + x] - mz);
    double iz = s2 > 0 ? 1.0 / sqrt(s2 / area) : 0.0;
    s = s2 = 0;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            float *v = &lines[(size_t)y * W + x];
            *v = (float)((map[(size_t)y * N + x] - mz) * iz + 1.5 * *v + 0.4 * rp_rng_normal(rng));
            s += *v;
            s2 += (double)*v * *v;
        }
    double mv = s / area, sv = sqrt(fmax(s2 / area - mv * mv, 1e-12));
    double mean = 0.45 + 0.37 * rp_rng_uniform(rng), sd = 0.045 + 0.085 * rp_rng_uniform(rng);
    double t = rp_rng_uniform(rng);
    t *= t; /* most photographs slightly blue, one strongly */
    const float tint[3] = {(float)(-0.02 - 0.18 * t), (float)(0.075 * t), (float)(0.035 + 0.1 * t)};
    for (size_t p = 0; p < P; p++) {
        float f = (float)(mean + sd * (lines[p] - mv) / sv);
        if (C == 1) tex[p] = rp_clip01(f);
        else
            for (int c = 0; c < 3; c++) tex[3 * p + c] = rp_clip01(f + tint[c]);
    }
}
