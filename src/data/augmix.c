/* AugMix: the ops and the mixing (see augmix.h). */
#include "data/augmix.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng_dist.h"
#include "data/warp.h"

static const struct {
    const char *name;
    bool sign;
    rp_corruption_family family;
} OPS[RP_AUGMIX_OP_COUNT] = {
    [RP_AUGMIX_AUTOCONTRAST] = {"autocontrast", false, RP_FAMILY_DIGITAL},
    [RP_AUGMIX_EQUALIZE] = {"equalize", false, RP_FAMILY_DIGITAL},
    [RP_AUGMIX_POSTERIZE] = {"posterize", false, RP_FAMILY_DIGITAL},
    [RP_AUGMIX_ROTATE] = {"rotate", true, RP_FAMILY_GEOMETRIC},
    [RP_AUGMIX_SOLARIZE] = {"solarize", false, RP_FAMILY_DIGITAL},
    [RP_AUGMIX_SHEAR_X] = {"shear_x", true, RP_FAMILY_GEOMETRIC},
    [RP_AUGMIX_SHEAR_Y] = {"shear_y", true, RP_FAMILY_GEOMETRIC},
    [RP_AUGMIX_TRANSLATE_X] = {"translate_x", true, RP_FAMILY_GEOMETRIC},
    [RP_AUGMIX_TRANSLATE_Y] = {"translate_y", true, RP_FAMILY_GEOMETRIC},
    [RP_AUGMIX_COLOR] = {"color", false, RP_FAMILY_DIGITAL},
    [RP_AUGMIX_CONTRAST] = {"contrast", false, RP_FAMILY_DIGITAL},
    [RP_AUGMIX_BRIGHTNESS] = {"brightness", false, RP_FAMILY_WEATHER},
    [RP_AUGMIX_SHARPNESS] = {"sharpness", false, RP_FAMILY_BLUR},
};

const char *rp_augmix_op_name(rp_augmix_opkind op)
{
    RP_ASSERT(op >= 0 && op < RP_AUGMIX_OP_COUNT);
    return OPS[op].name;
}

bool rp_augmix_op_parse(const char *name, rp_augmix_opkind *out)
{
    for (int k = 0; k < RP_AUGMIX_OP_COUNT; k++)
        if (!strcmp(name, OPS[k].name)) {
            *out = (rp_augmix_opkind)k;
            return true;
        }
    return false;
}

bool rp_augmix_op_signed(rp_augmix_opkind op)
{
    RP_ASSERT(op >= 0 && op < RP_AUGMIX_OP_COUNT);
    return OPS[op].sign;
}

rp_corruption_family rp_augmix_op_family(rp_augmix_opkind op)
{
    RP_ASSERT(op >= 0 && op < RP_AUGMIX_OP_COUNT);
    return OPS[op].family;
}

static int n_ops(const rp_augmix_config *cfg) { return cfg->all_ops ? RP_AUGMIX_OP_COUNT : RP_AUGMIX_PAPER_OPS; }

unsigned rp_augmix_families(const rp_augmix_config *cfg)
{
    unsigned mask = 0;
    for (int k = 0; k < n_ops(cfg); k++) mask |= 1u << OPS[k].family;
    return mask;
}

void rp_augmix_config_default(rp_augmix_config *cfg)
{
    *cfg = (rp_augmix_config){.severity = 3, .width = 3, .depth = -1, .alpha = 1.0f, .all_ops = false};
}

unsigned rp_augmix_families_all(void)
{
    rp_augmix_config cfg;
    rp_augmix_config_default(&cfg);
    return rp_augmix_families(&cfg);
}

/* ---- configuration ------------------------------------------------------------------------ */

static bool parse_long(const char *s, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return false;
    *out = (int)v;
    return true;
}

static rp_status parse_item(rp_ctx *ctx, char *item, rp_augmix_config *cfg)
{
    char *eq = strchr(item, '=');
    if (!eq) return rp_fail(ctx, RP_ERR_ARG, "augmix: '%s' is not key=value", item);
    *eq = '\0';
    const char *key = item, *val = eq + 1;
    bool ok;
    if (!strcmp(key, "severity")) ok = parse_long(val, 1, 10, &cfg->severity);
    else if (!strcmp(key, "width")) ok = parse_long(val, 1, RP_AUGMIX_MAX_WIDTH, &cfg->width);
    else if (!strcmp(key, "depth")) ok = parse_long(val, -1, 10, &cfg->depth) && cfg->depth != 0;
    else if (!strcmp(key, "alpha")) {
        char *end;
        errno = 0;
        float a = strtof(val, &end);
        ok = !errno && end != val && !*end && isfinite(a) && a > 0.0f;
        if (ok) cfg->alpha = a;
    } else if (!strcmp(key, "ops")) {
        ok = !strcmp(val, "paper") || !strcmp(val, "all");
        if (ok) cfg->all_ops = !strcmp(val, "all");
    } else
        return rp_fail(ctx, RP_ERR_ARG, "augmix: unknown key '%s' (severity, width, depth, alpha, ops)", key);
    if (!ok)
        return rp_fail(ctx, RP_ERR_ARG,
                       "augmix: bad value '%s' for %s (severity 1..10, width 1..%d, depth -1 or 1..10, "
                       "alpha > 0, ops paper|all)",
                       val, key, RP_AUGMIX_MAX_WIDTH);
    return RP_OK;
}

rp_status rp_augmix_parse(rp_ctx *ctx, const char *spec, rp_augmix_config *cfg)
{
    rp_augmix_config c;
    rp_augmix_config_default(&c);
    char buf[256];
    if (!spec) spec = "";
    if (strlen(spec) >= sizeof buf) return rp_fail(ctx, RP_ERR_ARG, "augmix: spec too long");
    strcpy(buf, spec);
    for (char *p = buf; *p;) {
        char *comma = strchr(p, ',');
        if (comma) *comma = '\0';
        RP_TRY(parse_item(ctx, p, &c));
        if (!comma) break;
        p = comma + 1;
    }
    *cfg = c;
    return RP_OK;
}

/* ---- the ops --------------------------------------------------------------------------------- */

/* The paper's int_parameter and float_parameter (PARAMETER_MAX = 10). */
static int int_parameter(float level, double maxval) { return (int)((double)level * maxval / 10.0); }
static double float_parameter(float level, double maxval) { return (double)level * maxval / 10.0; }

static inline float clip01(float v) { return v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v; }

static inline int quant8(float v)
{
    int q = (int)(v * 255.0f + 0.5f);
    return q < 0 ? 0 : q > 255 ? 255 : q;
}

/* Apply lut (256 entries) to channel c (or all channels, c = -1); outputs are k / 255.0f. */
static void apply_lut(float *img, size_t P, int C, int c, const uint8_t *lut)
{
    float unit[256];
    for (int i = 0; i < 256; i++) unit[i] = (float)lut[i] / 255.0f;
    if (c < 0) {
        for (size_t i = 0; i < P * C; i++) img[i] = unit[quant8(img[i])];
        return;
    }
    for (size_t p = 0; p < P; p++) img[p * C + c] = unit[quant8(img[p * C + c])];
}

static void histogram(const float *img, size_t P, int C, int c, uint32_t h[256])
{
    memset(h, 0, 256 * sizeof h[0]);
    for (size_t p = 0; p < P; p++) h[quant8(img[p * C + c])]++;
}

/* ImageOps.autocontrast (cutoff 0): per channel, [lo, hi] -> [0, 255]. */
static void autocontrast(float *img, size_t P, int C)
{
    uint32_t h[256];
    uint8_t lut[256];
    for (int c = 0; c < C; c++) {
        histogram(img, P, C, c, h);
        int lo = 0, hi = 255;
        while (lo < 255 && !h[lo]) lo++;
        while (hi > 0 && !h[hi]) hi--;
        double scale = hi > lo ? 255.0 / (hi - lo) : 1.0, offset = hi > lo ? -lo * scale : 0.0;
        for (int i = 0; i < 256; i++) {
            int v = (int)(i * scale + offset); /* Python's int(): toward zero */
            lut[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
        apply_lut(img, P, C, c, lut);
    }
}

/* ImageOps.equalize: per channel, PIL's cumulative LUT. */
static void equalize(float *img, size_t P, int C)
{
    uint32_t h[256];
    uint8_t lut[256];
    for (int c = 0; c < C; c++) {
        histogram(img, P, C, c, h);
        int nonzero = 0, last = 0;
        for (int i = 0; i < 256; i++)
            if (h[i]) nonzero++, last = i;
        uint64_t step = nonzero > 1 ? ((uint64_t)P - h[last]) / 255 : 0;
        uint64_t n = step / 2;
        for (int i = 0; i < 256; i++) {
            uint64_t v = step ? n / step : (uint64_t)i;
            lut[i] = (uint8_t)(v > 255 ? 255 : v);
            n += h[i];
        }
        apply_lut(img, P, C, c, lut);
    }
}

static void posterize(float *img, size_t P, int C, float level)
{
    int bits = 4 - int_parameter(level, 4);
    bits = bits < 0 ? 0 : bits;
    uint8_t lut[256], mask = (uint8_t)~((1u << (8 - bits)) - 1u);
    for (int i = 0; i < 256; i++) lut[i] = (uint8_t)(i & mask);
    apply_lut(img, P, C, -1, lut);
}

static void solarize(float *img, size_t P, int C, float level)
{
    int threshold = 256 - int_parameter(level, 256);
    uint8_t lut[256];
    for (int i = 0; i < 256; i++) lut[i] = (uint8_t)(i < threshold ? i : 255 - i);
    apply_lut(img, P, C, -1, lut);
}

/* img <- warp(img) under the inverse map m (PIL's AFFINE data), bilinear, fill 0. */
static void warp(float *img, int H, int W, int C, const double m[6], float *scratch)
{
    memcpy(scratch, img, (size_t)H * W * C * sizeof(float));
    rp_warp_affine(scratch, img, H, W, C, m, RP_INTERP_BILINEAR, 0.0f);
}

static void geometric(rp_augmix_opkind op, float level, int sign, float *img, int H, int W, int C, float *scratch)
{
    double m[6] = {1, 0, 0, 0, 1, 0};
    switch (op) {
    case RP_AUGMIX_ROTATE: {
        int deg = sign * int_parameter(level, 30);
        if (deg == 0) return; /* PIL copies */
        rp_warp_rotation(m, deg, H, W);
        break;
    }
    case RP_AUGMIX_SHEAR_X: m[1] = sign * float_parameter(level, 0.3); break;
    case RP_AUGMIX_SHEAR_Y: m[3] = sign * float_parameter(level, 0.3); break;
    case RP_AUGMIX_TRANSLATE_X: m[2] = sign * int_parameter(level, W / 3.0); break;
    case RP_AUGMIX_TRANSLATE_Y: m[5] = sign * int_parameter(level, H / 3.0); break;
    default: RP_ASSERT(!"not a geometric op");
    }
    warp(img, H, W, C, m, scratch);
}

/* PIL's "L" of an RGB pixel given as uint8 (ITU-R 601-2 in 16-bit fixed point). */
static inline int luma8(const float *px)
{
    return (19595 * quant8(px[0]) + 38470 * quant8(px[1]) + 7471 * quant8(px[2]) + 0x8000) >> 16;
}

/* ImageEnhance: img <- degenerate + f (img - degenerate), clipped; degenerate per kind. */
static void enhance(rp_augmix_opkind op, float level, float *img, int H, int W, int C, float *scratch)
{
    float f = (float)(float_parameter(level, 1.8) + 0.1);
    size_t P = (size_t)H * W, n = P * C;
    if (op == RP_AUGMIX_COLOR) {
        if (C != 3) return; /* gray: L of L is the image */
        for (size_t p = 0; p < P; p++) scratch[p * 3] = scratch[p * 3 + 1] = scratch[p * 3 + 2] = luma8(img + p * 3) / 255.0f;
    } else if (op == RP_AUGMIX_CONTRAST) {
        uint64_t s = 0;
        for (size_t p = 0; p < P; p++) s += C == 3 ? (uint64_t)luma8(img + p * 3) : (uint64_t)quant8(img[p]);
        float mean = (float)(int)((double)s / (double)P + 0.5) / 255.0f;
        for (size_t i = 0; i < n; i++) scratch[i] = mean;
    } else if (op == RP_AUGMIX_BRIGHTNESS) {
        memset(scratch, 0, n * sizeof(float));
    } else { /* sharpness: ImageFilter.SMOOTH, 3x3 (1 1 1; 1 5 1; 1 1 1) / 13, border copied */
        memcpy(scratch, img, n * sizeof(float));
        for (int i = 1; i < H - 1; i++)
            for (int j = 1; j < W - 1; j++)
                for (int c = 0; c < C; c++) {
                    float s = 4.0f * img[((size_t)i * W + j) * C + c];
                    for (int di = -1; di <= 1; di++)
                        for (int dj = -1; dj <= 1; dj++) s += img[((size_t)(i + di) * W + (j + dj)) * C + c];
                    scratch[((size_t)i * W + j) * C + c] = s / 13.0f;
                }
    }
    for (size_t i = 0; i < n; i++) img[i] = clip01(scratch[i] + f * (img[i] - scratch[i]));
}

size_t rp_augmix_op_scratch_floats(int H, int W, int C) { return (size_t)H * W * C; }
size_t rp_augmix_scratch_floats(int H, int W, int C) { return 2 * (size_t)H * W * C; }

void rp_augmix_op(rp_augmix_opkind op, float level, int sign, float *img, int H, int W, int C, float *scratch)
{
    RP_ASSERT(op >= 0 && op < RP_AUGMIX_OP_COUNT && H > 0 && W > 0 && (C == 1 || C == 3));
    RP_ASSERT(sign == 1 || sign == -1);
    size_t P = (size_t)H * W;
    switch (op) {
    case RP_AUGMIX_AUTOCONTRAST: autocontrast(img, P, C); break;
    case RP_AUGMIX_EQUALIZE: equalize(img, P, C); break;
    case RP_AUGMIX_POSTERIZE: posterize(img, P, C, level); break;
    case RP_AUGMIX_SOLARIZE: solarize(img, P, C, level); break;
    case RP_AUGMIX_ROTATE:
    case RP_AUGMIX_SHEAR_X:
    case RP_AUGMIX_SHEAR_Y:
    case RP_AUGMIX_TRANSLATE_X:
    case RP_AUGMIX_TRANSLATE_Y: geometric(op, level, sign, img, H, W, C, scratch); break;
    default: enhance(op, level, img, H, W, C, scratch); break;
    }
}

/* ---- mixing -------------------------------------------------------------------------------- */

void rp_augmix_mixing_weights(const rp_augmix_config *cfg, rp_rng *rng, float *w, float *m)
{
    RP_ASSERT(cfg->width >= 1 && cfg->width <= RP_AUGMIX_MAX_WIDTH && cfg->alpha > 0.0f);
    double wd[RP_AUGMIX_MAX_WIDTH];
    rp_rng_dirichlet(rng, cfg->alpha, cfg->width, wd);
    for (int i = 0; i < cfg->width; i++) w[i] = (float)wd[i];
    *m = (float)rp_rng_beta(rng, cfg->alpha, cfg->alpha);
}

void rp_augmix_image(const rp_augmix_config *cfg, const float *x, float *out, int H, int W, int C, rp_rng *rng,
                     float *scratch)
{
    RP_ASSERT(cfg && cfg->width >= 1 && cfg->width <= RP_AUGMIX_MAX_WIDTH && cfg->alpha > 0.0f);
    RP_ASSERT(cfg->severity >= 1 && cfg->severity <= 10 && (cfg->depth == -1 || cfg->depth >= 1));
    RP_ASSERT(x != out);
    size_t n = (size_t)H * W * C;
    float *chain = scratch, *op_scratch = scratch + n;
    float w[RP_AUGMIX_MAX_WIDTH], m;
    rp_augmix_mixing_weights(cfg, rng, w, &m);
    uint32_t k = (uint32_t)n_ops(cfg);
    memset(out, 0, n * sizeof(float));
    for (int i = 0; i < cfg->width; i++) {
        memcpy(chain, x, n * sizeof(float));
        int depth = cfg->depth > 0 ? cfg->depth : 1 + (int)rp_rng_below(rng, 3);
        for (int d = 0; d < depth; d++) {
            rp_augmix_opkind op = (rp_augmix_opkind)rp_rng_below(rng, k);
            float level = 0.1f + (cfg->severity - 0.1f) * rp_rng_uniform(rng);
            int sign = OPS[op].sign && (rp_rng_u32(rng) & 1u) ? -1 : 1;
            rp_augmix_op(op, level, sign, chain, H, W, C, op_scratch);
        }
        for (size_t e = 0; e < n; e++) out[e] += w[i] * chain[e];
    }
    for (size_t e = 0; e < n; e++) out[e] = clip01((1.0f - m) * x[e] + m * out[e]);
}
