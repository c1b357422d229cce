/* PRIME (Modas, Rade, Ortiz-Jimenez, Moosavi-Dezfooli, Frossard, ECCV 2022: "PRIME: a few
 * primitives can boost robustness to common corruptions"), following the authors' code
 * (github.com/amodas/PRIME-augmentations: utils/rand_filter.py, utils/diffeomorphism.py,
 * utils/color_jitter.py, utils/prime.py; defaults from config/cifar10_cfg.py and train.py).
 *
 * One image x (H, W, C), NHWC, values in [0, 1], C = 1 or 3, any size. Three primitives, each
 * a max-entropy random transform, every output clipped to [0, 1]:
 *
 *   spatial   (Diffeo)            out(y, x) = bilinear x at (x - dx, y - dy), clamped to the image;
 *             dx = sqrt(T) W u, dy = sqrt(T) H v, u and v independent fields
 *             sum_{i,j<=cut, i^2+j^2<(cut+1/2)^2} g_ij / sqrt(i^2+j^2) sin(pi i x') sin(pi j y')
 *             on the grid x' = 0..1 (W points), y' = 0..1 (H points), g_ij ~ N(0, 1).
 *             Per draw: cutmax' ~ U{cutmin+1..cutmax}; cut = floor(cutmin + (cutmax'+1-cutmin) b),
 *             b ~ Beta(scut rcut/(rcut+1), scut/(rcut+1)); T = T1 + (T2' - T1) b', b' the same with
 *             sT, rT, T1 = 1/(pi n^2 ln c), T2' = max(T1, alpha 4/(pi^3 c^2 ln c)), c = cut + 1e-6,
 *             n = W (the authors' code takes the last dimension; its images are square).
 *   colour    (RandomSmoothColor)  per channel, out = x + sqrt(T) sum_{k=1..cut} g_k sin(pi k x),
 *             g_k ~ N(0, 1); per draw cut ~ U{1..colour_cut}, T ~ U(0, colour_T).
 *   spectral  (RandomFilter)       out = x (*) w, zero-padded "same" cross-correlation, one K x K
 *             kernel for all channels, w = delta + sigma N(0, 1)^(K x K), sigma ~ U(0, filter_sigma).
 *             The kernel is not normalised (the code clips the output, nothing else).
 *
 * Mixing (GeneralizedPRIMEModule.aug): mixture_width chains, each a copy of x through depth
 * primitives chosen uniformly with replacement among the enabled ones, depth ~ U{1..max_depth}
 * (capped at mixture_depth when that is > 0, as the code's loop bound does); the chains mixed with
 * weights ~ Dirichlet(dirichlet_alpha, ...), and the mix blended with the clean image:
 * out = (1 - m) x + m mix, m ~ Beta(beta_a, beta_b). The code's normalisation ("preprocess")
 * is linear and done after mixing, so it is left to the caller; out stays in [0, 1].
 *
 * Where this differs from the authors' code, and why:
 *  - the code puts the filter's delta at index ceil(K/2), one pixel off centre for odd K (its
 *    zero-noise filter shifts the image up-left by one pixel); the paper's filter is the identity
 *    plus noise, so the delta sits where the identity needs it (index (K-1)/2, the centre for odd K);
 *    filter_delta_ceil = true reproduces the code.
 *  - the code draws the diffeo's cut, T and fields, the colour's cut and T, and the filter's
 *    sigma once per batch; here every primitive application draws its own.
 *  - modes above n - 2 alias on an n-point grid (sin(pi k p/(n-1)) repeats with period 2(n-1)
 *    in k); the field is computed with the modes folded onto 1..n-2, and for random fields the
 *    folded coefficients are drawn directly as N(0, sum of the folded 1/r^2): the same
 *    distribution with far fewer draws (exactly the same field for given g_ij, to rounding).
 *
 * Threading and memory: no allocation; one image is single-threaded; the caller gives the
 * rng (one per worker thread) and scratch. All pointers are BORROWED for the call. */
#ifndef RP_DATA_PRIME_H
#define RP_DATA_PRIME_H

#include <stdbool.h>
#include <stddef.h>

#include "core/rng.h"

typedef enum rp_prime_primitive {
    RP_PRIME_SPATIAL, /* the authors' list order: diffeo, color, filter */
    RP_PRIME_COLOUR,
    RP_PRIME_SPECTRAL,
    RP_PRIME_COUNT
} rp_prime_primitive;

#define RP_PRIME_MAX_KERNEL 15   /* filter_size limit (stack kernel) */
#define RP_PRIME_MAX_COLOUR_CUT 1024
#define RP_PRIME_MAX_WIDTH 16

typedef struct rp_prime_config {
    /* mixing: config.augmix (CIFAR-10) and GeneralizedPRIMEModule(max_depth=3) in train.py */
    int mixture_width;     /* 3 chains */
    int mixture_depth;     /* -1: depth ~ U{1..max_depth}; > 0 caps it */
    int max_depth;         /* 3 */
    float dirichlet_alpha; /* 1: chain weights ~ Dirichlet(1, 1, 1) */
    float beta_a, beta_b;  /* 1, 1: m ~ Beta(1, 1), the weight of the mix against the clean image */
    bool enable[RP_PRIME_COUNT]; /* all true (config.enable_aug) */
    /* spatial: config.diffeo */
    float diffeo_sT, diffeo_rT, diffeo_scut, diffeo_rcut; /* 1, 1, 1, 1: both Betas are (1/2, 1/2) */
    int diffeo_cutmin, diffeo_cutmax;                     /* 2, 100 */
    float diffeo_alpha;                                   /* 1 */
    /* colour: config.color_jit (max_freqs = None: all frequencies 1..cut) */
    int colour_cut;   /* 100 */
    float colour_T;   /* 0.01 */
    /* spectral: config.rand_filter */
    int filter_size;        /* 3 (the stochastic kernel-size candidates are range(k, k+2, 2) = {k}) */
    float filter_sigma;     /* 4.0 */
    bool filter_delta_ceil; /* false: centred delta (see above); true: the code's ceil(K/2) */
} rp_prime_config;

/* The CIFAR-10 defaults above. */
void rp_prime_config_default(rp_prime_config *cfg);

/* "spatial", "colour", "spectral". STATIC. */
const char *rp_prime_primitive_name(rp_prime_primitive p);

/* The corruption families (rp_corruption_family in data/corrupt.h) a primitive is meant to
 * cover, as a bit set (1u << family), fixed before anything was measured; PRIME is judged on
 * the union over the enabled primitives. rp_prime_family_reason says why in one line. STATIC. */
unsigned rp_prime_families(rp_prime_primitive p);
const char *rp_prime_family_reason(rp_prime_primitive p);

/* Floats of scratch rp_prime_image and rp_prime_spatial_random need for (H, W, C); it does not
 * depend on the configuration. */
size_t rp_prime_scratch_floats(int H, int W, int C);

/* One PRIME view of x into out (both (H, W, C), distinct), drawing from rng. */
void rp_prime_image(const rp_prime_config *cfg, const float *x, float *out, int H, int W, int C, rp_rng *rng,
                    float *scratch);

/* The mixing draws of one view: ws (mixture_width) ~ Dirichlet, *m ~ Beta. */
void rp_prime_mixing_weights(const rp_prime_config *cfg, rp_rng *rng, float *ws, float *m);

/* One primitive with freshly drawn parameters, x to out (distinct); scratch as above (only
 * the spatial one uses it). */
void rp_prime_primitive_random(const rp_prime_config *cfg, rp_prime_primitive p, const float *x, float *out,
                               int H, int W, int C, rp_rng *rng, float *scratch);

/* ---- deterministic primitives (given their parameters) ---- */

/* Spectral: kernel (K, K) cross-correlated with each channel, zero padding (K-1)/2 before and
 * K/2 after (PyTorch's padding="same"), clipped to [0, 1]. */
void rp_prime_spectral_apply(const float *x, float *out, int H, int W, int C, const float *kernel, int K);
/* The filter's kernel (K, K): delta at ((K-1)/2, (K-1)/2), or at ceil(K/2) when delta_ceil,
 * plus sigma g (g (K, K) standard normals). */
void rp_prime_spectral_kernel(const float *g, float sigma, int K, bool delta_ceil, float *kernel);

/* Spatial: sample x at (x - dx, y - dy) (dx, dy (H, W), pixels), coordinates clamped to the
 * image, bilinear (floor and ceil corners, as the code); out in [0, 1] when x is. */
void rp_prime_spatial_apply(const float *x, float *out, int H, int W, int C, const float *dx, const float *dy);
/* The field u (H, W) = scale * sum_{i,j} g[i-1][j-1] e_ij sin(pi i x') sin(pi j y') for the
 * standard normals g (cut, cut), e_ij = 1/sqrt(i^2+j^2) inside the disc i^2+j^2 < (cut+1/2)^2,
 * else 0 (the code's scalar_field; dx uses scale = sqrt(T) W, dy sqrt(T) H).
 * scratch: rp_prime_scratch_floats(H, W, 1) floats. */
void rp_prime_spatial_field(const float *g, int cut, float scale, int H, int W, float *u, float *scratch);
/* The allowed temperature interval for an n-pixel image and cutoff cut (temperature_range). */
void rp_prime_temperature_range(int n, int cut, double *T1, double *T2);
/* The spatial draw of (cut, T) for width n (Diffeo.forward with stochastic=True). */
void rp_prime_spatial_params(const rp_prime_config *cfg, int n, rp_rng *rng, int *cut, float *T);

/* Colour: per channel c, out = clip(x + sum_{k=1..K} coeff[c][k-1] sin(pi k x), 0, 1);
 * coeff (C, K) already scaled by sqrt(T). The curve fixes 0 and 1 and moves every value by at
 * most sum_k |coeff[c][k-1]|. */
void rp_prime_colour_apply(const float *x, float *out, int H, int W, int C, const float *coeff, int K);

#endif
