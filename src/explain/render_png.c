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

/* ---- figures: an io/png.h canvas with the context its calls report to ---- */

struct rp_figure {
    rp_ctx *ctx; /* BORROWED */
    rp_canvas cv;
};

rp_status rp_figure_create(rp_ctx *ctx, int H, int W, uint8_t gray, rp_figure **out)
{
    if (!out) return rp_fail(ctx, RP_ERR_ARG, "rp_figure_create: out is NULL");
    *out = NULL;
    if (H < 1 || W < 1 || H > 32768 || W > 32768)
        return rp_fail(ctx, RP_ERR_ARG, "rp_figure_create: size %dx%d (1..32768 a side)", H, W);
    rp_figure *f = calloc(1, sizeof *f);
    if (!f) return rp_fail(ctx, RP_ERR_NOMEM, "rp_figure_create: out of memory");
    f->ctx = ctx;
    rp_status s = rp_canvas_create(ctx, &f->cv, H, W, gray);
    if (s != RP_OK) {
        free(f);
        return s;
    }
    *out = f;
    return RP_OK;
}

void rp_figure_destroy(rp_figure *f)
{
    if (!f) return;
    rp_canvas_free(&f->cv);
    free(f);
}

rp_status rp_figure_fill(rp_figure *f, int y0, int x0, int h, int w, uint8_t r, uint8_t g, uint8_t b)
{
    if (!f) return RP_ERR_ARG;
    long long ya = y0 > 0 ? y0 : 0, yb = (long long)y0 + h, xa = x0 > 0 ? x0 : 0, xb = (long long)x0 + w;
    yb = yb < f->cv.H ? yb : f->cv.H, xb = xb < f->cv.W ? xb : f->cv.W; /* clipped before the loops */
    if (ya < yb && xa < xb) rp_canvas_fill(&f->cv, (int)ya, (int)xa, (int)(yb - ya), (int)(xb - xa), r, g, b);
    return RP_OK;
}

rp_status rp_figure_image(rp_figure *f, int y0, int x0, const float *img, int h, int w, int c, int scale)
{
    if (!f) return RP_ERR_ARG;
    if (!img) return rp_fail(f->ctx, RP_ERR_ARG, "rp_figure_image: img is NULL");
    if (h < 1 || w < 1 || (c != 1 && c != 3) || scale < 1)
        return rp_fail(f->ctx, RP_ERR_ARG, "rp_figure_image: image %dx%dx%d at scale %d (c must be 1 or 3, scale >= 1)",
                       h, w, c, scale);
    rp_canvas_image(&f->cv, y0, x0, img, h, w, c, scale);
    return RP_OK;
}

rp_status rp_figure_text(rp_figure *f, int y0, int x0, const char *text, int scale, uint8_t r, uint8_t g, uint8_t b)
{
    if (!f) return RP_ERR_ARG;
    if (!text || scale < 1)
        return rp_fail(f->ctx, RP_ERR_ARG, "rp_figure_text: %s", !text ? "text is NULL" : "scale < 1");
    rp_canvas_text(&f->cv, y0, x0, text, scale, r, g, b);
    return RP_OK;
}

rp_status rp_figure_write_png(rp_figure *f, const char *path)
{
    if (!f) return RP_ERR_ARG;
    if (!path) return rp_fail(f->ctx, RP_ERR_ARG, "rp_figure_write_png: path is NULL");
    return rp_canvas_write_png(f->ctx, &f->cv, path);
}

