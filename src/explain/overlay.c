/* Map display: scale, colours, blends. See overlay.h. */
#include "explain/overlay.h"

#include <math.h>
#include <stdlib.h>

#include "core/status.h"

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

float rp_map_scale(const float *map, size_t n, float pct)
{
    RP_ASSERT(pct > 0.0f && pct <= 100.0f);
    float mx = 0.0f;
    for (size_t k = 0; k < n; k++) mx = fabsf(map[k]) > mx ? fabsf(map[k]) : mx;
    if (pct >= 100.0f || mx == 0.0f || n == 0) return mx;
    float *a = malloc(n * sizeof(float));
    if (!a) return mx; /* display only: fall back to the max */
    for (size_t k = 0; k < n; k++) a[k] = fabsf(map[k]);
    qsort(a, n, sizeof(float), cmp_float);
    size_t rank = (size_t)ceil(pct / 100.0 * (double)n); /* nearest rank, 1-based */
    float s = a[rank < 1 ? 0 : rank - 1];
    free(a);
    return s > 0.0f ? s : mx;
}

float rp_map_t(float v, float scale, bool is_signed)
{
    float u = scale > 0.0f ? v / scale : 0.0f;
    if (scale > 0.0f && !isfinite(u)) u = v > 0.0f ? 1.0f : -1.0f;
    u = u < -1.0f ? -1.0f : u > 1.0f ? 1.0f : u;
    if (is_signed) return 0.5f + 0.5f * u;
    return u < 0.0f ? 0.0f : u;
}

void rp_map_colorize(const float *map, int H, int W, float scale, bool is_signed, rp_colormap cm, float *rgb)
{
    for (size_t p = 0; p < (size_t)H * W; p++) rp_colormap_rgb(cm, rp_map_t(map[p], scale, is_signed), rgb + 3 * p);
}

void rp_map_overlay(const float *img, int C, const float *map, int H, int W, float scale, bool is_signed,
                    rp_colormap cm, float alpha, float *rgb)
{
    RP_ASSERT(C == 1 || C == 3);
    alpha = alpha < 0.0f ? 0.0f : alpha > 1.0f ? 1.0f : alpha;
    for (size_t p = 0; p < (size_t)H * W; p++) {
        float col[3];
        rp_colormap_rgb(cm, rp_map_t(map[p], scale, is_signed), col);
        for (int c = 0; c < 3; c++) {
            float v = img[p * C + (C == 3 ? c : 0)];
            v = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
            rgb[3 * p + c] = (1.0f - alpha) * v + alpha * col[c];
        }
    }
}

int rp_view_scale(int H, int W, int min_size)
{
    int m = H > W ? H : W, f = 1;
    if (m < 1) return 1;
    while (m * f < min_size) f++;
    return f;
}

/* ---- the public, checked forms (rampart.h) ---- */

static rp_status check_map(rp_ctx *ctx, const char *fn, const float *map, int H, int W, float scale, rp_colormap cm,
                           const float *rgb)
{
    if (!map || !rgb) return rp_fail(ctx, RP_ERR_ARG, "%s: %s is NULL", fn, !map ? "map" : "rgb");
    if (H < 1 || W < 1) return rp_fail(ctx, RP_ERR_ARG, "%s: map %dx%d", fn, H, W);
    if (!(scale >= 0.0f)) return rp_fail(ctx, RP_ERR_ARG, "%s: scale %g (>= 0)", fn, (double)scale);
    if ((unsigned)cm > (unsigned)RP_CMAP_DIVERGING) return rp_fail(ctx, RP_ERR_ARG, "%s: unknown colour map %d", fn, (int)cm);
    return RP_OK;
}

rp_status rp_xai_map_scale(rp_ctx *ctx, const float *map, size_t n, float pct, float *scale)
{
    if (!scale || (!map && n > 0))
        return rp_fail(ctx, RP_ERR_ARG, "rp_xai_map_scale: %s is NULL", !scale ? "scale" : "map");
    if (!(pct > 0.0f && pct <= 100.0f))
        return rp_fail(ctx, RP_ERR_ARG, "rp_xai_map_scale: percentile %g outside (0, 100]", (double)pct);
    *scale = n > 0 ? rp_map_scale(map, n, pct) : 0.0f;
    return RP_OK;
}

rp_status rp_xai_map_colorize(rp_ctx *ctx, const float *map, int H, int W, float scale, bool is_signed,
                              rp_colormap cm, float *rgb)
{
    RP_TRY(check_map(ctx, "rp_xai_map_colorize", map, H, W, scale, cm, rgb));
    rp_map_colorize(map, H, W, scale, is_signed, cm, rgb);
    return RP_OK;
}

rp_status rp_xai_map_overlay(rp_ctx *ctx, const float *img, int C, const float *map, int H, int W, float scale,
                             bool is_signed, rp_colormap cm, float alpha, float *rgb)
{
    RP_TRY(check_map(ctx, "rp_xai_map_overlay", map, H, W, scale, cm, rgb));
    if (!img) return rp_fail(ctx, RP_ERR_ARG, "rp_xai_map_overlay: img is NULL");
    if (C != 1 && C != 3) return rp_fail(ctx, RP_ERR_ARG, "rp_xai_map_overlay: C = %d (1 or 3)", C);
    rp_map_overlay(img, C, map, H, W, scale, is_signed, cm, alpha, rgb);
    return RP_OK;
}

