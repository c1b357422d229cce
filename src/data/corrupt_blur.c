/* Corruptions of the blur family (see data/corrupt.h), after hendrycks/robustness
 * (make_cifar_c.py, make_tinyimagenet_c.py) and imagecorruptions (ImageNet-C), built on
 * data/imgops.h. Parameter rows: CIFAR-10-C and Tiny-ImageNet-C from those scripts,
 * ImageNet-C from imagecorruptions; the 28-px rows are this project's (docs/corruptions.md,
 * "The 28-px table"). */
#include <math.h>
#include <string.h>

#include "data/corrupt_internal.h"
#include "data/imgops.h"

#define TRUNCATE 4.0 /* skimage.filters.gaussian's default */

static void clip_all(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = rp_clip01(x[i]);
}

static size_t image_floats(int H, int W, int C) { return (size_t)H * W * C; }

/* ---- Gaussian blur: skimage gaussian(sigma), mode nearest ---- */

static const double GAUSS_SIGMA[RP_CTABLE_COUNT][5] = {
    [RP_CTABLE_28] = {.35, .525, .6125, .7, .875}, /* CIFAR's x 28/32 */
    [RP_CTABLE_CIFAR] = {.4, .6, .7, .8, 1},
    [RP_CTABLE_TINY] = {.5, .75, 1, 1.25, 1.5},
    [RP_CTABLE_IMAGENET] = {1, 2, 3, 4, 6},
};

size_t rp_cx_gaussian_blur_scratch(int H, int W, int C)
{
    size_t n = 0;
    for (int t = 0; t < RP_CTABLE_COUNT; t++)
        for (int s = 0; s < 5; s++) {
            size_t m = rp_img_gaussian_scratch(H, W, C, GAUSS_SIGMA[t][s], TRUNCATE);
            if (m > n) n = m;
        }
    return n;
}

void rp_cx_gaussian_blur(const rp_corrupt_job *j)
{
    double sigma = GAUSS_SIGMA[j->table][j->severity - 1];
    rp_img_gaussian(j->img, j->img, j->H, j->W, j->C, sigma, TRUNCATE, RP_BORDER_NEAREST, j->scratch);
    clip_all(j->img, image_floats(j->H, j->W, j->C));
}

/* ---- Glass blur: blur, quantise to uint8, shuffle pixels locally, blur again ---- */

typedef struct glass_row {
    double sigma;
    int delta, iterations; /* offsets in [-delta, delta) */
} glass_row;

static const glass_row GLASS[RP_CTABLE_COUNT][5] = {
    [RP_CTABLE_28] = {{.25, 1, 1}, {.3, 1, 2}, {.35, 1, 3}, {.4, 1, 4}, {.45, 1, 5}}, /* see docs */
    [RP_CTABLE_CIFAR] = {{.05, 1, 1}, {.25, 1, 1}, {.4, 1, 1}, {.25, 1, 2}, {.4, 1, 2}},
    [RP_CTABLE_TINY] = {{.1, 1, 1}, {.5, 1, 1}, {.6, 1, 2}, {.7, 2, 1}, {.9, 2, 2}},
    [RP_CTABLE_IMAGENET] = {{.7, 1, 2}, {.9, 2, 1}, {1, 2, 3}, {1.1, 3, 2}, {1.5, 4, 2}},
};

size_t rp_cx_glass_blur_scratch(int H, int W, int C)
{
    size_t n = 0;
    for (int t = 0; t < RP_CTABLE_COUNT; t++)
        for (int s = 0; s < 5; s++) {
            size_t m = rp_img_gaussian_scratch(H, W, C, GLASS[t][s].sigma, TRUNCATE);
            if (m > n) n = m;
        }
    return n;
}

/* The originals' "swap" x[h, w], x[h', w'] = x[h', w'], x[h, w] acts on numpy row views of an
 * (H, W, 3) array, so it copies x[h', w'] onto x[h, w] and leaves x[h', w'] as it was: the
 * published data sets were made that way, and so is this (for every C). Draw order as
 * numpy's randint(-d, d, size=2): dx, then dy. */
static void glass_shuffle(float *x, int H, int W, int C, int d, rp_rng *rng)
{
    for (int h = H - d; h > d; h--)
        for (int w = W - d; w > d; w--) {
            int dx = (int)rp_rng_below(rng, (uint32_t)(2 * d)) - d;
            int dy = (int)rp_rng_below(rng, (uint32_t)(2 * d)) - d;
            memcpy(x + ((size_t)h * W + w) * C, x + ((size_t)(h + dy) * W + (w + dx)) * C, (size_t)C * sizeof(float));
        }
}

void rp_cx_glass_blur(const rp_corrupt_job *j)
{
    const glass_row g = GLASS[j->table][j->severity - 1];
    size_t n = image_floats(j->H, j->W, j->C);
    rp_img_gaussian(j->img, j->img, j->H, j->W, j->C, g.sigma, TRUNCATE, RP_BORDER_NEAREST, j->scratch);
    rp_img_quantize_u8(j->img, n, false); /* np.uint8(x * 255): truncation */
    for (int it = 0; it < g.iterations; it++) glass_shuffle(j->img, j->H, j->W, j->C, g.delta, j->rng);
    rp_img_gaussian(j->img, j->img, j->H, j->W, j->C, g.sigma, TRUNCATE, RP_BORDER_NEAREST, j->scratch);
    clip_all(j->img, n);
}

/* ---- Defocus blur: an anti-aliased disk, correlated per channel (cv2.filter2D) ---- */

typedef struct defocus_row {
    double radius, alias_sigma;
} defocus_row;

static const defocus_row DEFOCUS[RP_CTABLE_COUNT][5] = {
    [RP_CTABLE_28] = {{.3, .4}, {.4, .5}, {.5, .6}, {1, .2}, {1.5, .1}}, /* CIFAR's */
    [RP_CTABLE_CIFAR] = {{.3, .4}, {.4, .5}, {.5, .6}, {1, .2}, {1.5, .1}},
    [RP_CTABLE_TINY] = {{.5, .6}, {1, .1}, {1.5, .1}, {2.5, .01}, {3, .1}},
    [RP_CTABLE_IMAGENET] = {{3, .1}, {4, .5}, {6, .5}, {8, .5}, {10, .5}},
};

/* The disk's grid reaches L = 8 for radii up to 8, else the radius (the originals' disk()). */
static int disk_half(double radius) { return radius <= 8.0 ? 8 : (int)radius; }

static size_t defocus_scratch_row(int H, int W, int C, defocus_row r)
{
    int L = disk_half(r.radius), N = 2 * L + 1, K = r.radius <= 8.0 ? 3 : 5;
    return 2 * (size_t)N * N + rp_img_sep_filter_scratch(N, N, 1, K, K) + rp_img_filter2d_scratch(H, W, C, N, N);
}

size_t rp_cx_defocus_blur_scratch(int H, int W, int C)
{
    size_t n = 0;
    for (int t = 0; t < RP_CTABLE_COUNT; t++)
        for (int s = 0; s < 5; s++) {
            size_t m = defocus_scratch_row(H, W, C, DEFOCUS[t][s]);
            if (m > n) n = m;
        }
    return n;
}

/* disk (N, N), N = 2 L + 1: the indicator of x^2 + y^2 <= radius^2 over its sum, then
 * cv2.GaussianBlur(ksize K, sigma alias) with OpenCV's default border (reflect 101). */
static void make_disk(float *disk, defocus_row r, float *scratch)
{
    int L = disk_half(r.radius), N = 2 * L + 1, K = r.radius <= 8.0 ? 3 : 5;
    float *mask = scratch, taps[5], count = 0.0f;
    for (int y = -L; y <= L; y++)
        for (int x = -L; x <= L; x++) {
            float in = (double)(x * x + y * y) <= r.radius * r.radius ? 1.0f : 0.0f;
            mask[(y + L) * N + (x + L)] = in;
            count += in;
        }
    for (int i = 0; i < N * N; i++) mask[i] /= count;
    double w[5], sum = 0.0; /* cv2.getGaussianKernel(K, sigma) */
    for (int i = 0; i < K; i++) sum += w[i] = exp(-0.5 * (i - K / 2) * (i - K / 2) / (r.alias_sigma * r.alias_sigma));
    for (int i = 0; i < K; i++) taps[i] = (float)(w[i] / sum);
    rp_img_sep_filter(disk, mask, N, N, 1, taps, K, taps, K, RP_BORDER_MIRROR, scratch + (size_t)N * N);
}

void rp_cx_defocus_blur(const rp_corrupt_job *j)
{
    const defocus_row r = DEFOCUS[j->table][j->severity - 1];
    int L = disk_half(r.radius), N = 2 * L + 1;
    float *disk = j->scratch, *rest = j->scratch + (size_t)N * N;
    make_disk(disk, r, rest);
    /* taps that are exactly zero add nothing: correlate with the centred nonzero square only */
    int e = L;
    while (e > 0) {
        bool zero = true;
        for (int i = 0; i < N && zero; i++)
            zero = disk[(L - e) * N + i] == 0.0f && disk[(L + e) * N + i] == 0.0f && disk[i * N + (L - e)] == 0.0f &&
                   disk[i * N + (L + e)] == 0.0f;
        if (!zero) break;
        e--;
    }
    int M = 2 * e + 1;
    float *core = rest; /* (M, M) */
    for (int y = 0; y < M; y++)
        for (int x = 0; x < M; x++) core[y * M + x] = disk[(L - e + y) * N + (L - e + x)];
    rp_img_filter2d(j->img, j->img, j->H, j->W, j->C, core, M, M, rest + (size_t)M * M);
    clip_all(j->img, image_floats(j->H, j->W, j->C));
}

/* ---- Motion blur: imagecorruptions' shift-and-add, angle uniform in [-45, 45) degrees ---- */

typedef struct motion_row {
    int radius;
    double sigma;
} motion_row;

static const motion_row MOTION[RP_CTABLE_COUNT][5] = {
    /* CIFAR's radii; sigmas 1, 1.5, ..., 3 x 28/32, evenly spaced (see docs) */
    [RP_CTABLE_28] = {{6, .875}, {6, 1.3125}, {6, 1.75}, {8, 2.1875}, {9, 2.625}},
    [RP_CTABLE_CIFAR] = {{6, 1}, {6, 1.5}, {6, 2}, {8, 2}, {9, 2.5}},
    [RP_CTABLE_TINY] = {{10, 1}, {10, 1.5}, {10, 2}, {10, 2.5}, {12, 3}},
    [RP_CTABLE_IMAGENET] = {{10, 3}, {15, 5}, {15, 8}, {15, 12}, {20, 15}},
};

size_t rp_cx_motion_blur_scratch(int H, int W, int C) { return image_floats(H, W, C); }

void rp_cx_motion_blur(const rp_corrupt_job *j)
{
    const motion_row m = MOTION[j->table][j->severity - 1];
    size_t n = image_floats(j->H, j->W, j->C);
    double angle = -45.0 + 90.0 * (double)rp_rng_uniform(j->rng);
    memcpy(j->scratch, j->img, n * sizeof(float));
    rp_img_motion_blur(j->img, j->scratch, j->H, j->W, j->C, m.radius, m.sigma, angle);
    clip_all(j->img, n);
}

/* ---- Zoom blur: the mean of the image and its clipped zooms ---- */

typedef struct zoom_row {
    int count;   /* zoom factors 1, 1 + step, ..., as np.arange(1, stop, step) gives them */
    double step;
} zoom_row;

static const zoom_row ZOOM[RP_CTABLE_COUNT][5] = {
    /* np.arange(1, 1.06, .01) has 7 values (1.06 included: rounding), (1, 1.11, .01) 12 */
    [RP_CTABLE_28] = {{7, .01}, {12, .01}, {16, .01}, {21, .01}, {26, .01}}, /* CIFAR's */
    [RP_CTABLE_CIFAR] = {{7, .01}, {12, .01}, {16, .01}, {21, .01}, {26, .01}},
    [RP_CTABLE_TINY] = {{7, .01}, {12, .01}, {16, .01}, {21, .01}, {26, .01}},
    [RP_CTABLE_IMAGENET] = {{12, .01}, {16, .01}, {11, .02}, {13, .02}, {11, .03}},
};

size_t rp_cx_zoom_blur_scratch(int H, int W, int C) { return 2 * image_floats(H, W, C); }

void rp_cx_zoom_blur(const rp_corrupt_job *j)
{
    const zoom_row z = ZOOM[j->table][j->severity - 1];
    size_t n = image_floats(j->H, j->W, j->C);
    float *sum = j->scratch, *layer = j->scratch + n;
    /* the CIFAR-10-C and Tiny-ImageNet-C scripts keep the centre of the zoomed image;
     * imagecorruptions (the ImageNet-C row here) its top-left corner */
    bool centre = j->table != RP_CTABLE_IMAGENET;
    double delta = (1.0 + z.step) - 1.0; /* numpy's arange: start + i * (second - first) */
    memset(sum, 0, n * sizeof(float));
    for (int i = 0; i < z.count; i++) {
        rp_img_clipped_zoom(layer, j->img, j->H, j->W, j->C, 1.0 + i * delta, centre);
#pragma omp simd
        for (size_t t = 0; t < n; t++) sum[t] += layer[t];
    }
    float count = (float)(z.count + 1);
    for (size_t t = 0; t < n; t++) j->img[t] = rp_clip01((j->img[t] + sum[t]) / count);
}
