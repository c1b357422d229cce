#include "data/augment.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/augmix.h"
#include "data/corrupt.h"
#include "data/noise.h"
#include "data/prime.h"

static const struct {
    const char *name;
    rp_augment_kind kind;
    float deflt;      /* strength when none is given */
    float lo, hi;     /* allowed strength range */
} SPECS[] = {
    {"flip", RP_AUG_FLIP, 0.0f, 0.0f, 0.0f},
    {"crop", RP_AUG_CROP, 4.0f, 0.0f, 1e6f},
    {"brightness", RP_AUG_BRIGHTNESS, 0.2f, 0.0f, 1.0f},
    {"contrast", RP_AUG_CONTRAST, 0.2f, 0.0f, 1.0f},
    {"saturation", RP_AUG_SATURATION, 0.2f, 0.0f, 1.0f},
    {"gaussian", RP_AUG_GAUSSIAN, 0.1f, 0.0f, 10.0f},
    {"shot", RP_AUG_SHOT, 60.0f, 1e-3f, 1e9f},
    {"saltpepper", RP_AUG_SALTPEPPER, 0.05f, 0.0f, 1.0f},
    {"impulse", RP_AUG_SALTPEPPER, 0.05f, 0.0f, 1.0f},
    {"jitter", RP_AUG_COUNT, 0.2f, 0.0f, 1.0f}, /* expands to brightness, contrast, saturation */
    {"erase", RP_AUG_ERASE, 0.4f, 0.02f, 1.0f},
    {"randconv", RP_AUG_RANDCONV, 7.0f, 1.0f, (float)RP_RANDCONV_MAX_K},
    {"elastic", RP_AUG_ELASTIC, 3.0f, 1.0f, 5.0f},
    {"augmix", RP_AUG_AUGMIX, 3.0f, 1.0f, 10.0f},
    {"prime", RP_AUG_PRIME, 0.0f, 0.0f, 0.0f},
};

static bool is_mix(rp_augment_kind k) { return k == RP_AUG_AUGMIX || k == RP_AUG_PRIME; }
#define N_SPECS (sizeof SPECS / sizeof SPECS[0])

const char *rp_augment_name(rp_augment_kind k)
{
    /* out of range, including RP_AUG_COUNT, which marks jitter's entry in SPECS (it expands into three ops) */
    if ((int)k < 0 || k >= RP_AUG_COUNT) return "unknown";
    for (size_t i = 0; i < N_SPECS; i++)
        if (SPECS[i].kind == k) return SPECS[i].name;
    return "unknown";
}

static bool parse_float(const char *s, size_t len, float *out)
{
    char buf[64];
    if (len == 0 || len >= sizeof buf) return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end = NULL;
    errno = 0;
    float v = strtof(buf, &end);
    if (errno || *end || !isfinite(v)) return false;
    *out = v;
    return true;
}

/* One item "NAME[:STRENGTH][@PROB]" of length len. */
static rp_status parse_item(rp_ctx *ctx, const char *s, size_t len, float default_prob, rp_augment_op *ops,
                            int *n_ops)
{
    const char *colon = memchr(s, ':', len), *at = memchr(s, '@', len);
    if (colon && at && colon > at)
        return rp_fail(ctx, RP_ERR_ARG, "augment: malformed item '%.*s' (NAME[:STRENGTH][@PROB])", (int)len, s);
    size_t name_len = colon ? (size_t)(colon - s) : at ? (size_t)(at - s) : len;
    int spec = -1;
    for (size_t i = 0; i < N_SPECS; i++)
        if (strlen(SPECS[i].name) == name_len && !strncmp(s, SPECS[i].name, name_len)) spec = (int)i;
    if (spec < 0)
        return rp_fail(ctx, RP_ERR_ARG, "augment: unknown augmentation '%.*s' (one of flip, crop, brightness, "
                       "contrast, saturation, jitter, gaussian, shot, saltpepper, erase, randconv, elastic, augmix, prime)", (int)len, s);
    float strength = SPECS[spec].deflt, prob = is_mix(SPECS[spec].kind) ? 1.0f : default_prob;
    if (colon) {
        size_t slen = at ? (size_t)(at - colon - 1) : len - name_len - 1;
        if (SPECS[spec].kind == RP_AUG_FLIP || SPECS[spec].kind == RP_AUG_PRIME)
            return rp_fail(ctx, RP_ERR_ARG, "augment: '%s' takes no strength (in '%.*s')", SPECS[spec].name, (int)len, s);
        if (!parse_float(colon + 1, slen, &strength) || strength < SPECS[spec].lo || strength > SPECS[spec].hi)
            return rp_fail(ctx, RP_ERR_ARG, "augment: bad strength in '%.*s' (%s takes %g..%g)", (int)len, s,
                           SPECS[spec].name, (double)SPECS[spec].lo, (double)SPECS[spec].hi);
        if (SPECS[spec].kind == RP_AUG_CROP && strength != floorf(strength))
            return rp_fail(ctx, RP_ERR_ARG, "augment: crop padding must be a whole number of pixels in '%.*s'",
                           (int)len, s);
        if (SPECS[spec].kind == RP_AUG_ELASTIC && strength != floorf(strength))
            return rp_fail(ctx, RP_ERR_ARG, "augment: elastic's severity must be a whole number (1..5) in '%.*s'",
                           (int)len, s);
        if (SPECS[spec].kind == RP_AUG_RANDCONV && (strength != floorf(strength) || fmodf(strength, 2.0f) != 1.0f))
            return rp_fail(ctx, RP_ERR_ARG, "augment: randconv's largest kernel must be odd (1, 3, 5 or 7) in '%.*s'",
                           (int)len, s);
    }
    if (at && (!parse_float(at + 1, len - (size_t)(at + 1 - s), &prob) || prob < 0.0f || prob > 1.0f))
        return rp_fail(ctx, RP_ERR_ARG, "augment: bad probability in '%.*s' (0..1)", (int)len, s);
    int n_new = SPECS[spec].kind == RP_AUG_COUNT ? 3 : 1;
    if (*n_ops + n_new > RP_AUGMENT_MAX_OPS)
        return rp_fail(ctx, RP_ERR_ARG, "augment: more than %d augmentations", RP_AUGMENT_MAX_OPS);
    if (n_new == 3) {
        rp_augment_kind k3[3] = {RP_AUG_BRIGHTNESS, RP_AUG_CONTRAST, RP_AUG_SATURATION};
        for (int i = 0; i < 3; i++) ops[(*n_ops)++] = (rp_augment_op){k3[i], strength, prob};
    } else {
        ops[(*n_ops)++] = (rp_augment_op){SPECS[spec].kind, strength, prob};
    }
    return RP_OK;
}

rp_status rp_augment_parse(rp_ctx *ctx, const char *spec, float default_prob, rp_augment_op *ops, int *n_ops)
{
    if (!ops || !n_ops) return rp_fail(ctx, RP_ERR_ARG, "rp_augment_parse: %s is NULL", !ops ? "ops" : "n_ops");
    *n_ops = 0;
    if (!(default_prob >= 0.0f && default_prob <= 1.0f))
        return rp_fail(ctx, RP_ERR_ARG, "augment: probability %g is not in [0, 1]", (double)default_prob);
    if (!spec) return RP_OK;
    const char *s = spec;
    while (*s) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        if (len == 0) return rp_fail(ctx, RP_ERR_ARG, "augment: empty item in '%s'", spec);
        RP_TRY(parse_item(ctx, s, len, default_prob, ops, n_ops));
        s += len + (comma ? 1 : 0);
        if (comma && !*s) return rp_fail(ctx, RP_ERR_ARG, "augment: empty item in '%s'", spec);
    }
    int mixes = 0;
    for (int i = 0; i < *n_ops; i++) mixes += is_mix(ops[i].kind);
    if (mixes > 1) return rp_fail(ctx, RP_ERR_ARG, "augment: '%s' holds more than one of augmix, prime", spec);
    return RP_OK;
}

rp_status rp_augment_create(rp_ctx *ctx, const char *spec, float default_prob, uint64_t seed, int H, int W, int C,
                            rp_augment **out)
{
    *out = NULL;
    rp_augment tmp = {.H = H, .W = W, .C = C};
    RP_TRY(rp_augment_parse(ctx, spec, default_prob, tmp.ops, &tmp.n_ops));
    for (int i = 0; i < tmp.n_ops; i++)
        if (tmp.ops[i].kind == RP_AUG_CROP && (tmp.ops[i].strength >= (float)H || tmp.ops[i].strength >= (float)W))
            return rp_fail(ctx, RP_ERR_ARG, "augment: crop padding %g must be smaller than the %dx%d image",
                           (double)tmp.ops[i].strength, H, W);
    rp_augment *a = malloc(sizeof *a);
    float *scratch = malloc(rp_augment_scratch_floats(tmp.ops, tmp.n_ops, H, W, C) * sizeof *scratch);
    if (!a || !scratch) {
        free(a), free(scratch);
        return rp_fail(ctx, RP_ERR_NOMEM, "augment: out of memory");
    }
    *a = tmp;
    a->scratch = scratch;
    rp_rng_seed(&a->rng, seed, RP_STREAM_AUGMENT);
    *out = a;
    return RP_OK;
}

void rp_augment_destroy(rp_augment *a)
{
    if (!a) return;
    free(a->scratch);
    free(a);
}

static float clip01(float v) { return v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v; }

static void flip_h(float *img, int H, int W, int C)
{
    for (int i = 0; i < H; i++)
        for (int j = 0; j < W / 2; j++) {
            float *a = img + ((size_t)i * W + j) * C, *b = img + ((size_t)i * W + (W - 1 - j)) * C;
            for (int c = 0; c < C; c++) {
                float t = a[c];
                a[c] = b[c];
                b[c] = t;
            }
        }
}

/* out(i, j) = in(i + dy - pad, j + dx - pad), zero outside; dy, dx in [0, 2 pad]. */
static void crop_pad(float *img, int H, int W, int C, int pad, int dy, int dx, float *scratch)
{
    size_t row = (size_t)W * C;
    memcpy(scratch, img, (size_t)H * row * sizeof *img);
    for (int i = 0; i < H; i++) {
        int si = i + dy - pad;
        for (int j = 0; j < W; j++) {
            int sj = j + dx - pad;
            float *o = img + (size_t)i * row + (size_t)j * C;
            if (si < 0 || si >= H || sj < 0 || sj >= W) memset(o, 0, (size_t)C * sizeof *o);
            else memcpy(o, scratch + (size_t)si * row + (size_t)sj * C, (size_t)C * sizeof *o);
        }
    }
}

static float gray(const float *p, int C) { return C == 3 ? 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2] : p[0]; }

/* mode 0: brightness, 1: contrast (about the image's gray mean), 2: saturation (about each pixel's gray). */
static void jitter(float *img, int H, int W, int C, int mode, float f)
{
    size_t P = (size_t)H * W;
    if (mode == 2 && C != 3) return; /* grayscale has no saturation */
    float m = 0.0f;
    if (mode == 1) {
        double s = 0.0;
        for (size_t p = 0; p < P; p++) s += gray(img + p * C, C);
        m = (float)(s / (double)P);
    }
    for (size_t p = 0; p < P; p++) {
        float *v = img + p * C;
        float g = mode == 2 ? gray(v, C) : m;
        for (int c = 0; c < C; c++) v[c] = clip01(mode == 0 ? v[c] * f : g + (v[c] - g) * f);
    }
}

/* Random erasing (Zhong et al., AAAI 2020, Algorithm 1): a rectangle of area s H W,
 * s ~ U[0.02, smax], aspect ratio r = exp(U[log 0.3, log(1 / 0.3)]), h = round(sqrt(s H W r)),
 * w = round(sqrt(s H W / r)), at a uniform position; up to 10 draws of (s, r) until the
 * rectangle fits (h < H, w < W, as torchvision's RandomErasing), the image unchanged when none
 * does. The fill is flat, one value per channel uniform in [0, 1): the paper's per-pixel random
 * fill would put a patch of noise in every erased image and train the noise family too. */
static void erase(float *img, int H, int W, int C, float smax, rp_rng *rng)
{
    const float lo = logf(0.3f), hi = logf(1.0f / 0.3f), area = (float)H * (float)W;
    for (int attempt = 0; attempt < 10; attempt++) {
        float s = 0.02f + (smax - 0.02f) * rp_rng_uniform(rng);
        float r = expf(lo + (hi - lo) * rp_rng_uniform(rng));
        int h = (int)lrintf(sqrtf(s * area * r)), w = (int)lrintf(sqrtf(s * area / r));
        if (h < 1 || w < 1 || h >= H || w >= W) continue;
        int y = (int)rp_rng_below(rng, (uint32_t)(H - h + 1)), x = (int)rp_rng_below(rng, (uint32_t)(W - w + 1));
        for (int c = 0; c < C; c++) {
            float v = rp_rng_uniform(rng);
            for (int i = y; i < y + h; i++)
                for (int j = x; j < x + w; j++) img[((size_t)i * W + j) * C + c] = v;
        }
        return;
    }
}

void rp_randconv_apply(const float *x, float *out, int H, int W, int C, const float *w, int k, float alpha)
{
    RP_ASSERT(k >= 1 && k % 2 == 1 && C >= 1 && C <= RP_RANDCONV_MAX_C);
    size_t P = (size_t)H * W;
    double sum[RP_RANDCONV_MAX_C] = {0};
    for (size_t p = 0; p < P; p++)
        for (int c = 0; c < C; c++) sum[c] += x[p * C + c];
    float mean[RP_RANDCONV_MAX_C];
    for (int c = 0; c < C; c++) mean[c] = (float)(sum[c] / (double)P);
    int r = k / 2;
    for (int i = 0; i < H; i++)
        for (int j = 0; j < W; j++) {
            float acc[RP_RANDCONV_MAX_C];
            for (int co = 0; co < C; co++) acc[co] = mean[co];
            for (int dy = 0; dy < k; dy++) {
                int y = i + dy - r;
                if (y < 0 || y >= H) continue; /* outside the image: the mean, 0 once centred */
                for (int dx = 0; dx < k; dx++) {
                    int xx = j + dx - r;
                    if (xx < 0 || xx >= W) continue;
                    const float *px = x + ((size_t)y * W + xx) * C, *wt = w + (size_t)(dy * k + dx) * C * C;
                    for (int ci = 0; ci < C; ci++) {
                        float v = px[ci] - mean[ci];
                        for (int co = 0; co < C; co++) acc[co] += wt[ci * C + co] * v;
                    }
                }
            }
            const float *px = x + ((size_t)i * W + j) * C;
            float *o = out + ((size_t)i * W + j) * C;
            for (int c = 0; c < C; c++) o[c] = alpha * px[c] + (1.0f - alpha) * clip01(acc[c]);
        }
}

/* RandConv's draws (Xu et al. 2021): kernel size k uniform over the odd sizes 1..kmax, weights
 * N(0, 1 / (k^2 C)) (their He-style scale), mixing weight alpha ~ U[0, 1) ("RC_mix"). Images
 * with more channels than RP_RANDCONV_MAX_C are left unchanged. */
static void randconv(float *img, int H, int W, int C, int kmax, rp_rng *rng, float *out)
{
    if (C > RP_RANDCONV_MAX_C) return;
    float w[RP_RANDCONV_MAX_K * RP_RANDCONV_MAX_K * RP_RANDCONV_MAX_C * RP_RANDCONV_MAX_C];
    int k = 1 + 2 * (int)rp_rng_below(rng, (uint32_t)(kmax / 2 + 1));
    float sigma = 1.0f / sqrtf((float)(k * k * C));
    for (int i = 0; i < k * k * C * C; i++) w[i] = sigma * rp_rng_normal(rng);
    float alpha = rp_rng_uniform(rng);
    rp_randconv_apply(img, out, H, W, C, w, k, alpha);
    memcpy(img, out, (size_t)H * W * C * sizeof *img);
}

size_t rp_augment_scratch_floats(const rp_augment_op *ops, int n_ops, int H, int W, int C)
{
    size_t X = (size_t)H * W * C, mix = 0;
    for (int k = 0; k < n_ops; k++) {
        size_t m = ops[k].kind == RP_AUG_AUGMIX    ? rp_augmix_scratch_floats(H, W, C)
                   : ops[k].kind == RP_AUG_PRIME   ? rp_prime_scratch_floats(H, W, C)
                   : ops[k].kind == RP_AUG_ELASTIC ? rp_corrupt_scratch_floats(RP_CORR_ELASTIC, H, W, C)
                                                   : 0;
        if (m > mix) mix = m;
    }
    return X + mix; /* one image (crop, a mixing op's output), then the mixing op's own */
}

/* img <- mix(img): the mixing op writes its view into scratch, then it is copied back. */
static void apply_mix(const rp_augment_op *op, float *img, int H, int W, int C, rp_rng *rng, float *scratch)
{
    size_t X = (size_t)H * W * C;
    if (op->kind == RP_AUG_AUGMIX) {
        rp_augmix_config cfg;
        rp_augmix_config_default(&cfg);
        cfg.severity = (int)op->strength;
        rp_augmix_image(&cfg, img, scratch, H, W, C, rng, scratch + X);
    } else {
        rp_prime_config cfg;
        rp_prime_config_default(&cfg);
        rp_prime_image(&cfg, img, scratch, H, W, C, rng, scratch + X);
    }
    memcpy(img, scratch, X * sizeof *img);
}

void rp_augment_image(const rp_augment_op *ops, int n_ops, float *img, int H, int W, int C, rp_rng *rng,
                      float *scratch)
{
    for (int k = 0; k < n_ops; k++) {
        const rp_augment_op *op = &ops[k];
        if (!(rp_rng_uniform(rng) < op->prob)) continue; /* one draw per op per image, always */
        switch (op->kind) {
        case RP_AUG_FLIP: flip_h(img, H, W, C); break;
        case RP_AUG_CROP: {
            int pad = (int)op->strength;
            int dy = (int)rp_rng_below(rng, (uint32_t)(2 * pad + 1)), dx = (int)rp_rng_below(rng, (uint32_t)(2 * pad + 1));
            crop_pad(img, H, W, C, pad, dy, dx, scratch);
            break;
        }
        case RP_AUG_BRIGHTNESS:
        case RP_AUG_CONTRAST:
        case RP_AUG_SATURATION: {
            float f = 1.0f + op->strength * (2.0f * rp_rng_uniform(rng) - 1.0f);
            jitter(img, H, W, C, (int)(op->kind - RP_AUG_BRIGHTNESS), f);
            break;
        }
        case RP_AUG_GAUSSIAN: rp_noise_apply(RP_NOISE_GAUSSIAN, op->strength, img, 1, H, W, C, rng); break;
        case RP_AUG_SHOT: rp_noise_apply(RP_NOISE_SHOT, op->strength, img, 1, H, W, C, rng); break;
        case RP_AUG_SALTPEPPER: rp_noise_apply(RP_NOISE_IMPULSE, op->strength, img, 1, H, W, C, rng); break;
        case RP_AUG_ERASE: erase(img, H, W, C, op->strength, rng); break;
        case RP_AUG_RANDCONV: randconv(img, H, W, C, (int)op->strength, rng, scratch); break;
        case RP_AUG_ELASTIC: { /* the elastic_transform corruption at a severity from 1..strength */
            int severity = 1 + (int)rp_rng_below(rng, (uint32_t)op->strength);
            uint64_t hi = rp_rng_u32(rng); /* two statements: the order of the draws is fixed */
            uint64_t seed = hi << 32 | rp_rng_u32(rng);
            rp_corrupt_image(RP_CORR_ELASTIC, severity, img, H, W, C, seed, 0, scratch);
            break;
        }
        case RP_AUG_AUGMIX:
        case RP_AUG_PRIME: apply_mix(op, img, H, W, C, rng, scratch); break;
        default: RP_ASSERT(!"unknown augmentation kind");
        }
    }
}

int rp_augment_mix_index(const rp_augment_op *ops, int n_ops)
{
    for (int k = 0; k < n_ops; k++)
        if (is_mix(ops[k].kind)) return k;
    return -1;
}

void rp_augment_views(const rp_augment_op *ops, int n_ops, float *img, float *views, int H, int W, int C,
                      rp_rng *rng, float *scratch)
{
    int mix = rp_augment_mix_index(ops, n_ops);
    RP_ASSERT(mix >= 0);
    size_t X = (size_t)H * W * C;
    rp_augment_image(ops, mix, img, H, W, C, rng, scratch);
    for (int v = 0; v < 2; v++) {
        memcpy(views + v * X, img, X * sizeof *img);
        rp_augment_image(ops + mix, n_ops - mix, views + v * X, H, W, C, rng, scratch);
    }
}

unsigned rp_augment_families(const rp_augment_op *ops, int n_ops)
{
    unsigned f = 0;
    for (int k = 0; k < n_ops; k++) {
        switch (ops[k].kind) {
        case RP_AUG_FLIP:
        case RP_AUG_CROP: f |= 1u << RP_FAMILY_GEOMETRIC; break;
        case RP_AUG_BRIGHTNESS: f |= 1u << RP_FAMILY_WEATHER; break;
        case RP_AUG_CONTRAST:
        case RP_AUG_SATURATION: f |= 1u << RP_FAMILY_DIGITAL; break;
        case RP_AUG_GAUSSIAN:
        case RP_AUG_SHOT:
        case RP_AUG_SALTPEPPER: f |= 1u << RP_FAMILY_NOISE; break;
        case RP_AUG_ERASE: f |= 1u << RP_FAMILY_OCCLUSION; break;
        case RP_AUG_RANDCONV: f |= 1u << RP_FAMILY_BLUR | 1u << RP_FAMILY_DIGITAL; break;
        case RP_AUG_ELASTIC: f |= 1u << RP_FAMILY_DIGITAL | 1u << RP_FAMILY_GEOMETRIC; break; /* moves pixels */
        case RP_AUG_AUGMIX: {
            rp_augmix_config cfg;
            rp_augmix_config_default(&cfg);
            f |= rp_augmix_families(&cfg);
            break;
        }
        case RP_AUG_PRIME:
            for (int p = 0; p < RP_PRIME_COUNT; p++) f |= rp_prime_families((rp_prime_primitive)p);
            break;
        default: RP_ASSERT(!"unknown augmentation kind");
        }
    }
    return f;
}

void rp_augment_apply(rp_augment *a, float *x, int B)
{
    size_t X = (size_t)a->H * a->W * a->C;
    for (int b = 0; b < B; b++) rp_augment_image(a->ops, a->n_ops, x + (size_t)b * X, a->H, a->W, a->C, &a->rng, a->scratch);
}
