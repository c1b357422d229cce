/* PNG files for the public API (include/rampart.h): an image, and an explanation as three
 * panels (image, map, overlay), drawn with the explain/overlay.h colours on an io/png.h canvas. */
#include <math.h>
#include <stdlib.h>

#include "explain/overlay.h"
#include "io/png.h"

enum { GAP = 4, MIN_VIEW = 112 };

static rp_status check_image(rp_ctx *ctx, const char *what, const char *path, const float *image, int H, int W,
                             int C)
{
    if (!path || !image) return rp_fail(ctx, RP_ERR_ARG, "%s: %s is NULL", what, !path ? "path" : "image");
    if (H < 1 || W < 1 || (C != 1 && C != 3) || H > 32768 || W > 32768)
        return rp_fail(ctx, RP_ERR_ARG, "%s %s: image %dx%dx%d (C must be 1 or 3)", what, path, H, W, C);
    return RP_OK;
}

rp_status rp_image_write_png_u8(rp_ctx *ctx, const char *path, const uint8_t *pix, int H, int W, int C)
{
    if (!path || !pix) return rp_fail(ctx, RP_ERR_ARG, "write png: %s is NULL", !path ? "path" : "pix");
    if (H < 1 || W < 1 || (C != 1 && C != 3) || H > 32768 || W > 32768)
        return rp_fail(ctx, RP_ERR_ARG, "write png %s: image %dx%dx%d (C must be 1 or 3)", path, H, W, C);
    return rp_png_write(ctx, path, pix, H, W, C);
}

rp_status rp_image_write_png(rp_ctx *ctx, const char *path, const float *image, int H, int W, int C, int scale)
{
    RP_TRY(check_image(ctx, "write png", path, image, H, W, C));
    if (scale < 1 || (long long)H * scale > 32768 || (long long)W * scale > 32768)
        return rp_fail(ctx, RP_ERR_ARG, "write png %s: scale %d (1.. up to 32768 pixels a side)", path, scale);
    rp_canvas cv;
    RP_TRY(rp_canvas_create(ctx, &cv, H * scale, W * scale, 0));
    rp_canvas_image(&cv, 0, 0, image, H, W, C, scale);
    rp_status s = rp_canvas_write_png(ctx, &cv, path);
    rp_canvas_free(&cv);
    return s;
}

rp_status rp_xai_write_png(rp_ctx *ctx, const char *path, const float *image, const float *map, int H, int W, int C,
                           bool is_signed, int scale)
{
    RP_TRY(check_image(ctx, "explanation png", path, image, H, W, C));
    if (!map) return rp_fail(ctx, RP_ERR_ARG, "explanation png %s: map is NULL", path);
    if (scale <= 0) scale = rp_view_scale(H, W, MIN_VIEW);
    if ((long long)H * scale > 32768 || (long long)W * scale * 3 > 32768)
        return rp_fail(ctx, RP_ERR_ARG, "explanation png %s: scale %d makes it too large", path, scale);
    size_t P = (size_t)H * W;
    for (size_t k = 0; k < P; k++)
        if (!isfinite(map[k]))
            return rp_fail(ctx, RP_ERR_NUMERIC, "explanation png %s: map holds %g at pixel %zu", path, (double)map[k], k);
    float *rgb = malloc(2 * P * 3 * sizeof *rgb);
    if (!rgb) return rp_fail(ctx, RP_ERR_NOMEM, "explanation png %s: out of memory", path);
    rp_colormap cm = is_signed ? RP_CMAP_DIVERGING : RP_CMAP_VIRIDIS;
    float s = rp_map_scale(map, P, 99.0f);
    rp_map_colorize(map, H, W, s, is_signed, cm, rgb);
    rp_map_overlay(image, C, map, H, W, s, is_signed, cm, 0.5f, rgb + P * 3);
    int ph = H * scale, pw = W * scale;
    rp_canvas cv;
    rp_status st = rp_canvas_create(ctx, &cv, ph, 3 * pw + 2 * GAP, 24);
    if (st == RP_OK) {
        rp_canvas_image(&cv, 0, 0, image, H, W, C, scale);
        rp_canvas_image(&cv, 0, pw + GAP, rgb, H, W, 3, scale);
        rp_canvas_image(&cv, 0, 2 * (pw + GAP), rgb + P * 3, H, W, 3, scale);
        st = rp_canvas_write_png(ctx, &cv, path);
        rp_canvas_free(&cv);
    }
    free(rgb);
    return st;
}
