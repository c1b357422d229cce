/* AugMix (Hendrycks et al., ICLR 2020; google-research/augmix, augmentations.py and
 * augment_and_mix): one image x (H, W, C) in [0, 1], NHWC, C = 1 or 3, any size, becomes
 *     x_aug = (1 - m) x + m * sum_i w_i chain_i(x),   w ~ Dirichlet(alpha, ..., alpha),
 *                                                      m ~ Beta(alpha, alpha),
 * chain_i = `depth` ops (uniform in 1..3 when depth is -1), each drawn uniformly from the
 * op set, each at level ~ U[0.1, severity) with a random sign where the op has one.
 *
 * Ops follow the paper's PIL code, with the paper's level -> magnitude mapping (level on
 * its 0..10 scale, PARAMETER_MAX = 10; int_parameter truncates as Python's int()):
 *   autocontrast, equalize       ImageOps on uint8 (per channel histogram, PIL's LUTs)
 *   posterize                    keep 4 - int(level * 4 / 10) bits
 *   solarize                     invert values >= 256 - int(level * 256 / 10)
 *   rotate                       +-int(level * 30 / 10) degrees, Image.rotate(BILINEAR)
 *   shear_x, shear_y             +-level * 0.3 / 10, Image.transform(AFFINE, BILINEAR)
 *   translate_x, translate_y     +-int(level * (side / 3) / 10) px (side = W or H; the
 *                                paper's IMAGE_SIZE is 32), Image.transform(AFFINE)
 * and with all_ops the four the paper leaves out on ImageNet-C because they overlap its
 * test corruptions (ImageEnhance, factor level * 1.8 / 10 + 0.1):
 *   color, contrast, brightness, sharpness.
 * Uint8 semantics: the uint8-valued ops (autocontrast, equalize, posterize, solarize) read
 * q = round(x * 255) (ties up, clamped to 0..255) and write lut[q] / 255, so their output
 * equals PIL's exactly. The geometric ops and the ImageEnhance ones stay in float (PIL's
 * arithmetic without its truncation to uint8); geometric fill is 0 and follows PIL's pixel
 * convention (data/warp.h). Everything is clipped to [0, 1].
 *
 * Random draws, in order: w and m (rp_augmix_mixing_weights); then per chain its depth
 * 1 + rp_rng_below(3) (when depth is -1); per op: op = rp_rng_below(9, or 13 with all_ops),
 * level = 0.1 + (severity - 0.1) * rp_rng_uniform, and only for signed ops sign = -1 when
 * rp_rng_u32 is odd. The same rng state gives the same output. No allocation: the caller
 * gives scratch. */
#ifndef RP_DATA_AUGMIX_H
#define RP_DATA_AUGMIX_H

#include <stdbool.h>
#include <stddef.h>

#include "core/rng.h"
#include "core/status.h"
#include "data/corrupt.h"

typedef enum rp_augmix_opkind {
    /* the paper's set (augmentations) */
    RP_AUGMIX_AUTOCONTRAST,
    RP_AUGMIX_EQUALIZE,
    RP_AUGMIX_POSTERIZE,
    RP_AUGMIX_ROTATE,
    RP_AUGMIX_SOLARIZE,
    RP_AUGMIX_SHEAR_X,
    RP_AUGMIX_SHEAR_Y,
    RP_AUGMIX_TRANSLATE_X,
    RP_AUGMIX_TRANSLATE_Y,
    /* augmentations_all adds these */
    RP_AUGMIX_COLOR,
    RP_AUGMIX_CONTRAST,
    RP_AUGMIX_BRIGHTNESS,
    RP_AUGMIX_SHARPNESS,
    RP_AUGMIX_OP_COUNT
} rp_augmix_opkind;

#define RP_AUGMIX_PAPER_OPS 9 /* the first 9 kinds */
#define RP_AUGMIX_MAX_WIDTH 16

typedef struct rp_augmix_config {
    int severity;  /* 1..10, levels ~ U[0.1, severity) (default 3) */
    int width;     /* chains, 1..RP_AUGMIX_MAX_WIDTH (3) */
    int depth;     /* ops per chain 1..10, or -1: uniform in 1..3 (-1) */
    float alpha;   /* Dirichlet and Beta parameter, > 0 (1) */
    bool all_ops;  /* false: the paper's 9 ops; true: all 13 (false) */
} rp_augmix_config;

/* cfg <- the defaults above. */
void rp_augmix_config_default(rp_augmix_config *cfg);

/* "key=value" items, comma-separated, over the defaults: severity=N, width=N, depth=N|-1,
 * alpha=F, ops=paper|all (e.g. "severity=3,width=3,depth=-1,alpha=1,ops=paper"; "" keeps
 * the defaults). An unknown key or a value out of range is RP_ERR_ARG naming the item. */
rp_status rp_augmix_parse(rp_ctx *ctx, const char *spec, rp_augmix_config *cfg);

/* "autocontrast", ..., "translate_y", "color", "contrast", "brightness", "sharpness". STATIC. */
const char *rp_augmix_op_name(rp_augmix_opkind op);
bool rp_augmix_op_parse(const char *name, rp_augmix_opkind *out);
/* Whether the op draws a random sign (rotate, shear, translate). */
bool rp_augmix_op_signed(rp_augmix_opkind op);

/* The corruption family each op imitates (what a recipe trained with it may not claim to
 * generalise to, as it has seen it):
 *   rotate, shear_x/y, translate_x/y -> GEOMETRIC  the same warps as the rotate, shear and
 *                                                  translate corruptions
 *   autocontrast -> DIGITAL   an intensity remap, as the contrast corruption
 *   equalize     -> DIGITAL   a (histogram) intensity remap, contrast-like
 *   posterize    -> DIGITAL   quantisation of values, as JPEG/pixelate's quantisation
 *   solarize     -> DIGITAL   a tone curve (inverts values above a threshold)
 *   color        -> DIGITAL   saturation change, as saturate
 *   contrast     -> DIGITAL   the contrast corruption itself
 *   brightness   -> WEATHER   the brightness corruption (in the weather family here)
 *   sharpness    -> BLUR      factor < 1 blends with a 3x3 blur */
rp_corruption_family rp_augmix_op_family(rp_augmix_opkind op);
/* Bitmask (1u << family) over the ops cfg may use. */
unsigned rp_augmix_families(const rp_augmix_config *cfg);
/* rp_augmix_families of the default configuration (the paper's 9 ops: GEOMETRIC | DIGITAL):
 * what the augment spec's `augmix` touches. */
unsigned rp_augmix_families_all(void);

/* Floats of scratch rp_augmix_op needs (one image) and rp_augmix_image needs (two). */
size_t rp_augmix_op_scratch_floats(int H, int W, int C);
size_t rp_augmix_scratch_floats(int H, int W, int C);

/* One op on img (H, W, C) in place at `level` on the paper's 0..10 scale (what its
 * sample_level returns) with sign +1 or -1 (ignored by unsigned ops): deterministic. */
void rp_augmix_op(rp_augmix_opkind op, float level, int sign, float *img, int H, int W, int C, float *scratch);

/* The mixing draws, first in rp_augmix_image: w (cfg->width) ~ Dirichlet(alpha), sum 1;
 * m ~ Beta(alpha, alpha) in [0, 1]. */
void rp_augmix_mixing_weights(const rp_augmix_config *cfg, rp_rng *rng, float *w, float *m);

/* out (H, W, C) = one AugMix view of x (H, W, C); out must not overlap x. */
void rp_augmix_image(const rp_augmix_config *cfg, const float *x, float *out, int H, int W, int C, rp_rng *rng,
                     float *scratch);

#endif
