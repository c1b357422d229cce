/* The corruption registry: names, families, tables, seeding, and the batch driver. */
#include "data/corrupt.h"

#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "data/corrupt_internal.h"

typedef struct corruption_info {
    const char *name;
    rp_corruption_family family;
    rp_corrupt_fn fn;
    rp_corrupt_scratch_fn scratch;
    bool held_out, needs_color;
} corruption_info;

#define ENTRY(id, nm, fam, impl, held, color) \
    [id] = {nm, fam, rp_cx_##impl, rp_cx_##impl##_scratch, held, color}

static const corruption_info INFO[RP_CORR_COUNT] = {
    ENTRY(RP_CORR_GAUSSIAN_NOISE, "gaussian_noise", RP_FAMILY_NOISE, gaussian_noise, false, false),
    ENTRY(RP_CORR_SHOT_NOISE, "shot_noise", RP_FAMILY_NOISE, shot_noise, false, false),
    ENTRY(RP_CORR_IMPULSE_NOISE, "impulse_noise", RP_FAMILY_NOISE, impulse_noise, false, false),
    ENTRY(RP_CORR_DEFOCUS_BLUR, "defocus_blur", RP_FAMILY_BLUR, defocus_blur, false, false),
    ENTRY(RP_CORR_GLASS_BLUR, "glass_blur", RP_FAMILY_BLUR, glass_blur, false, false),
    ENTRY(RP_CORR_MOTION_BLUR, "motion_blur", RP_FAMILY_BLUR, motion_blur, false, false),
    ENTRY(RP_CORR_ZOOM_BLUR, "zoom_blur", RP_FAMILY_BLUR, zoom_blur, false, false),
    ENTRY(RP_CORR_SNOW, "snow", RP_FAMILY_WEATHER, snow, false, false),
    ENTRY(RP_CORR_FROST, "frost", RP_FAMILY_WEATHER, frost, false, false),
    ENTRY(RP_CORR_FOG, "fog", RP_FAMILY_WEATHER, fog, false, false),
    ENTRY(RP_CORR_BRIGHTNESS, "brightness", RP_FAMILY_WEATHER, brightness, false, false),
    ENTRY(RP_CORR_CONTRAST, "contrast", RP_FAMILY_DIGITAL, contrast, false, false),
    ENTRY(RP_CORR_ELASTIC, "elastic_transform", RP_FAMILY_DIGITAL, elastic, false, false),
    ENTRY(RP_CORR_PIXELATE, "pixelate", RP_FAMILY_DIGITAL, pixelate, false, false),
    ENTRY(RP_CORR_JPEG, "jpeg_compression", RP_FAMILY_DIGITAL, jpeg, false, false),
    ENTRY(RP_CORR_SPECKLE_NOISE, "speckle_noise", RP_FAMILY_NOISE, speckle_noise, true, false),
    ENTRY(RP_CORR_GAUSSIAN_BLUR, "gaussian_blur", RP_FAMILY_BLUR, gaussian_blur, true, false),
    ENTRY(RP_CORR_SPATTER, "spatter", RP_FAMILY_WEATHER, spatter, true, false),
    ENTRY(RP_CORR_SATURATE, "saturate", RP_FAMILY_DIGITAL, saturate, true, true),
    ENTRY(RP_CORR_ROTATE, "rotate", RP_FAMILY_GEOMETRIC, rotate, false, false),
    ENTRY(RP_CORR_SHEAR, "shear", RP_FAMILY_GEOMETRIC, shear, false, false),
    ENTRY(RP_CORR_SCALE, "scale", RP_FAMILY_GEOMETRIC, scale, false, false),
    ENTRY(RP_CORR_TRANSLATE, "translate", RP_FAMILY_GEOMETRIC, translate, false, false),
    ENTRY(RP_CORR_STRIPE, "stripe", RP_FAMILY_OCCLUSION, stripe, false, false),
    ENTRY(RP_CORR_DOTTED_LINE, "dotted_line", RP_FAMILY_OCCLUSION, dotted_line, false, false),
    ENTRY(RP_CORR_ZIGZAG, "zigzag", RP_FAMILY_OCCLUSION, zigzag, false, false),
};

static const char *const FAMILY[RP_FAMILY_COUNT + 1] = {"noise", "blur", "weather", "digital", "geometric",
                                                        "occlusion", NULL};

const char *const *rp_corruption_family_names(void) { return FAMILY; }

rp_corrupt_table rp_corrupt_table_for(int H, int W)
{
    int side = H > W ? H : W;
    return side <= 28 ? RP_CTABLE_28 : side <= 32 ? RP_CTABLE_CIFAR : side <= 96 ? RP_CTABLE_TINY : RP_CTABLE_IMAGENET;
}

const char *rp_corrupt_table_name(rp_corrupt_table t)
{
    static const char *const N[RP_CTABLE_COUNT] = {"28px", "CIFAR-10-C", "Tiny-ImageNet-C", "ImageNet-C"};
    RP_ASSERT(t >= 0 && t < RP_CTABLE_COUNT);
    return N[t];
}

const char *rp_corruption_name(rp_corruption c)
{
    RP_ASSERT(c >= 0 && c < RP_CORR_COUNT);
    return INFO[c].name;
}

const char *rp_corruption_family_name(rp_corruption_family f)
{
    RP_ASSERT(f >= 0 && f < RP_FAMILY_COUNT);
    return FAMILY[f];
}

rp_corruption_family rp_corruption_family_of(rp_corruption c)
{
    RP_ASSERT(c >= 0 && c < RP_CORR_COUNT);
    return INFO[c].family;
}

bool rp_corruption_held_out(rp_corruption c) { return INFO[c].held_out; }
bool rp_corruption_in_imagenet_c(rp_corruption c) { return c <= RP_CORR_JPEG; }
bool rp_corruption_applies(rp_corruption c, int C) { return !INFO[c].needs_color || C == 3; }

bool rp_corruption_parse(const char *name, rp_corruption *out)
{
    static const struct { const char *alias; rp_corruption c; } ALIAS[] = {
        {"elastic", RP_CORR_ELASTIC}, {"jpeg", RP_CORR_JPEG}, {"gaussian", RP_CORR_GAUSSIAN_NOISE},
        {"shot", RP_CORR_SHOT_NOISE}, {"impulse", RP_CORR_IMPULSE_NOISE}, {"speckle", RP_CORR_SPECKLE_NOISE},
        {"salt-and-pepper", RP_CORR_IMPULSE_NOISE}, {"saltpepper", RP_CORR_IMPULSE_NOISE},
    };
    for (int c = 0; c < RP_CORR_COUNT; c++)
        if (!strcmp(name, INFO[c].name)) {
            *out = (rp_corruption)c;
            return true;
        }
    for (size_t i = 0; i < sizeof ALIAS / sizeof ALIAS[0]; i++)
        if (!strcmp(name, ALIAS[i].alias)) {
            *out = ALIAS[i].c;
            return true;
        }
    return false;
}

bool rp_corruption_family_parse(const char *name, rp_corruption_family *out)
{
    for (int f = 0; f < RP_FAMILY_COUNT; f++)
        if (!strcmp(name, FAMILY[f])) {
            *out = (rp_corruption_family)f;
            return true;
        }
    return false;
}

rp_status rp_corruption_parse_list(rp_ctx *ctx, const char *spec, bool out[RP_CORR_COUNT])
{
    memset(out, 0, RP_CORR_COUNT * sizeof out[0]);
    char buf[1024];
    if (!spec || !*spec) return rp_fail(ctx, RP_ERR_ARG, "corruptions: empty list");
    if (strlen(spec) >= sizeof buf) return rp_fail(ctx, RP_ERR_ARG, "corruptions: list too long");
    strcpy(buf, spec);
    int n = 0;
    for (char *save = NULL, *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        rp_corruption c;
        rp_corruption_family f;
        bool any = false;
        for (int k = 0; k < RP_CORR_COUNT; k++) {
            bool take = !strcmp(item, "all") || (!strcmp(item, "imagenet-c") && rp_corruption_in_imagenet_c(k)) ||
                        (!strcmp(item, "extra") && INFO[k].held_out);
            if (take) out[k] = any = true;
        }
        if (any) {
            n++;
            continue;
        }
        if (rp_corruption_family_parse(item, &f)) {
            for (int k = 0; k < RP_CORR_COUNT; k++)
                if (INFO[k].family == f) out[k] = true;
        } else if (rp_corruption_parse(item, &c)) {
            out[c] = true;
        } else {
            return rp_fail(ctx, RP_ERR_ARG,
                           "corruptions: unknown corruption or family '%s' (families: noise, blur, weather, "
                           "digital, geometric, occlusion; or all, imagenet-c, extra)",
                           item);
        }
        n++;
    }
    if (!n) return rp_fail(ctx, RP_ERR_ARG, "corruptions: empty list");
    return RP_OK;
}

rp_status rp_corruption_parse_severities(rp_ctx *ctx, const char *spec, bool sev[6])
{
    if (!sev) return rp_fail(ctx, RP_ERR_ARG, "severity: sev is NULL");
    memset(sev, 0, 6 * sizeof sev[0]);
    if (!spec || !*spec) return rp_fail(ctx, RP_ERR_ARG, "severity: empty list (use 1..5)");
    const char *p = spec;
    while (*p) {
        char *end;
        long a = strtol(p, &end, 10), b = a;
        if (end == p) return rp_fail(ctx, RP_ERR_ARG, "severity: '%s' is not a list of 1..5", spec);
        if (*end == '-') {
            const char *q = end + 1;
            b = strtol(q, &end, 10);
            if (end == q) return rp_fail(ctx, RP_ERR_ARG, "severity: '%s' is not a list of 1..5", spec);
        }
        if (a < 1 || b > 5 || a > b)
            return rp_fail(ctx, RP_ERR_ARG, "severity: '%s' is outside 1..5", spec);
        for (long s = a; s <= b; s++) sev[s] = true;
        if (*end == ',' && end[1]) end++;
        else if (*end) return rp_fail(ctx, RP_ERR_ARG, "severity: '%s' is not a list of 1..5", spec);
        p = end;
    }
    return RP_OK;
}

size_t rp_corrupt_scratch_floats(rp_corruption c, int H, int W, int C)
{
    RP_ASSERT(c >= 0 && c < RP_CORR_COUNT);
    return INFO[c].scratch(H, W, C);
}

/* splitmix64: decorrelates neighbouring (seed, index) pairs before PCG32 seeding */
static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void rp_corrupt_image_table(rp_corruption c, int severity, rp_corrupt_table t, float *img, int H, int W, int C,
                            uint64_t seed, uint64_t index, float *scratch)
{
    RP_ASSERT(c >= 0 && c < RP_CORR_COUNT && severity >= 1 && severity <= 5);
    RP_ASSERT(t >= 0 && t < RP_CTABLE_COUNT && (C == 1 || C == 3) && H > 0 && W > 0);
    rp_rng rng;
    rp_rng_seed(&rng, mix64(seed ^ mix64(index)), (uint64_t)RP_STREAM_NOISE * 1024u + (uint64_t)c * 8u + (uint64_t)severity);
    rp_corrupt_job j = {img, H, W, C, severity, t, &rng, scratch};
    INFO[c].fn(&j);
}

void rp_corrupt_image(rp_corruption c, int severity, float *img, int H, int W, int C, uint64_t seed,
                      uint64_t index, float *scratch)
{
    rp_corrupt_image_table(c, severity, rp_corrupt_table_for(H, W), img, H, W, C, seed, index, scratch);
}

rp_status rp_corrupt_batch(rp_ctx *ctx, rp_corruption c, int severity, float *x, int B, int H, int W, int C,
                           uint64_t seed, uint64_t first_index)
{
    size_t X = (size_t)H * W * C, S = rp_corrupt_scratch_floats(c, H, W, C) + 1;
    int T = 1;
#ifdef _OPENMP
    T = omp_get_max_threads();
#endif
    if (T > B) T = B > 0 ? B : 1;
    float *scratch = malloc((size_t)T * S * sizeof(float));
    if (!scratch) return rp_fail(ctx, RP_ERR_NOMEM, "corrupt %s: out of memory for scratch", INFO[c].name);
#pragma omp parallel for schedule(dynamic, 1) num_threads(T)
    for (int b = 0; b < B; b++) {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        rp_corrupt_image(c, severity, x + (size_t)b * X, H, W, C, seed, first_index + (uint64_t)b, scratch + (size_t)t * S);
    }
    free(scratch);
    return RP_OK;
}
