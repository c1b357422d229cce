/* Training augmentations: each op fires with its own probability and has one strength,
 * draws from a dedicated seeded stream (RP_STREAM_AUGMENT) and is deterministic: the same
 * seed and the same images in the same order give the same augmented batch.
 *
 * The spec mini-syntax (the CLI's --augment): a comma-separated list of
 *     NAME[:STRENGTH][@PROB]
 * applied in the order given to every image, each op independently with probability PROB
 * (default: the caller's default probability, the CLI's --augment-prob).
 *
 *   flip                  horizontal mirror                        (no strength)
 *   crop:P                zero-pad P pixels each side, take a random H x W window  (P = 4)
 *   brightness:S          x * f,                 f ~ U[1-S, 1+S]  (S = 0.2)
 *   contrast:S            m + (x - m) * f,       m = image mean of the gray image  (S = 0.2)
 *   saturation:S          g + (x - g) * f,       g = pixel gray (no-op unless C == 3)  (S = 0.2)
 *   jitter:S              brightness:S, contrast:S, saturation:S in that order
 *   gaussian:SIGMA        x + N(0, SIGMA^2)                        (SIGMA = 0.1)
 *   shot:C                Poisson(x C) / C                         (C = 60)
 *   saltpepper:A          a fraction A of values set to 0 or 1     (A = 0.05; alias impulse)
 *   erase:S               random erasing (Zhong et al. 2020): one rectangle of 0.02..S of the
 *                         image's area, aspect ratio 0.3..3.3, one random flat value  (S = 0.4)
 *   randconv:K            random convolution (Xu et al., ICLR 2021, "RC_mix"): a k x k filter,
 *                         k uniform over the odd sizes 1..K, weights N(0, 1/(k^2 C)), applied to
 *                         the image less its channel means (which are added back), clipped, and
 *                         blended with the image by alpha ~ U[0, 1); K = 1, 3, 5 or 7 (7)
 *   elastic:S             the elastic_transform corruption (data/corrupt.h) of the image's size
 *                         table at a severity uniform over 1..S, its field from this stream:
 *                         a small affine map and a smooth random displacement (Simard et al.
 *                         2003's augmentation for handwriting); S = 1..5 (3)
 *   augmix:S              AugMix (Hendrycks et al. 2020, data/augmix.h): three chains of 1-3
 *                         operations mixed by Dirichlet weights, blended with the image by
 *                         Beta(1, 1); S = operation severity 1..10 (3)
 *   prime                 PRIME (Modas et al. 2022, data/prime.h): chains of max-entropy
 *                         spectral, spatial and colour transforms, mixed as AugMix
 *
 * The mixing operations (augmix, prime) fire with probability 1 unless @PROB says otherwise,
 * and a spec holds at most one of them. For a consistency loss the loader makes two views of
 * every image (rp_augment_views): the ops before the mixing op give the clean image, and each
 * view is that image through the mixing op and the ops after it, with fresh draws.
 *
 * Every result is clipped to [0, 1]. Example: "flip,crop:4,gaussian:0.1@0.3". */
#ifndef RP_DATA_AUGMENT_H
#define RP_DATA_AUGMENT_H

#include <stdint.h>

#include "core/rng.h"
#include "core/status.h"

/* rp_augment_kind, rp_augment_op, RP_AUGMENT_MAX_OPS, rp_augment_name and rp_augment_parse are
 * public (rampart.h), with checked forms of rp_augment_mix_index and rp_augment_families
 * (rp_augment_mixing_op, rp_augment_corruption_families: augment_api.c). */

typedef struct rp_augment {
    rp_augment_op ops[RP_AUGMENT_MAX_OPS];
    int n_ops;
    int H, W, C;
    rp_rng rng;     /* RP_STREAM_AUGMENT */
    float *scratch; /* rp_augment_scratch_floats */
} rp_augment;

#define RP_RANDCONV_MAX_K 7 /* randconv's largest kernel */
#define RP_RANDCONV_MAX_C 3 /* and channels (more: left unchanged) */

/* OWNED. Parses spec and allocates the scratch image for (H, W, C). */
rp_status rp_augment_create(rp_ctx *ctx, const char *spec, float default_prob, uint64_t seed, int H, int W, int C,
                            rp_augment **out);
void rp_augment_destroy(rp_augment *a);

/* Augment a batch x (B,H,W,C) in place, image by image, from a's stream. */
void rp_augment_apply(rp_augment *a, float *x, int B);

/* Floats of scratch rp_augment_image and rp_augment_views need for these ops. */
size_t rp_augment_scratch_floats(const rp_augment_op *ops, int n_ops, int H, int W, int C);

/* One image img (H,W,C) through ops, drawing from rng; scratch as above. */
void rp_augment_image(const rp_augment_op *ops, int n_ops, float *img, int H, int W, int C, rp_rng *rng,
                      float *scratch);

/* RandConv's filter with given draws: out = alpha x + (1 - alpha) clip(m + w * (x - m), 0, 1),
 * m the per-channel image means, w (k, k, C, C) cross-correlated (w[((dy k + dx) C + ci) C + co])
 * with zero padding of x - m; k odd, C <= RP_RANDCONV_MAX_C; x and out distinct. */
void rp_randconv_apply(const float *x, float *out, int H, int W, int C, const float *w, int k, float alpha);

/* Index of the mixing op (augmix, prime) in ops, or -1: only such a spec makes views. */
int rp_augment_mix_index(const rp_augment_op *ops, int n_ops);
/* img through the ops before the mixing op, in place; then views (2, H, W, C): two draws of
 * img through the mixing op and the ops after it. Requires a mixing op. */
void rp_augment_views(const rp_augment_op *ops, int n_ops, float *img, float *views, int H, int W, int C,
                      rp_rng *rng, float *scratch);

/* The corruption families (bits 1u << rp_corruption_family, data/corrupt.h) these ops touch:
 * a recipe is evidence only about the other families. Fixed in code, before any measurement:
 *   flip, crop          geometric (mirror; translation with zero fill)
 *   brightness          weather (ImageNet-C files brightness under weather)
 *   contrast, saturation digital (contrast, saturate)
 *   gaussian, shot, saltpepper  noise
 *   erase               occlusion (a patch of the image hidden, as stripe and zigzag)
 *   randconv            blur and digital (a random linear filter smooths or sharpens; its centre
 *                       tap rescales and can invert intensities, as contrast does)
 *   augmix, prime       their operations' families (rp_augmix_families, rp_prime_families) */
unsigned rp_augment_families(const rp_augment_op *ops, int n_ops);

#endif
