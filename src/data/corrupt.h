/* Common corruptions (Hendrycks & Dietterich 2019, ImageNet-C / CIFAR-10-C / Tiny-ImageNet-C,
 * and MNIST-C's geometric and line corruptions, Mu & Gilmer 2019), one function each, five
 * severities, on images x (H, W, C) in [0, 1], NHWC, C = 1 or 3, any size.
 *
 * Determinism: image `index` under corruption c at severity s draws only from a stream seeded
 * by (seed, index, c, s), so the same seed gives the same bytes, a batch of N images equals N
 * single calls, and neither depends on the thread count.
 *
 * Parameter tables: each corruption has one row of five severities per table. The table an
 * image uses follows its size (rp_corrupt_table_for): 28 px and below the 28-px table this
 * project defines (docs/corruptions.md says how and why), up to 32 px CIFAR-10-C's, up to
 * 96 px Tiny-ImageNet-C's (64 px), above that ImageNet-C's. Every corruption output is
 * clipped to [0, 1]. */
#ifndef RP_DATA_CORRUPT_H
#define RP_DATA_CORRUPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef enum rp_corruption_family {
    RP_FAMILY_NOISE,
    RP_FAMILY_BLUR,
    RP_FAMILY_WEATHER,
    RP_FAMILY_DIGITAL,
    RP_FAMILY_GEOMETRIC,
    RP_FAMILY_OCCLUSION,
    RP_FAMILY_COUNT
} rp_corruption_family;

typedef enum rp_corruption {
    /* ImageNet-C's 15 */
    RP_CORR_GAUSSIAN_NOISE,
    RP_CORR_SHOT_NOISE,
    RP_CORR_IMPULSE_NOISE,
    RP_CORR_DEFOCUS_BLUR,
    RP_CORR_GLASS_BLUR,
    RP_CORR_MOTION_BLUR,
    RP_CORR_ZOOM_BLUR,
    RP_CORR_SNOW,
    RP_CORR_FROST,
    RP_CORR_FOG,
    RP_CORR_BRIGHTNESS,
    RP_CORR_CONTRAST,
    RP_CORR_ELASTIC,
    RP_CORR_PIXELATE,
    RP_CORR_JPEG,
    /* the four held-out extras */
    RP_CORR_SPECKLE_NOISE,
    RP_CORR_GAUSSIAN_BLUR,
    RP_CORR_SPATTER,
    RP_CORR_SATURATE,
    /* MNIST-C: geometric */
    RP_CORR_ROTATE,
    RP_CORR_SHEAR,
    RP_CORR_SCALE,
    RP_CORR_TRANSLATE,
    /* MNIST-C: lines drawn over the image */
    RP_CORR_STRIPE,
    RP_CORR_DOTTED_LINE,
    RP_CORR_ZIGZAG,
    RP_CORR_COUNT
} rp_corruption;

typedef enum rp_corrupt_table {
    RP_CTABLE_28,       /* max(H, W) <= 28: this project's (Fashion-MNIST, MNIST) */
    RP_CTABLE_CIFAR,    /* <= 32 */
    RP_CTABLE_TINY,     /* <= 96 (64 px) */
    RP_CTABLE_IMAGENET, /* larger */
    RP_CTABLE_COUNT
} rp_corrupt_table;

rp_corrupt_table rp_corrupt_table_for(int H, int W);
/* "28px", "CIFAR-10-C", "Tiny-ImageNet-C", "ImageNet-C". STATIC. */
const char *rp_corrupt_table_name(rp_corrupt_table t);

/* "gaussian_noise", ... (imagecorruptions' and CIFAR-10-C's file names). STATIC. */
const char *rp_corruption_name(rp_corruption c);
/* "noise", "blur", "weather", "digital", "geometric", "occlusion". STATIC. */
const char *rp_corruption_family_name(rp_corruption_family f);
rp_corruption_family rp_corruption_family_of(rp_corruption c);
/* One of the paper's held-out extras (speckle noise, Gaussian blur, spatter, saturate): the
 * corruptions a recipe may be tuned on. */
bool rp_corruption_held_out(rp_corruption c);
/* In ImageNet-C's 15. */
bool rp_corruption_in_imagenet_c(rp_corruption c);
/* False where the corruption is the identity on images with C channels (saturate on
 * grayscale): such a condition is "not applicable", never a row of results. */
bool rp_corruption_applies(rp_corruption c, int C);
bool rp_corruption_parse(const char *name, rp_corruption *out);
bool rp_corruption_family_parse(const char *name, rp_corruption_family *out);

/* Parse a list "all" | "imagenet-c" | "extra" | FAMILY | NAME, comma-separated and mixed
 * ("blur,fog,jpeg_compression"), into a set (in enum order, no repeats). Errors name the
 * item that is neither a corruption nor a family (RP_ERR_ARG). */
rp_status rp_corruption_parse_list(rp_ctx *ctx, const char *spec, bool out[RP_CORR_COUNT]);
/* rp_corruption_parse_severities ("1,2,3,4,5", "3", "1-5") is public: rampart.h. */

/* Floats of scratch one image of (H, W, C) needs under c (any severity). */
size_t rp_corrupt_scratch_floats(rp_corruption c, int H, int W, int C);
/* Corrupt one image in place at severity 1..5 with table t; scratch holds
 * rp_corrupt_scratch_floats(c, H, W, C) floats. */
void rp_corrupt_image_table(rp_corruption c, int severity, rp_corrupt_table t, float *img, int H, int W, int C,
                            uint64_t seed, uint64_t index, float *scratch);
/* The same with the table for the image's size. */
void rp_corrupt_image(rp_corruption c, int severity, float *img, int H, int W, int C, uint64_t seed,
                      uint64_t index, float *scratch);
/* Corrupt x (B, H, W, C) in place: image b is index first_index + b. Images in parallel
 * (OpenMP); scratch allocated here (RP_ERR_NOMEM on failure). */
rp_status rp_corrupt_batch(rp_ctx *ctx, rp_corruption c, int severity, float *x, int B, int H, int W, int C,
                           uint64_t seed, uint64_t first_index);

#endif
