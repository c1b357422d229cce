/* Corruptions of the weather family (see data/corrupt.h): snow, frost, fog, brightness,
 * spatter. Parameter rows per table follow hendrycks/robustness' make_cifar_c.py (CIFAR),
 * make_tinyimagenet_c.py (Tiny) and imagecorruptions 1.1.2 (ImageNet); the 28-px rows are
 * CIFAR's with pixel lengths scaled by 28/32 where docs/corruptions.md says so. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/corrupt_internal.h"
#include "data/imgops.h"
#include "data/weather_textures.h"

#define NT RP_CTABLE_COUNT

/* ------------------------------------------------------------------------------------------ */
/* brightness: HSV V + k (grayscale: x + k)                                                    */

static const float BRIGHTNESS[NT][5] = {
    [RP_CTABLE_28] = {0.05f, 0.1f, 0.15f, 0.2f, 0.3f},
    [RP_CTABLE_CIFAR] = {0.05f, 0.1f, 0.15f, 0.2f, 0.3f},
    [RP_CTABLE_TINY] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f},
    [RP_CTABLE_IMAGENET] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f},
};

size_t rp_cx_brightness_scratch(int H, int W, int C) { (void)H; (void)W; (void)C; return 0; }

void rp_cx_brightness(const rp_corrupt_job *j)
{
    const float k = BRIGHTNESS[j->table][j->severity - 1];
    const size_t P = (size_t)j->H * j->W;
    if (j->C == 1) {
        for (size_t p = 0; p < P; p++) j->img[p] = rp_clip01(j->img[p] + k);
        return;
    }
    rp_img_rgb2hsv(j->img, j->img, P);
    for (size_t p = 0; p < P; p++) j->img[3 * p + 2] = rp_clip01(j->img[3 * p + 2] + k);
    rp_img_hsv2rgb(j->img, j->img, P);
    for (size_t i = 0; i < 3 * P; i++) j->img[i] = rp_clip01(j->img[i]);
}

/* ------------------------------------------------------------------------------------------ */
/* fog: x + k0 plasma (diamond-square, wibble decay k1, map the next power of two >= the
 * longer side, its top-left H x W), rescaled by max(x) / (max(x) + k0)                       */

static const float FOG[NT][5][2] = {
    [RP_CTABLE_28] = {{0.2f, 3}, {0.5f, 3}, {0.75f, 2.5f}, {1, 2}, {1.5f, 1.75f}},
    [RP_CTABLE_CIFAR] = {{0.2f, 3}, {0.5f, 3}, {0.75f, 2.5f}, {1, 2}, {1.5f, 1.75f}},
    [RP_CTABLE_TINY] = {{0.4f, 3}, {0.7f, 3}, {1, 2.5f}, {1.5f, 2}, {2, 1.75f}},
    [RP_CTABLE_IMAGENET] = {{1.5f, 2}, {2, 2}, {2.5f, 1.7f}, {2.5f, 1.5f}, {3, 1.4f}},
};

size_t rp_cx_fog_scratch(int H, int W, int C)
{
    (void)C;
    size_t N = (size_t)rp_next_pow2(H > W ? H : W);
    return N * N;
}

void rp_cx_fog(const rp_corrupt_job *j)
{
    const int H = j->H, W = j->W, C = j->C, N = rp_next_pow2(H > W ? H : W);
    const float *k = FOG[j->table][j->severity - 1];
    const size_t X = (size_t)H * W * C;
    float *map = j->scratch;
    rp_plasma_fractal(map, N, N, k[1], j->rng);
    float top = 0;
    for (size_t i = 0; i < X; i++) top = j->img[i] > top ? j->img[i] : top;
    const float scale = top / (top + k[0]);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            float f = k[0] * map[(size_t)y * N + x], *px = j->img + ((size_t)y * W + x) * C;
            for (int c = 0; c < C; c++) px[c] = rp_clip01((px[c] + f) * scale);
        }
}

/* ------------------------------------------------------------------------------------------ */
/* frost: k0 x + k1 frost. The originals blend in a random crop of one of five frost
 * photographs (imagecorruptions at 1.1x their size; CIFAR's original at 0.2x, Tiny's at
 * 0.3x); we draw a procedural frost texture instead (weather_textures.h) whose crystal
 * grain matches the photographs' at that scale (docs/corruptions.md).                        */

static const float FROST[NT][5][2] = {
    /* 28 px: CIFAR's image weights, frost weights rising at every step (CIFAR's severity 4
       takes image away without adding frost, and lands closer to the clean image than 3) */
    [RP_CTABLE_28] = {{1, 0.2f}, {1, 0.3f}, {0.9f, 0.4f}, {0.85f, 0.5f}, {0.75f, 0.6f}},
    [RP_CTABLE_CIFAR] = {{1, 0.2f}, {1, 0.3f}, {0.9f, 0.4f}, {0.85f, 0.4f}, {0.75f, 0.45f}},
    [RP_CTABLE_TINY] = {{1, 0.3f}, {0.9f, 0.4f}, {0.8f, 0.45f}, {0.75f, 0.5f}, {0.7f, 0.55f}},
    [RP_CTABLE_IMAGENET] = {{1, 0.4f}, {0.8f, 0.6f}, {0.7f, 0.7f}, {0.65f, 0.7f}, {0.6f, 0.75f}},
};
/* the photographs' correlation length in pixels at each original's scale (median of five) */
static const double FROST_GRAIN[NT] = {
    [RP_CTABLE_28] = 3.0 * 28 / 32, [RP_CTABLE_CIFAR] = 3.0, [RP_CTABLE_TINY] = 6.0, [RP_CTABLE_IMAGENET] = 19.0};

size_t rp_cx_frost_scratch(int H, int W, int C) { return (size_t)H * W * C + rp_frost_texture_scratch(H, W); }

void rp_cx_frost(const rp_corrupt_job *j)
{
    const float *k = FROST[j->table][j->severity - 1];
    const size_t X = (size_t)j->H * j->W * j->C;
    float *tex = j->scratch;
    rp_frost_texture(tex, j->H, j->W, j->C, FROST_GRAIN[j->table], j->rng, tex + X);
    for (size_t i = 0; i < X; i++) j->img[i] = rp_clip01(k[0] * j->img[i] + k[1] * tex[i]);
}

/* ------------------------------------------------------------------------------------------ */
/* snow: a layer N(mean, sd) zoomed by z about the centre, zeroed below a threshold, clipped,
 * motion-blurred (radius, sigma, angle U(-135, -45) degrees) and rounded to 8 bits, added to
 * the image twice (as is and turned by 180 degrees) after the image is whitened:
 * b x + (1 - b) max(x, 1.5 gray(x) + 0.5). ImageMagick's motion blur in the CIFAR and Tiny
 * originals is imagecorruptions' shift-and-add here too (it was written to imitate it); their
 * layer goes through an 8-bit PNG before the blur (truncated) and their zoom keeps the
 * centre rows (centre trim).                                                                  */

typedef struct snow_row {
    float mean, sd, zoom, threshold;
    int radius;
    float sigma, blend;
} snow_row;

static const snow_row SNOW[NT][5] = {
    [RP_CTABLE_28] = {{0.1f, 0.2f, 1, 0.6f, 7, 2.625f, 0.95f},
                      {0.1f, 0.2f, 1, 0.5f, 9, 3.5f, 0.9f},
                      {0.15f, 0.3f, 1.75f, 0.55f, 9, 3.5f, 0.9f},
                      {0.25f, 0.3f, 2.25f, 0.6f, 11, 5.25f, 0.85f},
                      {0.3f, 0.3f, 1.25f, 0.65f, 12, 10.5f, 0.8f}},
    [RP_CTABLE_CIFAR] = {{0.1f, 0.2f, 1, 0.6f, 8, 3, 0.95f},
                         {0.1f, 0.2f, 1, 0.5f, 10, 4, 0.9f},
                         {0.15f, 0.3f, 1.75f, 0.55f, 10, 4, 0.9f},
                         {0.25f, 0.3f, 2.25f, 0.6f, 12, 6, 0.85f},
                         {0.3f, 0.3f, 1.25f, 0.65f, 14, 12, 0.8f}},
    [RP_CTABLE_TINY] = {{0.1f, 0.2f, 1, 0.6f, 8, 3, 0.8f},
                        {0.1f, 0.2f, 1, 0.5f, 10, 4, 0.8f},
                        {0.15f, 0.3f, 1.75f, 0.55f, 10, 4, 0.7f},
                        {0.25f, 0.3f, 2.25f, 0.6f, 12, 6, 0.65f},
                        {0.3f, 0.3f, 1.25f, 0.65f, 14, 12, 0.6f}},
    [RP_CTABLE_IMAGENET] = {{0.1f, 0.3f, 3, 0.5f, 10, 4, 0.8f},
                            {0.2f, 0.3f, 2, 0.5f, 12, 4, 0.7f},
                            {0.55f, 0.3f, 4, 0.9f, 12, 8, 0.7f},
                            {0.55f, 0.3f, 4.5f, 0.85f, 12, 8, 0.65f},
                            {0.55f, 0.3f, 2.5f, 0.85f, 12, 12, 0.55f}},
};

size_t rp_cx_snow_scratch(int H, int W, int C)
{
    (void)C;
    return 2 * (size_t)H * W;
}

void rp_cx_snow(const rp_corrupt_job *j)
{
    const int H = j->H, W = j->W, C = j->C;
    const snow_row *r = &SNOW[j->table][j->severity - 1];
    const size_t P = (size_t)H * W;
    const bool original = j->table != RP_CTABLE_IMAGENET; /* hendrycks/robustness' variant */
    float *a = j->scratch, *b = a + P;
    for (size_t p = 0; p < P; p++) a[p] = r->mean + r->sd * rp_rng_normal(j->rng);
    rp_img_clipped_zoom(b, a, H, W, 1, r->zoom, original);
    for (size_t p = 0; p < P; p++) b[p] = b[p] < r->threshold ? 0.0f : rp_clip01(b[p]);
    if (original) rp_img_quantize_u8(b, P, false);
    double angle = -135.0 + 90.0 * rp_rng_uniform(j->rng);
    rp_img_motion_blur(a, b, H, W, 1, r->radius, r->sigma, angle);
    rp_img_quantize_u8(a, P, true);
    const float blend = r->blend;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            size_t p = (size_t)y * W + x;
            float *px = j->img + p * C, flake = a[p] + a[P - 1 - p]; /* the layer and it turned by 180 */
            float g = C == 3 ? 0.299f * px[0] + 0.587f * px[1] + 0.114f * px[2] : px[0];
            float white = 1.5f * g + 0.5f;
            for (int c = 0; c < C; c++) {
                float v = blend * px[c] + (1 - blend) * (px[c] > white ? px[c] : white);
                px[c] = rp_clip01(v + flake);
            }
        }
}
/* ------------------------------------------------------------------------------------------ */
/* spatter: a liquid layer gaussian(N(mean, sd), sigma) zeroed below a threshold. Water
 * (rows with mud = 0): its 8-bit Canny edges, the distance to them (truncated at 20, box
 * blurred, histogram-equalised, embossed, box blurred again) times the layer, normalised to
 * its maximum times `gain`, adds pale turquoise. Mud: where the layer exceeds the threshold,
 * blurred by `gain` and kept where >= 0.8, the image turns mud brown. The OpenCV steps are
 * written out below (cv_*) as OpenCV computes them on 8-bit images: Sobel-L1 Canny with
 * OpenCV's non-maximum suppression and 8-connected hysteresis, the 5x5 chamfer distance
 * (1, 1.4, 2.1969) that cv2.distanceTransform(DIST_L2, 5) uses, equalizeHist's table, and
 * BORDER_REFLECT_101 for the box blurs and the emboss. Grayscale adds the colour's luminance. */

typedef struct spatter_row {
    float mean, sd, sigma, threshold, gain;
    int mud;
} spatter_row;

static const spatter_row SPATTER[NT][5] = {
    /* 28 px: water at every severity, its coverage and strength growing (CIFAR's 4 and 5 are
       dark mud, which darkens what is already black on Fashion-MNIST's background and lands
       closer to the clean image than 3) */
    [RP_CTABLE_28] = {{0.62f, 0.1f, 0.7f, 0.7f, 0.5f, 0},
                      {0.65f, 0.1f, 0.8f, 0.7f, 0.5f, 0},
                      {0.65f, 0.3f, 1, 0.69f, 0.5f, 0},
                      {0.65f, 0.3f, 1, 0.66f, 0.6f, 0},
                      {0.67f, 0.4f, 1, 0.65f, 0.7f, 0}},
    [RP_CTABLE_CIFAR] = {{0.62f, 0.1f, 0.7f, 0.7f, 0.5f, 0},
                         {0.65f, 0.1f, 0.8f, 0.7f, 0.5f, 0},
                         {0.65f, 0.3f, 1, 0.69f, 0.5f, 0},
                         {0.65f, 0.1f, 0.7f, 0.69f, 0.6f, 1},
                         {0.65f, 0.1f, 0.5f, 0.68f, 0.6f, 1}},
    [RP_CTABLE_TINY] = {{0.62f, 0.1f, 0.7f, 0.7f, 0.6f, 0},
                        {0.65f, 0.1f, 0.8f, 0.7f, 0.6f, 0},
                        {0.65f, 0.3f, 1, 0.69f, 0.6f, 0},
                        {0.65f, 0.1f, 0.7f, 0.68f, 0.6f, 1},
                        {0.65f, 0.1f, 0.5f, 0.67f, 0.6f, 1}},
    [RP_CTABLE_IMAGENET] = {{0.65f, 0.3f, 4, 0.69f, 0.6f, 0},
                            {0.65f, 0.3f, 3, 0.68f, 0.6f, 0},
                            {0.65f, 0.3f, 2, 0.68f, 0.5f, 0},
                            {0.65f, 0.3f, 1, 0.65f, 1.5f, 1},
                            {0.67f, 0.4f, 1, 0.65f, 1.5f, 1}},
};

/* BORDER_REFLECT_101 for the one-pixel reach of 3 x 3 windows */
static inline int mirror(int i, int n) { return i < 0 ? (n > 1 ? 1 : 0) : i >= n ? (n > 1 ? n - 2 : 0) : i; }
static inline uint8_t sat_u8(float v) { return (uint8_t)(v <= 0 ? 0 : v >= 255 ? 255 : lrintf(v)); }

/* cv2.Canny(img, lo, hi), aperture 3, L1 magnitude: edges (H, W) 255 or 0. mag holds (H, W)
 * ints, stack (H * W) ints. */
static void cv_canny(uint8_t *edges, const uint8_t *img, int H, int W, int lo, int hi, int *mag, int *dxy,
                     int *stack)
{
    const int TG22 = (int)(0.4142135623730950488 * (1 << 15) + 0.5);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) { /* Sobel with replicated borders */
            int ym = y > 0 ? y - 1 : 0, yp = y < H - 1 ? y + 1 : y, xm = x > 0 ? x - 1 : 0, xp = x < W - 1 ? x + 1 : x;
#define I(a, b) (int)img[(size_t)(a) * W + (b)]
            int dx = (I(ym, xp) + 2 * I(y, xp) + I(yp, xp)) - (I(ym, xm) + 2 * I(y, xm) + I(yp, xm));
            int dy = (I(yp, xm) + 2 * I(yp, x) + I(yp, xp)) - (I(ym, xm) + 2 * I(ym, x) + I(ym, xp));
#undef I
            size_t p = (size_t)y * W + x;
            mag[p] = abs(dx) + abs(dy);
            dxy[2 * p] = dx, dxy[2 * p + 1] = dy;
        }
    /* non-maximum suppression: 0 none, 1 weak, 2 strong */
    int top = 0;
    memset(edges, 0, (size_t)H * W);
#define MAG(a, b) ((a) < 0 || (a) >= H || (b) < 0 || (b) >= W ? 0 : mag[(size_t)(a) * W + (b)])
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            size_t p = (size_t)y * W + x;
            int m = mag[p];
            if (m <= lo) continue;
            int xs = dxy[2 * p], ys = dxy[2 * p + 1], ax = abs(xs), ay = abs(ys) << 15, t22 = ax * TG22;
            bool keep;
            if (ay < t22) keep = m > MAG(y, x - 1) && m >= MAG(y, x + 1);
            else if (ay > t22 + (ax << 16)) keep = m > MAG(y - 1, x) && m >= MAG(y + 1, x);
            else {
                int sg = (xs ^ ys) < 0 ? -1 : 1;
                keep = m > MAG(y - 1, x - sg) && m > MAG(y + 1, x + sg);
            }
            if (!keep) continue;
            if (m > hi) edges[p] = 2, stack[top++] = (int)p;
            else edges[p] = 1;
        }
#undef MAG
    while (top > 0) { /* hysteresis: weak pixels 8-connected to strong ones */
        int p = stack[--top], y = p / W, x = p % W;
        for (int a = y - 1; a <= y + 1; a++)
            for (int b = x - 1; b <= x + 1; b++)
                if (a >= 0 && a < H && b >= 0 && b < W && edges[(size_t)a * W + b] == 1) {
                    edges[(size_t)a * W + b] = 2;
                    stack[top++] = a * W + b;
                }
    }
    for (size_t p = 0; p < (size_t)H * W; p++) edges[p] = edges[p] == 2 ? 255 : 0;
}

/* cv2.distanceTransform(src, DIST_L2, 5): chamfer distance to the nearest 0 of src, a
 * forward and a backward pass over pad ((H + 4) x (W + 4): a two-pixel frame that stays
 * far) with the 5 x 5 mask's costs 1 (edge), 1.4 (diagonal), 2.1969 (knight's move). */
static void cv_distance5(float *d, const uint8_t *src, int H, int W, float *pad)
{
    const float A = 1.0f, B = 1.4f, K = 2.1969f, FAR = 1e6f;
    const ptrdiff_t R = W + 4; /* padded row */
    for (ptrdiff_t i = 0; i < (H + 4) * R; i++) pad[i] = FAR;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) pad[(y + 2) * R + x + 2] = src[(size_t)y * W + x] ? FAR : 0.0f;
    /* the half-mask looked back at in the forward pass (mirrored in the backward one) */
    const ptrdiff_t off[8] = {-1, -R, -R - 1, -R + 1, -R - 2, -R + 2, -2 * R - 1, -2 * R + 1};
    const float cost[8] = {A, A, B, B, K, K, K, K};
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            float *v = pad + (y + 2) * R + x + 2, m = *v;
            for (int o = 0; o < 8; o++) {
                float u = v[off[o]] + cost[o];
                m = u < m ? u : m; /* minss, where fminf is a libm call */
            }
            *v = m;
        }
    for (int y = H - 1; y >= 0; y--)
        for (int x = W - 1; x >= 0; x--) {
            float *v = pad + (y + 2) * R + x + 2, m = *v;
            for (int o = 0; o < 8; o++) {
                float u = v[-off[o]] + cost[o];
                m = u < m ? u : m;
            }
            *v = m;
        }
    for (int y = 0; y < H; y++) memcpy(d + (size_t)y * W, pad + (y + 2) * R + 2, (size_t)W * sizeof(float));
}

/* 3x3 mean (cv2.blur), BORDER_REFLECT_101: row sums of three, then columns of three */
static void cv_box3(float *out, const float *in, int H, int W, float *rows)
{
    for (int y = 0; y < H; y++) {
        const float *r = in + (size_t)y * W;
        for (int x = 0; x < W; x++) rows[(size_t)y * W + x] = r[mirror(x - 1, W)] + r[x] + r[mirror(x + 1, W)];
    }
    for (int y = 0; y < H; y++) {
        const float *a = rows + (size_t)mirror(y - 1, H) * W, *b = rows + (size_t)y * W, *c = rows + (size_t)mirror(y + 1, H) * W;
        for (int x = 0; x < W; x++) out[(size_t)y * W + x] = (a[x] + b[x] + c[x]) * (1.0f / 9.0f);
    }
}

/* cv2.equalizeHist on bytes (in place) */
static void cv_equalize(uint8_t *v, size_t n)
{
    int hist[256] = {0};
    uint8_t lut[256];
    for (size_t i = 0; i < n; i++) hist[v[i]]++;
    int i = 0;
    while (!hist[i]) i++;
    if ((size_t)hist[i] == n) return; /* one level: OpenCV sets every value to it */
    float scale = 255.0f / (float)(n - (size_t)hist[i]);
    int sum = 0;
    for (lut[i++] = 0; i < 256; i++) {
        sum += hist[i];
        lut[i] = sat_u8((float)sum * scale);
    }
    for (size_t k = 0; k < n; k++) v[k] = lut[v[k]];
}

/* the water's shading (H, W) from the 8-bit layer: see the section comment. f is (H, W)
 * floats, ints 4 H W ints, bytes 2 H W bytes, pad (H + 4) (W + 4) floats of scratch; layer may
 * be bytes + H W. */
static void water_shading(float *shade, const uint8_t *layer, int H, int W, float *f, int *ints, uint8_t *bytes,
                          float *pad)
{
    float *rows = (float *)ints; /* the box blurs' row sums reuse the Canny step's ints */
    static const int EMBOSS[3][3] = {{-2, -1, 0}, {-1, 1, 1}, {0, 1, 2}};
    const size_t P = (size_t)H * W;
    uint8_t *edges = bytes, *u8 = bytes + P;
    cv_canny(edges, layer, H, W, 50, 150, ints, ints + P, ints + 3 * P);
    for (size_t p = 0; p < P; p++) edges[p] = (uint8_t)(255 - edges[p]);
    cv_distance5(f, edges, H, W, pad);
    for (size_t p = 0; p < P; p++) f[p] = f[p] > 20.0f ? 20.0f : f[p];
    cv_box3(shade, f, H, W, rows);
    for (size_t p = 0; p < P; p++) u8[p] = (uint8_t)shade[p]; /* astype(uint8): truncation */
    cv_equalize(u8, P);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            float s = 0;
            for (int a = -1; a <= 1; a++)
                for (int b = -1; b <= 1; b++) s += EMBOSS[a + 1][b + 1] * u8[(size_t)mirror(y + a, H) * W + mirror(x + b, W)];
            f[(size_t)y * W + x] = (float)sat_u8(s);
        }
    cv_box3(shade, f, H, W, rows);
    for (size_t p = 0; p < P; p++) shade[p] = (float)sat_u8(shade[p]); /* an 8-bit blur rounds */
}

size_t rp_cx_spatter_scratch(int H, int W, int C)
{
    (void)C;
    const size_t P = (size_t)H * W;
    size_t gauss = rp_img_gaussian_scratch(H, W, 1, 4.0, 4.0); /* the widest sigma of any row */
    return 3 * P + 4 * P + (2 * P + 3) / 4 + gauss + (size_t)(H + 4) * (W + 4); /* see rp_cx_spatter */
}

void rp_cx_spatter(const rp_corrupt_job *j)
{
    const int H = j->H, W = j->W, C = j->C;
    const spatter_row *r = &SPATTER[j->table][j->severity - 1];
    const size_t P = (size_t)H * W;
    float *layer = j->scratch, *shade = layer + P, *f = shade + P;
    int *ints = (int *)(f + P);
    uint8_t *bytes = (uint8_t *)(ints + 4 * P);
    float *gs = f + P + 4 * P + (2 * P + 3) / 4; /* layer, shade, f; 4 P ints; 2 P bytes; gaussian; pad */
    float *pad = gs + rp_img_gaussian_scratch(H, W, 1, 4.0, 4.0);
    for (size_t p = 0; p < P; p++) layer[p] = r->mean + r->sd * rp_rng_normal(j->rng);
    rp_img_gaussian(layer, layer, H, W, 1, r->sigma, 4.0, RP_BORDER_NEAREST, gs);
    for (size_t p = 0; p < P; p++) layer[p] = layer[p] < r->threshold ? 0.0f : layer[p];
    float rgb[3];
    if (!r->mud) {
        uint8_t *layer8 = bytes + P; /* read by the Canny step before water_shading reuses it */
        for (size_t p = 0; p < P; p++) {
            float v = layer[p] * 255.0f; /* astype(uint8): truncation (the layer stays below 1) */
            layer8[p] = (uint8_t)(v >= 255.0f ? 255.0f : v);
            layer[p] = (float)layer8[p];
        }
        water_shading(shade, bytes + P, H, W, f, ints, bytes, pad);
        float top = 0;
        for (size_t p = 0; p < P; p++) {
            shade[p] *= layer[p];
            top = shade[p] > top ? shade[p] : top;
        }
        const float norm = top > 0 ? r->gain / top : 0.0f;
        rgb[0] = 175 / 255.0f, rgb[1] = 238 / 255.0f, rgb[2] = 238 / 255.0f;
        for (size_t p = 0; p < P; p++) {
            float m = shade[p] * norm, *px = j->img + p * C;
            if (C == 3)
                for (int c = 0; c < 3; c++) px[c] = rp_clip01(px[c] + m * rgb[c]);
            else
                px[0] = rp_clip01(px[0] + 0.2989f * rp_clip01(m * rgb[0]) + 0.587f * rp_clip01(m * rgb[1]) +
                                  0.114f * rp_clip01(m * rgb[2]));
        }
        return;
    }
    for (size_t p = 0; p < P; p++) shade[p] = layer[p] > r->threshold ? 1.0f : 0.0f;
    rp_img_gaussian(shade, shade, H, W, 1, r->gain, 4.0, RP_BORDER_NEAREST, gs);
    rgb[0] = 63 / 255.0f, rgb[1] = 42 / 255.0f, rgb[2] = 20 / 255.0f;
    const float mud_gray = 0.2989f * rgb[0] + 0.587f * rgb[1] + 0.114f * rgb[2];
    for (size_t p = 0; p < P; p++) {
        float m = shade[p] < 0.8f ? 0.0f : shade[p], *px = j->img + p * C;
        if (C == 3)
            for (int c = 0; c < 3; c++) px[c] = rp_clip01(px[c] * (1 - m) + m * rgb[c]);
        else
            px[0] = rp_clip01(px[0] * (1 - m) + m * mud_gray);
    }
}
